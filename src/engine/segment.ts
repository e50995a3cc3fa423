/**
 * The engine's share of the work: a segment (from, to] of the whole schedule,
 * as k6's execution segments are. Every figure a thread or a process needs to
 * do only its part follows from its share, so nothing else has to know how
 * the work is divided:
 *
 * - the rate: the total rate × (to − from);
 * - which arrivals of the whole schedule it sends (its stripe of arrival
 *   indices), so that the segments of a sequence together send every arrival
 *   exactly once and interleave, rather than each sending a burst;
 * - integer shares (connections, queries of a mix): the members of its stripe
 *   below the total, so the shares of a sequence add up to the total exactly;
 * - the random stream: every segment draws from the run's own stream and takes
 *   the draws of its own arrivals, so the union is the one-thread schedule.
 *
 * Bounds are exact rationals (a third must stay a third, or an arrival is
 * lost or sent twice where two segments meet).
 *
 * Striping. Over one period of L arrivals (L the lowest common denominator of
 * the segments' lengths) a segment of length ℓ owns ℓL of them. As in k6 the
 * owner of each index is chosen for the whole sequence at once, but by
 * earliest deadline rather than k6's largest-segment-first: the c-th index of
 * a segment (from 0) may go no earlier than ⌊c/ℓ⌋ and no later than
 * ⌈(c+1)/ℓ⌉ − 1, which is what it takes for the segment's count among the
 * first n indices to be ⌊nℓ⌋ or ⌈nℓ⌉ for every n. These windows satisfy Hall's
 * condition (an interval of k indices holds at most kℓ of each segment's
 * windows), and earliest-deadline-first fills every index with every window
 * met whenever that is possible. So any integer total splits into shares that
 * differ from their exact proportion by less than one, and equal segments'
 * shares differ by at most one.
 *
 * Nesting. Threads are segments of the process's segment: the process's
 * stripe is found within the run's sequence of processes, and each thread
 * takes its stripe of the process's arrivals (the k-th arrival of the process
 * is the thread's if k is in the thread's stripe of an equal split). A process
 * so needs to know only its own segment and the run's sequence, never how many
 * threads the other processes run, and its threads still make up exactly its
 * share.
 */

/** A rational on safe integers, reduced, with a positive denominator. */
export interface Ratio {
  readonly n: number;
  readonly d: number;
}

/** Longest stripe period accepted; the stripe is precomputed, so it must stay small. */
const MAX_PERIOD = 1_000_000;

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  const m = (a / gcd(a, b)) * b;
  if (!Number.isSafeInteger(m)) throw new RangeError(`segment arithmetic overflows (lcm of ${a} and ${b})`);
  return m;
}

function ratio(n: number, d: number): Ratio {
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(d) || d === 0) throw new RangeError(`${n}/${d} is not a ratio of safe integers`);
  const g = gcd(n, d) || 1;
  const s = d < 0 ? -1 : 1;
  return { n: (s * n) / g, d: (s * d) / g };
}

function add(a: Ratio, b: Ratio): Ratio {
  const d = lcm(a.d, b.d);
  return ratio(a.n * (d / a.d) + b.n * (d / b.d), d);
}

function sub(a: Ratio, b: Ratio): Ratio {
  return add(a, { n: -b.n, d: b.d });
}

function mul(a: Ratio, b: Ratio): Ratio {
  const g1 = gcd(a.n, b.d) || 1;
  const g2 = gcd(b.n, a.d) || 1;
  return ratio((a.n / g1) * (b.n / g2), (a.d / g2) * (b.d / g1));
}

function compare(a: Ratio, b: Ratio): number {
  return a.n * b.d - b.n * a.d;
}

const ZERO: Ratio = { n: 0, d: 1 };
const ONE: Ratio = { n: 1, d: 1 };

function formatRatio(r: Ratio): string {
  return r.d === 1 ? String(r.n) : `${r.n}/${r.d}`;
}

/** A fraction, a decimal or a percentage: `1/4`, `0.25`, `25%` (k6's forms). */
export function parseRatio(text: string): Ratio {
  const t = text.trim();
  let m = /^(\d+)\s*\/\s*(\d+)$/.exec(t);
  if (m) {
    if (Number(m[2]) === 0) throw new RangeError(`${JSON.stringify(text)} divides by zero`);
    return ratio(Number(m[1]), Number(m[2]));
  }
  m = /^(\d*)(?:\.(\d*))?(%?)$/.exec(t);
  if (m && (m[1] !== '' || (m[2] ?? '') !== '')) {
    const decimals = m[2] ?? '';
    const scale = 10 ** decimals.length * (m[3] === '%' ? 100 : 1);
    return ratio(Number((m[1] || '0') + decimals), scale);
  }
  throw new RangeError(`${JSON.stringify(text)} is not a fraction (1/4), a decimal (0.25) or a percentage (25%)`);
}

