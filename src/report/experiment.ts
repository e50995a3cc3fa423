/**
 * The experiment summary (src/experiment/summary.ts) as text, JSON, CSV and
 * one HTML page. Pure: summary in, string out (the HTML renders its charts
 * with Vega in Node, so it is async).
 *
 * The HTML page is the study's figures 6–11 at once: per workload, reply rate
 * against request rate and latency (p50, p99) against request rate, each
 * target one series: its median across repeats as a line, and the interval
 * of that median as a band around it. Then the comparisons, the per-step
 * tables and what the manifest says of the machine and the servers.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { ExperimentSummary, StepSummary, TargetSummary, WorkloadSummary } from '../experiment/summary.js';
import type { MedianInterval } from '../measure/statistics.js';
import { WORDS } from '../result.js';
import { fmtMs, fmtRate, renderSvg } from './charts.js';
import { csvField } from './csv.js';
import { BASE_CSS } from './style.js';

// ---------------------------------------------------------------- text

/** "600 [550–650]": a median and its interval; "–" for none. */
function est(e: MedianInterval | null, format: (v: number) => string): string {
  if (e === null) return '–';
  return `${format(e.median)} [${format(e.lo)}–${format(e.hi)}]`;
}

const pct = (v: number): string => `${Number((v * 100).toPrecision(3))}%`;
const ratioPct = (v: number): string => `${(v * 100).toFixed(2)}%`;

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** What the saturation intervals of a workload are, in words: "3 repeats: their range, at 75%". */
function levels(w: WorkloadSummary): string {
  const all = new Map<number, MedianInterval>();
  for (const t of w.targets) all.set(t.saturation.estimate.n, t.saturation.estimate);
  return [...all.values()]
    .map((e) =>
      e.n === 1
        ? '1 repeat: no interval'
        : e.ranks[0] === 1
          ? `${e.n} repeats: their range, at ${pct(e.confidence)}`
          : `${e.n} repeats: x(${e.ranks[0]})–x(${e.ranks[1]}), at ${pct(e.confidence)}`,
    )
    .join('; ');
}

