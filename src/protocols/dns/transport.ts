/**
 * Which transport a DNS run uses (dnsperf's -m udp|tcp|dot): its options
 * checked once in the main thread, its default port, its driver module and
 * its pre-flight probe.
 */
import { checkTls, type TlsSettings, type TlsUserOptions } from '../tls.js';
import { probeDns, type DnsQuery } from './driver.js';
import { probeDnsStream } from './stream.js';
import type { DnsStreamCounts } from '../../result.js';
import type { DnsCounters } from './counters.js';

export const DNS_TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export type DnsTransport = (typeof DNS_TRANSPORTS)[number];

export interface DnsTransportOptions extends TlsUserOptions {
  /** udp (default), tcp (RFC 7766) or tls (RFC 7858, port 853). */
  transport?: string;
}

export interface CheckedTransport {
  transport: DnsTransport;
  /** For tls only. */
  tls?: TlsSettings;
  /** RFC 7858 §3.1: DNS over TLS has a port of its own. */
  defaultPort: number;
}

export function checkTransport(options: DnsTransportOptions, problems: string[]): CheckedTransport {
  const transport = (options.transport ?? 'udp') as DnsTransport;
  if (!DNS_TRANSPORTS.includes(transport)) problems.push(`--transport: '${options.transport}' must be one of ${DNS_TRANSPORTS.join(', ')}`);
  const tlsGiven = options.insecure === true || options.ca !== undefined || options.tlsServername !== undefined;
  if (transport !== 'tls' && tlsGiven) problems.push('--insecure, --ca, --tls-servername: apply to --transport tls only');
  return {
    transport,
    ...(transport === 'tls' ? { tls: checkTls(options, problems) } : {}),
    defaultPort: transport === 'tls' ? 853 : 53,
  };
}

/** The transport's pre-flight probe: one query, any answer. */
export function probeTransport(transport: DnsTransport, tls: TlsSettings | undefined, server: string, port: number, query: DnsQuery, timeoutMs: number): Promise<void> {
  if (transport === 'udp') return probeDns(server, port, query, timeoutMs);
  return probeDnsStream(transport, server, port, tls, query, timeoutMs);
}

/** A stream driver's step counters as the result names them. */
export function streamCounts(counters: DnsCounters): DnsStreamCounts {
  const handshakes = counters.tlsHandshakes ?? 0;
  return {
    connections: counters.connections ?? 0,
    reconnects: counters.reconnects ?? 0,
    closedByServer: counters.closedByServer ?? 0,
    connectFailures: counters.connectFailures ?? 0,
    tlsHandshakes: handshakes,
    tlsHandshakeMeanMs: handshakes > 0 ? Math.round(((counters.tlsHandshakeMs ?? 0) / handshakes) * 1000) / 1000 : null,
  };
}
