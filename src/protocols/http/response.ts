/**
 * An HTTP/1.x response reader for tsload's own client: fed the bytes of one
 * connection as they arrive, it reports each whole response with its status.
 * It keeps only what a load generator needs (status, framing, keep-alive,
 * byte counts) and copies nothing except a header line split across reads
 * and the few bytes of the framing fields' values, so the shared read buffer
 * can be reused at once.
 *
 * It reads as RFC 9112 says a user agent must, and refuses what breaks it
 * (a protocol error: `feed` returns false and `error` says why, with an
 * excerpt of the bytes). Every line is checked byte by byte as it arrives,
 * a line split across reads included, so a response the bytes already
 * condemn is refused at once rather than waited on until the timeout.
 * Choices where the RFC leaves one: a bare LF ends a line (§2.2 allows it);
 * a bare CR is refused (§2.2); empty lines before a status line are skipped
 * (as llhttp does); obs-fold is read as a space (§5.2); Content-Length is
 * bounded by Number.MAX_SAFE_INTEGER and may repeat one value (RFC 9110
 * §8.6); status codes are 100–599 (RFC 9110 §15).
 */
import { excerpt } from './failures.js';

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
  /** Whether a request on the connection is still unanswered: a response to none is a protocol error. */
  waiting(): boolean;
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

/** Where a field line's check is (the `scan` of Headers and Trailers). */
const enum Field {
  Start,
  Name,
  Value,
}

/** Where a chunk-size line's check is: RFC 9112 §7.1.1's chunk-ext, BWS allowed only where it says. */
const enum Chunk {
  Size0,
  Size,
  /** Whitespace after the size: a ';' must follow. */
  SizeWs,
  /** After ';': whitespace, then a name. */
  Name0,
  Name,
  NameWs,
  /** After '=': whitespace, then a token or a quoted string. */
  Value0,
  Token,
  ValueWs,
  Quoted,
  QuotedPair,
  /** After the closing quote. */
  Unquoted,
}

/** The framing and connection fields, read once the whole (perhaps folded) field is in. */
const enum Tracked {
  None,
  Other,
  ContentLength,
  TransferEncoding,
  Connection,
}

const LF = 10;
const CR = 13;
const SP = 32;
const HTAB = 9;
const COMMA = 44;
const COLON = 58;
/** Longest status or header line accepted; nginx and Apache refuse longer request lines too. */
const MAX_LINE = 16 * 1024;
/** "HTTP/1." */
const VERSION_PREFIX = [72, 84, 84, 80, 47, 49, 46];

/** Byte classes (RFC 9110 §5.6.2, §5.5; RFC 9112 §4): tchar, field-value and reason bytes, qdtext, HEXDIG. */
const TCHAR = 1;
const VCHAR = 2;
const QDTEXT = 4;
const HEXDIG = 8;
const classes = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  if (/[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(ch)) classes[c]! |= TCHAR;
  if (c === HTAB || (c >= SP && c !== 0x7f)) classes[c]! |= VCHAR;
  if ((classes[c]! & VCHAR) !== 0 && c !== 0x22 && c !== 0x5c) classes[c]! |= QDTEXT;
  if (/[0-9A-Fa-f]/.test(ch)) classes[c]! |= HEXDIG;
}

/** Lower-case a byte if it is an ASCII upper-case letter. */
const lower = (b: number): number => (b >= 65 && b <= 90 ? b + 32 : b);
const isWs = (c: number): boolean => c === SP || c === HTAB;

/**
 * Whether checked bytes (a token, or field-value bytes) are `name`, a
 * lower-case word of letters and '-', in any case. Setting bit 0x20 lowers
 * a letter, and of the bytes a check lets through only a letter becomes one
 * and only '-' becomes '-'.
 */
function nameIs(b: Uint8Array, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if ((b[start + i]! | 0x20) !== name.charCodeAt(i)) return false;
  return true;
}

