import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  binomialHalfCdf,
  bootstrapMedianRatio,
  median,
  medianInterval,
  orderStatisticConfidence,
  orderStatisticRank,
} from '../../src/measure/statistics.js';

/** C(n, k) as an exact BigInt, for the reference binomial. */
function choose(n: number, k: number): bigint {
  let c = 1n;
  for (let i = 0; i < k; i++) c = (c * BigInt(n - i)) / BigInt(i + 1);
  return c;
}

/** 1 − 2·P(Bin(n, ½) ≤ k−1), from exact integers. */
function referenceCoverage(n: number, k: number): number {
  let tail = 0n;
  for (let i = 0; i < k; i++) tail += choose(n, i);
  return 1 - (2 * Number(tail)) / 2 ** n;
}

const sample = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 40 });

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([1, 2, 3, 4, 5])).toBe(3);
    expect(median([5, 1, 4, 2, 3])).toBe(3);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });
});

describe('order-statistic interval for the median', () => {
  it('has the binomial coverage for n = 5, 10, 20', () => {
    // n = 5: only (min, max) is reachable, at 1 − 2/32.
    expect(orderStatisticConfidence(5, 1)).toBe(0.9375);
    expect(orderStatisticConfidence(5, 2)).toBe(0.625);
    expect(orderStatisticRank(5, 0.95)).toBe(1);
    // n = 10: [x(2), x(9)] at 1 − 2·11/1024; [x(3), x(8)] would be 89%.
    expect(orderStatisticConfidence(10, 2)).toBeCloseTo(1 - 22 / 1024, 12);
    expect(orderStatisticConfidence(10, 3)).toBeCloseTo(0.890625, 12);
    expect(orderStatisticRank(10, 0.95)).toBe(2);
    // n = 20: [x(6), x(15)] at 95.86%.
    expect(orderStatisticConfidence(20, 6)).toBeCloseTo(1 - (2 * 21700) / 2 ** 20, 12);
    expect(orderStatisticRank(20, 0.95)).toBe(6);
    for (const n of [5, 10, 20]) {
      for (let k = 1; 2 * k <= n + 1; k++) expect(orderStatisticConfidence(n, k)).toBeCloseTo(referenceCoverage(n, k), 12);
    }
  });

  it('says so when the asked level is out of reach: n = 2 is the range at 50%, n = 1 the value at 0%', () => {
    const two = medianInterval([10, 30])!;
    expect(two).toMatchObject({ n: 2, median: 20, lo: 10, hi: 30, confidence: 0.5, ranks: [1, 2] });
    const one = medianInterval([10])!;
    expect(one).toMatchObject({ n: 1, median: 10, lo: 10, hi: 10, confidence: 0 });
    expect(medianInterval([])).toBeNull();
    const five = medianInterval([5, 3, 1, 4, 2])!;
    expect(five).toMatchObject({ median: 3, lo: 1, hi: 5, confidence: 0.9375 });
    // Asking for less than 62.5% narrows n = 5 to [x(2), x(4)].
    expect(medianInterval([5, 3, 1, 4, 2], 0.6)).toMatchObject({ lo: 2, hi: 4, confidence: 0.625 });
  });

  it('matches the binomial CDF summed exactly', () => {
    for (const n of [1, 2, 7, 30]) for (let k = -1; k <= n; k++) {
      let ref = 0n;
      for (let i = 0; i <= k; i++) ref += choose(n, i);
      expect(binomialHalfCdf(n, k)).toBeCloseTo(Number(ref) / 2 ** n, 12);
    }
  });

  it('contains the median, spans sample values, and reaches the asked level whenever n allows', () => {
    fc.assert(
      fc.property(sample, fc.double({ min: 0.5, max: 0.999, noNaN: true }), (values, level) => {
        const e = medianInterval(values, level)!;
        expect(e.lo).toBeLessThanOrEqual(e.median);
        expect(e.hi).toBeGreaterThanOrEqual(e.median);
        expect(values).toContain(e.lo);
        expect(values).toContain(e.hi);
        const widest = orderStatisticConfidence(values.length, 1);
        if (widest >= level) expect(e.confidence).toBeGreaterThanOrEqual(level);
        else expect(e.confidence).toBe(widest);
      }),
    );
  });

  it('is monotone: a higher confidence never gives a narrower interval', () => {
    fc.assert(
      fc.property(sample, fc.double({ min: 0.1, max: 0.99, noNaN: true }), fc.double({ min: 0.1, max: 0.99, noNaN: true }), (values, c1, c2) => {
        const [low, high] = c1 <= c2 ? [c1, c2] : [c2, c1];
        const a = medianInterval(values, low)!;
        const b = medianInterval(values, high)!;
        expect(b.lo).toBeLessThanOrEqual(a.lo);
        expect(b.hi).toBeGreaterThanOrEqual(a.hi);
        expect(b.confidence).toBeGreaterThanOrEqual(a.confidence);
      }),
    );
  });

  it('covers the true median about as often as it says (simulated, uniform data)', () => {
    // 2000 samples of n = 10 from U(0, 1), true median 0.5: coverage should be near 97.85%.
    let state = 12345;
    const rnd = (): number => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    let covered = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const e = medianInterval(Array.from({ length: 10 }, rnd))!;
      if (e.lo <= 0.5 && 0.5 <= e.hi) covered++;
    }
    // Binomial sd of the count is about 6.5: ±30 is more than four of them.
    expect(Math.abs(covered - trials * orderStatisticConfidence(10, 2))).toBeLessThan(30);
  });
});