/** An interval (from, to] of the whole schedule, 0 ≤ from < to ≤ 1. */
export class Segment {
  readonly length: Ratio;
  constructor(
    readonly from: Ratio,
    readonly to: Ratio,
  ) {
    if (compare(from, ZERO) < 0 || compare(to, ONE) > 0 || compare(from, to) >= 0) {
      throw new RangeError(`segment ${formatRatio(from)}:${formatRatio(to)} must have 0 <= from < to <= 1`);
    }
    this.length = sub(to, from);
  }

  /** k6's notation, `from:to`, in lowest terms. */
  toString(): string {
    return `${formatRatio(this.from)}:${formatRatio(this.to)}`;
  }

  /** The part (from, to] of this segment, both given as fractions of it (k6's SubSegment). */
  sub(from: Ratio, to: Ratio): Segment {
    return new Segment(add(this.from, mul(from, this.length)), add(this.from, mul(to, this.length)));
  }
}

/** The whole schedule. */
export const WHOLE = new Segment(ZERO, ONE);

/**
 * k6's `--execution-segment` notation: `1/4:2/4`, `0.25:0.5`, `25%:50%`; a
 * single value `x` is `0:x`; empty is the whole schedule.
 */
export function parseSegment(text: string): Segment {
  const t = text.trim();
  if (t === '') return WHOLE;
  const colon = t.indexOf(':');
  return colon < 0 ? new Segment(ZERO, parseRatio(t)) : new Segment(parseRatio(t.slice(0, colon)), parseRatio(t.slice(colon + 1)));
}

/**
 * k6's `--execution-segment-sequence` notation: the points that cut (0, 1]
 * into the run's segments, `0,1/4,1/2,3/4,1`. 0 and 1 are implied if missing.
 */
export function parseSequence(text: string): Ratio[] {
  const points = text.split(',').map(parseRatio);
  for (let i = 1; i < points.length; i++) {
    if (compare(points[i - 1]!, points[i]!) >= 0) throw new RangeError(`segment sequence ${JSON.stringify(text)} must be strictly increasing`);
  }
  if (points.length === 0 || compare(points[0]!, ZERO) !== 0) points.unshift(ZERO);
  if (compare(points[points.length - 1]!, ONE) > 0) throw new RangeError(`segment sequence ${JSON.stringify(text)} goes past 1`);
  if (compare(points[points.length - 1]!, ONE) !== 0) points.push(ONE);
  return points;
}

/** `n` equal segments of (0, 1]: the sequence of `--segment i/N`, and of a process's threads. */
export function equalSequence(n: number): Ratio[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`cannot split into ${n} parts`);
  return Array.from({ length: n + 1 }, (_, i) => ratio(i, n));
}

/**
 * Which of each period's indices each segment of a sequence owns, by earliest
 * deadline (see the top of this file). `counts[j]` indices of every `period`
 * belong to segment j; the counts sum to the period.
 */
function stripes(counts: readonly number[], period: number): number[][] {
  const owned = counts.map(() => [] as number[]);
  const taken = new Array<number>(counts.length).fill(0);
  for (let i = 0; i < period; i++) {
    let best = -1;
    let bestDeadline = Infinity;
    for (let j = 0; j < counts.length; j++) {
      const c = taken[j]!;
      const n = counts[j]!;
      if (c === n || Math.floor((c * period) / n) > i) continue;
      const deadline = Math.ceil(((c + 1) * period) / n) - 1;
      if (deadline < bestDeadline) {
        best = j;
        bestDeadline = deadline;
      }
    }
    // Unreachable while the windows meet Hall's condition; a wrong stripe must not go unnoticed.
    if (best < 0 || bestDeadline < i) throw new Error(`striping failed at index ${i} of ${period}`);
    owned[best]!.push(i);
    taken[best]!++;
  }
  return owned;
}

/**
 * What one segment does of the whole schedule: the arrival indices it owns
 * (`members` of every `period`, repeating), and everything that follows from
 * them. Immutable and cheap to walk; build it once per run, never per arrival.
 */
export class Share {
  /** Length of the segment as a float, for rates. */
  readonly fraction: number;
  /** Gap from each member to the next, wrapping into the next period; the hot path walks these. */
  readonly gaps: Int32Array;

  private constructor(
    readonly segment: Segment,
    /** Arrival indices per period of the stripe. */
    readonly period: number,
    /** The indices of a period this segment owns, ascending, in [0, period). */
    readonly members: Int32Array,
  ) {
    this.fraction = segment.length.n / segment.length.d;
    const m = members.length;
    this.gaps = new Int32Array(m);
    for (let k = 0; k < m; k++) this.gaps[k] = k + 1 < m ? members[k + 1]! - members[k]! : period + members[0]! - members[k]!;
  }

  /** The whole schedule, alone (one process, one thread). */
  static readonly whole: Share = new Share(WHOLE, 1, Int32Array.of(0));

