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
  | 'other'
  /** A reply that broke the protocol (malformed HTTP, a DNS answer that does not parse or match); its reasons in StepBase.failureReasons. */
  | 'protocol';

/** Transport errors by class; timeouts are counted apart in `StepBase.timeouts`. */
export type ErrorCounts = { total: number } & Record<Exclude<ErrorClass, 'protocol'>, number> & {
  /** Absent in results written before the class existed. */
  protocol?: number;
};

/** One second of a step, for plots over time. `tS` counts from the start of the measured window. */
export interface TimelinePoint {
  tS: number;
  sent: number;
  completed: number;
  errors: number;
  timeouts: number;
  dropped: number;
  /** Requests that timed out inside tsload before they were written (absent in results written before tsload counted it). */
  notSent?: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * The second's latency and service-time HDR histograms, encoded as
   * `StepBase.histograms`: kept only when asked (--hlog, or a run in
   * segments, whose results `tsload merge` sums second by second).
   */
  histograms?: { latency: string; serviceTime: string };
}

export interface StepBase {
  /**
   * Requested rate for this step, per second: this generator's own share
   * when it ran a segment of a distributed run (its reply rate and
   * saturation are judged against what it was asked to send), the whole
   * run's in a merged result.
   */
  targetRate: number;
  /**
   * The whole run's rate, when this generator ran only a segment of it
   * (targetRate is then its share): what `tsload merge` checks every part
   * agrees on and gives the merged step as its targetRate.
   */
  runRate?: number;
  /** Length of the measured window (warmup excluded), seconds. Shorter than asked if the run was stopped. */
  durationS: number;
  warmupS: number;
  /**
   * The measured window on the wall clock, epoch milliseconds (end = start +
   * durationS): what server-side samples and other generators' results line
   * up on. Absent in results written before tsload recorded it.
   */
  window?: { startMs: number; endMs: number };
  /**
   * Requests whose intended send time fell in the measured window and that
   * were written to a socket (or given to a connection that failed before it
   * could take them: those are counted in errors). A request still waiting
   * inside tsload is not sent.
   */
  sent: number;
  /** Of those, how many got a reply (any status / RCODE). */
  completed: number;
  /** Requests written during the measured window / durationS: below the target when the generator falls behind or waits for connections. */
  sendRate: number;
  /** Replies received during the measured window / durationS (what the server actually delivered). */
  replyRate: number;
  errors: ErrorCounts;
  /** Why replies broke the protocol (errors.protocol), distinct, the first few; absent when none did. */
  failureReasons?: string[];
  /** Requests with no reply within `--timeout` (for DNS these are the lost queries). */
  timeouts: number;
  /**
   * Arrivals of the window that were never sent: the in-flight cap was reached
   * (they are dropped, never delayed), or the generator had fallen so far behind
   * that they were still unsent 100 ms after the window closed (schedule lag shows it).
   */
  dropped: number;
  /** Of `dropped`, the slots tsload was too far behind to send; the rest met the in-flight cap. Absent in older results. */
  droppedBehind?: number;
  /**
   * Requests of the window that waited inside tsload (every connection busy)
   * until their timeout and were never written: tsload's limit, never a server
   * timeout. Absent in results written before tsload counted it.
   */
  notSent?: number;
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
  /** From the time the request was written to its socket: the server's part (and the network's). */
  serviceTimeMs: LatencyStats;
  /** Hand-off to the driver minus intended send time: how late the generator's schedule itself was. */
  scheduleLagMs: LatencyStats;
  /**
   * Time from hand-off to the write, of the sent requests: waiting inside
   * tsload for a connection (or for a new one to open). Latency from the
   * intended send = schedule lag + queued + service time. Absent in older results.
   */
  queuedMs?: LatencyStats;
  /** Encoded HDR histograms (microseconds, 1 µs..1 h, 3 significant digits; hdr-histogram-js compressed base64). */
  histograms: { latency: string; serviceTime: string; scheduleLag: string; queued?: string };
  timeline: TimelinePoint[];
  /**
   * Where tsload itself was a limit in this step, each with its figures (see
   * GeneratorLimit). Empty when none was; absent in results written before
   * tsload looked.
   */
  generatorLimits?: GeneratorLimit[];
  /** True for a step that --refine added between the sweep's steps. */
  refined?: boolean;
  /**
   * The server's side of the measured window, for a testbed target (`--testbed`,
   * runInTestbed): its CPU, memory and the link, sampled by the main process
   * while the generator ran. Absent for other targets and in older results.
   */
  server?: ServerFigures;
}

