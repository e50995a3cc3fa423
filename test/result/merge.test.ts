/**
 * Merge arithmetic on results built from recorded values: whatever the
 * values and however many generators, the merged result is what one
 * histogram of all the values says, counts are sums, and results that are
 * not one run are refused with the reason.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MergeError } from '../../src/errors.js';
import { createHistogram, decodeHistogram, encodeHistogram, statsOf, type Histogram } from '../../src/measure/histogram.js';
import { mergeProblems, mergeResults } from '../../src/result/merge.js';
import type { HttpResult, ResultPlan } from '../../src/result.js';
import { httpResult, httpStep } from '../fixtures-results.js';

const BASE_MS = Date.UTC(2026, 11, 4, 5, 0, 0);
const PLAN: ResultPlan = { rates: [400], durationMs: 2000, warmupMs: 1000, timeoutMs: 5000, arrival: 'constant', seed: 1 };

/** A histogram of the values as one generator would report it: recorded, then encoded as results carry it. */
function histogramOf(valuesUs: readonly number[]): Histogram {
  const h = createHistogram();
  for (const v of valuesUs) h.recordValue(v);
  return decodeHistogram(encodeHistogram(h));
}

/** Generator `i` of `n` (from 1): two seconds of latency values, its window `skewMs` after the run's start. */
function part(i: number, n: number, seconds: readonly [number[], number[]], skewMs = 0, overrides: Partial<HttpResult> = {}): HttpResult {
  const runRate = 400;
  const step = httpStep({ targetRate: runRate / n, durationS: 2 });
  const all = [...seconds[0], ...seconds[1]];
  const latency = encodeHistogram(histogramOf(all));
  step.runRate = runRate;
  step.sent = step.completed = all.length;
  step.bytesSent = all.length * 65;
  step.statusCodes = { '200': all.length };
  step.window = { startMs: BASE_MS + skewMs, endMs: BASE_MS + skewMs + 2000 };
  step.histograms = { latency, serviceTime: latency, scheduleLag: latency, queued: latency };
  step.latencyMs = statsOf(decodeHistogram(latency));
  step.timeline = seconds.map((values, tS) => {
    const h = histogramOf(values);
    const s = statsOf(h);
    return { tS, sent: values.length, completed: values.length, errors: 0, timeouts: 0, dropped: 0, notSent: 0, p50Ms: s.p50, p99Ms: s.p99, maxMs: s.max, histograms: { latency: encodeHistogram(h), serviceTime: encodeHistogram(h) } };
  });
  const from = i === 1 ? '0' : `${i - 1}/${n}`;
  const to = i === n ? '1' : `${i}/${n}`;
  const sequence = Array.from({ length: n + 1 }, (_, k) => (k === 0 ? '0' : k === n ? '1' : `${k}/${n}`)).join(',');
  return httpResult([step], {
    plan: PLAN,
    ...(n === 1 ? {} : { segment: { index: i, count: n, from, to, sequence, source: 'option' as const } }),
    ...overrides,
  });
}

/** Counts at every index of the histogram's array: equal arrays mean equal histograms, bucket for bucket. */
function counts(h: Histogram): number[] {
  const j = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
  return Array.from({ length: j.countsArrayLength }, (_, i) => j.getCountAtIndex(i));
}

const latencyUs = fc.integer({ min: 1, max: 5_000_000 });
const second = fc.array(latencyUs, { minLength: 0, maxLength: 40 });

