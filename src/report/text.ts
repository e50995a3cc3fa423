/**
 * The default output: a table with one row per step for a sweep, or a fuller
 * block for a single run holding what an httperf or dnsperf user looks for,
 * plus the percentiles those tools never printed.
 *
 * Latencies are in ms with about three significant digits: the HDR histograms
 * keep three, so more digits would be noise and fewer would hide sub-ms changes.
 */
import { WORDS, type DnsStep, type DnsStreamCounts, type ErrorClass, type HttpStep, type LatencyStats, type Result, type Saturation, type Step } from '../result.js';
import { orderedRcodes } from './dnsperf.js';
import { DROPPED_MEANING, LOST_AT_GENERATOR_MEANING, NOT_SENT_MEANING, describeLimit, limitLines } from './blocks.js';
import { describeResource, generatorAtLimit, ownLimits } from '../measure/saturation.js';
import { serverRows, serverTable } from './server.js';

const ERROR_CLASSES: readonly ErrorClass[] = [
  'connrefused',
  'connreset',
  'addrunavail',
  'fd-unavail',
  'ftab-full',
  'socket-timo',
  'other',
  'protocol',
];

export function rateUnit(result: Result): 'req/s' | 'q/s' {
  return WORDS[result.protocol].shortUnit;
}

/** Latency in ms, about three significant digits. */
export function ms(v: number): string {
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

/** Stands for a latency of a step with no replies: 0.000 would read as a very fast one. */
const NONE = '\u2013';

function latencyCells(l: LatencyStats, values: readonly number[]): string[] {
  return values.map((v) => (l.count === 0 ? NONE : ms(v)));
}

/** A requested rate as the user gave it: whole numbers bare, others with one decimal. */
function targetRate(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '0.00' : ((100 * part) / whole).toFixed(2);
}

/** A ratio as a short percentage (0.95 → "95", 0.001 → "0.1"), without float noise. */
function ratioPercent(r: number): string {
  return String(Number((r * 100).toPrecision(6)));
}

/**
 * Lay rows out in columns two spaces apart; the first `leftColumns` columns
 * are left-aligned (labels), the rest right-aligned (numbers).
 */
export function alignColumns(rows: readonly (readonly string[])[], leftColumns = 1): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i < leftColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function heading(result: Result): string[] {
  const steps = result.steps.length;
  const named = result.label !== '' && result.label !== result.target ? `${result.label}: ` : '';
  const lines = [
    `tsload ${named}${result.protocol} ${result.target}, ${steps} step${steps === 1 ? '' : 's'}, ` +
      `${result.arrival} arrivals, ${result.threads} thread${result.threads === 1 ? '' : 's'}`,
    `started ${result.startedAt}, finished ${result.finishedAt}`,
  ];
  if (result.protocol === 'http') {
    const transport = transportLine(result);
    if (transport !== undefined) lines.push(transport);
  }
  if (result.segment !== undefined) {
    const s = result.segment;
    lines.push(`segment ${s.index}/${s.count} (${s.from}:${s.to}) of a distributed run: target rates are this generator's share; tsload merge sums the parts`);
  }
  if (result.start !== undefined && result.start.offsetMs > 0) lines.push(`started ${result.start.offsetMs} ms after --start-at ${result.start.requestedAt}`);
  if (result.generators !== undefined) {
    const skew = Math.max(0, ...result.generators.flatMap((g) => g.windowOffsetsMs));
    lines.push(`merged from ${result.generators.length} generator${result.generators.length === 1 ? '' : 's'} (${[...new Set(result.generators.map((g) => g.host.hostname))].join(', ')}); windows at most ${skew} ms apart`);
  }
  if (result.testbedTarget !== undefined) lines.push(describeTestbedTarget(result.testbedTarget));
  if (result.generatorCpus != null) lines.push(`generator pinned to CPU ${result.generatorCpus}`);
  if (result.aborted) lines.push('stopped early: partial results');
  return lines;
}

/** What the connections spoke: said whenever it is more than plain HTTP/1.1, and loudly when h2 was asked for and refused. */
function transportLine(result: Extract<Result, { protocol: 'http' }>): string | undefined {
  const tls = result.tls === undefined ? '' : `, ${result.tls.protocol}${result.tls.verified ? '' : ' (certificate not verified)'}`;
  if (result.http2Refused === true) return `HTTP/1.1${tls}: --http2 asked, but the server offered only HTTP/1.1, so this measures HTTP/1.1`;
  if (result.httpVersion === '2') return `HTTP/2 (${result.tls === undefined ? 'h2c, prior knowledge' : 'ALPN h2'}${tls}), ${result.streams ?? '?'} streams per connection`;
  if (result.tls !== undefined) return `HTTP/1.1 over ${result.tls.protocol}${result.tls.verified ? '' : ' (certificate not verified)'}`;
  return undefined;
}

const CRITERION_NAMES: Record<NonNullable<Saturation['failedCriterion']>, string> = {
  replyRate: 'reply rate',
  errors: 'errors',
  p99: 'p99',
};

/** The saturation verdict of a sweep, in one line. */
export function saturationLine(result: Result): string {
  const s = result.saturation;
  const unit = rateUnit(result);
  let failed: string | null = null;
  const at = s.failedAt === null ? undefined : result.steps[s.failedAt];
  if (s.failedCriterion !== null && s.failedAt !== null) {
    const where = at !== undefined ? `${targetRate(at.targetRate)} ${unit} (step ${s.failedAt + 1})` : `step ${s.failedAt + 1}`;
    failed = `${CRITERION_NAMES[s.failedCriterion]} failed first at ${where}`;
    const confirmed = at?.attempts?.length ?? 0;
    if (confirmed > 0) failed += `, in all ${confirmed + 1} measurements`;
    // Results written before tsload named its limits only had the busy figure.
    if (at?.generatorLimits === undefined && generatorAtLimit(at?.generatorBusy)) {
      failed += `, where tsload's busiest thread was busy ${busyPercent(at?.generatorBusy)}% of the time: the limit may be tsload's own (add --threads)`;
    }
  }
  const nonMonotone = (s.nonMonotone ?? []).map((i) => `${targetRate(result.steps[i]?.targetRate ?? 0)} ${unit}`);
  const monotone = nonMonotone.length > 0 ? `\nnot monotone: passed again above the failure, at ${nonMonotone.join(', ')}; the saturation point stays below the first failure` : '';
  if (s.generatorLimit != null && at !== undefined) {
    const limits = ownLimits(at.generatorLimits).map(describeLimit);
    const floor = s.rate === null ? 'no step passed below it' : `the server kept up to at least ${targetRate(s.rate)} ${unit}`;
    return `saturation: not found; at ${targetRate(at.targetRate)} ${unit} (step ${s.failedAt! + 1}) ${limits.join('; ')}. ${floor}${monotone}`;
  }
  const ran = s.resource == null ? '' : `: ${describeResource(s.resource)}`;
  if (s.rate === null) return `saturation: no step met the criteria${failed !== null ? `; ${failed}${ran}` : ''}${monotone}`;
  if (failed === null) return `saturation: not reached; every step met the criteria up to ${targetRate(s.rate)} ${unit}`;
  const step = s.step !== null ? ` (step ${s.step + 1})` : '';
  const resource = s.resource == null ? '' : `: ${describeResource(s.resource)}`;
  return `saturation: ${targetRate(s.rate)} ${unit}${step}; above it ${failed}${resource}${monotone}`;
}

function criteriaLine(s: Saturation): string {
  const c = s.criteria;
  return `criteria: replies >= ${ratioPercent(c.minReplyRatio)}% of target rate, errors <= ${ratioPercent(c.maxErrorRatio)}%, p99 <= ${ms(c.sloP99Ms)} ms`;
}

function sweepTable(result: Result): string[] {
  const unit = rateUnit(result);
  const dns = result.protocol === 'dns';
  const tail = dns ? ['errors', 'lost', 'late', 'dropped'] : ['errors', 'timeouts', 'unsent', 'dropped'];
  const header = ['step', 'target', 'sent', 'replies', 'p50', 'p90', 'p99', 'p99.9', 'max', ...tail, 'busy', 'limit'];
  const units = ['', unit, unit, unit, 'ms', 'ms', 'ms', 'ms', 'ms', ...tail.map(() => ''), '%', ''];
  const rows: string[][] = [header, units];
  result.steps.forEach((step: Step, i) => {
    const l = step.latencyMs;
    const row = [
      String(i + 1),
      targetRate(step.targetRate),
      step.sendRate.toFixed(1),
      step.replyRate.toFixed(1),
      ...latencyCells(l, [l.p50, l.p90, l.p99, l.p999, l.max]),
      String(step.errors.total),
    ];
    if ('lost' in step) row.push(String(step.lost), String(step.late));
    else row.push(String(step.timeouts), String(step.notSent ?? 0));
    row.push(String(step.dropped), busyPercent(step.generatorBusy), limitMark(step));
    rows.push(row);
  });
  // Numbers right-aligned under right-aligned headers; only the step column is a label.
  return alignColumns(rows, 0);
}

/** The limit column: 'tsload' where tsload itself was a limit, 'server' where a pool or cap filled because the server slowed. */
function limitMark(step: Step): string {
  const limits = step.generatorLimits ?? [];
  if (ownLimits(limits).length > 0) return 'tsload';
  return limits.length > 0 ? 'server' : '-';
}

/** One line per step where tsload was a limit (or a pool filled), under the sweep's table. */
function sweepLimitLines(result: Result): string[] {
  const unit = rateUnit(result);
  const lines: string[] = [];
  result.steps.forEach((step: Step, i) => {
    for (const line of limitLines(step.generatorLimits)) lines.push(`step ${i + 1} (${targetRate(step.targetRate)} ${unit}): ${line}`);
    const attempts = step.attempts?.length ?? 0;
    if (attempts > 0) lines.push(`step ${i + 1} (${targetRate(step.targetRate)} ${unit}): measured ${attempts + 1} times (a failure is measured again before it counts); the table shows the last`);
  });
  return lines;
}

/** The busiest load thread's share of the window, as a whole percentage; '-' when not measured. */
function busyPercent(busy: number | null | undefined): string {
  return busy == null ? '-' : String(Math.round(busy * 100));
}

function generatorBusyValue(busy: number | null): string {
  if (busy === null) return 'not measured: the loop spins on purpose (--busy-poll, or 200/s or less per thread)';
  const share = `${busyPercent(busy)}% of the window (busiest thread)`;
  return generatorAtLimit(busy) ? `${share}: tsload was near its own limit, so latency and loss may be partly its own; add --threads` : share;
}

function sum<T>(items: readonly T[], pick: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += pick(item);
  return total;
}

function formatSweep(result: Result): string[] {
  const steps: readonly Step[] = result.steps;
  const totals = [
    `sent ${sum(steps, (s) => s.sent)}`,
    `completed ${sum(steps, (s) => s.completed)}`,
    `errors ${sum(steps, (s) => s.errors.total)}`,
  ];
  if (result.protocol === 'dns') {
    totals.push(`lost ${sum(result.steps, (s) => s.lost)}`, `late ${sum(result.steps, (s) => s.late)}`);
  } else {
    totals.push(`timeouts ${sum(steps, (s) => s.timeouts)}`);
  }
  if (result.protocol === 'http') totals.push(`not sent ${sum(steps, (s) => s.notSent ?? 0)}`);
  totals.push(`dropped ${sum(steps, (s) => s.dropped)}`);
  const limits = sweepLimitLines(result);
  const server = serverTable(result, alignColumns);
  return [
    ...sweepTable(result),
    ...(server.length > 0 ? ['', ...server] : []),
    ...(limits.length > 0 ? ['', ...limits] : []),
    '',
    `total: ${totals.join(', ')}`,
    saturationLine(result),
    criteriaLine(result.saturation),
  ];
}

function errorsValue(step: Step): string {
  const e = step.errors;
  if (e.total === 0) return '0';
  const classes = ERROR_CLASSES.filter((c) => (e[c] ?? 0) > 0).map((c) => `${c} ${e[c]}`);
  return classes.length > 0 ? `${e.total} (${classes.join(', ')})` : String(e.total);
}

function latencyTable(step: Step): string[] {
  const row = (label: string, l: LatencyStats): string[] => [
    label,
    String(l.count),
    ...latencyCells(l, [l.min, l.mean, l.stdev, l.p50, l.p90, l.p99, l.p999, l.max]),
  ];
  return alignColumns([
    ['(ms)', 'count', 'min', 'mean', 'stdev', 'p50', 'p90', 'p99', 'p99.9', 'max'],
    row('latency (from intended send)', step.latencyMs),
    row('service time (from actual send)', step.serviceTimeMs),
    row('schedule lag (generator late by)', step.scheduleLagMs),
    ...(step.queuedMs === undefined ? [] : [row('queued (in tsload before written)', step.queuedMs)]),
  ]);
}

function httpSingle(step: HttpStep): string[][] {
  const unit = 'req/s';
  const c = step.statusClasses;
  const codes = Object.entries(step.statusCodes)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([code, n]) => `${code} ${n}`);
  const rows: string[][] = [
    ['Target rate', `${targetRate(step.targetRate)} ${unit}`],
    ['Requests sent', String(step.sent)],
    ['Replies', `${step.completed} (${percent(step.completed, step.sent)}%)`],
    ['Test duration', `${step.durationS.toFixed(3)} s`],
    ['Request rate', `${step.sendRate.toFixed(1)} ${unit}`],
    ['Reply rate', `${step.replyRate.toFixed(1)} ${unit}`],
    ['Connections opened', String(step.connections)],
    ...(step.tls === undefined
      ? []
      : [['TLS handshakes', `${step.tls.handshakes}, mean ${ms(step.tls.handshakeMeanMs)} ms (apart from requests), ${step.tls.failed} failed`]]),
    ...(step.pool === undefined
      ? []
      : [
          [
            'Connection pool',
            `${step.pool.fixed ? `fixed at ${step.pool.limit}` : `grows on demand up to ${step.pool.limit}`}; ` +
              `${step.pool.waited} requests waited for a connection, ${step.pool.waitedAtLimit} of them with the pool at its limit`,
          ],
        ]),
    ['Status classes', `1xx ${c['1xx']}, 2xx ${c['2xx']}, 3xx ${c['3xx']}, 4xx ${c['4xx']}, 5xx ${c['5xx']}`],
  ];
  if (codes.length > 0) rows.push(['Status codes', codes.join(', ')]);
  // Per request written and per reply read, over the same span as the byte counts (warmup included).
  const requestSize = step.avgRequestBytes ?? (step.sent > 0 ? step.bytesSent / step.sent : undefined);
  const replySize = step.avgReplyBytes ?? (step.completed > 0 ? step.bytesReceived / step.completed : undefined);
  if (requestSize !== undefined && step.bytesSent > 0) rows.push(['Request size', `${requestSize.toFixed(1)} B (${step.bytesSent} B sent)`]);
  if (replySize !== undefined && step.bytesReceived > 0) rows.push(['Reply size', `${replySize.toFixed(1)} B (${step.bytesReceived} B received)`]);
  rows.push(
    ['Errors', errorsValue(step)],
    ...reasonRows(step),
    ['Timeouts', String(step.timeouts)],
    ...(step.notSent === undefined ? [] : [['Not sent', `${step.notSent} (${NOT_SENT_MEANING})`]]),
    ['Dropped', `${step.dropped} (${DROPPED_MEANING})`],
    ['In flight at end', String(step.inflightAtEnd)],
  );
  return rows;
}

