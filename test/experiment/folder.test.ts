/**
 * A real results folder (folder-fixture.ts: short runs on loopback) read,
 * summarized and reported: the library calls and `tsload report DIR`.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputFileError } from '../../src/errors.js';
import { readExperiment } from '../../src/experiment/read.js';
import { summarize, type ExperimentSummary } from '../../src/experiment/summary.js';
import { experimentCharts, formatExperimentCsv, formatExperimentJson, formatExperimentText, renderExperimentHtml, EXPERIMENT_CSV_COLUMNS } from '../../src/report/experiment.js';
import { tsload } from '../run-cli.js';
import { BURN_US, DNS_RATES, HTTP_RATES, REPEATS, buildResultsFolder, sweep, type ResultsFolder } from './folder-fixture.js';
import { checkExperimentHtml, checkSummary } from './summary-checks.js';

let tmp: string;
let folder: ResultsFolder;
let summary: ExperimentSummary;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tsload-summary-'));
  folder = await buildResultsFolder(join(tmp, 'results'));
  summary = summarize(readExperiment(folder.dir));
}, 180_000);

afterAll(async () => {
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

/** What each repeat measured, so a failure shows the figures. */
function measured(workload: string): string {
  const w = summary.workloads.find((x) => x.workload === workload);
  return JSON.stringify(w?.targets.map((t) => ({ target: t.target, saturation: t.saturation.repeats, steps: t.steps.map((s) => [s.targetRate, s.replyRate.median, s.p99Ms?.median, s.errorRatio.median]) })));
}

describe('readExperiment', () => {
  it('reads every cell with a result, and lists the failed ones as missing', () => {
    const read = readExperiment(folder.dir);
    expect(read.cells.length + read.missing.length).toBe(folder.manifest.cells.length);
    expect(read.missing.map((m) => m.target)).toEqual(Array(REPEATS).fill('down'));
    expect(read.missing.every((m) => m.status === 'failed' && (m.error ?? '').includes('unreachable'))).toBe(true);
    expect(read.cells.map((c) => c.cell.id)).toEqual(folder.manifest.cells.filter((c) => c.status === 'done').map((c) => c.id));
    for (const { cell, result } of read.cells) expect(result.label).toBe(cell.target);
  });

  it('refuses a folder whose manifest is not one, naming the file', async () => {
    const bad = join(tmp, 'bad');
    await rm(bad, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(bad));
    await writeFile(join(bad, 'manifest.json'), JSON.stringify({ schema: 'tsload-experiment/0', cells: [] }));
    expect(() => readExperiment(bad)).toThrow(InputFileError);
    expect(() => readExperiment(bad)).toThrow(/manifest\.json: not a tsload experiment manifest: schema is "tsload-experiment\/0"/);
    // A cell file that is not a result drops a repeat silently unless refused.
    const manifest = JSON.parse(await readFile(join(folder.dir, 'manifest.json'), 'utf8'));
    await import('node:fs/promises').then((fs) => fs.mkdir(join(bad, 'cells')));
    await writeFile(join(bad, 'manifest.json'), JSON.stringify({ ...manifest, cells: manifest.cells.slice(0, 1) }));
    await writeFile(join(bad, manifest.cells[0].file), '{"schema":"tsload/result@1"}');
    expect(() => readExperiment(bad)).toThrow(new RegExp(`${manifest.cells[0].id}\\.json: protocol must be`));
  });
});

