import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { InputFileError, OptionsError } from '../../../src/errors.js';
import { buildQueryMix, formatQueryFile, loadQueryFile, parseQueryFile } from '../../../src/protocols/dns/queries.js';
import type { Query } from '../../../src/protocols/dns/queries.js';
import { isAtOrBelow, loadZone, lowerName, packetTypeName, parseZone, typeCode } from '../../../src/protocols/dns/zone/index.js';
import type { Zone } from '../../../src/protocols/dns/zone/index.js';

const TEST_ZONE = join(import.meta.dirname, '../../../fixtures/test.zone');

function expectError(text: string, line: number, reason: RegExp): void {
  try {
    parseQueryFile(text, 'q.txt');
  } catch (error) {
    expect(error).toBeInstanceOf(InputFileError);
    expect((error as InputFileError).line).toBe(line);
    expect((error as Error).message).toMatch(new RegExp(`^q\\.txt:${line}: .*${reason.source}`));
    return;
  }
  throw new Error('expected an InputFileError');
}

describe('parseQueryFile', () => {
  it('reads name type lines, skipping blanks, ; comments and # directives', () => {
    const text = '; a comment\nwww.example.com A\n\n   \n#qid 5\nexample.com MX\n  ; indented comment\nmail.example.com AAAA ; trailing comment\n';
    expect(parseQueryFile(text)).toEqual([
      { name: 'www.example.com', type: 'A' },
      { name: 'example.com', type: 'MX' },
      { name: 'mail.example.com', type: 'AAAA' },
    ]);
  });

  it('types in any case, TYPEnnn, and mnemonics dns-packet lacks', () => {
    const text = 'a.example mx\nb.example Aaaa\nc.example TYPE1\nd.example type65280\ne.example HTTPS\nf.example any\n';
    expect(parseQueryFile(text).map((q) => q.type)).toEqual(['MX', 'AAAA', 'A', 'TYPE65280', 'TYPE65', 'ANY']);
  });

  it('the trailing dot is optional; the root is .', () => {
    expect(parseQueryFile('www.example.com. A\nwww.example.com A\n. NS\n').map((q) => q.name)).toEqual(['www.example.com', 'www.example.com', '.']);
  });

  it('\\. and \\DDD escapes, escaped blanks, names keep their case', () => {
    const queries = parseQueryFile('a\\.b.Example.com A\n\\065bc.example TXT\nsp\\ ace.example A\nx\\032y.example A\n');
    expect(queries.map((q) => q.name)).toEqual(['a\\.b.Example.com', 'Abc.example', 'sp ace.example', 'x y.example']);
  });

  it('CRLF line ends and tabs', () => {
    expect(parseQueryFile('www.example.com\tA\r\nexample.com\tSOA\r\n')).toEqual([
      { name: 'www.example.com', type: 'A' },
      { name: 'example.com', type: 'SOA' },
    ]);
  });

  it('loadQueryFile reads a file; a missing file is an InputFileError', () => {
    expect(loadQueryFile(join(import.meta.dirname, '../../../fixtures/zones/queries.txt'))).toEqual([
      { name: 'www.example.com', type: 'A' },
      { name: 'example.com', type: 'MX' },
      { name: 'a\\.b.example.com', type: 'TYPE65280' },
    ]);
    expect(() => loadQueryFile('/nonexistent/q.txt')).toThrow(/^\/nonexistent\/q\.txt: cannot read query file/);
  });

  it('bad lines are errors with their line number', () => {
    expectError('www.example.com A\nwww.example.com\n', 2, /expected 'name type'/);
    expectError('\n\nwww.example.com A extra\n', 3, /expected 'name type'/);
    expectError('www.example.com FOO\n', 1, /unknown query type 'FOO'/);
    expectError('; c\nwww.example.com TYPE70000\n', 2, /unknown query type/);
    expectError('a..b A\n', 1, /empty label/);
    expectError(`${'x'.repeat(64)}.example A\n`, 1, /longer than 63 bytes/);
    expectError('a\\25.example A\n', 1, /three digits/);
  });
});

