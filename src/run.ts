/**
 * The library's load commands: options in, result out. Each one validates
 * everything first (OptionsError lists every problem), probes the target
 * (TargetUnreachableError), runs the protocol-free engine with its driver,
 * and maps the engine's steps into the result schema.
 */
import { readFileSync } from 'node:fs';
import { hostname, cpus } from 'node:os';
import { runPlan, type PlanStep, type StepSource } from './engine/pool.js';
import type { MergedStep } from './engine/merge.js';
import { siblingModule } from './engine/module-file.js';
import { ephemeralPorts, openFileLimit } from './engine/resources.js';
import { failedCriterion, findSaturation } from './measure/saturation.js';
import { generatorLimits, type LimitInputs } from './measure/limits.js';
import { Sweep } from './measure/sweep.js';
import {
  defaultMaxInflight,
  normalizeCommon,
  parseNumber,
  throwIfProblems,
  type CommonOptions,
  type CommonPlanOptions,
} from './options.js';
import { RESULT_SCHEMA, type DnsResult, type DnsStep, type HttpResult, type HttpStep, type StepBase } from './result.js';
import { checkHttpOptions, probeHttp, type HttpClient, type HttpDriverOptions } from './protocols/http/driver.js';
import { probeDns, type DnsDriverOptions } from './protocols/dns/driver.js';
import { rcodeName } from './protocols/dns/types.js';
import { loadZone } from './protocols/dns/zone/index.js';
import { buildQueryMix, loadQueryFile, type Query } from './protocols/dns/queries.js';
import { TargetUnreachableError, TsloadError } from './errors.js';
import { spawnTarget, type SpawnedTarget } from './targets/child.js';

export const VERSION = '0.1.0';

