/**
 * The built-in authoritative server, over real UDP on 127.0.0.1: every answer
 * is decoded with dns-packet and checked field by field.
 */
import { createSocket, type Socket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseZone } from '../../src/protocols/dns/zone/index.js';
import type { Zone } from '../../src/protocols/dns/zone/index.js';
import { ServerStartError } from '../../src/errors.js';
import { startDnsTarget, type DnsTarget } from '../../src/targets/dns.js';

const TXT50 = 'x'.repeat(50);
const ZONE = `$TTL 3600
@         IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@         NS    ns1
@         NS    ns2
ns1       A     192.0.2.53
ns2       A     192.0.2.54
ns2       AAAA  2001:db8::54
www       A     192.0.2.1
www       A     192.0.2.2
www       AAAA  2001:db8::1
www   60  RRSIG A 8 3 3600 20300101000000 20200101000000 12345 example.com. AAECAwQFBgcICQ==
alias     CNAME www
c1        CNAME c2
c2    120 CNAME www
loop1     CNAME loop2
loop2     CNAME loop1
dangling  CNAME missing
outside   CNAME www.example.net.
a.b.c     A     192.0.2.7
mail      MX    10 mx
mx        A     192.0.2.25
sub       NS    ns.sub
sub       NS    ns.elsewhere.net.
sub       DS    60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118
ns.sub    A     192.0.2.80
deep.ns.sub A   192.0.2.81
*.wild    A     192.0.2.99
*.wild    TXT   "wild"
host.wild A     192.0.2.50
*.wc      CNAME www
${Array.from({ length: 12 }, (_, i) => `big TXT "${i.toString().padStart(2, '0')}${TXT50.slice(2)}"`).join('\n')}
${Array.from({ length: 25 }, (_, i) => `huge TXT "${i.toString().padStart(2, '0')}${TXT50.slice(2)}"`).join('\n')}
${Array.from({ length: 8 }, (_, i) => `mxbig MX ${i} host${i}.mxbig\nhost${i}.mxbig A 192.0.2.${100 + i}\nhost${i}.mxbig AAAA 2001:db8::${100 + i}`).join('\n')}
`;

const CHILD = `$TTL 600
@   IN SOA ns hostmaster 7 3600 600 86400 60
@   NS ns
ns  A 192.0.2.200
x   A 192.0.2.201
`;

type Reply = dnsPacket.DecodedPacket & { rcode: string; opcode: string };
type Rr = { name: string; type: string; ttl?: number; class?: string; data?: unknown; [k: string]: unknown };

interface Ask {
  id?: number;
  rd?: boolean;
  cd?: boolean;
  cls?: 'IN' | 'CH';
  opcode?: number;
  edns?: { size: number; do?: boolean; version?: number };
}

function queryBytes(name: string, type: string, o: Ask = {}): Buffer {
  const additionals: dnsPacket.Answer[] = [];
  if (o.edns) {
    additionals.push({
      type: 'OPT',
      name: '.',
      udpPayloadSize: o.edns.size,
      extendedRcode: 0,
      ednsVersion: o.edns.version ?? 0,
      flags: o.edns.do ? dnsPacket.DNSSEC_OK : 0,
      flag_do: o.edns.do ?? false,
      options: [],
    });
  }
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? 4321,
    flags: (o.rd ? dnsPacket.RECURSION_DESIRED : 0) | (o.cd ? dnsPacket.CHECKING_DISABLED : 0) | ((o.opcode ?? 0) << 11),
    questions: [{ name, type: type as dnsPacket.RecordType, class: o.cls ?? 'IN' }],
    additionals,
  });
}

class Client {
  readonly socket: Socket = createSocket('udp4');
  constructor(readonly port: number) {}
  /** Send bytes; resolve with the next datagram (raw). */
  exchange(bytes: Buffer, timeoutMs = 2000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.off('message', onMessage);
        reject(new Error('no answer'));
      }, timeoutMs);
      const onMessage = (msg: Buffer): void => {
        clearTimeout(timer);
        resolve(msg);
      };
      this.socket.once('message', onMessage);
      this.socket.send(bytes, this.port, '127.0.0.1');
    });
  }
  async ask(name: string, type: string, o: Ask = {}): Promise<{ r: Reply; raw: Buffer }> {
    const raw = await this.exchange(queryBytes(name, type, o));
    const r = dnsPacket.decode(raw) as Reply;
    expect(r.id).toBe(o.id ?? 4321);
    expect(r.type).toBe('response');
    return { r, raw };
  }
  close(): void {
    this.socket.close();
  }
}

