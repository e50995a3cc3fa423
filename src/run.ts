/**
 * The library's load commands: options in, result out. One generic run
 * drives any protocol record (src/protocols/): it validates everything first
 * (OptionsError lists every problem), opens and probes the target
 * (TargetUnreachableError), runs the protocol-free engine with the
 * protocol's driver through a sweep, and maps the engine's steps into the
 * result schema.
 */
import { hostname, cpus } from 'node:os';
import { runPlan, type PlanStep, type StepSource } from './engine/pool.js';
import type { MergedStep } from './engine/merge.js';
import { openFileLimit } from './engine/resources.js';
import { failedCriterion, findSaturation } from './measure/saturation.js';
import { Sweep } from './measure/sweep.js';
import { defaultMaxInflight, normalizeCommon, throwIfProblems, type CommonOptions } from './options.js';
import { RESULT_SCHEMA, type DnsResult, type HttpResult, type Result, type StepBase } from './result.js';
import type { Protocol, ProtocolStep } from './protocols/protocol.js';
import { protocols, type ProtocolName } from './protocols/index.js';
import type { HttpOptions } from './protocols/http/index.js';
import type { DnsOptions } from './protocols/dns/index.js';
import { VERSION } from './version.js';
import { distributedFields, distributedRun, shareStep } from './distributed.js';

export { VERSION };
export type { HttpOptions, DnsOptions };
export { defaultMaxConnections } from './protocols/http/index.js';
export { dnsQueries } from './protocols/dns/index.js';

export const runHttp = (options: HttpOptions): Promise<HttpResult> => runProtocol(protocols.http, options);
export const runDns = (options: DnsOptions): Promise<DnsResult> => runProtocol(protocols.dns, options);

/** The options of each registered protocol, by name. */
export interface OptionsOf {
  http: HttpOptions;
  dns: DnsOptions;
}

/** A run of the protocol named at run time (the CLI's and the testbed's way in). */
export function runLoad<N extends ProtocolName>(name: N, options: OptionsOf[N]): Promise<Extract<Result, { protocol: N }>> {
  return runProtocol(protocols[name] as unknown as Protocol<N, OptionsOf[N], unknown, unknown, unknown, StepBase, Extract<Result, { protocol: N }>>, options);
}

/**
 * Runs the engine with a protocol's driver through a sweep: every planned
 * rate, a failing one measured again (--confirm), then --refine's bisection.
 */
export async function runProtocol<N extends string, O extends CommonOptions, Checked, D, C, S extends StepBase & { attempts?: unknown[] }, R extends Result & { protocol: N }>(
  protocol: Protocol<N, O, Checked, D, C, S, R>,
  options: O,
): Promise<R> {
  const problems: string[] = [];
  const common = normalizeCommon(protocol.common?.(options, problems) ?? options, problems);
  const checked = protocol.check(options, common, problems);
  // The driver reports a timeout within its sweep period after the deadline.
  const drainMs = common.timeoutMs + 250;
  const distributed = distributedRun(options, common, drainMs, problems);
  throwIfProblems(problems);

  const target = await protocol.open(checked, options);
  try {
    const onNotice = (options as { onNotice?: (line: string) => void }).onNotice;
    for (const line of distributed.notices) onNotice?.(line);
    const { driverOptions, result: agreed } = await protocol.probe(target.driverOptions, common.timeoutMs, onNotice);
    const startedAt = new Date();
    // Sized from this generator's own share of the rates: the cap bounds its memory, not the run's.
    const maxInflight = common.maxInflight ?? defaultMaxInflight({ ...common, rates: common.rates.map(distributed.shareOf) });
    const fileLimit = openFileLimit();
    // A single rate is a measurement, not a search: nothing to confirm. Nor is a
    // segment, whose generators must all run the same planned steps.
    const confirm = common.rates.length > 1 && distributed.info === undefined ? common.confirm : 0;
    const sweep = new Sweep<S>({ rates: common.rates, confirm, refinePct: common.refinePct }, (s) => failedCriterion(s, common.criteria) !== null);
    const planStep = (rate: number): PlanStep => ({ rate, warmupMs: common.warmupMs, durationMs: common.durationMs });
    // The service time at the lowest rate measured so far: the server's own, before any queue of its own.
    let baseline: { rate: number; serviceP50Ms: number } | undefined;
    const source: StepSource = {
      next: () => {
        const next = sweep.rate();
        return next === undefined ? undefined : planStep(next.rate);
      },
      later: () => Array.from({ length: Math.max(0, sweep.remaining() - 1) }, () => planStep(0)),
    };
    const outcome = await runPlan(
      {
        driverModule: protocol.driverModule(driverOptions),
        driverOptions,
        threadCount: common.threads,
        arrival: common.arrival,
        seed: common.seed,
        maxInflight,
        busyPoll: common.busyPoll,
        timeoutMs: common.timeoutMs,
        drainMs,
        ...distributed.spec,
        startAtEpochMs: distributed.startAtEpochMs,
        slotMs: distributed.slotMs,
        secondHistograms: distributed.secondHistograms,
      },
      source,
      {
        signal: options.signal,
        onProgress: options.onProgress && distributed.info !== undefined ? (e) => options.onProgress!({ ...e, targetRate: distributed.shareOf(e.targetRate) }) : options.onProgress,
        onNotice,
        onStep: (merged, index) => {
          shareStep(merged, distributed);
          if (merged.serviceTimeMs.count > 0 && (baseline === undefined || merged.targetRate < baseline.rate)) {
            baseline = { rate: merged.targetRate, serviceP50Ms: merged.serviceTimeMs.p50 };
          }
          const context = { threads: common.threads, maxInflight, fileLimit, baselineServiceP50Ms: baseline?.serviceP50Ms ?? merged.serviceTimeMs.p50 };
          const step = protocol.step(typedCounters<C>(merged, protocol), context, driverOptions);
          sweep.record(step);
          options.onStep?.(step, index, index + 1 + sweep.remaining());
        },
      },
    );
    sweep.end();
    const steps = sweep.steps();
    const result = {
      protocol: protocol.name,
      schema: RESULT_SCHEMA as typeof RESULT_SCHEMA,
      tool: { name: 'tsload' as const, version: VERSION },
      target: target.label,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      aborted: outcome.aborted || (options.signal?.aborted ?? false),
      threads: common.threads,
      arrival: common.arrival,
      host: { hostname: hostname(), platform: `${process.platform}-${process.arch}`, cpus: cpus().length, node: process.version },
      label: common.label ?? target.label,
      saturation: findSaturation(steps, common.criteria, { confirm, refinePct: common.refinePct }),
      ...agreed,
      ...distributedFields(distributed, common, steps),
      steps,
    };
    return result as unknown as R;
  } finally {
    await target.stop();
  }
}

/**
 * The engine's counters as the protocol declared them. A name the protocol
 * did not declare is a driver bug: said at once, not summed into nothing.
 */
function typedCounters<C>(step: MergedStep, protocol: { name: string; counterNames: readonly string[] }): ProtocolStep<C> {
  const declared = protocol.counterNames;
  for (const name of Object.keys(step.counters)) {
    if (!declared.includes(name)) throw new Error(`the ${protocol.name} driver reported a counter it does not declare: ${name}`);
  }
  return step as unknown as ProtocolStep<C>;
}
