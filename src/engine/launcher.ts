/**
 * Which segment of a distributed run this process is: from `--segment`, or
 * else from the variables the launcher that started it sets. Pure (options
 * and an environment in, a segment out), so every launcher is tested without
 * running one.
 *
 * Launchers are read most specific first: an MPI launcher inside a Slurm
 * allocation inherits the allocation's SLURM_NTASKS while every rank sees
 * SLURM_PROCID=0, so MPI's own ranks win over Slurm's. Slurm's task rank
 * counts only inside a job step (srun sets SLURM_STEP_ID): an sbatch script
 * of `-n 4` runs once with SLURM_NTASKS=4 and SLURM_PROCID=0, and is not a
 * quarter of anything. A step of several tasks inside an array of several is
 * refused: which share is whose would be a guess.
 */
import { equalSequence, parseSegment, parseSequence, Segment, type Ratio, type SegmentSpec } from './segment.js';

export type SegmentSource = 'option' | 'slurm' | 'slurm-array' | 'kubernetes' | 'openmpi' | 'mpich';

/** The Kubernetes variable a manifest sets to the Indexed Job's `completions` (Kubernetes itself sets only the index). */
export const KUBERNETES_COUNT_VARIABLE = 'TSLOAD_SEGMENTS';

/** This process's part of a run, as the result records it (see Result.segment). */
export interface SegmentInfo {
  /** Position in the run's sequence of segments, from 1 (`--segment index/count` gives this segment again). */
  index: number;
  /** Segments in the run's sequence. */
  count: number;
  /** Bounds of (from, to] as exact fractions, k6's notation: '1/4'. */
  from: string;
  to: string;
  /** The run's sequence of segment bounds, '0,1/4,1/2,3/4,1': the same in every generator of a run. */
  sequence: string;
  source: SegmentSource;
}

export interface ResolvedSegment {
  /** What the engine's plan takes (empty for the whole run). */
  spec: SegmentSpec;
  /** Undefined when this process runs the whole schedule (no segment, or a count of 1). */
  info: SegmentInfo | undefined;
}

const WHOLE_RUN: ResolvedSegment = { spec: {}, info: undefined };

const formatRatio = (r: Ratio): string => (r.d === 1 ? String(r.n) : `${r.n}/${r.d}`);
const sameRatio = (a: Ratio, b: Ratio): boolean => a.n * b.d === b.n * a.d;

/** `i` of `n` equal segments (i from 1). */
function equalPart(index: number, count: number, source: SegmentSource): ResolvedSegment {
  if (count === 1) return WHOLE_RUN;
  const points = equalSequence(count);
  const sequence = points.map(formatRatio).join(',');
  const from = formatRatio(points[index - 1]!);
  const to = formatRatio(points[index]!);
  return { spec: { segment: `${from}:${to}`, segmentSequence: sequence }, info: { index, count, from, to, sequence, source } };
}

/**
 * `--segment`'s text: `i/N` (the i-th of N equal parts, i from 1), or k6's
 * `from:to` (`1/4:2/4`, `0.25:0.5`, `25%:50%`) with an optional k6
 * `--segment-sequence`. A bare fraction is always i/N, never k6's `0:x`.
 * Throws RangeError with the reason.
 */
export function segmentFromOption(text: string, sequenceText?: string): ResolvedSegment {
  const t = text.trim();
  const part = /^(\d+)\s*\/\s*(\d+)$/.exec(t);
  if (part) {
    const index = Number(part[1]);
    const count = Number(part[2]);
    if (!(count >= 1 && index >= 1 && index <= count)) throw new RangeError(`--segment ${t}: i/N needs 1 <= i <= N (the first of four is 1/4)`);
    if (sequenceText !== undefined) throw new RangeError(`--segment-sequence: only with k6's from:to form of --segment; ${t} is already one of ${count} equal parts`);
    return equalPart(index, count, 'option');
  }
  if (!t.includes(':')) throw new RangeError(`--segment ${JSON.stringify(text)}: give i/N (2/4) or k6's from:to (1/4:2/4)`);
  const segment = parseSegment(t);
  const points = sequenceText === undefined ? defaultSequence(segment) : parseSequence(sequenceText);
  const at = points.findIndex((p) => sameRatio(p, segment.from));
  if (at < 0 || at + 1 >= points.length || !sameRatio(points[at + 1]!, segment.to)) {
    throw new RangeError(`--segment ${t} is not one of the segments of --segment-sequence ${points.map(formatRatio).join(',')}`);
  }
  if (points.length === 2) return WHOLE_RUN;
  const sequence = points.map(formatRatio).join(',');
  return {
    spec: { segment: `${formatRatio(segment.from)}:${formatRatio(segment.to)}`, segmentSequence: sequence },
    info: { index: at + 1, count: points.length - 1, from: formatRatio(segment.from), to: formatRatio(segment.to), sequence, source: 'option' },
  };
}

