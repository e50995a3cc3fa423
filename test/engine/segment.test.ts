/**
 * Execution segments: the notation, and properties over many sequences,
 * thread counts, totals and rates, that the shares of a run together do
 * exactly the whole run's work, interleaved.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSchedule } from '../../src/engine/schedule.js';
import { Segment, Share, ShareWalk, equalSequence, parseSegment, parseSequence, processShare, type Ratio } from '../../src/engine/segment.js';
import { Recorder, encodeHistogram, mergeEncoded } from '../../src/measure/histogram.js';
import { mergeSteps } from '../../src/engine/merge.js';
import type { StepReport } from '../../src/engine/messages.js';
import { emptyCounts } from '../../src/engine/merge.js';

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** A sequence's points: up to 7 distinct cut points k/d with small, mixed denominators. */
const sequenceArb: fc.Arbitrary<Ratio[]> = fc
  .uniqueArray(
    fc.integer({ min: 2, max: 12 }).chain((d) => fc.integer({ min: 1, max: d - 1 }).map((n) => ({ n, d }))),
    { maxLength: 6, selector: (r) => r.n / r.d },
  )
  .map((cuts) => parseSequence(['0', ...cuts.sort((a, b) => a.n / a.d - b.n / b.d).map((r) => `${r.n}/${r.d}`), '1'].join(',')));

function segmentsOf(points: readonly Ratio[]): Segment[] {
  return points.slice(1).map((p, i) => new Segment(points[i]!, p));
}

function sharesOf(points: readonly Ratio[]): Share[] {
  return segmentsOf(points).map((s) => Share.of(s, points));
}

/** Exact proportion v·ℓ as a ratio [numerator, denominator]. */
function proportion(v: number, share: Share): [number, number] {
  return [v * share.segment.length.n, share.segment.length.d];
}

describe('segment notation (k6)', () => {
  it('reads from:to as fractions, decimals or percentages, and a single value as 0:x', () => {
    expect(parseSegment('1/4:2/4').toString()).toBe('1/4:1/2');
    expect(parseSegment('0.25:50%').toString()).toBe('1/4:1/2');
    expect(parseSegment('1/3').toString()).toBe('0:1/3');
    expect(parseSegment('').toString()).toBe('0:1');
    expect(parseSegment('2/3:1').length).toEqual({ n: 1, d: 3 });
  });

  it('refuses segments that are empty, reversed or outside (0, 1]', () => {
    for (const bad of ['1/2:1/4', '1/2:1/2', '0:2', '0:1/0', 'x', '1/2:']) expect(() => parseSegment(bad), bad).toThrow(RangeError);
  });

  it('reads a sequence and fills in 0 and 1', () => {
    expect(parseSequence('1/4,1/2,3/4')).toEqual(equalSequence(4));
    expect(() => parseSequence('0,1/2,1/4,1')).toThrow(RangeError);
  });

  it('refuses a segment that is not one of its sequence', () => {
    expect(() => processShare({ segment: '1/4:3/4', segmentSequence: '0,1/2,1' })).toThrow(/not one of the sequence/);
    expect(processShare({ segment: '1/2:1', segmentSequence: '0,1/2,1' }).segment.toString()).toBe('1/2:1');
  });

  it('splits a segment into equal sub-segments (k6 SubSegment)', () => {
    expect(processShare({ segment: '1/2:1' }).split(2).map((s) => s.segment.toString())).toEqual(['1/2:3/4', '3/4:1']);
  });
});

