/**
 * VM and unikernel targets: a guest under qemu in the server host, its
 * virtio-net NIC on a tap bridged to the server's end of the link, with its
 * own address in the testbed's /24 (.3, .4, … in start order). It is a
 * target like the others: TARGETS_DIR/<name>/target.json holds qemu's pid and
 * start time, `stop` and `down` end qemu by that pid, and the tap (and the
 * bridge, once no VM is left) go with it. See docs/vm.md.
 *
 * The bridge takes the server's address and the veth's MAC address, so the
 * client's neighbour entry stays right and targets already bound to
 * SERVER.address keep working. The veth becomes a bridge port and keeps its
 * root qdisc, so the tbf shaping of the server's egress applies to the
 * guests' traffic too.
 */
import type { ProtocolName } from '../protocols/index.js';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EnvironmentError, OptionsError, ServerStartError, TsloadError } from '../errors.js';
import type { Tools } from './net.js';
import { probe } from './probe.js';
import { TARGET_NAMES } from './servers.js';
import { BRIDGE, CLIENT_OCTETS, NETMASK, PREFIX_LENGTH, SERVER, STATE_DIR, SUBNET, TAP_PREFIX, TARGETS_DIR, TESTBED_ID } from './settings.js';
import { endpointFor, killTarget, logTail, readTargets } from './targets.js';
import type { RunningTarget, TargetService, VmInfo } from './targets.js';
import { findBinary, procStat, run, runOk, sleep } from './system.js';

export interface VmOptions {
  /** Target name (default 'vm'): lower-case letters, digits and '-', not one of the server targets' names. */
  name?: string;
  /** Kernel image for qemu -kernel (a Linux bzImage, a Unikraft or Solo5 image); needed unless `disk` boots. */
  kernel?: string;
  initrd?: string;
  /**
   * Kernel command line. `{address}`, `{gateway}`, `{netmask}` and `{prefix}`
   * are replaced by the guest's address, the server host's address (the
   * bridge), 255.255.255.0 and 24, so one line works in any testbed.
   */
  append?: string;
  /** Disk image on a virtio drive (qcow2 or raw, told by its header); opened with snapshot=on, so the file never changes. */
  disk?: string;
  /** Default 'auto': kvm when a test guest runs under it, tcg otherwise. */
  accel?: 'kvm' | 'tcg' | 'auto';
  /** qemu -smp; default 1. */
  cpus?: number;
  /** qemu -m: '256M' (default), '1g', or a number of bytes; whole MiB. */
  memory?: string | number;
  /** What the guest serves, and on which ports: at least one. */
  ports: { http?: number; dns?: number };
  /** How long the guest may take to answer every service; default 60 s (tcg boots take seconds). */
  readyTimeoutMs?: number;
  /** Extra qemu arguments, appended (e.g. ['-cpu', 'Westmere'] for Solo5). */
  qemuArgs?: string[];
}

const QEMU = 'qemu-system-x86_64';
const MiB = 1024 * 1024;
const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const PLACEHOLDERS = /\{(address|gateway|netmask|prefix)\}/g;

/** A name a VM may have: lower-case letters, digits and '-', not a server target's. */
export function isVmName(name: string): boolean {
  return NAME.test(name) && !(TARGET_NAMES as readonly string[]).includes(name);
}

