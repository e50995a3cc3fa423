/**
 * `--start-at`: the wall-clock instant a distributed run's first step starts
 * in every generator, and the fixed slots later steps start in, so that N
 * generators stay aligned step for step without talking to each other.
 *
 * The clock is each machine's system clock (CLOCK_REALTIME, read through
 * Date.now and performance.timeOrigin + performance.now()): generators are
 * only as aligned as their clocks are synchronised (NTP on a LAN: tens of
 * microseconds; across the internet: milliseconds).
 */

/** What a result records of its start (see Result.start). */
export const CLOCK_SOURCE = 'system (CLOCK_REALTIME via Date.now/performance.timeOrigin)';

/** Time between a step's drain and the next slot, for the main thread to merge the step and order the next. */
const SLOT_MARGIN_MS = 1000;

/**
 * An ISO 8601 time with its zone (2026-12-04T05:00:00Z), epoch milliseconds
 * (13 digits or so), or `+10s` / `+1m` from `nowMs` — rounded up to a whole
 * second, so per-second snapshots fall on the wall clock's seconds. Throws
 * RangeError with the reason.
 */
export function parseStartAt(text: string, nowMs: number, parseDurationMs: (text: string) => number): number {
  const t = text.trim();
  if (t.startsWith('+')) {
    const ms = parseDurationMs(t.slice(1));
    if (!Number.isFinite(ms)) throw new RangeError(`--start-at ${t}: +TIME needs a duration (+10s, +1m)`);
    return Math.ceil((nowMs + ms) / 1000) * 1000;
  }
  if (/^\d+$/.test(t)) {
    const ms = Number(t);
    // Ten digits are seconds, not milliseconds: a 1970 start is a mistake, not a wish.
    if (ms < 1e11) throw new RangeError(`--start-at ${t}: epoch milliseconds have 13 digits (this is ${new Date(ms).toISOString()}); seconds? append 000`);
    return ms;
  }
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/i.test(t)) {
    throw new RangeError(`--start-at ${JSON.stringify(t)}: give an ISO time with its zone (2026-12-04T05:00:00Z), epoch milliseconds, or +10s`);
  }
  return Date.parse(t);
}

/**
 * How long each step's slot is: warmup, window, the longest drain and a
 * margin, rounded up to whole seconds so that every step's window opens on
 * the same wall-clock second offset as the first. Every generator of a run
 * computes the same slot from the same options.
 */
export function slotMs(step: { warmupMs: number; durationMs: number }, drainMs: number): number {
  return Math.ceil((step.warmupMs + step.durationMs + drainMs + SLOT_MARGIN_MS) / 1000) * 1000;
}