describe('mergeResults', () => {
  it('adds histograms bucket for bucket and counts exactly, for any values and any number of generators', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }).chain((n) => fc.array(fc.tuple(second, second), { minLength: n, maxLength: n })), (perPart) => {
        const n = perPart.length;
        const parts = perPart.map((s, i) => part(i + 1, n, s, i % 3));
        const merged = mergeResults([...parts].reverse());
        const step = merged.steps[0]!;
        const everything = perPart.flatMap(([a, b]) => [...a, ...b]);
        const one = histogramOf(everything);
        expect(counts(decodeHistogram(step.histograms.latency))).toEqual(counts(one));
        expect(step.latencyMs).toEqual(statsOf(one));
        expect(step.sent).toBe(everything.length);
        expect(step.bytesSent).toBe(everything.length * 65);
        expect((step as { statusCodes: Record<string, number> }).statusCodes['200'] ?? 0).toBe(everything.length);
        expect(step.targetRate).toBe(400);
        expect(step.runRate).toBeUndefined();
        for (const tS of [0, 1]) {
          const values = perPart.flatMap((s) => s[tS]!);
          const point = step.timeline.find((p) => p.tS === tS)!;
          expect(point.sent).toBe(values.length);
          expect(point.p99Ms).toBe(statsOf(histogramOf(values)).p99);
        }
        expect(merged.generators?.map((g) => g.segment?.index ?? 1)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        expect(merged.segment).toBeUndefined();
      }),
      { numRuns: 25 },
    );
  });

  it('finds saturation again against the run rate, not a share', () => {
    const parts = [1, 2].map((i) => part(i, 2, [Array(200).fill(300), Array(200).fill(300)]));
    // Each generator sent its own 200/s: against its share it kept up; the merged step is judged against 400/s.
    for (const p of parts) p.steps[0]!.replyRate = 200;
    expect(mergeResults(parts).saturation).toMatchObject({ rate: 400, failedCriterion: null });
    parts[1]!.steps[0]!.replyRate = 150;
    expect(mergeResults(parts).saturation).toMatchObject({ rate: null, failedCriterion: 'replyRate' });
  });

  it('keeps each generator its own generatorLimits and start offset, and warns on skew above the bound', () => {
    const parts = [1, 2].map((i) => part(i, 2, [[1000], [2000]], i === 2 ? 8 : 0));
    parts[1]!.steps[0]!.generatorLimits = [{ kind: 'thread', cause: 'tsload', busy: 0.95, threads: 1 }];
    const warnings: string[] = [];
    const merged = mergeResults(parts, { maxSkewMs: 5, onWarning: (line) => warnings.push(line) }, ['a.json', 'b.json']);
    expect(merged.generators!.map((g) => g.windowOffsetsMs)).toEqual([[0], [8]]);
    expect(merged.generators!.map((g) => g.generatorLimits[0]!.length)).toEqual([0, 1]);
    expect(merged.steps[0]!.generatorLimits).toHaveLength(1);
    expect(warnings.join('\n')).toMatch(/8 ms apart \(b\.json last\), more than --max-skew 5 ms/);
    expect(mergeResults(parts, { maxSkewMs: 10, onWarning: (line) => warnings.push(`again ${line}`) }) && warnings.some((w) => w.startsWith('again'))).toBe(false);
  });

  it('counts the server once: every generator read the same server, so its CPU and link are not added, and CPU per request is over all replies', () => {
    const parts = [1, 2, 3, 4].map((i) => part(i, 4, [Array(100).fill(300), Array(100).fill(300)]));
    const link = { rateBitsPerSecond: 1e9, toServer: { bytesPerS: 1e6, packetsPerS: 4000, share: 0.01, tbfDrops: 0 }, toClient: { bytesPerS: 4e6, packetsPerS: 4000, share: 0.04, tbfDrops: 0 } };
    parts.forEach((p, i) => {
      const step = p.steps[0]!;
      step.replyRate = 100;
      // Each generator's sampler read the whole server; its per-request figure is over its own replies only.
      const cpuS = 0.4 + i * 0.001;
      step.server = {
        target: 'nginx', source: 'cgroup', cpuS, cpuPerSecond: cpuS / 2, cpuPerRequestUs: (cpuS * 1e6) / 200, cpuWaitPerSecond: 0, busiestThread: null,
        cpuLimit: 1, coresAvailable: 1, rssBytes: { mean: 5e6, max: 6e6 }, memoryBytes: null, memoryLimitBytes: null, link, samples: 10,
      };
    });
    const merged = mergeResults(parts).steps[0]!;
    expect(merged.server).toMatchObject({ target: 'nginx', cpuS: 0.4, cpuPerSecond: 0.2, rssBytes: { max: 6e6 }, link });
    expect(merged.server!.cpuPerRequestUs).toBeCloseTo((0.4 * 1e6) / 800, 9);
    // Different servers are not one reading: no figures rather than a wrong one.
    parts[2]!.steps[0]!.server = { ...parts[2]!.steps[0]!.server!, target: 'apache' };
    expect(mergeResults(parts).steps[0]!.server).toBeUndefined();
  });

  it('refuses overlapping and missing segments, other targets and other options, with every reason', () => {
    const s: [number[], number[]] = [[100], [200]];
    const [a, b, c] = [1, 2, 3].map((i) => part(i, 3, s));
    expect(mergeProblems([a!, b!, c!])).toEqual([]);
    expect(mergeProblems([a!, b!, b!, c!]).join('\n')).toMatch(/overlapping segments/);
    expect(mergeProblems([a!, c!]).join('\n')).toMatch(/missing segment 1\/3:2\/3/);
    expect(mergeProblems([a!, b!]).join('\n')).toMatch(/missing segment 2\/3:1/);
    expect(mergeProblems([a!, b!, { ...c!, target: 'http://198.18.0.3/' }]).join('\n')).toMatch(/different target/);
    expect(mergeProblems([a!, b!, { ...c!, plan: { ...PLAN, seed: 2 } }]).join('\n')).toMatch(/different options/);
    expect(mergeProblems([part(1, 1, s), part(1, 1, s)]).join('\n')).toMatch(/overlapping/);
    // A quarter and two thirds do not come from one sequence: their stripes could overlap.
    expect(mergeProblems([part(1, 4, s), part(2, 3, s)]).join('\n')).toMatch(/different segment sequence/);
    expect(() => mergeResults([a!, c!])).toThrow(MergeError);
  });
});

