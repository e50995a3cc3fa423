/**
 * Shared plumbing for the benchmarks (bench/http.ts, bench/dns.ts): options,
 * servers started from throwaway configs, child processes timed by
 * /usr/bin/time, CPU read from /proc, a bounded rate search, and a report that
 * prints tables as it goes and writes the same content as JSON at the end.
 *
 * A benchmark is not a test: nothing here asserts. Every figure printed comes
 * from a measurement taken in this run; where a figure is derived (a ratio, an
 * expected value from the setup), the label says so.
 */
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { cpus, hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Result, StepBase } from '../src/result.js';

/** The project root: the CLI is run as a user runs it, `node bin/tsload.js`, from here. */
export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const TSLOAD_BIN = join(ROOT, 'bin', 'tsload.js');
const GNU_TIME = '/usr/bin/time';

// ---------------------------------------------------------------------------
// Options

export interface BenchArgs {
  /** Length of each measured run, seconds. */
  seconds: number;
  /** Where to write the JSON copy of the report, if anywhere. */
  json: string | undefined;
  /**
   * CPU comparisons run every tool this many times, alternating, and compare
   * medians: this VM's speed wanders by a third from minute to minute, so one
   * run of each is not a comparison.
   */
  rounds: number;
}

/** `defaultSeconds`: the length of each measured run when --seconds is not given. */
export function parseBenchArgs(name: string, defaultSeconds = 10): BenchArgs {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: String(defaultSeconds) },
      rounds: { type: 'string', default: '3' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(`usage: tsx bench/${name}.ts [--seconds N] [--rounds N] [--json FILE]\n`);
    process.exit(0);
  }
  const seconds = Number(values.seconds);
  // Bounded: every load loop in the benchmarks runs for a multiple of this.
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 300) {
    process.stderr.write('--seconds must be an integer 1..300\n');
    process.exit(2);
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
    process.stderr.write('--rounds must be an integer 1..20\n');
    process.exit(2);
  }
  return { seconds, json: values.json, rounds };
}

// ---------------------------------------------------------------------------
// Cleanup: servers and temp dirs go away on success, failure and Ctrl-C alike.

const cleanups: Array<() => Promise<void> | void> = [];

/** Registers `fn` to run at exit; returns a function that unregisters it. */
export function onCleanup(fn: () => Promise<void> | void): () => void {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Runs and forgets every registered cleanup, last first (benchMain does at exit; tests in afterAll). */
export async function runCleanups(): Promise<void> {
  // Last registered first: servers stop before their directories are removed.
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn?.();
    } catch (error) {
      process.stderr.write(`bench: cleanup failed: ${(error as Error).message}\n`);
    }
  }
}

/** Runs the benchmark body; always cleans up, also on SIGINT/SIGTERM. */
export async function benchMain(body: () => Promise<void>): Promise<void> {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}, stopping servers\n`);
    void runCleanups().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await body();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  } finally {
    await runCleanups();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A fresh temp dir, removed at cleanup. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tsload-bench-${prefix}-`));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------
// Ports and readiness

/** A port free for both TCP and UDP on 127.0.0.1 (NSD binds both). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((res, rej) => {
      const srv = createServer();
      srv.once('error', rej);
      srv.listen(0, '127.0.0.1', () => {
        const address = srv.address();
        const p = typeof address === 'object' && address !== null ? address.port : 0;
        srv.close(() => res(p));
      });
    });
    const udpFree = await new Promise<boolean>((res) => {
      const sock = createSocket('udp4');
      sock.once('error', () => res(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => res(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/** Polls until `check` resolves true, or throws after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} not ready within ${timeoutMs / 1000} s`);
}

export function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      res(true);
    });
    sock.once('error', () => res(false));
  });
}

// ---------------------------------------------------------------------------
// Long-running servers

export interface Server {
  pid: number;
  child: ChildProcess;
  /** stderr tail, for error messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts a server in the foreground (no daemonising, so its pid is ours to
 * stop) in its own process group, and registers its stop for cleanup.
 * `stopSignal` is what the server treats as "shut down" (nginx: SIGQUIT for a
 * graceful stop would wait for keep-alive clients; SIGTERM is immediate).
 */
