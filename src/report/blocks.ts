import type { GeneratorLimit } from '../result.js';
/** What `dropped` means, in every format that explains it. */
export const DROPPED_MEANING = 'not sent: in-flight cap reached, or tsload too far behind';
/** What `notSent` means, likewise. */
export const NOT_SENT_MEANING = "waited inside tsload for a connection until --timeout, never written: tsload's limit, not the server's";
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

/** A duration in ms or s, about three significant digits. */
function duration(msValue: number): string {
  if (msValue >= 1000) return `${Number((msValue / 1000).toPrecision(3))} s`;
  return `${Number(msValue.toPrecision(3))} ms`;
}

const pct = (share: number): string => `${Number((share * 100).toPrecision(3))}%`;

/** The server slowed down, so the pool or cap filled: said with the service times that show it. */
function slowedServer(l: { serviceP50Ms: number; baselineServiceP50Ms: number }): string {
  return `because the server slowed down (service time p50 ${duration(l.serviceP50Ms)}, against ${duration(l.baselineServiceP50Ms)} at the lowest rate): the queue is the server's`;
}

/**
 * One limit of tsload's in words a user acts on: what happened, its figures,
 * and what to change. Every format that flags a step uses these words.
 */
export function describeLimit(limit: GeneratorLimit): string {
  const own = 'tsload was the limit here';
  switch (limit.kind) {
    case 'connections': {
      const pool = !limit.atLimit
        ? 'requests waited for new connections to open'
        : limit.fixed
          ? `all ${limit.connections} connections busy`
          : `the pool grew to its maximum of ${limit.connections} connections, all busy`;
      const waited = `${pct(limit.waitedShare)} of requests waited for one, a median ${duration(limit.waitedP50Ms)}`;
      const unsent = limit.notSent > 0 ? `; ${limit.notSent} timed out before they were written` : '';
      if (limit.cause === 'server') return `${pool} ${slowedServer(limit)}; ${waited}${unsent}`;
      const advice = !limit.atLimit
        ? 'give a fixed --connections large enough for rate × latency, so they are open before the window'
        : limit.fixed
          ? 'raise --connections, or leave it out so the pool grows on demand'
          : 'raise --max-connections (the open-file limit, ulimit -n, bounds it) or add machines';
      return `${own} (${pool}; ${waited}${unsent}): ${advice}`;
    }
    case 'inflightCap': {
      const what = `${limit.dropped} arrivals dropped at the in-flight cap of ${limit.maxInflight} per thread`;
      return limit.cause === 'server' ? `${what}, ${slowedServer(limit)}` : `${own} (${what}): raise --max-inflight`;
    }
    case 'thread':
      return `${own} (its busiest load thread was busy ${Math.round(limit.busy * 100)}% of the time; latency and loss may be partly its own): add --threads, or machines`;
    case 'scheduleLag':
      if (limit.droppedBehind > 0) {
        return `${own} (it fell behind its schedule and never sent ${limit.droppedBehind} requests; schedule lag p99 ${duration(limit.lagP99Ms)}): add --threads, or machines`;
      }
      return `${own} (its own schedule lag, p99 ${duration(limit.lagP99Ms)}, is at least half the latency p99 of ${duration(limit.latencyP99Ms)}): add --threads, or --busy-poll for sub-millisecond sends`;
    case 'socketBuffers':
      return `${own} (${limit.lostAtGenerator} answers dropped at tsload's own sockets, not read in time): add --threads or --sockets`;
    case 'fileLimit':
      return `${own} (${limit.errors} sockets refused for want of file descriptors${limit.fileLimit === null ? '' : `, limit ${limit.fileLimit}`}): raise the open-file limit (ulimit -n) or lower --max-connections`;
  }
}

/** The limits of a step worth a user's attention, in words; empty when tsload was never a limit. */
export function limitLines(limits: readonly GeneratorLimit[] | undefined): string[] {
  return (limits ?? []).map(describeLimit);
}
