/**
 * Master-file directives: $ORIGIN, $TTL and $INCLUDE (RFC 1035 §5.1, RFC
 * 2308 §4) and BIND's $GENERATE. The reader (index.ts) calls `directive`
 * for an entry whose first token starts with '$' and gets back what changed;
 * $INCLUDE and $GENERATE hand text back to the reader through `Reader`, so
 * this module does not import the reader.
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { InputFileError } from '../../../errors.js';
import { Lexer, type Entry, type Tok } from './lexer.js';
import { NameSyntaxError, makeOrigin, textToLabels, unescapeBytes, type Origin } from './names.js';
import { ttlField } from './text.js';

/** What a directive needs from the reader. */
export interface Reader {
  /** Read the first of `paths` that can be read, with `origin`, into the same zone (for $INCLUDE at `line`). */
  readFile(paths: readonly string[], origin: Origin | undefined, line: number): void;
  /** Read one generated entry as if it were in the file at the $GENERATE line (for $GENERATE). */
  readEntry(entry: Entry): void;
  setTtl(ttl: number): void;
}

export interface Place {
  file: string;
  line: number;
  origin: Origin | undefined;
}

function originOf(tok: Tok, place: Place): Origin {
  try {
    return makeOrigin(textToLabels(tok.raw, place.origin?.labels));
  } catch (error) {
    if (error instanceof NameSyntaxError) throw new InputFileError(place.file, tok.line, error.message);
    throw error;
  }
}

/** Handle a directive entry; returns the origin in force after it. */
export function directive(entry: Entry, place: Place, reader: Reader): Origin | undefined {
  const toks = entry.toks;
  const first = toks[0] as Tok;
  const name = first.raw.toUpperCase();
  const arg = toks[1];
  const fail = (reason: string, tok?: Tok): never => {
    throw new InputFileError(place.file, tok?.line ?? entry.line, reason);
  };
  switch (name) {
    case '$ORIGIN':
      if (!arg || toks.length > 2) fail('$ORIGIN takes one domain name');
      return originOf(arg as Tok, place);
    case '$TTL': {
      if (!arg || toks.length > 2) fail('$TTL takes one TTL');
      const ttl = ttlField((arg as Tok).raw);
      if (ttl === undefined) fail(`bad TTL '${(arg as Tok).raw}'`, arg);
      reader.setTtl(ttl as number);
      return place.origin;
    }
    case '$INCLUDE': {
      if (!arg || toks.length > 3) fail('$INCLUDE takes a file name and an optional origin');
      const includeOrigin = toks[2] ? originOf(toks[2], place) : place.origin;
      let target: string;
      try {
        target = unescapeBytes((arg as Tok).raw).toString('utf8');
      } catch (error) {
        return fail(`bad $INCLUDE file name: ${(error as Error).message}`);
      }
      // Relative to the including file first, kept relative so messages name
      // it as the user would; then relative to the working directory, where
      // BIND and NSD look (their `directory`), so zones written for them load too.
      const paths = isAbsolute(target) ? [target] : [join(dirname(place.file), target), target];
      reader.readFile(paths, includeOrigin, entry.line);
      // RFC 1035 §5.1: the origin of the includer is not changed by the included file.
      return place.origin;
    }
    case '$GENERATE':
      generate(entry, place, reader, fail);
      return place.origin;
    default:
      return fail(`unsupported directive ${first.raw}`, first);
  }
}

/** The resolved paths of files being read, for the include-loop check. */
export function includeKey(path: string): string {
  return resolve(path);
}

/** Largest number of names one $GENERATE may make: a typo in a range should fail, not fill memory. */
const GENERATE_MAX = 1 << 20;

/**
 * BIND's `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs`: lhs and
 * rhs are templates in which `$` is the counter and `${offset,width,base}`
 * formats it (base d, o, x, X, or n/N for reversed nibbles as in ip6.arpa),
 * `\$` is a '$' and `$$` is one too. Each rhs is one token and is then read
 * as the record's whole rdata (so `"10 mail$"` gives an MX).
 */
