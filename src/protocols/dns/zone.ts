/**
 * RFC 1035 §5 master-file reader (with RFC 2308 $TTL and RFC 3597 generic
 * RDATA), producing records in dns-packet's answer shape so the built-in
 * server can encode them as they are.
 *
 * Names. A name is a string of labels joined by '.', absolute, without the
 * trailing dot ('www.example.com'); the root is '.' (what dns-packet decodes
 * it as). Case is kept. A '.' or '\' that is part of a label is written `\.`
 * or `\\` (the convention dns-packet itself uses for SOA RNAME and RP mbox);
 * every other `\X` and `\DDD` escape is resolved to the character. Label
 * bytes must be valid UTF-8, because dns-packet writes label strings as
 * UTF-8: a name with other bytes (e.g. `\200`) is rejected rather than
 * silently re-encoded. dns-packet's plain name encoder splits on every '.',
 * so a name with an escaped dot is only encoded exactly by an encoder that
 * honours the escapes (see `splitName`), or in SOA RNAME / RP mbox.
 *
 * Types. `type` is dns-packet's name when dns-packet knows the number,
 * otherwise 'TYPEnnn' (also for mnemonics dns-packet lacks, e.g. HTTPS is
 * 'TYPE65'). dns-packet encodes a name it does not know as type 0, so give
 * it `packetTypeName(type)` ('UNKNOWN_65') or use `typeCode`. Inside rdata
 * (RRSIG type covered, NSEC/NSEC3 type lists) types are already in
 * dns-packet's spelling, 'UNKNOWN_nnn' included.
 *
 * Data. For the 22 types dns-packet has an rdata codec for, `data` is that
 * codec's object (TXT: an array of Buffers, exact bytes; CAA: {flags, tag,
 * value}, without `issuerCritical` because dns-packet's encoder would reset
 * flags to 128 from it). For every other type it is a Buffer of wire rdata:
 * built from the text form for the types parsed below, or given in RFC 3597
 * `\# len hex` form (which also works for the codec types, and is decoded).
 *
 * TTL when a record has none: the last $TTL; else (RFC 1035) the last TTL
 * stated on a record; else, for the SOA itself, its MINIMUM field (BIND's
 * fallback for pre-RFC 2308 files), which then becomes the default; else an
 * error. `defaultTtl` acts like a $TTL line before the file.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { dnsPacket } from './packet.js';
import type { Answer } from 'dns-packet';
import { InputFileError } from '../../errors.js';

/**
 * One resource record, in dns-packet's Answer shape so it can be encoded as-is:
 * `name` is absolute without the trailing dot ('www.example.com', the apex is
 * 'example.com'), `type` is dns-packet's type name ('A', 'MX', …, or 'TYPE65280'),
 * `data` is dns-packet's rdata for that type, or a Buffer of raw rdata for types
 * dns-packet cannot encode.
 */
export interface ZoneRecord {
  name: string;
  type: string;
  class: string;
  ttl: number;
  data: unknown;
  /** The numeric type (the reader always sets it; 'TYPE65' → 65). */
  typeCode?: number;
}

export interface Zone {
  /** Absolute origin without the trailing dot ('example.com'); '' for the root. */
  origin: string;
  /** Every record in file order, $INCLUDEs expanded in place. */
  records: ZoneRecord[];
  /** The file it was read from (for messages), or '<string>'. */
  file: string;
}

export interface ParseZoneOptions {
  /** Name of the text's file, for messages and for resolving relative $INCLUDE paths. */
  file?: string;
  /** Initial origin (trailing dot optional); also the zone's origin. */
  origin?: string;
  /** TTL for records that state none, as if the file began with `$TTL defaultTtl`. */
  defaultTtl?: number;
  /** Reads an $INCLUDE file, given its path joined to the including file's directory; without it $INCLUDE is an error. */
  readFile?: (path: string) => string;
}

// ---------------------------------------------------------------------------
// Types

interface TypeInfo {
  /** The spelling accepted in files (dns-packet's name or an IANA mnemonic). */
  mnemonic: string;
  code: number;
  /** What goes into ZoneRecord.type / Query.type. */
  recordType: string;
  /** dns-packet has an rdata codec for it (data is an object, not a Buffer). */
  codec: boolean;
}

/** Types dns-packet names (dns-packet/types.js); `true` where it also has an rdata codec (index.js `record()`). */
const PACKET_TYPES: ReadonlyArray<readonly [string, number, boolean]> = [
  ['A', 1, true], ['NS', 2, true], ['CNAME', 5, true], ['SOA', 6, true], ['NULL', 10, true],
  ['PTR', 12, true], ['HINFO', 13, true], ['MX', 15, true], ['TXT', 16, true], ['RP', 17, true],
  ['AFSDB', 18, false], ['SIG', 24, false], ['KEY', 25, false], ['AAAA', 28, true], ['LOC', 29, false],
  ['SRV', 33, true], ['NAPTR', 35, true], ['KX', 36, false], ['CERT', 37, false], ['DNAME', 39, true],
  ['OPT', 41, false], ['APL', 42, false], ['DS', 43, true], ['SSHFP', 44, true], ['IPSECKEY', 45, false],
  ['RRSIG', 46, true], ['NSEC', 47, true], ['DNSKEY', 48, true], ['DHCID', 49, false], ['NSEC3', 50, true],
  ['NSEC3PARAM', 51, false], ['TLSA', 52, true], ['HIP', 55, false], ['CDS', 59, false], ['CDNSKEY', 60, false],
  ['SPF', 99, false], ['TKEY', 249, false], ['TSIG', 250, false], ['IXFR', 251, false], ['AXFR', 252, false],
  ['ANY', 255, false], ['CAA', 257, true], ['TA', 32768, false], ['DLV', 32769, false],
];

