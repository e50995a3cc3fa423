/**
 * The open loop at the window's closing edge, in this thread, so the test can
 * stall the generator itself (a GC pause or the VM taking the core away).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenLoop } from '../src/engine/loop.js';
import type { StepReport } from '../src/engine/messages.js';
import { createDriver } from '../src/drivers/dns.js';
import { loadZone } from '../src/drivers/dns-zone.js';
import { parseQueryFile } from '../src/drivers/dns-queries.js';
import { startDnsTarget, type DnsTarget } from '../src/targets/dns.js';

const zoneFile = new URL('../fixtures/test.zone', import.meta.url).pathname;

function stallFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // The generator's thread is taken away: nothing else runs.
  }
}

describe('open loop at the end of the window', () => {
  let target: DnsTarget;
  beforeAll(async () => {
    target = await startDnsTarget({ zones: [loadZone(zoneFile)] });
  });
  afterAll(async () => {
    await target.close();
  });

  it('still sends the slots a short stall at the window\'s end held back, late, instead of dropping them', async () => {
    const [host, port] = target.address.split(':') as [string, string];
    const loop = new OpenLoop({ threadIndex: 0, threadCount: 1, arrival: 'constant', seed: 1, maxInflight: 4096, busyPoll: false, onSecond: () => {} });
    const driver = await createDriver(
      { server: host, port: Number(port), queries: parseQueryFile('www.example.com A\n'), sockets: 4, dnssec: false, recursionDesired: true },
      loop,
      { threadIndex: 0, threadCount: 1, timeoutMs: 2000, maxInflight: 4096 },
    );
    loop.attach(driver);
    try {
      const rate = 10_000;
      const durationMs = 500;
      const startAtEpochMs = performance.timeOrigin + performance.now() + 20;
      const windowEnd = startAtEpochMs - performance.timeOrigin + durationMs;
      // 50 ms straddling the window's end holds back 400 of its slots: more than one pump slice sends.
      const stall = setTimeout(() => stallFor(50), windowEnd - 40 - performance.now());
      const step: StepReport = await loop.runStep({ type: 'step', index: 0, rate, warmupMs: 0, durationMs, drainMs: 2000, startAtEpochMs });
      clearTimeout(stall);
      expect(step.dropped).toBe(0);
      expect(step.sent).toBe((rate * durationMs) / 1000);
      expect(step.completed).toBe(step.sent);
      // Not vacuous: the stall did hold sends back past the window's end.
      expect(step.sentInWindow).toBeLessThan(step.sent - 200);
    } finally {
      await driver.close();
    }
  });
});
