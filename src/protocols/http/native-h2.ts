/**
 * tsload's own HTTP/2 client (`client: 'native'` with `http2`): frames read
 * and written on the TLS (or, for h2c, TCP) socket itself, for the CPU that
 * node:http2 spends on a stream object, its listeners and its crossings from
 * nghttp2 into JS per request. Each request's HEADERS block is encoded once
 * (HPACK literals, no Huffman, no table), and only the stream id changes.
 * tsload advertises a header table of size 0, so the server's responses
 * reference no dynamic table and the reader need only find `:status` in each
 * block; it skips every other field. Flow control is kept out of the way:
 * the windows tsload grants are as large as HTTP/2 allows and are topped up
 * as data arrives. Requests carry no body (the options check says so):
 * sending one would need the server's windows honoured too, which undici does.
 *
 * CPU per request is what this client is for, so the hot path makes nothing
 * per request: replies are parsed where the socket read them, streams in
 * flight live in typed arrays, and the requests one task adds leave as one
 * write per connection, since each write is a system call and a TLS record
 * of its own.
 */
import { connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Failure } from '../../engine/driver.js';
import type { Completion } from '../../engine/driver.js';
import type { HttpCounters } from './counters.js';
import { tlsConnectOptions, type TlsSettings } from '../tls.js';
import { failureOf } from './failures.js';
import { DEFAULT_STREAMS, HttpDriverBase, endpointOf, mayOpen } from './book.js';
import type { HttpDriverOptions } from './book.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** RFC 9113 §7: the server did not process the stream, so it may be sent again. */
const REFUSED_STREAM = 0x7;
const CANCEL = 0x8;
const MAX_WINDOW = 2 ** 31 - 1;
/** Top the connection's receive window up once this much of it is used. */
const WINDOW_REFILL = 2 ** 30;
/** Stream ids are 31 bits: a connection this far on takes no new stream and closes once empty. */
const LAST_STREAM_ID = 2 ** 31 - 1 - 2 * 65_536;
/** Most bytes of one frame tsload accepts (it advertises none larger than the default). */
const MAX_FRAME = 16_384;
/**
 * Reads land in one buffer the driver owns (the socket's `onread`), so a read
 * makes no Buffer and passes through no stream machinery; frames are parsed
 * in place, and only a frame cut by the end of a read is copied aside.
 */
const READ_BUFFER = 65_536;

function frameHeader(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  out[at] = (length >>> 16) & 0xff;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream, at + 5);
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  frameHeader(out, 0, payload.length, type, flags, stream);
  payload.copy(out, 9);
  return out;
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1), `first` holding the bits above the prefix. */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(text: string): number[] {
  const bytes = Buffer.from(text, 'latin1');
  return [...hpackInt(bytes.length, 7, 0), ...bytes];
}

/** A literal field without indexing: by a static-table name index, or with the name itself (index 0). */
function literal(nameIndex: number, name: string, value: string): number[] {
  return [...hpackInt(nameIndex, 4, 0), ...(nameIndex === 0 ? hpackString(name) : []), ...hpackString(value)];
}

/** The HEADERS block of each request of `o`: pseudo-headers, then the user's fields, lower-cased (RFC 9113 §8.2). */
export function encodeH2Requests(o: HttpDriverOptions): Buffer[] {
  const base = new URL(o.url);
  let authority = base.host;
  const rest: number[] = [];
  for (const [name, value] of o.headers) {
    const lower = name.toLowerCase();
    if (lower === 'host') authority = value;
    else rest.push(...literal(0, lower, value));
  }
  const method = o.method === 'GET' ? [0x82] : o.method === 'POST' ? [0x83] : literal(2, '', o.method);
  const scheme = base.protocol === 'https:' ? [0x87] : [0x86];
  return (o.urls ?? [o.url]).map((target) => {
    const u = new URL(target, base);
    const path = `${u.pathname}${u.search}`;
    const pathField = path === '/' ? [0x84] : path === '/index.html' ? [0x85] : literal(4, '', path);
    return Buffer.from([...method, ...scheme, ...pathField, ...literal(1, '', authority), ...rest]);
  });
}

