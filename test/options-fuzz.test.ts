/**
 * Options never crash: the option parsers fed random strings and values
 * (fixed seeds, a few seconds). The only outcomes allowed are a value, with
 * no problem and no NaN in it, or a problem (or OptionsError) that names the
 * option; never a TypeError or RangeError escaping.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { vmOptions, parseListen } from '../src/cli.js';
import { distributedRun } from '../src/distributed.js';
import { OptionsError } from '../src/errors.js';
import { MAX_RATE, MIN_RATE, normalizeCommon, parseDuration, parseNumber, parseRates, type CommonOptions } from '../src/options.js';
import { parseClients, parseLinkOptions } from '../src/testbed/settings.js';
import { fuzzRuns, fuzzSeed } from './fuzz.js';

const SEED = fuzzSeed(20261204);
const runs = (numRuns: number) => ({ seed: SEED, numRuns: fuzzRuns(numRuns) });

/** Text an option is likely to be mistyped into: digits, units, separators, signs, exponents, and junk. */
const optionText = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.stringMatching(/^[0-9.,:eE+\-kKmMsuh /%]{0,24}$/),
  fc.tuple(fc.stringMatching(/^[0-9.eEkK]{0,8}$/), fc.stringMatching(/^[0-9.eEkK]{0,8}$/), fc.option(fc.stringMatching(/^[0-9.eEkK]{0,8}$/))).map(([a, b, c]) => `${a}..${b}${c === null ? '' : `:${c}`}`),
  fc.constantFrom('', ' ', '0', '-1', 'NaN', 'Infinity', '1e400', '9'.repeat(400), '0.01..1000000:0.01', '1..1000000:0.01', '1..1000000:1', '1e-400', '.5', '5.', '1e3k', '0x10', '1_000'),
);
/** Anything a library caller or a YAML plan can pass. */
const anyValue = fc.oneof(
  optionText,
  fc.double(),
  fc.integer(),
  fc.constantFrom(undefined, null, true, false, Number.NaN, Infinity, -Infinity, -0, 2 ** 53, 1e300),
  fc.array(fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 6 })), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }),
);

/** Runs f; a thrown error other than OptionsError fails the property with its name. */
function outcome<T>(f: () => T): { value: T } | { error: OptionsError } {
  try {
    return { value: f() };
  } catch (error) {
    if (error instanceof OptionsError) return { error };
    throw new Error(`escaped: ${(error as Error)?.name}: ${(error as Error)?.message}`, { cause: error });
  }
}

const namesOption = (problem: string, names: readonly string[]): boolean => names.some((n) => problem.includes(`--${n}`));

describe('option parsers fed random input', () => {
  it('parseDuration: a finite duration >= 0 and no problem, or NaN and one problem naming the option', () => {
    fc.assert(
      fc.property(anyValue, fc.constantFrom('ms', 's') as fc.Arbitrary<'ms' | 's'>, (value, unit) => {
        const problems: string[] = [];
        const ms = outcome(() => parseDuration(value as string, 'duration', problems, unit));
        if ('error' in ms) return false;
        if (problems.length === 0) return Number.isFinite(ms.value) && ms.value >= 0;
        return Number.isNaN(ms.value) && problems.length === 1 && namesOption(problems[0]!, ['duration']);
      }),
      runs(3000),
    );
  });

  it('parseNumber: a finite number within its limits, or NaN and a problem naming the option', () => {
    fc.assert(
      fc.property(anyValue, fc.double({ min: -10, max: 10, noNaN: true }), fc.double({ min: 10, max: 1e6, noNaN: true }), fc.boolean(), (value, min, max, integer) => {
        const problems: string[] = [];
        const n = outcome(() => parseNumber(value as string, 'threads', problems, { min, max, integer }));
        if ('error' in n) return false;
        if (problems.length === 0) return Number.isFinite(n.value) && n.value >= min && n.value <= max && (!integer || Number.isInteger(n.value));
        return Number.isNaN(n.value) && problems.every((p) => namesOption(p, ['threads']));
      }),
      runs(3000),
    );
  });

  it('parseRates: at most 1000 finite rates within range, or none and problems naming --rate, --steps or --scale; fast either way', () => {
    fc.assert(
      fc.property(anyValue, fc.option(anyValue, { nil: undefined }), fc.option(fc.oneof(fc.constantFrom('linear', 'log'), anyValue), { nil: undefined }), (spec, steps, scale) => {
        const problems: string[] = [];
        const started = performance.now();
        const rates = outcome(() => parseRates(spec as string, { steps: steps as string, scale: scale as string }, problems));
        if (performance.now() - started > 250) return false;
        if ('error' in rates) return false;
        if (problems.length === 0) return rates.value.length >= 1 && rates.value.length <= 1000 && rates.value.every((r) => Number.isFinite(r) && r >= MIN_RATE && r <= MAX_RATE);
        return rates.value.length === 0 && problems.every((p) => namesOption(p, ['rate', 'steps', 'scale']));
      }),
      runs(3000),
    );
  });

  const commonKeys = {
    rate: 'rate', steps: 'steps', scale: 'scale', duration: 'duration', warmup: 'warmup', threads: 'threads', arrival: 'arrival', seed: 'seed',
    maxInflight: 'max-inflight', busyPoll: 'busy-poll', timeout: 'timeout', label: 'label', sloP99: 'slo-p99', minReplyRatio: 'min-reply-ratio',
    maxErrorRatio: 'max-error-ratio', confirm: 'confirm', refine: 'refine',
  } as const;

  it('normalizeCommon: every number of the plan finite, or problems each naming an option', () => {
    const options = fc.record(Object.fromEntries(Object.keys(commonKeys).map((k) => [k, anyValue])), { requiredKeys: [] });
    fc.assert(
      fc.property(options, (o) => {
        const problems: string[] = [];
        const plan = outcome(() => normalizeCommon(o as CommonOptions, problems));
        if ('error' in plan) return false;
        if (problems.length > 0) return problems.every((p) => namesOption(p, Object.values(commonKeys)));
        const p = plan.value;
        const numbers = [...p.rates, p.durationMs, p.warmupMs, p.threads, p.seed, p.timeoutMs, p.criteria.minReplyRatio, p.criteria.maxErrorRatio, p.criteria.sloP99Ms, p.confirm, p.maxInflight ?? 1, p.refinePct ?? 1];
        return numbers.every(Number.isFinite) && (p.label === undefined || typeof p.label === 'string') && typeof p.busyPoll === 'boolean';
      }),
      runs(3000),
    );
  });

  it('--segment, --segment-sequence and --start-at: a segment and a start, or problems naming them', () => {
    const problemsFree = normalizeCommon({ rate: 100, duration: '1s' }, []);
    fc.assert(
      fc.property(fc.option(anyValue, { nil: undefined }), fc.option(anyValue, { nil: undefined }), fc.option(anyValue, { nil: undefined }), (segment, segmentSequence, startAt) => {
        const problems: string[] = [];
        const d = outcome(() => distributedRun({ segment: segment as string, segmentSequence: segmentSequence as string, startAt: startAt as string, env: {} }, problemsFree, 500, problems));
        if ('error' in d) return false;
        if (problems.length > 0) return problems.every((p) => namesOption(p, ['segment', 'segment-sequence', 'start-at']));
        return d.value.startAtEpochMs === undefined || Number.isFinite(d.value.startAtEpochMs);
      }),
      runs(2000),
    );
  });
});