/** IANA mnemonics dns-packet does not know; records of these types get type 'TYPEnnn'. */
const EXTRA_TYPES: ReadonlyArray<readonly [string, number]> = [
  ['MD', 3], ['MF', 4], ['MB', 7], ['MG', 8], ['MR', 9], ['WKS', 11], ['MINFO', 14], ['X25', 19],
  ['ISDN', 20], ['RT', 21], ['NSAP', 22], ['PX', 26], ['GPOS', 27], ['NXT', 30], ['A6', 38],
  ['SMIMEA', 53], ['OPENPGPKEY', 61], ['CSYNC', 62], ['ZONEMD', 63], ['SVCB', 64], ['HTTPS', 65],
  ['EUI48', 108], ['EUI64', 109], ['URI', 256],
];

const PACKET_NAMES = new Set(PACKET_TYPES.map(([name]) => name));
const TYPE_BY_NAME = new Map<string, TypeInfo>();
const TYPE_BY_CODE = new Map<number, TypeInfo>();
for (const [mnemonic, code, codec] of PACKET_TYPES) {
  const info = { mnemonic, code, recordType: mnemonic, codec };
  TYPE_BY_NAME.set(mnemonic, info);
  TYPE_BY_CODE.set(code, info);
}
for (const [mnemonic, code] of EXTRA_TYPES) {
  const info = { mnemonic, code, recordType: `TYPE${code}`, codec: false };
  TYPE_BY_NAME.set(mnemonic, info);
  TYPE_BY_CODE.set(code, info);
}

function typeByCode(code: number): TypeInfo {
  return TYPE_BY_CODE.get(code) ?? { mnemonic: `TYPE${code}`, code, recordType: `TYPE${code}`, codec: false };
}

/** A type as written in a file ('mx', 'TYPE15', 'HTTPS') → its info, or undefined if unknown. */
function lookupType(text: string): TypeInfo | undefined {
  const upper = text.toUpperCase();
  const known = TYPE_BY_NAME.get(upper);
  if (known) return known;
  const m = /^TYPE(\d{1,5})$/.exec(upper);
  if (!m) return undefined;
  const code = Number(m[1]);
  return code <= 0xffff ? typeByCode(code) : undefined;
}

/**
 * Parse a type as written in a zone or query file (any case, mnemonic or
 * TYPEnnn) → the record type string ('A', 'TYPE65', …) and its number.
 */
export function parseTypeName(text: string): { type: string; code: number } | undefined {
  const info = lookupType(text);
  return info ? { type: info.recordType, code: info.code } : undefined;
}

/** The number of a record type string ('A' → 1, 'TYPE65' → 65); undefined if not a type. */
export function typeCode(type: string): number | undefined {
  return lookupType(type)?.code;
}

/** A record type in the spelling dns-packet encodes correctly: 'TYPE65' → 'UNKNOWN_65'. */
export function packetTypeName(type: string): string {
  const info = lookupType(type);
  return info ? rdataTypeName(info) : type;
}

/** dns-packet's spelling of a type (it encodes names it does not know as type 0). */
function rdataTypeName(info: TypeInfo): string {
  return PACKET_NAMES.has(info.recordType) ? info.recordType : `UNKNOWN_${info.code}`;
}

/** Types that only exist in queries or messages, never in zone data (OPT, TKEY, TSIG, IXFR, AXFR, ANY, …). */
function isMetaType(code: number): boolean {
  return code === 0 || code === 41 || (code >= 128 && code <= 255);
}

/** The classes dns-packet encodes; also accepted as CLASS1..CLASS4 (RFC 3597). */
const CLASS_NAMES = ['IN', 'CS', 'CH', 'HS'];

/** 'in', 'CLASS1' → 'IN'; 'CLASS9' → null (a class, but not one dns-packet encodes); not a class → undefined. */
function parseClass(text: string): string | null | undefined {
  const upper = text.toUpperCase();
  if (CLASS_NAMES.includes(upper)) return upper;
  const m = /^CLASS(\d+)$/.exec(upper);
  if (!m) return undefined;
  return CLASS_NAMES[Number(m[1]) - 1] ?? null;
}

/** RFC 4034 appendix A.1 algorithm mnemonics (DNSKEY, RRSIG, DS and friends accept them). */
const ALGORITHMS = new Map<string, number>([
  ['RSAMD5', 1], ['DH', 2], ['DSA', 3], ['RSASHA1', 5], ['DSA-NSEC3-SHA1', 6], ['RSASHA1-NSEC3-SHA1', 7],
  ['RSASHA256', 8], ['RSASHA512', 10], ['ECC-GOST', 12], ['ECDSAP256SHA256', 13], ['ECDSAP384SHA384', 14],
  ['ED25519', 15], ['ED448', 16], ['INDIRECT', 252], ['PRIVATEDNS', 253], ['PRIVATEOID', 254],
]);

/** RFC 4398 §2.1 CERT type mnemonics. */
const CERT_TYPES = new Map<string, number>([
  ['PKIX', 1], ['SPKI', 2], ['PGP', 3], ['IPKIX', 4], ['ISPKI', 5], ['IPGP', 6], ['ACPKIX', 7],
  ['IACPKIX', 8], ['URI', 253], ['OID', 254],
]);

