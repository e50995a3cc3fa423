/**
 * Send times, computed from the start of the step and the request's index,
 * never from the previous send or any reply (k6's arrival-rate rule). Pure:
 * no clock, no I/O, so it is tested without timers.
 */

import { mulberry32 } from '../util/random.js';

export type Arrival = 'constant' | 'poisson';

export interface ScheduleSpec {
  /** Requests per second for this schedule (one thread's share). */
  rate: number;
  /** Time of the first slot, in ms on the caller's clock. */
  startMs: number;
  /** Fraction of one interval to shift by, in [0, 1): thread k of n uses k/n so threads interleave. */
  phase: number;
  arrival: Arrival;
  seed: number;
}

export interface Schedule {
  /** Intended send time (ms) of the next request; advances the schedule. */
  next(): number;
  /** Intended send time of the next request without advancing. */
  peek(): number;
}

export function createSchedule(spec: ScheduleSpec): Schedule {
  const intervalMs = 1000 / spec.rate;
  if (spec.arrival === 'constant') {
    let index = 0;
    // start + (i + phase)/rate, multiplied out each time so no error accumulates.
    return {
      peek: () => spec.startMs + (index + spec.phase) * intervalMs,
      next: () => spec.startMs + (index++ + spec.phase) * intervalMs,
    };
  }
  // Poisson arrivals: exponential gaps from a seeded generator, so a run is repeatable.
  const random = mulberry32(spec.seed);
  let at = spec.startMs + spec.phase * intervalMs;
  return {
    peek: () => at,
    next: () => {
      const due = at;
      at += -Math.log(1 - random()) * intervalMs;
      return due;
    },
  };
}
