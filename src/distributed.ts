/**
 * What a load command does differently when it is one generator of many:
 * its segment (--segment or the launcher's variables), its start instant
 * (--start-at) and the fields its result gains for `tsload merge`.
 */
import { describeSegment, resolveSegment, type SegmentInfo } from './engine/launcher.js';
import { processShare, type SegmentSpec } from './engine/segment.js';
import { CLOCK_SOURCE, parseStartAt, slotMs } from './engine/start.js';
import { parseDuration, shown, type CommonPlanOptions, type DistributedOptions } from './options.js';
import type { ResultPlan, ResultStart, StepBase } from './result.js';

export type { DistributedOptions };

export interface Distributed {
  spec: SegmentSpec;
  info: SegmentInfo | undefined;
  startAtEpochMs: number | undefined;
  slotMs: number | undefined;
  secondHistograms: boolean;
  /** This generator's part of a whole-run rate. */
  shareOf(rate: number): number;
  /** Lines for stderr before the run. */
  notices: string[];
}

export function distributedRun(o: DistributedOptions, common: CommonPlanOptions, drainMs: number, problems: string[]): Distributed {
  let resolved: ReturnType<typeof resolveSegment> = { spec: {}, info: undefined };
  let fraction = 1;
  // A library caller or a YAML plan can pass anything; the readers below take text.
  const notText = (['segment', 'segmentSequence'] as const).filter((k) => o[k] !== undefined && typeof o[k] !== 'string');
  for (const k of notText) problems.push(`--${k === 'segment' ? 'segment' : 'segment-sequence'}: ${shown(o[k])} is not text`);
  if (o.startAt !== undefined && typeof o.startAt !== 'string' && typeof o.startAt !== 'number' && !(o.startAt instanceof Date)) {
    problems.push(`--start-at: ${shown(o.startAt)} is not a time`);
    o = { ...o, startAt: undefined };
  }
  if (notText.length > 0) o = { ...o, segment: undefined, segmentSequence: undefined };
  try {
    resolved = resolveSegment(o.segment, o.segmentSequence, o.env ?? process.env);
    fraction = processShare(resolved.spec).fraction;
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    problems.push(error.message.startsWith('--') ? error.message : `--segment: ${error.message}`);
  }
  const { info } = resolved;
  const notices = info === undefined ? [] : [describeSegment(info)];
  if (info !== undefined && common.refinePct !== null) {
    problems.push('--refine: each generator would bisect on its own share alone; with a segment, sweep planned rates and merge the results');
  }
  if (info !== undefined && o.segment !== undefined && o.segmentSequence === undefined && o.segment.includes(':')) {
    notices.push("tsload: --segment from:to without --segment-sequence takes k6's default sequence (0, from, to, 1); give every generator the same --segment-sequence, or their arrivals may overlap");
  }
  let startAtEpochMs: number | undefined;
  if (o.startAt !== undefined) {
    try {
      startAtEpochMs =
        o.startAt instanceof Date ? o.startAt.getTime() : typeof o.startAt === 'number' ? o.startAt : parseStartAt(o.startAt, Date.now(), (t) => parseDuration(t, 'start-at', [], 's'));
      if (!Number.isFinite(startAtEpochMs)) throw new RangeError(`--start-at: ${String(o.startAt)} is not a time`);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      problems.push(error.message);
    }
  }
  return {
    spec: resolved.spec,
    info,
    startAtEpochMs,
    slotMs: startAtEpochMs === undefined ? undefined : slotMs(common, drainMs),
    secondHistograms: info !== undefined || o.timelineHistograms === true,
    shareOf: (rate) => Math.round(rate * fraction * 1e6) / 1e6,
    notices,
  };
}

/** A step of a generator in segments: its own share as targetRate (what its reply rate is judged by), the whole run's as runRate. */
export function shareStep<S extends Pick<StepBase, 'targetRate' | 'runRate'>>(step: S, d: Distributed): void {
  if (d.info === undefined) return;
  step.runRate = step.targetRate;
  step.targetRate = d.shareOf(step.targetRate);
}

/** The fields a result gains: its segment, its start, and the plan every generator of a run must share. */
export function distributedFields(
  d: Distributed,
  common: CommonPlanOptions,
  steps: readonly Pick<StepBase, 'window' | 'warmupS'>[],
): { segment?: SegmentInfo; start?: ResultStart; plan: ResultPlan } {
  const plan: ResultPlan = {
    rates: common.rates,
    durationMs: common.durationMs,
    warmupMs: common.warmupMs,
    timeoutMs: common.timeoutMs,
    arrival: common.arrival,
    seed: common.seed,
  };
  const first = steps[0]?.window;
  const start =
    d.startAtEpochMs === undefined || first === undefined
      ? undefined
      : {
          requestedAt: new Date(d.startAtEpochMs).toISOString(),
          actualAt: new Date(first.startMs).toISOString(),
          offsetMs: Math.round(first.startMs - steps[0]!.warmupS * 1000 - d.startAtEpochMs),
          slotMs: d.slotMs!,
          clock: CLOCK_SOURCE,
        };
  return { ...(d.info === undefined ? {} : { segment: d.info }), ...(start === undefined ? {} : { start }), plan };
}
