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
import { TARGET_NAMES, clientCommand, clientCount, clientHost, defaultDnsTlsTarget, defaultHttpsTarget, defaultTarget, linkSettings } from './index.js';
import type { Host } from './settings.js';
import { saturatedResource } from '../measure/saturation.js';
import { availableCpus, formatCpuList, parseCpuList } from './cgroups.js';
import { ServerSampler } from './resources.js';
import { findBinary, requireRootAndIproute } from './system.js';
import { readTargets, type RunningTarget } from './targets.js';
import type { ResultTestbedTarget, ServerFigures } from '../result.js';
import { parseEndpoint } from '../util/endpoint.js';

/** What runInTestbed takes beyond the protocol's options. */
export interface TestbedRunOptions {
  /**
   * CPUs the generator runs on (a list such as '0' or '0-3'), or 'all'. By
   * default, when the target has a cpuset, those it leaves free (when it
   * leaves any): the generator then never competes with the server for its cores.
   */
  generatorCpus?: string;
}

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
export async function runInTestbed<N extends ProtocolName>(protocol: N, options: OptionsOf[N] & TestbedRunOptions): Promise<Extract<Result, { protocol: N }>> {
  const { signal, onProgress, onStep, generatorCpus: pinOption, ...rest } = options as CommonOptions & TestbedRunOptions & { onNotice?: (line: string) => void };
  const onNotice = (options as { onNotice?: (line: string) => void }).onNotice;
  delete (rest as { onNotice?: unknown }).onNotice;
  const tools = requireRootAndIproute();
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
  const target = aimedTarget(protocol, String(plain[targetOption]));
  const pin = generatorPinning(pinOption, target);
  if (pin.notice !== undefined) onNotice?.(pin.notice);
  if (chosen.line !== undefined) onNotice?.(chosen.line);
  const testbed = { client: chosen.host.namespace, address: chosen.host.address, index: chosen.index, clients };
  const { command, args } = clientCommand([...pin.prefix, process.execPath, ...loaderExecArgv(), siblingPath(import.meta.url, './remote')], chosen.host);
  // Started before the child, so the first window's start lies between two readings.
  const sampler = target === undefined ? undefined : new ServerSampler(target, tools, linkSettings()?.rateBitsPerSecond);
  const figures = new Map<number, ServerFigures>();
  let measuring = Promise.resolve();
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const abort = (): void => {
    if (child.connected) child.send('abort');
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const result = await new Promise<Extract<Result, { protocol: N }>>((resolve, reject) => {
      let settled = false;
      child.on('message', (m: RemoteMessage) => {
        if (m.kind === 'progress') onProgress?.(m.event);
        else if (m.kind === 'step') {
          // Each measurement (a repeat too) reports here as it ends: its figures are taken now,
          // while the ring still holds its window, and matched to the result's steps by window.
          const window = m.step.window;
          if (sampler !== undefined && window !== undefined) {
            const step = m.step;
            measuring = measuring
              .then(() => sampler.figuresAfter(step))
              .then((f) => {
                if (f !== undefined) figures.set(window.startMs, f);
                sampler.prune(window.endMs);
              })
              // The load's result matters more than the server's side of it: said, not thrown.
              .catch((error: unknown) => onNotice?.(`tsload: no server figures for a step: ${(error as Error).message}`));
          }
          onStep?.(m.step, m.index, m.count);
        }
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
    await measuring;
    await sampler?.stop();
    return { ...withServerFigures(result, figures, sampler, pin.cpus), ...(target === undefined ? {} : { testbedTarget: describeTarget(target) }) };
  } finally {
    signal?.removeEventListener('abort', abort);
    await sampler?.stop();
  }
}

/** What a result records of the target it measured. */
export function describeTarget(t: RunningTarget): ResultTestbedTarget {
  return {
    name: t.name,
    kind: t.kind === 'vm' ? 'vm' : 'server',
    address: t.address,
    ...(t.kind === 'vm' ? {} : { workers: t.workers }),
    ...(t.limits === undefined ? {} : { limits: { cpus: t.limits.cpus, memoryBytes: t.limits.memoryBytes } }),
    ...(t.vm === undefined ? {} : { vm: { accel: t.vm.accel, accelReason: t.vm.accelReason, cpus: t.vm.cpus, memoryBytes: t.vm.memoryBytes, kernel: t.vm.kernel ?? null } }),
  };
}

/** The result with each step's (and each repeat's) server figures, the verdict's resource, and where the generator ran. */
function withServerFigures<R extends Result>(result: R, figures: Map<number, ServerFigures>, sampler: ServerSampler | undefined, generatorCpus: string | null): R {
  const attach = <S extends Result['steps'][number]>(step: S): S => {
    const start = step.window?.startMs;
    // A step the child never reported (a stopped run's last) is measured from the ring as it is.
    const f = start === undefined ? undefined : (figures.get(start) ?? sampler?.figures(step));
    const attempts = step.attempts?.map((a) => attach(a as S));
    return { ...step, ...(f === undefined ? {} : { server: f }), ...(attempts === undefined ? {} : { attempts }) };
  };
  const steps = (result.steps as Result['steps'][number][]).map(attach);
  const failed = result.saturation.failedAt === null ? undefined : steps[result.saturation.failedAt];
  return {
    ...result,
    generatorCpus,
    saturation: { ...result.saturation, resource: saturatedResource(failed?.server) },
    steps,
  };
}

/** The running target the generator aims at: the one at the endpoint's address, of the protocol. */
function aimedTarget(protocol: ProtocolName, endpoint: string): RunningTarget | undefined {
  let host: string | undefined;
  let port: number | undefined;
  if (protocol === 'http') {
    try {
      const url = new URL(endpoint);
      host = url.hostname.replace(/^\[|\]$/g, '');
      port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    } catch {
      return undefined;
    }
  } else {
    const parsed = parseEndpoint(endpoint, { port: 53 });
    host = parsed?.host;
    port = parsed?.port;
  }
  const running = readTargets().filter((t) => t.alive && t.address === host);
  // A target serves its protocol on its port and maybe TLS on another; the protocol decides between two on one address.
  // A guest lists each service it runs (HTTP on 80 and DNS on 53 of one address).
  return running.find((t) => t.port === port) ?? running.find((t) => t.services?.some((v) => v.protocol === protocol && v.port === port)) ?? running.find((t) => t.protocol === protocol);
}

/** Where the generator runs: `taskset -c LIST` before it, the list for the result, and a line saying why. */
function generatorPinning(option: string | undefined, target: RunningTarget | undefined): { prefix: string[]; cpus: string | null; notice?: string } {
  if (option?.trim() === 'all') return { prefix: [], cpus: null };
  const available = availableCpus();
  let cpus: number[];
  let why: string;
  if (option !== undefined) {
    const list = parseCpuList(option);
    const outside = list?.filter((c) => !available.includes(c)) ?? [];
    if (list === undefined || list.length === 0 || outside.length > 0) {
      throw new OptionsError([`--generator-cpus ${JSON.stringify(option)}: expected 'all' or a list of the available CPUs (${formatCpuList(available)}), such as 0 or 0-1`]);
    }
    cpus = list;
    why = 'as --generator-cpus asks';
  } else {
    const serverCpus = target?.limits?.cpus == null ? undefined : parseCpuList(target.limits.cpus);
    if (serverCpus === undefined) return { prefix: [], cpus: null };
    cpus = available.filter((c) => !serverCpus.includes(c));
    if (cpus.length === 0) return { prefix: [], cpus: null, notice: `tsload: ${target!.name}'s cpuset (${target!.limits!.cpus}) takes every CPU: the generator shares them` };
    why = `the CPUs ${target!.name}'s cpuset (${target!.limits!.cpus}) leaves free; --generator-cpus all to run anywhere`;
  }
  const taskset = findBinary('taskset');
  const list = formatCpuList(cpus);
  if (taskset === undefined) {
    if (option !== undefined) throw new EnvironmentError('--generator-cpus needs `taskset`: apt-get install util-linux');
    return { prefix: [], cpus: null, notice: 'tsload: taskset is missing (util-linux), so the generator is not pinned away from the server\'s CPUs' };
  }
  return { prefix: [taskset, '-c', list], cpus: list, notice: `tsload: generator on CPU ${list}: ${why}` };
}
