/**
 * The only module that loads hdr-histogram-js. Values are microseconds,
 * 1 µs to 1 h at 3 significant digits (wrk2's resolution), so memory per
 * histogram is fixed however long the run. Histograms cross threads and
 * machines as compressed base64 strings and merge with add().
 */
import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';
import type * as Hdr from 'hdr-histogram-js';
import type { LatencyStats } from '../result.js';

export type Histogram = Hdr.Histogram;

/*
 * Required on first use rather than imported: hdr-histogram-js is slow to load
 * and most importers of the library never build a histogram. require, not
 * import(), because these functions are synchronous (it is CommonJS, so both
 * give the same module).
 */
let hdrModule: typeof Hdr | undefined;
function hdr(): typeof Hdr {
  return (hdrModule ??= createRequire(import.meta.url)('hdr-histogram-js') as typeof Hdr);
}

export const HIGHEST_US = 3_600_000_000;

export function createHistogram(): Histogram {
  // Plain JS histograms: WebAssembly ones are faster to record into but must be
  // initialised per thread and destroyed by hand; ~80 ns per record is cheap enough.
  return hdr().build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 32,
    useWebAssembly: false,
  });
}

/*
 * The hot path's recorder. hdr-histogram-js's JS recordValue finds a value's
 * bucket with Math.log2 and Math.pow, which measured ~4 % of tsload's CPU at
 * 10k req/s. This computes the same HDR index with one clz32 and a shift
 * (HdrHistogram's own formula, for 1 µs lowest, 3 digits: 2048 sub-buckets)
 * and hands the counts to a real histogram only when it is encoded, so the
 * result is identical, bucket for bucket.
 */
const SUB_BUCKET_HALF_MAGNITUDE = 10;
const SUB_BUCKET_MASK = 2047;
/** 32 − unit magnitude (0) − sub-bucket half magnitude − 1. */
const LEADING_ZERO_BASE = 21;
/** Buckets needed to reach HIGHEST_US (22), plus one, times the half count: hdr's countsArrayLength. */
const COUNTS_LENGTH = 23 * 1024;

/** The counts index of `us` (1 ≤ us ≤ HIGHEST_US < 2³²). */
function indexOf(us: number): number {
  const bucket = LEADING_ZERO_BASE - Math.clz32(us | SUB_BUCKET_MASK);
  return (bucket << SUB_BUCKET_HALF_MAGNITUDE) + (us >>> bucket);
}

/** The lowest value that falls at counts index `i`. */
function valueAt(i: number): number {
  const bucket = (i >> SUB_BUCKET_HALF_MAGNITUDE) - 1;
  if (bucket < 0) return i;
  return ((i & ((1 << SUB_BUCKET_HALF_MAGNITUDE) - 1)) + (1 << SUB_BUCKET_HALF_MAGNITUDE)) * 2 ** bucket;
}

/** Counts durations into HDR buckets; encodes into exactly what a histogram recording the same values would. */
export class Recorder {
  private readonly counts = new Uint32Array(COUNTS_LENGTH);
  private lowest = COUNTS_LENGTH;
  private highest = -1;
  private readonly histogram = createHistogram();

  /** Record a duration given in (fractional) milliseconds. */
  recordMs(ms: number): void {
    const us = Math.round(ms * 1000);
    const i = indexOf(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us);
    this.counts[i]!++;
    if (i < this.lowest) this.lowest = i;
    if (i > this.highest) this.highest = i;
  }

  /** What was recorded since the last reset, as a histogram (the recorder's own, refilled on each call). */
  private toHistogram(): Histogram {
    const h = this.histogram;
    h.reset();
    for (let i = this.lowest; i <= this.highest; i++) {
      const n = this.counts[i]!;
      if (n !== 0) h.recordValueWithCount(valueAt(i), n);
    }
    return h;
  }

  encode(): string {
    return encodeHistogram(this.toHistogram());
  }

