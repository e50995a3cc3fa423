import { describe, expect, it } from 'vitest';
import { normalizeCommon, parseDuration, parseRates } from '../src/options.js';
import { OptionsError } from '../src/errors.js';
import { throwIfProblems } from '../src/options.js';

const rates = (spec: string | number | number[], o: { steps?: number; scale?: string } = {}) => {
  const problems: string[] = [];
  const r = parseRates(spec, o, problems);
  return { r, problems };
};

describe('rate specs', () => {
  it('expands a range into 10 equal steps by default, both ends included', () => {
    expect(rates('100..10000').r).toEqual([100, 1200, 2300, 3400, 4500, 5600, 6700, 7800, 8900, 10000]);
  });
  it('takes a step size, and ends on the range end', () => {
    expect(rates('100..1000:300').r).toEqual([100, 400, 700, 1000]);
    expect(rates('100..1000:400').r).toEqual([100, 500, 900, 1000]);
  });
  it('takes a step count and a log scale', () => {
    expect(rates('100..10000', { steps: 3 }).r).toEqual([100, 5050, 10000]);
    expect(rates('100..10000', { steps: 3, scale: 'log' }).r).toEqual([100, 1000, 10000]);
    expect(rates('10..1000', { steps: 5, scale: 'log' }).r).toEqual([10, 32, 100, 316, 1000]);
  });
  it('takes a list, a single rate and k suffixes', () => {
    expect(rates('100,500,2000').r).toEqual([100, 500, 2000]);
    expect(rates('5000').r).toEqual([5000]);
    expect(rates('10k').r).toEqual([10000]);
    expect(rates(250).r).toEqual([250]);
  });
  it('rejects nonsense with a message naming the option', () => {
    for (const bad of ['abc', '100..', '..100', '10000..100', '0', '-5', '100..200:0', '2000000']) {
      const { problems } = rates(bad);
      expect(problems.length, bad).toBeGreaterThan(0);
      expect(problems[0]).toMatch(/--rate/);
    }
  });
});

describe('durations', () => {
  it('reads units, compound forms, and bare numbers as seconds on the command line', () => {
    const p: string[] = [];
    expect(parseDuration('30s', 'duration', p)).toBe(30_000);
    expect(parseDuration('500ms', 'duration', p)).toBe(500);
    expect(parseDuration('2m30s', 'duration', p)).toBe(150_000);
    expect(parseDuration('1h', 'duration', p)).toBe(3_600_000);
    expect(parseDuration('1.5', 'duration', p)).toBe(1500);
    expect(parseDuration(250, 'duration', p, 'ms')).toBe(250);
    expect(p).toEqual([]);
    parseDuration('10 parsecs', 'duration', p);
    expect(p[0]).toMatch(/--duration: '10 parsecs' is not a duration/);
  });
});

describe('all problems at once', () => {
  it('reports every bad option in one error', () => {
    const problems: string[] = [];
    normalizeCommon({ rate: 'fast', duration: 'forever', threads: 0, timeout: 'soon' }, problems);
    expect(problems).toHaveLength(4);
    expect(() => throwIfProblems(problems)).toThrow(OptionsError);
    try {
      throwIfProblems(problems);
    } catch (e) {
      expect((e as OptionsError).problems).toEqual(problems);
      expect((e as OptionsError).exitCode).toBe(2);
    }
  });
  it('has defaults for everything', () => {
    const problems: string[] = [];
    const o = normalizeCommon({}, problems);
    expect(problems).toEqual([]);
    expect(o).toMatchObject({ rates: [1000], durationMs: 10_000, warmupMs: 1000, threads: 1, timeoutMs: 5000, arrival: 'constant' });
  });
});