/** Static-table entries 8..14 are `:status` with these values (RFC 7541 Appendix A). */
const STATIC_STATUS = [200, 204, 206, 304, 400, 404, 500];

/**
 * Huffman codes of the ten digits (RFC 7541 Appendix B), the only characters
 * of a status; code << (8 - bits) in a byte, for matching against the top bits.
 */
const DIGIT_CODES: readonly [code: number, bits: number][] = [
  [0x0, 5],
  [0x1, 5],
  [0x2, 5],
  [0x19, 6],
  [0x1a, 6],
  [0x1b, 6],
  [0x1c, 6],
  [0x1d, 6],
  [0x1e, 6],
  [0x1f, 6],
];

/** A status value as HPACK sent it: three ASCII digits, or their Huffman code. -1 when it is not a status. */
export function statusValue(block: Buffer, at: number, length: number, huffman: boolean): number {
  if (!huffman) {
    if (length !== 3) return -1;
    let n = 0;
    for (let i = 0; i < 3; i++) {
      const d = block[at + i]! - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    return n;
  }
  // Bits, most significant first; three digits take 15 to 18 of them, padded with ones to a byte.
  let acc = 0;
  let bits = 0;
  let n = 0;
  let digits = 0;
  let i = at;
  const end = at + length;
  while (digits < 3) {
    while (bits < 6 && i < end) {
      acc = (acc << 8) | block[i++]!;
      bits += 8;
    }
    let matched = false;
    for (let d = 0; d < 10; d++) {
      const [code, width] = DIGIT_CODES[d]!;
      if (bits >= width && ((acc >>> (bits - width)) & ((1 << width) - 1)) === code) {
        n = n * 10 + d;
        digits++;
        bits -= width;
        acc &= (1 << bits) - 1;
        matched = true;
        break;
      }
    }
    if (!matched) return -1;
  }
  // What is left must be padding: fewer than 8 bits, all ones, and no more bytes.
  return i === end && bits < 8 && acc === (1 << bits) - 1 ? n : -1;
}

/** An HPACK integer read at `at` with an N-bit prefix; sets `intEnd`. -1 when the block ends inside it. */
let intEnd = 0;
function readInt(block: Buffer, at: number, end: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  let value = block[at]! & max;
  let i = at + 1;
  if (value === max) {
    let shift = 0;
    let b: number;
    do {
      if (i >= end || shift > 28) return -1;
      b = block[i++]!;
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
  }
  intEnd = i;
  return value;
}

/**
 * The `:status` of a response header block, or -1 when it has none or the
 * block is malformed. With a table of size 0 every field is indexed from the
 * static table or literal; every literal is skipped but `:status`.
 */
export function statusOf(block: Buffer, start: number, end: number): number {
  let i = start;
  let status = -1;
  while (i < end) {
    const b = block[i]!;
    if (b & 0x80) {
      const index = readInt(block, i, end, 7);
      if (index < 1 || index > 61) return -1;
      if (index >= 8 && index <= 14) status = STATIC_STATUS[index - 8]!;
      i = intEnd;
      continue;
    }
    if ((b & 0xe0) === 0x20) {
      // A table size update: to 0, as advertised.
      if (readInt(block, i, end, 5) !== 0) return -1;
      i = intEnd;
      continue;
    }
    const prefix = (b & 0xc0) === 0x40 ? 6 : 4;
    const nameIndex = readInt(block, i, end, prefix);
    if (nameIndex < 0 || nameIndex > 61) return -1;
    i = intEnd;
    let isStatus = nameIndex >= 8 && nameIndex <= 14;
    if (nameIndex === 0) {
      if (i >= end) return -1;
      const huffman = (block[i]! & 0x80) !== 0;
      const length = readInt(block, i, end, 7);
      if (length < 0 || intEnd + length > end) return -1;
      // ":status" written out is 7 raw bytes; a Huffman-coded name is never a pseudo-header in practice, and skipped.
      isStatus = !huffman && length === 7 && block.toString('latin1', intEnd, intEnd + 7) === ':status';
      i = intEnd + length;
    }
    if (i >= end) return -1;
    const huffman = (block[i]! & 0x80) !== 0;
    const length = readInt(block, i, end, 7);
    if (length < 0 || intEnd + length > end) return -1;
    if (isStatus) status = statusValue(block, intEnd, length, huffman);
    i = intEnd + length;
  }
  return status;
}

/** tsload's SETTINGS: no push, no header table, the largest stream window; then the connection's window to the largest. */
const OPENING = Buffer.concat([
  PREFACE,
  frame(SETTINGS, 0, 0, Buffer.from([0, 0x2, 0, 0, 0, 0, 0, 0x1, 0, 0, 0, 0, 0, 0x4, 0x7f, 0xff, 0xff, 0xff])),
  frame(WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0x00, 0x00])),
]);
const SETTINGS_ACK = frame(SETTINGS, ACK, 0, Buffer.alloc(0));

