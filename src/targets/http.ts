/**
 * The built-in HTTP target: static files from memory plus a few endpoints
 * under /_tsload/ whose cost and timing tests control from the URL. It is a
 * test target, not a web server: no logging, no range requests, no caching
 * headers.
 */
import { createServer } from 'node:http';
import { createSecureServer, createServer as createH2cServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ServerStartError } from '../errors.js';
import { isLoopbackHost } from '../util/endpoint.js';

export interface HttpTargetOptions {
  /** Default (and for ''): 127.0.0.1, so nothing is reachable from the network unless asked for. */
  host?: string;
  port?: number;
  /** Directory of static files, read into memory at start. Defaults to the package's fixtures/www. */
  root?: string;
  /** Serve HTTPS with this certificate and key (PEM): HTTP/2 by ALPN, and HTTP/1.1 for clients that do not offer h2. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Over cleartext, serve HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1 (there is no negotiation without TLS). */
  h2c?: boolean;
  /**
   * Serve the /_tsload/ test endpoints (delay, status, bytes, freeze, burn).
   * Default: only on a loopback host, since one request to freeze or burn
   * stalls the whole process; beyond loopback they answer 403 unless this is true.
   */
  testEndpoints?: boolean;
}

/** What the handlers need of a request and a response, common to node:http and node:http2's compatibility API. */
interface Req {
  url?: string;
  method?: string;
}
interface Res {
  writeHead(status: number, headers?: Record<string, string>): unknown;
  end(): unknown;
  end(body: Buffer | string): unknown;
  req: Req;
}

export interface HttpTarget {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  host: string;
  port: number;
  /** Whether /_tsload/ is served (see HttpTargetOptions.testEndpoints). */
  testEndpoints: boolean;
  /** Requests received since the start, every endpoint and file (a soak checks its client's count against it). */
  stats(): { requests: number };
  close(): Promise<void>;
}

/** fixtures/www of the package: two levels up from both src/targets and dist/targets. */
export const defaultRoot = fileURLToPath(new URL('../../fixtures/www/', import.meta.url));

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
};
const defaultType = 'application/octet-stream';

interface StaticFile {
  body: Buffer;
  headers: Record<string, string>;
}

/** Caps on endpoint parameters so a typo cannot hang a test run or exhaust memory. */
const maxDelayMs = 600_000;
const maxFreezeMs = 60_000;
const maxBurnUs = 10_000_000;
const maxBytes = 256 * 1024 * 1024;
const maxCachedBodies = 64;

