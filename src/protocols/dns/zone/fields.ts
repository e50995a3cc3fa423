/** A cursor over one record's rdata tokens, reading each kind of field; every failure names the file and line. */
import { InputFileError } from '../../../errors.js';
import { lookupType, type TypeInfo } from '../types.js';
import type { Tok } from './lexer.js';
import { NameSyntaxError, textToLabels, textToName, unescapeBytes, utf8Exact, type Origin } from './names.js';
import { decodeBase64, decodeHex, parseTtlText } from './text.js';

/** RFC 4034 appendix A.1 algorithm mnemonics (DNSKEY, RRSIG, DS and friends accept them). */
export const ALGORITHMS = new Map<string, number>([
  ['RSAMD5', 1], ['DH', 2], ['DSA', 3], ['RSASHA1', 5], ['DSA-NSEC3-SHA1', 6], ['RSASHA1-NSEC3-SHA1', 7],
  ['RSASHA256', 8], ['RSASHA512', 10], ['ECC-GOST', 12], ['ECDSAP256SHA256', 13], ['ECDSAP384SHA384', 14],
  ['ED25519', 15], ['ED448', 16], ['INDIRECT', 252], ['PRIVATEDNS', 253], ['PRIVATEOID', 254],
]);

/** RFC 4398 §2.1 CERT type mnemonics. */
export const CERT_TYPES = new Map<string, number>([
  ['PKIX', 1], ['SPKI', 2], ['PGP', 3], ['IPKIX', 4], ['ISPKI', 5], ['IPGP', 6], ['ACPKIX', 7],
  ['IACPKIX', 8], ['URI', 253], ['OID', 254],
]);


/** Cursor over one record's RDATA tokens; every failure names the file and line. */
export class Fields {
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

  /** The next token, not taken. */
  peek(): Tok | undefined {
    return this.toks[this.i];
  }

  /** Unescaped bytes of a token's text (or part of it). */
  unescape(tok: Tok, raw = tok.raw): Buffer {
    return this.guard(tok, () => unescapeBytes(raw));
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
  timestamp(what: string, seconds = true): number {
    const tok = this.take(what);
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(tok.raw);
    if (m) {
      const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      const ms = Date.UTC(y, mo - 1, d, h, mi, s);
      const back = new Date(ms);
      if (mo < 1 || mo > 12 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) this.fail(`bad ${what} '${tok.raw}'`, tok);
      return (ms / 1000) % 2 ** 32; // serial arithmetic past 2106, RFC 4034 §3.1.5
    }
    if (!seconds || !/^\d{1,10}$/.test(tok.raw) || Number(tok.raw) > 0xffffffff) this.fail(`bad ${what} '${tok.raw}'`, tok);
    return Number(tok.raw);
  }
}

