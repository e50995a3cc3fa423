/**
 * The testbed, for real: namespaces, a shaped veth link, nftables loss and
 * the eight target servers. Needs root and iproute2 (skipped, with the reason
 * printed, otherwise); the real servers must be installed (see
 * docs/ci-testbed.sh). These tests take the testbed down before and after:
 * never run them while another test file or a user relies on it.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError, OptionsError, ServerStartError } from '../../src/errors.js';
import { loaderExecArgv } from '../../src/engine/module-file.js';
import {
  STATE_DIR,
  TARGET_NAMES,
  WWW_DIR,
  clientCommand,
  defaultTarget,
  defaultDnsTlsTarget,
  down,
  parseLinkOptions,
  probe,
  start,
  status,
  stop,
  up,
} from '../../src/testbed/index.js';
import { runInTestbed } from '../../src/testbed/run.js';
import type { RunningTarget, TargetName, TestbedStatus } from '../../src/testbed/index.js';
import type { DnsStep, HttpStep, Result } from '../../src/result.js';
import { findBinary, groupMembers, isAlive } from '../../src/testbed/system.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const fixturesWww = join(root, 'fixtures', 'www');

const skipReason =
  typeof process.getuid === 'function' && process.getuid() !== 0
    ? 'not root (the testbed creates network namespaces)'
    : findBinary('ip') === undefined || findBinary('tc') === undefined
      ? 'no `ip`/`tc` (apt-get install iproute2)'
      : undefined;
if (skipReason !== undefined) console.warn(`test/testbed/testbed.test.ts: testbed tests skipped: ${skipReason}`);

// The built-in targets are started through `tsload serve`, i.e. the CLI.
const cliMissing = !existsSync(join(root, 'src', 'cli.ts'));

/** `tsload …` run inside the client host (the built CLI), its JSON result parsed. */
async function tsloadInClient(args: string[]): Promise<Result> {
  const { command, args: wrapped } = clientCommand([process.execPath, join(root, 'bin', 'tsload.js'), ...args, '--json', '-', '--quiet']);
  const { stdout } = await run(command, wrapped, { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as Result;
}

/** A short tsload run across the link that must see no error at all, plus a byte-exact probe. */
async function shortRun(target: RunningTarget): Promise<void> {
  if (target.protocol === 'http') {
    const result = await tsloadInClient(['http', `${target.endpoint}1k.html`, '--rate', '1000', '--duration', '2s', '--warmup', '500ms']);
    const step = result.steps[0]! as HttpStep;
    expect(step.sent).toBe(2000);
    expect(step.completed).toBe(2000);
    expect(step.errors.total + step.timeouts + step.dropped).toBe(0);
    expect(step.statusCodes).toEqual({ '200': 2000 });
    for (const file of ['index.html', '1k.html']) {
      const size = statSync(join(fixturesWww, file)).size;
      const r = await probe({ mode: 'http', host: target.address, port: target.port, path: `/${file}`, count: 100, timeoutMs: 5000 });
      expect(r.firstError).toBeUndefined();
      expect(r).toMatchObject({ sent: 100, errors: 0, statuses: { 200: 100 } });
      expect(r.bodyBytes).toBe(100 * size);
    }
  } else {
    const result = await tsloadInClient(['dns', '--server', target.endpoint, '--zone', join(root, 'fixtures', 'test.zone'), '--rate', '2000', '--duration', '2s', '--warmup', '500ms']);
    const step = result.steps[0]! as DnsStep;
    expect(step.sent).toBe(4000);
    expect(step.completed).toBe(4000);
    expect(step.lost + step.errors.total + step.dropped + step.unexpected).toBe(0);
    // The zone's own names: every answer is data, a referral or a wildcard, never a failure.
    expect(Object.keys(step.rcodes)).toEqual(['NOERROR']);
    // Every DNS target answers over TCP on its UDP port; NSD, BIND and the built-in one over TLS on 853 too.
    expect(target.tlsEndpoint).toBe(target.name === 'knot' ? undefined : '198.18.0.2:853');
    const tls = defaultDnsTlsTarget();
    const streams = [['--server', target.endpoint, '--transport', 'tcp']];
    if (tls !== undefined && !('error' in tls)) streams.push(['--server', tls.server, '--transport', 'tls', '--ca', tls.ca]);
    for (const transport of streams) {
      const over = await tsloadInClient(['dns', ...transport, '--zone', join(root, 'fixtures', 'test.zone'), '--rate', '1000', '--duration', '1s', '--warmup', '500ms']);
      const s = over.steps[0]! as DnsStep;
      expect(s.completed).toBe(1000);
      expect(s.lost + s.errors.total + s.dropped + s.unexpected).toBe(0);
      expect(s.stream).toMatchObject({ connections: 4, reconnects: 0, tlsHandshakes: transport.includes('tls') ? 4 : 0 });
    }
  }
}

async function netnsNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith('tsload-'));
}