  /**
   * The share of `segment` in the run cut by `sequence` (its points; see
   * parseSequence). With no sequence, k6's default: the points 0, from, to, 1.
   * Every process of one run must be given the same sequence, or their
   * stripes may overlap.
   */
  static of(segment: Segment, sequence?: readonly Ratio[]): Share {
    const points = sequence ?? [ZERO, segment.from, segment.to, ONE].filter((p, i, all) => i === 0 || compare(all[i - 1]!, p) !== 0);
    const at = points.findIndex((p) => compare(p, segment.from) === 0);
    if (at < 0 || at + 1 >= points.length || compare(points[at + 1]!, segment.to) !== 0) {
      throw new RangeError(`segment ${segment.toString()} is not one of the sequence ${points.map(formatRatio).join(',')}`);
    }
    const lengths = points.slice(1).map((p, i) => sub(p, points[i]!));
    const period = lengths.reduce((l, r) => lcm(l, r.d), 1);
    if (period > MAX_PERIOD) throw new RangeError(`segment sequence ${points.map(formatRatio).join(',')} repeats only every ${period} arrivals (at most ${MAX_PERIOD})`);
    const owned = stripes(lengths.map((r) => r.n * (period / r.d)), period);
    return new Share(segment, period, Int32Array.from(owned[at]!));
  }

  /**
   * This share split into `parts` equal segments, each taking its stripe of
   * this share's arrivals (the threads of a process). The parts together own
   * exactly what this share owns.
   */
  split(parts: number): Share[] {
    const sequence = equalSequence(parts);
    if (parts === 1) return [this];
    const m = this.members.length;
    // The k-th local arrival is global arrival ⌊k/m⌋·period + members[k mod m]; an
    // equal split's stripe repeats every `parts` local arrivals, so the composite
    // repeats after lcm(m, parts) of them.
    const localPeriod = lcm(m, parts);
    const period = (localPeriod / m) * this.period;
    if (period > MAX_PERIOD) throw new RangeError(`segment ${this.segment.toString()} split ${parts} ways repeats only every ${period} arrivals (at most ${MAX_PERIOD})`);
    return Array.from({ length: parts }, (_, t) => {
      const local = Share.of(new Segment(sequence[t]!, sequence[t + 1]!), sequence);
      const members: number[] = [];
      for (let k = 0; k < localPeriod; k++) {
        if (local.owns(k)) members.push(Math.floor(k / m) * this.period + this.members[k % m]!);
      }
      return new Share(this.segment.sub(sequence[t]!, sequence[t + 1]!), period, Int32Array.from(members));
    });
  }

  /** Whether arrival `index` of the whole schedule is this share's. */
  owns(index: number): boolean {
    const r = index % this.period;
    const k = this.below(r);
    return k < this.members.length && this.members[k] === r;
  }

  /** How many of the whole schedule's first `total` indices are this share's: its part of an integer total. */
  count(total: number): number {
    if (!Number.isSafeInteger(total) || total < 0) throw new RangeError(`cannot share ${total}`);
    return Math.floor(total / this.period) * this.members.length + this.below(total % this.period);
  }

  /** This share's part of a rate. */
  rate(total: number): number {
    return total * this.fraction;
  }

  /** Index in the whole schedule of this share's k-th arrival (from 0). */
  indexOf(k: number): number {
    const m = this.members.length;
    return Math.floor(k / m) * this.period + this.members[k % m]!;
  }

  /** Members of a period below `r`, by bisection. */
  private below(r: number): number {
    let lo = 0;
    let hi = this.members.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.members[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * Walks a share's arrival indices in order without allocating: `index` is the
 * current arrival's index in the whole schedule, `advance()` moves to the next
 * and returns how many indices of the whole schedule it skipped past.
 */
export class ShareWalk {
  index: number;
  private k = 0;
  constructor(private readonly share: Share) {
    this.index = share.members[0]!;
  }
  advance(): number {
    const gaps = this.share.gaps;
    const gap = gaps[this.k]!;
    this.k = this.k + 1 === gaps.length ? 0 : this.k + 1;
    this.index += gap;
    return gap;
  }
}

/** Where a plan's process segment comes from; strings in k6's notation so a plan stays structured-cloneable. */
export interface SegmentSpec {
  /** This process's segment of the whole run, `from:to` (see parseSegment); the whole run if absent. */
  segment?: string | undefined;
  /** The run's sequence of process segments (see parseSequence); k6's default if absent. */
  segmentSequence?: string | undefined;
}

/** The process's share of a run. Throws RangeError with the reason if the spec is not valid. */
export function processShare(spec: SegmentSpec): Share {
  const segment = parseSegment(spec.segment ?? '');
  return Share.of(segment, spec.segmentSequence === undefined ? undefined : parseSequence(spec.segmentSequence));
}
