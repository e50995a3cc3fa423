/**
 * The whole contract between the protocol-free engine and a protocol.
 *
 * The engine owns the schedule, the in-flight table and the clocks. It hands
 * a driver a `token` (an index into its in-flight table) per request; the
 * driver starts the request and later reports its outcome for that token,
 * exactly once, through `Completion.done`. Tokens are small integers so the
 * hot path needs no closures or objects per request.
 */
import type { Share } from './segment.js';

/**
 * Outcome codes. A code >= 0 is a reply carrying that protocol code (HTTP
 * status, DNS RCODE). A negative code is a failure class.
 */
export const Failure = {
  /** No reply within the timeout (httperf's client-timo; DNS: lost). */
  timeout: -1,
  connrefused: -2,
  connreset: -3,
  addrunavail: -4,
  fdUnavail: -5,
  ftabFull: -6,
  socketTimo: -7,
  other: -8,
  /**
   * The reply broke the protocol (a malformed HTTP response, a DNS answer
   * that does not parse): never a completion, never a timeout. The driver
   * says why through failureReasons.
   */
  protocol: -9,
} as const;
export type FailureCode = (typeof Failure)[keyof typeof Failure];
/** Number of failure classes; failure code c maps to index -c - 1. */
export const FAILURE_CLASSES = 9;

/** Distinct failure reasons a driver keeps between two takes, and a step keeps in its result. */
export const MAX_FAILURE_REASONS = 5;

/** The distinct failure reasons since the last take (Driver.takeFailureReasons); the first few only, so a storm of bad answers costs nothing. */
export class FailureReasons {
  private list: string[] = [];
  note(reason: string): void {
    if (this.list.length < MAX_FAILURE_REASONS && !this.list.includes(reason)) this.list.push(reason);
  }
  take(): string[] {
    const out = this.list;
    // Called twice a step: no new array when nothing was noted.
    if (out.length > 0) this.list = [];
    return out;
  }
}

export interface Completion {
  /**
   * Request `token` is on its way: written to a socket (or handed to the
   * kernel). Until then it is waiting inside tsload, and that time is the
   * generator's, not the server's: `sent` counts writes, service time runs
   * from the write. Call it when the bytes are written (again if the request is
   * written again after its connection died); never for a request that was not.
   */
  written(token: number): void;
  /** Report the outcome of request `token`. Call exactly once per `send(token)`. */
  done(token: number, code: number): void;
}

/** Monotonic protocol counters (bytes, connections, late answers…); the engine takes deltas per step and sums threads. */
export type DriverCounters = Record<string, number>;

export interface DriverContext {
  /**
   * The arrivals of the whole schedule this driver's thread sends (see
   * segment.ts). Every share a driver takes of the work (connections, its
   * walk through a query mix) follows from it, so that the threads of every
   * process of a run together take exactly the whole.
   */
  share: Share;
  /** Per-request timeout from the actual send, milliseconds. The driver enforces it and reports Failure.timeout. */
  timeoutMs: number;
  /** Upper bound on requests this driver will have in flight at once (the engine never exceeds it). */
  maxInflight: number;
}

export interface Driver {
  /** Start request `token`. Must not throw: failures go through `done`. */
  send(token: number): void;
  counters(): DriverCounters;
  /**
   * The distinct reasons of the failures seen since the last call (at most
   * MAX_FAILURE_REASONS, the first ones; each short and printable, e.g.
   * 'status code is not three digits: "2000"'), and forget them. The engine
   * calls it at each step's start and end.
   */
  takeFailureReasons?(): string[];
  /** Abort what is in flight (without reporting it) and release sockets. */
  close(): Promise<void>;
}

/**
 * What a driver module exports. The engine imports it by file URL inside each
 * worker, so `options` must be structured-cloneable.
 */
export interface DriverModule<Options> {
  createDriver(options: Options, completion: Completion, context: DriverContext): Promise<Driver>;
}