const rrs = (list: unknown[] | undefined): Rr[] => (list ?? []) as Rr[];
const soaOf = (r: Reply): Rr => {
  const ns = rrs(r.authorities);
  expect(ns).toHaveLength(1);
  return ns[0]!;
};

let zone: Zone;
let target: DnsTarget;
let client: Client;

beforeAll(async () => {
  zone = parseZone(ZONE, { origin: 'example.com' });
  target = await startDnsTarget({ zones: [zone, parseZone(CHILD, { origin: 'child.example.com' })] });
  client = new Client(target.port);
});
afterAll(async () => {
  client.close();
  await target.close();
});

describe('dns target: positive answers', () => {
  it('answers the RRset with AA, echoes ID, RD and the question case, compresses owner names', async () => {
    expect(target.host).toBe('127.0.0.1');
    expect(target.address).toBe(`127.0.0.1:${target.port}`);
    const { r, raw } = await client.ask('WwW.ExAmPlE.CoM', 'A', { id: 0xbeef, rd: true });
    expect(r.id).toBe(0xbeef);
    expect(r.flag_qr).toBe(true);
    expect(r.flag_aa).toBe(true);
    expect(r.flag_rd).toBe(true);
    expect(r.flag_tc).toBe(false);
    expect(r.flag_ra).toBe(false);
    expect(r.rcode).toBe('NOERROR');
    expect(r.questions).toEqual([{ name: 'WwW.ExAmPlE.CoM', type: 'A', class: 'IN' }]);
    expect(rrs(r.answers).map((a) => [a.name, a.type, a.class, a.ttl, a.data])).toEqual([
      ['WwW.ExAmPlE.CoM', 'A', 'IN', 3600, '192.0.2.1'],
      ['WwW.ExAmPlE.CoM', 'A', 'IN', 3600, '192.0.2.2'],
    ]);
    expect(r.authorities).toEqual([]);
    expect(r.additionals).toEqual([]);
    // 12 header + 21 question + 2 × (2 pointer + 10 + 4): owners point at the question.
    expect(raw.length).toBe(12 + 21 + 2 * 16);
  });

  it('serves a cached answer with the new ID, flags and case of each query', async () => {
    const before = target.stats();
    const a = await client.ask('www.example.com', 'AAAA', { id: 1 });
    const b = await client.ask('WWW.EXAMPLE.COM', 'AAAA', { id: 2, rd: true, cd: true });
    const after = target.stats();
    expect(after.cacheMisses - before.cacheMisses).toBe(1);
    expect(after.cacheHits - before.cacheHits).toBe(1);
    expect(a.r.flag_rd).toBe(false);
    expect(a.r.flag_cd).toBe(false);
    expect(b.r.flag_rd).toBe(true);
    expect(b.r.flag_cd).toBe(true);
    expect(rrs(a.r.answers)[0]).toMatchObject({ name: 'www.example.com', type: 'AAAA', data: '2001:db8::1' });
    expect(rrs(b.r.answers)[0]).toMatchObject({ name: 'WWW.EXAMPLE.COM', type: 'AAAA', data: '2001:db8::1' });
    expect(b.r.questions?.[0]?.name).toBe('WWW.EXAMPLE.COM');
  });

  it('returns the SOA at the apex with its own TTL', async () => {
    const { r } = await client.ask('example.com', 'SOA');
    expect(r.rcode).toBe('NOERROR');
    expect(rrs(r.answers)).toHaveLength(1);
    expect(rrs(r.answers)[0]).toMatchObject({
      name: 'example.com',
      type: 'SOA',
      ttl: 3600,
      data: { mname: 'ns1.example.com', rname: 'hostmaster.example.com', serial: 2024010101, minimum: 300 },
    });
  });

  it('adds in-zone A/AAAA of NS and MX targets to the additional section', async () => {
    const ns = (await client.ask('example.com', 'NS')).r;
    expect(ns.flag_aa).toBe(true);
    expect(rrs(ns.answers).map((a) => a.data)).toEqual(['ns1.example.com', 'ns2.example.com']);
    expect(rrs(ns.additionals).map((a) => [a.name, a.type, a.data])).toEqual([
      ['ns1.example.com', 'A', '192.0.2.53'],
      ['ns2.example.com', 'A', '192.0.2.54'],
      ['ns2.example.com', 'AAAA', '2001:db8::54'],
    ]);
    const mx = (await client.ask('mail.example.com', 'MX')).r;
    expect(rrs(mx.answers)).toEqual([
      expect.objectContaining({ name: 'mail.example.com', type: 'MX', ttl: 3600, data: { preference: 10, exchange: 'mx.example.com' } }),
    ]);
    expect(rrs(mx.additionals).map((a) => [a.name, a.type, a.data])).toEqual([['mx.example.com', 'A', '192.0.2.25']]);
  });

  it('answers ANY with every RRset at the name', async () => {
    const { r } = await client.ask('www.example.com', 'ANY');
    expect(r.rcode).toBe('NOERROR');
    expect(rrs(r.answers).map((a) => a.type).sort()).toEqual(['A', 'A', 'AAAA', 'RRSIG']);
  });

  it('adds RRSIGs only when the query sets DO', async () => {
    const plain = (await client.ask('www.example.com', 'A', { edns: { size: 1232 } })).r;
    expect(rrs(plain.answers).map((a) => a.type)).toEqual(['A', 'A']);
    const signed = (await client.ask('www.example.com', 'A', { edns: { size: 1232, do: true } })).r;
    expect(rrs(signed.answers).map((a) => [a.name, a.type, a.ttl])).toEqual([
      ['www.example.com', 'A', 3600],
      ['www.example.com', 'A', 3600],
      ['www.example.com', 'RRSIG', 60],
    ]);
    expect(rrs(signed.answers)[2]!.data).toMatchObject({ typeCovered: 'A', keyTag: 12345, signersName: 'example.com' });
  });

  it('answers from the most specific zone it holds', async () => {
    const { r } = await client.ask('x.child.example.com', 'A');
    expect(r.flag_aa).toBe(true);
    expect(rrs(r.answers)).toEqual([expect.objectContaining({ name: 'x.child.example.com', ttl: 600, data: '192.0.2.201' })]);
    const nx = (await client.ask('y.child.example.com', 'A')).r;
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(soaOf(nx)).toMatchObject({ name: 'child.example.com', type: 'SOA', ttl: 60 });
  });
});

