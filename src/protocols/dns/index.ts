/**
 * DNS as tsload runs it: its options and their checks (once, here, in the
 * main thread), the query list from a zone or a query file, the built-in
 * server when no --server is given, the probe, the driver module, and the
 * mapping of engine steps to DNS result steps.
 */
import { siblingModule } from '../../engine/module-file.js';
import { generatorLimits } from '../../measure/limits.js';
import { parseNumber, type CommonOptions } from '../../options.js';
import type { DnsResult, DnsStep } from '../../result.js';
import { spawnTarget } from '../../targets/child.js';
import { TargetUnreachableError, TsloadError } from '../../errors.js';
import { formatEndpoint, parseEndpoint, type Endpoint } from '../../util/endpoint.js';
import { perItem, type Protocol, type ProtocolStep, type StepContext } from '../protocol.js';
import { DNS_COUNTERS, DNS_OPTIONAL_COUNTERS, type DnsCounters } from './counters.js';
import { checkDnsQueries, type DnsDriverOptions } from './driver.js';
import { rcodeName } from './types.js';
import { checkTransport, probeTransport, streamCounts, type DnsTransport, type DnsTransportOptions } from './transport.js';
import type { TlsSettings } from '../tls.js';
import { buildQueryMix, loadQueryFile, type Query } from './queries.js';
import { loadZone } from './zone/index.js';

