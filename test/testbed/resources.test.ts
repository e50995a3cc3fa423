/**
 * The server's side of a testbed run, for real: targets in their own cgroup
 * with a cpuset and a memory limit, and each step's server figures (CPU,
 * memory, link) checked against what is known of the load: a request that
 * costs a known CPU time, the bytes the generator itself counted, one core
 * that cannot be more than fully busy. Needs root and iproute2; uses only
 * this TSLOAD_TESTBED_ID's testbed, which it takes down before and after.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER, down, start, stop, up } from '../../src/testbed/index.js';
import { runInTestbed } from '../../src/testbed/run.js';
import { ServerSampler } from '../../src/testbed/resources.js';
import { availableCpus, formatCpuList, parseCpuList, readCgroupCpus, readCgroupMemory } from '../../src/testbed/cgroups.js';
import { describeResource } from '../../src/measure/saturation.js';
import { findBinary, groupMembers } from '../../src/testbed/system.js';
import type { HttpResult, HttpStep, ServerFigures } from '../../src/result.js';

const skipReason =
  typeof process.getuid === 'function' && process.getuid() !== 0
    ? 'not root (the testbed creates network namespaces and cgroups)'
    : findBinary('ip') === undefined || findBinary('tc') === undefined
      ? 'no `ip`/`tc` (apt-get install iproute2)'
      : undefined;
if (skipReason !== undefined) console.warn(`test/testbed/resources.test.ts: skipped: ${skipReason}`);

const base = `http://${SERVER.address}/`;
const MIB = 2 ** 20;
/** Ethernet (14) + IPv4 (20) + TCP with timestamps (32): what each frame adds to the payload. */
const FRAME_OVERHEAD = 66;

function server(result: HttpResult, index = 0): { step: HttpStep; f: ServerFigures } {
  const step = result.steps[index]!;
  expect(step.server, `step ${index + 1} has server figures`).toBeDefined();
  return { step, f: step.server! };
}

