/** runDns end to end: the open-loop engine with the UDP driver against real servers on loopback (and the loop itself, in this thread, where a test must stall it). */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDns } from '../../../src/run.js';
import { OpenLoop } from '../../../src/engine/loop.js';
import { Share } from '../../../src/engine/segment.js';
import type { StepReport } from '../../../src/engine/messages.js';
import { createDriver } from '../../../src/protocols/dns/driver.js';
import { loadZone } from '../../../src/protocols/dns/zone/index.js';
import { startDnsTarget, type DnsTarget } from '../../../src/targets/dns.js';
import { parseQueryFile } from '../../../src/protocols/dns/queries.js';
import { formatText } from '../../../src/report/text.js';
import { tsload } from '../../run-cli.js';
import { stallFor } from '../../loopback.js';

const zoneFile = new URL('../../../fixtures/test.zone', import.meta.url).pathname;

/** A UDP server that answers every query with an empty NOERROR reply, except every `dropEvery`-th, which it ignores. */
async function droppingServer(dropEvery: number): Promise<{ address: string; received: () => number; close: () => void }> {
  const socket: Socket = createSocket('udp4');
  let n = 0;
  socket.on('message', (msg, rinfo) => {
    n++;
    if (n % dropEvery === 0) return;
    const reply = Buffer.from(msg);
    reply[2] = (reply[2]! | 0x80) & 0xff; // QR
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { address: `127.0.0.1:${socket.address().port}`, received: () => n, close: () => socket.close() };
}

describe('open-loop DNS engine', () => {
  let target: DnsTarget;
  beforeAll(async () => {
    target = await startDnsTarget({ zones: [loadZone(zoneFile)] });
  });
  afterAll(async () => {
    await target.close();
  });

  it('queries the zone mix at the target rate and counts RCODEs', async () => {
    const result = await runDns({ server: target.address, zone: zoneFile, rate: 5000, duration: 2000, warmup: 500, nxRatio: 0.1 });
    const step = result.steps[0]!;
    expect(result.protocol).toBe('dns');
    expect(step.sent).toBe(10_000);
    expect(Math.abs(step.sendRate - 5000) / 5000).toBeLessThan(0.01);
    expect(step.completed).toBe(10_000);
    expect(step.lost).toBe(0);
    expect(step.lostAtGenerator).toBe(0);
    // About a tenth of the names do not exist.
    const nx = step.rcodes.NXDOMAIN ?? 0;
    expect(nx / step.completed).toBeGreaterThan(0.07);
    expect(nx / step.completed).toBeLessThan(0.13);
    expect(step.rcodes.NOERROR! + nx).toBe(10_000);
    expect(step.avgRequestBytes).toBeGreaterThan(20);
    expect(step.avgResponseBytes).toBeGreaterThan(step.avgRequestBytes);
    // Its thread had time to spare.
    expect(step.generatorBusy).toBeGreaterThan(0);
    expect(step.generatorBusy).toBeLessThan(0.7);
  });

  it('says when its own thread was the limit, and still reads answers while behind', async () => {
    // No one thread sends and reads 500k queries a second through node:dgram (a microsecond each way
    // at the very least), so the generator falls behind on any machine.
    const answeredBefore = target.stats().responses;
    const result = await runDns({ server: target.address, zone: zoneFile, rate: 500_000, duration: 1000, warmup: 0, timeout: 500, threads: 1 });
    const answered = target.stats().responses - answeredBefore;
    const step = result.steps[0]!;
    expect(step.generatorBusy).toBeGreaterThanOrEqual(0.9);
    expect(step.scheduleLagMs.p99).toBeGreaterThan(10);
    // Sending yields every millisecond, so answers are read during the window, not only after it.
    expect(step.replyRate).toBeGreaterThan(0);
    // Behind, it reads between send slices rather than sending on every answer, so the server's
    // answers are read as they come: not left in tsload's socket buffers past the timeout (lost,
    // then late) or dropped there, either of which would read as the server's loss. (This server
    // shares the machine and drops queries itself when overrun: that loss is real.)
    expect(step.completed).toBeGreaterThan(0.9 * answered);
    expect(step.lostAtGenerator).toBeLessThan(0.02 * step.sent);
    // The shortfall is the generator's own: slots it never sent.
    expect(step.dropped).toBeGreaterThan(0);
    expect(formatText(result)).toMatch(/\nGenerator busy +\d+% of the window \(busiest thread\): tsload was near its own limit/);
  });

  // In this thread, so the test can stall the generator itself (a GC pause, or the VM taking the core).
  it('still sends the slots a short stall at the window\'s end held back, late, instead of dropping them', async () => {
    const [host, port] = target.address.split(':') as [string, string];
    const loop = new OpenLoop({ share: Share.whole, arrival: 'constant', seed: 1, maxInflight: 4096, busyPoll: false, onSecond: () => {} });
    const driver = await createDriver(
      { server: host, port: Number(port), queries: parseQueryFile('www.example.com A\n'), sockets: 4, dnssec: false, recursionDesired: true },
      loop,
      { share: Share.whole, timeoutMs: 2000, maxInflight: 4096 },
    );
    loop.attach(driver);
    try {
      const rate = 10_000;
      const durationMs = 500;
      const startAtEpochMs = performance.timeOrigin + performance.now() + 20;
      const windowEnd = startAtEpochMs - performance.timeOrigin + durationMs;
      // 50 ms straddling the window's end holds back 400 of its slots: more than one pump slice sends.
      const stall = setTimeout(() => stallFor(50), windowEnd - 40 - performance.now());
      const step: StepReport = await loop.runStep({ type: 'step', index: 0, rate, warmupMs: 0, durationMs, drainMs: 2000, startAtEpochMs });
      clearTimeout(stall);
      expect(step.dropped).toBe(0);
      expect(step.sent).toBe((rate * durationMs) / 1000);
      expect(step.completed).toBe(step.sent);
      // Not vacuous: the stall did hold sends back past the window's end.
      expect(step.sentInWindow).toBeLessThan(step.sent - 200);
    } finally {
      await driver.close();
    }
  });

  it('reports the true loss of a server that drops a known share, and holds the rate', async () => {
    const server = await droppingServer(20);
    try {
      const result = await runDns({ server: server.address, queries: parseQueryFile('www.example.com A\n'), rate: 2000, duration: 2000, warmup: 0, timeout: 500 });
      const step = result.steps[0]!;
      expect(step.sent).toBe(4000);
      expect(Math.abs(step.sendRate - 2000) / 2000).toBeLessThan(0.01);
      // Every 20th datagram the server received went unanswered (the probe was the server's first).
      expect(step.lost).toBeGreaterThanOrEqual(199);
      expect(step.lost).toBeLessThanOrEqual(201);
      expect(step.completed + step.lost).toBe(4000);
      expect(step.late).toBe(0);
    } finally {
      server.close();
    }
  });

  it('prints dnsperf\'s statistics block with --format dnsperf', async () => {
    const run = await tsload(['dns', '--server', target.address, '--zone', zoneFile, '--rate', '500', '--duration', '1s', '--warmup', '0', '--format', 'dnsperf', '-q']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Statistics:$/m);
    expect(run.stdout).toMatch(/^ {2}Queries sent: {9}500$/m);
    expect(run.stdout).toMatch(/^ {2}Queries completed: {4}500 \(100\.00%\)$/m);
    expect(run.stdout).toMatch(/^ {2}Average Latency \(s\): {2}\d\.\d{6} \(min \d\.\d{6}, max \d\.\d{6}\)$/m);
  });

  it('emits the zone\'s query list as a dnsperf data file', async () => {
    const run = await tsload(['dns', '--zone', zoneFile, '--emit-queries', '--seed', '7']);
    expect(run.code).toBe(0);
    const queries = parseQueryFile(run.stdout);
    expect(queries.length).toBeGreaterThan(300);
    expect(queries).toContainEqual({ name: 'lb.example.com', type: 'A' });
    expect(queries).toContainEqual({ name: 'www.example.com', type: 'CNAME' });
    const again = await tsload(['dns', '--zone', zoneFile, '--emit-queries', '--seed', '7']);
    expect(again.stdout).toBe(run.stdout);
  });

  it('says which records of a zone it left out, as named-checkzone leaves them out', async () => {
    const outside = join(mkdtempSync(join(tmpdir(), 'tsload-zone-')), 'out-of-zone.zone');
    writeFileSync(outside, `$ORIGIN example.com.\n${readFileSync(new URL('../../fixtures/zones/out-of-zone.zone', import.meta.url), 'utf8')}`);
    const run = await tsload(['dns', '--zone', outside, '--emit-queries']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/ignored 2 record\(s\) outside example\.com/);
    expect(parseQueryFile(run.stdout).map((q) => q.name)).not.toContain('www.example.net');
  });

  it('serves the zone itself when no --server is given', async () => {
    const run = await tsload(['dns', '--zone', zoneFile, '--rate', '300', '--duration', '1s', '--warmup', '0']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/started the built-in DNS server for .*test\.zone at 127\.0\.0\.1:\d+/);
    expect(run.stdout).toMatch(/Queries completed\s+300 \(100\.00%\)/);
  });

  it('exits 2 naming the file and line of a bad zone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsload-zone-'));
    const bad = join(dir, 'bad.zone');
    writeFileSync(bad, '$ORIGIN example.com.\n$TTL 1h\n@ IN SOA ns1 host 1 2 3 4 5\nwww IN A 300.1.2.3\n');
    const run = await tsload(['dns', '--zone', bad, '--rate', '10', '--duration', '1s']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${bad}:4:`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 3 when nothing answers', async () => {
    const run = await tsload(['dns', '--server', '127.0.0.1:1', '--zone', zoneFile, '--rate', '10', '--duration', '1s', '--timeout', '500ms']);
    expect(run.code).toBe(3);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
