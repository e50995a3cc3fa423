import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';
import { InputFileError, OptionsError } from '../../src/errors.js';
import { findSaturation, DEFAULT_SATURATION_CRITERIA } from '../../src/measure/saturation.js';
import { buildCharts, renderSvg } from '../../src/report/charts.js';
import { loadResults, renderReport, writeReport } from '../../src/report/html.js';
import { RESULT_SCHEMA } from '../../src/result.js';
import type { DnsResult, DnsStep, ErrorCounts, HttpResult, HttpStep, LatencyStats, Result, StepBase, TimelinePoint } from '../../src/result.js';

// ---------------------------------------------------------------- synthetic, self-consistent results
// A server modelled as a single queue of known capacity: below it the latency percentiles follow the
// M/M/1 sojourn time (exponential, mean s/(1−ρ)); above it replies cap at the capacity, the backlog
// grows until requests time out, and the in-flight cap drops some arrivals.

const TIMEOUT_MS = 5000;

function stats(p50: number, p90: number, p99: number, p999: number, max: number, count: number): LatencyStats {
  if (count === 0) return { count: 0, min: 0, mean: 0, stdev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return { count, min: p50 / 5, mean: p50 * 1.3, stdev: (p99 - p50) / 2.5, p50, p90, p99, p999, max };
}

function errorCounts(connreset: number, connrefused = 0): ErrorCounts {
  return { total: connreset + connrefused, connrefused, connreset, addrunavail: 0, 'fd-unavail': 0, 'ftab-full': 0, 'socket-timo': 0, other: 0 };
}

interface Model {
  capacity: number;
  baseMs: number;
}

function stepBase(rate: number, m: Model, durationS: number): StepBase {
  const s = 1000 / m.capacity;
  const rho = rate / m.capacity;
  const arrivals = rate * durationS;
  let completed: number;
  let timeouts = 0;
  let dropped = 0;
  let errors = 0;
  let lat: LatencyStats;
  if (rho < 0.98) {
    completed = arrivals;
    const q = (p: number) => m.baseMs - (Math.log(1 - p) * s) / (1 - rho);
    lat = stats(q(0.5), q(0.9), q(0.99), q(0.999), q(0.9999) * 1.5, completed);
  } else {
    completed = Math.round(m.capacity * durationS * 0.995);
    dropped = Math.round((arrivals - completed) * 0.3);
    errors = Math.round((arrivals - completed) * 0.02);
    timeouts = arrivals - dropped - completed - errors;
    lat = stats(Math.min(TIMEOUT_MS * 0.4, 300 * rho), Math.min(TIMEOUT_MS * 0.8, 900 * rho), TIMEOUT_MS * 0.95, TIMEOUT_MS * 0.99, TIMEOUT_MS, completed);
  }
  const sent = arrivals - dropped;
  const timeline: TimelinePoint[] = Array.from({ length: durationS }, (_, t) => ({
    tS: t,
    sent: sent / durationS,
    completed: completed / durationS,
    errors: errors / durationS,
    timeouts: timeouts / durationS,
    dropped: dropped / durationS,
    p50Ms: lat.p50,
    p99Ms: lat.p99,
    maxMs: lat.max,
  }));
  return {
    targetRate: rate,
    durationS,
    warmupS: 2,
    sent,
    completed,
    sendRate: sent / durationS,
    replyRate: completed / durationS,
    errors: errorCounts(errors),
    timeouts,
    dropped,
    inflightAtEnd: 0,
    bytesSent: sent * 72,
    bytesReceived: completed * 1214,
    cpu: { userS: durationS * 0.1, systemS: durationS * 0.05 },
    cpuWindow: { userS: durationS * 0.09, systemS: durationS * 0.045 },
    latencyMs: lat,
    serviceTimeMs: lat,
    scheduleLagMs: stats(0.01, 0.02, 0.05, 0.1, 0.3, sent),
    histograms: { latency: '', serviceTime: '', scheduleLag: '' },
    timeline,
  };
}

function base(label: string, target: string): Omit<HttpResult, 'protocol' | 'steps' | 'saturation'> {
  return {
    schema: RESULT_SCHEMA,
    tool: { name: 'tsload', version: '0.1.0' },
    target,
    startedAt: '2025-11-27T08:00:00.000Z',
    finishedAt: '2025-11-27T08:03:00.000Z',
    aborted: false,
    threads: 2,
    arrival: 'constant',
    host: { hostname: 'loadgen', platform: 'linux', cpus: 2, node: 'v20.20.2' },
    label,
  };
}

function httpSweep(label: string, m: Model, rates: number[], durationS = 10): HttpResult {
  const steps: HttpStep[] = rates.map((r) => {
    const b = stepBase(r, m, durationS);
    return { ...b, connections: 64, statusClasses: { '1xx': 0, '2xx': b.completed, '3xx': 0, '4xx': 0, '5xx': 0 }, statusCodes: { '200': b.completed } };
  });
  return { ...base(label, `http://198.18.0.2/${label}`), protocol: 'http', steps, saturation: findSaturation(steps, DEFAULT_SATURATION_CRITERIA) };
}

function dnsSweep(label: string, m: Model, rates: number[], durationS = 10): DnsResult {
  const steps: DnsStep[] = rates.map((r) => {
    const b = stepBase(r, m, durationS);
    return { ...b, lost: b.timeouts, late: Math.round(b.timeouts / 10), rcodes: { NOERROR: b.completed }, truncated: 0, unexpected: 0, avgRequestBytes: 31, avgResponseBytes: 62 };
  });
  return { ...base(label, '198.18.0.2:53'), protocol: 'dns', steps, saturation: findSaturation(steps, DEFAULT_SATURATION_CRITERIA) };
}

/** A constant-rate run whose server freezes for one second at t = 12 s: latency spikes, replies stop then catch up. */
function httpConstant(label: string, rate: number, durationS: number): HttpResult {
  const r = httpSweep(label, { capacity: rate * 3, baseMs: 0.3 }, [rate], durationS);
  const step = r.steps[0]!;
  step.timeline = step.timeline.map((p) =>
    p.tS === 12 ? { ...p, completed: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }
    : p.tS === 13 ? { ...p, completed: p.completed * 2, p50Ms: 480, p99Ms: 990, maxMs: 1001 }
    : p,
  );
  return r;
}

const RATES = Array.from({ length: 10 }, (_, i) => 1000 * (i + 1));
const nginx = httpSweep('nginx', { capacity: 6300, baseMs: 0.25 }, RATES);
const builtin = httpSweep('built-in', { capacity: 4200, baseMs: 0.2 }, RATES);
const nsd = dnsSweep('nsd', { capacity: 8400, baseMs: 0.12 }, RATES);
const constant = httpConstant('nginx constant', 2000, 30);
const all: Result[] = [nginx, builtin, nsd, constant];

const EXPECTED: Record<string, string[]> = {
  'http-reply-rate': ['nginx', 'built-in', 'nginx constant'],
  'http-latency': ['nginx', 'built-in', 'nginx constant'],
  'http-errors': ['nginx', 'built-in', 'nginx constant'],
  'http-latency-over-time': ['nginx constant'],
  'http-throughput-over-time': ['nginx constant'],
  'dns-reply-rate': ['nsd'],
  'dns-latency': ['nsd'],
  'dns-errors': ['nsd'],
};

// ---------------------------------------------------------------- tests without a browser

describe('charts', () => {
  it('builds the expected charts per protocol, with series by label', () => {
    const charts = buildCharts(all);
    expect(Object.fromEntries(charts.map((c) => [c.id, c.series]))).toEqual(EXPECTED);
  });

  it('the synthetic sweeps saturate where their capacity says', () => {
    expect(nginx.saturation).toMatchObject({ rate: 6000, failedCriterion: 'replyRate' });
    expect(builtin.saturation).toMatchObject({ rate: 4000, failedCriterion: 'replyRate' });
    expect(nsd.saturation).toMatchObject({ rate: 8000 });
  });

  it('tables list one row per step per series, sorted by rate', () => {
    const latency = buildCharts([nginx, builtin]).find((c) => c.id === 'http-latency')!;
    expect(latency.table.rows).toHaveLength(20);
    expect(latency.table.rows.map((r) => r[0])).toEqual([...Array(10).fill('nginx'), ...Array(10).fill('built-in')]);
    expect(latency.table.rows[0]?.slice(0, 2)).toEqual(['nginx', '1000']);
  });

  it('a repeated label becomes a distinct series', () => {
    const charts = buildCharts([nginx, nginx]);
    expect(charts[0]?.series).toEqual(['nginx', 'nginx (2)']);
  });

  it('renders SVG headless, with legend labels, axis titles and the saturation note', async () => {
    const chart = buildCharts([nginx, builtin]).find((c) => c.id === 'http-reply-rate')!;
    const svg = await renderSvg(chart.spec);
    expect(svg.startsWith('<svg')).toBe(true);
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(texts).toEqual(expect.arrayContaining(['nginx', 'built-in', 'request rate (req/s)', 'reply rate (replies/s)', 'ideal y = x']));
    expect(texts.join(' ')).toContain('built-in: 4000/s');
    // Nothing to fetch: no image, no external reference (the xmlns declarations are names, not fetches).
    expect(svg.replace(/xmlns(:\w+)?="[^"]*"/g, '')).not.toMatch(/https?:|<image|href=/);
  });
});

describe('writeReport', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsload-report-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects files that are not tsload results, naming the file', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ schema: 'k6/summary', metrics: {} }));
    await expect(writeReport([bad], { out: join(dir, 'x.html') })).rejects.toThrow(InputFileError);
    await expect(writeReport([bad], { out: join(dir, 'x.html') })).rejects.toThrow(/bad\.json: not a tsload result: schema is "k6\/summary"/);
    const broken = join(dir, 'broken.json');
    await writeFile(broken, JSON.stringify(nginx).slice(0, 500));
    await expect(loadResults([broken])).rejects.toThrow(/broken\.json: not JSON/);
    const truncated = join(dir, 'truncated.json');
    await writeFile(truncated, JSON.stringify({ ...nginx, steps: [{ ...nginx.steps[0], latencyMs: undefined }] }));
    await expect(loadResults([truncated])).rejects.toThrow(/steps\[0\]\.latencyMs is missing/);
    await expect(loadResults([join(dir, 'missing.json')])).rejects.toThrow(/missing\.json: cannot read/);
    await expect(writeReport([], { out: join(dir, 'x.html') })).rejects.toThrow(OptionsError);
    await expect(writeReport([bad], {})).rejects.toThrow(OptionsError);
  });

  it('writes the HTML, one SVG per chart and the CSV', async () => {
    const files = await Promise.all(
      all.map(async (r, i) => {
        const f = join(dir, `r${i}.json`);
        await writeFile(f, JSON.stringify(r));
        return f;
      }),
    );
    const out = join(dir, 'out', 'report.html');
    const svgDir = join(dir, 'svg');
    const csv = join(dir, 'steps.csv');
    const { written } = await writeReport(files, { out, svgDir, csv });
    expect(written).toContain(out);
    expect(written).toContain(csv);
    expect((await readdir(svgDir)).sort()).toEqual(Object.keys(EXPECTED).map((id) => `${id}.svg`).sort());
    const svg = await readFile(join(svgDir, 'http-latency.svg'), 'utf8');
    expect(svg).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const csvText = await readFile(csv, 'utf8');
    expect(csvText.trim().split('\n')).toHaveLength(1 + 10 + 10 + 10 + 1);
    const html = await readFile(out, 'utf8');
    // Self-contained: no script, stylesheet link, external URL or @import.
    expect(html).not.toMatch(/<script|<link|@import|url\((?!#)|src=/i);
    expect(html).not.toMatch(/\b(?:href|xlink:href|srcset|action|poster|data)\s*=/i);
  });
});

// ---------------------------------------------------------------- the report in a real browser

describe('report in headless Chromium', () => {
  let dir: string;
  let context: BrowserContext;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsload-chromium-'));
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
    });
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('opens from file:// offline, without console errors, with every chart and series', async () => {
    // Into artifacts/ beside the screenshot, so CI keeps the report itself too.
    const artifacts = fileURLToPath(new URL('../../artifacts/', import.meta.url));
    await mkdir(artifacts, { recursive: true });
    const file = join(artifacts, 'report.html');
    await writeFile(file, await renderReport(all, { title: 'tsload test report' }));

    const external: string[] = [];
    const requested: string[] = [];
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
    page.on('request', (r) => requested.push(r.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    expect(await page.title()).toBe('tsload test report');
    // Series as the legends draw them, read from the rendered SVG (not from the data attribute we wrote).
    const found = await page.$$eval('figure[data-chart]', (figures) =>
      figures.map((f) => ({
        id: f.getAttribute('data-chart') ?? '',
        declared: JSON.parse(f.getAttribute('data-series') ?? '[]') as string[],
        legends: [...f.querySelectorAll('svg .role-legend')].map((legend) =>
          [...legend.querySelectorAll('.role-legend-label text')].map((t) => t.textContent ?? ''),
        ),
        width: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
        // (No DOM lib in this tsconfig: the SVG element's getBBox is typed by hand.)
        titleWidth: (f.querySelector('svg .role-title-text text') as unknown as { getBBox(): { width: number } } | null)?.getBBox().width ?? 0,
        rows: f.querySelectorAll('table tr').length - 1,
      })),
    );
    expect(found.map((f) => f.id)).toEqual(Object.keys(EXPECTED));
    for (const f of found) {
      expect(f.declared, f.id).toEqual(EXPECTED[f.id]);
      // The first legend is the series legend; a second one names percentiles or failure kinds.
      expect(f.legends[0], f.id).toEqual(EXPECTED[f.id]);
      expect(f.width, f.id).toBeGreaterThan(300);
      // Text really rendered with a local font (a missing font would measure 0).
      expect(f.titleWidth, f.id).toBeGreaterThan(50);
      expect(f.rows, f.id).toBeGreaterThan(0);
    }
    expect(found.find((f) => f.id === 'http-latency')?.legends[1]).toEqual(['p50', 'p90', 'p99', 'p99.9']);
    expect(found.find((f) => f.id === 'dns-errors')?.legends[1]).toEqual(['errors', 'lost', 'dropped']);
    const saturation = await page.$$eval('#saturation td', (cells) => cells.map((c) => c.textContent ?? ''));
    expect(saturation).toEqual(expect.arrayContaining(['6000 req/s', '4000 req/s', '8000 queries/s']));

    expect(external).toEqual([]);
    expect(requested.filter((u) => !u.startsWith('file:'))).toEqual([]);
    expect(problems).toEqual([]);

    await page.screenshot({ path: join(artifacts, 'report.png'), fullPage: true });
    await page.close();
  }, 120_000);
});
