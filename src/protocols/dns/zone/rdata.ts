/**
 * Rdata parsers, one per type or family of types, from presentation tokens
 * to dns-packet's rdata object (types it has a codec for) or to wire bytes.
 */
import type { Answer } from 'dns-packet';
import { dnsPacket } from '../packet.js';
import { rdataTypeName, type TypeInfo } from '../types.js';
import { CERT_TYPES, Fields } from './fields.js';
import { MORE_PARSERS } from './rdata-more.js';
import { splitName } from './names.js';
import { SVCB } from './svcb.js';
import { decodeBase32Hex, formatIPv6, parseIPv4, parseIPv6, typeBitmap, Wire } from './text.js';

export type Parser = (f: Fields) => unknown;

const nameOnly: Parser = (f: Fields) => {
  const v = f.name('domain name');
  f.end();
  return v;
};
const rawNameOnly: Parser = (f: Fields) => {
  const w = new Wire().name(f.labels('domain name'));
  f.end();
  return w.done();
};
const rawPrefName: Parser = (f: Fields) => {
  const w = new Wire().u16(f.int('preference', 0xffff)).name(f.labels('host name'));
  f.end();
  return w.done();
};
const rawTxt: Parser = (f: Fields) => {
  const w = new Wire();
  if (!f.more()) f.fail('missing text');
  while (f.more()) w.str(f.bytes('text'));
  return w.done();
};
/** Digest lengths BIND checks in DS and its kin: SHA-1, SHA-256, SHA-384 (RFC 3658, 4509, 6605). */
const DS_DIGEST_LENGTHS = new Map([[1, 20], [2, 32], [4, 48]]);

function dsFields(f: Fields): { keyTag: number; algorithm: number; digestType: number; digest: Buffer } {
  const keyTag = f.int('key tag', 0xffff);
  const algorithm = f.algorithm();
  const digestType = f.int('digest type', 255);
  const digest = f.hex('digest');
  const length = DS_DIGEST_LENGTHS.get(digestType);
  if (length !== undefined && digest.length !== length) f.fail(`digest type ${digestType} needs a ${length}-byte digest, not ${digest.length}`);
  return { keyTag, algorithm, digestType, digest };
}

const rawDsLike: Parser = (f: Fields) => {
  const ds = dsFields(f);
  return new Wire().u16(ds.keyTag).u8(ds.algorithm).u8(ds.digestType).bytes(ds.digest).done();
};
const rawKeyLike: Parser = (f: Fields) =>
  new Wire()
    .u16(f.int('flags', 0xffff))
    .u8(f.int('protocol', 255))
    .u8(f.algorithm())
    .bytes(f.base64('public key'))
    .done();
const rawBase64: Parser = (f) => f.base64('data');
const rawTlsaLike: Parser = (f: Fields) =>
  new Wire()
    .u8(f.int('usage', 255))
    .u8(f.int('selector', 255))
    .u8(f.int('matching type', 255))
    .bytes(f.hex('certificate data'))
    .done();
const rawSigLike: Parser = (f: Fields) =>
  new Wire()
    .u16(f.typeInfo('type covered').code)
    .u8(f.algorithm())
    .u8(f.int('labels', 255))
    .u32(f.time('original TTL', 0xffffffff))
    // SIG times are YYYYMMDDHHmmSS only: BIND reads the plain-seconds form in RRSIG alone.
    .u32(f.timestamp('expiration', false))
    .u32(f.timestamp('inception', false))
    .u16(f.int('key tag', 0xffff))
    .name(f.labels('signer name'))
    .bytes(f.base64('signature'))
    .done();
const rawEui =
  (octets: number): Parser =>
  (f) => {
    const tok = f.take('address');
    const re = new RegExp(`^[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){${octets - 1}}$`);
    if (!re.test(tok.raw)) f.fail(`bad address '${tok.raw}' (expected ${octets} hex pairs joined by '-')`, tok);
    f.end();
    return Buffer.from(tok.raw.replace(/-/g, ''), 'hex');
  };

