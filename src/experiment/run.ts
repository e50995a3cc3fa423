/**
 * Runs every cell of a plan in the testbed and writes the results folder as
 * it goes: each target brought up, checked and taken down in turn, repeats
 * interleaved, each cell's result written (atomically) as it finishes, the
 * manifest rewritten after every change. A second run on the same folder
 * with the same plan skips what is done: after a crash or Ctrl-C, the same
 * command finishes the experiment.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { EnvironmentError, PlanMismatchError } from '../errors.js';
import { formatJson } from '../report/json.js';
import { duration } from '../report/progress.js';
import type { ProgressEvent, Result } from '../result.js';
import type { OptionsOf } from '../run.js';
import * as testbed from '../testbed/index.js';
import { runInTestbed } from '../testbed/run.js';
import { redactHeaderOption } from '../protocols/http/secrets.js';
import { parseLinkOptions } from '../testbed/settings.js';
import type { LinkSettings } from '../testbed/settings.js';
import { VERSION } from '../version.js';
import { MANIFEST_SCHEMA, machineInfo, serverVersion, type ExperimentManifest, type ManifestCell, type ManifestRun } from './manifest.js';
import { planCells, runOptions, type Plan, type PlannedCell } from './plan.js';
import { readCellResult, readManifest } from './read.js';
import { endpointOf, isRunning, startPlanTarget, stopPlanTarget, type Running } from './targets.js';
import { runGenerators } from './generators.js';

export interface ExperimentProgress {
  cell: PlannedCell;
  /** From 0, in run order over the whole plan (cells done earlier count). */
  cellIndex: number;
  cellCount: number;
  phase: 'starting' | 'load' | 'stopping';
  /** The current step of the cell's run, once load has begun. */
  step?: ProgressEvent;
  /** Cells done (this run or an earlier one) and failed so far. */
  done: number;
  failed: number;
  /** Seconds left in the whole plan: planned step times, plus the overhead per cell measured so far. */
  remainingS: number;
}

export interface RunExperimentOptions {
  /** The results folder (created if missing; resumed if it holds this plan). */
  out: string;
  /** The plan's file, recorded in the manifest. */
  planFile?: string | null;
  signal?: AbortSignal;
  onProgress?: (event: ExperimentProgress) => void;
  /** One-line notices: cells skipped, done, failed; the runs' own notices. */
  onNotice?: (line: string) => void;
}

export interface ExperimentRun {
  out: string;
  manifest: ExperimentManifest;
  /** Ids of the cells this run did, found already done, and that failed. */
  ran: string[];
  skipped: string[];
  failed: string[];
  /** Stopped by the signal: the cell in progress was left pending. */
  interrupted: boolean;
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** The first place two plans differ, for the refusal's message. */
function firstDifference(a: unknown, b: unknown, path = 'plan'): string {
  if (isDeepStrictEqual(a, b)) return '';
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], Array.isArray(a) ? `${path}[${key}]` : `${path}.${key}`);
      if (found !== '') return found;
    }
  }
  return `${path}: was ${JSON.stringify(a)}, now ${JSON.stringify(b)}`;
}

/** The plan as the manifest records it: HTTP workloads' secret header values redacted (see protocols/http/secrets.ts). */
export function recordedPlan(plan: Plan): Plan {
  return {
    ...plan,
    workloads: plan.workloads.map((w) => {
      if (w.options['headers'] === undefined) return w;
      const more = Array.isArray(w.options['secretHeaders']) ? (w.options['secretHeaders'] as unknown[]).filter((n): n is string => typeof n === 'string') : [];
      return { ...w, options: { ...w.options, headers: redactHeaderOption(w.options['headers'], more) } };
    }),
  };
}

function sameLink(a: LinkSettings, b: LinkSettings): boolean {
  return a.rateBitsPerSecond === b.rateBitsPerSecond && a.delayMicroseconds === b.delayMicroseconds && a.lossPercent === b.lossPercent;
}

/** A live process that is a tsload experiment (a pid reused by something else after a crash is not). */
function isExperimentProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('experiment');
  } catch {
    return false;
  }
}

/** Where a cell run by several generators keeps each one's own result: cells/<id>.parts/g<i>.json. */
export function partsDir(out: string, cell: Pick<ManifestCell, 'file'>): string {
  return join(out, cell.file.replace(/\.json$/, '.parts'));
}

