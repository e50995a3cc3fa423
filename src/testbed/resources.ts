/**
 * The server's side of a testbed run: its CPU, memory and the link, sampled
 * by the main process while the generator runs in the client host.
 *
 * Why a periodic sampler and interpolation: the windows are known exactly
 * only once each step reports (its epoch-ms `window`), and the counters can
 * only be read now, so the sampler keeps a short ring of readings and each
 * window's figures are interpolated between the readings around its edges.
 * The counters are monotonic and the load is steady through a step's warmup
 * and window, so a straight line between readings 200 ms apart is within a
 * few ms of traffic of the truth. The cheap counters (cgroup files,
 * /proc/<pid>/net/dev of a process in the server host, which shows that
 * host's interfaces, the threads' schedstat) are read every 200 ms; tbf's
 * drops come from one `tc -batch` per host kept running (no process spawned
 * per reading) and asked every second. Measured on the 2-core development
 * VM, the sampler costs its process about 5 ms of CPU a second (0.5% of a
 * core); at 100 ms it cost twice that, for no better figures.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LinkDirection, ServerFigures } from '../result.js';
import { availableCpus, parseCpuList, readCgroupCpuS, readCgroupMemory } from './cgroups.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { parseQdiscs, readQdiscs, type Qdisc, type Side, type Tools } from './net.js';
import { CLIENT, SERVER } from './settings.js';
import { groupMembers } from './system.js';
import type { RunningTarget } from './targets.js';

interface Sample {
  tMs: number;
  cpuS: number;
  /** Run-queue wait of the server's threads since sampling began, seconds (NaN where schedstat is missing). */
  waitS: number;
  /** Each thread's CPU and run-queue wait so far, ns (schedstat), for the busiest thread. */
  threads: Map<number, [execNs: number, delayNs: number]>;
  rssBytes: number;
  /** NaN from /proc: no cgroup charge to read. */
  chargedBytes: number;
  /** The server host's end of the link (NaN when its counters could not be read): rx is toward the server, tx toward the client. */
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** tc's counters of each host's egress qdiscs: the client's carry traffic to the server. */
interface TcSample {
  tMs: number;
  toServer: { bytes: number; packets: number; drops: number };
  toClient: { bytes: number; packets: number; drops: number };
}

/** The part of a step the figures need. */
export interface StepWindow {
  window?: { startMs: number; endMs: number };
  durationS: number;
  replyRate: number;
}

const FAST_MS = 200;
const PROCFS_MS = 250;
const TC_EVERY = 5;
/** Linux's USER_HZ, the unit of /proc/<pid>/stat's times, is 100 on every architecture. */
const USER_HZ = 100;

export class ServerSampler {
  private readonly samples: Sample[] = [];
  private readonly tcSamples: TcSample[] = [];
  private readonly timer: NodeJS.Timeout;
  private ticks = 0;
  private stopped = false;
  private tc: [TcBatch, TcBatch] | undefined;
  private tcPending: Promise<void> | undefined;
  private readonly source: 'cgroup' | 'procfs';
  private readonly cpuLimit: number | null;
  private readonly coresAvailable: number;
  /** Each thread's last run_delay (ns), so the wait adds up across threads that come and go. */
  private readonly delays = new Map<number, number>();
  private waitNs = 0;
  private waitKnown = true;

  constructor(
    private readonly target: RunningTarget,
    private readonly tools: Tools,
    private readonly rateBitsPerSecond: number | undefined,
  ) {
    const cg = target.cgroup;
    this.source = cg !== undefined && readCgroupCpuS(cg) !== undefined && readCgroupMemory(cg) !== undefined ? 'cgroup' : 'procfs';
    const cpus = target.limits?.cpus == null ? undefined : parseCpuList(target.limits.cpus);
    this.cpuLimit = cpus === undefined ? null : cpus.length;
    this.coresAvailable = this.cpuLimit ?? availableCpus().length;
    this.sample();
    this.tcPending = this.sampleTc().finally(() => {
      this.tcPending = undefined;
    });
    this.timer = setInterval(() => this.tick(), this.source === 'cgroup' ? FAST_MS : PROCFS_MS);
    this.timer.unref();
  }

  /** Take the last readings and stop sampling. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.tcPending;
    this.sample();
    await this.sampleTc();
    for (const t of this.tc ?? []) t.close();
  }

  /** Forget readings before this time (windows that ended before it are done with). */
  prune(beforeMs: number): void {
    prune(this.samples, beforeMs);
    prune(this.tcSamples, beforeMs);
  }

