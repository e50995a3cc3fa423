/**
 * The two hosts and the link: network namespaces joined by a veth pair, each
 * side's egress shaped by tbf, loss by an nftables rule and delay by netem
 * where the kernel has it.
 *
 * Why these mechanisms (measured on the development machine, kernel 6.18):
 * the qdiscs present are tbf, htb, pfifo/bfifo/pfifo_fast and clsact; netem,
 * fq, etf, sch_bpf, plug and cake are all absent, and nftables has numgen but
 * no queue target. Nothing there can hold a packet back for a fixed time
 * (fq would honour an skb->tstamp set by a tc BPF program, but fq is absent),
 * so delay uses netem when the kernel offers it and is otherwise refused,
 * never approximated. Loss is an nftables netdev-ingress rule in the client
 * host: the packet is dropped as if the wire lost it, and the sender never
 * learns (an output-hook drop would return EPERM to the server's sendmsg).
 */
import { EnvironmentError, TsloadError } from '../errors.js';
import { BRIDGE, CLIENT, NFT_TABLE, PREFIX_LENGTH, SERVER, SWITCH, clientHost, switchPort } from './settings.js';
import type { Host, LinkSettings } from './settings.js';
import { findBinary, isAlive, run, runOk, signal, terminate } from './system.js';

export type Side = Host;
export const SIDES: readonly Side[] = [CLIENT, SERVER];

/** Client hosts 1..clients. */
export function clientHosts(clients: number): Host[] {
  return Array.from({ length: clients }, (_, i) => clientHost(i + 1));
}

export interface Tools {
  ip: string;
  tc: string;
}

export async function namespaces(tools: Tools): Promise<Set<string>> {
  const out = await runOk(tools.ip, ['-j', 'netns', 'list']);
  // `ip -j netns list` prints nothing at all when there are none.
  const list = out.trim() === '' ? [] : (JSON.parse(out) as { name: string }[]);
  return new Set(list.map((entry) => entry.name));
}

export async function linkExists(tools: Tools, side: Side): Promise<boolean> {
  return (await run(tools.ip, ['-n', side.namespace, 'link', 'show', 'dev', side.interface])).code === 0;
}

/** Create whatever part of the pair (or, with clients >= 2, of the switch and its hosts) is missing; returns true if anything was created. */
export async function ensureHosts(tools: Tools, clients = 1): Promise<boolean> {
  if (clients > 1) return ensureSwitched(tools, clients);
  let created = false;
  const existing = await namespaces(tools);
  for (const side of SIDES) {
    if (!existing.has(side.namespace)) {
      await runOk(tools.ip, ['netns', 'add', side.namespace]);
      created = true;
    }
  }
  if (!(await linkExists(tools, CLIENT))) {
    // Created straight inside the namespaces: the root namespace never holds either end.
    await runOk(tools.ip, ['-n', CLIENT.namespace, 'link', 'add', CLIENT.interface, 'type', 'veth', 'peer', 'name', SERVER.interface, 'netns', SERVER.namespace]);
    created = true;
  }
  for (const side of SIDES) await configureHost(tools, side);
  return created;
}

async function configureHost(tools: Tools, side: Host): Promise<void> {
  const ipn = ['-n', side.namespace];
  // No IPv6 link-local address: no router solicitations or DAD packets in the link's counters.
  await runOk(tools.ip, [...ipn, 'link', 'set', 'dev', side.interface, 'addrgenmode', 'none']);
  await runOk(tools.ip, [...ipn, 'addr', 'replace', `${side.address}/${PREFIX_LENGTH}`, 'dev', await addressDevice(tools, side)]);
  await runOk(tools.ip, [...ipn, 'link', 'set', 'dev', 'lo', 'up']);
  await runOk(tools.ip, [...ipn, 'link', 'set', 'dev', side.interface, 'up']);
}

/**
 * N client hosts and the server on one switch: a bridge in its own
 * namespace (so no host holds it and none sees the others' traffic but by
 * the bridge's forwarding), one veth per host, made straight between the
 * switch and the host's namespace.
 */
