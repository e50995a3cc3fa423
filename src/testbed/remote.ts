/**
 * The load half of runInTestbed, run by it inside the client host's network
 * namespace (a namespace is per process, so a child is the only way in). It
 * takes the protocol and options over the IPC channel, runs them with the
 * library, and sends back progress, notices, steps and then the result or
 * the error, as plain data.
 */
import { runLoad, type OptionsOf } from '../run.js';
import type { ProtocolName } from '../protocols/index.js';
import { OptionsError, TsloadError } from '../errors.js';
import type { RemoteMessage, RemoteRequest } from './run.js';

const send = (message: RemoteMessage): void => {
  process.send?.(message);
};

process.once('message', (request: RemoteRequest) => {
  const controller = new AbortController();
  process.on('message', (m) => {
    if (m === 'abort') controller.abort();
  });
  // A Ctrl-C in a terminal reaches this child too (same process group): stop as the parent asks, with the result so far, rather than die without one.
  process.on('SIGINT', () => controller.abort());
  void runLoad(request.protocol as ProtocolName, {
    ...(request.options as OptionsOf[ProtocolName]),
    signal: controller.signal,
    onProgress: (event) => send({ kind: 'progress', event }),
    onStep: (step, index, count) => send({ kind: 'step', step, index, count }),
    onNotice: (line: string) => send({ kind: 'notice', line }),
  }).then(
    (result) => send({ kind: 'result', result }),
    (error: unknown) =>
      send({
        kind: 'error',
        name: (error as Error)?.name ?? 'Error',
        message: (error as Error)?.message ?? String(error),
        code: error instanceof TsloadError ? error.code : 'TSLOAD_ERR',
        exitCode: error instanceof TsloadError ? error.exitCode : 1,
        ...(error instanceof OptionsError ? { problems: [...error.problems] } : {}),
      }),
  ).finally(() => process.disconnect());
});