export async function startHttpTarget(o: HttpTargetOptions = {}): Promise<HttpTarget> {
  // '' would make node listen on every address: the same as no host, loopback.
  const host = o.host === undefined || o.host === '' ? '127.0.0.1' : o.host;
  const testEndpoints = o.testEndpoints ?? isLoopbackHost(host);
  const endpointsOff = `test endpoints are off: this target listens on ${host}, beyond loopback; start it with --test-endpoints (library: testEndpoints: true) to serve /_tsload/\n`;
  const root = o.root ?? defaultRoot;
  let files: Map<string, StaticFile>;
  try {
    files = await loadFiles(root);
  } catch (error) {
    throw new ServerStartError(`cannot read ${root}: ${(error as Error).message}`, { cause: error });
  }

  const delayed = await DelayedReplies.start();
  const bodies = new Map<number, Buffer>();
  const frozen = new Int32Array(new SharedArrayBuffer(4));

  let requests = 0;
  const handle = (req: Req, res: Res): void => {
    requests++;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path.startsWith('/_tsload/')) {
      if (!testEndpoints) return reply(res, 403, endpointsOff);
      endpoint(path.slice(9), q < 0 ? '' : url.slice(q + 1), req, res);
      return;
    }
    const file = files.get(path);
    if (file === undefined) {
      reply(res, 404, 'not found\n');
      return;
    }
    res.writeHead(200, file.headers);
    if (req.method === 'HEAD') res.end();
    else res.end(file.body);
  };
  // Streams beyond node:http2's default of 100 per connection, so a client's --streams is what limits them.
  const settings = { maxConcurrentStreams: 10_000 };
  const server =
    o.tls !== undefined
      ? createSecureServer({ cert: o.tls.cert, key: o.tls.key, allowHTTP1: true, settings }, handle)
      : o.h2c === true
        ? createH2cServer({ settings }, handle)
        : createServer({ keepAlive: true, noDelay: true }, handle);
  // Load tests reuse connections for minutes and may send any number of requests on each
  // (node:http2 takes the same settings for the HTTP/1.1 connections of allowHTTP1).
  Object.assign(server, { keepAliveTimeout: 120_000, maxRequestsPerSocket: 0, headersTimeout: 60_000, requestTimeout: 0 });
  // node:http2's servers have no closeAllConnections.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  function endpoint(name: string, query: string, req: Req, res: Res): void {
    switch (name) {
      case 'delay': {
        const ms = param(query, 'ms', 0, maxDelayMs);
        if (ms === undefined) return reply(res, 400, 'ms must be an integer 0..600000\n');
        delayed.add(ms, res);
        return;
      }
      case 'status': {
        const code = param(query, 'code', 200, 599);
        if (code === undefined) return reply(res, 400, 'code must be an integer 200..599\n');
        return reply(res, code, `status ${code}\n`);
      }
      case 'bytes': {
        const n = param(query, 'n', 0, maxBytes);
        if (n === undefined) return reply(res, 400, `n must be an integer 0..${maxBytes}\n`);
        let body = bodies.get(n);
        if (body === undefined) {
          body = Buffer.alloc(n, 'a');
          if (bodies.size < maxCachedBodies) bodies.set(n, body);
        }
        res.writeHead(200, { 'content-type': defaultType, 'content-length': String(n) });
        if (req.method === 'HEAD') res.end();
        else res.end(body);
        return;
      }
      case 'freeze': {
        const ms = param(query, 'ms', 0, maxFreezeMs);
        if (ms === undefined) return reply(res, 400, `ms must be an integer 0..${maxFreezeMs}\n`);
        // Stops the event loop without burning a core: nothing is accepted, read or answered meanwhile.
        Atomics.wait(frozen, 0, 0, ms);
        return reply(res, 200, `froze ${ms} ms\n`);
      }
      case 'burn': {
        // The process's CPU time, not wall time: a request costs the server exactly `us` of CPU
        // (what the testbed's server-side figures are checked against), however often the
        // machine preempts it. The other threads of this process (the timer thread) sleep.
        const us = param(query, 'us', 0, maxBurnUs);
        if (us === undefined) return reply(res, 400, `us must be an integer 0..${maxBurnUs}\n`);
        const start = process.cpuUsage();
        while (cpuMicros(process.cpuUsage(start)) < us);
        return reply(res, 200, `burned ${us} us\n`);
      }
      default:
        return reply(res, 404, 'unknown endpoint\n');
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new ServerStartError(`cannot listen on ${host}:${o.port ?? 0}: ${error.message}`, { cause: error })));
      server.listen(o.port ?? 0, host, () => resolve());
    });
  } catch (error) {
    await delayed.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `${o.tls === undefined ? 'http' : 'https'}://${urlHost}:${port}`,
    host,
    port,
    testEndpoints,
    stats: () => ({ requests }),
    close: () =>
      Promise.all([
        new Promise<void>((resolve, reject) => {
          server.close((error?: Error) => (error ? reject(error) : resolve()));
          for (const socket of sockets) socket.destroy();
        }),
        delayed.close(),
      ]).then(() => undefined),
  };
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

/**
 * Monotonic milliseconds on a clock every thread of the process shares
 * (performance.now() counts from each thread's own start).
 */
function clockMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/**
 * The timer thread of DelayedReplies, as plain JS so it loads the same from
 * src and dist. Node's timers count whole milliseconds and fire up to a
 * millisecond or two late, and spinning until the deadline costs a core;
 * Atomics.wait takes a fractional timeout and sleeps in the kernel. The main
 * thread publishes the earliest due time in `earliest` and bumps `state[0]`
 * whenever it changes, which ends any wait; `state[1]` asks the thread to stop.
 * After one wake-up message the thread waits for the main thread's answer
 * (the next generation), so messages never pile up behind a busy event loop.
 */
const timerThreadSource = `
const { workerData, parentPort } = require('node:worker_threads');
const state = new Int32Array(workerData, 0, 2);
const earliest = new Float64Array(workerData, 8, 1);
while (Atomics.load(state, 1) === 0) {
  const generation = Atomics.load(state, 0);
  const due = earliest[0];
  const t = process.hrtime();
  const wait = due - (t[0] * 1e3 + t[1] / 1e6);
  if (wait <= 0) {
    parentPort.postMessage(generation);
    Atomics.wait(state, 0, generation);
  } else {
    Atomics.wait(state, 0, generation, wait);
  }
}
`;

