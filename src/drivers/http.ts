/**
 * The HTTP driver: undici's low-level dispatch() on a keep-alive Pool.
 *
 * Hot path: send() takes a preallocated handler object for its token and a
 * prebuilt request description, and dispatches. Handlers use undici's legacy
 * callbacks (onConnect/onHeaders/onData/onComplete/onError) because undici
 * passes those straight through, while the newer controller API costs a
 * wrapper, a controller and a parsed header object per request.
 *
 * The driver never lets undici queue: at most connections × pipelining
 * requests are dispatched, the rest wait here in send order. A request that
 * times out while waiting is simply dropped from that queue; had undici queued
 * it, cancelling it would have cost a connection (undici can only abort a
 * request by destroying its socket).
 */
import { connect as netConnect } from 'node:net';
import { Client, Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { OptionsError, TargetUnreachableError } from '../errors.js';
import { Failure, failureOf } from './driver.js';
import type { Completion, Driver, DriverContext, DriverCounters } from './driver.js';

export interface HttpDriverOptions {
  /** Target URL; its origin is where every request goes. */
  url: string;
  /** Request targets sent round robin (absolute URLs or paths resolved against `url`); defaults to `url` alone. */
  urls?: string[];
  method: string;
  headers: [string, string][];
  body?: string;
  /** Total across threads; each thread opens its share. */
  connections: number;
  /** Requests in flight per connection (1 = no pipelining). */
  pipelining: number;
  /** httperf's default: a fresh TCP connection per request, closed by the client after the reply. */
  newConnectionPerRequest: boolean;
}

/** Problems with `url` and `urls` (empty when they are fine). */
export function checkHttpTargets(o: { url: string; urls?: string[] }): string[] {
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    return [`url ${JSON.stringify(o.url)} is not a valid URL`];
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') return [`url ${o.url} must start with http:// or https://`];
  const problems: string[] = [];
  if (base.username !== '' || base.password !== '') problems.push(`url ${o.url}: credentials in the URL are not supported (send an authorization header)`);
  for (const entry of o.urls ?? []) {
    let target: URL;
    try {
      target = new URL(entry, base);
    } catch {
      problems.push(`url list entry ${JSON.stringify(entry)} is not a valid URL or path`);
      continue;
    }
    if (target.origin !== base.origin) problems.push(`url list entry ${entry} is not on ${base.origin} (all requests go to one origin)`);
  }
  if (o.urls !== undefined && o.urls.length === 0) problems.push('url list is empty');
  return problems;
}

const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const badValuePattern = /[\0\r\n]/;
/** Headers undici sets itself or refuses. */
const reservedHeaders = new Set(['transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'content-length']);

/** Every problem with a set of driver options (targets, method, headers, counts). */
export function checkHttpOptions(o: HttpDriverOptions): string[] {
  const problems = checkHttpTargets(o);
  if (!tokenPattern.test(o.method)) problems.push(`method ${JSON.stringify(o.method)} is not a valid HTTP method`);
  if (o.method === 'CONNECT') problems.push('method CONNECT is not supported');
  for (const [name, value] of o.headers) {
    if (!tokenPattern.test(name)) problems.push(`header name ${JSON.stringify(name)} is not valid`);
    else if (reservedHeaders.has(name.toLowerCase())) problems.push(`header ${name} is set by tsload and cannot be given`);
    if (badValuePattern.test(value)) problems.push(`header ${name} has a value with a line break or NUL`);
  }
  if (!Number.isInteger(o.connections) || o.connections < 1) problems.push(`connections must be an integer >= 1 (got ${o.connections})`);
  if (!Number.isInteger(o.pipelining) || o.pipelining < 1) problems.push(`pipelining must be an integer >= 1 (got ${o.pipelining})`);
  if (o.newConnectionPerRequest && o.pipelining > 1) problems.push('a new connection per request cannot be combined with pipelining');
  return problems;
}

/** Connections thread `threadIndex` of `threadCount` opens: the total split as evenly as possible, at least one. */
export function connectionShare(total: number, threadIndex: number, threadCount: number): number {
  const base = Math.floor(total / threadCount);
  return Math.max(1, base + (threadIndex < total - base * threadCount ? 1 : 0));
}

/** Methods for which undici sends content-length: 0 with an empty body. */
const payloadMethods = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);

/**
 * Bytes undici writes for one request: it builds the head as
 * `METHOD path HTTP/1.1`, host, connection, the given headers in order,
 * content-length, blank line; then the body. Mirrors undici 7's writeH1.
 */
function requestSize(method: string, path: string, base: URL, close: boolean, headers: [string, string][], body: Buffer): number {
  let host = `${base.hostname}${base.port === '' ? '' : `:${base.port}`}`;
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let rest = '';
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === 'host') host = value;
    else if (lower !== 'connection') rest += `${name}: ${value}\r\n`;
  }
  head += `host: ${host}\r\n${close ? 'connection: close' : 'connection: keep-alive'}\r\n${rest}`;
  if (body.length > 0 || payloadMethods.has(method)) head += `content-length: ${body.length}\r\n`;
  return Buffer.byteLength(`${head}\r\n`, 'latin1') + body.length;
}

