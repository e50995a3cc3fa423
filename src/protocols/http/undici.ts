/**
 * The HTTP client on undici's low-level dispatch() and keep-alive Clients: the
 * one for https://, HTTP/2 and `client: 'undici'`. Over HTTP/2 a connection
 * carries `streams` requests at once where HTTP/1.1 carries `pipelining`; the
 * book's pool rules are the same for both.
 *
 * Handlers use undici's legacy callbacks (onConnect/onHeaders/onData/
 * onComplete/onError) because undici passes those straight through, while the
 * newer controller API costs a wrapper, a controller and a parsed header
 * object per request. A handler stays with its token and is reused.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Client } from 'undici';
import type { Dispatcher, buildConnector } from 'undici';
import { Failure, type Completion } from '../../engine/driver.js';
import type { HttpCounters } from './counters.js';
import { tlsConnectOptions, type TlsSettings } from '../tls.js';
import { failureOf, undiciRejection } from './failures.js';
import { HttpDriverBase, encodeRequests, endpointOf, mayOpen, perConnection } from './book.js';
import type { HttpDriverOptions } from './book.js';

const NIL = -1;
const noop = (): void => {};

type Abort = (error?: Error) => void;

/** Error given to undici when tsload aborts an overdue request (undici only reports it back to the orphaned handler). */
const timeoutAbort = Object.assign(new Error('tsload: request timed out'), { code: 'TSLOAD_TIMEOUT' });

/** One in-flight request's handler; one whose request timed out is orphaned (token -1) until undici lets go of it. */
class Handler {
  token = NIL;
  request = 0;
  status = 0;
  abort: Abort | null = null;
  /** Its own connection, in the new-connection-per-request mode. */
  client: Client | null = null;
  /** The pool's connection that carries it, until undici lets go of it. */
  carrier: Carrier | null = null;
  /** Between dispatch and undici's last callback; guards against a second end (undici reports a throwing callback as an error). */
  active = false;
  constructor(private readonly d: UndiciDriver) {}

  onConnect(abort: Abort): void {
    // Orphaned while undici still held it queued: cancel before it is written.
    if (this.token === NIL) return abort(timeoutAbort);
    this.abort = abort;
    this.d.writing(this.token, this.request);
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
    // Only a live request's: an orphaned one's error is the abort tsload gave it.
    const reason = this.token === NIL ? undefined : undiciRejection(error, this.status);
    if (reason === undefined) return this.d.ended(this, failureOf(error));
    this.d.noteFailure(reason);
    this.d.ended(this, Failure.protocol);
  }
}

function relist(withRoom: Carrier[], c: Carrier): void {
  withRoom.push(c);
}

/** One connection of the driver's pool: an undici Client, and the requests it carries. */
class Carrier {
  inflight = 0;
  /** In the stack of connections with room. */
  listed = false;
  connected = false;
  connecting = false;
  startedAt = 0;
  /** Requests it may carry at once: streams once it speaks h2, pipelining once it speaks HTTP/1.1 (assumed h2 while opening, when asked). */
  limit: number;
  client!: Client;
  constructor(limit: number) {
    this.limit = limit;
  }
}

/** undici's own connect timeout, which a connector of one's own must keep. */
const CONNECT_TIMEOUT_MS = 10_000;
const connectTimeout = (): Error => Object.assign(new Error('connect timed out'), { code: 'UND_ERR_CONNECT_TIMEOUT' });

/** What the connectors of a driver count: handshakes apart from requests, and what each connection speaks. */
class ConnectStats {
  tlsHandshakes = 0;
  /** Sum of handshake times (TCP connected to TLS finished), ms. */
  tlsHandshakeMs = 0;
  tlsHandshakeFailures = 0;
  h2Connections = 0;
  h1Connections = 0;
}

/**
 * A connector of tsload's own in place of undici's, for what undici's hides:
 * when TCP was up and when TLS was done (the handshake is timed apart from the
 * requests), and what ALPN chose. Like undici's it offers h2 by ALPN when
 * asked, and marks a cleartext socket h2 for prior knowledge (what undici's
 * useH2c does). It keeps no TLS sessions: every connection stands for a new
 * client and pays a full handshake, as h2load's and wrk's do.
 */
