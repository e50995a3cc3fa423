/** Sums what the threads report for a step into one protocol-free step. */
import { FAILURE_CLASSES, Failure, MAX_FAILURE_REASONS } from './driver.js';
import { encodeHistogram, mergeEncoded, statsOf } from '../measure/histogram.js';
import type { ErrorClass, ErrorCounts, StepBase, TimelinePoint } from '../result.js';
import type { SecondReport, StepReport, WindowCounts } from './messages.js';

/** A step as the engine knows it: the shared fields, plus reply codes and driver counters for the protocol to map. */
export interface MergedStep extends Omit<StepBase, 'bytesSent' | 'bytesReceived'> {
  codes: Record<string, number>;
  counters: Record<string, number>;
}

/** Failure class names by index -code - 1 (index 0 is the timeout, counted apart). */
const FAILURE_NAMES: Record<number, ErrorClass> = {
  [-Failure.connrefused - 1]: 'connrefused',
  [-Failure.connreset - 1]: 'connreset',
  [-Failure.addrunavail - 1]: 'addrunavail',
  [-Failure.fdUnavail - 1]: 'fd-unavail',
  [-Failure.ftabFull - 1]: 'ftab-full',
  [-Failure.socketTimo - 1]: 'socket-timo',
  [-Failure.other - 1]: 'other',
  [-Failure.protocol - 1]: 'protocol',
};

/** Counts of nothing yet: what a window starts from, and what a merge adds to. */
export function emptyCounts(): WindowCounts {
  return {
    sent: 0,
    sentInWindow: 0,
    completed: 0,
    repliesInWindow: 0,
    timeouts: 0,
    failures: new Array<number>(FAILURE_CLASSES).fill(0),
    dropped: 0,
    droppedBehind: 0,
    notSent: 0,
  };
}

export function mergeCounts(parts: readonly WindowCounts[]): WindowCounts {
  const sum = emptyCounts();
  for (const p of parts) {
    sum.sent += p.sent;
    sum.sentInWindow += p.sentInWindow;
    sum.completed += p.completed;
    sum.repliesInWindow += p.repliesInWindow;
    sum.timeouts += p.timeouts;
    sum.dropped += p.dropped;
    sum.droppedBehind += p.droppedBehind;
    sum.notSent += p.notSent;
    for (let i = 0; i < FAILURE_CLASSES; i++) sum.failures[i]! += p.failures[i] ?? 0;
  }
  return sum;
}

export function errorCounts(failures: readonly number[]): ErrorCounts {
  const errors: ErrorCounts = { total: 0, connrefused: 0, connreset: 0, addrunavail: 0, 'fd-unavail': 0, 'ftab-full': 0, 'socket-timo': 0, other: 0, protocol: 0 };
  for (const [index, name] of Object.entries(FAILURE_NAMES)) {
    const n = failures[Number(index)] ?? 0;
    errors[name] = (errors[name] ?? 0) + n;
    errors.total += n;
  }
  return errors;
}

function sumRecords(records: readonly Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) sum[k] = (sum[k] ?? 0) + v;
  return sum;
}

/** With `histograms`, each point keeps its second's encoded histograms (for --hlog and for merging results of many generators). */
export function timeline(seconds: readonly SecondReport[], histograms = false): TimelinePoint[] {
  const bySecond = new Map<number, SecondReport[]>();
  for (const s of seconds) bySecond.set(s.second, [...(bySecond.get(s.second) ?? []), s]);
  return [...bySecond.keys()]
    .sort((a, b) => a - b)
    .map((second) => {
      const parts = bySecond.get(second)!;
      const c = mergeCounts(parts);
      const latency = mergeEncoded(parts.map((p) => p.latency));
      const stats = statsOf(latency);
      return {
        tS: second,
        sent: c.sent,
        completed: c.completed,
        errors: c.failures.reduce((a, b) => a + b, 0),
        timeouts: c.timeouts,
        dropped: c.dropped,
        notSent: c.notSent,
        p50Ms: stats.p50,
        p99Ms: stats.p99,
        maxMs: stats.max,
        ...(histograms ? { histograms: { latency: encodeHistogram(latency), serviceTime: encodeHistogram(mergeEncoded(parts.map((p) => p.serviceTime ?? ''))) } } : {}),
      };
    });
}

