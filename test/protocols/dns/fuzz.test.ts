/**
 * Untrusted DNS input never crashes: the message reader (the drivers' and
 * readMessage), the zone reader and the query-file reader get random and
 * mutated input, with a fixed seed, and the only outcomes allowed are a
 * result or an InputFileError naming the file (and line) in printable text.
 * Round trips: a zone record printed and read back is the same record, and
 * the query file `--emit-queries` writes reads back as the same queries.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputFileError, printable } from '../../../src/errors.js';
import { MessageWriter, checkRecords, nameEnd, nameToWire, readMessage, responseHead, skipName } from '../../../src/protocols/dns/wire.js';
import { buildQueryMix, formatQueryFile, parseQueryFile, type Query } from '../../../src/protocols/dns/queries.js';
import { formatDomainName, loadZone, parseDomainName, parseZone, type ZoneRecord } from '../../../src/protocols/dns/zone/index.js';
import { formatZoneRecord } from '../../../src/protocols/dns/zone/print.js';
import { encodeRdata } from '../../../src/targets/dns.js';
import { tsload } from '../../run-cli.js';
import { fuzzRuns, fuzzSeed } from '../../fuzz.js';

const SEED = fuzzSeed(20261204);
const zoneFile = new URL('../../../fixtures/test.zone', import.meta.url).pathname;
const zoneText = readFileSync(zoneFile, 'utf8');
const zoneLines = zoneText.split('\n');

/** Nothing a terminal would act on, nothing that stood for bytes that were not text, and short. */
function expectPrintable(message: string): void {
  expect(message).not.toMatch(/(?!\t)[\p{C}\p{Zl}\p{Zp}\uFFFD]/u);
  expect(message.length).toBeLessThanOrEqual(240);
}

/** Run a reader: its result, or an InputFileError for `file` that says where and prints cleanly. Anything else fails the property. */
function readOrTypedError<T>(file: string, read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof InputFileError)) throw error;
    expect(error.file).toBe(file);
    expect(error.message.startsWith(error.line === undefined ? `${file}: ` : `${file}:${error.line}: `)).toBe(true);
    if (error.line !== undefined) expect(error.line).toBeGreaterThanOrEqual(1);
    expectPrintable(error.message);
    return undefined;
  }
}

/** Bytes as a latin1 string and as UTF-8 (random bytes are mostly not UTF-8: U+FFFD then stands for them). */
const randomText = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.string({ unit: fc.constantFrom(...'abc019 \t\n;()"\\.@$*#-_IN A MX SOA TXT TYPE65 \\# 3600 '.split('')), maxLength: 300 }),
);

/** One edit of a line: replaced by noise, a character inserted or deleted, cut, doubled. */
function mutateLines(lines: readonly string[]): fc.Arbitrary<string> {
  const edit = fc.tuple(fc.nat(lines.length - 1), fc.nat(200), fc.oneof(fc.string({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b).toString('latin1'))), fc.nat(4));
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    const out = [...lines];
    for (const [at, pos, text, kind] of edits) {
      const line = out[at]!;
      const p = pos % (line.length + 1);
      if (kind === 0) out[at] = text;
      else if (kind === 1) out[at] = line.slice(0, p) + text + line.slice(p);
      else if (kind === 2) out[at] = line.slice(0, p) + line.slice(p + text.length + 1);
      else if (kind === 3) out[at] = line.slice(0, p);
      else out.splice(at, 0, line);
    }
    return out.join('\n');
  });
}

// ---------------------------------------------------------------------------
// DNS messages

const label = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => Buffer.from(b.map((x) => 0x61 + (x % 26))).toString('latin1'));
const hostName = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));

/** A well-formed response: a question and records whose names compress against each other. */
const validMessage = fc
  .record({
    id: fc.nat(0xffff),
    question: hostName,
    records: fc.array(fc.record({ owner: hostName, target: hostName, section: fc.nat(2) }), { maxLength: 8 }),
    opt: fc.boolean(),
  })
  .map(({ id, question, records, opt }) => {
    const w = new MessageWriter();
    w.reset();
    w.header(id, 0x8400);
    w.question(nameToWire(question), 1, 1);
    const counts = [0, 0, 0];
    for (const section of [0, 1, 2]) {
      for (const r of records.filter((x) => x.section === section)) {
        const rdata = nameToWire(r.target);
        w.rr(nameToWire(r.owner), 5, 1, 60, rdata, [0]);
        counts[section]!++;
      }
    }
    if (opt) {
      w.rr(Buffer.from([0]), 41, 1232, 0x01000000, Buffer.alloc(0));
      counts[2]!++;
    }
    w.counts(1, counts[0]!, counts[1]!, counts[2]!);
    return { bytes: w.done(), ext: opt ? 1 : 0, records: records.length + (opt ? 1 : 0) };
  });

