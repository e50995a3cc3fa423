/**
 * What http.ts and both HTTP clients share: the options (defined here, below
 * all three, so that none of them imports another for them), the requests as
 * bytes, and the book of requests in flight. The book keeps tokens in send
 * order (so the timeout sweep only looks at the oldest) and holds requests
 * beyond connections × pipelining in a FIFO of its own, so a client never
 * queues internally and a request that times out while waiting is simply
 * dropped, never sent.
 */
import { performance } from 'node:perf_hooks';
import { Failure, FailureReasons } from '../../engine/driver.js';
import type { Completion, Driver } from '../../engine/driver.js';
import type { HttpCounters } from './counters.js';
import type { TlsSettings } from '../tls.js';

export const HTTP_CLIENTS = ['native', 'undici'] as const;
export type HttpClient = (typeof HTTP_CLIENTS)[number];

export interface HttpDriverOptions {
  /** Target URL; its origin is where every request goes. */
  url: string;
  /** Request targets sent round robin (absolute URLs or paths resolved against `url`); defaults to `url` alone. */
  urls?: string[];
  method: string;
  headers: [string, string][];
  body?: string;
  /**
   * A fixed pool: at most this many connections in total across threads (each
   * thread opens its share), as wrk's -c. Requests that find them all busy
   * wait, and the wait is measured. Unset: the pool grows on demand up to
   * `maxConnections`.
   */
  connections?: number;
  /** Without `connections`: the most connections the pool may grow to, in total across threads. */
  maxConnections: number;
  /** Requests in flight per connection (1 = no pipelining). */
  pipelining: number;
  /** httperf's default: a fresh TCP connection per request, closed by the client after the reply. */
  newConnectionPerRequest: boolean;
  /** Which HTTP client sends: tsload's own (http:// only) or undici; by default the own one for http:// and undici for https://. */
  client?: HttpClient;
  /** https:// only: how the server's certificate is checked (checked form of --insecure, --ca, --tls-servername). */
  tls?: TlsSettings;
  /**
   * Speak HTTP/2 (undici only): over https:// offered by ALPN, over http://
   * with prior knowledge (h2c). A connection whose server picks HTTP/1.1
   * carries `pipelining` requests instead of `streams`.
   */
  http2?: boolean;
  /** With `http2`: requests in flight per connection, as concurrent streams (h2load's -m). */
  streams?: number;
  /** Lower-case names of the headers beyond Authorization, Proxy-Authorization and Cookie whose values results show redacted (see secrets.ts); the requests carry them. */
  secretHeaders?: string[];
}

/** The client that will send for these options. */
export function clientOf(o: Pick<HttpDriverOptions, 'url' | 'client' | 'http2' | 'body'>): HttpClient {
  // tsload's own clients cost a fraction of undici's CPU per request; undici covers what they do not: HTTP/1.1 over TLS, HTTP/2 with a body.
  if (o.client !== undefined) return o.client;
  if (o.http2 === true) return (o.body ?? '') === '' ? 'native' : 'undici';
  return /^https:/i.test(o.url) ? 'undici' : 'native';
}

/** Requests in flight a connection of these options carries. */
export function perConnection(o: Pick<HttpDriverOptions, 'http2' | 'streams' | 'pipelining'>): number {
  return o.http2 === true ? (o.streams ?? DEFAULT_STREAMS) : o.pipelining;
}

/**
 * Streams per HTTP/2 connection when none is given: the least that RFC 9113
 * §6.5.2 asks a server to allow, within nginx's default of 128, so one
 * connection carries what an open loop needs at most rates without the pool
 * growing (and the probe lowers it for a server that allows fewer).
 */
export const DEFAULT_STREAMS = 100;

/** One request of the URL list, as the bytes that go on the wire. */
export interface EncodedRequest {
  /** Path and query, as sent in the request line. */
  path: string;
  /** Head and body exactly as written (undici writes the same bytes for the same request). */
  bytes: Buffer;
}

