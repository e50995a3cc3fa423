/**
 * Startup: `import 'tsload'` and `tsload --help` must answer at once. The
 * charting libraries, the HTTP client, the thread pool and the codecs load
 * only when something needs them; these tests fail if one of them slips back
 * onto an eager import chain.
 *
 * They run the built dist/ (npm test builds it before vitest).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const distUrl = `${pathToFileURL(dist).href}/`;
const LIMIT_MS = 150;
/**
 * What the CLI's help may add to a bare `node -e 0`: commander and the CLI
 * module. Loading the library for it, as the CLI once did, adds several times this.
 */
const HELP_OVER_NODE_MS = 100;
/** A busy machine only makes a run slower, so the fastest of a few is the one to judge. */
const RUNS = 5;

/** Packages that are slow to load and that neither an import of the library nor the CLI's help may load. */
const HEAVY = ['vega', 'vega-lite', 'undici', 'piscina', 'hdr-histogram-js', 'dns-packet'];

function node(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const run = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  return { stdout: run.stdout, stderr: run.stderr, status: run.status };
}

function fastest(measure: () => number): number {
  return Math.min(...Array.from({ length: RUNS }, measure));
}

/**
 * A module script that runs `body` and prints, as JSON, every module it loaded:
 * ESM through a resolve hook (it runs in its own thread, hence the port) and
 * CommonJS from the require cache.
 */
function tracing(body: string): string {
  const hooks = [
    'let port;',
    'export function initialize(data) { port = data.port; }',
    'export async function resolve(specifier, context, next) { const r = await next(specifier, context); port.postMessage(r.url); return r; }',
  ].join('\n');
  return `
    import { createRequire, register } from 'node:module';
    import { MessageChannel } from 'node:worker_threads';
    const { port1, port2 } = new MessageChannel();
    const seen = [];
    port1.on('message', (url) => seen.push(url));
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}), { data: { port: port2 }, transferList: [port2] });
    ${body}
    await new Promise((resolve) => setTimeout(resolve, 100));
    port1.close();
    const cjs = Object.keys(createRequire(import.meta.url).cache);
    process.stderr.write('\\n@@' + JSON.stringify([...seen, ...cjs]) + '\\n');
  `;
}

function loadedBy(body: string): string[] {
  const run = node(['--input-type=module', '-e', tracing(body)]);
  expect(run.status, run.stderr).toBe(0);
  const line = run.stderr.split('\n').find((l) => l.startsWith('@@'));
  expect(line, run.stderr).toBeDefined();
  return JSON.parse(line!.slice(2)) as string[];
}

/** The heavy packages among loaded modules (dns-packet's small table of type names is allowed). */
function heavyIn(loaded: readonly string[]): string[] {
  const names = loaded.flatMap((url) => {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
    return m && HEAVY.includes(m[1]!) && !(m[1] === 'dns-packet' && m[2] === 'types.js') ? [m[1]!] : [];
  });
  return [...new Set(names)].sort();
}

/** Newest modification time under `dir` of files ending in `ext`. */
function newest(dir: string, ext: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) t = Math.max(t, newest(path, ext));
    else if (entry.name.endsWith(ext)) t = Math.max(t, statSync(path).mtimeMs);
  }
  return t;
}

describe('startup', () => {
  beforeAll(() => {
    // A stale build would time yesterday's code.
    if (!existsSync(join(dist, 'index.js')) || newest(join(root, 'src'), '.ts') > newest(dist, '.js')) {
      throw new Error('dist/ is missing or older than src/: run `npm run build` (npm test does)');
    }
  });

  it('importing the library loads none of the heavy packages', () => {
    const loaded = loadedBy(`await import(${JSON.stringify(join(dist, 'index.js'))});`);
    expect(loaded.some((url) => url.endsWith('/dist/index.js'))).toBe(true);
    expect(heavyIn(loaded)).toEqual([]);
  });

  it('--help and usage errors load neither the library nor any heavy package', () => {
    // A bad --format is known only from the protocol's record, so those two may load the records, but no heavy package.
    const formatErrors = [['http', '--format', 'xml'], ['dns', '--format', 'httperf']];
    for (const args of [['--help'], ['http', '--help'], ['http', '--bogus'], ...formatErrors]) {
      const loaded = loadedBy(`
        const { main } = await import(${JSON.stringify(join(dist, 'cli.js'))});
        process.stdout.write = () => true;
        process.stderr.write = () => true;
        await main(['node', 'tsload', ...${JSON.stringify(args)}]);
        delete process.stdout.write;
        delete process.stderr.write;
      `);
      const ours = loaded.filter((url) => url.startsWith(distUrl)).map((url) => `dist/${url.slice(distUrl.length)}`);
      if (!formatErrors.includes(args)) expect(ours.sort(), args.join(' ')).toEqual(['dist/cli.js', 'dist/errors.js', 'dist/util/endpoint.js', 'dist/version.js']);
      expect(heavyIn(loaded), args.join(' ')).toEqual([]);
    }
  });

  it(`importing the library takes under ${LIMIT_MS} ms`, () => {
    const script = `const t = performance.now(); await import(${JSON.stringify(join(dist, 'index.js'))}); console.log(performance.now() - t);`;
    const ms = fastest(() => {
      const run = node(['--input-type=module', '-e', script]);
      expect(run.status, run.stderr).toBe(0);
      return Number(run.stdout.trim());
    });
    expect(ms).toBeLessThan(LIMIT_MS);
  });

  // Node's own start on this kind of machine is most of 150 ms already, and it is not
  // tsload's to cut: judge what tsload adds to it, side by side in the same minute.
  it(`tsload --help adds under ${HELP_OVER_NODE_MS} ms to node's own start`, () => {
    const timed = (args: string[]): { ms: number; run: ReturnType<typeof node> } => {
      const t = performance.now();
      const run = node(args);
      return { ms: performance.now() - t, run };
    };
    // Interleaved, so both see the same minute of the machine; the fastest of each is judged.
    let bare = Infinity;
    let help = Infinity;
    for (let i = 0; i < RUNS; i++) {
      const b = timed(['-e', '0']);
      expect(b.run.status).toBe(0);
      bare = Math.min(bare, b.ms);
      const h = timed([join(dist, 'cli.js'), '--help']);
      expect(h.run.status, h.run.stderr).toBe(0);
      expect(h.run.stdout).toMatch(/^Usage: tsload/);
      help = Math.min(help, h.ms);
    }
    console.log(`node -e 0: ${bare.toFixed(1)} ms; tsload --help: ${help.toFixed(1)} ms (fastest of ${RUNS})`);
    expect(help - bare).toBeLessThan(HELP_OVER_NODE_MS);
  });
});