/** k6's sequence when none is given: 0, from, to, 1. */
function defaultSequence(segment: Segment): Ratio[] {
  const points: Ratio[] = [{ n: 0, d: 1 }, segment.from, segment.to, { n: 1, d: 1 }];
  return points.filter((p, i) => i === 0 || !sameRatio(points[i - 1]!, p));
}

type Env = Readonly<Record<string, string | undefined>>;

/** A whole number ≥ min from a variable, or undefined when unset; RangeError when set to anything else. */
function integer(env: Env, name: string, min: number): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min) throw new RangeError(`${name}=${value} is not a whole number of at least ${min}`);
  return Number(value);
}

/** An index (from 0) and a count that a launcher gave in two variables. */
function pair(env: Env, indexName: string, countName: string, source: SegmentSource): ResolvedSegment | undefined {
  const index = integer(env, indexName, 0);
  const count = integer(env, countName, 1);
  if (index === undefined && count === undefined) return undefined;
  if (index === undefined || count === undefined) {
    const missing = index === undefined ? indexName : countName;
    const present = index === undefined ? countName : indexName;
    const hint = source === 'kubernetes' ? ` (set ${KUBERNETES_COUNT_VARIABLE} to the Job's completions in its manifest)` : '';
    throw new RangeError(`${present} is set but ${missing} is not${hint}; or give --segment`);
  }
  if (index >= count) throw new RangeError(`${indexName}=${index} is not below ${countName}=${count}`);
  return equalPart(index + 1, count, source);
}

/** A Slurm job array's task: its id counted from the array's first, in steps of the array's stride. */
function slurmArray(env: Env): ResolvedSegment | undefined {
  const id = integer(env, 'SLURM_ARRAY_TASK_ID', 0);
  if (id === undefined) return undefined;
  const count = integer(env, 'SLURM_ARRAY_TASK_COUNT', 1);
  if (count === undefined) throw new RangeError('SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; or give --segment');
  const min = integer(env, 'SLURM_ARRAY_TASK_MIN', 0) ?? 0;
  const stride = integer(env, 'SLURM_ARRAY_TASK_STEP', 1) ?? 1;
  const index = (id - min) / stride;
  // An array like --array=1,3,7 has no stride to count by: its ids do not say which share is whose.
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`SLURM_ARRAY_TASK_ID=${id} is not task min + k × step of an array of ${count} (min ${min}, step ${stride}): use --array=0-${count - 1}, or give --segment`);
  }
  return equalPart(index + 1, count, 'slurm-array');
}

/** The segment a launcher's variables give, undefined when none is set. Throws RangeError with the reason. */
export function segmentFromEnv(env: Env): ResolvedSegment | undefined {
  const mpi = pair(env, 'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'openmpi') ?? pair(env, 'PMI_RANK', 'PMI_SIZE', 'mpich');
  if (mpi !== undefined) return mpi;
  const kubernetes = env.JOB_COMPLETION_INDEX === undefined ? undefined : pair(env, 'JOB_COMPLETION_INDEX', KUBERNETES_COUNT_VARIABLE, 'kubernetes');
  if (kubernetes !== undefined) return kubernetes;
  const inStep = env.SLURM_STEP_ID !== undefined && env.SLURM_STEP_ID !== '';
  const step = inStep ? pair({ ...env, SLURM_NTASKS: env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS }, 'SLURM_PROCID', 'SLURM_NTASKS', 'slurm') : undefined;
  const array = slurmArray(env);
  if (step?.info !== undefined && array?.info !== undefined) {
    throw new RangeError(`both a Slurm step of ${step.info.count} tasks and an array of ${array.info.count} are set: give --segment`);
  }
  return step?.info !== undefined ? step : (array ?? step);
}

/** --segment when given, else the launcher's variables, else the whole run. */
export function resolveSegment(option: string | undefined, sequence: string | undefined, env: Env): ResolvedSegment {
  if (option !== undefined) return segmentFromOption(option, sequence);
  if (sequence !== undefined) throw new RangeError('--segment-sequence: only with --segment from:to');
  return segmentFromEnv(env) ?? WHOLE_RUN;
}

/** The stderr line that says which segment a process runs and who said so. */
export function describeSegment(info: SegmentInfo): string {
  const by: Record<SegmentSource, string> = {
    option: '--segment',
    slurm: 'Slurm (SLURM_PROCID/SLURM_NTASKS)',
    'slurm-array': 'a Slurm array (SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)',
    kubernetes: `a Kubernetes Indexed Job (JOB_COMPLETION_INDEX/${KUBERNETES_COUNT_VARIABLE})`,
    openmpi: 'Open MPI (OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE)',
    mpich: 'MPICH (PMI_RANK/PMI_SIZE)',
  };
  return `tsload: segment ${info.index}/${info.count} (${info.from}:${info.to} of the run), from ${by[info.source]}`;
}
