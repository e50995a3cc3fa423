/**
 * Builders of realistic, self-consistent synthetic results for tests: counts
 * add up (sent = target × duration − dropped; completed = sent − errors −
 * timeouts − in flight), rates are counts over the window, bytes are sizes ×
 * counts, and the timeline sums to the step's counts. Histograms are left
 * empty (no report here decodes them).
 */
import {
  RESULT_SCHEMA,
  type DnsResult,
  type DnsStep,
  type ErrorClass,
  type ErrorCounts,
  type HttpResult,
  type HttpStep,
  type LatencyStats,
  type Saturation,
  type StepBase,
  type TimelinePoint,
} from '../src/result.js';

export interface StepSpec {
  targetRate: number;
  /** Default 10. */
  durationS?: number;
  /** Median latency from the intended send time, ms. Default 0.45. */
  p50Ms?: number;
  /** Default 4 × p50. */
  p99Ms?: number;
  errors?: Partial<Record<ErrorClass, number>>;
  timeouts?: number;
  dropped?: number;
  inflightAtEnd?: number;
  /** Per-second completed counts replacing the even split (not checked against `completed`; for reply-rate tests). */
  timelineCompleted?: number[];
  /** The busiest load thread's share of the window. Default: a thousandth per 100/s of target, capped at 1. */
  generatorBusy?: number | null;
}