describe('mergeResults of real DNS generators', () => {
  it('two segments of a query mix against one server make one run: counts and RCODEs summed, saturation at the whole rate', { timeout: 30_000 }, async () => {
    const { loadZone } = await import('../../src/protocols/dns/zone/index.js');
    const { startDnsTarget } = await import('../../src/targets/dns.js');
    const { runDns } = await import('../../src/run.js');
    const zoneFile = new URL('../fixtures/zones/common-types.zone', import.meta.url).pathname;
    const target = await startDnsTarget({ zones: [loadZone(zoneFile)] });
    try {
      const startAt = Math.ceil((Date.now() + 2000) / 1000) * 1000;
      const run = (segment: string) => runDns({ zone: zoneFile, server: target.address, rate: 1000, duration: 1000, warmup: 1000, segment, startAt });
      const parts = await Promise.all([run('1/2'), run('2/2')]);
      const merged = mergeResults(parts);
      const step = merged.steps[0]!;
      expect(step.targetRate).toBe(1000);
      expect(parts.map((p) => p.steps[0]!.targetRate)).toEqual([500, 500]);
      expect(step.sent).toBe(1000);
      expect(step.sent).toBe(parts[0]!.steps[0]!.sent + parts[1]!.steps[0]!.sent);
      const rcodes = (r: typeof step) => (r as { rcodes: Record<string, number> }).rcodes;
      for (const code of Object.keys(rcodes(step))) {
        expect(rcodes(step)[code]).toBe(parts.reduce((n, p) => n + (rcodes(p.steps[0]!)[code] ?? 0), 0));
      }
      expect(Object.values(rcodes(step)).reduce((a, b) => a + b, 0)).toBe(step.completed);
      // Found again at the run's rate: each part passed at its own 500/s, and the sum at 1000/s.
      expect(parts.map((p) => p.saturation.rate)).toEqual([500, 500]);
      expect(merged.saturation).toMatchObject({ rate: 1000, failedCriterion: null });
    } finally {
      await target.close();
    }
  });
});
