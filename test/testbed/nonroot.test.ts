/**
 * `tsload testbed` without root: every subcommand refuses at once with one
 * clear line and exit 2, and leaves nothing behind. Run as root, the CLI is
 * started as nobody (setpriv); run as another user, as that user.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVERS, type ServerContext } from '../../src/testbed/servers.js';
import { CLIENT, SERVER, STATE_DIR } from '../../src/testbed/settings.js';
import { findBinary } from '../../src/testbed/system.js';

const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'bin', 'tsload.js');
const isRoot = process.getuid?.() === 0;
const setpriv = findBinary('setpriv');
const skip = isRoot && setpriv === undefined ? 'root without setpriv (util-linux) to drop to nobody' : undefined;
if (skip !== undefined) console.warn(`test/testbed/nonroot.test.ts: skipped: ${skip}`);

// Writable by nobody: a refused experiment must not create its folder there either.
const scratch = mkdtempSync(join(tmpdir(), 'tsload-nonroot-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function unprivileged(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, argv] = isRoot
    ? [setpriv!, ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, bin, ...args]]
    : [process.execPath, [bin, ...args]];
  return new Promise((resolve) => {
    execFile(command, argv, { cwd: root, env: { ...process.env, HOME: scratch }, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function namespaces(): Promise<string[]> {
  const ip = findBinary('ip');
  if (ip === undefined) return [];
  return new Promise((resolve) => execFile(ip, ['netns', 'list'], (_e, stdout) => resolve(stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n !== ''))));
}

const commands = [
  ['testbed', 'up'],
  ['testbed', 'up', '--rate', '100mbit', '--clients', '2'],
  ['testbed', 'down'],
  ['testbed', 'status'],
  ['testbed', 'status', '--json'],
  ['testbed', 'start', 'builtin-http'],
  ['testbed', 'start', 'nsd', '--workers', '2'],
  ['testbed', 'start', 'vm', '--kernel', '/nonexistent/kernel'],
  ['testbed', 'stop', 'nginx'],
  ['testbed', 'stop', '--all'],
  ['http', '--testbed', '--rate', '10', '--duration', '1s', '-q'],
  ['experiment', join(root, 'fixtures', 'experiments', 'ci.yaml'), '-o', join(scratch, 'results'), '-q'],
];

describe.skipIf(skip !== undefined)('the testbed without root', () => {
  it.each(commands.map((c) => [c.join(' '), c] as const))('tsload %s: refuses with exit 2 and one line saying it needs root', async (_name, args) => {
    const before = await namespaces();
    const stateBefore = existsSync(STATE_DIR);
    const run = await unprivileged(args);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/^tsload: the testbed needs root: .*\(run it with sudo\)\n$/);
    expect(run.stdout).toBe('');
    // Nothing of this testbed was made (whatever other testbeds on the machine do meanwhile).
    const made = (await namespaces()).filter((n) => !before.includes(n) && [CLIENT.namespace, SERVER.namespace].some((ours) => n.startsWith(ours)));
    expect(made).toEqual([]);
    expect(existsSync(join(scratch, 'results'))).toBe(false);
    expect(existsSync(STATE_DIR)).toBe(stateBefore);
  }, 60_000);
});

describe('the testbed\'s built-in HTTP target', () => {
  it('is started with --test-endpoints: it listens beyond loopback, and the testbed\'s own runs use burn, delay and bytes', () => {
    const args = SERVERS['builtin-http'].args({ address: SERVER.address, port: 80, www: '/www' } as ServerContext);
    expect(args).toContain('--test-endpoints');
    expect(args.slice(0, 4)).toEqual(['serve', 'http', '--listen', `${SERVER.address}:80`]);
  });
});
