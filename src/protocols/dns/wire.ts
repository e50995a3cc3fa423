/**
 * DNS messages on the wire (RFC 1035 §4): names, the header, and a writer
 * and reader for the question and RR sections. The load driver and the
 * built-in server both use these; neither pulls in dns-packet for them, so
 * the driver's per-query path stays free of it.
 *
 * Names in text are the record form of the zone reader: absolute, no
 * trailing dot, '.' or '' for the root, `\.` for a dot inside a label, `\\`
 * for a backslash and `\DDD` for a byte that is not part of UTF-8 text.
 */

/** Offsets in the 12-byte header. */
export const HEADER = 12;

const textEncoder = new TextEncoder();

/**
 * Record-form or presentation name → uncompressed wire name. Accepts an
 * optional trailing dot and the escapes `\.` `\\` `\X` `\DDD`; '' and '.' are the root.
 */
export function nameToWire(name: string): Buffer {
  if (name === '' || name === '.') return Buffer.from([0]);
  const out: number[] = [];
  let label: number[] = [];
  const flush = (): void => {
    if (label.length === 0) throw new Error(`empty label in name '${name}'`);
    if (label.length > 63) throw new Error(`label longer than 63 bytes in name '${name}'`);
    out.push(label.length, ...label);
    label = [];
  };
  for (let i = 0; i < name.length; ) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      flush();
      i++;
      continue;
    }
    if (c === 0x5c) {
      const ddd = /^\d{3}/.exec(name.slice(i + 1, i + 4));
      if (ddd) {
        const v = Number(ddd[0]);
        if (v > 255) throw new Error(`bad escape \\${ddd[0]} in name '${name}'`);
        label.push(v);
        i += 4;
        continue;
      }
      i++;
      if (i >= name.length) throw new Error(`dangling backslash in name '${name}'`);
    }
    const cp = name.codePointAt(i) ?? 0;
    const ch = String.fromCodePoint(cp);
    if (cp < 0x80) label.push(cp);
    else for (const b of textEncoder.encode(ch)) label.push(b);
    i += ch.length;
  }
  if (label.length > 0) flush(); // no trailing dot
  out.push(0);
  if (out.length > 255) throw new Error(`name longer than 255 bytes: '${name}'`);
  return Buffer.from(out);
}

/** Offset just past the (possibly compressed) name at `off`, or -1 if malformed. */
export function skipName(msg: Uint8Array, off: number): number {
  for (;;) {
    if (off >= msg.length) return -1;
    const len = msg[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= msg.length ? off + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    off += len + 1;
  }
}

/**
 * The (possibly compressed) name at `off` as an uncompressed wire name, or
 * undefined if it is malformed (a pointer loop, a pointer forward, past the end).
 */
export function readName(msg: Uint8Array, off: number): Buffer | undefined {
  const out: number[] = [];
  let hops = 0;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= msg.length || ++hops > 127) return undefined;
      const to = ((len & 0x3f) << 8) | msg[off + 1]!;
      if (to >= off) return undefined;
      off = to;
      continue;
    }
    if ((len & 0xc0) !== 0 || off + len >= msg.length) return undefined;
    for (let i = off; i <= off + len; i++) out.push(msg[i]!);
    off += len + 1;
    if (out.length > 254) return undefined;
  }
  out.push(0);
  return Buffer.from(out);
}

/** Uncompressed wire name → record-form text ('.' for the root), escaping '.', '\' and bytes that are not UTF-8. */
export function wireToName(wire: Uint8Array, off = 0): string {
  const labels: string[] = [];
  for (;;) {
    const len = wire[off]!;
    if (len === 0 || len === undefined) break;
    const bytes = Buffer.from(wire.subarray(off + 1, off + 1 + len));
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) {
      labels.push(text.replace(/[.\\]/g, '\\$&'));
    } else {
      let s = '';
      for (const b of bytes) s += b >= 0x80 ? `\\${String(b).padStart(3, '0')}` : b === 0x2e || b === 0x5c ? `\\${String.fromCharCode(b)}` : String.fromCharCode(b);
      labels.push(s);
    }
    off += len + 1;
  }
  return labels.length === 0 ? '.' : labels.join('.');
}

