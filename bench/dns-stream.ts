/**
 * bench:dns-stream — DNS over TCP and over TLS: tsload against dnsperf
 * (`-m tcp`, `-m dot`), side by side in one run against the same NSD (one
 * server process, TCP and TLS) loaded with fixtures/test.zone, both tools
 * reading the same query file and using the same number of connections.
 * Usage: npm run bench:dns-stream -- [--seconds N] [--rounds N] [--json FILE]
 *
 * CPU per query at 20k qps, over the same window: the N s after each tool's
 * first second. Per round and transport, tsload then dnsperf.
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
  median,
  num,
  parseBenchArgs,
  progress,
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

const args = parseBenchArgs('dns-stream');
const N = args.seconds;
const report = new Report('dns-stream', args);

/** The same for both tools; see bench/dns.ts for why shorter than dnsperf's default. */
const TIMEOUT_S = 1;
const RATE = 20_000;
/** Connections per tool: tsload's --sockets (one thread) and dnsperf's -c. */
const CONNECTIONS = 4;
/** dnsperf's cap on queries outstanding, high enough that its pacing (-Q), not the cap, sets the rate. */
const DNSPERF_OUTSTANDING = 1000;
const TRANSPORTS = [
  { name: 'tcp', tsload: ['--transport', 'tcp'], dnsperf: 'tcp' },
  // dnsperf does not verify the certificate: neither does tsload here (it shakes hands once per connection anyway).
  { name: 'tls', tsload: ['--transport', 'tls', '--insecure'], dnsperf: 'dot' },
] as const;

// The test-only certificate (test/fixtures/tls): throwaway, for loopback benchmarks like this one.
const CERT = join(ROOT, 'test', 'fixtures', 'tls', 'server.pem');
const KEY = join(ROOT, 'test', 'fixtures', 'tls', 'server.key');

async function startNsd(): Promise<Nsd & { tlsPort: number }> {
  const { server, port, tlsPort } = await startNsdServer({ tls: { cert: CERT, key: KEY } });
  report.line(`nsd: 1 server process, TCP on 127.0.0.1:${port}, TLS on 127.0.0.1:${tlsPort}, zone example.com from fixtures/test.zone (pid ${server.pid})`);
  return { server, port, tlsPort: tlsPort! };
}

function parseDnsperf(out: string): { sent: number; completed: number; lost: number; qps: number } {
  const get = (re: RegExp, what: string): number => {
    const m = re.exec(out);
    if (m === null) throw new Error(`dnsperf output has no ${what} line:\n${out.slice(-3000)}`);
    return Number(m[1]);
  };
  return {
    sent: get(/Queries sent:\s+(\d+)/, 'Queries sent'),
    completed: get(/Queries completed:\s+(\d+)/, 'Queries completed'),
    lost: get(/Queries lost:\s+(\d+)/, 'Queries lost'),
    qps: get(/Queries per second:\s+([\d.]+)/, 'Queries per second'),
  };
}

async function emitQueries(): Promise<string> {
  const file = join(tempDir('queries'), 'queries.txt');
  const emit = await runTimed(process.execPath, [TSLOAD_BIN, 'dns', '--zone', join(ROOT, 'fixtures', 'test.zone'), '--emit-queries'], { timeoutMs: 30_000 });
  checkRan(emit, 'tsload --emit-queries');
  writeFileSync(file, emit.stdout);
  return file;
}

