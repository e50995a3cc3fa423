/**
 * bench:h2 — CPU per request over HTTP/2, tsload against h2load (Debian's
 * nghttp2-client), side by side in one run against the same nginx (one
 * worker, TLS 1.3, h2 by ALPN, serving fixtures/www/1k.html).
 * Usage: npm run bench:h2 -- [--seconds N] [--rounds N] [--json FILE]
 *
 * tsload runs open loop at 10k req/s over a fixed pool of C connections with
 * M streams each, with its own HTTP/2 client (the default) and with undici's. h2load's --rate paces connections, not requests, so it runs
 * closed loop with the same -c C and -m M and the request count tsload sent
 * (its warmup included): both then do the same work, at different speeds, and
 * CPU per request is what compares. The ratio is tsload ÷ h2load (target ≤ 1).
 * h2load also runs paced at tsload's rate (--rps, requests per second per
 * connection, which nghttp2 1.52 has): the same work at the same pace, where
 * neither reads many replies per wake-up.
 */
import type { HttpResult } from '../src/result.js';
import {
  GRACE_MS,
  Report,
  ROOT,
  benchMain,
  checkRan,
  cpuOf,
  median,
  num,
  parseBenchArgs,
  progress,
  ratio,
  runTimed,
  runTsload,
  slimStep,
  startNginxServer,
  timesOf,
  usPer,
} from './lib.js';
import type { Cell, Nginx } from './lib.js';

const args = parseBenchArgs('h2');
const N = args.seconds;
const report = new Report('h2', args);

const RATE = 10_000;
const CONNECTIONS = 4;
const STREAMS = 32;
const WARMUP_S = 1;
// The test-only CA and server certificate (test/fixtures/tls): a bench is a developer's tool, run from a checkout.
const CA = `${ROOT}/test/fixtures/tls/ca.pem`;
const CERT = `${ROOT}/test/fixtures/tls/server.pem`;
const KEY = `${ROOT}/test/fixtures/tls/server.key`;

interface H2loadOut {
  requests: number;
  succeeded: number;
  failed: number;
  seconds: number;
  rate: number;
  protocol: string;
}

/** h2load's summary: "finished in 1.00s, 10000.00 req/s, …", "requests: N total, N started, N done, N succeeded, …", "Application protocol: h2". */
export function parseH2load(out: string): H2loadOut {
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(out);
  const requests = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(out);
  const protocol = /Application protocol: (\S+)/.exec(out);
  if (finished === null || requests === null) throw new Error(`h2load output has no summary:\n${out}`);
  return {
    requests: Number(requests[2]),
    succeeded: Number(requests[3]),
    failed: Number(requests[4]),
    seconds: Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1),
    rate: Number(finished[3]),
    protocol: protocol?.[1] ?? 'unknown',
  };
}

interface Sample {
  tool: string;
  requests: number;
  rate: number;
  userS: number;
  systemS: number;
  /** CPU µs per request: tsload's step (warmup + window + drain, all threads); h2load's whole process. */
  us: number;
  /** Whole process, startup included, for both. */
  processUs: number;
  serverCpuS: number | null;
  note: string;
  record: unknown;
}

async function tsload(nginx: Nginx, client: 'native' | 'undici'): Promise<Sample> {
  const url = nginx.https!.url;
  progress(`tsload --http2 --client ${client} --rate ${RATE} for ${N} s`);
  const run = await runTsload<HttpResult>(
    ['http', url, '--http2', '--client', client, '--ca', CA, '--connections', String(CONNECTIONS), '--streams', String(STREAMS), '--rate', String(RATE), '--duration', `${N}s`, '--warmup', `${WARMUP_S}s`],
    { timeoutMs: (N + WARMUP_S + 10) * 1000 + GRACE_MS, server: nginx.server },
  );
  const step = run.result.steps[0];
  if (step === undefined) throw new Error('tsload returned no step');
  if (run.result.httpVersion !== '2') throw new Error(`tsload did not speak h2 (httpVersion ${run.result.httpVersion})`);
  // `sent` counts the window; the warmup's requests went at the target rate.
  const requests = step.sent + Math.round(step.targetRate * step.warmupS);
  return {
    tool: client === 'native' ? 'tsload' : 'tsload undici',
    requests,
    rate: step.sendRate,
    userS: step.cpu.userS,
    systemS: step.cpu.systemS,
    us: usPer(step.cpu.userS + step.cpu.systemS, requests),
    processUs: usPer(cpuOf(run.timed), requests),
    serverCpuS: run.timed.serverCpuS ?? null,
    note: `${step.completed}/${step.sent} answered, ${step.errors.total} errors, ${step.timeouts} timeouts, ${step.dropped} dropped, ${step.connections} connections, lag p99 ${num(step.scheduleLagMs.p99)} ms, ${run.result.tls?.protocol} ${run.result.tls?.alpn}`,
    record: { command: run.timed.command, time: timesOf(run.timed), step: slimStep(step) },
  };
}

