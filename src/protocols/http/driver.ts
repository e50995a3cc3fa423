/**
 * The HTTP driver: its options (defined in book.ts) and their checks, and
 * the choice of client. Three clients sit behind it, sharing one book of
 * requests in flight (book.ts): tsload's own HTTP/1.1 client on node:net
 * (native.ts, the default for http://), its own HTTP/2 client on the TLS or
 * TCP socket (native-h2.ts, the default for --http2 without a body), and
 * undici's dispatch() on keep-alive Clients (undici.ts, for HTTP/1.1 over
 * https://, HTTP/2 with a body, or when asked for).
 */
import { connect as netConnect } from 'node:net';
import { TargetUnreachableError } from '../../errors.js';
import type { Completion, Driver, DriverContext } from '../../engine/driver.js';
import type { Share } from '../../engine/segment.js';
import { HTTP_CLIENTS, clientOf, endpointOf } from './book.js';
import type { HttpClient, HttpDriverOptions } from './book.js';
import { NativeDriver } from './native.js';
import { checkTransportFields } from './transport.js';

export { HTTP_CLIENTS, clientOf };
export type { HttpClient, HttpDriverOptions };


const isHttps = (url: string): boolean => /^https:/i.test(url);

/** Problems with `url` and `urls` (empty when they are fine). */
export function checkHttpTargets(o: { url: string; urls?: string[] }): string[] {
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    return [`url ${JSON.stringify(o.url)} is not a valid URL`];
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') return [`url ${o.url} must start with http:// or https://`];
  const problems: string[] = [];
  if (base.username !== '' || base.password !== '') {
    // The message goes to stderr and logs: it names the URL without the credentials it refuses.
    const shown = new URL(base.href);
    shown.username = '';
    shown.password = '';
    problems.push(`url ${shown.href}: credentials in the URL are not supported (send an authorization header)`);
  }
  for (const entry of o.urls ?? []) {
    let target: URL;
    try {
      target = new URL(entry, base);
    } catch {
      problems.push(`url list entry ${JSON.stringify(entry)} is not a valid URL or path`);
      continue;
    }
    if (target.origin !== base.origin) problems.push(`url list entry ${entry} is not on ${base.origin} (all requests go to one origin)`);
  }
  if (o.urls !== undefined && o.urls.length === 0) problems.push('url list is empty');
  return problems;
}

const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const badValuePattern = /[\0\r\n]/;
/** Headers undici sets itself or refuses. */
const reservedHeaders = new Set(['transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'content-length']);

/** Every problem with a set of driver options (targets, method, headers, counts). */
export function checkHttpOptions(o: HttpDriverOptions): string[] {
  const problems = checkHttpTargets(o);
  if (!tokenPattern.test(o.method)) problems.push(`method ${JSON.stringify(o.method)} is not a valid HTTP method`);
  if (o.method === 'CONNECT') problems.push('method CONNECT is not supported');
  for (const [name, value] of o.headers) {
    if (!tokenPattern.test(name)) problems.push(`header name ${JSON.stringify(name)} is not valid`);
    else if (reservedHeaders.has(name.toLowerCase())) problems.push(`header ${name} is set by tsload and cannot be given`);
    if (badValuePattern.test(value)) problems.push(`header ${name} has a value with a line break or NUL`);
  }
  // NaN comes from parseNumber, which has already said what was wrong with the value.
  const bad = (n: number): boolean => !Number.isNaN(n) && !(Number.isInteger(n) && n >= 1);
  if (o.connections !== undefined && bad(o.connections)) problems.push(`connections must be an integer >= 1 (got ${o.connections})`);
  if (bad(o.maxConnections)) problems.push(`max-connections must be an integer >= 1 (got ${o.maxConnections})`);
  if (bad(o.pipelining)) problems.push(`pipelining must be an integer >= 1 (got ${o.pipelining})`);
  if (o.newConnectionPerRequest && o.pipelining > 1) problems.push('a new connection per request cannot be combined with pipelining');
  if (o.client !== undefined && !HTTP_CLIENTS.includes(o.client)) problems.push(`client must be one of ${HTTP_CLIENTS.join(', ')} (got ${JSON.stringify(o.client)})`);
  else if (clientOf(o) === 'native' && isHttps(o.url) && o.http2 !== true) problems.push('the native client speaks plain http:// for HTTP/1.1 (and HTTP/2 over either, with http2); use client undici for HTTP/1.1 over https://');
  problems.push(...checkTransportFields(o));
  return problems;
}

/**
 * Connections a share of the run opens: its part of the total (see
 * Share.count, so the parts add up to the total), but at least one, since a
 * thread without a connection could send nothing.
 */
export function connectionShare(total: number, share: Share): number {
  return Math.max(1, share.count(total));
}

/** `options` were checked once, in the main thread, by the protocol record (index.ts). */
export async function createDriver(options: HttpDriverOptions, completion: Completion, context: DriverContext): Promise<Driver> {
  const share = connectionShare(options.connections ?? options.maxConnections, context.share);
  // undici only when it will send: loading it is slow, and this module is on the path of every import of the library.
  const native = clientOf(options) === 'native';
  const Client = native && options.http2 === true ? (await import('./native-h2.js')).NativeH2Driver : native ? NativeDriver : (await import('./undici.js')).UndiciDriver;
  return new Client(options, completion, context.timeoutMs, context.maxInflight, share);
}

/** Open (and close) one TCP connection to the URL's host and port; throw TargetUnreachableError if that fails. */
export async function probeHttp(url: string, timeoutMs: number): Promise<void> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TargetUnreachableError(url, 'not a valid URL');
  }
  const { host, port } = endpointOf(u);
  await new Promise<void>((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TargetUnreachableError(url, `connection timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new TargetUnreachableError(url, describe(error), { cause: error }));
    });
  });
}

function describe(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return 'host not found';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to host';
    default:
      return error.message;
  }
}
