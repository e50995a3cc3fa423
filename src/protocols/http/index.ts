/**
 * HTTP as tsload runs it: its options and their checks (once, here, in the
 * main thread), the built-in target when no URL is given, the probe, the
 * driver module, and the mapping of engine steps to HTTP result steps.
 */
import { readFileSync } from 'node:fs';
import { siblingModule } from '../../engine/module-file.js';
import { ephemeralPorts, openFileLimit } from '../../engine/resources.js';
import { generatorLimits } from '../../measure/limits.js';
import { parseNumber, throwIfProblems, type CommonOptions } from '../../options.js';
import type { HttpResult, HttpStep } from '../../result.js';
import { spawnTarget } from '../../targets/child.js';
import { perItem, type Protocol, type ProtocolStep, type StepContext } from '../protocol.js';
import { HTTP_COUNTERS, HTTP_OPTIONAL_COUNTERS, type HttpCounters } from './counters.js';
import { checkHttpOptions, probeHttp, type HttpClient, type HttpDriverOptions } from './driver.js';
import { checkHttpTransport, negotiateHttp, type HttpTransportOptions } from './transport.js';
import { redactHeaders } from './secrets.js';

export interface HttpOptions extends CommonOptions, HttpTransportOptions {
  /** Target URL. Without one, tsload starts its built-in HTTP target in a child process. */
  url?: string;
  /** A file of URLs or paths (one per line), or the list itself; used round robin (httperf's --wlog). */
  urls?: string | readonly string[];
  method?: string;
  /** 'name: value' strings (the CLI's -H) or a record. */
  headers?: readonly string[] | Record<string, string>;
  /**
   * Names of headers in `headers` whose values the result, reports and
   * manifests show as '[redacted]' (the CLI's --secret-header); Authorization,
   * Proxy-Authorization and Cookie always are. The requests carry the real values.
   */
  secretHeaders?: readonly string[];
  /** Request body text, or '@file' to read it from a file. */
  body?: string;
  /**
   * A fixed pool of keep-alive connections in total across threads, as wrk's
   * -c: requests that find them all busy wait, and the wait is measured.
   * Default: none, the pool grows on demand up to `maxConnections`.
   */
  connections?: number | string;
  /** Without `connections`: how far the pool may grow (default: what the file limit and local ports allow; see defaultMaxConnections). */
  maxConnections?: number | string;
  pipelining?: number | string;
  /** httperf's default, for comparison only: a new TCP connection per request, closed after it. */
  newConnectionPerRequest?: boolean;
  /** 'native' (tsload's own HTTP/1.1 client, http:// only) or 'undici'; default native for http://, undici for https://. */
  client?: HttpClient;
  /** One-line notices (e.g. that the built-in target was started). */
  onNotice?: (line: string) => void;
}

/** Everything about the requests but the URL, which may come from the built-in target. */
export type HttpChecked = Omit<HttpDriverOptions, 'url'> & { url: string | undefined };

/**
 * The default ceiling of a growing connection pool: as many connections as
 * the process may open files, less a reserve for everything else it opens,
 * and no more than the local ports one destination can take.
 */
export function defaultMaxConnections(): number {
  const FD_RESERVE = 256;
  const files = openFileLimit() ?? 1024;
  const ports = ephemeralPorts() ?? 28_232;
  return Math.max(1, Math.min(files - FD_RESERVE, ports));
}