export interface HttpOptions extends CommonOptions {
  /** Target URL. Without one, tsload starts its built-in HTTP target in a child process. */
  url?: string;
  /** A file of URLs or paths (one per line), or the list itself; used round robin (httperf's --wlog). */
  urls?: string | readonly string[];
  method?: string;
  /** 'name: value' strings (the CLI's -H) or a record. */
  headers?: readonly string[] | Record<string, string>;
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

export async function runHttp(options: HttpOptions): Promise<HttpResult> {
  const problems: string[] = [];
  const common = normalizeCommon(options, problems);
  const connections = options.connections === undefined ? undefined : parseNumber(options.connections, 'connections', problems, { min: 1, max: 100_000, integer: true });
  if (options.connections !== undefined && options.maxConnections !== undefined) problems.push('--max-connections: applies to a pool that grows; --connections fixes it');
  const maxConnections =
    options.maxConnections === undefined ? defaultMaxConnections() : parseNumber(options.maxConnections, 'max-connections', problems, { min: 1, max: 1_000_000, integer: true });
  const pipelining = options.pipelining === undefined ? 1 : parseNumber(options.pipelining, 'pipelining', problems, { min: 1, max: 1024, integer: true });
  const urls = options.urls === undefined ? undefined : typeof options.urls === 'string' ? readLines(options.urls, problems) : [...options.urls];
  const headers = parseHeaders(options.headers, problems);
  const body = options.body === undefined ? undefined : readBody(options.body, problems);
  const method = (options.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) problems.push(`--method: '${options.method}' is not an HTTP method`);
  // Everything about the request but its URL, which may come from the built-in target.
  const request: Omit<HttpDriverOptions, 'url'> = {
    ...(urls === undefined ? {} : { urls }),
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    ...(connections === undefined ? {} : { connections }),
    maxConnections,
    pipelining,
    newConnectionPerRequest: options.newConnectionPerRequest ?? false,
    ...(options.client === undefined ? {} : { client: options.client }),
  };
  if (options.url !== undefined) problems.push(...checkHttpOptions({ url: options.url, ...request }));
  throwIfProblems(problems);

  let builtin: SpawnedTarget | undefined;
  try {
    let url = options.url;
    if (url === undefined) {
      builtin = await spawnTarget('http', ['--listen', '127.0.0.1:0']);
      url = builtin.address;
      options.onNotice?.(`tsload: no URL given; started the built-in HTTP target at ${url} (child process ${builtin.child.pid})`);
    }
    await probeHttp(url, Math.min(common.timeoutMs, 5000));
    const pool = { limit: connections ?? maxConnections, fixed: connections !== undefined, pipelining };
    const { base, steps } = await run(common, url, './protocols/http/driver', { url, ...request }, options, (step, limits) => httpStep(step, limits, pool));
    return { protocol: 'http', ...base, steps };
  } finally {
    await builtin?.stop();
  }
}

export interface DnsOptions extends CommonOptions {
  /** host[:port] (default port 53). Without one, tsload serves `zone` with its built-in server in a child process. */
  server?: string;
  /** A master file: the query mix is every (owner, type) in it, shuffled by `seed`. */
  zone?: string;
  /** A dnsperf/queryperf data file, or the queries themselves; used round robin instead of a zone's mix. */
  queries?: string | readonly Query[];
  /** Share of nonexistent names added to a zone's mix, in [0, 1). */
  nxRatio?: number | string;
  /** UDP sockets per thread (default 4), each with its own 16-bit ID space. */
  sockets?: number | string;
  /** dnsperf's name for the in-flight cap (same as maxInflight). */
  maxOutstanding?: number | string;
  /** EDNS0 with this UDP payload size. */
  edns?: number | string;
  /** Set the DO bit. */
  dnssec?: boolean;
  /** Set the RD bit (default true; the CLI's --no-rd clears it). */
  recursionDesired?: boolean;
  onNotice?: (line: string) => void;
}

/** The query list a DNS run would use: from `queries`, else derived from `zone`. */
export function dnsQueries(options: Pick<DnsOptions, 'zone' | 'queries' | 'seed' | 'nxRatio'>, problems: string[]): Query[] {
  const seed = options.seed === undefined ? 1 : parseNumber(options.seed, 'seed', problems, { min: 0, max: 2 ** 32 - 1, integer: true });
  const nxRatio = options.nxRatio === undefined ? 0 : parseNumber(options.nxRatio, 'nx-ratio', problems, { min: 0, max: 0.999 });
  if (options.queries !== undefined && options.nxRatio !== undefined) problems.push('--nx-ratio: applies to a zone\'s query mix, not to --queries');
  try {
    if (options.queries !== undefined) {
      const list = typeof options.queries === 'string' ? loadQueryFile(options.queries) : [...options.queries];
      if (list.length === 0) problems.push('--queries: no queries');
      return list;
    }
    if (options.zone !== undefined) {
      if (problems.length > 0) return [];
      return buildQueryMix(loadZone(options.zone), { seed, nxRatio });
    }
  } catch (error) {
    if (!(error instanceof TsloadError)) throw error;
    problems.push(error.message);
    return [];
  }
  problems.push('--zone or --queries: one is needed to know what to ask');
  return [];
}

export async function runDns(options: DnsOptions): Promise<DnsResult> {
  const problems: string[] = [];
  if (options.maxOutstanding !== undefined && options.maxInflight !== undefined) problems.push('--max-outstanding: same as --max-inflight; give one');
  const common = normalizeCommon({ ...options, ...(options.maxOutstanding === undefined ? {} : { maxInflight: options.maxOutstanding }) }, problems);
  const queries = dnsQueries(options, problems);
  const sockets = options.sockets === undefined ? 4 : parseNumber(options.sockets, 'sockets', problems, { min: 1, max: 1024, integer: true });
  const edns = options.edns === undefined ? undefined : parseNumber(options.edns, 'edns', problems, { min: 512, max: 65535, integer: true });
  const server = options.server === undefined ? undefined : parseServer(options.server, problems);
  if (server === undefined && options.zone === undefined) problems.push('--server: needed without --zone (with --zone alone, tsload serves the zone itself)');
  throwIfProblems(problems);

  let builtin: SpawnedTarget | undefined;
  try {
    let address = server;
    if (address === undefined) {
      builtin = await spawnTarget('dns', ['--zone', options.zone!, '--listen', '127.0.0.1:0']);
      address = parseServer(builtin.address, []);
      options.onNotice?.(`tsload: no --server given; started the built-in DNS server for ${options.zone} at ${builtin.address} (child process ${builtin.child.pid})`);
    }
    const target = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
    await probeWithRetries(() => probeDns(address.host, address.port, queries[0]!, Math.min(common.timeoutMs, 2000)));
    const driverOptions: DnsDriverOptions = {
      server: address.host,
      port: address.port,
      queries,
      sockets,
      ...(edns === undefined ? {} : { edns }),
      dnssec: options.dnssec ?? false,
      recursionDesired: options.recursionDesired ?? true,
    };
    const { base, steps } = await run(common, target, './protocols/dns/driver', driverOptions, options, dnsStep);
    return { protocol: 'dns', ...base, steps };
  } finally {
    await builtin?.stop();
  }
}

/** UDP may lose the probe itself (a lossy link is what some runs measure): three tries before giving up. */
async function probeWithRetries(probe: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await probe();
    } catch (error) {
      if (attempt === 3 || !(error instanceof TargetUnreachableError) || /ICMP/.test(error.message)) throw error;
    }
  }
}