export function formatExperimentText(summary: ExperimentSummary): string {
  const out: string[] = [];
  out.push(
    `Experiment summary: medians across repeats, [intervals] distribution-free from order statistics ` +
      `(asked ${pct(summary.confidence)}; the level each reaches with its repeats is shown), ratios by bootstrap (${summary.bootstrap.resamples} resamples, seed ${summary.bootstrap.seed}).`,
  );
  for (const w of summary.workloads) {
    const unit = WORDS[w.protocol].shortUnit;
    out.push('', `Workload ${w.workload} (${w.protocol.toUpperCase()}), intervals of ${levels(w)}:`);
    out.push(
      table([
        ['target', 'repeats', `saturation ${unit} [interval]`, 'confidence', 'notes'],
        ...w.targets.map((t) => [
          t.target,
          t.planned === t.repeats ? String(t.repeats) : `${t.repeats} of ${t.planned}`,
          est(t.saturation.estimate, fmtRate),
          pct(t.saturation.estimate.confidence),
          t.saturation.note ?? '',
        ]),
      ]),
    );
    const server = w.targets.some((t) => t.steps.some((s) => s.server !== undefined));
    out.push('', `Per step (medians [interval]; latency from the intended send time, ms):`);
    out.push(
      table([
        ['target', `rate ${unit}`, 'n', `${WORDS[w.protocol].replyRate} ${unit}`, 'p50 ms', 'p99 ms', 'failures', ...(server ? ['server CPU/s', 'µs CPU/req'] : [])],
        ...w.targets.flatMap((t) =>
          t.steps.map((s) => [
            t.target,
            fmtRate(s.targetRate),
            String(s.repeats),
            est(s.replyRate, fmtRate),
            est(s.p50Ms, fmtMs),
            est(s.p99Ms, fmtMs),
            est(s.errorRatio, ratioPct),
            ...(server ? [est(s.server?.cpuPerSecond ?? null, (v) => v.toFixed(3)), est(s.server?.cpuPerRequestUs ?? null, (v) => v.toFixed(1))] : []),
          ]),
        ),
      ]),
    );
    if (w.comparisons.length > 0) {
      out.push('', `Comparisons (ratio of median saturation, ${pct(summary.confidence)} bootstrap interval):`);
      for (const c of w.comparisons) out.push(`  ${c.text}${c.notes.length === 0 ? '' : ` — ${c.notes.join('; ')}`}`);
    }
  }
  if (summary.missing.length > 0) {
    out.push('', `Cells without a result (${summary.missing.length}):`);
    for (const m of summary.missing) out.push(`  ${m.id}: ${m.status}${m.error === undefined ? '' : ` (${m.error})`}`);
  }
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------- JSON

/** The summary object as it is (schema "tsload-experiment-summary/1"), two-space indent, final newline. */
export function formatExperimentJson(summary: ExperimentSummary): string {
  return `${JSON.stringify(summary, null, 2)}\n`;
}

// ---------------------------------------------------------------- CSV

const METRICS = ['replyRate', 'p50Ms', 'p99Ms', 'errorRatio'] as const;
const SERVER_METRICS = ['cpuPerSecond', 'cpuPerRequestUs', 'rssBytesMax'] as const;

export const EXPERIMENT_CSV_COLUMNS = [
  'workload',
  'protocol',
  'target',
  'repeats',
  'saturationMedian',
  'saturationLo',
  'saturationHi',
  'saturationConfidence',
  'saturationFloors',
  'targetRate',
  'stepRepeats',
  ...METRICS.flatMap((m) => [`${m}Median`, `${m}Lo`, `${m}Hi`, `${m}Confidence`, `${m}N`]),
  ...SERVER_METRICS.flatMap((m) => [`${m}Median`, `${m}Lo`, `${m}Hi`]),
] as const;

/**
 * One row per workload × target × planned step, full precision; an interval
 * a metric has no data for (latency of a step without replies, server figures
 * not sampled) is empty. Quoted as RFC 4180 says, LF line ends (as csv.ts).
 */
export function formatExperimentCsv(summary: ExperimentSummary): string {
  const lines = [EXPERIMENT_CSV_COLUMNS.join(',')];
  for (const w of summary.workloads) {
    for (const t of w.targets) {
      const sat = t.saturation.estimate;
      for (const s of t.steps) {
        const cells: Array<string | number> = [w.workload, w.protocol, t.target, t.repeats, sat.median, sat.lo, sat.hi, sat.confidence, t.saturation.floors, s.targetRate, s.repeats];
        for (const m of METRICS) {
          const e = s[m];
          cells.push(...(e === null ? ['', '', '', '', 0] : [e.median, e.lo, e.hi, e.confidence, e.n]));
        }
        for (const m of SERVER_METRICS) {
          const e = s.server?.[m] ?? null;
          cells.push(...(e === null ? ['', '', ''] : [e.median, e.lo, e.hi]));
        }
        lines.push(cells.map(csvField).join(','));
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- charts

export type ExperimentChartKind = 'replyRate' | 'latency' | 'server';

export interface ExperimentChart {
  /** File-name safe: "<workload>-reply-rate", "<workload>-latency". */
  id: string;
  workload: string;
  protocol: WorkloadSummary['protocol'];
  kind: ExperimentChartKind;
  title: string;
  /** Targets, best first: the series, in legend order. */
  series: string[];
  spec: TopLevelSpec;
}

const WIDTH = 640;
const HEIGHT = 300;
const CHART_WORDS = {
  http: { rate: 'request rate (req/s)', reply: 'reply rate (replies/s)' },
  dns: { rate: 'query rate (queries/s)', reply: 'response rate (responses/s)' },
} as const;

/** Two charts per workload, in summary order, and a third of the server's side (the study's figure 4) where the steps carry it. */
export function experimentCharts(summary: ExperimentSummary): ExperimentChart[] {
  return summary.workloads.flatMap((w) => {
    const server = serverChart(w);
    return server === undefined ? [replyRateChart(w), latencyChart(w)] : [replyRateChart(w), latencyChart(w), server];
  });
}

/**
 * The performance model's three resources against the request rate: the
 * server's CPU (cores busy), its resident memory and the link's busier
 * direction, one panel each, every target a median line over its interval band.
 */
function serverChart(w: WorkloadSummary): ExperimentChart | undefined {
  const panels = [
    { key: 'cpuPerSecond', title: 'server CPU (cores busy)', scale: 1 },
    { key: 'rssBytesMax', title: 'server resident memory (MiB)', scale: 1 / 2 ** 20 },
    { key: 'linkShare', title: 'link use, busier direction (% of rate)', scale: 100 },
  ] as const;
  const values = w.targets.flatMap((t) =>
    t.steps.flatMap((s) =>
      panels.flatMap((p) => {
        const e = s.server?.[p.key];
        return e == null ? [] : [{ series: t.target, x: s.targetRate, panel: p.title, median: e.median * p.scale, lo: e.lo * p.scale, hi: e.hi * p.scale }];
      }),
    ),
  );
  if (values.length === 0) return undefined;
  const words = CHART_WORDS[w.protocol];
  const x = { field: 'x', type: 'quantitative', title: words.rate, scale: { zero: true } };
  const y = { type: 'quantitative', title: null };
  const present = panels.filter((p) => values.some((v) => v.panel === p.title)).map((p) => p.title);
  const title = `${w.workload} (${w.protocol.toUpperCase()}): the server's CPU, memory and link vs ${words.rate.replace(/ \(.*/, '')}`;
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: ['lines: medians over the repeats; bands: their intervals; read in the testbed from the target\'s cgroup (or /proc) and the link\'s counters'], anchor: 'start', subtitleColor: '#444' },
    background: 'white',
    padding: 8,
    data: { values },
    facet: { row: { field: 'panel', type: 'nominal', title: null, sort: present, header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelFontSize: 12 } } },
    spec: { width: WIDTH, height: 160, layer: bandAndLine(w, x, y) },
    resolve: { scale: { y: 'independent' } },
    config: { font: 'sans-serif', legend: { orient: 'right', labelLimit: 220 }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14, subtitleFontSize: 11 } },
  } as unknown as TopLevelSpec;
  return { id: `${safeId(w.workload)}-server`, workload: w.workload, protocol: w.protocol, kind: 'server', title, series: w.targets.map((t) => t.target), spec };
}

function safeId(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]+/g, '_');
}

