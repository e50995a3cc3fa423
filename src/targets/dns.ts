/**
 * Built-in authoritative DNS server over UDP, TCP and TLS (the DNS side of
 * the testbed; the stream listeners are in dns-stream.ts).
 *
 * Answers follow RFC 1034 §4.3.2: exact match, CNAME chains inside the zone,
 * referrals below zone cuts with glue, wildcard synthesis (RFC 4592), negative
 * answers with the SOA (RFC 2308), EDNS0 (RFC 6891) and truncation. Where the
 * RFCs leave room, it answers as NSD 4.6 does (test/targets/dns-nsd.test.ts compares
 * the two): DNAME (RFC 6672) gives the DNAME, a CNAME synthesised with the
 * DNAME's TTL, then the target's records if it is in the zone; NSEC3 records
 * and the RRSIGs over them are not part of the name tree (RFC 5155 §7.2.8),
 * so their owners are NXDOMAIN unless other records are there, and make no
 * empty non-terminals; a record the zone file gave no TTL, with no $TTL in
 * force, has NSD's default TTL of 3600 (BIND would use the SOA MINIMUM).
 *
 * Speed: an answer is computed and encoded once per (lowercased qname, qtype,
 * qclass, EDNS, DO) and cached as wire bytes. A query is parsed by hand from
 * the datagram; a cache hit copies the bytes, patches the ID, RD/CD bits and
 * the question's case, and sends. The cache is two generations of bounded size
 * (the young one becomes the old one when full; hits in the old one are
 * promoted), so wildcard and random-label NXDOMAIN floods cannot grow it.
 *
 * Choices: QTYPE ANY returns every RRset at the name (no RFC 8482 minimal
 * answer). Positive answers carry no NS in authority (BIND's minimal-responses).
 * Additional section: A/AAAA of in-zone NS/MX/SRV targets. With DO, RRSIGs
 * present in the zone are added for each RRset returned; NSEC/NSEC3 denial
 * proofs are not synthesised. AXFR/IXFR/MAILA/MAILB get NOTIMP.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Answer } from 'dns-packet';
import { dnsPacket } from '../protocols/dns/packet.js';
import type { Zone, ZoneRecord } from '../protocols/dns/zone/index.js';
import { classCode, FORMERR, NOERROR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL, typeCode } from '../protocols/dns/types.js';
import { labelOffsets, MessageWriter, nameToWire, skipName, wireKey as keyOf } from '../protocols/dns/wire.js';
import { formatEndpoint } from '../util/endpoint.js';
import { ServerStartError } from '../errors.js';
import { listenDnsStream, type StreamListener } from './dns-stream.js';

export interface DnsTargetOptions {
  zones: Zone[];
  /** Address to bind; default (and for ''): 127.0.0.1, so nothing is reachable from the network unless asked for. */
  host?: string;
  /** UDP port; default 0 (any free port). */
  port?: number;
  /** Answers cached per generation (two generations are kept); default 20,000. */
  cacheEntries?: number;
  /** Also answer over TCP on the UDP port (RFC 7766); default true. */
  tcp?: boolean;
  /** Also answer over TLS (RFC 7858) with this PEM certificate and key, on `port` (default 853) of `host` (default: the UDP host). */
  tls?: { cert: string; key: string; host?: string; port?: number };
  /** TCP and TLS: close a connection idle this long; default 30 s. */
  idleTimeoutMs?: number;
}

export interface DnsTargetStats {
  /** Datagrams received. */
  queries: number;
  /** Datagrams sent. */
  responses: number;
  /** Datagrams ignored (shorter than a header, or responses). */
  dropped: number;
  cacheHits: number;
  cacheMisses: number;
  /** Answers currently cached (both generations). */
  cached: number;
}

export interface DnsTarget {
  host: string;
  /** The UDP port, and the TCP port unless `tcp: false`. */
  port: number;
  /** The TLS port, when serving TLS. */
  tlsPort?: number;
  /** host:port */
  address: string;
  stats(): DnsTargetStats;
  close(): Promise<void>;
}

/** Largest UDP answer we send and the size we advertise in OPT (DNS flag day 2020). */
export const SERVER_UDP_SIZE = 1232;

