/**
 * Real servers for the driver contract suite (and the DNS transport tests), each on 127.0.0.1 and a free
 * port, stopped (and their files removed) by bench/lib.ts's runCleanups. A
 * server that is not installed gives undefined, and its rows say so.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { ROOT, freePort, startNginxServer, startServer, tempDir, waitFor, type Nginx, type Server } from '../bench/lib.js';
import { probeDnsStream } from '../src/protocols/dns/stream.js';
import { checkTls } from '../src/protocols/tls.js';
import { TEST_CA, TEST_CERT, TEST_KEY } from './tls-fixtures.js';

export const NGINX = '/usr/sbin/nginx';
export const NSD = '/usr/sbin/nsd';

/** nginx as the benchmarks run it (bench/lib.ts), serving fixtures/www, with `tls` also HTTPS and h2 with the test certificate; undefined if it is not installed. */
export async function startNginx(o: { tls?: boolean } = {}): Promise<Nginx | undefined> {
  if (!existsSync(NGINX)) return undefined;
  return startNginxServer(o.tls === true ? { tls: { cert: TEST_CERT, key: TEST_KEY } } : {});
}

export interface Nsd {
  server: Server;
  /** UDP and TCP. */
  port: number;
  /** With `tls`: DNS over TLS, with the test certificate (test/fixtures/tls). */
  tlsPort?: number;
}

/**
 * NSD serving an example.com zone (fixtures/test.zone, or `zoneText`) on UDP
 * and TCP, and with `tls` also DNS over TLS on a port of its own (NSD serves
 * TLS on the ip-address whose port is tls-port), rate limiting off;
 * undefined if it is not installed.
 */
export async function startNsd(o: { zoneText?: string; tls?: boolean } = {}): Promise<Nsd | undefined> {
  if (!existsSync(NSD)) return undefined;
  const dir = tempDir('nsd');
  const port = await freePort();
  const tlsPort = o.tls === true ? await freePort() : undefined;
  if (o.zoneText === undefined) copyFileSync(join(ROOT, 'fixtures', 'test.zone'), join(dir, 'test.zone'));
  else writeFileSync(join(dir, 'test.zone'), o.zoneText);
  const conf = join(dir, 'nsd.conf');
  const tlsLines =
    tlsPort === undefined
      ? ''
      : `  ip-address: 127.0.0.1@${tlsPort}
  tls-port: ${tlsPort}
  tls-service-key: "${TEST_KEY}"
  tls-service-pem: "${TEST_CERT}"
`;
  // Everything NSD writes stays in the temp dir (no database, chroot or
  // privilege drop). Rate limiting off: its default drops answers to one
  // busy source, which would read as the driver's loss.
  writeFileSync(
    conf,
    `server:
  ip-address: 127.0.0.1@${port}
${tlsLines}  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonesdir: "${dir}"
  pidfile: "${dir}/nsd.pid"
  xfrdfile: "${dir}/xfrd.state"
  zonelistfile: "${dir}/zone.list"
  xfrdir: "${dir}"
  logfile: "${dir}/nsd.log"
  verbosity: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: test.zone
`,
  );
  // -d: in the foreground, so the pid held is NSD's own.
  const server = startServer('nsd', NSD, ['-d', '-c', conf]);
  const tls = checkTls({ ca: TEST_CA }, []);
  const soa = { name: 'example.com', type: 'SOA' } as const;
  const ready = async (): Promise<boolean> => {
    if (!(await answersSoa(port))) return false;
    if (tlsPort === undefined) return true;
    // The TLS listener is ready once it answers, with a certificate that verifies against the test CA.
    return probeDnsStream('tls', '127.0.0.1', tlsPort, tls, soa, 500).then(
      () => true,
      () => false,
    );
  };
  await waitFor('nsd', 15_000, ready).catch((error: Error) => {
    const log = existsSync(join(dir, 'nsd.log')) ? readFileSync(join(dir, 'nsd.log'), 'utf8') : '';
    throw new Error(`${error.message}\n${server.log()}${log}`);
  });
  return { server, port, ...(tlsPort === undefined ? {} : { tlsPort }) };
}

/** One SOA query for example.com: true once it is answered NOERROR. */
function answersSoa(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    sock.on('error', () => done(false));
    sock.on('message', (msg) => {
      const reply = dnsPacket.decode(msg);
      done(reply.id === 4242 && ((reply.flags ?? 0) & 0xf) === 0 && (reply.answers?.length ?? 0) > 0);
    });
    sock.send(dnsPacket.encode({ type: 'query', id: 4242, questions: [{ type: 'SOA', name: 'example.com' }] }), port, '127.0.0.1');
  });
}