export function startServer(name: string, command: string, args: string[], stopSignal: NodeJS.Signals = 'SIGTERM'): Server {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) throw new Error(`cannot start ${name}`);
  const pid = child.pid;
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(pid, stopSignal);
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      // The whole group of the process we started: nginx/NSD workers included.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  onCleanup(stop);
  return { pid, child, log: () => tail, stop };
}

// ---------------------------------------------------------------------------
// CPU accounting

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

/**
 * user+system CPU seconds of a process and all its live descendants, from
 * /proc (for the servers: how busy was the server while a tool loaded it).
 * NaN when the process itself is gone.
 */
export function processTreeCpuS(pid: number): number {
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces) start at field 3.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
      for (const task of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/)) {
        if (task !== '') stack.push(Number(task));
      }
    } catch {
      // Exited meanwhile: a descendant's CPU is lost with it, the root's means "no figure".
      if (p === pid) return NaN;
    }
  }
  return total;
}

// ---------------------------------------------------------------------------
// Timed child processes

export interface Timed {
  command: string;
  code: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** From /usr/bin/time: wall clock, user and system CPU of the whole process (all threads, startup included). */
  wallS: number;
  userS: number;
  systemS: number;
  /** CPU of `server` (if given) over the same interval. */
  serverCpuS: number | undefined;
  /**
   * UDP datagrams the kernel dropped for a full receive buffer during the run
   * (/proc/net/snmp RcvbufErrors: the whole network namespace, other
   * processes included). Tells DNS loss at a socket buffer from loss elsewhere.
   */
  udpRcvbufErrors: number;
}

/** The kernel's UDP RcvbufErrors counter (IPv4), or NaN if unreadable. */
export function udpRcvbufErrors(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    return Number(values[names.indexOf('RcvbufErrors')]);
  } catch {
    return NaN;
  }
}

/**
 * Runs `command args` under /usr/bin/time, killed (its whole process group)
 * after `timeoutMs`. `during` runs alongside (e.g. to freeze the target mid-run).
 */