describe('formatQueryFile', () => {
  it('writes a data file that parses back to the same queries', () => {
    const queries: Query[] = [
      { name: 'www.example.com', type: 'A' },
      { name: 'Example.COM', type: 'MX' },
      { name: 'a\\.b.example.com', type: 'TXT' },
      { name: 'back\\\\slash.example', type: 'A' },
      { name: 'sp ace.example', type: 'AAAA' },
      { name: 'semi;colon(paren)"quote".example', type: 'A' },
      { name: '@.example', type: 'A' },
      { name: '$dollar.example', type: 'A' },
      { name: 'tab\there.example', type: 'A' },
      { name: 'ünïcode.example', type: 'A' },
      { name: '*.wild.example', type: 'A' },
      { name: '.', type: 'NS' },
      { name: 'x.example', type: 'TYPE65280' },
      { name: '#hash.example', type: 'A' },
      { name: 'in#side.example', type: 'A' },
      { name: '\\200\\255a.example', type: 'TYPE23' },
    ];
    const text = formatQueryFile(queries);
    expect(text).toContain('\\#hash.example A\n');
    expect(text).toContain('in#side.example A\n');
    expect(text).toContain('\\200\\255a.example TYPE23\n');
    expect(text.split('\n')[0]).toBe('www.example.com A');
    expect(text).toContain('a\\.b.example.com TXT\n');
    expect(text).toContain('sp\\032ace.example AAAA\n');
    expect(text).toContain('. NS\n');
    expect(parseQueryFile(text)).toEqual(queries);
  });

  it('round-trips the whole mix of the test zone, and of a zone with owners such as #hash and \\200', () => {
    const mix = buildQueryMix(loadZone(TEST_ZONE), { seed: 7, nxRatio: 0.1 });
    expect(parseQueryFile(formatQueryFile(mix))).toEqual(mix);
    const odd = buildQueryMix(loadZone(join(import.meta.dirname, '../../fixtures/zones/bind-syntax.zone')), { seed: 7, nxRatio: 0 });
    expect(odd.some((q) => q.name.startsWith('#'))).toBe(true);
    expect(odd.some((q) => q.name.startsWith('\\200'))).toBe(true);
    expect(parseQueryFile(formatQueryFile(odd))).toEqual(odd);
  });

  it('query types reach the wire as the right numbers through dns-packet', () => {
    const queries = parseQueryFile('a.example A\nb.example https\nc.example TYPE65280\nd.example caa\n');
    for (const q of queries) {
      const wire = dnsPacket.encode({ questions: [{ name: q.name, type: packetTypeName(q.type) as 'A' }] });
      const [question] = dnsPacket.decode(wire).questions ?? [];
      expect(question?.name).toBe(q.name);
      expect(wire.readUInt16BE(wire.length - 4)).toBe(typeCode(q.type));
    }
  });
});