  reset(): void {
    if (this.highest >= 0) this.counts.fill(0, this.lowest, this.highest + 1);
    this.lowest = COUNTS_LENGTH;
    this.highest = -1;
  }
}

export function encodeHistogram(histogram: Histogram): string {
  return hdr().encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  if (encoded === '') return createHistogram();
  return hdr().decodeFromCompressedBase64(encoded, 32, false, HIGHEST_US);
}

const V2_COMPRESSED = 0x1c849304;
/** The V2 encoding's header: cookie, payload length, normalizing offset, digits, lowest, highest, conversion ratio. */
const V2_HEADER_BYTES = 40;
/** A second's histogram inflates to a few hundred bytes: zlib's default 16 KB output chunk would be most of the garbage left. */
const INFLATE = { chunkSize: 2048 };

/**
 * Add an encoded histogram's counts into `into` without building a histogram
 * for it. Decoding one allocates its 94 KB counts array; the main thread does
 * that once a second per load thread (progress's p99 so far), and its small
 * heap held the garbage for a minute or more: RSS rose 6 MB and fell again,
 * over and over, on a long run (bench/soak.ts). The result is into.add(decodeHistogram(encoded)),
 * count for count; an encoding of other parameters than tsload's goes that way.
 */
export function addEncoded(into: Histogram, encoded: string): void {
  if (encoded === '') return;
  const data = Buffer.from(encoded, 'base64');
  const raw = (data.readInt32BE(0) & ~0xf0) === V2_COMPRESSED ? inflateSync(data.subarray(8, 8 + data.readInt32BE(4)), INFLATE) : undefined;
  if (raw === undefined || raw.readInt32BE(12) !== 3 || raw.readBigInt64BE(16) !== 1n) {
    into.add(decodeHistogram(encoded));
    return;
  }
  const end = V2_HEADER_BYTES + raw.readInt32BE(4);
  let at = V2_HEADER_BYTES;
  let index = 0;
  while (at < end) {
    // hdr's ZigZag LEB128 (as its decoder reads it: 7 bits a byte, nine bytes at most).
    let value = 0;
    let scale = 1;
    for (let k = 0; k < 9; k++) {
      const b = raw[at++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) break;
      scale *= 128;
    }
    const count = value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    if (count < 0) index -= count; // a run of empty buckets
    else {
      if (count > 0) into.recordValueWithCount(valueAt(index), count);
      index++;
    }
  }
}

/** Merge encoded histograms (from threads or machines) into one. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const merged = createHistogram();
  for (const e of encoded) if (e !== '') merged.add(decodeHistogram(e));
  return merged;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const usToMs = (us: number): number => round3(us / 1000);

/** One percentile in milliseconds (0 for an empty histogram), rounded as statsOf rounds. */
export function percentileMs(histogram: Histogram, percentile: number): number {
  return histogram.totalCount === 0 ? 0 : usToMs(histogram.getValueAtPercentile(percentile));
}

export function statsOf(histogram: Histogram): LatencyStats {
  const count = histogram.totalCount;
  if (count === 0) return { count: 0, min: 0, mean: 0, stdev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count,
    min: usToMs(histogram.minNonZeroValue),
    mean: usToMs(histogram.mean),
    stdev: usToMs(histogram.stdDeviation),
    p50: percentileMs(histogram, 50),
    p90: percentileMs(histogram, 90),
    p99: percentileMs(histogram, 99),
    p999: percentileMs(histogram, 99.9),
    max: usToMs(histogram.maxValue),
  };
}

/**
 * HdrHistogram's own percentile table (Value, Percentile, TotalCount,
 * 1/(1-Percentile), then Mean, StdDeviation, Max, Total count, Buckets,
 * SubBuckets) of an encoded histogram, in milliseconds, 5 ticks per half
 * distance: what wrk2 prints as its "Detailed Percentile spectrum".
 */
export function percentileDistributionMs(encoded: string): string {
  return decodeHistogram(encoded).outputPercentileDistribution(5, 1000);
}