/** Methods for which undici sends content-length: 0 with an empty body; tsload's client does the same. */
const payloadMethods = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);

/**
 * The requests of `o` as bytes: `METHOD path HTTP/1.1`, host, connection, the
 * given headers in order, content-length, blank line, body. This mirrors
 * undici 7's writeH1, so both clients send the same bytes.
 */
export function encodeRequests(o: HttpDriverOptions): EncodedRequest[] {
  const base = new URL(o.url);
  const body = Buffer.from(o.body ?? '');
  let host = `${base.hostname}${base.port === '' ? '' : `:${base.port}`}`;
  let rest = '';
  let close = false;
  for (const [name, value] of o.headers) {
    const lower = name.toLowerCase();
    if (lower === 'host') host = value;
    else if (lower === 'connection') close ||= /\bclose\b/i.test(value);
    else rest += `${name}: ${value}\r\n`;
  }
  const length = body.length > 0 || payloadMethods.has(o.method) ? `content-length: ${body.length}\r\n` : '';
  return (o.urls ?? [o.url]).map((target) => {
    const u = new URL(target, base);
    const path = `${u.pathname}${u.search}`;
    const head = `${o.method} ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: ${close ? 'close' : 'keep-alive'}\r\n${rest}${length}\r\n`;
    return { path, bytes: Buffer.concat([Buffer.from(head, 'latin1'), body]) };
  });
}