class H2Connection {
  readonly socket: Socket;
  open = false;
  dead = false;
  /** Takes no new stream (GOAWAY, or its stream ids are nearly used up); closes once empty. */
  draining = false;
  listed = false;
  /** Streams it may carry at once: --streams, or fewer if the server's SETTINGS say so. */
  limit: number;
  /**
   * The streams in flight, in slots indexed by (stream id / 2) modulo their
   * number (a power of two, at least twice the streams allowed): no Map entry
   * per request. A new stream whose slot is still taken skips that id, as
   * RFC 9113 §5.1.1 allows (ids only have to increase).
   */
  readonly slotStream: Int32Array;
  readonly slotToken: Int32Array;
  private readonly slotMask: number;
  inFlight = 0;
  nextStream = 1;
  /** Tokens and requests added but not written yet (gathered until the end of the task). */
  readonly pendingTokens: number[] = [];
  readonly pendingRequests: number[] = [];
  readonly startedAt = performance.now();
  tcpAt = 0;
  /** A frame cut by the end of a read, kept until the rest arrives: carryLength bytes of carry. */
  private carry: Buffer | null = null;
  private carryLength = 0;
  /** A header block being gathered from HEADERS and CONTINUATION frames. */
  private block: Buffer[] = [];
  private blockStream = 0;
  private blockEnds = false;
  private windowUsed = 0;
  private readonly connectTimer: NodeJS.Timeout;