describe('dns target: CNAME', () => {
  it('follows a CNAME inside the zone', async () => {
    const { r } = await client.ask('Alias.example.com', 'A');
    expect(r.flag_aa).toBe(true);
    expect(r.rcode).toBe('NOERROR');
    expect(rrs(r.answers).map((a) => [a.name, a.type, a.ttl, a.data])).toEqual([
      ['Alias.example.com', 'CNAME', 3600, 'www.example.com'],
      ['www.example.com', 'A', 3600, '192.0.2.1'],
      ['www.example.com', 'A', 3600, '192.0.2.2'],
    ]);
    expect(r.authorities).toEqual([]);
  });

  it('follows a chain, and answers a CNAME query with the CNAME alone', async () => {
    const chain = (await client.ask('c1.example.com', 'AAAA')).r;
    expect(rrs(chain.answers).map((a) => [a.name, a.type, a.ttl, a.data])).toEqual([
      ['c1.example.com', 'CNAME', 3600, 'c2.example.com'],
      ['c2.example.com', 'CNAME', 120, 'www.example.com'],
      ['www.example.com', 'AAAA', 3600, '2001:db8::1'],
    ]);
    const own = (await client.ask('c1.example.com', 'CNAME')).r;
    expect(rrs(own.answers).map((a) => [a.name, a.type, a.data])).toEqual([['c1.example.com', 'CNAME', 'c2.example.com']]);
  });

  it('stops at a loop', async () => {
    const { r } = await client.ask('loop1.example.com', 'A');
    expect(r.rcode).toBe('NOERROR');
    expect(rrs(r.answers).map((a) => [a.name, a.data])).toEqual([
      ['loop1.example.com', 'loop2.example.com'],
      ['loop2.example.com', 'loop1.example.com'],
    ]);
  });

  it('gives NXDOMAIN with the CNAME when the target does not exist (RFC 6604)', async () => {
    const { r } = await client.ask('dangling.example.com', 'A');
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.flag_aa).toBe(true);
    expect(rrs(r.answers).map((a) => [a.name, a.type, a.data])).toEqual([['dangling.example.com', 'CNAME', 'missing.example.com']]);
    expect(soaOf(r)).toMatchObject({ name: 'example.com', type: 'SOA', ttl: 300 });
  });

  it('does not follow a CNAME out of the zone', async () => {
    const { r } = await client.ask('outside.example.com', 'A');
    expect(r.rcode).toBe('NOERROR');
    expect(rrs(r.answers).map((a) => [a.type, a.data])).toEqual([['CNAME', 'www.example.net']]);
    expect(r.authorities).toEqual([]);
  });
});

