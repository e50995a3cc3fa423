/**
 * DNS query lists: dnsperf/queryperf data files (read and write) and a query
 * mix built from a zone.
 *
 * Names follow the record-name form of zone/names.ts: absolute, no trailing
 * dot, the root is '.', a dot inside a label is `\.`. Types are dns-packet's
 * names, or 'TYPEnnn' for numbers dns-packet does not name (pass
 * `packetTypeName(type)` to dns-packet, which encodes unknown names as 0).
 */
import { readFileSync } from 'node:fs';
import { InputFileError, OptionsError } from '../../errors.js';
import { NameSyntaxError, formatDomainName, isAtOrBelow, lowerName, parseDomainName, parseTypeName, splitName } from './zone/index.js';
import type { Zone } from './zone/index.js';
import { mulberry32 } from '../../util/random.js';

export interface Query {
  name: string;
  type: string;
}

/** Split a data-file line at unescaped blanks (`\ ` and `\032` stay inside a name). */
function fields(line: string): string[] {
  if (line.indexOf('\\') < 0) return line.split(/[ \t\r]+/);
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\' && i + 1 < line.length) {
      current += c + line[++i];
    } else if (c === ' ' || c === '\t' || c === '\r') {
      if (current) out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (current) out.push(current);
  return out;
}

/**
 * Parse a dnsperf/queryperf data file: `name type` per line. Blank lines,
 * lines starting with ';' (comments) and with '#' (queryperf directives)
 * are skipped (a name that begins with '#' is written `\#`, see
 * formatQueryFile); a trailing `; comment` after the two fields is allowed.
 * Names are absolute whether or not they end in a dot.
 */
export function parseQueryFile(text: string, file = '<string>'): Query[] {
  const queries: Query[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const f = fields(line);
    if (f.length > 2 && (f[2] as string).startsWith(';')) f.length = 2;
    if (f.length !== 2) throw new InputFileError(file, n + 1, `expected 'name type', got '${line}'`);
    const [nameText, typeText] = f as [string, string];
    let name: string;
    try {
      name = parseDomainName(nameText);
    } catch (error) {
      if (error instanceof NameSyntaxError) throw new InputFileError(file, n + 1, error.message);
      throw error;
    }
    const type = parseTypeName(typeText);
    if (!type) throw new InputFileError(file, n + 1, `unknown query type '${typeText}'`);
    queries.push({ name, type: type.type });
  }
  return queries;
}

export function loadQueryFile(path: string): Query[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InputFileError(path, undefined, `cannot read query file: ${(error as Error).message}`);
  }
  return parseQueryFile(text, path);
}

/** A dnsperf data file (one `name type` per line) that parseQueryFile reads back unchanged. */
export function formatQueryFile(queries: readonly Query[]): string {
  let out = '';
  for (const q of queries) {
    const text = formatDomainName(q.name);
    // dnsperf data files conventionally omit the trailing dot; the root stays '.'.
    const name = text === '.' ? text : text.slice(0, -1);
    // A line that begins with '#' is a comment (a queryperf directive) to every
    // reader of these files, ours included; `\#` is the same name to all of them
    // (dnsperf's and BIND's name parsers resolve the escape), so an owner such
    // as '#hash' survives the round trip.
    out += `${name.startsWith('#') ? `\\${name}` : name} ${q.type}\n`;
  }
  return out;
}

const LABEL_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The proper ancestors of a record-form name that are at or below `stop`
 * (same case as the name), nearest first: the suffixes after each unescaped dot.
 */
function ancestors(name: string, stop: string): string[] {
  const out: string[] = [];
  const min = stop === '.' ? 0 : stop.length;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 46 && name.length - i - 1 >= min) out.push(name.slice(i + 1));
  }
  if (stop === '.' && name !== '.') out.push('.');
  return out;
}

