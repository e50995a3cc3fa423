/**
 * The testbed: a client host and a server host (network namespaces) joined
 * by a shaped veth link, and the target servers people compare, started with
 * known-good configurations in the server host. See docs/testbed.md.
 *
 *   import { testbed } from 'tsload';
 *   await testbed.up({ rate: '1gbit' });
 *   const nginx = await testbed.start('nginx');
 *   …run a generator in the client host (testbed.clientCommand) at nginx.endpoint…
 *   await testbed.down();
 */
import type { ProtocolName } from '../protocols/index.js';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentError, OptionsError } from '../errors.js';
import {
  SIDES,
  clientHosts,
  switchPorts,
  applyLoss,
  applyShaping,
  delayUnavailableError,
  ensureHosts,
  linkExists,
  namespaces,
  netemAvailable,
  readAddress,
  readLoss,
  readQdiscs,
  removeHosts,
} from './net.js';
import type { LossRule, Qdisc, Tools } from './net.js';
import { CLIENT, FIXTURES_DIR, MAX_CLIENTS, SERVER, STATE_DIR, STATE_FILE, SWITCH, WWW_DIR, clientHost, parseClients, parseLinkOptions } from './settings.js';
import type { Host, LinkOptions, LinkSettings } from './settings.js';
import { TARGET_NAMES } from './servers.js';
import type { TargetName } from './servers.js';
import { endpointFor, readTargets, startTarget, stopTargets, TLS_CERT } from './targets.js';
import type { RunningTarget, StartOptions, TargetStatus } from './targets.js';
import { findBinary, requireRootAndIproute } from './system.js';
import { isVmName, startVm as bootVm, tidyVmNetwork } from './vm.js';
import type { VmOptions } from './vm.js';

export { CLIENT, MAX_CLIENTS, SERVER, STATE_DIR, SWITCH, WWW_DIR, TARGET_NAMES, clientHost, parseLinkOptions };
export type { Host, LinkOptions, LinkSettings, LossRule, Qdisc, RunningTarget, StartOptions, TargetName, TargetStatus, VmOptions };
export type { TargetService, VmInfo } from './targets.js';
export { probe } from './probe.js';
export type { DnsProbe, DnsProbeResult, HttpProbe, HttpProbeResult } from './probe.js';

export interface HostStatus {
  role: 'client' | 'server';
  /** Client hosts: which, from 1. */
  index?: number;
  namespace: string;
  interface: string;
  /** address/prefix on the link, if the host exists. */
  address: string | undefined;
  exists: boolean;
  /** The qdiscs on the host's end of the link (its egress), from `tc -s qdisc`. */
  qdiscs: Qdisc[];
}

export interface TestbedStatus {
  /** Both hosts and the link between them exist. */
  up: boolean;
  stateDir: string;
  /** The settings `up` last applied. */
  settings: LinkSettings | undefined;
  hosts: HostStatus[];
  /** Client hosts the testbed was made with (1 without --clients). */
  clients: number;
  /** With clients >= 2: the switch namespace, its bridge, and each port's qdiscs (its egress, towards the host). */
  switch?: { namespace: string; bridge: string; exists: boolean; ports: { interface: string; host: string; qdiscs: Qdisc[] }[] };
  /** The loss rule read back from nftables, if any (dropped packets summed over the client hosts). */
  loss: LossRule | undefined;
  targets: TargetStatus[];
}

interface StateFile {
  settings: LinkSettings;
  /** Absent in a state file written before --clients: 1. */
  clients?: number;
  createdAt: string;
  updatedAt: string;
}

function readState(): StateFile | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StateFile;
  } catch {
    return undefined;
  }
}

/** The link settings `up` last applied, or undefined when the testbed is not up. */
export function linkSettings(): LinkSettings | undefined {
  return readState()?.settings;
}

/** Client hosts of the testbed as `up` made it (1 when it is down or was made without --clients). */
export function clientCount(): number {
  return readState()?.clients ?? 1;
}

async function isUp(tools: Tools, clients = clientCount()): Promise<boolean> {
  const existing = await namespaces(tools);
  const needed = [SERVER.namespace, ...clientHosts(clients).map((h) => h.namespace), ...(clients > 1 ? [SWITCH.namespace] : [])];
  return needed.every((n) => existing.has(n)) && (await linkExists(tools, CLIENT));
}

/**
 * Create the hosts and the link, or bring an existing pair to the given
 * settings (shaping is re-applied only when it changed). Idempotent.
 */