export interface DnsOptions extends CommonOptions, DnsTransportOptions {
  /** host[:port] (default port 53). Without one, tsload serves `zone` with its built-in server in a child process. */
  server?: string;
  /** A master file: the query mix is every (owner, type) in it, shuffled by `seed`. */
  zone?: string;
  /** A dnsperf/queryperf data file, or the queries themselves; used round robin instead of a zone's mix. */
  queries?: string | readonly Query[];
  /** Share of nonexistent names added to a zone's mix, in [0, 1). */
  nxRatio?: number | string;
  /** UDP sockets, or TCP/TLS connections, per thread (default 4), each with its own 16-bit ID space. */
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

/** What every DNS driver (UDP, or a stream over TCP or TLS) is created with. */
export type DnsRunOptions = DnsDriverOptions & { transport: DnsTransport; tls?: TlsSettings };

/** The driver's options but the server, which may be the built-in one. */
export type DnsChecked = Omit<DnsRunOptions, 'server' | 'port'> & { server: Endpoint | undefined; zone: string | undefined };

/**
 * The query list a DNS run would use: from `queries`, else derived from
 * `zone`. Records outside the zone's origin are left out, as BIND leaves them
 * out, and said through `notice`.
 */
export function dnsQueries(options: Pick<DnsOptions, 'zone' | 'queries' | 'seed' | 'nxRatio' | 'onNotice'>, problems: string[]): Query[] {
  const seed = options.seed === undefined ? 1 : parseNumber(options.seed, 'seed', problems, { min: 0, max: 2 ** 32 - 1, integer: true });
  const nxRatio = options.nxRatio === undefined ? 0 : parseNumber(options.nxRatio, 'nx-ratio', problems, { min: 0, max: 0.999 });
  if (options.queries !== undefined && options.nxRatio !== undefined) problems.push("--nx-ratio: applies to a zone's query mix, not to --queries");
  try {
    if (options.queries !== undefined) {
      const list = typeof options.queries === 'string' ? loadQueryFile(options.queries) : [...options.queries];
      if (list.length === 0) problems.push('--queries: no queries');
      return list;
    }
    if (options.zone !== undefined) {
      if (problems.length > 0) return [];
      const zone = loadZone(options.zone);
      if (zone.outOfZone !== undefined) options.onNotice?.(`tsload: ${options.zone}: ignored ${zone.outOfZone} record(s) outside ${zone.origin} (as named-checkzone does)`);
      return buildQueryMix(zone, { seed, nxRatio });
    }
  } catch (error) {
    if (!(error instanceof TsloadError)) throw error;
    problems.push(error.message);
    return [];
  }
  problems.push('--zone or --queries: one is needed to know what to ask');
  return [];
}

export const dns: Protocol<'dns', DnsOptions, DnsChecked, DnsRunOptions, DnsCounters, DnsStep, DnsResult> = {
  name: 'dns',
  targetOption: 'server',
  driverModule: (o) => siblingModule(import.meta.url, o.transport === 'udp' ? './driver' : './stream'),
  counterNames: [...DNS_COUNTERS, ...DNS_OPTIONAL_COUNTERS],
  formats: { dnsperf: async () => (await import('../../report/dnsperf.js')).formatDnsperf },

  common(options, problems) {
    if (options.maxOutstanding !== undefined && options.maxInflight !== undefined) problems.push('--max-outstanding: same as --max-inflight; give one');
    return options.maxOutstanding === undefined ? options : { ...options, maxInflight: options.maxOutstanding };
  },

  check(options, _common, problems) {
    const queries = dnsQueries(options, problems);
    const sockets = options.sockets === undefined ? 4 : parseNumber(options.sockets, 'sockets', problems, { min: 1, max: 1024, integer: true });
    const edns = options.edns === undefined ? undefined : parseNumber(options.edns, 'edns', problems, { min: 512, max: 65535, integer: true });
    const transport = checkTransport(options, problems);
    let server: Endpoint | undefined;
    if (options.server !== undefined) {
      server = parseEndpoint(options.server, { port: transport.defaultPort });
      if (server === undefined) problems.push(`--server: '${options.server}' is not host[:port]`);
    } else if (options.zone === undefined) problems.push('--server: needed without --zone (with --zone alone, tsload serves the zone itself)');
    if (server === undefined && transport.transport === 'tls') {
      problems.push('--transport tls: needs --server (the built-in server has no certificate here; serve one with `tsload serve dns --tls-cert … --tls-key …`)');
    }
    const checked: DnsChecked = {
      transport: transport.transport,
      ...(transport.tls === undefined ? {} : { tls: transport.tls }),
      server,
      zone: options.zone,
      queries,
      sockets,
      ...(edns === undefined ? {} : { edns }),
      dnssec: options.dnssec ?? false,
      recursionDesired: options.recursionDesired ?? true,
    };
    if (queries.length > 0) problems.push(...checkDnsQueries(checked));
    return checked;
  },

  async open({ server, zone, ...checked }, options) {
    if (server !== undefined) return { label: formatEndpoint(server.host, server.port), driverOptions: { ...checked, server: server.host, port: server.port }, stop: async () => {} };
    const builtin = await spawnTarget('dns', ['--zone', zone!, '--listen', '127.0.0.1:0']);
    options.onNotice?.(`tsload: no --server given; started the built-in DNS server for ${zone} at ${builtin.address} (child process ${builtin.child.pid})`);
    const address = parseEndpoint(builtin.address)!;
    return { label: builtin.address, driverOptions: { ...checked, server: address.host, port: address.port }, stop: () => builtin.stop() };
  },

  // UDP may lose the probe itself (a lossy link is what some runs measure): three tries before giving up.
  async probe(o, timeoutMs) {
    for (let attempt = 1; ; attempt++) {
      try {
        await probeTransport(o.transport, o.tls, o.server, o.port, o.queries[0]!, Math.min(timeoutMs, 2000));
        return { driverOptions: o };
      } catch (error) {
        if (attempt === 3 || !(error instanceof TargetUnreachableError) || /ICMP/.test(error.message)) throw error;
      }
    }
  },

  step: dnsStep,
};

function dnsStep(step: ProtocolStep<DnsCounters>, context: StepContext, driverOptions: DnsRunOptions): DnsStep {
  const { codes, counters, ...base } = step;
  const rcodes: Record<string, number> = {};
  for (const [code, count] of Object.entries(codes)) rcodes[rcodeName(Number(code))] = count;
  const lostAtGenerator = counters.lostAtGenerator ?? null;
  return {
    ...base,
    bytesSent: counters.bytesSent,
    bytesReceived: counters.bytesReceived,
    lost: base.timeouts,
    lostAtGenerator,
    late: counters.late,
    rcodes,
    truncated: counters.truncated,
    unexpected: counters.unexpected,
    malformed: counters.malformed,
    mismatched: counters.mismatched,
    avgRequestBytes: perItem(counters.requestBytes, counters.queries),
    avgResponseBytes: perItem(counters.responseBytes, counters.responses),
    ...(driverOptions.transport === 'udp' ? {} : { stream: streamCounts(counters) }),
    generatorLimits: generatorLimits({ ...context, step: base, lostAtGenerator }),
  };
}
