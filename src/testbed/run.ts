/**
 * A load run from the testbed's client host against its server host, as a
 * library call that returns the Result (`tsload http|dns --testbed` is this
 * and nothing more). Without a target, the server host's running target of
 * the protocol is used.
 */
import { spawn } from 'node:child_process';
import { loaderExecArgv, siblingPath } from '../engine/module-file.js';
import { EnvironmentError, ExitCode, OptionsError, TsloadError } from '../errors.js';
import type { CommonOptions } from '../options.js';
import type { ProgressEvent, Result, StepBase } from '../result.js';
import type { OptionsOf } from '../run.js';
import { protocols, type ProtocolName } from '../protocols/index.js';
import { TARGET_NAMES, clientCommand, defaultDnsTlsTarget, defaultHttpsTarget, defaultTarget } from './index.js';

export interface RemoteRequest {
  protocol: string;
  options: unknown;
}

export type RemoteMessage =
  | { kind: 'progress'; event: ProgressEvent }
  | { kind: 'step'; step: Omit<StepBase, 'bytesSent' | 'bytesReceived'>; index: number; count: number }
  | { kind: 'notice'; line: string }
  | { kind: 'result'; result: Result }
  | { kind: 'error'; name: string; message: string; code: string; exitCode: number; problems?: string[] };

/** An error of the run inside the client host, with its code and exit status. */
export class TestbedRunError extends TsloadError {
  override readonly code: string;
  override readonly exitCode: ExitCode;
  constructor(message: string, code: string, exitCode: number) {
    super(message);
    this.code = code;
    this.exitCode = (Object.values(ExitCode) as number[]).includes(exitCode) ? (exitCode as ExitCode) : ExitCode.failure;
  }
}

/** Runs `options` inside the testbed's client host (root; the testbed must be up). */
export async function runInTestbed<N extends ProtocolName>(protocol: N, options: OptionsOf[N]): Promise<Extract<Result, { protocol: N }>> {
  const { signal, onProgress, onStep, ...rest } = options as CommonOptions & { onNotice?: (line: string) => void };
  const onNotice = (options as { onNotice?: (line: string) => void }).onNotice;
  delete (rest as { onNotice?: unknown }).onNotice;
  const plain = rest as Record<string, unknown>;
  const targetOption = protocols[protocol].targetOption;
  if (plain[targetOption] === undefined && protocol === 'dns' && plain.transport === 'tls') {
    const target = defaultDnsTlsTarget();
    if (target === undefined) throw new EnvironmentError("--testbed: no dns target is running; start one with 'tsload testbed start nsd'");
    if ('error' in target) throw new EnvironmentError(`--testbed --transport tls: ${target.error}`);
    plain.server = target.server;
    // Its certificate is the testbed's own, self-signed: verify with it unless told otherwise.
    if (plain.insecure !== true && plain.ca === undefined) plain.ca = target.ca;
  } else if (plain[targetOption] === undefined && protocol === 'http' && plain.http2 === true) {
    // h2 by ALPN needs TLS: aim at the target's HTTPS side, verified with the certificate it made.
    const https = await defaultHttpsTarget();
    if (https === undefined) throw new EnvironmentError("--testbed --http2: no running HTTP target serves HTTPS; start one with 'tsload testbed start nginx'");
    plain.url = https.endpoint;
    if (plain.insecure !== true && plain.ca === undefined) plain.ca = https.ca;
  } else if (plain[targetOption] === undefined) {
    const target = await defaultTarget(protocol);
    if (target === undefined) {
      throw new EnvironmentError(`--testbed: no ${protocol} target is running; start one with 'tsload testbed start …' (${TARGET_NAMES.join(', ')}, or vm)`);
    }
    plain[targetOption] = target;
  }
  const { command, args } = clientCommand([process.execPath, ...loaderExecArgv(), siblingPath(import.meta.url, './remote')]);
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const abort = (): void => {
    if (child.connected) child.send('abort');
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    return await new Promise((resolve, reject) => {
      let settled = false;
      child.on('message', (m: RemoteMessage) => {
        if (m.kind === 'progress') onProgress?.(m.event);
        else if (m.kind === 'step') onStep?.(m.step, m.index, m.count);
        else if (m.kind === 'notice') onNotice?.(m.line);
        else if (m.kind === 'result') {
          settled = true;
          resolve(m.result as Extract<Result, { protocol: N }>);
        } else {
          settled = true;
          reject(m.problems !== undefined ? new OptionsError(m.problems) : new TestbedRunError(m.message, m.code, m.exitCode));
        }
      });
      child.once('error', (error) => reject(new EnvironmentError(`--testbed: cannot run in the client host: ${error.message}`, { cause: error })));
      child.once('exit', (code, sig) => {
        if (!settled) reject(new TestbedRunError(`--testbed: the run in the client host ended without a result (${sig ?? `exit ${code}`})`, 'TSLOAD_ERR_TESTBED', ExitCode.failure));
      });
      child.send({ protocol, options: plain } satisfies RemoteRequest);
    });
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}
