/**
 * The HTTP driver on its own (no engine): a small Completion records what it
 * reports, against real servers on loopback.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_CLIENTS, checkHttpOptions, checkHttpTargets, clientOf, connectionShare, createDriver, probeHttp, type HttpDriverOptions } from '../../../src/protocols/http/driver.js';
import { Failure, type Driver } from '../../../src/engine/driver.js';
import { Share } from '../../../src/engine/segment.js';
import { startHttpTarget, type HttpTarget } from '../../../src/targets/http.js';
import { TargetUnreachableError } from '../../../src/errors.js';
import { runHttp } from '../../../src/run.js';
import { closeServer, listenLoopback } from '../../loopback.js';

interface Outcome {
  token: number;
  code: number;
  ms: number;
}

/** A driver plus a record of every done(), with a way to wait for the n-th. */
async function driver(
  options: Partial<HttpDriverOptions> & { url: string },
  context: { timeoutMs?: number; maxInflight?: number; share?: Share } = {},
) {
  const outcomes: Outcome[] = [];
  const sentAt = new Map<number, number>();
  /** Tokens in the order the driver said it wrote them. */
  const written: number[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let onDone: ((token: number, code: number) => void) | undefined;
  const d: Driver = await createDriver(
    { method: 'GET', headers: [], connections: 4, maxConnections: 64, pipelining: 1, newConnectionPerRequest: false, ...options },
    {
      written(token) {
        written.push(token);
      },
      done(token, code) {
        outcomes.push({ token, code, ms: performance.now() - (sentAt.get(token) ?? NaN) });
        for (const w of waiters) if (outcomes.length >= w.n) w.resolve();
        onDone?.(token, code);
      },
    },
    { share: Share.whole, timeoutMs: 5000, maxInflight: 64, ...context },
  );
  const send = (token: number): void => {
    sentAt.set(token, performance.now());
    d.send(token);
  };
  return {
    d,
    outcomes,
    written,
    send,
    codes: () => outcomes.map((o) => o.code),
    /** Resolves once n outcomes in all were reported (rejects after a while so a bug cannot hang the file). */
    until: (n: number, ms = 15_000) =>
      new Promise<void>((resolve, reject) => {
        if (outcomes.length >= n) return resolve();
        const timer = setTimeout(() => reject(new Error(`only ${outcomes.length} of ${n} outcomes`)), ms);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      }),
    /** Closed loop: each done() sends again on its token until `total` were sent. */
    closedLoop: (concurrency: number, total: number) => {
      let sent = 0;
      onDone = (token) => {
        if (sent < total) {
          sent++;
          send(token);
        }
      };
      for (let t = 0; t < concurrency && sent < total; t++) {
        sent++;
        send(t);
      }
    },
  };
}

/** Answers every request with a fixed response and counts connections, requests and bytes in both directions. */
async function rawServer(response: string) {
  const stats = { connections: 0, requests: 0, bytesIn: 0, bytesOut: 0, heads: [] as string[] };
  const sockets = new Set<Socket>();
  const server = createNetServer((socket: Socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      stats.bytesIn += chunk.length;
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.subarray(end + 4 + length);
        stats.requests++;
        stats.heads.push(head);
        socket.write(response);
        stats.bytesOut += Buffer.byteLength(response);
        if (/\r\nconnection: close/i.test(head)) socket.end();
      }
    });
    socket.on('error', () => {});
  });
  const port = await listenLoopback(server);
  const close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      for (const socket of sockets) socket.destroy();
    });
  return { url: `http://127.0.0.1:${port}`, stats, close };
}

async function closedPort(): Promise<number> {
  const server = createNetServer();
  const port = await listenLoopback(server);
  await closeServer(server);
  return port;
}

