/**
 * One contract for every driver, client and transport, run against real
 * servers on loopback (port 0 or a free port): what the engine relies on
 * (src/engine/driver.ts) holds whatever speaks the protocol.
 *
 * To add a row (a transport, a client, another server): append a `Row` to
 * `rows` below. `driver` is the driver module; `start` starts the real server
 * and returns driver options that reach it (and how to stop it), or undefined
 * when the server is not installed, which skips the row and says why; `silent`
 * is a listener that takes requests and never answers; `refused` gives
 * options for a port nothing listens on; `okCode` is the reply code of every
 * request `options` sends; `refusedCodes` the outcomes a request to a closed
 * port may have, and `refusedCounter` the counter that counts refusals where
 * they reach the socket rather than a request (UDP); `moves` the counters its
 * traffic must move, for what its name says it speaks (HTTP/2, TLS). Every
 * case then runs for the row. Helpers for TCP, TLS, HTTP/2 and UDP listeners
 * are below; bench/lib.ts and test/servers.ts start real servers. A row's `silent` listener speaks the row's transport up to the
 * point where the answer would come (TLS: the handshake; HTTP/2: the
 * connection preface and SETTINGS), so its timeouts are of requests written,
 * not of a transport that never came up.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createSecureServer as createH2Server, createServer as createH2cServer, type Http2Session } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Failure, type Driver, type DriverModule } from '../../src/engine/driver.js';
import { Share } from '../../src/engine/segment.js';
import * as httpDriver from '../../src/protocols/http/driver.js';
import type { HttpClient, HttpDriverOptions } from '../../src/protocols/http/driver.js';
import * as dnsDriver from '../../src/protocols/dns/driver.js';
import type { DnsDriverOptions } from '../../src/protocols/dns/driver.js';
import * as dnsStreamDriver from '../../src/protocols/dns/stream.js';
import type { StreamDriverOptions, StreamTransport } from '../../src/protocols/dns/stream.js';
import { checkTls, type TlsSettings } from '../../src/protocols/tls.js';
import { buildQueryMix } from '../../src/protocols/dns/queries.js';
import { loadZone } from '../../src/protocols/dns/zone/index.js';
import { startHttpTarget } from '../../src/targets/http.js';
import { startDnsTarget } from '../../src/targets/dns.js';
import { runCleanups } from '../../bench/lib.js';
import { closeServer, listenLoopback } from '../loopback.js';
import { TEST_CA, TEST_CERT, TEST_KEY } from '../tls-fixtures.js';
import { NGINX, NSD, startNginx, startNsd } from '../servers.js';

interface Listening {
  /** Driver options that reach it. */
  options: unknown;
  stop(): Promise<void>;
}

interface Row {
  name: string;
  driver: DriverModule<unknown>;
  /** A binary the row's server needs; the row is skipped, saying so, where it is missing. */
  needs?: string;
  start(): Promise<Listening | undefined>;
  silent(): Promise<Listening>;
  refused(): Promise<unknown>;
  okCode: number;
  refusedCodes: readonly number[];
  /** A counter that must count the refusals, where they reach the socket rather than a request (datagrams). */
  refusedCounter?: string;
  /** Counters that traffic to `start`'s server must move: what the row's name says it speaks (HTTP/2, TLS), so a fallback does not pass as the row. */
  moves?: readonly string[];
}

// ---------------------------------------------------------------------------
// Listeners every row of a transport shares

/** Accepts TCP connections and reads what comes, never answering. */
async function silentTcp(): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  const port = await listenLoopback(server);
  return {
    port,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

const CERT = readFileSync(TEST_CERT, 'utf8');
const KEY = readFileSync(TEST_KEY, 'utf8');
/** The test certificate (test/fixtures/tls) verified against its CA, as a user's --ca gives it. */
const VERIFIED: TlsSettings = checkTls({ ca: TEST_CA }, []);

/** Listens on loopback; stop() destroys what `live` holds open, then closes. */
async function listening(server: NetServer, live: Set<{ destroy(): void }>): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await listenLoopback(server);
  return {
    port,
    stop: async () => {
      for (const s of live) s.destroy();
      await closeServer(server);
    },
  };
}

