/**
 * The corpus of HTTP/1.1 responses (test/fixtures/http1-responses.ts) read as
 * RFC 9112 says: by the response reader in every split, and by the native
 * client from a raw-bytes server on loopback that writes each response in two
 * pieces, split at every byte boundary. A malformed response is a protocol
 * error with its reason, well before the timeout, on a connection that is
 * then replaced; the request after it is counted right.
 */
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriver, type HttpDriverOptions } from '../../../src/protocols/http/driver.js';
import { Failure, type Driver } from '../../../src/engine/driver.js';
import { Share } from '../../../src/engine/segment.js';
import { RESPONSE_CASES, type ResponseCase } from '../../fixtures/http1-responses.js';
import { closeServer, listenLoopback } from '../../loopback.js';
import { readPieces } from './read-pieces.js';
import { runHttp } from '../../../src/run.js';
import { formatText } from '../../../src/report/text.js';
import { formatHttperf } from '../../../src/report/httperf.js';

/** Every split of `length` bytes in two, byte by byte, and whole; a long wire gets 40 splits spread over it. */
function splits(length: number): number[][] {
  const out: number[][] = [[length]];
  if (length <= 200) out.push(new Array<number>(length).fill(1));
  const step = length <= 200 ? 1 : Math.ceil(length / 40);
  for (let k = 1; k < length; k += step) out.push([k, length - k]);
  return out;
}

const wireOf = (c: ResponseCase): Buffer => Buffer.from(c.wire, 'latin1');

describe('the corpus, read by the response reader', () => {
  it('has at least 40 cases, valid and malformed, with distinct names', () => {
    expect(RESPONSE_CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(RESPONSE_CASES.map((c) => c.name)).size).toBe(RESPONSE_CASES.length);
    expect(RESPONSE_CASES.filter((c) => c.error === undefined).length).toBeGreaterThan(20);
    expect(RESPONSE_CASES.filter((c) => c.error !== undefined).length).toBeGreaterThan(20);
  });

  it.each(RESPONSE_CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const wire = wireOf(c);
    for (const pieces of splits(wire.length)) {
      const r = readPieces(c, wire, pieces);
      const where = `split ${pieces.length === 2 ? pieces[0] : pieces.length === 1 ? 'none' : 'byte by byte'}`;
      expect(r.statuses, where).toEqual(c.statuses);
      if (c.error === undefined) {
        expect(r.error, where).toBe('');
        expect(r.keepAlive.at(-1), where).toBe(c.keepAlive);
      } else {
        expect(r.error, where).toMatch(c.error);
        // Short and printable, whatever the bytes were.
        expect(r.error.length, where).toBeLessThanOrEqual(120);
        expect(r.error, where).toMatch(/^[\x20-\x7e]*$/);
      }
    }
  });
});

/** The response that follows each case: a request after a malformed response must be counted right. */
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const OK_HEAD = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n';

/**
 * Reads requests (heads only: GET and HEAD) and answers `/ok` at once and
 * `/case/<i>/<k>`, once case i's requests are all in on the connection, with
 * its wire written in two pieces split at byte k, a millisecond apart.
 */
async function corpusServer() {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    // Or the second piece waits for the first's delayed ACK.
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    let caseRequests = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const [method, path] = pending.slice(0, end).split(' ', 2) as [string, string];
        pending = pending.slice(end + 4);
        const m = /^\/case\/(\d+)\/(\d+)$/.exec(path);
        if (m === null) {
          socket.write(method === 'HEAD' ? OK_HEAD : OK);
          continue;
        }
        const c = RESPONSE_CASES[Number(m[1])]!;
        if (++caseRequests < (c.requests ?? 1)) continue;
        caseRequests = 0;
        const wire = wireOf(c);
        const k = Number(m[2]);
        socket.write(wire.subarray(0, k));
        setTimeout(() => {
          if (socket.destroyed) return;
          socket.write(wire.subarray(k));
          if (c.serverCloses === true) socket.end();
        }, 1);
      }
    });
  });
  const port = await listenLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

const TIMEOUT_MS = 3000;