async function h2load(nginx: Nginx, requests: number, paced: boolean): Promise<Sample> {
  const pace = paced ? ['--rps', String(RATE / CONNECTIONS)] : [];
  progress(`h2load -c ${CONNECTIONS} -m ${STREAMS} -n ${requests} ${pace.join(' ')}`);
  const h = await runTimed('/usr/bin/h2load', ['-t', '1', '-c', String(CONNECTIONS), '-m', String(STREAMS), '-n', String(requests), ...pace, nginx.https!.url], {
    timeoutMs: N * 5000 + GRACE_MS,
    server: nginx.server,
  });
  checkRan(h, 'h2load');
  const o = parseH2load(h.stdout);
  if (o.protocol !== 'h2') throw new Error(`h2load did not speak h2 (${o.protocol})`);
  const cpu = cpuOf(h);
  return {
    tool: paced ? 'h2load paced' : 'h2load',
    requests: o.requests,
    rate: o.rate,
    userS: h.userS,
    systemS: h.systemS,
    us: usPer(cpu, o.requests),
    processUs: usPer(cpu, o.requests),
    serverCpuS: h.serverCpuS ?? null,
    note: `${paced ? `--rps ${RATE / CONNECTIONS} per connection` : 'closed loop'}, ${o.succeeded} succeeded, ${o.failed} failed, in ${num(o.seconds)} s`,
    record: { command: h.command, time: timesOf(h), parsed: o, stdout: h.stdout },
  };
}

await benchMain(async () => {
  try {
    const nginx = await startNginxServer({ tls: { cert: CERT, key: KEY } });
    report.line(`nginx: 1 worker on 127.0.0.1:${nginx.https!.port} (TLS, h2 by ALPN), serving fixtures/www/1k.html (pid ${nginx.server.pid})`);
    report.section(`CPU per request over h2, tsload at ${RATE} req/s for ${N} s vs h2load closed loop, ${CONNECTIONS} connections × ${STREAMS} streams, ${args.rounds} alternating round${args.rounds === 1 ? '' : 's'}`);
    const samples: Sample[] = [];
    const rows: Cell[][] = [];
    for (let round = 1; round <= args.rounds; round++) {
      const t = await tsload(nginx, 'native');
      const h = await h2load(nginx, t.requests, false);
      const hp = await h2load(nginx, t.requests, true);
      const tu = await tsload(nginx, 'undici');
      for (const s of [t, h, hp, tu]) {
        samples.push(s);
        rows.push([round, s.tool, s.requests, s.rate, s.userS, s.systemS, s.us, s.processUs, s.serverCpuS, s.note]);
      }
    }
    report.table(['round', 'tool', 'requests', 'req/s', 'user s', 'sys s', 'CPU µs/req', 'process µs/req', 'nginx CPU s', ''], rows);
    const med = (tool: string, key: 'us' | 'processUs'): number => median(samples.filter((s) => s.tool === tool).map((s) => s[key]));
    const r = ratio(med('tsload', 'us'), med('h2load', 'us'));
    const rp = ratio(med('tsload', 'us'), med('h2load paced', 'us'));
    report.line(`median CPU µs/request: tsload ${num(med('tsload', 'us'))} (whole process ${num(med('tsload', 'processUs'))}), h2load ${num(med('h2load', 'us'))}, h2load paced ${num(med('h2load paced', 'us'))}`);
    report.line(`ratio tsload/h2load: ${r ?? '-'} (whole process: ${ratio(med('tsload', 'processUs'), med('h2load', 'processUs')) ?? '-'}); target ≤ 1.0: ${r !== null && r <= 1 ? 'met' : 'NOT met'}`);
    report.line(`ratio tsload/h2load paced: ${rp ?? '-'} (whole process: ${ratio(med('tsload', 'processUs'), med('h2load paced', 'processUs')) ?? '-'})`);
    report.line(`ratio tsload/tsload undici: ${ratio(med('tsload', 'us'), med('tsload undici', 'us')) ?? '-'} (tsload's own HTTP/2 client against undici's on node:http2)`);
    report.line('(tsload: step cpu = warmup + window + drain, all threads; h2load: /usr/bin/time user+sys of the whole process. h2load runs closed loop, as fast as nginx answers: same work, not the same pace)');
    report.record('h2CpuPerRequest', { rate: RATE, connections: CONNECTIONS, streams: STREAMS, ratio: r, ratioPaced: rp, samples: samples.map(({ record, ...rest }) => ({ ...rest, run: record })) });
    await nginx.server.stop();
  } finally {
    report.write();
  }
});