function colorOf(w: WorkloadSummary): object {
  return { field: 'series', type: 'nominal', title: 'target', scale: { domain: w.targets.map((t) => t.target), scheme: 'tableau10' } };
}

/** The band (interval of the median, lo..hi) under the line (the median) for each series. */
function bandAndLine(w: WorkloadSummary, x: object, y: object, dash?: object): object[] {
  const color = colorOf(w);
  const dashed = dash === undefined ? {} : { strokeDash: dash };
  return [
    {
      mark: { type: 'area', opacity: 0.18 },
      encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color, ...(dash === undefined ? {} : { detail: { field: 'percentile' } }) },
    },
    { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { ...y, field: 'median' }, color, ...dashed } },
    { mark: { type: 'point', filled: true, size: 24, opacity: 1 }, encoding: { x, y: { ...y, field: 'median' }, color } },
  ];
}

function subtitle(w: WorkloadSummary): string[] {
  const levels = [...new Set(w.targets.flatMap((t) => t.steps.map((s) => pct(s.replyRate.confidence))))].join(', ');
  const n = [...new Set(w.targets.map((t) => t.repeats))].join(', ');
  const sat = w.targets.map((t) => `${t.target} ${fmtRate(t.saturation.estimate.median)}/s${t.saturation.floors > 0 ? ' (floor)' : ''}`).join(', ');
  return [`lines: medians of ${n} repeats; bands: their distribution-free intervals (${levels} confidence)`, `median saturation (on the reply-rate chart a dashed rule, its interval a faint column): ${sat}`];
}

