/**
 * Saturation point of a rate sweep: where the server stops keeping up.
 *
 * A step passes when all three hold, checked in this order:
 *   1. replyRate  — replyRate >= minReplyRatio × targetRate
 *   2. errors     — (errors.total + timeouts + dropped + notSent) / (sent + dropped + notSent) < maxErrorRatio
 *                   (a step with no failures at all passes even when the bound is 0)
 *   3. p99        — latencyMs.p99 < sloP99Ms
 *
 * Dropped arrivals count as failures: they are requests the schedule called for
 * that were never sent because the in-flight cap was full, which happens because
 * the server is not answering fast enough. Leaving them out would let a server
 * that stalls look error-free. They are also added to the denominator, which is
 * then every arrival the schedule produced, sent or not.
 *
 * The saturation point is the highest passing step below the first failing
 * one, taking steps in ascending target rate: the rate up to which every
 * tested rate was served. With --confirm, a step fails only once it failed
 * again when measured again (see sweep.ts), so one noisy minute cannot end the
 * sweep early. A step that passes above a failing one (a server that fails at
 * 4000/s but passes at 5000/s) does not raise it: capacity you can defend is
 * the rate up to which the server never failed, not the best lucky draw. Such
 * steps are listed as `nonMonotone`. failedCriterion/failedAt name the first
 * failing step.
 *
 * When tsload itself was the limit at that first failing step (its own
 * connections, cap, thread, schedule: see limits.ts), the server did not
 * fail there: the result says so (`generatorLimit`), and the rate is only a
 * floor of the server's capacity.
 */
import { WORDS, type GeneratorLimit, type ProtocolOfResult, type SaturatedResource, type Saturation, type ServerFigures, type StepBase } from '../result.js';

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
export type SaturationInput = Pick<StepBase, 'targetRate' | 'replyRate' | 'sent' | 'errors' | 'timeouts' | 'dropped' | 'latencyMs'> &
  Partial<Pick<StepBase, 'notSent' | 'generatorLimits' | 'server'>>;

/** Failures (errors + timeouts + drops + not sent) over arrivals (sent + dropped + not sent); 0 when nothing arrived. */
export function failureRatio(step: Pick<StepBase, 'sent' | 'errors' | 'timeouts' | 'dropped'> & Partial<Pick<StepBase, 'notSent'>>): number {
  const notSent = step.notSent ?? 0;
  const arrivals = step.sent + step.dropped + notSent;
  const failures = step.errors.total + step.timeouts + step.dropped + notSent;
  return arrivals > 0 ? failures / arrivals : 0;
}

/** The first criterion (replyRate, errors, p99) the step fails, or null when it passes. */
export function failedCriterion(step: SaturationInput, criteria: SaturationCriteria): SaturationCriterion | null {
  if (!(step.replyRate >= criteria.minReplyRatio * step.targetRate)) return 'replyRate';
  const failures = step.errors.total + step.timeouts + step.dropped + (step.notSent ?? 0);
  if (failures > 0 && !(failureRatio(step) < criteria.maxErrorRatio)) return 'errors';
  if (!(step.latencyMs.p99 < criteria.sloP99Ms)) return 'p99';
  return null;
}

export function findSaturation(
  steps: readonly SaturationInput[],
  criteria: SaturationCriteria = DEFAULT_SATURATION_CRITERIA,
  method: { confirm?: number; refinePct?: number | null } = {},
): Saturation {
  const copy = { minReplyRatio: criteria.minReplyRatio, maxErrorRatio: criteria.maxErrorRatio, sloP99Ms: criteria.sloP99Ms };
  // Ascending target rate; ties keep sweep order (stable sort). Indices refer to the caller's array.
  const order = steps.map((_, i) => i).sort((a, b) => (steps[a]?.targetRate ?? 0) - (steps[b]?.targetRate ?? 0));
  let best: number | null = null;
  let failedAt: number | null = null;
  let failed: SaturationCriterion | null = null;
  const nonMonotone: number[] = [];
  for (const index of order) {
    const step = steps[index];
    if (step === undefined) continue;
    const criterion = failedCriterion(step, criteria);
    if (failedAt === null) {
      if (criterion === null) best = index;
      else {
        failedAt = index;
        failed = criterion;
      }
    } else if (criterion === null) nonMonotone.push(index);
  }
  const own = failedAt === null ? [] : ownLimits(steps[failedAt]?.generatorLimits).map((l) => l.kind);
  return {
    rate: best === null ? null : (steps[best]?.targetRate ?? null),
    step: best,
    failedCriterion: failed,
    failedAt,
    criteria: copy,
    generatorLimit: failedAt !== null && own.length > 0 ? { step: failedAt, kinds: own } : null,
    nonMonotone,
    confirm: method.confirm ?? 0,
    refinePct: method.refinePct ?? null,
    // Only where server figures were taken: older and non-testbed results stay as they were.
    ...(steps.some((s) => s.server !== undefined) ? { resource: failedAt === null ? null : saturatedResource(steps[failedAt]?.server) } : {}),
  };
}

