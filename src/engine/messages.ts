/** Messages between the main thread and the worker threads that send load. */
import type { MessagePort } from 'node:worker_threads';
import type { Arrival } from './schedule.js';
import type { SegmentSpec } from './segment.js';

/**
 * What every worker needs to run its share of a plan; structured-cloneable.
 * The process's segment of the run (SegmentSpec) is the whole run unless a
 * launcher sets it; each thread takes an equal segment of it.
 */
export interface WorkerPlan extends SegmentSpec {
  /** file: URL of the driver module (see DriverModule). */
  driverModule: string;
  driverOptions: unknown;
  threadCount: number;
  arrival: Arrival;
  seed: number;
  /** In-flight cap per thread. */
  maxInflight: number;
  timeoutMs: number;
  /** Spin between sends for sub-millisecond send times, at the cost of a full core per thread. */
  busyPoll: boolean;
}

export interface StepOrder {
  type: 'step';
  index: number;
  /** Total rate across all threads. */
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** Longest wait for replies after the last send. */
  drainMs: number;
  /** Absolute start time (performance.timeOrigin + performance.now() in ms), shared by all threads. */
  startAtEpochMs: number;
}

export type MainToWorker = StepOrder | { type: 'stop' } | { type: 'end' };

/** Counts one thread keeps for a step's measured window (and for each second of it). */
export interface WindowCounts {
  /** Requests whose intended send time fell in the window and that were written (see Completion.written). */
  sent: number;
  /** Requests written while the window was open (lower than `sent` when the generator falls behind). */
  sentInWindow: number;
  completed: number;
  /** Replies received while the window was open, whenever their request was sent. */
  repliesInWindow: number;
  timeouts: number;
  /** Indexed by failure class: code c is at -c - 1 (timeouts at 0 stay zero here: see `timeouts`). */
  failures: number[];
  dropped: number;
  /** Of `dropped`, the slots the generator was too far behind to send (the rest met the in-flight cap). */
  droppedBehind: number;
  /** Requests of the window the driver held until they timed out, never written: tsload's limit, not the server's. */
  notSent: number;
}

export interface SecondReport extends WindowCounts {
  type: 'second';
  step: number;
  /** Index of the second within the measured window. */
  second: number;
  /** Latency (from intended send) of the measured replies that arrived in this second (the last second also takes those of the drain), encoded. */
  latency: string;
  /** Their service time (from the write), encoded. */
  serviceTime: string;
}

export interface StepReport extends WindowCounts {
  type: 'stepDone';
  step: number;
  /** Measured window actually run, ms (short if stopped). */
  windowMs: number;
  inflightAtEnd: number;
  /** Reply code → count (HTTP status, DNS RCODE). */
  codes: Record<string, number>;
  /** Driver counter deltas over the step (warmup included). */
  counters: Record<string, number>;
  /** The driver's failure reasons over the step (Driver.takeFailureReasons), when it gave any. */
  failureReasons?: string[];
  latency: string;
  serviceTime: string;
  scheduleLag: string;
  /** Time from hand-off to the driver until written, of the window's written requests. */
  queued: string;
  /**
   * Share of the measured window this thread's event loop was busy rather than
   * waiting for I/O or timers (Node's event-loop utilization), 0..1. Near 1 the
   * thread had no time to spare: replies wait in socket buffers and their
   * latency is partly the generator's. Null when the loop spins on purpose
   * (busy-poll, low rates) or the window never opened.
   */
  busy: number | null;
}

export type WorkerToMain = { type: 'ready' } | SecondReport | StepReport;

export interface WorkerTask {
  plan: WorkerPlan;
  threadIndex: number;
  port: MessagePort;
}
