import { describe, expect, it } from 'vitest';
import { normalizeCommon, parseDuration, parseNumber, parseRates } from '../src/options.js';
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
  it('says the allowed range for a rate out of it, in one problem, with no NaN rates left behind', () => {
    for (const bad of ['0', '1e9', '2000000', '0,500', '0..100']) {
      const { r, problems } = rates(bad);
      expect(problems, bad).toHaveLength(1);
      expect(problems[0], bad).toMatch(/^--rate: \S+ is out of range: rates go from 0\.01 to 1000000 per second$/);
      expect(r, bad).toEqual([]);
    }
    expect(rates(0).problems).toEqual(['--rate: 0 is out of range: rates go from 0.01 to 1000000 per second']);
    expect(rates('100..200:0').problems).toEqual(['--rate: step 0 is too small: steps are at least 0.01 per second']);
    expect(rates('fast').r).toEqual([]);
  });
  it('takes exponent notation', () => {
    expect(rates('1e3').r).toEqual([1000]);
    expect(rates('2.5E3,1e4').r).toEqual([2500, 10000]);
    expect(parseNumber('1e-2', 'rate', [])).toBe(0.01);
    const problems: string[] = [];
    expect(parseNumber('1e', 'rate', problems)).toBeNaN();
    expect(problems).toEqual(["--rate: '1e' is not a number"]);
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
