/**
 * The results folder's manifest (a contract with the summary and its
 * reports): the plan, the machine, the versions of tsload and of every
 * server, the testbed's settings, and every cell in run order.
 *
 *   <out>/manifest.json
 *   <out>/cells/<id>.json   one Result, written when the cell finishes
 *   <out>/logs/<id>.log     the target's log tail, for a failed cell
 *   <out>/cells/<id>.parts/g<i>.json   a workload with generators: N, each generator's result
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { basename } from 'node:path';
import type { ProtocolName } from '../protocols/index.js';
import type { LinkSettings } from '../testbed/settings.js';
import { SERVERS } from '../testbed/servers.js';
import { findBinary, run } from '../testbed/system.js';
import { VERSION } from '../version.js';
import type { Plan, PlanTarget } from './plan.js';

export const MANIFEST_SCHEMA = 'tsload-experiment/1';

export interface ManifestCell {
  id: string;
  target: string;
  workload: string;
  repeat: number;
  protocol: ProtocolName;
  /** cells/<id>.json, relative to the folder. */
  file: string;
  status: 'done' | 'pending' | 'failed';
  error?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface Machine {
  hostname: string;
  /** uname -r */
  kernel: string;
  /** PRETTY_NAME of /etc/os-release */
  os: string;
  cpu: string;
  cpus: number;
  memoryBytes: number;
  node: string;
}

/** One invocation of the command on this folder: which cells it ran and which it found done. */
export interface ManifestRun {
  startedAt: string;
  /** Absent until the run ends: a run without it crashed (or is still going: see pid). */
  finishedAt?: string;
  pid?: number;
  /** This run brought the testbed up (and takes it down); a run resuming a crashed one inherits the duty. */
  testbedBroughtUp?: boolean;
  ran: string[];
  skipped: string[];
  failed: string[];
  interrupted: boolean;
}

export interface ExperimentManifest {
  schema: typeof MANIFEST_SCHEMA;
  planFile: string | null;
  plan: Plan;
  createdAt: string;
  updatedAt: string;
  machine: Machine;
  versions: { tsload: string; servers: Record<string, string> };
  testbed: LinkSettings;
  cells: ManifestCell[];
  /** Every invocation, oldest first (so a resume says what it skipped). */
  runs: ManifestRun[];
}

export function machineInfo(): Machine {
  let os = 'unknown';
  try {
    const line = /^PRETTY_NAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    if (line !== undefined) os = line.replace(/^"(.*)"$/, '$1');
  } catch {
    // not Linux, or a minimal container: said as unknown
  }
  const cpuList = cpus();
  return { hostname: hostname(), kernel: release(), os, cpu: cpuList[0]?.model.trim() ?? 'unknown', cpus: cpuList.length, memoryBytes: totalmem(), node: process.version };
}

// The flag each server prints its version with; they print it on stdout or stderr.
const VERSION_FLAGS: Record<string, string> = { nginx: '-v', apache2: '-v', lighttpd: '-v', named: '-v', nsd: '-v', knotd: '-V' };

/** A server's version line as it prints it ('nginx version: nginx/1.22.1'); the built-ins are tsload's. */
export async function serverVersion(target: PlanTarget): Promise<string> {
  if (target.vm !== undefined) {
    // What boots is the guest's version: its kernel, or the disk an OSv image boots from.
    const image = (target.vm.kernel ?? target.vm.disk)!;
    const digest = await sha256(image);
    return `${basename(image)} ${digest.ok ? `sha256:${digest.hex.slice(0, 16)}` : `(unreadable: ${digest.hex})`}`;
  }
  const binaryName = SERVERS[target.server!].binary;
  if (binaryName === undefined) return `tsload ${VERSION} (built-in)`;
  const binary = findBinary(binaryName);
  if (binary === undefined) return `missing (${binaryName} not installed)`;
  const out = await run(binary, [VERSION_FLAGS[binaryName] ?? '-v'], { timeoutMs: 10_000 });
  const line = `${out.stdout}\n${out.stderr}`.split('\n').map((l) => l.trim()).find((l) => l !== '');
  return line ?? `unknown (${binaryName} ${VERSION_FLAGS[binaryName] ?? '-v'} printed nothing)`;
}

async function sha256(file: string): Promise<{ ok: boolean; hex: string }> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    return { ok: true, hex: hash.digest('hex') };
  } catch (error) {
    return { ok: false, hex: (error as NodeJS.ErrnoException).code ?? 'error' };
  }
}