export const http: Protocol<'http', HttpOptions, HttpChecked, HttpDriverOptions, HttpCounters, HttpStep, HttpResult> = {
  name: 'http',
  targetOption: 'url',
  driverModule: () => siblingModule(import.meta.url, './driver'),
  counterNames: [...HTTP_COUNTERS, ...HTTP_OPTIONAL_COUNTERS],
  formats: { httperf: async () => (await import('../../report/httperf.js')).formatHttperf },

  check(options, _common, problems) {
    const connections = options.connections === undefined ? undefined : parseNumber(options.connections, 'connections', problems, { min: 1, max: 100_000, integer: true });
    if (options.connections !== undefined && options.maxConnections !== undefined) problems.push('--max-connections: applies to a pool that grows; --connections fixes it');
    const maxConnections =
      options.maxConnections === undefined ? defaultMaxConnections() : parseNumber(options.maxConnections, 'max-connections', problems, { min: 1, max: 1_000_000, integer: true });
    const pipelining = options.pipelining === undefined ? 1 : parseNumber(options.pipelining, 'pipelining', problems, { min: 1, max: 1024, integer: true });
    const urls = options.urls === undefined ? undefined : typeof options.urls === 'string' ? readLines(options.urls, problems) : [...options.urls];
    const headers = parseHeaders(options.headers, problems);
    const secretHeaders = checkSecretHeaders(options.secretHeaders, headers, problems);
    const body = options.body === undefined ? undefined : readBody(options.body, problems);
    const method = (options.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
    if (!/^[A-Z]+$/.test(method)) problems.push(`--method: '${options.method}' is not an HTTP method`);
    const checked: HttpChecked = {
      url: options.url,
      ...(urls === undefined ? {} : { urls }),
      method,
      headers,
      ...(secretHeaders.length === 0 ? {} : { secretHeaders }),
      ...(body === undefined ? {} : { body }),
      ...(connections === undefined ? {} : { connections }),
      maxConnections,
      pipelining,
      newConnectionPerRequest: options.newConnectionPerRequest ?? false,
      ...(options.client === undefined ? {} : { client: options.client }),
      ...checkHttpTransport(options, options.url, problems),
    };
    // Without a URL the built-in target's will be plain http on loopback; the other checks need one to run.
    problems.push(...checkHttpOptions({ ...checked, url: options.url ?? 'http://127.0.0.1/' }));
    return checked;
  },

  async open(checked, options) {
    if (checked.url !== undefined) return { label: checked.url, driverOptions: { ...checked, url: checked.url }, stop: async () => {} };
    // Without TLS there is no negotiation: asked for HTTP/2, the built-in target speaks it with prior knowledge.
    const builtin = await spawnTarget('http', ['--listen', '127.0.0.1:0', ...(checked.http2 === true ? ['--h2c'] : [])]);
    options.onNotice?.(`tsload: no URL given; started the built-in HTTP target at ${builtin.address} (child process ${builtin.child.pid})`);
    return { label: builtin.address, driverOptions: { ...checked, url: builtin.address }, stop: () => builtin.stop() };
  },

  async probe(asked, timeoutMs, notice) {
    await probeHttp(asked.url, Math.min(timeoutMs, 5000));
    const negotiated = await negotiateHttp(asked, Math.min(timeoutMs, 5000), notice);
    // What the server speaks may rule out the client asked for (the native one, over TLS, for a server of HTTP/1.1 alone).
    throwIfProblems(checkHttpOptions(negotiated.driverOptions));
    const o = negotiated.driverOptions;
    // What was sent, as a result may keep it: secret header values never leave but on the wire.
    const request = { method: o.method, headers: redactHeaders(o.headers, o.secretHeaders), bodyBytes: Buffer.byteLength(o.body ?? '') };
    return { driverOptions: o, result: { ...negotiated.result, request } };
  },

  step: httpStep,
};

function httpStep(step: ProtocolStep<HttpCounters>, context: StepContext, o: HttpDriverOptions): HttpStep {
  const statusClasses = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  for (const [code, count] of Object.entries(step.codes)) {
    const key = `${code[0]}xx`;
    if (key in statusClasses) statusClasses[key as keyof typeof statusClasses] += count;
  }
  const { codes, counters, ...base } = step;
  // Requests in flight per connection: streams over HTTP/2 (as the probe agreed them), pipelining over HTTP/1.1.
  const perConnection = o.http2 === true ? (o.streams ?? o.pipelining) : o.pipelining;
  const pool = { limit: o.connections ?? o.maxConnections, fixed: o.connections !== undefined, pipelining: perConnection };
  const waited = counters.waitedForConnection;
  const waitedAtLimit = counters.waitedAtLimit;
  return {
    ...base,
    bytesSent: counters.bytesSent,
    bytesReceived: counters.bytesReceived,
    avgRequestBytes: perItem(counters.bytesSent, counters.requestsWritten),
    avgReplyBytes: perItem(counters.bytesReceived, counters.replies),
    connections: counters.connections,
    connectionsByVersion: { '1.1': counters.h1Connections ?? counters.connections, '2': counters.h2Connections ?? 0 },
    ...tlsOf(counters, /^https:/i.test(o.url)),
    pool: { limit: pool.limit, fixed: pool.fixed, waited, waitedAtLimit },
    statusClasses,
    statusCodes: codes,
    generatorLimits: generatorLimits({ ...context, step: base, pool: { ...pool, waited, waitedAtLimit, written: counters.requestsWritten } }),
  };
}

/** The step's TLS handshakes, when its connections speak TLS. */
function tlsOf(counters: HttpCounters, secure: boolean): Pick<HttpStep, 'tls'> {
  if (!secure) return {};
  const handshakes = counters.tlsHandshakes ?? 0;
  return {
    tls: {
      handshakes,
      handshakeMeanMs: handshakes > 0 ? Math.round(((counters.tlsHandshakeMs ?? 0) / handshakes) * 1000) / 1000 : 0,
      failed: counters.tlsHandshakeFailures ?? 0,
    },
  };
}

function readLines(file: string, problems: string[]): string[] {
  try {
    const lines = readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    if (lines.length === 0) problems.push(`--urls: ${file} has no URLs`);
    return lines;
  } catch (error) {
    problems.push(`--urls: cannot read ${file}: ${(error as Error).message}`);
    return [];
  }
}

function readBody(body: string, problems: string[]): string {
  if (!body.startsWith('@')) return body;
  try {
    return readFileSync(body.slice(1), 'utf8');
  } catch (error) {
    problems.push(`--body: cannot read ${body.slice(1)}: ${(error as Error).message}`);
    return '';
  }
}

function parseHeaders(headers: HttpOptions['headers'], problems: string[]): [string, string][] {
  if (headers === undefined) return [];
  if (typeof headers !== 'object' || headers === null) {
    problems.push("--header: expected 'name: value' strings or a record of them");
    return [];
  }
  if (!Array.isArray(headers)) {
    return Object.entries(headers as Record<string, unknown>).flatMap(([name, value]): [string, string][] => {
      if (typeof value === 'string') return [[name, value]];
      problems.push(`--header: ${name}'s value is not text`);
      return [];
    });
  }
  return (headers as readonly unknown[]).flatMap((h): [string, string][] => {
    const colon = typeof h === 'string' ? h.indexOf(':') : -1;
    const name = colon > 0 ? (h as string).slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      // Only the part before the value: a mistyped header may still carry a credential.
      const shown = typeof h === 'string' ? (colon > 0 ? `${h.slice(0, colon)}: …` : `${h.split(/\s/)[0]}…`) : String(typeof h);
      problems.push(`--header: '${shown}' is not 'name: value'`);
      return [];
    }
    return [[name, (h as string).slice(colon + 1).trim()]];
  });
}

/** --secret-header: names of headers given, lower-cased; a name no header has is a typo that would leave the real one unredacted. */
function checkSecretHeaders(names: HttpOptions['secretHeaders'], headers: readonly [string, string][], problems: string[]): string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) {
    problems.push('--secret-header: expected a list of header names');
    return [];
  }
  const given = new Set(headers.map(([name]) => name.toLowerCase()));
  return (names as readonly unknown[]).flatMap((name): string[] => {
    if (typeof name !== 'string' || !given.has(name.trim().toLowerCase())) {
      problems.push(`--secret-header ${typeof name === 'string' ? name : String(typeof name)}: no header of that name is given (-H 'name: value')`);
      return [];
    }
    return [name.trim().toLowerCase()];
  });
}
