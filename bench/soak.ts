/**
 * bench:soak — a long run, to show that tsload's memory and file descriptors
 * stay flat and that it loses no count over minutes.
 * Usage: npm run bench:soak -- [--protocol http|dns|both] [--minutes M]
 *   [--http-rate R] [--dns-rate R] [--sample S] [--settle S] [--json FILE]
 * (default: both, 10 minutes each, HTTP at 10k req/s, DNS at 20k q/s, a
 * sample every 10 s, the slope fitted after the first 60 s).
 *
 * The target is tsload's built-in one (HTTP: fixtures/www/index.html; DNS:
 * fixtures/test.zone), in this process, so its own count of what it received
 * is at hand; tsload runs as the CLI in a child process, one load thread, so
 * its RSS (/proc/<pid>/status VmRSS) and file descriptors (/proc/<pid>/fd)
 * are its own alone. One step, no warmup, so every request the server
 * received is one of the step's: the HTTP probe only connects, so the server
 * must count exactly `sent`; the DNS probe sends one query (three if UDP
 * loses it), so the server counts `sent` plus those.
 *
 * Where the memory is: bench/soak-memory.cjs, loaded into the tsload process
 * with NODE_OPTIONS=--require, has each thread (main and load thread) write
 * its V8 heap every sample; the report gives each thread's heap at the start
 * of the fitted stretch and at the end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { DnsStep, HttpStep, Result } from '../src/result.js';
import { startHttpTarget } from '../src/targets/http.js';
import { startDnsTarget } from '../src/targets/dns.js';
import { loadZone } from '../src/protocols/dns/zone/index.js';
import { ROOT, TSLOAD_BIN } from './lib.js';

const ZONE = join(ROOT, 'fixtures', 'test.zone');
const MEMORY_PRELOAD = fileURLToPath(new URL('./soak-memory.cjs', import.meta.url));

export interface SoakOptions {
  protocol: 'http' | 'dns';
  /** Requests (queries) per second. */
  rate: number;
  durationS: number;
  /** Seconds between samples of RSS, descriptors and heaps. */
  sampleS: number;
  /** The slope and the descriptors are judged after this many seconds (allocation pools, JIT and the histograms settle first). */
  settleS: number;
  /**
   * A full collection in each of tsload's threads every sample
   * (bench/soak-memory.cjs): RSS then shows memory kept, not garbage not yet
   * collected. For runs shorter than V8's own rhythm (the CI soak).
   */
  collect?: boolean;
  /** Each sample as it is taken. */
  onSample?: (s: SoakSample) => void;
}

export interface SoakSample {
  /** Seconds since tsload started. */
  tS: number;
  rssMB: number;
  /**
   * Of rssMB, anonymous memory (RssAnon): what a leak grows. The rest is
   * files mapped in, mostly node's own code, paged in as it first runs.
   */
  anonMB: number;
  fds: number;
}

export interface ThreadHeap {
  thread: string;
  /** V8 heap used, MB, at the first sample of the fitted stretch and at the last. */
  heapUsedMB: { settled: number; end: number };
  /** Buffers and ArrayBuffers outside the heap (the thread's own, as Node counts them), MB. */
  externalMB: { settled: number; end: number };
}

export interface SoakReport {
  protocol: 'http' | 'dns';
  rate: number;
  durationS: number;
  settleS: number;
  samples: SoakSample[];
  /** Least-squares slope of RSS over the samples after settleS, MB per minute. */
  slopeMBPerMin: number;
  /** The same of its anonymous part. */
  anonSlopeMBPerMin: number;
  rssMB: { settled: number; end: number; max: number };
  /** Open descriptors after settleS. */
  fds: { min: number; max: number };
  heaps: ThreadHeap[];
  counts: {
    sent: number;
    completed: number;
    errors: number;
    timeouts: number;
    dropped: number;
    notSent: number;
    /** What the server itself received over the run (HTTP requests, DNS datagrams). */
    server: number;
    /** server − sent: what the probe sent (0 for HTTP, 1 to 3 for DNS); anything else is a count lost. */
    serverExtra: number;
  };
  sendRate: number;
  latencyMs: { p50: number; p99: number; max: number };
  cpuPerRequestUs: number;
  exitCode: number | null;
}

