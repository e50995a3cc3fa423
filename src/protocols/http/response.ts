/**
 * An HTTP/1.x response reader for tsload's own client: fed the bytes of one
 * connection as they arrive, it reports each whole response with its status.
 * It keeps only what a load generator needs (status, framing, keep-alive,
 * byte counts) and copies nothing except a header line split across reads,
 * so the shared read buffer can be reused at once.
 */

/** Where a response's bytes are counted (shared by every connection of a driver). */
export interface ReplyBytes {
  /** Status line and header fields (and trailers), with their line ends, of final and informational responses. */
  replyHeaderBytes: number;
  /** Payload: content-length bytes, or chunk data without the chunk framing. */
  replyBodyBytes: number;
  /** Everything read from the wire. */
  replyWireBytes: number;
}

export interface ResponseSink {
  /** A whole final response to the oldest outstanding request on the connection. */
  response(status: number, keepAlive: boolean): void;
}

const enum State {
  Status,
  Headers,
  Body,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
}

const LF = 10;
const CR = 13;
/** Longest status or header line accepted; nginx and Apache refuse longer request lines too. */
const MAX_LINE = 16 * 1024;

/** Lower-case a byte if it is an ASCII upper-case letter. */
const lower = (b: number): number => (b >= 65 && b <= 90 ? b + 32 : b);

function nameIs(b: Uint8Array, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (lower(b[start + i]!) !== name.charCodeAt(i)) return false;
  return true;
}

/** Whether a comma-separated header value holds `token` (case-insensitive, lower-case token). */
function hasToken(b: Uint8Array, start: number, end: number, token: string): boolean {
  let i = start;
  while (i < end) {
    while (i < end && (b[i] === 32 || b[i] === 9 || b[i] === 44)) i++;
    let j = i;
    while (j < end && b[j] !== 44) j++;
    let k = j;
    while (k > i && (b[k - 1] === 32 || b[k - 1] === 9)) k--;
    if (nameIs(b, i, k, token)) return true;
    i = j + 1;
  }
  return false;
}

export class ResponseReader {
  /** Set when the bytes are not an HTTP/1.x response; the connection must be dropped. */
  error = '';
  private state = State.Status;
  private status = 0;
  private http10 = false;
  private keepAlive = true;
  private chunked = false;
  private contentLength = -1;
  private remaining = 0;
  /** A line split across reads, gathered here until its LF arrives. */
  private line: Buffer | null = null;
  private lineLength = 0;
  private halted = false;

  /**
   * @param headRequests the requests are HEAD, so no response has a body whatever its headers say
   */
  constructor(
    private readonly sink: ResponseSink,
    private readonly bytes: ReplyBytes,
    private readonly headRequests: boolean,
  ) {}

  /** Ignore the rest of what was read: the connection is being dropped (a response said close). */
  halt(): void {
    this.halted = true;
  }

  /** Read buf[start, end). Returns false (and sets `error`) on a protocol error. */
  feed(buf: Buffer, start: number, end: number): boolean {
    this.bytes.replyWireBytes += end - start;
    let i = start;
    while (i < end && !this.halted) {
      const state = this.state;
      if (state === State.Body || state === State.ChunkData) {
        const take = Math.min(this.remaining, end - i);
        this.remaining -= take;
        this.bytes.replyBodyBytes += take;
        i += take;
        if (this.remaining === 0) {
          if (state === State.Body) this.complete();
          else this.state = State.ChunkEnd;
        }
        continue;
      }
      if (state === State.UntilClose) {
        this.bytes.replyBodyBytes += end - i;
        return true;
      }
      // Line states: find the line's end, gathering a split line in `line`.
      const lf = buf.indexOf(LF, i);
      if (lf === -1 || lf >= end) {
        if (this.lineLength + end - i > MAX_LINE) return this.fail('a status or header line longer than 16 KiB');
        // Rare (a head split across reads), so the buffer is only made when first needed.
        this.line ??= Buffer.allocUnsafe(MAX_LINE);
        buf.copy(this.line, this.lineLength, i, end);
        this.lineLength += end - i;
        return true;
      }
      let ok: boolean;
      if (this.lineLength > 0) {
        if (this.lineLength + lf + 1 - i > MAX_LINE) return this.fail('a status or header line longer than 16 KiB');
        const line = this.line!;
        buf.copy(line, this.lineLength, i, lf + 1);
        const length = this.lineLength + lf + 1 - i;
        this.lineLength = 0;
        ok = this.onLine(line, 0, length - 1);
      } else {
        if (lf + 1 - i > MAX_LINE) return this.fail('a status or header line longer than 16 KiB');
        ok = this.onLine(buf, i, lf);
      }
      if (!ok) return false;
      i = lf + 1;
    }
    return true;
  }

  /**
   * The connection reached end of file. Returns true if that ended a response
   * (one delimited by the close), which has then been reported.
   */
  eof(): boolean {
    if (this.state !== State.UntilClose) return false;
    this.complete();
    return true;
  }

