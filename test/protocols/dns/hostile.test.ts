/**
 * A DNS server that misbehaves on purpose, over UDP and TCP on loopback: each
 * query name picks a rule (a truncated or garbage packet, a wrong ID, a spoofed
 * answer from another port, another question, compression loops, records cut
 * short), and the real answer follows where the rule lets the query live. A
 * bounded runDns run must count each class exactly and complete only real answers.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer, type Socket as TcpSocket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDns } from '../../../src/run.js';
import { formatText } from '../../../src/report/text.js';
import { formatDnsperf } from '../../../src/report/dnsperf.js';
import { skipName } from '../../../src/protocols/dns/wire.js';
import type { DnsResult } from '../../../src/result.js';
import { closeServer, listenLoopback } from '../../loopback.js';

/** The rules, by the query's first label. */
const RULES = [
  'ok', // the real answer only, its question upper-cased (names match case-insensitively)
  'runt', // 7 bytes, then the real answer
  'garbage', // a header, then bytes that are no name, then the real answer
  'cutq', // cut inside the question, then the real answer
  'wrongid', // the real answer under an ID with nothing in flight, then the real answer
  'spoof', // from another port: right ID, REFUSED; then the real answer
  'othertype', // asking AAAA, SERVFAIL; then the real answer
  'othername', // another name, SERVFAIL; then the real answer
  'otherclass', // class CH, SERVFAIL; then the real answer
  'qloop', // the question's name points at itself, then the real answer
  'rrloop', // the real question, an answer whose owner points at itself: a protocol error
  'rrout', // an answer whose owner points past the end: a protocol error
  'rrcut', // two answers announced, one sent: a protocol error
] as const;
type Rule = (typeof RULES)[number];
const QUERIES = RULES.map((rule) => ({ name: `${rule}.hostile.test`, type: 'A' }));

const PER_RULE = 20;
const RATE = 200;

/** An answer to `query`: one A record whose owner points at the question; `alter` may change the bytes. */
function answer(query: Buffer, o: { rcode?: number; ancount?: number; owner?: number[] } = {}): Buffer {
  const qEnd = skipName(query, 12) + 4;
  const question = Buffer.from(query.subarray(12, qEnd));
  for (let i = 0; i < question.length - 4; i++) if (question[i]! >= 0x61 && question[i]! <= 0x7a) question[i]! &= 0xdf;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header[2] = 0x84 | (query[2]! & 0x01); // QR, AA, RD as asked
  header[3] = o.rcode ?? 0;
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(o.ancount ?? 1, 6);
  const owner = Buffer.from(o.owner ?? [0xc0, 12]);
  const rr = Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
  return Buffer.concat([header, question, owner, rr]);
}

/** What the server sends for one query, in order; `spoof` marks a datagram sent from the second socket. */
function replies(query: Buffer): Array<{ bytes: Buffer; spoof?: true }> {
  const rule = query.subarray(13, 13 + query[12]!).toString('latin1') as Rule;
  const real = answer(query);
  const qEnd = skipName(query, 12) + 4;
  const withQuestion = (edit: (b: Buffer) => void, rcode = 2): Buffer => {
    const b = answer(query, { rcode });
    edit(b);
    return b;
  };
  if (!RULES.includes(rule)) throw new Error(`no rule for ${JSON.stringify(rule)} in ${query.toString("hex")}`);
  switch (rule) {
    case 'ok':
      return [{ bytes: real }];
    case 'runt':
      return [{ bytes: real.subarray(0, 7) }, { bytes: real }];
    case 'garbage': {
      const junk = Buffer.concat([real.subarray(0, 12), Buffer.from('@\xff\x00garbage that is no DNS name at all', 'latin1')]);
      return [{ bytes: junk }, { bytes: real }];
    }
    case 'cutq':
      return [{ bytes: real.subarray(0, 16) }, { bytes: real }];
    case 'wrongid': {
      const wrong = Buffer.from(real);
      wrong.writeUInt16BE(real.readUInt16BE(0) ^ 0x5555, 0);
      return [{ bytes: wrong }, { bytes: real }];
    }
    case 'spoof':
      return [{ bytes: answer(query, { rcode: 5 }), spoof: true }, { bytes: real }];
    case 'othertype':
      return [{ bytes: withQuestion((b) => b.writeUInt16BE(28, qEnd - 4)) }, { bytes: real }];
    case 'othername':
      return [{ bytes: withQuestion((b) => (b[13]! ^= 0x01)) }, { bytes: real }];
    case 'otherclass':
      return [{ bytes: withQuestion((b) => b.writeUInt16BE(3, qEnd - 2)) }, { bytes: real }];
    case 'qloop': {
      const loop = Buffer.concat([real.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
      loop.writeUInt16BE(0, 6);
      return [{ bytes: loop }, { bytes: real }];
    }
    case 'rrloop':
      return [{ bytes: answer(query, { owner: [0xc0, qEnd] }) }];
    case 'rrout':
      return [{ bytes: answer(query, { owner: [0xff, 0xff] }) }];
    case 'rrcut':
      return [{ bytes: answer(query, { ancount: 2 }) }];
  }
}

interface Hostile {
  address: string;
  spoofsSent(): number;
  close(): Promise<void>;
}

async function udpServer(): Promise<Hostile> {
  const main: Socket = createSocket('udp4');
  const spoofer: Socket = createSocket('udp4');
  // The kernel may answer a spoofed datagram with port unreachable: not this test's concern.
  spoofer.on('error', () => {});
  let spoofs = 0;
  main.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    for (const r of replies(msg)) {
      if (r.spoof) spoofer.send(r.bytes, rinfo.port, rinfo.address, (error) => (spoofs += error ? 0 : 1));
      else main.send(r.bytes, rinfo.port, rinfo.address);
    }
  });
  await new Promise<void>((r) => main.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => spoofer.bind(0, '127.0.0.1', r));
  expect(spoofer.address().port).not.toBe(main.address().port);
  return {
    address: `127.0.0.1:${main.address().port}`,
    spoofsSent: () => spoofs,
    close: async () => {
      await new Promise<void>((r) => main.close(() => r()));
      await new Promise<void>((r) => spoofer.close(() => r()));
    },
  };
}