describe('buildQueryMix', () => {
  const zone = loadZone(TEST_ZONE);
  const key = (q: Query): string => `${lowerName(q.name)} ${q.type}`;

  it('has every (owner, type) pair of the zone once', () => {
    const mix = buildQueryMix(zone, { seed: 1, nxRatio: 0 });
    const pairs = new Set(zone.records.map((r) => `${lowerName(r.name)} ${r.type}`));
    const keys = mix.map(key);
    expect(new Set(keys).size).toBe(keys.length);
    // Wildcard owners come back with a random label: compare them by their parent.
    const normal = (k: string): string => k.replace(/^w[a-z0-9]{10}\.wild\./, '*.wild.');
    expect(new Set(keys.map(normal))).toEqual(pairs);
    expect(mix.length).toBe(pairs.size);
  });

  it('keeps the delegation NS and its glue', () => {
    const keys = new Set(buildQueryMix(zone, { seed: 1, nxRatio: 0 }).map(key));
    expect(keys.has('sub.example.com NS')).toBe(true);
    expect(keys.has('ns.sub.example.com A')).toBe(true);
    expect(keys.has('ns.sub.example.com AAAA')).toBe(true);
  });

  it('leaves out occluded data below a cut or a DNAME, keeps DS at the cut', () => {
    const z = parseZone(
      `$ORIGIN example.org.
$TTL 300
@        SOA  ns1 hm 1 2 3 4 5
@        NS   ns1
ns1      A    192.0.2.1
sub      NS   ns.sub
sub      NS   ns.other.example.
sub      DS   1 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
sub      A    192.0.2.9
ns.sub   A    192.0.2.2
www.sub  A    192.0.2.3
deep.ns.sub A 192.0.2.4
dn       DNAME example.net.
dn       TXT  "at the DNAME owner"
x.dn     A    192.0.2.5
`,
      { file: 'cut.zone' },
    );
    const keys = buildQueryMix(z, { seed: 3, nxRatio: 0 }).map(key).sort();
    expect(keys).toEqual(
      [
        'example.org SOA',
        'example.org NS',
        'ns1.example.org A',
        'sub.example.org NS',
        'sub.example.org DS',
        'ns.sub.example.org A',
        'dn.example.org DNAME',
        'dn.example.org TXT',
      ].sort(),
    );
  });

  it('the same seed gives the same order; another seed another order', () => {
    const a = buildQueryMix(zone, { seed: 42, nxRatio: 0.2 });
    const b = buildQueryMix(zone, { seed: 42, nxRatio: 0.2 });
    const c = buildQueryMix(zone, { seed: 43, nxRatio: 0.2 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(new Set(c.map(key).filter((k) => !k.startsWith('nx') && !k.includes('.wild.')))).toEqual(
      new Set(a.map(key).filter((k) => !k.startsWith('nx') && !k.includes('.wild.'))),
    );
    // Shuffled: the zone order would start with the SOA.
    expect(a.slice(0, 5).map(key)).not.toEqual(['example.com SOA', 'example.com NS', 'example.com MX', 'example.com A', 'example.com AAAA']);
  });

  it('nonexistent names make up nxRatio of the list', () => {
    const base = buildQueryMix(zone, { seed: 5, nxRatio: 0 }).length;
    for (const ratio of [0.05, 0.2, 0.5, 0.9]) {
      const mix = buildQueryMix(zone, { seed: 5, nxRatio: ratio });
      const names = new Set(zone.records.map((r) => lowerName(r.name)));
      const nx = mix.filter((q) => /^nx[a-z0-9]{10}\.example\.com$/.test(q.name));
      expect(nx.length).toBe(Math.round((base * ratio) / (1 - ratio)));
      expect(mix.length).toBe(base + nx.length);
      expect(nx.length / mix.length).toBeCloseTo(ratio, 2);
      for (const q of nx) {
        expect(q.type).toBe('A');
        expect(names.has(lowerName(q.name))).toBe(false);
        expect(isAtOrBelow(q.name, zone.origin)).toBe(true);
      }
      expect(new Set(nx.map((q) => q.name)).size).toBe(nx.length);
    }
  });

  it('wildcard owners get a random label that no record owns', () => {
    const mix = buildQueryMix(zone, { seed: 9, nxRatio: 0 });
    const wild = mix.filter((q) => q.name.endsWith('.wild.example.com'));
    expect(wild.map((q) => q.type).sort()).toEqual(['A', 'TXT']);
    const owners = new Set(zone.records.map((r) => lowerName(r.name)));
    for (const q of wild) {
      expect(q.name).toMatch(/^w[a-z0-9]{10}\.wild\.example\.com$/);
      expect(owners.has(lowerName(q.name))).toBe(false);
    }
    expect(mix.some((q) => q.name.includes('*'))).toBe(false);
  });

  it('an apex wildcard leaves no nonexistent names, so nxRatio > 0 is refused', () => {
    const z = parseZone('$ORIGIN example.org.\n$TTL 60\n@ SOA ns1 hm 1 2 3 4 5\n* A 192.0.2.1\n');
    const names = buildQueryMix(z, { seed: 1, nxRatio: 0 }).map((q) => q.name);
    expect(names).toHaveLength(2);
    expect(names.filter((n) => /^w[a-z0-9]{10}\.example\.org$/.test(n))).toHaveLength(1);
    expect(() => buildQueryMix(z, { seed: 1, nxRatio: 0.1 })).toThrow(OptionsError);
  });

  it('rejects an nxRatio outside [0, 1) and a non-finite seed', () => {
    for (const nxRatio of [-0.1, 1, 1.5, Number.NaN]) {
      expect(() => buildQueryMix(zone, { seed: 1, nxRatio })).toThrow(OptionsError);
    }
    expect(() => buildQueryMix(zone, { seed: Number.POSITIVE_INFINITY, nxRatio: 0 })).toThrow(/seed must be a finite number/);
  });

  it('an empty zone gives an empty list', () => {
    const empty: Zone = { origin: 'example.org', records: [], file: '<string>' };
    expect(buildQueryMix(empty, { seed: 1, nxRatio: 0.5 })).toEqual([]);
  });
});
