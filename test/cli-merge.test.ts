/**
 * A distributed run as a user makes one on one machine: four `tsload http
 * --segment i/4` processes (one of them told by Slurm's variables instead)
 * with one --start-at against one built-in target, then `tsload merge`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import type * as Hdr from 'hdr-histogram-js';
import { createHistogram, decodeHistogram, type Histogram } from '../src/measure/histogram.js';
import type { HttpResult } from '../src/result.js';
import { startHttpTarget, type HttpTarget } from '../src/targets/http.js';
import { tsload, type CliRun } from './run-cli.js';

const hdr = createRequire(import.meta.url)('hdr-histogram-js') as typeof Hdr;
const RATE = 2000;
const DURATION_S = 3;

function counts(h: Histogram): number[] {
  const j = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
  return Array.from({ length: j.countsArrayLength }, (_, i) => j.getCountAtIndex(i));
}

describe('tsload http --segment, --start-at, then tsload merge', { timeout: 90_000 }, () => {
  let target: HttpTarget;
  let other: HttpTarget;
  const dir = mkdtempSync(join(tmpdir(), 'tsload-merge-'));
  const file = (name: string): string => join(dir, name);
  const runs: CliRun[] = [];
  let startAt = 0;

  beforeAll(async () => {
    target = await startHttpTarget({});
    other = await startHttpTarget({});
    // Whole seconds, far enough ahead for five node processes to start on a loaded machine.
    startAt = Math.ceil((Date.now() + 6000) / 1000) * 1000;
    const common = ['--rate', String(RATE), '--duration', `${DURATION_S}s`, '--warmup', '1s', '--start-at', String(startAt)];
    runs.push(
      ...(await Promise.all([
        ...[1, 2, 4].map((i) => tsload(['http', `${target.url}/`, ...common, '--segment', `${i}/4`, '--json', file(`p${i}.json`)])),
        // The third is placed by Slurm's variables, as srun -n 4 sets them.
        tsload(['http', `${target.url}/`, ...common, '--json', file('p3.json')], { env: { SLURM_STEP_ID: '0', SLURM_PROCID: '2', SLURM_NTASKS: '4' } }),
        // The same segment against another target: one run's part it is not.
        tsload(['http', `${other.url}/`, ...common, '--segment', '4/4', '--json', file('other.json')]),
      ])),
    );
  }, 60_000);
  afterAll(async () => {
    await target.close();
    await other.close();
  });

  const part = (i: number): HttpResult => JSON.parse(readFileSync(file(`p${i}.json`), 'utf8')) as HttpResult;

  it('each generator runs its share, from the segment it was given, at the given instant', () => {
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(runs[3]!.stderr).toMatch(/segment 3\/4 \(1\/2:3\/4 of the run\), from Slurm/);
    for (const i of [1, 2, 3, 4]) {
      const r = part(i);
      expect(r.segment).toMatchObject({ index: i, count: 4, source: i === 3 ? 'slurm' : 'option' });
      expect(r.steps[0]!.targetRate).toBe(RATE / 4);
      expect(r.steps[0]!.runRate).toBe(RATE);
      expect(r.start).toMatchObject({ requestedAt: new Date(startAt).toISOString(), actualAt: new Date(startAt + 1000).toISOString(), offsetMs: 0 });
      // The window opens one warmup after the requested instant, on a wall-clock second.
      expect(r.steps[0]!.window!.startMs).toBe(startAt + 1000);
      expect(r.steps[0]!.timeline.every((p) => p.histograms !== undefined)).toBe(true);
    }
  });

  it('merges into one run at the whole rate, its histogram the exact sum of the four', async () => {
    const merge = await tsload(['merge', ...[1, 2, 3, 4].map((i) => file(`p${i}.json`)), '-o', file('merged.json'), '--hlog', file('merged.hlog'), '--hgrm', file('hgrm')]);
    expect(merge.code, merge.stderr).toBe(0);
    const merged = JSON.parse(readFileSync(file('merged.json'), 'utf8')) as HttpResult;
    const step = merged.steps[0]!;
    expect(step.targetRate).toBe(RATE);
    expect(Math.abs(step.sent - RATE * DURATION_S)).toBeLessThanOrEqual(RATE * DURATION_S * 0.01);
    expect(Math.abs(step.sendRate - RATE)).toBeLessThanOrEqual(RATE * 0.01);
    const parts = [1, 2, 3, 4].map(part);
    expect(step.sent).toBe(parts.reduce((s, r) => s + r.steps[0]!.sent, 0));
    expect(step.completed).toBe(parts.reduce((s, r) => s + r.steps[0]!.completed, 0));
    const sum = counts(decodeHistogram(parts[0]!.steps[0]!.histograms.latency));
    for (const r of parts.slice(1)) counts(decodeHistogram(r.steps[0]!.histograms.latency)).forEach((n, i) => (sum[i]! += n));
    expect(counts(decodeHistogram(step.histograms.latency))).toEqual(sum);
    expect(step.latencyMs.count).toBe(step.completed);
    // Seconds line up on the wall clock: three of them, each near the whole rate.
    expect(step.timeline.map((p) => p.tS)).toEqual([0, 1, 2]);
    for (const point of step.timeline) expect(Math.abs(point.sent - RATE)).toBeLessThanOrEqual(RATE * 0.02);
    expect(merged.generators!.map((g) => g.windowOffsetsMs[0])).toEqual([0, 0, 0, 0]);
    // The merged interval log's seconds add up to the merged step, as HdrHistogram's reader reads them.
    const reader = new hdr.HistogramLogReader(readFileSync(file('merged.hlog'), 'utf8'));
    const fromLog = createHistogram();
    for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) if (h.tag === 'step1-latency') fromLog.add(h);
    expect(counts(fromLog)).toEqual(sum);
    expect(readFileSync(file('hgrm/step1-latency.hgrm'), 'utf8')).toMatch(new RegExp(`Total count\\s+=\\s+${step.completed}\\]`));
    // And the merged result is a plain result: the report takes it.
    const report = await tsload(['report', file('merged.json'), '-o', file('merged.html')]);
    expect(report.code, report.stderr).toBe(0);
  });

  it('refuses parts that are not one run, exit 2 with the reason', async () => {
    const overlap = await tsload(['merge', file('p1.json'), file('p1.json'), file('p2.json'), file('p3.json'), file('p4.json'), '-o', file('x.json')]);
    expect(overlap.code).toBe(2);
    expect(overlap.stderr).toMatch(/overlapping segments: .*p1\.json \(0:1\/4\)/);
    const missing = await tsload(['merge', file('p1.json'), file('p2.json'), file('p4.json'), '-o', file('x.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing segment 1\/2:3\/4/);
    const otherTarget = await tsload(['merge', file('p1.json'), file('p2.json'), file('p3.json'), file('other.json'), '-o', file('x.json')]);
    expect(otherTarget.code).toBe(2);
    expect(otherTarget.stderr).toMatch(/different target: .*other\.json has "http:\/\/127\.0\.0\.1:\d+\/"/);
    const edited = { ...part(4), plan: { ...part(4).plan!, seed: 7 } };
    writeFileSync(file('seed.json'), JSON.stringify(edited));
    const otherSeed = await tsload(['merge', file('p1.json'), file('p2.json'), file('p3.json'), file('seed.json'), '-o', file('x.json')]);
    expect(otherSeed.code).toBe(2);
    expect(otherSeed.stderr).toMatch(/different options/);
  });
});
