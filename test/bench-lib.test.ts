/** The benchmarks' statistics (bench/lib.ts): pure, so checked against textbook values. */
import { describe, expect, it } from 'vitest';
import { highestPassing, median, medianInterval, unbrokenNote } from '../bench/lib.js';

describe('bench statistics', () => {
  it('gives the order-statistic interval for the median, with its exact coverage', () => {
    // n = 9: x(2) … x(8), coverage 1 − 2 × (1 + 9) / 512 (binomial tables: 96.1 %).
    const nine = [1.3, 0.84, 1.07, 0.95, 1.13, 0.98, 1.1, 1.04, 1.09];
    expect(medianInterval(nine)).toEqual({ low: 0.95, high: 1.13, coverage: 1 - (2 * 10) / 512 });
    expect(median(nine)).toBe(1.07);
    // n = 10: x(2) … x(9), 97.9 %; n = 6: the extremes, 96.9 %; n = 5 is too few for 95 %.
    expect(medianInterval([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])).toEqual({ low: 2, high: 9, coverage: 1 - (2 * 11) / 1024 });
    expect(medianInterval([6, 5, 4, 3, 2, 1])).toEqual({ low: 1, high: 6, coverage: 1 - 2 / 64 });
    expect(medianInterval([5, 4, 3, 2, 1])).toBeNull();
    // Non-finite values (a round that failed) are left out, not sorted in.
    expect(medianInterval([Number.NaN, 6, 5, 4, 3, 2, 1])).toEqual({ low: 1, high: 6, coverage: 1 - 2 / 64 });
  });

  it('finds the highest passing rate, and says how far every rate tried passed', async () => {
    // As in a run where the VM had a slow minute at 50k – 60k and a good one at 70k.
    const passes = new Set([10_000, 20_000, 30_000, 40_000, 70_000]);
    const tried: number[] = [];
    const search = await highestPassing({ start: 10_000, step: 10_000, max: 100_000, refine: 2, granularity: 1000 }, async (rate) => {
      tried.push(rate);
      return passes.has(rate);
    });
    // Up in steps until three failures in a row, then two bisections between 70k and 80k.
    expect(tried).toEqual([10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000, 100_000, 75_000, 73_000]);
    expect(search).toEqual({ highest: 70_000, unbroken: 40_000, lowestFailure: 50_000 });
    expect(unbrokenNote(search, 'qps')).toBe('; every rate tried up to 40000 qps passed, 50000 failed');
    // Monotone: nothing to add.
    const clean = await highestPassing({ start: 10_000, step: 10_000, max: 100_000, refine: 2, granularity: 1000 }, async (rate) => rate <= 58_000);
    expect(clean).toEqual({ highest: 58_000, unbroken: 58_000, lowestFailure: 60_000 });
    expect(unbrokenNote(clean, 'qps')).toBe('');
  });
});
