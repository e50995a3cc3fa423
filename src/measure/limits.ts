/**
 * Where tsload itself was a limit in a step: the figures a step already has,
 * read against the limits tsload had. Protocol-free: a protocol passes what it
 * knows (its connection pool, the answers its sockets dropped).
 *
 * A pool or a cap fills when concurrency (rate × time per request, Little's
 * law) outgrows it. That happens both when the pool is too small for a
 * healthy server and when a saturated server slows down; the service time
 * tells them apart. At the sweep's lowest rate the server is not queueing, so
 * a service time well past that baseline means the server's own queue grew.
 */
import type { GeneratorLimit, LatencyStats, StepBase } from '../result.js';
import { decodeHistogram, percentileMs } from './histogram.js';
import { GENERATOR_BUSY_LIMIT } from './saturation.js';

/**
 * Waiting inside tsload is a limit once its p99 is over this and over a tenth
 * of the latency p99: it then measurably lengthened the latency reported.
 */
export const QUEUED_LIMIT_MS = 1;
const QUEUED_SHARE_OF_LATENCY = 0.1;
/** tsload's own lateness that counts as a limit: above this p99, and at least half the latency p99. */
export const LAG_LIMIT_MS = 1;
const LAG_SHARE_OF_LATENCY = 0.5;

export interface LimitInputs {
  step: Pick<
    StepBase,
    | 'sent'
    | 'dropped'
    | 'droppedBehind'
    | 'notSent'
    | 'generatorBusy'
    | 'scheduleLagMs'
    | 'latencyMs'
    | 'serviceTimeMs'
    | 'queuedMs'
    | 'errors'
    | 'histograms'
  >;
  threads: number;
  /** The in-flight cap per thread. */
  maxInflight: number;
  /** Service time p50 at the sweep's lowest rate so far (this step's own when it is the first). */
  baselineServiceP50Ms: number;
  /** HTTP: the connection pool, and how many of the step's requests (warmup included) found it full. */
  pool?: { limit: number; fixed: boolean; pipelining: number; waited: number; waitedAtLimit: number; written: number };
  /** DNS: answers the kernel dropped at tsload's own sockets. */
  lostAtGenerator?: number | null;
  /** The process's open-file limit, when known. */
  fileLimit: number | null;
}

/** The service time grew well past the baseline: the server was queueing. */
function serverSlowed(service: LatencyStats, baselineMs: number): boolean {
  return service.count > 0 && service.p50 > 2 * baselineMs + 1;
}

/** Every limit of tsload's that this step reached, each with its figures. */
export function generatorLimits(inputs: LimitInputs): GeneratorLimit[] {
  const { step, pool } = inputs;
  const limits: GeneratorLimit[] = [];
  const service = step.serviceTimeMs;
  const baseline = inputs.baselineServiceP50Ms;
  const cause = serverSlowed(service, baseline) ? 'server' : 'tsload';
  const notSent = step.notSent ?? 0;
  const queued = step.queuedMs;

  const longWaits = queued !== undefined && queued.p99 >= Math.max(QUEUED_LIMIT_MS, QUEUED_SHARE_OF_LATENCY * step.latencyMs.p99);
  if (pool !== undefined && pool.waited > 0 && (notSent > 0 || longWaits)) {
    const waitedShare = Math.min(1, pool.waited / Math.max(1, pool.written + notSent));
    limits.push({
      kind: 'connections',
      cause,
      connections: pool.limit,
      fixed: pool.fixed,
      atLimit: pool.waitedAtLimit > 0,
      pipelining: pool.pipelining,
      waitedShare: round(waitedShare, 4),
      waitedP50Ms: step.histograms.queued === undefined ? 0 : waitedMedian(step.histograms.queued, waitedShare),
      notSent,
      serviceP50Ms: service.p50,
      baselineServiceP50Ms: baseline,
    });
  }
  const droppedAtCap = step.dropped - (step.droppedBehind ?? 0);
  if (droppedAtCap > 0) {
    limits.push({
      kind: 'inflightCap',
      cause,
      maxInflight: inputs.maxInflight,
      threads: inputs.threads,
      dropped: droppedAtCap,
      serviceP50Ms: service.p50,
      baselineServiceP50Ms: baseline,
    });
  }
  if (step.generatorBusy != null && step.generatorBusy >= GENERATOR_BUSY_LIMIT) {
    limits.push({ kind: 'thread', cause: 'tsload', busy: step.generatorBusy, threads: inputs.threads });
  }
  const lag = step.scheduleLagMs.p99;
  const droppedBehind = step.droppedBehind ?? 0;
  if (droppedBehind > 0 || (lag > LAG_LIMIT_MS && lag >= LAG_SHARE_OF_LATENCY * step.latencyMs.p99)) {
    limits.push({ kind: 'scheduleLag', cause: 'tsload', lagP99Ms: lag, latencyP99Ms: step.latencyMs.p99, droppedBehind });
  }
  if (inputs.lostAtGenerator != null && inputs.lostAtGenerator > 0) {
    limits.push({ kind: 'socketBuffers', cause: 'tsload', lostAtGenerator: inputs.lostAtGenerator });
  }
  const fdErrors = step.errors['fd-unavail'] + step.errors['ftab-full'];
  if (fdErrors > 0) limits.push({ kind: 'fileLimit', cause: 'tsload', fileLimit: inputs.fileLimit, errors: fdErrors });
  return limits;
}

/**
 * The median wait of the requests that waited. Those that did not wait spent
 * microseconds in the queue, so the waiters are the top `share` of the
 * queued distribution, and their median is its (1 − share/2) quantile.
 */
function waitedMedian(queued: string, share: number): number {
  return percentileMs(decodeHistogram(queued), 100 * (1 - share / 2));
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