/** The busiest thread's share of the window (one saturated thread is enough to skew the step); null if not measured. */
function busiestThread(reports: readonly StepReport[]): number | null {
  let busiest: number | null = null;
  for (const r of reports) {
    if (r.busy === null) return null;
    busiest = Math.max(busiest ?? 0, Math.round(r.busy * 1000) / 1000);
  }
  return busiest;
}

function roundedCpu(cpu: { userS: number; systemS: number }): { userS: number; systemS: number } {
  return { userS: Math.round(cpu.userS * 1e4) / 1e4, systemS: Math.round(cpu.systemS * 1e4) / 1e4 };
}

export function mergeSteps(
  plan: { rate: number; warmupMs: number; durationMs: number; windowStartEpochMs?: number; secondHistograms?: boolean },
  reports: readonly StepReport[],
  seconds: readonly SecondReport[],
  cpu: { userS: number; systemS: number },
  cpuWindow: { userS: number; systemS: number },
): MergedStep {
  const c = mergeCounts(reports);
  // Threads share one start time, so their windows match; the longest is the step's.
  const windowMs = Math.max(0, ...reports.map((r) => r.windowMs));
  const durationS = windowMs / 1000;
  const latency = mergeEncoded(reports.map((r) => r.latency));
  const serviceTime = mergeEncoded(reports.map((r) => r.serviceTime));
  const scheduleLag = mergeEncoded(reports.map((r) => r.scheduleLag));
  const queued = mergeEncoded(reports.map((r) => r.queued));
  const perSecond = (n: number) => (durationS > 0 ? Math.round((n / durationS) * 100) / 100 : 0);
  return {
    targetRate: plan.rate,
    durationS,
    warmupS: plan.warmupMs / 1000,
    ...(plan.windowStartEpochMs === undefined ? {} : { window: { startMs: Math.round(plan.windowStartEpochMs), endMs: Math.round(plan.windowStartEpochMs + windowMs) } }),
    sent: c.sent,
    completed: c.completed,
    sendRate: perSecond(c.sentInWindow),
    replyRate: perSecond(c.repliesInWindow),
    errors: errorCounts(c.failures),
    timeouts: c.timeouts,
    dropped: c.dropped,
    droppedBehind: c.droppedBehind,
    notSent: c.notSent,
    inflightAtEnd: reports.reduce((s, r) => s + r.inflightAtEnd, 0),
    cpu: roundedCpu(cpu),
    cpuWindow: roundedCpu(cpuWindow),
    generatorBusy: busiestThread(reports),
    latencyMs: statsOf(latency),
    serviceTimeMs: statsOf(serviceTime),
    scheduleLagMs: statsOf(scheduleLag),
    queuedMs: statsOf(queued),
    histograms: {
      latency: encodeHistogram(latency),
      serviceTime: encodeHistogram(serviceTime),
      scheduleLag: encodeHistogram(scheduleLag),
      queued: encodeHistogram(queued),
    },
    timeline: timeline(seconds, plan.secondHistograms === true),
    codes: sumRecords(reports.map((r) => r.codes)),
    counters: sumRecords(reports.map((r) => r.counters)),
    ...withReasons(reports.flatMap((r) => r.failureReasons ?? [])),
  };
}

/** The threads' reasons, distinct, the first MAX_FAILURE_REASONS; absent when there are none. */
export function withReasons(reasons: readonly string[]): { failureReasons?: string[] } {
  const distinct = [...new Set(reasons)].slice(0, MAX_FAILURE_REASONS);
  return distinct.length === 0 ? {} : { failureReasons: distinct };
}