export async function runTimed(
  command: string,
  args: string[],
  o: { timeoutMs: number; server?: Server; during?: (child: ChildProcess) => Promise<void> },
): Promise<Timed> {
  const dir = tempDir('time');
  const timeFile = join(dir, 'time.txt');
  const serverBefore = o.server === undefined ? 0 : processTreeCpuS(o.server.pid);
  const udpBefore = udpRcvbufErrors();
  const child = spawn(GNU_TIME, ['-o', timeFile, '-f', '%e %U %S', command, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid;
  const killGroup = (): void => {
    try {
      if (pid !== undefined) process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  // Only while it runs: a process group id may be reused once the group is gone.
  const forget = onCleanup(killGroup);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, o.timeoutMs);
  const exited = new Promise<number | null>((res) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      forget();
      res(code);
    }),
  );
  const [code] = await Promise.all([exited, o.during?.(child)]);
  const serverCpuS = o.server === undefined ? undefined : processTreeCpuS(o.server.pid) - serverBefore;
  const udpDrops = udpRcvbufErrors() - udpBefore;
  // GNU time writes "Command exited with non-zero status N" before the figures: take the last line.
  const lines = existsSync(timeFile) ? readFileSync(timeFile, 'utf8').trim().split('\n') : [];
  const [wallS, userS, systemS] = (lines.at(-1) ?? 'NaN NaN NaN').split(' ').map(Number);
  return {
    command: [command, ...args].join(' '),
    code,
    timedOut,
    stdout,
    stderr,
    wallS: wallS ?? NaN,
    userS: userS ?? NaN,
    systemS: systemS ?? NaN,
    serverCpuS,
    udpRcvbufErrors: udpDrops,
  };
}

/**
 * For `runTimed`'s `during`: CPU seconds of the timed command (its process
 * tree) `seconds` after it started. For a tool that keeps running after its
 * load window (dnsperf waits out its timeout for the last queries), this is its
 * CPU during the window.
 */
export async function cpuAfter(child: ChildProcess, seconds: number): Promise<number> {
  await sleep(seconds * 1000);
  return child.pid === undefined ? NaN : processTreeCpuS(child.pid);
}

/** The tsload CLI as a user runs it, with `--json FILE -q`; returns the result and the process's own CPU. */
export async function runTsload<R extends Result>(
  args: string[],
  o: { timeoutMs: number; server?: Server },
): Promise<{ timed: Timed; result: R }> {
  const dir = tempDir('tsload');
  const jsonFile = join(dir, 'result.json');
  const timed = await runTimed(process.execPath, [TSLOAD_BIN, ...args, '--json', jsonFile, '--quiet'], o);
  if (timed.code !== 0 || !existsSync(jsonFile)) {
    throw new Error(`tsload failed (exit ${timed.code}${timed.timedOut ? ', timed out' : ''}): ${timed.command}\n${timed.stderr.slice(-2000)}`);
  }
  return { timed, result: JSON.parse(readFileSync(jsonFile, 'utf8')) as R };
}

/** Fails with the tool's own output when it did not run to completion. */
export function checkRan(t: Timed, name: string): void {
  if (t.code !== 0 || t.timedOut) {
    throw new Error(`${name} failed (exit ${t.code}${t.timedOut ? ', timed out' : ''}): ${t.command}\n${(t.stdout + t.stderr).slice(-2000)}`);
  }
}

/** A step without its bulky fields, for the JSON copy. */
export function slimStep(step: StepBase): Omit<StepBase, 'histograms' | 'timeline'> {
  const { histograms: _h, timeline: _t, ...rest } = step;
  return rest;
}

// ---------------------------------------------------------------------------
// Bounded rate search

export interface SearchPlan {
  /** First rate tried. */
  start: number;
  /** Coarse step upward until the first failure. */
  step: number;
  /** Highest rate ever tried. */
  max: number;
  /** Bisection rounds between the last pass and the first failure. */
  refine: number;
  /** Rates are rounded to this. */
  granularity: number;
}

export interface SearchResult {
  /** Highest rate that passed (null when none did). */
  highest: number | null;
  /** Highest rate at or below which every rate tried passed: the conservative reading when a lower rate failed. */
  unbroken: number | null;
  /** Lowest rate that failed, if any. */
  lowestFailure: number | null;
}

/**
 * Highest rate for which `trial` passes: upward in coarse steps until three
 * failures in a row (a failure near a threshold can be noise — on a 2-core
 * machine a schedule-lag p99 near 2 ms comes and goes with the server's share
 * of the CPU — and lag is often worse at low rates, where timers rather than
 * replies wake the generator), then a few bisection rounds between the highest
 * pass and the failure above it. At most (max - start) / step + 1 + refine trials,
 * so the time is bounded. Also says how far every rate tried passed, since a
 * pass above a failure may be the VM's good minute rather than tsload's.
 */
export async function highestPassing(plan: SearchPlan, trial: (rate: number) => Promise<boolean>): Promise<SearchResult> {
  const tried: Array<{ rate: number; pass: boolean }> = [];
  const attempt = async (rate: number): Promise<boolean> => {
    const pass = await trial(rate);
    tried.push({ rate, pass });
    return pass;
  };
  let pass: number | null = null;
  let fail: number | null = null;
  let failuresInARow = 0;
  for (let rate = plan.start; rate <= plan.max && failuresInARow < 3; rate += plan.step) {
    if (await attempt(rate)) {
      pass = rate;
      fail = null;
      failuresInARow = 0;
    } else {
      fail ??= rate;
      failuresInARow++;
    }
  }
  if (pass !== null && fail !== null) {
    let lo: number = pass;
    let hi: number = fail;
    for (let round = 0; round < plan.refine; round++) {
      const mid: number = Math.round((lo + hi) / 2 / plan.granularity) * plan.granularity;
      if (mid <= lo || mid >= hi) break;
      if (await attempt(mid)) lo = mid;
      else hi = mid;
    }
    pass = lo;
  }
  const failures = tried.filter((t) => !t.pass).map((t) => t.rate);
  const lowestFailure = failures.length > 0 ? Math.min(...failures) : null;
  const below = tried.filter((t) => t.pass && (lowestFailure === null || t.rate < lowestFailure)).map((t) => t.rate);
  return { highest: pass, unbroken: below.length > 0 ? Math.max(...below) : null, lowestFailure };
}

/** "; every rate tried up to U passed (F failed)" when a rate below the highest pass failed, else "". */
export function unbrokenNote(search: SearchResult, unit: string): string {
  if (search.highest === null || search.lowestFailure === null || search.lowestFailure > search.highest) return '';
  return search.unbroken === null
    ? `; the lowest rate tried, ${search.lowestFailure} ${unit}, failed`
    : `; every rate tried up to ${search.unbroken} ${unit} passed, ${search.lowestFailure} failed`;
}

// ---------------------------------------------------------------------------
// Report: printed as it goes, written as JSON at the end

export type Cell = string | number | null;

interface Section {
  title: string;
  columns: string[];
  rows: Cell[][];
  lines: string[];
}

export class Report {
  private readonly sections: Section[] = [];
  private readonly raw: Record<string, unknown> = {};
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly bench: string,
    private readonly args: BenchArgs,
  ) {
    this.print(`tsload bench:${bench} — ${this.startedAt}, ${hostname()}, ${cpus().length} CPUs, node ${process.version}, --seconds ${args.seconds}\n`);
  }

  private print(text: string): void {
    process.stdout.write(text);
  }

  private current(): Section {
    let s = this.sections.at(-1);
    if (s === undefined) {
      // Lines before the first section (which servers run where) go under "setup".
      s = { title: 'setup', columns: [], rows: [], lines: [] };
      this.sections.push(s);
    }
    return s;
  }

  section(title: string): void {
    this.sections.push({ title, columns: [], rows: [], lines: [] });
    this.print(`\n== ${title}\n`);
  }

  /** A line of text (a result, a ratio, a note). */
  line(text: string): void {
    this.current().lines.push(text);
    this.print(`${text}\n`);
  }

  /** A whole table, printed aligned. */
  table(columns: string[], rows: Cell[][]): void {
    const s = this.current();
    s.columns = columns;
    s.rows = rows;
    const text = [columns, ...rows.map((r) => r.map(cellText))];
    const widths = columns.map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
    for (const r of text) {
      this.print(`${r.map((c, i) => (i === 0 ? (c ?? '').padEnd(widths[i] ?? 0) : (c ?? '').padStart(widths[i] ?? 0))).join('  ')}\n`);
    }
  }

  /** Raw measurements (parsed tool output, tsload steps) for the JSON copy only. */
  record(key: string, value: unknown): void {
    this.raw[key] = value;
  }

  write(): void {
    if (this.args.json === undefined) return;
    const doc = {
      schema: 'tsload/bench@1',
      bench: this.bench,
      startedAt: this.startedAt,
      finishedAt: new Date().toISOString(),
      seconds: this.args.seconds,
      host: { hostname: hostname(), cpus: cpus().length, node: process.version },
      sections: this.sections,
      raw: this.raw,
    };
    writeFileSync(this.args.json, `${JSON.stringify(doc, null, 2)}\n`);
    process.stderr.write(`bench: wrote ${this.args.json}\n`);
  }
}