const NIL = -1;
const IDLE = 0;
const WAITING = 1;
const DISPATCHED = 2;

type Abort = (error?: Error) => void;

/** Error given to undici when tsload aborts an overdue request (undici only reports it back to the orphaned handler). */
const timeoutAbort = Object.assign(new Error('tsload: request timed out'), { code: 'TSLOAD_TIMEOUT' });

/**
 * One in-flight request's undici handler. A handler stays with its token and
 * is reused by every request on that token; one whose request timed out is
 * orphaned (token -1) until undici finishes with it, then recycled.
 */
class Handler {
  token = NIL;
  request = 0;
  status = 0;
  abort: Abort | null = null;
  /** Its own connection, in the new-connection-per-request mode. */
  client: Client | null = null;
  /** Between dispatch and undici's last callback; guards against a second end (undici reports a throwing callback as an error). */
  active = false;
  constructor(private readonly d: HttpDriver) {}

  onConnect(abort: Abort): void {
    // Orphaned while undici still held it queued: cancel before it is written.
    if (this.token === NIL) return abort(timeoutAbort);
    this.abort = abort;
    this.d.wrote(this.request);
  }

  onHeaders(status: number, rawHeaders: Buffer[], _resume: () => void, statusText: string): boolean {
    this.status = status;
    // "HTTP/1.1 200 " + text + CRLF, each "name: value" + CRLF, final CRLF.
    let size = 15 + statusText.length + 2;
    for (const field of rawHeaders) size += field.length + 2;
    this.d.replyHeaderBytes += size;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.d.replyBodyBytes += chunk.length;
    return true;
  }

  onComplete(): void {
    this.d.ended(this, this.status);
  }

  onError(error: Error): void {
    this.d.ended(this, failureOf(error));
  }
}

class HttpDriver implements Driver {
  private readonly pool: Pool;
  /** Set in the new-connection-per-request mode: each request gets a Client of its own. */
  private readonly origin: string | undefined;
  private readonly requests: Dispatcher.DispatchOptions[];
  private readonly requestBytes: number[];
  private next = 0;
  private readonly capacity: number;
  /** Requests undici holds (dispatched, not yet ended). */
  private busy = 0;
  private closed = false;
  private sweeping = false;

  private readonly handlers: (Handler | undefined)[];
  private readonly spare: Handler[] = [];
  private readonly state: Uint8Array;
  /** In-flight tokens (waiting or dispatched) as a list in send order, so the timeout sweep only looks at the oldest. */
  private readonly sentAt: Float64Array;
  private readonly prev: Int32Array;
  private readonly nextOf: Int32Array;
  private head = NIL;
  private tail = NIL;
  /** Tokens waiting for a free connection, FIFO ring. */
  private readonly waiting: Int32Array;
  private waitHead = 0;
  private waitCount = 0;
  private readonly sweeper: NodeJS.Timeout | undefined;

