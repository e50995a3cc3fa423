/**
 * A distributed run launched by a real Slurm cluster on this machine
 * (scripts/slurm-local.sh: munged, slurmctld and one slurmd) through the
 * testbed (`tsload testbed up --clients 4`, nginx in the server host):
 * `srun -n 4` starts four generators, each of which finds its segment in
 * Slurm's own variables and so runs in its own client host, at one
 * --start-at; `tsload merge` makes them one run, which is compared with one
 * generator sending the whole rate (from client host 1) in the same test.
 * Needs root, Debian's slurm-wlm and munge, iproute2 and nginx; skipped,
 * saying why, without. Run with TSLOAD_TESTBED_ID set when other testbeds
 * (and Slurm clusters, which take their ports from it) share the machine.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHistogram, type Histogram } from '../../src/measure/histogram.js';
import type { HttpResult } from '../../src/result.js';
import { SERVER, clientHost } from '../../src/testbed/settings.js';
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
 * A fixed pool of 64 in total, which each of the four generators' segment
 * divides into 16: the single generator and the four then hold the same
 * connections to nginx. A pool that grows on demand opened 175 for the one
 * and 7 to 26 for each of the four (67 together) in the same runs, and 3 to
 * 11% of a part's requests waited for a connection to open against 1.5% of
 * the single run's: the two sides would differ in the pool, not only in being
 * one process or four.
 */
const CONNECTIONS = 64;

/*
 * The launch line. `--testbed` without a URL aims at the server host's
 * running target (nginx) and puts a generator with a segment in client host
 * i; the single one, with no segment, runs in client host 1.
 */
function generatorLine(startAt: number): string[] {
  return [process.execPath, bin, 'http', '--testbed', '--rate', String(RATE), '--connections', String(CONNECTIONS), '--duration', `${DURATION_S}s`, '--start-at', String(startAt), '--json', '-', '-q'];
}
function srunLine(dir: string, generator: string[]): string[] {
  // srun writes each task's stdout (the JSON) to a file of its own, by task id (%t).
  // --time bounds the step if a generator hangs; --kill-on-bad-exit ends the others when one fails.
  return ['srun', '-n', String(TASKS), '--overcommit', '--time=2', '--kill-on-bad-exit=1', `--output=${dir}/part-%t.json`, `--error=${dir}/part-%t.err`, ...generator];
}

const missing = ['srun', 'slurmctld', 'slurmd', 'munged', 'mungekey'].filter((b) => findBinary(b) === undefined);
const skipReason =
  typeof process.getuid === 'function' && process.getuid() !== 0
    ? 'not root (slurmd runs the tasks; the testbed creates network namespaces)'
    : missing.length > 0
      ? `no ${missing.join(', ')} (apt-get install --no-install-recommends slurm-wlm munge)`
      : ['ip', 'tc', 'ss'].some((b) => findBinary(b) === undefined)
        ? 'no `ip`/`tc`/`ss` (apt-get install iproute2)'
        : findBinary('nginx') === undefined
          ? 'no nginx (apt-get install nginx-light)'
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

