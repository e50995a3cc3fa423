/**
 * The summary of an experiment across its repeats: per (workload, target) the
 * saturation rate and each planned step's figures as medians with
 * distribution-free intervals (measure/statistics.ts), and per workload every
 * pair of targets' saturation ratio with a bootstrap interval.
 *
 * Choices, since the results alone do not make them:
 * - A repeat's saturation is a number in every case, so that the median is
 *   over every repeat (leaving some out would bias it up): the rate found;
 *   the highest rate when every step passed (a floor: the sweep stopped short
 *   of saturation); the rate below the step where tsload itself was the
 *   limit (a floor, as the result says); 0 when no step passed (the server's
 *   capacity is below the lowest step, and 0 is the floor of that). Each kind
 *   is counted, and a summary with floors says so.
 * - Steps are matched across repeats by their planned target rate; steps
 *   --refine added are left out of the per-step table (each repeat bisects
 *   to different rates), though they count in the saturation rate.
 * - Latency of a step without a reply is not 0: such a repeat is left out of
 *   that step's latency (its n says how many were used).
 * - Targets are ordered best first: by median saturation, then by name.
 */
import { InputFileError } from '../errors.js';
import type { Result, StepBase } from '../result.js';
import { failureRatio } from '../measure/saturation.js';
import { DEFAULT_CONFIDENCE, bootstrapMedianRatio, medianInterval, type MedianInterval } from '../measure/statistics.js';
import type { ExperimentManifest, ManifestCell } from './manifest.js';

/** A results folder as read (read.ts's readExperiment): only what the summary uses, so any reader of the layout fits. */
export interface ExperimentInput {
  dir?: string;
  manifest: ExperimentManifest;
  cells: readonly SummaryCell[];
  missing: readonly ManifestCell[];
}

export const SUMMARY_SCHEMA = 'tsload-experiment-summary/1';

export interface SummaryOptions {
  /** Confidence asked of every interval (0.95). The order-statistic ones report what they reach. */
  confidence?: number;
  /** Bootstrap resamples for the ratios (10 000). */
  resamples?: number;
  /** Bootstrap seed (1): the same folder gives the same report. */
  seed?: number;
}

/** One cell with its result: what the summary needs of a results folder. */
export interface SummaryCell {
  cell: Pick<ManifestCell, 'target' | 'workload' | 'repeat'> & Partial<Pick<ManifestCell, 'id'>>;
  result: Result;
}

/** measured: the rate the criteria found; notReached: every step passed (a floor); generatorLimit: tsload was the limit (a floor); none: no step passed (0). */
export type SaturationKind = 'measured' | 'notReached' | 'generatorLimit' | 'none';

export interface RepeatSaturation {
  repeat: number;
  /** The result's own saturation rate (null when no step passed). */
  rate: number | null;
  /** What the median uses: the rate, or 0 when there is none. */
  value: number;
  kind: SaturationKind;
}

export interface SaturationSummary {
  estimate: MedianInterval;
  repeats: RepeatSaturation[];
  /** Repeats whose value is only a floor of the server's capacity (notReached + generatorLimit + none). */
  floors: number;
  /** Plain words about the floors; null when every repeat found its saturation point. */
  note: string | null;
}

/** Server-side figures of a step (optional `step.server`), as medians across repeats. */
export interface ServerSummary {
  cpuPerSecond: MedianInterval | null;
  cpuPerRequestUs: MedianInterval | null;
  rssBytesMax: MedianInterval | null;
  /** The busier direction of the testbed link, as a share of its shaped rate (1 = full); null where the link was not read. */
  linkShare: MedianInterval | null;
}

export interface StepSummary {
  targetRate: number;
  /** Repeats that measured this rate. */
  repeats: number;
  replyRate: MedianInterval;
  /** Latency from the intended send time; over the repeats with replies at this step (null when none had). */
  p50Ms: MedianInterval | null;
  p99Ms: MedianInterval | null;
  /** (errors + timeouts + dropped + not sent) / arrivals, 0..1. */
  errorRatio: MedianInterval;
  /** Present when some repeat's step carried server-side figures. */
  server?: ServerSummary;
}

