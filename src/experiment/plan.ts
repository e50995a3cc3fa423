/**
 * An experiment plan: targets, workloads, a sweep and a number of repeats,
 * read from YAML (or JSON) and checked strictly before anything starts. The
 * normalized plan is what the results folder's manifest records and what a
 * second run compares against to resume, so everything a run depends on is
 * in it, with defaults filled in and paths made absolute.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { InputFileError, OptionsError } from '../errors.js';
import { normalizeCommon, parseDuration, parseRates, type CommonOptions } from '../options.js';
import { protocols, PROTOCOL_NAMES, type ProtocolName } from '../protocols/index.js';
import type { HttpOptions, DnsOptions } from '../run.js';
import { SERVERS, TARGET_NAMES, type TargetName } from '../testbed/servers.js';
import { MAX_CLIENTS, SERVER, parseLinkOptions } from '../testbed/settings.js';

/** The sweep as a user writes it (the CLI's --rate, --steps, --scale, --duration, --warmup). */
export interface PlanSweep {
  rate: string | number | number[];
  steps?: number;
  scale?: 'linear' | 'log';
  duration: string;
  warmup: string;
  /** Derived: the planned step rates and times, so the manifest says what was meant to run. */
  rates: number[];
  durationMs: number;
  warmupMs: number;
}

/** What `testbed.start` is given (StartOptions; cpus and memory are passed through as they are). */
export interface PlanStartOptions {
  workers?: number;
  cpus?: number | string;
  memory?: number | string;
  zone?: string;
  origin?: string;
  root?: string;
  readyTimeoutMs?: number;
}

/** A VM target: what `testbed.startVm` is given, less its name (the target's). */
export interface PlanVm {
  /** Needed unless disk boots (an OSv image). */
  kernel?: string;
  initrd?: string;
  append?: string;
  disk?: string;
  accel?: 'kvm' | 'tcg' | 'auto';
  cpus?: number;
  memory?: number | string;
  ports: { http?: number; dns?: number };
  readyTimeoutMs?: number;
  /** More qemu arguments, as --qemu-arg gives them (Solo5's -cpu Westmere -no-acpi). */
  qemuArgs?: string[];
}

export interface PlanTarget {
  /** The series name: the cell id's first part and the results' label. */
  name: string;
  /** The testbed server it starts (default: the name); absent for a VM. */
  server?: TargetName;
  vm?: PlanVm;
  /** The protocols it serves. */
  protocols: ProtocolName[];
  start: PlanStartOptions;
}

export interface PlanWorkload {
  name: string;
  protocol: ProtocolName;
  /** HTTP: one of url (used as it is) or path (joined to the target's endpoint). */
  url?: string;
  path?: string;
  /** DNS: one of a zone (its query mix) or a query file. */
  zone?: string;
  queries?: string;
  /** The protocol's library options (camelCase: connections, sockets, transport, …). */
  options: Record<string, unknown>;
  sweep: PlanSweep;
  /**
   * Generators that run each cell together, one segment each (--segment i/N)
   * from one start instant, each in its own client host, merged into the
   * cell's result (`tsload merge`). Absent: one.
   */
  generators?: number;
}

export interface PlanCell {
  target: string;
  workload: string;
}

export interface Plan {
  name: string;
  repeats: number;
  /** clients: the testbed's client hosts (testbed up --clients), present when more than one; by default the most generators of any workload. */
  testbed: { rate: string; delay: string; loss: string; clients?: number };
  targets: PlanTarget[];
  workloads: PlanWorkload[];
  /** Every (target, workload) pair to run, expanded from `cells: all` or the list given, in target order. */
  cells: PlanCell[];
}

/** One run of one cell: what the runner does and the manifest lists, in run order. */
export interface PlannedCell {
  id: string;
  target: string;
  workload: string;
  repeat: number;
  protocol: ProtocolName;
  /** Planned seconds of load (warmups and windows of every planned step). */
  plannedS: number;
}