export const PARSERS: Record<string, Parser> = {
  A(f: Fields) {
    const tok = f.take('address');
    if (!parseIPv4(tok.raw)) f.fail(`bad IPv4 address '${tok.raw}'`, tok);
    f.end();
    return tok.raw; // already canonical: parseIPv4 refuses leading zeros
  },
  AAAA(f: Fields) {
    const tok = f.take('address');
    const v6 = parseIPv6(tok.raw);
    if (!v6) f.fail(`bad IPv6 address '${tok.raw}'`, tok);
    f.end();
    return formatIPv6(v6);
  },
  NS: nameOnly,
  CNAME: nameOnly,
  DNAME: nameOnly,
  PTR: nameOnly,
  MX(f: Fields) {
    const v = { preference: f.int('preference', 0xffff), exchange: f.name('exchange') };
    f.end();
    return v;
  },
  SOA(f: Fields) {
    const v = {
      mname: f.name('primary server name'),
      rname: f.name('responsible mailbox'),
      serial: f.int('serial', 0xffffffff),
      refresh: f.time('refresh', 0xffffffff),
      retry: f.time('retry', 0xffffffff),
      expire: f.time('expire', 0xffffffff),
      minimum: f.time('minimum', 0xffffffff),
    };
    f.end();
    return v;
  },
  TXT(f: Fields) {
    const strings: Buffer[] = [];
    if (!f.more()) f.fail('missing text');
    while (f.more()) strings.push(f.bytes('text'));
    return strings;
  },
  HINFO(f: Fields) {
    const v = { cpu: f.text('cpu'), os: f.text('os') };
    f.end();
    return v;
  },
  RP(f: Fields) {
    const v = { mbox: f.name('mailbox'), txt: f.name('TXT name') };
    f.end();
    return v;
  },
  SRV(f: Fields) {
    const v = {
      priority: f.int('priority', 0xffff),
      weight: f.int('weight', 0xffff),
      port: f.int('port', 0xffff),
      target: f.name('target'),
    };
    f.end();
    return v;
  },
  NAPTR(f: Fields) {
    const v = {
      order: f.int('order', 0xffff),
      preference: f.int('preference', 0xffff),
      flags: f.text('flags'),
      services: f.text('services'),
      regexp: f.text('regexp'),
      replacement: f.name('replacement'),
    };
    f.end();
    return v;
  },
  CAA(f: Fields) {
    const flags = f.int('flags', 255);
    const tagTok = f.take('tag');
    if (!/^[A-Za-z0-9]{1,15}$/.test(tagTok.raw)) f.fail(`bad tag '${tagTok.raw}' (1-15 letters and digits)`, tagTok);
    const value = f.text('value', 0xffff);
    f.end();
    return { flags, tag: tagTok.raw, value };
  },
  DS: dsFields,
  DNSKEY(f: Fields) {
    const flags = f.int('flags', 0xffff);
    const protocol = f.int('protocol', 255);
    const algorithm = f.algorithm();
    const key = f.base64('public key');
    // dns-packet writes protocol 3 whatever it is given, so BIND's other protocols stay wire bytes.
    if (protocol !== 3) return new Wire().u16(flags).u8(protocol).u8(algorithm).bytes(key).done();
    return { flags, algorithm, key };
  },
  RRSIG(f: Fields) {
    const rdata = {
      typeCovered: rdataTypeName(f.typeInfo('type covered')),
      algorithm: f.algorithm(),
      labels: f.int('labels', 255),
      originalTTL: f.time('original TTL', 0xffffffff),
      expiration: f.timestamp('expiration'),
      inception: f.timestamp('inception'),
      keyTag: f.int('key tag', 0xffff),
      signersName: f.name("signer's name"),
      signature: f.base64('signature'),
    };
    // The signer is the owner or above it, so the owner's label count (the
    // field) cannot be below the signer's: BIND 9.18.49 as Debian now ships it
    // (deb12u3) refuses such a record, and so does tsload.
    const signerLabels = splitName(rdata.signersName).length;
    if (rdata.labels < signerLabels) f.fail(`labels ${rdata.labels} is below the ${signerLabels} labels of the signer's name ${rdata.signersName}`);
    return rdata;
  },
  NSEC(f: Fields) {
    return { nextDomain: f.name('next domain'), rrtypes: f.typeList().map(rdataTypeName) };
  },
  NSEC3(f: Fields) {
    const algorithm = f.int('hash algorithm', 255);
    const flags = f.int('flags', 255);
    const iterations = f.int('iterations', 0xffff);
    const saltTok = f.take('salt');
    const salt = saltTok.raw === '-' ? Buffer.alloc(0) : f.hex('salt', saltTok.raw);
    if (salt.length > 255) f.fail('salt longer than 255 bytes', saltTok);
    const hashTok = f.take('next hashed owner');
    const nextDomain = decodeBase32Hex(hashTok.raw);
    if (!nextDomain || nextDomain.length === 0) f.fail(`bad base32hex next hashed owner '${hashTok.raw}'`, hashTok);
    return { algorithm, flags, iterations, salt, nextDomain, rrtypes: f.typeList().map(rdataTypeName) };
  },
  TLSA(f: Fields) {
    return {
      usage: f.int('usage', 255),
      selector: f.int('selector', 255),
      matchingType: f.int('matching type', 255),
      certificate: f.hex('certificate data'),
    };
  },
  SSHFP(f: Fields) {
    const algorithm = f.int('algorithm', 255);
    const hash = f.int('fingerprint type', 255);
    const fp = f.hex('fingerprint');
    // dns-packet only knows SHA-1 (1) and SHA-256 (2) fingerprints: other types, which BIND takes at any length, stay wire bytes.
    if (hash !== 1 && hash !== 2) return new Wire().u8(algorithm).u8(hash).bytes(fp).done();
    if (fp.length !== (hash === 1 ? 20 : 32)) f.fail(`fingerprint is ${fp.length} bytes, type ${hash} needs ${hash === 1 ? 20 : 32}`);
    return { algorithm, hash, fingerprint: fp.toString('hex').toUpperCase() };
  },
  NULL(f: Fields) {
    f.fail('has no text form: use \\# length hex');
  },
  // Types dns-packet names but has no rdata codec for: built into wire bytes here.
  SPF: rawTxt,
  AFSDB: rawPrefName,
  KX: rawPrefName,
  CDS: rawDsLike,
  DLV: rawDsLike,
  TA: rawDsLike,
  CDNSKEY: rawKeyLike,
  KEY(f: Fields) {
    // RFC 2535 §3.1.2: with both high flag bits set ("no key") the key field may be empty.
    const flags = f.int('flags', 0xffff);
    const w = new Wire().u16(flags).u8(f.int('protocol', 255)).u8(f.algorithm());
    if ((flags & 0xc000) !== 0xc000 || f.more()) w.bytes(f.base64('public key'));
    return w.done();
  },
  SIG: rawSigLike,
  DHCID: rawBase64,
  NSEC3PARAM(f: Fields) {
    const w = new Wire().u8(f.int('hash algorithm', 255)).u8(f.int('flags', 255)).u16(f.int('iterations', 0xffff));
    const saltTok = f.take('salt');
    const salt = saltTok.raw === '-' ? Buffer.alloc(0) : f.hex('salt', saltTok.raw);
    f.end();
    return w.str(salt).done();
  },
  CERT(f: Fields) {
    return new Wire()
      .u16(f.code('certificate type', 0xffff, CERT_TYPES))
      .u16(f.int('key tag', 0xffff))
      .u8(f.algorithm())
      .bytes(f.base64('certificate'))
      .done();
  },
  // IANA types dns-packet does not name (record type 'TYPEnnn').
  MB: rawNameOnly,
  MG: rawNameOnly,
  MR: rawNameOnly,
  MINFO(f: Fields) {
    const w = new Wire().name(f.labels('responsible mailbox')).name(f.labels('error mailbox'));
    f.end();
    return w.done();
  },
  RT: rawPrefName,
  SMIMEA: rawTlsaLike,
  OPENPGPKEY: rawBase64,
  CSYNC(f: Fields) {
    const w = new Wire().u32(f.int('serial', 0xffffffff)).u16(f.int('flags', 0xffff));
    return w.bytes(typeBitmap(f.typeList().map((t) => t.code))).done();
  },
  ZONEMD(f: Fields) {
    const w = new Wire().u32(f.int('serial', 0xffffffff)).u8(f.int('scheme', 255));
    const hash = f.int('hash algorithm', 255);
    const digest = f.hex('digest');
    // RFC 8976 §2.2.4: SHA-384 and SHA-512 have their lengths, any other digest is at least 12 bytes.
    const length = hash === 1 ? 48 : hash === 2 ? 64 : undefined;
    if (length !== undefined ? digest.length !== length : digest.length < 12) {
      f.fail(length !== undefined ? `hash algorithm ${hash} needs a ${length}-byte digest, not ${digest.length}` : 'a digest is at least 12 bytes');
    }
    return w.u8(hash).bytes(digest).done();
  },
  EUI48: rawEui(6),
  EUI64: rawEui(8),
  ...MORE_PARSERS,
  SVCB,
  HTTPS: SVCB,
  URI(f: Fields) {
    const w = new Wire().u16(f.int('priority', 0xffff)).u16(f.int('weight', 0xffff)).bytes(f.bytes('target', 0xffff));
    f.end();
    return w.done();
  },
};

