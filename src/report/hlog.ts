/**
 * HdrHistogram's own file formats, so that its tools read tsload's runs:
 *
 * - the interval log (Java's HistogramLogWriter format, version 1.3), read by
 *   HistogramLogProcessor, HistogramLogAnalyzer, UnionHistogramLogs and
 *   hdr-histogram-js's HistogramLogReader: one compressed histogram per
 *   second of each step's measured window, tagged `stepN-latency` (from the
 *   intended send) and `stepN-service` (from the write);
 * - the percentile distribution (`.hgrm`), as wrk2 prints it.
 *
 * Written by hand rather than with hdr-histogram-js's HistogramLogWriter:
 * its StartTime comment ends in an extra blank line and it writes no
 * BaseTime, so its timestamps would be read as absolute by some readers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OptionsError } from '../errors.js';
import { decodeHistogram, percentileDistributionMs, statsOf } from '../measure/histogram.js';
import type { Result } from '../result.js';

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

/** The interval log of a result whose timeline kept its histograms (run with --hlog, or in segments). */
export function formatHlog(result: Result): string {
  const steps = result.steps.filter((s) => s.timeline.length > 0);
  const missing = steps.some((s) => s.window === undefined || s.timeline.some((p) => p.histograms === undefined));
  if (steps.length === 0 || missing) {
    throw new OptionsError(['--hlog: this result has no per-second histograms (tsload keeps them with --hlog, or in a run in segments)']);
  }
  const base = Math.min(...steps.map((s) => s.window!.startMs));
  const lines = [
    `#[Logged with tsload ${result.tool.version}: ${result.protocol} ${result.target}]`,
    '#[Histogram log format version 1.3]',
    `#[StartTime: ${seconds(base)} (seconds since epoch), ${new Date(base).toString()}]`,
    `#[BaseTime: ${seconds(base)} (seconds since epoch)]`,
    '#[Values in microseconds (1 us .. 1 h, 3 significant digits); Interval_Max in milliseconds; tags stepN-latency (from the intended send) and stepN-service (from the write), N from 1]',
    '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
  ];
  result.steps.forEach((step, i) => {
    if (step.window === undefined) return;
    for (const point of step.timeline) {
      const startMs = step.window.startMs + point.tS * 1000;
      const lengthMs = Math.max(0, Math.min(1000, step.window.endMs - startMs));
      const at = `${seconds(startMs - base)},${seconds(lengthMs)}`;
      lines.push(`Tag=step${i + 1}-latency,${at},${point.maxMs.toFixed(3)},${point.histograms!.latency}`);
      lines.push(`Tag=step${i + 1}-service,${at},${maxMsOf(point.histograms!.serviceTime)},${point.histograms!.serviceTime}`);
    }
  });
  return `${lines.join('\n')}\n`;
}

const maxMsOf = (encoded: string): string => statsOf(decodeHistogram(encoded)).max.toFixed(3);

/** Each step's latency and service-time distributions as wrk2 prints them: file name → text. */
export function formatHgrm(result: Result): Map<string, string> {
  const files = new Map<string, string>();
  result.steps.forEach((step, i) => {
    files.set(`step${i + 1}-latency.hgrm`, percentileDistributionMs(step.histograms.latency));
    files.set(`step${i + 1}-service.hgrm`, percentileDistributionMs(step.histograms.serviceTime));
  });
  return files;
}

/** Writes formatHgrm's files into `dir` (made if missing); returns their paths. */
export function writeHgrm(result: Result, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return [...formatHgrm(result)].map(([name, text]) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  });
}