describe('dns target: negative answers', () => {
  it('NXDOMAIN carries the SOA with TTL min(SOA TTL, MINIMUM)', async () => {
    const { r } = await client.ask('nope.example.com', 'A', { id: 77 });
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.flag_aa).toBe(true);
    expect(r.answers).toEqual([]);
    expect(r.additionals).toEqual([]);
    expect(soaOf(r)).toMatchObject({
      name: 'example.com',
      type: 'SOA',
      class: 'IN',
      ttl: 300,
      data: { mname: 'ns1.example.com', rname: 'hostmaster.example.com', serial: 2024010101, refresh: 7200, retry: 3600, expire: 1209600, minimum: 300 },
    });
  });

  it('NODATA for a missing type, and for empty non-terminals', async () => {
    for (const [name, type] of [
      ['www.example.com', 'TXT'],
      ['c.example.com', 'A'],
      ['b.c.example.com', 'AAAA'],
    ] as const) {
      const { r } = await client.ask(name, type);
      expect(r.rcode, name).toBe('NOERROR');
      expect(r.flag_aa, name).toBe(true);
      expect(r.answers, name).toEqual([]);
      expect(soaOf(r), name).toMatchObject({ name: 'example.com', type: 'SOA', ttl: 300 });
    }
    const below = (await client.ask('x.a.b.c.example.com', 'A')).r;
    expect(below.rcode).toBe('NXDOMAIN');
  });
});

describe('dns target: delegations', () => {
  it('refers below a zone cut: NS in authority, AA clear, in-zone glue only', async () => {
    for (const name of ['sub.example.com', 'www.sub.example.com', 'ns.sub.example.com', 'a.deep.ns.sub.example.com']) {
      const { r } = await client.ask(name, 'A');
      expect(r.rcode, name).toBe('NOERROR');
      expect(r.flag_aa, name).toBe(false);
      expect(r.answers, name).toEqual([]);
      expect(rrs(r.authorities).map((a) => [a.name, a.type, a.ttl, a.data]), name).toEqual([
        ['sub.example.com', 'NS', 3600, 'ns.sub.example.com'],
        ['sub.example.com', 'NS', 3600, 'ns.elsewhere.net'],
      ]);
      expect(rrs(r.additionals).map((a) => [a.name, a.type, a.data]), name).toEqual([['ns.sub.example.com', 'A', '192.0.2.80']]);
    }
  });

  it('answers DS at the cut from the parent side', async () => {
    const { r } = await client.ask('sub.example.com', 'DS');
    expect(r.flag_aa).toBe(true);
    expect(rrs(r.answers)).toEqual([
      expect.objectContaining({ name: 'sub.example.com', type: 'DS', ttl: 3600, data: expect.objectContaining({ keyTag: 60485, algorithm: 5, digestType: 1 }) }),
    ]);
  });
});