async function cpuPerQuery(nsd: Nsd, queries: string): Promise<void> {
  const rounds = args.rounds;
  report.section(`CPU per query at ${RATE / 1000}k qps over TCP and TLS, ${CONNECTIONS} connections each, ${N} s windows, same NSD, ${rounds} round${rounds === 1 ? '' : 's'}`);
  const rows: Cell[][] = [];
  const ratios: Record<string, number[]> = { tcp: [], tls: [] };
  const records: unknown[] = [];
  const timeoutMs = (N + 1 + TIMEOUT_S + 10) * 1000 + GRACE_MS;
  for (let round = 1; round <= rounds; round++) {
    for (const transport of TRANSPORTS) {
      const port = transport.name === 'tls' ? nsd.tlsPort : nsd.port;
      progress(`round ${round}: tsload dns ${transport.tsload.join(' ')} --rate ${RATE} for 1 + ${N} s`);
      const t = await runTsload<DnsResult>(
        ['dns', '--server', `127.0.0.1:${port}`, '--queries', queries, ...transport.tsload, '--sockets', String(CONNECTIONS), '--rate', String(RATE), '--duration', `${N}s`, '--warmup', '1s', '--timeout', `${TIMEOUT_S}s`],
        { timeoutMs, server: nsd.server },
      );
      const step = t.result.steps[0];
      if (step?.cpuWindow === undefined) throw new Error('tsload returned no step with its window CPU');
      const tsUs = usPer(step.cpuWindow.userS + step.cpuWindow.systemS, step.sent);

      progress(`round ${round}: dnsperf -m ${transport.dnsperf} -Q ${RATE} for 1 + ${N} s`);
      const dpCpu = { atWindowStart: NaN, atWindowEnd: NaN, windowS: NaN };
      const dpRun = await runTimed(
        '/usr/bin/dnsperf',
        ['-m', transport.dnsperf, '-s', '127.0.0.1', '-p', String(port), '-d', queries, '-c', String(CONNECTIONS), '-q', String(DNSPERF_OUTSTANDING), '-Q', String(RATE), '-l', String(N + 1), '-t', String(TIMEOUT_S)],
        {
          timeoutMs,
          server: nsd.server,
          during: async (child) => {
            dpCpu.atWindowStart = await cpuAfter(child, 1);
            const w0 = performance.now();
            dpCpu.atWindowEnd = await cpuAfter(child, N);
            dpCpu.windowS = (performance.now() - w0) / 1000;
          },
        },
      );
      checkRan(dpRun, 'dnsperf');
      const d = parseDnsperf(dpRun.stdout);
      const dpWindowQueries = Math.round(d.qps * dpCpu.windowS);
      const dpUs = usPer(dpCpu.atWindowEnd - dpCpu.atWindowStart, dpWindowQueries);
      const r = tsUs / dpUs;
      ratios[transport.name]!.push(r);
      rows.push(
        [round, transport.name, 'tsload', step.sent, step.sendRate, step.lost + step.errors.total, step.stream?.connections ?? null, tsUs, t.timed.serverCpuS ?? null, null],
        [round, transport.name, `dnsperf -m ${transport.dnsperf}`, dpWindowQueries, d.qps, d.lost, CONNECTIONS, dpUs, dpRun.serverCpuS ?? null, num(r, 3)],
      );
      records.push({
        round,
        transport: transport.name,
        tsload: { command: t.timed.command, usPerQueryWindow: tsUs, time: timesOf(t.timed), step: slimStep(step) },
        dnsperf: { command: dpRun.command, usPerQueryWindow: dpUs, cpu: dpCpu, windowQueries: dpWindowQueries, time: timesOf(dpRun), parsed: d },
      });
      report.line(
        `round ${round} ${transport.name}: tsload ${step.completed} of ${step.sent} answered, ${step.lost} lost, ${step.errors.total} errors, ${step.stream?.reconnects ?? 0} reconnects, lag p99 ${num(step.scheduleLagMs.p99)} ms, latency p99 ${num(step.latencyMs.p99)} ms; dnsperf ${d.completed} of ${d.sent} completed, ${d.lost} lost`,
      );
    }
  }
  report.table(['round', 'transport', 'tool', 'window queries', 'qps', 'lost+errors', 'connections', 'window µs/query', 'nsd CPU s', 'ratio tsload/dnsperf'], rows);
  for (const transport of TRANSPORTS) {
    const list = ratios[transport.name]!;
    const verdict = median(list);
    report.line(
      `${transport.name}: ratio tsload/dnsperf CPU per query (window), per round: ${list.map((x) => num(x, 3)).join(', ')}; median ${num(verdict, 3)}; target ≤ 1: ${verdict <= 1 ? 'met' : 'NOT met'}`,
    );
  }
  report.line("(window = the N s after each tool's first second: tsload's cpuWindow over the queries it sent in it; dnsperf's CPU read from /proc 1 s and N + 1 s after its start, over its rate × that time; see docs/bench.md)");
  report.record('cpuPerQuery', { rate: RATE, connections: CONNECTIONS, rounds, ratios, medianRatio: { tcp: median(ratios.tcp!), tls: median(ratios.tls!) }, runs: records });
}

await benchMain(async () => {
  try {
    const nsd = await startNsd();
    const queries = await emitQueries();
    await cpuPerQuery(nsd, queries);
  } finally {
    report.write();
  }
});
