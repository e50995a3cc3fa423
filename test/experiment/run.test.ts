/**
 * `tsload experiment` for real, as a user runs it: the CI plan
 * (fixtures/experiments/ci.yaml: nginx and lighttpd over HTTP, NSD and the
 * built-in server over DNS, two repeats of two short steps) in this
 * testbed (TSLOAD_TESTBED_ID), stopped by SIGINT in its third cell, then
 * the same command again, which must finish without redoing what was done.
 * Needs root and iproute2 (skipped otherwise) and the servers installed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlan, planCells, readExperiment } from '../../src/experiment/index.js';
import type { ExperimentManifest } from '../../src/experiment/index.js';
import type { Result } from '../../src/result.js';
import { CLIENT, SERVER, STATE_DIR, down, status } from '../../src/testbed/index.js';
import { run } from '../../src/testbed/system.js';
import { VERSION } from '../../src/version.js';
import type { ExperimentSummary } from '../../src/experiment/summary.js';
import { checkExperimentHtml, checkSummary } from './summary-checks.js';
import { testbedSkipReason } from '../testbed-skip.js';

const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'bin', 'tsload.js');
const ciPlan = join(root, 'fixtures', 'experiments', 'ci.yaml');

const skipReason = testbedSkipReason(['nginx', 'lighttpd', 'nsd']);
if (skipReason !== undefined) console.warn(`test/experiment/run.test.ts: skipped: ${skipReason}`);

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The CLI in a child of its own process group; with `interruptWhen`, `signal`
 * (SIGINT) to the whole group as soon as stderr matches it, as a terminal's
 * Ctrl-C reaches the CLI and the run it spawned alike (bounded: killed after 80 s regardless).
 */
function experiment(args: string[], interruptWhen?: RegExp, signal: NodeJS.Signals = 'SIGINT'): Promise<Exit & { interrupted: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'experiment', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const group = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // already gone
      }
    };
    let stderr = '';
    let stdout = '';
    let interrupted = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const guard = setTimeout(() => group('SIGKILL'), 80_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (interruptWhen !== undefined && !interrupted && interruptWhen.test(stderr)) {
        interrupted = true;
        group(signal);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr, interrupted });
    });
  });
}

/** Processes whose command line points into this testbed's state directory: the targets' servers. */
function strayTargets(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(`${STATE_DIR}/`)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function ourNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n === CLIENT.namespace || n === SERVER.namespace);
}

const manifestOf = (dir: string): ExperimentManifest => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ExperimentManifest;

