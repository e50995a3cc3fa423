/**
 * Starting, checking and stopping target servers inside the server host.
 * Each target gets TARGETS_DIR/<name>/ with its generated config, run files,
 * `target.json` (its pid and start time: the record `status`, `stop` and
 * `down` trust) and `log` (its stdout and stderr).
 */
import type { ProtocolName } from '../protocols/index.js';
import { spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cliCommand } from '../cli-command.js';
import { EnvironmentError, InputFileError, OptionsError, ServerStartError, TsloadError } from '../errors.js';
import { loadZone, lowerName } from '../protocols/dns/zone/index.js';
import { probe } from './probe.js';
import { SERVERS } from './servers.js';
import type { ServerContext, TargetName } from './servers.js';
import { availableCpus, createTargetCgroup, parseMemorySize, removeCgroupWhenEmpty, resolveCpus } from './cgroups.js';
import type { CgroupLimits, TargetCgroup } from './cgroups.js';
import { CGROUP_PREFIX, FIXTURES_DIR, SERVER, STATE_DIR, TARGETS_DIR, WWW_DIR } from './settings.js';
import { findBinary, groupMembers, isAlive, procStat, run, signal, sleep, terminate } from './system.js';

export interface StartOptions {
  /** DNS targets: zone file (default fixtures/test.zone). */
  zone?: string;
  /** DNS targets: the zone's origin, when the file has neither $ORIGIN nor an absolute SOA owner. */
  origin?: string;
  /** Worker processes (nginx, lighttpd, apache children, nsd) or threads (bind, knot); default 1. */
  workers?: number;
  /** HTTP targets: document root (default: the testbed's copy of fixtures/www). */
  root?: string;
  /** How long the target may take to answer its first probe; default 20 s. */
  readyTimeoutMs?: number;
  /** CPUs the target may run on (a cpuset): a count (the highest-numbered of the available CPUs) or a list ('1', '0-1,3' — one CPU by number: '3-3'). */
  cpus?: number | string;
  /** Memory limit of the target's cgroup: bytes, or '256m', '1g' (binary units). */
  memory?: number | string;
}

export interface RunningTarget {
  /** A TargetName, or for a VM the name it was started with. */
  name: TargetName | (string & {});
  /** 'vm' for a guest under qemu (src/testbed/vm.ts); absent for the servers above. */
  kind?: 'vm';
  /** For a VM, its first service. */
  protocol: ProtocolName;
  pid: number;
  /** /proc start time of pid: guards against acting on a reused pid. */
  startTime: number;
  address: string;
  port: number;
  /** What a generator should aim at: a URL for HTTP, host:port for DNS. */
  endpoint: string;
  /** DNS targets that serve DNS over TLS: host:port (absent in older records). */
  tlsEndpoint?: string;
  /** HTTP targets that serve HTTPS too (HTTP/2 by ALPN): the URL, and the self-signed certificate to verify it with (--ca). */
  https?: { endpoint: string; ca: string };
  /** The full command line that was started (inside the server namespace). */
  command: string[];
  dir: string;
  config: string | undefined;
  log: string;
  workers: number;
  root?: string;
  zone?: string;
  origin?: string;
  /** A VM: every service it offers (the first is protocol/port/endpoint above). */
  services?: TargetService[];
  /** A VM: how qemu runs it. pid and startTime above are qemu's. */
  vm?: VmInfo;
  startedAt: string;
  /** The constraints its cgroup enforces (null: not limited); absent when it runs in no cgroup of its own. */
  limits?: CgroupLimits;
  /** Its own cgroup, whose CPU and memory figures are the server's; absent when the machine offers none (figures then come from /proc). */
  cgroup?: TargetCgroup;
}

export interface TargetService {
  protocol: ProtocolName;
  port: number;
  endpoint: string;
}

export interface VmInfo {
  /** What qemu was started with: 'kvm' only when a test guest ran under it (see vm.ts). */
  accel: 'kvm' | 'tcg';
  /** Why that accelerator: what was tried and what it gave. */
  accelReason: string;
  cpus: number;
  memoryBytes: number;
  kernel: string | undefined;
  initrd: string | undefined;
  disk: string | undefined;
  /** The kernel command line after substitution. */
  append: string | undefined;
  /** The guest's serial console, as qemu writes it. */
  console: string;
  tap: string;
  bridge: string;
  mac: string;
  /** qemu's argv, run inside the server namespace. */
  qemu: string[];
}

