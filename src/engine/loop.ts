/**
 * One thread's open loop. Requests leave when the schedule says, whatever the
 * server does: a reply never triggers or delays a send, except that a reply is
 * a cheap moment to check the clock and send what is already due (timers only
 * have millisecond resolution; see REPLY_SENDS_AFTER_GAPS), and that once the
 * last reply is in the thread may sleep to the next send on a futex instead of
 * a timer (see BLOCK_MAX_MS). When the in-flight cap is reached the arrival is
 * dropped and counted, never queued.
 *
 * Per-request state lives in typed arrays indexed by token, so sending and
 * completing a request allocates nothing.
 */
// Imported: the global `performance` is a lazy getter, read again on every use.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Completion, Driver, DriverCounters } from './driver.js';
import { Failure } from './driver.js';
import { Recorder } from '../measure/histogram.js';
import type { Arrival, Schedule } from './schedule.js';
import { createSchedule } from './schedule.js';
import type { Share } from './segment.js';
import type { SecondReport, StepOrder, StepReport, WindowCounts } from './messages.js';
import { emptyCounts } from './merge.js';

const CODE_SLOTS = 4096;
/**
 * Timers have whole-millisecond resolution and fire up to ~2 ms late. Below
 * this rate per thread nothing else wakes the loop often enough, so while
 * requests are in flight it wakes a millisecond early and waits out the rest
 * on setImmediate: sub-millisecond send times for at most a fifth of a core.
 * With none in flight it sleeps instead (BLOCK_MAX_MS). Above this rate,
 * replies arrive often enough to check the clock between timers.
 */
const PRECISE_BELOW_RATE = 200;
/**
 * A reply sends what is due only once the oldest due request is this many
 * arrival gaps late (at most REPLY_SEND_MAX_LATE_MS); otherwise the timer
 * sends it. Sending at every reply made one-request writes, each answered on
 * its own and waking both sides once more. Measured side by side on this
 * project's VM against nginx, CPU per request: at 30k req/s about 19.5 → 9 µs
 * pipelined (32 × 8), and 19.5 → 17 µs with 64 plain connections (measured
 * with four gaps); at 10k pipelined (4 × 16) 15.6 → 14.2 µs. The price is
 * 0.1–0.25 ms more median schedule lag, which is reported and is part of the
 * latency from the intended send; --busy-poll (precise) does without it. Four
 * gaps cost more lag and saved no more CPU.
 */
const REPLY_SENDS_AFTER_GAPS = 2;
const REPLY_SEND_MAX_LATE_MS = 0.5;
/**
 * With nothing in flight no reply can arrive, so instead of a timer (which
 * cannot wait less than a millisecond and fires up to ~2 ms late) the thread
 * sleeps on a futex with a fractional timeout (Atomics.wait) until the next
 * send is due: sub-millisecond send times, one wakeup per send and no
 * spinning. Only for waits up to this long, ms, so a stop order or the
 * per-second report is held back at most this much; a longer wait arms a
 * timer this much early (TIMER_EARLY_MS) and sleeps the rest. While requests
 * are in flight the thread never blocks: a reply's arrival time is measured
 * when the event loop reads it.
 */
const BLOCK_MAX_MS = 3;
/**
 * The futex sleep is used up to this rate per thread. Above it a send on time
 * takes a wakeup of its own where a late timer sent several at once, so CPU
 * per request rises (see docs/bench.md), and replies, arriving often, already
 * give the loop its chances to send.
 */
const SLEEP_BELOW_RATE = 2000;
/**
 * A futex sleep ends this much after the oldest due send at most: a whole
 * number of arrival gaps, so a wakeup sends several requests at once where
 * the gaps are short (as REPLY_SENDS_AFTER_GAPS does), and none is waited
 * for where a gap is longer than this.
 */
const BLOCK_SEND_MAX_LATE_MS = 0.5;
/** How early a timer is armed before a send it hands over to a futex sleep; timers fire up to ~2 ms late. */
const TIMER_EARLY_MS = 2.5;
/**
 * Longest one pump sends without a break, ms. A generator that has fallen
 * behind would otherwise send until it caught up, never reading a reply:
 * they would overflow the socket buffers and read as the server's loss. After
 * a slice it lets the event loop read what has arrived (setImmediate), then
 * goes on. Pumps on schedule are far shorter (20k/s is 20 sends a millisecond).
 */
