/**
 * The hot path's Recorder must encode exactly what hdr-histogram-js would
 * after recording the same values, so merged results do not depend on which
 * of the two recorded them.
 */
import { describe, expect, it } from 'vitest';
import { HIGHEST_US, Recorder, createHistogram, decodeHistogram, encodeHistogram, statsOf } from '../../src/measure/histogram.js';

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
