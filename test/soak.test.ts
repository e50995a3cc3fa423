/**
 * The CI soak: bench/soak.ts's own code (tsload's CLI in a child process
 * against the built-in target in this one), shortened to 50 s per protocol
 * at a rate this 2-core machine keeps while other tests run. Memory must be
 * flat once settled, descriptors constant, and every request counted by both
 * sides. `npm run bench:soak` is the ten-minute version. Here each of
 * tsload's threads collects its garbage before each sample (every 2 s), so
 * 30 s of RSS show what is kept; V8's own rhythm is longer than that.
 */
import { describe, expect, it } from 'vitest';
import { formatSoak, runSoak, slope, type SoakReport } from '../bench/soak.js';

const DURATION_S = 50;
const SETTLE_S = 20;

/**
 * What 30 s can tell of memory. A slope fitted to 30 s of RSS is the
 * allocator's noise more than a trend (two CI runs of the same code read 1.08
 * and 5.81 MB/min, with heaps flat both times, and 2 MB either way in RSS):
 * the ten-minute soak judges the slope. Here what is judged is what a leak
 * would leave: every thread's heap, collected before each sample, flat; and
 * RSS at the end within MAX_GROWTH_MB of RSS once settled, which a leak of
 * MAX_GROWTH_MB / (rate × 30 s) bytes a request (27 B at 5000/s) would pass.
 */
const MAX_GROWTH_MB = 4;

function expectFlat(r: SoakReport): void {
  const report = formatSoak(r);
  // 15 samples (every 2 s from 20 s on).
  expect(r.samples.filter((s) => s.tS >= SETTLE_S).length, report).toBeGreaterThanOrEqual(12);
  // Medians of the first and the last three samples: one sample caught mid-allocation is not the trend.
  const rss = r.samples.filter((x) => x.tS >= SETTLE_S).map((x) => x.rssMB);
  const median3 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
  expect(median3(rss.slice(-3)) - median3(rss.slice(0, 3)), report).toBeLessThan(MAX_GROWTH_MB);
  // Collected before each sample, every thread's V8 heap keeps what it kept at 20 s: nothing piles up in JavaScript.
  for (const h of r.heaps) expect(h.heapUsedMB.end - h.heapUsedMB.settled, report).toBeLessThan(0.5);
  // Connections are kept for the run, so descriptors stay put; the pool may grow by a few after a stall of the machine, a leak would not stop there.
  expect(r.fds.max - r.fds.min, report).toBeLessThanOrEqual(16);
  expect(r.counts.completed, report).toBe(r.counts.sent);
  expect(r.counts.errors + r.counts.timeouts + r.counts.dropped + r.counts.notSent, report).toBe(0);
  expect(r.counts.sent, report).toBe(r.rate * DURATION_S);
}

describe('soak', () => {
  it('fits a least-squares slope', () => {
    expect(slope([0, 1, 2, 3], [1, 3, 5, 7])).toBeCloseTo(2, 12);
    expect(slope([0, 1, 2], [4, 4, 4])).toBe(0);
    expect(slope([1], [1])).toBeNaN();
  });

  it(`HTTP at 5000 req/s for ${DURATION_S} s: heaps flat after ${SETTLE_S} s, RSS within ${MAX_GROWTH_MB} MB, descriptors constant, the server counts exactly what was sent`, { timeout: 90_000 }, async () => {
    const r = await runSoak({ protocol: 'http', rate: 5000, durationS: DURATION_S, sampleS: 2, settleS: SETTLE_S, collect: true });
    expectFlat(r);
    // The probe only connects: every request the server saw is one of the step's.
    expect(r.counts.serverExtra, formatSoak(r)).toBe(0);
  });

  it(`DNS at 5000 q/s for ${DURATION_S} s: heaps flat after ${SETTLE_S} s, RSS within ${MAX_GROWTH_MB} MB, descriptors constant, the server counts what was sent and the probe`, { timeout: 90_000 }, async () => {
    const r = await runSoak({ protocol: 'dns', rate: 5000, durationS: DURATION_S, sampleS: 2, settleS: SETTLE_S, collect: true });
    expectFlat(r);
    // One probe query, three at most if UDP lost it.
    expect(r.counts.serverExtra, formatSoak(r)).toBeGreaterThanOrEqual(1);
    expect(r.counts.serverExtra, formatSoak(r)).toBeLessThanOrEqual(3);
  });
});
