/**
 * docs/k8s/tsload-job.yaml, checked without a cluster: against the
 * Kubernetes API types (kubernetes-models; kubectl's client-side dry run
 * needs an API server, and Debian's kubectl 1.20 drops completionMode
 * silently), and by running its container's command line N times here with
 * the variables an Indexed Job's pods get, then merging what they printed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KUBERNETES_COUNT_VARIABLE } from '../../src/engine/launcher.js';
import type { HttpResult } from '../../src/result.js';
import { startHttpTarget, type HttpTarget } from '../../src/targets/http.js';
import { tsload } from '../run-cli.js';

const root = new URL('../..', import.meta.url).pathname;
const manifestFile = join(root, 'docs', 'k8s', 'tsload-job.yaml');
const bin = join(root, 'bin', 'tsload.js');

// What this test changes of the manifest's env: a loopback target, a start a
// few seconds from now, and a short light run (the manifest's is 30 s at 10,000/s).
const RATE = 2000;
const DURATION_S = 2;

type EnvVar = { name: string; value?: string; valueFrom?: unknown };

/** Kubernetes' $(VAR) expansion of command and args: defined names are replaced, $$ escapes, anything else stays as written. */
function expandKubernetes(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) => (name === undefined ? '$' : (env[name] ?? all)));
}

function manifest(): Job {
  return new Job(parse(readFileSync(manifestFile, 'utf8')) as ConstructorParameters<typeof Job>[0]);
}

describe('the Kubernetes Indexed Job manifest (docs/k8s/tsload-job.yaml)', () => {
  it('is a valid batch/v1 Job by the API types', () => {
    expect(() => manifest().validate()).not.toThrow();
  });

  it("is Indexed, all pods at once, and tells tsload the Job's completions", () => {
    const spec = manifest().spec!;
    expect(spec.completionMode).toBe('Indexed');
    expect(spec.completions).toBeGreaterThan(1);
    expect(spec.parallelism).toBe(spec.completions);
    const env = spec.template.spec!.containers[0]!.env as EnvVar[];
    expect(env.find((v) => v.name === KUBERNETES_COUNT_VARIABLE)?.value).toBe(String(spec.completions));
    // The index is the Job controller's to set; a manifest value would give every pod the same one.
    expect(env.some((v) => v.name === 'JOB_COMPLETION_INDEX')).toBe(false);
  });

  it('expands $(VAR) as Kubernetes does', () => {
    expect(expandKubernetes('$(A)-$(B)-$$(A)-$(a.b)', { A: '1', 'a.b': '2' })).toBe('1-$(B)-$(A)-2');
  });
});

describe("the manifest's command line, run as the Job's pods would run it", { timeout: 60_000 }, () => {
  let target: HttpTarget;
  const dir = mkdtempSync(join(tmpdir(), 'tsload-k8s-'));
  const file = (name: string): string => join(dir, name);
  let count = 0;
  const lines: string[][] = [];
  let runs: { code: number | null; stdout: string; stderr: string }[] = [];

  beforeAll(async () => {
    target = await startHttpTarget({});
    const spec = manifest().spec!;
    count = spec.completions!;
    const container = spec.template.spec!.containers[0]!;
    const startAt = Math.ceil((Date.now() + 4000) / 1000) * 1000;
    const overrides: Record<string, string> = { TSLOAD_TARGET: `${target.url}/`, TSLOAD_RATE: String(RATE), TSLOAD_DURATION: `${DURATION_S}s`, TSLOAD_START_AT: new Date(startAt).toISOString() };
    const env: Record<string, string> = {};
    for (const v of container.env as EnvVar[]) {
      if (v.value === undefined) throw new Error(`env ${v.name}: only literal values can be reproduced here`);
      env[v.name] = overrides[v.name] ?? v.value;
    }
    for (const name of Object.keys(overrides)) expect(env, `the manifest sets ${name}`).toHaveProperty(name);
    // Nothing from the machine running the test may say "segment" instead of the Job's variables.
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SLURM_|OMPI_|PMI_)/.test(k)));
    runs = await Promise.all(
      Array.from({ length: count }, (_, index) => {
        const podEnv = { ...env, JOB_COMPLETION_INDEX: String(index) };
        const argv = [...container.command!, ...container.args!].map((a) => expandKubernetes(a, podEnv));
        lines.push(argv);
        expect(argv[0]).toBe('tsload');
        return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [bin, ...argv.slice(1)], { env: { ...base, ...podEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
          child.on('exit', (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr });
          });
        });
      }),
    );
  }, 50_000);
  afterAll(async () => {
    await target.close();
  });

  it('expands to one command line for every pod, with no $(VAR) left', () => {
    expect(lines).toHaveLength(count);
    for (const argv of lines) {
      expect(argv).toEqual(lines[0]);
      expect(argv.join(' ')).not.toMatch(/\$\(/);
    }
  });

  it('gives each pod its segment from JOB_COMPLETION_INDEX and TSLOAD_SEGMENTS, its result alone on stdout', () => {
    runs.forEach((run, index) => {
      expect(run.code, run.stderr).toBe(0);
      // What `kubectl logs` would collect: stdout and stderr together, one JSON document.
      const r = JSON.parse(run.stdout + run.stderr) as HttpResult;
      expect(r.segment).toMatchObject({ index: index + 1, count, source: 'kubernetes' });
      expect(r.steps[0]!.targetRate).toBe(RATE / count);
      writeFileSync(file(`tsload-${index}.json`), run.stdout);
    });
  });

  it('merges into the whole run', async () => {
    const merge = await tsload(['merge', ...Array.from({ length: count }, (_, i) => file(`tsload-${i}.json`)), '-o', file('run.json'), '-q']);
    expect(merge.code, merge.stderr).toBe(0);
    const step = (JSON.parse(readFileSync(file('run.json'), 'utf8')) as HttpResult).steps[0]!;
    expect(step.targetRate).toBe(RATE);
    expect(step.sent).toBe(RATE * DURATION_S);
    expect(step.completed).toBe(step.sent);
    expect(Math.abs(step.sendRate - RATE)).toBeLessThanOrEqual(RATE * 0.02);
  });
});
