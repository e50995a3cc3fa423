/**
 * The native client's response reader on its own: every framing an HTTP/1.x
 * server may use, fed whole, byte by byte and in every two-piece split.
 */
import { describe, expect, it } from 'vitest';
import { ResponseReader } from '../../../src/protocols/http/response.js';
import type { ReplyBytes } from '../../../src/protocols/http/response.js';

interface Read {
  responses: [number, boolean][];
  bytes: ReplyBytes;
  ok: boolean;
  error: string;
  eof: boolean;
}

/** Feed `wire` in the given pieces (lengths), then end of file. */
function read(wire: string, pieces: number[] = [wire.length], head = false): Read {
  const responses: [number, boolean][] = [];
  const bytes: ReplyBytes = { replyHeaderBytes: 0, replyBodyBytes: 0, replyWireBytes: 0 };
  const reader = new ResponseReader({ response: (status, keepAlive) => void responses.push([status, keepAlive]), waiting: () => true }, bytes, head);
  const all = Buffer.from(wire, 'latin1');
  let at = 0;
  let ok = true;
  for (const n of pieces) {
    // Each piece arrives at a different place in a larger, reused buffer, as reads do.
    const shared = Buffer.alloc(all.length + 16, 0x41);
    all.copy(shared, 7, at, at + n);
    ok = reader.feed(shared, 7, 7 + n);
    at += n;
    if (!ok) break;
  }
  const eof = ok && reader.eof();
  return { responses, bytes, ok, error: reader.error, eof };
}

/** Every way to split `wire` in two, plus byte by byte. */
function splits(wire: string): number[][] {
  const out: number[][] = [new Array<number>(wire.length).fill(1)];
  for (let i = 1; i < wire.length; i++) out.push([i, wire.length - i]);
  return out;
}

const fixed = 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\n\r\nhello';
const chunked = 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';

describe('ResponseReader', () => {
  it('reads a content-length response however the bytes are split', () => {
    for (const pieces of splits(fixed)) {
      const r = read(fixed, pieces);
      expect(r.ok).toBe(true);
      expect(r.responses).toEqual([[200, true]]);
      expect(r.bytes).toEqual({ replyHeaderBytes: fixed.length - 5, replyBodyBytes: 5, replyWireBytes: fixed.length });
    }
  });

  it('reads chunked bodies with extensions and trailers however the bytes are split', () => {
    for (const pieces of splits(chunked)) {
      const r = read(chunked, pieces);
      expect(r.ok).toBe(true);
      expect(r.responses).toEqual([[201, true]]);
      expect(r.bytes.replyBodyBytes).toBe(11);
      expect(r.bytes.replyWireBytes).toBe(chunked.length);
    }
  });

  it('reads pipelined responses back to back, in order', () => {
    const wire = fixed + chunked + 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n' + fixed;
    for (const pieces of [[wire.length], new Array<number>(wire.length).fill(1)]) {
      expect(read(wire, pieces).responses).toEqual([
        [200, true],
        [201, true],
        [404, true],
        [200, true],
      ]);
    }
  });

  it('skips informational responses and reports the final one', () => {
    const wire = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n' + fixed;
    const r = read(wire);
    expect(r.responses).toEqual([[200, true]]);
    expect(r.bytes.replyHeaderBytes).toBe(wire.length - 5);
  });

  it('expects no body after HEAD, 204 and 304 whatever content-length says', () => {
    expect(read('HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n' + fixed, undefined, true).responses).toEqual([
      [200, true],
      [200, true],
    ]);
    expect(read('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n' + fixed).responses).toEqual([
      [204, true],
      [304, true],
      [200, true],
    ]);
  });

  it('knows when the server will close: connection: close, HTTP/1.0, or a body delimited by the close', () => {
    expect(read('HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n').responses).toEqual([[200, false]]);
    expect(read('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').responses).toEqual([[200, false]]);
    expect(read('HTTP/1.0 200 OK\r\nconnection: keep-alive\r\nContent-Length: 0\r\n\r\n').responses).toEqual([[200, true]]);
    const untilClose = read('HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of this is body');
    expect(untilClose.eof).toBe(true);
    expect(untilClose.responses).toEqual([[200, false]]);
    expect(untilClose.bytes.replyBodyBytes).toBe(19);
  });

  it('accepts bare LF line ends and an empty reason phrase', () => {
    expect(read('HTTP/1.1 200\nContent-Length: 2\n\nok').responses).toEqual([[200, true]]);
  });

  it('reports a response cut off at end of file as not complete', () => {
    const r = read(fixed.slice(0, -2));
    expect(r.responses).toEqual([]);
    expect(r.eof).toBe(false);
  });

  it.each([
    ['SSH-2.0-OpenSSH\r\n', /status line/],
    ['HTTP/1.1 2x0 OK\r\n\r\n', /three digits/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n', /content-length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /two different/],
    ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /colon/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /hexadecimal/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', /longer than its size/],
    ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', /switched protocols/],
    [`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, /16 KiB/],
  ])('refuses %#: %s', (wire, why) => {
    for (const pieces of [[wire.length], [10, wire.length - 10]]) {
      const r = read(wire, pieces);
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(why);
      expect(r.responses).toEqual([]);
    }
  });
});