function top(title: string, sub: string[], values: object[], layer: object[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: sub, anchor: 'start', subtitleColor: '#444' },
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    padding: 8,
    data: { values },
    layer,
    config: { font: 'sans-serif', legend: { orient: 'right', labelLimit: 220 }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14, subtitleFontSize: 11 } },
  } as TopLevelSpec;
}

/** The interval of each target's median saturation rate, as a faint column behind everything (none where it is one rate). */
function saturationColumns(w: WorkloadSummary): object[] {
  const values = w.targets
    .filter((t) => t.saturation.estimate.hi > t.saturation.estimate.lo)
    .map((t) => ({ series: t.target, lo: t.saturation.estimate.lo, hi: t.saturation.estimate.hi }));
  if (values.length === 0) return [];
  return [{ data: { values }, mark: { type: 'rect', opacity: 0.08 }, encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' }, color: colorOf(w) } }];
}

function replyRateChart(w: WorkloadSummary): ExperimentChart {
  const words = CHART_WORDS[w.protocol];
  const values = w.targets.flatMap((t) => t.steps.map((s) => ({ series: t.target, x: s.targetRate, median: s.replyRate.median, lo: s.replyRate.lo, hi: s.replyRate.hi })));
  const maxRate = Math.max(1, ...values.map((v) => Math.max(v.x, v.hi)));
  const x = { field: 'x', type: 'quantitative', title: words.rate, scale: { zero: true } };
  const y = { type: 'quantitative', title: words.reply };
  const title = `${w.workload} (${w.protocol.toUpperCase()}): ${words.reply.replace(/ \(.*/, '')} vs ${words.rate.replace(/ \(.*/, '')}`;
  const layers: object[] = [
    {
      // Every request answered: not a series, so no color and no legend entry.
      data: { values: [{ x: 0, median: 0 }, { x: maxRate, median: maxRate }] },
      mark: { type: 'line', color: '#888', strokeDash: [5, 4], strokeWidth: 1 },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'median', type: 'quantitative' } },
    },
    ...saturationColumns(w),
    ...bandAndLine(w, x, y),
    {
      // Each target's median saturation rate, in its color (dashed: a rate, not a measurement).
      data: { values: w.targets.map((t) => ({ series: t.target, x: t.saturation.estimate.median })) },
      mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5, opacity: 0.8 },
      encoding: { x: { field: 'x', type: 'quantitative' }, color: colorOf(w) },
    },
  ];
  return { id: `${safeId(w.workload)}-reply-rate`, workload: w.workload, protocol: w.protocol, kind: 'replyRate', title, series: w.targets.map((t) => t.target), spec: top(title, subtitle(w), values, layers) };
}

function latencyChart(w: WorkloadSummary): ExperimentChart {
  const words = CHART_WORDS[w.protocol];
  // A log axis cannot show 0, and a step without replies has no latency: both break the line (null).
  const positive = (v: number | undefined): number | null => (v !== undefined && v > 0 ? v : null);
  const values = w.targets.flatMap((t) =>
    t.steps.flatMap((s) =>
      (['p50', 'p99'] as const).map((p) => {
        const e = p === 'p50' ? s.p50Ms : s.p99Ms;
        return { series: t.target, x: s.targetRate, percentile: p, median: positive(e?.median), lo: positive(e?.lo), hi: positive(e?.hi) };
      }),
    ),
  );
  const x = { field: 'x', type: 'quantitative', title: words.rate, scale: { zero: true } };
  const y = { type: 'quantitative', title: 'latency (ms, log scale)', scale: { type: 'log' }, axis: { format: '~g' } };
  const dash = { field: 'percentile', type: 'nominal', title: 'percentile', scale: { domain: ['p50', 'p99'], range: [[1, 0], [4, 3]] }, legend: { symbolType: 'stroke', symbolStrokeColor: '#333' } };
  const title = `${w.workload} (${w.protocol.toUpperCase()}): latency p50 and p99 vs ${words.rate.replace(/ \(.*/, '')}`;
  const slos = [...new Set(w.targets.map((t) => t.criteria.sloP99Ms))].filter((v) => v > 0);
  const layers: object[] = [
    ...bandAndLine(w, x, y, dash),
    ...slos.map((slo) => ({
      data: { values: [{ median: slo }] },
      mark: { type: 'rule', color: '#888', strokeDash: [2, 3] },
      encoding: { y: { field: 'median', type: 'quantitative' } },
    })),
  ];
  return { id: `${safeId(w.workload)}-latency`, workload: w.workload, protocol: w.protocol, kind: 'latency', title, series: w.targets.map((t) => t.target), spec: top(title, subtitle(w), values, layers) };
}