// ---------------------------------------------------------------------------
// Names

/** A name-syntax problem; callers turn it into an InputFileError with the position. */
export class NameSyntaxError extends Error {}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Resolve `\X` and `\DDD` escapes of a presentation-format string into bytes
 * (characters outside ASCII stand for their UTF-8 bytes).
 */
function unescapeBytes(raw: string): Buffer {
  if (raw.indexOf('\\') < 0) return Buffer.from(raw, 'utf8');
  const out: Buffer[] = [];
  const bytes: number[] = [];
  let plainStart = 0;
  const flushPlain = (end: number): void => {
    if (end > plainStart) {
      if (bytes.length > 0) out.push(Buffer.from(bytes.splice(0)));
      out.push(Buffer.from(raw.slice(plainStart, end), 'utf8'));
    }
  };
  for (let i = 0; i < raw.length; i++) {
    if (raw.charCodeAt(i) !== 92) continue;
    flushPlain(i);
    const next = raw.charCodeAt(i + 1);
    if (Number.isNaN(next)) throw new NameSyntaxError(`'${raw}' ends with a lone backslash`);
    if (isDigit(next)) {
      const ddd = raw.slice(i + 1, i + 4);
      if (!/^\d{3}$/.test(ddd)) throw new NameSyntaxError(`bad escape in '${raw}': \\DDD needs three digits`);
      const value = Number(ddd);
      if (value > 255) throw new NameSyntaxError(`bad escape \\${ddd} in '${raw}': above 255`);
      bytes.push(value);
      i += 3;
    } else {
      // Escaped character: may be a surrogate pair outside the BMP.
      const cp = raw.codePointAt(i + 1) ?? next;
      const ch = String.fromCodePoint(cp);
      if (cp < 0x80) bytes.push(cp);
      else bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
    plainStart = i + 1;
  }
  flushPlain(raw.length);
  if (bytes.length > 0) out.push(Buffer.from(bytes));
  return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
}

/** Bytes → string that dns-packet's UTF-8 writer turns back into the same bytes. */
function utf8Exact(bytes: Buffer, what: string): string {
  const text = bytes.toString('utf8');
  if (Buffer.byteLength(text) !== bytes.length || !Buffer.from(text, 'utf8').equals(bytes)) {
    throw new NameSyntaxError(`${what} has bytes that are not UTF-8, which dns-packet cannot encode (use \\# form)`);
  }
  return text;
}

function escapeLabel(label: string): string {
  return label.indexOf('.') < 0 && label.indexOf('\\') < 0 ? label : label.replace(/[.\\]/g, '\\$&');
}

/** Labels → the name string used in records ('.' for the root). */
function labelsToName(labels: readonly string[]): string {
  if (labels.length === 0) return '.';
  let out = escapeLabel(labels[0] as string);
  for (let i = 1; i < labels.length; i++) out += '.' + escapeLabel(labels[i] as string);
  return out;
}

function checkName(labels: readonly string[], text: string): void {
  let wire = 1;
  for (const label of labels) {
    const len = Buffer.byteLength(label);
    if (len === 0) throw new NameSyntaxError(`empty label in name '${text}'`);
    if (len > 63) throw new NameSyntaxError(`label '${label}' in '${text}' is longer than 63 bytes`);
    wire += len + 1;
  }
  if (wire > 255) throw new NameSyntaxError(`name '${text}' is longer than 255 bytes`);
}

/**
 * Presentation text → labels. '@' is the origin; a name without a trailing
 * dot is relative to `origin` (undefined: no origin known → error).
 */
function textToLabels(raw: string, origin: readonly string[] | undefined): string[] {
  if (raw === '@') return relativeTo([], raw, origin);
  if (raw === '.') return [];
  if (raw.length === 0) throw new NameSyntaxError('empty name');
  let labels: string[];
  let absolute: boolean;
  if (raw.indexOf('\\') < 0) {
    absolute = raw.endsWith('.');
    labels = (absolute ? raw.slice(0, -1) : raw).split('.');
  } else {
    // Split at dots that are not escaped, resolving escapes label by label.
    labels = [];
    absolute = false;
    let start = 0;
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c === 92) {
        i += isDigit(raw.charCodeAt(i + 1)) ? 3 : 1;
      } else if (c === 46) {
        labels.push(labelText(raw.slice(start, i), raw));
        start = i + 1;
        if (start === raw.length) absolute = true;
      }
    }
    if (!absolute) labels.push(labelText(raw.slice(start), raw));
  }
  const full = absolute ? labels : relativeTo(labels, raw, origin);
  checkName(full, raw);
  return full;
}

function relativeTo(labels: string[], raw: string, origin: readonly string[] | undefined): string[] {
  if (!origin) throw new NameSyntaxError(`relative name '${raw}' but no origin is known ($ORIGIN or the zone origin)`);
  return origin.length === 0 ? labels : labels.concat(origin);
}

/** The current origin, with its record-form text and wire length kept for the fast path below. */
interface Origin {
  labels: readonly string[];
  text: string;
  wire: number;
}

function makeOrigin(labels: readonly string[]): Origin {
  let wire = 1;
  for (const label of labels) wire += Buffer.byteLength(label) + 1;
  return { labels, text: labelsToName(labels), wire };
}

const ROOT_ORIGIN = makeOrigin([]);