  /**
   * The server's figures over a step's window, once the readings reach past
   * its end (a step reports as soon as its window closes: what is missing is
   * read at once rather than at the next tick).
   */
  async figuresAfter(step: StepWindow): Promise<ServerFigures | undefined> {
    const end = step.window?.endMs;
    if (end !== undefined && !this.stopped) {
      if ((this.samples[this.samples.length - 1]?.tMs ?? 0) < end) this.sample();
      await this.tcPending;
      if ((this.tcSamples[this.tcSamples.length - 1]?.tMs ?? 0) < end) await this.sampleTc();
    }
    return this.figures(step);
  }

  /** The server's figures over a step's window; undefined when its readings do not cover it. */
  figures(step: StepWindow): ServerFigures | undefined {
    const w = step.window;
    if (w === undefined) return undefined;
    const s = this.samples;
    if (s.length < 2 || s[0]!.tMs > w.startMs || s[s.length - 1]!.tMs < w.endMs) return undefined;
    const durationS = step.durationS > 0 ? step.durationS : (w.endMs - w.startMs) / 1000;
    const delta = (key: NumericKey, from: readonly Sample[] = s): number => at(from, w.endMs, key) - at(from, w.startMs, key);
    const cpuS = Math.max(0, delta('cpuS'));
    const waitS = Math.max(0, delta('waitS'));
    const replies = Math.round(step.replyRate * durationS);
    const inside = s.filter((x) => x.tMs >= w.startMs && x.tMs <= w.endMs);
    const within = (key: 'rssBytes' | 'chargedBytes'): { mean: number; max: number } => {
      const values = inside.length > 0 ? inside.map((x) => x[key]) : [at(s, w.startMs, key), at(s, w.endMs, key)];
      return { mean: Math.round(values.reduce((a, b) => a + b, 0) / values.length), max: Math.max(...values) };
    };
    const charged = within('chargedBytes');
    const memory = this.target.cgroup === undefined ? undefined : readCgroupMemory(this.target.cgroup);
    return {
      target: this.target.name,
      source: this.source,
      cpuS,
      cpuPerSecond: cpuS / durationS,
      cpuPerRequestUs: replies > 0 ? (cpuS * 1e6) / replies : null,
      cpuWaitPerSecond: Number.isNaN(waitS) ? null : waitS / durationS,
      busiestThread: busiestThread(s, w, durationS),
      cpuLimit: this.cpuLimit,
      coresAvailable: this.coresAvailable,
      rssBytes: within('rssBytes'),
      memoryBytes: Number.isNaN(charged.max) ? null : charged,
      memoryLimitBytes: memory?.limitBytes ?? this.target.limits?.memoryBytes ?? null,
      link: this.link(w, durationS),
      samples: inside.length,
    };
  }

  private link(w: { startMs: number; endMs: number }, durationS: number): ServerFigures['link'] {
    const rate = this.rateBitsPerSecond;
    const tc = this.tcSamples;
    const s = this.samples;
    if (rate === undefined || tc.length < 2 || tc[0]!.tMs > w.startMs || tc[tc.length - 1]!.tMs < w.endMs) return null;
    const tcDelta = (get: (x: TcSample) => number): number => atBy(tc, w.endMs, get) - atBy(tc, w.startMs, get);
    // The interface's counters when a process in the server host showed them; else tc's, read less often.
    const fromDev = !Number.isNaN(s[0]!.rxBytes) && !Number.isNaN(s[s.length - 1]!.rxBytes);
    const direction = (bytes: number, packets: number, drops: number): LinkDirection => {
      const bytesPerS = Math.max(0, bytes) / durationS;
      return { bytesPerS, packetsPerS: Math.max(0, packets) / durationS, share: (bytesPerS * 8) / rate, tbfDrops: Math.max(0, Math.round(drops)) };
    };
    const d = (key: NumericKey): number => at(s, w.endMs, key) - at(s, w.startMs, key);
    return {
      rateBitsPerSecond: rate,
      toServer: direction(
        fromDev ? d('rxBytes') : tcDelta((x) => x.toServer.bytes),
        fromDev ? d('rxPackets') : tcDelta((x) => x.toServer.packets),
        tcDelta((x) => x.toServer.drops),
      ),
      toClient: direction(
        fromDev ? d('txBytes') : tcDelta((x) => x.toClient.bytes),
        fromDev ? d('txPackets') : tcDelta((x) => x.toClient.packets),
        tcDelta((x) => x.toClient.drops),
      ),
    };
  }

  private tick(): void {
    this.sample();
    this.ticks++;
    const tcEvery = this.source === 'cgroup' ? TC_EVERY : Math.round((TC_EVERY * FAST_MS) / PROCFS_MS);
    if (this.ticks % tcEvery === 0 && this.tcPending === undefined) {
      this.tcPending = this.sampleTc().finally(() => {
        this.tcPending = undefined;
      });
    }
  }

