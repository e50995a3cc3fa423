/**
 * tsload's own HTTP/1.1 client for http:// targets: keep-alive connections on
 * node:net, each request written as prebuilt bytes, each response read in
 * place from one shared buffer (net's `onread`) by a reader that only tracks
 * status and framing. Against the same nginx on this project's 2-core VM it
 * spends about half the CPU per request that undici's dispatch() does (see
 * bench/http.ts), and CPU per request is what bounds a load generator.
 *
 * A connection object lives as long as its socket. Requests on a connection
 * are answered in order, so its in-flight tokens are a small FIFO.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { Failure } from '../../engine/driver.js';
import type { Completion } from '../../engine/driver.js';
import { failureOf } from './failures.js';
import { performance } from 'node:perf_hooks';
import { HttpDriverBase, encodeRequests, endpointOf, mayOpen } from './book.js';
import type { HttpDriverOptions } from './book.js';
import { ResponseReader } from './response.js';
import type { ReplyBytes, ResponseSink } from './response.js';

/** Responses are read into this and parsed in place; one per thread is enough, as reads are handled one at a time. */
const READ_BUFFER_BYTES = 64 * 1024;


class Connection implements ResponseSink {
  readonly socket: Socket;
  open = false;
  dead = false;
  /** In the driver's stack of connections with room. */
  listed = false;
  /** Requests at the tail of the ring not written yet: gathered until the end of the current task, then written at once. */
  unwritten = 0;
  /** Tokens written (or to be written on connect) here, oldest first: a ring. */
  readonly tokens: Int32Array;
  readonly requests: Int32Array;
  head = 0;
  count = 0;
  /**
   * Of the requests, those the bytes being read can answer: the ones written
   * before the read. One dispatched here while a read is handled (the book
   * pumps on each reply) cannot be answered by bytes that were already in.
   */
  answerable = 0;
  readonly reader: ResponseReader;
  /** When the connection was started, for the time opening takes. */
  readonly startedAt = performance.now();

  constructor(
    readonly driver: NativeDriver,
    host: string,
    port: number,
    pipelining: number,
    private readonly readBuffer: Buffer,
  ) {
    this.tokens = new Int32Array(pipelining);
    this.requests = new Int32Array(pipelining);
    this.reader = new ResponseReader(this, driver, driver.headRequests);
    this.socket = connect({ host, port, noDelay: true, onread: { buffer: readBuffer, callback: this.onRead } });
    this.socket.on('connect', this.onConnect);
    this.socket.on('end', this.onEnd);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
  }

  get full(): boolean {
    return this.count === this.tokens.length;
  }

  add(token: number, request: number): void {
    const at = (this.head + this.count++) % this.tokens.length;
    this.tokens[at] = token;
    this.requests[at] = request;
    if (!this.open) return;
    // One request per connection: nothing to gather, so no reason to wait.
    if (this.tokens.length === 1) this.socket.write(this.driver.bytesFor(token, request));
    else if (this.unwritten++ === 0) process.nextTick(flush, this);
  }

  /** Remove and return the oldest token. */
  shift(): number {
    const token = this.tokens[this.head]!;
    this.head = this.head + 1 === this.tokens.length ? 0 : this.head + 1;
    this.count--;
    return token;
  }

  /** Remove and return the newest token. */
  pop(): number {
    return this.tokens[(this.head + --this.count) % this.tokens.length]!;
  }

  response(status: number, keepAlive: boolean): void {
    this.answerable--;
    this.driver.answered(this, this.shift(), status, keepAlive);
  }

  waiting(): boolean {
    return this.answerable > 0;
  }

  private readonly onConnect = (): void => {
    this.open = true;
    this.driver.connected(this);
  };

  private readonly onRead = (n: number): boolean => {
    if (this.dead) return true;
    this.answerable = this.count - this.unwritten;
    if (!this.reader.feed(this.readBuffer, 0, n)) this.driver.protocolError(this, this.reader.error);
    return true;
  };

  private readonly onEnd = (): void => {
    if (this.dead) return;
    // A response delimited by the close ends here; anything else still in flight was cut off.
    this.reader.eof();
    this.driver.broken(this, Failure.connreset);
  };

  private readonly onError = (error: Error): void => {
    if (!this.dead) this.driver.broken(this, failureOf(error));
  };

  private readonly onClose = (): void => {
    if (!this.dead) this.driver.broken(this, Failure.connreset);
  };
}

/** flush's list of parts, reused: only the joined buffer is new on each write (the write may outlive the turn). */
const gathered: Buffer[] = [];

/**
 * Write what was added to `c` in this task. Requests pipelined on one
 * connection in one pump of the schedule leave in one write: one system call,
 * and one trip through the stream, instead of several.
 */
function flush(c: Connection): void {
  const n = c.unwritten;
  c.unwritten = 0;
  if (n === 0 || c.dead) return;
  const d = c.driver;
  const first = (c.head + c.count - n + c.tokens.length) % c.tokens.length;
  if (n === 1) {
    c.socket.write(d.bytesFor(c.tokens[first]!, c.requests[first]!));
    return;
  }
  let length = 0;
  for (let k = 0; k < n; k++) {
    const at = (first + k) % c.tokens.length;
    length += (gathered[k] = d.bytesFor(c.tokens[at]!, c.requests[at]!)).length;
  }
  gathered.length = n;
  c.socket.write(Buffer.concat(gathered, length));
}

