/**
 * A distributed run launched by a real Slurm cluster on this machine
 * (scripts/slurm-local.sh: munged, slurmctld and one slurmd): `srun -n 4`
 * starts four generators, each of which finds its segment in Slurm's own
 * variables, at one --start-at; `tsload merge` makes them one run, which is
 * compared with one generator sending the whole rate in the same test.
 * Needs root and Debian's slurm-wlm and munge; skipped, saying why, without.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHistogram, type Histogram } from '../../src/measure/histogram.js';
import type { HttpResult } from '../../src/result.js';
import { startHttpTarget } from '../../src/targets/http.js';
import { findBinary } from '../../src/testbed/system.js';
import { tsload } from '../run-cli.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const script = join(root, 'scripts', 'slurm-local.sh');
const bin = join(root, 'bin', 'tsload.js');
const sbatchScript = join(root, 'docs', 'slurm', 'tsload.sbatch');

const TASKS = 4;
const RATE = 10_000;
const DURATION_S = 3;

/*
 * The target and the launch line, in one place. Today: the built-in HTTP
 * target on loopback, all four tasks on this machine's one slurmd. When the
 * testbed has client hosts (`tsload testbed up --clients 4`), the target
 * becomes the testbed server's and the generator's line gains `--testbed`,
 * which puts generator i in client host i by its segment.
 */
async function startTarget(): Promise<{ url: string; close(): Promise<void> }> {
  const target = await startHttpTarget({});
  return { url: `${target.url}/`, close: () => target.close() };
}
function generatorLine(url: string, startAt: number): string[] {
  return [process.execPath, bin, 'http', url, '--rate', String(RATE), '--duration', `${DURATION_S}s`, '--start-at', String(startAt), '--json', '-', '-q'];
}
function srunLine(dir: string, generator: string[]): string[] {
  // srun writes each task's stdout (the JSON) to a file of its own, by task id (%t).
  // --time bounds the step if a generator hangs; --kill-on-bad-exit ends the others when one fails.
  return ['srun', '-n', String(TASKS), '--overcommit', '--time=2', '--kill-on-bad-exit=1', `--output=${dir}/part-%t.json`, `--error=${dir}/part-%t.err`, ...generator];
}

const missing = ['srun', 'slurmctld', 'slurmd', 'munged', 'mungekey'].filter((b) => findBinary(b) === undefined);
const skipReason =
  typeof process.getuid === 'function' && process.getuid() !== 0
    ? 'not root (slurmd runs the tasks)'
    : missing.length > 0
      ? `no ${missing.join(', ')} (apt-get install --no-install-recommends slurm-wlm munge)`
      : undefined;
if (skipReason !== undefined) console.warn(`test/distributed/slurm.test.ts: Slurm tests skipped: ${skipReason}`);

function counts(h: Histogram): number[] {
  const j = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
  return Array.from({ length: j.countsArrayLength }, (_, i) => j.getCountAtIndex(i));
}

const readOr = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return `(no ${file})`;
  }
};

/** Whole seconds, far enough ahead for the processes to start on a loaded machine. */
const startInstant = (aheadMs: number): number => Math.ceil((Date.now() + aheadMs) / 1000) * 1000;