function logTail(file: string | undefined, lines = 50): string {
  if (file === undefined) return '';
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function runExperiment(plan: Plan, options: RunExperimentOptions): Promise<ExperimentRun> {
  const out = resolve(options.out);
  const notice = (line: string): void => options.onNotice?.(line);
  const signal = options.signal;
  // A function, not a property read: TypeScript would narrow the property across awaits.
  const aborted = (): boolean => signal?.aborted === true;
  const planned = planCells(plan);
  const manifestFile = join(out, 'manifest.json');

  const previous = existsSync(manifestFile) ? readManifest(out) : undefined;
  // The manifest keeps the plan as it may be shown: a changed token is still the same plan.
  const recorded = recordedPlan(plan);
  if (previous !== undefined && !isDeepStrictEqual(previous.plan, recorded)) {
    throw new PlanMismatchError(
      `${out} holds the results of another plan (${firstDifference(previous.plan, recorded)}): give another --out, or remove the folder to start again`,
    );
  }

  const before = new Map(previous?.cells.map((c) => [c.id, c]));
  const skipped: string[] = [];
  const cells: ManifestCell[] = planned.map((p) => {
    const cell: ManifestCell = { id: p.id, target: p.target, workload: p.workload, repeat: p.repeat, protocol: p.protocol, file: `cells/${p.id}.json`, status: 'pending' };
    const result = readCellResult(out, cell);
    if (result === undefined) return cell;
    // Done, even if a crash came between its file and the manifest that says so.
    const old = before.get(p.id);
    skipped.push(p.id);
    return { ...cell, status: 'done', startedAt: old?.startedAt ?? result.startedAt, finishedAt: old?.finishedAt ?? result.finishedAt };
  });
  const byId = new Map(cells.map((c) => [c.id, c]));
  if (skipped.length > 0) notice(`tsload: ${skipped.length} of ${cells.length} cells already done in ${out}: skipped`);

  const pending = cells.filter((c) => c.status !== 'done');
  if (pending.length > 0) {
    const load = planned.filter((p) => byId.get(p.id)!.status !== 'done').reduce((sum, p) => sum + p.plannedS, 0);
    notice(`tsload: ${pending.length} cell${pending.length === 1 ? '' : 's'} to run into ${out}, ${duration(load)} of load planned (plus each target's start and stop)`);
  }
  const now = (): string => new Date().toISOString();
  const runRecord: ManifestRun = { startedAt: now(), pid: process.pid, ran: [], skipped, failed: [], interrupted: false };
  const last = previous?.runs.at(-1);
  let crashed: ManifestRun | undefined;
  if (last !== undefined && last.finishedAt === undefined) {
    if (last.pid !== undefined && isExperimentProcess(last.pid)) throw new EnvironmentError(`another tsload experiment (pid ${last.pid}) is running on ${out}`);
    crashed = last;
  }
  let broughtUp = false;
  let settings: LinkSettings = previous?.testbed ?? parseLinkOptions(plan.testbed);
  if (pending.length > 0) {
    const wanted = parseLinkOptions(plan.testbed);
    const state = await testbed.status();
    if (state.up) {
      // Re-shaping a testbed someone brought up for something else would change it under them.
      if (state.settings === undefined || !sameLink(state.settings, wanted)) {
        const has = state.settings === undefined ? 'unknown settings' : `rate ${state.settings.rate}, delay ${state.settings.delay}, loss ${state.settings.loss}`;
        throw new EnvironmentError(`the testbed is up with ${has}; the plan asks rate ${wanted.rate}, delay ${wanted.delay}, loss ${wanted.loss}: take it down (tsload testbed down) or change the plan`);
      }
      const hosts = plan.testbed.clients ?? 1;
      if (state.clients < hosts) {
        throw new EnvironmentError(`the testbed is up with ${state.clients} client host(s); the plan's generators need ${hosts}: take it down (tsload testbed down) and the run brings it up with ${hosts}`);
      }
      let busy = state.targets.filter((t) => t.alive).map((t) => t.name);
      if (crashed !== undefined) {
        // The run that did not finish left them: this run takes over its targets, and its testbed.
        const ours = new Set(plan.targets.map((t) => t.server ?? t.name));
        for (const name of busy.filter((n) => ours.has(n))) {
          await stopPlanTarget(name);
          notice(`tsload: the last run on ${out} did not finish: stopped the ${name} it left running`);
        }
        busy = busy.filter((n) => !ours.has(n));
        broughtUp = crashed.testbedBroughtUp === true;
      }
      if (busy.length > 0) throw new EnvironmentError(`targets already running in the testbed: ${busy.join(', ')}; stop them first (tsload testbed stop --all)`);
      settings = state.settings;
    } else {
      settings = (await testbed.up(plan.testbed)).settings ?? wanted;
      broughtUp = true;
    }
  }
  runRecord.testbedBroughtUp = broughtUp;

  const servers: Record<string, string> = { ...previous?.versions.servers };
  for (const target of plan.targets) servers[target.server ?? target.name] = await serverVersion(target);
  const machine = machineInfo();
  if (previous !== undefined && !isDeepStrictEqual({ ...previous.machine }, machine)) notice(`tsload: resumed on another machine than the one ${out} was begun on (the manifest keeps the first)`);
  if (previous !== undefined && !isDeepStrictEqual(previous.versions.servers, servers)) notice('tsload: server versions differ from those the folder was begun with (the manifest now has these)');
  const manifest: ExperimentManifest = {
    schema: MANIFEST_SCHEMA,
    planFile: options.planFile === undefined || options.planFile === null ? (previous?.planFile ?? null) : resolve(options.planFile),
    plan: recorded,
    createdAt: previous?.createdAt ?? now(),
    updatedAt: now(),
    machine: previous?.machine ?? machine,
    versions: { tsload: VERSION, servers },
    testbed: settings,
    cells,
    runs: [...(previous?.runs ?? []), runRecord],
  };
  // Made only now: a run refused above (not root, a busy testbed) leaves no empty folder behind.
  mkdirSync(join(out, 'cells'), { recursive: true });
  mkdirSync(join(out, 'logs'), { recursive: true });
  // Half-written files of a run that died between write and rename.
  for (const dir of [out, join(out, 'cells')]) {
    for (const name of readdirSync(dir)) if (/\.tmp-\d+$/.test(name)) rmSync(join(dir, name), { force: true });
  }
  const save = (): void => {
    manifest.updatedAt = now();
    writeAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  };
  save();

  // Time left: what is planned for the cells still to run, plus the overhead (starts, probes, drains) measured per cell so far.
  let overheadS = 0;
  let measuredCells = 0;
  const remainingAfter = (index: number): number => {
    let s = 0;
    let count = 0;
    for (let i = index + 1; i < planned.length; i++) {
      if (cells[i]!.status === 'done') continue;
      s += planned[i]!.plannedS;
      count++;
    }
    return s + (measuredCells > 0 ? (overheadS / measuredCells) * count : 0);
  };
  const done = (): number => cells.filter((c) => c.status === 'done').length;
  const failedCount = (): number => cells.filter((c) => c.status === 'failed').length;
  const report = (index: number, phase: ExperimentProgress['phase'], step?: ProgressEvent): void => {
    const cell = planned[index]!;
    const current = step === undefined ? (phase === 'stopping' ? 0 : cell.plannedS) : step.remainingS;
    options.onProgress?.({
      cell,
      cellIndex: index,
      cellCount: planned.length,
      phase,
      ...(step === undefined ? {} : { step }),
      done: done(),
      failed: failedCount(),
      remainingS: current + remainingAfter(index),
    });
  };

  const fail = (cell: ManifestCell, message: string, log: string): void => {
    cell.status = 'failed';
    cell.error = message;
    cell.finishedAt = now();
    runRecord.failed.push(cell.id);
    const text = log === '' ? `${message}\n` : `${message}\n--- end of the target's log ---\n${log}\n`;
    writeFileSync(join(out, 'logs', `${cell.id}.log`), text);
    notice(`tsload: cell ${cell.id} failed: ${message.split('\n')[0]}`);
    save();
  };

  let running: { name: string; log: string; record: Running; group: string } | undefined;
  let startFailure: { group: string; message: string } | undefined;
  let mark = Date.now();
  try {
    for (let index = 0; index < planned.length && !aborted(); index++) {
      const cell = cells[index]!;
      if (cell.status === 'done') continue;
      const target = plan.targets.find((t) => t.name === cell.target)!;
      const workload = plan.workloads.find((w) => w.name === cell.workload)!;
      delete cell.error;
      delete cell.finishedAt;

      const group = `${cell.target}\u0000${cell.repeat}`;
      if (running !== undefined && running.group !== group) {
        await stopPlanTarget(running.name);
        running = undefined;
      }
      // A target that would not start fails the rest of its cells in this repeat without another 20 s wait each.
      if (startFailure?.group === group) {
        fail(cell, startFailure.message, '');
        mark = Date.now();
        continue;
      }
      if (running === undefined) {
        report(index, 'starting');
        try {
          const record = await startPlanTarget(target, notice);
          running = { name: record.name, log: record.log, record, group };
        } catch (error) {
          if (aborted()) break;
          startFailure = { group, message: (error as Error).message };
          fail(cell, startFailure.message, '');
          mark = Date.now();
          continue;
        }
        if (aborted()) break;
      }

      cell.startedAt = now();
      save();
      report(index, 'load');
      try {
        const cellOptions = runOptions(workload, workload.sweep, endpointOf(running.record, cell.protocol), target.name) as OptionsOf[typeof cell.protocol];
        const onProgress = (event: ProgressEvent): void => report(index, 'load', event);
        const generators = workload.generators ?? 1;
        let result: Result | undefined;
        let parts: Result[] = [];
        if (generators === 1) {
          result = await runInTestbed(cell.protocol, { ...cellOptions, ...(signal === undefined ? {} : { signal }), onProgress, onNotice: notice } as OptionsOf[typeof cell.protocol]);
        } else {
          const ran = await runGenerators(cell.protocol, cellOptions, generators, { ...(signal === undefined ? {} : { signal }), onProgress, onNotice: notice });
          if (!('aborted' in ran)) ({ merged: result, parts } = ran);
        }
        if (result === undefined || result.aborted || aborted()) {
          // A cut-short cell is not a result: it stays pending, and a resume runs it whole.
          delete cell.startedAt;
          runRecord.interrupted = true;
          save();
          break;
        }
        if (!(await isRunning(running.name))) {
          fail(cell, `${target.name} (${running.name}) exited during the cell`, logTail(running.log));
          await stopPlanTarget(running.name);
          running = undefined;
        } else {
          if (parts.length > 0) {
            const dir = partsDir(out, cell);
            rmSync(dir, { recursive: true, force: true });
            mkdirSync(dir, { recursive: true });
            parts.forEach((part, k) => writeAtomic(join(dir, `g${k + 1}.json`), formatJson(part)));
          }
          writeAtomic(join(out, cell.file), formatJson(result));
          // A log from an earlier failed attempt would say this cell failed.
          rmSync(join(out, 'logs', `${cell.id}.log`), { force: true });
          cell.status = 'done';
          cell.finishedAt = now();
          runRecord.ran.push(cell.id);
          save();
          notice(`tsload: cell ${index + 1}/${cells.length} ${cell.id} done`);
          // Only whole cells teach the estimate: a failed one ends early and would make the rest look shorter.
          overheadS += (Date.now() - mark) / 1000 - planned[index]!.plannedS;
          measuredCells++;
        }
      } catch (error) {
        // A terminal's Ctrl-C reaches the run's child as well as this process: its end may be seen before our own signal.
        if (!aborted()) await new Promise((resolve) => setTimeout(resolve, 200));
        if (aborted()) {
          delete cell.startedAt;
          runRecord.interrupted = true;
          save();
          break;
        }
        fail(cell, (error as Error).message, logTail(running?.log));
      }
      mark = Date.now();

      // The target goes down after its last workload of this repeat.
      const next = planned[index + 1];
      if (running !== undefined && (next === undefined || next.target !== cell.target || next.repeat !== cell.repeat)) {
        report(index, 'stopping');
        await stopPlanTarget(running.name);
        running = undefined;
      }
    }
  } finally {
    if (aborted()) runRecord.interrupted = true;
    try {
      if (running !== undefined) await stopPlanTarget(running.name);
    } finally {
      if (broughtUp) await testbed.down();
      runRecord.finishedAt = now();
      save();
    }
  }
  return { out, manifest, ran: runRecord.ran, skipped, failed: runRecord.failed, interrupted: runRecord.interrupted };
}