  private sample(): void {
    const tMs = Date.now();
    const usage = this.source === 'cgroup' ? cgroupUsage(this.target) : procfsUsage(this.target.pid);
    const dev = interfaceCounters(this.target.pid, SERVER.interface);
    const threads = new Map<number, [number, number]>();
    this.samples.push({ tMs, ...usage, waitS: this.readWait(threads), threads, ...dev });
  }

  /**
   * The threads' run_delay (/proc/<tid>/schedstat: time runnable but not
   * running), summed as it grows: a thread first seen after the first
   * reading counts from its start, one that exits keeps what it added.
   */
  private readWait(threads: Map<number, [number, number]>): number {
    const first = this.samples.length === 0;
    for (const tid of this.threads()) {
      let ns: number;
      try {
        const fields = readFileSync(`/proc/${tid}/schedstat`, 'utf8').split(' ');
        ns = Number(fields[1]);
        threads.set(tid, [Number(fields[0]), ns]);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/schedstat')) continue; // it just exited
        this.waitKnown = false;
        break;
      }
      const last = this.delays.get(tid);
      if (!first) this.waitNs += Math.max(0, ns - (last ?? 0));
      this.delays.set(tid, ns);
    }
    return this.waitKnown ? this.waitNs / 1e9 : NaN;
  }

  /** The server's threads: its cgroup's, else those of its process group. */
  private threads(): number[] {
    const cg = this.target.cgroup;
    if (this.source === 'cgroup' && cg !== undefined) {
      const dir = cg.cpuFile === null ? cg.dirs[0] : dirname(cg.cpuFile);
      try {
        return readFileSync(join(dir!, cg.version === 1 ? 'tasks' : 'cgroup.threads'), 'utf8').split('\n').filter((l) => l !== '').map(Number);
      } catch {
        // Gone: fall through to the process group.
      }
    }
    return groupMembers(this.target.pid).flatMap((pid) => {
      try {
        return readdirSync(`/proc/${pid}/task`).map(Number);
      } catch {
        return [];
      }
    });
  }

  private async sampleTc(): Promise<void> {
    const tMs = Date.now();
    this.tc ??= [new TcBatch(this.tools, CLIENT), new TcBatch(this.tools, SERVER)];
    const [client, server] = await Promise.all([this.tc[0].read(), this.tc[1].read()]);
    if (client.length === 0 || server.length === 0) return;
    // The root qdisc's counters cover what left the interface; drops may be at any of them (netem's too).
    const side = (qdiscs: typeof client): TcSample['toServer'] => {
      const root = qdiscs.find((q) => q.parent === 'root') ?? qdiscs[0]!;
      return { bytes: root.sentBytes, packets: root.sentPackets, drops: qdiscs.reduce((n, q) => n + q.dropped, 0) };
    };
    this.tcSamples.push({ tMs, toServer: side(client), toClient: side(server) });
  }
}

/**
 * `tc -s -j -batch -` in one host, kept running: each line written to it is
 * answered by one line of JSON. Should it fail, each reading spawns a tc.
 */
class TcBatch {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly waiting: ((json: string | undefined) => void)[] = [];
  private pending = '';

  constructor(
    private readonly tools: Tools,
    private readonly side: Side,
  ) {
    try {
      // -force: a failed command does not end the batch.
      const child = spawn(tools.tc, ['-n', side.namespace, '-s', '-j', '-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        this.pending += chunk;
        let nl: number;
        while ((nl = this.pending.indexOf('\n')) >= 0) {
          const line = this.pending.slice(0, nl);
          this.pending = this.pending.slice(nl + 1);
          this.waiting.shift()?.(line);
        }
      });
      child.stderr.resume();
      const gone = (): void => {
        this.child = undefined;
        for (const resolve of this.waiting.splice(0)) resolve(undefined);
      };
      child.once('exit', gone);
      child.once('error', gone);
      child.stdin.on('error', gone);
      child.unref();
      this.child = child;
    } catch {
      this.child = undefined;
    }
  }

  async read(): Promise<Qdisc[]> {
    const child = this.child;
    if (child === undefined) return readQdiscs(this.tools, this.side);
    const json = await new Promise<string | undefined>((resolve) => {
      this.waiting.push(resolve);
      child.stdin.write(`qdisc show dev ${this.side.interface}\n`);
    });
    if (json === undefined || json.trim() === '') return readQdiscs(this.tools, this.side);
    try {
      return parseQdiscs(json);
    } catch {
      return readQdiscs(this.tools, this.side);
    }
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }
}

