/**
 * DNS over UDP driver (dnsperf/resperf style). Names, types and RCODEs come
 * from the DNS library (types.ts, wire.ts), which the built-in server uses too.
 *
 * Per socket the 16-bit ID space is a FIFO of free IDs: an ID returns to the
 * tail when its query is answered or times out, so it is reused only after
 * every other free ID of that socket — least recently used first, as dnsperf
 * does. A response is matched on socket (each socket is connected, so the
 * kernel only delivers datagrams from the server) + ID + question (see onMessage).
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Failure, FailureReasons } from '../../engine/driver.js';
import type { Completion, Driver, DriverContext, DriverModule } from '../../engine/driver.js';
import { ShareWalk } from '../../engine/segment.js';
import type { DnsCounters } from './counters.js';
import { socketFailure } from '../failures.js';
import { OptionsError, TargetUnreachableError } from '../../errors.js';
import { formatEndpoint } from '../../util/endpoint.js';
import type { Query } from './queries.js';
import { typeCode } from './types.js';
import { checkRecords, nameToWire, recordProblem, responseHead, sameQuestion, skipName } from './wire.js';
import { Fifo, ID_FREE, ID_INFLIGHT, ID_TIMEDOUT, IdSpace, sweepInterval } from './ids.js';

// Modules written against the driver's old exports (transports beside it) keep compiling.

/** One query: the same shape query files and zone mixes produce. */
export type DnsQuery = Query;

export interface DnsDriverOptions {
  server: string;
  port: number;
  queries: DnsQuery[];
  /** Sockets per thread (each with its own 16-bit ID space). Raised if maxInflight needs more. */
  sockets: number;
  /** EDNS0 UDP payload size to advertise; undefined = no OPT record (unless dnssec). */
  edns?: number;
  /** Set the DO bit (implies EDNS0, 1232 bytes unless `edns` says otherwise). */
  dnssec: boolean;
  /** Set the RD bit. */
  recursionDesired: boolean;
}

/** EDNS size used when DO is asked for without a size (the DNS flag day 2020 value). */
export const DEFAULT_EDNS_SIZE = 1232;

/** Encode one query (ID 0). The question ends at 12 + qname + 4; an OPT record may follow. */
export function encodeQuery(
  q: DnsQuery,
  flags: { recursionDesired: boolean; edns?: number | undefined; dnssec: boolean },
): Buffer {
  const qname = nameToWire(q.name.trim());
  const qtype = typeCode(q.type.trim());
  if (qtype === undefined) throw new Error(`unknown RR type '${q.type.trim()}'`);
  const edns = flags.edns !== undefined || flags.dnssec;
  const buf = Buffer.alloc(12 + qname.length + 4 + (edns ? 11 : 0));
  buf[2] = flags.recursionDesired ? 0x01 : 0x00;
  buf.writeUInt16BE(1, 4); // QDCOUNT
  qname.copy(buf, 12);
  let o = 12 + qname.length;
  buf.writeUInt16BE(qtype, o);
  buf.writeUInt16BE(1, o + 2); // class IN
  o += 4;
  if (edns) {
    buf.writeUInt16BE(1, 10); // ARCOUNT
    buf[o] = 0; // root owner
    buf.writeUInt16BE(41, o + 1); // OPT
    buf.writeUInt16BE(Math.max(512, Math.min(65535, flags.edns ?? DEFAULT_EDNS_SIZE)), o + 3);
    buf.writeUInt32BE(flags.dnssec ? 0x8000 : 0, o + 5); // ext-rcode 0, version 0, DO
    buf.writeUInt16BE(0, o + 9); // RDLEN
  }
  return buf;
}

// ---------------------------------------------------------------------------
// Driver

/** One connected socket and its 16-bit ID space. */
class IdSocket extends IdSpace {
  /** Sends awaiting their callback, in order: (id, seq). */
  readonly pending = new Fifo(1024);
  constructor(readonly socket: Socket) {
    super();
  }
}