function connector(tls: TlsSettings | undefined, http2: boolean, stats: ConnectStats, opened: (h2: boolean) => void): buildConnector.connector {
  return (o, callback) => {
    const { host, port } = endpointOf(new URL(`${o.protocol}//${o.hostname}${o.port === '' ? '' : `:${o.port}`}`));
    const secure = o.protocol === 'https:';
    let socket: Socket | TLSSocket;
    let tcpAt = 0;
    if (secure) {
      socket = tlsConnect({
        host,
        port,
        ...tlsConnectOptions(tls ?? { insecure: false }, host),
        ALPNProtocols: http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
      });
      socket.once('connect', () => {
        tcpAt = performance.now();
      });
    } else {
      socket = netConnect({ host, port });
      // undici reads this to pick its HTTP/2 session: prior knowledge, as its own useH2c sets it.
      if (http2) (socket as { alpnProtocol?: string }).alpnProtocol = 'h2';
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    let pending: buildConnector.Callback | null = callback;
    const timer = setTimeout(() => socket.destroy(connectTimeout()), CONNECT_TIMEOUT_MS);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      if (secure) {
        const ms = performance.now() - tcpAt;
        stats.tlsHandshakes++;
        stats.tlsHandshakeMs += ms;
      }
      const h2 = (socket as { alpnProtocol?: string | false }).alpnProtocol === 'h2';
      if (h2) stats.h2Connections++;
      else stats.h1Connections++;
      opened(h2);
      const cb = pending;
      pending = null;
      cb?.(null, socket);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      // TCP was up and TLS was not done: the handshake failed (a certificate refused, a protocol refused).
      if (secure && tcpAt > 0 && pending !== null) stats.tlsHandshakeFailures++;
      const cb = pending;
      pending = null;
      cb?.(error, null);
    });
  };
}

export class UndiciDriver extends HttpDriverBase {
  /**
   * tsload's own pool of undici Clients, one connection each, rather than
   * undici's Pool: a Pool opens a new client whenever every one it has is
   * busy, and asks for a spare after each dispatch that fills one, so a pool
   * allowed to grow opened a connection for nearly every request of a burst.
   * Here it grows as tsload's own client does (see mayOpen).
   */
  private readonly carriers: Carrier[] = [];
  private readonly withRoom: Carrier[] = [];
  private readonly share: number;
  private readonly originUrl: string;
  /** Set in the new-connection-per-request mode: each request gets a Client of its own. */
  private readonly origin: string | undefined;
  private readonly requests: Dispatcher.DispatchOptions[];
  private readonly requestBytes: number[];
  private readonly handlers: (Handler | undefined)[];
  private readonly spare: Handler[] = [];
  /** Connections of the pool open now, and opening. */
  private open = 0;
  private opening = 0;
  private readonly pipelining: number;
  /** What a connection carries before it is open: streams when h2 is asked for (ALPN may still say HTTP/1.1). */
  private readonly perConnection: number;
  private readonly http2: boolean;
  private readonly tls: TlsSettings | undefined;
  private readonly stats = new ConnectStats();
  private readonly fixedPool: boolean;

  constructor(o: HttpDriverOptions, completion: Completion, timeoutMs: number, maxInflight: number, share: number) {
    const encoded = encodeRequests(o);
    super(completion, timeoutMs, maxInflight, share * perConnection(o), encoded.length);
    const body = Buffer.from(o.body ?? '');
    const flatHeaders = o.headers.flat();
    this.requests = encoded.map(({ path }) => ({
      path,
      method: o.method as Dispatcher.HttpMethod,
      headers: flatHeaders,
      body: body.length > 0 ? body : null,
      // Always explicit: left unset, undici would also close the connection after every HEAD.
      // A new connection per request still asks for keep-alive: httperf's artifact is that the
      // client closes first, so TIME_WAIT lands on the client (see ended).
      reset: false,
      // Replies are read whole and small; let pipelined requests go out without waiting for headers.
      blocking: false,
    }));
    this.requestBytes = encoded.map(({ bytes }) => bytes.length);
    const base = new URL(o.url);
    this.share = share;
    this.originUrl = base.origin;
    this.pipelining = o.pipelining;
    this.perConnection = perConnection(o);
    this.http2 = o.http2 === true;
    this.tls = o.tls;
    this.fixedPool = o.connections !== undefined;
    this.origin = o.newConnectionPerRequest ? base.origin : undefined;
    this.handlers = new Array<Handler | undefined>(maxInflight);
  }

  protected dispatch(token: number, request: number): void {
    let h = this.handlers[token];
    if (h === undefined) h = this.handlers[token] = this.spare.pop() ?? new Handler(this);
    h.token = token;
    h.status = 0;
    h.abort = null;
    h.active = true;
    h.request = request;
    if (this.origin !== undefined) {
      // httperf's default, on purpose: a connection for this request alone, which the
      // client closes as soon as the reply is in (see ended), leaving it in TIME_WAIT.
      h.client = new Client(this.origin, { pipelining: 1, headersTimeout: 0, bodyTimeout: 0, allowH2: this.http2, connect: connector(this.tls, this.http2, this.stats, noop) });
      h.client.on('connect', this.onConnect);
      h.client.dispatch(this.requests[request]!, h);
    } else {
      let c: Carrier | undefined;
      while ((c = this.withRoom.pop()) !== undefined && c.inflight >= c.limit) c.listed = false;
      if (c === undefined) c = this.newCarrier();
      else c.listed = false;
      h.carrier = c;
      c.inflight++;
      if (c.inflight < c.limit) {
        c.listed = true;
        this.withRoom.push(c);
      }
      if (!c.connected && !c.connecting) {
        c.connecting = true;
        c.startedAt = performance.now();
        this.opening++;
      }
      c.client.dispatch(this.requests[request]!, h);
    }
  }