describe.skipIf(skipReason !== undefined)('srun -n 4 generators on a local Slurm cluster through 4 testbed client hosts, then tsload merge', { timeout: 120_000 }, () => {
  const env = { ...process.env };
  const dir = mkdtempSync(join(tmpdir(), 'tsload-slurm-'));
  const file = (name: string): string => join(dir, name);
  let url = '';
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
    // This testbed id's own: a leftover of an earlier run, with another count of client hosts, would refuse `up --clients`.
    await tsload(['testbed', 'down']);
    const testbed = await tsload(['testbed', 'up', '--clients', String(TASKS)]);
    expect(testbed.code, testbed.stderr).toBe(0);
    const nginx = await tsload(['testbed', 'start', 'nginx']);
    expect(nginx.code, nginx.stderr).toBe(0);
    url = /running \(pid \d+\) at (\S+),/.exec(nginx.stdout)?.[1] ?? '';
    // The single generator first: the target is then as warm for the four as it was for the one.
    const one = await tsload([...generatorLine(startInstant(2000)).slice(2)]);
    expect(one.code, one.stderr).toBe(0);
    single = JSON.parse(one.stdout) as HttpResult;
    startAt = startInstant(4000);
    srun = await spawnBounded(srunLine(dir, generatorLine(startAt)), env, 60_000);
  }, 100_000);

  afterAll(async () => {
    await tsload(['testbed', 'down']);
    if (broughtUp) await run('bash', [script, 'down'], { env });
  }, 60_000);

  const part = (i: number): HttpResult => JSON.parse(readFileSync(file(`part-${i}.json`), 'utf8')) as HttpResult;

  it('runs four generators, each on the segment Slurm gave it, in its own client host, from the same instant', () => {
    expect(srun.code, srun.stderr).toBe(0);
    expect(url).toBe(`http://${SERVER.address}/`);
    expect(single.testbed).toEqual({ client: clientHost(1).namespace, address: clientHost(1).address, index: 1, clients: TASKS });
    expect(single.target).toBe(url);
    expect(single.steps[0]!.server?.target).toBe('nginx');
    for (let i = 0; i < TASKS; i++) {
      const r = part(i);
      const host = clientHost(i + 1);
      expect(r.testbed).toEqual({ client: host.namespace, address: host.address, index: i + 1, clients: TASKS });
      expect(r.target).toBe(url);
      expect(r.steps[0]!.server?.target).toBe('nginx');
      expect(r.segment).toMatchObject({ index: i + 1, count: TASKS, source: 'slurm' });
      expect(r.steps[0]!.errors.total).toBe(0);
      // The pool's 64 split by segment: 16 each, 64 in all, as the single generator's.
      expect(r.steps[0]!.pool).toMatchObject({ limit: CONNECTIONS, fixed: true });
      expect(r.steps[0]!.connections).toBe(CONNECTIONS / TASKS);
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
    const one = single.steps[0]!;
    // Said first, so that a failed check below comes with the run's figures.
    const limits = (s: HttpResult['steps'][number]): string =>
      (s.generatorLimits ?? []).map((l) => (l.kind === 'connections' ? `pool waited ${(l.waitedShare * 100).toFixed(1)}%` : l.kind === 'scheduleLag' ? `lag p99 ${l.lagP99Ms} ms` : l.kind)).join(', ') || 'none';
    const figures =
      `slurm: merged of ${TASKS}: sent ${step.sent} send ${step.sendRate}/s p50 ${step.latencyMs.p50} ms p99 ${step.latencyMs.p99} ms, ${step.connections} connections; ` +
      `one generator: sent ${one.sent} send ${one.sendRate}/s p50 ${one.latencyMs.p50} ms p99 ${one.latencyMs.p99} ms, ${one.connections} connections; ` +
      `tsload's limits: ${parts.map((p, i) => `part ${i + 1} ${limits(p)}`).join('; ')}; one ${limits(one)}`;
    console.info(figures);
    expect(step.sent, figures).toBe(parts.reduce((s, p) => s + p.sent, 0));
    expect(step.sent, figures).toBe(RATE * DURATION_S);
    expect(Math.abs(step.sendRate - RATE), figures).toBeLessThanOrEqual(RATE * 0.01);
    const sum = counts(decodeHistogram(parts[0]!.histograms.latency));
    for (const p of parts.slice(1)) counts(decodeHistogram(p.histograms.latency)).forEach((n, i) => (sum[i]! += n));
    expect(counts(decodeHistogram(step.histograms.latency))).toEqual(sum);
    expect(step.latencyMs.count).toBe(step.completed);
    // Four client hosts, kept generator by generator; the merged run itself ran in none.
    expect(merged.testbed).toBeUndefined();
    expect(merged.generators!.map((g) => g.testbed?.index)).toEqual([1, 2, 3, 4]);
    expect(new Set(merged.generators!.map((g) => g.testbed?.address)).size).toBe(TASKS);
    expect(step.connections, figures).toBe(CONNECTIONS);
    expect(one.connections, figures).toBe(CONNECTIONS);
    expect(Math.abs(one.sendRate - RATE), figures).toBeLessThanOrEqual(RATE * 0.01);
    // Latency is the one figure a busy machine moves: four generators and nginx on two cores
    // can fall behind for a second (their pools wait, their schedules lag: each part says so).
    // A stall spoils one pair; a merge that is not the one run's would spoil every pair. So a
    // pair that differs is measured again, side by side as before, at most twice more.
    const pairs = [{ merged: step.latencyMs.p50, one: one.latencyMs.p50, figures }];
    while (Math.abs(pairs.at(-1)!.merged - pairs.at(-1)!.one) > 0.5 && pairs.length < 3) pairs.push(await measurePair(pairs.length));
    const said = pairs.map((p, i) => `pair ${i + 1}: merged p50 ${p.merged} ms, one ${p.one} ms (${p.figures})`).join('\n');
    console.info(said);
    expect(Math.abs(pairs.at(-1)!.merged - pairs.at(-1)!.one), said).toBeLessThanOrEqual(0.5);
  }, 150_000);

  /** One more single run and one more srun of four, merged, as in beforeAll. */
  async function measurePair(k: number): Promise<{ merged: number; one: number; figures: string }> {
    const again = mkdtempSync(join(dir, `pair-${k}-`));
    const single = await tsload([...generatorLine(startInstant(2000)).slice(2)]);
    expect(single.code, single.stderr).toBe(0);
    const one = (JSON.parse(single.stdout) as HttpResult).steps[0]!;
    const four = await spawnBounded(srunLine(again, generatorLine(startInstant(4000))), env, 60_000);
    expect(four.code, four.stderr).toBe(0);
    const files = Array.from({ length: TASKS }, (_, i) => join(again, `part-${i}.json`));
    const merge = await tsload(['merge', ...files, '-o', join(again, 'merged.json'), '-q']);
    expect(merge.code, merge.stderr).toBe(0);
    const step = (JSON.parse(readFileSync(join(again, 'merged.json'), 'utf8')) as HttpResult).steps[0]!;
    const limited = files.map((f) => (JSON.parse(readFileSync(f, 'utf8')) as HttpResult).steps[0]!.generatorLimits?.map((l) => l.kind).join('+') || 'none');
    return { merged: step.latencyMs.p50, one: one.latencyMs.p50, figures: `merged p99 ${step.latencyMs.p99} ms, one p99 ${one.latencyMs.p99} ms; parts' limits ${limited.join(', ')}` };
  }

  it('runs docs/slurm/tsload.sbatch: a step of four generators, one in each client host, and their merged result', async () => {
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
      { env: { ...env, PATH: `${path}:${dirname(process.execPath)}:${env.PATH ?? ''}`, TSLOAD_TARGET: url, TSLOAD_OPTIONS: '--testbed', TSLOAD_RATE: String(rate), TSLOAD_DURATION: '2s', TSLOAD_OUT: out } },
    );
    const state = await jobEnd(submitted.stdout.trim().split(';')[0]!, env, 60_000);
    expect(state, readOr(join(attempt, 'sbatch.out'))).toBe('COMPLETED');
    const merged = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as HttpResult;
    expect(merged.generators!.map((g) => g.segment!.source)).toEqual(Array(TASKS).fill('slurm'));
    expect(merged.generators!.map((g) => g.testbed?.address)).toEqual(Array.from({ length: TASKS }, (_, i) => clientHost(i + 1).address));
    expect(merged.steps[0]!.targetRate).toBe(rate);
    expect(merged.steps[0]!.sent).toBe(rate * 2);
  });

  it('refuses a step of more tasks than CPUs without --overcommit at once, rather than leaving it pending', async () => {
    const refused = await spawnBounded(['srun', '-n', '64', '--time=1', 'true'], env, 20_000);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/More processors requested than permitted/);
  });
});
