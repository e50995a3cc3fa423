import { describe, expect, it } from 'vitest';
import { createSchedule } from '../../src/engine/schedule.js';
import { Share } from '../../src/engine/segment.js';

describe('schedule', () => {
  it('computes every send time from the start, so nothing drifts', () => {
    const s = createSchedule({ rate: 3, startMs: 1000, arrival: 'constant', seed: 1 });
    const times = Array.from({ length: 3_000_001 }, () => s.next());
    expect(times[0]).toBe(1000);
    expect(times[3]).toBe(2000);
    // After a million seconds the millionth slot is exactly where it belongs.
    expect(times[3_000_000]).toBe(1000 + 1_000_000_000);
  });

  it('interleaves the threads of a split', () => {
    const [first, second] = Share.whole.split(2);
    const a = createSchedule({ rate: 1000, startMs: 0, arrival: 'constant', seed: 1, share: first });
    const b = createSchedule({ rate: 1000, startMs: 0, arrival: 'constant', seed: 1, share: second });
    const merged = [a.next(), b.next(), a.next(), b.next()];
    expect(merged).toEqual([0, 1, 2, 3]);
  });

  it('peek does not advance', () => {
    const s = createSchedule({ rate: 10, startMs: 0, arrival: 'constant', seed: 1 });
    expect(s.peek()).toBe(0);
    expect(s.peek()).toBe(0);
    expect(s.next()).toBe(0);
    expect(s.peek()).toBe(100);
  });

  it('draws poisson arrivals with the right mean, repeatably for a seed', () => {
    const draw = (seed: number) => {
      const s = createSchedule({ rate: 1000, startMs: 0, arrival: 'poisson', seed });
      return Array.from({ length: 100_001 }, () => s.next());
    };
    const t = draw(42);
    expect(draw(42)).toEqual(t);
    expect(draw(43)).not.toEqual(t);
    const meanGap = t[100_000]! / 100_000;
    expect(meanGap).toBeGreaterThan(0.98);
    expect(meanGap).toBeLessThan(1.02);
    // Exponential gaps: about 1/e of them exceed the mean.
    let longer = 0;
    for (let i = 1; i < t.length; i++) if (t[i]! - t[i - 1]! > 1) longer++;
    expect(longer / 100_000).toBeGreaterThan(0.35);
    expect(longer / 100_000).toBeLessThan(0.39);
  });
});