/** Nothing the testbed makes is left: no namespace, no link, no nft table, no state, no process. */
async function expectClean(pids: number[] = []): Promise<void> {
  expect(await netnsNames()).toEqual([]);
  const links = await run('ip', ['-o', 'link', 'show']);
  expect(links.stdout).not.toMatch(/tsload-[cs]\b/);
  if (findBinary('nft') !== undefined) {
    const tables = await run('nft', ['list', 'tables']);
    expect(tables.stdout).not.toContain('tsload_testbed');
  }
  expect(existsSync(STATE_DIR)).toBe(false);
  for (const pid of pids) {
    expect(isAlive(pid)).toBe(false);
    expect(groupMembers(pid)).toEqual([]);
  }
}

function tbfRates(s: TestbedStatus): (number | undefined)[] {
  return s.hosts.map((h) => h.qdiscs.find((q) => q.kind === 'tbf' && q.parent === 'root')?.rateBitsPerSecond);
}

describe('link options', () => {
  it('parses rates, delays and losses, and reports every bad one', () => {
    expect(parseLinkOptions({})).toMatchObject({ rateBitsPerSecond: 1e9, delayMicroseconds: 0, lossPercent: 0, burstBytes: 131072 });
    expect(parseLinkOptions({ rate: '100mbit', delay: '0.1ms', loss: '0.25%' })).toMatchObject({
      rateBitsPerSecond: 1e8,
      delayMicroseconds: 100,
      lossPercent: 0.25,
    });
    // 10 Gbit/s: a millisecond of traffic is more than two GSO packets.
    expect(parseLinkOptions({ rate: '10gbit' }).burstBytes).toBe(1_250_000);
    let error: unknown;
    try {
      parseLinkOptions({ rate: '1gbps', delay: '3', loss: '0.001%' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptionsError);
    expect((error as OptionsError).problems).toHaveLength(3);
  });
});

describe.skipIf(skipReason !== undefined)('testbed (root)', () => {
  const startedPids: number[] = [];

  beforeAll(async () => {
    await down();
  }, 30_000);

  afterAll(async () => {
    await down();
    await expectClean(startedPids);
  }, 30_000);

  // A test that fails midway (a stall of the shared machine) must not leave its target for the retry
  // or the next test to trip over: each test starts from a testbed with no target running.
  afterEach(async () => {
    if ((await status()).up) await stop('all');
  }, 30_000);

  it('refuses without root, naming what it needs', async () => {
    const script = "import('./src/testbed/index.ts').then((m) => m.up()).then(() => console.log('no error'), (e) => console.log(e.name + ': ' + e.message))";
    const { stdout } = await run(process.execPath, [...loaderExecArgv(), '--input-type=module', '-e', script], {
      cwd: root,
      uid: 65534,
      gid: 65534,
      env: { ...process.env, HOME: '/tmp' },
    });
    expect(stdout.trim()).toMatch(/^EnvironmentError: the testbed needs root/);
    expect(await netnsNames()).toEqual([]);
  }, 30_000);

  it('comes up, is idempotent, reports hosts and shaping, and goes down without a trace', async () => {
    const first = await up();
    expect(first.up).toBe(true);
    expect(first.hosts.map((h) => [h.namespace, h.interface, h.address])).toEqual([
      ['tsload-client', 'tsload-c', '198.18.0.1/24'],
      ['tsload-server', 'tsload-s', '198.18.0.2/24'],
    ]);
    expect(tbfRates(first)).toEqual([1e9, 1e9]);
    expect(first.loss).toBeUndefined();
    expect(existsSync(join(WWW_DIR, 'index.html'))).toBe(true);

    // The hosts reach each other across the link, and clientCommand runs inside the client host.
    const cmd = clientCommand([process.execPath, '-e', 'console.log(JSON.stringify(require("os").networkInterfaces()))']);
    const { stdout } = await run(cmd.command, cmd.args);
    const interfaces = JSON.parse(stdout) as Record<string, { address: string }[]>;
    expect(Object.keys(interfaces).sort()).toEqual(['lo', 'tsload-c']);
    expect(interfaces['tsload-c']?.map((a) => a.address)).toContain('198.18.0.1');

    // Across the link, a connection to a closed port is refused by the server host's kernel.
    const refused = await probe({ mode: 'http', host: '198.18.0.2', port: 80, path: '/', count: 1, timeoutMs: 2000 });
    expect(refused.firstError).toMatch(/ECONNREFUSED/);

    // Same settings again: nothing is re-created (the tbf keeps its counters) and the result is the same.
    const sentBefore = (await status()).hosts[0]?.qdiscs[0]?.sentPackets ?? 0;
    expect(sentBefore).toBeGreaterThan(0);
    const second = await up({ rate: '1gbit', loss: '0%' });
    expect(second.hosts.map((h) => h.address)).toEqual(first.hosts.map((h) => h.address));
    expect(second.hosts[0]?.qdiscs[0]?.sentPackets ?? 0).toBeGreaterThanOrEqual(sentBefore);
    expect((await netnsNames()).sort()).toEqual(['tsload-client', 'tsload-server']);

    const removed = await down();
    expect(removed).toEqual(['deleted namespace tsload-client', 'deleted namespace tsload-server', `removed ${STATE_DIR}`]);
    await expectClean();
    expect(await down()).toEqual([]);
    expect((await status()).up).toBe(false);
    await expect(start('nginx')).rejects.toThrow(EnvironmentError);
  }, 60_000);

  it('refuses a delay it cannot make, or makes it with netem', async () => {
    await up();
    let netem = true;
    try {
      await up({ delay: '2ms' });
    } catch (error) {
      expect(error).toBeInstanceOf(EnvironmentError);
      expect(String(error)).toMatch(/netem/);
      netem = false;
    }
    const s = await status();
    const netemQdiscs = s.hosts.flatMap((h) => h.qdiscs.filter((q) => q.kind === 'netem'));
    if (netem) {
      expect(netemQdiscs.map((q) => q.delayMicroseconds)).toEqual([2000, 2000]);
      // Both directions are delayed: the round trip grows by at least 4 ms.
      const nsd = await start('nsd');
      const r = await probe({ mode: 'dns', host: nsd.address, port: nsd.port, name: 'example.com', qtype: 6, count: 20, ratePerSecond: 100, waitMs: 500 });
      expect(r.answered).toBe(20);
      expect(r.meanLatencyMs).toBeGreaterThanOrEqual(4);
      await stop('nsd');
      await up({ delay: '0' });
    } else {
      // The refusal changed nothing.
      expect(netemQdiscs).toEqual([]);
      expect(s.settings?.delayMicroseconds).toBe(0);
      console.warn('test/testbed/testbed.test.ts: this kernel has no netem qdisc: --delay is refused (as it must be)');
    }
    expect((await status()).hosts.flatMap((h) => h.qdiscs.filter((q) => q.kind === 'netem'))).toEqual([]);
  }, 60_000);

  for (const name of TARGET_NAMES) {
    const builtin = name.startsWith('builtin-');
    if (builtin && cliMissing) console.warn(`test/testbed/testbed.test.ts: ${name} skipped: src/cli.ts (\`tsload serve\`) does not exist yet`);
    it.skipIf(builtin && cliMissing)(`${name} starts, answers across the link with no error, and stops`, async () => {
      await up();
      const target = await start(name as TargetName);
      startedPids.push(target.pid);
      expect(isAlive(target.pid, target.startTime)).toBe(true);
      expect(existsSync(target.log)).toBe(true);
      const listed = (await status()).targets;
      expect(listed.map((t) => [t.name, t.alive])).toEqual([[name, true]]);
      expect(await defaultTarget(target.protocol)).toBe(target.protocol === 'http' ? 'http://198.18.0.2/' : '198.18.0.2:53');
      expect(await defaultTarget(target.protocol === 'http' ? 'dns' : 'http')).toBeUndefined();

      await shortRun(target);

      // One server per port: a second one of the same protocol is refused, the first keeps running.
      const rival: TargetName = target.protocol === 'http' ? (name === 'nginx' ? 'lighttpd' : 'nginx') : name === 'nsd' ? 'knot' : 'nsd';
      await expect(start(rival)).rejects.toThrow(/already serving port/);
      expect(isAlive(target.pid, target.startTime)).toBe(true);

      const stopped = await stop(name as TargetName);
      expect(stopped.map((t) => t.name)).toEqual([name]);
      expect(isAlive(target.pid)).toBe(false);
      expect(groupMembers(target.pid)).toEqual([]);
      expect((await status()).targets).toEqual([]);
      expect(await defaultTarget(target.protocol)).toBeUndefined();
      expect(await stop(name as TargetName)).toEqual([]);
    }, 60_000);
  }

  it('cleans up after a failed start and after down with a target running', async () => {
    await up();
    // A zone tsload cannot read is refused before any server starts, with file:line.
    const unreadable = join(STATE_DIR, 'unreadable.zone');
    writeFileSync(unreadable, '$ORIGIN example.com.\n@ IN SOA ns1 hostmaster 1 7200\nwww IN A 300.1.2.3\n');
    await expect(start('nsd', { zone: unreadable })).rejects.toThrow(/unreadable\.zone:2:/);
    expect((await status()).targets).toEqual([]);
    // One that BIND (and tsload) read but NSD 4.6 does not (it has no NINFO): NSD itself fails to start.
    const broken = join(STATE_DIR, 'broken.zone');
    writeFileSync(broken, '$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nx NINFO "a"\n');
    const failed = start('nsd', { zone: broken });
    await expect(failed).rejects.toThrow(ServerStartError);
    await expect(failed).rejects.toThrow(/zone/);
    expect((await status()).targets).toEqual([]);
    const { stdout } = await run('ip', ['netns', 'pids', 'tsload-server']);
    expect(stdout.trim()).toBe('');

    const nginx = await start('nginx');
    startedPids.push(nginx.pid);
    const removed = await down();
    expect(removed[0]).toBe(`stopped nginx (pid ${nginx.pid})`);
    await expectClean([nginx.pid]);
  }, 60_000);

  it('shapes the link: a bulk transfer does not exceed the shaped rate', async () => {
    const rate = 100e6;
    const s = await up({ rate: '100mbit' });
    expect(tbfRates(s)).toEqual([rate, rate]);
    // 25 MB: two seconds at 100 Mbit/s, against a bucket of 128 KiB (0.5 %).
    const size = 25_000_000;
    writeFileSync(join(WWW_DIR, 'bulk.bin'), Buffer.alloc(size, 0x5a));
    const nginx = await start('nginx');
    startedPids.push(nginx.pid);
    const before = (await status()).hosts[1]?.qdiscs[0];
    const r = await probe({ mode: 'http', host: nginx.address, port: nginx.port, path: '/bulk.bin', count: 1, timeoutMs: 30_000 });
    expect(r).toMatchObject({ errors: 0, statuses: { 200: 1 }, bodyBytes: size });
    const bitsPerSecond = (size * 8) / r.seconds;
    console.info(`bulk transfer at 100mbit: ${(bitsPerSecond / 1e6).toFixed(1)} Mbit/s of payload`);
    expect(bitsPerSecond).toBeLessThanOrEqual(rate * 1.03);
    // Not vacuous: the link was the bottleneck (tbf had to hold packets back), and it carried the file.
    expect(bitsPerSecond).toBeGreaterThan(rate * 0.6);
    const after = (await status()).hosts[1]?.qdiscs[0];
    expect((after?.overlimits ?? 0) - (before?.overlimits ?? 0)).toBeGreaterThan(0);
    expect((after?.sentBytes ?? 0) - (before?.sentBytes ?? 0)).toBeGreaterThan(size);
    await stop('nginx');
    expect(tbfRates(await up())).toEqual([1e9, 1e9]);
  }, 60_000);

  it('keeps TIME_WAIT at bay with keep-alive, and shows it piling up with a connection per request', async () => {
    await up();
    const nginx = await start('nginx');
    startedPids.push(nginx.pid);
    const timeWait = async (): Promise<number> => {
      const { command, args } = clientCommand(['ss', '-H', '-t', '-a', '-n', 'state', 'time-wait']);
      const { stdout } = await run(command, args);
      return stdout.split('\n').filter((l) => l.trim() !== '').length;
    };
    const url = `${nginx.endpoint}1k.html`;

    const before = await timeWait();
    const keepAlive = (await tsloadInClient(['http', url, '--rate', '10000', '--duration', '5s', '--warmup', '500ms'])).steps[0] as HttpStep;
    const afterKeepAlive = await timeWait();
    expect(keepAlive.sent).toBe(50_000);
    expect(keepAlive.completed).toBe(50_000);
    expect(keepAlive.errors.total + keepAlive.timeouts).toBe(0);
    console.info(`TIME_WAIT: keep-alive at 10k req/s for 5 s: ${afterKeepAlive - before} new, ${keepAlive.connections} connections opened`);
    // Every connection tsload opened: the step's, plus the pre-flight probe's.
    expect(afterKeepAlive - before).toBeLessThanOrEqual(keepAlive.connections + 1);

    // `tsload http --testbed` with no URL: the CLI re-runs itself in the client host, aimed at the running target.
    const viaFlag = await run(process.execPath, [join(root, 'bin', 'tsload.js'), 'http', '--testbed', '--rate', '200', '--duration', '1s', '--warmup', '0', '--json', '-', '-q']);
    const flagged = JSON.parse(viaFlag.stdout) as Result;
    expect(flagged.target).toBe('http://198.18.0.2/');
    expect(flagged.steps[0]!.completed).toBe(200);
    // The same from the library: a Result back, with the progress the client host's run sent.
    const progress: number[] = [];
    const fromLibrary = await runInTestbed('http', { rate: 200, duration: 1000, warmup: 0, onProgress: (e) => progress.push(e.stepIndex) });
    expect(fromLibrary.protocol).toBe('http');
    expect(fromLibrary.target).toBe('http://198.18.0.2/');
    expect(fromLibrary.steps[0]!.completed).toBe(200);
    expect(progress.length).toBeGreaterThan(0);
    await expect(runInTestbed('http', { rate: 'fast' })).rejects.toThrow(/--rate/);
    // HTTP/2 across the link: nginx's TLS side, verified with the certificate the testbed made.
    const h2 = await runInTestbed('http', { http2: true, rate: 200, duration: 1000, warmup: 0 });
    expect(h2.target).toBe('https://198.18.0.2/');
    expect(h2.httpVersion).toBe('2');
    expect(h2.steps[0]!.completed).toBe(200);
    expect(h2.steps[0]!.tls?.handshakes).toBeGreaterThan(0);
    const beforePerRequest = await timeWait();

    const perRequest = (await tsloadInClient(['http', url, '--rate', '1000', '--duration', '3s', '--warmup', '0', '--new-connection-per-request'])).steps[0] as HttpStep;
    const afterPerRequest = await timeWait();
    expect(perRequest.completed).toBe(3000);
    expect(perRequest.connections).toBeGreaterThanOrEqual(3000);
    console.info(`TIME_WAIT: a connection per request at 1k req/s for 3 s: ${afterPerRequest - beforePerRequest} new for ${perRequest.completed} requests`);
    // httperf's artifact, reproduced on purpose: one socket left in TIME_WAIT per request.
    expect(afterPerRequest - beforePerRequest).toBeGreaterThanOrEqual(0.95 * perRequest.completed);
    await stop('nginx');
  }, 90_000);

  it('drops the configured share of packets', async () => {
    const s = await up({ loss: '5%' });
    expect(s.loss?.percent).toBeCloseTo(5, 6);
    const nsd = await start('nsd');
    startedPids.push(nsd.pid);
    // 10000 queries: the binomial spread of the loss is ±0.22 %, so ±1 % is a 4.5-sigma bound.
    const before = (await status()).loss!.droppedPackets;
    const result = await tsloadInClient(['dns', '--server', nsd.endpoint, '--zone', join(root, 'fixtures', 'test.zone'), '--rate', '5000', '--duration', '2s', '--warmup', '0', '--timeout', '1s']);
    const step = result.steps[0]! as DnsStep;
    expect(step.sent).toBe(10_000);
    // Open loop: the loss does not slow the sending.
    expect(step.sendRate).toBeGreaterThan(4950);
    const lostPercent = (step.lost / step.sent) * 100;
    console.info(`loss 5%: tsload dns measured ${lostPercent.toFixed(2)}% of ${step.sent} queries lost`);
    expect(Math.abs(lostPercent - 5)).toBeLessThan(1);
    expect(step.completed + step.lost).toBe(step.sent);
    // The nftables counter saw those drops (give or take the probe's query).
    expect(Math.abs((await status()).loss!.droppedPackets - before - step.lost)).toBeLessThanOrEqual(5);
    const cleared = await up({ loss: '0%' });
    expect(cleared.loss).toBeUndefined();
    await stop('nsd');
  }, 60_000);
});