const PUMP_SLICE_MS = 1;
/**
 * How long after the window closes the generator still sends the window's
 * overdue slots, late (their latency counts from the intended time). A stall
 * of a few ms across the end (GC, the VM taking the core) must not turn them
 * into drops; a generator further behind than this is overloaded, and what it
 * has not sent by then is dropped and counted.
 */
const LATE_SENDS_AFTER_WINDOW_MS = 100;
/** After a stop, how long to wait for replies before reporting what is left as in flight. */
const STOP_DRAIN_MS = 1000;
/** Never notified: Atomics.wait on it is a plain sleep with a fractional timeout. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

export interface LoopConfig {
  /** The arrivals of the whole schedule this loop sends (see segment.ts). */
  share: Share;
  arrival: Arrival;
  /** The run's seed: every share of a step draws from the same stream. */
  seed: number;
  maxInflight: number;
  /** Always wait out the last millisecond before a send on setImmediate (see PRECISE_BELOW_RATE). */
  busyPoll: boolean;
  /** Called when a second of the measured window closes. */
  onSecond: (report: SecondReport) => void;
}

function copyCounts(c: WindowCounts): WindowCounts {
  return { ...c, failures: [...c.failures] };
}

function resetCounts(c: WindowCounts): void {
  c.sent = c.sentInWindow = c.completed = c.repliesInWindow = c.timeouts = c.dropped = c.droppedBehind = c.notSent = 0;
  c.failures.fill(0);
}

export class OpenLoop implements Completion {
  private driver: Driver | undefined;
  private readonly intended: Float64Array;
  /** When the engine handed a request to the driver. */
  private readonly handedAt: Float64Array;
  /** When the driver wrote it (Completion.written); NaN until then. */
  private readonly writtenAt: Float64Array;
  /** Tag of the measured window a request was sent in; 0 for warmup sends. */
  private readonly windowTag: Int32Array;
  private readonly freeTokens: Int32Array;
  private freeCount: number;
  private inflight = 0;
  private inflightMeasured = 0;

  private tag = 0;
  private stepIndex = -1;
  private schedule: Schedule | undefined;
  private nextDue = Infinity;
  private windowStartMs = 0;
  private windowEndMs = 0;
  private drainMs = 0;
  private sending = false;
  private draining = false;
  private pumping = false;
  /**
   * The last pump ran out of its slice. Until one catches up, sends resume
   * only after the event loop has read what arrived (setImmediate), not from
   * each reply: a send burst per reply would starve the reads, and answers
   * would pile up in the socket buffers until the kernel dropped them as the
   * server's loss. Behind, the shortfall shows as schedule lag, where it belongs.
   */
  private catchingUp = false;
  private sendTimer: NodeJS.Timeout | undefined;
  private sendImmediate: NodeJS.Immediate | undefined;
  /** Wake a millisecond early and wait out the rest on setImmediate (see PRECISE_BELOW_RATE). */
  private precise = false;
  /** How late the oldest due request must be before a reply sends it (see REPLY_SENDS_AFTER_GAPS). */
  private replySendLateMs = 0;
  /** How late the oldest due request is when a futex sleep ends (see BLOCK_SEND_MAX_LATE_MS). */
  private blockLateMs = 0;
  /** The thread may sleep to the next send on a futex (see BLOCK_MAX_MS, SLEEP_BELOW_RATE). */
  private sleepToSend = false;
  /** The armed send timer wakes TIMER_EARLY_MS before the send, for a futex sleep (see BLOCK_MAX_MS). */
  private timerEarly = false;
  /** Time this window spent asleep in Atomics.wait, ms: idle, though the event loop counts it as busy. */
  private blockedMs = 0;
  private secondTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private windowStartTimer: NodeJS.Timeout | undefined;
  /** This thread's event-loop use when the window opened; undefined until then. */
  private loopUseAtWindowStart: EventLoopUtilization | undefined;
  /** Share of the window this thread's event loop was busy (see StepReport.busy). */
  private busy: number | null = null;
  private second = 0;
  private finish: ((report: StepReport) => void) | undefined;
  private counterBase: DriverCounters = {};

  private readonly counts = emptyCounts();
  private readonly secondCounts = emptyCounts();
  private readonly codes = new Uint32Array(CODE_SLOTS);
  private readonly latency = new Recorder();
  private readonly serviceTime = new Recorder();
  private readonly scheduleLag = new Recorder();
  private readonly queued = new Recorder();
  private readonly secondLatency = new Recorder();
  private readonly secondService = new Recorder();

