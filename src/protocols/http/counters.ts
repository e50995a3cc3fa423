/** The counters every HTTP client reports, by name: the driver writes them, the step mapping reads them, and tsc checks both. */
import type { Counters } from '../protocol.js';

export const HTTP_COUNTERS = [
  'connections',
  'waitedForConnection',
  'waitedAtLimit',
  'bytesSent',
  'bytesReceived',
  'requestsWritten',
  'replies',
  'replyHeaderBytes',
  'replyBodyBytes',
] as const;

/** Only the clients that can know them report these: TLS handshakes, and connections by the version they speak. */
export const HTTP_OPTIONAL_COUNTERS = ['tlsHandshakes', 'tlsHandshakeMs', 'tlsHandshakeFailures', 'h1Connections', 'h2Connections'] as const;

export type HttpCounters = Counters<(typeof HTTP_COUNTERS)[number], (typeof HTTP_OPTIONAL_COUNTERS)[number]>;