export class NativeDriver extends HttpDriverBase implements ReplyBytes {
  readonly headRequests: boolean;
  replyWireBytes = 0;
  private readonly host: string;
  private readonly port: number;
  private readonly requestBytes: Buffer[];
  private readonly pipelining: number;
  private readonly perRequest: boolean;
  private readonly fixedPool: boolean;
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /** Connection of each dispatched token. */
  private readonly carrier: (Connection | undefined)[];
  /** Live connections with room for another request (may hold dead ones, skipped when popped). */
  private readonly withRoom: Connection[] = [];
  private readonly live = new Set<Connection>();
  /** Of `live`, the connections still opening. */
  private connecting = 0;

  constructor(o: HttpDriverOptions, completion: Completion, timeoutMs: number, maxInflight: number, share: number) {
    const encoded = encodeRequests(o);
    super(completion, timeoutMs, maxInflight, share * o.pipelining, encoded.length);
    ({ host: this.host, port: this.port } = endpointOf(new URL(o.url)));
    this.requestBytes = encoded.map(({ bytes }) => bytes);
    this.headRequests = o.method === 'HEAD';
    this.pipelining = o.pipelining;
    this.perRequest = o.newConnectionPerRequest;
    this.fixedPool = o.connections !== undefined;
    this.carrier = new Array<Connection | undefined>(maxInflight);
  }

  protected dispatch(token: number, request: number): void {
    let c: Connection | undefined;
    if (!this.perRequest) {
      while ((c = this.withRoom.pop()) !== undefined && c.dead) c.listed = false;
    }
    if (c === undefined) {
      // The book never holds more than connections × pipelining, so there is room for a new one.
      c = new Connection(this, this.host, this.port, this.perRequest ? 1 : this.pipelining, this.readBuffer);
      this.live.add(c);
      this.connecting++;
    } else {
      c.listed = false;
    }
    this.carrier[token] = c;
    c.add(token, request);
    if (!c.full && !this.perRequest) {
      c.listed = true;
      this.withRoom.push(c);
    }
  }

  /** The bytes of request `request` for `token`, counted as written (the caller writes them at once). */
  bytesFor(token: number, request: number): Buffer {
    const bytes = this.requestBytes[request]!;
    this.requestsWritten++;
    this.bytesSent += bytes.length;
    this.wrote(token);
    return bytes;
  }

  protected override hasRoom(): boolean {
    if (this.withRoom.length > 0 && !this.perRequest) return true;
    const open = this.live.size - this.connecting;
    // A fixed pool opens what it may, paced; one that grows opens only where that helps (see shouldGrow).
    return this.fixedPool || this.perRequest ? mayOpen(this.connecting, open) : this.shouldGrow(this.connecting, open);
  }

  connected(c: Connection): void {
    this.connections++;
    this.connecting--;
    this.timedConnect(performance.now() - c.startedAt);
    c.unwritten = c.count;
    flush(c);
    // One fewer opening: requests held back for it may go now.
    this.pump();
  }

  answered(c: Connection, token: number, status: number, keepAlive: boolean): void {
    this.carrier[token] = undefined;
    if (!keepAlive || this.perRequest) {
      // Closed by the client first, as httperf does: the TIME_WAIT is the client's.
      c.reader.halt();
      this.drop(c);
      this.giveBackAll(c);
    } else if (!c.listed) {
      c.listed = true;
      this.withRoom.push(c);
    }
    this.finished(token, status);
  }

  /**
   * The server's bytes on `c` broke HTTP/1.1: nothing more on it can be read
   * as a response, so it goes, and what it carried fails as a protocol error
   * (as a dead connection's requests fail with its error).
   */
  protocolError(c: Connection, reason: string): void {
    this.noteFailure(reason);
    this.drop(c);
    // Dispatched while the bytes were read, so not answered by them: sent again elsewhere, as after a timeout.
    const behind = c.count - Math.max(0, c.answerable);
    for (let k = 0; k < behind; k++) {
      const token = c.pop();
      this.carrier[token] = undefined;
      this.giveBack(token);
    }
    while (c.count > 0) {
      const token = c.shift();
      this.carrier[token] = undefined;
      this.finished(token, Failure.protocol);
    }
    if (behind > 0) this.pump();
  }

  /** Connection `c` failed: what it carried fails with `code`. */
  broken(c: Connection, code: number): void {
    this.drop(c);
    while (c.count > 0) {
      const token = c.shift();
      this.carrier[token] = undefined;
      this.finished(token, code);
    }
  }

  protected cancel(token: number): void {
    const c = this.carrier[token]!;
    this.carrier[token] = undefined;
    // The sweep goes oldest first, so the overdue request is its connection's oldest.
    c.shift();
    this.released();
    // HTTP/1.1 cannot abandon one request: the connection goes, and the requests behind it are sent again elsewhere.
    this.drop(c);
    this.giveBackAll(c);
  }

  /** Put what `c` still carries back in the queue; the book sends it on when it next pumps (after the reply or the sweep at hand). */
  private giveBackAll(c: Connection): void {
    while (c.count > 0) {
      const token = c.pop();
      this.carrier[token] = undefined;
      this.giveBack(token);
    }
  }

  private drop(c: Connection): void {
    if (c.dead) return;
    c.dead = true;
    this.live.delete(c);
    if (!c.open) this.connecting--;
    c.socket.destroy();
  }

  protected override bytesReceived(): number {
    return this.replyWireBytes;
  }

  async close(): Promise<void> {
    if (!this.shut()) return;
    for (const c of this.live) {
      c.dead = true;
      c.socket.destroy();
    }
    this.live.clear();
  }
}
