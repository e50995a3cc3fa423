/**
 * `tsload http` over HTTPS and HTTP/2 against real servers on loopback: the
 * built-in target (node:http2, TLS and h2c) and nginx from a throwaway
 * config. The rows (test/protocols/http/transports.ts) are clients × transports × servers,
 * so a shared driver contract suite can take them as its own.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureServer, type Http2Session } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Share } from '../../../src/engine/segment.js';
import { checkHttpOptions, createDriver, type HttpDriverOptions } from '../../../src/protocols/http/driver.js';
import { CA, closedLoop, startTransportServers, type TransportRow, type TransportServers } from './transports.js';
import { statusOf, statusValue } from '../../../src/protocols/http/native-h2.js';
import { checkHttpTransport, probeTransport, streamsFor } from '../../../src/protocols/http/transport.js';
import { startHttpTarget, type HttpTarget } from '../../../src/targets/http.js';
import { TargetUnreachableError } from '../../../src/errors.js';
import { runHttp } from '../../../src/run.js';
import { SERVERS } from '../../../src/testbed/servers.js';
import { freePort, startServer, tcpAccepts, tempDir, waitFor } from '../../../bench/lib.js';
import type { HttpResult } from '../../../src/result.js';
import { tsload as tsloadCli } from '../../run-cli.js';
import { TEST_CA, TEST_CERT, TEST_KEY } from '../../tls-fixtures.js';

const cert = readFileSync(TEST_CERT, 'utf8');
const key = readFileSync(TEST_KEY, 'utf8');

let servers: TransportServers;
let builtinTls: { url: string };
let builtinH2c: { url: string };

beforeAll(async () => {
  servers = await startTransportServers();
  ({ builtinTls, builtinH2c } = servers);
}, 20_000);

afterAll(async () => {
  await servers?.close();
});

/** The rows' names are known before the servers start; their options only after. */
const ROWS = ['undici, HTTPS (HTTP/1.1), built-in', 'undici, HTTPS (HTTP/1.1), nginx', ...(['undici', 'native'] as const).flatMap((c) => [`${c}, h2 (ALPN), built-in`, `${c}, h2c (prior knowledge), built-in`, `${c}, h2 (ALPN), nginx`])];

it('runs every row the transports module has', () => {
  expect(servers.rows.map((r) => r.name)).toEqual(ROWS);
});

describe.each(ROWS)('%s', (name) => {
  const row = (): TransportRow => servers.rows.find((r) => r.name === name)!;
  it('answers every request, on connections that speak what was asked, each TLS handshake counted', async () => {
    const t = row();
    const { codes, counters } = await closedLoop({ ...t.options, connections: 2 }, 300, 16);
    expect(codes.filter((c) => c === 200)).toHaveLength(300);
    expect(counters.requestsWritten).toBe(300);
    expect(counters.connections).toBeGreaterThanOrEqual(1);
    expect(counters.connections).toBeLessThanOrEqual(2);
    expect(t.version === '2' ? counters.h2Connections : counters.h1Connections).toBe(counters.connections);
    expect(t.version === '2' ? counters.h1Connections : counters.h2Connections).toBe(0);
    expect(counters.tlsHandshakes).toBe(t.tls ? counters.connections : 0);
    if (t.tls) expect(counters.tlsHandshakeMs).toBeGreaterThan(0);
    expect(counters.tlsHandshakeFailures).toBe(0);
  });

  it('the probe says what the server speaks', async () => {
    const t = row();
    const o = t.options;
    const negotiated = await probeTransport(o.url, o, 2000);
    expect(negotiated.httpVersion).toBe(t.version);
    expect(negotiated.http2Refused).toBe(false);
    if (t.tls) expect(negotiated.tls).toMatchObject({ alpn: t.version === '2' ? 'h2' : 'http/1.1', verified: true });
    else expect(negotiated.tls).toBeUndefined();
  });
});