const SWEEP_KEYS = ['rate', 'steps', 'scale', 'duration', 'warmup'] as const;
const PLAN_KEYS = ['name', 'repeats', 'testbed', 'sweep', 'targets', 'workloads', 'cells'];
const TARGET_KEYS = ['name', 'server', 'workers', 'cpus', 'memory', 'zone', 'origin', 'root', 'readyTimeout', 'vm'];
const VM_KEYS = ['kernel', 'initrd', 'append', 'disk', 'accel', 'cpus', 'memory', 'ports', 'readyTimeout', 'qemuArgs'];
const WORKLOAD_KEYS = ['name', 'protocol', 'url', 'path', 'zone', 'queries', 'options', 'sweep', 'generators'];

// The run's own options are the plan's (label, url, server, the sweep): a workload's options are the rest.
const COMMON_KEYS = ['threads', 'arrival', 'seed', 'maxInflight', 'busyPoll', 'timeout', 'sloP99', 'minReplyRatio', 'maxErrorRatio', 'confirm', 'refine'] as const satisfies readonly (keyof CommonOptions)[];
const OPTION_KEYS: Record<ProtocolName, readonly string[]> = {
  http: [
    ...COMMON_KEYS,
    ...(['connections', 'maxConnections', 'pipelining', 'method', 'headers', 'secretHeaders', 'body', 'urls', 'newConnectionPerRequest', 'client', 'http2', 'streams', 'insecure', 'ca', 'tlsServername'] as const satisfies readonly (keyof HttpOptions)[]),
  ],
  dns: [
    ...COMMON_KEYS,
    ...(['nxRatio', 'sockets', 'transport', 'insecure', 'ca', 'tlsServername', 'maxOutstanding', 'edns', 'dnssec', 'recursionDesired'] as const satisfies readonly (keyof DnsOptions)[]),
  ],
};
// Durations in a plan read as on the command line: a bare number is seconds.
const DURATION_KEYS = new Set(['duration', 'warmup', 'timeout', 'sloP99']);
// Option values that name files: resolved against the plan's directory.
const FILE_OPTIONS = new Set(['urls', 'ca']);

/** [A-Za-z0-9_.-] only: ids become file names. */
export function sanitizeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

export function cellId(target: string, workload: string, repeat: number): string {
  return `${sanitizeName(target)}--${sanitizeName(workload)}--r${repeat}`;
}

/** The cells in run order: for each repeat, each target in turn with all its workloads (A B C A B C), so drift spreads over all targets. */
export function planCells(plan: Plan): PlannedCell[] {
  const cells: PlannedCell[] = [];
  for (let repeat = 1; repeat <= plan.repeats; repeat++) {
    for (const target of plan.targets) {
      for (const cell of plan.cells) {
        if (cell.target !== target.name) continue;
        const workload = plan.workloads.find((w) => w.name === cell.workload)!;
        cells.push({
          id: cellId(target.name, workload.name, repeat),
          target: target.name,
          workload: workload.name,
          repeat,
          protocol: workload.protocol,
          plannedS: plannedSeconds(workload.sweep),
        });
      }
    }
  }
  return cells;
}

export function plannedSeconds(sweep: Pick<PlanSweep, 'rates' | 'durationMs' | 'warmupMs'>): number {
  return (sweep.rates.length * (sweep.durationMs + sweep.warmupMs)) / 1000;
}

/** Read and check a plan file; relative paths in it resolve against its directory. */
export function loadPlan(file: string): Plan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputFileError(file, undefined, `cannot read the plan: ${(error as Error).message}`);
  }
  const format = extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
  return parsePlan(text, format, { baseDir: dirname(resolve(file)), defaultName: basename(file, extname(file)), file });
}

/**
 * Parse and check a plan. Every problem is listed at once, each with its path
 * in the plan (`workloads[1].options.sockets: …`); an unknown key is one.
 */
