/**
 * The sweep's order of measurements (--confirm, --refine) and the saturation
 * rule read over it: pure logic, no load.
 */
import { describe, expect, it } from 'vitest';
import { Sweep } from '../../src/measure/sweep.js';
import { findSaturation, describeSaturation } from '../../src/measure/saturation.js';
import { generatorLimits, type LimitInputs } from '../../src/measure/limits.js';
import type { GeneratorLimit, LatencyStats, StepBase } from '../../src/result.js';

interface Fake {
  targetRate: number;
  pass: boolean;
  attempts?: unknown[];
  refined?: boolean;
}

/** Runs a sweep where `measure(rate, attempt)` says whether that measurement passed; returns the rates in the order measured. */
function drive(plan: { rates: number[]; confirm: number; refinePct: number | null }, measure: (rate: number, attempt: number) => boolean) {
  const sweep = new Sweep<Fake>(plan, (s) => !s.pass);
  const order: number[] = [];
  const attempts = new Map<number, number>();
  for (let next = sweep.rate(); next !== undefined; next = sweep.rate()) {
    const n = attempts.get(next.rate) ?? 0;
    attempts.set(next.rate, n + 1);
    order.push(next.rate);
    sweep.record({ targetRate: next.rate, pass: measure(next.rate, n) });
    if (order.length > 100) throw new Error('runaway sweep');
  }
  return { order, steps: sweep.steps() };
}

describe('sweep order', () => {
  it('measures a failing step again before its failure counts, and keeps every attempt', () => {
    // 200 fails once (a noisy minute), then passes; 400 fails every time.
    const { order, steps } = drive({ rates: [100, 200, 300, 400], confirm: 1, refinePct: null }, (rate, attempt) => (rate === 200 ? attempt > 0 : rate < 400));
    expect(order).toEqual([100, 200, 200, 300, 400, 400]);
    expect(steps.map((s) => [s.targetRate, s.pass, s.attempts?.length ?? 0])).toEqual([
      [100, true, 0],
      [200, true, 1],
      [300, true, 0],
      [400, false, 1],
    ]);
  });

  it('repeats up to --confirm times, stopping at the first pass; 0 never repeats', () => {
    expect(drive({ rates: [100, 200], confirm: 3, refinePct: null }, (rate, attempt) => rate === 100 || attempt === 2).order).toEqual([100, 200, 200, 200]);
    expect(drive({ rates: [100, 200], confirm: 3, refinePct: null }, (rate) => rate === 100).order).toEqual([100, 200, 200, 200, 200]);
    expect(drive({ rates: [100, 200], confirm: 0, refinePct: null }, (rate) => rate === 100).order).toEqual([100, 200]);
  });

  it('bisects between the last pass and the first failure until within --refine percent', () => {
    // The server keeps up to 3300.
    const { order, steps } = drive({ rates: [1000, 2000, 3000, 4000, 5000], confirm: 0, refinePct: 5 }, (rate) => rate <= 3300);
    // 3500 fails, 3250 passes, 3375 fails: 3250 and 3375 are within 5 % of 3375, so it stops.
    expect(order).toEqual([1000, 2000, 3000, 4000, 5000, 3500, 3250, 3375]);
    expect(steps.filter((s) => s.refined).map((s) => s.targetRate)).toEqual([3500, 3250, 3375]);
    const sat = findSaturation(steps.map(asStep), undefined, { confirm: 0, refinePct: 5 });
    expect(sat).toMatchObject({ rate: 3250, refinePct: 5 });
    expect(steps[sat.failedAt!]?.targetRate).toBe(3375);
  });

  it('does not bisect when nothing passed, or nothing failed', () => {
    expect(drive({ rates: [100, 200], confirm: 0, refinePct: 1 }, () => false).order).toEqual([100, 200]);
    expect(drive({ rates: [100, 200], confirm: 0, refinePct: 1 }, () => true).order).toEqual([100, 200]);
  });

  it('settles a failure still being confirmed when the run stops', () => {
    const sweep = new Sweep<Fake>({ rates: [100, 200], confirm: 2, refinePct: null }, (s) => !s.pass);
    sweep.rate();
    sweep.record({ targetRate: 100, pass: false });
    sweep.end();
    expect(sweep.steps()).toEqual([{ targetRate: 100, pass: false }]);
  });
});

const stats = (p50: number, p99 = p50): LatencyStats => ({ count: 100, min: p50, mean: p50, stdev: 0, p50, p90: p50, p99, p999: p99, max: p99 });

/** A step that passes the default criteria, or fails on reply rate. */
function asStep(s: Fake): Parameters<typeof findSaturation>[0][number] {
  return {
    targetRate: s.targetRate,
    replyRate: s.pass ? s.targetRate : s.targetRate / 2,
    sent: 1000,
    errors: { total: 0, connrefused: 0, connreset: 0, addrunavail: 0, 'fd-unavail': 0, 'ftab-full': 0, 'socket-timo': 0, other: 0 },
    timeouts: 0,
    dropped: 0,
    latencyMs: stats(1),
  };
}

