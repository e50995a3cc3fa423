/** What `dropped` means, in every format that explains it. */
export const DROPPED_MEANING = 'not sent: in-flight cap reached, or tsload too far behind';
/** What `lostAtGenerator` means, likewise. */
export const LOST_AT_GENERATOR_MEANING = "answers dropped at tsload's own sockets, not read in time";

/**
 * One block per step for the formats that mimic single-run tools (httperf,
 * dnsperf): a sweep gets a `# step N: rate R` line before each block, and a
 * stopped run a first line saying so.
 */
export function perStepBlocks<S extends { targetRate: number }>(steps: readonly S[], aborted: boolean, block: (step: S) => string): string {
  const blocks: string[] = [];
  if (aborted) blocks.push('# stopped early: partial results');
  const sweep = steps.length > 1;
  steps.forEach((step, i) => blocks.push((sweep ? `# step ${i + 1}: rate ${step.targetRate}\n` : '') + block(step)));
  return blocks.join('\n\n') + '\n';
}
