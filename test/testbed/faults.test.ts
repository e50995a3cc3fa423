/**
 * The testbed's link cut for 2 s in the middle of a run and restored: an
 * nftables rule on each host's ingress drops every IP packet, so nothing is
 * refused or reset, it only goes unanswered (a pulled cable, not a closed
 * port). Needs root, iproute2, nft and nginx; run with TSLOAD_TESTBED_ID set
 * when other testbeds share the machine.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpResult, HttpStep } from '../../src/result.js';
import { CLIENT, SERVER, down, start, up } from '../../src/testbed/index.js';
import { TESTBED_ID } from '../../src/testbed/settings.js';
import { findBinary } from '../../src/testbed/system.js';
import { tsload } from '../run-cli.js';
import { testbedSkipReason } from '../testbed-skip.js';

const run = promisify(execFile);
const skipReason = testbedSkipReason(['nginx', 'nft']);
if (skipReason !== undefined) console.warn(`test/testbed/faults.test.ts: skipped: ${skipReason}`);

const TABLE = `tsload_faults_${TESTBED_ID}`;
/**
 * How long after the restore everything is served again: connections opened
 * during the cut wait for their SYN's next retransmission, which Linux backs
 * off 1, 2, 4 s, so up to 2 s for a cut of 2 s; and a second more.
 */
const RECOVERY_MS = 3000;

/** Drop (true) or pass again (false) every IP packet arriving at either end of the link; ARP is spared, so the link comes back at once. */
async function cut(on: boolean): Promise<void> {
  const ip = findBinary('ip') ?? 'ip';
  for (const host of [CLIENT, SERVER]) {
    let script = `table netdev ${TABLE}\ndelete table netdev ${TABLE}\n`;
    if (on) script += `table netdev ${TABLE} {\n  chain cut {\n    type filter hook ingress device "${host.interface}" priority 0; policy accept;\n    meta protocol { ip, ip6 } drop\n  }\n}\n`;
    const child = execFile(ip, ['netns', 'exec', host.namespace, 'nft', '-f', '-']);
    const done = new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft exited ${code}`)))));
    child.stdin!.end(script);
    await done;
  }
}

describe.skipIf(skipReason !== undefined)('the testbed link cut mid-run', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    await up({});
    await start('nginx');
  }, 60_000);
  afterAll(async () => {
    await cut(false).catch(() => {});
    await down();
  }, 60_000);

  it('cut for 2 s: requests in the cut time out (or wait unsent), none is an error, and the timeline shows the recovery', async () => {
    const rate = 500;
    const timeoutS = 1;
    const cliRun = tsload(['http', '--testbed', '--rate', String(rate), '--duration', '8s', '--warmup', '0', '--timeout', `${timeoutS}s`, '--json', '-', '--quiet'], {
      env: { TSLOAD_TESTBED_ID: String(TESTBED_ID) },
    });
    // Far enough in for the CLI to have started in the client host and be sending.
    await new Promise((r) => setTimeout(r, 2000));
    const cutAt = Date.now();
    await cut(true);
    await new Promise((r) => setTimeout(r, 2000));
    await cut(false);
    const restoredAt = Date.now();
    const done = await cliRun;
    expect(done.code, done.stderr).toBe(0);
    const result = JSON.parse(done.stdout) as HttpResult;
    const step = result.steps[0] as HttpStep;
    const timeline = step.timeline.map((p) => `${p.tS}: ${p.sent} ${p.completed} ${p.errors} ${p.timeouts} ${p.notSent ?? 0}`).join('\n');
    if (process.env.FAULTS_TIMELINE === '1') console.info(`link cut ${cutAt - step.window!.startMs}..${restoredAt - step.window!.startMs} ms into the window\n${timeline}`);

    const windowStart = step.window!.startMs;
    expect(cutAt - windowStart, 'the cut began inside the window').toBeGreaterThan(500);
    expect(restoredAt - windowStart, 'and ended three seconds before it did').toBeLessThan(8000 - RECOVERY_MS - 1000);
    expect(step.sent + step.dropped + (step.notSent ?? 0)).toBe(rate * 8);
    expect(step.completed + step.errors.total + step.timeouts + step.inflightAtEnd, timeline).toBe(step.sent);
    // Nothing was refused or reset: the packets only vanished.
    expect(step.errors.total, timeline).toBe(0);
    // Requests written before the cut time out; the rest wait in tsload for a
    // connection, those that waited a whole timeout give up unsent, and those
    // of the cut's last second are sent once it is restored, late (latency runs
    // from the intended send, so the wait is in it).
    const unanswered = step.timeouts + (step.notSent ?? 0);
    expect(unanswered, timeline).toBeGreaterThan(rate * (2 - timeoutS) * 0.8);
    expect(unanswered, timeline).toBeLessThan((rate * (2000 + RECOVERY_MS)) / 1000);
    expect(step.latencyMs.max, timeline).toBeGreaterThan(timeoutS * 1000 * 0.5);
    for (const p of step.timeline) {
      const from = windowStart + p.tS * 1000;
      // A second wholly inside the cut saw no reply; one that began a timeout and a second after the restore, all of them.
      if (from >= cutAt && from + 1000 <= restoredAt) expect(p.completed, timeline).toBe(0);
      if (from >= restoredAt + RECOVERY_MS) expect(p.completed, timeline).toBeGreaterThan(rate * 0.95);
      if (from + 1000 <= cutAt) expect(p.completed, timeline).toBeGreaterThan(rate * 0.95);
    }
    expect(step.timeline.some((p) => windowStart + p.tS * 1000 >= restoredAt + RECOVERY_MS), 'a second after the recovery').toBe(true);
  });
});