/** The thread that used the most CPU in the window, with its wait for a core, per second; null without schedstat. */
function busiestThread(list: readonly Sample[], w: { startMs: number; endMs: number }, durationS: number): ServerFigures['busiestThread'] {
  const start = threadsAt(list, w.startMs);
  const end = threadsAt(list, w.endMs);
  let best: [number, number] | undefined;
  for (const [tid, [exec, delay]] of end) {
    const [exec0, delay0] = start.get(tid) ?? [0, 0];
    if (best === undefined || exec - exec0 > best[0]) best = [exec - exec0, delay - delay0];
  }
  return best === undefined ? null : { cpuPerSecond: Math.max(0, best[0]) / 1e9 / durationS, waitPerSecond: Math.max(0, best[1]) / 1e9 / durationS };
}

/** Each thread's counters interpolated at tMs: a thread missing from the earlier reading started after it (0), from the later one had exited (kept). */
function threadsAt(list: readonly Sample[], tMs: number): Map<number, [number, number]> {
  let hi = list.findIndex((x) => x.tMs >= tMs);
  if (hi < 0) hi = list.length - 1;
  const b = list[hi]!;
  const a = hi === 0 ? b : list[hi - 1]!;
  const f = b.tMs === a.tMs ? 1 : (tMs - a.tMs) / (b.tMs - a.tMs);
  const out = new Map<number, [number, number]>();
  for (const tid of new Set([...a.threads.keys(), ...b.threads.keys()])) {
    const va = a.threads.get(tid) ?? [0, 0];
    const vb = b.threads.get(tid) ?? va;
    out.set(tid, [va[0] + f * (vb[0] - va[0]), va[1] + f * (vb[1] - va[1])]);
  }
  return out;
}

function prune<T extends { tMs: number }>(list: T[], beforeMs: number): void {
  // Keep the last reading before the cut: the next window's start interpolates from it.
  let drop = 0;
  while (drop + 1 < list.length && list[drop + 1]!.tMs <= beforeMs) drop++;
  if (drop > 0) list.splice(0, drop);
}

type NumericKey = Exclude<keyof Sample, 'threads'>;

function at(list: readonly Sample[], tMs: number, key: NumericKey): number {
  return atBy(list, tMs, (x) => x[key]);
}

/** Linear interpolation of get() at tMs between the readings around it (clamped at the ends). */
function atBy<T extends { tMs: number }>(list: readonly T[], tMs: number, get: (x: T) => number): number {
  let hi = list.findIndex((x) => x.tMs >= tMs);
  if (hi < 0) return get(list[list.length - 1]!);
  if (hi === 0) return get(list[0]!);
  const a = list[hi - 1]!;
  const b = list[hi]!;
  const f = b.tMs === a.tMs ? 1 : (tMs - a.tMs) / (b.tMs - a.tMs);
  return get(a) + f * (get(b) - get(a));
}

function cgroupUsage(target: RunningTarget): Pick<Sample, 'cpuS' | 'rssBytes' | 'chargedBytes'> {
  const cg = target.cgroup!;
  const memory = readCgroupMemory(cg);
  return { cpuS: readCgroupCpuS(cg) ?? NaN, rssBytes: memory?.rssBytes ?? NaN, chargedBytes: memory?.chargedBytes ?? NaN };
}

/** CPU (reaped children's included) and anonymous RSS summed over the target's process group. */
export function procfsUsage(pgrp: number): Pick<Sample, 'cpuS' | 'rssBytes' | 'chargedBytes'> {
  let ticks = 0;
  let rss = 0;
  const members = groupMembers(pgrp);
  // A target that is no group leader (a VM's qemu may not be) is at least its own process.
  if (!members.includes(pgrp)) members.push(pgrp);
  for (const pid of members) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      const kb = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      rss += Number(kb ?? 0) * 1024;
    } catch {
      // It exited between the scan and the read.
    }
  }
  return { cpuS: ticks / USER_HZ, rssBytes: rss, chargedBytes: NaN };
}

/** One interface's counters as seen from a process's network namespace (/proc/<pid>/net/dev); NaN when absent. */
export function interfaceCounters(pid: number, name: string): Pick<Sample, 'rxBytes' | 'rxPackets' | 'txBytes' | 'txPackets'> {
  try {
    const text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
    const line = text.split('\n').find((l) => l.trimStart().startsWith(`${name}:`));
    if (line !== undefined) {
      const f = line.slice(line.indexOf(':') + 1).trim().split(/\s+/).map(Number);
      return { rxBytes: f[0]!, rxPackets: f[1]!, txBytes: f[8]!, txPackets: f[9]! };
    }
  } catch {
    // The process is gone.
  }
  return { rxBytes: NaN, rxPackets: NaN, txBytes: NaN, txPackets: NaN };
}