export interface TargetSummary {
  target: string;
  workload: string;
  protocol: Result['protocol'];
  /** Where it was measured (URL or host:port of the first repeat). */
  endpoint: string;
  /** Repeats with a result. */
  repeats: number;
  /** Repeats the manifest planned for it (with a folder; else the same as repeats). */
  planned: number;
  criteria: Result['saturation']['criteria'];
  saturation: SaturationSummary;
  steps: StepSummary[];
}

export interface Comparison {
  workload: string;
  protocol: Result['protocol'];
  /** The better target (higher median saturation) … */
  a: string;
  /** … against this one. */
  b: string;
  /** median(a) / median(b); null when b's median is 0 (undefined ratio). */
  ratio: number | null;
  /** Bootstrap percentile interval; hi null when unbounded (resamples of b with median 0). */
  lo: number | null;
  hi: number | null;
  confidence: number;
  /** The interval holds 1: at this many repeats the two cannot be told apart. */
  overlapsOne: boolean;
  /** "nsd vs bind: saturation 2.1× (interval 1.9–2.3)". */
  text: string;
  notes: string[];
}

export interface WorkloadSummary {
  workload: string;
  protocol: Result['protocol'];
  /** Best first. */
  targets: TargetSummary[];
  /** Every pair of its targets, best pair first. */
  comparisons: Comparison[];
}

export interface ExperimentSummary {
  schema: typeof SUMMARY_SCHEMA;
  confidence: number;
  bootstrap: { resamples: number; seed: number };
  /** From the folder's manifest, when summarized from one. */
  source: { dir: string | null; planFile: string | null; createdAt: string | null; updatedAt: string | null };
  machine: ExperimentManifest['machine'] | null;
  versions: ExperimentManifest['versions'] | null;
  testbed: ExperimentManifest['testbed'] | null;
  workloads: WorkloadSummary[];
  /** Cells of the manifest without a result (failed, pending). */
  missing: Pick<ManifestCell, 'id' | 'target' | 'workload' | 'repeat' | 'status' | 'error'>[];
}

export function summarize(input: ExperimentInput | readonly SummaryCell[], options: SummaryOptions = {}): ExperimentSummary {
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  const resamples = options.resamples ?? 10_000;
  const seed = options.seed ?? 1;
  const read = isRead(input) ? input : null;
  const cells: readonly SummaryCell[] = read === null ? (input as readonly SummaryCell[]) : read.cells;
  const manifest = read?.manifest ?? null;

  // Workloads and targets in first-seen order (the manifest's run order), then targets ranked.
  const groups = new Map<string, Map<string, SummaryCell[]>>();
  for (const c of cells) {
    const byTarget = groups.get(c.cell.workload) ?? new Map<string, SummaryCell[]>();
    groups.set(c.cell.workload, byTarget);
    const list = byTarget.get(c.cell.target) ?? [];
    byTarget.set(c.cell.target, list);
    list.push(c);
  }
  const planned = (target: string, workload: string, fallback: number): number =>
    manifest === null ? fallback : manifest.cells.filter((m) => m.target === target && m.workload === workload).length;

  const workloads: WorkloadSummary[] = [];
  for (const [workload, byTarget] of groups) {
    const targets = [...byTarget].map(([target, list]) => targetSummary(target, workload, list, planned(target, workload, list.length), confidence));
    targets.sort((x, y) => y.saturation.estimate.median - x.saturation.estimate.median || (x.target < y.target ? -1 : x.target > y.target ? 1 : 0));
    const protocol = targets[0]!.protocol;
    const comparisons: Comparison[] = [];
    for (let i = 0; i < targets.length; i++) {
      for (let j = i + 1; j < targets.length; j++) comparisons.push(compare(targets[i]!, targets[j]!, { confidence, resamples, seed }));
    }
    workloads.push({ workload, protocol, targets, comparisons });
  }

  return {
    schema: SUMMARY_SCHEMA,
    confidence,
    bootstrap: { resamples, seed },
    source: {
      dir: read?.dir ?? null,
      planFile: manifest?.planFile ?? null,
      createdAt: manifest?.createdAt ?? null,
      updatedAt: manifest?.updatedAt ?? null,
    },
    machine: manifest?.machine ?? null,
    versions: manifest?.versions ?? null,
    testbed: manifest?.testbed ?? null,
    workloads,
    missing: (read?.missing ?? []).map((m) => ({ id: m.id, target: m.target, workload: m.workload, repeat: m.repeat, status: m.status, ...(m.error === undefined ? {} : { error: m.error }) })),
  };
}

