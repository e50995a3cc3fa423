/**
 * Process plumbing for the testbed: running `ip`/`tc`/`nft` without a shell,
 * finding binaries in the sbin directories a non-login PATH often lacks, and
 * telling our own processes apart from whatever reused their pid.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EnvironmentError, TsloadError } from '../errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit status; -1 when the process was killed (timeout) or did not start. */
  code: number;
}

/** Run a command without a shell; never rejects for a non-zero exit (callers decide). */
export function run(
  command: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, cwd: options.cwd, encoding: 'utf8' },
      (error, stdout, stderr) => {
        let code = 0;
        if (error) {
          const status = (error as { code?: unknown }).code;
          code = typeof status === 'number' ? status : -1;
          if (code === -1 && stderr === '') stderr = error.message;
        }
        resolve({ stdout, stderr, code });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like run, but a non-zero exit is an error carrying the command's stderr. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new TsloadError(`${[command, ...args].join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

// Debian puts ip, tc, nft and the servers in sbin, which sudo and non-login
// shells do not always have on PATH.
const extraDirs = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Absolute paths of ip and tc, or an EnvironmentError naming what is missing (exit 2). */
export function requireRootAndIproute(): { ip: string; tc: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new EnvironmentError('the testbed needs root: it creates network namespaces, links and qdiscs (run it with sudo)');
  }
  const ip = findBinary('ip');
  const tc = findBinary('tc');
  if (ip === undefined || tc === undefined) {
    throw new EnvironmentError(`the testbed needs \`${ip === undefined ? 'ip' : 'tc'}\`: apt-get install iproute2`);
  }
  return { ip, tc };
}

export interface ProcStat {
  pid: number;
  /** One-letter state; 'Z' is a zombie (already dead). */
  state: string;
  pgrp: number;
  /** Clock ticks since boot at which the process started: with the pid, an identity that survives pid reuse. */
  startTime: number;
}

export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0] ?? '?';
  return { pid, state, pgrp: Number(fields[2]), startTime: Number(fields[19]) };
}

export function isAlive(pid: number, startTime?: number): boolean {
  const stat = procStat(pid);
  if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** Live members of a process group (the targets are started as group leaders). */
export function groupMembers(pgrp: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat !== undefined && stat.pgrp === pgrp && stat.state !== 'Z' && stat.state !== 'X') members.push(stat.pid);
  }
  return members;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    // ESRCH: already gone, which is what we want.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Ask `pids()` to go away: SIGTERM, then SIGKILL after termMs; resolves true
 * when nothing is left. `send` delivers a signal (to a group or to each pid).
 */
export async function terminate(
  pids: () => number[],
  send: (sig: NodeJS.Signals) => void,
  termMs = 5_000,
  killMs = 2_000,
): Promise<boolean> {
  if (pids().length === 0) return true;
  send('SIGTERM');
  if (await waitUntilGone(pids, termMs)) return true;
  send('SIGKILL');
  return waitUntilGone(pids, killMs);
}

async function waitUntilGone(pids: () => number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pids().length === 0) return true;
    await sleep(25);
  }
  return pids().length === 0;
}
