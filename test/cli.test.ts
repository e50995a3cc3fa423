/** The CLI as a user runs it: the built bin in a child process, exit codes and outputs. */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpTarget, type HttpTarget } from '../src/targets/http.js';
import { tsload } from './run-cli.js';

describe('tsload CLI', () => {
  let target: HttpTarget;
  const dir = mkdtempSync(join(tmpdir(), 'tsload-cli-'));
  beforeAll(async () => {
    target = await startHttpTarget({});
  });
  afterAll(async () => {
    await target.close();
  });

  it('runs a constant-rate HTTP run and writes the result schema', async () => {
    const json = join(dir, 'run.json');
    const run = await tsload(['http', `${target.url}/`, '--rate', '200', '--duration', '1s', '--warmup', '200ms', '--json', json]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Requests sent\s+200/);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    expect(result.schema).toBe('tsload/result@1');
    expect(result.protocol).toBe('http');
    expect(result.target).toBe(`${target.url}/`);
    const step = result.steps[0];
    for (const key of ['targetRate', 'durationS', 'sent', 'completed', 'sendRate', 'replyRate', 'timeouts', 'dropped', 'connections']) {
      expect(typeof step[key], key).toBe('number');
    }
    expect(step.errors.total).toBe(0);
    for (const stats of [step.latencyMs, step.serviceTimeMs, step.scheduleLagMs]) {
      expect(Object.keys(stats)).toEqual(expect.arrayContaining(['min', 'mean', 'stdev', 'p50', 'p90', 'p99', 'p999', 'max']));
    }
    expect(step.histograms.latency.length).toBeGreaterThan(10);
    // Progress went to stderr, not stdout.
    expect(run.stderr).toMatch(/step 1\/1/);
  });

  it('sweeps and prints one row per step, JSON to stdout with --json -', async () => {
    const run = await tsload(['http', target.url, '--rate', '100..300', '--steps', '3', '--duration', '1s', '--warmup', '0', '--json', '-', '--quiet']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout);
    expect(result.steps.map((s: { targetRate: number }) => s.targetRate)).toEqual([100, 200, 300]);
    expect(result.steps.map((s: { sent: number }) => s.sent)).toEqual([100, 200, 300]);
  });

  it('prints httperf\'s statistics block with --format httperf', async () => {
    const run = await tsload(['http', target.url, '--rate', '100', '--duration', '1s', '--warmup', '0', '--format', 'httperf', '-q']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Total: connections \d+ requests 100 replies 100 test-duration 1\.0\d\d s$/m);
    expect(run.stdout).toMatch(/^Reply status: 1xx=0 2xx=100 3xx=0 4xx=0 5xx=0$/m);
    expect(run.stdout).toMatch(/^Errors: total 0 client-timo 0 socket-timo 0 connrefused 0 connreset 0$/m);
  });

  it('sends with either HTTP client, and refuses one it does not know', async () => {
    for (const client of ['native', 'undici']) {
      const run = await tsload(['http', `${target.url}/1k.html`, '--client', client, '--rate', '200', '--duration', '1s', '--warmup', '0', '--json', '-', '-q']);
      expect(run.code, client).toBe(0);
      const step = JSON.parse(run.stdout).steps[0];
      expect(step.completed, client).toBe(200);
      expect(step.statusCodes['200'], client).toBe(200);
      expect(step.errors.total, client).toBe(0);
    }
    const bad = await tsload(['http', target.url, '--client', 'curl', '--rate', '100', '--duration', '1s']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/client must be one of native, undici/);
  });

  it('exits 2 on bad options, listing every problem', async () => {
    const run = await tsload(['http', target.url, '--rate', 'fast', '--duration', 'forever', '--threads', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--rate/);
    expect(run.stderr).toMatch(/--duration/);
    expect(run.stderr).toMatch(/--threads/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('says a bad rate or count in one line: the range for a rate out of it, and no second NaN line', async () => {
    const range = 'rates go from 0.01 to 1000000 per second';
    for (const [args, line] of [
      [['--rate', '0'], `tsload: --rate: 0 is out of range: ${range}`],
      [['--rate', '1e9'], `tsload: --rate: 1e9 is out of range: ${range}`],
      [['--rate', 'fast'], "tsload: --rate: 'fast' is not a rate, a list (100,500,2000) or a range (100..10000[:step])"],
      [['--connections', 'abc'], "tsload: --connections: 'abc' is not a number"],
      [['--pipelining', 'x'], "tsload: --pipelining: 'x' is not a number"],
    ] as const) {
      const run = await tsload(['http', target.url, ...args, '--duration', '1s']);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toBe(`${line}\n`);
    }
  });

  it('exits 2 at once, before the run, when an output file cannot be written', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const started = Date.now();
    const run = await tsload([
      'http', target.url, '--rate', '10', '--duration', '30s',
      '--json', join(file, 'r.json'), '--csv', join(file, 'sub', 'r.csv'), '--report', dir,
    ]);
    expect(run.code).toBe(2);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      [
        'tsload: invalid options:',
        `  --json: cannot write ${join(file, 'r.json')}: ${file} is a file, not a folder`,
        `  --csv: cannot write ${join(file, 'sub', 'r.csv')}: ${file} is a file, not a folder`,
        `  --report: cannot write ${dir}: it is a folder`,
        '',
      ].join('\n'),
    );
    const one = await tsload(['http', target.url, '--duration', '30s', '--json', join(file, 'r.json')]);
    expect(one.code).toBe(2);
    expect(one.stderr).toBe(`tsload: --json: cannot write ${join(file, 'r.json')}: ${file} is a file, not a folder\n`);
  });

  it.skipIf(!existsSync('/proc/self'))('exits 2 at once for an output where no file can be made, as in /proc', async () => {
    const run = await tsload(['http', target.url, '--duration', '30s', '--json', '/proc/tsload/r.json', '--csv', '/proc/r.csv']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'tsload: invalid options:\n  --json: cannot write /proc/tsload/r.json: no such file or directory\n  --csv: cannot write /proc/r.csv: no such file or directory\n',
    );
  });

  // Root writes into a read-only folder all the same.
  it.skipIf(process.getuid?.() === 0)('exits 2 at once for an output in a read-only folder', async () => {
    const readOnly = join(dir, 'read-only');
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o500);
    const run = await tsload(['http', target.url, '--duration', '30s', '--csv', join(readOnly, 'r.csv')]);
    chmodSync(readOnly, 0o700);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`tsload: --csv: cannot write ${join(readOnly, 'r.csv')}: permission denied\n`);
  });

  it('creates missing output folders, says each file it wrote even with --quiet, and leaves no file when the run fails', async () => {
    const out = join(dir, 'new', 'folder');
    const files = [join(out, 'json', 'r.json'), join(out, 'csv', 'r.csv'), join(out, 'html', 'r.html')];
    const run = await tsload(['http', target.url, '--rate', '50', '--duration', '1s', '--warmup', '0', '-q', '--json', files[0]!, '--csv', files[1]!, '--report', files[2]!]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(files.map((f) => `tsload: wrote ${f}\n`).join(''));
    expect(JSON.parse(readFileSync(files[0]!, 'utf8')).steps[0].completed).toBe(50);
    expect(readFileSync(files[1]!, 'utf8').split('\n')).toHaveLength(3);
    expect(readFileSync(files[2]!, 'utf8')).toMatch(/^<!doctype html>/i);

    const unused = join(dir, 'unused', 'r.json');
    const bad = await tsload(['http', target.url, '--rate', 'fast', '--json', unused]);
    expect(bad.code).toBe(2);
    expect(existsSync(unused)).toBe(false);
  });

  it('exits 4 when no request got a reply, after printing and writing the result', async () => {
    const json = join(dir, 'no-replies.json');
    const run = await tsload(['http', `${target.url}/_tsload/delay?ms=5000`, '--timeout', '200ms', '--rate', '20', '-d', '1s', '--warmup', '0', '-q', '--json', json]);
    expect(run.code).toBe(4);
    expect(run.stdout).toMatch(/Replies\s+0 \(0\.00%\)/);
    expect(run.stdout).toMatch(/^latency \(from intended send\) +0( +\u2013){8}$/m);
    expect(run.stderr).toBe(`tsload: wrote ${json}\ntsload: no request got a reply in any step (exit 4)\n`);
    const step = JSON.parse(readFileSync(json, 'utf8')).steps[0];
    expect(step.sent).toBe(20);
    expect(step.timeouts).toBe(20);
    expect(step.completed).toBe(0);
    // Ctrl-C's status wins: the run was cut short, not found dead.
    const stopped = await tsload(['http', `${target.url}/_tsload/delay?ms=5000`, '--timeout', '200ms', '--rate', '20', '-d', '30s', '--warmup', '0', '-q'], { interruptAfterMs: 4000 });
    expect(stopped.code).toBe(130);
    expect(stopped.stdout).toMatch(/Replies\s+0 \(0\.00%\)/);
  });

  it('exits 2 on an unknown option', async () => {
    const run = await tsload(['http', target.url, '--no-such-option']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown option/);
  });

  it('exits 3 with one clear line when the target is unreachable', async () => {
    const run = await tsload(['http', 'http://127.0.0.1:1/', '--rate', '10', '--duration', '1s']);
    expect(run.code).toBe(3);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/unreachable.*refused/i);
  });

  it('stops cleanly on Ctrl-C and still prints and writes what it measured', async () => {
    const json = join(dir, 'interrupted.json');
    const run = await tsload(['http', target.url, '--rate', '100', '--duration', '30s', '--warmup', '0', '--json', json], { interruptAfterMs: 5000 });
    expect(run.code).toBe(130);
    expect(run.stdout).toMatch(/stopped early/);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    expect(result.aborted).toBe(true);
    expect(result.steps[0].sent).toBeGreaterThan(0);
    expect(result.steps[0].completed).toBe(result.steps[0].sent);
    expect(result.steps[0].durationS).toBeLessThan(30);
  });

  it('starts the built-in target when no URL is given, and says so', async () => {
    const run = await tsload(['http', '--rate', '100', '--duration', '1s', '--warmup', '0']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/started the built-in HTTP target at http:\/\/127\.0\.0\.1:\d+/);
    expect(run.stdout).toMatch(/Replies\s+100 \(100\.00%\)/);
  });
});
