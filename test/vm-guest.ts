/**
 * A Linux guest for the testbed's VM target, from Debian packages only:
 * linux-image-cloud-amd64's kernel, an initramfs of busybox-static (init,
 * networking, `httpd` on port 80 with a 1 KiB index.html) and NSD on port
 * 53, copied in with its `ldd` closure as one would port it to a unikernel
 * such as OSv. The cloud kernel has virtio-net and virtio-pci as modules:
 * the init script loads them from the image in dependency order.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { findBinary } from '../src/testbed/system.js';

export interface CloudKernel {
  kernel: string;
  version: string;
}

/** /boot/vmlinuz-*-cloud-amd64 whose modules are installed, newest first; undefined if none. */
export function findCloudKernel(): CloudKernel | undefined {
  if (!existsSync('/boot')) return undefined;
  const versions = readdirSync('/boot')
    .filter((f) => /^vmlinuz-.*-cloud-amd64$/.test(f))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => existsSync(join('/lib/modules', v, 'modules.dep')))
    .sort()
    .reverse();
  const version = versions[0];
  return version === undefined ? undefined : { kernel: join('/boot', `vmlinuz-${version}`), version };
}

/** What is missing to build the guest, or undefined when everything is there. */
export function guestMissing(): string | undefined {
  if (findBinary('qemu-system-x86_64') === undefined) return 'qemu-system-x86_64 (apt-get install qemu-system-x86)';
  if (findCloudKernel() === undefined) return 'the cloud kernel /boot/vmlinuz-*-cloud-amd64 (apt-get install linux-image-cloud-amd64)';
  if (!existsSync('/bin/busybox') || !isStatic('/bin/busybox')) return 'a static /bin/busybox (apt-get install busybox-static)';
  if (findBinary('nsd') === undefined) return 'nsd (apt-get install nsd)';
  if (findBinary('ldd') === undefined) return 'ldd (libc-bin)';
  return undefined;
}

function isStatic(file: string): boolean {
  // An ELF with no PT_INTERP needs no loader; ldd says "not a dynamic executable".
  try {
    execFileSync('ldd', [file], { stdio: 'pipe' });
    return false;
  } catch {
    return true;
  }
}

/** The modules `wanted` need, each after its dependencies, as paths relative to /lib/modules/<version>/. */
export function moduleOrder(version: string, wanted: string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join('/lib/modules', version, 'modules.dep'), 'utf8').split('\n')) {
    const [module, rest] = line.split(':');
    if (module === undefined || rest === undefined) continue;
    deps.set(module, rest.trim() === '' ? [] : rest.trim().split(/\s+/));
  }
  const byName = (name: string): string | undefined =>
    [...deps.keys()].find((m) => m.replace(/^.*\//, '').replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_') === name);
  const order: string[] = [];
  const visit = (module: string): void => {
    if (order.includes(module)) return;
    for (const dep of deps.get(module) ?? []) visit(dep);
    order.push(module);
  };
  for (const name of wanted) {
    const module = byName(name);
    // Built in (absent from modules.dep): nothing to load.
    if (module !== undefined) visit(module);
  }
  return order;
}

/** `ldd` closure of a binary: every shared library it loads, and the loader. */
export function lddClosure(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const files: string[] = [];
  for (const line of out.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match?.[1] !== undefined) files.push(match[1]);
  }
  return files;
}

export const GUEST_PAGE_BYTES = 1024;
/** The guest's kernel command line; the init script reads ip= from /proc/cmdline (the cloud kernel has no IP autoconfiguration). */
export const GUEST_APPEND = 'console=ttyS0 quiet panic=-1 ip={address}::{gateway}:{netmask}::eth0:off';

function initScript(modules: string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
${modules.map((m) => `insmod /lib/modules/${m.replace(/^.*\//, '')}`).join('\n')}
# ip=ADDRESS::GATEWAY:NETMASK::DEVICE:off, the kernel's own syntax
for arg in $(cat /proc/cmdline); do
  case "$arg" in ip=*) spec="\${arg#ip=}" ;; esac
