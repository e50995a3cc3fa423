/**
 * SVCB and HTTPS rdata (RFC 9460): `priority target key[=value]...`, with
 * the SvcParamKeys BIND 9.18 knows by name (mandatory, alpn,
 * no-default-alpn, port, ipv4hint, ech, ipv6hint, dohpath) and keyNNNNN for
 * any other. Params go on the wire in ascending key order (§2.2).
 */
import type { Tok } from './lexer.js';
import type { Fields } from './fields.js';
import { decodeBase64, parseIPv4, parseIPv6, Wire } from './text.js';

const KEYS = new Map([
  ['mandatory', 0], ['alpn', 1], ['no-default-alpn', 2], ['port', 3], ['ipv4hint', 4], ['ech', 5], ['ipv6hint', 6], ['dohpath', 7],
]);

function keyNumber(name: string): number | undefined {
  const known = KEYS.get(name.toLowerCase());
  if (known !== undefined) return known;
  const m = /^key(\d{1,5})$/i.exec(name);
  return m && Number(m[1]) <= 0xffff ? Number(m[1]) : undefined;
}

/**
 * The items of an alpn value-list (RFC 9460 appendix A.1): the value is
 * first a char-string (escapes resolved), then a list whose items are split
 * at commas and may escape a comma or backslash once more.
 */
function alpnIds(value: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let item: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const b = value[i] as number;
    if (b === 0x5c && i + 1 < value.length) {
      item.push(value[++i] as number);
    } else if (b === 0x2c) {
      out.push(Buffer.from(item));
      item = [];
    } else {
      item.push(b);
    }
  }
  out.push(Buffer.from(item));
  return out;
}

/** Split a list of addresses or key names at commas. */
function splitList(raw: string): string[] {
  const out: string[] = [];
  let part = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === '\\' && i + 1 < raw.length) {
      part += c + raw[++i];
    } else if (c === ',') {
      out.push(part);
      part = '';
    } else {
      part += c;
    }
  }
  out.push(part);
  return out;
}

export function SVCB(f: Fields): Buffer {
  const priority = f.int('priority', 0xffff);
  const w = new Wire().u16(priority).name(f.labels('target name'));
  const params = new Map<number, Buffer>();
  let mandatory: number[] = [];
  let mandatoryTok: Tok | undefined;
  while (f.more()) {
    const tok = f.take('SvcParam');
    const eq = tok.quoted ? -1 : tok.raw.indexOf('=');
    const keyText = eq < 0 ? tok.raw : tok.raw.slice(0, eq);
    let valueTok = tok;
    let raw: string | undefined = eq < 0 ? undefined : tok.raw.slice(eq + 1);
    if (raw === '') {
      // key="quoted value" arrives as two tokens.
      const next = f.peek();
      if (next?.quoted) {
        valueTok = f.take('SvcParam value');
        raw = valueTok.raw;
      }
    }
    const key = keyNumber(keyText) ?? f.fail(`unknown SvcParamKey '${keyText}'`, tok);
    if (params.has(key)) f.fail(`SvcParamKey '${keyText}' appears twice`, tok);
    const value = new Wire();
    const need = (): string => raw ?? f.fail(`SvcParamKey '${keyText}' needs a value`, tok);
    switch (key) {
      case 0: {
        for (const name of splitList(need())) {
          const k = keyNumber(name) ?? f.fail(`unknown key '${name}' in mandatory`, valueTok);
          if (k === 0) f.fail('mandatory cannot list itself', valueTok);
          if (mandatory.includes(k)) f.fail(`key '${name}' is listed twice in mandatory`, valueTok);
          mandatory.push(k);
        }
        mandatory = mandatory.sort((a, b) => a - b);
        mandatoryTok = valueTok;
        for (const k of mandatory) value.u16(k);
        break;
      }
      case 1:
        for (const b of alpnIds(f.unescape(valueTok, need()))) {
          if (b.length === 0 || b.length > 255) f.fail('an alpn id must be 1 to 255 bytes', valueTok);
          value.str(b);
        }
        break;
      case 2:
        if (raw !== undefined) f.fail('no-default-alpn takes no value', tok);
        break;
      case 3: {
        const v = need();
        if (!/^\d+$/.test(v) || Number(v) > 0xffff) f.fail(`bad port '${v}'`, valueTok);
        value.u16(Number(v));
        break;
      }
      case 4:
        for (const a of splitList(need())) value.bytes(parseIPv4(a) ?? f.fail(`bad IPv4 address '${a}' in ipv4hint`, valueTok));
        break;
      case 5:
        value.bytes(decodeBase64(need()) ?? f.fail('bad base64 in ech', valueTok));
        break;
      case 6:
        for (const a of splitList(need())) {
          const g = parseIPv6(a) ?? f.fail(`bad IPv6 address '${a}' in ipv6hint`, valueTok);
          for (const x of g) value.u16(x);
        }
        break;
      default:
        if (raw !== undefined) value.bytes(f.unescape(valueTok, raw));
    }
    const bytes = value.done();
    if (bytes.length > 0xffff) f.fail(`value of '${keyText}' is longer than 65535 bytes`, tok);
    params.set(key, bytes);
  }
  // RFC 9460 §7.1.1: no-default-alpn only means something beside alpn (BIND refuses it alone).
  if (params.has(2) && !params.has(1)) f.fail('no-default-alpn needs an alpn key beside it');
  for (const k of mandatory) if (!params.has(k)) f.fail(`mandatory lists key${k}, which is not present`, mandatoryTok);
  for (const key of [...params.keys()].sort((a, b) => a - b)) {
    const v = params.get(key) as Buffer;
    w.u16(key).u16(v.length).bytes(v);
  }
  return w.done();
}
