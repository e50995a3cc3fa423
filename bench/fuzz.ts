/**
 * bench:fuzz — the fuzzers of the test suite (the HTTP/1.1 response reader,
 * the DNS message, zone and query-file readers, the option parsers) with a
 * fresh seed and many more runs than CI's fixed-seed pass.
 * Usage: npm run bench:fuzz -- [--seed N] [--scale K]   (default: a random seed, 50× CI's runs)
 * A failure prints fast-check's counterexample and the seed; the same
 * command with that --seed finds it again.
 */
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ROOT } from './lib.js';

const FUZZERS = ['test/protocols/http/response-fuzz.test.ts', 'test/protocols/dns/fuzz.test.ts', 'test/options-fuzz.test.ts'];

const { values } = parseArgs({ options: { seed: { type: 'string' }, scale: { type: 'string', default: '50' } } });
const seed = values.seed === undefined ? randomInt(1, 2 ** 31 - 1) : Number(values.seed);
const scale = Number(values.scale);
if (!Number.isInteger(seed) || !(scale > 0)) {
  console.error('bench:fuzz: --seed must be an integer and --scale a positive number');
  process.exit(2);
}
console.log(`bench:fuzz: seed ${seed}, ${scale}× CI's runs (again: npm run bench:fuzz -- --seed ${seed} --scale ${scale})`);
const t0 = Date.now();
const run = spawnSync('npx', ['vitest', 'run', '--retry', '0', ...FUZZERS], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, TSLOAD_FUZZ_SEED: String(seed), TSLOAD_FUZZ_SCALE: String(scale) },
});
console.log(`bench:fuzz: seed ${seed}: ${run.status === 0 ? 'no counterexample' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(run.status ?? 1);
