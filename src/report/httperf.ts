/**
 * `--format httperf`: httperf 0.9.0's statistics block, same labels, order,
 * units and number formats, one block per step, so scripts written to parse
 * httperf's output keep working.
 *
 * Mapping (httperf's figure ← tsload's):
 * - connections ← connections opened during the step (keep-alive reuse means
 *   far fewer than requests; "Connection length" is then replies/connection).
 * - Connection time [ms] min/avg/max/median/stddev ← latency from the intended
 *   send time (httperf times a connection's life; with one request per
 *   connection that is its latency, and ours is free of coordinated omission).
 * - Reply rate [replies/s] ← the per-second timeline's `completed` counts:
 *   httperf samples every 5 s, we have 1 s samples, so min/max spread wider
 *   for the same run. Only whole seconds of the window count (a stopped run's
 *   last partial second would read as a dip).
 * - Reply time [ms]: response ← mean service time (actual send to complete
 *   reply); transfer 0.0 because we do not time the body apart.
 * - Reply size [B] ← bytesReceived / replies, all of it as "content": the
 *   result does not split header from body bytes.
 * - Errors: total ← transport errors + timeouts; client-timo ← timeouts.
 *   Protocol errors (replies that broke HTTP), which httperf has no field
 *   for, are in the total and on a `# tsload:` line of their own, with reasons.
 *
 * Lines and clauses we have no data for are left out, never invented (httperf
 * itself leaves lines out when it has nothing to put in them): the connect
 * burst line, "<=N concurrent connections" and "Connection time [ms]: connect"
 * appear only when the step carries the optional fields in `HttperfExtras`.
 * - CPU time ← `step.cpuWindow`, the CPU of the measured window, so the
 *   percentages are of the test duration as httperf's are. A result from
 *   before cpuWindow existed gives `step.cpu` (warmup and drain included) as a
 *   share of warmup + window. Several threads can take it past 100%.
 *
 * A sweep prints `# step N: rate R` before each block; figures httperf has no
 * line for (dropped arrivals, requests in flight at the end) follow a block as
 * a `# ` line when non-zero.
 */
import type { HttpResult, HttpStep, TimelinePoint } from '../result.js';
import { DROPPED_MEANING, NOT_SENT_MEANING, limitLines, perStepBlocks } from './blocks.js';

/**
 * Per-step figures result.ts does not carry (yet). Read when present, so a
 * result that has them prints httperf's full block.
 */