  constructor(
    readonly driver: NativeH2Driver,
    host: string,
    port: number,
    tls: TlsSettings | undefined,
    limit: number,
  ) {
    this.limit = limit;
    let slots = 2;
    while (slots < 2 * limit) slots *= 2;
    this.slotStream = new Int32Array(slots);
    this.slotToken = new Int32Array(slots);
    this.slotMask = slots - 1;
    const onread: OnReadOpts = { buffer: driver.readBuffer, callback: this.onRead };
    if (tls !== undefined) {
      // node:tls takes `onread` as node:net does, though its types do not say so.
      const options: ConnectionOptions & { onread: OnReadOpts } = { host, port, ...tlsConnectOptions(tls, host), ALPNProtocols: ['h2'], onread };
      this.socket = tlsConnect(options);
      this.socket.once('connect', () => (this.tcpAt = performance.now()));
      this.socket.once('secureConnect', this.onConnect);
    } else {
      this.socket = netConnect({ host, port, onread });
      this.socket.once('connect', this.onConnect);
    }
    this.socket.setNoDelay(true);
    // As undici's: a connection that does not open in 10 s fails what waits on it, instead of holding its place in the pool.
    this.connectTimer = setTimeout(() => this.socket.destroy(Object.assign(new Error('connect timed out'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), 10_000);
    this.socket.on('end', this.onClose);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
  }

  get count(): number {
    return this.inFlight + this.pendingTokens.length;
  }

  /** The token of stream `stream` in flight, or -1. */
  tokenOf(stream: number): number {
    const slot = (stream >>> 1) & this.slotMask;
    return this.slotStream[slot] === stream ? this.slotToken[slot]! : -1;
  }

  /** Stream `stream` is no longer in flight. */
  forget(stream: number): void {
    const slot = (stream >>> 1) & this.slotMask;
    if (this.slotStream[slot] !== stream) return;
    this.slotStream[slot] = 0;
    this.inFlight--;
  }

  /** A new stream for `token`: the next id whose slot is free. */
  openStream(token: number): number {
    let stream = this.nextStream;
    let slot = (stream >>> 1) & this.slotMask;
    while (this.slotStream[slot] !== 0) {
      stream += 2;
      slot = (slot + 1) & this.slotMask;
    }
    this.nextStream = stream + 2;
    this.slotStream[slot] = stream;
    this.slotToken[slot] = token;
    this.inFlight++;
    return stream;
  }

  get full(): boolean {
    return this.draining || this.count >= this.limit;
  }

  add(token: number, request: number): void {
    this.pendingTokens.push(token);
    this.pendingRequests.push(request);
    if (this.open && this.pendingTokens.length === 1) process.nextTick(flushH2, this);
  }

  private readonly onConnect = (): void => {
    clearTimeout(this.connectTimer);
    const tls = this.tcpAt > 0;
    if (tls && (this.socket as { alpnProtocol?: string | false }).alpnProtocol !== 'h2') {
      this.driver.broken(this, Failure.other, 0);
      return;
    }
    this.open = true;
    this.socket.write(OPENING);
    this.driver.connected(this, tls ? performance.now() - this.tcpAt : -1);
    flushH2(this);
  };

  private readonly onError = (error: Error): void => {
    clearTimeout(this.connectTimer);
    if (!this.dead) this.driver.broken(this, failureOf(error), this.open ? 0 : this.tcpAt > 0 ? 1 : 0);
  };

  private readonly onClose = (): void => {
    clearTimeout(this.connectTimer);
    if (!this.dead) this.driver.broken(this, Failure.connreset, 0);
  };

  /** `n` bytes read into the driver's read buffer; what is left of them after the last whole frame is copied to `carry`. */
  private readonly onRead = (n: number, chunk: Buffer): boolean => {
    if (this.dead) return true;
    this.driver.bytesIn += n;
    let at = 0;
    if (this.carryLength > 0) {
      at = this.completeCarry(chunk, n);
      if (at < 0) return true;
    }
    while (n - at >= 9) {
      const length = (chunk[at]! << 16) | (chunk[at + 1]! << 8) | chunk[at + 2]!;
      if (length > MAX_FRAME) {
        this.driver.broken(this, Failure.other, 0);
        return true;
      }
      if (n - at < 9 + length) break;
      this.frame(chunk, at + 9, length, chunk[at + 3]!, chunk[at + 4]!, chunk.readUInt32BE(at + 5) & 0x7fffffff);
      if (this.dead) return true;
      at += 9 + length;
    }
    if (at < n) {
      // Room for the largest frame tsload accepts, made once per connection and only if a frame is ever cut.
      this.carry ??= Buffer.allocUnsafe(9 + MAX_FRAME);
      chunk.copy(this.carry, 0, at, n);
      this.carryLength = n - at;
    }
    return true;
  };

  /**
   * Fill the cut frame in `carry` from the start of `chunk` and handle it once
   * whole. Returns where `chunk`'s own frames begin: `n` if all of it went to
   * the carried frame, -1 if the connection broke.
   */
  private completeCarry(chunk: Buffer, n: number): number {
    const carry = this.carry!;
    let at = 0;
    if (this.carryLength < 9) {
      const take = Math.min(9 - this.carryLength, n);
      chunk.copy(carry, this.carryLength, 0, take);
      this.carryLength += take;
      at = take;
      if (this.carryLength < 9) return n;
    }
    const length = (carry[0]! << 16) | (carry[1]! << 8) | carry[2]!;
    if (length > MAX_FRAME) {
      this.driver.broken(this, Failure.other, 0);
      return -1;
    }
    const take = Math.min(9 + length - this.carryLength, n - at);
    chunk.copy(carry, this.carryLength, at, at + take);
    this.carryLength += take;
    at += take;
    if (this.carryLength < 9 + length) return n;
    this.carryLength = 0;
    this.frame(carry, 9, length, carry[3]!, carry[4]!, carry.readUInt32BE(5) & 0x7fffffff);
    return this.dead ? -1 : at;
  }

  private frame(buf: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
    const d = this.driver;
    if (this.block.length > 0 && type !== CONTINUATION) return d.broken(this, Failure.other, 0);
    switch (type) {
      case DATA: {
        this.windowUsed += length;
        if (this.windowUsed >= WINDOW_REFILL) {
          const update = Buffer.alloc(4);
          update.writeUInt32BE(this.windowUsed);
          this.socket.write(frame(WINDOW_UPDATE, 0, 0, update));
          this.windowUsed = 0;
        }
        const padding = flags & PADDED ? buf[at]! + 1 : 0;
        d.replyBodyBytes += length - padding;
        if (flags & END_STREAM) this.end(stream);
        return;
      }
      case HEADERS: {
        let start = at;
        let end = at + length;
        if (flags & PADDED) end -= buf[start++]!;
        if (flags & PRIORITY) start += 5;
        if (start > end) return d.broken(this, Failure.other, 0);
        d.replyHeaderBytes += 9 + length;
        if (flags & END_HEADERS) return this.headers(buf, start, end, stream, (flags & END_STREAM) !== 0);
        this.block = [Buffer.from(buf.subarray(start, end))];
        this.blockStream = stream;
        this.blockEnds = (flags & END_STREAM) !== 0;
        return;
      }
      case CONTINUATION: {
        if (this.block.length === 0 || stream !== this.blockStream) return d.broken(this, Failure.other, 0);
        d.replyHeaderBytes += 9 + length;
        this.block.push(Buffer.from(buf.subarray(at, at + length)));
        if (flags & END_HEADERS) {
          const whole = Buffer.concat(this.block);
          this.block = [];
          this.headers(whole, 0, whole.length, stream, this.blockEnds);
        }
        return;
      }
      case RST_STREAM: {
        const token = this.tokenOf(stream);
        if (token < 0) return;
        this.forget(stream);
        const code = length >= 4 ? buf.readUInt32BE(at) : 0;
        d.reset(this, token, code === REFUSED_STREAM);
        return;
      }
      case SETTINGS: {
        if (flags & ACK) return;
        for (let i = at; i + 6 <= at + length; i += 6) {
          // SETTINGS_MAX_CONCURRENT_STREAMS: the server's limit on this connection.
          if (buf.readUInt16BE(i) === 0x3) this.limit = Math.max(1, Math.min(this.limit, buf.readUInt32BE(i + 2)));
        }
        this.socket.write(SETTINGS_ACK);
        return;
      }
      case PING: {
        if (flags & ACK) return;
        this.socket.write(frame(PING, ACK, 0, Buffer.from(buf.subarray(at, at + 8))));
        return;
      }
      case GOAWAY: {
        const last = length >= 4 ? buf.readUInt32BE(at) & 0x7fffffff : 0;
        this.draining = true;
        d.goingAway(this, last);
        return;
      }
      default:
        // WINDOW_UPDATE (tsload sends no bodies), PRIORITY, unknown types: nothing to do (RFC 9113 §5.5).
        return;
    }
  }

  private headers(block: Buffer, start: number, end: number, stream: number, ends: boolean): void {
    const token = this.tokenOf(stream);
    if (token < 0) return;
    // A second block after the response's is its trailers: no status, only the end.
    if (this.driver.statusOf[token] !== 0) {
      if (ends) this.end(stream);
      return;
    }
    const status = statusOf(block, start, end);
    // A 1xx is informational: the final response follows on the same stream.
    if (status >= 100 && status < 200) return;
    if (status < 0) {
      this.forget(stream);
      this.driver.answered(this, token, Failure.other);
      return;
    }
    this.driver.statusOf[token] = status;
    if (ends) this.end(stream);
  }

  private end(stream: number): void {
    const token = this.tokenOf(stream);
    if (token < 0) return;
    this.forget(stream);
    this.driver.answered(this, token, this.driver.statusOf[token]!);
  }
}

/** The gathered HEADERS frames of `c` in one write: one system call, and one TLS record, for what one task added. */
function flushH2(c: H2Connection): void {
  const n = c.pendingTokens.length;
  if (n === 0 || c.dead || !c.open) return;
  const d = c.driver;
  let length = 0;
  for (let k = 0; k < n; k++) length += 9 + d.blocks[c.pendingRequests[k]!]!.length;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (let k = 0; k < n; k++) {
    const block = d.blocks[c.pendingRequests[k]!]!;
    const token = c.pendingTokens[k]!;
    const stream = c.openStream(token);
    frameHeader(out, at, block.length, HEADERS, END_HEADERS | END_STREAM, stream);
    block.copy(out, at + 9);
    at += 9 + block.length;
    d.streamOf[token] = stream;
    d.wroteToken(token);
  }
  c.pendingTokens.length = 0;
  c.pendingRequests.length = 0;
  if (c.nextStream > LAST_STREAM_ID) c.draining = true;
  d.requestsWritten += n;
  d.bytesSent += length;
  c.socket.write(out);
}

export class NativeH2Driver extends HttpDriverBase {
  readonly blocks: Buffer[];
  readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER);
  /** Per token: its stream id, and the status its headers carried. */
  readonly streamOf: Int32Array;
  readonly statusOf: Int32Array;
  bytesIn = 0;
  private readonly host: string;
  private readonly port: number;
  private readonly tls: TlsSettings | undefined;
  private readonly streamsPer: number;
  private readonly share: number;
  private readonly perRequest: boolean;
  private readonly fixedPool: boolean;
  private readonly carrier: (H2Connection | undefined)[];
  private readonly withRoom: H2Connection[] = [];
  private readonly live = new Set<H2Connection>();
  private connecting = 0;
  private tlsHandshakes = 0;
  private tlsHandshakeMs = 0;
  private tlsHandshakeFailures = 0;

  constructor(o: HttpDriverOptions, completion: Completion, timeoutMs: number, maxInflight: number, share: number) {
    const streams = o.newConnectionPerRequest ? 1 : (o.streams ?? DEFAULT_STREAMS);
    const blocks = encodeH2Requests(o);
    super(completion, timeoutMs, maxInflight, share * streams, blocks.length);
    this.blocks = blocks;
    ({ host: this.host, port: this.port } = endpointOf(new URL(o.url)));
    this.tls = /^https:/i.test(o.url) ? (o.tls ?? { insecure: false }) : undefined;
    this.streamsPer = streams;
    this.share = share;
    this.perRequest = o.newConnectionPerRequest;
    this.fixedPool = o.connections !== undefined;
    this.carrier = new Array<H2Connection | undefined>(maxInflight);
    this.streamOf = new Int32Array(maxInflight);
    this.statusOf = new Int32Array(maxInflight);
  }

  protected dispatch(token: number, request: number): void {
    let c: H2Connection | undefined;
    while ((c = this.withRoom.pop()) !== undefined && (c.dead || c.full)) c.listed = false;
    if (c === undefined) {
      c = new H2Connection(this, this.host, this.port, this.tls, this.streamsPer);
      this.live.add(c);
      this.connecting++;
    } else {
      c.listed = false;
    }
    this.carrier[token] = c;
    this.streamOf[token] = 0;
    this.statusOf[token] = 0;
    c.add(token, request);
    if (!c.full && !this.perRequest) {
      c.listed = true;
      this.withRoom.push(c);
    }
  }

  wroteToken(token: number): void {
    this.wrote(token);
  }

  protected override hasRoom(): boolean {
    // A listed connection may have filled since (the server lowered its streams, or it is going away).
    let top: H2Connection | undefined;
    while ((top = this.withRoom[this.withRoom.length - 1]) !== undefined && (top.dead || top.full)) {
      top.listed = false;
      this.withRoom.pop();
    }
    if (this.withRoom.length > 0 && !this.perRequest) return true;
    if (this.live.size >= this.share) return false;
    const open = this.live.size - this.connecting;
    return this.fixedPool || this.perRequest ? mayOpen(this.connecting, open) : this.shouldGrow(this.connecting, open);
  }

  connected(c: H2Connection, handshakeMs: number): void {
    this.connections++;
    this.connecting--;
    if (handshakeMs >= 0) {
      this.tlsHandshakes++;
      this.tlsHandshakeMs += handshakeMs;
    }
    this.timedConnect(performance.now() - c.startedAt);
    this.pump();
  }

  answered(c: H2Connection, token: number, code: number): void {
    this.carrier[token] = undefined;
    if (this.perRequest || (c.draining && c.count === 0)) this.drop(c);
    else this.relist(c);
    this.finished(token, code);
  }

  /** The server reset a stream: REFUSED_STREAM was never processed and goes again; any other fails. */
  reset(c: H2Connection, token: number, refused: boolean): void {
    this.carrier[token] = undefined;
    this.relist(c);
    if (refused) {
      this.giveBack(token);
      this.pump();
    } else this.finished(token, Failure.connreset);
  }

  /** GOAWAY: streams above `last` were not processed and go again elsewhere; the rest may still finish. */
  goingAway(c: H2Connection, last: number): void {
    const unprocessed: number[] = [];
    for (let slot = 0; slot < c.slotStream.length; slot++) if (c.slotStream[slot]! > last) unprocessed.push(c.slotStream[slot]!);
    // Newest first, so the ones given back keep their order (see giveBack).
    unprocessed.sort((x, y) => y - x);
    for (const stream of unprocessed) {
      const token = c.tokenOf(stream);
      c.forget(stream);
      this.carrier[token] = undefined;
      this.giveBack(token);
    }
    while (c.pendingTokens.length > 0) {
      const token = c.pendingTokens.pop()!;
      c.pendingRequests.pop();
      this.carrier[token] = undefined;
      this.giveBack(token);
    }
    if (c.count === 0) this.drop(c);
    this.pump();
  }

  private relist(c: H2Connection): void {
    if (!c.listed && !c.dead && !c.full && !this.perRequest) {
      c.listed = true;
      this.withRoom.push(c);
    }
  }

  /** Connection `c` failed: what it carried fails with `code`. `handshakeFailed` counts a TLS handshake that did not finish. */
  broken(c: H2Connection, code: number, handshakeFailed: number): void {
    this.tlsHandshakeFailures += handshakeFailed;
    this.drop(c);
    for (let slot = 0; slot < c.slotStream.length; slot++) {
      if (c.slotStream[slot] === 0) continue;
      c.slotStream[slot] = 0;
      c.inFlight--;
      const token = c.slotToken[slot]!;
      this.carrier[token] = undefined;
      this.finished(token, code);
    }
    for (const token of c.pendingTokens) {
      this.carrier[token] = undefined;
      this.finished(token, code);
    }
    c.pendingTokens.length = 0;
    c.pendingRequests.length = 0;
  }

  protected cancel(token: number): void {
    const c = this.carrier[token]!;
    this.carrier[token] = undefined;
    const stream = this.streamOf[token]!;
    if (stream === 0) {
      // Not written yet: it leaves the connection's gathered list.
      const at = c.pendingTokens.indexOf(token);
      if (at >= 0) {
        c.pendingTokens.splice(at, 1);
        c.pendingRequests.splice(at, 1);
      }
    } else if (c.tokenOf(stream) === token) {
      c.forget(stream);
      if (!c.dead) {
        const code = Buffer.alloc(4);
        code.writeUInt32BE(CANCEL);
        c.socket.write(frame(RST_STREAM, 0, stream, code));
      }
    }
    this.released();
    this.relist(c);
  }

  private drop(c: H2Connection): void {
    if (c.dead) return;
    c.dead = true;
    this.live.delete(c);
    if (!c.open) this.connecting--;
    c.socket.destroy();
  }

  protected override bytesReceived(): number {
    return this.bytesIn;
  }

  override counters(): HttpCounters {
    return {
      ...super.counters(),
      tlsHandshakes: this.tlsHandshakes,
      tlsHandshakeMs: this.tlsHandshakeMs,
      tlsHandshakeFailures: this.tlsHandshakeFailures,
      h2Connections: this.connections,
      h1Connections: 0,
    };
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