/**
 * Presentation text → record-form name. Plain ASCII names without escapes
 * (nearly all of them) are checked and joined as strings; the rest go
 * through textToLabels, which also produces every error message.
 */
function textToName(raw: string, origin: Origin | undefined): string {
  const n = raw.length;
  if (n > 0 && raw !== '@' && raw.indexOf('\\') < 0) {
    const absolute = raw.charCodeAt(n - 1) === 46;
    if (absolute || origin) {
      const end = absolute ? n - 1 : n;
      let wire = absolute ? 1 : (origin as Origin).wire;
      let start = 0;
      let plain = true;
      for (let i = 0; i <= end && plain; i++) {
        const c = i < end ? raw.charCodeAt(i) : 46;
        if (c > 127) plain = false;
        else if (c === 46) {
          const len = i - start;
          if (len === 0 || len > 63) plain = false;
          wire += len + 1;
          start = i + 1;
        }
      }
      if (plain && wire <= 255) {
        if (absolute) return raw.slice(0, end);
        return (origin as Origin).labels.length === 0 ? raw : `${raw}.${(origin as Origin).text}`;
      }
    }
  }
  return labelsToName(textToLabels(raw, origin?.labels));
}

function labelText(rawLabel: string, name: string): string {
  if (rawLabel.indexOf('\\') < 0) return rawLabel;
  return utf8Exact(unescapeBytes(rawLabel), `name '${name}'`);
}

/**
 * Parse a domain name in presentation format ('www', 'a\.b.example.com.',
 * '\065bc', '@') into the record name form. Relative names are made
 * absolute with `origin` (a record-form name; default the root).
 * Throws NameSyntaxError with a reason.
 */
export function parseDomainName(text: string, origin = '.'): string {
  return textToName(text, origin === '.' || origin === '' ? ROOT_ORIGIN : makeOrigin(splitName(origin)));
}

/** A record-form name → its labels with `\.` and `\\` resolved ('.' and '' → []). */
export function splitName(name: string): string[] {
  if (name === '.' || name === '') return [];
  if (name.indexOf('\\') < 0) return name.split('.');
  const labels: string[] = [];
  let label = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i] as string;
    if (c === '\\' && i + 1 < name.length) {
      label += name[++i];
    } else if (c === '.') {
      labels.push(label);
      label = '';
    } else {
      label += c;
    }
  }
  labels.push(label);
  return labels;
}

/** Lower-case ASCII letters only (DNS names compare case-insensitively in ASCII, RFC 4343). */
export function lowerName(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : name;
}

/** True if `name` equals `parent` or lies below it (record-form names, case-insensitive). */
export function isAtOrBelow(name: string, parent: string): boolean {
  const n = lowerName(name);
  const p = lowerName(parent);
  if (p === '.' || p === '' || n === p) return true;
  if (!n.endsWith(p) || n.length <= p.length + 1) return false;
  const dot = n.length - p.length - 1;
  if (n[dot] !== '.') return false;
  // The dot must not itself be escaped: an odd run of backslashes before it escapes it.
  let slashes = 0;
  for (let i = dot - 1; i >= 0 && n[i] === '\\'; i--) slashes++;
  return slashes % 2 === 0;
}

/**
 * A record-form name → presentation text with a trailing dot, escaping what a
 * master file or dnsperf data file would otherwise read differently.
 */
export function formatDomainName(name: string): string {
  // Letters, digits, '-', '_' and '*' need no escape (the common case), and then the record form is the text.
  if (/^[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_*-]+)*$/.test(name)) return `${name}.`;
  const labels = splitName(name);
  if (labels.length === 0) return '.';
  let out = '';
  for (const label of labels) {
    for (const ch of label) {
      const c = ch.codePointAt(0) as number;
      if (c <= 0x20 || c === 0x7f) out += '\\' + String(c).padStart(3, '0');
      else if ('.\\"();@$'.includes(ch)) out += '\\' + ch;
      else out += ch;
    }
    out += '.';
  }
  return out;
}

// ---------------------------------------------------------------------------
// Tokenizer (RFC 1035 §5.1)

interface Tok {
  /** Text with escapes still in it; for a quoted token, what was between the quotes. */
  raw: string;
  quoted: boolean;
  line: number;
}

interface Entry {
  /** Line of the entry's first token. */
  line: number;
  /** The entry's first line began with a space or tab: owner omitted. */
  blankOwner: boolean;
  toks: Tok[];
}

/** Characters that end an unquoted token: space, tab, CR, LF, ';', '(', ')', '"'. */
function isDelimiter(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10 || c === 59 || c === 40 || c === 41 || c === 34;
}

/**
 * Splits master-file text into entries (one per logical line, parentheses
 * joining lines), one entry at a time so that tokens die young (holding the
 * whole file's tokens made garbage collection the main cost).
 */
class Lexer {
  private i: number;
  private line = 1;
  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {
    this.i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // byte order mark
  }

  /** The next entry with at least one token, or undefined at the end. */
  next(): Entry | undefined {
    const text = this.text;
    const n = text.length;
    while (this.i < n) {
      const c0 = text.charCodeAt(this.i);
      const entry: Entry = { line: this.line, blankOwner: c0 === 32 || c0 === 9, toks: [] };
      this.scanEntry(entry, text, n);
      if (entry.toks.length > 0) return entry;
    }
    return undefined;
  }