/** What a testbed target used during a step's measured window (see StepBase.server). */
export interface ServerFigures {
  /** The target, by its testbed name ('nginx', 'builtin-http'). */
  target: string;
  /**
   * Where CPU and memory were read: the target's own cgroup (every process
   * that ran in it, children included), or /proc summed over its process
   * group (processes that left the group or exited unreaped are missed).
   */
  source: 'cgroup' | 'procfs';
  /** CPU time the server used in the window, seconds, all its processes and threads. */
  cpuS: number;
  /** cpuS / durationS: how many cores it kept busy on average. */
  cpuPerSecond: number;
  /** cpuS per reply of the window (replyRate × durationS), µs; null without replies. */
  cpuPerRequestUs: number | null;
  /**
   * Time its threads were ready to run but waited for a CPU, per second of
   * the window (the threads' run_delay in /proc/<tid>/schedstat). With
   * cpuPerSecond it is the CPU the server asked for: on a core shared with
   * other work, a CPU-bound server shows less than a full core busy and the
   * rest here. Null where the kernel does not say.
   */
  cpuWaitPerSecond: number | null;
  /**
   * The thread that used the most CPU in the window, and its wait for a
   * core, per second: a single thread cannot use more than one core, so a
   * one-worker server is out of CPU when this nears 1 on a machine with
   * cores to spare. Null where the kernel does not say.
   */
  busiestThread: { cpuPerSecond: number; waitPerSecond: number } | null;
  /** Cores its cpuset allows (--cpus); null when not limited. */
  cpuLimit: number | null;
  /** Cores it could use: cpuLimit, or every CPU of the machine when not limited. */
  coresAvailable: number;
  /** Anonymous resident memory (cgroup: rss; /proc: VmRSS summed) over the window's samples, bytes. */
  rssBytes: { mean: number; max: number };
  /** What its cgroup was charged (resident memory and page cache: what a limit bounds), bytes; null from /proc. */
  memoryBytes: { mean: number; max: number } | null;
  /** Its cgroup's memory limit (--memory), bytes; null when not limited. */
  memoryLimitBytes: number | null;
  /** The testbed link in the window, from the server host's interface counters and tc; null when they could not be read. */
  link: {
    /** The shaped rate, each way (testbed up --rate). */
    rateBitsPerSecond: number;
    toServer: LinkDirection;
    toClient: LinkDirection;
  } | null;
  /** Counter readings inside the window, which its figures were interpolated from (about five a second). */
  samples: number;
}

/** One direction of the testbed link over a step's window. */
export interface LinkDirection {
  /** Ethernet frames' bytes (what tbf shapes) per second. */
  bytesPerS: number;
  packetsPerS: number;
  /** bytesPerS × 8 / the shaped rate: 1 is a full link. */
  share: number;
  /** Packets tbf dropped on this direction's egress in the window (its queue was full). */
  tbfDrops: number;
}

/** The server-side resource that ran out at a step, with its figures (Saturation.resource). */
export type SaturatedResource =
  | {
      kind: 'cpu';
      target: string;
      /** Cores busy on average (ServerFigures.cpuPerSecond). */
      cores: number;
      /** Of the cores it wanted beyond those, what its threads waited for (ServerFigures.cpuWaitPerSecond; 0 when unknown). */
      waiting: number;
      /** Cores it could use, and whether that was its cpuset's limit. */
      coresAvailable: number;
      limited: boolean;
      /**
       * 'cores': all the cores it may use were busy (or waited for);
       * 'thread': its busiest thread was at one core, with cores to spare
       * (a server with one worker). `cores`/`waiting` are then that thread's.
       */
      scope?: 'cores' | 'thread';
    }
  | { kind: 'memory'; target: string; /** Anonymous resident memory, max in the window (ServerFigures.rssBytes.max). */ bytes: number; limitBytes: number }
  | { kind: 'link'; direction: 'toServer' | 'toClient'; share: number; rateBitsPerSecond: number; tbfDrops: number };

