/** --start-at's forms, and the slots that keep later steps aligned across generators. */
import { describe, expect, it } from 'vitest';
import { parseStartAt, slotMs } from '../../src/engine/start.js';
import { parseDuration } from '../../src/options.js';
import { runHttp } from '../../src/run.js';
import { startHttpTarget } from '../../src/targets/http.js';

const duration = (t: string): number => parseDuration(t, 'start-at', [], 's');
const NOW = Date.UTC(2026, 11, 4, 5, 0, 0, 123);

describe('--start-at', () => {
  it('reads an ISO time with its zone, epoch milliseconds, and +TIME rounded up to a whole second', () => {
    expect(parseStartAt('2026-12-04T05:00:10Z', NOW, duration)).toBe(Date.UTC(2026, 11, 4, 5, 0, 10));
    expect(parseStartAt('2026-12-04T06:00:10+01:00', NOW, duration)).toBe(Date.UTC(2026, 11, 4, 5, 0, 10));
    expect(parseStartAt(String(NOW + 5000), NOW, duration)).toBe(NOW + 5000);
    expect(parseStartAt('+10s', NOW, duration)).toBe(Date.UTC(2026, 11, 4, 5, 0, 11));
    expect(parseStartAt('+1m', NOW, duration)).toBe(Date.UTC(2026, 11, 4, 5, 1, 1));
  });

  it('refuses a time without a zone, epoch seconds and a bad duration', () => {
    expect(() => parseStartAt('2026-12-04T05:00:10', NOW, duration)).toThrow(/with its zone/);
    expect(() => parseStartAt('1796356800', NOW, duration)).toThrow(/13 digits/);
    expect(() => parseStartAt('+soon', NOW, duration)).toThrow(/needs a duration/);
  });

  it('gives every step a whole-second slot that holds warmup, window and drain', () => {
    expect(slotMs({ warmupMs: 1000, durationMs: 10_000 }, 5250)).toBe(18_000);
    expect(slotMs({ warmupMs: 300, durationMs: 2000 }, 250)).toBe(4000);
  });

  it('starts step 1 at the instant and step 2 one slot later; a start already past is late, and says by how much', { timeout: 30_000 }, async () => {
    const target = await startHttpTarget({});
    try {
      const at = Math.ceil((Date.now() + 1500) / 1000) * 1000;
      const notices: string[] = [];
      const run = { url: `${target.url}/`, duration: 500, warmup: 200, timeout: 500, onNotice: (l: string) => notices.push(l) };
      const onTime = await runHttp({ ...run, rate: [100, 200], startAt: at });
      const slot = slotMs({ warmupMs: 200, durationMs: 500 }, 750);
      expect(onTime.steps.map((s) => s.window!.startMs)).toEqual([at + 200, at + slot + 200]);
      expect(onTime.start).toMatchObject({ requestedAt: new Date(at).toISOString(), actualAt: new Date(at + 200).toISOString(), offsetMs: 0, slotMs: slot });
      expect(notices).toEqual([]);
      const past = Date.now() - 2000;
      const late = await runHttp({ ...run, rate: 100, startAt: past });
      expect(late.start!.offsetMs).toBeGreaterThanOrEqual(2000);
      expect(late.start!.offsetMs).toBeLessThan(10_000);
      expect(notices.join('\n')).toMatch(/step 1 starts \d+ ms late/);
    } finally {
      await target.close();
    }
  });
});