describe.skipIf(skipReason !== undefined)('server figures in the testbed', () => {
  beforeAll(async () => {
    await down();
    await up();
  });
  afterAll(async () => {
    await down();
  });

  // The marginal cost: the same requests with and without 200 µs of burn, at a rate one core
  // carries easily (1000/s ≈ 0.3 cores), through a fixed pool opened in the warmup so the runs do
  // the same work apart from the burn. What Node's HTTP server costs per request drops out. A
  // fresh server's JIT keeps compiling for thousands of requests (its cost per request falls by
  // half over the first 20 s at 300/s), so two fast unmeasured runs come first; then runs with
  // and without the burn alternate, and the means are compared, which takes out what drift and
  // the shared core's noise remain (one pair alone was off by up to 15%).
  it('burn?us=200 reads 200 µs of server CPU per request, within 15%', async () => {
    const target = await start('builtin-http', { cpus: 1 });
    try {
      const measure = (us: number, rate = 1000): Promise<HttpResult> =>
        runInTestbed('http', { url: `${base}_tsload/burn?us=${us}`, rate, duration: '3s', warmup: '1s', connections: 4 });
      await measure(0, 2000);
      await measure(200, 1000);
      // Adjacent pairs in ABBA order cancel a steady drift; the median of the pairs' differences
      // drops the pair a stall of the shared machine spoiled (steal time is charged to whichever
      // process ran, so one reading of the idle cost can be twice another).
      const idle: ServerFigures[] = [];
      const burn: ServerFigures[] = [];
      const differences: number[] = [];
      for (const pair of [[0, 200], [200, 0], [0, 200], [200, 0], [0, 200]]) {
        const read: Record<number, ServerFigures> = {};
        for (const us of pair) {
          const { step, f } = server(await measure(us!));
          expect(step.completed).toBe(3000);
          expect(f.source).toBe('cgroup');
          expect(f.target).toBe('builtin-http');
          expect(f.samples).toBeGreaterThanOrEqual(10);
          (us === 0 ? idle : burn).push(f);
          read[us!] = f;
        }
        differences.push(read[200]!.cpuPerRequestUs! - read[0]!.cpuPerRequestUs!);
      }
      const marginal = [...differences].sort((a, b) => a - b)[2]!;
      const figures = `µs per request with burn ${burn.map((f) => f.cpuPerRequestUs!.toFixed(1)).join(', ')}; without ${idle.map((f) => f.cpuPerRequestUs!.toFixed(1)).join(', ')}; pair differences ${differences.map((d) => d.toFixed(1)).join(', ')}`;
      console.log(`burn?us=200: marginal ${marginal.toFixed(1)} µs per request (${figures})`);
      expect(marginal, figures).toBeGreaterThan(170);
      expect(marginal, figures).toBeLessThan(230);
      for (const f of burn) expect(f.cpuPerRequestUs!, figures).toBeGreaterThan(200);
      // The server keeps its one core for itself: the generator ran on the others.
      expect(target.limits?.cpus).toBe(formatCpuList(availableCpus().slice(-1)));
    } finally {
      await stop('builtin-http');
    }
    // Twelve runs of 4 s and a target start: about 55 s on a quiet machine, more on a busy one.
  }, 150_000);

  it('nginx --cpus 1 --memory 256m: the limits in its cgroup, and CPU, memory and link figures that add up', async () => {
    const target = await start('nginx', { cpus: 1, memory: '256m' });
    const cgroup = target.cgroup!;
    try {
      expect(cgroup).toBeDefined();
      expect(target.limits).toEqual({ cpus: formatCpuList(availableCpus().slice(-1)), memoryBytes: 256 * MIB });
      expect(readCgroupCpus(cgroup)).toBe(target.limits!.cpus);
      expect(readCgroupMemory(cgroup)?.limitBytes).toBe(256 * MIB);
      // Master and worker alike: the server entered its group before it forked.
      const members = groupMembers(target.pid);
      expect(members.length).toBeGreaterThanOrEqual(2);
      for (const file of cgroup.procsFiles) {
        const procs = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map(Number);
        expect(procs.sort()).toEqual(expect.arrayContaining(members));
      }

      const result = await runInTestbed('http', { url: `${base}1k.html`, rate: 2000, duration: '3s', warmup: '1s' });
      const { step, f } = server(result);
      expect(step.completed).toBe(6000);
      expect(result.generatorCpus).toBe(formatCpuList(availableCpus().filter((c) => !parseCpuList(target.limits!.cpus!)!.includes(c))));
      expect(f).toMatchObject({ source: 'cgroup', target: 'nginx', cpuLimit: 1, coresAvailable: 1, memoryLimitBytes: 256 * MIB });
      // Busy, but within its one core (a little over 1 would be interpolation at the window's edges).
      expect(f.cpuPerSecond).toBeGreaterThan(0.005);
      expect(f.cpuPerSecond).toBeLessThan(1.05);
      expect(f.cpuPerRequestUs).toBeGreaterThan(2);
      expect(f.cpuPerRequestUs).toBeLessThan(500);
      expect(f.cpuS).toBeCloseTo(f.cpuPerSecond * step.durationS, 9);
      expect(f.rssBytes.max).toBeGreaterThan(100 * 1024);
      expect(f.rssBytes.max).toBeLessThan(256 * MIB);
      expect(f.memoryBytes!.max).toBeGreaterThanOrEqual(f.rssBytes.max);
      expect(f.memoryBytes!.max).toBeLessThanOrEqual(256 * MIB);

      // The link carried what the generator counted: the replies' bytes toward the client, the
      // requests' toward the server, plus each frame's headers (ACKs are all headers).
      const link = f.link!;
      expect(link.rateBitsPerSecond).toBe(1e9);
      const payload = (d: typeof link.toClient): number => (d.bytesPerS - FRAME_OVERHEAD * d.packetsPerS) * step.durationS;
      const replies = step.replyRate * step.durationS * step.avgReplyBytes!;
      const requests = step.sendRate * step.durationS * step.avgRequestBytes!;
      const figures = `link payload to client ${payload(link.toClient).toFixed(0)} B vs replies ${replies.toFixed(0)} B; to server ${payload(link.toServer).toFixed(0)} B vs requests ${requests.toFixed(0)} B`;
      expect(Math.abs(payload(link.toClient) / replies - 1), figures).toBeLessThan(0.03);
      expect(Math.abs(payload(link.toServer) / requests - 1), figures).toBeLessThan(0.03);
      expect(link.toClient.share).toBeCloseTo((link.toClient.bytesPerS * 8) / 1e9, 12);
      expect(link.toServer.tbfDrops + link.toClient.tbfDrops).toBe(0);
    } finally {
      await stop('nginx');
    }
    // Its groups go with it.
    for (const dir of cgroup.dirs) expect(existsSync(dir), dir).toBe(false);
  });

  // 2 ms of CPU per request caps one core at under 500 replies a second: 100/s (about a quarter of
  // the core, which a core shared with other testbeds still gives) passes, 1000/s cannot.
  it('the verdict names the CPU when a one-core server is driven past it', async () => {
    await start('builtin-http', { cpus: 1 });
    try {
      const result = await runInTestbed('http', {
        url: `${base}_tsload/burn?us=2000`,
        rate: [100, 1000],
        duration: '2s',
        warmup: '500ms',
        timeout: '1s',
        confirm: 0,
      });
      const low = server(result, 0).f;
      const high = server(result, 1).f;
      const figures = `cores busy: ${low.cpuPerSecond.toFixed(3)} at 100/s, ${high.cpuPerSecond.toFixed(3)} (waiting ${high.cpuWaitPerSecond?.toFixed(3)}) at 1000/s; steps: ${result.steps.map((s) => `${s.targetRate}/s replies ${s.replyRate.toFixed(1)}/s p99 ${s.latencyMs.p99} ms`).join(', ')}`;
      expect(result.saturation.failedAt, figures).toBe(1);
      expect(low.cpuPerSecond, figures).toBeLessThan(0.5);
      // It asked for the whole core: busy, or (the core shared with other work) waiting for it.
      expect(high.cpuPerSecond + high.cpuWaitPerSecond!, figures).toBeGreaterThan(0.95);
      expect(high.cpuPerSecond, figures).toBeLessThan(1.05);
      expect(result.saturation.resource).toMatchObject({ kind: 'cpu', target: 'builtin-http', coresAvailable: 1, limited: true });
      const verdict = describeResource(result.saturation.resource!);
      if (high.cpuPerSecond >= 0.95) expect(verdict).toMatch(/^builtin-http at (9[5-9]|10[0-4])% of its one core$/);
      else expect(verdict).toMatch(/^builtin-http at \d+% of its one core, its threads waiting for a core \d+% of the time \(the core was shared\)$/);
    } finally {
      await stop('builtin-http');
    }
  });

  // The fallback for a target without a cgroup (a VM's qemu): /proc over its process group, read
  // alongside the cgroup over the same window, must tell the same CPU.
  it('without a cgroup, /proc over the process group gives the same CPU and says so', async () => {
    const target = await start('builtin-http');
    const { cgroup: _, limits: __, ...bare } = target;
    const tools = { ip: findBinary('ip')!, tc: findBinary('tc')! };
    const procfs = new ServerSampler(bare, tools, 1e9);
    try {
      const result = await runInTestbed('http', { url: `${base}_tsload/burn?us=1000`, rate: 200, duration: '3s', warmup: '1s', connections: 4 });
      const { step, f } = server(result);
      const other = (await procfs.figuresAfter(step))!;
      const figures = `cgroup ${f.cpuS.toFixed(3)} s, /proc ${other.cpuS.toFixed(3)} s`;
      expect(f.source).toBe('cgroup');
      expect(other.source).toBe('procfs');
      expect(other.memoryBytes).toBeNull();
      // 600 requests of 1 ms each at least.
      expect(f.cpuS, figures).toBeGreaterThan(0.6);
      // /proc counts in 10 ms ticks: within 5% of 0.6 s and more.
      expect(Math.abs(other.cpuS / f.cpuS - 1), figures).toBeLessThan(0.05);
      expect(other.rssBytes.max).toBeGreaterThan(1 * MIB);
      expect(Math.abs(other.link!.toClient.bytesPerS / f.link!.toClient.bytesPerS - 1)).toBeLessThan(0.02);
    } finally {
      await procfs.stop();
      await stop('builtin-http');
    }
  });

  // Without a cpuset the machine's cores are the server's, but the built-in target answers on one
  // thread: that thread, at one core, is what ran out.
  it('the verdict names the one core a one-thread server can use, with cores to spare', async () => {
    await start('builtin-http');
    try {
      const result = await runInTestbed('http', { url: `${base}_tsload/burn?us=2000`, rate: [100, 1000], duration: '2s', warmup: '500ms', timeout: '1s', confirm: 0 });
      const high = server(result, 1).f;
      const thread = high.busiestThread!;
      const figures = `busiest thread ${thread.cpuPerSecond.toFixed(3)} cores (waiting ${thread.waitPerSecond.toFixed(3)}), all threads ${high.cpuPerSecond.toFixed(3)}`;
      expect(result.saturation.failedAt, figures).toBe(1);
      expect(high.cpuLimit).toBeNull();
      expect(high.coresAvailable).toBe(availableCpus().length);
      expect(thread.cpuPerSecond + thread.waitPerSecond, figures).toBeGreaterThan(0.95);
      expect(thread.cpuPerSecond, figures).toBeLessThan(1.02);
      expect(thread.cpuPerSecond, figures).toBeLessThanOrEqual(high.cpuPerSecond + 1e-9);
      if (availableCpus().length > 1) {
        expect(result.saturation.resource, figures).toMatchObject({ kind: 'cpu', scope: 'thread', target: 'builtin-http' });
        expect(describeResource(result.saturation.resource!)).toMatch(/^builtin-http at \d+% of one core \(its busiest thread; the machine has \w+\)/);
      }
    } finally {
      await stop('builtin-http');
    }
  });

  // A 10 Mbit/s link and 50 KB replies: 5/s (2 Mbit/s) passes, 40/s (16 Mbit/s) cannot.
  it('the verdict names the link when the replies need more than its rate', async () => {
    await up({ rate: '10mbit' });
    await start('builtin-http');
    try {
      const result = await runInTestbed('http', { url: `${base}_tsload/bytes?n=50000`, rate: [5, 40], duration: '3s', warmup: '1s', timeout: '2s', confirm: 0 });
      const low = server(result, 0).f.link!;
      const high = server(result, 1).f.link!;
      const figures = `to client ${(low.toClient.share * 100).toFixed(1)}% at 5/s, ${(high.toClient.share * 100).toFixed(1)}% (${high.toClient.tbfDrops} tbf drops) at 40/s`;
      expect(result.saturation.failedAt, figures).toBe(1);
      expect(high.rateBitsPerSecond).toBe(10e6);
      expect(low.toClient.share, figures).toBeGreaterThan(0.15);
      expect(low.toClient.share, figures).toBeLessThan(0.3);
      // tbf lets through the rate and no more (its bucket aside).
      expect(high.toClient.share, figures).toBeGreaterThan(0.95);
      expect(high.toClient.share, figures).toBeLessThan(1.02);
      expect(result.saturation.resource).toMatchObject({ kind: 'link', direction: 'toClient', rateBitsPerSecond: 10e6 });
      expect(describeResource(result.saturation.resource!)).toMatch(/^link at (9[5-9]|10[0-2])% of 10 Mbit\/s toward the client( \(\d+ packets dropped by tbf\))?$/);
    } finally {
      await stop('builtin-http');
      await up();
    }
  });
});

// The state dir is this testbed's own (TSLOAD_TESTBED_ID), so parallel testbeds never share a group name.
it('names each target’s cgroup after its testbed', async () => {
  const { CGROUP_PREFIX } = await import('../../src/testbed/settings.js');
  const { STATE_DIR } = await import('../../src/testbed/settings.js');
  expect(CGROUP_PREFIX).toBe(join(STATE_DIR).split('/').pop());
});