  /** One line without its LF: b[start, lfAt). */
  private onLine(b: Uint8Array, start: number, lfAt: number): boolean {
    const end = lfAt > start && b[lfAt - 1] === CR ? lfAt - 1 : lfAt;
    const lineBytes = lfAt + 1 - start;
    switch (this.state) {
      case State.Status:
        this.bytes.replyHeaderBytes += lineBytes;
        return this.onStatusLine(b, start, end);
      case State.Headers:
        this.bytes.replyHeaderBytes += lineBytes;
        if (end === start) return this.onHeadEnd();
        return this.onHeaderField(b, start, end);
      case State.ChunkSize:
        return this.onChunkSize(b, start, end);
      case State.ChunkEnd:
        if (end !== start) return this.fail('chunk data longer than its size');
        this.state = State.ChunkSize;
        return true;
      case State.Trailers:
        this.bytes.replyHeaderBytes += lineBytes;
        if (end === start) this.complete();
        return true;
      default:
        return this.fail('internal: line in a body state');
    }
  }

  private onStatusLine(b: Uint8Array, start: number, end: number): boolean {
    // "HTTP/1.1 200" at least; the reason phrase may be empty.
    if (end - start < 12 || b[start] !== 72 || b[start + 1] !== 84 || b[start + 2] !== 84 || b[start + 3] !== 80 || b[start + 4] !== 47 || b[start + 5] !== 49 || b[start + 6] !== 46 || b[start + 8] !== 32) {
      return this.fail('not an HTTP/1.x status line');
    }
    const d0 = b[start + 9]! - 48;
    const d1 = b[start + 10]! - 48;
    const d2 = b[start + 11]! - 48;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.fail('a status code that is not three digits');
    this.status = d0 * 100 + d1 * 10 + d2;
    this.http10 = b[start + 7] === 48;
    this.keepAlive = !this.http10;
    this.chunked = false;
    this.contentLength = -1;
    this.state = State.Headers;
    return true;
  }

  private onHeaderField(b: Uint8Array, start: number, end: number): boolean {
    let colon = start;
    while (colon < end && b[colon] !== 58) colon++;
    if (colon === end || colon === start) return this.fail('a header line without a name and colon');
    let v = colon + 1;
    while (v < end && (b[v] === 32 || b[v] === 9)) v++;
    let ve = end;
    while (ve > v && (b[ve - 1] === 32 || b[ve - 1] === 9)) ve--;
    const n = colon - start;
    if (n === 14 && nameIs(b, start, colon, 'content-length')) {
      let value = 0;
      if (ve === v) return this.fail('an empty content-length');
      for (let i = v; i < ve; i++) {
        const d = b[i]! - 48;
        if (d < 0 || d > 9) return this.fail('a content-length that is not a number');
        value = value * 10 + d;
      }
      if (this.contentLength >= 0 && this.contentLength !== value) return this.fail('two different content-length values');
      this.contentLength = value;
    } else if (n === 17 && nameIs(b, start, colon, 'transfer-encoding')) {
      this.chunked = hasToken(b, v, ve, 'chunked');
    } else if (n === 10 && nameIs(b, start, colon, 'connection')) {
      if (hasToken(b, v, ve, 'close')) this.keepAlive = false;
      else if (this.http10 && hasToken(b, v, ve, 'keep-alive')) this.keepAlive = true;
    }
    return true;
  }

  private onHeadEnd(): boolean {
    const status = this.status;
    if (status < 200) {
      // 101 would hand the connection to another protocol, which tsload does not speak.
      if (status === 101) return this.fail('the server switched protocols (101)');
      // Informational (100 Continue, 103 Early Hints): the final response follows.
      this.state = State.Status;
      return true;
    }
    if (this.headRequests || status === 204 || status === 304) {
      this.complete();
    } else if (this.chunked) {
      this.state = State.ChunkSize;
    } else if (this.contentLength >= 0) {
      this.remaining = this.contentLength;
      if (this.remaining === 0) this.complete();
      else this.state = State.Body;
    } else {
      this.keepAlive = false;
      this.state = State.UntilClose;
    }
    return true;
  }

  private onChunkSize(b: Uint8Array, start: number, end: number): boolean {
    let size = 0;
    let i = start;
    for (; i < end; i++) {
      const c = lower(b[i]!);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
      if (d < 0) break;
      size = size * 16 + d;
    }
    // Chunk extensions (";name=value") and whitespace may follow the size.
    if (i === start || (i < end && b[i] !== 59 && b[i] !== 32 && b[i] !== 9)) return this.fail('a chunk size that is not hexadecimal');
    if (size > Number.MAX_SAFE_INTEGER / 16) return this.fail('a chunk size too large');
    if (size === 0) {
      this.state = State.Trailers;
    } else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
    return true;
  }

  private complete(): void {
    this.state = State.Status;
    this.sink.response(this.status, this.keepAlive);
  }

  private fail(why: string): false {
    this.error = why;
    return false;
  }
}