  constructor(private readonly config: LoopConfig) {
    const n = config.maxInflight;
    this.intended = new Float64Array(n);
    this.handedAt = new Float64Array(n);
    this.writtenAt = new Float64Array(n);
    this.windowTag = new Int32Array(n);
    this.freeTokens = new Int32Array(n);
    for (let i = 0; i < n; i++) this.freeTokens[i] = n - 1 - i;
    this.freeCount = n;
  }

  attach(driver: Driver): void {
    this.driver = driver;
  }

  /** Run one step; resolves once its replies are in or the drain time is up. */
  runStep(order: StepOrder): Promise<StepReport> {
    const { share } = this.config;
    const startMs = order.startAtEpochMs - performance.timeOrigin;
    this.tag++;
    this.stepIndex = order.index;
    this.windowStartMs = startMs + order.warmupMs;
    this.windowEndMs = this.windowStartMs + order.durationMs;
    this.drainMs = order.drainMs;
    this.inflightMeasured = 0;
    resetCounts(this.counts);
    resetCounts(this.secondCounts);
    this.codes.fill(0);
    this.latency.reset();
    this.serviceTime.reset();
    this.scheduleLag.reset();
    this.queued.reset();
    this.secondLatency.reset();
    this.secondService.reset();
    this.second = 0;
    this.counterBase = { ...this.driver?.counters() };
    // Reasons belong to the step they happened in: what came before is another's.
    this.driver?.takeFailureReasons?.();
    this.schedule = createSchedule({
      rate: order.rate,
      startMs,
      arrival: this.config.arrival,
      seed: (this.config.seed + order.index * 104729) >>> 0,
      share,
    });
    this.nextDue = this.schedule.peek();
    const rate = share.rate(order.rate);
    this.precise = this.config.busyPoll || rate <= PRECISE_BELOW_RATE;
    this.replySendLateMs = this.precise ? 0 : Math.min(REPLY_SEND_MAX_LATE_MS, (REPLY_SENDS_AFTER_GAPS * 1000) / rate);
    const gapMs = 1000 / rate;
    this.blockLateMs = this.precise ? 0 : Math.floor(BLOCK_SEND_MAX_LATE_MS / gapMs) * gapMs;
    this.sleepToSend = !this.config.busyPoll && rate <= SLEEP_BELOW_RATE;
    this.sending = true;
    this.draining = false;
    this.catchingUp = false;
    this.loopUseAtWindowStart = undefined;
    this.busy = null;
    this.blockedMs = 0;
    return new Promise((resolve) => {
      this.finish = resolve;
      this.armSendTimer();
      this.windowStartTimer = setTimeout(this.onWindowStart, this.windowStartMs - performance.now());
      this.secondTimer = setTimeout(this.onSecondTimer, this.windowStartMs + 1000 - performance.now());
    });
  }

  /** End the current step now: close the window, stop sending, wait briefly for replies. */
  stop(): void {
    if (!this.sending && !this.draining) return;
    const t = performance.now();
    if (this.sending) {
      this.windowEndMs = Math.max(this.windowStartMs, Math.min(this.windowEndMs, t));
      this.drainMs = Math.min(this.drainMs, STOP_DRAIN_MS);
      this.endSending(t);
    } else if (this.draining) {
      clearTimeout(this.drainTimer);
      this.drainTimer = setTimeout(this.finishStep, Math.min(STOP_DRAIN_MS, this.windowEndMs + this.drainMs - t));
    }
  }

  written(token: number): void {
    const t = performance.now();
    const first = Number.isNaN(this.writtenAt[token]!);
    // Service time runs from the latest write (a request given back by a dead connection is written again).
    this.writtenAt[token] = t;
    if (!first) return;
    if (t >= this.windowStartMs && t < this.windowEndMs && this.tag > 0) this.counts.sentInWindow++;
    if (this.windowTag[token] === this.tag) {
      this.counts.sent++;
      this.secondCounts.sent++;
      this.queued.recordMs(t - this.handedAt[token]!);
    }
  }

