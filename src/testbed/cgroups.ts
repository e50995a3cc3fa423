/**
 * A cgroup per testbed target: the study's constraints (a cpuset, a memory
 * limit) and the server's own CPU and memory figures, read from the group
 * rather than from whichever processes are alive at the moment (a cgroup's
 * CPU counts every process that ever ran in it, children included).
 *
 * Version 2 when /sys/fs/cgroup is a cgroup2 mount whose root offers both
 * cpuset and memory; otherwise version 1, with a group in each of the
 * cpuacct, cpuset and memory hierarchies that is mounted. Machines that mount
 * v1 often keep a v2 hierarchy too (at /sys/fs/cgroup/unified) with no
 * controllers in it: that one is of no use here.
 *
 * The groups are made at the root of each hierarchy, not below the group
 * the starting process is in: that one may belong to a session manager that
 * removes it (and cannot while a target's group sits inside), and v2's rule
 * that a group with controllers enabled for its children holds no processes
 * leaves only the root (which is exempt) as a parent that works everywhere.
 * Their paths are recorded with the target, so `stop` from any process
 * removes them.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { cpus as osCpus } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.js';

/** The constraints asked for; null fields are not limited. */
export interface CgroupLimits {
  /** The CPUs the target may run on, as a cpuset list ("1", "0-1,3"). */
  cpus: string | null;
  memoryBytes: number | null;
}

/** Where a target's group lives; recorded with the target, so `stop` from any process removes it. */
export interface TargetCgroup {
  version: 1 | 2;
  /** Every directory made for the target (v1: one per hierarchy), removed on stop. */
  dirs: string[];
  /** CPU time of the group: v1 cpuacct.usage (ns), v2 cpu.stat (usage_usec); null without a cpuacct hierarchy. */
  cpuFile: string | null;
  /** The memory controller's directory; null without one. */
  memoryDir: string | null;
  /** Files to write the server's pid to, before it starts, to put it in the group. */
  procsFiles: string[];
}

const V2_ROOT = '/sys/fs/cgroup';

interface Mount {
  dir: string;
  type: string;
  options: string[];
}

function mounts(): Mount[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const [, dir = '', type = '', options = ''] = line.split(' ');
      return { dir: dir.replace(/\\040/g, ' '), type, options: options.split(',') };
    });
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The v2 root when it can hold a target's cpuset and memory limit, else undefined. */
export function v2Root(): string | undefined {
  const root = mounts().find((m) => m.dir === V2_ROOT);
  if (root?.type !== 'cgroup2') return undefined;
  const controllers = (readText(join(V2_ROOT, 'cgroup.controllers')) ?? '').split(/\s+/);
  return controllers.includes('cpuset') && controllers.includes('memory') ? V2_ROOT : undefined;
}

/** The v1 controllers a target's group uses, each with its hierarchy's mount point (the root group). */
export function v1Parents(): Partial<Record<V1Controller, string>> {
  const parents: Partial<Record<V1Controller, string>> = {};
  for (const mount of mounts()) {
    if (mount.type !== 'cgroup') continue;
    // Co-mounted controllers ("cpu,cpuacct") share one hierarchy and so one directory.
    for (const controller of V1_CONTROLLERS) {
      if (parents[controller] === undefined && mount.options.includes(controller)) parents[controller] = mount.dir;
    }
  }
  return parents;
}

type V1Controller = 'cpuacct' | 'cpuset' | 'memory';
const V1_CONTROLLERS: readonly V1Controller[] = ['cpuacct', 'cpuset', 'memory'];