/** At or above this share of what it may use, a server's CPU, memory or link ran out. */
export const RESOURCE_LIMIT = 0.95;

/**
 * The server-side resource that ran out, from a step's server figures: the
 * one nearest its limit among CPU (cores busy, plus its threads' wait for a
 * core, over cores it may use), memory (anonymous resident memory over its
 * limit), its busiest thread (at most one core, with cores
 * to spare) and each direction of the link (its share of the
 * rate; any tbf drop counts as full), when that is at least RESOURCE_LIMIT.
 */
export function saturatedResource(server: ServerFigures | undefined): SaturatedResource | null {
  if (server === undefined) return null;
  const candidates: { use: number; resource: SaturatedResource }[] = [];
  // What it asked for: the CPU it got, and the time its threads waited for more (a core shared with other work).
  const waiting = server.cpuWaitPerSecond ?? 0;
  candidates.push({
    use: (server.cpuPerSecond + waiting) / server.coresAvailable,
    resource: { kind: 'cpu', target: server.target, cores: server.cpuPerSecond, waiting, coresAvailable: server.coresAvailable, limited: server.cpuLimit !== null, scope: 'cores' },
  });
  // One thread cannot use more than a core: a one-worker server runs out at one, however many the machine has.
  const thread = server.busiestThread;
  if (thread != null && server.coresAvailable > 1) {
    candidates.push({
      use: thread.cpuPerSecond + thread.waitPerSecond,
      resource: { kind: 'cpu', target: server.target, cores: thread.cpuPerSecond, waiting: thread.waitPerSecond, coresAvailable: server.coresAvailable, limited: server.cpuLimit !== null, scope: 'thread' },
    });
  }
  // Anonymous memory, not what the group is charged: page cache fills up to a limit by design
  // and is given back at no cost, but without swap anonymous memory at the limit means the OOM killer.
  if (server.memoryLimitBytes !== null) {
    candidates.push({
      use: server.rssBytes.max / server.memoryLimitBytes,
      resource: { kind: 'memory', target: server.target, bytes: server.rssBytes.max, limitBytes: server.memoryLimitBytes },
    });
  }
  if (server.link !== null) {
    for (const direction of ['toServer', 'toClient'] as const) {
      const d = server.link[direction];
      candidates.push({
        use: d.tbfDrops > 0 ? Math.max(1, d.share) : d.share,
        resource: { kind: 'link', direction, share: d.share, rateBitsPerSecond: server.link.rateBitsPerSecond, tbfDrops: d.tbfDrops },
      });
    }
  }
  const top = candidates.reduce((a, b) => (b.use > a.use ? b : a));
  return top.use >= RESOURCE_LIMIT ? top.resource : null;
}

const COUNT_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight'];