/**
 * Datagrams the kernel dropped at these sockets because their receive buffer
 * was full: answers that reached tsload and were not read in time. Linux's
 * /proc/net/udp{,6} has a drop count per socket (the last column); elsewhere,
 * or if it cannot be read, undefined. Read at step boundaries only.
 */
function ownSocketDrops(localPorts: ReadonlySet<number>, remotePort: number): number | undefined {
  let total: number | undefined;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    total ??= 0;
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const local = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
      const remote = parseInt(f[2]!.slice(f[2]!.lastIndexOf(':') + 1), 16);
      if (localPorts.has(local) && remote === remotePort) total += Number(f[f.length - 1]) || 0;
    }
  }
  return total;
}

async function openSocket(server: string, port: number): Promise<Socket> {
  const socket = createSocket(isIPv6(server) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.connect(port, server, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  // Bursts of answers must not overflow the default ~200 KB receive buffer
  // (a kernel drop would be counted as a lost query). Linux caps it at rmem_max.
  try {
    socket.setRecvBufferSize(4 << 20);
  } catch {
    // keep the default
  }
  return socket;
}

/** Every query that cannot be put on the wire with these flags, checked once in the main thread before any driver exists. */
export function checkDnsQueries(options: Pick<DnsDriverOptions, 'queries' | 'edns' | 'dnssec' | 'recursionDesired'>): string[] {
  const problems: string[] = [];
  if (options.queries.length === 0) problems.push('dns: the query list is empty');
  for (const q of options.queries) {
    try {
      encodeQuery(q, options);
    } catch (error) {
      problems.push(`dns: query '${q.name} ${q.type}': ${(error as Error).message}`);
    }
  }
  return problems;
}

/** `options` were checked once, in the main thread, by the protocol record (index.ts). */
export async function createDriver(
  options: DnsDriverOptions,
  completion: Completion,
  context: DriverContext,
): Promise<Driver> {
  const wires = options.queries.map((q) => encodeQuery(q, options));
  const nq = wires.length;
  // Where each query's question ends (the bytes from 12 to here never change; only the ID does).
  const questionEnd = new Uint16Array(nq);
  for (let i = 0; i < nq; i++) questionEnd[i] = skipName(wires[i]!, 12) + 4;
  const ednsOn = options.edns !== undefined || options.dnssec;

  // Enough ID spaces for everything the engine may have in flight (an ID is
  // busy exactly while its query is, so this can never run out).
  const nsock = Math.max(1, Math.floor(options.sockets) || 1, Math.ceil(context.maxInflight / 65536));
  const socks: IdSocket[] = [];
  try {
    for (let i = 0; i < nsock; i++) socks.push(new IdSocket(await openSocket(options.server, options.port)));
  } catch (error) {
    for (const s of socks) s.socket.close();
    throw error;
  }

  const localPorts = new Set(socks.map((s) => s.socket.address().port));

  const timeouts = new Fifo(4096);
  const timeoutMs = context.timeoutMs;
  // The k-th send takes query i mod nq, i being the share's k-th arrival of the
  // whole schedule, so the threads of every process together walk the mix as
  // one thread would.
  const queryWalk = new ShareWalk(context.share);
  let nextQuery = queryWalk.index % nq;
  let nextSocket = 0;
  let closed = false;

  let queriesSent = 0;
  let requestBytes = 0;
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

  function release(s: IdSocket, id: number): void {
    s.state[id] = ID_FREE;
    s.returnId(id);
  }

  /**
   * Only the server's datagrams get here: each socket is connected, and the
   * kernel drops what comes from any other address or port (a spoofed answer
   * never reaches tsload, so it is neither counted nor matched). What does
   * reach it is matched only when it is a readable response (responseHead),
   * to an ID in flight, asking the query's question; anything else is counted
   * in `unexpected` (and `malformed` or `mismatched`) while the query waits
   * for its real answer. A matched answer whose records do not parse fails
   * its query as a protocol error.
   */
  function onMessage(s: IdSocket, msg: Buffer): void {
    if (closed) return;
    bytesReceived += msg.length;
    const len = msg.length;
    if (len < 12 || (msg[2]! & 0x80) === 0) {
      malformed++;
      unexpected++;
      return;
    }
    const id = (msg[0]! << 8) | msg[1]!;
    const state = s.state[id]!;
    const q = s.query[id]!;
    // The question is read once: compared in place, and only walked (responseHead) when it is not the query's.
    if (state === ID_FREE || !sameQuestion(msg, 0, len, wires[q]!, 0, questionEnd[q]!)) {
      if (responseHead(msg, 0, len) < 0) malformed++;
      else if (state !== ID_FREE) mismatched++;
      unexpected++;
      return;
    }
    if (state === ID_TIMEDOUT) {
      // The query was already reported lost. Attributable only because the ID
      // has not been reused yet; once reused, a late answer to a different
      // question is `unexpected`, to the same question it cannot be told apart
      // (dnsperf has the same limit; LRU reuse makes that 65,535 sends away).
      late++;
      s.state[id] = ID_FREE; // already on the free list; a duplicate is unexpected
      return;
    }
    const token = s.token[id]!;
    const records = checkRecords(msg, 0, len, (msg[5]! | msg[4]!) === 0 ? 12 : questionEnd[q]!);
    if (records < 0) {
      reasons.note(recordProblem(records));
      release(s, id);
      completion.done(token, Failure.protocol);
      return;
    }
    responses++;
    responseBytes += len;
    if ((msg[2]! & 0x02) !== 0) truncated++;
    let rcode = msg[3]! & 0x0f;
    if (ednsOn) rcode |= records << 4;
    release(s, id); // before done(): the engine may send again from inside it
    completion.done(token, rcode);
  }

  function onSent(s: IdSocket, err: Error | null | undefined): void {
    const p = s.pending;
    const id = p.a[p.head]!;
    const seq = p.b[p.head]!;
    p.shift();
    if (!err || closed) return;
    // A port unreachable (ICMP) of an earlier query, which Linux reports on the
    // socket's next send: the server is gone, and this query is lost as the
    // ones in flight are (it times out), not an error of a class of its own
    // that only the queries sent right after an ICMP would get.
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return;
    if (s.state[id] === ID_INFLIGHT && s.seq[id] === seq) {
      const token = s.token[id]!;
      release(s, id);
      completion.done(token, socketFailure(err));
    }
  }

  for (const s of socks) {
    s.socket.on('message', (msg: Buffer) => onMessage(s, msg));
    // ICMP errors on a connected socket (port unreachable…) arrive here, detached
    // from any one query: count them; the queries concerned time out.
    s.socket.on('error', () => {
      socketErrors++;
    });
  }
  // One callback per socket (no closure per send). Node completes sends of one
  // socket in order: synchronous ones via nextTick, queued ones in libuv queue order.
  const sentCallbacks = socks.map((s) => (err: Error | null) => onSent(s, err));

  function sweep(): void {
    const now = performance.now();
    while (timeouts.count > 0) {
      const h = timeouts.head;
      if (timeouts.t[h]! > now) break;
      const key = timeouts.a[h]!;
      const seq = timeouts.b[h]!;
      timeouts.shift();
      const s = socks[key >>> 16]!;
      const id = key & 0xffff;
      if (s.state[id] !== ID_INFLIGHT || s.seq[id] !== seq) continue; // answered (and maybe reused)
      // Straight back to the free-list tail rather than quarantined for another
      // timeout: quarantine would halve the usable ID space under heavy loss,
      // while LRU reuse already puts ~65,535 other sends before this ID comes back.
      s.state[id] = ID_TIMEDOUT;
      s.returnId(id);
      completion.done(s.token[id]!, Failure.timeout);
    }
  }
  const timer = setInterval(sweep, sweepInterval(timeoutMs));
  timer.unref();

  function fail(token: number, code: number): void {
    // Never call done() from inside send(): defer to after the caller's turn.
    process.nextTick(() => {
      if (!closed) completion.done(token, code);
    });
  }

  function send(token: number): void {
    let s = socks[nextSocket]!;
    let si = nextSocket;
    nextSocket = nextSocket + 1 === nsock ? 0 : nextSocket + 1;
    if (s.freeCount === 0) {
      let k = 1;
      for (; k < nsock; k++) {
        si = (si + 1) % nsock;
        s = socks[si]!;
        if (s.freeCount > 0) break;
      }
      if (k === nsock) {
        fail(token, Failure.other); // unreachable while maxInflight ≤ sockets × 65536
        return;
      }
    }
    const q = nextQuery;
    nextQuery = (q + queryWalk.advance()) % nq;
    const id = s.takeId();
    const seq = (s.seq[id]! + 1) >>> 0;
    s.seq[id] = seq;
    s.state[id] = ID_INFLIGHT;
    s.token[id] = token;
    s.query[id] = q;
    const buf = wires[q]!;
    buf[0] = id >>> 8;
    buf[1] = id & 0xff;
    try {
      s.socket.send(buf, sentCallbacks[si]);
    } catch (error) {
      release(s, id);
      fail(token, socketFailure(error));
      return;
    }
    completion.written(token);
    s.pending.push(id, seq, 0);
    timeouts.push((si << 16) | id, seq, performance.now() + timeoutMs);
    queriesSent++;
    requestBytes += buf.length;
    // On a connected socket Node tries a synchronous send first; if the
    // datagram is in the kernel the queue is empty and `buf` may be patched
    // again at once. Otherwise libuv still points into `buf` until the send
    // completes, so later sends of this query get a fresh copy.
    if (s.socket.getSendQueueCount() !== 0) wires[q] = Buffer.from(buf);
  }

  return {
    send,
    counters(): DnsCounters {
      const c: DnsCounters = {
        queries: queriesSent,
        requestBytes,
        responseBytes,
        responses,
        truncated,
        unexpected,
        malformed,
        mismatched,
        late,
        bytesSent: requestBytes,
        bytesReceived,
        socketErrors,
      };
      const drops = ownSocketDrops(localPorts, options.port);
      if (drops !== undefined) c.lostAtGenerator = drops;
      return c;
    },
    takeFailureReasons: () => reasons.take(),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await Promise.all(socks.map((s) => new Promise<void>((resolve) => s.socket.close(() => resolve()))));
    },
  };
}

// The engine imports this file as a driver module.
({ createDriver }) satisfies DriverModule<DnsDriverOptions>;

/**
 * Pre-flight check: one query, resolves on any answer (any RCODE). Throws
 * TargetUnreachableError on timeout or ICMP port unreachable.
 */
export async function probeDns(
  server: string,
  port: number,
  query: DnsQuery,
  timeoutMs: number,
): Promise<void> {
  const target = formatEndpoint(server, port);
  let wire: Buffer;
  try {
    wire = encodeQuery(query, { recursionDesired: false, dnssec: false });
  } catch (error) {
    throw new OptionsError([`dns probe query '${query.name} ${query.type}': ${(error as Error).message}`]);
  }
  const id = (Math.random() * 65536) | 0;
  wire.writeUInt16BE(id, 0);
  let socket: Socket;
  try {
    socket = await openSocket(server, port);
  } catch (error) {
    throw new TargetUnreachableError(target, (error as Error).message, { cause: error });
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const unreachable = (error: unknown): void => {
        const code = (error as { code?: unknown }).code;
        const reason = code === 'ECONNREFUSED' ? 'port unreachable (ICMP)' : (error as Error).message;
        reject(new TargetUnreachableError(target, reason, { cause: error }));
      };
      const timer = setTimeout(() => {
        reject(new TargetUnreachableError(target, `no DNS answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.on('error', (error) => {
        clearTimeout(timer);
        unreachable(error);
      });
      socket.on('message', (msg: Buffer) => {
        if (msg.length >= 12 && (msg[2]! & 0x80) !== 0 && msg.readUInt16BE(0) === id) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.send(wire, (error) => {
        if (error) {
          clearTimeout(timer);
          unreachable(error);
        }
      });
    });
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
