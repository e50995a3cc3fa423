/**
 * The UDP DNS driver, driven directly with a small Completion (no engine),
 * against the built-in server and against test-only servers on 127.0.0.1
 * that drop, delay, or garble answers on purpose.
 */
import { spawn } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import * as dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Failure, type Driver } from '../../../src/engine/driver.js';
import { Share, processShare } from '../../../src/engine/segment.js';
import { checkDnsQueries, createDriver, probeDns, type DnsDriverOptions } from '../../../src/protocols/dns/driver.js';
import { rcodeName } from '../../../src/protocols/dns/types.js';
import { runDns } from '../../../src/run.js';
import { parseZone } from '../../../src/protocols/dns/zone/index.js';
import { TargetUnreachableError } from '../../../src/errors.js';
import { spawnTarget } from '../../../src/targets/child.js';
import { startDnsTarget, type DnsTarget } from '../../../src/targets/dns.js';
import { stallFor } from '../../loopback.js';
import { Recorder } from '../../recorder.js';

const ZONE = `$TTL 300
@     IN SOA ns hostmaster 1 3600 600 86400 60
@     NS   ns
ns    A    192.0.2.53
www   A    192.0.2.1
${Array.from({ length: 12 }, (_, i) => `big TXT "${String(i).padStart(50, 'x')}"`).join('\n')}
`;

type Reply = dnsPacket.DecodedPacket & { rcode: string; opcode: string };


type DnsCounters = Record<
  'queries' | 'requestBytes' | 'responseBytes' | 'responses' | 'truncated' | 'unexpected' | 'late' | 'bytesSent' | 'bytesReceived' | 'socketErrors' | 'lostAtGenerator',
  number
>;
const countersOf = (driver: Driver): DnsCounters => driver.counters() as DnsCounters;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function options(port: number, queries: { name: string; type: string }[], o: Partial<DnsDriverOptions> = {}): DnsDriverOptions {
  return { server: '127.0.0.1', port, queries, sockets: 1, dnssec: false, recursionDesired: false, ...o };
}

const context = (timeoutMs: number, maxInflight: number) => ({ share: Share.whole, timeoutMs, maxInflight });

/** Closed loop: `inflight` tokens, each re-sent when done, until `total` sends. */
async function closedLoop(driver: Driver, rec: Recorder, inflight: number, total: number, timeoutMs: number): Promise<void> {
  let sent = 0;
  rec.onDone = (token) => {
    if (sent < total) {
      sent++;
      driver.send(token);
    }
  };
  for (let t = 0; t < inflight && sent < total; t++) {
    sent++;
    driver.send(t);
  }
  await rec.waitFor(total, timeoutMs);
  rec.onDone = null;
}

/** A test-only DNS server: `handler` decides what (if anything) to send back. */
async function testServer(handler: (msg: Buffer, rinfo: RemoteInfo, socket: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => handler(msg, rinfo, socket));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  socket.setRecvBufferSize(4 << 20); // bursts of queries must not be dropped by the kernel here
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** Build an answer to `query` (decoded), optionally altered. */
function answerTo(query: Reply, o: { id?: number; name?: string; type?: string; rcode?: number; additionals?: dnsPacket.Answer[] } = {}): Buffer {
  const q = query.questions![0]!;
  const buf = dnsPacket.encode({
    type: 'response',
    id: o.id ?? query.id!,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ name: o.name ?? q.name, type: (o.type ?? q.type) as dnsPacket.RecordType, class: 'IN' }],
    answers: [],
    additionals: o.additionals ?? [],
  });
  buf[3] = (buf[3]! & 0xf0) | (o.rcode ?? 0);
  return buf;
}

let target: DnsTarget;
beforeAll(async () => {
  target = await startDnsTarget({ zones: [parseZone(ZONE, { origin: 'example.com' })] });
});
afterAll(async () => {
  await target.close();
});