export function parsePlan(text: string, format: 'yaml' | 'json' = 'yaml', context: { baseDir?: string; defaultName?: string; file?: string } = {}): Plan {
  const file = context.file ?? '(plan)';
  let raw: unknown;
  if (format === 'json') {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new InputFileError(file, undefined, `not JSON: ${(error as Error).message}`);
    }
  } else {
    // Required when a plan is read, not when the library is imported: yaml takes tens of milliseconds to load.
    const { parseDocument } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    const doc = parseDocument(text, { prettyErrors: true });
    const first = doc.errors[0];
    if (first !== undefined) throw new InputFileError(file, first.linePos?.[0].line, `not YAML: ${first.message.split('\n')[0]!.replace(/:$/, '')}`);
    raw = doc.toJS();
  }
  return normalizePlan(raw, context.baseDir ?? process.cwd(), context.defaultName);
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkKeys(o: Obj, allowed: readonly string[], path: string, problems: string[], hint?: (key: string) => string): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) problems.push(`${path}.${key}: unknown key (expected ${allowed.join(', ')})${hint?.(key) ?? ''}`);
  }
}

const camel = (key: string): string => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function normalizePlan(raw: unknown, baseDir: string, defaultName: string | undefined): Plan {
  const problems: string[] = [];
  if (!isObject(raw)) throw new OptionsError(['plan: expected a mapping with repeats, targets and workloads']);
  checkKeys(raw, PLAN_KEYS, 'plan', problems);
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));

  const name = raw.name ?? defaultName ?? 'experiment';
  if (typeof name !== 'string' || name.trim() === '') problems.push('name: expected a non-empty string');

  const repeats = raw.repeats ?? 1;
  if (!Number.isInteger(repeats) || (repeats as number) < 1 || (repeats as number) > 1000) problems.push(`repeats: ${JSON.stringify(repeats)} must be a whole number from 1 to 1000`);

  let testbed: Plan['testbed'] = { rate: '1gbit', delay: '0', loss: '0%' };
  let clients: number | undefined;
  if (raw.testbed !== undefined) {
    if (!isObject(raw.testbed)) problems.push('testbed: expected a mapping (rate, delay, loss, clients)');
    else {
      checkKeys(raw.testbed, ['rate', 'delay', 'loss', 'clients'], 'testbed', problems);
      const t = raw.testbed as { rate?: unknown; delay?: unknown; loss?: unknown; clients?: unknown };
      testbed = { rate: String(t.rate ?? '1gbit'), delay: String(t.delay ?? '0'), loss: String(t.loss ?? '0%') };
      clients = positiveInteger(t.clients, 'testbed.clients', problems, MAX_CLIENTS);
      try {
        parseLinkOptions(testbed);
      } catch (error) {
        if (!(error instanceof OptionsError)) throw error;
        problems.push(...error.problems.map((p) => `testbed: ${p}`));
      }
    }
  }

  let defaults: Obj = {};
  if (raw.sweep !== undefined) {
    if (!isObject(raw.sweep)) problems.push('sweep: expected a mapping (rate, steps, scale, duration, warmup)');
    else {
      checkKeys(raw.sweep, SWEEP_KEYS, 'sweep', problems);
      defaults = raw.sweep;
    }
  }

  const targets: PlanTarget[] = [];
  if (!Array.isArray(raw.targets) || raw.targets.length === 0) problems.push('targets: expected a list of at least one target');
  else raw.targets.forEach((t, i) => {
    const target = normalizeTarget(t, `targets[${i}]`, path, problems);
    if (target !== undefined) targets.push(target);
  });

  const workloads: PlanWorkload[] = [];
  if (!Array.isArray(raw.workloads) || raw.workloads.length === 0) problems.push('workloads: expected a list of at least one workload');
  else raw.workloads.forEach((w, i) => {
    const workload = normalizeWorkload(w, `workloads[${i}]`, defaults, path, problems);
    if (workload !== undefined) workloads.push(workload);
  });

  // One client host per generator: two generators in one host are one machine to the network.
  const most = Math.max(1, ...workloads.map((w) => w.generators ?? 1));
  if (clients !== undefined && clients < most) {
    const w = workloads.find((x) => (x.generators ?? 1) === most)!;
    problems.push(`testbed.clients: ${clients}, but workload ${w.name} has ${most} generators, each in a client host of its own: give clients ${most} or more`);
  }
  const hosts = clients ?? most;
  if (hosts > 1) testbed.clients = hosts;

  for (const [what, list] of [['targets', targets], ['workloads', workloads]] as const) {
    const seen = new Map<string, string>();
    for (const item of list) {
      const id = sanitizeName(item.name);
      const before = seen.get(id);
      if (before !== undefined) problems.push(`${what}: ${JSON.stringify(item.name)} and ${JSON.stringify(before)} make the same file name (${id}): names must differ in [A-Za-z0-9_.-]`);
      seen.set(id, item.name);
    }
  }

  const cells: PlanCell[] = [];
  const serves = (t: PlanTarget, w: PlanWorkload): boolean => t.protocols.includes(w.protocol);
  if (raw.cells === undefined || raw.cells === 'all') {
    for (const t of targets) {
      const mine = workloads.filter((w) => serves(t, w));
      if (mine.length === 0 && workloads.length > 0) problems.push(`targets: ${t.name} serves ${t.protocols.join(', ')}, and no workload is ${t.protocols.join(' or ')}`);
      for (const w of mine) cells.push({ target: t.name, workload: w.name });
    }
  } else if (!Array.isArray(raw.cells) || raw.cells.length === 0) {
    problems.push("cells: expected 'all' or a list of { target, workload }");
  } else {
    const chosen: PlanCell[] = [];
    raw.cells.forEach((c, i) => {
      const at = `cells[${i}]`;
      if (!isObject(c)) return void problems.push(`${at}: expected { target, workload }`);
      checkKeys(c, ['target', 'workload'], at, problems);
      const t = targets.find((x) => x.name === c.target);
      const w = workloads.find((x) => x.name === c.workload);
      // A name whose own entry was refused is said there, not again here.
      if (t === undefined && !givenNames(raw.targets).includes(c.target)) problems.push(`${at}.target: ${JSON.stringify(c.target)} is not one of the targets (${targets.map((x) => x.name).join(', ')})`);
      if (w === undefined && !givenNames(raw.workloads).includes(c.workload)) problems.push(`${at}.workload: ${JSON.stringify(c.workload)} is not one of the workloads (${workloads.map((x) => x.name).join(', ')})`);
      if (t === undefined || w === undefined) return;
      if (!serves(t, w)) problems.push(`${at}: ${t.name} serves ${t.protocols.join(', ')}, not ${w.protocol} (workload ${w.name})`);
      else if (chosen.some((x) => x.target === t.name && x.workload === w.name)) problems.push(`${at}: ${t.name}/${w.name} is listed twice`);
      else chosen.push({ target: t.name, workload: w.name });
    });
    // Run order is the targets' order whatever the list's: it decides the interleaving.
    for (const t of targets) for (const w of workloads) if (chosen.some((x) => x.target === t.name && x.workload === w.name)) cells.push({ target: t.name, workload: w.name });
  }

  if (problems.length > 0) throw new OptionsError(problems);
  return { name: name as string, repeats: repeats as number, testbed, targets, workloads, cells };
}