export interface TargetStatus extends RunningTarget {
  alive: boolean;
}

const RECORD = 'target.json';

/** sh -c: write $$ to the first $1 files after it, then exec the rest of the arguments. */
const ENTER_CGROUP = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"';
const PORTS: Record<ProtocolName, number> = { http: 80, dns: 53 };
const TLS_PORT = 853;
const HTTPS_PORT = 443;

/** The testbed's certificate for DNS over TLS and HTTPS: self-signed for the server host's address, so it is its own CA (`--ca TLS_CERT`). */
export const TLS_CERT = join(STATE_DIR, 'tls', 'cert.pem');
const TLS_KEY = join(STATE_DIR, 'tls', 'key.pem');

/** Make the certificate once per testbed (it lives in STATE_DIR, so `down` removes it). */
async function testbedCertificate(): Promise<{ cert: string; key: string }> {
  if (existsSync(TLS_CERT) && existsSync(TLS_KEY)) return { cert: TLS_CERT, key: TLS_KEY };
  const openssl = findBinary('openssl');
  if (openssl === undefined) throw new EnvironmentError('DNS over TLS needs a certificate made with openssl: apt-get install openssl');
  mkdirSync(join(STATE_DIR, 'tls'), { recursive: true });
  // prettier-ignore
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650',
    '-subj', '/CN=tsload testbed', '-addext', `subjectAltName=IP:${SERVER.address}`, '-keyout', TLS_KEY, '-out', TLS_CERT];
  const result = await run(openssl, args);
  if (result.code !== 0) throw new EnvironmentError(`openssl could not make the testbed certificate: ${result.stderr.trim()}`);
  return { cert: TLS_CERT, key: TLS_KEY };
}

export function endpointFor(protocol: ProtocolName, port: number, address: string = SERVER.address): string {
  return protocol === 'http' ? `http://${address}${port === 80 ? '' : `:${port}`}/` : `${address}:${port}`;
}

export function readTargets(): TargetStatus[] {
  if (!existsSync(TARGETS_DIR)) return [];
  const targets: TargetStatus[] = [];
  for (const name of readdirSync(TARGETS_DIR).sort()) {
    const file = join(TARGETS_DIR, name, RECORD);
    if (!existsSync(file)) continue;
    const record = JSON.parse(readFileSync(file, 'utf8')) as RunningTarget;
    targets.push({ ...record, alive: isAlive(record.pid, record.startTime) });
  }
  return targets;
}

function unprivilegedUser(): { user: string; group: string } {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  const groups = readFileSync('/etc/group', 'utf8');
  const has = (db: string, name: string): boolean => db.split('\n').some((l) => l.startsWith(`${name}:`));
  if (has(passwd, 'www-data') && has(groups, 'www-data')) return { user: 'www-data', group: 'www-data' };
  return { user: 'nobody', group: has(groups, 'nogroup') ? 'nogroup' : 'nobody' };
}

/** The hard RLIMIT_NOFILE the servers inherit (Node cannot getrlimit: read /proc), capped at 65536. */
function fileLimit(): number {
  const line = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const hard = line?.[1] === 'unlimited' ? Infinity : Number(line?.[1]);
  return Number.isFinite(hard) && hard > 0 ? Math.min(hard, 65536) : 1024;
}

export function logTail(file: string, lines = 20): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text === '' ? '(log is empty)' : text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Start a target in the server host and wait until it answers from the
 * client host: any HTTP response to GET /, or a NOERROR answer to a query
 * for the zone's SOA. On any failure the target is stopped, its record
 * removed, and a ServerStartError carries the end of its log.
 */