/**
 * Every (owner, type) pair of the zone once, in a seeded random order, plus
 * nonexistent names so that they make up `nxRatio` of the list.
 *
 * Left out, because an authoritative server holds no answer for them:
 * records below a zone cut (an NS set at a name other than the apex) other
 * than that delegation's glue, and records at a cut other than its NS, DS and
 * glue (occluded data, RFC 2181 §6); records below a DNAME owner (RFC 6672
 * §2.4); records outside the origin. The delegation NS and the glue stay:
 * resolvers do ask for them, and the answer is a referral.
 *
 * A wildcard owner ('*.wild.example.com') is queried once, with a random
 * label in place of '*' that matches no existing name. Nonexistent names are
 * 'nx<random>.<origin>' type A; round(N·R/(1−R)) of them for N zone pairs.
 */
export function buildQueryMix(zone: Zone, options: { seed: number; nxRatio: number }): Query[] {
  const { seed, nxRatio } = options;
  const problems: string[] = [];
  if (!Number.isFinite(seed)) problems.push(`seed must be a finite number, not ${seed}`);
  if (!(Number.isFinite(nxRatio) && nxRatio >= 0 && nxRatio < 1)) problems.push(`nxRatio must be in [0, 1), not ${nxRatio}`);
  if (problems.length > 0) throw new OptionsError(problems);

  const random = mulberry32(seed);
  const randomLabel = (prefix: string): string => {
    let label = prefix;
    for (let k = 0; k < 10; k++) label += LABEL_CHARS[Math.floor(random() * LABEL_CHARS.length)];
    return label;
  };
  const origin = zone.origin === '' ? '.' : zone.origin;
  const originLower = lowerName(origin);

  // Zone cuts, their glue names, DNAME owners, and every existing name (with empty non-terminals).
  const cuts = new Set<string>();
  const glue = new Map<string, Set<string>>();
  const dnames = new Set<string>();
  const existing = new Set<string>();
  for (const r of zone.records) {
    const lname = lowerName(r.name);
    existing.add(lname);
    for (const a of ancestors(lname, originLower)) existing.add(a);
    if (r.type === 'NS' && lname !== originLower) {
      cuts.add(lname);
      let targets = glue.get(lname);
      if (!targets) glue.set(lname, (targets = new Set()));
      targets.add(lowerName(String(r.data)));
    }
    if (r.type === 'DNAME') dnames.add(lname);
  }

  const included = (lname: string, type: string): boolean => {
    if (!isAtOrBelow(lname, originLower)) return false;
    const above = ancestors(lname, originLower).filter((a) => a !== originLower);
    if (above.some((a) => dnames.has(a))) return false;
    // The topmost cut on the way down from the origin decides.
    const cut = [...above].reverse().find((a) => cuts.has(a)) ?? (cuts.has(lname) ? lname : undefined);
    if (cut === undefined) return true;
    const isGlue = (type === 'A' || type === 'AAAA') && (glue.get(cut)?.has(lname) ?? false);
    if (cut === lname) return type === 'NS' || type === 'DS' || isGlue;
    return isGlue;
  };

  const seen = new Set<string>();
  const queries: Query[] = [];
  for (const r of zone.records) {
    const lname = lowerName(r.name);
    const key = `${lname} ${r.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!included(lname, r.type)) continue;
    let name = r.name;
    if (name === '*' || name.startsWith('*.')) {
      // A label no record owns, so the wildcard is what answers it (RFC 4592 §2.2).
      const parent = name === '*' ? '' : name.slice(2);
      do name = parent ? `${randomLabel('w')}.${parent}` : randomLabel('w');
      while (existing.has(lowerName(name)));
      existing.add(lowerName(name));
    }
    queries.push({ name, type: r.type });
  }

  const nxCount = Math.round((queries.length * nxRatio) / (1 - nxRatio));
  if (nxRatio > 0 && existing.has(lowerName(origin === '.' ? '*' : `*.${origin}`))) {
    throw new OptionsError([`nxRatio is ${nxRatio} but the zone has a wildcard at ${origin}, so every name under it exists`]);
  }
  for (let k = 0; k < nxCount; k++) {
    let name: string;
    do name = origin === '.' ? randomLabel('nx') : `${randomLabel('nx')}.${origin}`;
    while (existing.has(lowerName(name)));
    existing.add(lowerName(name));
    queries.push({ name, type: 'A' });
  }

  // Fisher–Yates with the seeded generator.
  for (let k = queries.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    const tmp = queries[k] as Query;
    queries[k] = queries[j] as Query;
    queries[j] = tmp;
  }
  return queries;
}
