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