/** Least-squares slope of y over x. */
export function slope(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2) return Number.NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (x[i]! - mx) * (y[i]! - my);
    den += (x[i]! - mx) ** 2;
  }
  return num / den;
}

/** VmRSS, and of it the anonymous part (RssAnon), MB. */
function rssMB(pid: number): { rss: number; anon: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const anon = /^RssAnon:\s+(\d+) kB/m.exec(status);
    return rss === null || anon === null ? undefined : { rss: Number(rss[1]) / 1024, anon: Number(anon[1]) / 1024 };
  } catch {
    return undefined; // exited between two samples
  }
}

function fdCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

interface MemoryLine {
  t: number;
  thread: string;
  heapUsed: number;
  external: number;
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const dir = mkdtempSync(join(tmpdir(), 'tsload-soak-'));
  const jsonFile = join(dir, 'result.json');
  const memoryFile = join(dir, 'memory.jsonl');
  const http = o.protocol === 'http' ? await startHttpTarget({}) : undefined;
  const dns = o.protocol === 'dns' ? await startDnsTarget({ zones: [loadZone(ZONE)] }) : undefined;
  try {
    const target = http !== undefined ? ['http', `${http.url}/index.html`] : ['dns', '--server', dns!.address, '--zone', ZONE];
    const args = [TSLOAD_BIN, ...target, '--rate', String(o.rate), '--duration', `${o.durationS}s`, '--warmup', '0', '--threads', '1', '--json', jsonFile, '--quiet'];
    const env = {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${MEMORY_PRELOAD}`.trim(),
      TSLOAD_SOAK_MEMORY: memoryFile,
      TSLOAD_SOAK_MEMORY_MS: String(o.sampleS * 1000),
      ...(o.collect === true ? { TSLOAD_SOAK_GC: '1' } : {}),
    };
    const began = Date.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const samples: SoakSample[] = [];
    const timer = setInterval(() => {
      const rss = rssMB(child.pid!);
      const fds = fdCount(child.pid!);
      if (rss === undefined || fds === undefined) return;
      const s = { tS: Math.round((Date.now() - began) / 1000), rssMB: rss.rss, anonMB: rss.anon, fds };
      samples.push(s);
      o.onSample?.(s);
    }, o.sampleS * 1000);
    const exitCode = await exited;
    clearInterval(timer);
    if (exitCode !== 0) throw new Error(`tsload exited ${exitCode}: ${stderr.trim()}`);

    const result = JSON.parse(readFileSync(jsonFile, 'utf8')) as Result;
    const step = result.steps[0] as HttpStep | DnsStep;
    const settled = samples.filter((s) => s.tS >= o.settleS);
    const memory = readFileSync(memoryFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as MemoryLine);
    const heaps = [...new Set(memory.map((m) => m.thread))].map((thread): ThreadHeap => {
      const lines = memory.filter((m) => m.thread === thread);
      const first = lines.find((m) => m.t - began >= o.settleS * 1000) ?? lines[0]!;
      const last = lines.at(-1)!;
      const mb = (b: number): number => b / 2 ** 20;
      return { thread, heapUsedMB: { settled: mb(first.heapUsed), end: mb(last.heapUsed) }, externalMB: { settled: mb(first.external), end: mb(last.external) } };
    });
    const server = http !== undefined ? http.stats().requests : dns!.stats().queries;
    const cpuS = (step.cpuWindow?.userS ?? 0) + (step.cpuWindow?.systemS ?? 0);
    return {
      protocol: o.protocol,
      rate: o.rate,
      durationS: o.durationS,
      settleS: o.settleS,
      samples,
      slopeMBPerMin: slope(
        settled.map((s) => s.tS / 60),
        settled.map((s) => s.rssMB),
      ),
      anonSlopeMBPerMin: slope(
        settled.map((s) => s.tS / 60),
        settled.map((s) => s.anonMB),
      ),
      rssMB: { settled: settled[0]?.rssMB ?? Number.NaN, end: settled.at(-1)?.rssMB ?? Number.NaN, max: Math.max(...samples.map((s) => s.rssMB)) },
      fds: { min: Math.min(...settled.map((s) => s.fds)), max: Math.max(...settled.map((s) => s.fds)) },
      heaps,
      counts: {
        sent: step.sent,
        completed: step.completed,
        errors: step.errors.total,
        timeouts: step.timeouts,
        dropped: step.dropped,
        notSent: step.notSent ?? 0,
        server,
        serverExtra: server - step.sent,
      },
      sendRate: step.sendRate,
      latencyMs: { p50: step.latencyMs.p50, p99: step.latencyMs.p99, max: step.latencyMs.max },
      cpuPerRequestUs: step.sent > 0 ? (cpuS / step.sent) * 1e6 : Number.NaN,
      exitCode,
    };
  } finally {
    await http?.close();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);

export function formatSoak(r: SoakReport): string {
  const c = r.counts;
  const unit = r.protocol === 'http' ? 'req/s' : 'q/s';
  return [
    `${r.protocol} at ${r.rate} ${unit} for ${r.durationS} s: sent ${c.sent} (${f1(r.sendRate)}/s), completed ${c.completed}, errors ${c.errors}, timeouts ${c.timeouts}, dropped ${c.dropped}, not sent ${c.notSent}`,
    `  server received ${c.server} (sent + ${c.serverExtra}); latency p50 ${f2(r.latencyMs.p50)} ms, p99 ${f2(r.latencyMs.p99)} ms, max ${f1(r.latencyMs.max)} ms; CPU ${f1(r.cpuPerRequestUs)} µs per request`,
    `  RSS after ${r.settleS} s: ${f1(r.rssMB.settled)} → ${f1(r.rssMB.end)} MB (max ${f1(r.rssMB.max)}), slope ${f2(r.slopeMBPerMin)} MB/min (anonymous ${f2(r.anonSlopeMBPerMin)}); fds ${r.fds.min}..${r.fds.max}`,
    ...r.heaps.map((h) => `  ${h.thread}: V8 heap ${f1(h.heapUsedMB.settled)} → ${f1(h.heapUsedMB.end)} MB, external ${f1(h.externalMB.settled)} → ${f1(h.externalMB.end)} MB`),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      protocol: { type: 'string', default: 'both' },
      minutes: { type: 'string', default: '10' },
      'http-rate': { type: 'string', default: '10000' },
      'dns-rate': { type: 'string', default: '20000' },
      sample: { type: 'string', default: '10' },
      settle: { type: 'string', default: '60' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const minutes = Number(values.minutes);
  const sampleS = Number(values.sample);
  const settleS = Number(values.settle);
  if (!(minutes > 0 && minutes <= 120) || !(sampleS >= 1) || !(settleS >= 0 && settleS < minutes * 60)) throw new Error('--minutes 0..120, --sample >= 1, --settle below the run');
  const asked = values.protocol;
  const protocols: ('http' | 'dns')[] | undefined = asked === 'both' ? ['http', 'dns'] : asked === 'http' || asked === 'dns' ? [asked] : undefined;
  if (protocols === undefined) throw new Error(`--protocol http, dns or both, not ${asked}`);
  const reports: SoakReport[] = [];
  for (const protocol of protocols) {
    const rate = Number(values[protocol === 'http' ? 'http-rate' : 'dns-rate']);
    process.stdout.write(`soak: ${protocol} at ${rate}/s for ${minutes} min; every ${sampleS} s: seconds, RSS MB, fds\n`);
    const report = await runSoak({
      protocol,
      rate,
      durationS: Math.round(minutes * 60),
      sampleS,
      settleS,
      onSample: (s) => process.stdout.write(`  ${s.tS} s  ${f1(s.rssMB)} MB (anonymous ${f1(s.anonMB)})  ${s.fds} fds\n`),
    });
    reports.push(report);
    process.stdout.write(`${formatSoak(report)}\n`);
  }
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(reports, null, 2)}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    process.stderr.write(`soak: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