function isRead(input: ExperimentInput | readonly SummaryCell[]): input is ExperimentInput {
  return !Array.isArray(input);
}

function targetSummary(target: string, workload: string, list: SummaryCell[], planned: number, confidence: number): TargetSummary {
  const sorted = [...list].sort((x, y) => x.cell.repeat - y.cell.repeat);
  const first = sorted[0]!.result;
  for (const c of sorted) {
    if (c.result.protocol !== first.protocol) {
      throw new InputFileError(c.cell.id ?? `${target}/${workload}`, undefined, `repeats of ${target}/${workload} are of different protocols (${first.protocol}, ${c.result.protocol})`);
    }
  }
  return {
    target,
    workload,
    protocol: first.protocol,
    endpoint: first.target,
    repeats: sorted.length,
    planned: Math.max(planned, sorted.length),
    criteria: first.saturation.criteria,
    saturation: saturationSummary(sorted, confidence),
    steps: stepSummaries(sorted, confidence),
  };
}

export function repeatSaturation(repeat: number, result: Result): RepeatSaturation {
  const s = result.saturation;
  const kind: SaturationKind = s.generatorLimit != null ? 'generatorLimit' : s.rate === null ? 'none' : s.failedCriterion === null ? 'notReached' : 'measured';
  return { repeat, rate: s.rate, value: s.rate ?? 0, kind };
}

function saturationSummary(list: readonly SummaryCell[], confidence: number): SaturationSummary {
  const repeats = list.map((c) => repeatSaturation(c.cell.repeat, c.result));
  const estimate = medianInterval(repeats.map((r) => r.value), confidence)!;
  const count = (kind: SaturationKind): number => repeats.filter((r) => r.kind === kind).length;
  const n = repeats.length;
  const parts: string[] = [];
  const notReached = count('notReached');
  const limited = count('generatorLimit');
  const none = count('none');
  if (notReached > 0) parts.push(`${notReached} of ${n} repeats passed every step (not saturated: the highest rate is a floor)`);
  if (limited > 0) parts.push(`${limited} of ${n} repeats were limited by tsload itself (the rate is a floor)`);
  if (none > 0) parts.push(`${none} of ${n} repeats passed no step (counted as 0)`);
  return { estimate, repeats, floors: notReached + limited + none, note: parts.length === 0 ? null : parts.join('; ') };
}

function stepSummaries(list: readonly SummaryCell[], confidence: number): StepSummary[] {
  const byRate = new Map<number, StepBase[]>();
  for (const c of list) {
    const seen = new Set<number>();
    const steps: readonly StepBase[] = c.result.steps;
    for (const step of steps) {
      // A repeat's first measurement of a rate is its planned step (a refined rate may repeat it).
      if (step.refined === true || seen.has(step.targetRate)) continue;
      seen.add(step.targetRate);
      const at = byRate.get(step.targetRate) ?? [];
      byRate.set(step.targetRate, at);
      at.push(step);
    }
  }
  return [...byRate.keys()]
    .sort((a, b) => a - b)
    .map((rate) => {
      const steps = byRate.get(rate)!;
      const replied = steps.filter((s) => s.latencyMs.count > 0);
      const summary: StepSummary = {
        targetRate: rate,
        repeats: steps.length,
        replyRate: medianInterval(steps.map((s) => s.replyRate), confidence)!,
        p50Ms: medianInterval(replied.map((s) => s.latencyMs.p50), confidence),
        p99Ms: medianInterval(replied.map((s) => s.latencyMs.p99), confidence),
        errorRatio: medianInterval(steps.map((s) => failureRatio(s)), confidence)!,
      };
      const server = steps.map(serverFigures).filter((f) => f !== undefined);
      if (server.length > 0) {
        const of = (pick: (f: ServerFigures) => number | undefined): MedianInterval | null =>
          medianInterval(server.map(pick).filter((v): v is number => v !== undefined), confidence);
        summary.server = { cpuPerSecond: of((f) => f.cpuPerSecond), cpuPerRequestUs: of((f) => f.cpuPerRequestUs), rssBytesMax: of((f) => f.rssBytesMax), linkShare: of((f) => f.linkShare) };
      }
      return summary;
    });
}