function givenNames(list: unknown): unknown[] {
  return Array.isArray(list) ? list.map((x) => (isObject(x) ? x.name : x)) : [];
}

function positiveInteger(v: unknown, at: string, problems: string[], max = 64): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) {
    problems.push(`${at}: ${JSON.stringify(v)} must be a whole number from 1 to ${max}`);
    return undefined;
  }
  return v as number;
}

function optionalString(o: Obj, key: string, at: string, problems: string[]): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') {
    problems.push(`${at}.${key}: expected a non-empty string`);
    return undefined;
  }
  return v;
}

function timeoutMs(v: unknown, at: string, problems: string[]): number | undefined {
  if (v === undefined) return undefined;
  const local: string[] = [];
  const ms = parseDuration(typeof v === 'number' ? String(v) : (v as string), 'readyTimeout', local);
  problems.push(...local.map((p) => `${at}: ${p}`));
  return local.length === 0 ? ms : undefined;
}

function normalizeTarget(t: unknown, at: string, path: (p: string) => string, problems: string[]): PlanTarget | undefined {
  const o: Obj = typeof t === 'string' ? { name: t } : isObject(t) ? t : {};
  if (typeof t !== 'string' && !isObject(t)) return void problems.push(`${at}: expected a target name or { name, … }`);
  checkKeys(o, TARGET_KEYS, at, problems);
  const name = optionalString(o, 'name', at, problems);
  if (name === undefined) return void (o.name === undefined && problems.push(`${at}.name: missing`));
  const start: PlanStartOptions = {};
  const workers = positiveInteger(o.workers, `${at}.workers`, problems);
  if (workers !== undefined) start.workers = workers;
  for (const key of ['cpus', 'memory'] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if ((typeof v !== 'number' || !(v > 0)) && (typeof v !== 'string' || v.trim() === '')) problems.push(`${at}.${key}: expected a number or a string such as ${key === 'cpus' ? "1 or '0-1'" : "1g or 512M"}`);
    else start[key] = v;
  }
  const zone = optionalString(o, 'zone', at, problems);
  if (zone !== undefined) start.zone = path(zone);
  const origin = optionalString(o, 'origin', at, problems);
  if (origin !== undefined) start.origin = origin;
  const root = optionalString(o, 'root', at, problems);
  if (root !== undefined) start.root = path(root);
  const ready = timeoutMs(o.readyTimeout, `${at}.readyTimeout`, problems);
  if (ready !== undefined) start.readyTimeoutMs = ready;

  if (o.vm !== undefined) {
    if (o.server !== undefined) problems.push(`${at}: give server or vm, not both`);
    const vm = normalizeVm(o.vm, `${at}.vm`, path, problems);
    if (vm === undefined) return undefined;
    for (const key of ['workers', 'zone', 'origin', 'root'] as const) if (o[key] !== undefined) problems.push(`${at}.${key}: does not apply to a VM (the guest serves what it was built with)`);
    if (o.cpus !== undefined || o.memory !== undefined) problems.push(`${at}: a VM's cpus and memory go in vm: { cpus, memory }`);
    return { name, vm, protocols: PROTOCOL_NAMES.filter((p) => vm.ports[p] !== undefined), start: ready === undefined ? {} : { readyTimeoutMs: ready } };
  }
  const server = (o.server ?? name) as string;
  if (!(TARGET_NAMES as readonly string[]).includes(server)) {
    problems.push(`${at}${o.server === undefined ? '.name' : '.server'}: ${JSON.stringify(server)} is not a testbed server (${TARGET_NAMES.join(', ')}); name it with server: or give vm: for a VM`);
    return undefined;
  }
  const definition = SERVERS[server as TargetName];
  if (definition.protocol === 'http' && (zone !== undefined || origin !== undefined)) problems.push(`${at}: zone and origin are for DNS servers, and ${server} serves HTTP`);
  if (definition.protocol === 'dns' && root !== undefined) problems.push(`${at}.root: is for HTTP servers, and ${server} serves DNS`);
  if (definition.binary === undefined && workers !== undefined && workers !== 1) problems.push(`${at}.workers: ${server} runs as one process`);
  return { name, server: server as TargetName, protocols: [definition.protocol], start };
}