describe('dns target: wildcards (RFC 4592)', () => {
  it('synthesises from *.<closest encloser> with the query name as owner', async () => {
    const { r } = await client.ask('Q.r.wild.example.com', 'A');
    expect(r.rcode).toBe('NOERROR');
    expect(r.flag_aa).toBe(true);
    expect(rrs(r.answers).map((a) => [a.name, a.type, a.ttl, a.data])).toEqual([['Q.r.wild.example.com', 'A', 3600, '192.0.2.99']]);
    const txt = (await client.ask('other.wild.example.com', 'TXT')).r;
    expect(rrs(txt.answers).map((a) => [a.name, a.type])).toEqual([['other.wild.example.com', 'TXT']]);
    expect((rrs(txt.answers)[0]!.data as Buffer[]).map(String)).toEqual(['wild']);
  });

  it('gives NODATA for a type the wildcard lacks', async () => {
    const { r } = await client.ask('z.wild.example.com', 'AAAA');
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([]);
    expect(soaOf(r)).toMatchObject({ type: 'SOA', ttl: 300 });
  });

  it('does not apply where the name exists or below a closer encloser', async () => {
    const host = (await client.ask('host.wild.example.com', 'A')).r;
    expect(rrs(host.answers).map((a) => a.data)).toEqual(['192.0.2.50']);
    const hostTxt = (await client.ask('host.wild.example.com', 'TXT')).r;
    expect(hostTxt.rcode).toBe('NOERROR');
    expect(hostTxt.answers).toEqual([]);
    const below = (await client.ask('x.host.wild.example.com', 'A')).r;
    expect(below.rcode).toBe('NXDOMAIN');
    const ent = (await client.ask('wild.example.com', 'A')).r; // '*.wild' makes 'wild' an empty non-terminal
    expect(ent.rcode).toBe('NOERROR');
    expect(ent.answers).toEqual([]);
    const star = (await client.ask('*.wild.example.com', 'A')).r;
    expect(rrs(star.answers).map((a) => [a.name, a.data])).toEqual([['*.wild.example.com', '192.0.2.99']]);
  });

  it('follows a wildcard CNAME', async () => {
    const { r } = await client.ask('anything.wc.example.com', 'A');
    expect(rrs(r.answers).map((a) => [a.name, a.type, a.data])).toEqual([
      ['anything.wc.example.com', 'CNAME', 'www.example.com'],
      ['www.example.com', 'A', '192.0.2.1'],
      ['www.example.com', 'A', '192.0.2.2'],
    ]);
  });
});

describe('dns target: errors', () => {
  it('REFUSED outside its zones and for another class', async () => {
    for (const [name, cls] of [
      ['www.example.net', 'IN'],
      ['example', 'IN'],
      ['version.bind', 'CH'],
      ['www.example.com', 'CH'],
    ] as const) {
      const { r } = await client.ask(name, 'A', { cls });
      expect(r.rcode, name).toBe('REFUSED');
      expect(r.flag_aa, name).toBe(false);
      expect(r.questions, name).toEqual([{ name, type: 'A', class: cls }]);
      expect(r.answers, name).toEqual([]);
      expect(r.authorities, name).toEqual([]);
    }
  });

  it('FORMERR for malformed queries, echoing the ID', async () => {
    const good = queryBytes('www.example.com', 'A', { id: 0x1234 });
    const twoQuestions = dnsPacket.encode({
      type: 'query',
      id: 0x1234,
      questions: [
        { name: 'www.example.com', type: 'A' },
        { name: 'mail.example.com', type: 'MX' },
      ],
    });
    const cutShort = good.subarray(0, good.length - 3);
    const trailing = Buffer.concat([good, Buffer.from([1, 2, 3])]);
    const withAnswer = Buffer.from(good);
    withAnswer.writeUInt16BE(1, 6); // ANCOUNT 1 with no record
    const pointerInQuestion = Buffer.from(good.subarray(0, 14));
    pointerInQuestion.writeUInt16BE(0xc00c, 12);
    const badLabel = Buffer.concat([good.subarray(0, 12), Buffer.from([0x40]), good.subarray(13)]);
    for (const bytes of [twoQuestions, cutShort, trailing, withAnswer, pointerInQuestion, badLabel]) {
      const raw = await client.exchange(bytes);
      const r = dnsPacket.decode(raw) as Reply;
      expect(r.id).toBe(0x1234);
      expect(r.flag_qr).toBe(true);
      expect(r.rcode).toBe('FORMERR');
    }
  });

  it('NOTIMP for opcodes other than QUERY, and for zone transfers over UDP', async () => {
    const raw = await client.exchange(queryBytes('www.example.com', 'A', { id: 9, opcode: 2, rd: true }));
    const r = dnsPacket.decode(raw) as Reply;
    expect(r.id).toBe(9);
    expect(r.opcode).toBe('STATUS');
    expect(r.rcode).toBe('NOTIMP');
    expect(r.flag_rd).toBe(true);
    const axfr = (await client.ask('example.com', 'AXFR')).r;
    expect(axfr.rcode).toBe('NOTIMP');
  });

  it('ignores runts and responses', async () => {
    const before = target.stats().dropped;
    const response = queryBytes('www.example.com', 'A', { id: 5 });
    response[2] = response[2]! | 0x80;
    client.socket.send(Buffer.from([1, 2, 3]), target.port, '127.0.0.1');
    client.socket.send(response, target.port, '127.0.0.1');
    const { r } = await client.ask('www.example.com', 'A', { id: 6 }); // the next datagram is this answer
    expect(r.id).toBe(6);
    expect(target.stats().dropped - before).toBe(2);
  });
});