const T_NS = 2;
const T_CNAME = 5;
const T_SOA = 6;
const T_PTR = 12;
const T_MX = 15;
const T_AAAA = 28;
const T_A = 1;
const T_SRV = 33;
const T_TXT = 16;
const T_RP = 17;
const T_DNAME = 39;
const T_NSEC3 = 50;
const T_OPT = 41;
/** NSD's TTL for a record with none and no $TTL (its DEFAULT_TTL). */
const NSD_DEFAULT_TTL = 3600;
const YXDOMAIN = 6;
const T_DS = 43;
const T_RRSIG = 46;
const T_IXFR = 251;
const T_AXFR = 252;
const T_MAILB = 253;
const T_MAILA = 254;
const T_ANY = 255;
const C_ANY = 255;

// ---------------------------------------------------------------------------
// Zone data

interface Rdata {
  ttl: number;
  /** Uncompressed wire rdata. */
  wire: Buffer;
  /** Offsets in `wire` of domain names that may be compressed (RFC 1035 types only, RFC 3597 §4). */
  names: number[] | null;
}

interface RRset {
  type: number;
  cls: number;
  rrs: Rdata[];
}

interface ZNode {
  /** Owner name as written in the zone (its case is what answers show). */
  wire: Buffer;
  rrsets: Map<number, RRset>;
  /** RRSIGs at this name by the type they cover (for DO answers). */
  sigs: Map<number, RRset> | null;
  /** NS here and not the apex: a delegation. */
  cut: boolean;
}

interface ZoneDb {
  key: string;
  cls: number;
  labels: number;
  apex: ZNode;
  soa: RRset;
  /** TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §3). */
  negTtl: number;
  /** Every name, empty non-terminals included, by lowercased wire name (latin1). */
  nodes: Map<string, ZNode>;
}

/** The uncompressed name inside rdata at `off`. */
function rdataName(wire: Buffer, off: number): Buffer {
  const end = skipName(wire, off);
  return wire.subarray(off, end < 0 ? off : end);
}

function u16s(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}

function compressibleNames(type: number, wire: Buffer): number[] | null {
  switch (type) {
    case T_NS:
    case T_CNAME:
    case T_PTR:
      return [0];
    case T_MX:
      return [2];
    case T_SOA:
      return [0, skipName(wire, 0)];
    default:
      return null;
  }
}

/** A zone record's rdata on the wire, uncompressed (also what the zone printer writes in RFC 3597 form). */
export function encodeRdata(rec: ZoneRecord, type: number): Buffer {
  // Raw rdata (a type dns-packet has no codec for) is used as is; TXT is the
  // exception since dns-packet takes a Buffer as one character-string.
  if (Buffer.isBuffer(rec.data) && type !== T_TXT) return rec.data;
  // Names in rdata: our encoder honours `\.` escapes, dns-packet's splits on every dot.
  const d = rec.data as Record<string, unknown>;
  switch (type) {
    case T_NS:
    case T_CNAME:
    case T_PTR:
    case T_DNAME:
      if (typeof rec.data === 'string') return nameToWire(rec.data);
      break;
    case T_MX:
      if (typeof d.exchange === 'string') return Buffer.concat([u16s(Number(d.preference ?? 0)), nameToWire(d.exchange)]);
      break;
    case T_SRV:
      if (typeof d.target === 'string') {
        const head = Buffer.concat([u16s(Number(d.priority ?? 0)), u16s(Number(d.weight ?? 0)), u16s(Number(d.port ?? 0))]);
        return Buffer.concat([head, nameToWire(d.target)]);
      }
      break;    case T_RP:
      if (typeof d.mbox === 'string' && typeof d.txt === 'string') return Buffer.concat([nameToWire(d.mbox), nameToWire(d.txt)]);
      break;
    case T_SOA:
      if (typeof d.mname === 'string' && typeof d.rname === 'string') {
        const times = Buffer.alloc(20);
        ['serial', 'refresh', 'retry', 'expire', 'minimum'].forEach((k, i) => times.writeUInt32BE(Number(d[k] ?? 0) >>> 0, i * 4));
        return Buffer.concat([nameToWire(d.mname), nameToWire(d.rname), times]);
      }
      break;
  }
  // The other names dns-packet writes (NSEC, RRSIG, NAPTR) are encoded
  // with the root in their place and spliced in here.
  const spliced = NAME_FIELD[type];
  if (spliced !== undefined && typeof d[spliced.field] === 'string' && (d[spliced.field] as string).includes('\\')) {
    const rdata = packetRdata(rec, { ...d, [spliced.field]: '.' });
    const at = spliced.at < 0 ? rdata.length - 1 : spliced.at;
    return Buffer.concat([rdata.subarray(0, at), nameToWire(d[spliced.field] as string), rdata.subarray(at + 1)]);
  }
  return packetRdata(rec, rec.data);
}

