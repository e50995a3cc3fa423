/**
 * The fuzzers' seed and size: fixed in CI (so a failure there is the same
 * failure anywhere), wider from `npm run bench:fuzz`, which sets
 * TSLOAD_FUZZ_SEED (a fresh seed, printed) and TSLOAD_FUZZ_SCALE (more runs).
 */
export function fuzzSeed(fixed: number): number {
  const given = Number(process.env.TSLOAD_FUZZ_SEED);
  return Number.isInteger(given) && process.env.TSLOAD_FUZZ_SEED !== '' ? given : fixed;
}

export function fuzzRuns(runs: number): number {
  const scale = Number(process.env.TSLOAD_FUZZ_SCALE ?? 1);
  return Number.isFinite(scale) && scale > 0 ? Math.max(1, Math.round(runs * scale)) : runs;
}
