/** Which segment a process runs: --segment's forms and every launcher's variables, as they set them. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveSegment, segmentFromEnv, segmentFromOption } from '../../src/engine/launcher.js';
import { parseRatio, processShare } from '../../src/engine/segment.js';
import { createSchedule } from '../../src/engine/schedule.js';

const info = (segment: ReturnType<typeof resolveSegment>) => segment.info;

describe('--segment', () => {
  it('reads i/N as the i-th of N equal parts, from 1, with the equal sequence', () => {
    expect(segmentFromOption('2/4')).toEqual({
      spec: { segment: '1/4:1/2', segmentSequence: '0,1/4,1/2,3/4,1' },
      info: { index: 2, count: 4, from: '1/4', to: '1/2', sequence: '0,1/4,1/2,3/4,1', source: 'option' },
    });
    expect(info(segmentFromOption('3/3'))).toMatchObject({ from: '2/3', to: '1' });
  });

  it("reads k6's from:to, with or without a sequence", () => {
    expect(info(segmentFromOption('1/4:2/4'))).toMatchObject({ index: 2, count: 3, from: '1/4', to: '1/2', sequence: '0,1/4,1/2,1' });
    expect(info(segmentFromOption('25%:50%', '0,25%,50%,75%,1'))).toMatchObject({ index: 2, count: 4, from: '1/4', to: '1/2', sequence: '0,1/4,1/2,3/4,1' });
  });

  it("gives i/N and k6's from:to with the equal sequence the same segment and sequence", () => {
    expect(segmentFromOption('1/4:2/4', '0,1/4,1/2,3/4,1')).toEqual({ ...segmentFromOption('2/4'), info: { ...segmentFromOption('2/4').info!, source: 'option' } });
  });

  it('takes 1/1 and 0:1 as the whole run', () => {
    expect(segmentFromOption('1/1')).toEqual({ spec: {}, info: undefined });
    expect(segmentFromOption('0:1')).toEqual({ spec: {}, info: undefined });
  });

  it('refuses what is not a segment, with the reason', () => {
    expect(() => segmentFromOption('0/4')).toThrow(/1 <= i <= N/);
    expect(() => segmentFromOption('5/4')).toThrow(/1 <= i <= N/);
    expect(() => segmentFromOption('0.5')).toThrow(/i\/N .* from:to/);
    expect(() => segmentFromOption('1/4:1/2', '0,1/3,1')).toThrow(/not one of the segments/);
    expect(() => segmentFromOption('2/4', '0,1/4,1/2,3/4,1')).toThrow(/only with k6's from:to/);
  });
});

describe('launcher variables', () => {
  it('Slurm srun: SLURM_PROCID of SLURM_NTASKS, in a job step only', () => {
    expect(info(segmentFromEnv({ SLURM_STEP_ID: '0', SLURM_PROCID: '3', SLURM_NTASKS: '4' })!)).toMatchObject({ index: 4, count: 4, from: '3/4', to: '1', source: 'slurm' });
    // The step's own task count wins over the allocation's.
    expect(info(segmentFromEnv({ SLURM_STEP_ID: '1', SLURM_PROCID: '1', SLURM_NTASKS: '8', SLURM_STEP_NUM_TASKS: '2' })!)).toMatchObject({ index: 2, count: 2 });
    // An sbatch script of -n 4 runs once, as task 0 of 4, outside any step: the whole run.
    expect(segmentFromEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '4' })).toBeUndefined();
  });

  it('a Slurm array, counted from its first id in steps of its stride', () => {
    expect(info(segmentFromEnv({ SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '4' })!)).toMatchObject({ index: 1, count: 4, source: 'slurm-array' });
    expect(info(segmentFromEnv({ SLURM_ARRAY_TASK_ID: '7', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_STEP: '2' })!)).toMatchObject({ index: 4, count: 4 });
    // sbatch sets SLURM_NTASKS=1 and SLURM_PROCID=0 in an array's batch script: the array decides.
    expect(info(segmentFromEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '1', SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '3' })!)).toMatchObject({ index: 3, count: 3, source: 'slurm-array' });
    expect(() => segmentFromEnv({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_STEP: '2' })).toThrow(/not task min \+ k × step/);
    expect(() => segmentFromEnv({ SLURM_STEP_ID: '0', SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '2' })).toThrow(/both a Slurm step/);
  });

  it('a Kubernetes Indexed Job, with the count the manifest sets', () => {
    expect(info(segmentFromEnv({ JOB_COMPLETION_INDEX: '0', TSLOAD_SEGMENTS: '8' })!)).toMatchObject({ index: 1, count: 8, from: '0', to: '1/8', source: 'kubernetes' });
    expect(() => segmentFromEnv({ JOB_COMPLETION_INDEX: '0' })).toThrow(/TSLOAD_SEGMENTS is not .*completions/);
  });

  it('Open MPI and MPICH ranks, before the Slurm allocation they may run in', () => {
    const allocation = { SLURM_PROCID: '0', SLURM_NTASKS: '4' };
    expect(info(segmentFromEnv({ ...allocation, OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '4' })!)).toMatchObject({ index: 3, source: 'openmpi' });
    expect(info(segmentFromEnv({ ...allocation, PMI_RANK: '1', PMI_SIZE: '4' })!)).toMatchObject({ index: 2, source: 'mpich' });
  });

  it('no launcher, or a count of 1, is the whole run; --segment wins over any launcher', () => {
    expect(segmentFromEnv({ PATH: '/bin' })).toBeUndefined();
    expect(segmentFromEnv({ SLURM_STEP_ID: '0', SLURM_PROCID: '0', SLURM_NTASKS: '1' })).toEqual({ spec: {}, info: undefined });
    expect(resolveSegment(undefined, undefined, {})).toEqual({ spec: {}, info: undefined });
    expect(info(resolveSegment('1/2', undefined, { SLURM_STEP_ID: '0', SLURM_PROCID: '3', SLURM_NTASKS: '4' }))).toMatchObject({ index: 1, count: 2, source: 'option' });
  });

  it('refuses an index past the count and a half-set pair', () => {
    expect(() => segmentFromEnv({ SLURM_STEP_ID: '0', SLURM_PROCID: '4', SLURM_NTASKS: '4' })).toThrow(/not below SLURM_NTASKS=4/);
    expect(() => segmentFromEnv({ PMI_RANK: '1' })).toThrow(/PMI_RANK is set but PMI_SIZE is not/);
    expect(() => segmentFromEnv({ SLURM_STEP_ID: '0', SLURM_PROCID: 'x', SLURM_NTASKS: '4' })).toThrow(/not a whole number/);
  });

  it("N ranks' segments tile (0, 1] and their shares add up to every arrival exactly once", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 24 }), fc.integer({ min: 0, max: 5000 }), (n, total) => {
        const parts = Array.from({ length: n }, (_, rank) => segmentFromEnv({ OMPI_COMM_WORLD_RANK: String(rank), OMPI_COMM_WORLD_SIZE: String(n) })!);
        let at = parseRatio('0');
        for (const p of parts) {
          const from = parseRatio(p.info!.from);
          expect(from.n * at.d).toBe(at.n * from.d);
          at = parseRatio(p.info!.to);
        }
        expect(at).toEqual({ n: 1, d: 1 });
        const shares = parts.map((p) => processShare(p.spec));
        expect(shares.reduce((s, share) => s + share.count(total), 0)).toBe(total);
        for (let index = 0; index < Math.min(total, 200); index++) expect(shares.filter((s) => s.owns(index)).length).toBe(1);
      }),
      { numRuns: 60 },
    );
  });

  it("N generators' schedules, each from its launcher's rank, interleave into exactly the one-generator schedule", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.double({ min: 1, max: 100_000, noNaN: true }),
        fc.constantFrom('constant' as const, 'poisson' as const),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (n, rate, arrival, seed) => {
          const total = 300;
          const whole = createSchedule({ rate, startMs: 1000, arrival, seed });
          const expected = Array.from({ length: total }, () => whole.next());
          const union = Array.from({ length: n }, (_, rank) => {
            const share = processShare(segmentFromEnv({ PMI_RANK: String(rank), PMI_SIZE: String(n) })!.spec);
            const own = createSchedule({ rate, startMs: 1000, arrival, seed, share });
            return Array.from({ length: share.count(total) }, () => own.next());
          }).flat();
          expect(union.sort((a, b) => a - b)).toEqual(expected);
        },
      ),
      { numRuns: 80 },
    );
  });
});