  done(token: number, code: number): void {
    const t = performance.now();
    const counts = this.counts;
    if (this.windowTag[token] === this.tag) {
      this.inflightMeasured--;
      const wroteAt = this.writtenAt[token]!;
      if (!Number.isNaN(wroteAt)) this.countOutcome(token, code, t, wroteAt);
      else if (code === Failure.timeout) {
        // It waited inside tsload (for a connection) until its deadline: not sent, and not the server's timeout.
        counts.notSent++;
        this.secondCounts.notSent++;
      } else {
        // Its connection failed before it could take the request (refused, reset): the attempt was made.
        counts.sent++;
        this.secondCounts.sent++;
        this.countOutcome(token, code, t, this.handedAt[token]!);
      }
    }
    if (code >= 0 && t >= this.windowStartMs && t < this.windowEndMs && this.tag > 0) {
      counts.repliesInWindow++;
      this.secondCounts.completed++;
      this.secondCounts.repliesInWindow++;
    }
    this.windowTag[token] = 0;
    this.freeTokens[this.freeCount++] = token;
    this.inflight--;
    if (this.draining) {
      if (this.inflight === 0) this.finishStep();
    } else if (this.sending && !this.pumping && !this.catchingUp) {
      if (this.nextDue <= t - this.replySendLateMs) this.pump();
      // The last reply in: the next send can be slept to exactly (see BLOCK_MAX_MS).
      else if (this.inflight === 0 && this.sleepToSend) this.armSendTimer();
    }
  }

  /** Count the outcome of a measured request that was written at `wroteAt`. */
  private countOutcome(token: number, code: number, t: number, wroteAt: number): void {
    const counts = this.counts;
    if (code >= 0) {
      counts.completed++;
      this.codes[code < CODE_SLOTS ? code : CODE_SLOTS - 1]!++;
      const fromIntended = t - this.intended[token]!;
      this.latency.recordMs(fromIntended);
      this.serviceTime.recordMs(t - wroteAt);
      // Every measured reply goes into a second (after the window closes, into
      // its last, flushed when the step ends), so the seconds' histograms add
      // up to the step's exactly: what --hlog's readers and merge rely on.
      this.secondLatency.recordMs(fromIntended);
      this.secondService.recordMs(t - wroteAt);
    } else if (code === Failure.timeout) {
      counts.timeouts++;
      this.secondCounts.timeouts++;
    } else {
      counts.failures[-code - 1]!++;
      this.secondCounts.failures[-code - 1]!++;
    }
  }

  private readonly onSendTimer = (): void => {
    this.sendTimer = undefined;
    this.timerEarly = false;
    this.pump();
  };

  private pump(): void {
    if (!this.sending || this.pumping) return;
    this.pumping = true;
    const driver = this.driver!;
    const schedule = this.schedule!;
    const counts = this.counts;
    let t = performance.now();
    const sliceEnd = t + PUMP_SLICE_MS;
    let sliced = false;
    while (this.nextDue <= t) {
      if (t > sliceEnd) {
        sliced = true;
        break;
      }
      const due = schedule.next();
      this.nextDue = schedule.peek();
      if (due >= this.windowEndMs) {
        this.nextDue = Infinity;
        break;
      }
      const measured = due >= this.windowStartMs;
      if (this.freeCount === 0) {
        if (measured) {
          counts.dropped++;
          this.secondCounts.dropped++;
        }
        continue;
      }
      const token = this.freeTokens[--this.freeCount]!;
      this.intended[token] = due;
      this.handedAt[token] = t;
      this.writtenAt[token] = Number.NaN;
      if (measured) {
        this.windowTag[token] = this.tag;
        this.inflightMeasured++;
        this.scheduleLag.recordMs(t - due);
      }
      this.inflight++;
      driver.send(token);
      t = performance.now();
    }
    this.pumping = false;
    this.catchingUp = sliced;
    if (this.nextDue === Infinity || t >= this.windowEndMs + (sliced ? LATE_SENDS_AFTER_WINDOW_MS : 0)) this.endSending(t);
    else if (sliced) this.sendImmediate ??= setImmediate(this.onSendImmediate);
    else this.armSendTimer();
  }

  private armSendTimer(): void {
    if (this.sendImmediate !== undefined) return;
    let t = performance.now();
    const canBlock = this.inflight === 0 && this.sleepToSend;
    const wake = Math.min(this.nextDue + (canBlock ? this.blockLateMs : 0), this.windowEndMs);
    const delay = wake - t;
    if (canBlock && delay <= BLOCK_MAX_MS) {
      clearTimeout(this.sendTimer);
      this.sendTimer = undefined;
      this.timerEarly = false;
      if (delay > 0) {
        // Atomics.wait may return a little before its timeout.
        const from = t;
        while (t < wake) {
          Atomics.wait(sleeper, 0, 0, wake - t);
          t = performance.now();
        }
        if (this.loopUseAtWindowStart !== undefined) this.blockedMs += t - from;
      }
      this.pump();
      return;
    }
    // The schedule only moves forward, so an armed timer is never later than
    // needed, unless it was armed while replies were due and is not early.
    if (this.sendTimer !== undefined) {
      if (!canBlock || this.timerEarly) return;
      clearTimeout(this.sendTimer);
    }
    if (this.precise && !canBlock && delay < 1) {
      this.sendTimer = undefined;
      this.sendImmediate = setImmediate(this.onSendImmediate);
      return;
    }
    this.timerEarly = canBlock;
    this.sendTimer = setTimeout(this.onSendTimer, Math.max(0, canBlock ? delay - TIMER_EARLY_MS : this.precise ? delay - 1 : delay));
  }

