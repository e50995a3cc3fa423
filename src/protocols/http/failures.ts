/** HTTP's failure classes: undici's error codes, then the sockets'. */
import { Failure, type FailureCode } from '../../engine/driver.js';
import { socketFailure } from '../failures.js';

export function failureOf(error: unknown): FailureCode {
  switch ((error as { code?: unknown } | null)?.code) {
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return Failure.connreset;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return Failure.socketTimo;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return Failure.timeout;
    default:
      return socketFailure(error);
  }
}
