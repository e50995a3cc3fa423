/**
 * `tsload report`: one self-contained HTML file from result JSON files.
 *
 * Self-contained means it opens offline and fetches nothing: the charts are
 * inline SVG (rendered here, in Node, by Vega), the CSS is inline, there is no
 * script, and a Content-Security-Policy of default-src 'none' makes the browser
 * refuse any fetch that might slip in. The report is built from the results
 * alone, so results from separate runs or machines can be reported together.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputFileError, OptionsError } from '../errors.js';
import { RESULT_SCHEMA, WORDS } from '../result.js';
import type { Result, Step } from '../result.js';
import { describeSaturation } from '../measure/saturation.js';
import { buildCharts, renderSvg, seriesLabels } from './charts.js';
import { formatCsvMany } from './csv.js';
import type { Chart } from './charts.js';
import { limitLines } from './blocks.js';
import { BASE_CSS } from './style.js';

export interface RenderedChart {
  chart: Chart;
  svg: string;
}

/** Every chart for these results, rendered to SVG (in report order). */
export async function renderCharts(results: readonly Result[]): Promise<RenderedChart[]> {
  const out: RenderedChart[] = [];
  // One at a time: Vega views are cheap, and this keeps memory flat for big reports.
  for (const chart of buildCharts(results)) out.push({ chart, svg: await renderSvg(chart.spec) });
  return out;
}

/** The report as one HTML string. */
export async function renderReport(results: readonly Result[], options: { title?: string } = {}): Promise<string> {
  return reportHtml(results, await renderCharts(results), options.title);
}

export interface WriteReportOptions {
  /** HTML report path. */
  out?: string;
  /** Directory for one standalone SVG per chart (`<chart id>.svg`), created if missing. */
  svgDir?: string;
  /** Per-step CSV path. */
  csv?: string;
  title?: string;
}

/** `tsload report FILE… [-o out.html] [--svg DIR] [--csv FILE]`: load, validate, write. */
export async function writeReport(files: readonly string[], options: WriteReportOptions): Promise<{ written: string[] }> {
  if (files.length === 0) throw new OptionsError(['report: give at least one result JSON file']);
  requireOutput(options);
  return writeReportFor(await loadResults(files), options);
}

/** The same outputs from results already in memory (`tsload http … --report out.html`). */
export async function writeReportFor(results: readonly Result[], options: WriteReportOptions): Promise<{ written: string[] }> {
  requireOutput(options);
  const rendered = await renderCharts(results);
  const written: string[] = [];
  if (options.out !== undefined) {
    await mkdir(dirname(options.out), { recursive: true });
    await writeFile(options.out, reportHtml(results, rendered, options.title));
    written.push(options.out);
  }
  if (options.svgDir !== undefined) {
    await mkdir(options.svgDir, { recursive: true });
    for (const { chart, svg } of rendered) {
      const file = join(options.svgDir, `${chart.id}.svg`);
      await writeFile(file, `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`);
      written.push(file);
    }
  }
  if (options.csv !== undefined) {
    await mkdir(dirname(options.csv), { recursive: true });
    await writeFile(options.csv, formatCsvMany([...results]));
    written.push(options.csv);
  }
  return { written };
}

function requireOutput(options: WriteReportOptions): void {
  if (options.out === undefined && options.svgDir === undefined && options.csv === undefined) {
    throw new OptionsError(['report: nothing to write; give -o FILE.html, --svg DIR or --csv FILE']);
  }
}

