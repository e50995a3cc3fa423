/**
 * bench:dns — tsload against dnsperf, side by side in one run against the same
 * NSD (one server process) loaded with fixtures/test.zone, both tools reading
 * the same query file. Usage: npm run bench:dns -- [--seconds N] [--json FILE]
 *
 *   1. CPU per query at 20k qps (tsload vs dnsperf), over the same window:
 *      the N s after each tool's first second (and over the whole load too).
 *   2. Highest open-loop rate tsload sustains with one thread and < 0.1 %
 *      loss; dnsperf's closed-loop maximum (500 outstanding) for comparison.
 *
 * Loss truth (a server that drops a known share) is covered by the tests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DnsResult } from '../src/result.js';
import {
  GRACE_MS,
  ROOT,
  TSLOAD_BIN,
  Report,
  benchMain,
  checkRan,
  cpuAfter,
  cpuOf,
  highestPassing,
  unbrokenNote,
  median,
  medianInterval,
  num,
  parseBenchArgs,
  progress,
  ratio,
  runTimed,
  runTsload,
  slimStep,
  tempDir,
  startNsdServer,
  timesOf,
  usPer,
} from './lib.js';
import type { Nsd } from './lib.js';
import type { Cell } from './lib.js';

const args = parseBenchArgs('dns');
const N = args.seconds;
const report = new Report('dns', args);

/**
 * Query timeout, the same for both tools. Shorter than dnsperf's default 5 s
 * because dnsperf spins while it waits out the timeout for its last queries
 * (measured here: -t 5 costs it seconds of CPU more than -t 1 for the same
 * load), which would inflate its whole-process CPU; loopback answers take
 * well under a millisecond.
 */
const TIMEOUT_S = 1;
/** How long before dnsperf's -l ends its window's last CPU read is taken: read later, dnsperf may be gone. */
const END_MARGIN_S = 0.25;
const TARGET_ONE_THREAD_RATE = 50_000;
const MAX_LOSS = 0.001;

// ---------------------------------------------------------------------------
// NSD

async function startNsd(): Promise<Nsd> {
  const nsd = await startNsdServer();
  report.line(`nsd: 1 server process on 127.0.0.1:${nsd.port}, zone example.com from fixtures/test.zone (pid ${nsd.server.pid})`);
  return nsd;
}

// ---------------------------------------------------------------------------
// dnsperf output

interface DnsperfOut {
  sent: number;
  completed: number;
  lost: number;
  runTimeS: number;
  qps: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
}

function parseDnsperf(out: string): DnsperfOut {
  const get = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (m === null) throw new Error(`dnsperf output has no ${what} line:\n${out.slice(-3000)}`);
    return m;
  };
  const latency = get(/Average Latency \(s\):\s+([\d.]+) \(min [\d.]+, max ([\d.]+)\)/, 'Average Latency');
  return {
    sent: Number(get(/Queries sent:\s+(\d+)/, 'Queries sent')[1]),
    completed: Number(get(/Queries completed:\s+(\d+)/, 'Queries completed')[1]),
    lost: Number(get(/Queries lost:\s+(\d+)/, 'Queries lost')[1]),
    runTimeS: Number(get(/Run time \(s\):\s+([\d.]+)/, 'Run time')[1]),
    qps: Number(get(/Queries per second:\s+([\d.]+)/, 'Queries per second')[1]),
    avgLatencyMs: Number(latency[1]) * 1000,
    maxLatencyMs: Number(latency[2]) * 1000,
  };
}

/** dnsperf prints a "[Timeout]" line per lost query: keep the JSON copy short. */
function withoutTimeoutLines(out: string): string {
  return out
    .split('\n')
    .filter((l) => !l.startsWith('[Timeout]'))
    .join('\n');
}

// ---------------------------------------------------------------------------
// 0. The query list, shared by both tools

async function emitQueries(): Promise<string> {
  const file = join(tempDir('queries'), 'queries.txt');
  const emit = await runTimed(process.execPath, [TSLOAD_BIN, 'dns', '--zone', join(ROOT, 'fixtures', 'test.zone'), '--emit-queries'], {
    timeoutMs: 30_000,
  });
  checkRan(emit, 'tsload --emit-queries');
  writeFileSync(file, emit.stdout);
  const count = emit.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).length;
  report.line(`queries: ${count} (name, type) lines from \`tsload dns --zone fixtures/test.zone --emit-queries\`, used by both tools`);
  return file;
}

// ---------------------------------------------------------------------------
// 1. CPU per query at 20k qps