function normalizeVm(v: unknown, at: string, path: (p: string) => string, problems: string[]): PlanVm | undefined {
  if (!isObject(v)) return void problems.push(`${at}: expected a mapping (kernel, ports, …)`);
  checkKeys(v, VM_KEYS, at, problems);
  const kernel = optionalString(v, 'kernel', at, problems);
  if (v.kernel === undefined && v.disk === undefined) problems.push(`${at}: give kernel, or a disk that boots`);
  if (v.kernel === undefined && (v.initrd !== undefined || v.append !== undefined)) problems.push(`${at}: initrd and append need a kernel`);
  const ports: PlanVm['ports'] = {};
  if (!isObject(v.ports)) problems.push(`${at}.ports: expected { http: PORT } and/or { dns: PORT }`);
  else {
    checkKeys(v.ports, PROTOCOL_NAMES, `${at}.ports`, problems);
    for (const p of PROTOCOL_NAMES) {
      const port = v.ports[p];
      if (port === undefined) continue;
      if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) problems.push(`${at}.ports.${p}: ${JSON.stringify(port)} is not a port`);
      else ports[p] = port as number;
    }
    if (Object.keys(ports).length === 0) problems.push(`${at}.ports: name at least one service (http or dns)`);
  }
  if (v.accel !== undefined && !['kvm', 'tcg', 'auto'].includes(v.accel as string)) problems.push(`${at}.accel: ${JSON.stringify(v.accel)} must be kvm, tcg or auto`);
  if (v.qemuArgs !== undefined && !(Array.isArray(v.qemuArgs) && v.qemuArgs.every((a) => typeof a === 'string'))) problems.push(`${at}.qemuArgs: expected a list of strings, such as [-cpu, Westmere]`);
  if (kernel === undefined && v.kernel !== undefined) return undefined;
  const vm: PlanVm = { ...(kernel === undefined ? {} : { kernel: path(kernel) }), ports };
  if (Array.isArray(v.qemuArgs) && v.qemuArgs.length > 0) vm.qemuArgs = v.qemuArgs as string[];
  for (const key of ['initrd', 'disk'] as const) {
    const file = optionalString(v, key, at, problems);
    if (file !== undefined) vm[key] = path(file);
  }
  const append = optionalString(v, 'append', at, problems);
  if (append !== undefined) vm.append = append;
  if (v.accel !== undefined) vm.accel = v.accel as NonNullable<PlanVm['accel']>;
  const cpus = positiveInteger(v.cpus, `${at}.cpus`, problems);
  if (cpus !== undefined) vm.cpus = cpus;
  if (v.memory !== undefined) {
    if (typeof v.memory !== 'number' && typeof v.memory !== 'string') problems.push(`${at}.memory: expected a size such as 256M`);
    else vm.memory = v.memory;
  }
  const ready = timeoutMs(v.readyTimeout, `${at}.readyTimeout`, problems);
  if (ready !== undefined) vm.readyTimeoutMs = ready;
  return vm;
}

