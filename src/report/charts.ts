/**
 * The study's figures as Vega-Lite specs, built from results alone, and their
 * rendering to SVG by Vega's headless view (no browser, no canvas, no network).
 *
 * Per protocol: reply rate vs request rate (with the ideal y = x), latency
 * percentiles vs request rate (log axis), errors/timeouts/drops vs request rate;
 * for constant-rate runs (one step) latency and throughput over time; and for
 * testbed results the server's CPU, memory and link use vs request rate.
 * Several results overlay as series named by `result.label`; every chart also
 * carries the table of the figures it plots, for the HTML report.
 */
import type { Loader } from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import type { Result, Saturation, ServerFigures, StepBase } from '../result.js';
import { failureRatio } from '../measure/saturation.js';

export type Protocol = Result['protocol'];
export type ChartKind = 'replyRate' | 'latency' | 'errors' | 'latencyOverTime' | 'throughputOverTime' | 'serverCpu' | 'serverMemory' | 'link';

export interface ChartTable {
  columns: string[];
  /** Formatted cells, one row per step (or per second) per series. */
  rows: string[][];
}

export interface Chart {
  /** Stable, file-name safe: e.g. "http-reply-rate", "dns-latency-over-time". */
  id: string;
  protocol: Protocol;
  kind: ChartKind;
  title: string;
  /** Names of the overlaid series (the results' labels, made unique), in legend order. */
  series: string[];
  spec: TopLevelSpec;
  table: ChartTable;
}

const WIDTH = 640;
/** Legend for a strokeDash channel: a dark stroke sample (the default would take the absent color and draw nothing). */
const DASH_LEGEND = { symbolType: 'stroke', symbolStrokeColor: '#333', symbolStrokeWidth: 2, symbolSize: 400 } as const;
/** Sweep charts share an x axis from 0, as the study's figures do, so they line up and compare. */
const RATE_X = { field: 'x', type: 'quantitative', scale: { zero: true } } as const;
const HEIGHT = 300;
const PERCENTILES = ['p50', 'p90', 'p99', 'p99.9'] as const;
const DASHES = {
  p50: [1, 0],
  p90: [8, 3],
  p99: [3, 3],
  'p99.9': [1, 3],
  errors: [1, 0],
  timeouts: [6, 3],
  lost: [6, 3],
  dropped: [2, 2],
  sent: [6, 3],
  completed: [1, 0],
  rss: [1, 0],
  charged: [6, 3],
  'to server': [6, 3],
  'to client': [1, 0],
} as const satisfies Record<string, number[]>;

interface Words {
  rate: string;
  reply: string;
  timeouts: 'timeouts' | 'lost';
  requests: string;
}

const WORDS: Record<Protocol, Words> = {
  http: { rate: 'request rate (req/s)', reply: 'reply rate (replies/s)', timeouts: 'timeouts', requests: 'requests' },
  dns: { rate: 'query rate (queries/s)', reply: 'response rate (responses/s)', timeouts: 'lost', requests: 'queries' },
};

