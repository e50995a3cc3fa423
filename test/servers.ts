/**
 * Real servers for the driver contract suite, each on 127.0.0.1 and a free
 * port, stopped (and their files removed) by bench/lib.ts's runCleanups. A
 * server that is not installed gives undefined, and its rows say so.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { ROOT, freePort, startNginxServer, startServer, tempDir, waitFor, type Nginx, type Server } from '../bench/lib.js';

export const NGINX = '/usr/sbin/nginx';
export const NSD = '/usr/sbin/nsd';

/** nginx as the benchmarks run it (bench/lib.ts), serving fixtures/www; undefined if it is not installed. */
export async function startNginx(): Promise<Nginx | undefined> {
  return existsSync(NGINX) ? startNginxServer() : undefined;
}

/** NSD serving fixtures/test.zone (example.com) on UDP and TCP, rate limiting off; undefined if it is not installed. */
export async function startNsd(): Promise<{ server: Server; port: number } | undefined> {
  if (!existsSync(NSD)) return undefined;
  const dir = tempDir('nsd');
  const port = await freePort();
  copyFileSync(join(ROOT, 'fixtures', 'test.zone'), join(dir, 'test.zone'));
  const conf = join(dir, 'nsd.conf');
  // Everything NSD writes stays in the temp dir (no database, chroot or
  // privilege drop). Rate limiting off: its default drops answers to one
  // busy source, which would read as the driver's loss.
  writeFileSync(
    conf,
    `server:
  ip-address: 127.0.0.1
  port: ${port}
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
  await waitFor('nsd', 15_000, () => answersSoa(port)).catch((error: Error) => {
    const log = existsSync(join(dir, 'nsd.log')) ? readFileSync(join(dir, 'nsd.log'), 'utf8') : '';
    throw new Error(`${error.message}\n${server.log()}${log}`);
  });
  return { server, port };
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