/** Reads and validates result files; any problem is an InputFileError naming the file. */
export async function loadResults(files: readonly string[]): Promise<Result[]> {
  const results: Result[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new InputFileError(file, undefined, `cannot read: ${(error as Error).message}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new InputFileError(file, undefined, `not JSON: ${(error as Error).message}`);
    }
    const problem = resultProblem(value);
    if (problem !== null) throw new InputFileError(file, undefined, problem);
    results.push(value as Result);
  }
  return results;
}

/**
 * Why a value is not a result the report can draw, or null. Checks the schema
 * tag and every field the charts read, so a truncated or foreign file fails
 * here with a reason instead of as a TypeError deep in the charts.
 */
export function resultProblem(value: unknown): string | null {
  if (!isObject(value)) return `not a tsload result (expected an object with schema "${RESULT_SCHEMA}")`;
  if (value['schema'] !== RESULT_SCHEMA) return `not a tsload result: schema is ${JSON.stringify(value['schema'] ?? null)}, expected "${RESULT_SCHEMA}"`;
  if (value['protocol'] !== 'http' && value['protocol'] !== 'dns') return `protocol must be "http" or "dns"`;
  for (const key of ['label', 'target'] as const) if (typeof value[key] !== 'string') return `${key} must be a string`;
  const sat = value['saturation'];
  if (!isObject(sat) || !isObject(sat['criteria'])) return 'saturation is missing';
  for (const key of ['minReplyRatio', 'maxErrorRatio', 'sloP99Ms']) if (!isNumber(sat['criteria'][key])) return `saturation.criteria.${key} must be a number`;
  for (const key of ['rate', 'step', 'failedAt']) if (sat[key] !== null && !isNumber(sat[key])) return `saturation.${key} must be a number or null`;
  const steps = value['steps'];
  if (!Array.isArray(steps)) return 'steps must be an array';
  for (const [i, step] of steps.entries()) {
    const where = `steps[${i}]`;
    if (!isObject(step)) return `${where} must be an object`;
    for (const key of ['targetRate', 'sendRate', 'replyRate', 'sent', 'completed', 'timeouts', 'dropped', 'durationS']) {
      if (!isNumber(step[key])) return `${where}.${key} must be a number`;
    }
    if (!isObject(step['errors']) || !isNumber(step['errors']['total'])) return `${where}.errors.total must be a number`;
    const lat = step['latencyMs'];
    if (!isObject(lat)) return `${where}.latencyMs is missing`;
    for (const key of ['count', 'p50', 'p90', 'p99', 'p999', 'max']) if (!isNumber(lat[key])) return `${where}.latencyMs.${key} must be a number`;
    const timeline = step['timeline'];
    if (!Array.isArray(timeline)) return `${where}.timeline must be an array`;
    for (const [j, p] of timeline.entries()) {
      if (!isObject(p)) return `${where}.timeline[${j}] must be an object`;
      for (const key of ['tS', 'sent', 'completed', 'errors', 'timeouts', 'dropped', 'p50Ms', 'p99Ms', 'maxMs']) {
        if (!isNumber(p[key])) return `${where}.timeline[${j}].${key} must be a number`;
      }
    }
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

// ---------------------------------------------------------------- HTML


const CSS = `${BASE_CSS}
details > summary { cursor: pointer; color: #333; margin: .3rem 0; }
.sat-none { color: #a00; }
`;

function reportHtml(results: readonly Result[], rendered: readonly RenderedChart[], title?: string): string {
  const names = seriesLabels(results);
  const heading = title ?? `tsload report: ${names.join(', ') || 'no results'}`;
  const parts: string[] = [];
  parts.push(
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing may be fetched: inline styles and inline SVG only.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(heading)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    `<h1>${esc(heading)}</h1>`,
    `<p class="meta">${results.length} result${results.length === 1 ? '' : 's'}, made by tsload from result files alone.</p>`,
  );
  parts.push(runsTable(results, names), saturationSection(results, names), limitsSection(results, names));
  for (const protocol of ['http', 'dns'] as const) {
    const charts = rendered.filter((r) => r.chart.protocol === protocol);
    if (charts.length === 0) continue;
    parts.push(`<section id="${protocol}" data-protocol="${protocol}">`, `<h2>${protocol.toUpperCase()}</h2>`);
    for (const { chart, svg } of charts) parts.push(figure(chart, svg));
    parts.push('</section>');
  }
  parts.push('</body>', '</html>', '');
  return parts.join('\n');
}

function runsTable(results: readonly Result[], names: readonly string[]): string {
  const rows = results.map((r, i) => {
    const rates = r.steps.map((s) => s.targetRate);
    const span = rates.length === 0 ? '–' : rates.length === 1 ? `${rates[0]}/s` : `${Math.min(...rates)}–${Math.max(...rates)}/s in ${rates.length} steps`;
    return tr([
      names[i] ?? r.label,
      r.protocol.toUpperCase(),
      r.target,
      span,
      r.arrival,
      String(r.threads),
      `${r.host.hostname} (${r.host.platform}, ${r.host.cpus} CPUs, Node ${r.host.node})`,
      `${r.startedAt}${r.aborted ? ' (stopped early)' : ''}`,
      r.tool.version,
    ], true);
  });
  return [
    '<section id="runs">',
    '<h2>Runs</h2>',
    '<table>',
    trHead(['series', 'protocol', 'target', 'rates', 'arrivals', 'threads', 'host', 'started', 'tsload']),
    ...rows,
    '</table>',
    '</section>',
  ].join('\n');
}

function saturationSection(results: readonly Result[], names: readonly string[]): string {
  const rows = results.map((r, i) => {
    const s = r.saturation;
    const unit = ` ${WORDS[r.protocol].unit}`;
    const c = s.criteria;
    return tr([
      names[i] ?? r.label,
      s.rate === null ? 'none' : `${s.rate}${unit}`,
      describeSaturation(s, r.steps, r.protocol),
      `reply ≥ ${c.minReplyRatio * 100}% of target, failures < ${c.maxErrorRatio * 100}%, p99 < ${c.sloP99Ms} ms`,
    ], true);
  });
  return [
    '<section id="saturation">',
    '<h2>Saturation points</h2>',
    '<p>The highest rate that met every criterion below the first step that failed (in ascending rate, a failing step measured again before it counts); the first failing criterion is named. Where tsload itself was the limit at that step, no saturation point is named.</p>',
    '<table>',
    trHead(['series', 'saturation', 'verdict', 'criteria']),
    ...rows,
    '</table>',
    '</section>',
  ].join('\n');
}

/** Every step where tsload itself was a limit (or a pool filled because the server slowed), in words. */
function limitsSection(results: readonly Result[], names: readonly string[]): string {
  const rows: string[] = [];
  results.forEach((r, i) => {
    const unit = ` ${WORDS[r.protocol].unit}`;
    const steps: readonly Step[] = r.steps;
    steps.forEach((step, index) => {
      for (const line of limitLines(step.generatorLimits)) rows.push(tr([names[i] ?? r.label, `${index + 1}`, `${step.targetRate}${unit}`, line], true));
    });
  });
  if (rows.length === 0) return '';
  return [
    '<section id="limits">',
    "<h2>Where tsload was the limit</h2>",
    "<p>Steps where tsload's own connections, in-flight cap, load thread, schedule or sockets limited what was measured, with what to change.</p>",
    '<table>',
    trHead(['series', 'step', 'rate', 'limit']),
    ...rows,
    '</table>',
    '</section>',
  ].join('\n');
}

function figure(chart: Chart, svg: string): string {
  return [
    `<figure id="${esc(chart.id)}" data-chart="${esc(chart.id)}" data-kind="${chart.kind}" data-series="${esc(JSON.stringify(chart.series))}">`,
    svg,
    `<figcaption>${esc(chart.title)}</figcaption>`,
    '<table>',
    trHead(chart.table.columns),
    ...chart.table.rows.map((row) => tr(row, false)),
    '</table>',
    '</figure>',
  ].join('\n');
}

function trHead(cells: readonly string[]): string {
  return `<tr>${cells.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
}

/** `allText`: every cell is left-aligned prose (the first cell always is). */
function tr(cells: readonly string[], allText: boolean): string {
  return `<tr>${cells.map((c) => `<td${allText ? ' class="text"' : ''}>${esc(c)}</td>`).join('')}</tr>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