/** '256M', '1g', '512MiB', 268435456 → bytes. A bare number in a string is refused: qemu reads it as MiB, the library as bytes. */
export function parseMemory(memory: string | number): number | undefined {
  if (typeof memory === 'number') return Number.isSafeInteger(memory) && memory > 0 ? memory : undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt])(?:i?b)?$/i.exec(memory.trim());
  if (match === null) return undefined;
  const scale = { k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[match[2]!.toLowerCase() as 'k' | 'm' | 'g' | 't'];
  const bytes = Number(match[1]) * scale;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

export function substituteAppend(append: string, address: string): string {
  const values: Record<string, string> = { address, gateway: SERVER.address, netmask: NETMASK, prefix: String(PREFIX_LENGTH) };
  return append.replace(PLACEHOLDERS, (_, key: string) => values[key]!);
}

interface Checked {
  name: string;
  kernel: string | undefined;
  initrd: string | undefined;
  disk: string | undefined;
  cpus: number;
  memoryBytes: number;
  services: { protocol: ProtocolName; port: number }[];
}

function checkOptions(options: VmOptions): Checked {
  const problems: string[] = [];
  const name = options.name ?? 'vm';
  if (!NAME.test(name)) problems.push(`--name ${JSON.stringify(name)}: expected lower-case letters, digits and '-', starting with a letter (at most 32)`);
  if ((TARGET_NAMES as readonly string[]).includes(name)) problems.push(`--name ${name}: is a server target's name; choose another`);
  const file = (option: string, value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const path = resolve(value);
    if (!existsSync(path) || !statSync(path).isFile()) problems.push(`--${option} ${value}: no such file`);
    return path;
  };
  const kernel = file('kernel', options.kernel);
  const initrd = file('initrd', options.initrd);
  const disk = file('disk', options.disk);
  if (kernel === undefined && disk === undefined) problems.push('--kernel or --disk: a VM needs something to boot');
  if (kernel === undefined && (initrd !== undefined || options.append !== undefined)) problems.push('--initrd and --append: need --kernel');
  const cpus = options.cpus ?? 1;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64) problems.push(`--cpus ${cpus}: expected an integer from 1 to 64`);
  const memoryBytes = parseMemory(options.memory ?? '256M');
  if (memoryBytes === undefined || memoryBytes % MiB !== 0 || memoryBytes < 16 * MiB) {
    problems.push(`--memory ${JSON.stringify(options.memory)}: expected whole MiB, at least 16M, with a unit (256M, 1g) or a number of bytes`);
  }
  if (options.accel !== undefined && !['kvm', 'tcg', 'auto'].includes(options.accel)) problems.push(`--accel ${options.accel}: expected kvm, tcg or auto`);
  const services: { protocol: ProtocolName; port: number }[] = [];
  for (const protocol of ['http', 'dns'] as const) {
    const port = options.ports?.[protocol];
    if (port === undefined) continue;
    if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`--port ${protocol}=${port}: expected a port from 1 to 65535`);
    services.push({ protocol, port });
  }
  if (services.length === 0) problems.push('--port: say what the guest serves, e.g. --port http=80 --port dns=53');
  if (problems.length > 0) throw new OptionsError(problems);
  return { name, kernel, initrd, disk, cpus, memoryBytes: memoryBytes!, services };
}

/**
 * A 64 KiB BIOS image that goes from real mode to protected mode to 64-bit
 * long mode (identity-mapped first 2 MiB, one 2 MiB page) and then writes
 * 0x2a to an isa-debug-exit port, so qemu exits with status 0x2a*2+1 = 85.
 * Assembled once with GNU as from this source (at 0xF0000, reset vector
 * `ljmp $0xf000,$0`):
 *   cli; lgdtl %cs:gdtr; cr0 |= PE; ljmpl $0x08,$pm32
 *   pm32: ds=es=ss=0x10; zero 0x1000..0x3fff; PML4[0]=0x2003; PDPT[0]=0x3003;
 *         PD[0]=0x83; cr4 |= PAE; cr3=0x1000; EFER |= LME; cr0 |= PG; ljmp $0x18,$lm64
 *   lm64: mov $0x2a,%al; out %al,$0xf4; hlt
 *   gdt: null, 32-bit code, data, 64-bit code
 * Why long mode: on a VM without working nested virtualisation /dev/kvm
 * opens, qemu accepts -accel kvm, and even real-mode code and SeaBIOS run,
 * but a 64-bit kernel hangs without a word on the console (measured here:
 * Debian's cloud kernel prints nothing in 15 s). This guest hangs the same way.
 */
const LONG_MODE_PROBE =
  'fa2e660f0116a8000f20c00c010f22c066ea18000f00080066b810008ed88ec08ed0bf0010000031c0b9000c0000f3ab' +
  'c7050010000003200000c7050020000003300000c70500300000830000000f20e083c8200f22e0b8001000000f22d8b9' +
  '800000c00f320d000100000f300f20c00d000000800f22c0ea7f000f001800b02ae6f4f4ebfd66900000000000000000' +
  'ffff0000009acf00ffff00000092cf00ffff0000009aaf001f0088000f00';

const KVM_VERDICT = join(STATE_DIR, 'kvm.json');
let kvmVerdict: Promise<{ usable: boolean; reason: string }> | undefined;

/**
 * Whether KVM really runs a 64-bit guest here: /dev/kvm must open read-write
 * (Node cannot issue KVM_GET_API_VERSION), and qemu -accel kvm must run the
 * long-mode probe to its exit within 3 s (tcg needs 0.05 s). Asked once per
 * testbed: the verdict is kept in STATE_DIR (so `down` forgets it), since a
 * hung probe costs its whole 3 s on every `testbed start vm`.
 */