/** The drivers' reader on bytes at an offset inside a larger buffer (a stream's read buffer): it must stay inside its range. */
function readHead(bytes: Uint8Array, pad: number): { head: number; records: number | undefined } {
  const buf = new Uint8Array(pad + bytes.length + pad).fill(0xc0);
  buf.set(bytes, pad);
  const head = responseHead(buf, pad, bytes.length);
  if (head < 0) return { head: -1, records: undefined };
  expect(head).toBeGreaterThanOrEqual(pad + 12);
  expect(head).toBeLessThanOrEqual(pad + bytes.length);
  const records = checkRecords(buf, pad, pad + bytes.length, head);
  expect(records).toBeGreaterThanOrEqual(-2);
  expect(records).toBeLessThanOrEqual(255);
  return { head: head - pad, records };
}

describe('the DNS message reader', () => {
  it('reads every well-formed response, wherever it sits in a buffer, and agrees with readMessage', () => {
    fc.assert(
      fc.property(validMessage, fc.nat(40), ({ bytes, ext, records }, pad) => {
        const m = readMessage(bytes);
        expect(m).toBeDefined();
        expect(m!.answer.length + m!.authority.length + m!.additional.length).toBe(records);
        const head = readHead(bytes, pad);
        expect(head.head).toBe(skipName(bytes, 12) + 4);
        expect(head.records).toBe(ext);
        expect(nameEnd(bytes, 0, 12, bytes.length)).toBe(skipName(bytes, 12));
      }),
      { seed: SEED, numRuns: fuzzRuns(500) },
    );
  });

  it('never throws, never reads past its range, and always ends, on random and mutated packets', () => {
    const mutated = fc.tuple(validMessage, fc.array(fc.tuple(fc.nat(600), fc.nat(255)), { minLength: 1, maxLength: 6 }), fc.nat(600)).map(([{ bytes }, flips, cut]) => {
      const b = Buffer.from(bytes);
      for (const [at, value] of flips) b[at % b.length] = value;
      return b.subarray(0, Math.max(0, b.length - (cut % 8 === 0 ? cut % b.length : 0)));
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), fc.nat(16), (bytes, pad) => {
        const m = readMessage(bytes);
        if (m !== undefined) expect(m.header.qdcount).toBe(m.questions.length);
        readHead(bytes, pad);
      }),
      { seed: SEED, numRuns: fuzzRuns(3000) },
    );
  });

  it('rejects compression loops and pointers out of range, in the question and in records', () => {
    // A name that points at itself, one that points forward, two that point at each other, one past the end.
    const header = [0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    expect(responseHead(Uint8Array.from([...header, 0xc0, 12, 0, 1, 0, 1]), 0, 18)).toBe(-1);
    expect(responseHead(Uint8Array.from([...header, 0xc0, 14, 0, 0, 1, 0, 1]), 0, 19)).toBe(-1);
    expect(responseHead(Uint8Array.from([...header, 1, 0x61, 0xc0, 12, 0, 1, 0, 1]), 0, 20)).toBe(-1);
    expect(responseHead(Uint8Array.from([...header, 0xc0]), 0, 13)).toBe(-1);
    const loopRecord = Uint8Array.from([0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0x61, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(checkRecords(loopRecord, 0, loopRecord.length, 12)).toBe(-1);
    expect(readMessage(loopRecord)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// Zone files

describe('the zone reader', () => {
  it('reads random bytes and text into records or an InputFileError with file:line, printable', () => {
    fc.assert(
      fc.property(randomText, fc.boolean(), (text, withOrigin) => {
        readOrTypedError('fuzz.zone', () => parseZone(text, { file: 'fuzz.zone', ...(withOrigin ? { origin: 'example.com' } : {}) }));
      }),
      { seed: SEED, numRuns: fuzzRuns(1500) },
    );
  });

  it('reads mutated lines of fixtures/test.zone into records or an InputFileError with file:line, printable', () => {
    fc.assert(
      fc.property(mutateLines(zoneLines), (text) => {
        readOrTypedError('test.zone', () => parseZone(text, { file: 'test.zone' }));
      }),
      { seed: SEED, numRuns: fuzzRuns(400) },
    );
  });

  it('a zone file of random bytes: exit 2 and one clean line, not the raw bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsload-fuzz-'));
    const file = join(dir, 'random.zone');
    // Control characters, an escape sequence, bytes that are not UTF-8, in a relative name: what the reader quotes back.
    writeFileSync(file, Buffer.concat([Buffer.from('\x1b[31mred\x07\x00'), Buffer.from([0xff, 0xfe, 0x80, 0x9b]), Buffer.alloc(300, 0x41), Buffer.from(' IN A 1.2.3.4\n')]));
    const error = readOrTypedError(file, () => loadZone(file));
    expect(error).toBeUndefined();
    const run = await tsload(['dns', '--zone', file, '-d', '1s']);
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expectPrintable(lines[0]!.replace(/^tsload: /, ''));
    expect(lines[0]).toContain(`${file}:1: `);
    expect(lines[0]).toContain('\\x1b[31mred\\x07\\x00\\ufffd\\ufffd\\ufffd\\ufffd');
    expect(lines[0]).toContain('…');
  });

  it('escapes what is not printable and cuts long excerpts', () => {
    expect(printable("bad TTL '\x1b[2J'")).toBe("bad TTL '\\x1b[2J'");
    expect(printable("got '\u2028\uFFFD\u0085\t'")).toBe("got '\\u2028\\ufffd\\x85\t'");
    expect(printable(`got '${'x'.repeat(100)}'`)).toBe(`got '${'x'.repeat(77)}…'`);
    expect(printable('y'.repeat(300))).toHaveLength(240);
  });
});

// ---------------------------------------------------------------------------
// Query files

describe('the query-file reader', () => {
  const queriesFile = new URL('../../../fixtures/zones/queries.txt', import.meta.url).pathname;
  const lines = readFileSync(queriesFile, 'utf8').split('\n');

  it('reads random and mutated files into queries or an InputFileError with file:line, printable', () => {
    fc.assert(
      fc.property(fc.oneof(randomText, mutateLines(lines)), (text) => {
        const queries = readOrTypedError('q.txt', () => parseQueryFile(text, 'q.txt'));
        for (const q of queries ?? []) expect(() => nameToWire(q.name)).not.toThrow();
      }),
      { seed: SEED, numRuns: fuzzRuns(1500) },
    );
  });
});

// ---------------------------------------------------------------------------
// Round trips

/** A label of any bytes, in presentation form (every byte that is not a letter or digit as \DDD). */
const anyLabel = fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) =>
  [...b].map((x) => ((x >= 0x61 && x <= 0x7a) || (x >= 0x30 && x <= 0x39) ? String.fromCharCode(x) : `\\${String(x).padStart(3, '0')}`)).join(''),
);
const anyName = fc.array(anyLabel, { minLength: 1, maxLength: 4 }).map((labels) => parseDomainName(`${labels.join('.')}.`));
const queryType = fc.constantFrom('A', 'AAAA', 'MX', 'NS', 'TXT', 'SOA', 'CNAME', 'SRV', 'PTR', 'DS', 'TYPE65', 'TYPE65280', 'ANY');

describe('round trips', () => {
  it('a zone record printed and read back is the same record: every record of fixtures/test.zone', () => {
    const zone = loadZone(zoneFile);
    expect(zone.records.length).toBeGreaterThan(400);
    for (const record of zone.records) {
      const back = parseZone(formatZoneRecord(record), { origin: zone.origin }).records;
      expect(back).toHaveLength(1);
      const { ttlImplicit: _implicit, ...stated } = record;
      expect(back[0]).toEqual(stated);
    }
  });

  it('a zone record printed and read back is the same record on the wire: every record of the test zones, odd names in rdata included', () => {
    const dir = new URL('../../fixtures/zones/', import.meta.url).pathname;
    let asBytes = 0;
    for (const file of ['bind-syntax.zone', 'common-types.zone', 'nsd-answers.zone', 'rare-types.zone', 'include.zone']) {
      const zone = loadZone(join(dir, file));
      for (const record of zone.records) {
        const printed = formatZoneRecord(record);
        const back = parseZone(printed, { origin: zone.origin }).records;
        expect(back, printed).toHaveLength(1);
        expect([back[0]!.name, back[0]!.type, back[0]!.class, back[0]!.ttl], printed).toEqual([record.name, record.type, record.class, record.ttl]);
        expect(encodeRdata(back[0]!, back[0]!.typeCode!).toString('hex'), printed).toBe(encodeRdata(record, record.typeCode!).toString('hex'));
        // A name dns-packet cannot write (`\.`, bytes that are not UTF-8) stays as its bytes.
        if (Buffer.isBuffer(back[0]!.data) && !Buffer.isBuffer(record.data)) asBytes++;
      }
    }
    expect(asBytes).toBe(8);
  });

  it('a zone record printed and read back is the same record: generated owners, TTLs, types and rdata', () => {
    const rdataText = fc.oneof(
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => ({ type: 'A', text: o.join('.') })),
      fc.tuple(fc.nat(0xffff), hostName).map(([pref, name]) => ({ type: 'MX', text: `${pref} ${name}.` })),
      hostName.map((name) => ({ type: 'NS', text: `${name}.` })),
      fc.array(fc.uint8Array({ maxLength: 30 }), { minLength: 1, maxLength: 3 }).map((strings) => ({
        type: 'TXT',
        text: strings.map((s) => `"${[...s].map((x) => `\\${String(x).padStart(3, '0')}`).join('')}"`).join(' '),
      })),
      fc.tuple(fc.constantFrom('TYPE65280', 'TYPE260', 'EUI48', 'HTTPS'), fc.uint8Array({ maxLength: 40 })).map(([type, b]) => ({
        type,
        text: `\\# ${b.length}${b.length > 0 ? ` ${Buffer.from(b).toString('hex')}` : ''}`,
      })),
    );
    fc.assert(
      fc.property(anyName, fc.nat(0x7fffffff), rdataText, (owner, ttl, rdata) => {
        const line = `${formatDomainName(owner)} ${ttl} IN ${rdata.type} ${rdata.text}`;
        let record: ZoneRecord;
        try {
          record = parseZone(line, { origin: '.' }).records[0]!;
        } catch (error) {
          // EUI48 and HTTPS check their rdata: random bytes of the wrong length are refused, as BIND refuses them.
          if (error instanceof InputFileError && /EUI48|HTTPS|SVCB/.test(error.message)) return;
          throw error;
        }
        const printed = formatZoneRecord(record);
        const back = parseZone(printed, { origin: '.' }).records;
        expect(back).toHaveLength(1);
        const { ttlImplicit: _implicit, ...stated } = record;
        expect(isDeepStrictEqual(back[0], stated) || `${printed} read back as ${JSON.stringify(back[0])}`).toBe(true);
        expect(encodeRdata(back[0]!, record.typeCode!).equals(encodeRdata(record, record.typeCode!))).toBe(true);
      }),
      { seed: SEED, numRuns: fuzzRuns(800) },
    );
  });

  it('a query-file line reads back as the query it was written from, whatever bytes the name holds', () => {
    // Found by bench:fuzz (seed 1732931062): a label of the bytes C2 A0 is U+00A0, which the reader's trim ate.
    const nbsp = [{ name: parseDomainName('\\194\\160\\000.\\000.'), type: 'A' }];
    expect(parseQueryFile(formatQueryFile(nbsp))).toEqual(nbsp);
    fc.assert(
      fc.property(fc.array(fc.tuple(anyName, queryType), { minLength: 1, maxLength: 20 }), (pairs) => {
        const queries: Query[] = pairs.map(([name, type]) => ({ name, type }));
        expect(parseQueryFile(formatQueryFile(queries))).toEqual(queries);
      }),
      { seed: SEED, numRuns: fuzzRuns(800) },
    );
  });

  it('what --emit-queries writes for fixtures/test.zone reads back as the zone\'s query mix', async () => {
    const run = await tsload(['dns', '--zone', zoneFile, '--emit-queries', '--nx-ratio', '0.1', '--seed', '7']);
    expect(run.code).toBe(0);
    const mix = buildQueryMix(loadZone(zoneFile), { seed: 7, nxRatio: 0.1 });
    expect(parseQueryFile(run.stdout)).toEqual(mix);
  });
});