describe('summarize a real folder', () => {
  it('recomputes: every interval is its order statistics, every pair compared and oriented', () => {
    checkSummary(summary, readExperiment(folder.dir));
  });

  it('finds the slow target saturating below the fast one, and says the fast one is a floor', () => {
    const burn = summary.workloads.find((w) => w.workload === 'burn')!;
    expect(burn.protocol).toBe('http');
    expect(burn.targets.map((t) => t.target), measured('burn')).toEqual(['fast', 'slow']);
    const [fast, slow] = burn.targets as [typeof burn.targets[0], typeof burn.targets[0]];
    expect(fast.repeats).toBe(REPEATS);
    // 3 repeats: the range, at 1 − 2/8.
    expect(fast.saturation.estimate.confidence).toBe(0.75);
    expect(fast.steps.map((s) => s.targetRate)).toEqual(HTTP_RATES);
    // 2500 µs a request allows at most 400 replies/s: the slow one cannot pass 500/s.
    expect(slow.saturation.estimate.hi, measured('burn')).toBeLessThan(HTTP_RATES[2]!);
    const top = slow.steps.find((s) => s.targetRate === HTTP_RATES[2])!;
    // The window counts replies, not service: besides the ones that fit in it, one served across each
    // of its edges can land inside, so a window of W ms holds at most W / 2.5 ms + 2 replies.
    const windowS = sweep.duration / 1000;
    expect(top.replyRate.hi, measured('burn')).toBeLessThanOrEqual((Math.floor((windowS * 1e6) / BURN_US.slow) + 2) / windowS);
    expect(top.replyRate.median, measured('burn')).toBeLessThan(HTTP_RATES[2]! * 0.9);
    // The fast one (200 µs) keeps up to 500/s in most repeats: its median is the top rate, a floor.
    expect(fast.saturation.estimate.median, measured('burn')).toBe(HTTP_RATES[2]);
    expect(fast.saturation.repeats.filter((r) => r.kind === 'notReached').length).toBeGreaterThanOrEqual(2);
    expect(fast.saturation.note).toMatch(/passed every step/);
    const c = burn.comparisons[0]!;
    expect(c.a).toBe('fast');
    expect(c.b).toBe('slow');
    expect(c.ratio!, measured('burn')).toBeGreaterThan(1);
    expect(c.text).toMatch(/^fast vs slow: saturation [\d.]+× \(interval [\d.?]+–[\d.∞]+\)$/);
    expect(c.notes.join(' ')).toContain('fast: saturation is a floor');
    if (fast.saturation.floors === REPEATS) expect(c.notes).toContain('fast did not saturate within what was measured: the ratio is at least this');
    // The planned count includes the failed target's cells only for that target.
    expect(fast.planned).toBe(REPEATS);
  });

  it('says two DNS servers that both kept up at every rate were not compared at their capacity', () => {
    const zone = summary.workloads.find((w) => w.workload === 'zone')!;
    expect(zone.protocol).toBe('dns');
    expect(zone.targets.map((t) => t.target).sort()).toEqual(['dns-a', 'dns-b']);
    for (const t of zone.targets) expect(t.steps.map((s) => s.targetRate)).toEqual(DNS_RATES);
    const c = zone.comparisons[0]!;
    expect(c.overlapsOne, measured('zone')).toBe(true);
    // Both kept up to the top rate in every repeat (as they do on loopback at 400/s): the ratio of
    // floors says nothing of their capacities. A stall of the VM can fail one step of one repeat.
    const keptUp = zone.targets.every((t) => t.saturation.repeats.every((r) => r.kind === 'notReached'));
    if (keptUp) expect(c.notes[0], measured('zone')).toBe('neither saturated within what was measured: this compares floors, not capacities');
    else expect(c.notes.join(' '), measured('zone')).toMatch(/not a real difference at this many repeats \(3\)|did not saturate within what was measured/);
    // The reply rate at each step is the asked rate within a few percent: the median is a real figure.
    for (const t of zone.targets) for (const s of t.steps) expect(s.replyRate.median / s.targetRate, measured('zone')).toBeGreaterThan(0.9);
  });
});

