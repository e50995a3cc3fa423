/**
 * Checks of a summary against the folder it came from, for any results
 * folder: this one's fixture, and the experiment runner's CI plan
 * (test/experiment/run.test.ts can call them on the folder it ran).
 * Every figure is recomputed from the cells' results, not trusted.
 */
import { expect } from 'vitest';
import type { ExperimentInput } from '../../src/experiment/summary.js';
import type { ExperimentSummary, MedianInterval } from '../../src/index.js';
import { orderStatisticConfidence } from '../../src/measure/statistics.js';
import { failureRatio } from '../../src/measure/saturation.js';
import type { StepBase } from '../../src/result.js';

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** The interval is the order statistics it names, of exactly these values, at their binomial level. */
export function expectInterval(e: MedianInterval | null, values: readonly number[], what: string): void {
  expect(e, what).not.toBeNull();
  const s = sorted(values);
  expect(e!.n, what).toBe(values.length);
  expect(e!.lo, what).toBeLessThanOrEqual(e!.median);
  expect(e!.hi, what).toBeGreaterThanOrEqual(e!.median);
  expect(e!.lo, what).toBe(s[e!.ranks[0] - 1]);
  expect(e!.hi, what).toBe(s[e!.ranks[1] - 1]);
  expect(e!.ranks[0] + e!.ranks[1], what).toBe(values.length + 1);
  expect(e!.confidence, what).toBeCloseTo(orderStatisticConfidence(values.length, e!.ranks[0]), 12);
  const mid = values.length >> 1;
  expect(e!.median, what).toBeCloseTo(values.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, 9);
}

/** The summary of `read` is right: every target and cell counted, every interval recomputed, comparisons complete and oriented. */
export function checkSummary(summary: ExperimentSummary, read: ExperimentInput): void {
  expect(summary.schema).toBe('tsload-experiment-summary/1');
  expect(summary.missing.map((m) => m.id).sort()).toEqual(read.missing.map((m) => m.id).sort());
  const counted = summary.workloads.flatMap((w) => w.targets).reduce((n, t) => n + t.repeats, 0);
  expect(counted).toBe(read.cells.length);
  for (const w of summary.workloads) {
    const medians = w.targets.map((t) => t.saturation.estimate.median);
    expect(medians, `${w.workload}: targets best first`).toEqual([...medians].sort((a, b) => b - a));
    for (const t of w.targets) {
      const cells = read.cells.filter((c) => c.cell.target === t.target && c.cell.workload === w.workload);
      expect(t.repeats).toBe(cells.length);
      const values = cells.map((c) => c.result.saturation.rate ?? 0);
      expectInterval(t.saturation.estimate, values, `${t.target}/${w.workload} saturation`);
      for (const s of t.steps) {
        const steps = cells.map((c) => (c.result.steps as StepBase[]).find((x) => x.targetRate === s.targetRate && x.refined !== true)).filter((x) => x !== undefined);
        const where = `${t.target}/${w.workload} at ${s.targetRate}/s`;
        expect(s.repeats, where).toBe(steps.length);
        expectInterval(s.replyRate, steps.map((x) => x.replyRate), `${where} reply rate`);
        expectInterval(s.errorRatio, steps.map((x) => failureRatio(x)), `${where} failures`);
        const replied = steps.filter((x) => x.latencyMs.count > 0);
        if (replied.length > 0) expectInterval(s.p99Ms, replied.map((x) => x.latencyMs.p99), `${where} p99`);
        else expect(s.p99Ms, where).toBeNull();
      }
    }
    const k = w.targets.length;
    expect(w.comparisons.length, `${w.workload}: every pair`).toBe((k * (k - 1)) / 2);
    for (const c of w.comparisons) {
      const a = w.targets.find((t) => t.target === c.a)!;
      const b = w.targets.find((t) => t.target === c.b)!;
      expect(a.saturation.estimate.median).toBeGreaterThanOrEqual(b.saturation.estimate.median);
      expect(c.text.startsWith(`${c.a} vs ${c.b}: saturation `)).toBe(true);
      if (c.ratio !== null) {
        expect(c.ratio).toBeCloseTo(a.saturation.estimate.median / b.saturation.estimate.median, 9);
        expect(c.ratio).toBeGreaterThanOrEqual(1);
        expect(c.lo).not.toBeNull();
        expect(c.lo!).toBeLessThanOrEqual(c.ratio);
        if (c.hi !== null) expect(c.hi).toBeGreaterThanOrEqual(c.ratio);
        expect(c.overlapsOne).toBe(c.lo! <= 1 && (c.hi === null || c.hi >= 1));
        if (c.overlapsOne) expect(c.notes.join(' ')).toMatch(/not a real difference|neither saturated/);
      }
    }
  }
}

/** The HTML page holds, per workload, both charts with every target as a series, and every comparison. */
export function checkExperimentHtml(html: string, summary: ExperimentSummary): void {
  expect(html.startsWith('<!doctype html>')).toBe(true);
  expect(html).not.toMatch(/<script/i);
  for (const w of summary.workloads) {
    for (const kind of ['replyRate', 'latency']) {
      const figure = new RegExp(`<figure [^>]*data-kind="${kind}" data-series="([^"]*)"`, 'g');
      const found = [...html.matchAll(figure)].map((m) => JSON.parse(m[1]!.replaceAll('&quot;', '"')) as string[]);
      expect(found, `${w.workload} ${kind}`).toContainEqual(w.targets.map((t) => t.target));
    }
    for (const t of w.targets) expect(html).toContain(`>${t.target}</text>`);
    for (const c of w.comparisons) expect(html).toContain(`${c.a} vs ${c.b}`);
  }
}