function cellText(c: Cell): string {
  if (c === null) return '-';
  return typeof c === 'number' ? num(c) : c;
}

/** A number with sensible precision for a table. */
export function num(n: number, digits?: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (digits !== undefined) return n.toFixed(digits);
  const a = Math.abs(n);
  if (a >= 1000 || Number.isInteger(n)) return Math.round(n).toString();
  if (a >= 100) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** a / b to two decimals, or null when b is zero or not a number. */
export function ratio(a: number, b: number): number | null {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? Math.round((a / b) * 100) / 100 : null;
}

/** Every child run is killed after its nominal length plus this much. */
export const GRACE_MS = 30_000;

/** user + system CPU seconds of a timed run. */
export const cpuOf = (t: Timed): number => t.userS + t.systemS;

/** The timings of a run, for the JSON record. */
export function timesOf(t: Timed): { wallS: number; userS: number; systemS: number; serverCpuS: number | undefined } {
  return { wallS: t.wallS, userS: t.userS, systemS: t.systemS, serverCpuS: t.serverCpuS };
}

/** Progress on stderr, so stdout holds only the report. */
export function progress(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

/** The median of some measurements (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A distribution-free confidence interval for the median: the order
 * statistics x(k) and x(n+1-k), with k the largest for which the chance that
 * fewer than k of n samples fall below the true median is at most
 * (1 - confidence) / 2 (binomial, p = 1/2). Exact for any distribution; no
 * resampling. Null when n is too small for the asked confidence (n < 6 at 95 %).
 */
export function medianInterval(xs: readonly number[], confidence = 0.95): { low: number; high: number; coverage: number } | null {
  const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const n = sorted.length;
  const tail = (1 - confidence) / 2;
  // Grow k while P(Binomial(n, 1/2) ≤ k − 1), the chance of missing on one side, stays within the tail.
  let term = 0.5 ** n; // P(X = k)
  let lowerTail = 0; // P(X ≤ k − 1)
  let k = 0;
  while (k < n && lowerTail + term <= tail) {
    lowerTail += term;
    term = (term * (n - k)) / (k + 1);
    k++;
  }
  if (k === 0) return null;
  return { low: sorted[k - 1]!, high: sorted[n - k]!, coverage: 1 - 2 * lowerTail };
}

/** µs of CPU per request. */
export function usPer(cpuS: number, requests: number): number {
  return requests > 0 ? (cpuS * 1e6) / requests : NaN;
}

// ---------------------------------------------------------------------------
// Servers the benchmarks share

export interface Nginx {
  server: Server;
  port: number;
  url: string;
  /** A 2-byte answer from nginx's memory: the least server CPU per request. */
  tinyUrl: string;
  /** With `tls`: the same server over HTTPS, HTTP/2 by ALPN (and HTTP/1.1 for clients that offer only that). */
  https?: { port: number; url: string; tinyUrl: string };
}

/**
 * nginx from a throwaway config: 1 worker, access log off, keep-alive without
 * a request limit, serving fixtures/www on 127.0.0.1 and a free port.
 */
export async function startNginxServer(o: { tls?: { cert: string; key: string } } = {}): Promise<Nginx> {
  const dir = tempDir('nginx');
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const tlsPort = o.tls === undefined ? undefined : await freePort();
  // nginx 1.22 (Debian 12) turns h2 on per listen socket; keepalive_requests also bounds requests per h2 connection.
  const tlsListen =
    o.tls === undefined
      ? ''
      : `
    listen 127.0.0.1:${tlsPort} ssl http2;
    ssl_certificate ${o.tls.cert};
    ssl_certificate_key ${o.tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;`;
  const conf = join(dir, 'nginx.conf');
  // One worker so "the server" is one core's worth; no access log so the
  // server's disk writes don't compete with the load generators; keep-alive
  // without a request limit so no tool is forced to reconnect.
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  types { text/html html; }
  server {
    listen 127.0.0.1:${port};${tlsListen}
    root ${ROOT}/fixtures/www;
    # The cheapest answer nginx can give, for the generator's own ceiling (bench:http section 2).
    location = /tiny { default_type text/plain; return 200 "ok"; }
  }
}
`,
  );
  // -e: nginx opens its compiled-in error log before reading the config otherwise.
  const server = startServer('nginx', '/usr/sbin/nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;']);
  const url = `http://127.0.0.1:${port}/1k.html`;
  await waitFor('nginx', 10_000, async () => {
    if (!(await tcpAccepts(port))) return false;
    const res = await fetch(url);
    const body = await res.arrayBuffer();
    return res.status === 200 && body.byteLength === 1024;
  }).catch((error: Error) => {
    throw new Error(`${error.message}\n${server.log()}`);
  });
  return {
    server,
    port,
    url,
    tinyUrl: `http://127.0.0.1:${port}/tiny`,
    ...(tlsPort === undefined ? {} : { https: { port: tlsPort, url: `https://127.0.0.1:${tlsPort}/1k.html`, tinyUrl: `https://127.0.0.1:${tlsPort}/tiny` } }),
  };
}

export interface Target {
  server: Server;
  url: string;
}

/** tsload's built-in HTTP target (fixed delays and freezes on request), in its own process. */
export async function startTsloadTarget(): Promise<Target> {
  const server = startServer('tsload target', process.execPath, [TSLOAD_BIN, 'serve', 'http', '--listen', '127.0.0.1:0']);
  let url = '';
  await waitFor('tsload serve http', 15_000, async () => {
    const m = /tsload: http target listening on (\S+)/.exec(server.log());
    if (m?.[1] !== undefined) url = m[1].replace(/\/$/, '');
    return url !== '';
  });
  return { server, url };
}

// ---------------------------------------------------------------------------
// NSD, as the benchmarks and the tests run it

export interface Nsd {
  server: Server;
  /** UDP and TCP. */
  port: number;
  /** With `tls`: DNS over TLS. */
  tlsPort?: number;
}

/**
 * NSD serving example.com (fixtures/test.zone, or `zoneText`) on 127.0.0.1,
 * UDP and TCP on one free port, and with `tls` DNS over TLS on another (NSD
 * serves TLS on the ip-address whose port is tls-port). Everything it writes
 * stays in a temp dir: no database, no privilege drop, no chroot. One server
 * process, so "the server" is one core's worth, as nginx's one worker is.
 * Response rate limiting off: NSD's default (200 responses/s per source and
 * response kind) silently drops answers to a load generator on one address,
 * which would read as loss.
 */
export async function startNsdServer(o: { zoneText?: string; tls?: { cert: string; key: string } } = {}): Promise<Nsd> {
  const dir = tempDir('nsd');
  const port = await freePort();
  const tlsPort = o.tls === undefined ? undefined : await freePort();
  writeFileSync(join(dir, 'test.zone'), o.zoneText ?? readFileSync(join(ROOT, 'fixtures', 'test.zone'), 'utf8'));
  const conf = join(dir, 'nsd.conf');
  const tlsLines =
    o.tls === undefined
      ? ''
      : `  ip-address: 127.0.0.1@${tlsPort}
  tls-port: ${tlsPort}
  tls-service-key: "${o.tls.key}"
  tls-service-pem: "${o.tls.cert}"
`;
  writeFileSync(
    conf,
    `server:
  ip-address: 127.0.0.1@${port}
${tlsLines}  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonesdir: "${dir}"
  pidfile: "${dir}/nsd.pid"
  xfrdfile: "${dir}/xfrd.state"
  zonelistfile: "${dir}/zone.list"
  xfrdir: "${dir}"
  logfile: "${dir}/nsd.log"
  verbosity: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: test.zone
`,
  );
  // -d: in the foreground, so the pid held is NSD's own.
  const server = startServer('nsd', '/usr/sbin/nsd', ['-d', '-c', conf]);
  // NSD opens every listener before it answers: an answered SOA over UDP, and a TLS port that accepts, mean all are up.
  const ready = async (): Promise<boolean> => (await answersSoa(port)) && (tlsPort === undefined || (await tcpAccepts(tlsPort)));
  await waitFor('nsd', 15_000, ready).catch((error: Error) => {
    const log = existsSync(join(dir, 'nsd.log')) ? readFileSync(join(dir, 'nsd.log'), 'utf8') : '';
    throw new Error(`${error.message}\n${server.log()}${log}`);
  });
  return { server, port, ...(tlsPort === undefined ? {} : { tlsPort }) };
}

/** One SOA query for example.com over UDP: true once it is answered NOERROR with an answer. */
function answersSoa(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    sock.on('error', () => done(false));
    sock.on('message', (msg) => {
      // ID 4242, RCODE (the low 4 bits of byte 3) NOERROR, and ANCOUNT > 0.
      done(msg.length >= 12 && msg.readUInt16BE(0) === 4242 && (msg[3]! & 0x0f) === 0 && msg.readUInt16BE(6) > 0);
    });
    // A query for example.com SOA, ID 4242, RD clear.
    const query = Buffer.from('109200000001000000000000076578616d706c6503636f6d0000060001', 'hex');
    sock.send(query, port, '127.0.0.1');
  });
}

