/**
 * How `tsload http` reaches the server beneath HTTP itself: TLS (--insecure,
 * --ca, --tls-servername) and HTTP/2 (--http2, --streams). The user's options
 * are checked here once, in the main thread; the probe then says what the
 * server really speaks, so a run asked for h2 that gets HTTP/1.1 says so in
 * its result instead of measuring HTTP/1.1 under the name of h2.
 */
import { connect as http2Connect } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { TargetUnreachableError } from '../../errors.js';
import { checkTls, tlsConnectOptions, type TlsUserOptions } from '../tls.js';
import { DEFAULT_STREAMS, clientOf, endpointOf, type HttpDriverOptions } from './book.js';
import { encodeH2Requests } from './native-h2.js';
import type { HttpResult } from '../../result.js';

export interface HttpTransportOptions extends TlsUserOptions {
  /** Speak HTTP/2: ALPN h2 over https://, prior knowledge (h2c) over http://. */
  http2?: boolean;
  /** Requests in flight per HTTP/2 connection (concurrent streams, h2load's -m); default 100. */
  streams?: number | string;
}

/** What the probe found the server speaks. */
export interface HttpNegotiated {
  /** The HTTP version the run's connections speak. */
  httpVersion: '1.1' | '2';
  /** Set when HTTP/2 was asked for and the server offered only HTTP/1.1. */
  http2Refused: boolean;
  /** TLS as negotiated with the probe's connection; absent over http://. */
  tls?: { protocol: string; alpn: string | null; cipher: string; verified: boolean };
  /** Over HTTP/2: the server's SETTINGS_MAX_CONCURRENT_STREAMS (streams per connection it allows), when it sets one. */
  maxStreams?: number;
}

/**
 * The transport part of the driver's options, from the user's; appends every
 * problem to `problems`. `url` is undefined when the built-in target will be
 * started (over http://).
 */
export function checkHttpTransport(o: HttpTransportOptions, url: string | undefined, problems: string[]): Pick<HttpDriverOptions, 'tls' | 'http2' | 'streams'> {
  const https = url !== undefined && /^https:/i.test(url);
  const asksTls = o.insecure === true || o.ca !== undefined || o.tlsServername !== undefined;
  const out: Pick<HttpDriverOptions, 'tls' | 'http2' | 'streams'> = {};
  if (asksTls) {
    if (!https) problems.push(`--insecure, --ca and --tls-servername apply to https:// URLs (got ${url ?? 'the built-in target, which is http://'})`);
    out.tls = checkTls(o, problems);
  } else if (https) out.tls = { insecure: false };
  if (o.http2 === true) out.http2 = true;
  if (o.streams !== undefined) {
    const n = Number(o.streams);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) problems.push(`--streams: '${o.streams}' must be an integer 1..10000`);
    else out.streams = n;
    if (o.http2 !== true) problems.push('--streams: applies to HTTP/2 (--http2); HTTP/1.1 has --pipelining');
  } else if (o.http2 === true) out.streams = DEFAULT_STREAMS;
  return out;
}

/** What a run takes from the server's answers to the probe. */
export interface HttpNegotiation {
  /** The driver's options as the server allows them: HTTP/2 only where it was agreed, streams within the server's limit. */
  driverOptions: HttpDriverOptions;
  /** Requests in flight per connection: streams over HTTP/2, pipelining over HTTP/1.1. */
  perConnection: number;
  secure: boolean;
  /** The result's fields that say what was measured. */
  result: Pick<HttpResult, 'httpVersion' | 'http2Refused' | 'streams' | 'tls'>;
}

/**
 * Probe what the server speaks and fit the run to it; every change from what
 * was asked is said through `onNotice` and in the result.
 */
export async function negotiateHttp(asked: HttpDriverOptions, timeoutMs: number, onNotice?: (line: string) => void): Promise<HttpNegotiation> {
  const negotiated = await probeTransport(asked.url, asked, timeoutMs);
  const http2 = negotiated.httpVersion === '2';
  if (negotiated.http2Refused) onNotice?.(`tsload: --http2 asked, but ${asked.url} offers only HTTP/1.1; measuring HTTP/1.1 (the result says httpVersion 1.1)`);
  const streams = http2 ? streamsFor(asked.streams ?? DEFAULT_STREAMS, negotiated) : undefined;
  if (streams?.notice !== undefined) onNotice?.(streams.notice);
  return {
    driverOptions: { ...asked, http2, ...(streams === undefined ? {} : { streams: streams.streams }) },
    perConnection: streams?.streams ?? asked.pipelining,
    secure: negotiated.tls !== undefined,
    result: {
      httpVersion: negotiated.httpVersion,
      ...(asked.http2 === true ? { http2Refused: negotiated.http2Refused } : {}),
      ...(streams === undefined ? {} : { streams: streams.streams }),
      ...(negotiated.tls === undefined ? {} : { tls: negotiated.tls }),
    },
  };
}

