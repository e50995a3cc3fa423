/**
 * RFC 1035 §5 master-file reader (with RFC 2308 $TTL and RFC 3597 generic
 * RDATA), producing records in dns-packet's answer shape so the built-in
 * server can encode them as they are.
 *
 * Names. A name is a string of labels joined by '.', absolute, without the
 * trailing dot ('www.example.com'); the root is '.' (what dns-packet decodes
 * it as). Case is kept. A '.' or '\' that is part of a label is written `\.`
 * or `\\` (the convention dns-packet itself uses for SOA RNAME and RP mbox);
 * a label whose bytes are not UTF-8 keeps its bytes above 127 as `\DDD`
 * (names.ts); every other escape is resolved to the character. dns-packet's
 * plain name encoder splits on every '.' and writes UTF-8, so such names are
 * only encoded exactly by wire.ts `nameToWire`, which the built-in server uses.
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
 * flags to 128 from it), except where dns-packet cannot encode what BIND
 * accepts (DNSKEY protocols other than 3, SSHFP fingerprint types other than
 * 1 and 2): a Buffer. For every other type it is a Buffer of wire rdata:
 * built from the text form for the types parsed below, or given in RFC 3597
 * `\# len hex` form (which also works for the codec types, and is decoded;
 * kept as a Buffer where dns-packet cannot write the decoded form back, as
 * for a name in rdata with `\.` or bytes that are not UTF-8).
 *
 * TTL when a record has none (as BIND's loader): the last $TTL; else the SOA
 * MINIMUM field once an SOA without a TTL has been read (BIND's fallback for
 * pre-RFC 2308 files, which then acts as a $TTL); else (RFC 1035) the last
 * TTL stated on a record; else an error. `defaultTtl` acts like a $TTL line
 * before the file.
 *
 * Module layout: lexer.ts (tokens), names.ts (presentation names), text.ts
 * (field encodings), fields.ts (the rdata cursor), rdata.ts (one parser per
 * type or family), directives.ts ($ORIGIN, $TTL, $INCLUDE, $GENERATE), and
 * this file, the reader.
 */
import { readFileSync } from 'node:fs';
import { InputFileError } from '../../../errors.js';
import { isMetaType, lookupType, parseClass, typeMnemonic } from '../types.js';
import { directive, includeKey, type Reader } from './directives.js';
import { Fields } from './fields.js';
import { Lexer, type Entry, type Tok } from './lexer.js';
import { NameSyntaxError, isAtOrBelow, isDigit, lowerName, makeOrigin, textToLabels, textToName, type Origin } from './names.js';
import { decodeWithCodec, genericRdata, PARSERS } from './rdata.js';
import { TTL_MAX, ttlField } from './text.js';

export { NameSyntaxError, formatDomainName, isAtOrBelow, lowerName, parseDomainName, splitName } from './names.js';
export { packetTypeName, parseTypeName, typeCode } from '../types.js';

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
  /**
   * True when the file gave this record no TTL and no $TTL (or `defaultTtl`)
   * was in force, so `ttl` is BIND's fallback (the SOA MINIMUM, or the last
   * TTL stated). Servers differ here: NSD gives such records its own default
   * of 3600 instead, and the built-in server does as NSD does.
   */
  ttlImplicit?: true;
}

