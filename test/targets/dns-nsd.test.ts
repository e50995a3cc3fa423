/**
 * The built-in DNS server against NSD 4.6 on the same zone: DNAME, NSEC3
 * owner names and the TTL of records without one. Both run on 127.0.0.1;
 * NSD with the testbed's own configuration (src/testbed/servers.ts).
 *
 * Compared: RCODE, AA, the answer section (owner, type, TTL, rdata with
 * names decompressed), and for negative answers the SOA in authority.
 * Not compared: NS and glue NSD adds to positive answers (the built-in
 * server gives minimal responses, as BIND's minimal-responses).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOERROR, NXDOMAIN, typeCode, typeMnemonic } from '../../src/protocols/dns/types.js';
import { nameToWire, readMessage, readName, wireToName, type WireRecord } from '../../src/protocols/dns/wire.js';
import { loadZone } from '../../src/protocols/dns/zone/index.js';
import { startDnsTarget, type DnsTarget } from '../../src/targets/dns.js';
import { SERVERS } from '../../src/testbed/servers.js';
import { findBinary, sleep } from '../../src/testbed/system.js';

const ZONE_FILE = join(import.meta.dirname, '../fixtures/zones/nsd-answers.zone');
const NSD = findBinary('nsd');
if (NSD === undefined) console.warn('test/targets/dns-nsd.test.ts: nsd (Debian package nsd) is not installed: the comparison with NSD is skipped');

/** Send one query (RD clear, no EDNS) and return the raw answer. */
function ask(port: number, name: string, type: string): Promise<Buffer> {
  const qname = nameToWire(name);
  const msg = Buffer.alloc(12 + qname.length + 4);
  msg.writeUInt16BE(0x4242, 0);
  msg.writeUInt16BE(1, 4);
  qname.copy(msg, 12);
  msg.writeUInt16BE(typeCode(type)!, 12 + qname.length);
  msg.writeUInt16BE(1, 14 + qname.length);
  const socket = createSocket('udp4');
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer from 127.0.0.1:${port} to ${name} ${type}`));
    }, 1000);
    socket.on('message', (answer) => {
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    });
    socket.send(msg, port, '127.0.0.1');
  });
}

const NAME_RDATA = new Set([2, 5, 12, 39]);

function show(msg: Buffer, rr: WireRecord): string {
  const rdata = NAME_RDATA.has(rr.type) ? wireToName(readName(msg, rr.rdata)!) : msg.subarray(rr.rdata, rr.rdata + rr.rdlength).toString('hex');
  return `${wireToName(rr.owner).toLowerCase()} ${rr.ttl} ${typeMnemonic(rr.type)} ${rdata.toLowerCase()}`;
}

/** What is compared of an answer. */
function summary(msg: Buffer): string[] {
  const m = readMessage(msg);
  if (!m) throw new Error('malformed answer');
  const rcode = m.header.flags & 0xf;
  const out = [`rcode ${rcode} aa ${(m.header.flags >> 10) & 1}`, ...m.answer.map((rr) => `answer ${show(msg, rr)}`)];
  const negative = rcode === NXDOMAIN || (rcode === NOERROR && m.answer.length === 0);
  if (negative) out.push(...m.authority.filter((rr) => rr.type === 6).map((rr) => `authority ${show(msg, rr)}`));
  return out;
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const port = socket.address().port;
  await new Promise<void>((r) => socket.close(r));
  return port;
}

describe.skipIf(NSD === undefined)('the built-in server answers as NSD 4.6', () => {
  let dir = '';
  let nsd: ChildProcess | undefined;
  let nsdPort = 0;
  let builtin: DnsTarget | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsload-nsd-'));
    copyFileSync(ZONE_FILE, join(dir, 'zone.db'));
    nsdPort = await freeUdpPort();
    const context = { dir, address: '127.0.0.1', port: nsdPort, workers: 1, www: '', zoneFile: join(dir, 'zone.db'), origin: 'example.com', fileLimit: 1024, user: 'root', group: 'root', tlsCert: '', tlsKey: '', tlsPort: 853, httpsPort: 443 };
    for (const [name, text] of Object.entries(SERVERS.nsd.files(context))) writeFileSync(join(dir, name), text);
    nsd = spawn(NSD as string, SERVERS.nsd.args(context), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    nsd.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    builtin = await startDnsTarget({ zones: [loadZone(ZONE_FILE)] });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await ask(nsdPort, 'example.com', 'SOA');
        break;
      } catch (error) {
        if (Date.now() > deadline || nsd.exitCode !== null) throw new Error(`NSD did not answer: ${stderr}`, { cause: error });
        await sleep(100);
      }
    }
  }, 20_000);

  afterAll(async () => {
    await builtin?.close();
    if (nsd && nsd.exitCode === null) {
      const exited = new Promise((r) => nsd!.once('exit', r));
      nsd.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cases: Array<[string, string, string]> = [
    ['the SOA without a TTL gets 3600 (its mailbox has a dot in a label)', 'example.com', 'SOA'],
    ['a record with a TTL keeps it', 'www.example.com', 'A'],
    ['a record after it without one gets 3600, not the last stated TTL', 'late.example.com', 'A'],
    ['DNAME, synthesised CNAME, then the target', 'a.dn.example.com', 'A'],
    ['DNAME onto a CNAME, followed', 't.dn.example.com', 'A'],
    ['DNAME to a target that does not exist: NXDOMAIN', 'x.dn.example.com', 'A'],
    ['DNAME two labels down', 'a.b.dn.example.com', 'A'],
    ['the DNAME owner itself is not redirected (NODATA)', 'dn.example.com', 'A'],
    ['the DNAME by its type', 'dn.example.com', 'DNAME'],
    ['DNAME out of the zone: no chase', 'foo.outside.example.com', 'A'],
    ['DNAME onto itself: one step', 'x.loop.example.com', 'A'],
    ['an NSEC3 owner name is NXDOMAIN', '0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.com', 'A'],
    ['an NSEC3 owner name asked for NSEC3 is NXDOMAIN', '0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.com', 'NSEC3'],
    ['a name below an NSEC3 owner is NXDOMAIN', 'sub.0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.com', 'A'],
    ['an NSEC3 owner with other records answers them', 'both.example.com', 'A'],
    ['and NODATA for its NSEC3', 'both.example.com', 'NSEC3'],
    ['a name that does not exist', 'nope.example.com', 'A'],
    ['label bytes above 127', '\\200\\255a.example.com', 'A'],
    ['a DNAME onto such a name', '\\200\\255a.b\\128.example.com', 'A'],
    ['RP names with an escaped dot', 'rp.example.com', 'RP'],
    ['RP names with a byte above 127', 'rp2.example.com', 'RP'],
    ['an NSEC next name with an escaped dot', 'nsec.example.com', 'NSEC'],
    ["an RRSIG signer's name with an escaped dot", 'sig.example.com', 'RRSIG'],
    ['a NAPTR replacement with an escaped dot', 'nap.example.com', 'NAPTR'],
    ['a NAPTR replacement with a byte above 127', 'nap2.example.com', 'NAPTR'],
  ];
  for (const [what, name, type] of cases) {
    it(`${name} ${type}: ${what}`, async () => {
      const [ours, theirs] = await Promise.all([ask(builtin!.port, name, type), ask(nsdPort, name, type)]);
      expect(summary(ours)).toEqual(summary(theirs));
    });
  }
});

describe('nsd is found where the testbed looks', () => {
  it('findBinary agrees with the shell', () => {
    const shell = spawnSync('sh', ['-c', 'command -v nsd || ls /usr/sbin/nsd'], { encoding: 'utf8' });
    expect(NSD !== undefined).toBe(shell.status === 0);
  });
});
