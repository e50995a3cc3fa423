/**
 * The summary's rules on synthetic, self-consistent results (test/fixtures-results.ts),
 * where the right answer is known: floors, empty steps, refined steps, server figures.
 */
import { describe, expect, it } from 'vitest';
import { summarize, type SummaryCell } from '../../src/experiment/summary.js';
import { findSaturation } from '../../src/measure/saturation.js';
import { formatExperimentCsv, formatExperimentText, EXPERIMENT_CSV_COLUMNS } from '../../src/report/experiment.js';
import type { HttpResult, HttpStep, ServerFigures } from '../../src/result.js';
import { DEFAULT_CRITERIA, httpResult, httpStep } from '../fixtures-results.js';

/** A sweep of a server that keeps up to `capacity` and gives way above it; the saturation found by the real rule. */
function sweep(rates: number[], capacity: number, tweak: (step: HttpStep) => void = () => {}): HttpResult {
  const steps = rates.map((rate) => {
    const step = rate <= capacity ? httpStep({ targetRate: rate, p50Ms: 1, p99Ms: 5 }) : httpStep({ targetRate: rate, p50Ms: 80, p99Ms: 400, timeouts: Math.round(rate * 0.5) });
    tweak(step);
    return step;
  });
  return httpResult(steps, { saturation: findSaturation(steps, DEFAULT_CRITERIA) });
}

function cells(target: string, results: HttpResult[], workload = 'page'): SummaryCell[] {
  return results.map((result, i) => ({ cell: { target, workload, repeat: i + 1 }, result: { ...result, label: target } }));
}

const RATES = [1000, 2000, 3000, 4000];