async function cpuPerQuery(nsd: Nsd, queries: string): Promise<void> {
  const rate = 20_000;
  const rounds = args.rounds;
  report.section(`1. CPU per query at 20k qps, ${N} s windows, same NSD, ${rounds} alternating round${rounds === 1 ? '' : 's'}`);
  const rows: Cell[][] = [];
  // Per round, µs per query: over the measured window (judged), and over the whole load (first second included).
  const ts = { window: [] as number[], load: [] as number[] };
  const dp = { window: [] as number[], load: [] as number[] };
  const records: unknown[] = [];
  for (let round = 1; round <= rounds; round++) {
    progress(`tsload dns --rate ${rate} for 1 + ${N} s`);
    const t = await runTsload<DnsResult>(
      ['dns', '--server', `127.0.0.1:${nsd.port}`, '--queries', queries, '--rate', String(rate), '--duration', `${N}s`, '--warmup', '1s', '--timeout', `${TIMEOUT_S}s`],
      { timeoutMs: (N + 1 + TIMEOUT_S + 10) * 1000 + GRACE_MS, server: nsd.server },
    );
    const step = t.result.steps[0];
    if (step?.cpuWindow === undefined) throw new Error('tsload returned no step with its window CPU');
    const cpuWindow = step.cpuWindow;
    // The step's CPU covers warmup + window + drain; `sent` counts the window
    // only, so the warmup's queries (sent at the target rate) are added.
    const tsLoadQueries = step.sent + Math.round(step.targetRate * step.warmupS);
    const tsWindowUs = usPer(cpuWindow.userS + cpuWindow.systemS, step.sent);
    const tsLoadUs = usPer(step.cpu.userS + step.cpu.systemS, tsLoadQueries);

    progress(`dnsperf -Q ${rate} for 1 + ${N} s`);
    // dnsperf's window is the same: its CPU from 1 s after start to N s later,
    // read from /proc while it runs. The end is read END_MARGIN_S early: at
    // exactly N + 1 s dnsperf may have finished, and a tree read after its exit
    // counts nothing (a negative window). A run whose reads still do not make a
    // window is measured again rather than counted.
    let dpCpu = { atWindowStart: NaN, atWindowEnd: NaN, windowS: NaN, sinceStartS: NaN };
    let dpRun: Awaited<ReturnType<typeof runTimed>> | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const cpu = { atWindowStart: NaN, atWindowEnd: NaN, windowS: NaN, sinceStartS: NaN };
      dpRun = await runTimed(
        '/usr/bin/dnsperf',
        ['-s', '127.0.0.1', '-p', String(nsd.port), '-d', queries, '-Q', String(rate), '-l', String(N + 1), '-t', String(TIMEOUT_S)],
        {
          timeoutMs: (N + 1 + TIMEOUT_S + 10) * 1000 + GRACE_MS,
          server: nsd.server,
          during: async (child) => {
            const t0 = performance.now();
            cpu.atWindowStart = await cpuAfter(child, 1);
            const w0 = performance.now();
            cpu.atWindowEnd = await cpuAfter(child, N - END_MARGIN_S);
            cpu.windowS = (performance.now() - w0) / 1000;
            cpu.sinceStartS = (performance.now() - t0) / 1000;
          },
        },
      );
      checkRan(dpRun, 'dnsperf');
      dpCpu = cpu;
      if (cpu.atWindowEnd > cpu.atWindowStart) break;
      report.line(`round ${round}: dnsperf's CPU could not be read over its window (attempt ${attempt}); measured again`);
    }
    const d = parseDnsperf(dpRun!.stdout);
    // dnsperf paces at -Q, so its window holds its overall rate × the window's length.
    const dpWindowQueries = Math.round(d.qps * dpCpu.windowS);
    const dpWindowUs = dpCpu.atWindowEnd > dpCpu.atWindowStart ? usPer(dpCpu.atWindowEnd - dpCpu.atWindowStart, dpWindowQueries) : NaN;
    const dpLoadUs = usPer(dpCpu.atWindowEnd, Math.round(d.qps * dpCpu.sinceStartS));
    ts.window.push(tsWindowUs);
    ts.load.push(tsLoadUs);
    dp.window.push(dpWindowUs);
    dp.load.push(dpLoadUs);
    rows.push(
      [round, 'tsload', step.sent, step.sendRate, step.lost, cpuWindow.userS, cpuWindow.systemS, tsWindowUs, tsLoadUs, usPer(cpuOf(t.timed), tsLoadQueries), t.timed.serverCpuS ?? null, t.timed.udpRcvbufErrors],
      [round, 'dnsperf', dpWindowQueries, d.qps, d.lost, null, null, dpWindowUs, dpLoadUs, usPer(cpuOf(dpRun!), d.sent), dpRun!.serverCpuS ?? null, dpRun!.udpRcvbufErrors],
    );
    records.push({
      tsload: { command: t.timed.command, usPerQueryWindow: tsWindowUs, usPerQueryLoad: tsLoadUs, time: timesOf(t.timed), step: slimStep(step) },
      dnsperf: { command: dpRun!.command, usPerQueryWindow: dpWindowUs, usPerQueryLoad: dpLoadUs, cpu: dpCpu, windowQueries: dpWindowQueries, time: timesOf(dpRun!), parsed: d, stdout: withoutTimeoutLines(dpRun!.stdout) },
    });
    report.line(
      `round ${round}: tsload ${step.completed} of ${step.sent} windowed queries answered, ${step.lost} lost, ${step.late} late, ${step.dropped} dropped, ${step.unexpected} unexpected, lag p99 ${num(step.scheduleLagMs.p99)} ms; dnsperf ${d.completed} of ${d.sent} completed, ${d.lost} lost`,
    );
  }
  report.table(['round', 'tool', 'window queries', 'qps', 'lost', 'window user s', 'window sys s', 'window µs/query', 'whole load µs/query', 'whole process µs/query', 'nsd CPU s', 'UDP rcvbuf drops'], rows);
  // Each round pairs the two tools within the same minute. This VM drifts
  // more from round to round than the tools differ within one, so the target
  // is judged on the rounds' own ratios (their median); the medians of each
  // tool's series come from different rounds and are shown for comparison.
  const paired = (a: number[], b: number[]): number[] => a.map((x, i) => x / b[i]!);
  const list = (xs: number[]): string => xs.map((x) => num(x, 2)).join(', ');
  const windowRatios = paired(ts.window, dp.window);
  const loadRatios = paired(ts.load, dp.load);
  const tsMedian = median(ts.window);
  const dpMedian = median(dp.window);
  const verdict = median(windowRatios);
  const interval = medianInterval(windowRatios);
  const intervalText =
    interval === null
      ? 'too few rounds for a 95 % interval (6 or more)'
      : `${Math.round(interval.coverage * 100)} % interval for the median ${num(interval.low, 2)} – ${num(interval.high, 2)}${interval.low <= 1 && interval.high >= 1 ? ', which holds 1: the two tools are not told apart' : ''}`;
  report.line(`medians over ${rounds} round${rounds === 1 ? '' : 's'}, measured window: tsload ${num(tsMedian)} µs/query, dnsperf ${num(dpMedian)} µs/query (ratio of the medians ${ratio(tsMedian, dpMedian) ?? '-'})`);
  report.line(`ratio tsload/dnsperf CPU per query, window, per round: ${list(windowRatios)}; median ${num(verdict, 3)}`);
  report.line(`ratio tsload/dnsperf CPU per query, whole load, per round: ${list(loadRatios)}; median ${num(median(loadRatios), 3)}`);
  report.line(`target: tsload/dnsperf ≤ 1 (median of the rounds' window ratios): ${verdict <= 1 ? 'met' : 'NOT met'} (${num(verdict, 3)}; ${windowRatios.filter((r) => r <= 1).length} of ${rounds} rounds ≤ 1; ${intervalText})`);
  report.line(
    `(window = the ${N} s after each tool's first second, all threads: tsload's cpuWindow over the queries it sent in it; dnsperf's CPU read from /proc 1 s and ${N + 1 - END_MARGIN_S} s after start over its rate × that time. Whole load = from the start of the load to its end, the first second included: tsload's step CPU (warmup + window + drain), dnsperf's CPU read from /proc up to ${END_MARGIN_S} s before the end of -l, over its rate × the time since its start. Whole process = /usr/bin/time user+sys, incl. node startup for tsload and the ${TIMEOUT_S} s wait for unanswered queries for both)`,
  );
  report.record('cpuPerQuery', {
    rounds,
    medianUsPerQuery: { tsload: tsMedian, dnsperf: dpMedian },
    roundRatios: windowRatios,
    medianRoundRatio: verdict,
    medianRoundRatioInterval: interval,
    ratioOfMedians: ratio(tsMedian, dpMedian),
    wholeLoad: { medianUsPerQuery: { tsload: median(ts.load), dnsperf: median(dp.load) }, roundRatios: loadRatios, medianRoundRatio: median(loadRatios) },
    runs: records,
  });
}