  connections = 0;
  bytesSent = 0;
  requestsWritten = 0;
  replyHeaderBytes = 0;
  replyBodyBytes = 0;

  constructor(
    o: HttpDriverOptions,
    private readonly completion: Completion,
    private readonly timeoutMs: number,
    maxInflight: number,
    share: number,
  ) {
    const base = new URL(o.url);
    const body = Buffer.from(o.body ?? '');
    const flatHeaders = o.headers.flat();
    const close = o.headers.some(([n, v]) => n.toLowerCase() === 'connection' && /\bclose\b/i.test(v));
    const targets = o.urls ?? [o.url];
    this.requests = [];
    this.requestBytes = [];
    for (const target of targets) {
      const u = new URL(target, base);
      const path = `${u.pathname}${u.search}`;
      this.requests.push({
        path,
        method: o.method as Dispatcher.HttpMethod,
        headers: flatHeaders,
        body: body.length > 0 ? body : null,
        // Always explicit: left unset, undici would also close the connection after every HEAD.
        // A new connection per request still asks for keep-alive: httperf's artifact is that the
        // client closes first, so TIME_WAIT lands on the client (see dispatch).
        reset: false,
        // Replies are read whole and small; let pipelined requests go out without waiting for headers.
        blocking: false,
      });
      this.requestBytes.push(requestSize(o.method, path, base, close, o.headers, body));
    }

    this.capacity = share * o.pipelining;
    this.pool = new Pool(base.origin, {
      connections: share,
      pipelining: o.pipelining,
      // The driver enforces its own timeout from the send; undici's per-request timers would only add cost.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.pool.on('connect', this.onConnect);
    this.origin = o.newConnectionPerRequest ? base.origin : undefined;

    this.handlers = new Array<Handler | undefined>(maxInflight);
    this.state = new Uint8Array(maxInflight);
    this.sentAt = new Float64Array(maxInflight);
    this.prev = new Int32Array(maxInflight);
    this.nextOf = new Int32Array(maxInflight);
    this.waiting = new Int32Array(maxInflight);
    if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
      // Coarse on purpose: a timeout is reported at most one period late.
      const period = Math.min(50, Math.max(10, Math.round(timeoutMs / 20)));
      this.sweeper = setInterval(() => this.sweep(), period);
      this.sweeper.unref();
    }
  }

  send(token: number): void {
    if (this.closed) return;
    this.state[token] = WAITING;
    this.sentAt[token] = performance.now();
    this.prev[token] = this.tail;
    this.nextOf[token] = NIL;
    if (this.tail === NIL) this.head = token;
    else this.nextOf[this.tail] = token;
    this.tail = token;
    if (this.busy < this.capacity && this.waitCount === 0) this.dispatch(token);
    else this.waiting[(this.waitHead + this.waitCount++) % this.waiting.length] = token;
  }

  private dispatch(token: number): void {
    let h = this.handlers[token];
    if (h === undefined) h = this.handlers[token] = this.spare.pop() ?? new Handler(this);
    h.token = token;
    h.status = 0;
    h.abort = null;
    h.active = true;
    const i = this.next;
    this.next = i + 1 === this.requests.length ? 0 : i + 1;
    h.request = i;
    this.state[token] = DISPATCHED;
    this.busy++;
    if (this.origin !== undefined) {
      // httperf's default, on purpose: a connection for this request alone, which the
      // client closes as soon as the reply is in (see ended), leaving it in TIME_WAIT.
      h.client = new Client(this.origin, { pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
      h.client.on('connect', this.onConnect);
      h.client.dispatch(this.requests[i]!, h);
    } else {
      this.pool.dispatch(this.requests[i]!, h);
    }
  }

  private readonly onConnect = (): void => {
    this.connections++;
  };

  /** undici is writing handler's request now. */
  wrote(request: number): void {
    this.requestsWritten++;
    this.bytesSent += this.requestBytes[request]!;
  }

  /** undici is done with a handler: reply or failure. */
  ended(h: Handler, code: number): void {
    if (!h.active) return;
    h.active = false;
    this.busy--;
    h.abort = null;
    if (h.client !== null) {
      h.client.destroy().catch(() => {});
      h.client = null;
    }
    const token = h.token;
    if (token === NIL) {
      this.spare.push(h);
    } else {
      h.token = NIL;
      this.unlink(token);
      this.state[token] = IDLE;
    }
    if (this.closed) return;
    // Oldest waiting request first, before the engine can send anew on the freed token.
    if (!this.sweeping) this.pump();
    if (token !== NIL) this.completion.done(token, code);
  }

  private pump(): void {
    while (this.waitCount > 0 && this.busy < this.capacity) {
      const next = this.waiting[this.waitHead]!;
      this.waitHead = (this.waitHead + 1) % this.waiting.length;
      this.waitCount--;
      this.dispatch(next);
    }
  }

  private unlink(token: number): void {
    const p = this.prev[token]!;
    const n = this.nextOf[token]!;
    if (p === NIL) this.head = n;
    else this.nextOf[p] = n;
    if (n === NIL) this.tail = p;
    else this.prev[n] = p;
  }

  private sweep(): void {
    const overdue = performance.now() - this.timeoutMs;
    // Hold the queue until every overdue request is out, so none of them is dispatched only to be aborted.
    this.sweeping = true;
    try {
      this.expire(overdue);
    } finally {
      this.sweeping = false;
    }
    if (!this.closed) this.pump();
  }

  private expire(overdue: number): void {
    while (this.head !== NIL && this.sentAt[this.head]! <= overdue && !this.closed) {
      const token = this.head;
      this.unlink(token);
      if (this.state[token] === WAITING) {
        // Timeouts go in send order and so does the queue: an overdue waiting token is at its head.
        this.waitHead = (this.waitHead + 1) % this.waiting.length;
        this.waitCount--;
      } else {
        const h = this.handlers[token]!;
        this.handlers[token] = undefined;
        h.token = NIL;
        // Aborting destroys the connection (HTTP/1.1 has no other way); undici then calls onError, which recycles h.
        // Without an abort yet the request is still queued in undici, and onConnect cancels it.
        h.abort?.(timeoutAbort);
      }
      this.state[token] = IDLE;
      this.completion.done(token, Failure.timeout);
    }
  }

  counters(): DriverCounters {
    return {
      connections: this.connections,
      bytesSent: this.bytesSent,
      bytesReceived: this.replyHeaderBytes + this.replyBodyBytes,
      requestsWritten: this.requestsWritten,
      replyHeaderBytes: this.replyHeaderBytes,
      replyBodyBytes: this.replyBodyBytes,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    for (const h of this.handlers) {
      if (h === undefined) continue;
      h.token = NIL;
      h.client?.destroy().catch(() => {});
    }
    this.waitCount = 0;
    this.head = this.tail = NIL;
    await this.pool.destroy();
  }
}

export async function createDriver(options: HttpDriverOptions, completion: Completion, context: DriverContext): Promise<Driver> {
  const problems = checkHttpOptions(options);
  if (problems.length > 0) throw new OptionsError(problems);
  const share = connectionShare(options.connections, context.threadIndex, context.threadCount);
  return new HttpDriver(options, completion, context.timeoutMs, context.maxInflight, share);
}

/** Open (and close) one TCP connection to the URL's host and port; throw TargetUnreachableError if that fails. */
export async function probeHttp(url: string, timeoutMs: number): Promise<void> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TargetUnreachableError(url, 'not a valid URL');
  }
  const port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  // URL keeps IPv6 literals bracketed; sockets want them bare.
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TargetUnreachableError(url, `connection timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new TargetUnreachableError(url, describe(error), { cause: error }));
    });
  });
}

function describe(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return 'host not found';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    default:
      return error.message;
  }
}