/** "0-2,5" → [0, 1, 2, 5]; undefined when malformed. */
export function parseCpuList(list: string): number[] | undefined {
  const cpus = new Set<number>();
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to - from > 4096) return undefined;
    for (let c = from; c <= to; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** [0, 1, 2, 5] → "0-2,5". */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? String(cpus[i]) : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The CPUs this process may use: its cpuset's, or every CPU the OS counts. */
export function availableCpus(): number[] {
  const parents = v1Parents();
  const v2 = v2Root();
  const list =
    (v2 === undefined ? undefined : readText(join(v2, 'cpuset.cpus.effective'))) ??
    (parents.cpuset === undefined ? undefined : (readText(join(parents.cpuset, 'cpuset.effective_cpus')) ?? readText(join(parents.cpuset, 'cpuset.cpus'))));
  const parsed = list === undefined || list === '' ? undefined : parseCpuList(list);
  return parsed ?? osCpus().map((_, i) => i);
}

/**
 * `--cpus`: a bare count takes that many of the available CPUs, the
 * highest-numbered first (CPU 0 tends to take the machine's interrupts and
 * housekeeping, so the generator keeps it); anything else is a cpuset list,
 * which must lie within the available CPUs (one CPU by number: `3-3`).
 */
export function resolveCpus(spec: string | number, available: readonly number[], problems: string[]): string | null {
  const text = String(spec).trim();
  if (/^\d+$/.test(text)) {
    const count = Number(text);
    if (count < 1 || count > available.length) {
      problems.push(`--cpus ${text}: expected 1 to ${available.length} (the CPUs available: ${formatCpuList(available)}), or a CPU list such as 1-1 or 0,2`);
      return null;
    }
    return formatCpuList(available.slice(available.length - count));
  }
  const list = parseCpuList(text);
  if (list === undefined || list.length === 0) {
    problems.push(`--cpus ${JSON.stringify(text)}: expected a count (1) or a CPU list (0-1,3)`);
    return null;
  }
  const outside = list.filter((c) => !available.includes(c));
  if (outside.length > 0) {
    problems.push(`--cpus ${text}: CPU ${formatCpuList(outside)} not available (available: ${formatCpuList(available)})`);
    return null;
  }
  return formatCpuList(list);
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** `--memory`: 1g, 256m, 512MiB, 1048576 (binary units, as docker's -m). At least 4 MiB. */
export function parseMemorySize(spec: string | number, problems: string[]): number | null {
  const text = String(spec).trim();
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text);
  const bytes = m === null ? NaN : Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  if (!(bytes >= 4 * 2 ** 20 && bytes <= 2 ** 50)) {
    problems.push(`--memory ${JSON.stringify(text)}: expected a size of at least 4m, such as 256m or 1g (binary units; bare numbers are bytes)`);
    return null;
  }
  return bytes;
}

function write(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (error) {
    throw new EnvironmentError(`cannot write ${JSON.stringify(value)} to ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Make the target's v2 group under `root`, with its limits (without them it inherits the root's CPUs and memory). */
export function createV2(root: string, name: string, limits: CgroupLimits): TargetCgroup {
  // Appends to the root's subtree_control; the root is exempt from the no-internal-processes rule.
  write(join(root, 'cgroup.subtree_control'), '+cpuset +memory');
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const made: TargetCgroup = { version: 2, dirs: [dir], cpuFile: join(dir, 'cpu.stat'), memoryDir: dir, procsFiles: [join(dir, 'cgroup.procs')] };
  try {
    if (limits.cpus !== null) write(join(dir, 'cpuset.cpus'), limits.cpus);
    if (limits.memoryBytes !== null) {
      write(join(dir, 'memory.max'), String(limits.memoryBytes));
      // Swap would turn the limit into slowness instead of a limit.
      if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), '0');
    }
  } catch (error) {
    removeCgroup(made);
    throw error;
  }
  return made;
}

/** Make the target's v1 groups, one under each parent given, with its limits. */
export function createV1(parents: Partial<Record<V1Controller, string>>, name: string, limits: CgroupLimits): TargetCgroup {
  const made: TargetCgroup = { version: 1, dirs: [], cpuFile: null, memoryDir: null, procsFiles: [] };
  try {
    for (const controller of V1_CONTROLLERS) {
      const parent = parents[controller];
      if (parent === undefined) continue;
      const dir = join(parent, name);
      // Co-mounted controllers (cpu,cpuacct) share a hierarchy: one directory serves both.
      if (!made.dirs.includes(dir)) {
        mkdirSync(dir);
        made.dirs.push(dir);
        made.procsFiles.push(join(dir, 'cgroup.procs'));
      }
      if (controller === 'cpuacct') made.cpuFile = join(dir, 'cpuacct.usage');
      if (controller === 'memory') {
        made.memoryDir = dir;
        if (limits.memoryBytes !== null) {
          write(join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
          // memsw bounds memory plus swap (it must not be below the limit): no swapping past the limit.
          if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) write(join(dir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
        }
      }
      if (controller === 'cpuset') {
        // A v1 cpuset starts empty and takes no tasks until both are set.
        const cpus = limits.cpus ?? readText(join(parent, 'cpuset.effective_cpus')) ?? readText(join(parent, 'cpuset.cpus')) ?? '';
        write(join(dir, 'cpuset.cpus'), cpus);
        write(join(dir, 'cpuset.mems'), readText(join(parent, 'cpuset.effective_mems')) ?? readText(join(parent, 'cpuset.mems')) ?? '0');
      }
    }
  } catch (error) {
    removeCgroup(made);
    throw error;
  }
  return made;
}

/**
 * The target's group on this machine, made with its limits; null when no
 * cgroup hierarchy can hold it and no limit was asked for (the figures then
 * come from /proc). A limit that cannot be applied is an error, never ignored.
 */
export function createTargetCgroup(name: string, limits: CgroupLimits): TargetCgroup | null {
  const v2 = v2Root();
  if (v2 !== undefined) return createV2(v2, name, limits);
  const parents = v1Parents();
  const missing = [
    ...(limits.cpus !== null && parents.cpuset === undefined ? ['cpuset (for --cpus)'] : []),
    ...(limits.memoryBytes !== null && parents.memory === undefined ? ['memory (for --memory)'] : []),
  ];
  if (missing.length > 0) throw new EnvironmentError(`no cgroup controller ${missing.join(' or ')} is mounted on this machine (see \`mount | grep cgroup\`)`);
  if (Object.keys(parents).length === 0) return null;
  // A group left by a target that died with its starter: empty, so it can go.
  for (const controller of V1_CONTROLLERS) {
    const parent = parents[controller];
    if (parent !== undefined && existsSync(join(parent, name))) removeDir(join(parent, name));
  }
  return createV1(parents, name, limits);
}

function removeDir(dir: string): boolean {
  try {
    // rmdir, not a recursive remove: a cgroup's files go with its directory.
    rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Remove the group (its processes must be gone); true when nothing is left. Retried: the kernel frees a group a moment after its last task exits. */
export async function removeCgroupWhenEmpty(cgroup: TargetCgroup, waitMs = 2000): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (removeCgroup(cgroup)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function removeCgroup(cgroup: TargetCgroup): boolean {
  return cgroup.dirs.map(removeDir).every(Boolean);
}

/** The group's CPU time so far, seconds; undefined when it cannot be read. */
export function readCgroupCpuS(cgroup: TargetCgroup): number | undefined {
  if (cgroup.cpuFile === null) return undefined;
  const text = readText(cgroup.cpuFile);
  if (text === undefined) return undefined;
  if (cgroup.version === 1) return Number(text) / 1e9;
  const usec = /^usage_usec (\d+)$/m.exec(text)?.[1];
  return usec === undefined ? undefined : Number(usec) / 1e6;
}

export interface CgroupMemory {
  /** What the group is charged (resident memory and page cache): what its limit bounds. */
  chargedBytes: number;
  /** Anonymous resident memory (v1 memory.stat total_rss, v2 anon). */
  rssBytes: number;
  limitBytes: number | null;
}

/** v1 reports "no limit" as a huge page-aligned number; v2 as "max". */
const UNLIMITED = 2 ** 60;

export function readCgroupMemory(cgroup: TargetCgroup): CgroupMemory | undefined {
  const dir = cgroup.memoryDir;
  if (dir === null) return undefined;
  const v1 = cgroup.version === 1;
  const charged = readText(join(dir, v1 ? 'memory.usage_in_bytes' : 'memory.current'));
  const stat = readText(join(dir, 'memory.stat'));
  const limit = readText(join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'));
  if (charged === undefined || stat === undefined) return undefined;
  const rss = new RegExp(`^${v1 ? 'total_rss' : 'anon'} (\\d+)$`, 'm').exec(stat)?.[1];
  const limitBytes = limit === undefined || limit === 'max' || Number(limit) >= UNLIMITED ? null : Number(limit);
  return { chargedBytes: Number(charged), rssBytes: Number(rss ?? 0), limitBytes };
}

/** The CPUs of the group's cpuset, read back; null without a cpuset. */
export function readCgroupCpus(cgroup: TargetCgroup): string | null {
  for (const dir of cgroup.dirs) {
    const cpus = readText(join(dir, cgroup.version === 1 ? 'cpuset.cpus' : 'cpuset.cpus.effective'));
    if (cpus !== undefined && cpus !== '') return cpus;
  }
  return null;
}