function streamRows(s: DnsStreamCounts): string[][] {
  const rows = [['Connections', `${s.connections} opened, ${s.reconnects} reconnects, ${s.closedByServer} closed by the server, ${s.connectFailures} failed to open (warmup included)`]];
  if (s.tlsHandshakes > 0) rows.push(['TLS handshakes', `${s.tlsHandshakes}, mean ${s.tlsHandshakeMeanMs?.toFixed(3)} ms from TCP connect`]);
  return rows;
}

function dnsSingle(step: DnsStep): string[][] {
  const unit = 'q/s';
  const codes = orderedRcodes(step.rcodes).map(([name, n]) => `${name} ${n} (${percent(n, step.completed)}%)`);
  return [
    ['Target rate', `${targetRate(step.targetRate)} ${unit}`],
    ['Queries sent', String(step.sent)],
    ['Queries completed', `${step.completed} (${percent(step.completed, step.sent)}%)`],
    ['Queries lost', `${step.lost} (${percent(step.lost, step.sent)}%)`],
    ...(step.lostAtGenerator == null ? [] : [['Lost at tsload', `${step.lostAtGenerator} (${LOST_AT_GENERATOR_MEANING})`]]),
    ['Late answers', `${step.late} (after being counted lost)`],
    ['Response codes', codes.length > 0 ? codes.join(', ') : 'none'],
    ['Truncated', String(step.truncated)],
    ['Unexpected answers', unexpectedValue(step)],
    ['Average packet size', `request ${step.avgRequestBytes.toFixed(1)} B, response ${step.avgResponseBytes.toFixed(1)} B`],
    ...(step.stream === undefined ? [] : streamRows(step.stream)),
    ['Run time', `${step.durationS.toFixed(3)} s`],
    ['Query rate', `${step.sendRate.toFixed(1)} ${unit}`],
    ['Queries per second', `${step.replyRate.toFixed(1)} ${unit} answered`],
    ['Errors', errorsValue(step)],
    ...reasonRows(step),
    ['Dropped', `${step.dropped} (${DROPPED_MEANING})`],
    ['In flight at end', String(step.inflightAtEnd)],
  ];
}

