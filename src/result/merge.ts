/**
 * One result from the results of a run's generators, exactly as one
 * generator would have written it: counts and bytes added, HDR histograms
 * added (never percentiles averaged) and their statistics computed from the
 * sums, each second summed with the same wall-clock second of the others,
 * saturation found again from the summed steps with the run's criteria.
 *
 * Parts must be one run: the same protocol, target, plan (rates, durations,
 * timeout, arrival, seed) and criteria, and segments whose union is exactly
 * (0, 1], none overlapping. Anything else is refused (MergeError, exit 2):
 * a sum of different runs is a number that was never measured.
 *
 * What a merge cannot add up it keeps per generator (`generators`): each
 * one's segment, host, start and generatorLimits. The merged step's
 * generatorLimits are all of theirs, so saturation still says when tsload
 * was the limit on any machine.
 */
import { MergeError } from '../errors.js';
import { encodeHistogram, mergeEncoded, statsOf } from '../measure/histogram.js';
import { findSaturation, saturatedResource } from '../measure/saturation.js';
import { parseRatio, type Ratio } from '../engine/segment.js';
import { withReasons } from '../engine/merge.js';
import type { Result, ResultGenerator, ServerFigures, Step, StepBase, TimelinePoint } from '../result.js';

export interface MergeOptions {
  /** Warn when generators' windows start further apart than this, ms (default 5). */
  maxSkewMs?: number;
  /** Where warnings go (start skew, versions); the CLI prints them on stderr. */
  onWarning?: (line: string) => void;
}

/** Start skew, ms, above which a merge warns: beyond what NTP keeps a LAN's clocks to, and a send slot at 200/s. */
export const DEFAULT_MAX_SKEW_MS = 5;

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

interface Part {
  name: string;
  from: Ratio;
  to: Ratio;
  result: Result;
}

const compare = (a: Ratio, b: Ratio): number => a.n * b.d - b.n * a.d;
const show = (r: Ratio): string => (r.d === 1 ? String(r.n) : `${r.n}/${r.d}`);

/** Why `results` are not the parts of one run (none: []). `names` label them in messages (file names). */
export function mergeProblems(results: readonly Result[], names: readonly string[] = results.map((_, i) => `result ${i + 1}`)): string[] {
  const problems: string[] = [];
  if (results.length === 0) return ['no results to merge'];
  const first = results[0]!;
  const firstName = names[0]!;
  const differs = (what: string, get: (r: Result) => unknown): void => {
    results.forEach((r, i) => {
      if (i > 0 && !sameJson(get(r), get(first))) problems.push(`different ${what}: ${names[i]} has ${JSON.stringify(get(r))}, ${firstName} ${JSON.stringify(get(first))}`);
    });
  };
  results.forEach((r, i) => {
    if (r.plan === undefined) problems.push(`${names[i]} does not record its plan (written by a tsload before merge existed): run it again`);
    r.steps.forEach((s, k) => {
      if (s.window === undefined) problems.push(`${names[i]} step ${k + 1} does not record its window on the wall clock`);
      if (s.attempts !== undefined || s.refined === true) problems.push(`${names[i]} step ${k + 1} was measured again or added by --confirm/--refine: a generator's own sweep is not the run's`);
    });
  });
  differs('protocol', (r) => r.protocol);
  differs('target', (r) => r.target);
  differs('options', (r) => r.plan);
  differs('arrival', (r) => r.arrival);
  differs('saturation criteria', (r) => r.saturation.criteria);
  differs('HTTP version', (r) => (r.protocol === 'http' ? (r.httpVersion ?? null) : null));
  differs('HTTP/2 streams', (r) => (r.protocol === 'http' ? (r.streams ?? null) : null));
  differs('request', (r) => (r.protocol === 'http' ? (r.request ?? null) : null));
  differs('step count', (r) => r.steps.length);
  differs('step rates', (r) => r.steps.map((s) => s.runRate ?? s.targetRate));
  differs('segment sequence', (r) => r.segment?.sequence ?? null);
  if (problems.length > 0) return problems;
  problems.push(...segmentProblems(results, names));
  return problems;
}

function segmentProblems(results: readonly Result[], names: readonly string[]): string[] {
  const problems: string[] = [];
  const parts: Part[] = results.map((result, i) => ({
    name: names[i]!,
    from: parseRatio(result.segment?.from ?? '0'),
    to: parseRatio(result.segment?.to ?? '1'),
    result,
  }));
  parts.sort((a, b) => compare(a.from, b.from) || compare(a.to, b.to));
  let covered: Ratio = { n: 0, d: 1 };
  let last: Part | undefined;
  for (const part of parts) {
    const at = compare(part.from, covered);
    if (at < 0) problems.push(`overlapping segments: ${part.name} (${show(part.from)}:${show(part.to)}) and ${last!.name} (${show(last!.from)}:${show(last!.to)})`);
    else if (at > 0) problems.push(`missing segment ${show(covered)}:${show(part.from)}: no result covers it`);
    if (compare(part.to, covered) > 0) {
      covered = part.to;
      last = part;
    }
  }
  if (compare(covered, { n: 1, d: 1 }) < 0) problems.push(`missing segment ${show(covered)}:1: no result covers it`);
  return problems;
}