function normalizeSweep(given: Obj, at: string, problems: string[]): PlanSweep | undefined {
  const local: string[] = [];
  if (given.rate === undefined) {
    problems.push(`${at}.rate: missing (give it in the plan's sweep or the workload's)`);
    return undefined;
  }
  const rate = given.rate as PlanSweep['rate'];
  if (typeof rate !== 'string' && typeof rate !== 'number' && !(Array.isArray(rate) && rate.every((r) => typeof r === 'number'))) {
    problems.push(`${at}.rate: expected 5000, '100..10000', '100,500,2000' or a list of numbers`);
    return undefined;
  }
  const duration = String(given.duration ?? '10s');
  const warmup = String(given.warmup ?? '1s');
  const steps = given.steps as number | undefined;
  const scale = given.scale as PlanSweep['scale'];
  // The CLI's own checks, on what the run will be given.
  const common = normalizeCommon({ rate, duration, warmup, ...(steps === undefined ? {} : { steps }), ...(scale === undefined ? {} : { scale }) }, local);
  problems.push(...local.map((p) => `${at}: ${p}`));
  if (local.length > 0) return undefined;
  return {
    rate,
    ...(steps === undefined ? {} : { steps }),
    ...(scale === undefined ? {} : { scale }),
    duration,
    warmup,
    rates: parseRates(rate, { steps, scale }, []),
    durationMs: common.durationMs,
    warmupMs: common.warmupMs,
  };
}