async function ensureSwitched(tools: Tools, clients: number): Promise<boolean> {
  let created = false;
  const hosts = [...clientHosts(clients), SERVER];
  const existing = await namespaces(tools);
  for (const namespace of [SWITCH.namespace, ...hosts.map((h) => h.namespace)]) {
    if (!existing.has(namespace)) {
      await runOk(tools.ip, ['netns', 'add', namespace]);
      created = true;
    }
  }
  const sw = ['-n', SWITCH.namespace];
  if ((await run(tools.ip, [...sw, 'link', 'show', 'dev', SWITCH.bridge])).code !== 0) {
    await runOk(tools.ip, [...sw, 'link', 'add', SWITCH.bridge, 'type', 'bridge']);
    created = true;
  }
  await runOk(tools.ip, [...sw, 'link', 'set', 'dev', SWITCH.bridge, 'addrgenmode', 'none']);
  await runOk(tools.ip, [...sw, 'link', 'set', 'dev', SWITCH.bridge, 'up']);
  for (const [i, host] of hosts.entries()) {
    const port = host === SERVER ? switchPort('server') : switchPort(host, i + 1);
    if ((await run(tools.ip, [...sw, 'link', 'show', 'dev', port])).code !== 0) {
      await runOk(tools.ip, [...sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', host.interface, 'netns', host.namespace]);
      created = true;
    }
    await runOk(tools.ip, [...sw, 'link', 'set', 'dev', port, 'addrgenmode', 'none']);
    await runOk(tools.ip, [...sw, 'link', 'set', 'dev', port, 'master', SWITCH.bridge]);
    await runOk(tools.ip, [...sw, 'link', 'set', 'dev', port, 'up']);
    await configureHost(tools, host);
  }
  return created;
}

/** The switch's ports, each with the host it leads to (empty without a switch). */
export function switchPorts(clients: number): { port: string; host: Host }[] {
  if (clients < 2) return [];
  return [...clientHosts(clients).map((host, i) => ({ port: switchPort(host, i + 1), host })), { port: switchPort('server'), host: SERVER }];
}

/** True when the kernel can add a netem qdisc (tried on the client host's loopback, then removed). */
export async function netemAvailable(tools: Tools): Promise<boolean> {
  const added = await run(tools.tc, ['-n', CLIENT.namespace, 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'netem', 'delay', '1ms']);
  if (added.code !== 0) return false;
  await runOk(tools.tc, ['-n', CLIENT.namespace, 'qdisc', 'del', 'dev', 'lo', 'root']);
  return true;
}

export function delayUnavailableError(): EnvironmentError {
  return new EnvironmentError(
    '--delay needs the netem qdisc, which this kernel lacks (CONFIG_NET_SCH_NETEM); ' +
      'no other delay mechanism exists here (fq for BPF-timestamped pacing and etf are absent too), ' +
      'so the testbed refuses rather than fake a delay. Use a kernel with sch_netem, or --delay 0',
  );
}

/**
 * tbf on each side's egress, so both directions are shaped. Queue bound:
 * 5 ms at the shaped rate on top of the bucket (≈ 750 KB at 1 Gbit/s), about
 * what a gigabit switch port buffers. Enough for an open-loop generator's
 * same-tick bursts not to be dropped at the link, small enough that a
 * saturated link shows as queueing delay within a few ms rather than a
 * bufferbloated 100 ms. Delay, when asked for, is a netem child of tbf, so
 * it is added after shaping, on each side: the round trip grows by 2 × delay.
 */
export async function applyShaping(tools: Tools, settings: LinkSettings, clients = 1): Promise<void> {
  if (clients < 2) {
    for (const side of SIDES) await shape(tools, side.namespace, side.interface, settings, true);
    return;
  }
  // With a switch, the server's port is the link of the pair testbed (both
  // ways, with the delay), so the clients share its rate as they would a real
  // server's uplink. Each client's port is shaped to the same rate both ways
  // (a NIC of its own) without delay, so a client-server round trip is still
  // 2 × delay and never more.
  for (const { port, host } of switchPorts(clients)) {
    const withDelay = host === SERVER;
    await shape(tools, host.namespace, host.interface, settings, withDelay);
    await shape(tools, SWITCH.namespace, port, settings, withDelay);
  }
}

async function shape(tools: Tools, namespace: string, device: string, settings: LinkSettings, withDelay: boolean): Promise<void> {
  const dev = ['-n', namespace, 'qdisc'];
  // Deleting and re-adding (rather than changing in place) also drops a stale netem child.
  await run(tools.tc, [...dev, 'del', 'dev', device, 'root']);
  await runOk(tools.tc, [
    ...dev, 'add', 'dev', device, 'root', 'handle', '1:', 'tbf',
    'rate', `${settings.rateBitsPerSecond}bit`,
    'burst', String(settings.burstBytes),
    'latency', `${settings.queueLatencyMs}ms`,
  ]);
  if (withDelay && settings.delayMicroseconds > 0) {
    await runOk(tools.tc, [
      ...dev, 'add', 'dev', device, 'parent', '1:1', 'handle', '10:', 'netem',
      'delay', `${settings.delayMicroseconds}us`, 'limit', '100000',
    ]);
  }
}

/**
 * Replace (atomically, in one nft transaction per host) the loss rule; no
 * table at all for 0%. With several client hosts each drops the same share
 * of what arrives at it, as if every client's wire lost it.
 */
export async function applyLoss(lossPercent: number, clients = 1): Promise<void> {
  const nft = findBinary('nft');
  if (nft === undefined) {
    if (lossPercent === 0) return; // nothing to remove: without nft no table could have been made
    throw new EnvironmentError('--loss needs `nft`: apt-get install nftables');
  }
  // Declaring then deleting the table makes the delete succeed whether or not it existed.
  for (const host of clientHosts(clients)) {
    let script = `table netdev ${NFT_TABLE}\ndelete table netdev ${NFT_TABLE}\n`;
    if (lossPercent > 0) {
      // ARP is spared so that address resolution never stalls a run for a second.
      script +=
        `table netdev ${NFT_TABLE} {\n` +
        `  chain loss {\n` +
        `    type filter hook ingress device "${host.interface}" priority 0; policy accept;\n` +
        `    meta protocol { ip, ip6 } numgen random mod 10000 < ${Math.round(lossPercent * 100)} counter drop\n` +
        `  }\n` +
        `}\n`;
    }
    await inHost(host, nft, ['-f', '-'], script);
  }
}

async function inHost(host: Host, command: string, args: string[], input?: string): Promise<string> {
  const ip = findBinary('ip') ?? 'ip';
  return runOk(ip, ['netns', 'exec', host.namespace, command, ...args], input === undefined ? {} : { input });
}

export interface LossRule {
  /** The configured drop share, read back from the rule. */
  percent: number;
  /** Packets dropped so far. */
  droppedPackets: number;
}

/** The loss rule of the client hosts: its share (the same in each) and the packets dropped in all of them. */
export async function readLoss(clients = 1): Promise<LossRule | undefined> {
  let total: LossRule | undefined;
  for (const host of clientHosts(clients)) {
    const rule = await readHostLoss(host);
    if (rule === undefined) continue;
    total = { percent: rule.percent, droppedPackets: (total?.droppedPackets ?? 0) + rule.droppedPackets };
  }
  return total;
}

async function readHostLoss(host: Host): Promise<LossRule | undefined> {
  const nft = findBinary('nft');
  if (nft === undefined) return undefined;
  const ip = findBinary('ip') ?? 'ip';
  const result = await run(ip, ['netns', 'exec', host.namespace, nft, '-j', 'list', 'table', 'netdev', NFT_TABLE]);
  if (result.code !== 0) return undefined;
  type Expr = { match?: { left?: { numgen?: { mod?: number } }; right?: unknown }; counter?: { packets?: number } };
  const items = (JSON.parse(result.stdout) as { nftables: { rule?: { expr: Expr[] } }[] }).nftables;
  for (const item of items) {
    const exprs = item.rule?.expr ?? [];
    const numgen = exprs.find((e) => e.match?.left?.numgen !== undefined);
    if (numgen === undefined) continue;
    const mod = numgen.match?.left?.numgen?.mod ?? 10000;
    const below = Number(numgen.match?.right);
    const counter = exprs.find((e) => e.counter !== undefined);
    return { percent: (below / mod) * 100, droppedPackets: counter?.counter?.packets ?? 0 };
  }
  return undefined;
}

export interface Qdisc {
  kind: string;
  handle: string;
  parent: string;
  /** tbf: shaped rate in bits per second. */
  rateBitsPerSecond?: number;
  /** tbf: bucket size in bytes. */
  burstBytes?: number;
  /** tbf: queue bound in microseconds. */
  latencyMicroseconds?: number;
  /** netem: added delay in microseconds. */
  delayMicroseconds?: number;
  sentBytes: number;
  sentPackets: number;
  dropped: number;
  overlimits: number;
  backlogBytes: number;
  backlogPackets: number;
}

/** `tc -s -j qdisc show` of one side, parsed. */
export async function readQdiscs(tools: Tools, side: Pick<Host, 'namespace' | 'interface'>): Promise<Qdisc[]> {
  const result = await run(tools.tc, ['-n', side.namespace, '-s', '-j', 'qdisc', 'show', 'dev', side.interface]);
  if (result.code !== 0 || result.stdout.trim() === '') return [];
  return parseQdiscs(result.stdout);
}

/** The JSON of `tc -s -j qdisc show`, parsed. */
export function parseQdiscs(json: string): Qdisc[] {
  type Raw = {
    kind: string; handle: string; root?: boolean; parent?: string;
    options?: { rate?: number; burst?: number; lat?: number; delay?: { delay?: number } };
    bytes?: number; packets?: number; drops?: number; overlimits?: number; backlog?: number; qlen?: number;
  };
  return (JSON.parse(json) as Raw[]).map((raw) => {
    const qdisc: Qdisc = {
      kind: raw.kind,
      handle: raw.handle,
      parent: raw.root === true ? 'root' : (raw.parent ?? ''),
      sentBytes: raw.bytes ?? 0,
      sentPackets: raw.packets ?? 0,
      dropped: raw.drops ?? 0,
      overlimits: raw.overlimits ?? 0,
      backlogBytes: raw.backlog ?? 0,
      backlogPackets: raw.qlen ?? 0,
    };
    // tc's JSON gives tbf's rate in bytes per second, burst in bytes, lat in µs; netem's delay in seconds.
    if (raw.kind === 'tbf' && raw.options) {
      if (raw.options.rate !== undefined) qdisc.rateBitsPerSecond = raw.options.rate * 8;
      if (raw.options.burst !== undefined) qdisc.burstBytes = raw.options.burst;
      if (raw.options.lat !== undefined) qdisc.latencyMicroseconds = raw.options.lat;
    }
    if (raw.kind === 'netem' && raw.options?.delay?.delay !== undefined) {
      qdisc.delayMicroseconds = Math.round(raw.options.delay.delay * 1e6);
    }
    return qdisc;
  });
}

/**
 * Where a host's link address lives: the server's moves to the VM bridge
 * while one exists (a bridge port's own address would never see a packet:
 * the bridge takes everything the port receives).
 */
export async function addressDevice(tools: Tools, side: Side): Promise<string> {
  if (side !== SERVER) return side.interface;
  const bridge = await run(tools.ip, ['-n', side.namespace, 'link', 'show', 'dev', BRIDGE]);
  return bridge.code === 0 ? BRIDGE : side.interface;
}

export async function readAddress(tools: Tools, side: Side): Promise<string | undefined> {
  const result = await run(tools.ip, ['-n', side.namespace, '-j', 'addr', 'show', 'dev', await addressDevice(tools, side)]);
  if (result.code !== 0) return undefined;
  const links = JSON.parse(result.stdout) as { addr_info?: { family: string; local: string; prefixlen: number }[] }[];
  const info = links[0]?.addr_info?.find((a) => a.family === 'inet');
  return info === undefined ? undefined : `${info.local}/${info.prefixlen}`;
}

/** Pids of every process inside a namespace (`ip netns pids`). */
export async function namespacePids(tools: Tools, namespace: string): Promise<number[]> {
  const result = await run(tools.ip, ['netns', 'pids', namespace]);
  if (result.code !== 0) return [];
  return result.stdout.split(/\s+/).filter((s) => s !== '').map(Number).filter((pid) => pid !== process.pid);
}

/**
 * Remove the hosts: every process still inside them (only what the testbed
 * or its users started there), then the namespaces, which takes the veth
 * pair, its qdiscs and the nftables table with them.
 */
export async function removeHosts(tools: Tools): Promise<string[]> {
  const done: string[] = [];
  const existing = await namespaces(tools);
  // Found by name rather than from the state file, so a testbed whose state is gone is still removed whole.
  const more = new RegExp(`^${CLIENT.namespace}-\\d+$`);
  const all = [...SIDES.map((s) => s.namespace), ...[...existing].filter((n) => more.test(n)).sort(), SWITCH.namespace];
  for (const namespace of all) {
    if (!existing.has(namespace)) continue;
    const pids = await namespacePids(tools, namespace);
    if (pids.length > 0) {
      const gone = await terminate(
        () => pids.filter((pid) => isAlive(pid)),
        (sig) => pids.forEach((pid) => signal(pid, sig)),
      );
      if (!gone) throw new TsloadError(`processes ${pids.join(', ')} in ${namespace} survived SIGKILL`);
      done.push(`stopped ${pids.length} process(es) left in ${namespace}: ${pids.join(', ')}`);
    }
    await runOk(tools.ip, ['netns', 'del', namespace]);
    done.push(`deleted namespace ${namespace}`);
  }
  return done;
}