/** Completes TLS handshakes (with `alpn` offered, if given) and reads what comes, never answering. */
async function silentTls(alpn?: string[]): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTlsServer({ cert: CERT, key: KEY, ...(alpn === undefined ? {} : { ALPNProtocols: alpn }) }, (s) => {
    sockets.add(s);
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  return listening(server, sockets);
}

/**
 * An HTTP/2 server (over TLS with ALPN h2, or h2c) that sends its SETTINGS,
 * takes streams and never answers one: a client that waits for the server's
 * preface before it writes still writes here.
 */
async function silentH2(tls: boolean): Promise<{ port: number; stop: () => Promise<void> }> {
  const sessions = new Set<Http2Session>();
  const server = tls ? createH2Server({ cert: CERT, key: KEY }) : createH2cServer();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.on('error', () => {});
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream) => stream.on('error', () => {}));
  return listening(server as unknown as NetServer, sessions);
}

/** Takes datagrams and never answers. */
async function silentUdp(): Promise<{ port: number; stop: () => Promise<void> }> {
  const socket = createSocket('udp4');
  socket.on('message', () => {});
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: socket.address().port, stop: () => new Promise((r) => socket.close(() => r())) };
}

/** A TCP port nothing listens on (it did a moment ago, so nothing else took it meanwhile by chance). */
async function closedTcpPort(): Promise<number> {
  const server = createNetServer();
  const port = await listenLoopback(server);
  await closeServer(server);
  return port;
}

async function closedUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const port = socket.address().port;
  await new Promise<void>((r) => socket.close(() => r()));
  return port;
}

// ---------------------------------------------------------------------------
// Rows

function httpOptions(url: string, client: HttpClient): HttpDriverOptions {
  return { url, client, method: 'GET', headers: [], connections: 4, maxConnections: 64, pipelining: 1, newConnectionPerRequest: false };
}

function httpRow(client: HttpClient, server: 'tsload' | 'nginx'): Row {
  return {
    name: `HTTP/1.1 ${client} client → ${server === 'tsload' ? 'built-in target' : 'nginx'}`,
    driver: httpDriver,
    ...(server === 'nginx' ? { needs: NGINX } : {}),
    start: async () => {
      if (server === 'tsload') {
        const target = await startHttpTarget();
        return { options: httpOptions(`${target.url}/index.html`, client), stop: () => target.close() };
      }
      const nginx = await startNginx();
      return nginx && { options: httpOptions(nginx.url, client), stop: () => nginx.server.stop() };
    },
    silent: async () => {
      const s = await silentTcp();
      return { options: httpOptions(`http://127.0.0.1:${s.port}/`, client), stop: s.stop };
    },
    refused: async () => httpOptions(`http://127.0.0.1:${await closedTcpPort()}/`, client),
    okCode: 200,
    refusedCodes: [Failure.connrefused],
  };
}

/**
 * HTTPS and HTTP/2 (test/protocols/http/transports.ts has the same clients × transports
 * × servers for what only they have): `https` is HTTP/1.1 over TLS, which
 * only undici speaks; `h2` offers h2 by ALPN; `h2c` is HTTP/2 with prior
 * knowledge over cleartext, which only the built-in target serves (nginx's
 * cleartext listener in bench/lib.ts speaks HTTP/1.1).
 */
type HttpTransport = 'https' | 'h2' | 'h2c';

function httpTransportOptions(url: string, client: HttpClient, transport: HttpTransport): HttpDriverOptions {
  return {
    ...httpOptions(url, client),
    ...(transport === 'h2c' ? {} : { tls: VERIFIED }),
    ...(transport === 'https' ? {} : { http2: true, streams: 8 }),
  };
}

function httpTransportRow(client: HttpClient, transport: HttpTransport, server: 'tsload' | 'nginx'): Row {
  const scheme = transport === 'h2c' ? 'http' : 'https';
  const what = { https: 'HTTPS (HTTP/1.1)', h2: 'HTTP/2 over TLS (ALPN h2)', h2c: 'HTTP/2 over cleartext (h2c)' }[transport];
  return {
    name: `${what} ${client} client → ${server === 'tsload' ? 'built-in target' : 'nginx'}`,
    driver: httpDriver,
    ...(server === 'nginx' ? { needs: NGINX } : {}),
    start: async () => {
      if (server === 'tsload') {
        const target = await startHttpTarget(transport === 'h2c' ? { h2c: true } : { tls: { cert: CERT, key: KEY } });
        return { options: httpTransportOptions(`${target.url}/index.html`, client, transport), stop: () => target.close() };
      }
      const nginx = await startNginx({ tls: true });
      return nginx && { options: httpTransportOptions(nginx.https!.url, client, transport), stop: () => nginx.server.stop() };
    },
    silent: async () => {
      const s = transport === 'https' ? await silentTls(['http/1.1']) : await silentH2(transport === 'h2');
      return { options: httpTransportOptions(`${scheme}://127.0.0.1:${s.port}/`, client, transport), stop: s.stop };
    },
    refused: async () => httpTransportOptions(`${scheme}://127.0.0.1:${await closedTcpPort()}/`, client, transport),
    okCode: 200,
    refusedCodes: [Failure.connrefused],
    moves: [transport === 'https' ? 'h1Connections' : 'h2Connections', ...(transport === 'h2c' ? [] : ['tlsHandshakes'])],
  };
}