/** "nginx at 100% of its one core", "link at 98% of 1 Gbit/s toward the client (12 tbf drops)". */
export function describeResource(r: SaturatedResource): string {
  const pct = (x: number): string => `${Math.round(x * 100)}%`;
  if (r.kind === 'cpu' && r.scope === 'thread') {
    const at = `${r.target} at ${pct(r.cores)} of one core (its busiest thread; ${r.limited ? 'its cpuset has' : 'the machine has'} ${COUNT_WORDS[r.coresAvailable] ?? r.coresAvailable})`;
    return r.cores < RESOURCE_LIMIT ? `${at}, that thread waiting for a core ${pct(r.waiting)} of the time (the core was shared)` : at;
  }
  if (r.kind === 'cpu') {
    const n = r.coresAvailable;
    const cores = `${COUNT_WORDS[n] ?? n} core${n === 1 ? '' : 's'}`;
    const at = `${r.target} at ${pct(r.cores / n)} of ${r.limited ? 'its' : "the machine's"} ${cores}`;
    // Short of full only because the core was shared: say that it waited for the rest.
    return r.cores / n < RESOURCE_LIMIT ? `${at}, its threads waiting for a core ${pct(r.waiting / n)} of the time (the core was shared)` : at;
  }
  if (r.kind === 'memory') return `${r.target} at ${pct(r.bytes / r.limitBytes)} of its ${formatBytes(r.limitBytes)} memory limit`;
  const drops = r.tbfDrops > 0 ? ` (${r.tbfDrops} packets dropped by tbf)` : '';
  return `link at ${pct(r.share)} of ${formatBitRate(r.rateBitsPerSecond)} toward the ${r.direction === 'toServer' ? 'server' : 'client'}${drops}`;
}

function formatBytes(n: number): string {
  for (const [unit, scale] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= scale) return `${+(n / scale).toFixed(2)} ${unit}`;
  }
  return `${n} B`;
}

function formatBitRate(bits: number): string {
  for (const [unit, scale] of [['Gbit/s', 1e9], ['Mbit/s', 1e6], ['kbit/s', 1e3]] as const) {
    if (bits >= scale) return `${+(bits / scale).toFixed(3)} ${unit}`;
  }
  return `${bits} bit/s`;
}

/** The limits of a step that were tsload's own (not a pool or cap that filled because the server slowed). */
export function ownLimits(limits: readonly GeneratorLimit[] | undefined): GeneratorLimit[] {
  return (limits ?? []).filter((l) => l.cause === 'tsload');
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
export function describeSaturation(saturation: Saturation, steps: readonly Pick<StepBase, 'targetRate'>[], protocol?: ProtocolOfResult): string {
  const unit = protocol === undefined ? '/s' : ` ${WORDS[protocol].unit}`;
  const reply = protocol === undefined ? 'reply rate' : WORDS[protocol].replyRate;
  const failedRate = saturation.failedAt === null ? undefined : steps[saturation.failedAt]?.targetRate;
  const why =
    saturation.failedCriterion === null
      ? ''
      : `${failedRate === undefined ? '' : `at ${formatRate(failedRate)}${unit}: `}${criterionWords[saturation.failedCriterion](saturation.criteria, reply)}`;
  if (steps.length === 0) return 'no steps measured';
  if (saturation.generatorLimit != null) {
    const floor = saturation.rate === null ? 'no step passed below it' : `the server kept up to at least ${formatRate(saturation.rate)}${unit}`;
    return `not found: tsload itself was the limit ${failedRate === undefined ? '' : `at ${formatRate(failedRate)}${unit} `}(${saturation.generatorLimit.kinds.join(', ')}); ${floor}`;
  }
  if (saturation.rate === null) return `no step met the criteria (${why}${saturation.resource == null ? '' : `; ${describeResource(saturation.resource)}`})`;
  if (saturation.failedCriterion === null) return `every step met the criteria, up to ${formatRate(saturation.rate)}${unit} (not saturated)`;
  const again = (saturation.nonMonotone ?? []).map((i) => steps[i]?.targetRate).filter((r) => r !== undefined);
  const monotone = again.length > 0 ? `; not monotone: passed again at ${again.map((r) => `${formatRate(r)}${unit}`).join(', ')}` : '';
  const resource = saturation.resource == null ? '' : `; ${describeResource(saturation.resource)}`;
  return `saturation at ${formatRate(saturation.rate)}${unit} (${why}${resource})${monotone}`;
}

function formatPercent(ratio: number): string {
  return `${Number((ratio * 100).toPrecision(6))}%`;
}

function formatRate(rate: number): string {
  return Number.isInteger(rate) ? String(rate) : rate.toFixed(1);
}