describe('summarize', () => {
  it('medians and order-statistic intervals over the repeats; with 2 repeats, the range at 50%', () => {
    const s = summarize([...cells('a', [sweep(RATES, 3000), sweep(RATES, 2000)]), ...cells('b', [sweep(RATES, 1000), sweep(RATES, 1000)])]);
    const [a, b] = s.workloads[0]!.targets;
    expect(a!.target).toBe('a');
    expect(a!.saturation.estimate).toMatchObject({ n: 2, median: 2500, lo: 2000, hi: 3000, confidence: 0.5 });
    expect(b!.saturation.estimate).toMatchObject({ median: 1000, lo: 1000, hi: 1000 });
    const c = s.workloads[0]!.comparisons[0]!;
    expect(c).toMatchObject({ a: 'a', b: 'b', ratio: 2.5, lo: 2, hi: 3, overlapsOne: false });
    expect(c.text).toBe('a vs b: saturation 2.5× (interval 2–3)');
    expect(c.notes).toEqual([]);
    expect(formatExperimentText(s)).toContain('Workload page (HTTP), intervals of 2 repeats: their range, at 50%:');
  });

  it('counts a repeat with no passing step as 0 and one limited by tsload as a floor, and says so', () => {
    const limited = sweep(RATES, 2000);
    limited.saturation = { ...limited.saturation, generatorLimit: { step: 2, kinds: ['thread'] } };
    const none = sweep(RATES, 500);
    expect(none.saturation.rate).toBeNull();
    const s = summarize(cells('x', [sweep(RATES, 3000), limited, none, sweep(RATES, 3000), sweep(RATES, 5000)]));
    const x = s.workloads[0]!.targets[0]!;
    expect(x.saturation.repeats.map((r) => [r.value, r.kind])).toEqual([
      [3000, 'measured'],
      [2000, 'generatorLimit'],
      [0, 'none'],
      [3000, 'measured'],
      [4000, 'notReached'],
    ]);
    // 5 repeats: (min, max) at 93.75%.
    expect(x.saturation.estimate).toMatchObject({ median: 3000, lo: 0, hi: 4000, confidence: 0.9375 });
    expect(x.saturation.floors).toBe(3);
    expect(formatExperimentText(s)).toMatch(/^x +5 +3000 \[0–4000\] +93\.8% +1 of 5 repeats passed every step/m);
    expect(x.saturation.note).toBe(
      '1 of 5 repeats passed every step (not saturated: the highest rate is a floor); 1 of 5 repeats were limited by tsload itself (the rate is a floor); 1 of 5 repeats passed no step (counted as 0)',
    );
  });

  it('matches steps by planned rate, leaves refined steps out, and leaves steps without replies out of latency', () => {
    const r1 = sweep(RATES, 3000);
    r1.steps.push({ ...httpStep({ targetRate: 3500, p50Ms: 1, p99Ms: 5 }), refined: true });
    const r2 = sweep([1000, 2000, 3000], 3000);
    const dead = httpStep({ targetRate: 4000, timeouts: 4000 * 10 });
    expect(dead.latencyMs.count).toBe(0);
    r2.steps.push(dead);
    const s = summarize(cells('x', [r1, r2, sweep(RATES, 3000)]));
    const steps = s.workloads[0]!.targets[0]!.steps;
    expect(steps.map((st) => st.targetRate)).toEqual(RATES);
    const top = steps[3]!;
    expect(top.repeats).toBe(3);
    expect(top.p99Ms!.n).toBe(2);
    expect(top.replyRate.n).toBe(3);
    expect(top.replyRate.lo).toBe(0);
    expect(top.errorRatio.hi).toBe(1);
  });

  it('carries server-side figures when steps have them, in the text and CSV', () => {
    const withServer = (cpu: number) =>
      sweep(RATES, 3000, (step) => {
        const server: ServerFigures = {
          target: 'x',
          source: 'cgroup',
          cpuS: cpu * step.durationS,
          cpuPerSecond: cpu,
          cpuPerRequestUs: (cpu * 1e6) / step.targetRate,
          cpuWaitPerSecond: 0,
          busiestThread: { cpuPerSecond: cpu, waitPerSecond: 0 },
          cpuLimit: 1,
          coresAvailable: 1,
          rssBytes: { max: 50e6, mean: 40e6 },
          memoryBytes: null,
          memoryLimitBytes: null,
          link: null,
          samples: 10,
        };
        Object.assign(step, { server });
      });
    const s = summarize(cells('x', [withServer(0.2), withServer(0.3), withServer(0.4)]));
    const st = s.workloads[0]!.targets[0]!.steps[0]!;
    expect(st.server!.cpuPerSecond).toMatchObject({ n: 3, median: 0.3, lo: 0.2, hi: 0.4 });
    expect(st.server!.cpuPerRequestUs!.median).toBeCloseTo(300, 9);
    expect(st.server!.rssBytesMax!.median).toBe(50e6);
    expect(formatExperimentText(s)).toContain('server CPU/s');
    const row = formatExperimentCsv(s).split('\n')[1]!.split(',');
    expect(row[EXPERIMENT_CSV_COLUMNS.indexOf('cpuPerSecondMedian')]).toBe('0.3');
    const plain = summarize(cells('x', [sweep(RATES, 3000)]));
    expect(plain.workloads[0]!.targets[0]!.steps[0]!.server).toBeUndefined();
  });

  it('compares every pair of a workload best first, apart per workload; no ratio against a target that passed nothing', () => {
    const three = [...cells('mid', [sweep(RATES, 2000), sweep(RATES, 2000), sweep(RATES, 2000)]), ...cells('top', [sweep(RATES, 3000), sweep(RATES, 3000), sweep(RATES, 3000)]), ...cells('zero', [sweep(RATES, 500), sweep(RATES, 500), sweep(RATES, 500)])];
    const other = cells('solo', [sweep(RATES, 2000)], 'other');
    const s = summarize([...three, ...other]);
    expect(s.workloads.map((w) => w.workload)).toEqual(['page', 'other']);
    const page = s.workloads[0]!;
    expect(page.targets.map((t) => t.target)).toEqual(['top', 'mid', 'zero']);
    expect(page.comparisons.map((c) => `${c.a}/${c.b}`)).toEqual(['top/mid', 'top/zero', 'mid/zero']);
    expect(page.comparisons[0]).toMatchObject({ ratio: 1.5, lo: 1.5, hi: 1.5, overlapsOne: false });
    expect(page.comparisons[1]).toMatchObject({ ratio: null, hi: null });
    expect(page.comparisons[1]!.text).toBe('top vs zero: saturation n/a (interval ?–∞)');
    expect(s.workloads[1]!.comparisons).toEqual([]);
  });

  it('says a ratio of floors is not one of capacities', () => {
    const both = summarize([...cells('a', [sweep(RATES, 5000), sweep(RATES, 5000)]), ...cells('b', [sweep(RATES, 5000), sweep(RATES, 5000)])]);
    expect(both.workloads[0]!.comparisons[0]!.notes[0]).toBe('neither saturated within what was measured: this compares floors, not capacities');
    const one = summarize([...cells('a', [sweep(RATES, 5000), sweep(RATES, 5000)]), ...cells('b', [sweep(RATES, 2000), sweep(RATES, 2000)])]);
    const c = one.workloads[0]!.comparisons[0]!;
    expect(c).toMatchObject({ a: 'a', ratio: 2, overlapsOne: false });
    expect(c.notes).toEqual(['a did not saturate within what was measured: the ratio is at least this', 'a: saturation is a floor in 2 of 2 repeats']);
  });

  it('is deterministic: the same cells give the same summary', () => {
    const input = [...cells('a', [sweep(RATES, 3000), sweep(RATES, 2000), sweep(RATES, 4000)]), ...cells('b', [sweep(RATES, 2000), sweep(RATES, 3000), sweep(RATES, 2000)])];
    const one = summarize(input);
    expect(summarize(input)).toEqual(one);
    const c = one.workloads[0]!.comparisons[0]!;
    expect(c).toMatchObject({ a: 'a', b: 'b', ratio: 1.5 });
    // Resampling 3 repeats can draw b's best twice and a's worst twice: 2000/3000 is reachable.
    expect(c.lo!).toBeLessThan(1);
    expect(c.overlapsOne).toBe(true);
    expect(c.notes[0]).toBe('not a real difference at this many repeats (3)');
  });
});
