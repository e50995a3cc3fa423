/** Numbers, TTLs, addresses and encodings of rdata fields, and the wire builder for rdata dns-packet has no codec for. */
import { nameToWire } from '../wire.js';
import { isDigit, labelsToName } from './names.js';

export const TTL_MAX = 0x7fffffff; // RFC 2181 §8

/**
 * A TTL field or $TTL: seconds or units, at most 2^32 - 1; one above 2^31 - 1
 * is 0 (RFC 2181 §8 says to treat it so, and BIND loads it so, with a warning).
 */
export function ttlField(text: string): number | undefined {
  const ttl = parseTtlText(text);
  if (ttl === undefined || ttl > 0xffffffff) return undefined;
  return ttl > TTL_MAX ? 0 : ttl;
}

/** '3600', '1h', '2W', '1h30m' (units w d h m s, any case) → seconds; undefined if malformed. */
export function parseTtlText(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[wdhms])+$/i.test(text)) return undefined;
  let total = 0;
  for (const m of text.toLowerCase().matchAll(/(\d+)([wdhms])/g)) {
    const unit = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 }[m[2] as 'w' | 'd' | 'h' | 'm' | 's'];
    total += Number(m[1]) * unit;
  }
  return total;
}

export function decodeHex(text: string): Buffer | undefined {
  return /^(?:[0-9a-fA-F]{2})*$/.test(text) ? Buffer.from(text, 'hex') : undefined;
}

export function decodeBase64(text: string): Buffer | undefined {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text) ? Buffer.from(text, 'base64') : undefined;
}

/** RFC 4648 §7 base32hex without padding (NSEC3 next hashed owner). */
export function decodeBase32Hex(text: string): Buffer | undefined {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUV';
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text.toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) return undefined;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  // Leftover bits must be padding zeros, and no whole leftover character.
  if (bits >= 5 || (value & ((1 << bits) - 1)) !== 0) return undefined;
  return Buffer.from(out);
}

/** Dotted quad, no leading zeros (as inet_pton) → 4 bytes. */
export function parseIPv4(text: string): number[] | undefined {
  const out: number[] = [];
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || value > 255 || out.length === 4) return undefined;
      out.push(value);
      value = 0;
      digits = 0;
    } else if (isDigit(c)) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 48);
      digits++;
    } else {
      return undefined;
    }
  }
  return out.length === 4 ? out : undefined;
}

export function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Strict RFC 4291 §2.2 text → eight 16-bit groups. */
export function parseIPv6(text: string): number[] | undefined {
  const n = text.length;
  const groups: number[] = [];
  let gap = -1; // where '::' stands, as an index into groups
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return undefined;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let j = i;
    let value = 0;
    while (j < n && j - i < 5) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      j++;
    }
    if (text.charCodeAt(j) === 46) {
      // An embedded IPv4 address ends the address.
      const v4 = parseIPv4(text.slice(i));
      if (!v4 || groups.length > 6) return undefined;
      groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      break;
    }
    if (j === i || j - i > 4 || groups.length === 8) return undefined;
    groups.push(value);
    i = j;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (text.charCodeAt(i) === 58) {
      if (gap >= 0) return undefined;
      gap = groups.length;
      i++;
    } else if (i === n) {
      return undefined; // a single trailing ':'
    }
  }
  if (gap < 0) return groups.length === 8 ? groups : undefined;
  if (groups.length > 7) return undefined;
  const zeros = new Array<number>(8 - groups.length).fill(0);
  return groups.slice(0, gap).concat(zeros, groups.slice(gap));
}

/** Eight groups → text exactly as dns-packet (ip-codec) decodes it, so records round-trip. */
export function formatIPv6(groups: readonly number[]): string {
  return groups
    .map((g) => g.toString(16))
    .join(':').replace(/(^|:)0(:0)*:0(:|$)/, '$1::$3').replace(/:{3,4}/, '::');
}

/** Type-bitmap wire format (RFC 4034 §4.1.2), for raw types such as CSYNC. */
export function typeBitmap(codes: readonly number[]): number[] {
  const windows = new Map<number, number[]>();
  for (const code of codes) {
    const w = code >> 8;
    let bits = windows.get(w);
    if (!bits) windows.set(w, (bits = []));
    const octet = (code & 0xff) >> 3;
    while (bits.length <= octet) bits.push(0);
    bits[octet] = (bits[octet] as number) | (0x80 >> (code & 7));
  }
  const out: number[] = [];
  for (const w of [...windows.keys()].sort((a, b) => a - b)) {
    const bits = windows.get(w) as number[];
    out.push(w, bits.length, ...bits);
  }
  return out;
}

/** Wire builder for the rdata of types dns-packet has no codec for. */
export class Wire {
  private readonly parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    this.parts.push((v >> 8) & 0xff, v & 0xff);
    return this;
  }
  u32(v: number): this {
    this.parts.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  bytes(b: Iterable<number>): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  /** <character-string>: length byte then bytes. */
  str(b: Buffer): this {
    return this.u8(b.length).bytes(b);
  }
  /** Uncompressed wire name. */
  name(labels: readonly string[]): this {
    return this.bytes(nameToWire(labelsToName(labels)));
  }
  done(): Buffer {
    return Buffer.from(this.parts);
  }
}