/** Answers never matched to a query, and what was wrong with them where the result says. */
function unexpectedValue(step: DnsStep): string {
  const malformed = step.malformed ?? 0;
  const mismatched = step.mismatched ?? 0;
  if (step.unexpected === 0 || step.malformed === undefined) return String(step.unexpected);
  return `${step.unexpected} (wrong ID ${step.unexpected - malformed - mismatched}, another question ${mismatched}, malformed ${malformed}; never matched to a query)`;
}

/** The protocol errors' reasons, one row (the first few distinct ones the step kept). */
function reasonRows(step: Step): string[][] {
  const reasons = step.failureReasons ?? [];
  return reasons.length === 0 ? [] : [['Protocol errors', reasons.join('; ')]];
}

function formatSingle(result: Result): string[] {
  const step = result.steps[0];
  if (step === undefined) return ['no step was measured'];
  const dns = 'lost' in step;
  const rows = dns ? dnsSingle(step) : httpSingle(step);
  if (step.generatorBusy !== undefined) rows.push(['Generator busy', generatorBusyValue(step.generatorBusy)]);
  const whole = `user ${step.cpu.userS.toFixed(2)} s, system ${step.cpu.systemS.toFixed(2)} s with warmup and drain`;
  const w = step.cpuWindow;
  if (w === undefined) {
    rows.push(['Generator CPU', whole]);
  } else {
    const perSendUs = step.sent > 0 ? ` (${(((w.userS + w.systemS) * 1e6) / step.sent).toFixed(1)} µs per ${dns ? 'query' : 'request'})` : '';
    rows.push(['Generator CPU', `user ${w.userS.toFixed(2)} s, system ${w.systemS.toFixed(2)} s in the window${perSendUs}`], ['', whole]);
  }
  if (step.server !== undefined) rows.push(...serverRows(step.server));
  const limits = limitLines(step.generatorLimits);
  return [...alignColumns(rows, 2), '', ...latencyTable(step), ...(limits.length > 0 ? ['', ...limits] : [])];
}

export function formatText(result: Result): string {
  const body = result.steps.length > 1 ? formatSweep(result) : formatSingle(result);
  return [...heading(result), '', ...body].join('\n') + '\n';
}

/** One line on what the testbed target was: the platform a result measured. */
export function describeTestbedTarget(t: NonNullable<Result['testbedTarget']>): string {
  const mib = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MiB`;
  const limits = t.limits === undefined ? '' : `, cpuset ${t.limits.cpus ?? 'any'}, memory ${t.limits.memoryBytes === null ? 'unlimited' : mib(t.limits.memoryBytes)}`;
  if (t.vm !== undefined) return `target ${t.name} at ${t.address}: a guest under qemu (${t.vm.accel}: ${t.vm.accelReason}), ${t.vm.cpus} vCPU, ${mib(t.vm.memoryBytes)}${limits}`;
  return `target ${t.name} at ${t.address} in the testbed's server host, ${t.workers ?? 1} worker${t.workers === 1 ? '' : 's'}${limits}`;
}
