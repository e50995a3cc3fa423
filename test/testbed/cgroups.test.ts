/**
 * The pure parts of the server's side: the cgroup files written for a
 * target's limits (v1 and v2, into a temporary directory standing for the
 * cgroup filesystem), the --cpus and --memory parsers, the verdict naming the
 * resource that ran out, and how the reports show the server figures.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createV1, createV2, formatCpuList, parseCpuList, parseMemorySize, readCgroupCpuS, readCgroupMemory, resolveCpus } from '../../src/testbed/cgroups.js';
import { describeResource, describeSaturation, findSaturation, saturatedResource } from '../../src/measure/saturation.js';
import { formatText } from '../../src/report/text.js';
import { CSV_COLUMNS, formatCsv } from '../../src/report/csv.js';
import { buildCharts } from '../../src/report/charts.js';
import type { ServerFigures } from '../../src/result.js';
import { httpResult, httpStep } from '../fixtures-results.js';

let dirs: string[] = [];
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsload-cgroup-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});
const read = (file: string): string => readFileSync(file, 'utf8');

describe('cgroup v2 files', () => {
  it('enables cpuset and memory for the root’s children and writes the limits into the target’s group', () => {
    const root = temp();
    const group = join(root, 'tsload-testbed-12-nginx');
    // The kernel makes memory.swap.max in every group of a machine with swap accounting.
    mkdirSync(group);
    writeFileSync(join(group, 'memory.swap.max'), 'max\n');
    const made = createV2(root, 'tsload-testbed-12-nginx', { cpus: '1', memoryBytes: 256 * 2 ** 20 });
    expect(read(join(root, 'cgroup.subtree_control'))).toBe('+cpuset +memory');
    expect(read(join(group, 'cpuset.cpus'))).toBe('1');
    expect(read(join(group, 'memory.max'))).toBe(String(256 * 2 ** 20));
    expect(read(join(group, 'memory.swap.max'))).toBe('0');
    expect(made).toEqual({ version: 2, dirs: [group], cpuFile: join(group, 'cpu.stat'), memoryDir: group, procsFiles: [join(group, 'cgroup.procs')] });

    // What the sampler reads back from such a group.
    writeFileSync(join(group, 'cpu.stat'), 'usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n');
    writeFileSync(join(group, 'memory.current'), '5000000\n');
    writeFileSync(join(group, 'memory.stat'), 'anon 3000000\nfile 2000000\n');
    expect(readCgroupCpuS(made)).toBeCloseTo(1.234567, 9);
    expect(readCgroupMemory(made)).toEqual({ chargedBytes: 5_000_000, rssBytes: 3_000_000, limitBytes: 256 * 2 ** 20 });
  });

  it('writes no limit that was not asked for', () => {
    const root = temp();
    createV2(root, 'g', { cpus: null, memoryBytes: null });
    expect(() => read(join(root, 'g', 'cpuset.cpus'))).toThrow();
    expect(() => read(join(root, 'g', 'memory.max'))).toThrow();
  });
});

describe('cgroup v1 files', () => {
  it('makes a group per hierarchy, fills the cpuset (empty in v1 until set) and the memory limits', () => {
    const cpuacct = temp();
    const cpuset = temp();
    const memory = temp();
    writeFileSync(join(cpuset, 'cpuset.effective_cpus'), '0-1\n');
    writeFileSync(join(cpuset, 'cpuset.effective_mems'), '0\n');
    const made = createV1({ cpuacct, cpuset, memory }, 'g', { cpus: null, memoryBytes: 2 ** 30 });
    expect(read(join(cpuset, 'g', 'cpuset.cpus'))).toBe('0-1');
    expect(read(join(cpuset, 'g', 'cpuset.mems'))).toBe('0');
    expect(read(join(memory, 'g', 'memory.limit_in_bytes'))).toBe(String(2 ** 30));
    expect(made.procsFiles).toEqual([join(cpuacct, 'g', 'cgroup.procs'), join(cpuset, 'g', 'cgroup.procs'), join(memory, 'g', 'cgroup.procs')]);
    expect(made.cpuFile).toBe(join(cpuacct, 'g', 'cpuacct.usage'));

    writeFileSync(join(cpuacct, 'g', 'cpuacct.usage'), '2500000000\n');
    writeFileSync(join(memory, 'g', 'memory.usage_in_bytes'), '9000000\n');
    writeFileSync(join(memory, 'g', 'memory.stat'), 'cache 1\nrss 7\ntotal_cache 2000000\ntotal_rss 7000000\n');
    expect(readCgroupCpuS(made)).toBe(2.5);
    expect(readCgroupMemory(made)).toEqual({ chargedBytes: 9_000_000, rssBytes: 7_000_000, limitBytes: 2 ** 30 });
  });

  it('takes the asked cpuset, and co-mounted controllers share one group', () => {
    const both = temp();
    const cpuset = temp();
    writeFileSync(join(cpuset, 'cpuset.mems'), '0\n');
    const made = createV1({ cpuacct: both, memory: both, cpuset }, 'g', { cpus: '1', memoryBytes: null });
    expect(made.dirs).toEqual([join(both, 'g'), join(cpuset, 'g')]);
    expect(read(join(cpuset, 'g', 'cpuset.cpus'))).toBe('1');
    // No limit asked: the limit file (the kernel's, in a real group) is left alone.
    expect(() => read(join(both, 'g', 'memory.limit_in_bytes'))).toThrow();
  });
});

describe('--cpus and --memory', () => {
  it('parses and formats CPU lists', () => {
    expect(parseCpuList('0-2,5')).toEqual([0, 1, 2, 5]);
    expect(parseCpuList('3')).toEqual([3]);
    expect(parseCpuList('2-1')).toBeUndefined();
    expect(parseCpuList('a')).toBeUndefined();
    expect(formatCpuList([0, 1, 2, 5, 7, 8])).toBe('0-2,5,7-8');
  });

  it('a count takes the highest-numbered available CPUs; a list must lie within them', () => {
    const problems: string[] = [];
    expect(resolveCpus(1, [0, 1], problems)).toBe('1');
    expect(resolveCpus('2', [0, 1, 2, 3], problems)).toBe('2-3');
    expect(resolveCpus('0-0', [0, 1], problems)).toBe('0');
    expect(resolveCpus('0,1', [0, 1], problems)).toBe('0-1');
    expect(problems).toEqual([]);
    expect(resolveCpus(3, [0, 1], problems)).toBeNull();
    expect(resolveCpus('4-5', [0, 1], problems)).toBeNull();
    expect(resolveCpus('x', [0, 1], problems)).toBeNull();
    expect(problems).toHaveLength(3);
    expect(problems[1]).toMatch(/CPU 4-5 not available/);
  });

  it('sizes are binary, as docker -m', () => {
    const problems: string[] = [];
    expect(parseMemorySize('1g', problems)).toBe(2 ** 30);
    expect(parseMemorySize('256m', problems)).toBe(256 * 2 ** 20);
    expect(parseMemorySize('512MiB', problems)).toBe(512 * 2 ** 20);
    expect(parseMemorySize(8 * 2 ** 20, problems)).toBe(8 * 2 ** 20);
    expect(problems).toEqual([]);
    expect(parseMemorySize('1k', problems)).toBeNull();
    expect(parseMemorySize('lots', problems)).toBeNull();
    expect(problems).toHaveLength(2);
  });
});

function figures(over: Partial<ServerFigures> = {}): ServerFigures {
  return {
    target: 'nginx',
    source: 'cgroup',
    cpuS: 1.5,
    cpuPerSecond: 0.5,
    cpuPerRequestUs: 250,
    cpuWaitPerSecond: 0.01,
    busiestThread: null,
    cpuLimit: 1,
    coresAvailable: 1,
    rssBytes: { mean: 10 * 2 ** 20, max: 12 * 2 ** 20 },
    memoryBytes: { mean: 20 * 2 ** 20, max: 24 * 2 ** 20 },
    memoryLimitBytes: 256 * 2 ** 20,
    link: {
      rateBitsPerSecond: 1e9,
      toServer: { bytesPerS: 1e6, packetsPerS: 2000, share: 0.008, tbfDrops: 0 },
      toClient: { bytesPerS: 2.5e6, packetsPerS: 2000, share: 0.02, tbfDrops: 0 },
    },
    samples: 30,
    ...over,
  };
}

describe('the resource that ran out', () => {
  it('names the CPU at its cpuset’s one core', () => {
    const r = saturatedResource(figures({ cpuPerSecond: 0.996 }));
    expect(r).toEqual({ kind: 'cpu', target: 'nginx', cores: 0.996, waiting: 0.01, coresAvailable: 1, limited: true, scope: 'cores' });
    expect(describeResource(r!)).toBe('nginx at 100% of its one core');
    // A core shared with other work: busy 60% of the time, and waiting for it most of the rest.
    const shared = saturatedResource(figures({ cpuPerSecond: 0.6, cpuWaitPerSecond: 0.38 }));
    expect(describeResource(shared!)).toBe('nginx at 60% of its one core, its threads waiting for a core 38% of the time (the core was shared)');
    expect(saturatedResource(figures({ cpuPerSecond: 0.6, cpuWaitPerSecond: 0.2 }))).toBeNull();
    expect(describeResource(saturatedResource(figures({ cpuPerSecond: 1.9, cpuLimit: null, coresAvailable: 2 }))!)).toBe("nginx at 95% of the machine's two cores");
  });

  it('names one core when the busiest thread of a server with cores to spare is at it', () => {
    const single = figures({ cpuPerSecond: 1.01, cpuLimit: null, coresAvailable: 2, busiestThread: { cpuPerSecond: 0.99, waitPerSecond: 0.005 } });
    expect(saturatedResource(single)).toMatchObject({ kind: 'cpu', scope: 'thread', cores: 0.99 });
    expect(describeResource(saturatedResource(single)!)).toBe('nginx at 99% of one core (its busiest thread; the machine has two)');
    // Spread over threads, the same CPU is no thread's limit.
    expect(saturatedResource(figures({ cpuPerSecond: 1.01, cpuLimit: null, coresAvailable: 2, busiestThread: { cpuPerSecond: 0.5, waitPerSecond: 0 } }))).toBeNull();
  });

  it('names the link, a direction at 98% of its rate or dropping', () => {
    const full = figures({ link: { ...figures().link!, toClient: { bytesPerS: 122.5e6, packetsPerS: 90000, share: 0.98, tbfDrops: 0 } } });
    expect(describeResource(saturatedResource(full)!)).toBe('link at 98% of 1 Gbit/s toward the client');
    const dropping = figures({ link: { ...figures().link!, toServer: { bytesPerS: 1e6, packetsPerS: 9000, share: 0.5, tbfDrops: 12 } } });
    expect(describeResource(saturatedResource(dropping)!)).toBe('link at 50% of 1 Gbit/s toward the server (12 packets dropped by tbf)');
  });

  it('names memory near its limit, and nothing when every resource had room', () => {
    const r = saturatedResource(figures({ rssBytes: { mean: 250 * 2 ** 20, max: 255 * 2 ** 20 }, memoryBytes: { mean: 255 * 2 ** 20, max: 256 * 2 ** 20 } }));
    expect(describeResource(r!)).toBe('nginx at 100% of its 256 MiB memory limit');
    // Page cache up to the limit is the kernel's use of spare memory, not a server out of it.
    expect(saturatedResource(figures({ memoryBytes: { mean: 255 * 2 ** 20, max: 256 * 2 ** 20 } }))).toBeNull();
    expect(saturatedResource(figures({ cpuPerSecond: 0.9 }))).toBeNull();
    expect(saturatedResource(undefined)).toBeNull();
  });

  it('findSaturation gives the first failing step’s resource, and the verdict says it', () => {
    const steps = [
      { ...httpStep({ targetRate: 200 }), server: figures({ cpuPerSecond: 0.4 }) },
      { ...httpStep({ targetRate: 1000 }), replyRate: 450, server: figures({ cpuPerSecond: 0.999 }) },
    ];
    const s = findSaturation(steps);
    expect(s.failedAt).toBe(1);
    expect(s.resource).toMatchObject({ kind: 'cpu', target: 'nginx' });
    expect(describeSaturation(s, steps, 'http')).toBe('saturation at 200 req/s (at 1000 req/s: reply rate below 99% of the target rate; nginx at 100% of its one core)');
    expect(findSaturation(steps.map(({ server: _, ...rest }) => rest)).resource).toBeUndefined();
  });
});

describe('the reports', () => {
  const steps = [
    { ...httpStep({ targetRate: 200 }), server: figures({ cpuPerSecond: 0.4, cpuPerRequestUs: 2000 }) },
    { ...httpStep({ targetRate: 1000 }), replyRate: 450, server: figures({ cpuPerSecond: 0.999, cpuPerRequestUs: 2220 }) },
  ];
  const result = httpResult(steps, { saturation: findSaturation(steps), generatorCpus: '0' });

  it('text: a server table per step, the generator’s CPUs and the verdict’s resource', () => {
    const text = formatText(result);
    expect(text).toContain('generator pinned to CPU 0');
    expect(text).toContain('server nginx (figures from its cgroup; cpuset of 1 core, memory limit 256.0 MiB; link 1000 Mbit/s each way)');
    expect(text).toMatch(/^ +2 +1\.00 +100 +0\.01 +2220 +12\.0 +24\.0 +8\.0 +0\.8 +20\.0 +2\.0 +0$/m);
    expect(text).toContain('reply rate failed first at 1000 req/s (step 2): nginx at 100% of its one core');
  });

  it('a single run: rows for the server, CPU per reply among them', () => {
    const single = httpResult([steps[0]!]);
    const text = formatText(single);
    expect(text).toMatch(/Server CPU +1\.500 s in the window: 0\.40 cores busy \(40% of 1\), 2000 µs per reply; its threads waited for a core 0\.01 s per second/);
    expect(text).toMatch(/Link to client +20\.0 Mbit\/s \(2\.0%\), 2000 packets\/s, 0 dropped by tbf/);
  });

  it('CSV: the server columns, empty for steps without figures', () => {
    const lines = formatCsv(httpResult([steps[1]!, httpStep({ targetRate: 5 })])).trim().split('\n');
    const cell = (line: number, column: string): string | undefined => lines[line]?.split(',')[CSV_COLUMNS.indexOf(column as (typeof CSV_COLUMNS)[number])];
    expect(cell(1, 'serverCpuPerSecond')).toBe('0.999');
    expect(cell(1, 'serverCpuPerRequestUs')).toBe('2220');
    expect(cell(1, 'linkToClientShare')).toBe('0.02');
    expect(cell(2, 'serverCpuS')).toBe('');
  });

  it('HTML: figure 4 (server CPU, memory, link use vs request rate) only for results with server figures', () => {
    const kinds = buildCharts([result]).map((c) => c.kind);
    expect(kinds).toEqual(expect.arrayContaining(['serverCpu', 'serverMemory', 'link']));
    const cpu = buildCharts([result]).find((c) => c.kind === 'serverCpu')!;
    expect(cpu.table.rows.map((r) => r[3])).toEqual(['0.400', '0.999']);
    expect(buildCharts([httpResult([httpStep({ targetRate: 5 })])]).map((c) => c.kind)).not.toContain('serverCpu');
  });
});
