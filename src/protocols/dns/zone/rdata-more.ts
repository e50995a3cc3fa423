/**
 * Rdata parsers for the types dns-packet has no codec for and BIND 9.18
 * reads from text: the RFC 1183/1706/1712/2163/6742 families, WKS, NXT,
 * LOC, APL, IPSECKEY, HIP, AMTRELAY, DOA, and the drafts BIND keeps (EID,
 * NIMLOC, ATMA, SINK, NINFO, RKEY, TALINK, AVC). Each returns wire rdata; each accepts what
 * BIND's fromtext for that type accepts (test/protocols/dns/zone-bind.test.ts
 * compares the two on the fixtures).
 */
import type { Fields } from './fields.js';
import { decodeBase64, decodeHex, parseIPv4, parseIPv6, Wire } from './text.js';

type Parser = (f: Fields) => unknown;

function ipv4(f: Fields, what: string): number[] {
  const tok = f.take(what);
  return parseIPv4(tok.raw) ?? f.fail(`bad IPv4 address '${tok.raw}'`, tok);
}

function ipv6Bytes(f: Fields, text: string, what: string): number[] {
  const groups = parseIPv6(text) ?? f.fail(`bad IPv6 ${what} '${text}'`);
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** A 64-bit locator or node ID: four groups of 1–4 hex digits joined by ':' (RFC 6742 §2.3). */
function locator64(f: Fields, what: string): number[] {
  const tok = f.take(what);
  const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4}):([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(tok.raw);
  if (!m) f.fail(`bad ${what} '${tok.raw}' (four groups of hex digits joined by ':')`, tok);
  return (m as RegExpExecArray).slice(1).flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

/** Well-known protocol and service names BIND resolves in WKS (from /etc/services on the usual systems). */
const PROTOCOLS = new Map([['tcp', 6], ['udp', 17]]);
const SERVICES = new Map([
  ['echo', 7], ['discard', 9], ['daytime', 13], ['ftp-data', 20], ['ftp', 21], ['ssh', 22], ['telnet', 23], ['smtp', 25],
  ['time', 37], ['whois', 43], ['domain', 53], ['tftp', 69], ['gopher', 70], ['finger', 79], ['http', 80], ['www', 80],
  ['kerberos', 88], ['pop3', 110], ['sunrpc', 111], ['auth', 113], ['nntp', 119], ['ntp', 123], ['imap', 143], ['imap2', 143],
  ['snmp', 161], ['ldap', 389], ['https', 443], ['submission', 587], ['ldaps', 636], ['imaps', 993], ['pop3s', 995],
]);

/** <character-string> that must be made of digits (X25 PSDN address, RFC 1183 §3.1). */
function digitString(f: Fields, what: string, min: number): Buffer {
  const b = f.bytes(what);
  if (b.length < min || !/^\d*$/.test(b.toString('latin1'))) f.fail(`bad ${what} '${b.toString('latin1')}' (at least ${min} digits)`);
  return b;
}

// RFC 1876 LOC --------------------------------------------------------------

/** Centimetres → the size/precision byte: mantissa in the high nibble, power of ten in the low. */
function locPrecision(cm: number): number {
  let exponent = 0;
  while (cm >= 10 && exponent < 9) {
    cm /= 10;
    exponent++;
  }
  return (Math.min(9, Math.floor(cm)) << 4) | exponent;
}

/** '10', '10.5', '10m' → centimetres (at most two decimals, as BIND). */
function locMetres(f: Fields, what: string, min: number, max: number): number {
  const tok = f.take(what);
  const m = /^(-?\d+)(?:\.(\d{1,2}))?m?$/.exec(tok.raw);
  if (!m) return f.fail(`bad ${what} '${tok.raw}'`, tok);
  const whole = Number(m[1]);
  const frac = Number((m[2] ?? '').padEnd(2, '0') || '0');
  const cm = whole * 100 + (m[1]!.startsWith('-') ? -frac : frac);
  if (cm < min || cm > max) f.fail(`${what} '${tok.raw}' is out of range`, tok);
  return cm;
}

function locAngle(f: Fields, what: string, maxDeg: number, hemispheres: string): number {
  const deg = f.int(`${what} degrees`, maxDeg);
  let min = 0;
  let secMs = 0;
  let tok = f.take(`${what} hemisphere`);
  if (/^\d+$/.test(tok.raw)) {
    min = Number(tok.raw);
    if (min > 59) f.fail(`bad ${what} minutes '${tok.raw}'`, tok);
    tok = f.take(`${what} hemisphere`);
    const sec = /^(\d+)(?:\.(\d{1,3}))?$/.exec(tok.raw);
    if (sec) {
      secMs = Number(sec[1]) * 1000 + Number((sec[2] ?? '').padEnd(3, '0') || '0');
      if (secMs >= 60000) f.fail(`bad ${what} seconds '${tok.raw}'`, tok);
      tok = f.take(`${what} hemisphere`);
    }
  }
  const h = tok.raw.toUpperCase();
  if (h.length !== 1 || !hemispheres.includes(h)) f.fail(`bad ${what} hemisphere '${tok.raw}' (${hemispheres.split('').join(' or ')})`, tok);
  const value = ((deg * 60 + min) * 60) * 1000 + secMs;
  if (value > maxDeg * 3600000) f.fail(`${what} is beyond ${maxDeg} degrees`, tok);
  return (h === hemispheres[0] ? 2 ** 31 + value : 2 ** 31 - value) >>> 0;
}

const LOC: Parser = (f) => {
  const latitude = locAngle(f, 'latitude', 90, 'NS');
  const longitude = locAngle(f, 'longitude', 180, 'EW');
  const altitude = locMetres(f, 'altitude', -10000000, 4284967295);
  const precision = [100, 1000000, 1000];
  const names = ['size', 'horizontal precision', 'vertical precision'];
  for (let k = 0; k < 3 && f.more(); k++) precision[k] = locMetres(f, names[k] as string, 0, 9000000000);
  f.end();
  return new Wire()
    .u8(0)
    .u8(locPrecision(precision[0] as number))
    .u8(locPrecision(precision[1] as number))
    .u8(locPrecision(precision[2] as number))
    .u32(latitude)
    .u32(longitude)
    .u32(altitude + 10000000)
    .done();
};

// RFC 3123 APL --------------------------------------------------------------

const APL: Parser = (f) => {
  const w = new Wire();
  while (f.more()) {
    const tok = f.take('address prefix item');
    const m = /^(!?)(\d+):([^/]*)\/(\d+)$/.exec(tok.raw);
    if (!m) return f.fail(`bad APL item '${tok.raw}' ([!]afi:address/prefix)`, tok);
    const afi = Number(m[2]);
    const prefix = Number(m[4]);
    let address: number[];
    if (afi === 1) {
      address = parseIPv4(m[3] as string) ?? f.fail(`bad IPv4 address in '${tok.raw}'`, tok);
      if (prefix > 32) f.fail(`prefix /${prefix} is longer than 32 in '${tok.raw}'`, tok);
    } else if (afi === 2) {
      address = ipv6Bytes(f, m[3] as string, 'address');
      if (prefix > 128) f.fail(`prefix /${prefix} is longer than 128 in '${tok.raw}'`, tok);
    } else {
      return f.fail(`address family ${afi} is not 1 (IPv4) or 2 (IPv6) in '${tok.raw}'`, tok);
    }
    // RFC 3123 §4.1: trailing zero octets are left out.
    let length = address.length;
    while (length > 0 && address[length - 1] === 0) length--;
    w.u16(afi).u8(prefix).u8((m[1] ? 0x80 : 0) | length).bytes(address.slice(0, length));
  }
  return w.done();
};

// RFC 4025 IPSECKEY ---------------------------------------------------------

const IPSECKEY: Parser = (f) => {
  const w = new Wire();
  const precedence = f.int('precedence', 255);
  const gatewayType = f.int('gateway type', 255);
  const algorithm = f.int('algorithm', 255);
  w.u8(precedence).u8(gatewayType).u8(algorithm);
  gateway(f, w, gatewayType, 'gateway');
  w.bytes(f.base64('public key'));
  return w.done();
};

// RFC 8005 HIP --------------------------------------------------------------

const HIP: Parser = (f) => {
  const algorithm = f.int('PK algorithm', 255);
  const hitTok = f.take('HIT');
  const hit = decodeHex(hitTok.raw) ?? f.fail(`bad hex HIT '${hitTok.raw}'`, hitTok);
  if (hit.length === 0 || hit.length > 255) f.fail('HIT must be 1 to 255 bytes', hitTok);
  const keyTok = f.take('public key');
  const key = decodeBase64(keyTok.raw) ?? f.fail(`bad base64 public key`, keyTok);
  if (key.length === 0 || key.length > 0xffff) f.fail('public key must be 1 to 65535 bytes', keyTok);
  const w = new Wire().u8(hit.length).u8(algorithm).u16(key.length).bytes(hit).bytes(key);
  while (f.more()) w.name(f.labels('rendezvous server'));
  return w.done();
};

/** One or more <character-string>s (TXT's syntax). */
const strings: Parser = (f) => {
  const w = new Wire();
  if (!f.more()) f.fail('missing text');
  while (f.more()) w.str(f.bytes('text'));
  return w.done();
};

/** Hex that may be split into words and dotted (EID, NIMLOC, ATMA). */
function dottedHex(f: Fields, what: string): Buffer {
  const text = f.rest(what).replace(/\./g, '');
  return decodeHex(text) ?? f.fail(`bad hex in ${what}`);
}

/** RFC 8777 relay and IPSECKEY gateway: none, IPv4, IPv6 or a name, by type. */
function gateway(f: Fields, w: Wire, type: number, what: string): void {
  if (type === 0) {
    const tok = f.take(what);
    if (tok.raw !== '.') f.fail(`${what} type 0 needs '.', not '${tok.raw}'`, tok);
  } else if (type === 1) {
    w.bytes(ipv4(f, what));
  } else if (type === 2) {
    w.bytes(ipv6Bytes(f, f.take(what).raw, what));
  } else if (type === 3) {
    w.name(f.labels(what));
  } else {
    f.fail(`${what} type ${type} is not 0, 1, 2 or 3`);
  }
}

export const MORE_PARSERS: Record<string, Parser> = {
  A6(f) {
    // RFC 2874 §3.1.1: prefix length, the address bits after it, and the prefix's name if there is a prefix.
    const prefix = f.int('prefix length', 128);
    const w = new Wire().u8(prefix);
    if (prefix < 128) {
      const address = ipv6Bytes(f, f.take('address suffix').raw, 'address suffix');
      const octets = Math.ceil((128 - prefix) / 8);
      const suffix = address.slice(16 - octets);
      suffix[0] = (suffix[0] as number) & (0xff >> (prefix % 8)); // the prefix's bits are not sent (BIND clears them)
      w.bytes(suffix);
    }
    if (prefix > 0) w.name(f.labels('prefix name'));
    f.end();
    return w.done();
  },
  NINFO: strings,
  AVC: strings,
  TALINK(f) {
    const w = new Wire().name(f.labels('previous name')).name(f.labels('next name'));
    f.end();
    return w.done();
  },
  EID: (f) => dottedHex(f, 'endpoint identifier'),
  NIMLOC: (f) => dottedHex(f, 'locator'),
  ATMA(f) {
    const tok = f.peek();
    // ATM Forum format: '+' and E.164 digits, else NSAP-style hex.
    if (tok?.raw.startsWith('+')) {
      f.take('address');
      const digits = tok.raw.slice(1).replace(/\./g, '');
      if (!/^\d+$/.test(digits)) f.fail(`bad E.164 address '${tok.raw}'`, tok);
      f.end();
      return new Wire().u8(1).bytes(Buffer.from(digits, 'latin1')).done();
    }
    return new Wire().u8(0).bytes(dottedHex(f, 'address')).done();
  },
  SINK(f) {
    return new Wire().u8(f.int('meaning', 255)).u8(f.int('coding', 255)).u8(f.int('subcoding', 255)).bytes(f.more() ? f.base64('data') : []).done();
  },
  RKEY(f) {
    return new Wire().u16(f.int('flags', 0xffff)).u8(f.int('protocol', 255)).u8(f.algorithm()).bytes(f.base64('public key')).done();
  },
  DOA(f) {
    const w = new Wire().u32(f.int('enterprise', 0xffffffff)).u32(f.int('type', 0xffffffff)).u8(f.int('location', 255)).str(f.bytes('media type'));
    const tok = f.take('data');
    if (tok.raw !== '-') w.bytes(decodeBase64(tok.raw + (f.more() ? f.rest('data') : '')) ?? f.fail('bad base64 in data', tok));
    f.end();
    return w.done();
  },
  AMTRELAY(f) {
    const w = new Wire().u8(f.int('precedence', 255));
    const dTok = f.take('discovery optional');
    if (dTok.raw !== '0' && dTok.raw !== '1') f.fail(`discovery optional must be 0 or 1, not '${dTok.raw}'`, dTok);
    const type = f.int('relay type', 127);
    w.u8((dTok.raw === '1' ? 0x80 : 0) | type);
    if (type !== 0 || f.more()) gateway(f, w, type, 'relay');
    f.end();
    return w.done();
  },
  WKS(f) {
    const address = ipv4(f, 'address');
    const protoTok = f.take('protocol');
    const proto = PROTOCOLS.get(protoTok.raw.toLowerCase()) ?? (/^\d+$/.test(protoTok.raw) && Number(protoTok.raw) <= 255 ? Number(protoTok.raw) : f.fail(`unknown protocol '${protoTok.raw}'`, protoTok));
    const bitmap: number[] = [];
    while (f.more()) {
      const tok = f.take('service');
      const port = SERVICES.get(tok.raw.toLowerCase()) ?? (/^\d+$/.test(tok.raw) && Number(tok.raw) <= 0xffff ? Number(tok.raw) : f.fail(`unknown service '${tok.raw}'`, tok));
      while (bitmap.length <= port >> 3) bitmap.push(0);
      bitmap[port >> 3] = (bitmap[port >> 3] as number) | (0x80 >> (port & 7));
    }
    return new Wire().bytes(address).u8(proto).bytes(bitmap).done();
  },
  X25(f) {
    const w = new Wire().str(digitString(f, 'PSDN address', 4));
    f.end();
    return w.done();
  },
  ISDN(f) {
    const w = new Wire().str(f.bytes('ISDN address'));
    if (f.more()) w.str(f.bytes('subaddress'));
    f.end();
    return w.done();
  },
  NSAP(f) {
    const tok = f.take('NSAP address');
    const hex = /^0x([0-9a-f.]+)$/i.exec(tok.raw)?.[1]?.replace(/\./g, '');
    const bytes = hex === undefined ? undefined : decodeHex(hex);
    if (!bytes || bytes.length === 0) f.fail(`bad NSAP address '${tok.raw}' (0x and an even number of hex digits, dots allowed)`, tok);
    f.end();
    return bytes;
  },
  'NSAP-PTR'(f) {
    const w = new Wire().name(f.labels('domain name'));
    f.end();
    return w.done();
  },
  PX(f) {
    const w = new Wire().u16(f.int('preference', 0xffff)).name(f.labels('MAP822')).name(f.labels('MAPX400'));
    f.end();
    return w.done();
  },
  GPOS(f) {
    // BIND takes any three strings (RFC 1712 asks for decimal numbers, which it does not check).
    const w = new Wire().str(f.bytes('longitude')).str(f.bytes('latitude')).str(f.bytes('altitude'));
    f.end();
    return w.done();
  },
  NXT(f) {
    // RFC 2535 §5.2: one bitmap of types 0..127, no windows.
    const w = new Wire().name(f.labels('next domain'));
    const bits: number[] = [];
    for (const info of f.typeList()) {
      if (info.code > 127) f.fail(`type ${info.mnemonic} cannot be in an NXT bitmap (only types up to 127)`);
      while (bits.length <= info.code >> 3) bits.push(0);
      bits[info.code >> 3] = (bits[info.code >> 3] as number) | (0x80 >> (info.code & 7));
    }
    return w.bytes(bits).done();
  },
  NID(f) {
    const w = new Wire().u16(f.int('preference', 0xffff)).bytes(locator64(f, 'node ID'));
    f.end();
    return w.done();
  },
  L32(f) {
    const w = new Wire().u16(f.int('preference', 0xffff)).bytes(ipv4(f, 'locator'));
    f.end();
    return w.done();
  },
  L64(f) {
    const w = new Wire().u16(f.int('preference', 0xffff)).bytes(locator64(f, 'locator'));
    f.end();
    return w.done();
  },
  LP(f) {
    const w = new Wire().u16(f.int('preference', 0xffff)).name(f.labels('FQDN'));
    f.end();
    return w.done();
  },
  LOC,
  APL,
  IPSECKEY,
  HIP,
};
