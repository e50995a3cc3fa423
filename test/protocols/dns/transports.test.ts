/**
 * DNS over UDP, TCP and TLS: the drivers against the built-in server and real
 * NSD on 127.0.0.1 (port 0 or free ports), written as rows of a table of
 * transports so they can join a shared driver contract suite; then what only
 * streams have: answers out of order, framing split across reads, a server
 * that closes connections, and certificate verification.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Failure, type Driver, type DriverContext } from '../../../src/engine/driver.js';
import { Share } from '../../../src/engine/segment.js';
import { createDriver as createUdpDriver, type DnsQuery } from '../../../src/protocols/dns/driver.js';
import { createDriver as createStreamDriver, probeDnsStream, type StreamDriverOptions } from '../../../src/protocols/dns/stream.js';
import { checkTransport } from '../../../src/protocols/dns/transport.js';
import { dns, type DnsRunOptions } from '../../../src/protocols/dns/index.js';
import { checkTls, type TlsSettings } from '../../../src/protocols/tls.js';
import { parseZone } from '../../../src/protocols/dns/zone/index.js';
import { TargetUnreachableError } from '../../../src/errors.js';
import { startDnsTarget, type DnsTarget } from '../../../src/targets/dns.js';
import { runDns } from '../../../src/run.js';
import { closeServer, listenLoopback } from '../../loopback.js';
import { startNsd, type Nsd } from '../../servers.js';
import { runCleanups } from '../../../bench/lib.js';
import { TEST_CA, TEST_CERT, TEST_KEY } from '../../tls-fixtures.js';
import { Recorder } from '../../recorder.js';

const ZONE = `$ORIGIN example.com.
$TTL 300
@     IN SOA ns hostmaster 1 3600 600 86400 60
@     NS   ns
ns    A    192.0.2.53
www   A    192.0.2.1
mail  MX   10 www
${Array.from({ length: 12 }, (_, i) => `big TXT "${String(i).padStart(50, 'x')}"`).join('\n')}
`;
const QUERIES: DnsQuery[] = [
  { name: 'www.example.com', type: 'A' },
  { name: 'example.com', type: 'SOA' },
  { name: 'mail.example.com', type: 'MX' },
  { name: 'nope.example.com', type: 'A' },
];
const BIG: DnsQuery = { name: 'big.example.com', type: 'TXT' };
const NOERROR = 0;
const NXDOMAIN = 3;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));


const context = (timeoutMs: number, maxInflight = 1024): DriverContext => ({ share: Share.whole, timeoutMs, maxInflight });

type Transport = 'udp' | 'tcp' | 'tls';
const VERIFIED: TlsSettings = checkTls({ ca: TEST_CA }, []);

function driverFor(transport: Transport, port: number, queries: DnsQuery[], rec: Recorder, o: Partial<StreamDriverOptions> = {}, timeoutMs = 2000): Promise<Driver> {
  const base = { server: '127.0.0.1', port, queries, sockets: 2, dnssec: false, recursionDesired: false, ...o };
  if (transport === 'udp') return createUdpDriver(base, rec.completion, context(timeoutMs));
  return createStreamDriver({ ...base, transport, ...(transport === 'tls' ? { tls: o.tls ?? VERIFIED } : {}) }, rec.completion, context(timeoutMs));
}

/** Closed loop: `inflight` tokens at once, each sent again when done, until `total` sends. */
async function closedLoop(driver: Driver, rec: Recorder, inflight: number, total: number): Promise<void> {
  let sent = 0;
  rec.onDone = (token) => {
    if (sent < total) {
      sent++;
      driver.send(token);
    }
  };
  for (let t = 0; t < inflight; t++) {
    sent++;
    driver.send(t);
  }
  await rec.waitFor(total, 10_000);
  rec.onDone = null;
}

// ---------------------------------------------------------------------------
// Servers: the built-in one and NSD (test/servers.ts), each on UDP, TCP and TLS.

