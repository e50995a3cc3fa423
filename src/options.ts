/**
 * Parsing and validation of everything a user types: rate specs, durations,
 * counts. Every function appends to a `problems` list instead of throwing, so
 * a user sees all that is wrong with a command line at once.
 */
import type { Arrival } from './engine/schedule.js';
import type { ProgressEvent, StepBase } from './result.js';
import { OptionsError } from './errors.js';

/** A single run at this rate when none is given (httperf needs one; a sweep is opt-in). */
export const DEFAULT_RATE = 1000;
export const MIN_RATE = 0.01;
export const MAX_RATE = 1_000_000;

/** What a load command takes as one generator of many (see src/distributed.ts). */
export interface DistributedOptions {
  /** `i/N` (from 1), or k6's `from:to` (see launcher.ts); without it, the launcher's variables say. */
  segment?: string | undefined;
  /** k6's --execution-segment-sequence, with a `from:to` segment. */
  segmentSequence?: string | undefined;
  /** ISO time with zone, epoch ms, `+10s`, or a Date: when step 1 starts (see start.ts). */
  startAt?: string | number | Date | undefined;
  /** Keep every second's histograms in the timeline (for --hlog); always on for a run in segments. */
  timelineHistograms?: boolean | undefined;
  /** Where launcher variables are read (default process.env). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

/** Options every load command shares; the CLI's flags in camelCase. */
export interface CommonOptions extends DistributedOptions {
  /** 5000, '5000', '100..10000', '100..10000:500', '100,500,2000', or a list of numbers. */
  rate?: number | string | readonly number[];
  /** Number of steps for a range without a step size (default 10). */
  steps?: number | string;
  /** Spacing of a range's steps. */
  scale?: 'linear' | 'log';
  /** Per step: '30s', '500ms', '2m'; a number is milliseconds (library) — the CLI's bare numbers are seconds. */
  duration?: string | number;
  warmup?: string | number;
  threads?: number | string;
  arrival?: Arrival;
  seed?: number | string;
  /** In-flight cap per thread; arrivals beyond it are dropped and counted. */
  maxInflight?: number | string;
  /** Spin between sends: sub-millisecond send times at any rate, for a full core per thread (httperf's way). */
  busyPoll?: boolean;
  timeout?: string | number;
  label?: string;
  /** Saturation criteria (see Saturation in the result). */
  sloP99?: string | number;
  minReplyRatio?: number | string;
  maxErrorRatio?: number | string;
  /** Measure a failing step this many more times before its failure counts (default 1; 0: never). */
  confirm?: number | string;
  /** Bisect between the last passing step and the first failure until they are within this percent of the rate (default: off). */
  refine?: number | string;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** Called as each step ends, with its shared figures. */
  onStep?: (step: Omit<StepBase, 'bytesSent' | 'bytesReceived'>, index: number, count: number) => void;
}

export interface CommonPlanOptions {
  rates: number[];
  durationMs: number;
  warmupMs: number;
  threads: number;
  arrival: Arrival;
  seed: number;
  /** Per thread; undefined means "choose from the rate" (the protocol knows its own limits). */
  maxInflight: number | undefined;
  busyPoll: boolean;
  timeoutMs: number;
  label: string | undefined;
  criteria: { minReplyRatio: number; maxErrorRatio: number; sloP99Ms: number };
  confirm: number;
  refinePct: number | null;
}

/** A failing step is measured once more by default: one noisy minute must not move a saturation point. */
export const DEFAULT_CONFIRM = 1;

const DURATION_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * '30s', '1.5s', '500ms', '2m30s', '1h'. A bare number means `bareUnit`
 * (seconds on the command line, as httperf's --timeout; milliseconds from the library).
 */
export function parseDuration(value: string | number, name: string, problems: string[], bareUnit: 'ms' | 's' = 's'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
    problems.push(`--${name}: ${value} is not a duration`);
    return Number.NaN;
  }
  const bad = (): number => {
    problems.push(`--${name}: ${shown(value)} is not a duration (examples: 30s, 500ms, 2m, 1m30s)`);
    return Number.NaN;
  };
  // A library caller or a YAML plan can pass anything.
  if (typeof value !== 'string') return bad();
  const text = value.trim().toLowerCase();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * (bareUnit === 's' ? 1000 : 1);
  else {
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return bad();
    ms = parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
  }
  // Four hundred nines are digits, and Infinity.
  return Number.isFinite(ms) ? ms : bad();
}

/** A value as a problem quotes it: strings in quotes, anything else as JSON would write it, never a throw. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  try {
    return JSON.stringify(value) ?? Object.prototype.toString.call(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A number with an optional k/M suffix ('10k') or exponent ('1e4'). */
export function parseNumber(
  value: string | number,
  name: string,
  problems: string[],
  limits: { min?: number; max?: number; integer?: boolean } = {},
): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value !== 'string') n = Number.NaN;
  else {
    const m = /^\s*((?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([kKmM]?)\s*$/.exec(value);
    n = m ? Number(m[1]) * (m[2] === 'k' || m[2] === 'K' ? 1e3 : m[2] === 'M' || m[2] === 'm' ? 1e6 : 1) : Number.NaN;
  }
  const { min = -Infinity, max = Infinity, integer = false } = limits;
  if (!Number.isFinite(n)) problems.push(`--${name}: ${shown(value)} is not a number`);
  else if (integer && !Number.isInteger(n)) problems.push(`--${name}: ${value} must be a whole number`);
  else if (n < min || n > max) problems.push(`--${name}: ${value} must be between ${min} and ${max}`);
  else return n;
  return Number.NaN;
}

/**
 * Expand a rate spec into the list of step rates.
 *   '5000'            one step
 *   '100,500,2000'    these steps
 *   '100..10000'      `steps` equal steps (default 10), both ends included
 *   '100..10000:500'  100, 600, …, 9600 and the end, 10000
 * `scale: 'log'` spaces a range geometrically instead.
 */
export function parseRates(
  spec: number | string | readonly number[],
  options: { steps?: number | string | undefined; scale?: string | undefined },
  problems: string[],
): number[] {
  const before = problems.length;
  const rate = (r: number | string): number => {
    const n = parseNumber(r, 'rate', problems);
    if (n >= MIN_RATE && n <= MAX_RATE) return n;
    if (!Number.isNaN(n)) problems.push(`--rate: ${r} is out of range: rates go from ${MIN_RATE} to ${MAX_RATE} per second`);
    return Number.NaN;
  };
  // No NaN rates on a problem: they would reach what is derived from the rate and be reported again there.
  const checked = (rates: number[]): number[] => {
    if (rates.length > 1000 && problems.length === before) problems.push(`--rate: a list of ${rates.length} rates; at most 1000`);
    return problems.length > before ? [] : rates;
  };
  if (typeof spec === 'number') return checked([rate(spec)]);
  if (Array.isArray(spec)) {
    if (spec.length === 0) problems.push('--rate: an empty list');
    return checked(spec.map(rate));
  }
  if (typeof spec !== 'string') {
    problems.push(`--rate: ${shown(spec)} is not a rate, a list or a range`);
    return [];
  }
  const text = spec.trim();
  const range = /^([^.:]+)\.\.([^:]+)(?::(.+))?$/.exec(text);
  if (!range) {
    const parts = text.split(',');
    if (parts.some((part) => Number.isNaN(parseNumber(part, 'rate', [])))) {
      problems.push(`--rate: '${spec}' is not a rate, a list (100,500,2000) or a range (100..10000[:step])`);
      return [];
    }
    return checked(parts.map(rate));
  }
  const from = rate(range[1]!);
  const to = rate(range[2]!);
  const scale = options.scale ?? 'linear';
  if (scale !== 'linear' && scale !== 'log') problems.push(`--scale: ${shown(scale)} must be linear or log`);
  if (problems.length > before) return [];
  if (to < from) {
    problems.push(`--rate: range ${text} goes down; write it from low to high`);
    return [];
  }
  if (range[3] !== undefined) {
    if (options.steps !== undefined) problems.push('--steps: give either --steps or a step size in --rate (from..to:step), not both');
    if (scale === 'log') problems.push('--scale log: a step size (from..to:step) is linear; use --steps with --scale log');
    const size = parseNumber(range[3], 'rate', problems);
    if (size < MIN_RATE) problems.push(`--rate: step ${range[3]} is too small: steps are at least ${MIN_RATE} per second`);
    if (problems.length > before) return [];
    // Counted before the list is made: 0.01..1000000:0.01 would be 10^8 of them.
    const count = Math.ceil((to - from) / size - 1e-9) + 1;
    if (count > 1000) {
      problems.push(`--rate: ${text} makes ${count} steps; at most 1000`);
      return [];
    }
    const rates: number[] = [];
    for (let i = 0; from + i * size < to - 1e-9; i++) rates.push(round(from + i * size));
    rates.push(to);
    return rates;
  }
  const steps = options.steps === undefined ? 10 : parseNumber(options.steps, 'steps', problems, { min: 1, max: 1000, integer: true });
  if (problems.length > before) return [];
  if (steps === 1 || from === to) return [to];
  return Array.from({ length: steps }, (_, i) =>
    round(scale === 'log' ? from * Math.pow(to / from, i / (steps - 1)) : from + ((to - from) * i) / (steps - 1)),
  );
}

const round = (x: number): number => (x >= 10 ? Math.round(x) : Math.round(x * 1000) / 1000);

export function normalizeCommon(o: CommonOptions, problems: string[]): CommonPlanOptions {
  const rates = parseRates(o.rate ?? DEFAULT_RATE, { steps: o.steps, scale: o.scale }, problems);
  if (o.rate !== undefined && typeof o.rate !== 'string' && o.steps !== undefined) problems.push('--steps: only applies to a range (--rate from..to)');
  const durationMs = o.duration === undefined ? 10_000 : parseDuration(o.duration, 'duration', problems, typeof o.duration === 'number' ? 'ms' : 's');
  if (durationMs < 100) problems.push('--duration: must be at least 100ms');
  const warmupMs = o.warmup === undefined ? 1_000 : parseDuration(o.warmup, 'warmup', problems, typeof o.warmup === 'number' ? 'ms' : 's');
  const timeoutMs = o.timeout === undefined ? 5_000 : parseDuration(o.timeout, 'timeout', problems, typeof o.timeout === 'number' ? 'ms' : 's');
  if (timeoutMs < 1) problems.push('--timeout: must be at least 1ms');
  const threads = o.threads === undefined ? 1 : parseNumber(o.threads, 'threads', problems, { min: 1, max: 64, integer: true });
  const arrival = o.arrival ?? 'constant';
  if (arrival !== 'constant' && arrival !== 'poisson') problems.push(`--arrival: ${shown(arrival)} must be constant or poisson`);
  const seed = o.seed === undefined ? 1 : parseNumber(o.seed, 'seed', problems, { min: 0, max: 2 ** 32 - 1, integer: true });
  const maxInflight = o.maxInflight === undefined ? undefined : parseNumber(o.maxInflight, 'max-inflight', problems, { min: 1, max: 10_000_000, integer: true });
  const sloP99Ms = o.sloP99 === undefined ? 100 : parseDuration(o.sloP99, 'slo-p99', problems, typeof o.sloP99 === 'number' ? 'ms' : 's');
  const minReplyRatio = o.minReplyRatio === undefined ? 0.99 : parseNumber(o.minReplyRatio, 'min-reply-ratio', problems, { min: 0, max: 1 });
  const maxErrorRatio = o.maxErrorRatio === undefined ? 0.01 : parseNumber(o.maxErrorRatio, 'max-error-ratio', problems, { min: 0, max: 1 });
  if (o.label !== undefined && typeof o.label !== 'string') problems.push(`--label: ${shown(o.label)} is not text`);
  else if (o.label !== undefined && o.label.trim() === '') problems.push('--label: must not be empty');
  if (o.busyPoll !== undefined && typeof o.busyPoll !== 'boolean') problems.push(`--busy-poll: ${shown(o.busyPoll)} is not true or false`);
  const confirm = o.confirm === undefined ? DEFAULT_CONFIRM : parseNumber(o.confirm, 'confirm', problems, { min: 0, max: 10, integer: true });
  const refinePct = o.refine === undefined ? null : parseNumber(o.refine, 'refine', problems, { min: 0.1, max: 50 });
  return {
    rates,
    durationMs,
    warmupMs,
    threads,
    arrival,
    seed,
    maxInflight,
    busyPoll: o.busyPoll ?? false,
    timeoutMs,
    label: o.label,
    criteria: { minReplyRatio, maxErrorRatio, sloP99Ms },
    confirm,
    refinePct,
  };
}

/**
 * Default in-flight cap per thread: every request leaves within its timeout,
 * so a rate × (timeout + 1 s) cap is never met by an open loop (the second
 * covers the timeout sweep and a stall). The cap only bounds memory.
 */
export function defaultMaxInflight(plan: CommonPlanOptions): number {
  const peak = Math.max(...plan.rates) / plan.threads;
  return Math.max(1024, Math.ceil(peak * (plan.timeoutMs / 1000 + 1)));
}

export function throwIfProblems(problems: readonly string[]): void {
  if (problems.length > 0) throw new OptionsError(problems);
}
