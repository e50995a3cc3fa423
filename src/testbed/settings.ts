/**
 * Names, addresses, paths and the link settings of the testbed. Everything
 * the testbed makes is named here, so `down` can remove exactly that.
 */
import { fileURLToPath } from 'node:url';
import { OptionsError } from '../errors.js';

/**
 * Which testbed: TSLOAD_TESTBED_ID=k (1..254) gives a second, independent one
 * (its own namespaces, 198.18.k.0/24, state dir and nftables table), so two
 * can run on one machine side by side. Unset or 0: the names below.
 */
export const TESTBED_ID = testbedId(process.env.TSLOAD_TESTBED_ID);
const tag = TESTBED_ID === 0 ? '' : String(TESTBED_ID);
const suffix = TESTBED_ID === 0 ? '' : `-${TESTBED_ID}`;

function testbedId(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  const id = Number(value);
  if (!Number.isInteger(id) || id < 0 || id > 254) throw new OptionsError([`TSLOAD_TESTBED_ID must be an integer 0..254, not ${JSON.stringify(value)}`]);
  return id;
}

/** The testbed's /24: hosts .1 (client) and .2 (server); VM guests take .3 and up. */
export const SUBNET = `198.18.${TESTBED_ID}`;
export const CLIENT = { namespace: `tsload${tag}-client`, interface: `tsload${tag}-c`, address: `${SUBNET}.1` } as const;
export const SERVER = { namespace: `tsload${tag}-server`, interface: `tsload${tag}-s`, address: `${SUBNET}.2` } as const;
export const PREFIX_LENGTH = 24;

/**
 * More client hosts (`testbed up --clients N`): client 1 is CLIENT; client i
 * (2..N) is its own namespace at .(99+i), so .101 to .131, a range VM guests
 * (.3 and up in start order) skip. With N >= 2 every host has a veth to a
 * bridge in a switch namespace instead of the one client-server pair.
 */
export const MAX_CLIENTS = 32;
export const CLIENT_OCTETS = { first: 101, last: 99 + MAX_CLIENTS } as const;
export interface Host {
  readonly namespace: string;
  readonly interface: string;
  readonly address: string;
}
/** Client host i of the testbed, from 1. */
export function clientHost(index: number): Host {
  if (!Number.isInteger(index) || index < 1 || index > MAX_CLIENTS) throw new RangeError(`client host ${index}: expected 1..${MAX_CLIENTS}`);
  if (index === 1) return CLIENT;
  return { namespace: `tsload${tag}-client-${index}`, interface: `tsload${tag}-c${index}`, address: `${SUBNET}.${99 + index}` };
}
/** The switch: a namespace holding bridge SWITCH.bridge, with port `${SWITCH.portPrefix}${i}` to client i and `${SWITCH.portPrefix}s` to the server. */
export const SWITCH = { namespace: `tsload${tag}-switch`, bridge: `tsload${tag}-sw`, portPrefix: `tsload${tag}-p` } as const;
export function switchPort(host: Host | 'server', index = 0): string {
  return host === 'server' ? `${SWITCH.portPrefix}s` : `${SWITCH.portPrefix}${index}`;
}

/** --clients: a whole number from 1 to MAX_CLIENTS. */
export function parseClients(value: number | string | undefined): number {
  if (value === undefined) return 1;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_CLIENTS) throw new OptionsError([`--clients ${JSON.stringify(value)}: expected a whole number of client hosts from 1 to ${MAX_CLIENTS}`]);
  return n;
}
export const NETMASK = '255.255.255.0';
/**
 * VM guests: a bridge in the server host that takes over the server's end of
 * the link (and its address) while a VM runs, and one tap per guest on it,
 * named after the last octet of the guest's address. Both fit IFNAMSIZ (15).
 */
export const BRIDGE = `tsload${tag}-br`;
export const TAP_PREFIX = `tsload${tag}-v`;
/** nftables table (family netdev, in the client namespace) holding the loss rule. */
export const NFT_TABLE = `tsload_testbed${TESTBED_ID === 0 ? '' : `_${TESTBED_ID}`}`;

/** State, generated configs, pidfiles and logs. /run is a tmpfs: it goes at reboot, like the namespaces. */
export const STATE_DIR = `/run/tsload-testbed${suffix}`;
export const STATE_FILE = `${STATE_DIR}/testbed.json`;
export const WWW_DIR = `${STATE_DIR}/www`;
export const TARGETS_DIR = `${STATE_DIR}/targets`;
/** Each target's cgroup is `${CGROUP_PREFIX}-<target>`: named after the state dir, so parallel testbeds never share one. */
export const CGROUP_PREFIX = `tsload-testbed${suffix}`;