interface Ports {
  udp: number;
  tcp: number;
  tls: number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenLoopback(server);
  await closeServer(server);
  return port;
}

const TRANSPORTS: Transport[] = ['udp', 'tcp', 'tls'];
const haveNsd = existsSync('/usr/sbin/nsd') && process.getuid?.() === 0;

describe.each([
  { server: 'built-in', real: false },
  { server: 'nsd', real: true },
])('DNS transports against the $server server', ({ server, real }) => {
  let builtin: DnsTarget | undefined;
  let nsd: Nsd | undefined;
  let ports: Ports;
  beforeAll(async () => {
    if (real) {
      if (!haveNsd) return;
      nsd = await startNsd({ zoneText: ZONE, tls: true });
      if (nsd === undefined) throw new Error('nsd did not start');
      ports = { udp: nsd.port, tcp: nsd.port, tls: nsd.tlsPort! };
    } else {
      builtin = await startDnsTarget({ zones: [parseZone(ZONE, { file: 'test.zone', origin: 'example.com' })], tls: { cert: readFileSync(TEST_CERT, 'utf8'), key: readFileSync(TEST_KEY, 'utf8'), host: '127.0.0.1', port: 0 } });
      ports = { udp: builtin.port, tcp: builtin.port, tls: builtin.tlsPort! };
    }
  });
  afterAll(async () => {
    await builtin?.close();
    await nsd?.server.stop();
    // Its temp dir.
    await runCleanups();
  });

  it.each(TRANSPORTS)('%s: many queries in flight, every answer matched with its RCODE, bytes counted', async (transport) => {
    if (real && !haveNsd) return void console.warn(`skipped: NSD needs /usr/sbin/nsd and root (${server})`);
    const rec = new Recorder();
    const driver = await driverFor(transport, ports[transport], QUERIES, rec);
    try {
      await closedLoop(driver, rec, 200, 4000);
      expect(rec.count(NOERROR)).toBe(3000);
      expect(rec.count(NXDOMAIN)).toBe(1000);
      const c = driver.counters();
      expect(c.responses).toBe(4000);
      expect(c.queries).toBe(4000);
      expect(c.unexpected).toBe(0);
      expect(c.bytesReceived).toBeGreaterThan(4000 * 12);
      if (transport !== 'udp') {
        expect(c.connections).toBe(2);
        expect(c.reconnects).toBe(0);
        expect(c.tlsHandshakes).toBe(transport === 'tls' ? 2 : 0);
        if (transport === 'tls') expect(c.tlsHandshakeMs).toBeGreaterThan(0);
      }
    } finally {
      await driver.close();
    }
  });

  it.each(TRANSPORTS)('%s: an answer too big for 512 bytes is truncated (TC counted) over UDP only', async (transport) => {
    if (real && !haveNsd) return void console.warn(`skipped: NSD needs /usr/sbin/nsd and root (${server})`);
    const rec = new Recorder();
    const driver = await driverFor(transport, ports[transport], [BIG], rec);
    try {
      driver.send(0);
      await rec.waitFor(1, 3000);
      expect(rec.codes.get(0)).toEqual([NOERROR]);
      const c = driver.counters();
      expect(c.truncated).toBe(transport === 'udp' ? 1 : 0);
      if (transport !== 'udp') expect(c.responseBytes).toBeGreaterThan(512);
    } finally {
      await driver.close();
    }
  });
});

// ---------------------------------------------------------------------------
// What only streams have, against test servers that misbehave on purpose.

