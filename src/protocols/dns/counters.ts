/** The counters the DNS driver reports, by name: the driver writes them, the step mapping reads them, and tsc checks both. */
import type { Counters } from '../protocol.js';

export const DNS_COUNTERS = [
  'queries',
  'requestBytes',
  'responseBytes',
  'responses',
  'truncated',
  'unexpected',
  'late',
  'bytesSent',
  'bytesReceived',
  'socketErrors',
] as const;

/**
 * Reported only where they mean something: datagrams the kernel dropped at
 * tsload's own sockets (UDP, where /proc/net/udp shows them), and the
 * connections of TCP and TLS.
 */
export const DNS_OPTIONAL_COUNTERS = ['lostAtGenerator', 'connections', 'reconnects', 'connectFailures', 'closedByServer', 'tlsHandshakes', 'tlsHandshakeMs'] as const;

export type DnsCounters = Counters<(typeof DNS_COUNTERS)[number], (typeof DNS_OPTIONAL_COUNTERS)[number]>;