/** RFC 3597 §5: `\# <length> <hex words>` → the rdata bytes. */
export function genericRdata(f: Fields): Buffer {
  f.take('\\#');
  const length = f.int('generic rdata length', 0xffff);
  const bytes = f.more() ? f.hex('generic rdata') : Buffer.alloc(0);
  if (bytes.length !== length) f.fail(`\\# says ${length} bytes but the hex has ${bytes.length}`);
  return bytes;
}

/** End of the uncompressed name at `off` of rdata (RFC 3597 §4: generic rdata holds no pointers), or -1. */
function plainName(b: Buffer, off: number): number {
  const start = off;
  while (off < b.length) {
    const len = b[off]!;
    if (len === 0) return off + 1 - start <= 255 ? off + 1 : -1;
    if (len > 63) return -1;
    off += len + 1;
  }
  return -1;
}

/**
 * The wire layout of the codec types dns-packet cannot always write back (a
 * name with `\.` or bytes that are not UTF-8; SSHFP and DNSKEY values its
 * encoder refuses): true if `b` is well-formed rdata of that type.
 */
function layoutHolds(code: number, b: Buffer): boolean {
  const n = b.length;
  switch (code) {
    case 2: case 5: case 12: case 39: // NS, CNAME, PTR, DNAME
      return plainName(b, 0) === n;
    case 15: // MX
      return n > 2 && plainName(b, 2) === n;
    case 33: // SRV
      return n > 6 && plainName(b, 6) === n;
    case 17: { // RP
      const e = plainName(b, 0);
      return e > 0 && plainName(b, e) === n;
    }
    case 6: { // SOA
      const e = plainName(b, 0);
      const e2 = e > 0 ? plainName(b, e) : -1;
      return e2 > 0 && e2 + 20 === n;
    }
    case 47: // NSEC: the type bitmap after the name is dns-packet's to read
      return plainName(b, 0) > 0;
    case 46: // RRSIG
      return n > 18 && plainName(b, 18) > 0;
    case 35: { // NAPTR: order, preference, flags, services, regexp, replacement
      let o = 4;
      for (let k = 0; k < 3 && o < n; k++) o += 1 + b[o]!;
      return o < n && plainName(b, o) === n;
    }
    case 44: // SSHFP
      return n >= 2;
    case 48: // DNSKEY
      return n >= 4;
    default:
      return false;
  }
}