interface Delayed {
  due: number;
  ms: number;
  res: Res;
}

/**
 * Replies held until an exact time: a min-heap by due time on the main
 * thread, and a timer thread that sleeps until the earliest and wakes the
 * main thread with a message. A reply is never sent before its due time by
 * the main thread's own clock reading.
 */
class DelayedReplies {
  private readonly heap: Delayed[] = [];
  private readonly state: Int32Array;
  private readonly earliest: Float64Array;
  /** What `earliest` holds, so an add that does not change it costs no notify. */
  private published = Infinity;
  private closed = false;

  private constructor(private readonly worker: Worker, shared: SharedArrayBuffer) {
    this.state = new Int32Array(shared, 0, 2);
    this.earliest = new Float64Array(shared, 8, 1);
    worker.on('message', () => this.flush());
  }

  static async start(): Promise<DelayedReplies> {
    const shared = new SharedArrayBuffer(16);
    new Float64Array(shared, 8, 1)[0] = Infinity;
    // No execArgv: the thread needs none of the parent's loaders or flags.
    const worker = new Worker(timerThreadSource, { eval: true, workerData: shared, execArgv: [] });
    // Waiting for it here means the first delayed request is as exact as the rest.
    await new Promise<void>((resolve, reject) => {
      // Removed once it runs, so a later failure of the thread is an uncaught error, not silence.
      const fail = (error: Error): void => reject(error);
      worker.once('error', fail);
      worker.once('online', () => {
        worker.off('error', fail);
        resolve();
      });
    });
    // A server keeps the process alive; the timer thread alone must not.
    worker.unref();
    return new DelayedReplies(worker, shared);
  }

  add(ms: number, res: Res): void {
    const due = clockMs() + ms;
    const entry: Delayed = { due, ms, res };
    const heap = this.heap;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.due <= due) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
    if (due < this.published) this.publish(due);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.heap.length = 0;
    Atomics.store(this.state, 1, 1);
    Atomics.notify(this.state, 0);
    await this.worker.terminate();
  }

  private flush(): void {
    if (this.closed) return;
    const heap = this.heap;
    // The clock is read again for each reply: sending takes time, and more may fall due meanwhile.
    while (heap.length > 0 && heap[0]!.due <= clockMs()) {
      const { ms, res } = this.pop();
      reply(res, 200, `delayed ${ms} ms\n`);
    }
    // Always, even if unchanged: the timer thread waits for a new generation after each message.
    this.publish(heap.length > 0 ? heap[0]!.due : Infinity);
  }

  private pop(): Delayed {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && heap[right]!.due < heap[left]!.due ? right : left;
        if (heap[child]!.due >= last.due) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }

  private publish(due: number): void {
    this.published = due;
    this.earliest[0] = due;
    Atomics.add(this.state, 0, 1);
    Atomics.notify(this.state, 0);
  }
}

function reply(res: Res, status: number, text: string): void {
  // 204 and 304 carry no body by definition, so no length either.
  if (status === 204 || status === 304) {
    res.writeHead(status);
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
  if (res.req.method === 'HEAD') res.end();
  else res.end(text);
}

/** Integer value of `name` in a query string, or undefined when missing, malformed or outside [min, max]. */
function param(query: string, name: string, min: number, max: number): number | undefined {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq) !== name) continue;
    const text = pair.slice(eq + 1);
    if (!/^\d{1,10}$/.test(text)) return undefined;
    const value = Number(text);
    return value >= min && value <= max ? value : undefined;
  }
  return undefined;
}

/** Every regular file under root by URL path; a directory's index.html also answers for the directory. */
async function loadFiles(root: string): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const path = relative(root, full).split(sep).join('/');
    const body = await readFile(full);
    const file: StaticFile = {
      body,
      headers: {
        'content-type': contentTypes[extname(entry.name).toLowerCase()] ?? defaultType,
        'content-length': String(body.length),
      },
    };
    files.set(`/${path}`, file);
    if (entry.name === 'index.html') {
      const dir = path.slice(0, -'index.html'.length);
      files.set(`/${dir}`, file);
    }
  }
  return files;
}
