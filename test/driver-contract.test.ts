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
 * they reach the socket rather than a request (UDP). Every case then runs for the row. Helpers for TCP and UDP
 * listeners are below; bench/lib.ts and test/servers.ts start real servers.
 */
import { existsSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer as createNetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Failure, type Driver, type DriverModule } from '../src/engine/driver.js';
import { Share } from '../src/engine/segment.js';
import * as httpDriver from '../src/protocols/http/driver.js';
import type { HttpClient, HttpDriverOptions } from '../src/protocols/http/driver.js';
import * as dnsDriver from '../src/protocols/dns/driver.js';
import type { DnsDriverOptions } from '../src/protocols/dns/driver.js';
import { buildQueryMix } from '../src/protocols/dns/queries.js';
import { loadZone } from '../src/protocols/dns/zone/index.js';
import { startHttpTarget } from '../src/targets/http.js';
import { startDnsTarget } from '../src/targets/dns.js';
import { runCleanups } from '../bench/lib.js';
import { closeServer, listenLoopback } from './loopback.js';
import { NGINX, NSD, startNginx, startNsd } from './servers.js';

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

const zone = loadZone(new URL('../fixtures/test.zone', import.meta.url).pathname);

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

const rows: Row[] = [httpRow('native', 'tsload'), httpRow('undici', 'tsload'), httpRow('native', 'nginx'), httpRow('undici', 'nginx'), dnsUdpRow('tsload'), dnsUdpRow('nsd')];

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
      await r.close();
    });
  });
}
