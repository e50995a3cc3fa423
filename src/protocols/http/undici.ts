/**
 * The HTTP client on undici's low-level dispatch() and a keep-alive Pool: the
 * one for https:// and for `client: 'undici'`.
 *
 * Handlers use undici's legacy callbacks (onConnect/onHeaders/onData/
 * onComplete/onError) because undici passes those straight through, while the
 * newer controller API costs a wrapper, a controller and a parsed header
 * object per request. A handler stays with its token and is reused.
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import type { Dispatcher } from 'undici';
import type { Completion } from '../../engine/driver.js';
import { failureOf } from './failures.js';
import { HttpDriverBase, encodeRequests, mayOpen } from './book.js';
import type { HttpDriverOptions } from './book.js';

const NIL = -1;

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
    this.d.ended(this, failureOf(error));
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
  constructor(readonly client: Client) {}
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
  private readonly fixedPool: boolean;

  constructor(o: HttpDriverOptions, completion: Completion, timeoutMs: number, maxInflight: number, share: number) {
    const encoded = encodeRequests(o);
    super(completion, timeoutMs, maxInflight, share * o.pipelining, encoded.length);
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
      h.client = new Client(this.origin, { pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
      h.client.on('connect', this.onConnect);
      h.client.dispatch(this.requests[request]!, h);
    } else {
      let c: Carrier | undefined;
      while ((c = this.withRoom.pop()) !== undefined && c.inflight >= this.pipelining) c.listed = false;
      if (c === undefined) c = this.newCarrier();
      else c.listed = false;
      h.carrier = c;
      c.inflight++;
      if (c.inflight < this.pipelining) {
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
    const c = new Carrier(new Client(this.originUrl, { pipelining: this.pipelining, headersTimeout: 0, bodyTimeout: 0 }));
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