/** Where the root stands in dns-packet's rdata when the name field is '.' (-1: the last byte). */
const NAME_FIELD: Record<number, { field: string; at: number }> = {
  47: { field: 'nextDomain', at: 0 }, // NSEC
  [T_RRSIG]: { field: 'signersName', at: 18 },
  35: { field: 'replacement', at: -1 }, // NAPTR
};

function packetRdata(rec: ZoneRecord, value: unknown): Buffer {
  // Copy arrays: dns-packet's TXT encoder rewrites the array it is given.
  const data = Array.isArray(value) ? [...(value as unknown[])] : value;
  const msg = dnsPacket().encode({
    type: 'response',
    answers: [{ name: '.', type: rec.type, class: 'IN', ttl: 0, data } as unknown as Answer],
  });
  // header 12 + root 1 + type 2 + class 2 + ttl 4 + rdlength 2
  const rdata = Buffer.from(msg.subarray(23));
  if (rdata.length !== msg.readUInt16BE(21)) throw new Error('rdata length mismatch');
  return rdata;
}

function fail(reason: string): never {
  throw new Error(reason);
}

function compileZone(zone: Zone): ZoneDb {
  const where = (rec: ZoneRecord): string => `${zone.file}: ${rec.name} ${rec.type}`;
  let originWire: Buffer;
  try {
    originWire = nameToWire(zone.origin);
  } catch (error) {
    throw new ServerStartError(`${zone.file}: bad origin '${zone.origin}': ${(error as Error).message}`);
  }
  const zkey = keyOf(originWire);
  const zlabels = labelOffsets(zkey).length;
  const nodes = new Map<string, ZNode>();
  const nodeFor = (wire: Buffer, key: string): ZNode => {
    let node = nodes.get(key);
    if (node === undefined) {
      node = { wire, rrsets: new Map(), sigs: null, cut: false };
      nodes.set(key, node);
    }
    return node;
  };
  for (const rec of zone.records) {
    let wire: Buffer;
    let type: number;
    let cls: number;
    let rdata: Buffer;
    try {
      wire = nameToWire(rec.name);
      type = rec.typeCode ?? typeCode(rec.type) ?? fail(`unknown type ${rec.type}`);
      cls = classCode(rec.class ?? 'IN') ?? fail(`unknown class ${rec.class}`);
      rdata = encodeRdata(rec, type);
    } catch (error) {
      throw new ServerStartError(`${where(rec)}: ${(error as Error).message}`, { cause: error });
    }
    const key = keyOf(wire);
    if (!key.endsWith(zkey) || !labelOffsets(key).includes(key.length - zkey.length)) continue; // out of zone: ignored
    // NSEC3 chains are kept apart from the name tree; without denial proofs
    // to synthesise, nothing here reads them.
    if (type === T_NSEC3 || (type === T_RRSIG && rdata.length >= 2 && rdata.readUInt16BE(0) === T_NSEC3)) continue;
    const node = nodeFor(wire, key);
    const rr: Rdata = { ttl: rec.ttlImplicit ? NSD_DEFAULT_TTL : rec.ttl >>> 0, wire: rdata, names: compressibleNames(type, rdata) };
    let set = node.rrsets.get(type);
    if (set === undefined) {
      set = { type, cls, rrs: [] };
      node.rrsets.set(type, set);
    }
    set.rrs.push(rr);
    if (type === T_RRSIG && rdata.length >= 2) {
      const covered = rdata.readUInt16BE(0);
      node.sigs ??= new Map();
      let sigs = node.sigs.get(covered);
      if (sigs === undefined) {
        sigs = { type: T_RRSIG, cls, rrs: [] };
        node.sigs.set(covered, sigs);
      }
      sigs.rrs.push(rr);
    }
    // Empty non-terminals: every ancestor up to the apex exists as a name.
    const offs = labelOffsets(key);
    for (let i = 1; i < offs.length - zlabels; i++) nodeFor(wire.subarray(offs[i]), key.slice(offs[i]));
  }
  const apex = nodes.get(zkey);
  const soa = apex?.rrsets.get(T_SOA);
  if (apex === undefined || soa === undefined || soa.rrs.length !== 1) {
    throw new ServerStartError(`${zone.file}: zone '${zone.origin}' needs exactly one SOA record at its apex`);
  }
  const soaRr = soa.rrs[0]!;
  const minimum = soaRr.wire.length >= 4 ? soaRr.wire.readUInt32BE(soaRr.wire.length - 4) : 0;
  for (const [k, node] of nodes) node.cut = k !== zkey && node.rrsets.has(T_NS);
  return { key: zkey, cls: soa.cls, labels: zlabels, apex, soa, negTtl: Math.min(soaRr.ttl, minimum), nodes };
}