const zone = loadZone(new URL('../../fixtures/test.zone', import.meta.url).pathname);

function dnsOptions(port: number): DnsDriverOptions {
  // Names of the zone only, so every answer is NOERROR.
  return { server: '127.0.0.1', port, queries: buildQueryMix(zone, { seed: 1, nxRatio: 0 }), sockets: 2, dnssec: false, recursionDesired: false };
}

function dnsUdpRow(server: 'tsload' | 'nsd'): Row {
  return {
    name: `DNS over UDP → ${server === 'tsload' ? 'built-in server' : 'NSD'}`,
    driver: dnsDriver,
    ...(server === 'nsd' ? { needs: NSD } : {}),
    start: async () => {
      if (server === 'tsload') {
        const target = await startDnsTarget({ zones: [zone] });
        return { options: dnsOptions(target.port), stop: () => target.close() };
      }
      const nsd = await startNsd();
      return nsd && { options: dnsOptions(nsd.port), stop: () => nsd.server.stop() };
    },
    silent: async () => {
      const s = await silentUdp();
      return { options: dnsOptions(s.port), stop: s.stop };
    },
    refused: async () => dnsOptions(await closedUdpPort()),
    okCode: 0,
    // A datagram is not a connection: the ICMP port-unreachable that answers it
    // reaches the socket, not the query, which so times out (a send that meets
    // the reported error fails as refused); the socket counts the errors.
    refusedCodes: [Failure.connrefused, Failure.timeout],
    refusedCounter: 'socketErrors',
  };
}

function dnsStreamOptions(port: number, transport: StreamTransport): StreamDriverOptions {
  return { ...dnsOptions(port), transport, ...(transport === 'tls' ? { tls: VERIFIED } : {}) };
}

function dnsStreamRow(transport: StreamTransport, server: 'tsload' | 'nsd'): Row {
  return {
    name: `DNS over ${transport.toUpperCase()} → ${server === 'tsload' ? 'built-in server' : 'NSD'}`,
    driver: dnsStreamDriver as DriverModule<unknown>,
    ...(server === 'nsd' ? { needs: NSD } : {}),
    start: async () => {
      if (server === 'tsload') {
        const target = await startDnsTarget({ zones: [zone], ...(transport === 'tls' ? { tls: { cert: CERT, key: KEY, host: '127.0.0.1', port: 0 } } : {}) });
        return { options: dnsStreamOptions(transport === 'tls' ? target.tlsPort! : target.port, transport), stop: () => target.close() };
      }
      const nsd = await startNsd({ tls: transport === 'tls' });
      return nsd && { options: dnsStreamOptions(transport === 'tls' ? nsd.tlsPort! : nsd.port, transport), stop: () => nsd.server.stop() };
    },
    silent: async () => {
      const s = transport === 'tls' ? await silentTls() : await silentTcp();
      return { options: dnsStreamOptions(s.port, transport), stop: s.stop };
    },
    refused: async () => dnsStreamOptions(await closedTcpPort(), transport),
    okCode: 0,
    // A stream has a connection to refuse: every query waiting for it fails with the refusal.
    refusedCodes: [Failure.connrefused],
    moves: ['connections', ...(transport === 'tls' ? ['tlsHandshakes'] : [])],
  };
}