  /** Read one logical line into `entry`, up to and including its final newline. */
  private scanEntry(entry: Entry, text: string, n: number): void {
    let i = this.i;
    let line = this.line;
    let depth = 0;
    let parenLine = 0;
    const toks = entry.toks;
    for (;;) {
      if (i >= n) {
        if (depth > 0) throw new InputFileError(this.file, parenLine, "unbalanced parenthesis: '(' is never closed");
        break;
      }
      const c = text.charCodeAt(i);
      if (c === 10) {
        line++;
        i++;
        if (depth === 0) break;
      } else if (c === 32 || c === 9 || c === 13) {
        i++;
      } else if (c === 59) {
        const eol = text.indexOf('\n', i);
        i = eol < 0 ? n : eol;
      } else if (c === 40) {
        if (depth === 0) parenLine = line;
        depth++;
        i++;
      } else if (c === 41) {
        if (depth === 0) throw new InputFileError(this.file, line, "unbalanced parenthesis: ')' without '('");
        depth--;
        i++;
      } else if (c === 34) {
        const startLine = line;
        let j = i + 1;
        for (;;) {
          if (j >= n) throw new InputFileError(this.file, startLine, 'unterminated quoted string');
          const d = text.charCodeAt(j);
          if (d === 34) break;
          if (d === 10) throw new InputFileError(this.file, startLine, 'unterminated quoted string (a quote must close on its line)');
          if (d === 92) {
            if (j + 1 >= n) throw new InputFileError(this.file, startLine, 'unterminated quoted string');
            if (text.charCodeAt(j + 1) === 10) line++;
            j += 2;
          } else {
            j++;
          }
        }
        if (toks.length === 0) entry.line = startLine;
        toks.push({ raw: text.slice(i + 1, j), quoted: true, line: startLine });
        i = j + 1;
      } else {
        const startLine = line;
        let j = i;
        while (j < n) {
          const d = text.charCodeAt(j);
          if (d === 92) {
            if (j + 1 >= n) throw new InputFileError(this.file, line, 'backslash at end of file');
            if (text.charCodeAt(j + 1) === 10) line++;
            j += 2;
          } else if (isDelimiter(d)) {
            break;
          } else {
            j++;
          }
        }
        if (toks.length === 0) entry.line = startLine;
        toks.push({ raw: text.slice(i, j), quoted: false, line: startLine });
        i = j;
      }
    }
    this.i = i;
    this.line = line;
  }
}

// ---------------------------------------------------------------------------
// Numbers, TTLs, encodings

const TTL_MAX = 0x7fffffff; // RFC 2181 §8

/** '3600', '1h', '2W', '1h30m' (units w d h m s, any case) → seconds; undefined if malformed. */
function parseTtlText(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[wdhms])+$/i.test(text)) return undefined;
  let total = 0;
  for (const m of text.toLowerCase().matchAll(/(\d+)([wdhms])/g)) {
    const unit = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 }[m[2] as 'w' | 'd' | 'h' | 'm' | 's'];
    total += Number(m[1]) * unit;
  }
  return total;
}

function decodeHex(text: string): Buffer | undefined {
  return /^(?:[0-9a-fA-F]{2})*$/.test(text) ? Buffer.from(text, 'hex') : undefined;
}

function decodeBase64(text: string): Buffer | undefined {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text) ? Buffer.from(text, 'base64') : undefined;
}

