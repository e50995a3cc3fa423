/** The counters the DNS driver reports, by name: the driver writes them, the step mapping reads them, and tsc checks both. */
import type { Counters } from '../protocol.js';

export const DNS_COUNTERS = [
  'queries',
  'requestBytes',
  'responseBytes',
  'responses',
  'truncated',
  /** Answers never matched to a query: the sum of the wrong IDs, `malformed` and `mismatched`. */
  'unexpected',
  /** Not a readable response (shorter than a header, QR clear, a question that does not parse): nothing in it is trusted. */
  'malformed',
  /** To an ID in flight, but asking another question (name, type or class): the query waits for its own answer. */
  'mismatched',
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