// One conformance suite for both clients.
describe.each(HTTP_CLIENTS)('HTTP driver, %s client', (client) => {
  let target: HttpTarget;
  const drivers: Driver[] = [];
  beforeAll(async () => {
    target = await startHttpTarget();
  });
  afterAll(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await target.close();
  });
  async function open(options: Parameters<typeof driver>[0], context?: Parameters<typeof driver>[1]) {
    const r = await driver({ client, ...options }, context);
    drivers.push(r.d);
    return r;
  }

  it('reports each reply with its HTTP status, once per token', async () => {
    const r = await open({ url: `${target.url}/`, urls: ['/', '/nope', '/_tsload/status?code=503', `${target.url}/_tsload/status?code=201`] });
    for (let t = 0; t < 8; t++) r.send(t);
    await r.until(8);
    expect(r.outcomes.map((o) => o.token).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r.codes().sort()).toEqual([200, 200, 201, 201, 404, 404, 503, 503]);
    const c = r.d.counters();
    expect(c.requestsWritten).toBe(8);
    expect(c.replyBodyBytes).toBeGreaterThan(0);
    expect(c.bytesReceived).toBe(c.replyHeaderBytes! + c.replyBodyBytes!);
  });

  it('goes through the URL list round robin', async () => {
    const r = await open({ url: `${target.url}/`, urls: ['/_tsload/status?code=201', '/_tsload/status?code=202', '/_tsload/status?code=203'] });
    // One at a time, so the order of replies is the order of sends.
    r.closedLoop(1, 7);
    await r.until(7);
    expect(r.codes()).toEqual([201, 202, 203, 201, 202, 203, 201]);
  });

  it('reuses keep-alive connections: no more than configured, not one per request', async () => {
    const r = await open({ url: `${target.url}/1k.html`, connections: 4 }, { maxInflight: 16 });
    r.closedLoop(16, 200);
    await r.until(200);
    expect(r.codes().every((c) => c === 200)).toBe(true);
    const c = r.d.counters();
    expect(c.connections).toBeGreaterThanOrEqual(1);
    expect(c.connections).toBeLessThanOrEqual(4);
    expect(c.replyBodyBytes).toBe(200 * 1024);
  });

  it('keeps connections alive for HEAD too', async () => {
    const r = await open({ url: `${target.url}/1k.html`, method: 'HEAD', connections: 2 }, { maxInflight: 4 });
    r.closedLoop(4, 40);
    await r.until(40);
    expect(r.codes().every((c) => c === 200)).toBe(true);
    const c = r.d.counters();
    expect(c.connections).toBeLessThanOrEqual(2);
    expect(c.replyBodyBytes).toBe(0);
  });

  it('opens its share of connections in each thread', async () => {
    const raw = await rawServer('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    try {
      // 5 connections over 2 threads: this is thread 0, which opens 3.
      const r = await open({ url: raw.url, connections: 5 }, { share: Share.whole.split(2)[0]!, maxInflight: 12 });
      r.closedLoop(12, 60);
      await r.until(60);
      expect(r.d.counters().connections).toBe(3);
      expect(raw.stats.connections).toBe(3);
    } finally {
      await raw.close();
    }
  });

  it('opens a connection per request in httperf mode', async () => {
    const raw = await rawServer('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    try {
      const r = await open({ url: `${raw.url}/`, connections: 4, newConnectionPerRequest: true }, { maxInflight: 8 });
      r.closedLoop(8, 30);
      await r.until(30);
      expect(r.codes().every((c) => c === 200)).toBe(true);
      expect(r.d.counters().connections).toBe(30);
      expect(raw.stats.connections).toBe(30);
      // As httperf does: the request asks for nothing special, and the client closes first (TIME_WAIT on the client).
      expect(raw.stats.heads.every((h) => /\r\nconnection: keep-alive/.test(h))).toBe(true);
    } finally {
      await raw.close();
    }
  });

  it.each([
    { method: 'POST', body: '{"k":"vé"}', newConnectionPerRequest: false },
    { method: 'GET', body: undefined, newConnectionPerRequest: false },
    { method: 'HEAD', body: undefined, newConnectionPerRequest: false },
    { method: 'GET', body: undefined, newConnectionPerRequest: true },
  ])('counts exactly the bytes that cross the wire, both ways ($method, new connection: $newConnectionPerRequest)', async (o) => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: abcdefghij\r\nContent-Length: 11\r\n\r\n';
    const raw = await rawServer(o.method === 'HEAD' ? head : `${head}hello world`);
    try {
      const r = await open({
        url: `${raw.url}/a?x=1`,
        urls: ['/a?x=1', '/longer/path/b'],
        method: o.method,
        headers: [
          ['X-Test', 'one'],
          ['User-Agent', 'tsload-test'],
        ],
        ...(o.body === undefined ? {} : { body: o.body }),
        connections: 2,
        newConnectionPerRequest: o.newConnectionPerRequest,
      });
      r.closedLoop(4, 30);
      await r.until(30);
      expect(r.codes().every((c) => c === 200)).toBe(true);
      const c = r.d.counters();
      expect(raw.stats.requests).toBe(30);
      expect(c.bytesSent).toBe(raw.stats.bytesIn);
      expect(c.bytesReceived).toBe(raw.stats.bytesOut);
      expect(c.replyBodyBytes).toBe(o.method === 'HEAD' ? 0 : 30 * 11);
      expect(raw.stats.heads[0]).toMatch(new RegExp(`^${o.method} /a\\?x=1 HTTP/1\\.1\r\n`));
      expect(raw.stats.heads[1]).toMatch(new RegExp(`^${o.method} /longer/path/b HTTP/1\\.1\r\n`));
      expect(raw.stats.connections).toBe(o.newConnectionPerRequest ? 30 : 2);
    } finally {
      await raw.close();
    }
  });

  it('pipelines requests on one connection', async () => {
    const r = await open({ url: `${target.url}/_tsload/delay?ms=50`, connections: 1, pipelining: 4 }, { maxInflight: 8 });
    for (let t = 0; t < 8; t++) r.send(t);
    await r.until(8);
    expect(r.codes().every((c) => c === 200)).toBe(true);
    expect(r.d.counters().connections).toBe(1);
  });

  it('reports Failure.timeout from the send when the reply is later than the timeout, and carries on', async () => {
    const r = await open({ url: `${target.url}/_tsload/delay?ms=3000`, urls: ['/_tsload/delay?ms=3000', '/'] }, { timeoutMs: 300 });
    r.send(0);
    await r.until(1);
    expect(r.outcomes[0]).toMatchObject({ token: 0, code: Failure.timeout });
    // Reported after the timeout, at most a sweep period (plus a loaded machine's slack) later.
    expect(r.outcomes[0]!.ms).toBeGreaterThanOrEqual(299);
    expect(r.outcomes[0]!.ms).toBeLessThan(1500);
    // The same token works again (the next URL is /).
    r.send(0);
    await r.until(2);
    expect(r.outcomes[1]).toMatchObject({ token: 0, code: 200 });
  });

  it('times out requests still waiting for a connection without ever sending them', async () => {
    let requests = 0;
    const server: Server = createHttpServer((_req, res) => {
      requests++;
      // The first holds the one connection while the others queue behind it; the rest never answer in time.
      setTimeout(() => res.end(requests === 1 ? 'ok' : 'late'), requests === 1 ? 50 : 1500);
    });
    const port = await listenLoopback(server);
    try {
      const r = await open({ url: `http://127.0.0.1:${port}/`, connections: 1 }, { timeoutMs: 300, maxInflight: 5 });
      // Tokens 1–4 all queue (microseconds apart) behind token 0. Token 1 is written when token 0's
      // reply frees the connection, and its timeout runs from then; tokens 2–4 give up waiting a
      // timeout after they were handed over, in one sweep, before token 1's deadline.
      for (let t = 0; t < 5; t++) r.send(t);
      await r.until(5);
      expect(r.codes()).toEqual([200, Failure.timeout, Failure.timeout, Failure.timeout, Failure.timeout]);
      expect(r.outcomes.map((o) => o.token)).toEqual([0, 2, 3, 4, 1]);
      // Token 1 was written once token 0's reply freed the connection; the other three never left the driver.
      expect(r.d.counters().requestsWritten).toBe(2);
      expect(r.written).toEqual([0, 1]);
      // Token 1 waited for 0's reply, then had its whole timeout on the wire.
      expect(r.outcomes.find((o) => o.token === 1)!.ms).toBeGreaterThan(300 + 40);
      await new Promise((res) => setTimeout(res, 100));
      expect(requests).toBe(2);
    } finally {
      server.closeAllConnections();
      await closeServer(server);
    }
  });

  it('reports Failure.connrefused against a closed port', async () => {
    const port = await closedPort();
    const r = await open({ url: `http://127.0.0.1:${port}/` }, { maxInflight: 4 });
    for (let t = 0; t < 3; t++) r.send(t);
    await r.until(3);
    expect(r.codes()).toEqual([Failure.connrefused, Failure.connrefused, Failure.connrefused]);
    expect(r.d.counters().connections).toBe(0);
  });

  it('reports a connection the server drops as a failure, not a reply', async () => {
    const server = createNetServer((socket) => socket.destroy());
    const port = await listenLoopback(server);
    try {
      const r = await open({ url: `http://127.0.0.1:${port}/` });
      r.send(0);
      await r.until(1);
      expect(r.codes()[0]).toBe(Failure.connreset);
    } finally {
      await closeServer(server);
    }
  });

  it('close() aborts what is in flight without reporting it', async () => {
    const r = await driver({ client, url: `${target.url}/_tsload/delay?ms=2000` });
    for (let t = 0; t < 4; t++) r.send(t);
    await new Promise((res) => setTimeout(res, 100));
    await r.d.close();
    await new Promise((res) => setTimeout(res, 100));
    expect(r.outcomes).toEqual([]);
  });

  it('rejects bad options once, in the main thread, before any driver exists', async () => {
    await expect(runHttp({ url: `${target.url}/`, client, urls: ['http://127.0.0.2:1/'], duration: 100 })).rejects.toThrow(/not on http:\/\/127\.0\.0\.1/);
    await expect(runHttp({ url: `${target.url}/`, client, headers: ['bad header: x'], duration: 100 })).rejects.toThrow(/--header/);
  });
});