/** The results of one run's generators as one result. Throws MergeError when they are not one run. */
export function mergeResults(results: readonly Result[], options: MergeOptions = {}, names?: readonly string[]): Result {
  const problems = mergeProblems(results, names);
  if (problems.length > 0) throw new MergeError(problems);
  const labels = names ?? results.map((_, i) => `result ${i + 1}`);
  const order = results.map((r, i) => ({ r, name: labels[i]!, from: parseRatio(r.segment?.from ?? '0') })).sort((a, b) => compare(a.from, b.from));
  const parts = order.map((o) => o.r);
  const first = parts[0]!;
  const maxSkew = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const versions = [...new Set(parts.map((r) => r.tool.version))];
  if (versions.length > 1) options.onWarning?.(`tsload merge: the generators ran different tsload versions (${versions.join(', ')})`);

  const steps = first.steps.map((_, k) => {
    const stepParts = parts.map((r) => r.steps[k]!);
    const starts = stepParts.map((s) => s.window!.startMs);
    const skew = Math.max(...starts) - Math.min(...starts);
    if (skew > maxSkew) {
      const late = order[starts.indexOf(Math.max(...starts))]!.name;
      options.onWarning?.(`tsload merge: step ${k + 1}'s windows start ${skew} ms apart (${late} last), more than --max-skew ${maxSkew} ms: its seconds and rates mix what the generators did at different times`);
    }
    return mergeStep(stepParts);
  });
  const earliest = (k: number): number => Math.min(...parts.map((r) => r.steps[k]!.window!.startMs));
  const generators: ResultGenerator[] = parts.map((r) => ({
    segment: r.segment ?? null,
    host: r.host,
    threads: r.threads,
    start: r.start ?? null,
    windowOffsetsMs: r.steps.map((s, k) => s.window!.startMs - earliest(k)),
    generatorLimits: r.steps.map((s) => s.generatorLimits ?? []),
    ...(r.testbed === undefined ? {} : { testbed: r.testbed }),
  }));
  const hostnames = [...new Set(parts.map((r) => r.host.hostname))];
  const criteria = first.saturation.criteria;
  const merged = {
    ...first,
    startedAt: parts.map((r) => r.startedAt).sort()[0]!,
    finishedAt: parts.map((r) => r.finishedAt).sort().at(-1)!,
    aborted: parts.some((r) => r.aborted),
    threads: parts.reduce((n, r) => n + r.threads, 0),
    host: { ...first.host, hostname: hostnames.join(','), cpus: parts.reduce((n, r) => n + r.host.cpus, 0) },
    saturation: saturationOf(steps, criteria),
    steps,
    generators,
  } as Result;
  delete (merged as { segment?: unknown }).segment;
  delete (merged as { start?: unknown }).start;
  // The first part's client host is not the merged run's: each generator's stays in `generators`.
  delete (merged as { testbed?: unknown }).testbed;
  return merged;
}

function saturationOf(steps: readonly Step[], criteria: Result['saturation']['criteria']): Result['saturation'] {
  const found = findSaturation(steps, criteria, { confirm: 0, refinePct: null });
  const failed = found.failedAt === null ? undefined : steps[found.failedAt];
  return { ...found, resource: saturatedResource(failed?.server) };
}

/** Step fields that are not plain sums. */
const SPECIAL = new Set([
  'targetRate', 'runRate', 'durationS', 'warmupS', 'window', 'sendRate', 'replyRate', 'generatorBusy', 'generatorLimits',
  'latencyMs', 'serviceTimeMs', 'scheduleLagMs', 'queuedMs', 'histograms', 'timeline', 'attempts', 'refined', 'server', 'failureReasons',
]);

/**
 * Every generator in the testbed read the same server over (nearly) the same
 * window: its CPU, memory and link are the whole run's once, not a share of
 * it, so they are never added. The first part's reading stands for all (the
 * windows differ by the start skew, which the merge warns about), with CPU
 * per request over every generator's replies. Parts that read different
 * servers, or not all of them one, leave the merged step without figures.
 */
function mergeServer(parts: readonly Step[], replies: number): ServerFigures | undefined {
  const figures = parts.map((s) => s.server);
  const first = figures[0];
  if (first === undefined || figures.some((f) => f === undefined || f.target !== first.target)) return undefined;
  return { ...first, cpuPerRequestUs: replies > 0 ? (first.cpuS * 1e6) / replies : null };
}

/** Means, weighted by a count beside them in the same object. */
const MEANS: Record<string, string> = {
  avgRequestBytes: 'sent',
  avgReplyBytes: 'completed',
  avgResponseBytes: 'completed',
  handshakeMeanMs: 'handshakes',
  tlsHandshakeMeanMs: 'tlsHandshakes',
};