/** RFC 4648 §7 base32hex without padding (NSEC3 next hashed owner). */
function decodeBase32Hex(text: string): Buffer | undefined {
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
function parseIPv4(text: string): number[] | undefined {
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

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Strict RFC 4291 §2.2 text → eight 16-bit groups. */
function parseIPv6(text: string): number[] | undefined {
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
function formatIPv6(groups: readonly number[]): string {
  return groups
    .map((g) => g.toString(16))
    .join(':').replace(/(^|:)0(:0)*:0(:|$)/, '$1::$3').replace(/:{3,4}/, '::');
}

/** Type-bitmap wire format (RFC 4034 §4.1.2), for raw types such as CSYNC. */
function typeBitmap(codes: readonly number[]): number[] {
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
class Wire {
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
    for (const label of labels) this.str(Buffer.from(label, 'utf8'));
    return this.u8(0);
  }
  done(): Buffer {
    return Buffer.from(this.parts);
  }
}

// ---------------------------------------------------------------------------
// RDATA fields

/** Cursor over one record's RDATA tokens; every failure names the file and line. */
class Fields {
  private i = 0;
  constructor(
    private readonly toks: readonly Tok[],
    private readonly start: number,
    readonly type: string,
    private readonly file: string,
    private readonly line: number,
    private readonly origin: Origin | undefined,
  ) {
    this.i = start;
  }

  fail(reason: string, tok?: Tok): never {
    throw new InputFileError(this.file, tok?.line ?? this.line, `${this.type} record: ${reason}`);
  }

  more(): boolean {
    return this.i < this.toks.length;
  }

  take(what: string): Tok {
    const tok = this.toks[this.i];
    if (!tok) this.fail(`missing ${what}`);
    this.i++;
    return tok;
  }

  end(): void {
    const tok = this.toks[this.i];
    if (tok) this.fail(`unexpected extra field '${tok.raw}'`, tok);
  }

  private guard<T>(tok: Tok, f: () => T): T {
    try {
      return f();
    } catch (error) {
      if (error instanceof NameSyntaxError) this.fail(error.message, tok);
      throw error;
    }
  }

  labels(what: string): string[] {
    const tok = this.take(what);
    return this.guard(tok, () => textToLabels(tok.raw, this.origin?.labels));
  }

  name(what: string): string {
    const tok = this.take(what);
    return this.guard(tok, () => textToName(tok.raw, this.origin));
  }

  int(what: string, max: number): number {
    const tok = this.take(what);
    if (!/^\d+$/.test(tok.raw) || Number(tok.raw) > max) this.fail(`bad ${what} '${tok.raw}' (0..${max})`, tok);
    return Number(tok.raw);
  }

  /** A time field: a number or TTL units ('1h30m'). */
  time(what: string, max: number): number {
    const tok = this.take(what);
    const v = parseTtlText(tok.raw);
    if (v === undefined || v > max) this.fail(`bad ${what} '${tok.raw}'`, tok);
    return v;
  }

  /** A number, or a mnemonic from `table`. */
  code(what: string, max: number, table: ReadonlyMap<string, number>): number {
    const tok = this.take(what);
    const named = table.get(tok.raw.toUpperCase());
    if (named !== undefined) return named;
    if (!/^\d+$/.test(tok.raw) || Number(tok.raw) > max) this.fail(`bad ${what} '${tok.raw}'`, tok);
    return Number(tok.raw);
  }

  algorithm(): number {
    return this.code('algorithm', 255, ALGORITHMS);
  }

  /** Unescaped bytes of one token, at most `max` long. */
  bytes(what: string, max = 255): Buffer {
    const tok = this.take(what);
    const b = this.guard(tok, () => unescapeBytes(tok.raw));
    if (b.length > max) this.fail(`${what} is ${b.length} bytes, longer than ${max}`, tok);
    return b;
  }

  /** A <character-string> as a JS string dns-packet writes back byte for byte. */
  text(what: string, max = 255): string {
    const tok = this.toks[this.i];
    const b = this.bytes(what, max);
    return this.guard(tok as Tok, () => utf8Exact(b, what));
  }

  /** All remaining tokens joined (hex and base64 fields may be split by spaces). */
  rest(what: string): string {
    if (!this.more()) this.fail(`missing ${what}`);
    let s = '';
    while (this.more()) s += this.take(what).raw;
    return s;
  }

  hex(what: string, text = this.rest(what)): Buffer {
    const b = decodeHex(text);
    if (!b) this.fail(`bad hex in ${what}`);
    return b;
  }

  base64(what: string): Buffer {
    const b = decodeBase64(this.rest(what));
    if (!b) this.fail(`bad base64 in ${what}`);
    return b;
  }

  typeInfo(what: string): TypeInfo {
    const tok = this.take(what);
    const info = lookupType(tok.raw);
    if (!info) this.fail(`unknown type '${tok.raw}' in ${what}`, tok);
    return info;
  }

  /** Remaining tokens as a type list, sorted and unique (the order a type bitmap decodes in). */
  typeList(): TypeInfo[] {
    const seen = new Map<number, TypeInfo>();
    while (this.more()) {
      const info = this.typeInfo('type list');
      seen.set(info.code, info);
    }
    return [...seen.values()].sort((a, b) => a.code - b.code);
  }

  /** RRSIG/SIG expiration and inception: YYYYMMDDHHmmSS or seconds (RFC 4034 §3.2). */
  timestamp(what: string): number {
    const tok = this.take(what);
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(tok.raw);
    if (m) {
      const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      const ms = Date.UTC(y, mo - 1, d, h, mi, s);
      const back = new Date(ms);
      if (mo < 1 || mo > 12 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) this.fail(`bad ${what} '${tok.raw}'`, tok);
      return (ms / 1000) % 2 ** 32; // serial arithmetic past 2106, RFC 4034 §3.1.5
    }
    if (!/^\d{1,10}$/.test(tok.raw) || Number(tok.raw) > 0xffffffff) this.fail(`bad ${what} '${tok.raw}'`, tok);
    return Number(tok.raw);
  }
}

type Parser = (f: Fields) => unknown;

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
const rawDsLike: Parser = (f: Fields) =>
  new Wire()
    .u16(f.int('key tag', 0xffff))
    .u8(f.algorithm())
    .u8(f.int('digest type', 255))
    .bytes(f.hex('digest'))
    .done();
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
    .u32(f.timestamp('expiration'))
    .u32(f.timestamp('inception'))
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

const PARSERS: Record<string, Parser> = {
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
  DS(f: Fields) {
    return { keyTag: f.int('key tag', 0xffff), algorithm: f.algorithm(), digestType: f.int('digest type', 255), digest: f.hex('digest') };
  },
  DNSKEY(f: Fields) {
    const flags = f.int('flags', 0xffff);
    const tok = f.take('protocol');
    // dns-packet writes protocol 3 whatever it is given, and refuses to decode anything else.
    if (tok.raw !== '3') f.fail(`protocol must be 3, not '${tok.raw}'`, tok);
    return { flags, algorithm: f.algorithm(), key: f.base64('public key') };
  },
  RRSIG(f: Fields) {
    return {
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
    const hashTok = f.take('fingerprint type');
    // dns-packet only knows the lengths of SHA-1 (1) and SHA-256 (2) fingerprints.
    if (hashTok.raw !== '1' && hashTok.raw !== '2') f.fail(`fingerprint type '${hashTok.raw}' is not 1 or 2 (dns-packet encodes only those; use \\# form)`, hashTok);
    const hash = Number(hashTok.raw);
    const fp = f.hex('fingerprint');
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
  KEY: rawKeyLike,
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
    return new Wire()
      .u32(f.int('serial', 0xffffffff))
      .u8(f.int('scheme', 255))
      .u8(f.int('hash algorithm', 255))
      .bytes(f.hex('digest'))
      .done();
  },
  EUI48: rawEui(6),
  EUI64: rawEui(8),
  URI(f: Fields) {
    const w = new Wire().u16(f.int('priority', 0xffff)).u16(f.int('weight', 0xffff)).bytes(f.bytes('target', 0xffff));
    f.end();
    return w.done();
  },
};

/** RFC 3597 §5: `\# <length> <hex words>` → the rdata bytes. */
function genericRdata(f: Fields): Buffer {
  f.take('\\#');
  const length = f.int('generic rdata length', 0xffff);
  const bytes = f.more() ? f.hex('generic rdata') : Buffer.alloc(0);
  if (bytes.length !== length) f.fail(`\\# says ${length} bytes but the hex has ${bytes.length}`);
  return bytes;
}

/** Decode generic rdata of a type dns-packet has a codec for, and make sure it re-encodes to the same bytes. */
function decodeWithCodec(f: Fields, info: TypeInfo, rdata: Buffer): unknown {
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
    f.fail(`\\# rdata is not valid ${info.mnemonic} rdata for dns-packet (${(error as Error).message})`);
  }
  return data;
}

// ---------------------------------------------------------------------------
// The reader

interface Shared {
  records: ZoneRecord[];
  /** Where each record came from, for checks made after the whole zone is read (flat arrays: no object per record). */
  whereFile: string[];
  whereLine: number[];
  ttlDefault: number | undefined;
  ttlFromDirective: boolean;
  klass: string | undefined;
  soa: { name: string; file: string; line: number } | undefined;
  firstOrigin: Origin | undefined;
  readFile: ((path: string) => string) | undefined;
  /** Resolved paths of the files being read, outermost first (include-loop check). */
  stack: string[];
}

/** A name token of an entry → record-form name (or with `labels`, an Origin), or an InputFileError at the token's line. */
function entryName(tok: Tok, origin: Origin | undefined, file: string, labels: true): Origin;
function entryName(tok: Tok, origin: Origin | undefined, file: string, labels?: false): string;
function entryName(tok: Tok, origin: Origin | undefined, file: string, labels = false): string | Origin {
  try {
    return labels ? makeOrigin(textToLabels(tok.raw, origin?.labels)) : textToName(tok.raw, origin);
  } catch (error) {
    if (error instanceof NameSyntaxError) throw new InputFileError(file, tok.line, error.message);
    throw error;
  }
}

function readEntries(text: string, file: string, origin: Origin | undefined, shared: Shared): void {
  const lexer = new Lexer(text, file);
  let ownerName: string | undefined;
  let entry: Entry = { line: 0, blankOwner: false, toks: [] };
  // Declared once, not per entry: per-record closures cost more than the parsing.
  const fail: (reason: string, tok?: Tok) => never = (reason, tok) => {
    throw new InputFileError(file, tok?.line ?? entry.line, reason);
  };
  const originOf = (tok: Tok): Origin => entryName(tok, origin, file, true);
  for (let next = lexer.next(); next; next = lexer.next()) {
    entry = next;
    const toks = entry.toks;
    const first = toks[0] as Tok;

    if (!entry.blankOwner && !first.quoted && first.raw.startsWith('$')) {
      const directive = first.raw.toUpperCase();
      const arg = toks[1];
      if (directive === '$ORIGIN') {
        if (!arg || toks.length > 2) fail('$ORIGIN takes one domain name');
        origin = originOf(arg);
        shared.firstOrigin ??= origin;
      } else if (directive === '$TTL') {
        if (!arg || toks.length > 2) fail('$TTL takes one TTL');
        const ttl = parseTtlText(arg.raw);
        if (ttl === undefined || ttl > TTL_MAX) fail(`bad TTL '${arg.raw}'`, arg);
        shared.ttlDefault = ttl;
        shared.ttlFromDirective = true;
      } else if (directive === '$INCLUDE') {
        if (!arg || toks.length > 3) fail('$INCLUDE takes a file name and an optional origin');
        const includeOrigin = toks[2] ? originOf(toks[2]) : origin;
        include(arg, includeOrigin, file, entry.line, shared);
      } else {
        fail(`unsupported directive ${first.raw}`, first);
      }
      continue;
    }

    let i = 0;
    if (entry.blankOwner) {
      if (ownerName === undefined) fail('no owner name: the first record must name one');
    } else {
      ownerName = entryName(first, origin, file);
      i = 1;
    }

    // [TTL] [class] or [class] [TTL], both optional (RFC 1035 §5.1).
    let ttl: number | undefined;
    let klass: string | undefined;
    for (;;) {
      const tok = toks[i];
      if (!tok) fail('missing type');
      if (ttl === undefined && isDigit(tok.raw.charCodeAt(0))) {
        ttl = parseTtlText(tok.raw);
        if (ttl === undefined || ttl > TTL_MAX) fail(`bad TTL '${tok.raw}'`, tok);
        i++;
      } else if (klass === undefined && parseClass(tok.raw) !== undefined) {
        klass = parseClass(tok.raw) ?? fail(`class ${tok.raw} is not supported (dns-packet encodes IN, CS, CH and HS only)`, tok);
        i++;
      } else {
        break;
      }
    }
    const typeTok = toks[i] as Tok;
    const info = lookupType(typeTok.raw);
    if (!info) fail(`unknown type '${typeTok.raw}'`, typeTok);
    if (isMetaType(info.code)) fail(`type ${typeTok.raw} cannot appear in zone data`, typeTok);
    i++;

    klass ??= shared.klass ?? 'IN';
    if (shared.klass !== undefined && klass !== shared.klass) fail(`class ${klass} differs from the zone's class ${shared.klass}`);
    shared.klass = klass;

    const f = new Fields(toks, i, info.mnemonic, file, entry.line, origin);
    let data: unknown;
    const rdataFirst = toks[i];
    if (rdataFirst && !rdataFirst.quoted && rdataFirst.raw === '\\#') {
      const rdata = genericRdata(f);
      data = info.codec ? decodeWithCodec(f, info, rdata) : rdata;
    } else {
      const parse = PARSERS[info.mnemonic];
      if (!parse) fail(`no text parser for ${info.mnemonic}: write its rdata in RFC 3597 form (\\# length hex)`, typeTok);
      data = parse(f);
    }

    if (info.code === 6) {
      if (shared.soa) fail(`a second SOA record (the first is at ${shared.soa.file}:${shared.soa.line})`);
      shared.soa = { name: ownerName, file, line: entry.line };
    }
    if (ttl !== undefined) {
      if (!shared.ttlFromDirective) shared.ttlDefault = ttl;
    } else if (shared.ttlDefault !== undefined) {
      ttl = shared.ttlDefault;
    } else if (info.code === 6) {
      ttl = Math.min((data as { minimum: number }).minimum ?? 0, TTL_MAX);
      shared.ttlDefault = ttl;
    } else {
      fail('no TTL: give one on the record or a $TTL line before it');
    }

    shared.records.push({ name: ownerName, type: info.recordType, class: klass, ttl, data, typeCode: info.code });
    shared.whereFile.push(file);
    shared.whereLine.push(entry.line);
  }
}

function include(arg: Tok, origin: Origin | undefined, file: string, line: number, shared: Shared): void {
  let target: string;
  try {
    target = unescapeBytes(arg.raw).toString('utf8');
  } catch (error) {
    throw new InputFileError(file, line, `bad $INCLUDE file name: ${(error as Error).message}`);
  }
  if (!shared.readFile) throw new InputFileError(file, line, '$INCLUDE is not available here (no file reader)');
  // Relative to the including file, and kept relative so messages name it as the user would.
  const path = isAbsolute(target) ? target : join(dirname(file), target);
  const resolved = resolve(path);
  if (shared.stack.includes(resolved)) {
    throw new InputFileError(file, line, `$INCLUDE loop: ${[...shared.stack, resolved].join(' -> ')}`);
  }
  let text: string;
  try {
    text = shared.readFile(path);
  } catch (error) {
    throw new InputFileError(file, line, `cannot read $INCLUDE file ${path}: ${(error as Error).message}`);
  }
  shared.stack.push(resolved);
  readEntries(text, path, origin, shared);
  shared.stack.pop();
}

/** Parse master-file text. Every problem is an InputFileError naming the file and line. */
export function parseZone(text: string, options: ParseZoneOptions = {}): Zone {
  const file = options.file ?? '<string>';
  let origin: Origin | undefined;
  if (options.origin !== undefined) {
    try {
      origin = makeOrigin(textToLabels(options.origin.endsWith('.') ? options.origin : `${options.origin}.`, undefined));
    } catch (error) {
      throw new InputFileError(file, undefined, `bad origin '${options.origin}': ${(error as Error).message}`);
    }
  }
  if (options.defaultTtl !== undefined && !(Number.isInteger(options.defaultTtl) && options.defaultTtl >= 0 && options.defaultTtl <= TTL_MAX)) {
    throw new InputFileError(file, undefined, `bad default TTL ${options.defaultTtl}`);
  }
  const shared: Shared = {
    records: [],
    whereFile: [],
    whereLine: [],
    ttlDefault: options.defaultTtl,
    ttlFromDirective: options.defaultTtl !== undefined,
    klass: undefined,
    soa: undefined,
    firstOrigin: undefined,
    readFile: options.readFile,
    stack: [resolve(file)],
  };
  readEntries(text, file, origin, shared);

  let zoneOrigin: string;
  if (origin) zoneOrigin = origin.text;
  else if (shared.soa) zoneOrigin = shared.soa.name;
  else if (shared.firstOrigin) zoneOrigin = shared.firstOrigin.text;
  else throw new InputFileError(file, undefined, 'cannot tell the zone origin: no origin given, no SOA record and no $ORIGIN');

  if (shared.soa && lowerName(shared.soa.name) !== lowerName(zoneOrigin)) {
    throw new InputFileError(shared.soa.file, shared.soa.line, `SOA record for ${shared.soa.name}, but the zone origin is ${zoneOrigin}`);
  }
  shared.records.forEach((record, k) => {
    if (!isAtOrBelow(record.name, zoneOrigin)) {
      throw new InputFileError(shared.whereFile[k] as string, shared.whereLine[k], `${record.name} is outside the zone ${zoneOrigin}`);
    }
  });
  return { origin: zoneOrigin === '.' ? '' : zoneOrigin, records: shared.records, file };
}

/** Read a zone file; $INCLUDE paths are relative to the including file. */
export function loadZone(path: string, options: { origin?: string; defaultTtl?: number } = {}): Zone {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InputFileError(path, undefined, `cannot read zone file: ${(error as Error).message}`);
  }
  return parseZone(text, { ...options, file: path, readFile: (p) => readFileSync(p, 'utf8') });
}
