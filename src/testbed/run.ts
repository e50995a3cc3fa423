/**
 * A load run from the testbed's client host against its server host, as a
 * library call that returns the Result (`tsload http|dns --testbed` is this
 * and nothing more). Without a target, the server host's running target of
 * the protocol is used.
 */
import { spawn } from 'node:child_process';
import { loaderExecArgv, siblingPath } from '../engine/module-file.js';
import { EnvironmentError, ExitCode, OptionsError, TsloadError } from '../errors.js';
import type { CommonOptions, DistributedOptions } from '../options.js';
import type { ProgressEvent, Result, StepBase } from '../result.js';
import type { OptionsOf } from '../run.js';
import { protocols, type ProtocolName } from '../protocols/index.js';
import { existsSync } from 'node:fs';
import { resolveSegment } from '../engine/launcher.js';
import { TARGET_NAMES, clientCommand, clientCount, clientHost, defaultDnsTlsTarget, defaultHttpsTarget, defaultTarget } from './index.js';
import type { Host } from './settings.js';

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

/**
 * Which client host runs a generator: host i for segment i of a testbed
 * made with --clients, so N generators are N machines to the network. The
 * segment is resolved here, in the process that spawns into the host, from
 * --segment or the launcher's variables (srun's SLURM_PROCID), exactly as
 * the run will resolve it. On a testbed of one client host every segment
 * runs there, as before --clients existed; a testbed of several refuses more
 * segments than it has hosts rather than put two generators on one.
 */
export function chooseClientHost(options: { segment?: string | undefined; segmentSequence?: string | undefined; env?: Readonly<Record<string, string | undefined>> | undefined }, clients: number): { host: Host; index: number; line?: string } {
  let info;
  try {
    info = resolveSegment(options.segment, options.segmentSequence, options.env ?? process.env).info;
  } catch (error) {
    // A bad segment is the run's to report, with every other problem of its options.
    if (error instanceof RangeError) return { host: clientHost(1), index: 1 };
    throw error;
  }
  if (info === undefined) return { host: clientHost(1), index: 1 };
  if (clients === 1) {
    const host = clientHost(1);
    return { host, index: 1, line: `tsload: --testbed: segment ${info.index}/${info.count} runs in the one client host ${host.namespace} (${host.address}); \`tsload testbed up --clients ${info.count}\` gives each segment its own` };
  }
  if (info.count > clients) {
    throw new OptionsError([`--testbed: segment ${info.index}/${info.count}, but the testbed has ${clients} client hosts: run \`tsload testbed down\` and \`tsload testbed up --clients ${info.count}\`, or use ${clients} generators`]);
  }
  const host = clientHost(info.index);
  return { host, index: info.index, line: `tsload: --testbed: segment ${info.index}/${info.count} runs in client host ${info.index} of ${clients}, ${host.namespace} (${host.address})` };
}

/** Runs `options` inside the testbed's client host (root; the testbed must be up); with a segment, in client host i (see chooseClientHost). */
export async function runInTestbed<N extends ProtocolName>(protocol: N, options: OptionsOf[N]): Promise<Extract<Result, { protocol: N }>> {
  const { signal, onProgress, onStep, ...rest } = options as CommonOptions & { onNotice?: (line: string) => void };
  const onNotice = (options as { onNotice?: (line: string) => void }).onNotice;
  delete (rest as { onNotice?: unknown }).onNotice;
  const plain = rest as Record<string, unknown>;
  const targetOption = protocols[protocol].targetOption;
  // Before the target: a run the testbed cannot place is refused whatever else is wrong.
  const clients = clientCount();
  const chosen = chooseClientHost(plain as DistributedOptions, clients);
  if (!existsSync(`/run/netns/${chosen.host.namespace}`)) {
    throw new EnvironmentError(`--testbed: client host ${chosen.host.namespace} does not exist: run \`tsload testbed up\` first`);
  }
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
  if (chosen.line !== undefined) onNotice?.(chosen.line);
  const testbed = { client: chosen.host.namespace, address: chosen.host.address, index: chosen.index, clients };
  const { command, args } = clientCommand([process.execPath, ...loaderExecArgv(), siblingPath(import.meta.url, './remote')], chosen.host);
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
          resolve({ ...m.result, testbed } as Extract<Result, { protocol: N }>);
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
