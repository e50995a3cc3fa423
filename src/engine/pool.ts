/**
 * The main thread's side of a run: starts the load threads (piscina), starts
 * each step at one absolute time in all of them, merges what they report, and
 * tells progress listeners once a second. Protocol-free: the driver is a
 * module URL and options handed to the threads.
 */
import { MessageChannel } from 'node:worker_threads';
import { addEncoded, createHistogram, percentileMs } from '../measure/histogram.js';
import type { ProgressEvent } from '../result.js';
import { workerEntry } from './module-file.js';
import type { MainToWorker, SecondReport, StepReport, WorkerPlan, WorkerToMain } from './messages.js';
import { mergeCounts, mergeSteps, type MergedStep } from './merge.js';
import { processShare } from './segment.js';
import { OptionsError } from '../errors.js';

export interface PlanStep {
  rate: number;
  warmupMs: number;
  durationMs: number;
}

export interface RunPlan extends WorkerPlan {
  drainMs: number;
  /**
   * Epoch ms at which step k starts: startAtEpochMs + k × slotMs (see
   * start.ts). Without it each step starts as soon as the last is merged.
   */
  startAtEpochMs?: number | undefined;
  slotMs?: number | undefined;
  /** Keep each second's histograms in the timeline (TimelinePoint.histograms). */
  secondHistograms?: boolean | undefined;
}

/**
 * What to run, one step at a time: a fixed list, or a sweep that decides its
 * next step from the last one (a failing step measured again, a bisection).
 */
export interface StepSource {
  /** The step to run next, given the step just run (undefined before the first); undefined ends the run. */
  next(previous: MergedStep | undefined): PlanStep | undefined;
  /** Steps still planned after the one running, for progress (an estimate while a sweep adapts). */
  later(): readonly PlanStep[];
}

/** A source that runs `steps` in order. */
export function stepList(steps: readonly PlanStep[]): StepSource {
  let index = 0;
  return { next: () => steps[index++], later: () => steps.slice(index) };
}

export interface RunHooks {
  signal?: AbortSignal | undefined;
  onProgress?: ((event: ProgressEvent) => void) | undefined;
  /** Called as each step finishes, with the merged step. */
  onStep?: ((step: MergedStep, index: number) => void) | undefined;
  /** A line for the user (stderr): a step that could not start at its slot. */
  onNotice?: ((line: string) => void) | undefined;
}

export interface PlanOutcome {
  steps: MergedStep[];
  aborted: boolean;
}

/** Lead time so every thread has the step order before its start time. */
const START_LEAD_MS = 50;

export async function runPlan(plan: RunPlan, source: StepSource, hooks: RunHooks = {}): Promise<PlanOutcome> {
  // Loaded by the first run, not by importing the library.
  const { Piscina } = await import('piscina');
  const threads = plan.threadCount;
  // A segment that cannot be shared out is the caller's mistake: say so before any thread starts.
  try {
    processShare(plan).split(threads);
  } catch (error) {
    if (error instanceof RangeError) throw new OptionsError([error.message]);
    throw error;
  }
  const pool = new Piscina({
    filename: workerEntry(),
    execArgv: [],
    minThreads: threads,
    maxThreads: threads,
    maxQueue: 0,
    concurrentTasksPerWorker: 1,
    atomics: 'disabled',
    idleTimeout: 1000,
  });
  const ports: import('node:worker_threads').MessagePort[] = [];
  const inbox = new Inbox(threads);
  let failure: unknown;
  const tasks = Array.from({ length: threads }, (_, threadIndex) => {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    port1.on('message', (m: WorkerToMain) => inbox.receive(m));
    const workerPlan: WorkerPlan = {
      driverModule: plan.driverModule,
      driverOptions: plan.driverOptions,
      segment: plan.segment,
      segmentSequence: plan.segmentSequence,
      threadCount: plan.threadCount,
      arrival: plan.arrival,
      seed: plan.seed,
      maxInflight: plan.maxInflight,
      timeoutMs: plan.timeoutMs,
      busyPoll: plan.busyPoll,
    };
    return pool.run({ plan: workerPlan, threadIndex, port: port2 }, { transferList: [port2] }).catch((error: unknown) => {
      failure ??= error;
      inbox.fail(error);
    });
  });
  const broadcast = (message: MainToWorker): void => {
    for (const port of ports) port.postMessage(message);
  };

  let aborted = hooks.signal?.aborted ?? false;
  const onAbort = (): void => {
    aborted = true;
    broadcast({ type: 'stop' });
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });

  const steps: MergedStep[] = [];
  try {
    await inbox.readyAll();
    let previous: MergedStep | undefined;
    for (let index = 0; !aborted; index++) {
      const step = source.next(previous);
      if (step === undefined) break;
      const startAtEpochMs = stepStart(plan, index, hooks.onNotice);
      const cpuStart = process.cpuUsage();
      const windowCpu = new WindowCpu(startAtEpochMs + step.warmupMs, startAtEpochMs + step.warmupMs + step.durationMs);
      const progress = startProgress(step, source.later(), index, startAtEpochMs, inbox, hooks.onProgress);
      inbox.beginStep(index);
      broadcast({ type: 'step', index, rate: step.rate, warmupMs: step.warmupMs, durationMs: step.durationMs, drainMs: plan.drainMs, startAtEpochMs });
      const reports = await inbox.stepReports();
      clearInterval(progress);
      const cpu = process.cpuUsage(cpuStart);
      const merged = mergeSteps({ ...step, windowStartEpochMs: startAtEpochMs + step.warmupMs, secondHistograms: plan.secondHistograms === true }, reports, inbox.seconds(), { userS: cpu.user / 1e6, systemS: cpu.system / 1e6 }, windowCpu.end());
      steps.push(merged);
      previous = merged;
      hooks.onStep?.(merged, index);
    }
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    broadcast({ type: 'end' });
    await Promise.all(tasks);
    for (const port of ports) port.close();
    await pool.destroy();
  }
  if (failure !== undefined && steps.length === 0) throw failure;
  return { steps, aborted };
}