describe('the shares of a sequence', () => {
  it('partition the schedule: every arrival index belongs to exactly one segment', () => {
    fc.assert(
      fc.property(sequenceArb, (points) => {
        const shares = sharesOf(points);
        const n = Math.min(4000, 3 * shares[0]!.period);
        for (let i = 0; i < n; i++) expect(shares.filter((s) => s.owns(i)).length).toBe(1);
      }),
      { numRuns: 200 },
    );
  });

  it('partition it as threads of processes too, whatever each process runs', () => {
    fc.assert(
      fc.property(sequenceArb, fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 8, maxLength: 8 }), (points, threads) => {
        const shares = sharesOf(points).flatMap((p, i) => p.split(threads[i]!));
        const n = Math.min(4000, 2 * Math.max(...shares.map((s) => s.period)));
        for (let i = 0; i < n; i++) expect(shares.filter((s) => s.owns(i)).length).toBe(1);
        // The k-th arrival of a share is its k-th owned index, in order.
        for (const s of shares) {
          const walk = new ShareWalk(s);
          let previous = -1;
          for (let k = 0; k < 50; k++) {
            expect(walk.index).toBe(s.indexOf(k));
            expect(walk.index).toBeGreaterThan(previous);
            expect(s.owns(walk.index)).toBe(true);
            previous = walk.index;
            walk.advance();
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('have rates that add up to the rate', () => {
    fc.assert(
      fc.property(sequenceArb, fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 8, maxLength: 8 }), fc.double({ min: 0.01, max: 1e6, noNaN: true }), (points, threads, rate) => {
        const shares = sharesOf(points).flatMap((p, i) => p.split(threads[i]!));
        // The lengths, exactly: they add up to 1.
        let n = 0;
        let d = 1;
        for (const s of shares) {
          const l = s.segment.length;
          n = n * l.d + l.n * d;
          d *= l.d;
          const g = gcd(n, d);
          n /= g;
          d /= g;
        }
        expect([n, d]).toEqual([1, 1]);
        const sum = shares.reduce((a, s) => a + s.rate(rate), 0);
        expect(Math.abs(sum - rate) / rate).toBeLessThan(1e-12);
      }),
      { numRuns: 200 },
    );
  });

  it('split an integer total exactly, each share within one of its proportion (so equal shares differ by at most one)', () => {
    fc.assert(
      fc.property(sequenceArb, fc.integer({ min: 0, max: 100_000 }), (points, total) => {
        const shares = sharesOf(points);
        const counts = shares.map((s) => s.count(total));
        expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
        shares.forEach((s, i) => {
          const [num, den] = proportion(total, s);
          expect(counts[i]).toBeGreaterThanOrEqual(Math.floor(num / den));
          expect(counts[i]).toBeLessThanOrEqual(Math.ceil(num / den));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('split it exactly over threads of processes, and evenly (at most one apart) for N equal processes of T threads', () => {
    fc.assert(
      fc.property(sequenceArb, fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 100_000 }), (points, threads, total) => {
        const processes = sharesOf(points);
        for (const [i, p] of processes.entries()) {
          const parts = p.split(threads[i]!).map((t) => t.count(total));
          expect(parts.reduce((a, b) => a + b, 0)).toBe(p.count(total));
        }
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 10_000 }), (n, t, total) => {
        const counts = sharesOf(equalSequence(n)).flatMap((p) => p.split(t)).map((s) => s.count(total));
        expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it('interleave: no share waits much longer than its proportion between two arrivals', () => {
    fc.assert(
      fc.property(sequenceArb, (points) => {
        for (const s of sharesOf(points)) {
          // Within one of its proportion at every prefix, so a gap is below 2/ℓ + 1.
          const bound = (2 * s.segment.length.d) / s.segment.length.n + 1;
          for (const gap of s.gaps) expect(gap).toBeLessThan(bound);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('give each of N equal segments (or threads) every N-th arrival', () => {
    expect(Array.from(Share.whole.split(3)[1]!.members)).toEqual([1]);
    expect(Share.whole.split(3)[1]!.period).toBe(3);
    const quarter = processShare({ segment: '2/4:3/4', segmentSequence: '0,1/4,2/4,3/4,1' });
    expect([quarter.period, Array.from(quarter.members)]).toEqual([4, [2]]);
    // Two threads of that quarter: every eighth arrival each, four apart.
    expect(quarter.split(2).map((s) => [s.period, ...s.members])).toEqual([[8, 2], [8, 6]]);
  });
});

describe('schedules of the shares of a run', () => {
  /** The first `n` send times of the whole schedule, and the union of every share's up to the last of them. */
  function union(shares: readonly Share[], arrival: 'constant' | 'poisson', rate: number, n: number): { whole: number[]; parts: number[] } {
    const spec = { rate, startMs: 12.5, arrival, seed: 7 };
    const w = createSchedule(spec);
    const whole = Array.from({ length: n }, () => w.next());
    const last = whole[n - 1]!;
    const parts: number[] = [];
    for (const share of shares) {
      const s = createSchedule({ ...spec, share });
      while (s.peek() <= last) parts.push(s.next());
    }
    parts.sort((a, b) => a - b);
    return { whole, parts };
  }

  it('together send exactly the one-thread schedule, constant and poisson, send time for send time', () => {
    fc.assert(
      fc.property(
        sequenceArb,
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 8, maxLength: 8 }),
        fc.constantFrom('constant' as const, 'poisson' as const),
        fc.double({ min: 0.5, max: 200_000, noNaN: true }),
        (points, threads, arrival, rate) => {
          const shares = sharesOf(points).flatMap((p, i) => p.split(threads[i]!));
          const { whole, parts } = union(shares, arrival, rate, 1500);
          expect(parts).toEqual(whole);
        },
      ),
      { numRuns: 120 },
    );
  });

  it('keep the one-thread schedule as it was: start + i/rate', () => {
    const s = createSchedule({ rate: 4, startMs: 0, arrival: 'constant', seed: 1, share: processShare({}) });
    expect([s.next(), s.next(), s.next()]).toEqual([0, 250, 500]);
  });
});

describe('one merge of partial results', () => {
  function report(latenciesMs: readonly number[], sent: number): StepReport {
    const r = new Recorder();
    for (const ms of latenciesMs) r.recordMs(ms);
    return {
      type: 'stepDone',
      step: 0,
      windowMs: 1000,
      ...emptyCounts(),
      sent,
      completed: latenciesMs.length,
      inflightAtEnd: 0,
      codes: { '200': latenciesMs.length },
      counters: { bytes: sent * 10 },
      latency: r.encode(),
      serviceTime: r.encode(),
      scheduleLag: '',
      queued: '',
      busy: null,
    };
  }

  it('adds HDR histograms bucket for bucket, so parts merge into exactly what one recorder of all the values holds', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.double({ min: 0.001, max: 60_000, noNaN: true }), { maxLength: 200 }), { minLength: 1, maxLength: 6 }), (parts) => {
        const all = new Recorder();
        for (const p of parts) for (const ms of p) all.recordMs(ms);
        const reports = parts.map((p) => report(p, p.length + 1));
        const merged = mergeSteps({ rate: 100, warmupMs: 0, durationMs: 1000 }, reports, [], { userS: 0, systemS: 0 }, { userS: 0, systemS: 0 });
        expect(merged.histograms.latency).toBe(encodeHistogram(mergeEncoded([all.encode()])));
        expect(merged.latencyMs.count).toBe(parts.flat().length);
        expect(merged.sent).toBe(parts.reduce((a, p) => a + p.length + 1, 0));
        expect(merged.counters.bytes).toBe(merged.sent * 10);
        expect(merged.codes['200'] ?? 0).toBe(parts.flat().length);
      }),
      { numRuns: 60 },
    );
  });
});