export interface ServerFigures {
  cpuPerSecond?: number;
  cpuPerRequestUs?: number;
  rssBytesMax?: number;
  linkShare?: number;
}

/**
 * The server-side figures of a step, if its result carries them (`step.server`,
 * added by the server-sampling branch). The only place that knows their shape.
 */
export function serverFigures(step: StepBase): ServerFigures | undefined {
  const server = (step as { server?: unknown }).server;
  if (typeof server !== 'object' || server === null) return undefined;
  const s = server as { cpuPerSecond?: unknown; cpuPerRequestUs?: unknown; rssBytes?: { max?: unknown } | null; link?: { toServer?: { share?: unknown }; toClient?: { share?: unknown } } | null };
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const figures: ServerFigures = {};
  const cpuPerSecond = num(s.cpuPerSecond);
  const cpuPerRequestUs = num(s.cpuPerRequestUs);
  const rssBytesMax = num(s.rssBytes?.max);
  if (cpuPerSecond !== undefined) figures.cpuPerSecond = cpuPerSecond;
  if (cpuPerRequestUs !== undefined) figures.cpuPerRequestUs = cpuPerRequestUs;
  if (rssBytesMax !== undefined) figures.rssBytesMax = rssBytesMax;
  const shares = [num(s.link?.toServer?.share), num(s.link?.toClient?.share)].filter((v): v is number => v !== undefined);
  if (shares.length > 0) figures.linkShare = Math.max(...shares);
  return Object.keys(figures).length === 0 ? undefined : figures;
}

function compare(a: TargetSummary, b: TargetSummary, o: Required<SummaryOptions>): Comparison {
  const values = (t: TargetSummary): number[] => t.saturation.repeats.map((r) => r.value);
  const boot = bootstrapMedianRatio(values(a), values(b), o)!;
  const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
  const ratio = finite(boot.ratio);
  const lo = finite(boot.lo);
  const hi = finite(boot.hi);
  // An unbounded or undefined end counts as reaching past 1 only if the other end is at or below it.
  const overlapsOne = ratio === null || ((lo ?? 0) <= 1 && (hi === null || hi >= 1));
  // A target that kept up in every repeat (or was held back by tsload) has no capacity measured, only a floor.
  const unsaturated = (t: TargetSummary): boolean => t.saturation.repeats.every((r) => r.kind === 'notReached' || r.kind === 'generatorLimit');
  const notes: string[] = [];
  if (ratio === null) notes.push(`${b.target} passed no step in most repeats: no ratio`);
  else if (unsaturated(a) && unsaturated(b)) notes.push('neither saturated within what was measured: this compares floors, not capacities');
  else {
    if (overlapsOne) notes.push(`not a real difference at this many repeats (${Math.min(a.repeats, b.repeats)})`);
    if (unsaturated(a)) notes.push(`${a.target} did not saturate within what was measured: the ratio is at least this`);
    if (unsaturated(b)) notes.push(`${b.target} did not saturate within what was measured: the ratio is at most this`);
  }
  for (const t of [a, b]) {
    if (t.saturation.floors > 0) notes.push(`${t.target}: saturation is a floor in ${t.saturation.floors} of ${t.repeats} repeats`);
  }
  const interval = `interval ${lo === null ? '?' : formatRatio(lo)}–${hi === null ? '∞' : formatRatio(hi)}`;
  const text = `${a.target} vs ${b.target}: saturation ${ratio === null ? 'n/a' : `${formatRatio(ratio)}×`} (${interval})`;
  return { workload: a.workload, protocol: a.protocol, a: a.target, b: b.target, ratio, lo, hi, confidence: o.confidence, overlapsOne, text, notes };
}

/** Three significant digits, no trailing zeros: 2.1, 1.04, 12.5. */
export function formatRatio(v: number): string {
  return String(Number(v.toPrecision(3)));
}