interface TestServer {
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * A DNS-over-TCP test server. Each query is answered as itself with QR set and
 * RCODE = (the number in its first label) % 6. `hold` queries are collected
 * and answered in reverse order; answers go out in pieces of `pieces` bytes,
 * one piece per write with a pause between; after `closeAfter` queries on a
 * connection it closes that connection without answering the rest.
 */
async function testServer(o: { hold?: number; pieces?: number; closeAfter?: number }): Promise<TestServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    let held: Buffer[] = [];
    let seen = 0;
    const reply = (query: Buffer): Buffer => {
      const out = Buffer.from(query);
      const label = out.subarray(13, 13 + out[12]!).toString('latin1');
      out[2] = 0x80 | (out[2]! & 0x01);
      out[3] = Number(/\d+/.exec(label)?.[0] ?? 0) % 6;
      return Buffer.concat([Buffer.from([out.length >> 8, out.length & 0xff]), out]);
    };
    const write = async (bytes: Buffer): Promise<void> => {
      const size = o.pieces ?? bytes.length;
      for (let off = 0; off < bytes.length; off += size) {
        if (socket.destroyed) return;
        socket.write(bytes.subarray(off, off + size));
        if (o.pieces !== undefined) await sleep(1);
      }
    };
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const answers: Buffer[] = [];
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const query = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + query.length);
        seen++;
        if (o.closeAfter !== undefined && seen > o.closeAfter) {
          socket.destroy();
          return;
        }
        held.push(reply(query));
        if (held.length >= (o.hold ?? 1)) {
          answers.push(...held.reverse());
          held = [];
        }
      }
      if (answers.length > 0) {
        const bytes = Buffer.concat(answers);
        chain = chain.then(() => write(bytes));
      }
    });
  });
  const port = await listenLoopback(server);
  return {
    port,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

const numbered = (n: number): DnsQuery[] => Array.from({ length: n }, (_, i) => ({ name: `q${i}.test`, type: 'A' }));

describe('DNS over TCP: framing, order and connections', () => {
  it('matches answers that come back in reverse order, by ID, on each connection', async () => {
    const server = await testServer({ hold: 50 });
    const rec = new Recorder();
    // One connection: 50 queries in flight on it, answered last first.
    const driver = await driverFor('tcp', server.port, numbered(50), rec, { sockets: 1 });
    try {
      for (let t = 0; t < 50; t++) driver.send(t);
      await rec.waitFor(50, 5000);
      for (let t = 0; t < 50; t++) expect(rec.codes.get(t)).toEqual([t % 6]);
      expect(driver.counters().unexpected).toBe(0);
    } finally {
      await driver.close();
      await server.close();
    }
  });

  it('reassembles answers split across reads at every byte boundary (prefix included)', async () => {
    const server = await testServer({ hold: 3, pieces: 3 });
    const rec = new Recorder();
    const driver = await driverFor('tcp', server.port, numbered(12), rec, { sockets: 1 });
    try {
      for (let t = 0; t < 12; t++) driver.send(t);
      await rec.waitFor(12, 5000);
      for (let t = 0; t < 12; t++) expect(rec.codes.get(t)).toEqual([t % 6]);
    } finally {
      await driver.close();
      await server.close();
    }
  });

  it('reports queries in flight on a connection the server closes as connreset, reconnects, counts it, and goes on', async () => {
    const server = await testServer({ closeAfter: 10 });
    const rec = new Recorder();
    const driver = await driverFor('tcp', server.port, numbered(60), rec, { sockets: 1 });
    try {
      for (let t = 0; t < 10; t++) driver.send(t);
      await rec.waitFor(10, 3000);
      expect(rec.count(Failure.connreset)).toBe(0);
      // The engine may send from inside done(): one query sent so while the connection is being failed waits for the next one.
      rec.onDone = (_token, code) => {
        if (code !== Failure.connreset) return;
        rec.onDone = null;
        driver.send(50);
      };
      // Sent in one write: the server reads them all, answers none and closes.
      for (let t = 10; t < 15; t++) driver.send(t);
      await rec.waitFor(16, 3000);
      expect(rec.count(Failure.connreset)).toBe(5);
      // Queries go round robin: token 50 took the 16th (q15), tokens 15…19 take q16…q20.
      expect(rec.codes.get(50)).toEqual([15 % 6]);
      for (let t = 15; t < 20; t++) driver.send(t);
      await rec.waitFor(21, 3000);
      for (let t = 15; t < 20; t++) expect(rec.codes.get(t)).toEqual([(t + 1) % 6]);
      const c = driver.counters();
      expect(c).toMatchObject({ connections: 2, reconnects: 1, closedByServer: 1, connectFailures: 0 });
      expect(server.accepted()).toBe(2);
    } finally {
      await driver.close();
      await server.close();
    }
  });

  it('reconnects when the built-in server closes an idle connection, and the next queries are answered', async () => {
    const target = await startDnsTarget({ zones: [parseZone(ZONE, { file: 'test.zone', origin: 'example.com' })], idleTimeoutMs: 150 });
    const rec = new Recorder();
    const driver = await driverFor('tcp', target.port, QUERIES, rec, { sockets: 1 });
    try {
      driver.send(0);
      await rec.waitFor(1, 3000);
      const end = Date.now() + 3000;
      while (driver.counters().reconnects! < 1 && Date.now() < end) await sleep(10);
      driver.send(1);
      await rec.waitFor(2, 3000);
      expect(rec.codes.get(1)).toEqual([NOERROR]);
      expect(driver.counters()).toMatchObject({ closedByServer: 1, reconnects: 1, connections: 2 });
    } finally {
      await driver.close();
      await target.close();
    }
  });

  it('reopens a connection the server closes at once after a growing pause, not in a tight loop', async () => {
    let accepted = 0;
    const server = createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    const port = await listenLoopback(server);
    const rec = new Recorder();
    const driver = await driverFor('tcp', port, QUERIES, rec, { sockets: 1 });
    try {
      driver.send(0);
      await sleep(400);
      // Pauses of 50, 100, 200 ms: about four connections in 400 ms.
      expect(accepted).toBeGreaterThanOrEqual(2);
      expect(accepted).toBeLessThanOrEqual(6);
      expect(driver.counters().closedByServer).toBeGreaterThanOrEqual(1);
    } finally {
      await driver.close();
      await closeServer(server);
    }
  });

  it('fails queries waiting for a connection that is refused, at once, and counts the failed connect', async () => {
    const port = await freePort();
    const rec = new Recorder();
    const driver = await driverFor('tcp', port, QUERIES, rec, { sockets: 1 }, 5000);
    try {
      const start = Date.now();
      for (let t = 0; t < 3; t++) driver.send(t);
      await rec.waitFor(3, 2000);
      expect(Date.now() - start).toBeLessThan(2000);
      expect(rec.count(Failure.connrefused)).toBe(3);
      expect(rec.written.length).toBe(0);
      expect(driver.counters().connectFailures).toBeGreaterThanOrEqual(1);
    } finally {
      await driver.close();
    }
  });
});

describe('DNS over TLS: certificate verification', () => {
  let target: DnsTarget;
  beforeAll(async () => {
    target = await startDnsTarget({ zones: [parseZone(ZONE, { file: 'test.zone', origin: 'example.com' })], tcp: false, tls: { cert: readFileSync(TEST_CERT, 'utf8'), key: readFileSync(TEST_KEY, 'utf8'), port: 0 } });
  });
  afterAll(async () => {
    await target.close();
  });

  it('answers with --ca (verified) and with --insecure (not verified); refuses an unknown CA or a wrong name with a clear error, at once', async () => {
    const probe = (tls: TlsSettings): Promise<void> => probeDnsStream('tls', '127.0.0.1', target.tlsPort!, tls, QUERIES[0]!, 3000);
    await probe(checkTls({ ca: TEST_CA }, []));
    await probe(checkTls({ insecure: true }, []));
    const start = Date.now();
    await expect(probe(checkTls({}, []))).rejects.toThrow(TargetUnreachableError);
    await expect(probe(checkTls({}, []))).rejects.toThrow(/certificate was not accepted.*--ca FILE.*--insecure/);
    await expect(probe(checkTls({ ca: TEST_CA, tlsServername: 'other.example' }, []))).rejects.toThrow(/ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(Date.now() - start).toBeLessThan(2500);
  });

  it('the driver fails its queries (not a hang) when the certificate is refused, and counts the failed handshakes', async () => {
    const rec = new Recorder();
    const driver = await driverFor('tls', target.tlsPort!, QUERIES, rec, { sockets: 1, tls: checkTls({}, []) }, 5000);
    try {
      for (let t = 0; t < 3; t++) driver.send(t);
      await rec.waitFor(3, 2000);
      for (let t = 0; t < 3; t++) expect(rec.codes.get(t)![0]).toBeLessThan(0);
      expect(rec.count(Failure.timeout)).toBe(0);
      expect(driver.counters()).toMatchObject({ connectFailures: 1, tlsHandshakes: 0, connections: 0 });
    } finally {
      await driver.close();
    }
  });

  it('runDns over TLS: the step counts the connections and their handshakes', async () => {
    const result = await runDns({
      server: `127.0.0.1:${target.tlsPort}`,
      transport: 'tls',
      ca: TEST_CA,
      queries: QUERIES,
      sockets: 3,
      rate: 1000,
      duration: 1000,
      warmup: 200,
      timeout: 1000,
    });
    const step = result.steps[0]!;
    expect(step.completed).toBe(step.sent);
    expect(step.sent).toBeGreaterThanOrEqual(950);
    expect(step.stream).toMatchObject({ connections: 3, reconnects: 0, tlsHandshakes: 3, connectFailures: 0 });
    expect(step.stream!.tlsHandshakeMeanMs).toBeGreaterThan(0);
  });
});

describe('runDns: transport options', () => {
  it('aims TLS at port 853 when --server names no port, and says so when nothing answers there', async () => {
    const error = await runDns({ server: '127.0.0.1', transport: 'tls', insecure: true, queries: QUERIES, rate: 100, duration: 500, warmup: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).toMatch(/127\.0\.0\.1:853 is unreachable/);
  });

  it('refuses TLS without --server, and TLS options over UDP, before anything starts', async () => {
    await expect(runDns({ zone: 'fixtures/test.zone', transport: 'tls', insecure: true })).rejects.toThrow(/--transport tls: needs --server/);
    await expect(runDns({ server: '127.0.0.1', queries: QUERIES, insecure: true })).rejects.toThrow(/apply to --transport tls only/);
  });
});

describe('checkTransport', () => {
  it('defaults to UDP on 53; TLS on 853; TLS options only with tls', () => {
    const problems: string[] = [];
    expect(checkTransport({}, problems)).toMatchObject({ transport: 'udp', defaultPort: 53 });
    expect(checkTransport({ transport: 'tcp' }, problems)).toMatchObject({ transport: 'tcp', defaultPort: 53 });
    expect(dns.driverModule({ transport: 'tcp' } as DnsRunOptions)).toMatch(/\/protocols\/dns\/stream\.(ts|js)$/);
    expect(dns.driverModule({ transport: 'udp' } as DnsRunOptions)).toMatch(/\/protocols\/dns\/driver\.(ts|js)$/);
    expect(checkTransport({ transport: 'tls', insecure: true }, problems)).toMatchObject({ transport: 'tls', defaultPort: 853, tls: { insecure: true } });
    expect(problems).toEqual([]);
    checkTransport({ transport: 'quic' }, problems);
    checkTransport({ transport: 'udp', ca: TEST_CA }, problems);
    expect(problems).toEqual([expect.stringMatching(/^--transport: 'quic'/), expect.stringMatching(/apply to --transport tls only/)]);
  });
});