const rows: Row[] = [httpRow('native', 'tsload'), httpRow('undici', 'tsload'), httpRow('native', 'nginx'), httpRow('undici', 'nginx'), dnsUdpRow('tsload'), dnsUdpRow('nsd'),
  httpTransportRow('undici', 'https', 'tsload'), httpTransportRow('undici', 'https', 'nginx'),
  ...(['native', 'undici'] as const).flatMap((c) => [httpTransportRow(c, 'h2', 'tsload'), httpTransportRow(c, 'h2c', 'tsload'), httpTransportRow(c, 'h2', 'nginx')]),
  dnsStreamRow('tcp', 'tsload'), dnsStreamRow('tcp', 'nsd'), dnsStreamRow('tls', 'tsload'), dnsStreamRow('tls', 'nsd'),
];

// ---------------------------------------------------------------------------
// The cases

/**
 * A driver with everything it reports recorded in order, fed closed loop with
 * at most `inflight` outstanding. Tokens are handed out as the engine hands
 * them (src/engine/loop.ts): from a free list of `maxInflight`, the last one
 * freed first, so a token is reused at once after its done() (drivers may
 * index tables of maxInflight by token). Outcomes are kept per request (each
 * send), and a written() or done() for a token not in flight is a stray.
 */
async function recorded(row: Row, options: unknown, timeoutMs: number, maxInflight = 32) {
  const events: { request: number; kind: 'written' | 'done'; code: number }[] = [];
  const strays: string[] = [];
  const waiters: (() => void)[] = [];
  /** The request each token in flight carries; -1: free. */
  const current = new Array<number>(maxInflight).fill(-1);
  const free = Array.from({ length: maxInflight }, (_, i) => maxInflight - 1 - i);
  let doneCount = 0;
  let closed = false;
  let afterClose = 0;
  const driver: Driver = await row.driver.createDriver(
    options,
    {
      written: (token) => {
        const request = current[token] ?? -1;
        if (request < 0) strays.push(`written(${token}) while not in flight`);
        else events.push({ request, kind: 'written', code: 0 });
      },
      done: (token, code) => {
        if (closed) afterClose++;
        const request = current[token] ?? -1;
        if (request < 0) strays.push(`done(${token}, ${code}) while not in flight`);
        else {
          events.push({ request, kind: 'done', code });
          current[token] = -1;
          free.push(token);
        }
        doneCount++;
        for (const w of waiters.splice(0)) w();
      },
    },
    { share: Share.whole, timeoutMs, maxInflight },
  );
  let sent = 0;
  const sendOne = (): void => {
    const token = free.pop();
    if (token === undefined) throw new Error(`more than ${maxInflight} in flight: the engine never does that`);
    current[token] = sent++;
    driver.send(token);
  };
  const r = {
    driver,
    events,
    strays,
    get afterClose() {
      return afterClose;
    },
    /** Send `total` requests, never more than `inflight` outstanding, and wait for every outcome (bounded). */
    async run(total: number, inflight = maxInflight, limitMs = 15_000): Promise<void> {
      const end = Date.now() + limitMs;
      const target = sent + total;
      const base = doneCount;
      while (doneCount - base < total && Date.now() < end) {
        while (sent < target && sent - doneCount < inflight) sendOne();
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      expect(doneCount - base, `outcomes of ${total} requests`).toBe(total);
    },
    send(n: number): void {
      for (let i = 0; i < n; i++) sendOne();
    },
    async close(): Promise<void> {
      closed = true;
      await driver.close();
    },
    /** Per request: its codes, and whether a written() came before its done(). */
    outcomes(): Map<number, { codes: number[]; writtenFirst: boolean; written: boolean }> {
      const m = new Map<number, { codes: number[]; writtenFirst: boolean; written: boolean }>();
      for (const e of events) {
        const o = m.get(e.request) ?? { codes: [], writtenFirst: false, written: false };
        if (e.kind === 'written') {
          if (o.codes.length === 0) o.writtenFirst = true;
          o.written = true;
        } else o.codes.push(e.code);
        m.set(e.request, o);
      }
      return m;
    },
  };
  return r;
}

/** Live sockets and timers of this process, by kind. */
function resources(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const row of rows) {
  const missing = row.needs !== undefined && !existsSync(row.needs);
  describe.skipIf(missing)(`driver contract: ${row.name}${missing ? ` (skipped: ${row.needs} is not installed)` : ''}`, () => {
    let server: Listening;
    beforeAll(async () => {
      const started = await row.start();
      if (started === undefined) throw new Error(`${row.name}: server did not start`);
      server = started;
    });
    afterAll(async () => {
      await server?.stop();
      await runCleanups();
    });

    it('gives every request exactly one outcome, the reply, after saying it was written', async () => {
      const r = await recorded(row, server.options, 5000);
      await r.run(300);
      await sleep(100);
      const outcomes = r.outcomes();
      expect(r.strays).toEqual([]);
      expect(outcomes.size).toBe(300);
      for (const [request, o] of outcomes) {
        expect(o.codes, `request ${request}`).toEqual([row.okCode]);
        expect(o.writtenFirst, `request ${request} written before done`).toBe(true);
      }
      await r.close();
    });

    it('reports a request nobody answers as a timeout, once, after its timeout', async () => {
      const silent = await row.silent();
      try {
        const r = await recorded(row, silent.options, 300);
        const started = performance.now();
        // Fewer than any row's connections: a request still waiting for one would time out unwritten (not sent), which is another case.
        await r.run(3, 3, 5000);
        expect(performance.now() - started).toBeGreaterThanOrEqual(290);
        await sleep(400);
        expect(r.strays).toEqual([]);
        for (const [request, o] of r.outcomes()) {
          expect(o.codes, `request ${request}`).toEqual([Failure.timeout]);
          expect(o.writtenFirst, `request ${request} written before its timeout`).toBe(true);
        }
        await r.close();
      } finally {
        await silent.stop();
      }
    });

    it('classifies a refused connection, once per request', async () => {
      const r = await recorded(row, await row.refused(), 500);
      await r.run(6, 6, 5000);
      await sleep(100);
      expect(r.strays).toEqual([]);
      const codes = [...r.outcomes().values()].map((o) => o.codes);
      expect(codes.length).toBe(6);
      for (const c of codes) {
        expect(c.length).toBe(1);
        expect(row.refusedCodes).toContain(c[0]);
      }
      if (row.refusedCounter !== undefined) expect(r.driver.counters()[row.refusedCounter], row.refusedCounter).toBeGreaterThan(0);
      else expect(codes.every((c) => c[0] === Failure.connrefused)).toBe(true);
      await r.close();
    });

    it('releases every socket and timer on close(), and reports nothing after it', async () => {
      // A TLS socket counts as the TCPSocketWrap beneath it.
      const watched = ['TCPSocketWrap', 'TCPWrap', 'UDPWrap', 'PipeWrap', 'Timeout'];
      const before = resources();
      const r = await recorded(row, server.options, 5000);
      await r.run(50);
      // Some still in flight: close() drops them without reporting.
      r.send(20);
      await r.close();
      // And requests whose timeout falls after close(): nothing may report them either.
      const silent = await row.silent();
      const s = await recorded(row, silent.options, 100);
      s.send(3);
      await sleep(20);
      await s.close();
      await sleep(300);
      await silent.stop();
      expect(s.afterClose).toBe(0);
      const end = Date.now() + 5000;
      let after = resources();
      const excess = () => watched.filter((k) => (after.get(k) ?? 0) > (before.get(k) ?? 0)).map((k) => `${k} ${before.get(k) ?? 0} → ${after.get(k)}`);
      while (excess().length > 0 && Date.now() < end) {
        await sleep(50);
        after = resources();
      }
      expect(excess()).toEqual([]);
      expect(r.afterClose).toBe(0);
    });

    it('keeps counters as non-negative integers (durations: finite numbers) that never go back', async () => {
      const r = await recorded(row, server.options, 5000);
      const first = r.driver.counters();
      await r.run(100);
      const second = r.driver.counters();
      for (const c of [first, second]) {
        for (const [key, value] of Object.entries(c)) {
          expect(typeof value, key).toBe('number');
          // Counts are integers; a counter named …Ms is a sum of durations
          // (TLS handshake time), which the engine takes deltas of and sums
          // as it does counts, and which need not be whole milliseconds.
          const whole = key.endsWith('Ms') ? Number.isFinite(value) : Number.isSafeInteger(value);
          expect(whole && value >= 0, `${key} = ${value}`).toBe(true);
        }
      }
      for (const [key, value] of Object.entries(first)) expect(second[key], key).toBeGreaterThanOrEqual(value);
      // Traffic moves at least one of them.
      expect(Object.entries(second).some(([key, value]) => value > (first[key] ?? 0))).toBe(true);
      for (const key of row.moves ?? []) expect(second[key] ?? 0, `${key}, which this row's traffic must move`).toBeGreaterThan(first[key] ?? 0);
      await r.close();
    });
  });
}