export async function startTarget(name: TargetName, options: StartOptions, ip: string): Promise<RunningTarget> {
  const definition = SERVERS[name];
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new OptionsError([`--workers ${workers}: expected an integer from 1 to 64`]);
  if (definition.binary === undefined && workers !== 1) {
    throw new OptionsError([`--workers: ${name} runs as one process; it takes no --workers`]);
  }
  const problems: string[] = [];
  const limits: CgroupLimits = {
    cpus: options.cpus === undefined ? null : resolveCpus(options.cpus, availableCpus(), problems),
    memoryBytes: options.memory === undefined ? null : parseMemorySize(options.memory, problems),
  };
  if (problems.length > 0) throw new OptionsError(problems);

  for (const other of readTargets()) {
    if (!other.alive) {
      // It died on its own: forget it (its cgroup is empty now, so it can go too).
      if (other.cgroup !== undefined) await removeCgroupWhenEmpty(other.cgroup, 0);
      rmSync(join(other.dir, RECORD), { force: true });
    } else if (other.name === name) {
      throw new ServerStartError(`${name} is already running (pid ${other.pid}); stop it first`);
    } else if (other.kind !== 'vm' && other.protocol === definition.protocol) {
      // A VM serves on its own address, so it never holds the server host's ports.
      throw new ServerStartError(`${other.name} is already serving port ${other.port} on ${SERVER.address} (pid ${other.pid}); stop it first`);
    }
  }

  let command: string[];
  if (definition.binary === undefined) {
    const cli = cliCommand();
    command = [cli.command, ...cli.args];
  } else {
    const binary = findBinary(definition.binary);
    if (binary === undefined) throw new EnvironmentError(`${name}: server binary ${definition.binary} missing: apt-get install ${definition.package}`);
    command = [binary];
  }

  const dir = join(TARGETS_DIR, name);
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ['', 'run', 'tmp', 'db']) mkdirSync(join(dir, sub), { recursive: true });

  const port = PORTS[definition.protocol];
  const context: ServerContext = {
    dir,
    address: SERVER.address,
    port,
    workers,
    www: '',
    zoneFile: '',
    origin: '',
    fileLimit: fileLimit(),
    ...unprivilegedUser(),
    tlsCert: '',
    tlsKey: '',
    tlsPort: TLS_PORT,
    httpsPort: HTTPS_PORT,
  };
  const record: Partial<RunningTarget> = {};
  if (definition.https === true) {
    const made = await testbedCertificate();
    context.tlsCert = made.cert;
    context.tlsKey = made.key;
    record.https = { endpoint: `https://${SERVER.address}/`, ca: made.cert };
  }
  if (definition.protocol === 'http') {
    context.www = options.root === undefined ? WWW_DIR : resolve(options.root);
    if (!existsSync(context.www) || !statSync(context.www).isDirectory()) {
      throw new OptionsError([`--root ${context.www}: not a directory`]);
    }
    record.root = context.www;
  } else {
    const zone = resolve(options.zone ?? join(FIXTURES_DIR, 'test.zone'));
    // The zone reader finds the origin as the servers will ($ORIGIN, the SOA owner), and rejects a zone they would refuse.
    const origin = lowerName(loadZone(zone, options.origin === undefined ? {} : { origin: options.origin }).origin);
    // The servers read a private copy: none of them can then write to (or lock) the user's file.
    context.zoneFile = join(dir, 'zone.db');
    cpSync(zone, context.zoneFile);
    context.origin = origin;
    record.zone = zone;
    record.origin = origin;
    if (definition.tls === true) {
      const tls = await testbedCertificate();
      context.tlsCert = tls.cert;
      context.tlsKey = tls.key;
      record.tlsEndpoint = `${SERVER.address}:${TLS_PORT}`;
    }
  }

  const files = definition.files(context);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  command.push(...definition.args(context));

  const cgroup = createTargetCgroup(`${CGROUP_PREFIX}-${name}`, limits);
  // A shell puts itself in the cgroup and then execs the rest: the server is
  // in the group before it forks any worker, and keeps the shell's pid.
  const enter = cgroup === null ? [] : ['/bin/sh', '-c', ENTER_CGROUP, 'sh', String(cgroup.procsFiles.length), ...cgroup.procsFiles];
  const log = join(dir, 'log');
  const logFd = openSync(log, 'a');
  // `ip netns exec` execs the server in place, so the pid we get is the server's;
  // detached makes it a session and process-group leader whose whole group
  // (nginx/apache children included) we can signal at once.
  const [program, ...programArgs] = [...enter, ip, 'netns', 'exec', SERVER.namespace, ...command] as [string, ...string[]];
  const child = spawn(program, programArgs, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    // The built-ins resolve `--import tsx` from the working directory: the package root.
    cwd: definition.binary === undefined ? resolve(FIXTURES_DIR, '..') : dir,
  });
  closeSync(logFd);
  const spawnError = new Promise<Error>((resolveError) => child.once('error', resolveError));
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    if (cgroup !== null) await removeCgroupWhenEmpty(cgroup);
    throw new ServerStartError(`${name}: could not start ${command[0]}: ${(await spawnError).message}`);
  }
  let exited: string | undefined;
  child.once('exit', (code, sig) => {
    exited = sig === null ? `exited with status ${code}` : `was killed by ${sig}`;
  });

  const running: RunningTarget = {
    name,
    protocol: definition.protocol,
    pid,
    startTime: procStat(pid)?.startTime ?? 0,
    address: SERVER.address,
    port,
    endpoint: endpointFor(definition.protocol, port),
    command,
    dir,
    config: Object.keys(files)[0] === undefined ? undefined : join(dir, Object.keys(files)[0]!),
    log,
    workers,
    ...record,
    startedAt: new Date().toISOString(),
    ...(cgroup === null ? {} : { limits, cgroup }),
  };
  // Written before the readiness wait, so that `down` finds it even if this process dies meanwhile.
  writeFileSync(join(dir, RECORD), `${JSON.stringify(running, null, 2)}\n`);

  try {
    await waitReady(running, options.readyTimeoutMs ?? 20_000, () => exited);
  } catch (error) {
    await killTarget(running);
    if (cgroup !== null) await removeCgroupWhenEmpty(cgroup);
    rmSync(join(dir, RECORD), { force: true });
    throw new ServerStartError(`${name} did not become ready: ${(error as Error).message}\n--- end of ${log} ---\n${logTail(log)}`, { cause: error });
  }
  return running;
}

