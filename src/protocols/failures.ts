/**
 * Which failure class a socket error is, by Node's error codes. Every
 * protocol's transport meets these; a protocol with a client library of its
 * own (HTTP's undici) classifies that library's codes first and falls back here.
 */
import { Failure, type FailureCode } from '../engine/driver.js';

/** Classify a Node socket error the way httperf does. */
export function socketFailure(error: unknown): FailureCode {
  switch ((error as { code?: unknown } | null)?.code) {
    case 'ECONNREFUSED':
      return Failure.connrefused;
    case 'ECONNRESET':
    case 'EPIPE':
      return Failure.connreset;
    case 'EADDRNOTAVAIL':
      return Failure.addrunavail;
    case 'EMFILE':
      return Failure.fdUnavail;
    case 'ENFILE':
      return Failure.ftabFull;
    case 'ETIMEDOUT':
      return Failure.socketTimo;
    default:
      return Failure.other;
  }
}
