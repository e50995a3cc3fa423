/**
 * Send times, computed from the start of the step and the request's index in
 * the whole schedule, never from the previous send or any reply (k6's
 * arrival-rate rule). Pure: no clock, no I/O, so it is tested without timers.
 *
 * A schedule sends only its share's arrivals (see segment.ts), and computes
 * each exactly as the whole schedule would, so the shares of a run together
 * make the one-thread schedule, send time for send time.
 */

import { mulberry32 } from '../util/random.js';
import { Share, ShareWalk } from './segment.js';

export type Arrival = 'constant' | 'poisson';

export interface ScheduleSpec {
  /** Requests per second of the whole schedule (all shares together). */
  rate: number;
  /** Time of the whole schedule's first slot, in ms on the caller's clock. */
  startMs: number;
  arrival: Arrival;
  /** Seed of the whole schedule's random stream: the same for every share of a step. */
  seed: number;
  /** Which arrivals of the whole schedule this one sends; all of them if absent. */
  share?: Share | undefined;
}

export interface Schedule {
  /** Intended send time (ms) of the next request; advances the schedule. */
  next(): number;
  /** Intended send time of the next request without advancing. */
  peek(): number;
}

export function createSchedule(spec: ScheduleSpec): Schedule {
  const intervalMs = 1000 / spec.rate;
  const walk = new ShareWalk(spec.share ?? Share.whole);
  if (spec.arrival === 'constant') {
    // start + i/rate, multiplied out each time so no error accumulates.
    return {
      peek: () => spec.startMs + walk.index * intervalMs,
      next: () => {
        const due = spec.startMs + walk.index * intervalMs;
        walk.advance();
        return due;
      },
    };
  }
  // Poisson arrivals: exponential gaps from a seeded generator, so a run is
  // repeatable. A share draws every gap of the whole schedule, its own and the
  // others', so that its arrivals are the whole schedule's: a draw costs a
  // fraction of a send, and a process's threads together draw it once per thread.
  const random = mulberry32(spec.seed);
  let at = spec.startMs;
  const skip = (gaps: number): void => {
    for (let g = 0; g < gaps; g++) at += -Math.log(1 - random()) * intervalMs;
  };
  skip(walk.index);
  return {
    peek: () => at,
    next: () => {
      const due = at;
      skip(walk.advance());
      return due;
    },
  };
}
