/**
 * What a protocol is to tsload: one record per folder under src/protocols/,
 * registered once in src/protocols/index.ts. The generic run (src/run.ts)
 * drives any record the same way: check the options once in the main thread,
 * open the target (the user's, or a built-in one), probe it, run the engine
 * with the driver module in every load thread, and map each engine step to
 * the protocol's result step. A new protocol or transport touches its own
 * folder and the registry, nothing else.
 */
import type { MergedStep } from '../engine/merge.js';
import type { LimitInputs } from '../measure/limits.js';
import type { CommonOptions, CommonPlanOptions } from '../options.js';
import type { Result, StepBase } from '../result.js';

/**
 * A protocol's counters, by name: the required ones always reported, the
 * optional ones only where the driver can know them (absent means unknown,
 * not zero). Reading an undeclared name is a type error, not a silent 0.
 */
export type Counters<Required extends string, Optional extends string = never> = { [K in Required]: number } & { [K in Optional]?: number };

/** The engine's merged step with the protocol's counters typed. */
export interface ProtocolStep<C> extends Omit<MergedStep, 'counters'> {
  counters: C;
}

/** What a step mapping needs besides the step to name tsload's own limits. */
export type StepContext = Omit<LimitInputs, 'step' | 'pool' | 'lostAtGenerator'>;

/** The target of one run: the user's own, or a built-in one started for it. */
export interface OpenTarget<D> {
  /** How the result names it: a URL or host:port. */
  label: string;
  /** What each load thread's driver is created with (structured-cloneable). */
  driverOptions: D;
  /** Stops what opening started; nothing for the user's own target. */
  stop(): Promise<void>;
}

/** What a probe learned: the driver options as the target allows them, and the result's fields that say what was measured. */
export interface Probed<D, R> {
  driverOptions: D;
  result?: Partial<R>;
}

/** A stdout format besides text and JSON, loaded only when asked for. */
export type Formatter<R> = () => Promise<(result: R) => string>;

export interface Protocol<Name extends string, O extends CommonOptions, Checked, D, C, S extends StepBase, R extends Result & { protocol: Name }> {
  readonly name: Name;
  /** The option that names the target (a URL, a server), which the testbed fills in with its running one. */
  readonly targetOption: keyof O & string;
  /** File URL of the module whose createDriver each load thread calls (a transport may have its own). */
  driverModule(driverOptions: D): string;
  /** Every counter name the driver may report; a name outside it is a bug the run reports. */
  readonly counterNames: readonly string[];
  /** The protocol's own stdout formats (httperf's, dnsperf's). */
  readonly formats: Readonly<Record<string, Formatter<R>>>;
  /** The shared options, where this protocol also accepts its peers' names for them (dnsperf's --max-outstanding). */
  common?(options: O, problems: string[]): CommonOptions;
  /** Checks every option of the protocol once, appending what is wrong; the result crosses to threads as driver options. */
  check(options: O, common: CommonPlanOptions, problems: string[]): Checked;
  /** The user's target, or a built-in one started for this run. */
  open(checked: Checked, options: O): Promise<OpenTarget<D>>;
  /**
   * Throws TargetUnreachableError when nothing answers, before any load is
   * sent; may fit the driver options to what the target speaks (saying so
   * through `notice`) and name what was agreed in the result.
   */
  probe(driverOptions: D, timeoutMs: number, notice?: (line: string) => void): Promise<Probed<D, R>>;
  /** The engine's step as this protocol's result step, given the driver options the run used. */
  step(step: ProtocolStep<C>, context: StepContext, driverOptions: D): S;
}

/** A byte count per item (request, reply, query), to a tenth; 0 when there were none. */
export function perItem(total: number, n: number): number {
  return n ? Math.round((total / n) * 10) / 10 : 0;
}

// The registry holds records of different shapes; the generic run recovers each one's types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProtocol = Protocol<string, any, any, any, any, any, any>;
