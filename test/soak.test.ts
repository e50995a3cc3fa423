/**
 * The CI soak: bench/soak.ts's own code (tsload's CLI in a child process
 * against the built-in target in this one), shortened to 50 s per protocol
 * at a rate this 2-core machine keeps while other tests run. Memory must be
 * flat once settled, descriptors constant, and every request counted by both
 * sides. `npm run bench:soak` is the ten-minute version.
 */
import { describe, expect, it } from 'vitest';
import { formatSoak, runSoak, slope, type SoakReport } from '../bench/soak.js';

const DURATION_S = 50;
const SETTLE_S = 20;

function expectFlat(r: SoakReport): void {
  const report = formatSoak(r);
  // Fitted over 15 samples (every 2 s from 20 s on).
  expect(r.samples.filter((s) => s.tS >= SETTLE_S).length, report).toBeGreaterThanOrEqual(12);
  expect(r.slopeMBPerMin, report).toBeLessThan(1);
  expect(r.fds.max - r.fds.min, report).toBe(0);
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

  it(`HTTP at 5000 req/s for ${DURATION_S} s: RSS flat after ${SETTLE_S} s, descriptors constant, the server counts exactly what was sent`, { timeout: 90_000 }, async () => {
    const r = await runSoak({ protocol: 'http', rate: 5000, durationS: DURATION_S, sampleS: 2, settleS: SETTLE_S });
    expectFlat(r);
    // The probe only connects: every request the server saw is one of the step's.
    expect(r.counts.serverExtra, formatSoak(r)).toBe(0);
  });

  it(`DNS at 5000 q/s for ${DURATION_S} s: RSS flat after ${SETTLE_S} s, descriptors constant, the server counts what was sent and the probe`, { timeout: 90_000 }, async () => {
    const r = await runSoak({ protocol: 'dns', rate: 5000, durationS: DURATION_S, sampleS: 2, settleS: SETTLE_S });
    expectFlat(r);
    // One probe query, three at most if UDP lost it.
    expect(r.counts.serverExtra, formatSoak(r)).toBeGreaterThanOrEqual(1);
    expect(r.counts.serverExtra, formatSoak(r)).toBeLessThanOrEqual(3);
  });
});
