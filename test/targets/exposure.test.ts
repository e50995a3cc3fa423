/**
 * Nothing exposed by accident: the built-in targets listen on loopback unless
 * told otherwise, and the HTTP target's /_tsload/ endpoints (one request can
 * stall the process) are off beyond loopback unless asked for.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import * as dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseZone } from '../../src/protocols/dns/zone/index.js';
import { startDnsTarget } from '../../src/targets/dns.js';
import { startHttpTarget, type HttpTarget } from '../../src/targets/http.js';
import { spawnTarget } from '../../src/targets/child.js';
import { isLoopbackHost } from '../../src/util/endpoint.js';

/** An IPv4 address of this machine that is not loopback, if it has one. */
const outside = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;

/** 'open' when a TCP connection to host:port is accepted, else the error code. */
function tcp(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function get(url: string): Promise<{ status: number; body: string; ms: number }> {
  const start = performance.now();
  const r = await fetch(url);
  return { status: r.status, body: await r.text(), ms: performance.now() - start };
}

/** An answer to an SOA query for example.com from host:port over UDP, or undefined after waitMs. */
function udpQuery(host: string, port: number, waitMs: number): Promise<dnsPacket.Packet | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const done = (answer: dnsPacket.Packet | undefined): void => {
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), waitMs);
    socket.on('message', (msg) => done(dnsPacket.decode(msg)));
    // Port unreachable on an unconnected socket is not reported on Linux; on others it is no answer either.
    socket.on('error', () => done(undefined));
    socket.send(dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'SOA', name: 'example.com' }] }), port, host);
  });
}

const zone = parseZone('$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 admin 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n');

describe('loopback unless told otherwise', () => {
  it('isLoopbackHost: 127/8, ::1 in any spelling, mapped 127/8 and localhost; not the wildcards or other addresses', () => {
    for (const h of ['127.0.0.1', '127.9.8.7', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '', '198.18.13.2', '::ffff:10.0.0.1', '128.0.0.1', 'example.com', '1.127.0.0']) expect(isLoopbackHost(h), h).toBe(false);
  });

  for (const [what, options] of [['no host', {}], ["host ''", { host: '' }]] as const) {
    it(`the HTTP target with ${what} answers on 127.0.0.1 and not on this machine's other address`, async () => {
      const target = await startHttpTarget(options);
      try {
        expect(target.host).toBe('127.0.0.1');
        expect((await get(`http://127.0.0.1:${target.port}/`)).status).toBe(200);
        if (outside === undefined) console.warn('exposure.test.ts: no non-loopback IPv4 address here: the outside half is skipped');
        else expect(await tcp(outside, target.port)).toBe('ECONNREFUSED');
      } finally {
        await target.close();
      }
    });
  }

  for (const [what, options] of [['no host', {}], ["host ''", { host: '' }]] as const) {
    it(`the DNS target with ${what} answers on 127.0.0.1 (UDP and TCP) and not on this machine's other address`, async () => {
      const target = await startDnsTarget({ zones: [zone], ...options });
      try {
        expect(target.host).toBe('127.0.0.1');
        const answer = await udpQuery('127.0.0.1', target.port, 2000);
        expect(answer?.id).toBe(7);
        expect(await tcp('127.0.0.1', target.port)).toBe('open');
        if (outside === undefined) return;
        expect(await udpQuery(outside, target.port, 500)).toBeUndefined();
        expect(await tcp(outside, target.port)).toBe('ECONNREFUSED');
      } finally {
        await target.close();
      }
    });
  }

  it('`tsload serve http --listen :0` and `serve dns --listen :0` take loopback for the missing host', async () => {
    const http = await spawnTarget('http', ['--listen', ':0']);
    try {
      expect(http.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await get(`${http.address}/_tsload/status?code=201`)).status).toBe(201);
    } finally {
      await http.stop();
    }
    const dns = await spawnTarget('dns', ['--zone', new URL('../../fixtures/test.zone', import.meta.url).pathname, '--listen', ':0']);
    try {
      expect(dns.address).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await dns.stop();
    }
  }, 30_000);
});

describe('the HTTP target\'s test endpoints', () => {
  let wide: HttpTarget;
  beforeAll(async () => {
    // Every address, as `--listen 0.0.0.0:PORT` gives; reached here over loopback only.
    wide = await startHttpTarget({ host: '0.0.0.0' });
  });
  afterAll(async () => {
    await wide.close();
  });

  it('are off beyond loopback: every /_tsload/ path answers 403 at once, naming the flag, and files are still served', async () => {
    expect(wide.testEndpoints).toBe(false);
    for (const path of ['/_tsload/freeze?ms=5000', '/_tsload/burn?us=5000000', '/_tsload/delay?ms=5000', '/_tsload/bytes?n=1000', '/_tsload/status?code=200', '/_tsload/nope']) {
      const r = await get(`http://127.0.0.1:${wide.port}${path}`);
      expect(r.status, path).toBe(403);
      expect(r.body, path).toContain('--test-endpoints');
      expect(r.body, path).toContain('testEndpoints: true');
      // Not frozen, burned or delayed: the refusal costs nothing.
      expect(r.ms, path).toBeLessThan(1000);
    }
    expect((await get(`http://127.0.0.1:${wide.port}/index.html`)).status).toBe(200);
  });

  it('are on beyond loopback when asked for, and off on loopback when refused', async () => {
    const asked = await startHttpTarget({ host: '0.0.0.0', testEndpoints: true });
    const refused = await startHttpTarget({ testEndpoints: false });
    try {
      expect(asked.testEndpoints).toBe(true);
      const delayed = await get(`http://127.0.0.1:${asked.port}/_tsload/delay?ms=50`);
      expect(delayed.status).toBe(200);
      expect(delayed.body).toBe('delayed 50 ms\n');
      expect((await get(`http://127.0.0.1:${asked.port}/_tsload/burn?us=100`)).status).toBe(200);
      expect(refused.testEndpoints).toBe(false);
      expect((await get(`${refused.url}/_tsload/status?code=200`)).status).toBe(403);
    } finally {
      await Promise.all([asked.close(), refused.close()]);
    }
  });

  it('are on by default on loopback', async () => {
    const local = await startHttpTarget();
    try {
      expect(local.testEndpoints).toBe(true);
      expect((await get(`${local.url}/_tsload/status?code=202`)).status).toBe(202);
    } finally {
      await local.close();
    }
  });

  it('`tsload serve http`: off beyond loopback, on with --test-endpoints, off on loopback with --no-test-endpoints', async () => {
    const port = (address: string): number => Number(new URL(address).port);
    const off = await spawnTarget('http', ['--listen', '0.0.0.0:0']);
    const on = await spawnTarget('http', ['--listen', '0.0.0.0:0', '--test-endpoints']);
    const no = await spawnTarget('http', ['--listen', '127.0.0.1:0', '--no-test-endpoints']);
    try {
      const refused = await get(`http://127.0.0.1:${port(off.address)}/_tsload/freeze?ms=3000`);
      expect(refused.status).toBe(403);
      expect(refused.body).toContain('--test-endpoints');
      expect((await get(`http://127.0.0.1:${port(on.address)}/_tsload/status?code=201`)).status).toBe(201);
      expect((await get(`${no.address}/_tsload/status?code=201`)).status).toBe(403);
    } finally {
      await Promise.all([off.stop(), on.stop(), no.stop()]);
    }
  }, 30_000);
});