// ---------------------------------------------------------------------------
// Answer computation (cache misses only)

interface Section {
  owner: Buffer;
  set: RRset;
  /** TTL override (negative-answer SOA). */
  ttl?: number;
}

interface Plan {
  rcode: number;
  aa: boolean;
  answer: Section[];
  authority: Section[];
  additional: Section[];
  /** Referral glue is required: it may not be dropped to fit (RFC 9471). */
  referral: boolean;
}

function emptyPlan(rcode: number): Plan {
  return { rcode, aa: false, answer: [], authority: [], additional: [], referral: false };
}

class Database {
  private readonly zones = new Map<string, ZoneDb>();
  constructor(zones: Zone[]) {
    for (const z of zones) {
      const db = compileZone(z);
      if (this.zones.has(db.key)) throw new ServerStartError(`zone '${z.origin}' is loaded twice`);
      this.zones.set(db.key, db);
    }
  }

  /** The zone with the longest origin that is a suffix of `key`. */
  zoneOf(key: string, offs: number[]): ZoneDb | undefined {
    for (const off of offs) {
      const z = this.zones.get(off === 0 ? key : key.slice(off));
      if (z !== undefined) return z;
    }
    return undefined;
  }

  /**
   * RFC 1034 §4.3.2 for one question. `qwire` is the query's name (its owner
   * in the answer is written as a pointer to the question, so it shows the query's case).
   */
  answer(qwire: Buffer, qtype: number, qclass: number, dnssec: boolean): Plan {
    if (qtype === T_OPT) return emptyPlan(FORMERR);
    if (qtype === T_AXFR || qtype === T_IXFR || qtype === T_MAILA || qtype === T_MAILB) return emptyPlan(NOTIMP);
    const qkey = keyOf(qwire);
    const zone = this.zoneOf(qkey, labelOffsets(qkey));
    if (zone === undefined || (qclass !== zone.cls && qclass !== C_ANY)) return emptyPlan(REFUSED);
    const plan: Plan = { rcode: NOERROR, aa: true, answer: [], authority: [], additional: [], referral: false };
    const add = (list: Section[], owner: Buffer, node: ZNode, set: RRset): void => {
      list.push({ owner, set });
      const sigs = dnssec ? node.sigs?.get(set.type) : undefined;
      if (sigs !== undefined) list.push({ owner, set: sigs });
    };
    const negative = (): void => {
      plan.authority.push({ owner: zone.apex.wire, set: zone.soa, ttl: zone.negTtl });
      const sigs = dnssec ? zone.apex.sigs?.get(T_SOA) : undefined;
      if (sigs !== undefined) plan.authority.push({ owner: zone.apex.wire, set: sigs, ttl: zone.negTtl });
    };
    const seen = new Set<string>();
    let owner = qwire;
    let key = qkey;
    for (;;) {
      seen.add(key);
      const found = this.find(zone, key, qtype);
      if (found.kind === 'nx') {
        plan.rcode = NXDOMAIN; // RFC 6604: the RCODE is that of the last name in the chain
        negative();
        return plan;
      }
      if (found.kind === 'referral') {
        const cut = found.node;
        if (plan.answer.length === 0) plan.aa = false;
        plan.referral = true;
        const ns = cut.rrsets.get(T_NS)!;
        plan.authority.push({ owner: cut.wire, set: ns });
        const ds = dnssec ? cut.rrsets.get(T_DS) : undefined;
        if (ds !== undefined) add(plan.authority, cut.wire, cut, ds);
        this.addTargets(zone, plan, ns, 0, dnssec);
        return plan;
      }
      if (found.kind === 'dname') {
        const dname = found.node.rrsets.get(T_DNAME)!;
        add(plan.answer, found.node.wire, found.node, dname);
        const rr = dname.rrs[0]!;
        const target = Buffer.concat([owner.subarray(0, found.prefix), rdataName(rr.wire, 0)]);
        if (target.length > 255) {
          plan.rcode = YXDOMAIN; // RFC 6672 §2.2: the substitution does not fit in a name
          return plan;
        }
        const cname: RRset = { type: T_CNAME, cls: dname.cls, rrs: [{ ttl: rr.ttl, wire: target, names: [0] }] };
        plan.answer.push({ owner, set: cname });
        const tkey = keyOf(target);
        if (seen.has(tkey) || this.zoneOf(tkey, labelOffsets(tkey)) !== zone) return plan;
        owner = target;
        key = tkey;
        continue;
      }
      const node = found.node;
      // A wildcard's records are synthesised with the name being looked up as owner.
      const at = found.kind === 'wildcard' ? owner : node.wire;
      if (qtype === T_ANY) {
        for (const set of node.rrsets.values()) plan.answer.push({ owner: at, set });
        if (node.rrsets.size === 0) negative();
        return plan;
      }
      const set = node.rrsets.get(qtype);
      if (set !== undefined) {
        add(plan.answer, at, node, set);
        if (qtype === T_NS) this.addTargets(zone, plan, set, 0, dnssec);
        else if (qtype === T_MX) this.addTargets(zone, plan, set, 2, dnssec);
        else if (qtype === T_SRV) this.addTargets(zone, plan, set, 6, dnssec);
        return plan;
      }
      const cname = node.rrsets.get(T_CNAME);
      if (cname === undefined) {
        negative(); // NODATA (empty non-terminals included)
        return plan;
      }
      add(plan.answer, at, node, cname);
      const target = rdataName(cname.rrs[0]!.wire, 0);
      const tkey = keyOf(target);
      // Follow only inside this zone, and never around a loop.
      if (seen.has(tkey) || this.zoneOf(tkey, labelOffsets(tkey)) !== zone) return plan;
      owner = target;
      key = tkey;
    }
  }