describe('checkHttpTargets / checkHttpOptions', () => {
  it('accepts paths and absolute URLs on the same origin', () => {
    expect(checkHttpTargets({ url: 'http://127.0.0.1:8080/', urls: ['/a', 'b?c=1', 'http://127.0.0.1:8080/d'] })).toEqual([]);
  });
  it('lists every problem', () => {
    expect(checkHttpTargets({ url: 'nope' })).toHaveLength(1);
    expect(checkHttpTargets({ url: 'ftp://127.0.0.1/' })[0]).toMatch(/http:\/\//);
    const problems = checkHttpTargets({ url: 'http://127.0.0.1:8080/', urls: ['http://127.0.0.1:8081/', 'https://127.0.0.1:8080/'] });
    expect(problems).toHaveLength(2);
    expect(checkHttpTargets({ url: 'http://127.0.0.1/', urls: [] })).toEqual(['url list is empty']);
  });
  it('checks method, headers and counts', () => {
    const base: HttpDriverOptions = { url: 'http://127.0.0.1/', method: 'GET', headers: [], connections: 1, maxConnections: 64, pipelining: 1, newConnectionPerRequest: false };
    expect(checkHttpOptions(base)).toEqual([]);
    expect(
      checkHttpOptions({ ...base, method: 'G T', headers: [['Content-Length', '3'], ['x', 'a\r\nb']], connections: 0, pipelining: 2, newConnectionPerRequest: true }),
    ).toHaveLength(5);
  });
  it('chooses the native client for http:// and undici for https://, and refuses native for https://', () => {
    expect(clientOf({ url: 'http://127.0.0.1/' })).toBe('native');
    expect(clientOf({ url: 'https://127.0.0.1/' })).toBe('undici');
    expect(clientOf({ url: 'http://127.0.0.1/', client: 'undici' })).toBe('undici');
    const base: HttpDriverOptions = { url: 'https://127.0.0.1/', method: 'GET', headers: [], connections: 1, maxConnections: 64, pipelining: 1, newConnectionPerRequest: false };
    expect(checkHttpOptions(base)).toEqual([]);
    expect(checkHttpOptions({ ...base, client: 'native' })[0]).toMatch(/native client speaks plain http/);
    expect(checkHttpOptions({ ...base, client: 'curl' as 'native' })[0]).toMatch(/client must be one of native, undici/);
  });
});

describe('native client: connections the server ends', () => {
  it('reconnects after a response that says connection: close, and sends again what was pipelined behind it', async () => {
    // Answers the first request on each connection with "connection: close" and then closes, ignoring the rest.
    let connections = 0;
    let answered = 0;
    const server = createNetServer((socket) => {
      connections++;
      socket.once('data', () => {
        answered++;
        socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok');
      });
      socket.on('error', () => {});
    });
    const port = await listenLoopback(server);
    const r = await driver({ client: 'native', url: `http://127.0.0.1:${port}/`, connections: 1, pipelining: 4 }, { maxInflight: 8 });
    try {
      for (let t = 0; t < 6; t++) r.send(t);
      await r.until(6);
      expect(r.codes()).toEqual([200, 200, 200, 200, 200, 200]);
      expect(r.outcomes.map((o) => o.token)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(answered).toBe(6);
      expect(connections).toBe(6);
      expect(r.d.counters().connections).toBe(6);
    } finally {
      await r.d.close();
      await closeServer(server);
    }
  });

  it('reads a body delimited by the close', async () => {
    const server = createNetServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end'));
      socket.on('error', () => {});
    });
    const port = await listenLoopback(server);
    const r = await driver({ client: 'native', url: `http://127.0.0.1:${port}/`, connections: 1 });
    try {
      r.closedLoop(1, 3);
      await r.until(3);
      expect(r.codes()).toEqual([200, 200, 200]);
      expect(r.d.counters().replyBodyBytes).toBe(3 * 13);
    } finally {
      await r.d.close();
      await closeServer(server);
    }
  });

  it('reports a response that is not HTTP as a protocol error, with why, and drops the connection', async () => {
    let connections = 0;
    const server = createNetServer((socket) => {
      connections++;
      socket.on('data', () => socket.write('SSH-2.0-OpenSSH\r\n'));
      socket.on('error', () => {});
    });
    const port = await listenLoopback(server);
    const r = await driver({ client: 'native', url: `http://127.0.0.1:${port}/`, connections: 1 });
    try {
      r.send(0);
      await r.until(1);
      expect(r.codes()).toEqual([Failure.protocol]);
      expect(r.d.takeFailureReasons!()).toEqual(['not an HTTP/1.x status line: "S"']);
      expect(r.d.takeFailureReasons!()).toEqual([]);
      r.send(0);
      await r.until(2);
      expect(r.codes()).toEqual([Failure.protocol, Failure.protocol]);
      expect(connections).toBe(2);
    } finally {
      await r.d.close();
      await closeServer(server);
    }
  });

  it('after a timeout, sends again elsewhere the requests pipelined behind the overdue one', async () => {
    // The first request on the first connection is never answered; everything else is, at once.
    let connections = 0;
    const server = createNetServer((socket) => {
      const first = connections++ === 0;
      let seen = 0;
      socket.on('data', (chunk: Buffer) => {
        const requests = chunk.toString('latin1').split('\r\n\r\n').length - 1;
        for (let i = 0; i < requests; i++) {
          if (first && seen++ === 0) continue;
          if (first) continue;
          socket.write('HTTP/1.1 204 No Content\r\n\r\n');
        }
      });
      socket.on('error', () => {});
    });
    const port = await listenLoopback(server);
    const r = await driver({ client: 'native', url: `http://127.0.0.1:${port}/`, connections: 1, pipelining: 3 }, { timeoutMs: 300, maxInflight: 4 });
    try {
      r.send(0);
      // Later, so they are not yet overdue when 0 is.
      await new Promise((res) => setTimeout(res, 150));
      r.send(1);
      r.send(2);
      await r.until(3);
      expect(r.outcomes.map((o) => [o.token, o.code])).toEqual([
        [0, Failure.timeout],
        [1, 204],
        [2, 204],
      ]);
      expect(connections).toBe(2);
    } finally {
      await r.d.close();
      await closeServer(server);
    }
  });
});

describe('connectionShare', () => {
  it('splits the total over threads, the first ones taking the remainder, at least one each', () => {
    const split = (total: number, threads: number) => Share.whole.split(threads).map((s) => connectionShare(total, s));
    expect(split(10, 3)).toEqual([4, 3, 3]);
    expect(split(64, 2)).toEqual([32, 32]);
    expect(split(1, 4)).toEqual([1, 1, 1, 1]);
  });
});

describe('probeHttp', () => {
  it('resolves when a TCP connection opens', async () => {
    const target = await startHttpTarget();
    try {
      await expect(probeHttp(`${target.url}/`, 2000)).resolves.toBeUndefined();
    } finally {
      await target.close();
    }
  });
  it('throws TargetUnreachableError with the reason on a closed port', async () => {
    const port = await closedPort();
    const error = await probeHttp(`http://127.0.0.1:${port}/`, 2000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetUnreachableError);
    expect((error as Error).message).toMatch(/connection refused/);
  });
});
