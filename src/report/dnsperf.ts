/**
 * `--format dnsperf`: dnsperf's "Statistics:" block, same labels, alignment
 * and number formats, one block per step, for scripts that parse dnsperf.
 *
 * Mapping (dnsperf's figure ← tsload's):
 * - Queries lost ← `lost` (no answer within the timeout), as dnsperf counts it.
 * - Queries interrupted ← `inflightAtEnd` (dnsperf's name for queries still
 *   out when the run was stopped); printed only when non-zero, as dnsperf does.
 * - Unexpected IDs ← `unexpected` less `malformed` and `mismatched` (answers
 *   to an ID with nothing in flight); only when non-zero, as dnsperf 2.x does.
 * - Response code percentages are of completed queries, as in dnsperf.
 * - Average packet sizes are truncated to whole bytes (dnsperf casts to unsigned).
 * - Run time ← the measured window; Queries per second ← completed / run time.
 * - Latency ← latency from the intended send time (dnsperf times from the
 *   actual send; the two differ only by the generator's own lag, which an
 *   open-loop tool must not hide). Printed in seconds, 6 decimals.
 *
 * A sweep prints `# step N: rate R` before each block. Figures dnsperf has no
 * line for (late answers, transport errors, truncated answers, malformed
 * and mismatched answers, dropped arrivals) follow a block as a `# ` line when non-zero.
 */
import type { DnsResult, DnsStep } from '../result.js';
import { rcodeNumber } from '../util/rcodes.js';
import { DROPPED_MEANING, LOST_AT_GENERATOR_MEANING, limitLines, perStepBlocks } from './blocks.js';

function rcodeRank(name: string): number {
  return rcodeNumber(name) ?? Number.MAX_SAFE_INTEGER;
}

/** Non-zero response codes in RCODE order (unknown names last, alphabetically). */
export function orderedRcodes(rcodes: Record<string, number>): Array<[string, number]> {
  return Object.entries(rcodes)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => rcodeRank(a) - rcodeRank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function div(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

function pct(part: number, whole: number): string {
  return (100 * div(part, whole)).toFixed(2);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(6);
}

/** One step as dnsperf would print it (no trailing blank line). */
export function formatDnsperfStep(step: DnsStep): string {
  const lines: string[] = ['Statistics:', ''];
  lines.push(`  Queries sent:         ${step.sent}`);
  lines.push(`  Queries completed:    ${step.completed} (${pct(step.completed, step.sent)}%)`);
  lines.push(`  Queries lost:         ${step.lost} (${pct(step.lost, step.sent)}%)`);
  if (step.inflightAtEnd > 0) {
    lines.push(`  Queries interrupted:  ${step.inflightAtEnd} (${pct(step.inflightAtEnd, step.sent)}%)`);
  }
  const wrongIds = step.unexpected - (step.malformed ?? 0) - (step.mismatched ?? 0);
  if (wrongIds > 0) {
    lines.push(`  Unexpected IDs:       ${wrongIds} (${pct(wrongIds, step.sent)}%)`);
  }
  lines.push('');

  const codes = orderedRcodes(step.rcodes)
    .map(([name, n]) => `${name} ${n} (${pct(n, step.completed)}%)`)
    .join(', ');
  lines.push(`  Response codes:       ${codes}`);
  lines.push(
    `  Average packet size:  request ${Math.trunc(step.avgRequestBytes)}, response ${Math.trunc(step.avgResponseBytes)}`,
  );
  lines.push(`  Run time (s):         ${step.durationS.toFixed(6)}`);
  lines.push(`  Queries per second:   ${div(step.completed, step.durationS).toFixed(6)}`);
  lines.push('');

  const l = step.latencyMs;
  lines.push(`  Average Latency (s):  ${seconds(l.mean)} (min ${seconds(l.min)}, max ${seconds(l.max)})`);
  if (step.completed > 1) lines.push(`  Latency StdDev (s):   ${seconds(l.stdev)}`);

  if (step.stream !== undefined) {
    // dnsperf's block for connection-oriented transports; tsload keeps the mean handshake time only.
    lines.push('', 'Connection Statistics:', '', `  Reconnections:        ${step.stream.reconnects}`);
    if (step.stream.tlsHandshakeMeanMs !== null) lines.push('', `  Average Latency (s):  ${seconds(step.stream.tlsHandshakeMeanMs)} (TLS handshake, mean of ${step.stream.tlsHandshakes})`);
  }

  const beyond: string[] = [];
  if ((step.lostAtGenerator ?? 0) > 0) beyond.push(`lost at tsload ${step.lostAtGenerator} (${LOST_AT_GENERATOR_MEANING})`);
  if (step.late > 0) beyond.push(`late ${step.late} (answered after being counted lost)`);
  if (step.errors.total > 0) beyond.push(`errors ${step.errors.total}`);
  if (step.truncated > 0) beyond.push(`truncated ${step.truncated}`);
  if ((step.malformed ?? 0) > 0) beyond.push(`malformed answers ${step.malformed} (not readable as a response, never matched)`);
  if ((step.mismatched ?? 0) > 0) beyond.push(`answers to another question ${step.mismatched} (never matched)`);
  if (step.dropped > 0) beyond.push(`dropped ${step.dropped} (${DROPPED_MEANING})`);
  const limits = limitLines(step.generatorLimits);
  if (beyond.length > 0 || limits.length > 0) lines.push('');
  if (beyond.length > 0) lines.push(`# tsload: ${beyond.join(', ')}`);
  for (const line of limits) lines.push(`# tsload: ${line}`);
  return lines.join('\n');
}

export function formatDnsperf(result: DnsResult): string {
  return perStepBlocks(result.steps, result.aborted, formatDnsperfStep);
}