export function kvmUsable(qemu: string): Promise<{ usable: boolean; reason: string }> {
  kvmVerdict ??= (async () => {
    try {
      return JSON.parse(readFileSync(KVM_VERDICT, 'utf8')) as { usable: boolean; reason: string };
    } catch {
      // not asked yet in this testbed
    }
    const verdict = await tryKvm(qemu);
    if (existsSync(STATE_DIR)) writeFileSync(KVM_VERDICT, `${JSON.stringify(verdict)}\n`);
    return verdict;
  })();
  return kvmVerdict;
}

async function tryKvm(qemu: string): Promise<{ usable: boolean; reason: string }> {
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
  } catch (error) {
    return { usable: false, reason: `/dev/kvm does not open read-write (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsload-kvm-'));
  try {
    const image = Buffer.alloc(65536);
    Buffer.from(LONG_MODE_PROBE, 'hex').copy(image, 0);
    Buffer.from([0xea, 0, 0, 0, 0xf0]).copy(image, 0xfff0); // reset vector: ljmp $0xf000,$0
    writeFileSync(join(dir, 'probe.bin'), image);
    const started = Date.now();
    // prettier-ignore
    const result = await run(qemu, ['-accel', 'kvm', '-M', 'pc', '-nodefaults', '-no-user-config', '-display', 'none', '-m', '16',
      '-bios', join(dir, 'probe.bin'), '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'], { timeoutMs: 3000 });
    if (result.code === 85) return { usable: true, reason: 'a 64-bit test guest ran under qemu -accel kvm' };
    const said = result.stderr.trim().split('\n').filter((l) => !/warning|terminating on signal/.test(l)).join('; ');
    return {
      usable: false,
      // qemu ends cleanly (status 0) on the SIGTERM of the timeout: a hang shows as time, not status.
      reason: Date.now() - started >= 2900 || result.code === -1
        ? '/dev/kvm opens, but a 64-bit test guest hung under qemu -accel kvm (no working nested virtualisation)'
        : `qemu -accel kvm failed (exit ${result.code}${said === '' ? '' : `: ${said}`})`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function linkPresent(tools: Tools, dev: string): Promise<boolean> {
  return (await run(tools.ip, ['-n', SERVER.namespace, 'link', 'show', 'dev', dev])).code === 0;
}

/** The bridge, made once: it takes the veth's MAC and the server's address, then the veth as a port. */
async function ensureBridge(tools: Tools): Promise<void> {
  if (await linkPresent(tools, BRIDGE)) return;
  const ipn = [tools.ip, '-n', SERVER.namespace] as const;
  const ip = (...args: string[]): Promise<string> => runOk(ipn[0], [...ipn.slice(1), ...args]);
  const veth = JSON.parse(await ip('-j', 'link', 'show', 'dev', SERVER.interface)) as { address: string }[];
  const mac = veth[0]?.address;
  if (mac === undefined) throw new TsloadError(`cannot read the MAC address of ${SERVER.interface}`);
  // STP off (the default) lets a new port forward at once; no IPv6 link-local chatter on the link.
  await ip('link', 'add', 'name', BRIDGE, 'address', mac, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
  await ip('link', 'set', 'dev', BRIDGE, 'addrgenmode', 'none');
  await ip('link', 'set', 'dev', SERVER.interface, 'master', BRIDGE);
  await ip('addr', 'del', `${SERVER.address}/${PREFIX_LENGTH}`, 'dev', SERVER.interface);
  await ip('addr', 'replace', `${SERVER.address}/${PREFIX_LENGTH}`, 'dev', BRIDGE);
  await ip('link', 'set', 'dev', BRIDGE, 'up');
}

/**
 * Remove the taps of VMs that no longer run, and the bridge once no VM runs,
 * putting the server's address back on the veth. Returns what it did.
 */
export async function tidyVmNetwork(tools: Tools): Promise<string[]> {
  const done: string[] = [];
  if (!(await linkPresent(tools, BRIDGE))) return done;
  const ipn = ['-n', SERVER.namespace];
  const running = readTargets().filter((t) => t.kind === 'vm' && t.alive);
  const keep = new Set(running.map((t) => t.vm?.tap));
  const links = JSON.parse(await runOk(tools.ip, [...ipn, '-j', 'link', 'show'])) as { ifname: string }[];
  for (const { ifname } of links) {
    if (!ifname.startsWith(TAP_PREFIX) || keep.has(ifname)) continue;
    await runOk(tools.ip, [...ipn, 'link', 'del', 'dev', ifname]);
    done.push(`removed tap ${ifname}`);
  }
  if (running.length === 0) {
    await runOk(tools.ip, [...ipn, 'link', 'set', 'dev', SERVER.interface, 'nomaster']);
    await runOk(tools.ip, [...ipn, 'link', 'del', 'dev', BRIDGE]);
    await runOk(tools.ip, [...ipn, 'addr', 'replace', `${SERVER.address}/${PREFIX_LENGTH}`, 'dev', SERVER.interface]);
    await runOk(tools.ip, [...ipn, 'link', 'set', 'dev', SERVER.interface, 'up']);
    done.push(`removed bridge ${BRIDGE} (${SERVER.address} back on ${SERVER.interface})`);
  }
  return done;
}

/** qcow2 by its magic, raw otherwise: qemu's own probing of raw images warns and forbids writing sector 0. */
export function diskFormat(path: string): 'qcow2' | 'raw' {
  const fd = openSync(path, 'r');
  try {
    const magic = Buffer.alloc(4);
    readSync(fd, magic, 0, 4, 0);
    return magic.toString('latin1') === 'QFI\xfb' ? 'qcow2' : 'raw';
  } finally {
    closeSync(fd);
  }
}

/**
 * Boot a guest in the server host; resolves once every service in `ports`
 * answers from the client host at the guest's address (an HTTP response to
 * GET /, any DNS answer to an SOA query). On failure qemu is stopped, the
 * tap removed, and a ServerStartError carries the end of the console.
 */
export async function startVm(options: VmOptions, tools: Tools): Promise<RunningTarget> {
  const o = checkOptions(options);
  const qemu = findBinary(QEMU);
  if (qemu === undefined) throw new EnvironmentError(`${QEMU} missing: apt-get install qemu-system-x86`);

  const others = readTargets();
  const same = others.find((t) => t.name === o.name && t.alive);
  if (same !== undefined) throw new ServerStartError(`${o.name} is already running (pid ${same.pid}); stop it first`);
  const used = new Set(others.filter((t) => t.kind === 'vm' && t.alive).map((t) => Number(t.address.split('.')[3])));
  let octet = 3;
  // .101 and up are the extra client hosts' (testbed up --clients).
  while (used.has(octet) || (octet >= CLIENT_OCTETS.first && octet <= CLIENT_OCTETS.last)) octet++;
  if (octet > 254) throw new ServerStartError(`no address left in ${SUBNET}.0/${PREFIX_LENGTH} for another VM`);
  const address = `${SUBNET}.${octet}`;

  let accel: 'kvm' | 'tcg';
  let accelReason: string;
  const wanted = options.accel ?? 'auto';
  if (wanted === 'tcg') {
    accel = 'tcg';
    accelReason = 'asked for tcg';
  } else {
    const kvm = await kvmUsable(qemu);
    if (wanted === 'kvm' && !kvm.usable) throw new EnvironmentError(`--accel kvm: KVM does not work here: ${kvm.reason}; use --accel tcg or auto`);
    accel = kvm.usable ? 'kvm' : 'tcg';
    accelReason = kvm.usable ? kvm.reason : `tcg, since ${kvm.reason}`;
  }

  const dir = join(TARGETS_DIR, o.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const consoleLog = join(dir, 'console.log');
  const log = join(dir, 'log');
  const tap = `${TAP_PREFIX}${octet}`;
  // Locally administered, unique per testbed and guest.
  const mac = `52:54:00:${TESTBED_ID.toString(16).padStart(2, '0')}:00:${octet.toString(16).padStart(2, '0')}`;
  const append = options.append === undefined ? undefined : substituteAppend(options.append, address);

  // prettier-ignore
  const argv = [qemu, '-name', `tsload-${o.name}`, '-accel', accel, ...(accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-smp', String(o.cpus), '-m', `${o.memoryBytes / MiB}M`,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-serial', `file:${consoleLog}`, '-pidfile', join(dir, 'qemu.pid'),
    ...(o.kernel === undefined ? [] : ['-kernel', o.kernel]),
    ...(o.initrd === undefined ? [] : ['-initrd', o.initrd]),
    ...(append === undefined ? [] : ['-append', append]),
    ...(o.disk === undefined ? [] : ['-drive', `file=${o.disk},if=virtio,format=${diskFormat(o.disk)},snapshot=on`]),
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${mac}`,
    ...(options.qemuArgs ?? [])];

  await ensureBridge(tools);
  const ipn = ['-n', SERVER.namespace];
  await run(tools.ip, [...ipn, 'link', 'del', 'dev', tap]); // a stale one from a VM that died with its record
  // The tap keeps its IPv6 link-local address (unlike the bridge): the few packets it sends as it
  // comes up (DAD, MLD, router solicitations) are waiting when the guest's NIC starts. Unikraft
  // 0.15's virtio-net trips an assertion (intr_enabled) in about half its boots when nothing is
  // (docs/vm.md).
  await runOk(tools.ip, [...ipn, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await runOk(tools.ip, [...ipn, 'link', 'set', 'dev', tap, 'master', BRIDGE]);
  await runOk(tools.ip, [...ipn, 'link', 'set', 'dev', tap, 'up']);

  const logFd = openSync(log, 'a');
  // As with the servers: `ip netns exec` execs qemu in place, so this pid is
  // qemu's, leader of its own process group.
  const child = spawn(tools.ip, ['netns', 'exec', SERVER.namespace, ...argv], { detached: true, stdio: ['ignore', logFd, logFd], cwd: dir });
  closeSync(logFd);
  const spawnError = new Promise<Error>((resolveError) => child.once('error', resolveError));
  child.unref();
  let exited: string | undefined;
  child.once('exit', (code, sig) => {
    exited = sig === null ? `qemu exited with status ${code}` : `qemu was killed by ${sig}`;
  });
  const pid = child.pid;
  if (pid === undefined) {
    await tidyVmNetwork(tools);
    throw new ServerStartError(`${o.name}: could not start ${qemu}: ${(await spawnError).message}`);
  }

  const services: TargetService[] = o.services.map((s) => ({ ...s, endpoint: endpointFor(s.protocol, s.port, address) }));
  const first = services[0]!;
  const vm: VmInfo = {
    accel, accelReason, cpus: o.cpus, memoryBytes: o.memoryBytes,
    kernel: o.kernel, initrd: o.initrd, disk: o.disk, append,
    console: consoleLog, tap, bridge: BRIDGE, mac, qemu: argv,
  };
  const running: RunningTarget = {
    name: o.name,
    kind: 'vm',
    protocol: first.protocol,
    pid,
    startTime: procStat(pid)?.startTime ?? 0,
    address,
    port: first.port,
    endpoint: first.endpoint,
    command: argv,
    dir,
    config: undefined,
    log,
    workers: o.cpus,
    services,
    vm,
    startedAt: new Date().toISOString(),
  };
  // Written before the boot wait, so that `down` finds qemu even if this process dies meanwhile.
  writeFileSync(join(dir, 'target.json'), `${JSON.stringify(running, null, 2)}\n`);

  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  try {
    await waitServices(running, timeoutMs, () => exited);
  } catch (error) {
    await killTarget(running);
    rmSync(join(dir, 'target.json'), { force: true });
    await tidyVmNetwork(tools);
    throw new ServerStartError(
      `${o.name} did not become ready: ${(error as Error).message}\n--- end of the console ${consoleLog} ---\n${logTail(consoleLog)}\n--- qemu's own output ${log} ---\n${logTail(log, 5)}`,
      { cause: error },
    );
  }
  return running;
}

async function waitServices(target: RunningTarget, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = [...(target.services ?? [])];
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const gone = exited();
    if (gone !== undefined) throw new Error(gone);
    const service = pending[0];
    if (service === undefined) return;
    if (service.protocol === 'http') {
      const r = await probe({ mode: 'http', host: target.address, port: service.port, path: '/', count: 1, timeoutMs: 1000 });
      if (r.errors === 0) pending.shift();
      else last = `http ${target.address}:${service.port}: ${r.firstError ?? 'no response'}`;
    } else {
      // Any answer is the server answering: a VM's zone is its own business.
      const r = await probe({ mode: 'dns', host: target.address, port: service.port, name: 'example.com', qtype: 6, count: 1, ratePerSecond: 1, waitMs: 500 });
      if (r.answered > 0) pending.shift();
      else last = `dns ${target.address}:${service.port}: no answer`;
    }
    if (pending.length > 0) await sleep(200);
  }
  if (pending.length === 0) return;
  throw new Error(`no answer from every service within ${timeoutMs / 1000} s (${last})`);
}
