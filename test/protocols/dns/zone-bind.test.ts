/**
 * The zone reader against BIND's: every fixture zone named-checkzone
 * accepts gives the same (owner, type) set in tsload, and every zone it
 * rejects tsload rejects too, at the same file:line.
 *
 * named-checkzone runs as a pure syntax check: -i none (no integrity checks
 * of NS/MX/SRV targets and glue), -k/-n/-m/-M/-S/-r/-T/-W ignore (host-name
 * rules, CNAME targets, SPF and wildcard warnings are policy, not syntax),
 * and -D -o - prints the zone as loaded, one record per line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputFileError } from '../../../src/errors.js';
import { typeMnemonic } from '../../../src/protocols/dns/types.js';
import { formatDomainName, loadZone, lowerName } from '../../../src/protocols/dns/zone/index.js';

const ROOT = join(import.meta.dirname, '../../..');
const OWN = join(import.meta.dirname, '../../fixtures/zones');
const REJECT = join(OWN, 'reject');
const SYNTAX_ONLY = ['-i', 'none', '-k', 'ignore', '-n', 'ignore', '-m', 'ignore', '-M', 'ignore', '-S', 'ignore', '-r', 'ignore', '-T', 'ignore', '-W', 'ignore'];

function installed(tool: string): boolean {
  return spawnSync('which', [tool], { stdio: 'ignore' }).status === 0;
}
const HAVE_BIND = installed('named-checkzone');
if (!HAVE_BIND) console.warn('test/protocols/dns/zone-bind.test.ts: named-checkzone (Debian bind9-utils) is not installed: the comparisons with BIND are skipped');

/** A fixture's origin: its `; origin: NAME` line, else its $ORIGIN. */
function originOf(file: string): string {
  const text = readFileSync(file, 'utf8');
  const origin = /^; origin: (\S+)/m.exec(text)?.[1] ?? /^\$ORIGIN\s+(\S+)/m.exec(text)?.[1];
  if (origin === undefined) throw new Error(`${file}: say the origin in a '; origin: NAME' line`);
  return origin;
}

/**
 * The zones of the project that are whole zones: fixtures/test.zone and
 * test/fixtures/zones/*.zone. fixtures/zones/ holds the $INCLUDE tests,
 * whose nested include is relative to its includer, a place BIND (which
 * reads includes from its working directory) cannot find; the rest there
 * are broken on purpose.
 */
function acceptedFixtures(): Array<[string, string]> {
  const own = readdirSync(OWN).filter((f) => f.endsWith('.zone')).map((f): [string, string] => [join(OWN, f), originOf(join(OWN, f))]);
  return [[join(ROOT, 'fixtures/test.zone'), 'example.com'], ...own, ...DEBIAN_ZONES.filter(([f]) => existsSync(f))];
}

/** The zones Debian's bind9 package installs, real files written by others (present where bind9 is). */
const DEBIAN_ZONES: Array<[string, string]> = [
  ['/etc/bind/db.local', 'localhost'],
  ['/etc/bind/db.127', '127.in-addr.arpa'],
  ['/etc/bind/db.0', '0.in-addr.arpa'],
  ['/etc/bind/db.255', '255.in-addr.arpa'],
  ['/etc/bind/db.empty', 'empty.example'],
];