// ---------------------------------------------------------------------------
// wrk's output

export interface WrkOut {
  requests: number;
  durationS: number;
  requestsPerSec: number;
  avgMs: number;
  maxMs: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Non-2xx/3xx responses plus socket errors. */
  errors: number;
}

/** wrk prints durations as 831.00us, 2.03ms, 1.00s, 1.00m. */
export function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (m === null) return NaN;
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'us' | 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * scale;
}

export function parseWrk(out: string): WrkOut {
  const get = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (m === null) throw new Error(`wrk output has no ${what} line:\n${out}`);
    return m;
  };
  const lat = get(/^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)/m, 'Latency');
  const total = get(/(\d+) requests in ([\d.]+)(\w+),/, 'requests in');
  const pct = (p: string): number | null => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m?.[1] === undefined ? null : wrkMs(m[1]);
  };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErrors = sock === null ? 0 : sock.slice(1).reduce((a, b) => a + Number(b), 0);
  return {
    requests: Number(total[1]),
    durationS: wrkMs(`${total[2]}${total[3]}`) / 1000,
    requestsPerSec: Number(get(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec')[1]),
    avgMs: wrkMs(lat[1] ?? ''),
    maxMs: wrkMs(lat[3] ?? ''),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    errors: Number(non2xx?.[1] ?? 0) + sockErrors,
  };
}