/**
 * Was the limit tsload's own, or did it fill because the server slowed down?
 * A connection pool or an in-flight cap fills either way (Little's law); it is
 * the server's when its service time at this step grew well past the one at
 * the sweep's lowest rate.
 */
export type LimitCause = 'tsload' | 'server';

/** One way tsload itself limited a step, with the figures that show it. */
export type GeneratorLimit =
  | {
      /** Requests waited for a connection: the pool was at its size (fixed) or its maximum (growing). */
      kind: 'connections';
      cause: LimitCause;
      /** The pool's limit, in total across threads. */
      connections: number;
      /** True for a fixed pool (--connections), false for one that grows up to --max-connections. */
      fixed: boolean;
      /** The pool reached its limit; false when requests waited only for new connections to open. */
      atLimit: boolean;
      pipelining: number;
      /** Share of the step's requests that found every connection busy, 0..1. */
      waitedShare: number;
      /** Median time in tsload's queue of the requests that waited, ms. */
      waitedP50Ms: number;
      /** Requests that waited until their timeout and were never written. */
      notSent: number;
      serviceP50Ms: number;
      /** Service time p50 at the sweep's lowest rate, for the cause. */
      baselineServiceP50Ms: number;
    }
  | {
      /** Arrivals dropped because the in-flight cap was reached. */
      kind: 'inflightCap';
      cause: LimitCause;
      /** The cap per thread. */
      maxInflight: number;
      threads: number;
      dropped: number;
      serviceP50Ms: number;
      baselineServiceP50Ms: number;
    }
  | {
      /** The busiest load thread had no time to spare. */
      kind: 'thread';
      cause: 'tsload';
      busy: number;
      threads: number;
    }
  | {
      /** tsload's schedule was late: slots never sent, or lag a large part of the latency. */
      kind: 'scheduleLag';
      cause: 'tsload';
      lagP99Ms: number;
      latencyP99Ms: number;
      droppedBehind: number;
    }
  | {
      /** Answers the kernel dropped at tsload's own sockets (DNS). */
      kind: 'socketBuffers';
      cause: 'tsload';
      lostAtGenerator: number;
    }
  | {
      /** Sockets refused for want of file descriptors (EMFILE, ENFILE). */
      kind: 'fileLimit';
      cause: 'tsload';
      /** The process's open-file limit, when known. */
      fileLimit: number | null;
      errors: number;
    };

export interface HttpStep extends StepBase {
  /** HTTP connections opened during the step. */
  connections: number;
  /** Bytes per request written, and per reply read, over the step (warmup included). Absent in older results. */
  avgRequestBytes?: number;
  avgReplyBytes?: number;
  /**
   * The connection pool: its limit in total across threads, whether it was
   * fixed (--connections) or grew on demand up to it (--max-connections), and
   * how many requests of the step (warmup included) found every connection
   * busy. Absent in older results.
   */
  pool?: { limit: number; fixed: boolean; waited: number; waitedAtLimit: number };
  /**
   * TLS handshakes of the connections opened during the step, timed from
   * TCP connected to TLS done, apart from any request (a request's service
   * time runs from its write, after the handshake). Over http:// absent.
   */
  tls?: { handshakes: number; handshakeMeanMs: number; failed: number };
  /** Of `connections`, how many spoke HTTP/2 and how many HTTP/1.1 (by ALPN, or h2c prior knowledge). Absent in older results. */
  connectionsByVersion?: { '1.1': number; '2': number };
  /** Earlier measurements of this rate that failed and were measured again (--confirm), oldest first. */
  attempts?: Omit<HttpStep, 'attempts'>[];
  statusClasses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  statusCodes: Record<string, number>;
}