/** A driver on one connection at a time, and a way to send `n` requests and wait for their outcomes. */
async function openDriver(options: Partial<HttpDriverOptions> & { url: string; urls: string[] }, requests: number) {
  const outcomes: { token: number; code: number; ms: number }[] = [];
  const sentAt: number[] = [];
  let wake: (() => void) | undefined;
  const d: Driver = await createDriver(
    { method: 'GET', headers: [], connections: 1, maxConnections: 1, pipelining: requests, newConnectionPerRequest: false, ...options },
    {
      written() {},
      done(token, code) {
        outcomes.push({ token, code, ms: performance.now() - sentAt[token]! });
        wake?.();
      },
    },
    { share: Share.whole, timeoutMs: TIMEOUT_MS, maxInflight: requests },
  );
  /** Send tokens 0..n-1 and resolve with their outcomes in the order reported. */
  const round = async (n: number) => {
    outcomes.length = 0;
    for (let t = 0; t < n; t++) {
      sentAt[t] = performance.now();
      d.send(t);
    }
    const deadline = performance.now() + 2 * TIMEOUT_MS;
    while (outcomes.length < n) {
      if (performance.now() > deadline) throw new Error(`only ${outcomes.length} of ${n} outcomes`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return [...outcomes];
  };
  return { d, round };
}

describe('the corpus, from a raw-bytes server to the native client', () => {
  let server: Awaited<ReturnType<typeof corpusServer>>;
  beforeAll(async () => {
    server = await corpusServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it.each(RESPONSE_CASES.map((c, i) => [c.name, i] as const))('%s', async (_name, index) => {
    const c = RESPONSE_CASES[index]!;
    const n = c.requests ?? 1;
    const length = Math.min(c.wire.length, c.splitBefore ?? c.wire.length);
    // Every boundary of a short wire, 24 spread over a long one; k = 0 writes it whole.
    const step = length <= 120 ? 1 : Math.ceil(length / 24);
    const ks: number[] = [];
    for (let k = 0; k < length; k += step) ks.push(k);
    const urls: string[] = [];
    for (const k of ks) urls.push(...new Array<string>(n).fill(`/case/${index}/${k}`), '/ok');
    const { d, round } = await openDriver({ url: server.url, urls, ...(c.head === true ? { method: 'HEAD' } : {}) }, n);
    try {
      const expected = [...c.statuses, ...new Array<number>(n - c.statuses.length).fill(Failure.protocol)];
      for (const k of ks) {
        const where = `${c.name}, split at ${k}`;
        const got = await round(n);
        expect(got.map((o) => o.token), where).toEqual(got.map((_, t) => t));
        expect(got.map((o) => o.code), where).toEqual(expected);
        // Decided by the bytes, never by the clock.
        for (const o of got) expect(o.ms, where).toBeLessThan(TIMEOUT_MS / 3);
        const reasons = d.takeFailureReasons!();
        if (c.error === undefined) expect(reasons, where).toEqual([]);
        else expect(reasons.some((r) => c.error!.test(r)), `${where}: ${reasons.join('; ')}`).toBe(true);
        // The next request, on the same connection or a new one, is counted right.
        const after = await round(1);
        expect(after.map((o) => o.code), `${where}, the request after`).toEqual([200]);
      }
    } finally {
      await d.close();
    }
  });
});

describe('undici, where it rejects a valid response', () => {
  let server: Awaited<ReturnType<typeof corpusServer>>;
  beforeAll(async () => {
    server = await corpusServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it.each([
    ['100 Continue before the response', /undici rejected the response: bad response \(a 100 Continue, or a response to no request\)/],
    ['304 with content-length, alone', /undici rejected the response: body length does not match content-length \(status 304\)/],
    ['status code of four digits', /undici rejected the response: Invalid response status/],
  ])('%s: a protocol error that names undici', async (name, reason) => {
    const index = RESPONSE_CASES.findIndex((c) => c.name === name);
    const c = RESPONSE_CASES[index]!;
    const n = c.requests ?? 1;
    const { d, round } = await openDriver({ url: server.url, urls: [...new Array<string>(n).fill(`/case/${index}/0`), '/ok'], client: 'undici' }, n);
    try {
      const got = await round(n);
      expect(got[0]!.code).toBe(Failure.protocol);
      expect(d.takeFailureReasons!()).toEqual([expect.stringMatching(reason)]);
      expect((await round(1)).map((o) => o.code)).toEqual([200]);
    } finally {
      await d.close();
    }
  });
});

describe('protocol errors in a run', () => {
  it('counts every malformed reply as a protocol error with its reason, and every other reply right, in the result and the reports', async () => {
    // Every fourth request gets a status code of four digits; the rest a good reply.
    let requests = 0;
    let malformed = 0;
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => {});
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          pending = pending.slice(end + 4);
          if (++requests % 4 === 0) {
            malformed++;
            socket.write('HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok');
          } else socket.write(OK);
        }
      });
    });
    const port = await listenLoopback(server);
    try {
      const result = await runHttp({ url: `http://127.0.0.1:${port}/`, rate: 200, duration: 1000, warmup: 0, timeout: 2000 });
      const step = result.steps[0]!;
      expect(requests).toBe(step.sent);
      expect(malformed).toBeGreaterThan(40);
      expect(step.errors.protocol).toBe(malformed);
      expect(step.errors.total).toBe(malformed);
      expect(step.completed).toBe(requests - malformed);
      expect(step.statusCodes).toEqual({ '200': requests - malformed });
      expect(step.timeouts).toBe(0);
      expect(step.failureReasons).toEqual(['status code is not three digits: "HTTP/1.1 2000"']);
      expect(formatText(result)).toMatch(/Protocol errors +status code is not three digits: "HTTP\/1\.1 2000"/);
      expect(formatHttperf(result)).toContain(`\n# tsload: protocol errors ${malformed} (replies that broke HTTP: status code is not three digits: "HTTP/1.1 2000")`);
    } finally {
      await closeServer(server);
    }
  });
});
