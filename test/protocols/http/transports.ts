/**
 * The HTTPS and HTTP/2 rows of a driver contract: each a client, a transport
 * and a real server on loopback (the built-in target over TLS and h2c, nginx
 * over TLS with h2), with the driver options that reach it and what its
 * connections must speak. A suite starts the servers once, runs its cases
 * over `rows`, and stops them; `closedLoop` drives a driver without the
 * engine, every wait bounded.
 */
import { Share } from '../../../src/engine/segment.js';
import { readFileSync } from 'node:fs';
import { createDriver, type HttpDriverOptions } from '../../../src/protocols/http/driver.js';
import type { Driver, DriverCounters } from '../../../src/engine/driver.js';
import { startHttpTarget } from '../../../src/targets/http.js';
import { startNginxServer } from '../../../bench/lib.js';
import { TEST_CA, TEST_CERT, TEST_KEY } from '../../tls-fixtures.js';

export const CA = readFileSync(TEST_CA, 'utf8');

/** A driver, a closed loop of `total` requests, `concurrency` at a time, and the codes it reported. */
export async function closedLoop(options: Partial<HttpDriverOptions> & { url: string }, total: number, concurrency: number): Promise<{ codes: number[]; counters: DriverCounters; driver: Driver }> {
  const codes: number[] = [];
  let sent = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const driver: Driver = await createDriver(
    { method: 'GET', headers: [], maxConnections: 64, pipelining: 1, newConnectionPerRequest: false, ...options },
    {
      written() {},
      done(token, code) {
        codes.push(code);
        if (codes.length === total) finish();
        else if (sent < total) {
          sent++;
          driver.send(token);
        }
      },
    },
    { share: Share.whole, timeoutMs: 5000, maxInflight: 256 },
  );
  for (let t = 0; t < concurrency && sent < total; t++) {
    sent++;
    driver.send(t);
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([finished, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${codes.length} of ${total} done`)), 15_000)))]);
  clearTimeout(timer);
  const counters = driver.counters();
  await driver.close();
  return { codes, counters, driver };
}

export interface TransportRow {
  name: string;
  client: 'native' | 'undici';
  /** Driver options for a static file of about 1 KiB on the row's server. */
  options: Partial<HttpDriverOptions> & { url: string };
  /** What every connection must speak, and whether it is TLS (each connection one handshake). */
  version: '1.1' | '2';
  tls: boolean;
}

export interface TransportServers {
  builtinTls: { url: string };
  builtinH2c: { url: string };
  nginxHttps: string;
  rows: TransportRow[];
  close(): Promise<void>;
}

export async function startTransportServers(): Promise<TransportServers> {
  const [cert, key] = [readFileSync(TEST_CERT, 'utf8'), readFileSync(TEST_KEY, 'utf8')];
  const [builtinTls, builtinH2c, nginx] = await Promise.all([startHttpTarget({ tls: { cert, key } }), startHttpTarget({ h2c: true }), startNginxServer({ tls: { cert: TEST_CERT, key: TEST_KEY } })]);
  const tls = { insecure: false, ca: CA };
  const builtin = `${builtinTls.url}/index.html`;
  const h2c = `${builtinH2c.url}/index.html`;
  const ng = nginx.https!.url;
  const rows: TransportRow[] = [
    { name: 'undici, HTTPS (HTTP/1.1), built-in', client: 'undici', options: { url: builtin, tls }, version: '1.1', tls: true },
    { name: 'undici, HTTPS (HTTP/1.1), nginx', client: 'undici', options: { url: ng, tls }, version: '1.1', tls: true },
  ];
  for (const client of ['undici', 'native'] as const) {
    rows.push(
      { name: `${client}, h2 (ALPN), built-in`, client, options: { url: builtin, tls, http2: true, streams: 8, client }, version: '2', tls: true },
      { name: `${client}, h2c (prior knowledge), built-in`, client, options: { url: h2c, http2: true, streams: 8, client }, version: '2', tls: false },
      { name: `${client}, h2 (ALPN), nginx`, client, options: { url: ng, tls, http2: true, streams: 8, client }, version: '2', tls: true },
    );
  }
  return {
    builtinTls,
    builtinH2c,
    nginxHttps: ng,
    rows,
    close: async () => {
      await Promise.all([builtinTls.close(), builtinH2c.close(), nginx.server.stop()]);
    },
  };
}