function generate(entry: Entry, place: Place, reader: Reader, fail: (reason: string, tok?: Tok) => never): void {
  const toks = entry.toks;
  if (toks.length < 4) fail('$GENERATE takes a range, an owner template, an optional TTL and class, a type and an rdata template');
  const rangeTok = toks[1] as Tok;
  const m = /^(\d+)-(\d+)(?:\/(\d+))?$/.exec(rangeTok.raw);
  if (!m) return fail(`$GENERATE: bad range '${rangeTok.raw}' (start-stop or start-stop/step)`, rangeTok);
  const start = Number(m[1]);
  const stop = Number(m[2]);
  const step = m[3] === undefined ? 1 : Number(m[3]);
  if (stop > 0x7fffffff || start > stop || step < 1) fail(`$GENERATE: bad range '${rangeTok.raw}'`, rangeTok);
  if ((stop - start) / step >= GENERATE_MAX) fail(`$GENERATE: range '${rangeTok.raw}' makes more than ${GENERATE_MAX} records`, rangeTok);
  const lhs = toks[2] as Tok;
  const middle = toks.slice(3, -1);
  const rhs = toks[toks.length - 1] as Tok;
  const lhsParts = template(lhs.raw, fail, lhs);
  const rhsParts = template(rhs.raw, fail, rhs);
  const middleText = middle.map((t) => (t.quoted ? `"${t.raw}"` : t.raw)).join(' ');
  for (let i = start; i <= stop; i += step) {
    const owner = expand(lhsParts, i);
    const rdata = expand(rhsParts, i);
    const text = `${owner} ${middleText} ${rdata}\n`;
    const generated = new Lexer(text, place.file).next();
    if (!generated) continue;
    for (const tok of generated.toks) tok.line = entry.line;
    generated.line = entry.line;
    reader.readEntry(generated);
  }
}

type Part = string | { offset: number; width: number; base: string };

function template(raw: string, fail: (reason: string, tok?: Tok) => never, tok: Tok): Part[] {
  const parts: Part[] = [];
  let text = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === '\\' && raw[i + 1] === '$') {
      text += '$';
      i++;
    } else if (c === '\\') {
      text += c + (raw[i + 1] ?? '');
      i++;
    } else if (c === '$' && raw[i + 1] === '$') {
      text += '$';
      i++;
    } else if (c === '$') {
      if (text) parts.push(text);
      text = '';
      if (raw[i + 1] === '{') {
        const close = raw.indexOf('}', i);
        const mod = close < 0 ? null : /^(-?\d+)(?:,(\d+)(?:,([doxXnN]))?)?$/.exec(raw.slice(i + 2, close));
        if (!mod) return fail(`$GENERATE: bad modifier in '${raw}' (\${offset[,width[,base]]}, base d, o, x, X, n or N)`, tok);
        parts.push({ offset: Number(mod[1]), width: mod[2] === undefined ? 0 : Number(mod[2]), base: mod[3] ?? 'd' });
        i = close;
      } else {
        parts.push({ offset: 0, width: 0, base: 'd' });
      }
    } else {
      text += c;
    }
  }
  if (text) parts.push(text);
  return parts;
}

function expand(parts: readonly Part[], counter: number): string {
  let out = '';
  for (const p of parts) out += typeof p === 'string' ? p : format(counter + p.offset, p.width, p.base);
  return out;
}

function format(value: number, width: number, base: string): string {
  if (base === 'n' || base === 'N') return nibbles(value, width, base === 'N');
  const radix = base === 'o' ? 8 : base === 'x' || base === 'X' ? 16 : 10;
  let digits = Math.abs(value).toString(radix);
  if (base === 'X') digits = digits.toUpperCase();
  digits = digits.padStart(width - (value < 0 ? 1 : 0), '0');
  return value < 0 ? `-${digits}` : digits;
}

/** Reversed hex nibbles joined by dots; `width` counts characters, dots included, and pads with zero nibbles (as BIND's nibbles()). */
function nibbles(value: number, width: number, upper: boolean): string {
  const hex = upper ? '0123456789ABCDEF' : '0123456789abcdef';
  let v = value >>> 0;
  let out = '';
  do {
    out += hex[v & 0xf];
    v >>>= 4;
    if (width > 0) width--;
    if (v !== 0 || width > 0) {
      out += '.';
      if (width > 0) width--;
    }
  } while (v !== 0 || width > 0);
  return out;
}