// ---------------------------------------------------------------- HTML

const CSS = `${BASE_CSS}
.same { color: #a60; }
`;

/** The experiment's one HTML page: self-contained (inline SVG and CSS, no script, CSP default-src 'none'), as html.ts's report. */
export async function renderExperimentHtml(summary: ExperimentSummary, options: { title?: string } = {}): Promise<string> {
  const charts = experimentCharts(summary);
  const svgs: string[] = [];
  for (const chart of charts) svgs.push(await renderSvg(chart.spec));
  const heading = options.title ?? `tsload experiment: ${summary.workloads.map((w) => w.workload).join(', ') || 'no results'}`;
  const parts: string[] = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(heading)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    `<h1>${esc(heading)}</h1>`,
    `<p class="meta">${esc(metaLine(summary))}</p>`,
    comparisonsSection(summary),
    saturationSection(summary),
  ];
  for (const w of summary.workloads) {
    parts.push(`<section id="workload-${esc(safeId(w.workload))}" data-workload="${esc(w.workload)}" data-protocol="${w.protocol}">`, `<h2>${esc(w.workload)} (${w.protocol.toUpperCase()})</h2>`);
    charts.forEach((chart, i) => {
      if (chart.workload !== w.workload) return;
      parts.push(
        `<figure id="${esc(chart.id)}" data-chart="${esc(chart.id)}" data-kind="${chart.kind}" data-series="${esc(JSON.stringify(chart.series))}">`,
        svgs[i]!,
        `<figcaption>${esc(chart.title)}</figcaption>`,
        '</figure>',
      );
    });
    parts.push(stepsTable(w), '</section>');
  }
  parts.push(machineSection(summary), missingSection(summary), '</body>', '</html>', '');
  return parts.join('\n');
}

function metaLine(s: ExperimentSummary): string {
  const cells = s.workloads.reduce((n, w) => n + w.targets.reduce((m, t) => m + t.repeats, 0), 0);
  const when = s.source.createdAt === null ? '' : `, started ${s.source.createdAt}`;
  const plan = s.source.planFile === null ? '' : ` of ${s.source.planFile}`;
  return `${cells} results${plan}${when}. Medians across repeats; intervals distribution-free from order statistics (asked ${pct(s.confidence)}, each at the level its repeats reach); ratios by a seeded bootstrap.`;
}

function comparisonsSection(s: ExperimentSummary): string {
  const rows = s.workloads.flatMap((w) =>
    w.comparisons.map((c) =>
      `<tr${c.overlapsOne ? ' class="same"' : ''}><td>${esc(w.workload)}</td><td class="text">${esc(c.a)} vs ${esc(c.b)}</td><td>${c.ratio === null ? 'n/a' : `${esc(ratioText(c.ratio))}×`}</td><td>${c.lo === null ? '?' : esc(ratioText(c.lo))}–${c.hi === null ? '∞' : esc(ratioText(c.hi))}</td><td class="text">${esc(c.notes.join('; '))}</td></tr>`,
    ),
  );
  if (rows.length === 0) return '';
  return [
    '<section id="comparisons">',
    '<h2>Comparisons</h2>',
    `<p>Ratio of the median saturation rates, with a ${pct(s.confidence)} bootstrap interval (repeats of each target resampled independently, ${s.bootstrap.resamples} times).</p>`,
    '<table>',
    trHead(['workload', 'pair', 'saturation ratio', 'interval', 'notes']),
    ...rows,
    '</table>',
    '</section>',
  ].join('\n');
}

