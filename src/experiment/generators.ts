/**
 * A cell run by several generators, as `srun -n N tsload … --start-at T`
 * and `tsload merge` would run it: generator i takes segment i/N, each in
 * client host i of the testbed, all from one start instant; their results
 * are merged exactly into the cell's. The parts are kept beside the cell so
 * that the merge can be checked, or done again, from the files alone.
 */
import type { ProgressEvent, Result } from '../result.js';
import { mergeResults } from '../result/merge.js';
import type { OptionsOf } from '../run.js';
import type { ProtocolName } from '../protocols/index.js';
import { runInTestbed } from '../testbed/run.js';

export interface GeneratorsRun {
  merged: Result;
  parts: Result[];
}

/**
 * Time from now to the shared start: every generator is a new Node process
 * spawned into a namespace, and all of them must be ready before it. A late
 * one still runs its slots from the instant and says how late it was.
 */
export function startLeadMs(count: number): number {
  return 2000 + 500 * count;
}

export async function runGenerators<N extends ProtocolName>(
  protocol: N,
  options: OptionsOf[N],
  count: number,
  hooks: { signal?: AbortSignal; onProgress?: (event: ProgressEvent) => void; onNotice?: (line: string) => void },
): Promise<GeneratorsRun | { aborted: true }> {
  const startAt = Date.now() + startLeadMs(count);
  // The cell's progress is all generators': each one's latest event, summed over those in the same step.
  const latest: (ProgressEvent | undefined)[] = Array(count).fill(undefined);
  const progress = (k: number, event: ProgressEvent): void => {
    latest[k] = event;
    const same = latest.filter((e): e is ProgressEvent => e?.stepIndex === event.stepIndex);
    const sum = (key: 'sent' | 'completed' | 'errors' | 'timeouts' | 'dropped' | 'sendRate'): number => same.reduce((n, e) => n + e[key], 0);
    hooks.onProgress?.({
      ...event,
      // Equal segments (i/N): the cell's rate is N shares, whichever generator spoke first.
      targetRate: Math.round(event.targetRate * count * 1000) / 1000,
      sent: sum('sent'),
      completed: sum('completed'),
      errors: sum('errors'),
      timeouts: sum('timeouts'),
      dropped: sum('dropped'),
      sendRate: sum('sendRate'),
      p99Ms: Math.max(...same.map((e) => e.p99Ms)),
    });
  };
  const runs = Array.from({ length: count }, (_, k) =>
    runInTestbed(protocol, {
      ...options,
      segment: `${k + 1}/${count}`,
      startAt,
      // The experiment's own environment (say, a Slurm job step) must not pick the generators' segments.
      env: {},
      ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
      onProgress: (event: ProgressEvent) => progress(k, event),
      onNotice: (line: string) => hooks.onNotice?.(`generator ${k + 1}/${count}: ${line}`),
    } as OptionsOf[N]),
  );
  // Every generator ends (an error in one does not leave the others running unseen) before the cell does.
  const settled = await Promise.allSettled(runs);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const parts = settled.map((s) => (s as PromiseFulfilledResult<Result>).value);
  if (parts.some((p) => p.aborted) || hooks.signal?.aborted === true) return { aborted: true };
  const merged = mergeResults(parts, { onWarning: (line) => hooks.onNotice?.(line) }, parts.map((_, k) => `generator ${k + 1}`));
  return { merged, parts };
}
