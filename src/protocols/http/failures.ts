/** HTTP's failure classes: undici's error codes, then the sockets'; and the reasons of protocol errors. */
import { Failure, type FailureCode } from '../../engine/driver.js';
import { socketFailure } from '../failures.js';

export function failureOf(error: unknown): FailureCode {
  switch ((error as { code?: unknown } | null)?.code) {
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return Failure.connreset;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return Failure.socketTimo;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return Failure.timeout;
    default:
      return socketFailure(error);
  }
}

/** Longest excerpt of a server's bytes in a reason, in characters before the cut. */
const EXCERPT = 40;

/**
 * Bytes from a server as a short printable excerpt for a failure reason:
 * printable ASCII as it is, the rest escaped (\r, \n, \t, \xHH), cut after
 * EXCERPT characters, so a reason never puts raw binary on a terminal.
 */
export function excerpt(b: Uint8Array, start: number, end: number): string {
  let out = '';
  let i = start;
  for (; i < end && out.length < EXCERPT; i++) {
    const c = b[i]!;
    if (c === 0x22 || c === 0x5c) out += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else if (c === 13) out += '\\r';
    else if (c === 10) out += '\\n';
    else if (c === 9) out += '\\t';
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return i < end ? `${out}...` : out;
}

/** Text (an error's message) as excerpt() words bytes: printable and short. */
export function printableText(text: string): string {
  return excerpt(Buffer.from(text, 'utf8'), 0, Buffer.byteLength(text, 'utf8'));
}

/**
 * undici's verdict that a response broke HTTP/1.1, as a failure reason; undefined
 * for every other error. It is undici's, not the server's: undici 7 closes the
 * connection on a 100 Continue it did not ask for ('bad response', although RFC
 * 9110 §15.2 says a client must parse it) and refuses a 204 or 304 that carries
 * Content-Length, both valid. Without this they read as bare connreset.
 * `status` is the response's, when undici had reported its head.
 */
export function undiciRejection(error: unknown, status: number): string | undefined {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  const code = typeof e?.code === 'string' ? e.code : '';
  let why: string;
  if (e?.name === 'HTTPParserError' || code.startsWith('HPE_')) {
    // "Response does not match the HTTP/1.1 protocol (Invalid response status)": the part in parentheses says it.
    why = printableText(/\((.*)\)$/.exec(message)?.[1] ?? message);
  } else if (code === 'UND_ERR_SOCKET' && (message === 'bad response' || message === 'bad upgrade')) {
    why = message === 'bad response' ? 'bad response (a 100 Continue, or a response to no request)' : 'bad upgrade (a 101 it did not ask for)';
  } else if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    why = 'body length does not match content-length';
  } else if (code === 'UND_ERR_HEADERS_OVERFLOW') {
    why = 'header section too large';
  } else return undefined;
  return `undici rejected the response: ${why}${status > 0 ? ` (status ${status})` : ''}`;
}
