/**
 * `tsload report DIR`: the summary of a results folder as one HTML page (and,
 * asked for, its CSV, JSON and one SVG per chart), plus the text summary for
 * stdout.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { renderSvg } from '../report/charts.js';
import { experimentCharts, formatExperimentCsv, formatExperimentJson, formatExperimentText, renderExperimentHtml } from '../report/experiment.js';
import { readExperiment } from './read.js';
import { summarize, type ExperimentSummary, type SummaryOptions } from './summary.js';

export interface ExperimentReportOptions extends SummaryOptions {
  /** HTML page; default `<dir>/report.html`. */
  out?: string;
  csv?: string;
  json?: string;
  svgDir?: string;
  title?: string;
}

export async function writeExperimentReport(dir: string, options: ExperimentReportOptions = {}): Promise<{ written: string[]; summary: ExperimentSummary; text: string }> {
  const summary = summarize(readExperiment(dir), options);
  const written: string[] = [];
  const put = async (file: string, text: string): Promise<void> => {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
    written.push(file);
  };
  const out = options.out ?? join(dir, 'report.html');
  await put(out, await renderExperimentHtml(summary, options.title === undefined ? {} : { title: options.title }));
  if (options.csv !== undefined) await put(options.csv, formatExperimentCsv(summary));
  if (options.json !== undefined) await put(options.json, formatExperimentJson(summary));
  if (options.svgDir !== undefined) {
    for (const chart of experimentCharts(summary)) await put(join(options.svgDir, `${chart.id}.svg`), `<?xml version="1.0" encoding="UTF-8"?>\n${await renderSvg(chart.spec)}\n`);
  }
  return { written, summary, text: formatExperimentText(summary) };
}