describe('dns driver against the built-in server', () => {
  it('reports each RCODE, counts bytes and truncation', async () => {
    const rec = new Recorder();
    const queries = [
      { name: 'www.example.com', type: 'A' },
      { name: 'nope.example.com.', type: 'a' },
      { name: 'www.example.com', type: 'TXT' },
      { name: 'big.example.com', type: 'TXT' },
      { name: 'www.example.org', type: 'TYPE1' },
    ];
    const driver = await createDriver(options(target.port, queries, { sockets: 2 }), rec.completion, context(2000, 10));
    try {
      for (let t = 0; t < 10; t++) driver.send(t);
      await rec.waitFor(10, 5000);
      // Round robin: token t sent query t % 5.
      for (let t = 0; t < 10; t++) expect(rec.codes.get(t), `token ${t}`).toEqual([[0, 3, 0, 0, 5][t % 5]]);
      const c = countersOf(driver);
      expect(c.queries).toBe(10);
      expect(c.responses).toBe(10);
      expect(c.truncated).toBe(2);
      expect(c.unexpected).toBe(0);
      expect(c.late).toBe(0);
      const sizes = [33, 34, 33, 33, 33]; // 12 + qname + 4
      expect(c.requestBytes).toBe(2 * sizes.reduce((a, b) => a + b, 0));
      expect(c.bytesSent).toBe(c.requestBytes);
      expect(c.responseBytes).toBeGreaterThan(c.requestBytes);
      expect(c.bytesReceived).toBe(c.responseBytes);
    } finally {
      await driver.close();
    }
  });

  it('reuses IDs past 65,536 queries on one socket: all complete, none clash', async () => {
    const rec = new Recorder();
    const queries = [
      { name: 'www.example.com', type: 'A' },
      { name: 'ns.example.com', type: 'A' },
      { name: 'x.example.com', type: 'A' },
    ];
    const driver = await createDriver(options(target.port, queries), rec.completion, context(5000, 64));
    try {
      const total = 70_000;
      await closedLoop(driver, rec, 64, total, 50_000);
      expect(rec.codes.size).toBe(64);
      for (const list of rec.codes.values()) for (const code of list) expect(code === 0 || code === 3).toBe(true);
      expect(rec.count(0)).toBe(Math.round((total * 2) / 3));
      const c = countersOf(driver);
      expect(c.responses).toBe(total);
      expect(c.unexpected).toBe(0);
      expect(c.late).toBe(0);
    } finally {
      await driver.close();
    }
  });
});

