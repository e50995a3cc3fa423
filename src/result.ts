/**
 * The result schema ("tsload/result@1"): what `--json` writes and what
 * `runHttp`/`runDns` return. Field names here are a public contract that other
 * tools parse; add fields, never rename them.
 */

export const RESULT_SCHEMA = 'tsload/result@1';

/** Summary of one HDR histogram, in milliseconds. All zero when nothing was recorded. */
export interface LatencyStats {
  count: number;
  min: number;
  mean: number;
  stdev: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Failure classes, named as httperf names them (plus `addrunavail`, which httperf never counts). */
export type ErrorClass =
  | 'connrefused'
  | 'connreset'
  | 'addrunavail'
  | 'fd-unavail'
  | 'ftab-full'
  | 'socket-timo'
  | 'other';

/** Transport errors by class; timeouts are counted apart in `StepBase.timeouts`. */
export type ErrorCounts = { total: number } & Record<ErrorClass, number>;

/** One second of a step, for plots over time. `tS` counts from the start of the measured window. */
export interface TimelinePoint {
  tS: number;
  sent: number;
  completed: number;
  errors: number;
  timeouts: number;
  dropped: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface StepBase {
  /** Requested rate for this step, per second. */
  targetRate: number;
  /** Length of the measured window (warmup excluded), seconds. Shorter than asked if the run was stopped. */
  durationS: number;
  warmupS: number;
  /** Requests sent whose intended send time fell in the measured window. */
  sent: number;
  /** Of those, how many got a reply (any status / RCODE). */
  completed: number;
  /** Requests that actually left during the measured window / durationS: below the target when the generator falls behind. */
  sendRate: number;
  /** Replies received during the measured window / durationS (what the server actually delivered). */
  replyRate: number;
  errors: ErrorCounts;
  /** Requests with no reply within `--timeout` (for DNS these are the lost queries). */
  timeouts: number;
  /**
   * Arrivals of the window that were never sent: the in-flight cap was reached
   * (they are dropped, never delayed), or the generator had fallen so far behind
   * that they were still unsent 100 ms after the window closed (schedule lag shows it).
   */
  dropped: number;
  /** Requests still unanswered when the step's drain ended (only after a stop or a short drain). */
  inflightAtEnd: number;
  bytesSent: number;
  bytesReceived: number;
  /** CPU tsload's process used over the step (all threads, warmup and drain included), seconds. */
  cpu: { userS: number; systemS: number };
  /**
   * CPU over the measured window alone (all threads, no warmup, no drain),
   * seconds: what the window's requests cost. Absent in results written
   * before tsload measured it.
   */
  cpuWindow?: { userS: number; systemS: number };
  /**
   * Share of the measured window the busiest load thread's event loop was
   * busy, 0..1. At 0.9 or more tsload itself was near its limit: replies
   * waited in socket buffers, so latency and loss may be partly its own (add
   * --threads). Null when the loop spins on purpose (--busy-poll, or 200/s or
   * less per thread). Absent in results written before tsload measured it.
   */
  generatorBusy?: number | null;
  /** From the intended send time: the headline figure, free of coordinated omission. */
  latencyMs: LatencyStats;
  /** From the actual send time. */
  serviceTimeMs: LatencyStats;
  /** Actual minus intended send time: how late the generator itself was. */
  scheduleLagMs: LatencyStats;
  /** Encoded HDR histograms (microseconds, 1 µs..1 h, 3 significant digits; hdr-histogram-js compressed base64). */
  histograms: { latency: string; serviceTime: string; scheduleLag: string };
  timeline: TimelinePoint[];
}

export interface HttpStep extends StepBase {
  /** HTTP connections opened during the step. */
  connections: number;
  statusClasses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  statusCodes: Record<string, number>;
}

export interface DnsStep extends StepBase {
  /** Queries unanswered within the timeout (same as `timeouts`). */
  lost: number;
  /**
   * Datagrams the kernel dropped at tsload's own sockets during the step
   * (warmup included) because their receive buffers were full: the answer
   * came and tsload did not read it in time, so the query it answered counts
   * as lost by the generator's fault, not the server's or the network's. From
   * Linux's /proc/net/udp; null where the kernel does not say. Absent in
   * results written before tsload counted it.
   */
  lostAtGenerator?: number | null;
  /** Answers that arrived after their query was counted lost (not completions). */
  late: number;
  /** RCODE name → count, e.g. { NOERROR: 990, NXDOMAIN: 10 }. */
  rcodes: Record<string, number>;
  truncated: number;
  /** Datagrams that matched no outstanding query (wrong ID, socket or question). */
  unexpected: number;
  avgRequestBytes: number;
  avgResponseBytes: number;
}

export interface Saturation {
  /** Highest target rate that met every criterion, or null when none did. */
  rate: number | null;
  /** Index into steps[] of that step, or null. */
  step: number | null;
  /** The criterion that failed first at the step above it (or at the first step when none passed); null if every step passed. */
  failedCriterion: 'replyRate' | 'errors' | 'p99' | null;
  /** The step index where that criterion failed, or null. */
  failedAt: number | null;
  criteria: { minReplyRatio: number; maxErrorRatio: number; sloP99Ms: number };
}

interface ResultBase {
  schema: typeof RESULT_SCHEMA;
  tool: { name: 'tsload'; version: string };
  /** URL (HTTP) or server host:port (DNS). */
  target: string;
  startedAt: string;
  finishedAt: string;
  /** True when the run was stopped early (Ctrl-C, AbortSignal); steps hold what was measured. */
  aborted: boolean;
  threads: number;
  arrival: 'constant' | 'poisson';
  host: { hostname: string; platform: string; cpus: number; node: string };
  /** Free-form label for reports (defaults to the target). */
  label: string;
  saturation: Saturation;
}

export interface HttpResult extends ResultBase {
  protocol: 'http';
  steps: HttpStep[];
}

export interface DnsResult extends ResultBase {
  protocol: 'dns';
  steps: DnsStep[];
}

export type Result = HttpResult | DnsResult;
export type Step = HttpStep | DnsStep;

/** What `onProgress` receives, at least once a second while a run goes on. */
export interface ProgressEvent {
  stepIndex: number;
  stepCount: number;
  targetRate: number;
  phase: 'warmup' | 'measure' | 'drain';
  /** Seconds into this step's measured window (negative during warmup). */
  elapsedS: number;
  stepDurationS: number;
  /** Counts so far in this step's measured window, all threads. */
  sent: number;
  completed: number;
  errors: number;
  timeouts: number;
  dropped: number;
  /** Achieved send rate over the last second. */
  sendRate: number;
  /** p99 latency so far in this step, ms. */
  p99Ms: number;
  /** Seconds left in the whole run (estimate: remaining warmups and windows, no drains). */
  remainingS: number;
}