/** Lower-case ASCII letters of a wire name from `off`, as a latin1 string: a lookup key (RFC 4343). */
export function wireKey(wire: Uint8Array, off = 0, end = wire.length): string {
  let s = '';
  for (let i = off; i < end; i++) {
    const b = wire[i]!;
    s += String.fromCharCode(b >= 0x41 && b <= 0x5a ? b | 0x20 : b);
  }
  return s;
}

/** Start offsets of every label of a wire name (or its key), the root's 0 byte last. */
export function labelOffsets(key: string): number[] {
  const out: number[] = [];
  let i = 0;
  for (;;) {
    out.push(i);
    const len = key.charCodeAt(i);
    if (len === 0 || Number.isNaN(len)) return out;
    i += len + 1;
  }
}

// ---------------------------------------------------------------------------
// Header and sections

export const T_OPT = 41;

export interface Header {
  id: number;
  /** QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE: the 16 bits after the ID. */
  flags: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export function readHeader(msg: Uint8Array): Header | undefined {
  if (msg.length < HEADER) return undefined;
  const u16 = (o: number): number => (msg[o]! << 8) | msg[o + 1]!;
  return { id: u16(0), flags: u16(2), qdcount: u16(4), ancount: u16(6), nscount: u16(8), arcount: u16(10) };
}

/** One resource record read from a message: the owner decompressed, rdata as it is on the wire. */
export interface WireRecord {
  owner: Buffer;
  type: number;
  cls: number;
  ttl: number;
  /** Offset of the rdata in the message (names inside it may point anywhere in the message). */
  rdata: number;
  rdlength: number;
}

export interface WireMessage {
  header: Header;
  questions: Array<{ name: Buffer; type: number; cls: number }>;
  answer: WireRecord[];
  authority: WireRecord[];
  additional: WireRecord[];
}

/** A whole message, or undefined if it is malformed (a test and tooling reader; the driver's hot path reads only what it needs). */
export function readMessage(msg: Uint8Array): WireMessage | undefined {
  const header = readHeader(msg);
  if (!header) return undefined;
  let off = HEADER;
  const questions: WireMessage['questions'] = [];
  for (let q = 0; q < header.qdcount; q++) {
    const name = readName(msg, off);
    const end = skipName(msg, off);
    if (!name || end < 0 || end + 4 > msg.length) return undefined;
    questions.push({ name, type: (msg[end]! << 8) | msg[end + 1]!, cls: (msg[end + 2]! << 8) | msg[end + 3]! });
    off = end + 4;
  }
  const section = (count: number): WireRecord[] | undefined => {
    const out: WireRecord[] = [];
    for (let r = 0; r < count; r++) {
      const owner = readName(msg, off);
      const end = skipName(msg, off);
      if (!owner || end < 0 || end + 10 > msg.length) return undefined;
      const rdlength = (msg[end + 8]! << 8) | msg[end + 9]!;
      if (end + 10 + rdlength > msg.length) return undefined;
      const ttl = ((msg[end + 4]! << 24) | (msg[end + 5]! << 16) | (msg[end + 6]! << 8) | msg[end + 7]!) >>> 0;
      out.push({ owner, type: (msg[end]! << 8) | msg[end + 1]!, cls: (msg[end + 2]! << 8) | msg[end + 3]!, ttl, rdata: end + 10, rdlength });
      off = end + 10 + rdlength;
    }
    return out;
  };
  const answer = section(header.ancount);
  const authority = answer && section(header.nscount);
  const additional = authority && section(header.arcount);
  if (!answer || !authority || !additional) return undefined;
  return { header, questions, answer, authority, additional };
}

/**
 * Offset just past the name at `off` of the message that starts at `base`
 * and ends at `end`, or -1 if the name is malformed: a label past the end, a
 * reserved label type, longer than 255 bytes, or a pointer that does not go
 * strictly back from where the last one led (out of range, forward, a loop).
 * Pointers are followed but nothing is copied: the answer path reads in place.
 */
export function nameEnd(msg: Uint8Array, base: number, off: number, end: number): number {
  let after = -1;
  let limit = off;
  let wire = 0;
  for (;;) {
    if (off >= end) return -1;
    const len = msg[off]!;
    if (len === 0) return after < 0 ? off + 1 : after;
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= end) return -1;
      const to = base + (((len & 0x3f) << 8) | msg[off + 1]!);
      // Each jump lands before the last one's target, so the walk ends.
      if (to >= limit) return -1;
      if (after < 0) after = off + 2;
      limit = to;
      off = to;
      continue;
    }
    if ((len & 0xc0) !== 0) return -1;
    wire += len + 1;
    if (wire > 254) return -1;
    off += len + 1;
  }
}