  private find(
    zone: ZoneDb,
    key: string,
    qtype: number,
  ): { kind: 'node' | 'wildcard' | 'referral'; node: ZNode } | { kind: 'dname'; node: ZNode; prefix: number } | { kind: 'nx' } {
    const offs = labelOffsets(key);
    // offs[offs.length - zone.labels] is the apex; walk down from just below it.
    let encloser = zone.apex;
    let encloserKey = zone.key;
    for (let i = offs.length - zone.labels - 1; i >= 0; i--) {
      // A DNAME redirects every name below its owner (RFC 6672 §2.3); `prefix` is the length of the labels above it.
      if (encloser.rrsets.has(T_DNAME)) return { kind: 'dname', node: encloser, prefix: offs[i + 1]! };
      const sub = i === 0 ? key : key.slice(offs[i]);
      const node = zone.nodes.get(sub);
      if (node === undefined) {
        // RFC 4592: the source of synthesis is '*' under the closest encloser.
        const wild = zone.nodes.get(`\x01*${encloserKey}`);
        return wild === undefined ? { kind: 'nx' } : { kind: 'wildcard', node: wild };
      }
      // DS lives on the parent side of a cut (RFC 4035 §3.1.4.1).
      if (node.cut && !(i === 0 && qtype === T_DS)) return { kind: 'referral', node };
      encloser = node;
      encloserKey = sub;
    }
    return { kind: 'node', node: encloser };
  }