describe('bootstrap ratio of medians', () => {
  it('is deterministic for a seed and brackets the point estimate', () => {
    const a = [2000, 2100, 1950, 2050, 2200];
    const b = [1000, 980, 1010, 1050, 990];
    const r1 = bootstrapMedianRatio(a, b, { seed: 7 })!;
    const r2 = bootstrapMedianRatio(a, b, { seed: 7 })!;
    expect(r1).toEqual(r2);
    expect(r1.ratio).toBeCloseTo(2050 / 1000, 12);
    expect(r1.lo).toBeLessThanOrEqual(r1.ratio);
    expect(r1.hi).toBeGreaterThanOrEqual(r1.ratio);
    // Every resampled median lies within each sample's range, so the ratio does too.
    expect(r1.lo).toBeGreaterThanOrEqual(1950 / 1050);
    expect(r1.hi).toBeLessThanOrEqual(2200 / 980);
    expect(r1.lo).toBeGreaterThan(1);
  });

  it('holds 1 for two samples of the same spread, and is exact for constant ones', () => {
    const same = bootstrapMedianRatio([90, 100, 110], [95, 100, 105], { seed: 1 })!;
    expect(same.lo).toBeLessThan(1);
    expect(same.hi).toBeGreaterThan(1);
    expect(bootstrapMedianRatio([600, 600, 600], [300, 300, 300])).toMatchObject({ ratio: 2, lo: 2, hi: 2 });
  });

  it('is unbounded where the denominator can be 0, and null for an empty sample', () => {
    const r = bootstrapMedianRatio([500, 500, 500], [0, 0, 300])!;
    expect(r.ratio).toBe(Infinity);
    expect(r.hi).toBe(Infinity);
    expect(bootstrapMedianRatio([], [1])).toBeNull();
  });

  it('a ratio above 1 in every repeat pair gives an interval above 1', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 100, max: 1000 }), { minLength: 2, maxLength: 8 }),
        fc.array(fc.integer({ min: 1001, max: 5000 }), { minLength: 2, maxLength: 8 }),
        (low, high) => {
          const r = bootstrapMedianRatio(high, low, { resamples: 500 })!;
          expect(r.lo).toBeGreaterThan(1);
          expect(r.lo).toBeLessThanOrEqual(r.ratio);
          expect(r.hi).toBeGreaterThanOrEqual(r.ratio);
        },
      ),
    );
  });
});