/**
 * Offset just past the question section of the DNS response at msg[base,
 * base + len), or -1 if it is not one whose header and questions can be
 * read: shorter than a header, QR clear, a question name malformed (see
 * nameEnd) or a question cut short. Nothing in such a message, its ID
 * included, can be trusted, so it is never matched to a query.
 */
export function responseHead(msg: Uint8Array, base: number, len: number): number {
  if (len < HEADER || (msg[base + 2]! & 0x80) === 0) return -1;
  const end = base + len;
  const qd = (msg[base + 4]! << 8) | msg[base + 5]!;
  let off = base + HEADER;
  for (let q = 0; q < qd; q++) {
    off = nameEnd(msg, base, off, end);
    if (off < 0 || off + 4 > end) return -1;
    off += 4;
  }
  return off;
}

/** checkRecords' verdicts on a message whose records do not parse (the rest of its range is the extended RCODE). */
export const RECORD_BAD_NAME = -1;
export const RECORD_PAST_END = -2;

/** What a record verdict means, printable, for a step's failure reasons. */
export function recordProblem(verdict: number): string {
  return verdict === RECORD_BAD_NAME
    ? 'a record name is malformed (compression loop, pointer out of range or bad label)'
    : 'a record runs past the end of the message';
}

/**
 * Walk the answer, authority and additional records from `off` (just past
 * the question) to `end`: RECORD_BAD_NAME or RECORD_PAST_END if one does
 * not parse, else the upper 8 bits of the RCODE from the OPT record (RFC
 * 6891 extended RCODE; 0 without one). Names inside rdata are not read: the
 * generator never looks at them.
 */
export function checkRecords(msg: Uint8Array, base: number, end: number, off: number): number {
  const additional = (msg[base + 10]! << 8) | msg[base + 11]!;
  const additionalFrom = ((msg[base + 6]! << 8) | msg[base + 7]!) + ((msg[base + 8]! << 8) | msg[base + 9]!);
  const records = additionalFrom + additional;
  let ext = 0;
  for (let r = 0; r < records; r++) {
    if (off >= end) return RECORD_PAST_END;
    off = nameEnd(msg, base, off, end);
    if (off < 0) return RECORD_BAD_NAME;
    if (off + 10 > end) return RECORD_PAST_END;
    if (r >= additionalFrom && msg[off] === 0 && msg[off + 1] === T_OPT) ext = msg[off + 4]!;
    off += 10 + ((msg[off + 8]! << 8) | msg[off + 9]!);
    if (off > end) return RECORD_PAST_END;
  }
  return ext;
}

/**
 * True if the message at msg[base, base + len) asks the question of the
 * query message that starts at query[qBase] and whose question ends at qEnd:
 * the name case-insensitively, then type and class. Both drivers read answers
 * in place (a datagram, or a message inside a stream's read buffer), so
 * nothing is copied. Error replies (FORMERR, NOTIMP…) may carry no question
 * (RFC 1035 does not require one); refusing them would turn a server's answer
 * into a fake loss.
 */