export class ResponseReader {
  /** Set when the bytes are not an HTTP/1.x response; the connection must be dropped. */
  error = '';
  private state = State.Status;
  /** How far the check of the current line is: a position on a status line, a Field or a Chunk state. */
  private scan = 0;
  private status = 0;
  private http10 = false;
  /** The head's Connection field said close, or keep-alive. */
  private close = false;
  private keepAliveAsked = false;
  private keepAlive = true;
  private transferEncoding = false;
  /** The last transfer coding seen is chunked. */
  private chunked = false;
  private contentLength = -1;
  /** Why the Content-Length is invalid, if it is: an error only where it frames the body. */
  private contentLengthError = '';
  private remaining = 0;
  /** The field the last field line began (a following obs-fold continues it). */
  private field = Tracked.None;
  /** The value of a tracked field so far, folds read as a space. */
  private value: Buffer | null = null;
  private valueLength = 0;
  /** A line split across reads, gathered here until its LF arrives; `checked` of its bytes are checked. */
  private line: Buffer | null = null;
  private lineLength = 0;
  private checked = 0;
  /** Where the check of a field line found its colon, in the bytes the line is read from. */
  private colon = 0;
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
          if (state === State.Body) {
            if (!this.complete()) return false;
          } else this.state = State.ChunkEnd;
        }
        continue;
      }
      if (state === State.UntilClose) {
        this.bytes.replyBodyBytes += end - i;
        return true;
      }
      if (state === State.Headers && this.lineLength === 0) {
        // Most of a head: a plain field line, found and checked in one pass.
        const lf = this.plainFieldLine(buf, i, end);
        if (lf >= 0) {
          this.scan = Field.Value;
          if (!this.onLine(buf, i, buf[lf - 1] === CR ? lf - 1 : lf, lf + 1 - i)) return false;
          this.scan = 0;
          i = lf + 1;
          continue;
        }
      }
      // Line states: find the line's end, gathering a split line in `line`.
      const lf = buf.indexOf(LF, i);
      if (lf === -1 || lf >= end) return this.gather(buf, i, end);
      let ok: boolean;
      if (this.lineLength > 0) {
        if (this.lineLength + lf + 1 - i > MAX_LINE) return this.tooLong(this.line!, 0, this.lineLength);
        const line = this.line!;
        buf.copy(line, this.lineLength, i, lf + 1);
        const lfAt = this.lineLength + lf - i;
        this.lineLength = 0;
        const contentEnd = lfAt > 0 && line[lfAt - 1] === CR ? lfAt - 1 : lfAt;
        ok = this.check(line, 0, this.checked, contentEnd) && this.onLine(line, 0, contentEnd, lfAt + 1);
      } else {
        if (lf + 1 - i > MAX_LINE) return this.tooLong(buf, i, lf);
        const contentEnd = lf > i && buf[lf - 1] === CR ? lf - 1 : lf;
        ok = this.check(buf, i, i, contentEnd) && this.onLine(buf, i, contentEnd, lf + 1 - i);
      }
      if (!ok) return false;
      this.scan = 0;
      this.checked = 0;
      i = lf + 1;
    }
    return true;
  }

  /**
   * The connection reached end of file. Returns true if that ended a response
   * (one delimited by the close), which has then been reported.
   */
  eof(): boolean {
    if (this.state !== State.UntilClose || this.halted) return false;
    return this.complete();
  }

  /**
   * The LF of a field line `name: value` that is whole in buf[i, end), and
   * checked; -1 for anything else (split, folded, empty, too long or
   * malformed), which the general path then reads and checks.
   */
  private plainFieldLine(buf: Buffer, i: number, end: number): number {
    const start = i;
    if (end - i > MAX_LINE) end = i + MAX_LINE;
    while (i < end && (classes[buf[i]!]! & TCHAR) !== 0) i++;
    if (i === start || i === end || buf[i] !== COLON) return -1;
    this.colon = i;
    for (i++; i < end; i++) {
      const c = buf[i]!;
      if (c >= SP ? c === 0x7f : c !== HTAB) break;
    }
    if (i < end && buf[i] === LF) return i;
    return i + 1 < end && buf[i] === CR && buf[i + 1] === LF ? i + 1 : -1;
  }

  /** Keep the start of a line whose LF has not come yet, and check what is there of it. */
  private gather(buf: Buffer, i: number, end: number): boolean {
    if (this.lineLength + end - i > MAX_LINE) return this.tooLong(this.line ?? buf, this.line === null ? i : 0, this.line === null ? end : this.lineLength);
    // Rare (a head split across reads), so the buffer is only made when first needed.
    const line = (this.line ??= Buffer.allocUnsafe(MAX_LINE));
    buf.copy(line, this.lineLength, i, end);
    this.lineLength += end - i;
    // A CR at the end may be the line's; whether it is bare, the next byte says.
    const upTo = line[this.lineLength - 1] === CR ? this.lineLength - 1 : this.lineLength;
    if (!this.check(line, 0, this.checked, upTo)) return false;
    this.checked = upTo;
    return true;
  }

  private tooLong(b: Uint8Array, start: number, end: number): false {
    return this.fail('a status or header line longer than 16 KiB', b, start, end);
  }

  /** Check bytes b[from, to) of the line that starts at b[lineStart], going on from `scan`. */
  private check(b: Uint8Array, lineStart: number, from: number, to: number): boolean {
    switch (this.state) {
      case State.Status:
        return this.checkStatus(b, lineStart, from, to);
      case State.Headers:
      case State.Trailers:
        return this.checkField(b, lineStart, from, to);
      case State.ChunkSize:
        return this.checkChunkSize(b, lineStart, from, to);
      case State.ChunkEnd:
        return from === to || this.fail('chunk data longer than its size', b, lineStart, from + 1);
      default:
        return this.fail('internal: line in a body state', b, lineStart, to);
    }
  }

  /** RFC 9112 §4: HTTP/1.x SP 3DIGIT, then SP and a reason phrase, or the line's end. */
  private checkStatus(b: Uint8Array, lineStart: number, from: number, to: number): boolean {
    // A whole line in one read (nearly always): "HTTP/1.1 200 " at once, then the reason.
    if (from === lineStart && to - from > 12 && b[from + 12] === SP && this.sink.waiting()) {
      const s = from;
      if (b[s] === 72 && b[s + 1] === 84 && b[s + 2] === 84 && b[s + 3] === 80 && b[s + 4] === 47 && b[s + 5] === 49 && b[s + 6] === 46 && b[s + 8] === SP) {
        const v = b[s + 7]!;
        const d0 = b[s + 9]!;
        const d1 = b[s + 10]!;
        const d2 = b[s + 11]!;
        if (v >= 48 && v <= 57 && d0 >= 49 && d0 <= 53 && d1 >= 48 && d1 <= 57 && d2 >= 48 && d2 <= 57) {
          this.scan = 13;
          return this.checkStatus(b, lineStart, s + 13, to);
        }
      }
    }
    for (let i = from; i < to; i++) {
      const c = b[i]!;
      const p = this.scan++;
      if (p === 0 && !this.sink.waiting()) return this.fail('a response to no request', null, 0, 0);
      if (p < 7) {
        if (c !== VERSION_PREFIX[p]) return this.fail('not an HTTP/1.x status line', b, lineStart, i + 1);
      } else if (p === 7) {
        if (c < 48 || c > 57) return this.fail('not an HTTP/1.x status line', b, lineStart, i + 1);
      } else if (p === 8) {
        if (c !== SP) return this.fail('not an HTTP/1.x status line', b, lineStart, i + 1);
      } else if (p < 12) {
        if (c < 48 || c > 57) return this.fail('status code is not three digits', b, lineStart, i + 1);
        if (p === 9 && (c < 49 || c > 53)) return this.fail('status code is not 100-599', b, lineStart, i + 1);
      } else if (p === 12) {
        if (c !== SP) return this.fail(c === CR ? 'a bare CR' : 'status code is not three digits', b, lineStart, i + 1);
      } else {
        // The reason phrase: checked at a stretch.
        let j = i;
        while (j < to && (classes[b[j]!]! & VCHAR) !== 0) j++;
        this.scan = p + j - i;
        if (j < to) return this.fail(b[j] === CR ? 'a bare CR' : 'a control character in the reason phrase', b, lineStart, j + 1);
        return true;
      }
    }
    return true;
  }

  /** RFC 9112 §5: a token, a colon, field-value bytes; or an obs-fold (§5.2) continuing the field before. */
  private checkField(b: Uint8Array, lineStart: number, from: number, to: number): boolean {
    let i = from;
    if (i < to && this.scan === Field.Start) {
      const c = b[i]!;
      if (isWs(c)) {
        if (this.field === Tracked.None) return this.fail('whitespace before the first header field', b, lineStart, i + 1);
        this.scan = Field.Value;
      } else if ((classes[c]! & TCHAR) !== 0) this.scan = Field.Name;
      else return this.fail(c === COLON ? 'a header field with an empty name' : c === CR ? 'a bare CR' : 'a header field name with an invalid character', b, lineStart, i + 1);
      i++;
    }
    if (this.scan === Field.Name) {
      while (i < to && (classes[b[i]!]! & TCHAR) !== 0) i++;
      if (i === to) return true;
      const c = b[i]!;
      if (c !== COLON) {
        return this.fail(isWs(c) ? 'whitespace between a header field name and its colon' : c === CR ? 'a bare CR' : 'a header field name with an invalid character', b, lineStart, i + 1);
      }
      this.scan = Field.Value;
      this.colon = i;
      i++;
    }
    for (; i < to; i++) {
      const c = b[i]!;
      // Field-value bytes (VCHAR, obs-text, SP, HTAB), tested without the table: this loop reads most of a head.
      if (c >= SP ? c === 0x7f : c !== HTAB) return this.fail(c === CR ? 'a bare CR' : 'a control character in a header field value', b, lineStart, i + 1);
    }
    return true;
  }

  /** RFC 9112 §7.1: 1*HEXDIG, then only chunk-ext (`;name[=token or quoted string]`), whitespace only before ';' and '='. */
  private checkChunkSize(b: Uint8Array, lineStart: number, from: number, to: number): boolean {
    let s = this.scan;
    for (let i = from; i < to; i++) {
      const c = b[i]!;
      const k = classes[c]!;
      switch (s) {
        case Chunk.Size0:
        case Chunk.Size:
          if ((k & HEXDIG) !== 0) {
            const d = c <= 57 ? c - 48 : lower(c) - 87;
            // Checked before it grows, so the sum stays exact.
            if (this.remaining > (Number.MAX_SAFE_INTEGER - d) / 16) return this.fail('a chunk size too large', b, lineStart, i + 1);
            this.remaining = this.remaining * 16 + d;
            s = Chunk.Size;
            continue;
          }
          if (s === Chunk.Size0) break;
          if (c === 59) s = Chunk.Name0;
          else if (isWs(c)) s = Chunk.SizeWs;
          else break;
          continue;
        case Chunk.SizeWs:
        case Chunk.ValueWs:
          if (c === 59) s = Chunk.Name0;
          else if (!isWs(c)) break;
          continue;
        case Chunk.Name0:
        case Chunk.Name:
          if ((k & TCHAR) !== 0) s = Chunk.Name;
          else if (s === Chunk.Name0 && isWs(c)) continue;
          else if (s === Chunk.Name && c === 61) s = Chunk.Value0;
          else if (s === Chunk.Name && c === 59) s = Chunk.Name0;
          else if (s === Chunk.Name && isWs(c)) s = Chunk.NameWs;
          else break;
          continue;
        case Chunk.NameWs:
          if (c === 61) s = Chunk.Value0;
          else if (c === 59) s = Chunk.Name0;
          else if (!isWs(c)) break;
          continue;
        case Chunk.Value0:
        case Chunk.Token:
          if ((k & TCHAR) !== 0) s = Chunk.Token;
          else if (s === Chunk.Value0 && isWs(c)) continue;
          else if (s === Chunk.Value0 && c === 0x22) s = Chunk.Quoted;
          else if (s === Chunk.Token && c === 59) s = Chunk.Name0;
          else if (s === Chunk.Token && isWs(c)) s = Chunk.ValueWs;
          else break;
          continue;
        case Chunk.Quoted:
          if (c === 0x22) s = Chunk.Unquoted;
          else if (c === 0x5c) s = Chunk.QuotedPair;
          else if ((k & QDTEXT) === 0) break;
          continue;
        case Chunk.QuotedPair:
          if ((k & VCHAR) === 0) break;
          s = Chunk.Quoted;
          continue;
        case Chunk.Unquoted:
          if (c === 59) s = Chunk.Name0;
          else if (isWs(c)) s = Chunk.ValueWs;
          else break;
          continue;
      }
      const why = s === Chunk.Size0 ? 'a chunk size that is not hexadecimal' : s === Chunk.Size || s === Chunk.SizeWs ? 'junk after a chunk size' : 'a malformed chunk extension';
      return this.fail(c === CR ? 'a bare CR' : why, b, lineStart, i + 1);
    }
    this.scan = s;
    return true;
  }

  /** One whole line, checked: b[start, end) without its line end; `lineBytes` with it. */
  private onLine(b: Uint8Array, start: number, end: number, lineBytes: number): boolean {
    switch (this.state) {
      case State.Status:
        this.bytes.replyHeaderBytes += lineBytes;
        // Empty lines between responses are skipped, as llhttp skips them.
        if (end === start) return true;
        if (this.scan < 12) return this.fail('a status line cut short', b, start, end);
        return this.onStatusLine(b, start);
      case State.Headers:
        this.bytes.replyHeaderBytes += lineBytes;
        if (end === start) return this.finishField() && this.onHeadEnd();
        return this.onFieldLine(b, start, end);
      case State.ChunkSize:
        return this.onChunkSize(b, start, end);
      case State.ChunkEnd:
        this.state = State.ChunkSize;
        this.remaining = 0;
        return true;
      case State.Trailers:
        this.bytes.replyHeaderBytes += lineBytes;
        if (end === start) return this.complete();
        if (this.scan === Field.Name) return this.fail('a trailer line without a colon', b, start, end);
        // Trailers frame nothing (RFC 9112 §7.1.2): checked, not read.
        this.field = Tracked.Other;
        return true;
      default:
        return this.fail('internal: line in a body state', b, start, end);
    }
  }

  private onStatusLine(b: Uint8Array, start: number): boolean {
    this.status = (b[start + 9]! - 48) * 100 + (b[start + 10]! - 48) * 10 + (b[start + 11]! - 48);
    // HTTP/1.2 and later minor versions are read as 1.1 (RFC 9112 §2.3).
    this.http10 = b[start + 7] === 48;
    this.close = false;
    this.keepAliveAsked = false;
    this.transferEncoding = false;
    this.chunked = false;
    this.contentLength = -1;
    this.contentLengthError = '';
    this.field = Tracked.None;
    this.state = State.Headers;
    return true;
  }

  private onFieldLine(b: Uint8Array, start: number, end: number): boolean {
    if (this.scan === Field.Name) return this.fail('a header line without a colon', b, start, end);
    if (isWs(b[start]!)) {
      // obs-fold: the field goes on, and the fold reads as one space.
      if (this.field >= Tracked.ContentLength) return this.keep(b, start, end, true);
      return true;
    }
    if (!this.finishField()) return false;
    const colon = this.colon;
    const n = colon - start;
    this.field =
      n === 14 && nameIs(b, start, colon, 'content-length')
        ? Tracked.ContentLength
        : n === 17 && nameIs(b, start, colon, 'transfer-encoding')
          ? Tracked.TransferEncoding
          : n === 10 && nameIs(b, start, colon, 'connection')
            ? Tracked.Connection
            : Tracked.Other;
    if (this.field === Tracked.Other) return true;
    this.valueLength = 0;
    return this.keep(b, colon + 1, end, false);
  }

  /** Add b[start, end), trimmed, to the tracked field's value (after a space, for a fold). */
  private keep(b: Uint8Array, start: number, end: number, fold: boolean): boolean {
    while (start < end && isWs(b[start]!)) start++;
    while (end > start && isWs(b[end - 1]!)) end--;
    const at = this.valueLength + (fold ? 1 : 0);
    if (at + end - start > MAX_LINE) return this.fail('a folded header field longer than 16 KiB', b, start, end);
    if (this.value === null || this.value.length < at + end - start) {
      const grown = Buffer.allocUnsafe(Math.min(MAX_LINE, Math.max(64, 2 * (at + end - start))));
      this.value?.copy(grown, 0, 0, this.valueLength);
      this.value = grown;
    }
    const value = this.value;
    if (fold) value[this.valueLength] = SP;
    // A few bytes: a loop, where a subarray would be an object per response.
    for (let i = start, k = at; i < end; i++, k++) value[k] = b[i]!;
    this.valueLength = at + end - start;
    return true;
  }

  /** The tracked field is whole: read its comma-separated elements (RFC 9110 §5.6.1; empty ones do not count). */
  private finishField(): boolean {
    const kind = this.field;
    this.field = Tracked.Other;
    if (kind < Tracked.ContentLength) return true;
    const v = this.value!;
    const n = this.valueLength;
    let elements = 0;
    if (kind === Tracked.TransferEncoding) this.transferEncoding = true;
    for (let i = 0; i <= n; ) {
      let j = i;
      while (j < n && v[j] !== COMMA) j++;
      let s = i;
      let e = j;
      while (s < e && isWs(v[s]!)) s++;
      while (e > s && isWs(v[e - 1]!)) e--;
      i = j + 1;
      if (s === e) continue;
      elements++;
      if (kind === Tracked.ContentLength) this.contentLengthElement(v, s, e);
      // The last coding decides (RFC 9112 §6.3): chunked, or read until the close.
      else if (kind === Tracked.TransferEncoding) this.chunked = nameIs(v, s, e, 'chunked');
      else if (nameIs(v, s, e, 'close')) this.close = true;
      // Asking for keep-alive changes only HTTP/1.0's default.
      else if (this.http10 && nameIs(v, s, e, 'keep-alive')) this.keepAliveAsked = true;
    }
    if (kind === Tracked.ContentLength && elements === 0 && this.contentLengthError === '') this.contentLengthError = 'an empty content-length';
    return true;
  }

  private contentLengthElement(v: Buffer, s: number, e: number): void {
    if (this.contentLengthError !== '') return;
    let value = 0;
    for (let i = s; i < e; i++) {
      const d = v[i]! - 48;
      if (d < 0 || d > 9) {
        this.contentLengthError = `content-length is not a number: "${excerpt(v, s, e)}"`;
        return;
      }
      if (value > (Number.MAX_SAFE_INTEGER - d) / 10) {
        this.contentLengthError = `content-length too large: "${excerpt(v, s, e)}"`;
        return;
      }
      value = value * 10 + d;
    }
    if (this.contentLength >= 0 && this.contentLength !== value) this.contentLengthError = `two different content-length values: ${this.contentLength} and ${value}`;
    else this.contentLength = value;
  }

  /** RFC 9112 §6.3: how the body is framed, in the order the RFC gives. */
  private onHeadEnd(): boolean {
    const status = this.status;
    this.field = Tracked.None;
    this.keepAlive = !this.close && (!this.http10 || this.keepAliveAsked);
    if (status < 200) {
      // 101 would hand the connection to another protocol, which tsload never asks for.
      if (status === 101) return this.fail('the server switched protocols (101)', null, 0, 0);
      // Informational (100 Continue, 103 Early Hints): the final response follows.
      this.state = State.Status;
      return true;
    }
    if (this.headRequests || status === 204 || status === 304) return this.complete();
    if (this.transferEncoding) {
      // Transfer-Encoding overrides Content-Length, but the pair may be smuggling, and HTTP/1.0 has no
      // Transfer-Encoding at all: read the response, then close (§6.1, §6.3).
      if (this.contentLength >= 0 || this.contentLengthError !== '' || this.http10) this.keepAlive = false;
      if (this.chunked) {
        this.state = State.ChunkSize;
        this.remaining = 0;
      } else this.untilClose();
      return true;
    }
    if (this.contentLengthError !== '') return this.fail(this.contentLengthError, null, 0, 0);
    if (this.contentLength >= 0) {
      this.remaining = this.contentLength;
      if (this.remaining === 0) return this.complete();
      this.state = State.Body;
    } else this.untilClose();
    return true;
  }

  private untilClose(): void {
    this.keepAlive = false;
    this.state = State.UntilClose;
  }

  private onChunkSize(b: Uint8Array, start: number, end: number): boolean {
    const s = this.scan;
    if (s !== Chunk.Size && s !== Chunk.Name && s !== Chunk.Token && s !== Chunk.Unquoted) {
      return this.fail(s === Chunk.Size0 ? 'an empty chunk size' : s === Chunk.SizeWs ? 'whitespace after a chunk size' : 'a malformed chunk extension', b, start, end);
    }
    if (this.remaining === 0) {
      this.state = State.Trailers;
      this.field = Tracked.None;
    } else this.state = State.ChunkData;
    return true;
  }

  private complete(): boolean {
    this.state = State.Status;
    this.sink.response(this.status, this.keepAlive);
    return true;
  }

  /**
   * A protocol error: why, and b[start, end), the line up to the byte that
   * broke it (so the reason is the same however the bytes were split); b null
   * when the why says it all.
   */
  private fail(why: string, b: Uint8Array | null, start: number, end: number): false {
    this.error = b === null ? why : `${why}: "${excerpt(b, start, end)}"`;
    return false;
  }
}
