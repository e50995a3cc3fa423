/**
 * The engine against a fake driver whose timing the test sets: what counts as
 * sent, queued, not sent, and where service time starts. (Fakes are for the
 * engine's contract only; every driver runs against real servers elsewhere.)
 */
import { describe, expect, it } from 'vitest';
import { OpenLoop } from '../src/engine/loop.js';
import { Share } from '../src/engine/segment.js';
import { Failure, type Completion, type Driver } from '../src/engine/driver.js';
import { statsOf, decodeHistogram } from '../src/measure/histogram.js';
import type { StepReport } from '../src/engine/messages.js';

/** A driver that writes even tokens after `queueMs` and answers them `serviceMs` later; odd ones it never writes, and times them out. */
function fakeDriver(completion: Completion, o: { queueMs: number; serviceMs: number; timeoutMs: number }): Driver & { sends: number } {
  const d = {
    sends: 0,
    send(token: number): void {
      const n = d.sends++;
      if (n % 2 === 0) {
        setTimeout(() => {
          completion.written(token);
          setTimeout(() => completion.done(token, 200), o.serviceMs);
        }, o.queueMs);
      } else {
        setTimeout(() => completion.done(token, Failure.timeout), o.timeoutMs);
      }
    },
    counters: () => ({}),
    close: async () => {},
  };
  return d;
}

async function runStep(o: { queueMs: number; serviceMs: number; timeoutMs: number }): Promise<StepReport> {
  const loop = new OpenLoop({ share: Share.whole, arrival: 'constant', seed: 1, maxInflight: 1024, busyPoll: false, onSecond: () => {} });
  loop.attach(fakeDriver(loop, o));
  return loop.runStep({
    type: 'step',
    index: 0,
    rate: 400,
    warmupMs: 0,
    durationMs: 500,
    drainMs: 1000,
    startAtEpochMs: performance.timeOrigin + performance.now() + 20,
  });
}

describe('the engine contract: written, then done', () => {
  it('counts a request as sent when written, its wait before that as queued, and service time from the write', async () => {
    const r = await runStep({ queueMs: 30, serviceMs: 10, timeoutMs: 60 });
    expect(r.sent).toBe(100);
    expect(r.notSent).toBe(100);
    expect(r.completed).toBe(100);
    // Never written: not a server timeout.
    expect(r.timeouts).toBe(0);
    const queued = statsOf(decodeHistogram(r.queued));
    const service = statsOf(decodeHistogram(r.serviceTime));
    const latency = statsOf(decodeHistogram(r.latency));
    expect(queued.count).toBe(100);
    expect(queued.p50).toBeGreaterThanOrEqual(29);
    expect(service.p50).toBeGreaterThanOrEqual(9.5);
    expect(service.p50).toBeLessThan(queued.p50);
    // Latency from the intended send holds both.
    expect(latency.p50).toBeGreaterThanOrEqual(39);
  });
});
