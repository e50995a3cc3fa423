/** The benchmarks' statistics (bench/lib.ts): pure, so checked against textbook values. */
import { describe, expect, it } from 'vitest';
import { median, medianInterval } from '../bench/lib.js';

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
});
