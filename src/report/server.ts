/**
 * The server's side of each step (testbed targets, StepBase.server) as text:
 * a table under a sweep's, rows in a single run's block. Pure.
 */
import type { Result, ServerFigures, Step } from '../result.js';

const MIB = 2 ** 20;

function mib(n: number): string {
  return (n / MIB).toFixed(1);
}

function mbit(bytesPerS: number): string {
  return ((bytesPerS * 8) / 1e6).toFixed(1);
}

function pct(x: number): string {
  return String(Math.round(x * 100));
}

/** Link shares are often a fraction of a percent: one decimal. */
function linkPct(x: number): string {
  return (x * 100).toFixed(1);
}

function perRequest(f: ServerFigures): string {
  return f.cpuPerRequestUs === null ? '-' : f.cpuPerRequestUs.toFixed(0);
}

/** What the figures are of and where they come from: "server builtin-http (cgroup; cpuset 1 core, memory limit 256.0 MiB)". */
export function serverHeading(f: ServerFigures): string {
  const limits = [
    f.cpuLimit === null ? `${f.coresAvailable} cores, no cpuset` : `cpuset of ${f.cpuLimit} core${f.cpuLimit === 1 ? '' : 's'}`,
    f.memoryLimitBytes === null ? 'no memory limit' : `memory limit ${mib(f.memoryLimitBytes)} MiB`,
  ];
  const link = f.link === null ? '' : `; link ${+(f.link.rateBitsPerSecond / 1e6).toFixed(1)} Mbit/s each way`;
  return `server ${f.target} (figures from its ${f.source === 'cgroup' ? 'cgroup' : 'process group in /proc'}; ${limits.join(', ')}${link})`;
}

/** The sweep's server table, one row per step that has figures (wait: its threads' time waiting for a core); empty when none has. */
export function serverTable(result: Result, align: (rows: readonly (readonly string[])[], left?: number) => string[]): string[] {
  const steps: readonly Step[] = result.steps;
  const first = steps.find((s) => s.server !== undefined)?.server;
  if (first === undefined) return [];
  const header = ['step', 'cpu', 'cpu', 'wait', 'cpu/req', 'rss', 'memory', 'to server', 'to server', 'to client', 'to client', 'tbf drops'];
  const units = ['', 'cores', '%', 'cores', 'µs', 'MiB', 'MiB', 'Mbit/s', '%', 'Mbit/s', '%', ''];
  const rows: string[][] = [header, units];
  steps.forEach((step, i) => {
    const f = step.server;
    if (f === undefined) return;
    const l = f.link;
    rows.push([
      String(i + 1),
      f.cpuPerSecond.toFixed(2),
      pct(f.cpuPerSecond / f.coresAvailable),
      f.cpuWaitPerSecond == null ? '-' : f.cpuWaitPerSecond.toFixed(2),
      perRequest(f),
      mib(f.rssBytes.max),
      f.memoryBytes === null ? '-' : mib(f.memoryBytes.max),
      l === null ? '-' : mbit(l.toServer.bytesPerS),
      l === null ? '-' : linkPct(l.toServer.share),
      l === null ? '-' : mbit(l.toClient.bytesPerS),
      l === null ? '-' : linkPct(l.toClient.share),
      l === null ? '-' : String(l.toServer.tbfDrops + l.toClient.tbfDrops),
    ]);
  });
  return [serverHeading(first), ...align(rows, 0)];
}

/** Rows for a single run's block. */
export function serverRows(f: ServerFigures): string[][] {
  const rows: string[][] = [
    ['Server', serverHeading(f)],
    [
      'Server CPU',
      `${f.cpuS.toFixed(3)} s in the window: ${f.cpuPerSecond.toFixed(2)} cores busy (${pct(f.cpuPerSecond / f.coresAvailable)}% of ${f.coresAvailable}), ${perRequest(f)} µs per reply` +
        (f.cpuWaitPerSecond == null ? '' : `; its threads waited for a core ${f.cpuWaitPerSecond.toFixed(2)} s per second`),
    ],
    [
      'Server memory',
      `resident (anonymous) ${mib(f.rssBytes.mean)} MiB mean, ${mib(f.rssBytes.max)} MiB max` +
        (f.memoryBytes === null ? '' : `; charged ${mib(f.memoryBytes.max)} MiB max`) +
        (f.memoryLimitBytes === null || f.memoryBytes === null ? '' : ` (${pct(f.memoryBytes.max / f.memoryLimitBytes)}% of its limit)`),
    ],
  ];
  const l = f.link;
  if (l !== null) {
    const side = (d: typeof l.toServer): string =>
      `${mbit(d.bytesPerS)} Mbit/s (${linkPct(d.share)}%), ${d.packetsPerS.toFixed(0)} packets/s, ${d.tbfDrops} dropped by tbf`;
    rows.push(['Link to server', side(l.toServer)], ['Link to client', side(l.toClient)]);
  }
  return rows;
}
