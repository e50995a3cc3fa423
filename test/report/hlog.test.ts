/**
 * --hlog and --hgrm are read by HdrHistogram's own tools: hdr-histogram-js's
 * HistogramLogReader and, where Debian's libhdrhistogram-java is installed,
 * the Java reference's HistogramLogProcessor. Both must give the percentiles
 * tsload's own result gives.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Hdr from 'hdr-histogram-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHistogram, decodeHistogram, statsOf, type Histogram } from '../../src/measure/histogram.js';
import { formatHgrm, formatHlog } from '../../src/report/hlog.js';
import type { HttpResult } from '../../src/result.js';
import { runHttp } from '../../src/run.js';
import { startHttpTarget, type HttpTarget } from '../../src/targets/http.js';

const hdr = createRequire(import.meta.url)('hdr-histogram-js') as typeof Hdr;
const JAR = ['/usr/share/java/hdrhistogram.jar', '/usr/share/java/HdrHistogram.jar'].find((f) => existsSync(f));
const java = (() => {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
    return JAR !== undefined;
  } catch {
    return false;
  }
})();

function counts(h: Histogram): number[] {
  const j = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
  return Array.from({ length: j.countsArrayLength }, (_, i) => j.getCountAtIndex(i));
}

/** Every interval of one tag, added up, as HistogramLogReader reads them. */
function readTag(log: string, tag: string): { sum: Histogram; intervals: number } {
  const reader = new hdr.HistogramLogReader(log);
  const sum = createHistogram();
  let intervals = 0;
  for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
    if (h.tag !== tag) continue;
    sum.add(h);
    intervals++;
  }
  return { sum, intervals };
}

describe('--hlog and --hgrm', { timeout: 60_000 }, () => {
  let target: HttpTarget;
  let result: HttpResult;
  let log: string;
  const dir = mkdtempSync(join(tmpdir(), 'tsload-hlog-'));

  beforeAll(async () => {
    target = await startHttpTarget({});
    result = await runHttp({ url: `${target.url}/`, rate: [300, 600], duration: 2000, warmup: 300, timelineHistograms: true });
    log = formatHlog(result);
    writeFileSync(join(dir, 'run.hlog'), log);
  });
  afterAll(async () => {
    await target.close();
  });

  it('writes the interval log format: StartTime, BaseTime, units, legend, one tagged line per second and metric', () => {
    const lines = log.trimEnd().split('\n');
    const start = result.steps[0]!.window!.startMs;
    expect(lines).toContain(`#[StartTime: ${(start / 1000).toFixed(3)} (seconds since epoch), ${new Date(start).toString()}]`);
    expect(lines).toContain(`#[BaseTime: ${(start / 1000).toFixed(3)} (seconds since epoch)]`);
    expect(log).toMatch(/^#\[Values in microseconds/m);
    expect(lines).toContain('"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"');
    const intervals = lines.filter((l) => l.startsWith('Tag='));
    expect(intervals).toHaveLength(2 * result.steps.reduce((n, s) => n + s.timeline.length, 0));
    expect(intervals[0]).toMatch(/^Tag=step1-latency,0\.000,1\.000,\d+\.\d{3},HISTF/);
    expect(hdr.listTags(log).sort()).toEqual(['step1-latency', 'step1-service', 'step2-latency', 'step2-service']);
  });

  it("hdr-histogram-js's reader adds the seconds up to each step's own histogram and percentiles", () => {
    result.steps.forEach((step, i) => {
      expect(step.completed).toBeGreaterThan(0);
      for (const [metric, encoded, stats] of [
        ['latency', step.histograms.latency, step.latencyMs],
        ['service', step.histograms.serviceTime, step.serviceTimeMs],
      ] as const) {
        const { sum, intervals } = readTag(log, `step${i + 1}-${metric}`);
        expect(intervals).toBe(step.timeline.length);
        expect(counts(sum)).toEqual(counts(decodeHistogram(encoded)));
        expect(statsOf(sum)).toEqual(stats);
      }
    });
  });

  const javaMissing = java ? '' : ' (skipped: no java or hdrhistogram.jar; apt-get install libhdrhistogram-java default-jre-headless)';
  it.skipIf(!java)(`Java's HistogramLogProcessor reads it and gives the result's percentiles${javaMissing}`, () => {
    result.steps.forEach((step, i) => {
      const out = join(dir, `java-step${i + 1}`);
      execFileSync('java', ['-cp', JAR!, 'org.HdrHistogram.HistogramLogProcessor', '-i', join(dir, 'run.hlog'), '-tag', `step${i + 1}-latency`, '-outputValueUnitRatio', '1000', '-o', out]);
      // The last interval line's totals: T:count ( 50% 90% 99% 99.9% 99.99% Max ).
      const last = readFileSync(out, 'utf8').trimEnd().split('\n').at(-1)!;
      const m = /T:(\d+) \(\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s*\)/.exec(last);
      expect(m, last).not.toBeNull();
      const [count, p50, p90, p99, p999, max] = m!.slice(1).map(Number);
      const s = step.latencyMs;
      expect({ count, p50, p90, p99, p999, max }).toEqual({ count: s.count, p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, max: s.max });
      // Its own percentile distribution (.hgrm), below its two lines of where and when, is the one tsload writes.
      const hgrm = readFileSync(`${out}.hgrm`, 'utf8').split('\n');
      expect(hgrm.slice(0, 2).every((line) => line.startsWith('#['))).toBe(true);
      expect(hgrm.slice(2).join('\n')).toBe(formatHgrm(result).get(`step${i + 1}-latency.hgrm`));
    });
  });

  it('writes each step and metric as wrk2 prints its percentile spectrum, in milliseconds', () => {
    const files = formatHgrm(result);
    expect([...files.keys()]).toEqual(['step1-latency.hgrm', 'step1-service.hgrm', 'step2-latency.hgrm', 'step2-service.hgrm']);
    const text = files.get('step2-latency.hgrm')!;
    const s = result.steps[1]!.latencyMs;
    expect(text.split('\n')[0]).toMatch(/^\s+Value\s+Percentile\s+TotalCount 1\/\(1-Percentile\)$/);
    expect(text).toMatch(new RegExp(`^\\s+${s.p50.toFixed(3)} 0\\.500000000000\\s+\\d+\\s+2\\.00$`, 'm'));
    expect(text).toMatch(new RegExp(`#\\[Max\\s+=\\s+${s.max.toFixed(3)}, Total count\\s+=\\s+${s.count}\\]`));
    expect(text).toMatch(/#\[Buckets =\s+\d+, SubBuckets\s+=\s+2048\]/);
  });

  it('refuses a result without per-second histograms', () => {
    const plain = { ...result, steps: result.steps.map((s) => ({ ...s, timeline: s.timeline.map(({ histograms: _, ...p }) => p) })) };
    expect(() => formatHlog(plain)).toThrow(/no per-second histograms/);
  });
});
