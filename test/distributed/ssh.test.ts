/**
 * The ssh and pdsh recipes of docs/distributed.md, run as written there
 * (with a loopback target and a shorter, lighter run) on this machine: an
 * `ssh` on PATH runs its command here through a shell, as sshd would run it
 * on the host named. pdsh's part is skipped, saying so, without pdsh.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpResult } from '../../src/result.js';
import { startHttpTarget, type HttpTarget } from '../../src/targets/http.js';
import { findBinary } from '../../src/testbed/system.js';

const root = new URL('../..', import.meta.url).pathname;
const RATE = 2000;
const DURATION_S = 2;

/** The sh blocks of the doc's "ssh, pdsh" section, in order. */
function recipes(): string[] {
  const doc = readFileSync(join(root, 'docs', 'distributed.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### ssh, pdsh'));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The recipe with this test's target and run: each replaced text must be there, or the doc changed under the test. */
function adapt(recipe: string, url: string): string {
  const replacements: [string | RegExp, string][] = [
    [/^target=\S+$/m, `target=${url}`],
    ['--rate 10000 --duration 30s', `--rate ${RATE} --duration ${DURATION_S}s`],
  ];
  let script = recipe;
  for (const [from, to] of replacements) {
    expect(script, `the recipe has ${String(from)}`).toMatch(from);
    script = script.replace(from, to);
  }
  return script;
}

const hasPdsh = findBinary('pdsh') !== undefined;
if (!hasPdsh) console.warn('test/distributed/ssh.test.ts: the pdsh recipe skipped: no pdsh (apt-get install pdsh)');

describe('the ssh and pdsh recipes of docs/distributed.md', { timeout: 60_000 }, () => {
  let target: HttpTarget;
  const dir = mkdtempSync(join(tmpdir(), 'tsload-ssh-'));
  const path = join(dir, 'bin');

  beforeAll(async () => {
    target = await startHttpTarget({});
    mkdirSync(path);
    // ssh HOST COMMAND…: sshd joins the words and gives them to the user's shell on HOST; here, this machine's.
    writeFileSync(join(path, 'ssh'), '#!/bin/sh\nshift\nexec sh -c "$*"\n');
    chmodSync(join(path, 'ssh'), 0o755);
    symlinkSync(join(root, 'bin', 'tsload.js'), join(path, 'tsload'));
  });
  afterAll(async () => {
    await target.close();
  });

  async function runRecipe(recipe: string, name: string): Promise<HttpResult> {
    const cwd = mkdtempSync(join(dir, `${name}-`));
    const env = { ...process.env, PATH: `${path}:${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-euo', 'pipefail', '-c', adapt(recipe, `${target.url}/`)], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve({ code: c, stderr: err });
      });
    });
    expect(code, stderr).toBe(0);
    return JSON.parse(readFileSync(join(cwd, 'run.json'), 'utf8')) as HttpResult;
  }

  function expectWholeRun(merged: HttpResult): void {
    expect(merged.generators!.map((g) => g.segment)).toEqual([1, 2, 3, 4].map((index) => expect.objectContaining({ index, count: 4, source: 'option' })));
    const step = merged.steps[0]!;
    expect(step.targetRate).toBe(RATE);
    expect(step.sent).toBe(RATE * DURATION_S);
    expect(step.completed).toBe(step.sent);
  }

  it('the ssh loop: four generators, one segment each, merged', async () => {
    const blocks = recipes();
    expect(blocks).toHaveLength(2);
    expectWholeRun(await runRecipe(blocks[0]!, 'ssh'));
  });

  it.skipIf(!hasPdsh)('pdsh -R exec: the same, each host its rank', async () => {
    expectWholeRun(await runRecipe(recipes()[1]!, 'pdsh'));
  });
});