/** Labels made unique (a second "nginx" becomes "nginx (2)"), so series never merge by accident. */
export function seriesLabels(results: readonly Pick<Result, 'label' | 'target'>[]): string[] {
  const seen = new Map<string, number>();
  return results.map((r) => {
    const base = r.label === '' ? r.target : r.label;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base} (${n})`;
  });
}

interface Series {
  name: string;
  result: Result;
}

/** Every chart for these results, grouped by protocol (http first), in report order. */
export function buildCharts(results: readonly Result[]): Chart[] {
  const names = seriesLabels(results);
  const all: Series[] = results.map((result, i) => ({ name: names[i] ?? result.label, result }));
  const charts: Chart[] = [];
  for (const protocol of ['http', 'dns'] as const) {
    const series = all.filter((s) => s.result.protocol === protocol);
    if (series.length === 0) continue;
    charts.push(replyRateChart(protocol, series), latencyChart(protocol, series), errorsChart(protocol, series));
    // Constant-rate runs are single-step results; their per-second timeline is what to look at.
    const constant = series.filter((s) => s.result.steps.length === 1 && (s.result.steps[0]?.timeline.length ?? 0) > 0);
    if (constant.length > 0) charts.push(latencyOverTimeChart(protocol, constant), throughputOverTimeChart(protocol, constant));
    // The study's figure 4: what the server used, for results with testbed server figures.
    const served = series.filter((s) => s.result.steps.some((step) => step.server !== undefined));
    if (served.length > 0) charts.push(serverCpuChart(protocol, served), serverMemoryChart(protocol, served));
    const linked = served.filter((s) => s.result.steps.some((step) => step.server?.link != null));
    if (linked.length > 0) charts.push(linkChart(protocol, linked));
  }
  return charts;
}

/** Vega-Lite → Vega → SVG string, headless. The loader refuses every fetch: a chart is made from its inline data only. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Imported here, not at the top: Vega and Vega-Lite are most of what `import 'tsload'`
  // would cost, and only a report needs them.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const runtime = vega.parse(compile(spec).spec);
  const view = new vega.View(runtime, { renderer: 'none', loader: offlineLoader, logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const refuse = (uri: string): Promise<never> => Promise.reject(new Error(`tsload charts load nothing from outside (asked for ${uri})`));
const offlineLoader: Loader = { load: refuse, sanitize: refuse, http: refuse, file: refuse };

// ---------------------------------------------------------------- the charts

function replyRateChart(protocol: Protocol, series: Series[]): Chart {
  const w = WORDS[protocol];
  const rows = stepRows(series, (s, step) => ({ x: step.targetRate, reply: step.replyRate, send: step.sendRate }));
  const maxRate = Math.max(1, ...rows.map((r) => Math.max(r.x, r.reply)));
  const marks = saturationMarks(series, (step) => step.replyRate);
  const title = `${w.reply.replace(/ \(.*/, '')} vs ${w.rate.replace(/ \(.*/, '')}`;
  const layers: object[] = [
    {
      // The ideal: every request answered. Not a series, so it has no color and stays out of the legend.
      data: { values: [{ x: 0, reply: 0 }, { x: maxRate, reply: maxRate }] },
      mark: { type: 'line', color: '#888', strokeDash: [5, 4], strokeWidth: 1 },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'reply', type: 'quantitative' } },
    },
    {
      mark: { type: 'line', point: true, strokeWidth: 2 },
      encoding: {
        x: { ...RATE_X, title: w.rate },
        y: { field: 'reply', type: 'quantitative', title: w.reply },
        color: colorOf(series),
      },
    },
    {
      data: { values: [{ x: maxRate * 0.9, reply: maxRate * 0.9, text: 'ideal y = x' }] },
      mark: { type: 'text', align: 'left', dx: 6, dy: 4, color: '#666', fontSize: 10 },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'reply', type: 'quantitative' }, text: { field: 'text' } },
    },
  ];
  layers.push(...saturationRuleLayers(series));
  if (marks.length > 0) {
    layers.push({
      data: { values: marks.map((m) => ({ series: m.series, x: m.rate, reply: m.y })) },
      mark: { type: 'point', shape: 'diamond', size: 160, filled: true, stroke: '#000', strokeWidth: 1, opacity: 1 },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'reply', type: 'quantitative' }, color: colorOf(series) },
    });
  }
  return {
    id: `${protocol}-reply-rate`,
    protocol,
    kind: 'replyRate',
    title: `${protocol.toUpperCase()}: ${title}`,
    series: series.map((s) => s.name),
    spec: top(protocol, series, title, rows, layers),
    table: {
      columns: ['series', 'target rate /s', 'send rate /s', 'reply rate /s', 'reply / target'],
      rows: rows.map((r) => [r.series, fmtRate(r.x), fmtRate(r.send), fmtRate(r.reply), r.x > 0 ? fmtPercent(r.reply / r.x) : '–']),
    },
  };
}

function latencyChart(protocol: Protocol, series: Series[]): Chart {
  const w = WORDS[protocol];
  const perStep = stepRows(series, (s, step) => ({
    x: step.targetRate,
    count: step.latencyMs.count,
    p50: step.latencyMs.p50,
    p90: step.latencyMs.p90,
    p99: step.latencyMs.p99,
    'p99.9': step.latencyMs.p999,
    max: step.latencyMs.max,
  }));
  // Long form for the plot. A step with no reply has no latency: null breaks the line there
  // (Vega-Lite's default for invalid values on lines) instead of joining its neighbours, and a log axis cannot show 0.
  const values = perStep.flatMap((r) =>
    PERCENTILES.map((p) => ({ series: r.series, x: r.x, percentile: p, ms: r.count > 0 && r[p] > 0 ? r[p] : null })),
  );
  const slos = [...new Set(series.map((s) => s.result.saturation.criteria.sloP99Ms))].filter((v) => v > 0);
  const layers: object[] = [
    ...dashedLines(
      { ...RATE_X, title: w.rate },
      { field: 'ms', type: 'quantitative', title: 'latency (ms, log scale)', scale: { type: 'log' }, axis: { format: '~g' } },
      series,
      { field: 'percentile', title: 'percentile', domain: [...PERCENTILES] },
      true,
    ),
    ...sloLayers(slos),
    ...saturationRuleLayers(series),
  ];
  return {
    id: `${protocol}-latency`,
    protocol,
    kind: 'latency',
    title: `${protocol.toUpperCase()}: latency percentiles vs ${w.rate.replace(/ \(.*/, '')}`,
    series: series.map((s) => s.name),
    spec: top(protocol, series, `latency percentiles vs ${w.rate.replace(/ \(.*/, '')}`, values, layers),
    table: {
      columns: ['series', 'target rate /s', 'replies', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms'],
      rows: perStep.map((r) => [r.series, fmtRate(r.x), String(r.count), ...[r.p50, r.p90, r.p99, r['p99.9'], r.max].map((v) => (r.count > 0 ? fmtMs(v) : '–'))]),
    },
  };
}

function errorsChart(protocol: Protocol, series: Series[]): Chart {
  const w = WORDS[protocol];
  const perStep = stepRows(series, (s, step) => ({
    x: step.targetRate,
    sent: step.sent,
    errors: step.errors.total,
    timeouts: step.timeouts,
    dropped: step.dropped,
    arrivals: step.sent + step.dropped,
    ratio: failureRatio(step),
  }));
  const kinds = ['errors', w.timeouts, 'dropped'] as const;
  // Shares of arrivals (sent + dropped), so steps at different rates compare and the saturation bound reads off directly.
  const values = perStep.flatMap((r) =>
    kinds.map((k) => ({
      series: r.series,
      x: r.x,
      kind: k,
      percent: r.arrivals > 0 ? (100 * (k === 'errors' ? r.errors : k === 'dropped' ? r.dropped : r.timeouts)) / r.arrivals : 0,
    })),
  );
  const bounds = [...new Set(series.map((s) => s.result.saturation.criteria.maxErrorRatio))];
  const layers: object[] = [
    ...dashedLines(
      { ...RATE_X, title: w.rate },
      { field: 'percent', type: 'quantitative', title: `share of ${w.requests} (%)` },
      series,
      { field: 'kind', title: 'failure', domain: [...kinds] },
      true,
    ),
    ...bounds.map((b) => ({
      data: { values: [{ percent: b * 100, text: `bound ${fmtPercent(b)}` }] },
      layer: [
        { mark: { type: 'rule', color: '#888', strokeDash: [2, 3] }, encoding: { y: { field: 'percent', type: 'quantitative' } } },
        {
          mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#666', fontSize: 10, x: 0 },
          encoding: { y: { field: 'percent', type: 'quantitative' }, text: { field: 'text' } },
        },
      ],
    })),
    ...saturationRuleLayers(series),
  ];
  return {
    id: `${protocol}-errors`,
    protocol,
    kind: 'errors',
    title: `${protocol.toUpperCase()}: errors, ${w.timeouts} and drops vs ${w.rate.replace(/ \(.*/, '')}`,
    series: series.map((s) => s.name),
    spec: top(protocol, series, `errors, ${w.timeouts} and drops vs ${w.rate.replace(/ \(.*/, '')}`, values, layers),
    table: {
      columns: ['series', 'target rate /s', 'sent', 'errors', w.timeouts, 'dropped', 'failures'],
      rows: perStep.map((r) => [r.series, fmtRate(r.x), String(r.sent), String(r.errors), String(r.timeouts), String(r.dropped), fmtPercent(r.ratio)]),
    },
  };
}

function latencyOverTimeChart(protocol: Protocol, series: Series[]): Chart {
  const points = timelineRows(series);
  const values = points.flatMap((p) =>
    // A second without replies has no latency: null breaks the line there (see latencyChart).
    (['p50', 'p99'] as const).map((k) => {
      const ms = k === 'p50' ? p.p50Ms : p.p99Ms;
      return { series: p.series, t: p.t, percentile: k, ms: p.completed > 0 && ms > 0 ? ms : null };
    }),
  );
  const layers = dashedLines(
    { field: 't', type: 'quantitative', title: 'time (s)', axis: { tickMinStep: 1, format: 'd' } },
    { field: 'ms', type: 'quantitative', title: 'latency (ms, log scale)', scale: { type: 'log' }, axis: { format: '~g' } },
    series,
    { field: 'percentile', title: 'percentile', domain: ['p50', 'p99'] },
    false,
  );
  return {
    id: `${protocol}-latency-over-time`,
    protocol,
    kind: 'latencyOverTime',
    title: `${protocol.toUpperCase()}: latency over time (constant-rate runs)`,
    series: series.map((s) => s.name),
    spec: top(protocol, series, 'latency over time (constant-rate runs)', values, layers, constantSubtitle(series)),
    table: {
      columns: ['series', 't (s)', 'p50 ms', 'p99 ms', 'max ms'],
      rows: points.map((p) => [p.series, String(p.t), ...(p.completed > 0 ? [fmtMs(p.p50Ms), fmtMs(p.p99Ms), fmtMs(p.maxMs)] : ['–', '–', '–'])]),
    },
  };
}

function throughputOverTimeChart(protocol: Protocol, series: Series[]): Chart {
  const w = WORDS[protocol];
  const points = timelineRows(series);
  // Each timeline point covers one second, so its counts are per-second rates.
  const values = points.flatMap((p) =>
    (['sent', 'completed'] as const).map((k) => ({ series: p.series, t: p.t, kind: k, perS: k === 'sent' ? p.sent : p.completed })),
  );
  const layers = dashedLines(
    { field: 't', type: 'quantitative', title: 'time (s)', axis: { tickMinStep: 1, format: 'd' } },
    { field: 'perS', type: 'quantitative', title: `${w.requests} per second` },
    series,
    { field: 'kind', title: 'per second', domain: ['sent', 'completed'] },
    false,
  );
  return {
    id: `${protocol}-throughput-over-time`,
    protocol,
    kind: 'throughputOverTime',
    title: `${protocol.toUpperCase()}: throughput over time (constant-rate runs)`,
    series: series.map((s) => s.name),
    spec: top(protocol, series, 'throughput over time (constant-rate runs)', values, layers, constantSubtitle(series)),
    table: {
      columns: ['series', 't (s)', 'sent', 'completed', 'errors', w.timeouts, 'dropped'],
      rows: points.map((p) => [p.series, String(p.t), String(p.sent), String(p.completed), String(p.errors), String(p.timeouts), String(p.dropped)]),
    },
  };
}

function serverCpuChart(protocol: Protocol, series: Series[]): Chart {
  const w = WORDS[protocol];
  const rows = serverRows(series, (f, step) => ({
    x: step.targetRate,
    reply: step.replyRate,
    cores: f.cpuPerSecond,
    available: f.coresAvailable,
    perRequest: f.cpuPerRequestUs,
  }));
  const available = [...new Set(rows.map((r) => r.available))];
  const layers: object[] = [
    {
      mark: { type: 'line', point: true, strokeWidth: 2 },
      encoding: { x: { ...RATE_X, title: w.rate }, y: { field: 'cores', type: 'quantitative', title: 'server CPU (cores busy)', scale: { zero: true } }, color: colorOf(series) },
    },
    // What the server may use: its cpuset's cores, or the machine's.
    ...available.map((n) => ({
      data: { values: [{ cores: n, text: `${n} core${n === 1 ? '' : 's'} available` }] },
      layer: [
        { mark: { type: 'rule', color: '#888', strokeDash: [2, 3] }, encoding: { y: { field: 'cores', type: 'quantitative' } } },
        { mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#666', fontSize: 10, x: 0 }, encoding: { y: { field: 'cores', type: 'quantitative' }, text: { field: 'text' } } },
      ],
    })),
    ...saturationRuleLayers(series),
  ];
  const title = `server CPU vs ${w.rate.replace(/ \(.*/, '')}`;
  return {
    id: `${protocol}-server-cpu`,
    protocol,
    kind: 'serverCpu',
    title: `${protocol.toUpperCase()}: ${title}`,
    series: series.map((s) => s.name),
    spec: top(protocol, series, title, rows, layers),
    table: {
      columns: ['series', 'target rate /s', 'reply rate /s', 'cores busy', 'of available', 'µs per reply'],
      rows: rows.map((r) => [r.series, fmtRate(r.x), fmtRate(r.reply), r.cores.toFixed(3), fmtPercent(r.cores / r.available), r.perRequest === null ? '–' : r.perRequest.toFixed(1)]),
    },
  };
}

function serverMemoryChart(protocol: Protocol, series: Series[]): Chart {
  const w = WORDS[protocol];
  const rows = serverRows(series, (f, step) => ({
    x: step.targetRate,
    rss: f.rssBytes.max / 2 ** 20,
    charged: f.memoryBytes === null ? null : f.memoryBytes.max / 2 ** 20,
    limit: f.memoryLimitBytes === null ? null : f.memoryLimitBytes / 2 ** 20,
  }));
  const values = rows.flatMap((r) => (['rss', 'charged'] as const).map((k) => ({ series: r.series, x: r.x, kind: k, mib: r[k] })));
  const layers = [
    ...dashedLines(
      { ...RATE_X, title: w.rate },
      { field: 'mib', type: 'quantitative', title: 'server memory, max in the window (MiB)', scale: { zero: true } },
      series,
      { field: 'kind', title: 'memory', domain: ['rss', 'charged'] },
      true,
    ),
    ...saturationRuleLayers(series),
  ];
  const title = `server memory vs ${w.rate.replace(/ \(.*/, '')}`;
  return {
    id: `${protocol}-server-memory`,
    protocol,
    kind: 'serverMemory',
    title: `${protocol.toUpperCase()}: ${title}`,
    series: series.map((s) => s.name),
    spec: top(protocol, series, title, values, layers, ['rss: anonymous resident memory; charged: what its cgroup is charged (with page cache), which a limit bounds']),
    table: {
      columns: ['series', 'target rate /s', 'rss MiB', 'charged MiB', 'limit MiB'],
      rows: rows.map((r) => [r.series, fmtRate(r.x), r.rss.toFixed(1), r.charged === null ? '–' : r.charged.toFixed(1), r.limit === null ? '–' : r.limit.toFixed(1)]),
    },
  };
}

function linkChart(protocol: Protocol, series: Series[]): Chart {
  const w = WORDS[protocol];
  const rows = serverRows(series, (f, step) => (f.link === null ? undefined : { x: step.targetRate, link: f.link }));
  const values = rows.flatMap((r) =>
    (['to server', 'to client'] as const).map((k) => ({ series: r.series, x: r.x, kind: k, percent: 100 * (k === 'to server' ? r.link.toServer : r.link.toClient).share })),
  );
  const layers = [
    ...dashedLines(
      { ...RATE_X, title: w.rate },
      { field: 'percent', type: 'quantitative', title: 'link use (% of the shaped rate)', scale: { zero: true } },
      series,
      { field: 'kind', title: 'direction', domain: ['to server', 'to client'] },
      true,
    ),
    ...saturationRuleLayers(series),
  ];
  const title = `link use vs ${w.rate.replace(/ \(.*/, '')}`;
  const mbit = (bytesPerS: number): string => ((bytesPerS * 8) / 1e6).toFixed(2);
  return {
    id: `${protocol}-link`,
    protocol,
    kind: 'link',
    title: `${protocol.toUpperCase()}: ${title}`,
    series: series.map((s) => s.name),
    spec: top(protocol, series, title, values, layers),
    table: {
      columns: ['series', 'target rate /s', 'link Mbit/s', 'to server Mbit/s', 'packets/s', 'to client Mbit/s', 'packets/s', 'tbf drops'],
      rows: rows.map((r) => [
        r.series,
        fmtRate(r.x),
        fmtRate(r.link.rateBitsPerSecond / 1e6),
        mbit(r.link.toServer.bytesPerS),
        r.link.toServer.packetsPerS.toFixed(0),
        mbit(r.link.toClient.bytesPerS),
        r.link.toClient.packetsPerS.toFixed(0),
        String(r.link.toServer.tbfDrops + r.link.toClient.tbfDrops),
      ]),
    },
  };
}

/** stepRows for the steps with server figures (and, for pick's undefined, without the part asked for). */
function serverRows<T extends object>(series: Series[], pick: (f: ServerFigures, step: StepBase) => T | undefined): (T & { series: string })[] {
  return stepRows(series, (_, step) => ({ row: step.server === undefined ? undefined : pick(step.server, step) }))
    .filter((r): r is { series: string; row: T } => r.row !== undefined)
    .map((r) => ({ series: r.series, ...r.row }));
}

// ---------------------------------------------------------------- helpers

/**
 * Lines colored by series and dashed by a second field (percentile, failure kind), plus
 * optional dots at the data points. The dots are a layer of their own: `point: true` on the
 * line would make Vega-Lite draw the dash legend's samples with a transparent stroke.
 */
function dashedLines(
  x: object,
  y: object,
  series: Series[],
  dash: { field: string; title: string; domain: (keyof typeof DASHES)[] },
  points: boolean,
): object[] {
  const lines = {
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x,
      y,
      color: colorOf(series),
      strokeDash: {
        field: dash.field,
        type: 'nominal',
        title: dash.title,
        scale: { domain: dash.domain, range: dash.domain.map((d) => DASHES[d]) },
        legend: DASH_LEGEND,
      },
    },
  };
  if (!points) return [lines];
  return [lines, { mark: { type: 'point', filled: true, size: 20, opacity: 1 }, encoding: { x, y, color: colorOf(series) } }];
}

function top(protocol: Protocol, series: Series[], title: string, values: object[], layer: object[], subtitle?: string[]): TopLevelSpec {
  const sub = subtitle ?? saturationSubtitle(series);
  // Cast once here: the layers are plain objects built above, and Vega-Lite validates them when compiling.
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `${protocol.toUpperCase()}: ${title}`, subtitle: sub, anchor: 'start', subtitleColor: '#444' },
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    padding: 8,
    data: { values },
    layer,
    config: {
      font: 'sans-serif',
      legend: { orient: 'right', labelLimit: 220 },
      axis: { labelFontSize: 11, titleFontSize: 12 },
      title: { fontSize: 14, subtitleFontSize: 11 },
    },
  } as TopLevelSpec;
}

/**
 * Same color for a series in every chart: the domain is the protocol's series list, in order.
 * Every layer uses this same definition so Vega-Lite merges them into one legend (a layer with
 * `legend: null` would suppress the merged legend altogether).
 */
function colorOf(series: Series[]): object {
  return { field: 'series', type: 'nominal', title: 'series', scale: { domain: series.map((s) => s.name), scheme: 'tableau10' } };
}

interface Mark {
  series: string;
  rate: number;
  y: number;
}

function saturationMarks(series: Series[], y: (step: StepBase) => number): Mark[] {
  const marks: Mark[] = [];
  for (const s of series) {
    const sat = s.result.saturation;
    const steps: readonly StepBase[] = s.result.steps;
    const step = sat.step === null ? undefined : steps[sat.step];
    if (sat.rate !== null && step !== undefined && s.result.steps.length > 1) marks.push({ series: s.name, rate: sat.rate, y: y(step) });
  }
  return marks;
}

/** A dashed vertical rule in the series' color at each sweep's saturation rate. */
function saturationRuleLayers(series: Series[]): object[] {
  const marks = saturationMarks(series, () => 0);
  if (marks.length === 0) return [];
  return [
    {
      data: { values: marks.map((m) => ({ series: m.series, x: m.rate })) },
      mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5, opacity: 0.8 },
      encoding: { x: { field: 'x', type: 'quantitative' }, color: colorOf(series) },
    },
  ];
}

function sloLayers(slos: number[]): object[] {
  return slos.map((slo) => ({
    data: { values: [{ ms: slo, text: `p99 bound ${fmtMs(slo)} ms` }] },
    layer: [
      { mark: { type: 'rule', color: '#888', strokeDash: [2, 3] }, encoding: { y: { field: 'ms', type: 'quantitative' } } },
      {
        mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#666', fontSize: 10, x: 0 },
        encoding: { y: { field: 'ms', type: 'quantitative' }, text: { field: 'text' } },
      },
    ],
  }));
}

function saturationSubtitle(series: Series[]): string[] {
  const parts = series
    .filter((s) => s.result.steps.length > 1)
    .map((s) => `${s.name}: ${saturationShort(s.result.saturation, s.result.steps)}`);
  if (parts.length === 0) return [];
  const marked = saturationMarks(series, () => 0).length > 0;
  return [`saturation${marked ? ' (◆ and dashed rule)' : ''} — ${parts.join('; ')}`];
}

function constantSubtitle(series: Series[]): string[] {
  return [series.map((s) => `${s.name} at ${fmtRate(s.result.steps[0]?.targetRate ?? 0)}/s`).join('; ')];
}

const CRITERION_SHORT = { replyRate: 'reply rate', errors: 'errors', p99: 'p99' } as const;

/** "4000/s (reply rate failed at 4500/s)", "none (…)", "not reached (…)" — the short form for chart subtitles. */
export function saturationShort(sat: Saturation, steps: readonly Pick<StepBase, 'targetRate'>[]): string {
  if (sat.failedCriterion === null) return sat.rate === null ? 'no steps' : `not reached (every step passed, up to ${fmtRate(sat.rate)}/s)`;
  const at = sat.failedAt === null ? undefined : steps[sat.failedAt]?.targetRate;
  const why = `${CRITERION_SHORT[sat.failedCriterion]} failed${at === undefined ? '' : ` at ${fmtRate(at)}/s`}`;
  return sat.rate === null ? `none (${why})` : `${fmtRate(sat.rate)}/s (${why})`;
}

function stepRows<T extends object>(series: Series[], pick: (s: Series, step: StepBase) => T): (T & { series: string })[] {
  return series.flatMap((s) => {
    const steps: readonly StepBase[] = s.result.steps;
    return [...steps].sort((a, b) => a.targetRate - b.targetRate).map((step) => ({ series: s.name, ...pick(s, step) }));
  });
}

function timelineRows(series: Series[]) {
  return series.flatMap((s) =>
    (s.result.steps[0]?.timeline ?? []).map((p) => ({ series: s.name, t: p.tS, ...p })),
  );
}

export function fmtRate(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

export function fmtMs(v: number): string {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

export function fmtPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(2)}%`;
}