/** What a step's TCP or TLS connections did, warmup included (connections open on the first query, in the first step). */
export interface DnsStreamCounts {
  /** Connections opened (first connects and reconnects). */
  connections: number;
  /** Of those, the ones that replaced a connection the server closed. */
  reconnects: number;
  /** Connections the server closed; the queries in flight on them failed as connreset (not sent again, as dnsperf). */
  closedByServer: number;
  /** Connects (or TLS handshakes) that failed; the queries waiting for them failed with the same error. */
  connectFailures: number;
  /** TLS handshakes completed, and their mean time from TCP connect to the end of the handshake, ms (null without any). */
  tlsHandshakes: number;
  tlsHandshakeMeanMs: number | null;
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
  /**
   * Answers never matched to a query: to an ID with nothing in flight, plus
   * `malformed` and `mismatched`. Over UDP an answer from another address or
   * port than the server's never reaches tsload (its sockets are connected)
   * and is not counted.
   */
  unexpected: number;
  /** Of `unexpected`: not a readable DNS response (shorter than a header, QR clear, a question that does not parse). Absent in older results. */
  malformed?: number;
  /** Of `unexpected`: to an ID in flight but asking another question; the query went on waiting for its own. Absent in older results. */
  mismatched?: number;
  avgRequestBytes: number;
  avgResponseBytes: number;
  /** Over TCP and TLS only (absent over UDP and in older results): the step's connections. */
  stream?: DnsStreamCounts;
  /** Earlier measurements of this rate that failed and were measured again (--confirm), oldest first. */
  attempts?: Omit<DnsStep, 'attempts'>[];
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
  /**
   * Set when tsload itself was the limit at the first failing step: `rate` is
   * then a floor (the server kept up at least that far), not the server's
   * saturation point. Absent in older results.
   */
  generatorLimit?: { step: number; kinds: GeneratorLimit['kind'][] } | null;
  /** Steps that passed above the first failing one (indices): the sweep is not monotone. Absent in older results. */
  nonMonotone?: number[];
  /** How many times a failing step was measured again before it counted (--confirm). Absent in older results. */
  confirm?: number;
  /** --refine's precision, percent of the rate; null when off. Absent in older results. */
  refinePct?: number | null;
  /**
   * What ran out on the server's side at the first failing step, where the
   * step's server figures tell (a testbed target): its CPU at ≥ 95% of the
   * cores it may use (busy, plus the time its threads waited for a core),
   * its busiest thread at ≥ 95% of one core (with cores to spare), its
   * anonymous memory at ≥ 95% of its limit, or the link at ≥ 95% of its rate
   * or dropping packets. Null when none did or the step has no server
   * figures; absent where no step has them (older and non-testbed results).
   */
  resource?: SaturatedResource | null;
}

/** A generator's segment of a distributed run (see src/engine/launcher.ts). */
export interface ResultSegment {
  /** Position in the run's sequence, from 1: `--segment index/count` runs it again. */
  index: number;
  count: number;
  /** (from, to] of the whole schedule, exact fractions ('1/4'). */
  from: string;
  to: string;
  /** The run's segment bounds, the same in every generator ('0,1/4,1/2,3/4,1'). */
  sequence: string;
  /** Who said which segment this is: --segment, or the launcher's variables. */
  source: 'option' | 'slurm' | 'slurm-array' | 'kubernetes' | 'openmpi' | 'mpich';
}

/**
 * --start-at: step 1 was asked to start at `requestedAt` on this machine's
 * clock, and later steps at fixed slots after it (step k at requestedAt +
 * k × slotMs), so every generator's steps line up.
 */
export interface ResultStart {
  requestedAt: string;
  /** When step 1's measured window opened (its warmup began warmupS before). */
  actualAt: string;
  /** How late step 1 began against requestedAt, ms (0 when on time). */
  offsetMs: number;
  slotMs: number;
  clock: string;
}

/** The options every generator of one run must share; `tsload merge` refuses parts that differ. Absent in older results. */
export interface ResultPlan {
  rates: number[];
  durationMs: number;
  warmupMs: number;
  timeoutMs: number;
  arrival: 'constant' | 'poisson';
  seed: number;
}

