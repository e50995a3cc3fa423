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

export type HttpCounters = Counters<(typeof HTTP_COUNTERS)[number]>;
