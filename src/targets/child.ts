/**
 * Runs a built-in target (`tsload serve http|dns`) in a child process, so the
 * load it serves does not share an event loop or a core with the generator.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cliCommand } from '../cli-command.js';
import { ServerStartError } from '../errors.js';

export interface SpawnedTarget {
  /** A URL for http, host:port for dns, as the child printed it. */
  address: string;
  child: ChildProcess;
  /** Stop the child (SIGTERM, then SIGKILL after 5 s) and wait for it to exit. */
  stop(): Promise<void>;
}

const readyTimeoutMs = 10_000;
const killTimeoutMs = 5_000;

/**
 * Spawn `tsload serve <kind> ...args` and wait for its ready line,
 * `tsload: <kind> target listening on <address>`. `command` replaces the CLI
 * (for tests of this function alone).
 */
export async function spawnTarget(
  kind: 'http' | 'dns',
  args: string[],
  command: { command: string; args: string[] } = cliCommand(),
): Promise<SpawnedTarget> {
  const child = spawn(command.command, [...command.args, 'serve', kind, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const stop = async (): Promise<void> => {
    // No pid: the spawn itself failed and there is nothing to wait for.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killTimeoutMs);
      await exited;
      clearTimeout(timer);
    }
  };

  const ready = new RegExp(`^tsload: ${kind} target listening on (\\S+)\\s*$`);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    // Keep the tail only: it holds the reason when the child dies.
    stderr = (stderr + chunk).slice(-4000);
  });

  try {
    const address = await new Promise<string>((resolve, reject) => {
      let pending = '';
      const timer = setTimeout(
        () => reject(new ServerStartError(`${kind} target printed no ready line within ${readyTimeoutMs / 1000} s${tail(stderr)}`)),
        readyTimeoutMs,
      );
      const onData = (chunk: string): void => {
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const match = ready.exec(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
          if (match?.[1] !== undefined) {
            finish();
            resolve(match[1]);
            return;
          }
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        finish();
        reject(new ServerStartError(`${kind} target exited (${signal ?? `code ${code}`}) before it was ready${tail(stderr)}`));
      };
      const onError = (error: Error): void => {
        finish();
        reject(new ServerStartError(`cannot start ${kind} target: ${error.message}`, { cause: error }));
      };
      function finish(): void {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
      }
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
    });
    // Keep draining so a chatty child never blocks on a full pipe.
    child.stdout.resume();
    return { address, child, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function tail(stderr: string): string {
  const text = stderr.trim();
  return text === '' ? '' : `:\n${text}`;
}