/** Round to whole microseconds, as values read from an HDR histogram in µs are. */
function us(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Plausible latency stats around a median and a p99 (right-skewed, as server latency is). */
export function latencyStats(p50Ms: number, p99Ms: number, count: number): LatencyStats {
  if (count === 0) return { count: 0, min: 0, mean: 0, stdev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count,
    min: us(p50Ms * 0.4),
    mean: us(p50Ms * 1.15),
    stdev: us((p99Ms - p50Ms) / 2.3),
    p50: us(p50Ms),
    p90: us(p50Ms + (p99Ms - p50Ms) * 0.3),
    p99: us(p99Ms),
    p999: us(p99Ms * 1.8),
    max: us(p99Ms * 3.2),
  };
}

export function errorCounts(partial: Partial<Record<ErrorClass, number>> = {}): ErrorCounts {
  const e: ErrorCounts = {
    total: 0,
    connrefused: partial.connrefused ?? 0,
    connreset: partial.connreset ?? 0,
    addrunavail: partial.addrunavail ?? 0,
    'fd-unavail': partial['fd-unavail'] ?? 0,
    'ftab-full': partial['ftab-full'] ?? 0,
    'socket-timo': partial['socket-timo'] ?? 0,
    other: partial.other ?? 0,
    // Only when given: results written before the class existed have none.
    ...(partial.protocol === undefined ? {} : { protocol: partial.protocol }),
  };
  e.total = e.connrefused + e.connreset + e.addrunavail + e['fd-unavail'] + e['ftab-full'] + e['socket-timo'] + e.other + (e.protocol ?? 0);
  return e;
}

/** Split `total` over `n` parts as evenly as whole numbers allow (earlier parts get the remainder). */
function split(total: number, n: number): number[] {
  const base = Math.floor(total / n);
  const extra = total - base * n;
  return Array.from({ length: n }, (_, i) => base + (i < extra ? 1 : 0));
}

function baseStep(spec: StepSpec): Omit<StepBase, 'bytesSent' | 'bytesReceived'> {
  const durationS = spec.durationS ?? 10;
  const dropped = spec.dropped ?? 0;
  const timeouts = spec.timeouts ?? 0;
  const inflightAtEnd = spec.inflightAtEnd ?? 0;
  const errors = errorCounts(spec.errors);
  const sent = Math.round(spec.targetRate * durationS) - dropped;
  const completed = sent - errors.total - timeouts - inflightAtEnd;
  if (completed < 0) throw new Error('fixture: more failures than requests');
  const p50 = spec.p50Ms ?? 0.45;
  const p99 = spec.p99Ms ?? p50 * 4;
  const latencyMs = latencyStats(p50, p99, completed);
  const seconds = Math.max(1, Math.ceil(durationS - 1e-9));
  const sentPerS = split(sent, seconds);
  const completedPerS = spec.timelineCompleted ?? split(completed, seconds);
  const errorsPerS = split(errors.total, seconds);
  const timeoutsPerS = split(timeouts, seconds);
  const droppedPerS = split(dropped, seconds);
  const timeline: TimelinePoint[] = completedPerS.map((done, i) => ({
    tS: i,
    sent: sentPerS[i] ?? 0,
    completed: done,
    errors: errorsPerS[i] ?? 0,
    timeouts: timeoutsPerS[i] ?? 0,
    dropped: droppedPerS[i] ?? 0,
    p50Ms: latencyMs.p50,
    p99Ms: latencyMs.p99,
    maxMs: us(latencyMs.p99 * 1.5),
  }));
  const warmupS = 2;
  // About 20 µs user and 8 µs system per request, all arrivals of warmup and window.
  const requests = spec.targetRate * (warmupS + durationS);
  return {
    targetRate: spec.targetRate,
    durationS,
    warmupS,
    sent,
    completed,
    sendRate: sent / durationS,
    replyRate: completed / durationS,
    errors,
    timeouts,
    dropped,
    inflightAtEnd,
    cpu: { userS: Math.round(requests * 0.02) / 1000, systemS: Math.round(requests * 0.008) / 1000 },
    cpuWindow: { userS: Math.round(requests * 0.018) / 1000, systemS: Math.round(requests * 0.0075) / 1000 },
    generatorBusy: spec.generatorBusy === undefined ? Math.min(1, spec.targetRate / 100_000) : spec.generatorBusy,
    latencyMs,
    // Service time is latency less the generator's own lag: a little lower.
    serviceTimeMs: latencyStats(p50 * 0.93, p99 * 0.97, completed),
    scheduleLagMs: latencyStats(0.018, 0.09, sent),
    histograms: { latency: '', serviceTime: '', scheduleLag: '' },
    timeline,
  };
}

export interface HttpStepSpec extends StepSpec {
  /** Connections opened in the step. Default 64 (a keep-alive pool). */
  connections?: number;
  /** Replies by status code; default all 200. Must sum to the completed count. */
  statusCodes?: Record<string, number>;
  /** Default 72 B (a small GET). */
  requestBytes?: number;
  /** Default 1265 B (a 1 KiB file with nginx's headers). */
  replyBytes?: number;
}

export function httpStep(spec: HttpStepSpec): HttpStep {
  const base = baseStep(spec);
  const statusCodes = spec.statusCodes ?? { '200': base.completed };
  const statusClasses = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  for (const [code, n] of Object.entries(statusCodes)) {
    const cls = `${code[0] ?? ''}xx`;
    if (cls in statusClasses) statusClasses[cls as keyof typeof statusClasses] += n;
  }
  return {
    ...base,
    bytesSent: base.sent * (spec.requestBytes ?? 72),
    bytesReceived: base.completed * (spec.replyBytes ?? 1265),
    connections: spec.connections ?? 64,
    statusClasses,
    statusCodes,
  };
}

export interface DnsStepSpec extends StepSpec {
  /** Answers by RCODE name; default all NOERROR. Must sum to the completed count. */
  rcodes?: Record<string, number>;
  late?: number;
  /** Left out unless given, as in results written before tsload counted it. */
  lostAtGenerator?: number | null;
  truncated?: number;
  unexpected?: number;
  /** Default 31 B (an A query for a short name). */
  requestBytes?: number;
  /** Default 62 B. */
  responseBytes?: number;
}

export function dnsStep(spec: DnsStepSpec): DnsStep {
  const base = baseStep(spec);
  const requestBytes = spec.requestBytes ?? 31;
  const responseBytes = spec.responseBytes ?? 62;
  return {
    ...base,
    bytesSent: base.sent * requestBytes,
    bytesReceived: base.completed * responseBytes,
    lost: base.timeouts,
    ...(spec.lostAtGenerator === undefined ? {} : { lostAtGenerator: spec.lostAtGenerator }),
    late: spec.late ?? 0,
    rcodes: spec.rcodes ?? { NOERROR: base.completed },
    truncated: spec.truncated ?? 0,
    unexpected: spec.unexpected ?? 0,
    avgRequestBytes: requestBytes,
    avgResponseBytes: responseBytes,
  };
}

export const DEFAULT_CRITERIA: Saturation['criteria'] = { minReplyRatio: 0.95, maxErrorRatio: 0.01, sloP99Ms: 100 };

/**
 * A saturation verdict for fixture steps: walk the steps in order and stop at
 * the first that fails (criteria checked in the order reply rate, errors,
 * p99). An approximation of the engine's rule, good enough for report tests;
 * tests about specific verdicts pass `saturation` explicitly.
 */
export function saturationOf(
  steps: readonly StepBase[],
  criteria: Saturation['criteria'] = DEFAULT_CRITERIA,
): Saturation {
  let passed: number | null = null;
  for (const [i, s] of steps.entries()) {
    let failed: Saturation['failedCriterion'] = null;
    if (s.replyRate < criteria.minReplyRatio * s.targetRate) failed = 'replyRate';
    else if (s.errors.total + s.timeouts > criteria.maxErrorRatio * s.sent) failed = 'errors';
    else if (s.latencyMs.p99 > criteria.sloP99Ms) failed = 'p99';
    if (failed !== null) {
      const rate = passed === null ? null : (steps[passed]?.targetRate ?? null);
      return { rate, step: passed, failedCriterion: failed, failedAt: i, criteria };
    }
    passed = i;
  }
  const rate = passed === null ? null : (steps[passed]?.targetRate ?? null);
  return { rate, step: passed, failedCriterion: null, failedAt: null, criteria };
}

/** The fields both protocols share (ResultBase is not exported; HttpResult's copy of them is the same). */
function common(steps: readonly StepBase[]): Omit<HttpResult, 'protocol' | 'steps' | 'target' | 'label'> {
  const durations = steps.reduce((t, s) => t + s.warmupS + s.durationS, 0);
  const start = Date.parse('2025-03-14T09:26:53.000Z');
  return {
    schema: RESULT_SCHEMA,
    tool: { name: 'tsload', version: '0.1.0' },
    startedAt: new Date(start).toISOString(),
    finishedAt: new Date(start + Math.round(durations * 1000)).toISOString(),
    aborted: false,
    threads: 2,
    arrival: 'constant',
    host: { hostname: 'loadgen', platform: 'linux', cpus: 2, node: 'v20.20.0' },
    saturation: saturationOf(steps),
  };
}

export function httpResult(steps: HttpStep[], overrides: Partial<HttpResult> = {}): HttpResult {
  const target = overrides.target ?? 'http://198.18.0.2:8080/index.html';
  return { ...common(steps), protocol: 'http', target, label: target, steps, ...overrides };
}

export function dnsResult(steps: DnsStep[], overrides: Partial<DnsResult> = {}): DnsResult {
  const target = overrides.target ?? '198.18.0.2:53';
  return { ...common(steps), protocol: 'dns', target, label: target, steps, ...overrides };
}

/** The httperf-like sweep of the study: 500 to 5000 req/s, the server giving way above 4000. */
export function httpSweep(): HttpResult {
  const rates = [500, 1000, 2000, 3000, 4000, 4500, 5000];
  return httpResult(
    rates.map((rate) =>
      rate <= 4000
        ? httpStep({ targetRate: rate, p50Ms: 0.3 + rate / 20000, p99Ms: 1.2 + rate / 2000 })
        : httpStep({ targetRate: rate, p50Ms: 35 + (rate - 4000) / 10, p99Ms: 180 + (rate - 4000) / 2, timeouts: (rate - 4000) / 100 }),
    ),
  );
}
