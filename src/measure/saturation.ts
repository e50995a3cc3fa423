/**
 * Saturation point of a rate sweep: where the server stops keeping up.
 *
 * A step passes when all three hold, checked in this order:
 *   1. replyRate  — replyRate >= minReplyRatio × targetRate
 *   2. errors     — (errors.total + timeouts + dropped) / (sent + dropped) < maxErrorRatio
 *                   (a step with no failures at all passes even when the bound is 0)
 *   3. p99        — latencyMs.p99 < sloP99Ms
 *
 * Dropped arrivals count as failures: they are requests the schedule called for
 * that were never sent because the in-flight cap was full, which happens because
 * the server is not answering fast enough. Leaving them out would let a server
 * that stalls look error-free. They are also added to the denominator, which is
 * then every arrival the schedule produced, sent or not.
 *
 * The saturation point is the LAST step of the initial run of passing steps,
 * taking steps in ascending target rate: the highest rate below which every
 * tested rate was served. A step that passes above a failing one (a server that
 * fails at 4000/s but, by noise, passes at 5000/s) does not raise it: capacity
 * you can defend is the rate up to which the server never failed, not the best
 * lucky draw. failedCriterion/failedAt name the first failing step above it.
 */
import type { Saturation, StepBase } from '../result.js';

export type SaturationCriterion = 'replyRate' | 'errors' | 'p99';

export interface SaturationCriteria {
  /** A step keeps up when replyRate >= minReplyRatio × targetRate (0.99). */
  minReplyRatio: number;
  /** Errors, timeouts and drops must stay under this share of arrivals (0.01). */
  maxErrorRatio: number;
  /** p99 latency (from the intended send time) must stay under this, ms (100). */
  sloP99Ms: number;
}

export const DEFAULT_SATURATION_CRITERIA: Readonly<SaturationCriteria> = Object.freeze({
  minReplyRatio: 0.99,
  maxErrorRatio: 0.01,
  sloP99Ms: 100,
});

/**
 * At or above this share of the window busy (a step's generatorBusy), a load
 * thread had no time to spare: replies waited in its socket buffers, so what
 * the step shows may be partly tsload's, not the server's.
 */
export const GENERATOR_BUSY_LIMIT = 0.9;

/** True when a step's generatorBusy says tsload itself was near its limit (false when not measured). */
export function generatorAtLimit(busy: number | null | undefined): boolean {
  return busy != null && busy >= GENERATOR_BUSY_LIMIT;
}

/** The fields of a step the criteria read (so callers can pass partial data, e.g. in tests or the progress display). */
export type SaturationInput = Pick<
  StepBase,
  'targetRate' | 'replyRate' | 'sent' | 'errors' | 'timeouts' | 'dropped' | 'latencyMs'
>;

/** Failures (errors + timeouts + drops) over arrivals (sent + dropped); 0 when nothing arrived. */
export function failureRatio(step: Pick<StepBase, 'sent' | 'errors' | 'timeouts' | 'dropped'>): number {
  const arrivals = step.sent + step.dropped;
  const failures = step.errors.total + step.timeouts + step.dropped;
  return arrivals > 0 ? failures / arrivals : 0;
}

/** The first criterion (replyRate, errors, p99) the step fails, or null when it passes. */
export function failedCriterion(step: SaturationInput, criteria: SaturationCriteria): SaturationCriterion | null {
  if (!(step.replyRate >= criteria.minReplyRatio * step.targetRate)) return 'replyRate';
  const failures = step.errors.total + step.timeouts + step.dropped;
  if (failures > 0 && !(failureRatio(step) < criteria.maxErrorRatio)) return 'errors';
  if (!(step.latencyMs.p99 < criteria.sloP99Ms)) return 'p99';
  return null;
}

export function findSaturation(
  steps: readonly SaturationInput[],
  criteria: SaturationCriteria = DEFAULT_SATURATION_CRITERIA,
): Saturation {
  const copy = { minReplyRatio: criteria.minReplyRatio, maxErrorRatio: criteria.maxErrorRatio, sloP99Ms: criteria.sloP99Ms };
  // Ascending target rate; ties keep sweep order (stable sort). Indices refer to the caller's array.
  const order = steps.map((_, i) => i).sort((a, b) => (steps[a]?.targetRate ?? 0) - (steps[b]?.targetRate ?? 0));
  let best: number | null = null;
  for (const index of order) {
    const step = steps[index];
    if (step === undefined) continue;
    const failed = failedCriterion(step, criteria);
    if (failed !== null) {
      return { rate: best === null ? null : (steps[best]?.targetRate ?? null), step: best, failedCriterion: failed, failedAt: index, criteria: copy };
    }
    best = index;
  }
  return { rate: best === null ? null : (steps[best]?.targetRate ?? null), step: best, failedCriterion: null, failedAt: null, criteria: copy };
}

const criterionWords: Record<SaturationCriterion, (c: Saturation['criteria'], reply: string) => string> = {
  replyRate: (c, reply) => `${reply} below ${formatPercent(c.minReplyRatio)} of the target rate`,
  errors: (c) => `errors, timeouts and drops reached ${formatPercent(c.maxErrorRatio)} of requests`,
  p99: (c) => `p99 latency reached the ${c.sloP99Ms} ms bound`,
};

/**
 * One sentence for people: "saturation at 4000 req/s (at 4500 req/s: reply rate below 99% of the target rate)".
 * `steps` are the steps the saturation was computed from (to name the failing step's rate); `protocol`
 * picks the words (req/s and reply rate, or queries/s and response rate; without it, "/s" and "reply rate").
 */
export function describeSaturation(saturation: Saturation, steps: readonly Pick<StepBase, 'targetRate'>[], protocol?: 'http' | 'dns'): string {
  const unit = protocol === 'http' ? ' req/s' : protocol === 'dns' ? ' queries/s' : '/s';
  const reply = protocol === 'dns' ? 'response rate' : 'reply rate';
  const failedRate = saturation.failedAt === null ? undefined : steps[saturation.failedAt]?.targetRate;
  const why =
    saturation.failedCriterion === null
      ? ''
      : `${failedRate === undefined ? '' : `at ${formatRate(failedRate)}${unit}: `}${criterionWords[saturation.failedCriterion](saturation.criteria, reply)}`;
  if (steps.length === 0) return 'no steps measured';
  if (saturation.rate === null) return `no step met the criteria (${why})`;
  if (saturation.failedCriterion === null) return `every step met the criteria, up to ${formatRate(saturation.rate)}${unit} (not saturated)`;
  return `saturation at ${formatRate(saturation.rate)}${unit} (${why})`;
}

function formatPercent(ratio: number): string {
  return `${Number((ratio * 100).toPrecision(6))}%`;
}

function formatRate(rate: number): string {
  return Number.isInteger(rate) ? String(rate) : rate.toFixed(1);
}