/** Records in named-checkzone -D output → 'owner TYPE' with the owner lower-cased, as BIND writes it. */
function bindPairs(file: string, origin: string): Set<string> {
  // BIND reads $INCLUDE paths from its working directory, tsload from the including file's: run it where the file is.
  const out = execFileSync('named-checkzone', [...SYNTAX_ONLY, '-D', '-o', '-', origin, basename(file)], { cwd: dirname(file), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const pairs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s+\d+\s+(?:IN|CH|HS|CS|CLASS\d+)\s+(\S+)/.exec(line);
    if (m) pairs.add(`${lowerName(m[1] as string)} ${m[2]}`);
  }
  return pairs;
}

function tsloadPairs(file: string, origin: string): Set<string> {
  const zone = loadZone(file, { origin });
  return new Set(zone.records.map((r) => `${lowerName(formatDomainName(r.name))} ${typeMnemonic(r.typeCode as number)}`));
}

describe.skipIf(!HAVE_BIND)('zones named-checkzone accepts', () => {
  for (const [file, origin] of acceptedFixtures()) {
    it(`${file.startsWith(ROOT) ? relative(ROOT, file) : file}: the same (owner, type) set as BIND`, () => {
      const bind = bindPairs(file, origin);
      expect(bind.size).toBeGreaterThan(1);
      expect([...tsloadPairs(file, origin)].sort()).toEqual([...bind].sort());
    });
  }
});

describe.skipIf(!HAVE_BIND)('zones named-checkzone rejects', () => {
  for (const name of readdirSync(REJECT).filter((f) => f.endsWith('.zone'))) {
    const file = join(REJECT, name);
    const expected = Number(/^; line: (\d+)/m.exec(readFileSync(file, 'utf8'))?.[1]);
    it(`${name}: rejected by both at line ${expected}`, () => {
      const origin = originOf(file);
      const rel = relative(ROOT, file);
      const bind = spawnSync('named-checkzone', [...SYNTAX_ONLY, origin, rel], { cwd: ROOT, encoding: 'utf8' });
      expect(bind.status, bind.stdout).not.toBe(0);
      expect(bind.stdout + bind.stderr).toContain(`${rel}:${expected}:`);
      let error: unknown;
      try {
        loadZone(file, { origin });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InputFileError);
      expect((error as InputFileError).line, (error as Error).message).toBe(expected);
    });
  }
});

/** named-checkzone -D lines of a zone, whitespace normalised, owners lower-cased. */
function bindLines(dir: string, file: string, origin: string): string[] {
  const out = execFileSync('named-checkzone', [...SYNTAX_ONLY, '-D', '-o', '-', origin, file], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out
    .split('\n')
    .filter((l) => /^\S+\s+\d+\s+IN\s/.test(l))
    .map((l) => l.trim().replace(/\s+/g, ' ').replace(/^\S+/, (o) => o.toLowerCase()));
}

describe.skipIf(!HAVE_BIND)('rdata tsload builds itself', () => {
  for (const name of ['rare-types.zone', 'common-types.zone']) {
    it(`${name}: BIND reads tsload's wire rdata (as RFC 3597 \\# form) as the same records it reads from the text`, () => {
      const file = join(OWN, name);
      const origin = originOf(file);
      const zone = loadZone(file, { origin });
      const built = zone.records.filter((r) => Buffer.isBuffer(r.data));
      expect(built.length).toBeGreaterThan(10);
      const generic = zone.records
        .filter((r) => r.type === 'SOA' || Buffer.isBuffer(r.data))
        .map((r) => {
          const owner = formatDomainName(r.name);
          if (r.type === 'SOA') return `${owner} ${r.ttl} IN SOA ns1 hostmaster 1 2 3 4 5\n${owner} ${r.ttl} IN NS ns1\nns1 ${r.ttl} IN A 192.0.2.1`;
          const hex = (r.data as Buffer).toString('hex');
          return `${owner} ${r.ttl} IN TYPE${r.typeCode} \\# ${(r.data as Buffer).length} ${hex}`;
        });
      const dir = mkdtempSync(join(tmpdir(), 'tsload-bind-'));
      try {
        writeFileSync(join(dir, 'generic.zone'), generic.join('\n') + '\n');
        const fromTsload = new Set(bindLines(dir, 'generic.zone', origin).filter((l) => !/ IN (SOA|NS|A) /.test(l)));
        const wanted = new Set(built.map((r) => `${lowerName(formatDomainName(r.name))} ${typeMnemonic(r.typeCode as number)}`));
        const fromText = bindLines(dirname(file), basename(file), origin).filter((l) => wanted.has(l.split(' ').slice(0, 1).concat(l.split(' ')[3] as string).join(' ')));
        expect([...fromTsload].sort()).toEqual([...new Set(fromText)].sort());
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
