/**
 * Small, bounded HTTP and DNS probes run from the client host, used to tell
 * when a target is ready and (in tests) that it answers across the link.
 *
 * The probe is plain JavaScript run with `node -e` inside the client
 * namespace: it must run with no loader (tsx) and no project files, from
 * source or from dist alike. Its options arrive as one JSON argument, never
 * spliced into the script.
 */
import { headerRcodeNames } from '../protocols/dns/types.js';
import { CLIENT } from './settings.js';
import { findBinary, run } from './system.js';

export interface HttpProbe {
  mode: 'http';
  host: string;
  port: number;
  path: string;
  /** Requests sent one after another on one keep-alive connection. */
  count: number;
  /** Per-request timeout. */
  timeoutMs: number;
}

export interface DnsProbe {
  mode: 'dns';
  host: string;
  port: number;
  name: string;
  /** Numeric query type: 6 = SOA, 1 = A. */
  qtype: number;
  /** Queries sent at `ratePerSecond` (at most 65536: the IDs must not wrap). */
  count: number;
  ratePerSecond: number;
  /** How long to wait for answers after the last query. */
  waitMs: number;
}

export interface HttpProbeResult {
  mode: 'http';
  sent: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  errors: number;
  firstError?: string;
  bodyBytes: number;
  /** From the first request to the last byte of the last response. */
  seconds: number;
}

export interface DnsProbeResult {
  mode: 'dns';
  sent: number;
  answered: number;
  /** Answers by RCODE name. */
  rcodes: Record<string, number>;
  seconds: number;
  /** Mean round trip of the answered queries. */
  meanLatencyMs: number;
}

const probeScript = String.raw`
'use strict';
const opts = JSON.parse(process.argv[1]);
const done = (result) => { process.stdout.write(JSON.stringify(result) + '\n'); process.exit(0); };

if (opts.mode === 'http') {
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const result = { mode: 'http', sent: 0, statuses: {}, errors: 0, bodyBytes: 0, seconds: 0 };
  const start = process.hrtime.bigint();
  const one = () => new Promise((resolve) => {
    result.sent++;
    const req = http.get({ host: opts.host, port: opts.port, path: opts.path, agent, timeout: opts.timeoutMs }, (res) => {
      res.on('data', (chunk) => { result.bodyBytes += chunk.length; });
      res.on('end', () => { result.statuses[res.statusCode] = (result.statuses[res.statusCode] || 0) + 1; resolve(); });
      res.on('error', fail);
    });
    function fail(err) { result.errors++; if (!result.firstError) result.firstError = String(err && err.message || err); resolve(); }
    req.on('timeout', () => req.destroy(new Error('timeout after ' + opts.timeoutMs + ' ms')));
    req.on('error', fail);
  });
  (async () => {
    for (let i = 0; i < opts.count; i++) await one();
    result.seconds = Number(process.hrtime.bigint() - start) / 1e9;
    agent.destroy();
    done(result);
  })();
} else if (opts.mode === 'dns') {
  const dgram = require('node:dgram');
  const rcodeNames = opts.rcodeNames;
  const labels = opts.name.split('.').filter((l) => l !== '');
  const question = Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])),
    Buffer.from([0, opts.qtype >> 8, opts.qtype & 255, 0, 1]),
  ]);
  const sentAt = new Array(opts.count);
  const result = { mode: 'dns', sent: 0, answered: 0, rcodes: {}, seconds: 0, meanLatencyMs: 0 };
  let latencySum = 0;
  // A large receive buffer: on a busy machine the probe may not be scheduled
  // for milliseconds, and the kernel must not drop the answers meanwhile.
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  socket.on('message', (msg) => {
    if (msg.length < 12) return;
    const id = msg.readUInt16BE(0);
    const at = sentAt[id];
    if (at === undefined || at === null) return;
    sentAt[id] = null; // a duplicate answer counts once
    result.answered++;
    latencySum += Number(process.hrtime.bigint() - at) / 1e6;
    const name = rcodeNames[msg[3] & 15];
    result.rcodes[name] = (result.rcodes[name] || 0) + 1;
  });
  socket.bind(0, () => {
    const start = process.hrtime.bigint();
    const send = () => {
      // Send every query whose time has come: an open-loop schedule, bounded by count.
      const due = Math.min(opts.count, Math.floor(Number(process.hrtime.bigint() - start) / 1e9 * opts.ratePerSecond) + 1);
      while (result.sent < due) {
        const id = result.sent;
        const header = Buffer.from([id >> 8, id & 255, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        sentAt[id] = process.hrtime.bigint();
        socket.send(Buffer.concat([header, question]), opts.port, opts.host);
        result.sent++;
      }
      if (result.sent < opts.count) setTimeout(send, 1);
      else setTimeout(() => {
        result.seconds = Number(process.hrtime.bigint() - start) / 1e9;
        result.meanLatencyMs = result.answered > 0 ? latencySum / result.answered : 0;
        socket.close();
        done(result);
      }, opts.waitMs);
    };
    send();
  });
}
`;

/** Run one probe from the client host and return what it measured. */
export async function probe(options: HttpProbe): Promise<HttpProbeResult>;
export async function probe(options: DnsProbe): Promise<DnsProbeResult>;
export async function probe(options: HttpProbe | DnsProbe): Promise<HttpProbeResult | DnsProbeResult> {
  if (options.mode === 'dns' && options.count > 65536) throw new RangeError('a DNS probe sends at most 65536 queries');
  const bound =
    options.mode === 'http'
      ? options.count * options.timeoutMs
      : (options.count / options.ratePerSecond) * 1000 + options.waitMs;
  const ip = findBinary('ip') ?? 'ip';
  const result = await run(ip, ['netns', 'exec', CLIENT.namespace, process.execPath, '-e', probeScript, JSON.stringify(options.mode === 'dns' ? { ...options, rcodeNames: headerRcodeNames() } : options)], {
    timeoutMs: bound + 15_000,
  });
  if (result.code !== 0) throw new Error(`probe from ${CLIENT.namespace} failed (exit ${result.code}): ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as HttpProbeResult | DnsProbeResult;
}