/**
 * Decode generic rdata of a type dns-packet has a codec for, and make sure it
 * re-encodes to the same bytes. Where it does not but the rdata is
 * well-formed (layoutHolds), the record keeps the bytes as a Buffer, as the
 * text form of such records does.
 */
export function decodeWithCodec(f: Fields, info: TypeInfo, rdata: Buffer): unknown {
  const msg = Buffer.alloc(12 + 11 + rdata.length);
  msg.writeUInt16BE(0x8000, 2); // response
  msg.writeUInt16BE(1, 6); // one answer
  // answer: root owner (one zero byte), type, class IN, TTL 0, rdlength, rdata
  msg.writeUInt16BE(info.code, 13);
  msg.writeUInt16BE(1, 15);
  msg.writeUInt16BE(rdata.length, 21);
  rdata.copy(msg, 23);
  let data: unknown;
  try {
    const answer = dnsPacket().decode(msg).answers?.[0];
    data = answer && 'data' in answer ? answer.data : undefined;
    if (data && typeof data === 'object' && info.mnemonic === 'CAA') delete (data as { issuerCritical?: boolean }).issuerCritical;
    const again = dnsPacket().encode({
      type: 'response',
      answers: [{ name: '.', type: info.recordType, class: 'IN', ttl: 0, data } as Answer],
    });
    if (!again.subarray(23).equals(rdata)) throw new Error('it does not re-encode to the same bytes');
  } catch (error) {
    if (layoutHolds(info.code, rdata)) return Buffer.from(rdata);
    f.fail(`\\# rdata is not valid ${info.mnemonic} rdata for dns-packet (${(error as Error).message})`);
  }
  return data;
}

