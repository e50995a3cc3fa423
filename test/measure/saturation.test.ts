import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SATURATION_CRITERIA,
  describeSaturation,
  failedCriterion,
  failureRatio,
  findSaturation,
} from '../../src/measure/saturation.js';
import type { SaturationInput } from '../../src/measure/saturation.js';

interface StepOpts {
  reply?: number;
  errors?: number;
  timeouts?: number;
  dropped?: number;
  p99?: number;
}

/** A 10 s step at `rate`; by default it keeps up perfectly (every request answered in ~1 ms). */
function step(rate: number, o: StepOpts = {}): SaturationInput {
  const dropped = o.dropped ?? 0;
  const sent = rate * 10 - dropped;
  const p99 = o.p99 ?? 1.2;
  return {
    targetRate: rate,
    replyRate: o.reply ?? rate,
    sent,
    errors: { total: o.errors ?? 0, connrefused: o.errors ?? 0, connreset: 0, addrunavail: 0, 'fd-unavail': 0, 'ftab-full': 0, 'socket-timo': 0, other: 0 },
    timeouts: o.timeouts ?? 0,
    dropped,
    latencyMs: { count: sent, min: 0.1, mean: p99 / 3, stdev: p99 / 5, p50: p99 / 4, p90: p99 / 2, p99, p999: p99 * 1.5, max: p99 * 2 },
  };
}

const sweep = (rates: number[], fail: Record<number, StepOpts> = {}): SaturationInput[] => rates.map((r) => step(r, fail[r]));
const RATES = [1000, 2000, 3000, 4000, 5000];
const C = DEFAULT_SATURATION_CRITERIA;