// src/testbed/ and dist/testbed/ are both two levels below the package root.
export const FIXTURES_DIR = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export interface LinkOptions {
  /** tc rate in bits: '1gbit' (default), '100mbit', '500kbit'. */
  rate?: string;
  /** One-way delay added on each side: '0' (default), '0.1ms', '250us'. Needs the netem qdisc. */
  delay?: string;
  /** Share of the packets arriving at the client host that are dropped: '0%' (default), '5%', '0.5'. */
  loss?: string;
  /** Client hosts (1..MAX_CLIENTS): default 1, or as many as the running testbed has. */
  clients?: number;
}

export interface LinkSettings {
  rate: string;
  delay: string;
  loss: string;
  rateBitsPerSecond: number;
  delayMicroseconds: number;
  lossPercent: number;
  /** tbf bucket size; see burstFor. */
  burstBytes: number;
  /** tbf queue bound expressed as time at the shaped rate. */
  queueLatencyMs: number;
}

const rateUnits: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };

export function parseLinkOptions(options: LinkOptions): LinkSettings {
  const problems: string[] = [];
  // A plan's YAML may give a number (loss: 1): read as text, as the command line gives it; anything else is no match below.
  const text = (v: unknown, fallback: string): string => (v === undefined ? fallback : typeof v === 'string' || typeof v === 'number' ? String(v).trim() : `${Object.prototype.toString.call(v)}`);
  const rate = text(options.rate, '1gbit');
  const delay = text(options.delay, '0');
  const loss = text(options.loss, '0%');

  // Only bit units: tc's "bps" means bytes per second, a classic factor-8 trap.
  const rateMatch = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|tbit)$/i.exec(rate);
  const rateBitsPerSecond = rateMatch ? Number(rateMatch[1]) * (rateUnits[rateMatch[2]!.toLowerCase()] ?? 0) : NaN;
  if (!(rateBitsPerSecond >= 8_000 && rateBitsPerSecond <= 100e9)) {
    problems.push(`--rate ${JSON.stringify(rate)}: expected a rate in bit units between 8kbit and 100gbit, e.g. 1gbit or 100mbit`);
  }

  const delayMatch = /^(\d+(?:\.\d+)?)\s*(us|ms|s)?$/i.exec(delay);
  const delayScale = { us: 1, ms: 1e3, s: 1e6 }[(delayMatch?.[2] ?? 'ms').toLowerCase() as 'us' | 'ms' | 's'];
  const delayMicroseconds = delayMatch ? Math.round(Number(delayMatch[1]) * delayScale) : NaN;
  if (!(delayMicroseconds >= 0 && delayMicroseconds <= 10e6) || (delayMatch?.[2] === undefined && delayMicroseconds !== 0)) {
    problems.push(`--delay ${JSON.stringify(delay)}: expected 0 or a time with a unit (us, ms, s) up to 10s, e.g. 0.1ms`);
  }

  const lossMatch = /^(\d+(?:\.\d+)?)\s*%?$/.exec(loss);
  const lossPercent = lossMatch ? Number(lossMatch[1]) : NaN;
  // The nftables rule draws from 0..9999, so 0.01% is the finest step.
  if (!(lossPercent >= 0 && lossPercent <= 100) || Math.abs(lossPercent * 100 - Math.round(lossPercent * 100)) > 1e-9) {
    problems.push(`--loss ${JSON.stringify(loss)}: expected a percentage from 0% to 100% in steps of 0.01%, e.g. 1% or 0.5%`);
  }

  if (problems.length > 0) throw new OptionsError(problems);
  return {
    rate,
    delay,
    loss,
    rateBitsPerSecond,
    delayMicroseconds,
    lossPercent,
    burstBytes: burstFor(rateBitsPerSecond),
    queueLatencyMs: 5,
  };
}

/**
 * tbf bucket: one millisecond of traffic at the shaped rate (125 KB at
 * 1 Gbit/s), so the qdisc's timer need not fire more than ~1000 times a
 * second, and never less than two 64 KiB GSO packets: a veth hands tbf TSO
 * super-packets of up to 64 KiB, and a bucket smaller than one makes tbf
 * split every one of them in software. At 1 Gbit/s that is a burst of about
 * 1 ms of line rate: small next to any measured run.
 */
export function burstFor(rateBitsPerSecond: number): number {
  return Math.max(2 * 65536, Math.ceil(rateBitsPerSecond / 8 / 1000));
}
