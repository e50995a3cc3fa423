/**
 * bench:lag — tsload's own schedule lag (how late each request left against
 * its intended send time), and what it does to measured latency.
 * Usage: npm run bench:lag -- [--seconds N] [--rounds N] [--json FILE]
 * (default 4 s runs, 3 rounds; about 3 minutes).
 *
 *   1. Schedule lag p50/p99/p999 of one thread (`--threads 1`, default
 *      options otherwise, 1 s warmup) at 1k, 10k and 50k req/s against nginx
 *      on loopback answering /tiny (2 bytes from memory: a server spinning on
 *      the other core would show in the generator's lag), with tsload's CPU
 *      per request over the measured window (`cpuWindow` / `sent`). Beside
 *      them in each round, for CPU: wrk paced near 10k req/s (`-t1 -c115`, a
 *      Lua delay() of 10 ms after each reply, as in bench:http), CPU of its
 *      whole process per request. Each round runs every rate once; medians
 *      over the rounds.
 *   2. The latency-truth run: tsload's built-in target, /_tsload/delay?ms=20,
 *      at 2000 req/s, tsload beside paced wrk on the same server, alternating
 *      in each round. tsload runs with its defaults (its pool grows to the
 *      40-odd connections that 2000 req/s of 20 ms keeps in flight). wrk 4 (wrk2 is not in Debian)
 *      is paced like bench:http's: `-t1 -c60` with a Lua delay() of 10 ms
 *      after each reply, about 60 / 30 ms ≈ 2000 req/s; its latency counts from
 *      the request's write, so it carries no schedule lag. Printed: each
 *      tool's p50 and p99 and tsload − wrk. What tsload adds beyond wrk is its
 *      schedule lag plus its own reading of the reply.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpResult } from '../src/result.js';
import {
  GRACE_MS,
  Report,
  benchMain,
  checkRan,
  cpuOf,
  median,
  num,
  parseBenchArgs,
  parseWrk,
  progress,
  ratio,
  runTimed,
  runTsload,
  slimStep,
  startNginxServer,
  startTsloadTarget,
  tempDir,
  timesOf,
  usPer,
} from './lib.js';
import type { Cell, Nginx, Target } from './lib.js';

const args = parseBenchArgs('lag', 4);
const N = args.seconds;
const report = new Report('lag', args);

// The target: lag p99 at most 1 ms from 1k to 50k req/s per thread.
const TARGET_LAG_P99_MS = 1;
const RATES = [1000, 10_000, 50_000];

async function scheduleLag(nginx: Nginx): Promise<void> {
  report.section(`1. Schedule lag, one thread, ${N} s windows, nginx ${nginx.tinyUrl}, ${args.rounds} round${args.rounds === 1 ? '' : 's'}`);
  interface Sample {
    rate: number;
    p50: number;
    p99: number;
    p999: number;
    us: number;
  }
  const lua = join(tempDir('wrk'), 'delay.lua');
  writeFileSync(lua, 'function delay()\n  return 10\nend\n');
  const samples: Sample[] = [];
  const wrkUs: number[] = [];
  const rows: Cell[][] = [];
  const wrkRows: Cell[][] = [];
  const runs: unknown[] = [];
  for (let round = 1; round <= args.rounds; round++) {
    progress(`round ${round}: wrk -t1 -c115, 10 ms delay(), for ${N} s`);
    const w = await runTimed('/usr/bin/wrk', ['-t1', '-c115', `-d${N}s`, '-s', lua, nginx.tinyUrl], { timeoutMs: N * 1000 + GRACE_MS, server: nginx.server });
    checkRan(w, 'wrk');
    const parsed = parseWrk(w.stdout);
    const us = usPer(cpuOf(w), parsed.requests);
    wrkUs.push(us);
    wrkRows.push([round, parsed.requestsPerSec, parsed.requests, w.userS, w.systemS, us]);
    runs.push({ wrk: { command: w.command, time: timesOf(w), parsed, stdout: w.stdout } });
    for (const rate of RATES) {
      progress(`round ${round}: tsload --rate ${rate} --threads 1 for ${N} s`);
      const run = await runTsload<HttpResult>(['http', nginx.tinyUrl, '--rate', String(rate), '--duration', `${N}s`, '--warmup', '1s', '--threads', '1'], {
        timeoutMs: (N + 11) * 1000 + GRACE_MS,
        server: nginx.server,
      });
      const s = run.result.steps[0];
      if (s === undefined) throw new Error('tsload returned no step');
      const lag = s.scheduleLagMs;
      const us = s.cpuWindow === undefined ? NaN : usPer(s.cpuWindow.userS + s.cpuWindow.systemS, s.sent);
      samples.push({ rate, p50: lag.p50, p99: lag.p99, p999: lag.p999, us });
      const stepS = s.warmupS + s.durationS;
      rows.push([round, rate, s.sendRate, s.dropped, lag.p50, lag.p99, lag.p999, lag.max, us, s.latencyMs.p50, Math.round(((run.timed.serverCpuS ?? NaN) / stepS) * 100)]);
      runs.push({ command: run.timed.command, time: timesOf(run.timed), step: slimStep(s) });
    }
  }
  report.table(['round', 'target/s', 'sent/s', 'dropped', 'lag p50 ms', 'lag p99 ms', 'lag p999 ms', 'lag max ms', 'CPU µs/req', 'latency p50 ms', 'nginx CPU %'], rows);
  report.line(`medians over ${args.rounds} round${args.rounds === 1 ? '' : 's'}:`);
  const medians = RATES.map((rate) => {
    const mine = samples.filter((x) => x.rate === rate);
    const m = (f: (x: Sample) => number): number => median(mine.map(f));
    return [rate, m((x) => x.p50), m((x) => x.p99), m((x) => x.p999), m((x) => x.us), m((x) => x.p99) <= TARGET_LAG_P99_MS ? 'met' : 'NOT met'];
  });
  report.table(['target/s', 'lag p50 ms', 'lag p99 ms', 'lag p999 ms', 'CPU µs/req', `p99 ≤ ${TARGET_LAG_P99_MS} ms`], medians);
  report.line('wrk paced (-t1 -c115, 10 ms delay() after each reply), same nginx, same rounds:');
  report.table(['round', 'req/s', 'requests', 'user s', 'sys s', 'CPU µs/req'], wrkRows);
  const tsAt10k = median(samples.filter((x) => x.rate === 10_000).map((x) => x.us));
  report.line(`CPU µs/req, medians: tsload at 10k ${num(tsAt10k)}, wrk paced ${num(median(wrkUs))}; ratio tsload/wrk paced ${ratio(tsAt10k, median(wrkUs)) ?? '-'}`);
  report.line('(CPU µs/req: tsload, the step\'s cpuWindow, all threads of the process over the measured window, over the requests sent in it; wrk, user + system of its whole process from /usr/bin/time; nginx CPU % over warmup + window, 100 % being one core)');
  report.record('scheduleLag', { rates: RATES, runs, wrkPacedUsPerReq: wrkUs });
}

async function latencyTruth(target: Target): Promise<void> {
  const delayMs = 20;
  const rate = 2000;
  const url = `${target.url}/_tsload/delay?ms=${delayMs}`;
  report.section(`2. Latency truth: ${url}, ${rate} req/s, ${N} s each, tsload and paced wrk alternating, ${args.rounds} round${args.rounds === 1 ? '' : 's'}`);
  const lua = join(tempDir('wrk'), 'delay.lua');
  writeFileSync(lua, 'function delay()\n  return 10\nend\n');
  const rows: Cell[][] = [];
  const ts: Array<{ p50: number; p99: number; lagP99: number }> = [];
  const wk: Array<{ p50: number; p99: number }> = [];
  const runs: unknown[] = [];
  for (let round = 1; round <= args.rounds; round++) {
    progress(`round ${round}: tsload --rate ${rate} (defaults) on the delay endpoint for ${N} s`);
    const run = await runTsload<HttpResult>(['http', url, '--rate', String(rate), '--duration', `${N}s`], { timeoutMs: (N + 11) * 1000 + GRACE_MS });
    const s = run.result.steps[0];
    if (s === undefined) throw new Error('tsload returned no step');
    ts.push({ p50: s.latencyMs.p50, p99: s.latencyMs.p99, lagP99: s.scheduleLagMs.p99 });
    rows.push([round, 'tsload', `defaults (${s.connections} connections)`, s.sendRate, s.latencyMs.p50, s.latencyMs.p99, s.latencyMs.max, s.scheduleLagMs.p50, s.scheduleLagMs.p99]);

    progress(`round ${round}: wrk -t1 -c60, 10 ms delay(), for ${N} s`);
    const w = await runTimed('/usr/bin/wrk', ['-t1', '-c60', `-d${N}s`, '--latency', '-s', lua, url], { timeoutMs: N * 1000 + GRACE_MS });
    checkRan(w, 'wrk');
    const parsed = parseWrk(w.stdout);
    wk.push({ p50: parsed.p50Ms ?? NaN, p99: parsed.p99Ms ?? NaN });
    rows.push([round, 'wrk', '-t1 -c60, 10 ms delay()', parsed.requestsPerSec, parsed.p50Ms, parsed.p99Ms, parsed.maxMs, null, null]);
    runs.push({ tsload: { command: run.timed.command, step: slimStep(s) }, wrk: { command: w.command, time: timesOf(w), parsed, stdout: w.stdout } });
  }
  report.table(['round', 'tool', 'set-up', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'lag p50 ms', 'lag p99 ms'], rows);
  const tsP50 = median(ts.map((x) => x.p50));
  const tsP99 = median(ts.map((x) => x.p99));
  const wkP50 = median(wk.map((x) => x.p50));
  const wkP99 = median(wk.map((x) => x.p99));
  report.line(`medians over ${args.rounds} round${args.rounds === 1 ? '' : 's'}:`);
  report.table(
    ['', 'p50 ms', 'p99 ms'],
    [
      ['tsload (from intended send)', tsP50, tsP99],
      ['wrk paced (from write)', wkP50, wkP99],
      ['tsload − wrk', tsP50 - wkP50, tsP99 - wkP99],
      [`tsload − ${delayMs} ms`, tsP50 - delayMs, tsP99 - delayMs],
    ],
  );
  report.line(`(both load the same target in turn; what the target adds beyond ${delayMs} ms — its timers and event loop — is in both rows; tsload's schedule lag p99, median: ${median(ts.map((x) => x.lagP99))} ms)`);
  report.record('latencyTruth', { delayMs, rate, runs });
}

await benchMain(async () => {
  try {
    const nginx = await startNginxServer();
    report.line(`nginx: 1 worker on 127.0.0.1:${nginx.port} (pid ${nginx.server.pid})`);
    await scheduleLag(nginx);
    await nginx.server.stop();
    const target = await startTsloadTarget();
    report.line(`tsload's built-in target: ${target.url} (pid ${target.server.pid})`);
    await latencyTruth(target);
  } finally {
    report.write();
  }
});
