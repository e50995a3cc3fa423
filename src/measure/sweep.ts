/**
 * The order of a sweep's measurements: the planned rates, each failing step
 * measured again before its failure counts (--confirm), then, with --refine,
 * a bisection between the last pass and the first failure. It only decides
 * what to measure next; the caller measures.
 *
 * A failure is confirmed when the step failed in its first measurement and in
 * every repeat. One pass among them means the failure was the machine's
 * minute, not the server: the step passes, and the failed attempts are kept
 * with it. A server that fails now and then at a rate is then read as passing
 * there, which the saturation rule then checks against the rates above it.
 */
export interface SweepPlan {
  rates: readonly number[];
  /** Repeats of a failing step before its failure counts (0: none). */
  confirm: number;
  /** Bisect until the gap between pass and failure is at most this percent of the failing rate; null: off. */
  refinePct: number | null;
}

export interface SweepStep {
  targetRate: number;
  refined?: boolean;
  attempts?: unknown[];
}

export class Sweep<S extends SweepStep> {
  private readonly planned: readonly number[];
  private next = 0;
  private readonly done: S[] = [];
  private pendingAttempts: S[] = [];
  private current: { rate: number; refined: boolean } | undefined;

  constructor(
    private readonly plan: SweepPlan,
    private readonly fails: (step: S) => boolean,
  ) {
    this.planned = plan.rates;
  }

  /** The rate to measure now, or undefined when the sweep is over. */
  rate(): { rate: number; refined: boolean } | undefined {
    if (this.current !== undefined) return this.current;
    if (this.next < this.planned.length) {
      this.current = { rate: this.planned[this.next++]!, refined: false };
      return this.current;
    }
    const mid = this.plan.refinePct === null ? undefined : this.bisect(this.plan.refinePct);
    this.current = mid === undefined ? undefined : { rate: mid, refined: true };
    return this.current;
  }

  /** What the last measurement of rate() gave. */
  record(step: S): void {
    if (this.current === undefined) throw new Error('Sweep.record: nothing is being measured');
    if (this.fails(step) && this.pendingAttempts.length < this.plan.confirm) {
      // Measure the same rate again; this attempt is kept with the final one.
      this.pendingAttempts.push(step);
      return;
    }
    this.settle(step);
  }

  /** The run stopped: a failure still being confirmed counts as measured so far. */
  end(): void {
    const last = this.pendingAttempts.pop();
    if (last !== undefined) this.settle(last);
  }

  private settle(step: S): void {
    const final = { ...step } as S;
    if (this.pendingAttempts.length > 0) final.attempts = this.pendingAttempts;
    if (this.current?.refined === true) final.refined = true;
    this.done.push(final);
    this.pendingAttempts = [];
    this.current = undefined;
  }

  /** Measurements still planned, for progress: at least the planned rates not measured yet. */
  remaining(): number {
    return this.planned.length - this.next + (this.current === undefined ? 0 : 1);
  }

  /** Each rate's final measurement, in the order measured. */
  steps(): S[] {
    return this.done;
  }

  /** The midpoint between the last pass below the first failure and that failure, while they are further apart than `pct`. */
  private bisect(pct: number): number | undefined {
    const sorted = [...this.done].sort((a, b) => a.targetRate - b.targetRate);
    const firstFail = sorted.findIndex((s) => this.fails(s));
    if (firstFail <= 0) return undefined;
    const fail = sorted[firstFail]!.targetRate;
    const pass = sorted[firstFail - 1]!.targetRate;
    if (fail - pass <= (pct / 100) * fail) return undefined;
    // Whole rates while the gap allows, so reports stay readable.
    const mid = fail - pass > 2 ? Math.round((pass + fail) / 2) : Math.round(((pass + fail) / 2) * 100) / 100;
    return mid > pass && mid < fail ? mid : undefined;
  }
}