function spawnBounded(argv: string[], env: NodeJS.ProcessEnv, limitMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/**
 * The job's final state, polled: `sbatch --wait` polls with a growing
 * interval, and would add up to half a minute to a job of fifteen seconds.
 */
async function jobEnd(id: string, env: NodeJS.ProcessEnv, limitMs: number): Promise<string> {
  const until = Date.now() + limitMs;
  for (;;) {
    const { stdout } = await run('scontrol', ['show', 'job', '-o', id], { env });
    const state = /JobState=(\S+)/.exec(stdout)?.[1] ?? 'UNKNOWN';
    if (!['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING'].includes(state)) return state;
    if (Date.now() > until) {
      await run('scancel', [id], { env });
      return `${state} after ${limitMs} ms (cancelled)`;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(skipReason !== undefined)('srun -n 4 generators on a local Slurm cluster, then tsload merge', { timeout: 120_000 }, () => {
  const env = { ...process.env };
  const dir = mkdtempSync(join(tmpdir(), 'tsload-slurm-'));
  const file = (name: string): string => join(dir, name);
  let target: { url: string; close(): Promise<void> } | undefined;
  let broughtUp = false;
  let srun: { code: number | null; stderr: string };
  let startAt = 0;
  let single: HttpResult;

  beforeAll(async () => {
    const up = await run('bash', [script, 'up'], { env });
    broughtUp = !up.stderr.includes('already up');
    const conf = /SLURM_CONF=(\S+)/.exec(up.stdout)?.[1];
    if (conf === undefined) throw new Error(`slurm-local.sh up printed no SLURM_CONF: ${up.stdout} ${up.stderr}`);
    env.SLURM_CONF = conf;
    target = await startTarget();
    // The single generator first: the target is then as warm for the four as it was for the one.
    const one = await tsload([...generatorLine(target.url, startInstant(2000)).slice(2)]);
    expect(one.code, one.stderr).toBe(0);
    single = JSON.parse(one.stdout) as HttpResult;
    startAt = startInstant(4000);
    srun = await spawnBounded(srunLine(dir, generatorLine(target.url, startAt)), env, 60_000);
  }, 100_000);

  afterAll(async () => {
    await target?.close();
    if (broughtUp) await run('bash', [script, 'down'], { env });
  });

  const part = (i: number): HttpResult => JSON.parse(readFileSync(file(`part-${i}.json`), 'utf8')) as HttpResult;

  it('runs four generators, each on the segment Slurm gave it, from the same instant', () => {
    expect(srun.code, srun.stderr).toBe(0);
    for (let i = 0; i < TASKS; i++) {
      const r = part(i);
      expect(r.segment).toMatchObject({ index: i + 1, count: TASKS, source: 'slurm' });
      expect(r.steps[0]!.targetRate).toBe(RATE / TASKS);
      expect(r.start!.requestedAt).toBe(new Date(startAt).toISOString());
      expect(r.steps[0]!.window!.startMs).toBe(startAt + 1000);
    }
  });

  it('merges into one run at the whole rate: send rate within 1%, histogram the sum of the four, p50 within 0.5 ms of one generator', async () => {
    const merge = await tsload(['merge', ...Array.from({ length: TASKS }, (_, i) => file(`part-${i}.json`)), '-o', file('merged.json'), '-q']);
    expect(merge.code, merge.stderr).toBe(0);
    const merged = JSON.parse(readFileSync(file('merged.json'), 'utf8')) as HttpResult;
    const step = merged.steps[0]!;
    const parts = Array.from({ length: TASKS }, (_, i) => part(i).steps[0]!);
    expect(step.sent).toBe(parts.reduce((s, p) => s + p.sent, 0));
    expect(step.sent).toBe(RATE * DURATION_S);
    expect(Math.abs(step.sendRate - RATE)).toBeLessThanOrEqual(RATE * 0.01);
    const sum = counts(decodeHistogram(parts[0]!.histograms.latency));
    for (const p of parts.slice(1)) counts(decodeHistogram(p.histograms.latency)).forEach((n, i) => (sum[i]! += n));
    expect(counts(decodeHistogram(step.histograms.latency))).toEqual(sum);
    expect(step.latencyMs.count).toBe(step.completed);
    const one = single.steps[0]!;
    expect(Math.abs(one.sendRate - RATE)).toBeLessThanOrEqual(RATE * 0.01);
    console.info(`slurm: merged of ${TASKS}: send ${step.sendRate}/s p50 ${step.latencyMs.p50} ms p99 ${step.latencyMs.p99} ms; one generator: send ${one.sendRate}/s p50 ${one.latencyMs.p50} ms p99 ${one.latencyMs.p99} ms`);
    expect(Math.abs(step.latencyMs.p50 - one.latencyMs.p50)).toBeLessThanOrEqual(0.5);
  });

  it('runs docs/slurm/tsload.sbatch: a step of four generators and their merged result', async () => {
    // The script calls `tsload` as an installed package would be: put this checkout's on PATH.
    const attempt = mkdtempSync(join(dir, 'sbatch-'));
    const path = join(attempt, 'path');
    mkdirSync(path);
    symlinkSync(bin, join(path, 'tsload'));
    const out = join(attempt, 'out');
    const rate = 2000;
    const submitted = await run(
      // One machine: all four tasks on this node, more tasks than CPUs.
      'sbatch',
      ['--parsable', '--overcommit', `--output=${attempt}/sbatch.out`, sbatchScript],
      { env: { ...env, PATH: `${path}:${dirname(process.execPath)}:${env.PATH ?? ''}`, TSLOAD_TARGET: target!.url, TSLOAD_RATE: String(rate), TSLOAD_DURATION: '2s', TSLOAD_OUT: out } },
    );
    const state = await jobEnd(submitted.stdout.trim().split(';')[0]!, env, 60_000);
    expect(state, readOr(join(attempt, 'sbatch.out'))).toBe('COMPLETED');
    const merged = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as HttpResult;
    expect(merged.generators!.map((g) => g.segment!.source)).toEqual(Array(TASKS).fill('slurm'));
    expect(merged.steps[0]!.targetRate).toBe(rate);
    expect(merged.steps[0]!.sent).toBe(rate * 2);
  });

  it('refuses a step of more tasks than CPUs without --overcommit at once, rather than leaving it pending', async () => {
    const refused = await spawnBounded(['srun', '-n', '64', '--time=1', 'true'], env, 20_000);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/More processors requested than permitted/);
  });
});