function parseServer(text: string, problems: string[]): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+))(?::(\d+))?$/.exec(text.trim());
  const port = m?.[3] === undefined ? 53 : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    problems.push(`--server: '${text}' is not host[:port]`);
    return { host: '', port: 0 };
  }
  return { host: m[1] ?? m[2]!, port };
}

/** A byte count per item (request, reply, query), to a tenth; 0 when there were none. */
function per(total: number | undefined, n: number | undefined): number {
  return n ? Math.round(((total ?? 0) / n) * 10) / 10 : 0;
}

/** What a protocol's step mapping needs to name tsload's limits, besides the step. */
type LimitContext = Omit<LimitInputs, 'step' | 'pool' | 'lostAtGenerator'>;

function dnsStep(step: MergedStep, context: LimitContext): DnsStep {
  const { codes, counters, ...base } = step;
  const rcodes: Record<string, number> = {};
  for (const [code, count] of Object.entries(codes)) rcodes[rcodeName(Number(code))] = count;
  const lostAtGenerator = counters.lostAtGenerator ?? null;
  return {
    ...base,
    bytesSent: counters.bytesSent ?? 0,
    bytesReceived: counters.bytesReceived ?? 0,
    lost: base.timeouts,
    lostAtGenerator,
    late: counters.late ?? 0,
    rcodes,
    truncated: counters.truncated ?? 0,
    unexpected: counters.unexpected ?? 0,
    avgRequestBytes: per(counters.requestBytes, counters.queries),
    avgResponseBytes: per(counters.responseBytes, counters.responses),
    generatorLimits: generatorLimits({ ...context, step: base, lostAtGenerator }),
  };
}

function httpStep(step: MergedStep, context: LimitContext, pool: { limit: number; fixed: boolean; pipelining: number }): HttpStep {
  const statusClasses = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  for (const [code, count] of Object.entries(step.codes)) {
    const key = `${code[0]}xx`;
    if (key in statusClasses) statusClasses[key as keyof typeof statusClasses] += count;
  }
  const { codes, counters, ...base } = step;
  const waited = counters.waitedForConnection ?? 0;
  const waitedAtLimit = counters.waitedAtLimit ?? 0;
  const written = counters.requestsWritten ?? 0;
  return {
    ...base,
    bytesSent: counters.bytesSent ?? 0,
    bytesReceived: counters.bytesReceived ?? 0,
    avgRequestBytes: per(counters.bytesSent, written),
    avgReplyBytes: per(counters.bytesReceived, counters.replies),
    connections: counters.connections ?? 0,
    pool: { limit: pool.limit, fixed: pool.fixed, waited, waitedAtLimit },
    statusClasses,
    statusCodes: codes,
    generatorLimits: generatorLimits({ ...context, step: base, pool: { ...pool, waited, waitedAtLimit, written } }),
  };
}

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