describe.skipIf(skipReason !== undefined)('tsload experiment in the testbed (root)', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'tsload-experiment-'));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    // The runner brings the testbed up itself, and down again only if it did: start from none.
    if ((await status()).up) await down();
  });
  afterAll(async () => {
    await down();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('Ctrl-C in the third cell keeps what was done; the same command resumes and completes without redoing it', async () => {
    const plan = loadPlan(ciPlan);
    const order = planCells(plan).map((c) => c.id);
    const out = join(tempDir(), 'results');
    const args = [ciPlan, '-o', out];

    // 1. Stopped once the third cell's load has begun.
    const first = await experiment(args, /cell 3\/8 nsd\/zone r1 · step 1\/2/);
    expect(first.interrupted, first.stderr).toBe(true);
    expect(first.code, first.stderr).toBe(130);
    const stopped = manifestOf(out);
    expect(stopped.cells.map((c) => [c.id, c.status])).toEqual(order.map((id, i) => [id, i < 2 ? 'done' : 'pending']));
    // The cut-short cell left nothing behind: no result, no attempt recorded as if it had run.
    expect(stopped.cells[2]).toEqual({ id: 'nsd--zone--r1', target: 'nsd', workload: 'zone', repeat: 1, protocol: 'dns', file: 'cells/nsd--zone--r1.json', status: 'pending' });
    expect(readdirSync(join(out, 'cells')).sort()).toEqual(['lighttpd--page--r1.json', 'nginx--page--r1.json']);
    expect(stopped.runs).toHaveLength(1);
    expect(stopped.runs[0]).toMatchObject({ ran: order.slice(0, 2), skipped: [], failed: [], interrupted: true });
    // The target was stopped and the testbed the run brought up is gone.
    expect(strayTargets()).toEqual([]);
    expect(await ourNamespaces()).toEqual([]);
    expect(existsSync(STATE_DIR)).toBe(false);

    const kept = new Map(['nginx--page--r1', 'lighttpd--page--r1'].map((id) => [id, statSync(join(out, 'cells', `${id}.json`))]));

    // 2. The same command again: runs the six left, skips the two done.
    const second = await experiment(args);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`2 of 8 cells already done in ${out}: skipped`);
    for (const [id, before] of kept) {
      const after = statSync(join(out, 'cells', `${id}.json`));
      expect([after.ino, after.mtimeMs, after.size]).toEqual([before.ino, before.mtimeMs, before.size]);
    }
    const manifest = manifestOf(out);
    expect(manifest.runs).toHaveLength(2);
    expect(manifest.runs[1]).toMatchObject({ ran: order.slice(2), skipped: order.slice(0, 2), failed: [], interrupted: false });
    expect(strayTargets()).toEqual([]);
    expect(await ourNamespaces()).toEqual([]);

    // The folder: manifest.json, cells/<id>.json for every cell, logs/ (empty: nothing failed), and the summary across repeats the finished run wrote.
    expect(readdirSync(out).sort()).toEqual(['cells', 'logs', 'manifest.json', 'report.html', 'summary.csv', 'summary.json']);
    // The summary on stdout and in the folder: every interval recomputed from the cells, the page with every target as a series.
    const read = readExperiment(out);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ExperimentSummary;
    checkSummary(summary, read);
    checkExperimentHtml(readFileSync(join(out, 'report.html'), 'utf8'), summary);
    expect(second.stdout).toMatch(/nginx vs lighttpd|lighttpd vs nginx/);
    expect(second.stdout).toMatch(/nsd vs builtin-dns|builtin-dns vs nsd/);
    // `tsload report` takes the folder as well.
    const reported = await run(process.execPath, [bin, 'report', out, '-o', join(out, 'again.html')]);
    expect(reported.code, reported.stderr).toBe(0);
    expect(reported.stdout).toMatch(/nginx vs lighttpd|lighttpd vs nginx/);
    expect(readFileSync(join(out, 'again.html'), 'utf8')).toBe(readFileSync(join(out, 'report.html'), 'utf8'));
    rmSync(join(out, 'again.html'));
    expect(readdirSync(join(out, 'cells')).sort()).toEqual(order.map((id) => `${id}.json`).sort());
    expect(readdirSync(join(out, 'logs'))).toEqual([]);

    // The manifest's fields.
    expect(manifest.schema).toBe('tsload-experiment/1');
    expect(manifest.planFile).toBe(ciPlan);
    expect(manifest.plan).toEqual(plan);
    expect(manifest.createdAt).toBe(stopped.createdAt);
    expect(Date.parse(manifest.updatedAt)).toBeGreaterThan(Date.parse(manifest.createdAt));
    expect(manifest.machine).toMatchObject({ kernel: release(), node: process.version });
    expect(manifest.machine.os).not.toBe('');
    expect(manifest.machine.cpus).toBeGreaterThan(0);
    expect(manifest.machine.memoryBytes).toBeGreaterThan(2 ** 28);
    expect(manifest.versions.tsload).toBe(VERSION);
    expect(Object.keys(manifest.versions.servers).sort()).toEqual(['builtin-dns', 'lighttpd', 'nginx', 'nsd']);
    expect(manifest.versions.servers.nginx).toMatch(/nginx\/\d+\.\d+/);
    expect(manifest.versions.servers.lighttpd).toMatch(/lighttpd\/\d+\.\d+/);
    expect(manifest.versions.servers.nsd).toMatch(/NSD version \d+\.\d+/);
    expect(manifest.versions.servers['builtin-dns']).toContain(VERSION);
    expect(manifest.testbed).toMatchObject({ rate: '1gbit', rateBitsPerSecond: 1e9, delayMicroseconds: 0, lossPercent: 0 });
    expect(manifest.cells.map((c) => c.id)).toEqual(order);
    for (const cell of manifest.cells) {
      expect(cell.status).toBe('done');
      expect(cell.file).toBe(`cells/${cell.id}.json`);
      expect(Date.parse(cell.finishedAt!)).toBeGreaterThan(Date.parse(cell.startedAt!));
    }
    // Repeats interleave in time: every cell of repeat 1 finished before any of repeat 2 began.
    const r1 = manifest.cells.filter((c) => c.repeat === 1).map((c) => Date.parse(c.finishedAt!));
    const r2 = manifest.cells.filter((c) => c.repeat === 2).map((c) => Date.parse(c.startedAt!));
    expect(Math.max(...r1)).toBeLessThanOrEqual(Math.min(...r2));

    // Each cell: the result `--json` writes, labelled with its target, with honest counts at 100 and 400/s.
    const { cells, missing } = readExperiment(out);
    expect(missing).toEqual([]);
    expect(cells).toHaveLength(8);
    for (const { cell, result } of cells) {
      expect(result.label).toBe(cell.target);
      expect(result.protocol).toBe(cell.protocol);
      expect(result.aborted).toBe(false);
      expect(result.target).toContain(SERVER.address);
      expect(result.steps.map((s) => s.targetRate)).toEqual([100, 400]);
      for (const step of result.steps) {
        const planned = step.targetRate * step.durationS;
        expect(step.sent, cell.id).toBeGreaterThanOrEqual(Math.floor(planned * 0.95));
        expect(step.sent, cell.id).toBeLessThanOrEqual(Math.ceil(planned * 1.05));
        expect(step.completed, cell.id).toBeGreaterThanOrEqual(Math.floor(step.sent * 0.99));
        expect(step.errors.total, cell.id).toBe(0);
      }
      expect((JSON.parse(readFileSync(join(out, cell.file), 'utf8')) as Result).schema).toBe('tsload/result@1');
    }

    // 3. Another plan into the same folder is refused, saying where they differ; nothing is touched.
    const other = join(tempDir(), 'other.yaml');
    writeFileSync(other, readFileSync(ciPlan, 'utf8').replace('rate: 100..400', 'rate: 100..800').replace('../test.zone', join(root, 'fixtures', 'test.zone')));
    const refused = await experiment([other, '-o', out]);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('holds the results of another plan (plan.workloads[0].sweep.rate: was "100..400", now "100..800")');
    expect(manifestOf(out).runs).toHaveLength(2);

    // 4. Once more, all done: nothing runs and no testbed is brought up.
    const third = await experiment(args);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toContain('8 of 8 cells already done');
    expect(manifestOf(out).runs[2]).toMatchObject({ ran: [], skipped: order, interrupted: false });
    expect(await ourNamespaces()).toEqual([]);
  }, 100_000);

  it('after a crash (SIGKILL) the same command stops what the dead run left, finishes, and takes its testbed down', async () => {
    const dir = tempDir();
    const file = join(dir, 'crash.yaml');
    writeFileSync(
      file,
      `
name: crash
sweep: { rate: 200, duration: 1s, warmup: 0.2s }
targets: [nginx, builtin-dns]
workloads:
  - { name: page, protocol: http, path: /index.html }
  - { name: zone, protocol: dns, zone: ${join(root, 'fixtures', 'test.zone')} }
`,
    );
    const out = join(dir, 'results');
    const killed = await experiment([file, '-o', out], /cell 2\/2 builtin-dns\/zone r1 · step 1\/1/, 'SIGKILL');
    expect(killed.interrupted, killed.stderr).toBe(true);
    expect(killed.code).toBe(null);
    const dead = manifestOf(out);
    expect(dead.runs[0]).toMatchObject({ ran: ['nginx--page--r1'], testbedBroughtUp: true });
    expect(dead.runs[0]!.finishedAt).toBeUndefined();
    // What a crash leaves: the target and the testbed.
    expect((await status()).targets.filter((t) => t.alive).map((t) => t.name)).toEqual(['builtin-dns']);

    // What else a crash can leave: a half-written file, and the log of an earlier failed attempt at a cell still to run.
    writeFileSync(join(out, 'cells', 'builtin-dns--zone--r1.json.tmp-99999'), '{"sch');
    writeFileSync(join(out, 'logs', 'builtin-dns--zone--r1.log'), 'an earlier attempt failed\n');

    const again = await experiment([file, '-o', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('did not finish: stopped the builtin-dns it left running');
    expect(manifestOf(out).cells.map((c) => c.status)).toEqual(['done', 'done']);
    expect(manifestOf(out).runs[1]).toMatchObject({ ran: ['builtin-dns--zone--r1'], skipped: ['nginx--page--r1'], testbedBroughtUp: true });
    expect(readdirSync(join(out, 'cells')).sort()).toEqual(['builtin-dns--zone--r1.json', 'nginx--page--r1.json']);
    expect(readdirSync(join(out, 'logs'))).toEqual([]);
    expect(strayTargets()).toEqual([]);
    expect(await ourNamespaces()).toEqual([]);
  }, 60_000);

  it('a target that will not start fails its cell, with its log; the others still run (one under a series name of its own); the exit status says so', async () => {
    const dir = tempDir();
    const file = join(dir, 'broken.yaml');
    // NSD refuses a type it does not know (NINFO) that tsload's zone reader accepts: a server that exits at start.
    const zone = join(dir, 'ninfo.zone');
    writeFileSync(zone, '$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nx NINFO "a"\n');
    writeFileSync(
      file,
      `
name: broken
sweep: { rate: 200, duration: 0.5s, warmup: 0.2s }
targets:
  - { name: no-root, server: builtin-http, root: ${join(dir, 'no-such-root')} }
  - { name: web, server: nginx }
  - { name: nsd, zone: ${zone} }
workloads:
  - { name: page, protocol: http, path: /index.html }
  - { name: zone, protocol: dns, zone: ${join(root, 'fixtures', 'test.zone')} }
`,
    );
    const out = join(dir, 'results');
    const result = await experiment([file, '-o', out, '-q']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('2 failed: no-root--page--r1, nsd--zone--r1');
    const manifest = manifestOf(out);
    expect(manifest.cells.map((c) => [c.id, c.status])).toEqual([
      ['no-root--page--r1', 'failed'],
      ['web--page--r1', 'done'],
      ['nsd--zone--r1', 'failed'],
    ]);
    expect(manifest.cells[0]!.error).toContain('not a directory');
    expect(readFileSync(join(out, 'logs', 'no-root--page--r1.log'), 'utf8')).toContain('not a directory');
    expect(manifest.cells[2]!.error).toContain('nsd did not become ready');
    // The log holds the server's own words, from the end of its log.
    const log = readFileSync(join(out, 'logs', 'nsd--zone--r1.log'), 'utf8');
    expect(log).toContain('--- end of');
    expect(log).toMatch(/NINFO/i);
    // The series is named by the target, the version by the server it runs.
    expect(Object.keys(manifest.versions.servers).sort()).toEqual(['builtin-http', 'nginx', 'nsd']);
    const done = readExperiment(out);
    expect(done.cells.map((c) => c.cell.id)).toEqual(['web--page--r1']);
    expect(done.cells[0]!.result.label).toBe('web');
    expect(done.cells[0]!.result.steps[0]!.completed).toBeGreaterThanOrEqual(99);
    expect(done.missing.map((c) => c.id)).toEqual(['no-root--page--r1', 'nsd--zone--r1']);
    expect(strayTargets()).toEqual([]);
    expect(await ourNamespaces()).toEqual([]);
  }, 60_000);
});