// ---------------------------------------------------------------------------
// 2. Highest open-loop rate with one thread and < 0.1 % loss

async function oneThreadMax(nsd: Nsd, queries: string): Promise<void> {
  report.section(`2. Highest open-loop rate tsload sustains with one thread and < ${MAX_LOSS * 100} % loss (${N} s steps)`);
  report.line(`a step passes when send rate ≥ 0.99 × target and (lost + dropped) / (sent + dropped) < ${MAX_LOSS}`);
  const rows: Cell[][] = [];
  const steps: unknown[] = [];
  const search = await highestPassing({ start: 10_000, step: 10_000, max: 100_000, refine: 2, granularity: 1000 }, async (rate) => {
    progress(`tsload dns sweep: ${rate} qps for ${N} s`);
    const run = await runTsload<DnsResult>(
      ['dns', '--server', `127.0.0.1:${nsd.port}`, '--queries', queries, '--rate', String(rate), '--duration', `${N}s`, '--warmup', '1s', '--threads', '1', '--timeout', `${TIMEOUT_S}s`],
      { timeoutMs: (N + 1 + TIMEOUT_S + 10) * 1000 + GRACE_MS, server: nsd.server },
    );
    const s = run.result.steps[0];
    if (s === undefined) throw new Error('tsload returned no step');
    const loss = (s.lost + s.dropped) / Math.max(1, s.sent + s.dropped);
    const pass = s.sendRate >= 0.99 * rate && loss < MAX_LOSS;
    const stepS = s.warmupS + s.durationS;
    rows.push([
      rate,
      s.sendRate,
      s.replyRate,
      s.sent,
      s.lost,
      s.late,
      s.dropped,
      `${(loss * 100).toFixed(3)} %`,
      s.scheduleLagMs.p99,
      s.latencyMs.p99,
      Math.round(((s.cpu.userS + s.cpu.systemS) / stepS) * 100),
      s.generatorBusy == null ? null : Math.round(s.generatorBusy * 100),
      Math.round(((run.timed.serverCpuS ?? NaN) / stepS) * 100),
      run.timed.udpRcvbufErrors,
      s.lostAtGenerator ?? null,
      pass ? 'pass' : 'FAIL',
    ]);
    steps.push(slimStep(s));
    return pass;
  });
  report.table(
    ['target/s', 'sent/s', 'replies/s', 'sent', 'lost', 'late', 'dropped', 'loss', 'lag p99 ms', 'lat p99 ms', 'tsload CPU %', 'tsload busy %', 'nsd CPU %', 'UDP rcvbuf drops', 'of them at tsload', ''],
    rows,
  );
  const best = search.highest;
  report.line(
    best === null
      ? 'tsload: no rate passed (not even the first)'
      : `tsload highest passing rate, one thread: ${best} qps (target ≥ ${TARGET_ONE_THREAD_RATE}: ${best >= TARGET_ONE_THREAD_RATE ? 'met' : 'NOT met'}${unbrokenNote(search, 'qps')})`,
  );
  report.line("(UDP rcvbuf drops: kernel RcvbufErrors during the run, whole network namespace — datagrams lost at a full socket buffer, on either side; of them at tsload: at tsload's own sockets during the step, its lostAtGenerator)");
  report.line('(CPU % = CPU seconds / (warmup + window) × 100, 100 % being one core: tsload from its step cpu, nsd from /proc over the whole tsload run; NSD has one server process, so near 100 % means the server is the limit)');
  report.line("(tsload busy % = the window's share its load thread's event loop was busy (generatorBusy); near 100 % tsload itself is the limit)");

  // dnsperf's own limit: closed loop, at most 500 queries outstanding, as fast as answers come back.
  progress(`dnsperf -q 500 for ${N} s`);
  const dp = await runTimed(
    '/usr/bin/dnsperf',
    ['-s', '127.0.0.1', '-p', String(nsd.port), '-d', queries, '-q', '500', '-l', String(N), '-t', String(TIMEOUT_S)],
    { timeoutMs: (N + TIMEOUT_S + 10) * 1000 + GRACE_MS, server: nsd.server },
  );
  checkRan(dp, 'dnsperf');
  const d = parseDnsperf(dp.stdout);
  report.line(
    `dnsperf closed-loop maximum, -q 500: ${num(d.qps)} qps, ${d.lost} of ${d.sent} lost (nsd CPU ${Math.round(((dp.serverCpuS ?? NaN) / N) * 100)} % of the ${N} s; UDP rcvbuf drops ${dp.udpRcvbufErrors})`,
  );
  if (best !== null) report.line(`ratio tsload open-loop max / dnsperf closed-loop max: ${ratio(best, d.qps) ?? '-'}`);
  report.record('oneThreadMax', { best, search, steps, dnsperf: { command: dp.command, time: timesOf(dp), parsed: d, stdout: withoutTimeoutLines(dp.stdout) } });
}

// ---------------------------------------------------------------------------
// Main (last, so every const above is initialised before it runs)

await benchMain(async () => {
  try {
    const nsd = await startNsd();
    const queries = await emitQueries();
    await cpuPerQuery(nsd, queries);
    await oneThreadMax(nsd, queries);
  } finally {
    report.write();
  }
});
