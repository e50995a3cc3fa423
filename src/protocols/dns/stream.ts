/**
 * DNS over TCP (RFC 7766) and over TLS (RFC 7858): the load driver and its
 * pre-flight probe.
 *
 * A thread keeps a few persistent connections (`sockets`), each with its own
 * 16-bit ID space, as the UDP driver keeps sockets. Many queries are in flight
 * per connection and answers may come in any order: they are matched by
 * connection + ID + question. Messages carry the 2-byte length prefix; every
 * query is encoded once with its prefix, and a send copies those bytes into
 * the connection's batch. Over TCP the batch is written once per event-loop
 * turn: one write per connection and turn instead of a syscall per query.
 * Over TLS each query is a record of its own, as dnsperf writes them (see
 * writeRecord).
 *
 * Connections open on the first send, so their connects and TLS handshakes
 * fall in the first step's warmup and are counted there. A connection the
 * server closes is opened again at once (`reconnects`). As with dnsperf, the
 * queries that were in flight on it are not sent again; dnsperf leaves them
 * to time out as lost, tsload reports them at once as connreset, since it
 * knows they cannot be answered. Queries not yet written when a connection
 * closes go out on the next one. A connect that fails fails the queries
 * waiting for it with its error, and the connection is tried again after a
 * growing pause; meanwhile sends go to the thread's other connections.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { Failure, FailureReasons } from '../../engine/driver.js';
import type { Completion, Driver, DriverContext, DriverModule } from '../../engine/driver.js';
import { ShareWalk } from '../../engine/segment.js';
import type { DnsCounters } from './counters.js';
import { socketFailure } from '../failures.js';
import { tlsConnectOptions, type TlsSettings } from '../tls.js';
import { OptionsError, TargetUnreachableError } from '../../errors.js';
import { encodeQuery, type DnsDriverOptions, type DnsQuery } from './driver.js';
import { Fifo, ID_FREE, ID_INFLIGHT, ID_TIMEDOUT, IdSpace, sweepInterval } from './ids.js';
import { checkRecords, recordProblem, responseHead, sameQuestion, skipName } from './wire.js';
import { formatEndpoint } from '../../util/endpoint.js';

export type StreamTransport = 'tcp' | 'tls';

export interface StreamDriverOptions extends DnsDriverOptions {
  transport: StreamTransport;
  /** Required for tls: checked in the main thread by checkTls. */
  tls?: TlsSettings;
}

/** Batch size per connection over TCP, where a batch that would overflow is written at once; over TLS the batch grows. */
const BATCH_BYTES = 64 * 1024;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;

/** In the connection's batch, not yet written (the stream's own state beside ids.ts's). */
const ID_QUEUED = 3;

const OPENING = 0;
const UP = 1;
/** No socket: the last connect failed; waiting to try again. */
const DOWN = 2;

class Connection extends IdSpace {
  socket: Socket | null = null;
  phase = DOWN;
  /** Connects that succeeded on this slot: the second and later are reconnects. */
  opened = 0;
  lastFailure: number = Failure.connrefused;
  retryMs = RETRY_MIN_MS;
  retryTimer: NodeJS.Timeout | undefined;
  /** When the TCP connect completed (TLS: the handshake is timed from here). */
  tcpAt = 0;
  /** When the connection was last ready for queries. */
  upAt = 0;
  inflight = 0;
  /** Framed queries not yet written (each carries its ID), from `cursor` (TLS writes them one by one) to `batchLen`. */
  batch: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
  batchLen = 0;
  cursor = 0;
  /** TLS: a record is being written; the next waits for its callback. */
  recordBusy = false;
  afterRecord: () => void = () => {};
  /** Batches handed to the socket whose write has not completed (Node calls back in order). */
  writing: Buffer[] = [];
  spare: Buffer[] = [];
  afterWrite: () => void = () => {};
  /** A message split across reads: its bytes so far (prefix included). */
  readonly partial = Buffer.allocUnsafeSlow(65537);
  partialLen = 0;
  constructor(readonly index: number) {
    super();
  }
}

