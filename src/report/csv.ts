/**
 * `--format csv`: one row per step, for spreadsheets and plotting scripts.
 * Numbers are written at full precision (no rounding: this output is for
 * machines); `step` counts from 1 as in the text report. Columns that do not
 * apply to a protocol (lost, late and lostAtGenerator for HTTP; connections,
 * reconnects and TLS handshakes for DNS over UDP) are empty, as is lostAtGenerator where the kernel does not say. CPU
 * covers the step's warmup and drain too.
 * Fields are quoted as RFC 4180 says (only when they hold a comma, quote, CR
 * or LF; quotes doubled); lines end in LF, which RFC 4180 readers accept.
 */
import type { Result, Step } from '../result.js';

export const CSV_COLUMNS = [
  'label',
  'target',
  'protocol',
  'step',
  'targetRate',
  'durationS',
  'sent',
  'completed',
  'sendRate',
  'replyRate',
  'errors',
  'timeouts',
  'dropped',
  'latencyP50Ms',
  'latencyP90Ms',
  'latencyP99Ms',
  'latencyP999Ms',
  'latencyMaxMs',
  'latencyMeanMs',
  'serviceP50Ms',
  'serviceP99Ms',
  'lagP99Ms',
  'lost',
  'late',
  'lostAtGenerator',
  'connections',
  'cpuUserS',
  'cpuSystemS',
  'cpuWindowUserS',
  'cpuWindowSystemS',
  'generatorBusy',
  'notSent',
  'queuedP99Ms',
  'generatorLimits',
  'attempts',
  'reconnects',
  'httpVersion',
  'tlsHandshakes',
  'tlsHandshakeMeanMs',
  // The server's side (testbed targets; empty elsewhere): its CPU over the window, memory maxima, the link each way.
  'serverCpuS',
  'serverCpuPerSecond',
  'serverCpuPerRequestUs',
  'serverCoresAvailable',
  'serverCpuWaitPerSecond',
  'serverRssMaxBytes',
  'serverMemoryMaxBytes',
  'serverMemoryLimitBytes',
  'linkToServerBytesPerS',
  'linkToServerPacketsPerS',
  'linkToServerShare',
  'linkToClientBytesPerS',
  'linkToClientPacketsPerS',
  'linkToClientShare',
  'tbfDropsToServer',
  'tbfDropsToClient',
] as const;

/** One field, quoted when RFC 4180 requires it. */
export function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function row(result: Result, step: Step, index: number): string {
  const cells: Array<string | number> = [
    result.label,
    result.target,
    result.protocol,
    index + 1,
    step.targetRate,
    step.durationS,
    step.sent,
    step.completed,
    step.sendRate,
    step.replyRate,
    step.errors.total,
    step.timeouts,
    step.dropped,
    step.latencyMs.p50,
    step.latencyMs.p90,
    step.latencyMs.p99,
    step.latencyMs.p999,
    step.latencyMs.max,
    step.latencyMs.mean,
    step.serviceTimeMs.p50,
    step.serviceTimeMs.p99,
    step.scheduleLagMs.p99,
  ];
  if ('lost' in step) cells.push(step.lost, step.late, step.lostAtGenerator ?? '', step.stream?.connections ?? '');
  else cells.push('', '', '', step.connections);
  cells.push(step.cpu.userS, step.cpu.systemS, step.cpuWindow?.userS ?? '', step.cpuWindow?.systemS ?? '', step.generatorBusy ?? '');
  // Limits as kind:cause, space-separated, e.g. "connections:tsload thread:tsload"; empty when none (or not known).
  cells.push(
    step.notSent ?? '',
    step.queuedMs?.p99 ?? '',
    (step.generatorLimits ?? []).map((l) => `${l.kind}:${l.cause}`).join(' '),
    (step.attempts?.length ?? 0) + 1,
  );
  // Connections of DNS over TCP/TLS, and TLS handshakes of either protocol.
  if ('lost' in step) cells.push(step.stream?.reconnects ?? '', '', step.stream?.tlsHandshakes ?? '', step.stream?.tlsHandshakeMeanMs ?? '');
  else cells.push('', result.protocol === 'http' ? (result.httpVersion ?? '') : '', step.tls?.handshakes ?? '', step.tls?.handshakeMeanMs ?? '');
  const f = step.server;
  const l = f?.link ?? undefined;
  cells.push(
    f?.cpuS ?? '',
    f?.cpuPerSecond ?? '',
    f?.cpuPerRequestUs ?? '',
    f?.coresAvailable ?? '',
    f?.cpuWaitPerSecond ?? '',
    f?.rssBytes.max ?? '',
    f?.memoryBytes?.max ?? '',
    f?.memoryLimitBytes ?? '',
    l?.toServer.bytesPerS ?? '',
    l?.toServer.packetsPerS ?? '',
    l?.toServer.share ?? '',
    l?.toClient.bytesPerS ?? '',
    l?.toClient.packetsPerS ?? '',
    l?.toClient.share ?? '',
    l?.toServer.tbfDrops ?? '',
    l?.toClient.tbfDrops ?? '',
  );
  return cells.map(csvField).join(',');
}

function rows(result: Result): string[] {
  const steps: readonly Step[] = result.steps;
  return steps.map((step, i) => row(result, step, i));
}

/** Header and one row per step of every result (e.g. several runs to compare). */
export function formatCsvMany(results: readonly Result[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const result of results) lines.push(...rows(result));
  return lines.join('\n') + '\n';
}

export function formatCsv(result: Result): string {
  return formatCsvMany([result]);
}
