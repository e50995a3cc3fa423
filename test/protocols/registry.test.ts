/**
 * The protocol records and the generic run: every registered protocol has
 * the same shape, its formats load, and a counter a driver reports without
 * declaring it stops the run instead of vanishing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_NAMES, isProtocolName, protocols } from '../../src/protocols/index.js';
import { runProtocol } from '../../src/run.js';
import { formatsOf } from '../../src/outputs.js';
import { startHttpTarget, type HttpTarget } from '../../src/targets/http.js';
import { OptionsError } from '../../src/errors.js';
import { formatEndpoint, parseEndpoint } from '../../src/util/endpoint.js';

describe('the registry', () => {
  it('names each record by its key, with unique counters and loadable formats', async () => {
    expect(PROTOCOL_NAMES).toEqual(['http', 'dns']);
    for (const name of PROTOCOL_NAMES) {
      const p = protocols[name];
      expect(p.name).toBe(name);
      expect(isProtocolName(name)).toBe(true);
      expect(new Set(p.counterNames).size).toBe(p.counterNames.length);
      for (const load of Object.values(p.formats)) expect(typeof (await load())).toBe('function');
    }
    expect(isProtocolName('toString')).toBe(false);
    expect(formatsOf('http')).toEqual(['text', 'json', 'httperf']);
    expect(formatsOf('dns')).toEqual(['text', 'json', 'dnsperf']);
  });

  it('checks options in the main thread and lists every problem at once', async () => {
    const run = runProtocol(protocols.http, { url: 'http://127.0.0.1:1/', pipelining: 0, connections: 'x', rate: 'fast' });
    await expect(run).rejects.toBeInstanceOf(OptionsError);
    await expect(run).rejects.toThrow(/--rate[\s\S]*--connections[\s\S]*--pipelining/);
  });
});

describe('the generic run', () => {
  let target: HttpTarget;
  beforeAll(async () => {
    target = await startHttpTarget({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await target.close();
  });

  it('runs a record and maps its typed counters', async () => {
    const result = await runProtocol(protocols.http, { url: `${target.url}/`, rate: 50, duration: 400, warmup: 0 });
    expect(result.protocol).toBe('http');
    const step = result.steps[0]!;
    expect(step.completed).toBeGreaterThan(0);
    expect(step.connections).toBeGreaterThan(0);
    expect(step.bytesReceived).toBeGreaterThan(0);
  });

  it('stops on a counter the driver reports but the record does not declare', async () => {
    const undeclared = { ...protocols.http, counterNames: protocols.http.counterNames.filter((n) => n !== 'replies') };
    await expect(runProtocol(undeclared, { url: `${target.url}/`, rate: 20, duration: 200, warmup: 0 })).rejects.toThrow(/does not declare: replies/);
  });
});

describe('endpoints', () => {
  it('reads host:port one way everywhere', () => {
    expect(parseEndpoint('127.0.0.1:53')).toEqual({ host: '127.0.0.1', port: 53 });
    expect(parseEndpoint('ns.example', { port: 53 })).toEqual({ host: 'ns.example', port: 53 });
    expect(parseEndpoint('[::1]:853')).toEqual({ host: '::1', port: 853 });
    expect(parseEndpoint('[::1]', { port: 53 })).toEqual({ host: '::1', port: 53 });
    expect(parseEndpoint(':8080', { host: '127.0.0.1' })).toEqual({ host: '127.0.0.1', port: 8080 });
    for (const bad of ['host:', 'host:99999', '[nope]:53', 'a b:53', '::1:53', '']) expect(parseEndpoint(bad, { port: 53 }), bad).toBeUndefined();
    expect(parseEndpoint('ns.example')).toBeUndefined();
    expect(formatEndpoint('::1', 53)).toBe('[::1]:53');
    expect(formatEndpoint('198.18.0.2', 53)).toBe('198.18.0.2:53');
  });
});
