/**
 * `tsload experiment` with a workload run by several generators: each cell
 * is two generators, one segment each from one start instant, each in its
 * own client host of the testbed, merged exactly into the cell's result;
 * the parts stay beside it. The summary and `tsload report` read the merged
 * cells as any other. Needs root, iproute2, nginx and nsd (skipped otherwise).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionsError } from '../../src/errors.js';
import { parsePlan, readExperiment, type ExperimentManifest } from '../../src/experiment/index.js';
import { summarize } from '../../src/experiment/summary.js';
import { decodeHistogram } from '../../src/measure/histogram.js';
import { formatJson } from '../../src/report/json.js';
import type { Result } from '../../src/result.js';
import { mergeResults } from '../../src/result/merge.js';
import { SERVER, clientHost, down, status } from '../../src/testbed/index.js';
import { testbedSkipReason } from '../testbed-skip.js';

const execFileP = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'bin', 'tsload.js');
const zone = join(root, 'fixtures', 'test.zone');

const skipReason = testbedSkipReason(['nginx', 'nsd']);
if (skipReason !== undefined) console.warn(`test/experiment/distributed.test.ts: skipped: ${skipReason}`);

const RATES = [400, 1600];

/** Bucket counts of a histogram: equal arrays, equal histograms. */
function counts(encoded: string): number[] {
  const h = decodeHistogram(encoded) as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
  return Array.from({ length: h.countsArrayLength }, (_, i) => h.getCountAtIndex(i));
}

describe('a plan\'s generators', () => {
  it('one client host each: a plan asking fewer hosts than generators is refused, and by default gets one per generator', () => {
    const plan = (testbed: string): string => `
targets: [nginx]
${testbed}
workloads:
  - { name: page, protocol: http, path: /, generators: 3, sweep: { rate: 300 } }
  - { name: other, protocol: http, path: /, sweep: { rate: 300 } }
`;
    const parsed = parsePlan(plan(''));
    expect(parsed.testbed.clients).toBe(3);
    expect(parsed.workloads.map((w) => w.generators)).toEqual([3, undefined]);
    expect(() => parsePlan(plan('testbed: { clients: 2 }'))).toThrow(/testbed\.clients: 2, but workload page has 3 generators, each in a client host of its own/);
    expect(parsePlan(plan('testbed: { clients: 4 }')).testbed.clients).toBe(4);
    const refine = () => parsePlan('targets: [nginx]\nworkloads: [{ name: p, protocol: http, path: /, generators: 2, sweep: { rate: 300 }, options: { refine: 5 } }]');
    expect(refine).toThrow(OptionsError);
    expect(refine).toThrow(/options\.refine: each of the 2 generators would bisect on its own share/);
    expect(() => parsePlan('targets: [nginx]\nworkloads: [{ name: p, protocol: http, path: /, generators: 0, sweep: { rate: 300 } }]')).toThrow(/generators: 0 must be a whole number from 1 to 32/);
  });
});

