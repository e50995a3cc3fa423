/**
 * A real results folder, laid out as `tsload experiment` writes it
 * (src/experiment/manifest.ts), from short real runs on loopback: built-in
 * targets in child processes, measured by runHttp/runDns, repeats
 * interleaved (r1: every target, r2: every target, …).
 *
 * The targets are chosen so the summary has something true to find:
 * - workload "burn" (HTTP): "fast" spends 200 µs of CPU per request, "slow"
 *   2500 µs (at most about 400 replies/s), over 100, 250 and 500 req/s. The
 *   fast one passes every step (its saturation is a floor), the slow one fails
 *   at 500/s: fast over slow is at least 1.
 * - workload "zone" (DNS): two identical built-in DNS servers, "dns-a" and
 *   "dns-b": no real difference, and the comparison must say so.
 * - "down" is an HTTP target that is not running: its cells fail, as a target
 *   that would not start does, and have no result file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDns, runHttp } from '../../src/run.js';
import { spawnTarget, type SpawnedTarget } from '../../src/targets/child.js';
import { VERSION } from '../../src/version.js';
import { MANIFEST_SCHEMA, type ManifestCell } from '../../src/experiment/manifest.js';
import type { Result } from '../../src/result.js';
import { startHttpTarget } from '../../src/targets/http.js';

export const ZONE = fileURLToPath(new URL('../../fixtures/test.zone', import.meta.url));
export const REPEATS = 3;
export const HTTP_RATES = [100, 250, 500];
export const DNS_RATES = [200, 400];
export const BURN_US = { fast: 200, slow: 2500 } as const;

interface FixtureTarget {
  name: string;
  workload: 'burn' | 'zone';
  protocol: 'http' | 'dns';
  run(): Promise<Result>;
}

/** The manifest as the layout has it (typed here, not with the runner's richer types: this is a writer of the JSON). */
export interface FixtureManifest {
  schema: typeof MANIFEST_SCHEMA;
  planFile: string | null;
  plan: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  machine: { hostname: string; kernel: string; os: string; cpu: string; cpus: number; memoryBytes: number; node: string };
  versions: { tsload: string; servers: Record<string, string> };
  testbed: Record<string, unknown>;
  cells: ManifestCell[];
}

export interface ResultsFolder {
  dir: string;
  manifest: FixtureManifest;
}

export const sweep = { duration: 500, warmup: 250, timeout: '1s' } as const;

export async function buildResultsFolder(dir: string): Promise<ResultsFolder> {
  const servers: SpawnedTarget[] = [];
  try {
    const fast = await spawnTarget('http', ['--listen', '127.0.0.1:0']);
    servers.push(fast);
    const slow = await spawnTarget('http', ['--listen', '127.0.0.1:0']);
    servers.push(slow);
    const dnsA = await spawnTarget('dns', ['--zone', ZONE, '--listen', '127.0.0.1:0']);
    servers.push(dnsA);
    const dnsB = await spawnTarget('dns', ['--zone', ZONE, '--listen', '127.0.0.1:0']);
    servers.push(dnsB);
    // A port that was listening and is not any more: connection refused, as a target that died.
    const gone = await startHttpTarget({});
    const goneUrl = gone.url;
    await gone.close();

    const http = (url: string, us: number) => () => runHttp({ ...sweep, url: `${url}/_tsload/burn?us=${us}`, rate: HTTP_RATES, connections: 16 });
    const dns = (server: string) => () => runDns({ ...sweep, server, zone: ZONE, rate: DNS_RATES });
    const targets: FixtureTarget[] = [
      { name: 'fast', workload: 'burn', protocol: 'http', run: http(fast.address, BURN_US.fast) },
      { name: 'slow', workload: 'burn', protocol: 'http', run: http(slow.address, BURN_US.slow) },
      { name: 'down', workload: 'burn', protocol: 'http', run: http(goneUrl, BURN_US.fast) },
      { name: 'dns-a', workload: 'zone', protocol: 'dns', run: dns(dnsA.address) },
      { name: 'dns-b', workload: 'zone', protocol: 'dns', run: dns(dnsB.address) },
    ];

    await mkdir(join(dir, 'cells'), { recursive: true });
    const createdAt = new Date().toISOString();
    const cells: ManifestCell[] = [];
    for (let repeat = 1; repeat <= REPEATS; repeat++) {
      for (const t of targets) {
        const id = `${t.name}--${t.workload}--r${repeat}`;
        const cell: ManifestCell = { id, target: t.name, workload: t.workload, repeat, protocol: t.protocol, file: `cells/${id}.json`, status: 'pending', startedAt: new Date().toISOString() };
        try {
          const result = await t.run();
          result.label = t.name;
          await writeFile(join(dir, cell.file), `${JSON.stringify(result, null, 2)}\n`);
          cell.status = 'done';
        } catch (error) {
          cell.status = 'failed';
          cell.error = (error as Error).message;
        }
        cell.finishedAt = new Date().toISOString();
        cells.push(cell);
      }
    }
    const manifest: FixtureManifest = {
      schema: MANIFEST_SCHEMA,
      planFile: null,
      plan: {
        name: 'summary-fixture',
        repeats: REPEATS,
        targets: targets.map((t) => ({ name: t.name })),
        workloads: [
          { name: 'burn', protocol: 'http', rate: HTTP_RATES },
          { name: 'zone', protocol: 'dns', zone: ZONE, rate: DNS_RATES },
        ],
      },
      createdAt,
      updatedAt: new Date().toISOString(),
      machine: { hostname: hostname(), kernel: release(), os: 'loopback fixture', cpu: cpus()[0]?.model ?? 'unknown', cpus: cpus().length, memoryBytes: totalmem(), node: process.versions.node },
      versions: { tsload: VERSION, servers: Object.fromEntries(targets.map((t) => [t.name, `built-in ${VERSION}`])) },
      testbed: { link: 'loopback' },
      cells,
    };
    await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    return { dir, manifest };
  } finally {
    for (const s of servers) await s.stop();
  }
}