/**
 * When step `index` starts, epoch ms: its slot with --start-at, unless that
 * is too close or past (then as soon as the threads can have the order, and
 * said: the generator is late by that much); else at once.
 */
function stepStart(plan: RunPlan, index: number, onNotice: RunHooks['onNotice']): number {
  const soonest = performance.timeOrigin + performance.now() + START_LEAD_MS;
  if (plan.startAtEpochMs === undefined) return soonest;
  const slot = plan.startAtEpochMs + index * (plan.slotMs ?? 0);
  if (slot >= soonest) return slot;
  onNotice?.(`tsload: step ${index + 1} starts ${Math.round(soonest - slot)} ms late: its slot was ${new Date(slot).toISOString()}`);
  return soonest;
}

/**
 * The process's CPU (all threads) over a step's measured window only: the
 * warmup absorbs one-time costs (JIT compilation, connection set-up) and the
 * drain is idle waiting, so this is what requests cost once running.
 */
class WindowCpu {
  private start: NodeJS.CpuUsage | undefined;
  private used: NodeJS.CpuUsage | undefined;
  private readonly timers: NodeJS.Timeout[];
  constructor(startEpochMs: number, endEpochMs: number) {
    const at = (epochMs: number): number => Math.max(0, epochMs - performance.timeOrigin - performance.now());
    this.timers = [
      setTimeout(() => (this.start = process.cpuUsage()), at(startEpochMs)),
      setTimeout(() => this.close(), at(endEpochMs)),
    ];
  }
  private close(): void {
    if (this.start !== undefined && this.used === undefined) this.used = process.cpuUsage(this.start);
  }
  /** Seconds used in the window; a step stopped early ends its window now, one stopped in its warmup has none. */
  end(): { userS: number; systemS: number } {
    for (const timer of this.timers) clearTimeout(timer);
    this.close();
    return { userS: (this.used?.user ?? 0) / 1e6, systemS: (this.used?.system ?? 0) / 1e6 };
  }
}

function startProgress(
  step: PlanStep,
  laterSteps: readonly PlanStep[],
  index: number,
  startAtEpochMs: number,
  inbox: Inbox,
  onProgress: RunHooks['onProgress'],
): NodeJS.Timeout | undefined {
  if (!onProgress) return undefined;
  const later = laterSteps.reduce((s, p) => s + p.warmupMs + p.durationMs, 0);
  const emit = (): void => {
    const elapsedMs = performance.timeOrigin + performance.now() - startAtEpochMs - step.warmupMs;
    const seconds = inbox.seconds();
    const totals = mergeCounts(seconds);
    const last = seconds.length > 0 ? mergeCounts(seconds.filter((s) => s.second === seconds[seconds.length - 1]!.second)) : undefined;
    onProgress({
      stepIndex: index,
      stepCount: index + 1 + laterSteps.length,
      targetRate: step.rate,
      phase: elapsedMs < 0 ? 'warmup' : elapsedMs < step.durationMs ? 'measure' : 'drain',
      elapsedS: elapsedMs / 1000,
      stepDurationS: step.durationMs / 1000,
      sent: totals.sent,
      completed: totals.completed,
      errors: totals.failures.reduce((a, b) => a + b, 0),
      timeouts: totals.timeouts,
      dropped: totals.dropped,
      sendRate: last?.sent ?? 0,
      p99Ms: inbox.p99Ms(),
      remainingS: Math.max(0, (step.durationMs - Math.max(elapsedMs, -step.warmupMs)) / 1000) + later / 1000,
    });
  };
  emit();
  return setInterval(emit, 1000);
}

/** Collects what the threads send and lets the main thread wait for all of them. */
class Inbox {
  private ready = 0;
  private reports: StepReport[] = [];
  private secondReports: SecondReport[] = [];
  /** The step's latency so far, merged as each second arrives, so progress costs the same in the last second as in the first. */
  private latencySoFar = createHistogram();
  private step = -1;
  private wake: (() => void) | undefined;
  private error: unknown;

  constructor(private readonly threads: number) {}

  receive(message: WorkerToMain): void {
    if (message.type === 'ready') this.ready++;
    else if (message.type === 'second' && message.step === this.step) {
      this.secondReports.push(message);
      addEncoded(this.latencySoFar, message.latency);
    }
    else if (message.type === 'stepDone' && message.step === this.step) this.reports.push(message);
    this.wake?.();
  }

  fail(error: unknown): void {
    this.error = error;
    this.wake?.();
  }

  beginStep(step: number): void {
    this.step = step;
    this.reports = [];
    this.secondReports = [];
    this.latencySoFar.reset();
  }

  seconds(): SecondReport[] {
    return this.secondReports;
  }

  p99Ms(): number {
    return percentileMs(this.latencySoFar, 99);
  }

  readyAll(): Promise<void> {
    return this.until(() => this.ready === this.threads);
  }

  async stepReports(): Promise<StepReport[]> {
    await this.until(() => this.reports.length === this.threads);
    return this.reports;
  }

  private async until(condition: () => boolean): Promise<void> {
    while (!condition()) {
      if (this.error !== undefined) throw this.error;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    if (this.error !== undefined) throw this.error;
  }
}