describe('saturation over confirmed steps', () => {
  it('is the highest pass below the first failure, and flags passes above it as not monotone', () => {
    const steps = [100, 200, 300, 400, 500].map((targetRate) => asStep({ targetRate, pass: targetRate !== 300 && targetRate !== 500 }));
    const sat = findSaturation(steps);
    expect(sat).toMatchObject({ rate: 200, step: 1, failedAt: 2, failedCriterion: 'replyRate', nonMonotone: [3], generatorLimit: null });
    expect(describeSaturation(sat, steps, 'http')).toBe('saturation at 200 req/s (at 300 req/s: reply rate below 99% of the target rate); not monotone: passed again at 400 req/s');
  });

  it('names no saturation point where tsload itself was the limit at the first failure', () => {
    const own: GeneratorLimit = { kind: 'thread', cause: 'tsload', busy: 0.97, threads: 1 };
    const theirs: GeneratorLimit = { kind: 'inflightCap', cause: 'server', maxInflight: 1024, threads: 1, dropped: 10, serviceP50Ms: 50, baselineServiceP50Ms: 1 };
    const steps = [asStep({ targetRate: 100, pass: true }), { ...asStep({ targetRate: 200, pass: false }), generatorLimits: [own, theirs] }];
    const sat = findSaturation(steps);
    expect(sat.generatorLimit).toEqual({ step: 1, kinds: ['thread'] });
    expect(sat.rate).toBe(100);
    expect(describeSaturation(sat, steps, 'dns')).toBe('not found: tsload itself was the limit at 200 queries/s (thread); the server kept up to at least 100 queries/s');
    // A cap that filled because the server slowed is the server's: the saturation point stands.
    const server = findSaturation([steps[0]!, { ...steps[1]!, generatorLimits: [theirs] }]);
    expect(server.generatorLimit).toBeNull();
  });

  it('counts requests never written as failures', () => {
    const step = { ...asStep({ targetRate: 100, pass: true }), sent: 90, notSent: 10 };
    expect(findSaturation([step]).failedCriterion).toBe('errors');
  });
});

describe('generator limits', () => {
  const base: LimitInputs['step'] = {
    sent: 1000,
    dropped: 0,
    droppedBehind: 0,
    notSent: 0,
    generatorBusy: 0.2,
    scheduleLagMs: stats(0.1, 0.5),
    latencyMs: stats(20, 25),
    serviceTimeMs: stats(20, 25),
    queuedMs: stats(0.01, 0.02),
    errors: { total: 0, connrefused: 0, connreset: 0, addrunavail: 0, 'fd-unavail': 0, 'ftab-full': 0, 'socket-timo': 0, other: 0 },
    histograms: { latency: '', serviceTime: '', scheduleLag: '', queued: '' },
  };
  const inputs = (step: Partial<LimitInputs['step']>, more: Partial<LimitInputs> = {}): LimitInputs => ({
    step: { ...base, ...step },
    threads: 1,
    maxInflight: 1024,
    baselineServiceP50Ms: 20,
    fileLimit: 1024,
    ...more,
  });
  const pool = { limit: 8, fixed: true, pipelining: 1, waited: 600, waitedAtLimit: 600, written: 1000 };

  it('finds none in a healthy step', () => {
    expect(generatorLimits(inputs({}, { pool: { ...pool, waited: 0, waitedAtLimit: 0 } }))).toEqual([]);
  });

  it('names a full pool as tsload\'s while the server kept its pace, and as the server\'s once it slowed', () => {
    const own = generatorLimits(inputs({ queuedMs: stats(900, 1200), notSent: 40 }, { pool }));
    expect(own).toMatchObject([{ kind: 'connections', cause: 'tsload', connections: 8, fixed: true, atLimit: true, waitedShare: 0.5769, notSent: 40 }]);
    const slowed = generatorLimits(inputs({ queuedMs: stats(900, 1200), serviceTimeMs: stats(300, 400) }, { pool }));
    expect(slowed[0]).toMatchObject({ kind: 'connections', cause: 'server', serviceP50Ms: 300, baselineServiceP50Ms: 20 });
    // Short waits are not a limit.
    expect(generatorLimits(inputs({ queuedMs: stats(0.1, 0.5) }, { pool }))).toEqual([]);
  });

  it('names a busy thread, lag, drops, socket and descriptor limits', () => {
    const kinds = (l: GeneratorLimit[]) => l.map((x) => `${x.kind}:${x.cause}`);
    expect(kinds(generatorLimits(inputs({ generatorBusy: 0.95 })))).toEqual(['thread:tsload']);
    expect(kinds(generatorLimits(inputs({ dropped: 30, droppedBehind: 30 })))).toEqual(['scheduleLag:tsload']);
    expect(kinds(generatorLimits(inputs({ dropped: 30 })))).toEqual(['inflightCap:tsload']);
    // Lag counts once it is more than a millisecond and at least half the latency.
    expect(kinds(generatorLimits(inputs({ scheduleLagMs: stats(1, 3), latencyMs: stats(2, 5) })))).toEqual(['scheduleLag:tsload']);
    expect(kinds(generatorLimits(inputs({ scheduleLagMs: stats(1, 3), latencyMs: stats(20, 25) })))).toEqual([]);
    expect(kinds(generatorLimits(inputs({}, { lostAtGenerator: 12 })))).toEqual(['socketBuffers:tsload']);
    expect(kinds(generatorLimits(inputs({ errors: { ...base.errors, total: 3, 'fd-unavail': 3 } })))).toEqual(['fileLimit:tsload']);
  });
});

// Keep the fixture honest to the schema it stands in for.
const _typecheck: Pick<StepBase, 'targetRate'> = asStep({ targetRate: 1, pass: true });
void _typecheck;
