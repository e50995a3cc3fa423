/**
 * Faults in the middle of a run, on loopback: each run is one short step with
 * the fault inside its window, and each test checks that the fault is
 * classified, that every request of the window is accounted for once, that
 * the run ends on time, and that the per-second timeline shows the fault and
 * the recovery.
 */
import { createSocket } from 'node:dgram';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runDns, runHttp } from '../src/run.js';
import { spawnTarget, type SpawnedTarget } from '../src/targets/child.js';
import type { DnsStep, HttpStep, StepBase, TimelinePoint } from '../src/result.js';
import { closeServer, listenLoopback } from './loopback.js';

const zoneFile = new URL('../fixtures/test.zone', import.meta.url).pathname;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Every arrival of the window is sent, dropped or left unsent, and every sent one ends once. */
function expectAccounted(step: StepBase, arrivals: number): void {
  expect(step.sent + step.dropped + (step.notSent ?? 0)).toBe(arrivals);
  expect(step.completed + step.errors.total + step.timeouts + step.inflightAtEnd).toBe(step.sent);
  const seconds = step.timeline.reduce((a, p) => ({ sent: a.sent + p.sent, errors: a.errors + p.errors, timeouts: a.timeouts + p.timeouts }), { sent: 0, errors: 0, timeouts: 0 });
  expect(seconds).toEqual({ sent: step.sent, errors: step.errors.total, timeouts: step.timeouts });
}

/**
 * The timeline as rows for a failure message: second, sent, completed,
 * errors, timeouts. FAULTS_TIMELINE=1 prints them too (docs/bench.md's fault
 * timelines come from there).
 */
function rows(timeline: TimelinePoint[], name = ''): string {
  const text = timeline.map((p) => `${p.tS}: ${p.sent} ${p.completed} ${p.errors} ${p.timeouts}`).join('\n');
  if (process.env.FAULTS_TIMELINE === '1') console.info(`${name}\n${text}`);
  return text;
}

/** A port that was free a moment ago, on 127.0.0.1 (TCP, or UDP for DNS): the restarted server must come back on the same one. */
async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'tcp') {
    const s = createNetServer();
    const port = await listenLoopback(s);
    await closeServer(s);
    return port;
  }
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A raw server on loopback whose connections `onConnection` handles; closed after the test. */
async function rawServer(onConnection: (socket: Socket, index: number) => void): Promise<{ url: string; server: Server }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket, n++);
  });
  const port = await listenLoopback(server);
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
  return { url: `http://127.0.0.1:${port}/`, server };
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