/** Problems with the transport fields of driver options that reached a worker (the main thread has checked the user's). */
export function checkTransportFields(o: HttpDriverOptions): string[] {
  const problems: string[] = [];
  const https = /^https:/i.test(o.url);
  if (o.tls !== undefined && !https) problems.push('TLS settings apply to https:// URLs only');
  if (o.streams !== undefined && !(Number.isInteger(o.streams) && o.streams >= 1)) problems.push(`streams must be an integer >= 1 (got ${o.streams})`);
  if (o.http2 === true) {
    if (o.client === 'native' && (o.body ?? '') !== '') problems.push('the native HTTP/2 client sends no request body; use client undici (the default with --http2 and a body) for one');
    // One HEADERS frame per request, no CONTINUATION: within the 16 KiB every peer accepts (RFC 9113 §4.2).
    else if (clientOf(o) === 'native' && problems.length === 0 && encodeH2Requests(o).some((block) => block.length > 16_384)) {
      problems.push('request headers over 16 KiB once encoded: the native HTTP/2 client sends one HEADERS frame; use client undici');
    }
    // RFC 9113 §8.2.2: connection-specific fields are malformed in HTTP/2.
    for (const [name] of o.headers) if (/^(connection|proxy-connection|te)$/i.test(name)) problems.push(`header ${name} is connection-specific and not allowed in HTTP/2`);
  }
  return problems;
}

/**
 * Find out what the server speaks, with one connection: over https:// a TLS
 * handshake with the run's settings (a certificate that does not verify
 * stops here with the reason and what to pass, rather than as a run of
 * errors), offering h2 by ALPN when asked; over http:// with --http2 an h2c
 * session with prior knowledge, which a server of HTTP/1.1 alone refuses.
 */
export async function probeTransport(url: string, o: Pick<HttpDriverOptions, 'tls' | 'http2'>, timeoutMs: number): Promise<HttpNegotiated> {
  const u = new URL(url);
  if (u.protocol === 'https:') return probeTls(u, o, timeoutMs);
  if (o.http2 !== true) return { httpVersion: '1.1', http2Refused: false };
  const h2c = await probeH2c(u, timeoutMs);
  return h2c === false ? { httpVersion: '1.1', http2Refused: true } : withMaxStreams({ httpVersion: '2', http2Refused: false }, h2c);
}

/** node:http2 reports an unset limit as 2^32 - 1; only a real one is kept. */
function withMaxStreams(n: HttpNegotiated, max: number | undefined): HttpNegotiated {
  return max === undefined || max >= 2 ** 31 ? n : { ...n, maxStreams: max };
}

/**
 * The streams a run uses: --streams, lowered to what the server allows. More
 * would wait inside nghttp2, after tsload has counted them written, and that
 * wait would read as the server's time.
 */
export function streamsFor(asked: number, negotiated: HttpNegotiated): { streams: number; notice?: string } {
  if (negotiated.maxStreams === undefined || negotiated.maxStreams >= asked) return { streams: asked };
  const streams = Math.max(1, negotiated.maxStreams);
  return { streams, notice: `tsload: the server allows ${negotiated.maxStreams} streams per HTTP/2 connection; using ${streams} instead of --streams ${asked}` };
}

function probeTls(u: URL, o: Pick<HttpDriverOptions, 'tls' | 'http2'>, timeoutMs: number): Promise<HttpNegotiated> {
  const { host, port } = endpointOf(u);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ...tlsConnectOptions(o.tls ?? { insecure: false }, host), ALPNProtocols: o.http2 === true ? ['h2', 'http/1.1'] : ['http/1.1'] });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TargetUnreachableError(u.href, `TLS handshake did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      const alpn = socket.alpnProtocol === false || socket.alpnProtocol === undefined ? null : socket.alpnProtocol;
      const h2 = alpn === 'h2';
      const negotiated: HttpNegotiated = {
        httpVersion: h2 ? '2' : '1.1',
        http2Refused: o.http2 === true && !h2,
        tls: { protocol: socket.getProtocol() ?? 'unknown', alpn, cipher: socket.getCipher().name, verified: socket.authorized },
      };
      if (!h2) {
        clearTimeout(timer);
        socket.destroy();
        return resolve(negotiated);
      }
      // The same connection, now as HTTP/2: its SETTINGS say how many streams the server allows.
      const session = http2Connect(u.origin, { createConnection: () => socket });
      session.once('remoteSettings', (settings) => {
        clearTimeout(timer);
        session.destroy();
        resolve(withMaxStreams(negotiated, settings.maxConcurrentStreams));
      });
      session.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        session.destroy();
        reject(new TargetUnreachableError(u.href, `HTTP/2: ${error.message}`, { cause: error }));
      });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new TargetUnreachableError(u.href, describeTlsError(error), { cause: error }));
    });
  });
}

/** Certificate errors named with what to do about them; the rest as Node words them. */
export function describeTlsError(error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `TLS: ${error.message}; --tls-servername NAME checks the certificate against another name`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) {
    return `TLS: the server's certificate does not verify (${code}: ${error.message}); give its CA with --ca FILE, or --insecure to skip verification`;
  }
  return `TLS: ${error.message}${code === '' ? '' : ` (${code})`}`;
}

/**
 * Does the server accept an HTTP/2 session with prior knowledge over
 * cleartext? Its SETTINGS_MAX_CONCURRENT_STREAMS (undefined if unset) when
 * it does, false when it answers otherwise.
 */
function probeH2c(u: URL, timeoutMs: number): Promise<number | undefined | false> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(u.origin);
    const timer = setTimeout(() => {
      session.destroy();
      resolve(false);
    }, timeoutMs);
    session.once('remoteSettings', (settings) => {
      clearTimeout(timer);
      session.destroy();
      resolve(settings.maxConcurrentStreams);
    });
    session.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      session.destroy();
      // The TCP probe has already connected: a refusal now is the server going away, not a protocol answer.
      if (error.code === 'ECONNREFUSED') reject(new TargetUnreachableError(u.href, 'connection refused', { cause: error }));
      else resolve(false);
    });
  });
}