/**
 * Runs the engine with a driver through a sweep: every planned rate, a
 * failing one measured again (--confirm), then --refine's bisection. Returns
 * the protocol-free part of the result and the protocol's steps.
 */
async function run<S extends StepBase & { attempts?: unknown[] }>(
  common: CommonPlanOptions,
  target: string,
  driver: string,
  driverOptions: unknown,
  hooks: CommonOptions,
  mapStep: (step: MergedStep, context: LimitContext) => S,
) {
  const startedAt = new Date();
  const maxInflight = common.maxInflight ?? defaultMaxInflight(common);
  const fileLimit = openFileLimit();
  // A single rate is a measurement, not a search: nothing to confirm.
  const confirm = common.rates.length > 1 ? common.confirm : 0;
  const sweep = new Sweep<S>({ rates: common.rates, confirm, refinePct: common.refinePct }, (s) => failedCriterion(s, common.criteria) !== null);
  const planStep = (rate: number): PlanStep => ({ rate, warmupMs: common.warmupMs, durationMs: common.durationMs });
  // The service time at the lowest rate measured so far: the server's own, before any queue of its own.
  let baseline: { rate: number; serviceP50Ms: number } | undefined;
  const source: StepSource = {
    next: () => {
      const next = sweep.rate();
      return next === undefined ? undefined : planStep(next.rate);
    },
    later: () => Array.from({ length: Math.max(0, sweep.remaining() - 1) }, () => planStep(0)),
  };
  const outcome = await runPlan(
    {
      driverModule: siblingModule(import.meta.url, driver),
      driverOptions,
      threadCount: common.threads,
      arrival: common.arrival,
      seed: common.seed,
      maxInflight,
      busyPoll: common.busyPoll,
      timeoutMs: common.timeoutMs,
      // The driver reports a timeout within its sweep period after the deadline.
      drainMs: common.timeoutMs + 250,
    },
    source,
    {
      signal: hooks.signal,
      onProgress: hooks.onProgress,
      onStep: (merged, index) => {
        if (merged.serviceTimeMs.count > 0 && (baseline === undefined || merged.targetRate < baseline.rate)) {
          baseline = { rate: merged.targetRate, serviceP50Ms: merged.serviceTimeMs.p50 };
        }
        const step = mapStep(merged, { threads: common.threads, maxInflight, fileLimit, baselineServiceP50Ms: baseline?.serviceP50Ms ?? merged.serviceTimeMs.p50 });
        sweep.record(step);
        hooks.onStep?.(step, index, index + 1 + sweep.remaining());
      },
    },
  );
  sweep.end();
  const steps = sweep.steps();
  const base = {
    schema: RESULT_SCHEMA as typeof RESULT_SCHEMA,
    tool: { name: 'tsload' as const, version: VERSION },
    target,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    aborted: outcome.aborted || (hooks.signal?.aborted ?? false),
    threads: common.threads,
    arrival: common.arrival,
    host: { hostname: hostname(), platform: `${process.platform}-${process.arch}`, cpus: cpus().length, node: process.version },
    label: common.label ?? target,
    saturation: findSaturation(steps, common.criteria, { confirm, refinePct: common.refinePct }),
  };
  return { base, steps };
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
  if (!Array.isArray(headers)) return Object.entries(headers as Record<string, string>);
  return (headers as readonly string[]).flatMap((h): [string, string][] => {
    const colon = h.indexOf(':');
    const name = colon > 0 ? h.slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      problems.push(`--header: '${h}' is not 'name: value'`);
      return [];
    }
    return [[name, h.slice(colon + 1).trim()]];
  });
}