export async function up(options: LinkOptions = {}): Promise<TestbedStatus> {
  const tools = requireRootAndIproute();
  const settings = parseLinkOptions(options);
  const previous = readState();
  const clients = options.clients === undefined ? (previous?.clients ?? 1) : parseClients(options.clients);
  if (previous !== undefined && (previous.clients ?? 1) !== clients && (await namespaces(tools)).has(SERVER.namespace)) {
    // A pair becomes a switch only by remaking the link under the running targets: say so rather than do it.
    throw new OptionsError([`--clients ${clients}: the testbed is up with ${previous.clients ?? 1} client host(s); run \`tsload testbed down\` first`]);
  }
  try {
    const created = await ensureHosts(tools, clients);
    // Checked before anything changes, so a refused delay leaves a running testbed as it was.
    if (settings.delayMicroseconds > 0 && !(await netemAvailable(tools))) throw delayUnavailableError();
    const shapedDevices = clients > 1 ? switchPorts(clients).flatMap(({ port, host }) => [host, { namespace: SWITCH.namespace, interface: port }]) : SIDES;
    const shaped = await Promise.all(shapedDevices.map(async (side) => (await readQdiscs(tools, side)).some((q) => q.kind === 'tbf' && q.parent === 'root')));
    const unchanged =
      previous !== undefined &&
      previous.settings.rateBitsPerSecond === settings.rateBitsPerSecond &&
      previous.settings.delayMicroseconds === settings.delayMicroseconds &&
      shaped.every(Boolean);
    if (created || !unchanged) await applyShaping(tools, settings, clients);
    await applyLoss(settings.lossPercent, clients);

    mkdirSync(STATE_DIR, { recursive: true });
    // Apache's children run unprivileged and must be able to reach the document root.
    chmodSync(STATE_DIR, 0o755);
    if (!existsSync(WWW_DIR)) {
      const fixtures = join(FIXTURES_DIR, 'www');
      if (existsSync(fixtures)) cpSync(fixtures, WWW_DIR, { recursive: true });
      else mkdirSync(WWW_DIR);
    }
    const now = new Date().toISOString();
    const state: StateFile = { settings, clients, createdAt: previous?.createdAt ?? now, updatedAt: now };
    writeFileSync(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
  } catch (error) {
    // A testbed this call began and could not finish is removed again; one that was up is left as it was.
    if (previous === undefined) await down();
    throw error;
  }
  return status();
}

/** Remove everything the testbed made: targets, processes in its hosts, the hosts (and so the link, qdiscs and nftables table), the state directory. */
export async function down(): Promise<string[]> {
  const tools = requireRootAndIproute();
  const done: string[] = [];
  for (const target of await stopTargets('all')) {
    done.push(target.alive ? `stopped ${target.name} (pid ${target.pid})` : `${target.name} had already exited`);
  }
  if ((await namespaces(tools)).has(SERVER.namespace)) done.push(...(await tidyVmNetwork(tools)));
  done.push(...(await removeHosts(tools)));
  if (existsSync(STATE_DIR)) {
    rmSync(STATE_DIR, { recursive: true, force: true });
    done.push(`removed ${STATE_DIR}`);
  }
  return done;
}

export async function status(): Promise<TestbedStatus> {
  const tools = requireRootAndIproute();
  const existing = await namespaces(tools);
  const clients = clientCount();
  const hosts: HostStatus[] = [];
  for (const [i, side] of [...clientHosts(clients), SERVER].entries()) {
    const exists = existing.has(side.namespace);
    hosts.push({
      role: side === SERVER ? 'server' : 'client',
      ...(side === SERVER ? {} : { index: i + 1 }),
      namespace: side.namespace,
      interface: side.interface,
      exists,
      address: exists ? await readAddress(tools, side) : undefined,
      qdiscs: exists ? await readQdiscs(tools, side) : [],
    });
  }
  const switchExists = existing.has(SWITCH.namespace);
  const isUpNow = hosts.every((h) => h.exists) && (clients === 1 || switchExists) && (await linkExists(tools, CLIENT));
  const ports = [];
  for (const { port, host } of switchPorts(clients)) {
    ports.push({ interface: port, host: host.namespace, qdiscs: switchExists ? await readQdiscs(tools, { namespace: SWITCH.namespace, interface: port }) : [] });
  }
  return {
    up: isUpNow,
    stateDir: STATE_DIR,
    settings: readState()?.settings,
    hosts,
    clients,
    ...(clients > 1 ? { switch: { namespace: SWITCH.namespace, bridge: SWITCH.bridge, exists: switchExists, ports } } : {}),
    loss: existing.has(CLIENT.namespace) ? await readLoss(clients) : undefined,
    targets: readTargets(),
  };
}

function checkTargetName(name: string): asserts name is TargetName {
  if (!(TARGET_NAMES as readonly string[]).includes(name)) {
    throw new OptionsError([`unknown target ${JSON.stringify(name)}: expected one of ${TARGET_NAMES.join(', ')} (or a VM's name)`]);
  }
}

/** Start a target in the server host; resolves once it answers from the client host. */
export async function start(target: TargetName, options: StartOptions = {}): Promise<RunningTarget> {
  checkTargetName(target);
  const tools = requireRootAndIproute();
  if (!(await isUp(tools))) throw new EnvironmentError('the testbed is not up: run `tsload testbed up` first');
  return startTarget(target, options, tools.ip);
}

/**
 * Boot a VM (a Linux guest, a unikernel) under qemu in the server host, on
 * its own address in the testbed's /24; resolves once its services answer
 * from the client host. See docs/vm.md.
 */
export async function startVm(options: VmOptions): Promise<RunningTarget> {
  const tools = requireRootAndIproute();
  if (!(await isUp(tools))) throw new EnvironmentError('the testbed is not up: run `tsload testbed up` first');
  return bootVm(options, tools);
}

/** Stop one target (a server or a VM, by name) or all; resolves to the records of the targets that were stopped (empty if none was running). */
export async function stop(target: TargetName | 'all' | (string & {})): Promise<TargetStatus[]> {
  // A VM's name is free, so one that is not running (or never was) is simply not found.
  if (target !== 'all' && !isVmName(target)) checkTargetName(target);
  const tools = requireRootAndIproute();
  const stopped = await stopTargets(target as TargetName | 'all');
  // A VM's tap, and the bridge once no VM is left.
  if ((await namespaces(tools)).has(SERVER.namespace)) await tidyVmNetwork(tools);
  return stopped;
}

/** A command that runs `argv` inside a client host (the first unless told): `ip netns exec tsload-client …argv`. */
export function clientCommand(argv: readonly string[], host: Host = CLIENT): { command: string; args: string[] } {
  return { command: findBinary('ip') ?? 'ip', args: ['netns', 'exec', host.namespace, ...argv] };
}

/** The running HTTP target that serves HTTPS too (nginx: HTTP/2 by ALPN), its URL and the certificate to pass as --ca. */
export async function defaultHttpsTarget(): Promise<{ endpoint: string; ca: string } | undefined> {
  return readTargets().find((t) => t.alive && t.protocol === 'http' && t.https !== undefined)?.https;
}

/** The running target of a protocol, as a generator addresses it: 'http://198.18.0.2/' or '198.18.0.2:53'. */
export async function defaultTarget(protocol: ProtocolName): Promise<string | undefined> {
  for (const target of readTargets()) {
    if (!target.alive) continue;
    // A VM may serve both protocols, each on its own port, at its own address.
    const service = target.services?.find((s) => s.protocol === protocol);
    if (service !== undefined) return service.endpoint;
    if (target.protocol === protocol) return endpointFor(protocol, target.port);
  }
  return undefined;
}

/**
 * The running DNS target's DNS-over-TLS endpoint and the CA to verify it
 * with (the testbed's self-signed certificate); an error line when the
 * running target serves no TLS, undefined when no DNS target runs.
 */
export function defaultDnsTlsTarget(): { server: string; ca: string } | { error: string } | undefined {
  const target = readTargets().find((t) => t.alive && t.protocol === 'dns');
  if (target === undefined) return undefined;
  if (target.tlsEndpoint === undefined) return { error: `${target.name} serves no DNS over TLS in the testbed (nsd, bind and builtin-dns do)` };
  return { server: target.tlsEndpoint, ca: TLS_CERT };
}

function formatBits(bits: number): string {
  for (const [unit, scale] of [['Gbit', 1e9], ['Mbit', 1e6], ['Kbit', 1e3]] as const) {
    if (bits >= scale) return `${+(bits / scale).toFixed(3)}${unit}`;
  }
  return `${bits}bit`;
}

function formatQdisc(q: Qdisc): string {
  const options =
    q.kind === 'tbf'
      ? ` rate ${formatBits(q.rateBitsPerSecond ?? 0)} burst ${q.burstBytes}B queue ${(q.latencyMicroseconds ?? 0) / 1000}ms`
      : q.kind === 'netem'
        ? ` delay ${(q.delayMicroseconds ?? 0) / 1000}ms`
        : '';
  return `${q.kind} ${q.handle} (${q.parent})${options}: sent ${q.sentBytes} B in ${q.sentPackets} packets, dropped ${q.dropped}, overlimits ${q.overlimits}, backlog ${q.backlogBytes} B`;
}

/** ", cpus 1, memory 256 MiB" for a target its cgroup limits; '' for one it does not. */
export function formatLimits(t: RunningTarget): string {
  const parts: string[] = [];
  if (t.limits?.cpus != null) parts.push(`cpus ${t.limits.cpus}`);
  if (t.limits?.memoryBytes != null) parts.push(`memory ${+(t.limits.memoryBytes / 2 ** 20).toFixed(1)} MiB`);
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`;
}

/** Human-readable `tsload testbed status`. */
export function formatStatus(s: TestbedStatus): string {
  const lines: string[] = [];
  lines.push(`testbed: ${s.up ? 'up' : 'down'} (state in ${s.stateDir})`);
  if (s.settings) {
    const delay = s.settings.delayMicroseconds === 0 ? 'none' : `${s.settings.delayMicroseconds / 1000}ms each way`;
    const where = s.clients > 1 ? `each client host's ingress; the server's switch port carries the delay, every port the rate` : 'client host ingress';
    lines.push(`link: rate ${s.settings.rate} each way, delay ${delay}, loss ${s.settings.lossPercent}% (${where})`);
  }
  if (s.clients > 1) lines.push(`clients: ${s.clients} client hosts on switch ${s.switch?.bridge} in namespace ${s.switch?.namespace}${s.switch?.exists === true ? '' : ' (absent)'}`);
  for (const h of s.hosts) {
    const role = h.index === undefined || s.clients === 1 ? h.role : `client ${h.index}`;
    lines.push(`${role} host: namespace ${h.namespace} ${h.exists ? `interface ${h.interface} ${h.address ?? '(no address)'}` : '(absent)'}`);
    for (const q of h.qdiscs) lines.push(`  egress ${formatQdisc(q)}`);
  }
  for (const p of s.switch?.ports ?? []) {
    lines.push(`switch port ${p.interface} to ${p.host}`);
    for (const q of p.qdiscs) lines.push(`  egress ${formatQdisc(q)}`);
  }
  if (s.loss) {
    const where = s.clients > 1 ? `each of the ${s.clients} client hosts` : 'the client';
    lines.push(`loss rule: ${+s.loss.percent.toFixed(2)}% of packets arriving at ${where} dropped (${s.loss.droppedPackets} so far${s.clients > 1 ? ', all hosts' : ''})`);
  }
  if (s.targets.length === 0) lines.push('targets: none');
  for (const t of s.targets) {
    if (t.kind === 'vm' && t.vm !== undefined) {
      const v = t.vm;
      const services = (t.services ?? []).map((x) => `${x.protocol} ${x.endpoint}`).join(', ');
      lines.push(`vm ${t.name}: ${t.alive ? 'running' : 'EXITED'} qemu pid ${t.pid} at ${t.address} (${services}); ${v.accel}, ${v.cpus} cpu, ${v.memoryBytes / 2 ** 20} MiB; tap ${v.tap} on ${v.bridge}; console ${v.console}`);
      continue;
    }
    const https = t.https === undefined ? '' : ` and ${t.https.endpoint} (HTTP/2 by ALPN, certificate ${t.https.ca})`;
    const tls = t.tlsEndpoint === undefined ? '' : ` (TLS ${t.tlsEndpoint})`;
    lines.push(`target ${t.name}: ${t.alive ? 'running' : 'EXITED'} pid ${t.pid} at ${t.endpoint}${tls}${https} workers ${t.workers}${formatLimits(t)} log ${t.log}`);
  }
  return lines.join('\n');
}

/** Everything above as one object: `import { testbed } from 'tsload'`. */
export const testbed = {
  up,
  down,
  status,
  start,
  startVm,
  stop,
  clientCommand,
  clientHost,
  clientCount,
  defaultTarget,
  defaultDnsTlsTarget,
  defaultHttpsTarget,
  formatStatus,
  formatLimits,
  targets: TARGET_NAMES,
  client: CLIENT,
  server: SERVER,
  stateDir: STATE_DIR,
} as const;