async function waitReady(target: RunningTarget, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A DNS server that answers, but not NOERROR, for its own SOA has not loaded
  // the zone: allow it a few seconds (zones load after the sockets open), not the whole deadline.
  let wrongAnswerSince: number | undefined;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const gone = exited();
    if (gone !== undefined) throw new Error(`the server ${gone}`);
    if (!isAlive(target.pid, target.startTime)) throw new Error('the server is no longer running');
    if (target.protocol === 'http') {
      const r = await probe({ mode: 'http', host: target.address, port: target.port, path: '/', count: 1, timeoutMs: 1000 });
      if (r.errors === 0) return;
      last = r.firstError ?? 'no response';
    } else {
      const r = await probe({ mode: 'dns', host: target.address, port: target.port, name: target.origin ?? '', qtype: 6, count: 1, ratePerSecond: 1, waitMs: 500 });
      if ((r.rcodes.NOERROR ?? 0) > 0) return;
      if (r.answered > 0) {
        last = `answers ${Object.keys(r.rcodes).join(',')} for ${target.origin} SOA (the zone did not load?)`;
        wrongAnswerSince ??= Date.now();
        if (Date.now() - wrongAnswerSince > 3000) throw new Error(last);
      }
    }
    await sleep(100);
  }
  throw new Error(`no ready answer within ${timeoutMs / 1000} s (${last})`);
}

/** Stop a target's whole process group; throws if anything survives SIGKILL. */
export async function killTarget(target: RunningTarget): Promise<void> {
  // A damaged record must never aim at init or at our own group: kill(-1) signals every process, kill(0) our own group.
  if (!Number.isSafeInteger(target.pid) || target.pid <= 1) return;
  const leader = procStat(target.pid);
  // The pid was reused by an unrelated process: ours is long gone, and so is its group id.
  if (leader !== undefined && leader.startTime !== target.startTime) return;
  const gone = await terminate(
    () => groupMembers(target.pid),
    (sig) => signal(-target.pid, sig),
  );
  if (!gone) throw new TsloadError(`${target.name}: processes ${groupMembers(target.pid).join(', ')} survived SIGKILL`);
}

/** Stop the named targets (or all); returns the records of those that were running. */
export async function stopTargets(which: TargetName | 'all'): Promise<TargetStatus[]> {
  const stopped: TargetStatus[] = [];
  for (const target of readTargets()) {
    if (which !== 'all' && target.name !== which) continue;
    await killTarget(target);
    if (target.cgroup !== undefined && !(await removeCgroupWhenEmpty(target.cgroup))) {
      throw new TsloadError(`${target.name}: its cgroup ${target.cgroup.dirs.join(', ')} is still in use after its processes ended`);
    }
    rmSync(join(target.dir, RECORD), { force: true });
    stopped.push(target);
  }
  return stopped;
}
