/**
 * Where a result goes: a format on stdout, and files (JSON, CSV, HTML).
 * The library's `writeOutputs` is what `tsload http|dns` does after a run;
 * `checkOutputs` is what it does before one, so a path that cannot be
 * written fails at once rather than after a run that took minutes.
 */
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { OptionsError } from './errors.js';
import { protocols, type ProtocolName } from './protocols/index.js';
import type { Result } from './result.js';

export interface Outputs {
  /** What stdout gets: 'text' (default), 'json', or a protocol's own ('httperf', 'dnsperf'); 'none' for nothing. */
  format?: string;
  /** A JSON file, or '-' for stdout (instead of `format`). */
  json?: string;
  /** The per-step table as CSV. */
  csv?: string;
  /** An HTML report of this run. */
  report?: string;
  /** HdrHistogram interval log (needs the timeline's histograms: the run's timelineHistograms option). */
  hlog?: string;
  /** A folder for each step's percentile distributions (.hgrm, as wrk2 prints them). */
  hgrm?: string;
}

/** The stdout formats a protocol can write. */
export function formatsOf(protocol: ProtocolName): string[] {
  return ['text', 'json', ...Object.keys(protocols[protocol].formats)];
}

const FILES = ['json', 'csv', 'report', 'hlog'] as const;

/**
 * Throws OptionsError, listing every problem, when a format is unknown or an
 * output file cannot be written. Missing folders are created (they are
 * wanted anyway); a file is opened for append, which changes nothing in one
 * that exists, and removed again if this made it, so a run that then fails
 * leaves no empty file behind.
 */
export function checkOutputs(protocol: ProtocolName, outputs: Outputs): void {
  const problems: string[] = [];
  const formats = [...formatsOf(protocol), 'none'];
  if (outputs.format !== undefined && !formats.includes(outputs.format)) problems.push(`--format: '${outputs.format}' must be one of ${formatsOf(protocol).join(', ')}`);
  for (const name of FILES) {
    const file = outputs[name];
    if (file === undefined || (name === 'json' && file === '-')) continue;
    try {
      makeFolders(dirname(file));
      const existed = existsSync(file);
      if (existed && statSync(file).isDirectory()) throw new Error('it is a folder');
      closeSync(openSync(file, 'a'));
      if (!existed) rmSync(file);
    } catch (error) {
      problems.push(`--${name}: cannot write ${file}: ${reason(error)}`);
    }
  }
  if (outputs.hgrm !== undefined) {
    try {
      makeFolders(outputs.hgrm);
    } catch (error) {
      problems.push(`--hgrm: cannot make ${outputs.hgrm}: ${reason(error)}`);
    }
  }
  if (problems.length > 0) throw new OptionsError(problems);
}

/**
 * Writes `result` everywhere `outputs` says: the chosen format to `stdout`
 * and each file. Returns the files written, in order.
 */
export async function writeOutputs(result: Result, outputs: Outputs, stdout: { write(text: string): unknown } = process.stdout): Promise<string[]> {
  checkOutputs(result.protocol, outputs);
  const report = await import('./report/index.js');
  const format = outputs.json === '-' ? 'json' : (outputs.format ?? 'text');
  if (format === 'json') stdout.write(report.formatJson(result));
  else if (format === 'text') stdout.write(report.formatText(result));
  else if (format !== 'none') stdout.write(await formatWith(result, format));
  const written: string[] = [];
  if (outputs.json !== undefined && outputs.json !== '-') {
    writeFileSync(outputs.json, report.formatJson(result));
    written.push(outputs.json);
  }
  if (outputs.csv !== undefined) {
    writeFileSync(outputs.csv, report.formatCsv(result));
    written.push(outputs.csv);
  }
  if (outputs.report !== undefined) written.push(...(await report.writeReportFor([result], { out: outputs.report })).written);
  if (outputs.hlog !== undefined || outputs.hgrm !== undefined) {
    const hdr = await import('./report/hlog.js');
    if (outputs.hlog !== undefined) {
      writeFileSync(outputs.hlog, hdr.formatHlog(result));
      written.push(outputs.hlog);
    }
    if (outputs.hgrm !== undefined) written.push(...hdr.writeHgrm(result, outputs.hgrm));
  }
  return written;
}

async function formatWith(result: Result, format: string): Promise<string> {
  // The record's formatter takes its own protocol's result; checkOutputs has matched the two.
  const formatter = (protocols[result.protocol].formats as Record<string, () => Promise<(r: Result) => string>>)[format]!;
  return (await formatter())(result);
}

/**
 * mkdir -p by hand: Node's recursive mkdir never returns where the kernel
 * refuses a new folder with ENOENT (in /proc), and its error for a file in
 * the way names the wrong path.
 */
function makeFolders(dir: string): void {
  const missing: string[] = [];
  let d = dir;
  for (; !existsSync(d); d = dirname(d)) missing.unshift(d);
  if (!statSync(d).isDirectory()) throw new Error(`${d} is a file, not a folder`);
  for (const folder of missing) mkdirSync(folder);
}

/** Node's words for a file system error without the code and call around them ("EACCES: permission denied, open '…'"). */
function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return (e.code !== undefined && /^\w+: (.*?), \w+ '.*'$/.exec(e.message)?.[1]) || e.message;
}