describe.skipIf(skipReason !== undefined)('tsload experiment with two generators a cell (root)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsload-expgen-'));
    if ((await status()).up) await down();
  });
  afterAll(async () => {
    await down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs each cell as two segments in two client hosts, merges them exactly, keeps the parts, and the summary and report take the merged cells', async () => {
    const file = join(dir, 'plan.yaml');
    writeFileSync(
      file,
      `
name: two-generators
sweep: { rate: [${RATES.join(', ')}], duration: 1s, warmup: 0.5s }
targets: [nginx, nsd]
workloads:
  - { name: page, protocol: http, path: /index.html, generators: 2 }
  - { name: zone, protocol: dns, zone: ${zone}, generators: 2 }
`,
    );
    // A folder of its own per attempt: a retry must run the cells, not find them done.
    const out = mkdtempSync(join(dir, 'results-'));
    const { stdout, stderr } = await execFileP(process.execPath, [bin, 'experiment', file, '-o', out], { timeout: 90_000 });
    expect(stderr).toMatch(/generator 2\/2: tsload: --testbed: segment 2\/2 runs in client host 2 of 2/);

    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as ExperimentManifest;
    expect(manifest.plan.testbed.clients).toBe(2);
    expect(manifest.cells.map((c) => [c.id, c.status])).toEqual([['nginx--page--r1', 'done'], ['nsd--zone--r1', 'done']]);
    // The testbed it brought up with two client hosts is down again.
    expect((await status()).up).toBe(false);

    for (const cell of manifest.cells) {
      const merged = JSON.parse(readFileSync(join(out, cell.file), 'utf8')) as Result;
      const partsDir = join(out, `cells/${cell.id}.parts`);
      expect(readdirSync(partsDir).sort()).toEqual(['g1.json', 'g2.json']);
      const parts = ['g1.json', 'g2.json'].map((f) => JSON.parse(readFileSync(join(partsDir, f), 'utf8')) as Result);
      const measured = `${cell.id}: ${JSON.stringify(merged.steps.map((s) => [s.targetRate, s.sent, s.sendRate, s.replyRate, s.latencyMs.p50]))}`;
      // Each generator its own segment, from its own client host, both from one instant.
      expect(parts.map((p) => p.segment?.index)).toEqual([1, 2]);
      expect(parts.map((p) => p.testbed?.address)).toEqual([clientHost(1).address, clientHost(2).address]);
      for (const p of parts) {
        expect(p.start?.requestedAt).toBe(parts[0]!.start?.requestedAt);
        expect(p.steps.map((s) => s.runRate)).toEqual(RATES);
        expect(p.steps.map((s) => s.targetRate)).toEqual(RATES.map((r) => r / 2));
      }
      // The cell's result is exactly the merge of its parts, as `tsload merge` would write it.
      expect(JSON.parse(formatJson(mergeResults(parts, {}, ['generator 1', 'generator 2'])))).toEqual(merged);
      expect(merged.generators?.map((g) => g.testbed?.index)).toEqual([1, 2]);
      expect(merged.target).toContain(SERVER.address);
      merged.steps.forEach((step, k) => {
        const [a, b] = parts.map((p) => p.steps[k]!) as [Result['steps'][number], Result['steps'][number]];
        expect(step.targetRate).toBe(RATES[k]);
        expect(step.sent).toBe(a.sent + b.sent);
        expect(step.completed).toBe(a.completed + b.completed);
        const inB = counts(b.histograms.latency);
        expect(counts(step.histograms.latency)).toEqual(counts(a.histograms.latency).map((c, i) => c + (inB[i] ?? 0)));
        // Two halves of one schedule: the whole rate, and every reply.
        expect(Math.abs(step.sendRate - RATES[k]!) / RATES[k]!, measured).toBeLessThan(0.02);
        expect(step.completed, measured).toBeGreaterThanOrEqual(Math.floor(step.sent * 0.99));
        // The server read once, not once per generator: its CPU is one reading, per request over both generators' replies.
        expect(step.server?.target).toBe(cell.target);
        expect(step.server?.cpuS).toBe(a.server?.cpuS);
        expect(step.server!.cpuPerRequestUs! * 1.5).toBeLessThan(a.server!.cpuPerRequestUs!);
      });
    }

    // The summary across repeats, and `tsload report DIR`, read merged cells as any other.
    const summary = summarize(readExperiment(out));
    expect(summary.workloads.map((w) => [w.workload, w.targets.map((t) => t.target)])).toEqual([['page', ['nginx']], ['zone', ['nsd']]]);
    for (const w of summary.workloads) for (const t of w.targets) expect(t.steps.map((s) => s.targetRate)).toEqual(RATES);
    expect(stdout).toMatch(/Workload page \(HTTP\)/);
    const report = await execFileP(process.execPath, [bin, 'report', out, '-o', join(dir, 'report.html')]);
    expect(report.stdout).toMatch(/Workload zone \(DNS\)/);
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
  }, 120_000);
});