export function sameQuestion(msg: Uint8Array, base: number, len: number, query: Uint8Array, qBase: number, qEnd: number): boolean {
  const qd = (msg[base + 4]! << 8) | msg[base + 5]!;
  if (qd === 0) return (msg[base + 3]! & 0x0f) !== 0;
  if (qd !== 1 || len < qEnd - qBase) return false;
  const shift = base - qBase;
  const nameEnd = qEnd - 4;
  for (let i = qBase + 12; i < nameEnd; i++) {
    const a = msg[i + shift]!;
    const b = query[i]!;
    if (a !== b) {
      const la = a | 0x20;
      if (la !== (b | 0x20) || la < 0x61 || la > 0x7a) return false;
    }
  }
  for (let i = nameEnd; i < qEnd; i++) if (msg[i + shift] !== query[i]) return false;
  return true;
}

const MAX_MESSAGE = 65535;

/**
 * Writes one message into a reused 64 KB buffer, compressing owner names
 * and the names in rdata it is told about (RFC 1035 §4.1.4).
 */
export class MessageWriter {
  readonly buf = Buffer.alloc(MAX_MESSAGE);
  pos = 0;
  private readonly names = new Map<string, number>();

  reset(): void {
    this.pos = 0;
    this.names.clear();
  }
  private room(n: number): void {
    if (this.pos + n > MAX_MESSAGE) throw new RangeError('message exceeds 65535 bytes');
  }
  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
  bytes(b: Uint8Array, from = 0, to = b.length): void {
    this.room(to - from);
    this.buf.set(b.subarray(from, to), this.pos);
    this.pos += to - from;
  }
  /** The header with all counts 0 (set them with `counts`). */
  header(id: number, flags: number): void {
    this.u16(id);
    this.u16(flags);
    this.u32(0);
    this.u32(0);
  }
  counts(qd: number, an: number, ns: number, ar: number): void {
    this.buf.writeUInt16BE(qd, 4);
    this.buf.writeUInt16BE(an, 6);
    this.buf.writeUInt16BE(ns, 8);
    this.buf.writeUInt16BE(ar, 10);
  }
  /** Write an uncompressed wire name, pointing at an earlier copy of any suffix. */
  name(wire: Uint8Array, off = 0): void {
    while (wire[off] !== 0) {
      const suffix = wireKey(wire, off, skipName(wire, off));
      const ptr = this.names.get(suffix);
      if (ptr !== undefined) {
        this.u16(0xc000 | ptr);
        return;
      }
      if (this.pos < 0x4000) this.names.set(suffix, this.pos);
      const len = wire[off]!;
      this.bytes(wire, off, off + len + 1);
      off += len + 1;
    }
    this.room(1);
    this.buf[this.pos++] = 0;
  }
  question(name: Uint8Array, type: number, cls: number): void {
    this.name(name);
    this.u16(type);
    this.u16(cls);
  }
  /**
   * One RR. `names` are the offsets in `rdata` of names that may be
   * compressed (RFC 3597 §4: only the RFC 1035 types), in order.
   */
  rr(owner: Uint8Array, type: number, cls: number, ttl: number, rdata: Uint8Array, names: readonly number[] | null = null): void {
    this.name(owner);
    this.u16(type);
    this.u16(cls);
    this.u32(ttl);
    const lenAt = this.pos;
    this.u16(0);
    if (names === null) {
      this.bytes(rdata);
    } else {
      let from = 0;
      for (const at of names) {
        this.bytes(rdata, from, at);
        this.name(rdata, at);
        from = skipName(rdata, at);
      }
      this.bytes(rdata, from);
    }
    this.buf.writeUInt16BE(this.pos - lenAt - 2, lenAt);
  }
  /** A copy of what was written. */
  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