/** Host (IPv6 literals unbracketed, as sockets want them) and port of an http:// or https:// URL. */
export function endpointOf(url: URL): { host: string; port: number } {
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * A pool that grows stops growing while the server's time per request is more
 * than SLOWDOWN times the shortest seen (plus SLOWDOWN_SLACK_MS): the server
 * is queueing, and more connections would only move the queue from tsload
 * into the server while each new one costs both of them CPU. Requests then
 * wait in tsload, measured, and the pool grows again once the server keeps
 * its pace. Where the queue is does not change latency from the intended send.
 */
const SLOWDOWN = 4;
const SLOWDOWN_SLACK_MS = 1;
/** Weight of the newest reply in the running service time. */
const RECENT_WEIGHT = 1 / 32;
/**
 * A pool that grows opens at most CONNECT_AT_ONCE connections at a time, or
 * an eighth of those open if more. Opening one costs more than waiting a
 * little for a busy one: after a stall, the requests it held back are served
 * by the open connections sooner than new ones could open, and a connection
 * per request would put tsload behind its schedule, which opens more. The
 * pool still grows by an eighth every connect round trip, so a slow server
 * that needs thousands of connections gets them within tens of round trips.
 */
const CONNECT_AT_ONCE = 2;
const CONNECT_SHARE = 8;

/** May a pool with `open` connections and `opening` more still opening start another? */
export function mayOpen(opening: number, open: number): boolean {
  return opening < Math.max(CONNECT_AT_ONCE, open / CONNECT_SHARE);
}

const NIL = -1;
const IDLE = 0;
const WAITING = 1;
const DISPATCHED = 2;

export abstract class HttpDriverBase implements Driver {
  private closed = false;
  /** Requests the client holds (dispatched, not yet released). */
  protected busy = 0;
  private readonly capacity: number;
  private nextRequest = 0;
  private readonly requestCount: number;
  private sweeping = false;

  private readonly state: Uint8Array;
  /**
   * Dispatched tokens as a list in dispatch order, and when each was
   * dispatched: the server's timeout runs from there. Waiting ones are in
   * `waiting`, with the time they were handed over: a request gives up waiting
   * for a connection after the same timeout, unsent.
   */
  private readonly dispatchedAt: Float64Array;
  private readonly queuedAt: Float64Array;
  private readonly prev: Int32Array;
  private readonly nextOf: Int32Array;
  private head = NIL;
  private tail = NIL;
  /** Tokens waiting for a connection: a ring, oldest at waitHead (a request a dead connection gives back goes in front). */
  private readonly waiting: Int32Array;
  private waitHead = 0;
  private waitCount = 0;
  private readonly sweeper: NodeJS.Timeout | undefined;
  /** Why replies broke the protocol since the engine last asked. */
  private readonly reasons = new FailureReasons();
  /** The shortest time from dispatch to reply seen, and a running mean of recent ones (ms). */
  private serviceMin = Infinity;
  private serviceRecent = 0;

  connections = 0;
  /** Requests that found every connection busy and waited in the book's queue: for new ones to open, or for a free one. */
  waitedForConnection = 0;
  /** Of those, the ones that waited because the pool was at its limit. */
  waitedAtLimit = 0;
  bytesSent = 0;
  requestsWritten = 0;
  replies = 0;
  replyHeaderBytes = 0;
  replyBodyBytes = 0;

  constructor(
    private readonly completion: Completion,
    private readonly timeoutMs: number,
    maxInflight: number,
    capacity: number,
    requestCount: number,
  ) {
    this.capacity = capacity;
    this.requestCount = requestCount;
    this.state = new Uint8Array(maxInflight);
    this.dispatchedAt = new Float64Array(maxInflight);
    this.queuedAt = new Float64Array(maxInflight);
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

  /**
   * Whether the client can take a request now, below the capacity: a client
   * may hold back while its new connections are still opening.
   */
  protected hasRoom(): boolean {
    return true;
  }

  /** False while the server's recent time per request is well past its best: a growing pool should not grow then. */
  protected serverKeepsPace(): boolean {
    return this.replies === 0 || this.serviceRecent <= SLOWDOWN * this.serviceMin + SLOWDOWN_SLACK_MS;
  }

  /** How long opening a connection took, lately (ms); 0 until one has opened. */
  private connectRecent = 0;
  private connectsTimed = 0;

  /** A connection opened `ms` after it was started. */
  protected timedConnect(ms: number): void {
    this.connectRecent = this.connectsTimed++ === 0 ? ms : this.connectRecent + (ms - this.connectRecent) * RECENT_WEIGHT;
  }

  /**
   * Should a growing pool open a connection for a request that finds all
   * `open` connections taken? With the queue ahead of it shared among them,
   * it would wait about the server's time per request times (queued + 1) /
   * open; when that is sooner than a new connection would open, waiting is
   * the faster way out, and
   * the pool stays as small as the load needs (a connection per request of a
   * burst would cost both sides CPU for nothing). Then the server must keep
   * its pace (serverKeepsPace), and openings are paced (mayOpen).
   */
  protected shouldGrow(opening: number, open: number): boolean {
    if (open > 0 && this.replies > 0 && this.connectsTimed > 0 && (this.serviceRecent * (this.waitCount + 1)) / open < this.connectRecent) return false;
    if (open > 0 && !this.serverKeepsPace()) return false;
    return mayOpen(opening, open);
  }

  /** Hand request number `request` (an index into the URL list) for `token` to the client. */
  protected abstract dispatch(token: number, request: number): void;
  /** `token` timed out while the client held it: stop it without reporting it (the book reports the timeout). */
  protected abstract cancel(token: number): void;

  send(token: number): void {
    if (this.closed) return;
    if (this.waitCount === 0 && this.busy < this.capacity && this.hasRoom()) this.start(token);
    else {
      this.waitedForConnection++;
      if (this.busy >= this.capacity) this.waitedAtLimit++;
      this.state[token] = WAITING;
      this.queuedAt[token] = performance.now();
      this.waiting[(this.waitHead + this.waitCount++) % this.waiting.length] = token;
    }
  }

  /** Request `token` is written now (again, if a dead connection gave it back). */
  protected wrote(token: number): void {
    this.completion.written(token);
  }

  private start(token: number): void {
    const request = this.nextRequest;
    this.nextRequest = request + 1 === this.requestCount ? 0 : request + 1;
    this.state[token] = DISPATCHED;
    this.dispatchedAt[token] = performance.now();
    this.prev[token] = this.tail;
    this.nextOf[token] = NIL;
    if (this.tail === NIL) this.head = token;
    else this.nextOf[this.tail] = token;
    this.tail = token;
    this.busy++;
    this.dispatch(token, request);
  }

  /** The client is done with live request `token`: reply (code >= 0) or failure. */
  protected finished(token: number, code: number): void {
    if (code >= 0) {
      this.replies++;
      const service = performance.now() - this.dispatchedAt[token]!;
      if (service < this.serviceMin) this.serviceMin = service;
      this.serviceRecent = this.replies === 1 ? service : this.serviceRecent + (service - this.serviceRecent) * RECENT_WEIGHT;
    }
    this.busy--;
    this.unlink(token);
    this.state[token] = IDLE;
    if (this.closed) return;
    // Oldest waiting request first, before the engine can send anew on the freed token.
    if (!this.sweeping) this.pump();
    this.completion.done(token, code);
  }

  /** The client freed a slot without a live request ending: an abandoned request it let go of (at once, or when its transport finally did). */
  protected released(): void {
    this.busy--;
    if (!this.closed && !this.sweeping) this.pump();
  }

  /**
   * Give dispatched `token` back: its connection died before it was answered,
   * through no fault of its own. It goes to the front of the queue; give back
   * several newest first so they keep their order.
   */
  protected giveBack(token: number): void {
    this.busy--;
    this.unlink(token);
    this.state[token] = WAITING;
    // It has been out since its dispatch: it gives up a timeout after that, as it would have on its connection.
    this.queuedAt[token] = this.dispatchedAt[token]!;
    this.waitHead = (this.waitHead - 1 + this.waiting.length) % this.waiting.length;
    this.waiting[this.waitHead] = token;
    this.waitCount++;
  }

  /** Dispatch waiting requests while the client has room. */
  protected pump(): void {
    while (this.waitCount > 0 && this.busy < this.capacity && !this.closed && this.hasRoom()) {
      const next = this.waiting[this.waitHead]!;
      this.waitHead = (this.waitHead + 1) % this.waiting.length;
      this.waitCount--;
      this.start(next);
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
    // Hold the queue until every overdue request is out, so none of them is dispatched only to be cancelled.
    this.sweeping = true;
    try {
      // Waiting the longest is at the front; a request given back by a dead connection is older still.
      while (this.waitCount > 0 && this.queuedAt[this.waiting[this.waitHead]!]! <= overdue && !this.closed) {
        const token = this.waiting[this.waitHead]!;
        this.waitHead = (this.waitHead + 1) % this.waiting.length;
        this.waitCount--;
        this.state[token] = IDLE;
        this.completion.done(token, Failure.timeout);
      }
      while (this.head !== NIL && this.dispatchedAt[this.head]! <= overdue && !this.closed) {
        const token = this.head;
        this.unlink(token);
        this.cancel(token);
        this.state[token] = IDLE;
        this.completion.done(token, Failure.timeout);
      }
    } finally {
      this.sweeping = false;
    }
    this.pump();
  }

  /** Keep `reason` (short and printable) of a protocol error for takeFailureReasons. */
  noteFailure(reason: string): void {
    this.reasons.note(reason);
  }

  takeFailureReasons(): string[] {
    return this.reasons.take();
  }

  counters(): HttpCounters {
    return {
      connections: this.connections,
      waitedForConnection: this.waitedForConnection,
      waitedAtLimit: this.waitedAtLimit,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived(),
      requestsWritten: this.requestsWritten,
      replies: this.replies,
      replyHeaderBytes: this.replyHeaderBytes,
      replyBodyBytes: this.replyBodyBytes,
    };
  }

  protected bytesReceived(): number {
    return this.replyHeaderBytes + this.replyBodyBytes;
  }

  /** Stop the book; the client then drops its connections. */
  protected shut(): boolean {
    if (this.closed) return false;
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.waitCount = 0;
    this.head = this.tail = NIL;
    return true;
  }

  abstract close(): Promise<void>;
}
