/**
 * A VM target in an experiment plan, written like any other: the Unikraft
 * unikernel of ../shared/unikernels (or $TSLOAD_UNIKERNELS), HTTP on 80 and
 * DNS on 53, beside the built-in servers, two interleaved repeats. The
 * runner boots the guest for each repeat, measures it (the server's side is
 * qemu's process), and leaves no qemu, tap or bridge. Needs root, iproute2
 * and qemu-system-x86_64; skipped, saying why, without them or the image.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlan, planCells, readExperiment, type ExperimentManifest } from '../../src/experiment/index.js';
import { summarize } from '../../src/experiment/summary.js';
import { down, status } from '../../src/testbed/index.js';
import { run } from '../../src/testbed/system.js';
import { SERVER } from '../../src/testbed/settings.js';
import { testbedSkipReason } from '../testbed-skip.js';

const execFileP = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'bin', 'tsload.js');
const zone = join(root, 'fixtures', 'test.zone');

const unikernels = [process.env.TSLOAD_UNIKERNELS, resolve(root, '..', 'shared', 'unikernels')].find(
  (dir): dir is string => dir !== undefined && dir !== '' && existsSync(join(dir, 'uktarget_qemu-x86_64')),
);
const skipReason =
  testbedSkipReason(['qemu-system-x86_64']) ??
  (unikernels === undefined ? `no uktarget_qemu-x86_64 in $TSLOAD_UNIKERNELS or ${resolve(root, '..', 'shared', 'unikernels')}` : undefined);
if (skipReason !== undefined) console.warn(`test/experiment/vm-plan.test.ts: skipped: ${skipReason}`);

const RATES = [100, 300];

describe('fixtures/experiments/unikernels.yaml', () => {
  it('reads: the Unikraft guest beside nginx and NSD, its kernel where the shared folder keeps it', () => {
    const plan = loadPlan(join(root, 'fixtures', 'experiments', 'unikernels.yaml'));
    expect(plan.targets.map((t) => [t.name, t.protocols])).toEqual([['unikraft', ['http', 'dns']], ['nginx', ['http']], ['nsd', ['dns']]]);
    expect(plan.targets[0]!.vm!.kernel).toBe(resolve(root, '..', 'shared', 'unikernels', 'uktarget_qemu-x86_64'));
    expect(planCells(plan)).toHaveLength(4 * plan.repeats);
  });
});

describe.skipIf(skipReason !== undefined)('a unikernel target in an experiment plan (root)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsload-vmplan-'));
    if ((await status()).up) await down();
  });
  afterAll(async () => {
    await down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots the guest for each repeat, measures it beside the built-in servers, and leaves no qemu, tap or bridge', async () => {
    const file = join(dir, 'plan.yaml');
    writeFileSync(
      file,
      `
name: unikernel-vs-builtin
repeats: 2
sweep: { rate: [${RATES.join(', ')}], duration: 1s, warmup: 0.5s }
targets:
  - name: unikraft
    vm:
      kernel: ${join(unikernels!, 'uktarget_qemu-x86_64')}
      append: 'netdev.ipv4_addr={address} netdev.ipv4_gw_addr={gateway} netdev.ipv4_subnet_mask={netmask} --'
      memory: 256M
      ports: { http: 80, dns: 53 }
      readyTimeout: 30
  - builtin-http
  - builtin-dns
workloads:
  - { name: page, protocol: http, path: /, options: { connections: 8 } }
  - { name: zone, protocol: dns, zone: ${zone} }
`,
    );
    const out = mkdtempSync(join(dir, 'results-'));
    const { stdout, stderr } = await execFileP(process.execPath, [bin, 'experiment', file, '-o', out], { timeout: 150_000 });
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as ExperimentManifest;
    expect(manifest.cells.map((c) => [c.id, c.status]), stderr).toEqual(
      [1, 2].flatMap((r) => [[`unikraft--page--r${r}`, 'done'], [`unikraft--zone--r${r}`, 'done'], [`builtin-http--page--r${r}`, 'done'], [`builtin-dns--zone--r${r}`, 'done']]),
    );

    const { cells } = readExperiment(out);
    for (const { cell, result } of cells.filter((c) => c.cell.target === 'unikraft')) {
      const target = result.testbedTarget!;
      expect(target).toMatchObject({ name: 'unikraft', kind: 'vm', vm: { cpus: 1, memoryBytes: 256 * 2 ** 20 } });
      expect(['kvm', 'tcg']).toContain(target.vm!.accel);
      expect(target.vm!.accelReason).not.toBe('');
      expect(result.steps.map((s) => s.targetRate)).toEqual(RATES);
      for (const step of result.steps) {
        const measured = `${cell.id} at ${step.targetRate}/s: sent ${step.sent}, completed ${step.completed}, errors ${step.errors.total}, p50 ${step.latencyMs.p50} ms`;
        expect(step.completed, measured).toBeGreaterThanOrEqual(Math.floor(step.sent * 0.99));
        // The server's side of a VM is qemu's process: it did the guest's work.
        expect(step.server?.target, measured).toBe('unikraft');
        expect(step.server!.cpuS, measured).toBeGreaterThan(0);
        expect(step.server!.rssBytes.max, measured).toBeGreaterThan(2 ** 20);
      }
    }
    // A fresh guest each repeat: the runner took it down after the repeat's workloads.
    expect(stderr.match(/cell \d+\/8 unikraft\/page r\d · starting/g)?.length ?? 0, stderr).toBeGreaterThanOrEqual(2);

    // Nothing left: no qemu of the testbed, no tap, no bridge, no testbed.
    const qemus = (await run('pgrep', ['-f', 'qemu-system-x86_64 -name tsload-unikraft'])).stdout.trim();
    expect(qemus).toBe('');
    expect((await status()).up).toBe(false);
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(SERVER.namespace);

    // The summary compares the unikernel with the built-in servers, over both protocols.
    const summary = summarize(readExperiment(out));
    expect(summary.workloads.map((w) => [w.workload, w.targets.map((t) => t.target).sort()])).toEqual([
      ['page', ['builtin-http', 'unikraft']],
      ['zone', ['builtin-dns', 'unikraft']],
    ]);
    for (const w of summary.workloads) expect(w.comparisons.map((c) => [c.a, c.b].sort())).toEqual([[`builtin-${w.workload === 'page' ? 'http' : 'dns'}`, 'unikraft']]);
    expect(stdout).toMatch(/unikraft vs builtin-http|builtin-http vs unikraft/);
    expect(readdirSync(out).sort()).toEqual(['cells', 'logs', 'manifest.json', 'report.html', 'summary.csv', 'summary.json']);
  }, 180_000);
});