/** One generator of a merged result, as its own result said. */
export interface ResultGenerator {
  segment: ResultSegment | null;
  host: ResultBase['host'];
  threads: number;
  start: ResultStart | null;
  /** Each step's window start minus the earliest generator's, ms. */
  windowOffsetsMs: number[];
  /** Each step's generatorLimits, as this generator found them. */
  generatorLimits: GeneratorLimit[][];
  /** With --testbed: the client host it ran in. */
  testbed?: ResultTestbed;
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
  /** This generator's segment of a distributed run; absent when it ran the whole schedule. */
  segment?: ResultSegment;
  /** Present with --start-at. */
  start?: ResultStart;
  plan?: ResultPlan;
  /** In a merged result (`tsload merge`): the generators it sums, in segment order. */
  generators?: ResultGenerator[];
  /**
   * --testbed: the CPUs the generator was pinned to (a cpuset list), by
   * default those the target's cpuset leaves free; null when it ran on any.
   * Absent outside the testbed and in older results.
   */
  generatorCpus?: string | null;
  /**
   * With --testbed against a target of the testbed's: what the target was
   * (a server, or a guest under qemu with its accelerator) and the limits it
   * ran under, so a result says which platform it measured. Absent otherwise.
   */
  testbedTarget?: ResultTestbedTarget;
  /** With --testbed: the client host that ran it (with --clients N, host i ran segment i). */
  testbed?: ResultTestbed;
}

export interface ResultTestbedTarget {
  name: string;
  kind: 'server' | 'vm';
  address: string;
  /** Server targets: worker processes or threads. */
  workers?: number;
  /** Its cgroup's cpuset and memory limit (null: not limited); absent when it ran in no cgroup. */
  limits?: { cpus: string | null; memoryBytes: number | null };
  /** A guest: qemu's accelerator (kvm only where a test guest ran under it; tcg otherwise) and why, its vCPUs and memory. */
  vm?: { accel: 'kvm' | 'tcg'; accelReason: string; cpus: number; memoryBytes: number; kernel: string | null };
}

export interface ResultTestbed {
  /** The client host's namespace: 'tsload-client', 'tsload-client-2'. */
  client: string;
  /** Its address on the testbed's link. */
  address: string;
  /** Which client host, from 1, of how many the testbed has. */
  index: number;
  clients: number;
}

export interface HttpResult extends ResultBase {
  protocol: 'http';
  /**
   * What the server speaks, as the probe's connection negotiated it: '2'
   * with --http2 and a server that chose h2 by ALPN (or took h2c prior
   * knowledge). Bytes over HTTP/2: tsload's own client counts the frames as
   * they are on the wire (inside TLS); undici's counts the HTTP/1.1 text of
   * the same requests and replies, which HPACK makes larger than the wire.
   * Absent in older results.
   */
  httpVersion?: '1.1' | '2';
  /** True when --http2 was asked for and the server offered only HTTP/1.1: the run measured HTTP/1.1. */
  http2Refused?: boolean;
  /** Requests in flight per HTTP/2 connection (--streams); absent over HTTP/1.1. */
  streams?: number;
  /** TLS as the probe negotiated it (https:// only). */
  tls?: { protocol: string; alpn: string | null; cipher: string; verified: boolean };
  /**
   * The request sent (with --urls, to each of them): the method, the user's
   * headers in order with the values of Authorization, Proxy-Authorization,
   * Cookie and every --secret-header as '[redacted]', and the body's size.
   * Absent in older results.
   */
  request?: { method: string; headers: [string, string][]; bodyBytes: number };
  steps: HttpStep[];
}

export interface DnsResult extends ResultBase {
  protocol: 'dns';
  steps: DnsStep[];
}

export type Result = HttpResult | DnsResult;
export type ProtocolOfResult = Result['protocol'];

/** How reports name each protocol's figures: one table, so no report branches on the protocol's name for words. */
export const WORDS: Record<ProtocolOfResult, { unit: string; shortUnit: 'req/s' | 'q/s'; replies: string; replyRate: string; timeouts: string }> = {
  http: { unit: 'req/s', shortUnit: 'req/s', replies: 'replies', replyRate: 'reply rate', timeouts: 'timeouts' },
  dns: { unit: 'queries/s', shortUnit: 'q/s', replies: 'answers', replyRate: 'response rate', timeouts: 'lost' },
};
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
