/**
 * tsload never blames the server for its own limits: against real servers on
 * loopback, a request counts as sent only once written, the pool grows for a
 * slow but healthy server, and a fixed pool that is too small is named as
 * tsload's limit, with the time requests waited inside it.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHttp } from '../src/run.js';
import { spawnTarget, type SpawnedTarget } from '../src/targets/child.js';
import { formatCsv, formatHttperf, formatText } from '../src/report/index.js';
import { renderReport } from '../src/report/html.js';
import { saturationLine } from '../src/report/text.js';
import { closeServer, listenLoopback } from './loopback.js';

/** A server that answers every request after `ms` and counts the requests it received. */
async function slowServer(ms: number): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((_req, res) => {
    n++;
    setTimeout(() => res.end('ok'), ms);
  });
  server.keepAliveTimeout = 60_000;
  const port = await listenLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/`,
    count: () => n,
    close: async () => {
      server.closeAllConnections();
      await closeServer(server);
    },
  };
}

describe("tsload's own limits", () => {
  let target: SpawnedTarget;
  beforeAll(async () => {
    target = await spawnTarget('http', ['--listen', '127.0.0.1:0']);
  });
  afterAll(async () => {
    await target.stop();
  });

  it('grows its pool for a 20 ms server at 2000 req/s with the defaults: the latency is the server\'s, nothing times out', async () => {
    const result = await runHttp({ url: `${target.address}/_tsload/delay?ms=20`, rate: 2000, duration: 2000, warmup: 1000 });
    const step = result.steps[0]!;
    const measured = `p50 ${step.latencyMs.p50} p99 ${step.latencyMs.p99} ms, ${step.connections} connections, queued p99 ${step.queuedMs?.p99} ms`;
    expect(step.completed, measured).toBe(4000);
    expect(step.timeouts + (step.notSent ?? 0) + step.errors.total + step.dropped).toBe(0);
    // At least rate × delay connections were needed (40); eight, the old fixed default, could carry 400 req/s.
    expect(step.pool).toMatchObject({ fixed: false, waitedAtLimit: 0 });
    expect(step.connections, measured).toBeGreaterThanOrEqual(40);
    expect(Math.abs(step.latencyMs.p50 - 20), measured).toBeLessThan(1.5);
    expect(step.generatorLimits?.filter((l) => l.kind === 'connections')).toEqual([]);
  });

  it('with a fixed --connections 8 it names its pool as the limit, measures the wait, and counts as sent only what the server got', async () => {
    const server = await slowServer(20);
    try {
      const result = await runHttp({ url: server.url, rate: 2000, duration: 1000, warmup: 0, connections: 8, timeout: '500ms' });
      const step = result.steps[0]!;
      // Let the last replies' requests land before counting.
      await new Promise((r) => setTimeout(r, 100));
      expect(step.sent).toBe(server.count());
      // 8 connections × 1 request / 20 ms carry at most 400 req/s.
      expect(step.sent).toBeLessThan(2000 * 0.35);
      expect(step.sent + (step.notSent ?? 0)).toBe(2000);
      // Those that waited past the timeout were never written: not the server's timeouts.
      expect(step.notSent).toBeGreaterThan(1000);
      expect(step.timeouts).toBe(0);
      // Service time runs from the write: the server's 20 ms, while the wait shows in queued and latency.
      expect(step.serviceTimeMs.p50).toBeLessThan(30);
      expect(step.queuedMs!.p50).toBeGreaterThan(100);
      expect(step.latencyMs.p50).toBeGreaterThan(step.queuedMs!.p50);
      expect(step.generatorLimits).toMatchObject([{ kind: 'connections', cause: 'tsload', connections: 8, fixed: true, atLimit: true }]);
      const text = formatText(result);
      expect(text).toMatch(/\ntsload was the limit here \(all 8 connections busy; [\d.]+% of requests waited for one, a median [\d.]+ m?s; \d+ timed out before they were written\): raise --connections, or leave it out so the pool grows on demand\n/);
      expect(text).toMatch(/\nqueued \(in tsload before written\) +\d+/);
      expect(formatHttperf(result)).toContain('\n# tsload: tsload was the limit here (all 8 connections busy;');
      // By the header's name, not by position: columns are added after it (the server's side).
      const [header, row] = formatCsv(result).split('\n') as [string, string];
      const column = (name: string) => row.split(',')[header.split(',').indexOf(name)];
      expect(column('generatorLimits')).toBe('connections:tsload');
      expect(column('attempts')).toBe('1');
      const html = await renderReport([result]);
      expect(html).toContain('<section id="limits">');
      expect(html).toContain('tsload was the limit here (all 8 connections busy;');
    } finally {
      await server.close();
    }
  });

  it('opens what a 2 s server needs at 1000 req/s with the defaults, and every request reaches it', async () => {
    const server = await slowServer(2000);
    try {
      const result = await runHttp({ url: server.url, rate: 1000, duration: 1000, warmup: 0 });
      const step = result.steps[0]!;
      expect(step.completed).toBe(1000);
      expect(step.timeouts + (step.notSent ?? 0) + step.errors.total + step.dropped).toBe(0);
      expect(server.count()).toBe(1000);
      // One request in flight per connection: about rate × 2 s of them, all at once.
      expect(step.connections).toBeGreaterThan(900);
      expect(Math.abs(step.latencyMs.p50 - 2000)).toBeLessThan(50);
      expect(step.generatorLimits).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('names no saturation point where its own pool was the limit', async () => {
    const result = await runHttp({
      url: `${target.address}/_tsload/delay?ms=20`,
      rate: [50, 400],
      duration: 1000,
      warmup: 300,
      timeout: '1s',
      connections: 4,
      confirm: 0,
    });
    const [low, high] = result.steps;
    expect(low!.generatorLimits).toEqual([]);
    expect(high!.generatorLimits?.[0]).toMatchObject({ kind: 'connections', cause: 'tsload', connections: 4 });
    expect(result.saturation).toMatchObject({ rate: 50, failedAt: 1, generatorLimit: { step: 1, kinds: ['connections'] } });
    expect(saturationLine(result)).toMatch(
      /^saturation: not found; at 400 req\/s \(step 2\) tsload was the limit here \(all 4 connections busy; .*\. the server kept up to at least 50 req\/s$/,
    );
  });
});