describe('the CLI\'s own option readers fed random input', () => {
  it('--listen: host and port, or OptionsError naming --listen', () => {
    fc.assert(
      fc.property(fc.oneof(optionText, fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 7 })).map(([h, p]) => `${h}:${p}`)), (text) => {
        const r = outcome(() => parseListen(text));
        if ('error' in r) return r.error.message.startsWith('--listen');
        return typeof r.value.host === 'string' && r.value.host !== '' && Number.isInteger(r.value.port) && r.value.port >= 0 && r.value.port <= 65535;
      }),
      runs(3000),
    );
  });

  it('testbed start vm --port, --cpus, --ready-timeout: VM options, or OptionsError naming the option', () => {
    fc.assert(
      fc.property(fc.array(optionText, { maxLength: 3 }), fc.option(optionText, { nil: undefined }), optionText, (port, cpus, readyTimeout) => {
        const r = outcome(() => vmOptions({ accel: 'auto', port, readyTimeout, ...(cpus === undefined ? {} : { cpus }) }));
        if ('error' in r) return namesOption(r.error.message, ['port', 'cpus', 'ready-timeout']);
        const v = r.value;
        return Number.isInteger(v.cpus) && v.cpus! >= 1 && Number.isFinite(v.readyTimeoutMs) && v.readyTimeoutMs! > 0 && Object.values(v.ports ?? {}).every((p) => Number.isInteger(p) && p >= 1 && p <= 65535);
      }),
      runs(2000),
    );
  });

  it('testbed up --rate, --delay, --loss, --clients: settings, or OptionsError naming each bad option', () => {
    fc.assert(
      fc.property(fc.option(optionText, { nil: undefined }), fc.option(optionText, { nil: undefined }), fc.option(optionText, { nil: undefined }), fc.option(anyValue, { nil: undefined }), (rate, delay, loss, clients) => {
        const link = outcome(() => parseLinkOptions({ ...(rate === undefined ? {} : { rate }), ...(delay === undefined ? {} : { delay }), ...(loss === undefined ? {} : { loss }) }));
        const hosts = outcome(() => parseClients(clients as string));
        if ('error' in link && !link.error.problems.every((p) => namesOption(p, ['rate', 'delay', 'loss']))) return false;
        if ('error' in hosts && !namesOption(hosts.error.message, ['clients'])) return false;
        if ('value' in link && ![link.value.rateBitsPerSecond, link.value.delayMicroseconds, link.value.lossPercent, link.value.burstBytes].every(Number.isFinite)) return false;
        return !('value' in hosts) || (Number.isInteger(hosts.value) && hosts.value >= 1);
      }),
      runs(2000),
    );
  });
});

it('the seeds above find what they were written against (a regression list)', () => {
  const problems: string[] = [];
  expect(parseDuration('9'.repeat(400), 'duration', problems)).toBeNaN();
  expect(problems).toEqual([expect.stringContaining('--duration')]);
  const started = performance.now();
  const steps: string[] = [];
  expect(parseRates('1..1000000:0.01', {}, steps)).toEqual([]);
  expect(steps).toEqual([expect.stringContaining('at most 1000')]);
  expect(performance.now() - started).toBeLessThan(100);
});