describe('certificates', () => {
  it('--ca verifies the server; without it the probe stops at once with the reason and what to pass', async () => {
    const url = `${builtinTls.url}/`;
    expect((await probeTransport(url, { tls: { insecure: false, ca: CA } }, 2000)).tls?.verified).toBe(true);
    const started = performance.now();
    const error = await probeTransport(url, { tls: { insecure: false } }, 2000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).toMatch(/certificate does not verify \(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect((error as Error).message).toMatch(/--ca FILE, or --insecure/);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('--tls-servername checks the certificate against that name, and a name it lacks fails', async () => {
    const url = `${builtinTls.url}/`;
    expect((await probeTransport(url, { tls: { insecure: false, ca: CA, servername: 'localhost' } }, 2000)).tls?.verified).toBe(true);
    const error = await probeTransport(url, { tls: { insecure: false, ca: CA, servername: 'not-in-the-cert.example' } }, 2000).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/--tls-servername/);
  });

  it('--insecure runs against a server it cannot verify, and says the certificate was not verified', async () => {
    const url = `${builtinTls.url}/index.html`;
    expect((await probeTransport(url, { tls: { insecure: true }, http2: true }, 2000)).tls).toMatchObject({ verified: false, alpn: 'h2' });
    const { codes, counters } = await closedLoop({ url, tls: { insecure: true }, http2: true, streams: 4, connections: 1 }, 50, 4);
    expect(codes.every((c) => c === 200)).toBe(true);
    expect(counters.h2Connections).toBe(1);
  });

  it('a driver that cannot verify fails its requests with no hang, and counts the failed handshakes', async () => {
    const { codes, counters } = await closedLoop({ url: `${builtinTls.url}/`, tls: { insecure: false }, connections: 1 }, 3, 1);
    expect(codes.every((c) => c < 0)).toBe(true);
    expect(counters.tlsHandshakeFailures).toBeGreaterThanOrEqual(1);
    expect(counters.tlsHandshakes).toBe(0);
  });

  it('runHttp stops at the probe with the reason, before any load', async () => {
    const error = await runHttp({ url: `${builtinTls.url}/`, rate: 100, duration: '1s', warmup: '0s' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).toMatch(/--ca FILE/);
  });
});

describe('streams per connection', () => {
  /** An h2 server that answers after `delayMs` and records, per session, the most streams open at once. */
  async function countingServer(delayMs: number, maxConcurrentStreams = 1000) {
    const sessions: { open: number; most: number }[] = [];
    const server = createSecureServer({ cert, key, settings: { maxConcurrentStreams } });
    const of = new WeakMap<Http2Session, { open: number; most: number }>();
    server.on('session', (session) => {
      const s = { open: 0, most: 0 };
      sessions.push(s);
      of.set(session, s);
    });
    server.on('stream', (stream) => {
      const s = of.get(stream.session!)!;
      s.most = Math.max(s.most, ++s.open);
      setTimeout(() => {
        s.open--;
        if (!stream.destroyed) stream.respond({ ':status': 200 }, { endStream: true });
      }, delayMs);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return { sessions, url, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  it.each(['undici', 'native'] as const)('%s: a fixed pool keeps to --streams on each connection; the rest wait in tsload', async (client) => {
    const s = await countingServer(30);
    try {
      const { codes, counters } = await closedLoop({ url: s.url, tls: { insecure: false, ca: CA }, http2: true, streams: 3, connections: 2, client }, 60, 12);
      expect(codes.every((c) => c === 200)).toBe(true);
      expect(s.sessions).toHaveLength(2);
      expect(s.sessions.map((x) => x.most)).toEqual([3, 3]);
      expect(counters.waitedForConnection).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });

  it.each(['undici', 'native'] as const)('%s: a growing pool opens a connection only when the open ones carry --streams each', async (client) => {
    const s = await countingServer(50);
    try {
      const { codes, counters } = await closedLoop({ url: s.url, tls: { insecure: false, ca: CA }, http2: true, streams: 4, maxConnections: 16, client }, 48, 16);
      expect(codes.every((c) => c === 200)).toBe(true);
      // 16 at once over 4 streams each needs 4 connections; a pool that ignored streams would open one per request.
      expect(s.sessions.length).toBeGreaterThanOrEqual(4);
      expect(s.sessions.length).toBeLessThanOrEqual(6);
      expect(Math.max(...s.sessions.map((x) => x.most))).toBeLessThanOrEqual(4);
      expect(counters.connections).toBe(s.sessions.length);
      expect(counters.tlsHandshakes).toBe(s.sessions.length);
    } finally {
      await s.close();
    }
  });

  it("are lowered to what the server's SETTINGS allow, said in a notice and in the result", async () => {
    const s = await countingServer(20, 2);
    try {
      const negotiated = await probeTransport(s.url, { tls: { insecure: false, ca: CA }, http2: true }, 2000);
      expect(negotiated).toMatchObject({ httpVersion: '2', maxStreams: 2 });
      expect(streamsFor(8, negotiated).streams).toBe(2);
      expect(streamsFor(1, negotiated)).toEqual({ streams: 1 });
      const notices: string[] = [];
      const result = await runHttp({ url: s.url, ca: TEST_CA, http2: true, streams: 8, connections: 1, rate: 200, duration: '500ms', warmup: '0s', onNotice: (l) => notices.push(l) });
      expect(notices).toContain('tsload: the server allows 2 streams per HTTP/2 connection; using 2 instead of --streams 8');
      expect(result.streams).toBe(2);
      expect(result.steps[0]!.completed).toBe(result.steps[0]!.sent);
      expect(Math.max(...s.sessions.map((x) => x.most))).toBeLessThanOrEqual(2);
    } finally {
      await s.close();
    }
  }, 20_000);
});

describe.each(['undici', 'native'] as const)('%s over h2: connections that end', (client) => {
  // undici 7.30 fails a request and trips an assertion of its own on such a GOAWAY (its issues 3011, 3875): tsload's client only.
  it.runIf(client === 'native')('a server that says GOAWAY after a few streams (nginx keepalive_requests) loses no request', async () => {
    const server = createSecureServer({ cert, key });
    let sessions = 0;
    server.on('session', () => sessions++);
    const served = new WeakMap<Http2Session, number>();
    server.on('stream', (stream) => {
      const session = stream.session!;
      const n = (served.get(session) ?? 0) + 1;
      served.set(session, n);
      setTimeout(() => {
        if (!stream.destroyed) stream.respond({ ':status': 200 }, { endStream: true });
        // Graceful: GOAWAY names the last stream it takes; the client sends the rest elsewhere.
        if (n === 5) session.close();
      }, 5);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const { codes, counters } = await closedLoop({ url, tls: { insecure: false, ca: CA }, http2: true, streams: 4, connections: 2, client }, 40, 4);
      expect(codes).toEqual(Array(40).fill(200));
      // Each session takes its 5 and those already in flight when it said GOAWAY: 8 at most.
      expect(sessions).toBeGreaterThanOrEqual(5);
      expect(counters.connections).toBe(sessions);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('--new-connection-per-request opens one connection per request, each closed by tsload', async () => {
    const { codes, counters } = await closedLoop({ url: `${builtinTls.url}/index.html`, tls: { insecure: false, ca: CA }, http2: true, streams: 4, newConnectionPerRequest: true, client }, 12, 3);
    expect(codes).toEqual(Array(12).fill(200));
    expect(counters.connections).toBe(12);
    expect(counters.tlsHandshakes).toBe(12);
  });
});

describe('a server that speaks only HTTP/1.1', () => {
  it('is said to have refused h2, and a driver asked for h2 there carries HTTP/1.1 connections', async () => {
    const server = createHttpsServer({ cert, key }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      expect(await probeTransport(url, { tls: { insecure: false, ca: CA }, http2: true }, 2000)).toMatchObject({ httpVersion: '1.1', http2Refused: true });
      // undici falls back to HTTP/1.1 on such a connection; the native client, which the probe keeps away from it, would fail it.
      const { codes, counters } = await closedLoop({ url, tls: { insecure: false, ca: CA }, http2: true, streams: 8, connections: 1, client: 'undici' }, 20, 1);
      expect(codes.every((c) => c === 200)).toBe(true);
      expect(counters).toMatchObject({ h1Connections: 1, h2Connections: 0 });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('over cleartext, refuses h2c prior knowledge', async () => {
    const plain = await startHttpTarget();
    try {
      expect(await probeTransport(`${plain.url}/`, { http2: true }, 2000)).toMatchObject({ httpVersion: '1.1', http2Refused: true });
    } finally {
      await plain.close();
    }
  });
});

describe('options', () => {
  it('are checked once, with every problem named', () => {
    const problems: string[] = [];
    checkHttpTransport({ insecure: true, streams: 0 }, 'http://127.0.0.1/', problems);
    expect(problems).toEqual([
      '--insecure, --ca and --tls-servername apply to https:// URLs (got http://127.0.0.1/)',
      "--streams: '0' must be an integer 1..10000",
      '--streams: applies to HTTP/2 (--http2); HTTP/1.1 has --pipelining',
    ]);
    const ok: string[] = [];
    expect(checkHttpTransport({ http2: true, ca: TEST_CA }, 'https://127.0.0.1/', ok)).toEqual({ http2: true, streams: 100, tls: { insecure: false, ca: CA } });
    expect(ok).toEqual([]);
  });
});

describe('runHttp over h2', () => {
  it('reports the negotiated version, TLS and handshakes in the result', async () => {
    const result = await runHttp({ url: `${builtinTls.url}/index.html`, ca: TEST_CA, http2: true, streams: 10, rate: 200, duration: '1s', warmup: '0s' });
    expect(result).toMatchObject({ httpVersion: '2', http2Refused: false, streams: 10, tls: { alpn: 'h2', verified: true } });
    const step = result.steps[0]!;
    expect(step.completed).toBe(step.sent);
    expect(step.sent).toBeGreaterThan(150);
    expect(step.connectionsByVersion).toEqual({ '1.1': 0, '2': step.connections });
    expect(step.tls).toMatchObject({ handshakes: step.connections, failed: 0 });
  }, 20_000);
});

describe('the built-in target over TLS', () => {
  it('serves its endpoints over h2, /_tsload/delay included, and HTTP/1.1 to clients that offer only that', async () => {
    const { codes } = await closedLoop({ url: `${builtinTls.url}/_tsload/delay?ms=20`, tls: { insecure: false, ca: CA }, http2: true, streams: 10, connections: 1 }, 20, 10);
    expect(codes.every((c) => c === 200)).toBe(true);
    const status = await closedLoop({ url: `${builtinTls.url}/_tsload/status?code=503`, tls: { insecure: false, ca: CA }, connections: 1 }, 5, 1);
    expect(status.codes).toEqual([503, 503, 503, 503, 503]);
    expect(status.counters.h1Connections).toBe(1);
  });
});

describe("the testbed's nginx", () => {
  it('serves h2 by ALPN with a certificate made at start, from the config the testbed generates', async () => {
    // The config and certificate the testbed makes, run on loopback: the namespaces are not needed to check them.
    const dir = tempDir('testbed-nginx');
    for (const sub of ['run', 'tmp']) mkdirSync(join(dir, sub));
    const [port, httpsPort] = [await freePort(), await freePort()];
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=t', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.pem')]);
    expect(made.status).toBe(0);
    const ctx = { dir, address: '127.0.0.1', port, workers: 1, www: join(process.cwd(), 'fixtures/www'), zoneFile: '', origin: '', fileLimit: 1024, user: 'nobody', group: 'nogroup', tlsCert: join(dir, 'tls.pem'), tlsKey: join(dir, 'tls.key'), tlsPort: 853, httpsPort };
    for (const [file, text] of Object.entries(SERVERS.nginx.files(ctx))) writeFileSync(join(dir, file), text);
    const server = startServer('nginx', '/usr/sbin/nginx', SERVERS.nginx.args(ctx));
    try {
      await waitFor('nginx', 10_000, () => tcpAccepts(httpsPort));
      const url = `https://127.0.0.1:${httpsPort}/index.html`;
      const tls = { insecure: false, ca: readFileSync(ctx.tlsCert, 'utf8') };
      expect(await probeTransport(url, { tls, http2: true }, 2000)).toMatchObject({ httpVersion: '2', tls: { alpn: 'h2', verified: true } });
      const { codes, counters } = await closedLoop({ url, tls, http2: true, streams: 8, connections: 1 }, 100, 8);
      expect(codes.every((c) => c === 200)).toBe(true);
      expect(counters).toMatchObject({ h2Connections: 1, tlsHandshakes: 1 });
    } finally {
      await server.stop();
    }
  });
});

describe('the command line (built CLI)', () => {
  it('with --http2 and no URL starts the built-in target over h2c and measures h2', async () => {
    const run = await tsloadCli(['http', '--http2', '--streams', '4', '--rate', '200', '--duration', '1s', '--warmup', '0', '--json', '-', '-q']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as HttpResult;
    expect(result).toMatchObject({ httpVersion: '2', http2Refused: false, streams: 4 });
    expect(result.tls).toBeUndefined();
    expect(result.steps[0]!.connectionsByVersion?.['2']).toBeGreaterThanOrEqual(1);
  }, 20_000);

  it('says which TLS option does not apply, and that --tls-cert needs its key, with exit status 2', async () => {
    const http = await tsloadCli(['http', 'http://127.0.0.1:1/', '--insecure', '--streams', '8']);
    expect(http.code).toBe(2);
    expect(http.stderr).toContain('--insecure, --ca and --tls-servername apply to https:// URLs');
    expect(http.stderr).toContain('--streams: applies to HTTP/2 (--http2)');
    const serve = await tsloadCli(['serve', 'http', '--listen', '127.0.0.1:0', '--tls-cert', TEST_CERT]);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('--tls-cert and --tls-key: give both, or neither');
  }, 20_000);
});

describe("the native HTTP/2 client's HPACK reader", () => {
  it('finds :status indexed, as raw digits and Huffman-coded, and refuses what is not a status', () => {
    expect(statusOf(Buffer.from([0x88]), 0, 1)).toBe(200);
    expect(statusOf(Buffer.from([0x20, 0x8d]), 0, 2)).toBe(404);
    // Literal without indexing, name :status (static 8), "503" raw; then a literal field with a new name, skipped.
    const raw = Buffer.from([0x08, 0x03, 0x35, 0x30, 0x33, 0x00, 0x01, 0x78, 0x01, 0x79]);
    expect(statusOf(raw, 0, raw.length)).toBe(503);
    // "201" Huffman-coded: 00010 00000 00001, padded with ones to two bytes.
    const bits = '00010' + '00000' + '00001';
    const padded = bits + '1'.repeat((8 - (bits.length % 8)) % 8);
    const huffman = Buffer.from(padded.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
    const block = Buffer.from([0x08, 0x80 | huffman.length, ...huffman]);
    expect(statusOf(block, 0, block.length)).toBe(201);
    // "200" with padding of ones is a status; with padding of zeros it is not (RFC 7541 §5.2).
    expect(statusValue(Buffer.from([0x10, 0x01]), 0, 2, true)).toBe(200);
    expect(statusValue(Buffer.from([0x10, 0x00]), 0, 2, true)).toBe(-1);
    expect(statusOf(Buffer.from([0x08, 0x02, 0x32, 0x30]), 0, 4)).toBe(-1);
    // An index into a dynamic table, which a table of size 0 does not have.
    expect(statusOf(Buffer.from([0xbe]), 0, 1)).toBe(-1);
  });

  it('reads Huffman-coded statuses that nghttp2 sends, and gives up an overdue stream without losing the connection', async () => {
    const tls = { insecure: false, ca: CA };
    const created = await closedLoop({ url: `${builtinTls.url}/_tsload/status?code=201`, tls, http2: true, streams: 4, connections: 1, client: 'native' }, 20, 4);
    expect(created.codes).toEqual(Array(20).fill(201));
    // One request outlives a 300 ms timeout; the stream is reset and the others still answer on the same connection.
    const codes: number[] = [];
    const d = await createDriver(
      { url: `${builtinTls.url}/_tsload/delay?ms=2000`, urls: ['/_tsload/delay?ms=2000', '/index.html', '/index.html'], method: 'GET', headers: [], connections: 1, maxConnections: 1, pipelining: 1, newConnectionPerRequest: false, tls, http2: true, streams: 4, client: 'native' },
      { written() {}, done: (_t, code) => codes.push(code) },
      { share: Share.whole, timeoutMs: 300, maxInflight: 8 },
    );
    for (let t = 0; t < 3; t++) d.send(t);
    const deadline = Date.now() + 5000;
    while (codes.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(codes.sort()).toEqual([-1, 200, 200]);
    d.send(3);
    while (codes.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(codes.length).toBe(4);
    expect(d.counters().connections).toBe(1);
    await d.close();
  });

  it('ends a response with trailers at its trailers, and counts its body', async () => {
    const server = createSecureServer({ cert, key });
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
      stream.end('twelve bytes');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const { codes, counters } = await closedLoop({ url, tls: { insecure: false, ca: CA }, http2: true, streams: 4, connections: 1, client: 'native' }, 10, 4);
      expect(codes).toEqual(Array(10).fill(200));
      expect(counters.replyBodyBytes).toBe(120);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reads frames cut anywhere by the reads, answers PING, and keeps stream ids rising past a stream that stays open', async () => {
    // A bare h2c server: it answers each HEADERS with HEADERS (:status 200, indexed) and 100 bytes of DATA, written a few bytes at a time.
    const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
      const head = Buffer.alloc(9);
      head.writeUIntBE(payload.length, 0, 3);
      head[3] = type;
      head[4] = flags;
      head.writeUInt32BE(stream, 5);
      return Buffer.concat([head, payload]);
    };
    const reply = (stream: number): Buffer => Buffer.concat([frame(0x1, 0x4, stream, Buffer.from([0x88])), frame(0x0, 0x1, stream, Buffer.alloc(100, 0x61))]);
    const streams: number[] = [];
    let pingAcks = 0;
    const server = createNetServer((socket: Socket) => {
      socket.setNoDelay(true);
      const out: Buffer[] = [];
      let writing = false;
      const cuts = [1, 3, 9, 2, 13, 5, 40, 7, 150, 4];
      let cut = 0;
      const send = (bytes: Buffer): void => {
        out.push(bytes);
        if (writing) return;
        writing = true;
        const step = (): void => {
          const all = Buffer.concat(out.splice(0));
          if (all.length === 0 || socket.destroyed) {
            writing = false;
            return;
          }
          const n = Math.min(all.length, cuts[cut++ % cuts.length]!);
          socket.write(all.subarray(0, n));
          if (n < all.length) out.unshift(all.subarray(n));
          setTimeout(step, 1);
        };
        step();
      };
      send(Buffer.concat([frame(0x4, 0, 0, Buffer.alloc(0)), frame(0x6, 0, 0, Buffer.from('pingpong'))]));
      let input = Buffer.alloc(0);
      let held = 0;
      socket.on('data', (chunk: Buffer) => {
        input = Buffer.concat([input, chunk]);
        if (input.subarray(0, 3).toString('latin1') === 'PRI') input = input.subarray(24);
        while (input.length >= 9 && input.length >= 9 + input.readUIntBE(0, 3)) {
          const length = input.readUIntBE(0, 3);
          const type = input[3]!;
          const flags = input[4]!;
          const stream = input.readUInt32BE(5) & 0x7fffffff;
          input = input.subarray(9 + length);
          if (type === 0x6 && flags & 0x1) pingAcks++;
          if (type !== 0x1) continue;
          streams.push(stream);
          // The first stream is answered only after six others have come and gone: their ids wrap around its slot.
          if (stream === 1) held = 1;
          else send(reply(stream));
          if (held === 1 && streams.length === 7) {
            held = 0;
            send(reply(1));
          }
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const { codes, counters } = await closedLoop({ url, http2: true, streams: 2, connections: 1, client: 'native' }, 30, 2);
      expect(codes).toEqual(Array(30).fill(200));
      expect(counters.replyBodyBytes).toBe(3000);
      expect(counters.connections).toBe(1);
      expect(pingAcks).toBe(1);
      expect(streams.every((id, i) => id % 2 === 1 && (i === 0 || id > streams[i - 1]!))).toBe(true);
      // A new stream whose slot the held one still had skipped that id.
      expect(streams.at(-1)!).toBeGreaterThan(2 * streams.length - 1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('refuses headers too large for one HEADERS frame, and lets undici send them', () => {
    const o: HttpDriverOptions = { url: 'https://127.0.0.1/', method: 'GET', headers: [['x-big', 'a'.repeat(17_000)]], maxConnections: 1, pipelining: 1, newConnectionPerRequest: false, http2: true };
    expect(checkHttpOptions(o)).toEqual(['request headers over 16 KiB once encoded: the native HTTP/2 client sends one HEADERS frame; use client undici']);
    expect(checkHttpOptions({ ...o, client: 'undici' })).toEqual([]);
  });

  it('refuses a request body, which it does not send', () => {
    expect(checkHttpOptions({ url: 'https://127.0.0.1/', method: 'POST', headers: [], body: 'x', maxConnections: 1, pipelining: 1, newConnectionPerRequest: false, http2: true, client: 'native' })).toEqual([
      'the native HTTP/2 client sends no request body; use client undici (the default with --http2 and a body) for one',
    ]);
  });
});