function ratioText(v: number): string {
  return String(Number(v.toPrecision(3)));
}

function saturationSection(s: ExperimentSummary): string {
  const rows = s.workloads.flatMap((w) =>
    w.targets.map((t) =>
      tr([
        w.workload,
        t.target,
        t.endpoint,
        t.planned === t.repeats ? String(t.repeats) : `${t.repeats} of ${t.planned}`,
        `${est(t.saturation.estimate, fmtRate)} ${WORDS[t.protocol].shortUnit}`,
        pct(t.saturation.estimate.confidence),
        t.saturation.repeats.map((r) => `r${r.repeat}: ${fmtRate(r.value)}${r.kind === 'measured' ? '' : ` (${r.kind})`}`).join(', '),
        t.saturation.note ?? '',
      ], true),
    ),
  );
  return ['<section id="saturation">', '<h2>Saturation points</h2>', '<table>', trHead(['workload', 'target', 'endpoint', 'repeats', 'saturation [interval]', 'confidence', 'per repeat', 'notes']), ...rows, '</table>', '</section>'].join('\n');
}

function stepsTable(w: WorkloadSummary): string {
  const server = w.targets.some((t) => t.steps.some((s) => s.server !== undefined));
  const row = (t: TargetSummary, s: StepSummary): string =>
    tr([
      t.target,
      fmtRate(s.targetRate),
      String(s.repeats),
      est(s.replyRate, fmtRate),
      est(s.p50Ms, fmtMs),
      est(s.p99Ms, fmtMs),
      est(s.errorRatio, ratioPct),
      ...(server ? [est(s.server?.cpuPerSecond ?? null, (v) => v.toFixed(3)), est(s.server?.cpuPerRequestUs ?? null, (v) => v.toFixed(1)), est(s.server?.rssBytesMax ?? null, (v) => `${(v / 1048576).toFixed(1)} MiB`)] : []),
    ]);
  return [
    '<table>',
    trHead(['target', 'rate /s', 'n', 'reply rate /s', 'p50 ms', 'p99 ms', 'failures', ...(server ? ['server CPU/s', 'µs CPU/req', 'RSS max'] : [])]),
    ...w.targets.flatMap((t) => t.steps.map((s) => row(t, s))),
    '</table>',
  ].join('\n');
}

function machineSection(s: ExperimentSummary): string {
  const rows: string[][] = [];
  const m = s.machine;
  if (m !== null) {
    rows.push(['host', m.hostname], ['kernel', m.kernel], ['OS', m.os], ['CPU', `${m.cpu} (${m.cpus} CPUs)`], ['memory', `${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB`], ['Node', m.node]);
  }
  if (s.versions !== null) {
    rows.push(['tsload', s.versions.tsload]);
    for (const [name, version] of Object.entries(s.versions.servers ?? {})) rows.push([name, version]);
  }
  if (s.testbed !== null) rows.push(['testbed link', Object.entries(s.testbed).map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(', ')]);
  if (rows.length === 0) return '';
  return ['<section id="machine">', '<h2>Machine and versions</h2>', '<table>', ...rows.map((r) => tr(r, true)), '</table>', '</section>'].join('\n');
}

function missingSection(s: ExperimentSummary): string {
  if (s.missing.length === 0) return '';
  return [
    '<section id="missing">',
    '<h2>Cells without a result</h2>',
    '<table>',
    trHead(['cell', 'status', 'error']),
    ...s.missing.map((m) => tr([m.id, m.status, m.error ?? ''], true)),
    '</table>',
    '</section>',
  ].join('\n');
}

function trHead(cells: readonly string[]): string {
  return `<tr>${cells.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
}

/** `allText`: every cell is left-aligned prose; else only the first and those that read as words. */
function tr(cells: readonly string[], allText = false): string {
  return `<tr>${cells.map((c, i) => `<td${allText || i === 0 || /[a-z]{3}/i.test(c) ? ' class="text"' : ''}>${esc(c)}</td>`).join('')}</tr>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
