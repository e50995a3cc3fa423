/**
 * Which failure class a Node or undici error is. It knows the error codes of
 * the sockets and the HTTP client the drivers use, so it lives with them, not
 * with the engine's protocol-free contract.
 */
import { Failure, type FailureCode } from '../engine/driver.js';

/** Classify a Node/undici error the way httperf does. */
export function failureOf(error: unknown): FailureCode {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return Failure.connrefused;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return Failure.connreset;
    case 'EADDRNOTAVAIL':
      return Failure.addrunavail;
    case 'EMFILE':
      return Failure.fdUnavail;
    case 'ENFILE':
      return Failure.ftabFull;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return Failure.socketTimo;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return Failure.timeout;
    default:
      return Failure.other;
  }
}