  private readonly onSendImmediate = (): void => {
    this.sendImmediate = undefined;
    this.pump();
  };

  private endSending(t: number): void {
    if (!this.sending) return;
    // Slots of the window the generator fell too far behind to send: dropped, not forgotten.
    const schedule = this.schedule!;
    while (this.nextDue < this.windowEndMs) {
      if (schedule.next() >= this.windowStartMs) {
        this.counts.dropped++;
        this.counts.droppedBehind++;
      }
      this.nextDue = schedule.peek();
    }
    this.sending = false;
    this.draining = true;
    this.nextDue = Infinity;
    clearTimeout(this.windowStartTimer);
    // A loop that spins on purpose is always busy, so the figure would say nothing.
    if (this.loopUseAtWindowStart !== undefined && !this.precise) {
      const use = performance.eventLoopUtilization(this.loopUseAtWindowStart);
      this.busy = Math.max(0, use.active - this.blockedMs) / (use.idle + use.active);
    }
    clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
    clearImmediate(this.sendImmediate);
    this.sendImmediate = undefined;
    if (this.inflight === 0) {
      this.finishStep();
      return;
    }
    this.drainTimer = setTimeout(this.finishStep, Math.max(0, this.windowEndMs + this.drainMs - t));
  }

  private readonly onWindowStart = (): void => {
    this.loopUseAtWindowStart = performance.eventLoopUtilization();
  };

  private readonly onSecondTimer = (): void => {
    // The window's last second is flushed when the step ends, so it also takes
    // the sends of its final slots that went out a little late, and their outcomes.
    if (this.windowStartMs + (this.second + 1) * 1000 >= this.windowEndMs) {
      this.secondTimer = undefined;
      return;
    }
    this.flushSecond();
    const next = this.windowStartMs + (this.second + 1) * 1000;
    if (next <= this.windowEndMs && (this.sending || this.draining)) {
      this.secondTimer = setTimeout(this.onSecondTimer, next - performance.now());
    } else {
      this.secondTimer = undefined;
    }
  };

  private flushSecond(): void {
    const c = this.secondCounts;
    this.config.onSecond({
      type: 'second',
      step: this.stepIndex,
      second: this.second,
      ...copyCounts(c),
      latency: this.secondLatency.encode(),
      serviceTime: this.secondService.encode(),
    });
    this.second++;
    resetCounts(c);
    this.secondLatency.reset();
    this.secondService.reset();
  }

  private readonly finishStep = (): void => {
    if (!this.draining) return;
    this.draining = false;
    clearTimeout(this.drainTimer);
    clearTimeout(this.secondTimer);
    this.secondTimer = undefined;
    const windowMs = Math.max(0, this.windowEndMs - this.windowStartMs);
    // The last, partial second of the window.
    if (this.second * 1000 < windowMs) this.flushSecond();
    const codes: Record<string, number> = {};
    for (let c = 0; c < CODE_SLOTS; c++) if (this.codes[c]! > 0) codes[String(c)] = this.codes[c]!;
    const counters: Record<string, number> = {};
    for (const [key, value] of Object.entries(this.driver?.counters() ?? {})) counters[key] = value - (this.counterBase[key] ?? 0);
    const c = this.counts;
    const reasons = this.driver?.takeFailureReasons?.() ?? [];
    const report: StepReport = {
      type: 'stepDone',
      step: this.stepIndex,
      windowMs,
      ...copyCounts(c),
      inflightAtEnd: this.inflightMeasured,
      codes,
      counters,
      ...(reasons.length === 0 ? {} : { failureReasons: reasons }),
      latency: this.latency.encode(),
      serviceTime: this.serviceTime.encode(),
      scheduleLag: this.scheduleLag.encode(),
      queued: this.queued.encode(),
      busy: this.busy,
    };
    // Replies to this step that arrive from now on are not counted in it.
    this.tag++;
    const finish = this.finish;
    this.finish = undefined;
    finish?.(report);
  };
}
