/**
 * Names in presentation format (RFC 1035 §5.1) → the record form: labels
 * joined by '.', absolute, no trailing dot, the root '.'. A '.' or '\\' in a
 * label is `\.` or `\\`; a label whose bytes are not UTF-8 (BIND accepts any
 * byte, `\128`–`\255` included) keeps those bytes as `\DDD`, so the record
 * form stays a lossless string that wire.ts `nameToWire` encodes exactly.
 *
 * Inside this module a label is a string; a byte of a non-UTF-8 label that
 * is 0x80 or above is the lone surrogate U+DC00 + byte (as Python's
 * surrogateescape does), which no UTF-8 text can contain.
 */

/** A name-syntax problem; callers turn it into an InputFileError with the position. */
export class NameSyntaxError extends Error {}

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Resolve `\X` and `\DDD` escapes of a presentation-format string into bytes
 * (characters outside ASCII stand for their UTF-8 bytes).
 */
export function unescapeBytes(raw: string): Buffer {
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
export function utf8Exact(bytes: Buffer, what: string): string {
  const text = bytes.toString('utf8');
  if (Buffer.byteLength(text) !== bytes.length || !Buffer.from(text, 'utf8').equals(bytes)) {
    throw new NameSyntaxError(`${what} has bytes that are not UTF-8, which dns-packet cannot encode (use \\# form)`);
  }
  return text;
}

/** Label bytes → label string: UTF-8 text if they are, else bytes above 127 as surrogates. */
export function bytesToLabel(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(bytes)) return text;
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b >= 0x80 ? 0xdc00 + b : b);
  return s;
}

function isByteSurrogate(c: number): boolean {
  return c >= 0xdc80 && c <= 0xdcff;
}

/** A label string → its wire bytes. */
function labelBytes(label: string): Buffer {
  if (!/[\udc80-\udcff]/.test(label)) return Buffer.from(label, 'utf8');
  const out: number[] = [];
  for (const ch of label) {
    const c = ch.charCodeAt(0);
    if (isByteSurrogate(c)) out.push(c - 0xdc00);
    else out.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(out);
}

function labelLength(label: string): number {
  return /[\udc80-\udcff]/.test(label) ? labelBytes(label).length : Buffer.byteLength(label);
}

function escapeLabel(label: string): string {
  if (/[\udc80-\udcff]/.test(label)) {
    let s = '';
    for (const ch of label) {
      const c = ch.charCodeAt(0);
      s += isByteSurrogate(c) ? `\\${c - 0xdc00}` : ch === '.' || ch === '\\' ? `\\${ch}` : ch;
    }
    return s;
  }
  return label.indexOf('.') < 0 && label.indexOf('\\') < 0 ? label : label.replace(/[.\\]/g, '\\$&');
}

/** Labels → the name string used in records ('.' for the root). */
export function labelsToName(labels: readonly string[]): string {
  if (labels.length === 0) return '.';
  let out = escapeLabel(labels[0] as string);
  for (let i = 1; i < labels.length; i++) out += '.' + escapeLabel(labels[i] as string);
  return out;
}

function checkName(labels: readonly string[], text: string): void {
  let wire = 1;
  for (const label of labels) {
    const len = labelLength(label);
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
export function textToLabels(raw: string, origin: readonly string[] | undefined): string[] {
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
export interface Origin {
  labels: readonly string[];
  text: string;
  wire: number;
}

export function makeOrigin(labels: readonly string[]): Origin {
  let wire = 1;
  for (const label of labels) wire += labelLength(label) + 1;
  return { labels, text: labelsToName(labels), wire };
}

export const ROOT_ORIGIN = makeOrigin([]);

/**
 * Presentation text → record-form name. Plain ASCII names without escapes
 * (nearly all of them) are checked and joined as strings; the rest go
 * through textToLabels, which also produces every error message.
 */
export function textToName(raw: string, origin: Origin | undefined): string {
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
  try {
    return bytesToLabel(unescapeBytes(rawLabel));
  } catch (error) {
    if (error instanceof NameSyntaxError) throw new NameSyntaxError(`${error.message} (in name '${name}')`);
    throw error;
  }
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
      const ddd = /^\d{3}/.exec(name.slice(i + 1, i + 4));
      if (ddd) {
        const b = Number(ddd[0]);
        label += String.fromCharCode(b >= 0x80 ? 0xdc00 + b : b);
        i += 3;
      } else {
        label += name[++i];
      }
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
      else if (isByteSurrogate(c)) out += '\\' + String(c - 0xdc00);
      // Unicode whitespace (U+00A0, U+2028, U+FEFF…) as its UTF-8 bytes: a reader that trims lines or splits fields on whitespace would eat it.
      else if (c > 0x7f && /\s/u.test(ch)) for (const b of Buffer.from(ch, 'utf8')) out += '\\' + String(b).padStart(3, '0');
      else if ('.\\"();@$'.includes(ch)) out += '\\' + ch;
      else out += ch;
    }
    out += '.';
  }
  return out;
}