describe('experiment outputs', () => {
  it('text: a table per workload, per-step medians with intervals, the comparisons, the missing cells', () => {
    const text = formatExperimentText(summary);
    expect(text).toMatch(/Workload burn \(HTTP\)/);
    expect(text).toMatch(/Workload zone \(DNS\)/);
    expect(text).toMatch(/^fast +3 +500 \[/m);
    expect(text).toContain(summary.workloads[0]!.comparisons[0]!.text);
    expect(text).toMatch(/down--burn--r1: failed \(target .* is unreachable/);
    expect(text).toMatch(/^slow +100 +3 +[\d.]+ \[/m);
  });

  it('JSON: the summary object under its schema', () => {
    const parsed = JSON.parse(formatExperimentJson(summary));
    expect(parsed.schema).toBe('tsload-experiment-summary/1');
    const burn = parsed.workloads.find((w: { workload: string }) => w.workload === 'burn');
    expect(burn.comparisons[0]).toMatchObject({ a: 'fast', b: 'slow', confidence: 0.95 });
    expect(typeof burn.comparisons[0].ratio).toBe('number');
    expect(burn.targets[0].steps[0].replyRate).toMatchObject({ n: REPEATS, confidence: 0.75, ranks: [1, REPEATS] });
    expect(parsed.missing.length).toBe(REPEATS);
    expect(parsed.machine.kernel).toBe(folder.manifest.machine.kernel);
  });

  it('CSV: one row per target × workload × step, with median, lo and hi', () => {
    const lines = formatExperimentCsv(summary).trimEnd().split('\n');
    expect(lines[0]).toBe(EXPERIMENT_CSV_COLUMNS.join(','));
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows.length).toBe(2 * HTTP_RATES.length + 2 * DNS_RATES.length);
    const col = (name: string): number => EXPERIMENT_CSV_COLUMNS.indexOf(name as (typeof EXPERIMENT_CSV_COLUMNS)[number]);
    for (const row of rows) {
      const [m, lo, hi] = ['replyRateMedian', 'replyRateLo', 'replyRateHi'].map((c) => Number(row[col(c)]));
      expect(lo).toBeLessThanOrEqual(m!);
      expect(hi).toBeGreaterThanOrEqual(m!);
    }
    const slow = rows.filter((r) => r[col('target')] === 'slow').map((r) => Number(r[col('targetRate')]));
    expect(slow).toEqual(HTTP_RATES);
  });

  it('charts: per workload a band (interval) and a line (median) per target', () => {
    const charts = experimentCharts(summary);
    expect(charts.map((c) => c.id)).toEqual(['burn-reply-rate', 'burn-latency', 'zone-reply-rate', 'zone-latency']);
    for (const chart of charts) {
      const spec = chart.spec as unknown as { layer: { mark: { type: string }; encoding?: Record<string, { field?: string }> }[]; data: { values: { series: string; lo: number | null; hi: number | null; median: number | null }[] } };
      const band = spec.layer.find((l) => l.mark.type === 'area')!;
      expect(band.encoding!['y']!.field).toBe('lo');
      expect(band.encoding!['y2']!.field).toBe('hi');
      expect(band.encoding!['color']!.field).toBe('series');
      const line = spec.layer.find((l) => l.mark.type === 'line' && l.encoding?.['color'] !== undefined)!;
      expect(line.encoding!['y']!.field).toBe('median');
      expect([...new Set(spec.data.values.map((v) => v.series))].sort()).toEqual([...chart.series].sort());
      for (const v of spec.data.values) if (v.median !== null) expect(v.lo! <= v.median && v.median <= v.hi!).toBe(true);
    }
  });

  it('HTML: one self-contained page, every workload charted, comparisons and machine', async () => {
    const html = await renderExperimentHtml(summary);
    checkExperimentHtml(html, summary);
    expect(html).toContain('Machine and versions');
    expect(html).toContain(folder.manifest.machine.kernel);
    expect(html).toMatch(/class="same"><td>zone<\/td><td class="text">dns-/);
  });
});

describe('tsload report', () => {
  it('on a folder: the HTML page, the CSV and JSON summary, the text on stdout', async () => {
    const out = join(tmp, 'out', 'x.html');
    const csv = join(tmp, 'out', 'x.csv');
    const json = join(tmp, 'out', 'x.json');
    const run = await tsload(['report', folder.dir, '-o', out, '--csv', csv, '--json', json]);
    expect(run.stderr).toContain(`tsload: wrote ${out}`);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Workload burn (HTTP)');
    expect(run.stdout).toContain('fast vs slow: saturation');
    const html = await readFile(out, 'utf8');
    const fromCli = JSON.parse(await readFile(json, 'utf8')) as ExperimentSummary;
    expect(fromCli.workloads.map((w) => w.workload)).toEqual(summary.workloads.map((w) => w.workload));
    checkExperimentHtml(html, fromCli);
    expect((await readFile(csv, 'utf8')).split('\n')[0]).toBe(EXPERIMENT_CSV_COLUMNS.join(','));
  });

  it('on files, as before; a folder mixed with files, or --json with files, is a usage error', async () => {
    const files = folder.manifest.cells.filter((c) => c.status === 'done' && c.workload === 'burn').slice(0, 2).map((c) => join(folder.dir, c.file));
    const out = join(tmp, 'files.html');
    const run = await tsload(['report', ...files, '-o', out]);
    expect(run.code, run.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('<h2>Saturation points</h2>');
    expect(html).toContain('data-chart="http-reply-rate"');
    const mixed = await tsload(['report', folder.dir, files[0]!, '-o', out]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('give one results folder, or result JSON files, not both');
    const json = await tsload(['report', files[0]!, '--json', join(tmp, 'y.json')]);
    expect(json.code).toBe(2);
    const plain = await tsload(['report', join(folder.dir, 'cells'), '-o', out]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('is a folder without a manifest.json');
    const level = await tsload(['report', folder.dir, '--confidence', '95']);
    expect(level.code).toBe(2);
    const filesLevel = await tsload(['report', files[0]!, '--confidence', '0.9', '-o', out]);
    expect(filesLevel.code).toBe(2);
  });
});

describe('the experiment page in headless Chromium', () => {
  it('opens offline without console errors, every chart with its targets in the legend', async () => {
    // Into artifacts/, so CI keeps the page and its screenshot.
    const artifacts = fileURLToPath(new URL('../../artifacts/', import.meta.url));
    await mkdir(artifacts, { recursive: true });
    const file = join(artifacts, 'experiment-report.html');
    await writeFile(file, await renderExperimentHtml(summary, { title: 'tsload experiment test' }));
    const profile = await mkdtemp(join(tmpdir(), 'tsload-chromium-'));
    const context = await chromium.launchPersistentContext(join(profile, 'profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
    });
    try {
      const external: string[] = [];
      await context.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        external.push(url);
        return route.abort();
      });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      expect(await page.title()).toBe('tsload experiment test');
      const found = await page.$$eval('figure[data-chart]', (figures) =>
        figures.map((f) => ({
          id: f.getAttribute('data-chart') ?? '',
          legends: [...f.querySelectorAll('svg .role-legend')].map((legend) => [...legend.querySelectorAll('.role-legend-label text')].map((t) => t.textContent ?? '')),
          width: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
          // Drawn marks: the bands (area) and medians (line) must be there, not only axes.
          areas: f.querySelectorAll('svg .mark-area path').length,
          lines: f.querySelectorAll('svg .mark-line path').length,
        })),
      );
      expect(found.map((f) => f.id)).toEqual(experimentCharts(summary).map((c) => c.id));
      for (const f of found) {
        const w = summary.workloads.find((x) => f.id.startsWith(`${x.workload}-`))!;
        expect(f.legends[0], f.id).toEqual(w.targets.map((t) => t.target));
        expect(f.width, f.id).toBeGreaterThan(300);
        // One band per target (per percentile on the latency chart).
        expect(f.areas, f.id).toBe(w.targets.length * (f.id.endsWith('-latency') ? 2 : 1));
        expect(f.lines, f.id).toBeGreaterThanOrEqual(w.targets.length);
      }
      expect(found.find((f) => f.id === 'burn-latency')?.legends[1]).toEqual(['p50', 'p99']);
      expect(external).toEqual([]);
      expect(problems).toEqual([]);
      await page.screenshot({ path: join(artifacts, 'experiment-report.png'), fullPage: true });
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
  }, 120_000);
});
