/**
 * The engine against a fake driver whose timing the test sets: what counts as
 * sent, queued, not sent, and where service time starts. (Fakes are for the
 * engine's contract only; every driver runs against real servers elsewhere.)
 */
import { describe, expect, it } from 'vitest';
import { OpenLoop } from '../../src/engine/loop.js';
import { Share, processShare } from '../../src/engine/segment.js';
import { runPlan, stepList, type RunPlan } from '../../src/engine/pool.js';
import { OptionsError } from '../../src/errors.js';
import { Failure, type Completion, type Driver } from '../../src/engine/driver.js';
import { statsOf, decodeHistogram } from '../../src/measure/histogram.js';
import type { StepReport } from '../../src/engine/messages.js';

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

/** Answers every request at once, and keeps the engine's intended send time of each, in send order. */
function recordingDriver(loop: OpenLoop): Driver & { intended: number[] } {
  // The intended time of a token is the engine's own; the test reads it to compare schedules exactly, not approximately.
  const table = (loop as unknown as { intended: Float64Array }).intended;
  const d = {
    intended: [] as number[],
    send(token: number): void {
      d.intended.push(table[token]!);
      setImmediate(() => {
        loop.written(token);
        loop.done(token, 200);
      });
    },
    counters: () => ({}),
    close: async () => {},
  };
  return d;
}

describe('the engine contract: threads are segments', () => {
  it('sends, over the threads of a split, exactly the one-thread schedule, each arrival once', async () => {
    for (const arrival of ['constant', 'poisson'] as const) {
      const shares = [Share.whole, ...Share.whole.split(3)];
      const loops = shares.map((share) => new OpenLoop({ share, arrival, seed: 5, maxInflight: 1024, busyPoll: false, onSecond: () => {} }));
      const drivers = loops.map((loop) => {
        const d = recordingDriver(loop);
        loop.attach(d);
        return d;
      });
      // One start time for all, as the pool gives its threads.
      const order = { type: 'step' as const, index: 0, rate: 500, warmupMs: 0, durationMs: 600, drainMs: 500, startAtEpochMs: performance.timeOrigin + performance.now() + 20 };
      const reports = await Promise.all(loops.map((loop) => loop.runStep(order)));
      const [whole, ...parts] = drivers.map((d) => d.intended);
      expect(whole!.length).toBeGreaterThan(200);
      expect(parts.flat().sort((a, b) => a - b)).toEqual(whole);
      expect(reports.slice(1).reduce((n, r) => n + r.sent, 0)).toBe(reports[0]!.sent);
      expect(reports.every((r) => r.dropped === 0)).toBe(true);
      if (arrival === 'constant') {
        // 300 slots of 2 ms in the window, dealt round robin.
        expect(reports.map((r) => r.sent)).toEqual([300, 100, 100, 100]);
        expect(parts[1]!.slice(0, 2).map((t) => t - whole![0]!)).toEqual([2, 8]);
      }
    }
  });

  it("runs the process's segment of a plan in its threads, and refuses a segment that is not of its sequence before starting any", async () => {
    const plan: RunPlan = {
      driverModule: new URL('../fixtures/drivers/instant.ts', import.meta.url).href,
      driverOptions: {},
      threadCount: 2,
      arrival: 'constant',
      seed: 1,
      maxInflight: 1024,
      timeoutMs: 1000,
      busyPoll: false,
      drainMs: 500,
      segment: '1/3:1',
      segmentSequence: '0,1/3,1',
    };
    // 300 slots of the whole run; this process owns the two thirds of them that (1/3, 1] takes.
    const { steps } = await runPlan(plan, stepList([{ rate: 500, warmupMs: 0, durationMs: 600 }]));
    expect(processShare(plan).count(300)).toBe(200);
    expect(steps[0]!.sent).toBe(200);
    expect(steps[0]!.completed).toBe(200);
    expect(steps[0]!.counters.sends).toBe(200);
    await expect(runPlan({ ...plan, segment: '1/4:1' }, stepList([{ rate: 500, warmupMs: 0, durationMs: 600 }]))).rejects.toBeInstanceOf(OptionsError);
  });
});
