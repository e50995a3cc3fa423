/**
 * Real servers for the driver contract suite (and the DNS transport tests), each on 127.0.0.1 and a free
 * port, stopped (and their files removed) by bench/lib.ts's runCleanups. A
 * server that is not installed gives undefined, and its rows say so.
 */
import { existsSync } from 'node:fs';
import { startNginxServer, startNsdServer, type Nginx, type Nsd } from '../bench/lib.js';
import { TEST_CERT, TEST_KEY } from './tls-fixtures.js';

export type { Nsd };

export const NGINX = '/usr/sbin/nginx';
export const NSD = '/usr/sbin/nsd';

/** nginx as the benchmarks run it (bench/lib.ts), serving fixtures/www, with `tls` also HTTPS and h2 with the test certificate; undefined if it is not installed. */
export async function startNginx(o: { tls?: boolean } = {}): Promise<Nginx | undefined> {
  if (!existsSync(NGINX)) return undefined;
  return startNginxServer(o.tls === true ? { tls: { cert: TEST_CERT, key: TEST_KEY } } : {});
}

/**
 * NSD serving an example.com zone (fixtures/test.zone, or `zoneText`) on UDP
 * and TCP, and with `tls` also DNS over TLS with the test certificate
 * (test/fixtures/tls); undefined if it is not installed.
 */
export async function startNsd(o: { zoneText?: string; tls?: boolean } = {}): Promise<Nsd | undefined> {
  if (!existsSync(NSD)) return undefined;
  return startNsdServer({ ...(o.zoneText === undefined ? {} : { zoneText: o.zoneText }), ...(o.tls === true ? { tls: { cert: TEST_CERT, key: TEST_KEY } } : {}) });
}
