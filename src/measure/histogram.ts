/**
 * The only module that imports hdr-histogram-js. Values are microseconds,
 * 1 µs to 1 h at 3 significant digits (wrk2's resolution), so memory per
 * histogram is fixed however long the run. Histograms cross threads and
 * machines as compressed base64 strings and merge with add().
 */
import * as hdr from 'hdr-histogram-js';
import type { LatencyStats } from '../result.js';

export type Histogram = hdr.Histogram;

const HIGHEST_US = 3_600_000_000;

export function createHistogram(): Histogram {
  // Plain JS histograms: WebAssembly ones are faster to record into but must be
  // initialised per thread and destroyed by hand; ~80 ns per record is cheap enough.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 32,
    useWebAssembly: false,
  });
}

/** Record a duration given in (fractional) milliseconds. */
export function recordMs(histogram: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  histogram.recordValue(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us);
}

export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  if (encoded === '') return createHistogram();
  return hdr.decodeFromCompressedBase64(encoded, 32, false, HIGHEST_US);
}

/** Merge encoded histograms (from threads or machines) into one. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const merged = createHistogram();
  for (const e of encoded) if (e !== '') merged.add(decodeHistogram(e));
  return merged;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const usToMs = (us: number): number => round3(us / 1000);

export function statsOf(histogram: Histogram): LatencyStats {
  const count = histogram.totalCount;
  if (count === 0) return { count: 0, min: 0, mean: 0, stdev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count,
    min: usToMs(histogram.minNonZeroValue),
    mean: usToMs(histogram.mean),
    stdev: usToMs(histogram.stdDeviation),
    p50: usToMs(histogram.getValueAtPercentile(50)),
    p90: usToMs(histogram.getValueAtPercentile(90)),
    p99: usToMs(histogram.getValueAtPercentile(99)),
    p999: usToMs(histogram.getValueAtPercentile(99.9)),
    max: usToMs(histogram.maxValue),
  };
}
