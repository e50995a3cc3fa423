/**
 * The hot path's Recorder must encode exactly what hdr-histogram-js would
 * after recording the same values, so merged results do not depend on which
 * of the two recorded them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HIGHEST_US, Recorder, addEncoded, createHistogram, decodeHistogram, encodeHistogram, statsOf } from '../../src/measure/histogram.js';

/** Deterministic values over the whole range: sub-millisecond to an hour, and both ends. */
function values(n: number): number[] {
  let x = 12345;
  const out: number[] = [0.0001, 0.001, 0.0015, 2.047, 2.048, 2.049, 4.095, 4.096, HIGHEST_US / 1000, HIGHEST_US / 1000 + 5, 2 ** 31 / 1000, (2 ** 32 - 1) / 1000];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    // Log-uniform from 1 µs to 1 h, in milliseconds with fractions.
    out.push(10 ** ((x / 2 ** 32) * 9.6 - 3));
  }
  return out;
}

describe('Recorder', () => {
  it('encodes bucket for bucket what hdr-histogram-js records', () => {
    const recorder = new Recorder();
    const reference = createHistogram();
    for (const ms of values(200_000)) {
      recorder.recordMs(ms);
      const us = Math.round(ms * 1000);
      reference.recordValue(Math.min(HIGHEST_US, Math.max(1, us)));
    }
    // Histograms only ever leave a thread encoded, so compare what arrives.
    expect(recorder.encode()).toBe(encodeHistogram(reference));
    const ours = decodeHistogram(recorder.encode());
    const theirs = decodeHistogram(encodeHistogram(reference));
    expect(ours.totalCount).toBe(200_012);
    expect(statsOf(ours)).toEqual(statsOf(theirs));
    for (const p of [0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100]) expect(ours.getValueAtPercentile(p)).toBe(theirs.getValueAtPercentile(p));
  });

  it('starts empty again after reset', () => {
    const recorder = new Recorder();
    recorder.recordMs(5);
    recorder.reset();
    expect(decodeHistogram(recorder.encode()).totalCount).toBe(0);
    recorder.recordMs(0.25);
    const h = decodeHistogram(recorder.encode());
    expect(h.totalCount).toBe(1);
    expect(statsOf(h).p50).toBe(0.25);
  });
});

describe('addEncoded', () => {
  /** Every bucket's count, for comparing two histograms exactly. */
  const counts = (h: ReturnType<typeof createHistogram>): number[] => {
    const j = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
    return Array.from({ length: j.countsArrayLength }, (_, i) => j.getCountAtIndex(i));
  };

  it('adds what add(decodeHistogram()) adds, bucket for bucket, with no histogram of its own', () => {
    // Latencies from 1 µs to past the hour (clamped), in runs long enough for the encoding's zero runs and multi-byte counts.
    const recording = fc.array(fc.tuple(fc.double({ min: 0.001, max: 4_000_000, noNaN: true }), fc.integer({ min: 1, max: 100_000 })), { maxLength: 60 });
    fc.assert(
      fc.property(recording, recording, (first, second) => {
        const [a, b] = [first, second].map((values) => {
          const r = new Recorder();
          for (const [ms, n] of values) for (let k = 0; k < Math.min(n, 3); k++) r.recordMs(ms);
          const h = createHistogram();
          for (const [ms, n] of values) h.recordValueWithCount(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))), n);
          return [r.encode(), encodeHistogram(h)] as const;
        });
        for (const encoded of [...a!, ...b!]) {
          const viaDecode = createHistogram();
          const viaAdd = createHistogram();
          for (const into of [viaDecode, viaAdd]) into.recordValue(1234);
          viaDecode.add(decodeHistogram(encoded));
          addEncoded(viaAdd, encoded);
          expect(counts(viaAdd)).toEqual(counts(viaDecode));
          expect(viaAdd.totalCount).toBe(viaDecode.totalCount);
          expect(viaAdd.getValueAtPercentile(99)).toBe(viaDecode.getValueAtPercentile(99));
        }
      }),
      { numRuns: 30 },
    );
    const empty = createHistogram();
    addEncoded(empty, '');
    expect(empty.totalCount).toBe(0);
  });
});
