/** Feeding bytes to the HTTP/1.1 response reader the way reads deliver them, for the reader's tests. */
import { ResponseReader, type ReplyBytes } from '../../../src/protocols/http/response.js';
import type { ResponseCase } from '../../fixtures/http1-responses.js';

export interface Outcome {
  statuses: number[];
  keepAlive: boolean[];
  error: string;
  /** Bytes fed before the reader gave up (all of them when it did not). */
  fed: number;
  bytes: ReplyBytes;
  /** The end of file (when the server closes) ended a response. */
  endedByClose: boolean;
}

/** Feed `wire` to a reader in pieces of the given lengths, as reads into a larger reused buffer, then end of file if the server closes. */
export function readPieces(c: Pick<ResponseCase, 'requests' | 'head' | 'serverCloses'>, wire: Buffer, pieces: readonly number[]): Outcome {
  const out: Outcome = { statuses: [], keepAlive: [], error: '', fed: 0, bytes: { replyHeaderBytes: 0, replyBodyBytes: 0, replyWireBytes: 0 }, endedByClose: false };
  const requests = c.requests ?? 1;
  const reader = new ResponseReader(
    {
      response(status, keepAlive) {
        out.statuses.push(status);
        out.keepAlive.push(keepAlive);
        // The client stops reading a connection that will close.
        if (!keepAlive) reader.halt();
      },
      waiting: () => out.statuses.length < requests,
    },
    out.bytes,
    c.head === true,
  );
  const shared = Buffer.alloc(wire.length + 16, 0x41);
  let at = 0;
  for (const n of pieces) {
    wire.copy(shared, 5, at, at + n);
    at += n;
    if (!reader.feed(shared, 5, 5 + n)) {
      out.error = reader.error;
      out.fed = at;
      return out;
    }
  }
  out.fed = at;
  if (c.serverCloses === true) out.endedByClose = reader.eof();
  return out;
}