export interface HttperfExtras {
  /** Most connections open at once during the step. */
  maxConcurrentConnections?: number;
  /** Mean TCP connect time of the connections opened, ms. */
  connectTimeMs?: number;
  /** Most connections started in one burst. */
  maxConnectBurst?: number;
}

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** a / b, or 0 when b is 0 (httperf prints 0 where it has no denominator). */
function div(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

function f1(n: number): string {
  return n.toFixed(1);
}

/** min/avg/max/stddev of the per-second reply counts, as httperf computes them (sample stddev). */
export function replyRateSamples(
  timeline: readonly TimelinePoint[],
  durationS: number,
): { min: number; avg: number; max: number; stddev: number; samples: number } {
  const wholeSeconds = Math.floor(durationS + 1e-9);
  const counts = timeline.slice(0, wholeSeconds).map((p) => p.completed);
  const n = counts.length;
  if (n === 0) return { min: 0, avg: 0, max: 0, stddev: 0, samples: 0 };
  let sum = 0;
  let sum2 = 0;
  for (const c of counts) {
    sum += c;
    sum2 += c * c;
  }
  // httperf's STDDEV(sum, sum2, n): sqrt((n*sum2 - sum^2) / (n*(n-1))), 0 for one sample.
  const variance = n > 1 ? (n * sum2 - sum * sum) / (n * (n - 1)) : 0;
  return {
    min: Math.min(...counts),
    avg: sum / n,
    max: Math.max(...counts),
    stddev: Math.sqrt(Math.max(0, variance)),
    samples: n,
  };
}

/** One step as httperf would print it (no trailing blank line). */
export function formatHttperfStep(step: HttpStep): string {
  // Values are still checked at run time: a result read back from JSON may hold anything.
  const extras = step as HttpStep & HttperfExtras;
  const lines: string[] = [];
  const d = step.durationS;
  const replies = step.completed;

  if (finite(extras.maxConnectBurst)) lines.push(`Maximum connect burst length: ${extras.maxConnectBurst}`, '');

  lines.push(
    `Total: connections ${step.connections} requests ${step.sent} replies ${replies} test-duration ${d.toFixed(3)} s`,
    '',
  );

  const concurrent = finite(extras.maxConcurrentConnections)
    ? `, <=${extras.maxConcurrentConnections} concurrent connections`
    : '';
  lines.push(
    `Connection rate: ${f1(div(step.connections, d))} conn/s (${f1(1e3 * div(d, step.connections))} ms/conn${concurrent})`,
  );
  const l = step.latencyMs;
  lines.push(
    `Connection time [ms]: min ${f1(l.min)} avg ${f1(l.mean)} max ${f1(l.max)} median ${f1(l.p50)} stddev ${f1(l.stdev)}`,
  );
  if (finite(extras.connectTimeMs)) lines.push(`Connection time [ms]: connect ${f1(extras.connectTimeMs)}`);
  lines.push(`Connection length [replies/conn]: ${div(replies, step.connections).toFixed(3)}`, '');

  lines.push(`Request rate: ${f1(div(step.sent, d))} req/s (${f1(1e3 * div(d, step.sent))} ms/req)`);
  if (step.sent > 0) lines.push(`Request size [B]: ${f1(step.avgRequestBytes ?? step.bytesSent / step.sent)}`);
  lines.push('');

  const r = replyRateSamples(step.timeline, d);
  lines.push(
    `Reply rate [replies/s]: min ${f1(r.min)} avg ${f1(r.avg)} max ${f1(r.max)} stddev ${f1(r.stddev)} (${r.samples} samples)`,
  );
  if (replies > 0) {
    lines.push(`Reply time [ms]: response ${f1(step.serviceTimeMs.mean)} transfer 0.0`);
    const size = step.avgReplyBytes ?? step.bytesReceived / replies;
    lines.push(`Reply size [B]: header 0.0 content ${f1(size)} footer 0.0 (total ${f1(size)})`);
  }
  const s = step.statusClasses;
  lines.push(`Reply status: 1xx=${s['1xx']} 2xx=${s['2xx']} 3xx=${s['3xx']} 4xx=${s['4xx']} 5xx=${s['5xx']}`, '');

  {
    const { userS, systemS } = step.cpuWindow ?? step.cpu;
    const wall = step.cpuWindow === undefined ? step.warmupS + d : d;
    const pct = (x: number): string => (100 * div(x, wall)).toFixed(1);
    lines.push(
      `CPU time [s]: user ${userS.toFixed(2)} system ${systemS.toFixed(2)} (user ${pct(userS)}% system ${pct(systemS)}% total ${pct(userS + systemS)}%)`,
    );
  }
  const bytesPerS = div(step.bytesSent + step.bytesReceived, d);
  lines.push(`Net I/O: ${f1(bytesPerS / 1024)} KB/s (${f1(8e-6 * bytesPerS)}*10^6 bps)`, '');

  const e = step.errors;
  lines.push(
    `Errors: total ${e.total + step.timeouts} client-timo ${step.timeouts} socket-timo ${e['socket-timo']} connrefused ${e.connrefused} connreset ${e.connreset}`,
    `Errors: fd-unavail ${e['fd-unavail']} addrunavail ${e.addrunavail} ftab-full ${e['ftab-full']} other ${e.other}`,
  );

  // httperf has no class for a reply that breaks HTTP: its total counts them, this line names them.
  const protocol = e.protocol ?? 0;
  if (protocol > 0) {
    const reasons = step.failureReasons ?? [];
    lines.push(`# tsload: protocol errors ${protocol} (replies that broke HTTP${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''})`);
  }

  const beyond: string[] = [];
  if ((step.notSent ?? 0) > 0) beyond.push(`not sent ${step.notSent} (${NOT_SENT_MEANING})`);
  if (step.dropped > 0) beyond.push(`dropped ${step.dropped} (${DROPPED_MEANING})`);
  if (step.inflightAtEnd > 0) beyond.push(`in flight at end ${step.inflightAtEnd}`);
  if (beyond.length > 0) lines.push(`# tsload: ${beyond.join(', ')}`);
  for (const line of limitLines(step.generatorLimits)) lines.push(`# tsload: ${line}`);
  return lines.join('\n');
}

export function formatHttperf(result: HttpResult): string {
  return perStepBlocks(result.steps, result.aborted, formatHttperfStep);
}