/** Every query framed for a stream: 2-byte length, then the message (ID at 2–3). The record checked them all in the main thread. */
function frameQueries(options: DnsDriverOptions): { wires: Buffer[]; questionEnd: Uint16Array } {
  const wires = options.queries.map((q) => {
    const msg = encodeQuery(q, options);
    const framed = Buffer.allocUnsafeSlow(msg.length + 2);
    framed.writeUInt16BE(msg.length, 0);
    msg.copy(framed, 2);
    return framed;
  });
  const questionEnd = new Uint16Array(wires.length);
  for (let i = 0; i < wires.length; i++) questionEnd[i] = skipName(wires[i]!, 14) + 4;
  return { wires, questionEnd };
}

function openStream(transport: StreamTransport, host: string, port: number, tls: TlsSettings | undefined): Socket {
  const socket = transport === 'tls' ? tlsConnect({ host, port, ...tlsConnectOptions(tls ?? { insecure: false }, host) }) : netConnect({ host, port });
  socket.setNoDelay(true);
  return socket;
}

export async function createDriver(options: StreamDriverOptions, completion: Completion, context: DriverContext): Promise<Driver> {
  const { wires, questionEnd } = frameQueries(options);
  const nq = wires.length;
  const ednsOn = options.edns !== undefined || options.dnssec;
  const tlsOn = options.transport === 'tls';
  const nconn = Math.max(1, Math.floor(options.sockets) || 1, Math.ceil(context.maxInflight / 65536));
  const conns: Connection[] = Array.from({ length: nconn }, (_, i) => new Connection(i));

  const timeouts = new Fifo(4096);
  const timeoutMs = context.timeoutMs;
  // The union of every thread's queries walks the mix as one thread would (see ShareWalk).
  const queryWalk = new ShareWalk(context.share);
  let nextQuery = queryWalk.index % nq;
  let nextConn = 0;
  let started = false;
  let closed = false;
  let flushScheduled = false;

  let queriesSent = 0;
  let requestBytes = 0;
  let bytesSent = 0;
  let responseBytes = 0;
  let bytesReceived = 0;
  let responses = 0;
  let truncated = 0;
  let unexpected = 0;
  let malformed = 0;
  let mismatched = 0;
  let late = 0;
  let socketErrors = 0;
  const reasons = new FailureReasons();
  let connections = 0;
  let reconnects = 0;
  let connectFailures = 0;
  let closedByServer = 0;
  let tlsHandshakes = 0;
  let tlsHandshakeMs = 0;

  function release(c: Connection, id: number): void {
    c.state[id] = ID_FREE;
    c.returnId(id);
  }

  /** As the UDP driver's onMessage: matched only when readable, to an ID in flight, asking the query's question. */
  function onMessage(c: Connection, msg: Buffer, base: number, len: number): void {
    if (len < 12 || (msg[base + 2]! & 0x80) === 0) {
      malformed++;
      unexpected++;
      return;
    }
    const id = (msg[base]! << 8) | msg[base + 1]!;
    const state = c.state[id]!;
    const q = c.query[id]!;
    const waiting = state !== ID_FREE && state !== ID_QUEUED;
    if (!waiting || !sameQuestion(msg, base, len, wires[q]!, 2, questionEnd[q]!)) {
      if (responseHead(msg, base, len) < 0) malformed++;
      else if (waiting) mismatched++;
      unexpected++;
      return;
    }
    if (state === ID_TIMEDOUT) {
      late++;
      c.state[id] = ID_FREE; // already on the free list
      return;
    }
    const token = c.token[id]!;
    const records = checkRecords(msg, base, base + len, (msg[base + 5]! | msg[base + 4]!) === 0 ? base + 12 : base + questionEnd[q]! - 2);
    c.inflight--;
    release(c, id); // before done(): the engine may send again from inside it
    if (records < 0) {
      reasons.note(recordProblem(records));
      completion.done(token, Failure.protocol);
      return;
    }
    responses++;
    responseBytes += len;
    if ((msg[base + 2]! & 0x02) !== 0) truncated++;
    let rcode = msg[base + 3]! & 0x0f;
    if (ednsOn) rcode |= records << 4;
    completion.done(token, rcode);
  }

  /** Split a read into messages; a message may span reads (RFC 7766 §8). */
  function onData(c: Connection, socket: Socket, chunk: Buffer): void {
    if (closed || c.socket !== socket) return;
    bytesReceived += chunk.length;
    const n = chunk.length;
    let off = 0;
    const p = c.partial;
    while (c.partialLen > 0 && off < n) {
      if (c.partialLen < 2) {
        p[c.partialLen++] = chunk[off++]!;
        continue;
      }
      const need = 2 + ((p[0]! << 8) | p[1]!) - c.partialLen;
      const take = Math.min(need, n - off);
      chunk.copy(p, c.partialLen, off, off + take);
      c.partialLen += take;
      off += take;
      if (take === need) {
        c.partialLen = 0;
        onMessage(c, p, 2, (p[0]! << 8) | p[1]!);
        if (closed || c.socket !== socket) return;
      }
    }
    while (n - off >= 2) {
      const len = (chunk[off]! << 8) | chunk[off + 1]!;
      if (n - off - 2 < len) break;
      onMessage(c, chunk, off + 2, len);
      if (closed || c.socket !== socket) return;
      off += 2 + len;
    }
    if (off < n) {
      chunk.copy(p, 0, off, n);
      c.partialLen = n - off;
    }
  }

  function connect(c: Connection): void {
    c.retryTimer = undefined;
    c.phase = OPENING;
    c.partialLen = 0;
    c.writing = [];
    c.recordBusy = false;
    const socket = openStream(options.transport, options.server, options.port, options.tls);
    c.socket = socket;
    const writing = c.writing;
    // One callback per socket, not per write: Node completes a socket's writes in order.
    c.afterWrite = (): void => {
      const done = writing.shift();
      if (done !== undefined && c.writing === writing) c.spare.push(done);
    };
    c.afterRecord = (): void => {
      if (c.socket !== socket) return;
      c.recordBusy = false;
      writeRecord(c);
    };
    socket.once('connect', () => {
      c.tcpAt = performance.now();
    });
    socket.once(tlsOn ? 'secureConnect' : 'connect', () => {
      if (closed || c.socket !== socket) return;
      if (tlsOn) {
        tlsHandshakes++;
        tlsHandshakeMs += performance.now() - c.tcpAt;
      }
      connections++;
      if (c.opened++ > 0) reconnects++;
      c.phase = UP;
      c.upAt = performance.now();
      flush(c);
    });
    socket.on('data', (chunk: Buffer) => onData(c, socket, chunk));
    socket.on('error', (error) => {
      socketErrors++;
      c.lastFailure = socketFailure(error);
    });
    socket.on('close', () => onClose(c, socket));
  }

  function onClose(c: Connection, socket: Socket): void {
    if (closed || c.socket !== socket) return;
    const wasUp = c.phase === UP;
    c.socket = null;
    c.writing = [];
    c.partialLen = 0;
    // The engine may send from inside done() below: after a close, new queries wait for the next connection; after a failed connect, they go elsewhere.
    c.phase = wasUp ? OPENING : DOWN;
    if (c.inflight > 0) {
      for (let id = 0; id < 65536; id++) {
        if (c.state[id] !== ID_INFLIGHT) continue;
        const token = c.token[id]!;
        release(c, id);
        c.inflight--;
        completion.done(token, Failure.connreset);
      }
    }
    for (let id = 0; id < 65536; id++) if (c.state[id] === ID_TIMEDOUT) c.state[id] = ID_FREE; // no answer can come now
    if (closed) return;
    if (wasUp) {
      closedByServer++;
      // A server that closes every connection at once would otherwise be reconnected to in a tight loop.
      if (performance.now() - c.upAt >= RETRY_MAX_MS) {
        c.retryMs = RETRY_MIN_MS;
        connect(c);
      } else {
        c.retryTimer = setTimeout(connect, c.retryMs, c);
        c.retryMs = Math.min(RETRY_MAX_MS, c.retryMs * 2);
      }
      return;
    }
    connectFailures++;
    // Nothing can take the queued queries now: they fail as the connect did (the attempt was made).
    for (let off = c.cursor; off < c.batchLen; off += 2 + c.batch.readUInt16BE(off)) {
      const id = (c.batch[off + 2]! << 8) | c.batch[off + 3]!;
      if (c.state[id] !== ID_QUEUED) continue;
      const token = c.token[id]!;
      release(c, id);
      completion.done(token, c.lastFailure);
    }
    c.batchLen = 0;
    c.cursor = 0;
    c.retryTimer = setTimeout(connect, c.retryMs, c);
    c.retryMs = Math.min(RETRY_MAX_MS, c.retryMs * 2);
  }

  /** The query framed at `off` of the batch is on its way: marked before the write, so service times include it. */
  function markWritten(c: Connection, buf: Buffer, off: number): void {
    const id = (buf[off + 2]! << 8) | buf[off + 3]!;
    if (c.state[id] !== ID_QUEUED) return; // timed out while its connection opened
    c.state[id] = ID_INFLIGHT;
    c.inflight++;
    queriesSent++;
    requestBytes += (buf[off]! << 8) | buf[off + 1]!;
    completion.written(c.token[id]!);
  }

  function flush(c: Connection): void {
    if (tlsOn) return writeRecord(c);
    const len = c.batchLen;
    if (len === 0) return;
    const buf = c.batch;
    c.batch = c.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
    c.batchLen = 0;
    for (let off = 0; off < len; off += 2 + buf.readUInt16BE(off)) markWritten(c, buf, off);
    c.writing.push(buf);
    c.socket!.write(buf.subarray(0, len), c.afterWrite);
    bytesSent += len;
  }

  /**
   * Over TLS, one record per query, the next once the last is written (as
   * dnsperf writes them): Node merges writes queued behind one another into
   * one record, and NSD 4.6 answers only the first query of a record that
   * holds several (it reads the next only when the socket is readable again).
   * A query waiting here waits inside tsload, and is measured so.
   */
  function writeRecord(c: Connection): void {
    if (c.recordBusy || c.phase !== UP) return;
    if (c.cursor >= c.batchLen) {
      c.cursor = c.batchLen = 0;
      return;
    }
    const off = c.cursor;
    const len = 2 + c.batch.readUInt16BE(off);
    c.cursor = off + len;
    markWritten(c, c.batch, off);
    c.recordBusy = true;
    // TLS encrypts the bytes inside write() (the handshake is done): the batch may be reused behind the cursor.
    c.socket!.write(c.batch.subarray(off, off + len), c.afterRecord);
    bytesSent += len;
  }

  /** Room for `n` more bytes in the batch of a connection that cannot write now. */
  function makeRoom(c: Connection, n: number): void {
    if (c.cursor > 0) {
      c.batch.copyWithin(0, c.cursor, c.batchLen);
      c.batchLen -= c.cursor;
      c.cursor = 0;
    }
    if (c.batchLen + n <= c.batch.length) return;
    const bigger = Buffer.allocUnsafeSlow(c.batch.length * 2);
    c.batch.copy(bigger, 0, 0, c.batchLen);
    c.batch = bigger;
  }

  function flushAll(): void {
    flushScheduled = false;
    if (closed) return;
    for (const c of conns) if (c.phase === UP && c.batchLen > 0) flush(c);
  }

  function sweep(): void {
    const now = performance.now();
    while (timeouts.count > 0) {
      const h = timeouts.head;
      if (timeouts.t[h]! > now) break;
      const key = timeouts.a[h]!;
      const seq = timeouts.b[h]!;
      timeouts.shift();
      const c = conns[key >>> 16]!;
      const id = key & 0xffff;
      const state = c.state[id];
      if ((state !== ID_INFLIGHT && state !== ID_QUEUED) || c.seq[id] !== seq) continue;
      if (state === ID_INFLIGHT) c.inflight--;
      c.state[id] = ID_TIMEDOUT;
      c.returnId(id);
      completion.done(c.token[id]!, Failure.timeout);
    }
  }
  const timer = setInterval(sweep, sweepInterval(timeoutMs));
  timer.unref();

  function fail(token: number, code: number): void {
    // Never call done() from inside send().
    process.nextTick(() => {
      if (!closed) completion.done(token, code);
    });
  }

  /** The next connection that is up and has a free ID, else one still opening; undefined if all are down. */
  function pick(): Connection | undefined {
    let opening: Connection | undefined;
    for (let k = 0; k < nconn; k++) {
      const c = conns[nextConn]!;
      nextConn = nextConn + 1 === nconn ? 0 : nextConn + 1;
      if (c.freeCount === 0) continue;
      if (c.phase === UP) return c;
      if (c.phase === OPENING) opening ??= c;
    }
    return opening;
  }

  function send(token: number): void {
    if (!started) {
      started = true;
      for (const c of conns) connect(c);
    }
    const c = pick();
    if (c === undefined) {
      fail(token, conns[0]!.lastFailure);
      return;
    }
    const q = nextQuery;
    nextQuery = (q + queryWalk.advance()) % nq;
    const wire = wires[q]!;
    if (c.batchLen + wire.length > c.batch.length) {
      if (c.phase === UP && !tlsOn) flush(c);
      else makeRoom(c, wire.length);
    }
    const id = c.takeId();
    const seq = (c.seq[id]! + 1) >>> 0;
    c.seq[id] = seq;
    c.state[id] = ID_QUEUED;
    c.token[id] = token;
    c.query[id] = q;
    wire[2] = id >>> 8;
    wire[3] = id & 0xff;
    wire.copy(c.batch, c.batchLen);
    c.batchLen += wire.length;
    timeouts.push((c.index << 16) | id, seq, performance.now() + timeoutMs);
    if (c.phase === UP && !flushScheduled) {
      flushScheduled = true;
      process.nextTick(flushAll);
    }
  }

  return {
    send,
    counters(): DnsCounters {
      return {
        queries: queriesSent,
        requestBytes,
        responseBytes,
        responses,
        truncated,
        unexpected,
        malformed,
        mismatched,
        late,
        bytesSent,
        bytesReceived,
        socketErrors,
        connections,
        reconnects,
        connectFailures,
        closedByServer,
        tlsHandshakes,
        tlsHandshakeMs,
      };
    },
    takeFailureReasons: () => reasons.take(),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await Promise.all(
        conns.map((c) => {
          clearTimeout(c.retryTimer);
          const socket = c.socket;
          c.socket = null;
          if (socket === null || socket.destroyed) return undefined;
          return new Promise<void>((resolve) => {
            socket.once('close', () => resolve());
            socket.destroy();
          });
        }),
      );
    },
  };
}