done
IFS=: read address _ gateway netmask _ device _ <<EOF
$spec
EOF
i=0
while [ ! -e /sys/class/net/$device ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
ifconfig $device $address netmask $netmask up
route add default gw $gateway
httpd -f -p 80 -h /www &
nsd -d -c /etc/nsd/nsd.conf &
echo "tsload-guest: $device $address serving http on 80 and dns on 53"
while true; do sleep 3600; done
`;
}

function nsdConfig(origin: string): string {
  return `server:
  ip-address: 0.0.0.0@53
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "/var/nsd"
  database: ""
  pidfile: "/var/nsd/nsd.pid"
  xfrdfile: "/var/nsd/xfrd.state"
  zonelistfile: "/var/nsd/zone.list"
  xfrdir: "/var/nsd"
  verbosity: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: "${origin}"
  zonefile: "/etc/nsd/zone.db"
`;
}

function copyInto(root: string, file: string): void {
  const target = join(root, file);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(realpathSync(file), target);
  chmodSync(target, 0o755);
}

export interface GuestImage {
  kernel: string;
  initrd: string;
  append: string;
  /** The page httpd serves at / (GUEST_PAGE_BYTES long). */
  page: string;
  /** Bytes of the gzipped initramfs. */
  bytes: number;
}

/** Build the initramfs into `dir` (made afresh); the zone is served by NSD under `origin`. */
export function buildGuest(dir: string, zone: string, origin: string): GuestImage {
  const kernel = findCloudKernel();
  if (kernel === undefined) throw new Error('no cloud kernel: apt-get install linux-image-cloud-amd64');
  rmSync(dir, { recursive: true, force: true });
  const root = join(dir, 'root');
  for (const sub of ['bin', 'proc', 'sys', 'dev', 'www', 'lib/modules', 'etc/nsd', 'var/nsd', 'usr/sbin', 'tmp']) mkdirSync(join(root, sub), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', join(root, 'bin', 'sh'));

  const modules = moduleOrder(kernel.version, ['virtio_pci', 'virtio_net']);
  for (const module of modules) copyFileSync(join('/lib/modules', kernel.version, module), join(root, 'lib', 'modules', module.replace(/^.*\//, '')));
  writeFileSync(join(root, 'init'), initScript(modules), { mode: 0o755 });

  // A 1 KiB page: the line repeated, cut to the byte.
  const page = 'tsload guest page: busybox httpd in a Linux VM under qemu.\n'.repeat(20).slice(0, GUEST_PAGE_BYTES - 1) + '\n';
  writeFileSync(join(root, 'www', 'index.html'), page);

  const nsd = findBinary('nsd')!;
  copyInto(root, nsd);
  for (const lib of lddClosure(nsd)) copyInto(root, lib);
  writeFileSync(join(root, 'etc', 'nsd', 'nsd.conf'), nsdConfig(origin));
  copyFileSync(zone, join(root, 'etc', 'nsd', 'zone.db'));
  // getpwnam and friends read these even with username "".
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\n');

  const initrd = join(dir, 'initramfs.cpio.gz');
  const archive = gzipSync(newcArchive(root), { level: 1 });
  writeFileSync(initrd, archive);
  return { kernel: kernel.kernel, initrd, append: GUEST_APPEND, page, bytes: archive.length };
}

/**
 * The tree under `root` as a cpio "newc" archive, every entry owned by root,
 * which is all the kernel's initramfs unpacker reads (Documentation/
 * driver-api/early-userspace/buffer-format.rst). Written here rather than
 * with cpio(1), which minimal systems lack: it is a header of 13 hex fields
 * per entry, names and data padded to 4 bytes.
 */
export function newcArchive(root: string): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const entry = (name: string, mode: number, data: Buffer, mtime = 0): void => {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, 1, mtime, data.length, 0, 0, 0, 0, nameBytes.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`, 'latin1');
    parts.push(header, nameBytes, pad(header.length + nameBytes.length), data, pad(data.length));
  };
  const walk = (relative: string): void => {
    for (const name of readdirSync(join(root, relative)).sort()) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const stat = lstatSync(join(root, path));
      // Real mtimes: NSD takes a zone file dated 1970 as already loaded and serves nothing.
      const mtime = Math.floor(stat.mtimeMs / 1000);
      if (stat.isSymbolicLink()) entry(path, stat.mode, Buffer.from(readlinkSync(join(root, path))), mtime);
      else if (stat.isDirectory()) {
        entry(path, stat.mode, Buffer.alloc(0), mtime);
        walk(path);
      } else entry(path, stat.mode, readFileSync(join(root, path)), mtime);
    }
  };
  walk('');
  entry('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