export interface Zone {
  /** Absolute origin without the trailing dot ('example.com'); '' for the root. */
  origin: string;
  /** Every record in file order, $INCLUDEs expanded in place. */
  records: ZoneRecord[];
  /** The file it was read from (for messages), or '<string>'. */
  file: string;
  /** Records the file has outside the origin, left out as BIND leaves them out (absent when none). */
  outOfZone?: number;
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
// The reader

interface Shared {
  records: ZoneRecord[];
  ttlDefault: number | undefined;
  /** ttlDefault came from $TTL, the options or the SOA MINIMUM: a TTL stated on a record does not replace it. */
  ttlFromDirective: boolean;
  /** A $TTL line or the defaultTtl option is in force (not just BIND's fallbacks). */
  ttlDirective: boolean;
  klass: string | undefined;
  soa: { name: string; file: string; line: number } | undefined;
  firstOrigin: Origin | undefined;
  readFile: ((path: string) => string) | undefined;
  /** Resolved paths of the files being read, outermost first (include-loop check). */
  stack: string[];
  /** Per lower-cased owner: its types, and the rdata of each type seen so far (duplicate and CNAME checks). */
  owners: Map<string, Map<number, Set<string>>>;
}

/** Types that may share a name with a CNAME (BIND's DNS_RDATATYPEATTR_ATCNAME: SIG, KEY, NXT, RRSIG, NSEC). */
const AT_CNAME = new Set([24, 25, 30, 46, 47]);
/** Types of which a name holds one record at most. */
const SINGLETON = new Set([5, 39]);

/** The owner of the previous entry, carried across the entries of one file. */
interface FileState {
  file: string;
  origin: Origin | undefined;
  owner: string | undefined;
}

function ownerName(tok: Tok, origin: Origin | undefined, file: string): string {
  try {
    return textToName(tok.raw, origin);
  } catch (error) {
    if (error instanceof NameSyntaxError) throw new InputFileError(file, tok.line, error.message);
    throw error;
  }
}

function readEntries(text: string, file: string, origin: Origin | undefined, shared: Shared): void {
  const lexer = new Lexer(text, file);
  const state: FileState = { file, origin, owner: undefined };
  const reader: Reader = {
    readFile: (paths, includeOrigin, line) => include(paths, includeOrigin, file, line, shared),
    readEntry: (generated) => {
      // A blank owner after $GENERATE is the owner before it, as BIND reads it.
      const owner = state.owner;
      readRecord(generated, state, shared);
      state.owner = owner;
    },
    setTtl: (ttl) => {
      shared.ttlDefault = ttl;
      shared.ttlFromDirective = true;
      shared.ttlDirective = true;
    },
  };
  for (let entry = lexer.next(); entry; entry = lexer.next()) {
    const first = entry.toks[0] as Tok;
    if (!entry.blankOwner && !first.quoted && first.raw.startsWith('$')) {
      const before = state.origin;
      state.origin = directive(entry, { file, line: entry.line, origin: state.origin }, reader);
      if (state.origin !== before) shared.firstOrigin ??= state.origin;
    } else {
      readRecord(entry, state, shared);
    }
  }
}

/** Rdata as a string that is equal for records BIND holds equal (names compare without case). */
function rdataKey(data: unknown): string {
  return JSON.stringify(data, (_k, v: unknown) => (typeof v === 'string' ? lowerName(v) : v));
}

/**
 * BIND's checks as a record joins its name: an identical record adds
 * nothing (so an AXFR dump's closing SOA is ignored), a second CNAME or
 * DNAME is an error, and so is a CNAME beside other data. False: leave it out.
 */
function joinName(record: ZoneRecord, shared: Shared, fail: (reason: string) => never): boolean {
  const owner = lowerName(record.name);
  let types = shared.owners.get(owner);
  if (types === undefined) shared.owners.set(owner, (types = new Map()));
  const code = record.typeCode as number;
  const key = rdataKey(record.data);
  const same = types.get(code);
  if (same?.has(key)) return false;
  if (same !== undefined && SINGLETON.has(code)) {
    fail(`${record.name}: a second ${typeMnemonic(code)} record (one is allowed at a name)`);
  }
  if (code === 5 ? [...types.keys()].some((t) => !AT_CNAME.has(t)) : !AT_CNAME.has(code) && types.has(5)) {
    fail(`${record.name}: CNAME and other data`);
  }
  if (same === undefined) types.set(code, new Set([key]));
  else same.add(key);
  return true;
}

function readRecord(entry: Entry, state: FileState, shared: Shared): void {
  const { file } = state;
  const toks = entry.toks;
  const fail = (reason: string, tok?: Tok): never => {
    throw new InputFileError(file, tok?.line ?? entry.line, reason);
  };
  let i = 0;
  if (entry.blankOwner) {
    if (state.owner === undefined) fail('no owner name: the first record must name one');
  } else {
    state.owner = ownerName(toks[0] as Tok, state.origin, file);
    i = 1;
  }
  const owner = state.owner as string;

  // [TTL] [class] or [class] [TTL], both optional (RFC 1035 §5.1).
  let ttl: number | undefined;
  let klass: string | undefined;
  for (;;) {
    const tok = toks[i];
    if (!tok) return fail('missing type');
    if (ttl === undefined && isDigit(tok.raw.charCodeAt(0))) {
      ttl = ttlField(tok.raw);
      if (ttl === undefined) fail(`bad TTL '${tok.raw}'`, tok);
      i++;
    } else if (klass === undefined && parseClass(tok.raw) !== undefined) {
      klass = parseClass(tok.raw) ?? fail(`class ${tok.raw} is not supported (dns-packet encodes IN, CS, CH and HS only)`, tok);
      i++;
    } else {
      break;
    }
  }
  const typeTok = toks[i] as Tok;
  const info = lookupType(typeTok.raw) ?? fail(`unknown type '${typeTok.raw}'`, typeTok);
  if (isMetaType(info.code)) fail(`type ${typeTok.raw} cannot appear in zone data`, typeTok);
  i++;

  klass ??= shared.klass ?? 'IN';
  if (shared.klass !== undefined && klass !== shared.klass) fail(`class ${klass} differs from the zone's class ${shared.klass}`);
  shared.klass = klass;

  const f = new Fields(toks, i, info.mnemonic, file, entry.line, state.origin);
  let data: unknown;
  const rdataFirst = toks[i];
  const rdataSecond = toks[i + 1];
  // RFC 3597 §5 generic form is `\# length hex`; BIND reads `\#` followed by
  // anything but a length as ordinary rdata (for TXT, the string "#").
  if (rdataFirst && !rdataFirst.quoted && rdataFirst.raw === '\\#' && (rdataSecond === undefined || /^\d+$/.test(rdataSecond.raw))) {
    const rdata = genericRdata(f);
    data = info.codec ? decodeWithCodec(f, info, rdata) : rdata;
  } else {
    const parse = PARSERS[info.mnemonic] ?? fail(`no text parser for ${info.mnemonic}: write its rdata in RFC 3597 form (\\# length hex)`, typeTok);
    data = parse(f);
  }

  const stated = ttl;
  if (ttl !== undefined) {
    if (!shared.ttlFromDirective) shared.ttlDefault = ttl;
  } else if (shared.ttlDefault !== undefined) {
    ttl = shared.ttlDefault;
  } else if (info.code === 6) {
    ttl = Math.min((data as { minimum: number }).minimum ?? 0, TTL_MAX);
    shared.ttlDefault = ttl;
    shared.ttlFromDirective = true;
  } else {
    fail('no TTL: give one on the record or a $TTL line before it');
  }

  const record: ZoneRecord = { name: owner, type: info.recordType, class: klass, ttl: ttl as number, data, typeCode: info.code };
  if (stated === undefined && !shared.ttlDirective) record.ttlImplicit = true;
  if (!joinName(record, shared, fail)) return;
  if (info.code === 6) {
    if (shared.soa) fail(`a second SOA record (the first is at ${shared.soa.file}:${shared.soa.line})`);
    shared.soa = { name: owner, file, line: entry.line };
  }
  shared.records.push(record);
}

function include(paths: readonly string[], origin: Origin | undefined, from: string, line: number, shared: Shared): void {
  if (!shared.readFile) throw new InputFileError(from, line, '$INCLUDE is not available here (no file reader)');
  let text: string | undefined;
  let path = paths[0] as string;
  let firstError: unknown;
  for (const candidate of paths) {
    try {
      text = shared.readFile(candidate);
      path = candidate;
      break;
    } catch (error) {
      firstError ??= error;
    }
  }
  if (text === undefined) throw new InputFileError(from, line, `cannot read $INCLUDE file ${path}: ${(firstError as Error).message}`);
  const resolved = includeKey(path);
  if (shared.stack.includes(resolved)) {
    throw new InputFileError(from, line, `$INCLUDE loop: ${[...shared.stack, resolved].join(' -> ')}`);
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
    ttlDefault: options.defaultTtl,
    ttlFromDirective: options.defaultTtl !== undefined,
    ttlDirective: options.defaultTtl !== undefined,
    klass: undefined,
    soa: undefined,
    firstOrigin: undefined,
    readFile: options.readFile,
    stack: [includeKey(file)],
    owners: new Map(),
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
  // Out-of-zone records are left out, as BIND does ("ignoring out-of-zone data"), and counted.
  const records = shared.records.filter((record) => isAtOrBelow(record.name, zoneOrigin));
  const zone: Zone = { origin: zoneOrigin === '.' ? '' : zoneOrigin, records, file };
  if (records.length < shared.records.length) zone.outOfZone = shared.records.length - records.length;
  return zone;
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