// The engine imports this file as a driver module.
({ createDriver }) satisfies DriverModule<StreamDriverOptions>;

/** Why a TLS connection was refused, in words that say what to do about it. */
export function tlsFailureReason(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/.test(code)) {
    return `the server's TLS certificate was not accepted: ${(error as Error).message} (${code}); --ca FILE verifies it with your CA, --tls-servername NAME checks another name, --insecure skips verification`;
  }
  if (/^ERR_SSL_|^EPROTO$/.test(code)) return `TLS handshake failed: ${(error as Error).message} (is it a DNS-over-TLS port?)`;
  return undefined;
}

/**
 * Pre-flight check over TCP or TLS: connect (and shake hands), one query,
 * resolve on any answer. Throws TargetUnreachableError, with what to do about
 * it when the certificate is refused.
 */
export async function probeDnsStream(
  transport: StreamTransport,
  server: string,
  port: number,
  tls: TlsSettings | undefined,
  query: DnsQuery,
  timeoutMs: number,
): Promise<void> {
  const target = formatEndpoint(server, port);
  let msg: Buffer;
  try {
    msg = encodeQuery(query, { recursionDesired: false, dnssec: false });
  } catch (error) {
    throw new OptionsError([`dns probe query '${query.name} ${query.type}': ${(error as Error).message}`]);
  }
  const id = (Math.random() * 65536) | 0;
  msg.writeUInt16BE(id, 0);
  const framed = Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 0xff]), msg]);
  const socket = openStream(transport, server, port, tls);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TargetUnreachableError(target, `no DNS answer over ${transport.toUpperCase()} within ${timeoutMs} ms`)), timeoutMs);
      const settle = (error?: TargetUnreachableError): void => {
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
      };
      let got = Buffer.alloc(0);
      socket.on('error', (error) => {
        const code = (error as NodeJS.ErrnoException).code;
        const reason = tlsFailureReason(error) ?? (code === 'ECONNREFUSED' ? `connection refused (nothing listens on ${transport.toUpperCase()} port ${port}?)` : error.message);
        settle(new TargetUnreachableError(target, reason, { cause: error }));
      });
      socket.on('close', () => settle(new TargetUnreachableError(target, `the server closed the ${transport.toUpperCase()} connection without answering`)));
      socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => socket.write(framed));
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        while (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
          const len = got.readUInt16BE(0);
          if (len >= 12 && (got[4]! & 0x80) !== 0 && got.readUInt16BE(2) === id) return settle();
          got = got.subarray(2 + len);
        }
      });
    });
  } finally {
    socket.destroy();
  }
}