/** Numbers added, means weighted, flags and strings kept when all agree (else the first), nested objects likewise. */
function sumObjects(objects: readonly Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = [...new Set(objects.flatMap((o) => Object.keys(o)))];
  for (const key of keys) {
    if (SPECIAL.has(key)) continue;
    const values = objects.map((o) => o[key]);
    const present = values.filter((v) => v !== undefined);
    if (key in MEANS) {
      const weights = objects.map((o) => Number(o[MEANS[key]!] ?? 0));
      const total = weights.reduce((a, b) => a + b, 0);
      if (present.some((v) => v === null)) out[key] = null;
      else out[key] = total === 0 ? 0 : Math.round((values.reduce<number>((s, v, i) => s + Number(v ?? 0) * weights[i]!, 0) / total) * 1000) / 1000;
    } else if (present.some((v) => v === null)) out[key] = null;
    else if (present.every((v) => typeof v === 'number')) out[key] = present.reduce<number>((s, v) => s + (v as number), 0);
    else if (present.every((v) => typeof v === 'object' && !Array.isArray(v))) out[key] = sumObjects(present as Record<string, unknown>[]);
    else out[key] = present[0];
  }
  return out;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

function mergeStep(parts: readonly Step[]): Step {
  const first = parts[0]!;
  const sum = (get: (s: Step) => string | undefined): string | undefined =>
    parts.every((s) => get(s) !== undefined) ? encodeHistogram(mergeEncoded(parts.map((s) => get(s)!))) : undefined;
  const histograms = {
    latency: sum((s) => s.histograms.latency)!,
    serviceTime: sum((s) => s.histograms.serviceTime)!,
    scheduleLag: sum((s) => s.histograms.scheduleLag)!,
    ...(parts.every((s) => s.histograms.queued !== undefined) ? { queued: sum((s) => s.histograms.queued)! } : {}),
  };
  const startMs = Math.min(...parts.map((s) => s.window!.startMs));
  const durationS = Math.max(...parts.map((s) => s.durationS));
  const busy = parts.map((s) => s.generatorBusy);
  const statsFrom = (encoded: string) => statsOf(mergeEncoded([encoded]));
  const step: StepBase = {
    ...(sumObjects(parts as unknown as Record<string, unknown>[]) as unknown as StepBase),
    targetRate: first.runRate ?? first.targetRate,
    durationS,
    warmupS: first.warmupS,
    window: { startMs, endMs: Math.round(startMs + durationS * 1000) },
    sendRate: round2(parts.reduce((s, p) => s + p.sendRate, 0)),
    replyRate: round2(parts.reduce((s, p) => s + p.replyRate, 0)),
    ...(busy.some((b) => b === undefined) ? {} : { generatorBusy: busy.some((b) => b === null) ? null : Math.max(...(busy as number[])) }),
    generatorLimits: parts.flatMap((s) => s.generatorLimits ?? []),
    ...withReasons(parts.flatMap((s) => s.failureReasons ?? [])),
    latencyMs: statsFrom(histograms.latency),
    serviceTimeMs: statsFrom(histograms.serviceTime),
    scheduleLagMs: statsFrom(histograms.scheduleLag),
    ...(histograms.queued === undefined ? {} : { queuedMs: statsFrom(histograms.queued) }),
    histograms,
    timeline: mergeTimeline(parts, startMs),
  };
  const server = mergeServer(parts, Math.round(step.replyRate * durationS));
  return (server === undefined ? step : { ...step, server }) as Step;
}

/**
 * Each wall-clock second of the merged window sums that second of every
 * generator. Percentiles come from the summed per-second histograms; a part
 * without them (a result written without --hlog and not in segments) leaves
 * the merged second with the highest of the parts' p50/p99, an upper bound
 * (a union's percentile lies between its parts' lowest and highest), and no
 * histograms.
 */
function mergeTimeline(parts: readonly Step[], startMs: number): TimelinePoint[] {
  const bySecond = new Map<number, TimelinePoint[]>();
  for (const step of parts) {
    for (const point of step.timeline) {
      const second = Math.round((step.window!.startMs + point.tS * 1000 - startMs) / 1000);
      bySecond.set(second, [...(bySecond.get(second) ?? []), point]);
    }
  }
  return [...bySecond.keys()]
    .sort((a, b) => a - b)
    .map((tS) => {
      const points = bySecond.get(tS)!;
      const counts = sumObjects(points as unknown as Record<string, unknown>[]) as unknown as TimelinePoint;
      const withHistograms = points.every((p) => p.histograms !== undefined);
      if (withHistograms) {
        const latency = mergeEncoded(points.map((p) => p.histograms!.latency));
        const stats = statsOf(latency);
        const serviceTime = encodeHistogram(mergeEncoded(points.map((p) => p.histograms!.serviceTime)));
        return { ...counts, tS, p50Ms: stats.p50, p99Ms: stats.p99, maxMs: stats.max, histograms: { latency: encodeHistogram(latency), serviceTime } };
      }
      const highest = (get: (p: TimelinePoint) => number): number => Math.max(...points.map(get));
      return { ...counts, tS, p50Ms: highest((p) => p.p50Ms), p99Ms: highest((p) => p.p99Ms), maxMs: highest((p) => p.maxMs) };
    });
}