describe('dns driver ID management', () => {
  it('takes IDs least recently used first, never two in flight at once', async () => {
    // Holds each query until 64 are outstanding (or 20 ms pass), then answers them in reverse order.
    const held: { msg: Buffer; rinfo: RemoteInfo }[] = [];
    const inFlight = new Uint8Array(65536);
    const lastSeen = new Float64Array(65536).fill(-1);
    let arrivals = 0;
    let clashes = 0;
    let minReuse = Infinity;
    let distinct = 0;
    let sock: Socket | null = null;
    const flush = (): void => {
      while (held.length > 0) {
        const { msg, rinfo } = held.pop()!;
        const id = msg.readUInt16BE(0);
        inFlight[id] = 0;
        const out = Buffer.from(msg);
        out[2] = 0x84; // QR, AA
        sock!.send(out, rinfo.port, rinfo.address);
      }
    };
    const timer = setInterval(flush, 20);
    const server = await testServer((msg, rinfo, socket) => {
      sock = socket;
      const id = msg.readUInt16BE(0);
      if (inFlight[id]) clashes++;
      inFlight[id] = 1;
      if (lastSeen[id]! < 0) distinct++;
      else minReuse = Math.min(minReuse, arrivals - lastSeen[id]!);
      lastSeen[id] = arrivals++;
      held.push({ msg, rinfo });
      if (held.length >= 64) flush();
    });
    const rec = new Recorder();
    const driver = await createDriver(options(server.port, [{ name: 'a.test', type: 'A' }, { name: 'b.test', type: 'AAAA' }]), rec.completion, context(5000, 64));
    try {
      const total = 70_000;
      await closedLoop(driver, rec, 64, total, 50_000);
      expect(rec.count(0)).toBe(total);
      expect(arrivals).toBe(total);
      expect(clashes).toBe(0);
      expect(distinct).toBe(65536);
      // FIFO free list: an ID comes back only after every other free ID was used.
      expect(minReuse).toBeGreaterThanOrEqual(65536 - 64);
      expect(countersOf(driver).unexpected).toBe(0);
    } finally {
      clearInterval(timer);
      await driver.close();
      await server.close();
    }
  });

  it('never patches a query buffer that a queued send still holds', async () => {
    // Node's --test-udp-no-try-send makes every send asynchronous (as when the
    // socket buffer is full), so each buffer stays with libuv until its callback.
    // All 100 sends are of one query: patching its buffer in place would send
    // them all with the last ID.
    const ids: number[] = [];
    const server = await testServer((msg, rinfo, socket) => {
      ids.push(msg.readUInt16BE(0));
      const out = Buffer.from(msg);
      out[2] = 0x84;
      socket.send(out, rinfo.port, rinfo.address);
    });
    const script = `
      const { createDriver } = await import(process.env.DRIVER_URL);
      const { Share } = await import(process.env.SEGMENT_URL);
      const codes = [];
      const d = await createDriver(
        { server: '127.0.0.1', port: Number(process.env.PORT), queries: [{ name: 'a.test', type: 'A' }], sockets: 1, dnssec: false, recursionDesired: false },
        { written: () => {}, done: (t, c) => codes.push(c) },
        { share: Share.whole, timeoutMs: 3000, maxInflight: 100 });
      for (let t = 0; t < 100; t++) d.send(t);
      const end = Date.now() + 8000;
      while (codes.length < 100 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      console.log(JSON.stringify({ codes, counters: d.counters() }));
      await d.close();`;
    try {
      const child = spawn(process.execPath, ['--test-udp-no-try-send', '--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
        env: { ...process.env, PORT: String(server.port), DRIVER_URL: new URL('../../../src/protocols/dns/driver.ts', import.meta.url).href, SEGMENT_URL: new URL('../../../src/engine/segment.ts', import.meta.url).href },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exitCode = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(exitCode, err).toBe(0);
      const result = JSON.parse(out) as { codes: number[]; counters: DnsCounters };
      expect(result.codes).toEqual(new Array(100).fill(0));
      expect(result.counters.unexpected).toBe(0);
      expect(new Set(ids).size).toBe(100);
    } finally {
      await server.close();
    }
  });

  it('opens enough sockets for maxInflight, and spreads queries over them', async () => {
    const ports = new Set<number>();
    const server = await testServer((msg, rinfo, socket) => {
      ports.add(rinfo.port);
      socket.send(answerTo(dnsPacket.decode(msg) as Reply), rinfo.port, rinfo.address);
    });
    for (const [sockets, maxInflight, expected] of [
      [3, 10, 3],
      [1, 70_000, 2],
    ] as const) {
      ports.clear();
      const rec = new Recorder();
      const driver = await createDriver(options(server.port, [{ name: 'a.test', type: 'A' }], { sockets }), rec.completion, context(2000, maxInflight));
      try {
        for (let t = 0; t < 6; t++) driver.send(t);
        await rec.waitFor(6, 5000);
        expect(ports.size).toBe(expected);
      } finally {
        await driver.close();
      }
    }
    await server.close();
  });
});

describe('dns driver loss, late and unexpected answers', () => {
  it('counts exactly the dropped queries as timeouts', async () => {
    const dropped = new Set<string>();
    const server = await testServer((msg, rinfo, socket) => {
      const q = dnsPacket.decode(msg) as Reply;
      const name = q.questions![0]!.name;
      if (Number(name.slice(1, name.indexOf('.'))) % 20 === 0) {
        dropped.add(name);
        return;
      }
      socket.send(answerTo(q), rinfo.port, rinfo.address);
    });
    const queries = Array.from({ length: 400 }, (_, i) => ({ name: `n${i}.test`, type: 'A' }));
    const rec = new Recorder();
    const driver = await createDriver(options(server.port, queries, { sockets: 4 }), rec.completion, context(800, 400));
    try {
      for (let t = 0; t < 400; t++) {
        driver.send(t);
        if (t % 50 === 49) await sleep(5);
      }
      await rec.waitFor(400, 10_000);
      expect(dropped.size).toBe(20);
      for (let t = 0; t < 400; t++) expect(rec.codes.get(t), `token ${t}`).toEqual([t % 20 === 0 ? Failure.timeout : 0]);
      const c = countersOf(driver);
      expect(c.responses).toBe(380);
      expect(c.late).toBe(0);
      expect(c.unexpected).toBe(0);
    } finally {
      await driver.close();
      await server.close();
    }
  });

  it("counts the answers the kernel dropped at its own socket, apart, when it does not read in time", async () => {
    // The server in another process, so it answers while this thread is kept from reading.
    const server = await spawnTarget('dns', ['--zone', fileURLToPath(new URL('../../../fixtures/test.zone', import.meta.url)), '--listen', '127.0.0.1:0']);
    const n = 30_000;
    const rec = new Recorder();
    const port = Number(server.address.slice(server.address.lastIndexOf(':') + 1));
    const driver = await createDriver(options(port, [{ name: 'www.example.com', type: 'A' }]), rec.completion, context(2000, n));
    try {
      const before = countersOf(driver);
      expect(before.lostAtGenerator).toBe(0);
      for (let t = 0; t < n; t++) driver.send(t);
      // Answers arrive for a second and a half; none is read. One socket's buffer holds a few
      // thousand at most (4 MiB asked for, capped by net.core.rmem_max), so the kernel drops the rest.
      stallFor(1500);
      await rec.waitFor(n, 15_000);
      const atGenerator = countersOf(driver).lostAtGenerator - before.lostAtGenerator;
      const lost = rec.count(Failure.timeout);
      console.info(`${n} queries, not read for 1.5 s: ${rec.count(0)} answered, ${lost} lost, ${atGenerator} of them dropped at tsload's socket`);
      expect(atGenerator).toBeGreaterThan(0);
      // Each dropped answer belonged to a query now counted lost; the rest of the lost, if any,
      // the server itself dropped (its socket filled as fast as this loop sent).
      expect(atGenerator).toBeLessThanOrEqual(lost);
      expect(rec.count(0) + lost).toBe(n);
    } finally {
      await driver.close();
      await server.stop();
    }
  });

  it('reports a query answered after the timeout as lost, and its answer as late', async () => {
    const server = await testServer((msg, rinfo, socket) => {
      const q = dnsPacket.decode(msg) as Reply;
      const name = q.questions![0]!.name;
      const reply = answerTo(q, { rcode: name.startsWith('nx') ? 3 : 0 });
      if (name.startsWith('slow')) setTimeout(() => socket.send(reply, rinfo.port, rinfo.address), 1700);
      else socket.send(reply, rinfo.port, rinfo.address);
    });
    const queries = ['a', 'slow1', 'nx', 'b', 'slow2'].map((n) => ({ name: `${n}.test`, type: 'A' }));
    const rec = new Recorder();
    const driver = await createDriver(options(server.port, queries, { sockets: 2 }), rec.completion, context(1000, 50));
    try {
      for (let t = 0; t < 50; t++) driver.send(t);
      await rec.waitFor(50, 5000);
      for (let t = 0; t < 50; t++) expect(rec.codes.get(t), `token ${t}`).toEqual([[0, Failure.timeout, 3, 0, Failure.timeout][t % 5]]);
      for (let i = 0; i < 200 && countersOf(driver).late < 20; i++) await sleep(10);
      const c = countersOf(driver);
      expect(c.late).toBe(20);
      expect(c.responses).toBe(30);
      expect(c.unexpected).toBe(0);
      expect(rec.total).toBe(50); // a late answer is not a completion
    } finally {
      await driver.close();
      await server.close();
    }
  });

  it('counts datagrams that match no outstanding query as unexpected', async () => {
    const server = await testServer((msg, rinfo, socket) => {
      const q = dnsPacket.decode(msg) as Reply;
      const send = (b: Buffer): void => socket.send(b, rinfo.port, rinfo.address);
      // Wrong ones say SERVFAIL, so taking one for the answer would show in the codes.
      send(answerTo(q, { id: (q.id! + 1) & 0xffff, rcode: 2 })); // wrong ID (nothing else is in flight)
      send(answerTo(q, { name: 'other.test', rcode: 2 })); // wrong name
      send(answerTo(q, { type: 'AAAA', rcode: 2 })); // wrong type
      send(Buffer.from([0, 1, 2, 3, 4])); // runt
      send(msg); // the query itself: QR clear
      send(answerTo(q, { name: q.questions![0]!.name.toUpperCase() })); // the answer (names match case-insensitively)
      send(answerTo(q)); // a duplicate of it
    });
    const rec = new Recorder();
    const driver = await createDriver(options(server.port, [{ name: 'Mixed.Test', type: 'A' }]), rec.completion, context(2000, 1));
    try {
      await closedLoop(driver, rec, 1, 20, 10_000);
      expect(rec.count(0)).toBe(20);
      for (let i = 0; i < 100 && countersOf(driver).unexpected < 120; i++) await sleep(10);
      const c = countersOf(driver);
      expect(c.responses).toBe(20);
      expect(c.unexpected).toBe(120);
      expect(c.late).toBe(0);
      expect(c.bytesReceived).toBeGreaterThan(c.responseBytes);
    } finally {
      await driver.close();
      await server.close();
    }
  });

  it('reads the extended RCODE from OPT and accepts error replies without a question', async () => {
    const server = await testServer((msg, rinfo, socket) => {
      const q = dnsPacket.decode(msg) as Reply;
      if (q.questions![0]!.name === 'old.test') {
        const opt: dnsPacket.Answer = { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 1, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
        socket.send(answerTo(q, { additionals: [opt] }), rinfo.port, rinfo.address);
      } else {
        const formerr = Buffer.alloc(12);
        msg.copy(formerr, 0, 0, 2);
        formerr[2] = 0x80;
        formerr[3] = 1;
        socket.send(formerr, rinfo.port, rinfo.address);
      }
    });
    const rec = new Recorder();
    const queries = [{ name: 'old.test', type: 'A' }, { name: 'bad.test', type: 'A' }];
    const driver = await createDriver(options(server.port, queries, { edns: 1232 }), rec.completion, context(2000, 2));
    try {
      driver.send(0);
      driver.send(1);
      await rec.waitFor(2, 5000);
      expect(rec.codes.get(0)).toEqual([16]);
      expect(rec.codes.get(1)).toEqual([1]);
      expect(rcodeName(16)).toBe('BADVERS');
    } finally {
      await driver.close();
      await server.close();
    }
  });

  it('reports nothing after close', async () => {
    const server = await testServer(() => {});
    const rec = new Recorder();
    const driver = await createDriver(options(server.port, [{ name: 'a.test', type: 'A' }]), rec.completion, context(50, 5));
    for (let t = 0; t < 5; t++) driver.send(t);
    await driver.close();
    await sleep(250);
    expect(rec.total).toBe(0);
    await server.close();
  });
});

describe('dns driver query encoding', () => {
  it('sets RD, EDNS size and DO as asked; one query per datagram', async () => {
    let seen: Reply[] = [];
    let raw: Buffer[] = [];
    const server = await testServer((msg, rinfo, socket) => {
      const q = dnsPacket.decode(msg) as Reply;
      seen.push(q);
      raw.push(msg);
      const reply = Buffer.from(msg.subarray(0, msg.length - (q.additionals!.length > 0 ? 11 : 0)));
      reply.writeUInt16BE(0, 10); // the question alone, as it came
      reply[2] = reply[2]! | 0x80;
      socket.send(reply, rinfo.port, rinfo.address);
    });
    const cases: [Partial<DnsDriverOptions>, (q: Reply) => void][] = [
      [{}, (q) => {
        expect(q.flag_rd).toBe(false);
        expect(q.additionals).toEqual([]);
      }],
      [{ recursionDesired: true, edns: 4096 }, (q) => {
        expect(q.flag_rd).toBe(true);
        expect(q.additionals).toEqual([expect.objectContaining({ type: 'OPT', name: '.', udpPayloadSize: 4096, ednsVersion: 0, flag_do: false })]);
      }],
      [{ dnssec: true }, (q) => {
        expect(q.additionals).toEqual([expect.objectContaining({ type: 'OPT', udpPayloadSize: 1232, flag_do: true })]);
      }],
    ];
    try {
      for (const [o, check] of cases) {
        seen = [];
        raw = [];
        const rec = new Recorder();
        const driver = await createDriver(options(server.port, [{ name: 'a\\.b.Test.', type: 'mx' }], o), rec.completion, context(2000, 1));
        driver.send(0);
        await rec.waitFor(1, 5000);
        expect(rec.codes.get(0)).toEqual([0]);
        await driver.close();
        expect(seen).toHaveLength(1);
        expect(seen[0]!.opcode).toBe('QUERY');
        expect(seen[0]!.questions).toEqual([{ name: 'a.b.Test', type: 'MX', class: 'IN' }]);
        expect(raw[0]![12]).toBe(3); // 'a\.b' is one label
        check(seen[0]!);
      }
    } finally {
      await server.close();
    }
  });

  it('rejects bad query lists once, in the main thread, before any driver exists', async () => {
    expect(checkDnsQueries(options(target.port, []))).toEqual(['dns: the query list is empty']);
    expect(checkDnsQueries(options(target.port, [{ name: 'a..b', type: 'A' }, { name: 'ok', type: 'BOGUS' }])).join('\n')).toMatch(/empty label[\s\S]*unknown RR type 'BOGUS'/);
    await expect(runDns({ server: `127.0.0.1:${target.port}`, queries: [{ name: 'ok', type: 'BOGUS' }], duration: 100 })).rejects.toThrow(/unknown RR type 'BOGUS'/);
  });
});

describe('probeDns and rcodeName', () => {
  it('resolves on any answer', async () => {
    await probeDns('127.0.0.1', target.port, { name: 'www.example.com', type: 'A' }, 2000);
    await probeDns('127.0.0.1', target.port, { name: 'www.example.net', type: 'A' }, 2000); // REFUSED is an answer
  });

  it('throws TargetUnreachableError on port unreachable', async () => {
    const s = createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
    const port = s.address().port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    const started = Date.now();
    const error = await probeDns('127.0.0.1', port, { name: 'www.example.com', type: 'A' }, 5000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    expect((error as Error).message).toContain('port unreachable');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('throws TargetUnreachableError when nothing answers', async () => {
    const silent = await testServer(() => {});
    try {
      const started = Date.now();
      const error = await probeDns('127.0.0.1', silent.port, { name: 'www.example.com', type: 'A' }, 300).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TargetUnreachableError);
      expect((error as Error).message).toMatch(/no DNS answer within 300 ms/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    } finally {
      await silent.close();
    }
  });

  it('names RCODEs', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 9, 23].map(rcodeName)).toEqual(['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'NOTAUTH', 'BADCOOKIE']);
    expect(rcodeName(12)).toBe('RCODE12');
    expect(rcodeName(4000)).toBe('RCODE4000');
  });
});

describe('dns driver share of the query mix', () => {
  it('walks the mix so that the threads of every process together send what one thread sends', async () => {
    const seen: string[] = [];
    const server = await testServer((msg, rinfo, socket) => {
      const query = dnsPacket.decode(msg) as Reply;
      seen.push(query.questions![0]!.name);
      socket.send(answerTo(query), rinfo.port, rinfo.address);
    });
    const queries = Array.from({ length: 7 }, (_, i) => ({ name: `q${i}.test`, type: 'A' }));
    /** The names a driver of `share` sends in `n` queries, one at a time. */
    const walk = async (share: Share, n: number): Promise<string[]> => {
      seen.length = 0;
      const rec = new Recorder();
      const driver = await createDriver(options(server.port, queries), rec.completion, { share, timeoutMs: 2000, maxInflight: 1 });
      await closedLoop(driver, rec, 1, n, 5000);
      await driver.close();
      return [...seen];
    };
    try {
      const whole = await walk(Share.whole, 30);
      // Two processes, (0, 1/3] and (1/3, 1], of two threads each: 30 arrivals share out as their stripes say.
      const parts = [...processShare({ segment: '0:1/3', segmentSequence: '0,1/3,1' }).split(2), ...processShare({ segment: '1/3:1', segmentSequence: '0,1/3,1' }).split(2)];
      const names: string[] = [];
      for (const share of parts) names.push(...(await walk(share, share.count(30))));
      expect(names.sort()).toEqual([...whole].sort());
      expect(whole.slice(0, 8)).toEqual(['q0.test', 'q1.test', 'q2.test', 'q3.test', 'q4.test', 'q5.test', 'q6.test', 'q0.test']);
    } finally {
      await server.close();
    }
  });
});