describe('dns target: EDNS0 and truncation', () => {
  it('answers OPT with OPT, echoing DO', async () => {
    const { r } = await client.ask('www.example.com', 'A', { edns: { size: 4096 } });
    const opt = rrs(r.additionals);
    expect(opt).toHaveLength(1);
    expect(opt[0]).toMatchObject({ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flag_do: false });
    const signed = (await client.ask('nope.example.com', 'A', { edns: { size: 4096, do: true } })).r;
    expect(signed.rcode).toBe('NXDOMAIN');
    expect(rrs(signed.additionals)).toEqual([expect.objectContaining({ type: 'OPT', flag_do: true })]);
    const none = (await client.ask('www.example.com', 'A')).r;
    expect(none.additionals).toEqual([]);
  });

  it('BADVERS for EDNS versions above 0', async () => {
    const { r } = await client.ask('www.example.com', 'A', { edns: { size: 4096, version: 1 } });
    expect(r.rcode).toBe('NOERROR'); // low 4 bits; BADVERS = 16 lives in the OPT
    expect(r.answers).toEqual([]);
    expect(rrs(r.additionals)).toEqual([expect.objectContaining({ type: 'OPT', extendedRcode: 1, ednsVersion: 0 })]);
  });

  it('sets TC when the answer exceeds 512 bytes or the EDNS size', async () => {
    const plain = await client.ask('big.example.com', 'TXT');
    expect(plain.r.flag_tc).toBe(true);
    expect(plain.r.flag_aa).toBe(true);
    expect(plain.r.answers).toEqual([]);
    expect(plain.r.questions).toEqual([{ name: 'big.example.com', type: 'TXT', class: 'IN' }]);
    expect(plain.raw.length).toBeLessThanOrEqual(512);

    const edns = await client.ask('big.example.com', 'TXT', { edns: { size: 4096 } });
    expect(edns.r.flag_tc).toBe(false);
    expect(rrs(edns.r.answers)).toHaveLength(12);
    expect(edns.raw.length).toBeGreaterThan(512);

    const small = await client.ask('big.example.com', 'TXT', { edns: { size: 700 } });
    expect(small.r.flag_tc).toBe(true);
    expect(rrs(small.r.additionals)).toEqual([expect.objectContaining({ type: 'OPT' })]);

    // Beyond what the server sends over UDP (1232) whatever the client offers.
    const huge = await client.ask('huge.example.com', 'TXT', { edns: { size: 4096 } });
    expect(huge.r.flag_tc).toBe(true);
    expect(huge.r.answers).toEqual([]);
  });

  it('drops additional data to fit before resorting to TC', async () => {
    const plain = await client.ask('mxbig.example.com', 'MX');
    expect(plain.r.flag_tc).toBe(false);
    expect(rrs(plain.r.answers)).toHaveLength(8);
    expect(plain.r.additionals).toEqual([]);
    const edns = await client.ask('mxbig.example.com', 'MX', { edns: { size: 1232 } });
    expect(edns.r.flag_tc).toBe(false);
    expect(rrs(edns.r.additionals).filter((a) => a.type !== 'OPT')).toHaveLength(16);
    expect(edns.raw.length).toBeGreaterThan(512);
  });
});