/** The same rules over TCP (RFC 7766 framing); a spoof is not possible on a connection, so that rule sends the real answer only. */
async function tcpServer(): Promise<Hostile> {
  const sockets = new Set<TcpSocket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let got = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      while (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        const msg = Buffer.from(got.subarray(2, 2 + got.readUInt16BE(0)));
        got = got.subarray(2 + msg.length);
        for (const r of replies(msg)) {
          if (r.spoof) continue;
          const frame = Buffer.alloc(2);
          frame.writeUInt16BE(r.bytes.length, 0);
          socket.write(Buffer.concat([frame, r.bytes]));
        }
      }
    });
  });
  const port = await listenLoopback(server);
  return {
    address: `127.0.0.1:${port}`,
    spoofsSent: () => 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

function checkCounts(result: DnsResult): void {
  const step = result.steps[0]!;
  const sent = PER_RULE * RULES.length;
  expect(step.sent).toBe(sent);
  // rrloop, rrout and rrcut fail; every other query completes with its real answer, and nothing waits for the timeout.
  expect(step.errors.protocol).toBe(3 * PER_RULE);
  expect(step.errors.total).toBe(3 * PER_RULE);
  expect(step.completed).toBe(sent - 3 * PER_RULE);
  expect(step.timeouts).toBe(0);
  expect(step.late).toBe(0);
  // Not one bogus answer (REFUSED, SERVFAIL) was taken for the real one.
  expect(step.rcodes).toEqual({ NOERROR: sent - 3 * PER_RULE });
  // runt, garbage, cutq, qloop; othertype, othername, otherclass; wrongid. Spoofs never reach tsload.
  expect(step.malformed).toBe(4 * PER_RULE);
  expect(step.mismatched).toBe(3 * PER_RULE);
  expect(step.unexpected).toBe(8 * PER_RULE);
  expect(new Set(step.failureReasons)).toEqual(
    new Set(['a record name is malformed (compression loop, pointer out of range or bad label)', 'a record runs past the end of the message']),
  );
  const text = formatText(result);
  expect(text).toMatch(/Unexpected answers\s+160 \(wrong ID 20, another question 60, malformed 80; never matched to a query\)/);
  expect(text).toMatch(/Errors\s+60 \(protocol 60\)/);
  expect(text).toMatch(/Protocol errors\s+a record/);
  const dnsperf = formatDnsperf(result);
  expect(dnsperf).toContain('  Unexpected IDs:       20 (7.69%)');
  expect(dnsperf).toContain('malformed answers 80');
}

describe('a DNS server that misbehaves on purpose', () => {
  let udp: Hostile;
  let tcp: Hostile;
  beforeAll(async () => {
    udp = await udpServer();
    tcp = await tcpServer();
  });
  afterAll(async () => {
    await udp.close();
    await tcp.close();
  });

  const run = (server: string, transport: 'udp' | 'tcp'): Promise<DnsResult> =>
    runDns({ server, transport, queries: QUERIES, rate: RATE, duration: (PER_RULE * RULES.length * 1000) / RATE, warmup: 0, timeout: '3s', sockets: 2 });

  it('over UDP: counts each bad answer apart, matches only the real ones, and never hears the spoofs', async () => {
    const result = await run(udp.address, 'udp');
    checkCounts(result);
    expect(udp.spoofsSent()).toBe(PER_RULE);
  });

  it('the spoofs do reach a socket that is not connected: it is the connect that keeps them from the driver', async () => {
    const socket = createSocket('udp4');
    const from = new Set<number>();
    socket.on('message', (_msg, rinfo) => from.add(rinfo.port));
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const query = Buffer.concat([Buffer.from([0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\x05spoof\x07hostile\x04test\x00\x00\x01\x00\x01', 'latin1')]);
    const [host, port] = udp.address.split(':') as [string, string];
    socket.send(query, Number(port), host);
    for (let i = 0; i < 200 && from.size < 2; i++) await new Promise((r) => setTimeout(r, 5));
    socket.close();
    expect(from.size).toBe(2);
    expect(from.has(Number(port))).toBe(true);
  });

  it('over TCP: the same reader, the same counts', async () => {
    const result = await run(tcp.address, 'tcp');
    checkCounts(result);
    expect(result.steps[0]!.stream?.reconnects).toBe(0);
  });
});