describe('findSaturation', () => {
  it('defaults are 99% replies, 1% failures, p99 100 ms', () => {
    expect(C).toEqual({ minReplyRatio: 0.99, maxErrorRatio: 0.01, sloP99Ms: 100 });
    expect(Object.isFrozen(C)).toBe(true);
  });

  it('no step fails: the highest step, nothing failed', () => {
    const s = findSaturation(sweep(RATES), C);
    expect(s).toEqual({ rate: 5000, step: 4, failedCriterion: null, failedAt: null, criteria: { ...C }, generatorLimit: null, nonMonotone: [], confirm: 0, refinePct: null });
  });

  it('reply rate: below 99% of target fails; exactly 99% passes', () => {
    const s = findSaturation(sweep(RATES, { 3000: { reply: 2970 }, 4000: { reply: 3959.9 } }), C);
    expect(s).toMatchObject({ rate: 3000, step: 2, failedCriterion: 'replyRate', failedAt: 3 });
  });

  it('errors: errors + timeouts at 1% of requests fail, just under passes', () => {
    // 3000/s × 10 s = 30000 sent: 299 failures = 0.997% passes; 4000/s: 40000 sent, 200 + 200 = 1% fails.
    const s = findSaturation(sweep(RATES, { 3000: { errors: 150, timeouts: 149 }, 4000: { errors: 200, timeouts: 200 } }), C);
    expect(s).toMatchObject({ rate: 3000, step: 2, failedCriterion: 'errors', failedAt: 3 });
  });

  it('dropped arrivals count as failures (over sent + dropped)', () => {
    const steps = sweep(RATES, { 2000: { dropped: 400, reply: 2000 } });
    expect(failureRatio(steps[1]!)).toBeCloseTo(400 / 20000, 12);
    expect(findSaturation(steps, C)).toMatchObject({ rate: 1000, step: 0, failedCriterion: 'errors', failedAt: 1 });
  });

  it('p99: at the bound fails (strictly under is required)', () => {
    const s = findSaturation(sweep(RATES, { 4000: { p99: 99.9 }, 5000: { p99: 100 } }), C);
    expect(s).toMatchObject({ rate: 4000, step: 3, failedCriterion: 'p99', failedAt: 4 });
  });

  it('names the first failing criterion in the order replyRate, errors, p99', () => {
    expect(failedCriterion(step(1000, { reply: 500, errors: 5000, p99: 900 }), C)).toBe('replyRate');
    expect(failedCriterion(step(1000, { errors: 5000, p99: 900 }), C)).toBe('errors');
    expect(failedCriterion(step(1000, { p99: 900 }), C)).toBe('p99');
    expect(failedCriterion(step(1000), C)).toBeNull();
  });

  it('every step fails: no saturation point, the first step and its criterion are named', () => {
    const s = findSaturation(sweep(RATES, Object.fromEntries(RATES.map((r) => [r, { p99: 250 }]))), C);
    expect(s).toEqual({ rate: null, step: null, failedCriterion: 'p99', failedAt: 0, criteria: { ...C }, generatorLimit: null, nonMonotone: [], confirm: 0, refinePct: null });
    expect(describeSaturation(s, sweep(RATES))).toBe('no step met the criteria (at 1000/s: p99 latency reached the 100 ms bound)');
  });

  it('noise: a pass above a failure does not raise the saturation point', () => {
    // Fails at 3000 (reply rate), passes again at 4000 by luck, fails at 5000.
    const s = findSaturation(sweep(RATES, { 3000: { reply: 2800 }, 5000: { reply: 4000 } }), C);
    expect(s).toMatchObject({ rate: 2000, step: 1, failedCriterion: 'replyRate', failedAt: 2 });
  });

  it('takes steps in ascending rate and reports indices into the given array', () => {
    const steps = sweep([5000, 4000, 3000, 2000, 1000], { 4000: { timeouts: 1000 }, 5000: { timeouts: 5000 } });
    expect(findSaturation(steps, C)).toMatchObject({ rate: 3000, step: 2, failedCriterion: 'errors', failedAt: 1 });
  });

  it('no steps: nothing', () => {
    expect(findSaturation([], C)).toEqual({ rate: null, step: null, failedCriterion: null, failedAt: null, criteria: { ...C }, generatorLimit: null, nonMonotone: [], confirm: 0, refinePct: null });
    expect(describeSaturation(findSaturation([], C), [])).toBe('no steps measured');
  });

  it('uses the given criteria, and a bound of 0 failures still passes a clean step', () => {
    const strict = { minReplyRatio: 1, maxErrorRatio: 0, sloP99Ms: 5 };
    const steps = sweep(RATES, { 3000: { errors: 1 } });
    expect(findSaturation(steps, strict)).toMatchObject({ rate: 2000, failedCriterion: 'errors', failedAt: 2, criteria: strict });
    expect(findSaturation(steps, { ...strict, sloP99Ms: 1 })).toMatchObject({ rate: null, failedCriterion: 'p99', failedAt: 0 });
    // Loose enough: one error in 30000 is under 0.01%.
    expect(findSaturation(steps, { ...strict, maxErrorRatio: 0.0001 }).rate).toBe(5000);
  });

  it('a server of known capacity saturates within one step of it', () => {
    // An M/M/1-like server: capacity 4200/s (service 0.238 ms). Below capacity the p99 sojourn time is
    // ln(100)·s/(1−ρ); above it the queue grows without bound, replies cap at capacity and requests time out.
    const capacity = 4200;
    const service = 1000 / capacity;
    const rates = Array.from({ length: 16 }, (_, i) => 500 * (i + 1));
    const steps = rates.map((r) => {
      const rho = r / capacity;
      if (rho < 1) return step(r, { p99: 0.2 + (Math.log(100) * service) / (1 - rho) });
      return step(r, { reply: capacity * 0.995, timeouts: Math.round((r - capacity) * 10 * 0.5), p99: 5000 });
    });
    const s = findSaturation(steps, C);
    expect(s.rate).not.toBeNull();
    expect(Math.abs(s.rate! - capacity)).toBeLessThanOrEqual(500);
    expect(s.rate).toBeLessThanOrEqual(capacity);
    // 4000/s is ρ = 0.95: p99 ≈ 22 ms passes; 4500/s is over capacity and the reply rate gives out first.
    expect(s).toMatchObject({ rate: 4000, failedCriterion: 'replyRate', failedAt: rates.indexOf(4500) });
    expect(describeSaturation(s, steps)).toBe('saturation at 4000/s (at 4500/s: reply rate below 99% of the target rate)');
  });

  it('describes a sweep in the protocol\'s words', () => {
    const s = findSaturation(sweep(RATES), C);
    expect(describeSaturation(s, sweep(RATES), 'http')).toBe('every step met the criteria, up to 5000 req/s (not saturated)');
    const dns = findSaturation(sweep(RATES, { 3000: { reply: 100 } }), C);
    expect(describeSaturation(dns, sweep(RATES), 'dns')).toBe(
      'saturation at 2000 queries/s (at 3000 queries/s: response rate below 99% of the target rate); not monotone: passed again at 4000 queries/s, 5000 queries/s',
    );
  });
});