describe('dns target: cache and lifecycle', () => {
  it('keeps the cache bounded under random names and still answers right', async () => {
    const small = await startDnsTarget({ zones: [zone], cacheEntries: 10 });
    const c = new Client(small.port);
    try {
      for (let i = 0; i < 60; i++) {
        const { r } = await c.ask(`r${i}-${Math.random().toString(36).slice(2)}.example.com`, 'A');
        expect(r.rcode).toBe('NXDOMAIN');
        const w = (await c.ask(`n${i}.wild.example.com`, 'A')).r;
        expect(rrs(w.answers)[0]).toMatchObject({ name: `n${i}.wild.example.com`, data: '192.0.2.99' });
        expect(small.stats().cached).toBeLessThanOrEqual(20);
      }
      const www = (await c.ask('www.example.com', 'A')).r;
      expect(rrs(www.answers).map((a) => a.data)).toEqual(['192.0.2.1', '192.0.2.2']);
      expect(small.stats().cacheMisses).toBe(121);
    } finally {
      c.close();
      await small.close();
    }
  });

  it('accepts zones built by hand (raw rdata for unknown types)', async () => {
    const hand: Zone = {
      origin: 'example.org',
      file: '<hand>',
      records: [
        { name: 'example.org', type: 'SOA', class: 'IN', ttl: 100, data: { mname: 'ns.example.org', rname: 'h.example.org', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 50 } },
        { name: 'x.example.org', type: 'TYPE65280', class: 'IN', ttl: 10, data: Buffer.from([1, 2, 3]) },
      ],
    };
    const t = await startDnsTarget({ zones: [hand] });
    const c = new Client(t.port);
    try {
      const raw = await c.exchange(queryBytes('x.example.org', 'UNKNOWN_65280'));
      const r = dnsPacket.decode(raw) as Reply;
      expect(rrs(r.answers)).toEqual([expect.objectContaining({ name: 'x.example.org', type: 'UNKNOWN_65280', ttl: 10, data: Buffer.from([1, 2, 3]) })]);
      const nx = (await c.ask('y.example.org', 'A')).r;
      expect(soaOf(nx)).toMatchObject({ ttl: 50 });
    } finally {
      c.close();
      await t.close();
    }
  });

  it('NSEC3 owners make no empty non-terminals (RFC 5155 §7.2.8), and a DNAME substitution too long for a name is YXDOMAIN', async () => {
    const text = `$TTL 300
@ SOA ns1 hostmaster 1 2 3 4 60
@ NS ns1
ns1 A 192.0.2.1
h.deep NSEC3 1 0 0 - 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A
e.deep A 192.0.2.2
x.only NSEC3 1 0 0 - 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A
${'l'.repeat(60)}.${'l'.repeat(60)} DNAME ${'t'.repeat(60)}.${'t'.repeat(60)}.${'t'.repeat(60)}.${'t'.repeat(50)}.example.net.
`;
    const t = await startDnsTarget({ zones: [parseZone(text, { origin: 'example.com' })] });
    const c = new Client(t.port);
    try {
      // 'only' exists only as the parent of an NSEC3 owner: it is not a name of the zone.
      expect((await c.ask('only.example.com', 'A')).r.rcode).toBe('NXDOMAIN');
      expect((await c.ask('x.only.example.com', 'NSEC3')).r.rcode).toBe('NXDOMAIN');
      // 'deep' is an empty non-terminal because of e.deep, whatever h.deep is.
      const ent = (await c.ask('deep.example.com', 'A')).r;
      expect(ent.rcode).toBe('NOERROR');
      expect(ent.answers).toEqual([]);
      expect((await c.ask('h.deep.example.com', 'A')).r.rcode).toBe('NXDOMAIN');
      const long = (await c.ask(`${'q'.repeat(60)}.${'l'.repeat(60)}.${'l'.repeat(60)}.example.com`, 'A')).r;
      expect(long.rcode).toBe('YXDOMAIN');
      expect(rrs(long.answers).map((a) => a.type)).toEqual(['DNAME']);
    } finally {
      c.close();
      await t.close();
    }
  });

  it('refuses to start without an SOA, or on a port in use', async () => {
    const noSoa: Zone = { origin: 'example.org', file: '<hand>', records: [{ name: 'a.example.org', type: 'A', class: 'IN', ttl: 1, data: '192.0.2.1' }] };
    await expect(startDnsTarget({ zones: [noSoa] })).rejects.toBeInstanceOf(ServerStartError);
    await expect(startDnsTarget({ zones: [zone], port: target.port })).rejects.toBeInstanceOf(ServerStartError);
  });
});