  /** Additional-section A/AAAA for names in `set`'s rdata at `off` that this zone holds (glue included). */
  private addTargets(zone: ZoneDb, plan: Plan, set: RRset, off: number, dnssec: boolean): void {
    const done = new Set<string>();
    for (const rr of set.rrs) {
      if (rr.wire.length <= off) continue;
      const target = rdataName(rr.wire, off);
      const tkey = keyOf(target);
      if (done.has(tkey)) continue;
      done.add(tkey);
      const node = zone.nodes.get(tkey);
      if (node === undefined) continue;
      for (const t of [T_A, T_AAAA]) {
        const s = node.rrsets.get(t);
        if (s === undefined) continue;
        plan.additional.push({ owner: node.wire, set: s });
        const sigs = dnssec ? node.sigs?.get(t) : undefined;
        if (sigs !== undefined) plan.additional.push({ owner: node.wire, set: sigs });
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Message encoding (cache misses only)

/** Write every RR of `set` (with `ttl` instead of each RR's own, if given); returns how many. */
function writeSet(w: MessageWriter, owner: Buffer, set: RRset, ttl: number | undefined): number {
  for (const rr of set.rrs) w.rr(owner, set.type, set.cls, ttl ?? rr.ttl, rr.wire, rr.names);
  return set.rrs.length;
}

interface Edns {
  on: boolean;
  dnssec: boolean;
  /** Extended RCODE bits (RFC 6891): 1 = BADVERS. */
  extRcode: number;
}

/**
 * Encode a whole answer. `question` is the query's question section (name +
 * type + class). Sections: answer/authority always; additional if asked.
 */
function encodeAnswer(w: MessageWriter, question: Buffer, plan: Plan, edns: Edns, additional: boolean, tc: boolean): Buffer {
  w.reset();
  w.header(0, 0x8000 | (plan.aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) | (plan.rcode & 0x0f)); // ID: patched per query
  w.name(question);
  w.bytes(question, question.length - 4);
  let an = 0;
  let ns = 0;
  let ar = 0;
  if (!tc) {
    for (const s of plan.answer) an += writeSet(w, s.owner, s.set, s.ttl);
    for (const s of plan.authority) ns += writeSet(w, s.owner, s.set, s.ttl);
    if (additional) for (const s of plan.additional) ar += writeSet(w, s.owner, s.set, s.ttl);
  }
  if (edns.on) {
    w.bytes(OPT_HEAD);
    w.u16(SERVER_UDP_SIZE);
    w.u32((edns.extRcode << 24) | (edns.dnssec ? 0x8000 : 0)); // version 0, DO echoed (RFC 3225)
    w.u16(0);
    ar++;
  }
  w.counts(1, an, ns, ar);
  return w.done();
}
const OPT_HEAD = Buffer.from([0, 0, T_OPT]);

// ---------------------------------------------------------------------------
// Cache

interface Entry {
  hash: number;
  /** Lowercased qname wire + qtype + qclass + flags byte. */
  key: Buffer;
  /** Whole answer; without additional data (if that differs); truncated (TC, question and OPT only). */
  full: Buffer;
  lean: Buffer | null;
  truncated: Buffer | null;
  next: Entry | null;
}

const FLAG_EDNS = 1;
const FLAG_DO = 2;

// ---------------------------------------------------------------------------
// Server

export async function startDnsTarget(o: DnsTargetOptions): Promise<DnsTarget> {
  const db = new Database(o.zones);
  // '' would bind every address: the same as no host, loopback.
  const host = o.host === undefined || o.host === '' ? '127.0.0.1' : o.host;
  const capacity = Math.max(1, Math.floor(o.cacheEntries ?? 20_000));
  const writer = new MessageWriter();

  let young = new Map<number, Entry>();
  let youngCount = 0;
  let old = new Map<number, Entry>();
  let oldCount = 0;

  const stats = { queries: 0, responses: 0, dropped: 0, cacheHits: 0, cacheMisses: 0 };

  // Fields of the query being handled (one at a time: no allocation to return them).
  let qEnd = 0; // end of the question section
  let qHash = 0;
  let qFlags = 0;
  let udpLimit = 512;
  let ednsVersion = 0;

  /** Parse the question and OPT; returns an RCODE (NOERROR = fine). */
  function parse(msg: Buffer): number {
    const n = msg.length;
    if (((msg[4]! << 8) | msg[5]!) !== 1) return FORMERR;
    // A QUERY carries no answer or authority records (as NSD insists).
    if (msg[6] !== 0 || msg[7] !== 0 || msg[8] !== 0 || msg[9] !== 0) return FORMERR;
    let h = 0x811c9dc5;
    let i = 12;
    for (;;) {
      if (i >= n) return FORMERR;
      const len = msg[i]!;
      if (len > 63) return FORMERR; // compression pointers cannot occur in the question
      h = Math.imul(h ^ len, 0x01000193);
      i++;
      if (len === 0) break;
      if (i + len > n || i + len - 12 > 254) return FORMERR;
      for (const end = i + len; i < end; i++) {
        const b = msg[i]!;
        h = Math.imul(h ^ (b >= 0x41 && b <= 0x5a ? b | 0x20 : b), 0x01000193);
      }
    }
    if (i + 4 > n) return FORMERR;
    for (const end = i + 4; i < end; i++) h = Math.imul(h ^ msg[i]!, 0x01000193);
    qEnd = i;
    qFlags = 0;
    udpLimit = 512;
    ednsVersion = 0;
    let ar = (msg[10]! << 8) | msg[11]!;
    while (ar-- > 0) {
      const nameEnd = skipName(msg, i);
      if (nameEnd < 0 || nameEnd + 10 > n) return FORMERR;
      const rdEnd = nameEnd + 10 + ((msg[nameEnd + 8]! << 8) | msg[nameEnd + 9]!);
      if (rdEnd > n) return FORMERR;
      if (msg[nameEnd] === 0 && msg[nameEnd + 1] === T_OPT) {
        // One OPT, owned by the root (RFC 6891 §6.1.1).
        if ((qFlags & FLAG_EDNS) !== 0 || nameEnd !== i + 1) return FORMERR;
        qFlags |= FLAG_EDNS | ((msg[nameEnd + 6]! & 0x80) !== 0 ? FLAG_DO : 0);
        const size = (msg[nameEnd + 2]! << 8) | msg[nameEnd + 3]!;
        udpLimit = Math.min(SERVER_UDP_SIZE, Math.max(512, size));
        ednsVersion = msg[nameEnd + 5]!;
      }
      i = rdEnd; // other additional records (TSIG…) are ignored
    }
    if (i !== n) return FORMERR; // trailing garbage
    qHash = Math.imul(h ^ qFlags, 0x01000193) & 0x3fffffff;
    return NOERROR;
  }

  function sameKey(e: Entry, msg: Buffer): boolean {
    const k = e.key;
    const qlen = qEnd - 12;
    if (k.length !== qlen + 1 || k[qlen] !== qFlags) return false;
    const nameLen = qlen - 4;
    for (let j = 0; j < qlen; j++) {
      let b = msg[12 + j]!;
      if (j < nameLen && b >= 0x41 && b <= 0x5a) b |= 0x20;
      if (b !== k[j]) return false;
    }
    return true;
  }

  function lookup(map: Map<number, Entry>, msg: Buffer): Entry | null {
    let e = map.get(qHash) ?? null;
    while (e !== null && !sameKey(e, msg)) e = e.next;
    return e;
  }

  function insert(e: Entry): void {
    if (youngCount >= capacity) {
      old = young;
      oldCount = youngCount;
      young = new Map();
      youngCount = 0;
    }
    e.next = young.get(e.hash) ?? null;
    young.set(e.hash, e);
    youngCount++;
  }

  function build(msg: Buffer): Entry {
    const question = Buffer.from(msg.subarray(12, qEnd));
    const key = Buffer.alloc(question.length + 1);
    for (let j = 0; j < question.length; j++) {
      const b = question[j]!;
      key[j] = j < question.length - 4 && b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
    }
    key[question.length] = qFlags;
    const qname = question.subarray(0, question.length - 4);
    const qtype = question.readUInt16BE(question.length - 4);
    const qclass = question.readUInt16BE(question.length - 2);
    const edns: Edns = { on: (qFlags & FLAG_EDNS) !== 0, dnssec: (qFlags & FLAG_DO) !== 0, extRcode: 0 };
    let plan: Plan;
    try {
      plan = db.answer(qname, qtype, qclass, edns.dnssec);
    } catch {
      plan = emptyPlan(SERVFAIL);
    }
    let full: Buffer;
    try {
      full = encodeAnswer(writer, question, plan, edns, true, false);
    } catch {
      plan = emptyPlan(SERVFAIL); // an RRset beyond 64 KB
      full = encodeAnswer(writer, question, plan, edns, true, false);
    }
    let lean: Buffer | null = null;
    let truncated: Buffer | null = null;
    if (full.length > 512) {
      // Additional data may be left out to fit, without TC (RFC 2181 §9), except referral glue.
      if (plan.additional.length > 0 && !plan.referral) lean = encodeAnswer(writer, question, plan, edns, false, false);
      truncated = encodeAnswer(writer, question, plan, edns, false, true);
    }
    return { hash: qHash, key, full, lean, truncated, next: null };
  }

  /** Header-only error reply (FORMERR, NOTIMP): the question may be unparsable. */
  function errorReply(msg: Buffer, rcode: number): Buffer {
    const out = Buffer.alloc(12);
    out[0] = msg[0]!;
    out[1] = msg[1]!;
    out[2] = 0x80 | (msg[2]! & 0x79); // QR, opcode and RD echoed
    out[3] = rcode;
    return out;
  }

  function badVersion(msg: Buffer): Buffer {
    const question = msg.subarray(12, qEnd);
    const plan = emptyPlan(NOERROR);
    const out = encodeAnswer(writer, question, plan, { on: true, dnssec: (qFlags & FLAG_DO) !== 0, extRcode: 1 }, false, false);
    out[0] = msg[0]!;
    out[1] = msg[1]!;
    out[2] = (out[2]! & 0xfe) | (msg[2]! & 0x01);
    return out;
  }

  let socket: Socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');

  /**
   * The reply to one query, in a buffer of its own, or null for none (a
   * response, a runt). Over a stream (TCP, TLS) an answer is never truncated.
   */
  function respond(msg: Buffer, stream: boolean): Buffer | null {
    stats.queries++;
    // Shorter than a header, or a response: never answer (no reply loops).
    if (msg.length < 12 || (msg[2]! & 0x80) !== 0) {
      stats.dropped++;
      return null;
    }
    stats.responses++;
    if ((msg[2]! & 0x78) !== 0) return errorReply(msg, NOTIMP); // opcode != QUERY
    const rc = parse(msg);
    if (rc !== NOERROR) return errorReply(msg, rc);
    if (ednsVersion !== 0) return badVersion(msg);
    let e = lookup(young, msg);
    if (e !== null) {
      stats.cacheHits++;
    } else {
      e = lookup(old, msg);
      if (e !== null) {
        stats.cacheHits++;
        // Promote a copy: the old generation's chain links must stay intact.
        e = { hash: e.hash, key: e.key, full: e.full, lean: e.lean, truncated: e.truncated, next: null };
      } else {
        stats.cacheMisses++;
        e = build(msg);
      }
      insert(e);
    }
    const limit = stream ? 65535 : udpLimit;
    const answer =
      e.full.length <= limit ? e.full : e.lean !== null && e.lean.length <= limit ? e.lean : e.truncated!;
    // A copy per query, because dgram may send after this function returns
    // (an unconnected send resolves the address on a later tick), so a shared
    // buffer patched for the next query could go out with the wrong ID. The
    // copy comes from Node's pool and costs about what Node's own send path does.
    const out = Buffer.allocUnsafe(answer.length);
    out.set(answer);
    out[0] = msg[0]!;
    out[1] = msg[1]!;
    out[2] = (out[2]! & 0xfe) | (msg[2]! & 0x01); // RD copied
    out[3] = (out[3]! & 0xef) | (msg[3]! & 0x10); // CD copied
    // The question as the client wrote it; answers owned by the query name point here.
    for (let j = 12; j < qEnd; j++) out[j] = msg[j]!;
    return out;
  }

  function onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const out = respond(msg, false);
    if (out !== null) socket.send(out, rinfo.port, rinfo.address);
  }

  const bindUdp = async (): Promise<number> => {
    socket.on('message', onMessage);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        socket.close();
        reject(new ServerStartError(`dns target: cannot bind ${formatEndpoint(host, o.port ?? 0)}: ${error.message}`, { cause: error }));
      };
      socket.once('error', onError);
      socket.bind(o.port ?? 0, host, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    // Errors after bind (a send refused by a firewall…) concern one datagram only.
    socket.on('error', () => {});
    try {
      socket.setRecvBufferSize(4 << 20);
      socket.setSendBufferSize(4 << 20);
    } catch {
      // keep the defaults
    }
    return socket.address().port;
  };
  const streamAnswer = (msg: Buffer): Buffer | null => respond(msg, true);
  const idle = o.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: o.idleTimeoutMs };
  let port = await bindUdp();
  const streams: StreamListener[] = [];
  // TCP serves on the UDP port's number. With port 0 the kernel chose a UDP
  // port whose TCP twin may be taken by another program: then choose again.
  for (let attempt = 1; ; attempt++) {
    try {
      if (o.tcp !== false) streams.push(await listenDnsStream({ host, port, answer: streamAnswer, ...idle }));
      break;
    } catch (error) {
      const taken = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
      if (!taken || (o.port ?? 0) !== 0 || attempt === 10) {
        socket.close();
        throw error;
      }
      socket.close();
      socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
      port = await bindUdp();
    }
  }
  try {
    if (o.tls !== undefined) {
      streams.push(await listenDnsStream({ host: o.tls.host === undefined || o.tls.host === '' ? host : o.tls.host, port: o.tls.port ?? 853, tls: o.tls, answer: streamAnswer, ...idle }));
    }
  } catch (error) {
    await Promise.all(streams.map((l) => l.close()));
    socket.close();
    throw error;
  }
  const tlsPort = o.tls === undefined ? undefined : streams[streams.length - 1]!.port;
  let closing: Promise<void> | null = null;
  return {
    host,
    port,
    ...(tlsPort === undefined ? {} : { tlsPort }),
    address: formatEndpoint(host, port),
    stats: () => ({ ...stats, cached: youngCount + oldCount }),
    close(): Promise<void> {
      closing ??= Promise.all([new Promise<void>((resolve) => socket.close(() => resolve())), ...streams.map((l) => l.close())]).then(() => {});
      return closing;
    },
  };
}