  private newCarrier(): Carrier {
    // The book enforces its own timeout from the send; undici's per-request timers would only add cost.
    const c = new Carrier(this.perConnection);
    const opened = (h2: boolean): void => {
      c.limit = h2 ? this.perConnection : this.pipelining;
      // undici's own limit too: it is set for streams, and an HTTP/1.1 connection must not pipeline that deep.
      if (!h2) c.client.pipelining = this.pipelining;
    };
    c.client = new Client(this.originUrl, {
      pipelining: this.perConnection,
      headersTimeout: 0,
      bodyTimeout: 0,
      allowH2: this.http2,
      // Streams are tsload's to limit (the book), not undici's queue's.
      ...(this.http2 ? { maxConcurrentStreams: this.perConnection } : {}),
      connect: connector(this.tls, this.http2, this.stats, opened),
    });
    c.client.on('connect', () => {
      this.connections++;
      this.open++;
      c.connected = true;
      if (c.connecting) {
        c.connecting = false;
        this.opening--;
        this.timedConnect(performance.now() - c.startedAt);
      }
      // One more open: requests held back for it may go now.
      this.pump();
    });
    c.client.on('disconnect', () => {
      if (c.connected) this.open--;
      c.connected = false;
    });
    c.client.on('connectionError', () => {
      if (c.connecting) {
        c.connecting = false;
        this.opening--;
      }
    });
    this.carriers.push(c);
    return c;
  }

  protected cancel(token: number): void {
    const h = this.handlers[token]!;
    this.handlers[token] = undefined;
    h.token = NIL;
    // Aborting destroys the connection (HTTP/1.1 has no other way); undici then calls onError, which recycles h.
    // Without an abort yet the request is still queued in undici, and onConnect cancels it.
    h.abort?.(timeoutAbort);
  }

  private readonly onConnect = (): void => {
    this.connections++;
  };

  protected override hasRoom(): boolean {
    if (this.origin !== undefined || this.withRoom.length > 0) return true;
    if (this.carriers.length >= this.share) return false;
    // A fixed pool opens what it may, paced; one that grows opens only where that helps (see shouldGrow).
    return this.fixedPool ? mayOpen(this.opening, this.open) : this.shouldGrow(this.opening, this.open);
  }

  /** undici is writing a request now (it calls onConnect just before it writes the request). */
  writing(token: number, request: number): void {
    this.requestsWritten++;
    this.bytesSent += this.requestBytes[request]!;
    this.wrote(token);
  }

  /** undici is done with a handler: reply or failure. */
  ended(h: Handler, code: number): void {
    if (!h.active) return;
    h.active = false;
    h.abort = null;
    const c = h.carrier;
    if (c !== null) {
      h.carrier = null;
      c.inflight--;
      if (!c.listed) {
        c.listed = true;
        // After a failure undici is still failing the rest of this client's queue, and asserts that
        // nothing joins it meanwhile: the client takes requests again from the next tick.
        if (code < 0) process.nextTick(relist, this.withRoom, c);
        else this.withRoom.push(c);
      }
    }
    if (h.client !== null) {
      h.client.destroy().catch(() => {});
      h.client = null;
    }
    const token = h.token;
    if (token === NIL) {
      this.spare.push(h);
      this.released();
    } else {
      h.token = NIL;
      this.finished(token, code);
    }
  }

  override counters(): HttpCounters {
    const s = this.stats;
    return {
      ...super.counters(),
      tlsHandshakes: s.tlsHandshakes,
      tlsHandshakeMs: s.tlsHandshakeMs,
      tlsHandshakeFailures: s.tlsHandshakeFailures,
      h2Connections: s.h2Connections,
      h1Connections: s.h1Connections,
    };
  }

  async close(): Promise<void> {
    if (!this.shut()) return;
    for (const h of this.handlers) {
      if (h === undefined) continue;
      h.token = NIL;
      h.client?.destroy().catch(() => {});
    }
    await Promise.all(this.carriers.map((c) => c.client.destroy().catch(() => {})));
  }
}