/** Kill `target` at `killAtMs` after `t0` and start it again at `restartAtMs`; resolves to the restarted one. */
async function killAndRestart(first: SpawnedTarget, start: () => Promise<SpawnedTarget>, killAtMs: number, restartAtMs: number): Promise<SpawnedTarget> {
  await sleep(killAtMs);
  first.child.kill('SIGKILL');
  await new Promise<void>((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r() : first.child.once('exit', () => r())));
  await sleep(restartAtMs - killAtMs);
  const second = await start();
  cleanups.push(() => second.stop());
  return second;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('faults mid-run', () => {
  it('HTTP server killed and restarted: refusals and resets classified, connections opened again, the timeline shows the gap and the recovery', async () => {
    const port = await freePort('tcp');
    const start = (): Promise<SpawnedTarget> => spawnTarget('http', ['--listen', `127.0.0.1:${port}`]);
    const first = await start();
    cleanups.push(() => first.stop());
    const rate = 500;
    const run = runHttp({ url: `${first.address}/index.html`, rate, duration: 5000, warmup: 0, timeout: 1000 });
    // Killed 1.5 s into the window, started again 1 s later (plus the half second a node process takes to listen).
    const restarted = killAndRestart(first, start, 1500, 2500);
    const [result] = await Promise.all([run, restarted]);
    const step = result.steps[0] as HttpStep;
    const timeline = rows(step.timeline, 'HTTP server killed at 1.5 s, restarted at 2.5 s');
    expectAccounted(step, rate * 5);
    // While it was down every attempt was refused at once (loopback answers a SYN to a closed port with RST).
    expect(step.errors.connrefused, timeline).toBeGreaterThan(rate * 0.8);
    expect(step.errors.total - step.errors.connrefused - step.errors.connreset, timeline).toBe(0);
    expect(step.timeouts).toBe(0);
    // The pool's first connections, and new ones after the restart.
    expect(step.connections).toBeGreaterThan(1);
    expect(step.completed).toBeGreaterThan(rate * 3);
    const t = step.timeline;
    expect(t[0]!.errors, timeline).toBe(0);
    expect(t[0]!.completed, timeline).toBeGreaterThan(rate * 0.95);
    // Down from 1.5 s until the new process listens (2.5 s and its start): refused; the last second all served.
    expect(t[1]!.errors + t[2]!.errors, timeline).toBeGreaterThan(rate * 0.8);
    expect(t[4]!.errors, timeline).toBe(0);
    expect(t[4]!.completed, timeline).toBeGreaterThan(rate * 0.95);
  });

  it('a server that accepts and never reads: every request is a timeout at --timeout, and the run ends on time', async () => {
    const { url } = await rawServer((socket) => socket.pause());
    const rate = 200;
    const began = performance.now();
    const result = await runHttp({ url, rate, duration: 2000, warmup: 0, timeout: 500 });
    const wall = performance.now() - began;
    if (process.env.FAULTS_TIMELINE === '1') console.info(`never reads: the run took ${Math.round(wall)} ms`);
    const step = result.steps[0] as HttpStep;
    rows(step.timeline, 'accepts, never reads (timeout 500 ms)');
    expectAccounted(step, rate * 2);
    expect(step.completed).toBe(0);
    expect(step.errors.total).toBe(0);
    expect(step.inflightAtEnd).toBe(0);
    // Written and never answered; a request that waited in tsload for a connection as long gives up unsent.
    expect(step.timeouts + (step.notSent ?? 0)).toBe(rate * 2);
    expect(step.timeouts).toBeGreaterThan(rate * 2 * 0.9);
    // Probe, window, timeout, drain: the engine's bound is duration + timeout + 250 ms; a second more for starting the thread.
    expect(wall).toBeLessThan(2000 + 500 + 250 + 1000);
  });

  it('a server that resets every other connection: connreset counted, the other half served', async () => {
    // Each answer closes its connection, so every request needs a new one and every other one is reset.
    const { url } = await rawServer((socket, i) => {
      socket.once('data', () => {
        if (i % 2 === 1) socket.resetAndDestroy();
        else socket.end(`HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok`);
      });
    });
    const rate = 500;
    const result = await runHttp({ url, rate, duration: 4000, warmup: 0, timeout: 1000, pipelining: 1 });
    const step = result.steps[0] as HttpStep;
    const timeline = rows(step.timeline, 'every other connection reset');
    expectAccounted(step, rate * 4);
    expect(step.errors.total, timeline).toBe(step.errors.connreset);
    expect(step.timeouts).toBe(0);
    // The probe takes connection 0; after it the run's connections alternate.
    expect(Math.abs(step.errors.connreset - step.completed), timeline).toBeLessThan(step.sent * 0.05);
    expect(step.statusCodes['200']).toBe(step.completed);
    for (const p of step.timeline) expect(p.errors, timeline).toBeGreaterThan(rate * 0.4);
  });

  it('a server that trickles its answer a byte at a time: latency is the trickle, and a timeout shorter than it counts timeouts', async () => {
    const intervalMs = 5;
    const reply = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    const trickles: number[] = [];
    const { url } = await rawServer((socket) => {
      socket.setNoDelay(true);
      socket.on('data', () => {
        const began = performance.now();
        let i = 0;
        const timer = setInterval(() => {
          if (socket.destroyed) return clearInterval(timer);
          socket.write(reply.subarray(i, i + 1));
          if (++i === reply.length) {
            clearInterval(timer);
            trickles.push(performance.now() - began);
          }
        }, intervalMs);
      });
    });
    const rate = 50;
    const result = await runHttp({ url, rate, duration: 3000, warmup: 0, timeout: 2000 });
    const step = result.steps[0] as HttpStep;
    rows(step.timeline, `trickle, 1 byte per ${intervalMs} ms`);
    expectAccounted(step, rate * 3);
    expect(step.completed).toBe(rate * 3);
    expect(step.errors.total + step.timeouts + step.dropped).toBe(0);
    expect(step.statusCodes['200']).toBe(rate * 3);
    // What the server took to trickle each answer is what tsload measured, within a few ms.
    trickles.sort((a, b) => a - b);
    const serverP50 = trickles[trickles.length >> 1]!;
    if (process.env.FAULTS_TIMELINE === '1') console.info(`trickle: the server's p50 ${serverP50.toFixed(1)} ms, tsload's service time p50 ${step.serviceTimeMs.p50} ms, latency p50 ${step.latencyMs.p50} ms`);
    expect(serverP50).toBeGreaterThanOrEqual(reply.length * intervalMs * 0.9);
    expect(Math.abs(step.serviceTimeMs.p50 - serverP50)).toBeLessThan(serverP50 * 0.05 + 3);
    expect(step.latencyMs.p50).toBeGreaterThanOrEqual(step.serviceTimeMs.p50 * 0.98);

    const short = await runHttp({ url, rate, duration: 2000, warmup: 0, timeout: 100 });
    const s = short.steps[0] as HttpStep;
    rows(s.timeline, 'trickle, timeout 100 ms');
    expectAccounted(s, rate * 2);
    expect(s.completed).toBe(0);
    expect(s.errors.total).toBe(0);
    expect(s.timeouts).toBe(s.sent);
    expect(s.sent).toBeGreaterThan(rate * 2 * 0.9);
  });

  it('DNS server killed and restarted: queries in the gap are lost, the rest answered', async () => {
    const port = await freePort('udp');
    const start = (): Promise<SpawnedTarget> => spawnTarget('dns', ['--zone', zoneFile, '--listen', `127.0.0.1:${port}`]);
    const first = await start();
    cleanups.push(() => first.stop());
    const rate = 1000;
    const run = runDns({ server: first.address, zone: zoneFile, rate, duration: 5000, warmup: 0, timeout: 500 });
    const restarted = killAndRestart(first, start, 1500, 2500);
    const [result] = await Promise.all([run, restarted]);
    const step = result.steps[0] as DnsStep;
    const timeline = rows(step.timeline, 'DNS server killed at 1.5 s, restarted at 2.5 s');
    expectAccounted(step, rate * 5);
    expect(step.errors.total, timeline).toBe(0);
    expect(step.lost).toBe(step.timeouts);
    // About 1 s down, plus the restart: lost; everything else answered.
    expect(step.lost, timeline).toBeGreaterThan(rate * 0.8);
    expect(step.lost, timeline).toBeLessThan(rate * 2.5);
    expect(step.completed + step.lost).toBe(step.sent);
    const t = step.timeline;
    expect(t[0]!.timeouts + t[0]!.errors, timeline).toBe(0);
    expect(t[4]!.timeouts, timeline).toBe(0);
    expect(t[4]!.completed, timeline).toBeGreaterThan(rate * 0.95);
  });
});