function normalizeWorkload(w: unknown, at: string, defaults: Obj, path: (p: string) => string, problems: string[]): PlanWorkload | undefined {
  if (!isObject(w)) return void problems.push(`${at}: expected { name, protocol, … }`);
  const before = problems.length;
  checkKeys(w, WORKLOAD_KEYS, at, problems);
  const name = optionalString(w, 'name', at, problems);
  if (w.name === undefined) problems.push(`${at}.name: missing`);
  const protocol = w.protocol as ProtocolName;
  if (!PROTOCOL_NAMES.includes(protocol)) return void problems.push(`${at}.protocol: ${JSON.stringify(w.protocol)} must be one of ${PROTOCOL_NAMES.join(', ')}`);

  let sweepGiven: Obj = { ...defaults };
  if (w.sweep !== undefined) {
    if (!isObject(w.sweep)) problems.push(`${at}.sweep: expected a mapping (rate, steps, scale, duration, warmup)`);
    else {
      checkKeys(w.sweep, SWEEP_KEYS, `${at}.sweep`, problems);
      sweepGiven = { ...defaults, ...w.sweep };
    }
  }
  const sweep = normalizeSweep(sweepGiven, `${at}.sweep`, problems);
  const generators = positiveInteger(w.generators, `${at}.generators`, problems, MAX_CLIENTS);
  if (generators !== undefined && generators > 1 && isObject(w.options) && w.options.refine !== undefined) {
    problems.push(`${at}.options.refine: each of the ${generators} generators would bisect on its own share; sweep planned rates instead`);
  }

  const options: Obj = {};
  if (w.options !== undefined && !isObject(w.options)) problems.push(`${at}.options: expected a mapping of ${protocol} options`);
  else if (w.options !== undefined) {
    const allowed = OPTION_KEYS[protocol];
    checkKeys(w.options, allowed, `${at}.options`, problems, (key) => {
      if ((SWEEP_KEYS as readonly string[]).includes(key)) return `; ${key} belongs in sweep`;
      if (allowed.includes(camel(key))) return `; options take the library's camelCase names: ${camel(key)}`;
      return '';
    });
    for (const [key, value] of Object.entries(w.options)) {
      if (!allowed.includes(key)) continue;
      options[key] = DURATION_KEYS.has(key) && typeof value === 'number' ? String(value) : FILE_OPTIONS.has(key) && typeof value === 'string' ? path(value) : value;
    }
  }

  const workload: Partial<PlanWorkload> = { name: name ?? '', protocol, options };
  if (protocol === 'http') {
    const url = optionalString(w, 'url', at, problems);
    const pathGiven = optionalString(w, 'path', at, problems);
    if ((url === undefined) === (pathGiven === undefined)) problems.push(`${at}: give one of url or path`);
    if (pathGiven !== undefined && !pathGiven.startsWith('/')) problems.push(`${at}.path: ${JSON.stringify(pathGiven)} must start with /`);
    if (url !== undefined) workload.url = url;
    if (pathGiven !== undefined) workload.path = pathGiven;
    for (const key of ['zone', 'queries']) if (w[key] !== undefined) problems.push(`${at}.${key}: is for DNS workloads`);
  } else {
    const zone = optionalString(w, 'zone', at, problems);
    const queries = optionalString(w, 'queries', at, problems);
    if ((zone === undefined) === (queries === undefined)) problems.push(`${at}: give one of zone or queries`);
    if (zone !== undefined) workload.zone = path(zone);
    if (queries !== undefined) workload.queries = path(queries);
    for (const key of ['url', 'path']) if (w[key] !== undefined) problems.push(`${at}.${key}: is for HTTP workloads`);
  }

  // The protocol's own checks on the options as the run will get them, aimed at the server host.
  if (sweep !== undefined && problems.length === before) {
    const local: string[] = [];
    const run = runOptions(workload as PlanWorkload, sweep, protocol === 'http' ? `http://${SERVER.address}/` : `${SERVER.address}:53`, 'check');
    const definition = protocols[protocol] as unknown as { common?: (o: unknown, p: string[]) => CommonOptions; check: (o: unknown, c: unknown, p: string[]) => unknown };
    const common = normalizeCommon(definition.common?.(run, local) ?? (run as CommonOptions), local);
    definition.check(run, common, local);
    problems.push(...local.map((p) => `${at}: ${p}`));
  }
  if (sweep === undefined) return undefined;
  return { ...(workload as PlanWorkload), sweep, ...(generators === undefined || generators === 1 ? {} : { generators }) };
}

/** The library options of one cell: the workload's options, its sweep, its target's endpoint, the label. */
export function runOptions(workload: PlanWorkload, sweep: PlanSweep, endpoint: string, label: string): Record<string, unknown> {
  const run: Record<string, unknown> = { ...workload.options, rate: sweep.rate, duration: sweep.duration, warmup: sweep.warmup, label };
  if (sweep.steps !== undefined) run.steps = sweep.steps;
  if (sweep.scale !== undefined) run.scale = sweep.scale;
  if (workload.protocol === 'http') {
    run.url = workload.url ?? `${endpoint.replace(/\/+$/, '')}${workload.path ?? '/'}`;
  } else {
    run.server = endpoint;
    if (workload.zone !== undefined) run.zone = workload.zone;
    if (workload.queries !== undefined) run.queries = workload.queries;
  }
  return run;
}
