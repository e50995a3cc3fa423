/**
 * Statistics across the repeats of an experiment: medians, and how far to
 * trust them with so few repeats (typically 2 to 10).
 *
 * Distribution-free on purpose. A repeat's saturation rate or p99 is not
 * normal (it jumps between sweep steps, and a noisy neighbour skews it one
 * way), so a t interval would claim a precision the data does not have.
 *
 * - The interval for a median comes from order statistics: for sorted values
 *   x(1) ≤ … ≤ x(n), [x(k), x(n+1−k)] covers the true median with probability
 *   1 − 2·P(Bin(n, ½) ≤ k−1), whatever the distribution (continuous; with ties
 *   it covers at least that often). Only a few levels are reachable: with n
 *   repeats the widest interval, (min, max), has 1 − 2^(1−n): 50% for n = 2,
 *   75% for 3, 93.75% for 5. So the interval is reported with the confidence
 *   it actually has, never with the one asked for.
 * - The ratio of two medians (target A against target B) gets a percentile
 *   bootstrap: the repeats of A and of B are resampled independently (they
 *   are independent runs), the ratio of the resampled medians is taken many
 *   times, and its quantiles bound it. Seeded, so a report is reproducible.
 *   With very few repeats the bootstrap distribution is coarse (n = 3 has
 *   only 10 distinct resamples per side); it still says honestly when two
 *   targets cannot be told apart.
 */
import { mulberry32 } from '../util/random.js';

/** The confidence asked for when none is given. */
export const DEFAULT_CONFIDENCE = 0.95;

/** Median of the values (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sortedMedian(sorted);
}

function sortedMedian(sorted: readonly number[]): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** P(X ≤ k) for X ~ Binomial(n, ½), exactly for the n a study has (summed in floating point, exact up to n ≈ 50). */
export function binomialHalfCdf(n: number, k: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  let term = Math.pow(0.5, n);
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term = (term * (n - i + 1)) / i;
    sum += term;
  }
  return Math.min(1, sum);
}

/** Coverage of [x(k), x(n+1−k)] for the median of n values (k 1-based). */
export function orderStatisticConfidence(n: number, k: number): number {
  if (k < 1 || 2 * k > n + 1) return 0;
  return Math.max(0, 1 - 2 * binomialHalfCdf(n, k - 1));
}

export interface MedianInterval {
  /** How many values it was computed from. */
  n: number;
  median: number;
  lo: number;
  hi: number;
  /** The confidence the interval actually has (0..1): the asked-for one is often out of reach with few repeats. */
  confidence: number;
  /** The order statistics it spans, 1-based: lo = x(rank[0]), hi = x(rank[1]). */
  ranks: [number, number];
}

/**
 * The median and a distribution-free interval for it: the narrowest
 * [x(k), x(n+1−k)] whose coverage is at least `confidence`, or (min, max) when
 * no interval reaches it (then `confidence` in the answer is below the one
 * asked for). Null for no values. One value: that value, confidence 0.
 */
export function medianInterval(values: readonly number[], confidence: number = DEFAULT_CONFIDENCE): MedianInterval | null {
  const n = values.length;
  if (n === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const k = orderStatisticRank(n, confidence);
  return {
    n,
    median: sortedMedian(sorted),
    lo: sorted[k - 1]!,
    hi: sorted[n - k]!,
    confidence: orderStatisticConfidence(n, k),
    ranks: [k, n + 1 - k],
  };
}

/** The largest k whose [x(k), x(n+1−k)] still covers with `confidence`; 1 (the range) when none does. */
export function orderStatisticRank(n: number, confidence: number): number {
  let k = 1;
  while (2 * (k + 1) <= n + 1 && orderStatisticConfidence(n, k + 1) >= confidence) k++;
  return k;
}

export interface RatioInterval {
  /** median(a) / median(b); Infinity when b's median is 0 and a's is not; NaN when both are 0. */
  ratio: number;
  /** Bootstrap percentile bounds at `confidence` (Infinity where resamples of b had median 0). */
  lo: number;
  hi: number;
  confidence: number;
  resamples: number;
  seed: number;
}

export interface BootstrapOptions {
  confidence?: number;
  /** Resamples; 10 000 by default (a median of ten values each: a few milliseconds). */
  resamples?: number;
  seed?: number;
}

/**
 * The ratio of the medians of two independent samples, with a percentile
 * bootstrap interval: each resample draws |a| values from a and |b| from b
 * with replacement. Null when either sample is empty.
 */
export function bootstrapMedianRatio(a: readonly number[], b: readonly number[], options: BootstrapOptions = {}): RatioInterval | null {
  if (a.length === 0 || b.length === 0) return null;
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  const resamples = options.resamples ?? 10_000;
  const seed = options.seed ?? 1;
  const random = mulberry32(seed);
  const ratios = new Float64Array(resamples);
  const bufA = new Float64Array(a.length);
  const bufB = new Float64Array(b.length);
  for (let r = 0; r < resamples; r++) {
    ratios[r] = divide(resampledMedian(a, bufA, random), resampledMedian(b, bufB, random));
  }
  // NaN (0/0) sorts last in a Float64Array; such a resample says nothing of the ratio, so it drops out.
  ratios.sort();
  let valid = resamples;
  while (valid > 0 && Number.isNaN(ratios[valid - 1]!)) valid--;
  const tail = (1 - confidence) / 2;
  const at = (q: number): number => (valid === 0 ? Number.NaN : ratios[Math.min(valid - 1, Math.max(0, Math.floor(q * valid)))]!);
  return { ratio: divide(median(a), median(b)), lo: at(tail), hi: at(1 - tail), confidence, resamples, seed };
}

function divide(x: number, y: number): number {
  if (y === 0) return x === 0 ? Number.NaN : Infinity;
  return x / y;
}

function resampledMedian(values: readonly number[], buf: Float64Array, random: () => number): number {
  const n = values.length;
  for (let i = 0; i < n; i++) buf[i] = values[Math.floor(random() * n)]!;
  buf.sort();
  const mid = n >> 1;
  return n % 2 === 1 ? buf[mid]! : (buf[mid - 1]! + buf[mid]!) / 2;
}
