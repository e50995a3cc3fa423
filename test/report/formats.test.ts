import { describe, expect, it } from 'vitest';
import type { DnsStep, HttpStep } from '../../src/result.js';
import { CSV_COLUMNS, csvField, formatCsv, formatCsvMany } from '../../src/report/csv.js';
import { formatDnsperf, orderedRcodes } from '../../src/report/dnsperf.js';
import { formatHttperf, replyRateSamples, type HttperfExtras } from '../../src/report/httperf.js';
import { formatJson } from '../../src/report/json.js';
import { formatText, ms, saturationLine } from '../../src/report/text.js';
import {
  dnsResult,
  dnsStep,
  httpResult,
  httpStep,
  httpSweep,
  latencyStats,
  saturationOf,
} from '../fixtures-results.js';

/** httperf's block as REFERENCE.md quotes it. */
const HTTPERF_REFERENCE = `Maximum connect burst length: 1

Total: connections 200 requests 200 replies 200 test-duration 1.999 s

Connection rate: 100.1 conn/s (10.0 ms/conn, <=1 concurrent connections)
Connection time [ms]: min 0.3 avg 3.1 max 8.2 median 3.5 stddev 1.5
Connection time [ms]: connect 0.0
Connection length [replies/conn]: 1.000

Request rate: 100.1 req/s (10.0 ms/req)
Request size [B]: 72.0

Reply rate [replies/s]: min 0.0 avg 0.0 max 0.0 stddev 0.0 (0 samples)
Reply time [ms]: response 3.1 transfer 0.0
Reply size [B]: header 184.0 content 6.0 footer 0.0 (total 190.0)
Reply status: 1xx=0 2xx=200 3xx=0 4xx=0 5xx=0

CPU time [s]: user 0.40 system 1.55 (user 20.0% system 77.5% total 97.5%)
Net I/O: 25.6 KB/s (0.2*10^6 bps)

Errors: total 0 client-timo 0 socket-timo 0 connrefused 0 connreset 0
Errors: fd-unavail 0 addrunavail 0 ftab-full 0 other 0
`;

/** dnsperf's block as REFERENCE.md quotes it. */
const DNSPERF_REFERENCE = `Statistics:

  Queries sent:         100000
  Queries completed:    99990 (99.99%)
  Queries lost:         10 (0.01%)

  Response codes:       NOERROR 99000 (99.01%), NXDOMAIN 990 (0.99%)
  Average packet size:  request 31, response 62
  Run time (s):         10.000123
  Queries per second:   9998.877001

  Average Latency (s):  0.000459 (min 0.000090, max 0.045371)
  Latency StdDev (s):   0.000953
`;

/** The run behind httperf's quoted block: 200 one-request connections in 1.999 s. */
function referenceHttpStep(): HttpStep & HttperfExtras {
  const step = httpStep({ targetRate: 100, durationS: 2, replyBytes: 190 });
  return {
    ...step,
    durationS: 1.999,
    warmupS: 0,
    sent: 200,
    completed: 200,
    connections: 200,
    bytesSent: 200 * 72,
    bytesReceived: 200 * 190,
    statusClasses: { '1xx': 0, '2xx': 200, '3xx': 0, '4xx': 0, '5xx': 0 },
    statusCodes: { '200': 200 },
    latencyMs: { count: 200, min: 0.31, mean: 3.12, stdev: 1.49, p50: 3.47, p90: 5.1, p99: 7.9, p999: 8.2, max: 8.21 },
    serviceTimeMs: { ...latencyStats(3, 7.5, 200), mean: 3.08 },
    timeline: [],
    cpu: { userS: 0.45, systemS: 1.6 },
    cpuWindow: { userS: 0.4, systemS: 1.55 },
    maxConnectBurst: 1,
    maxConcurrentConnections: 1,
    connectTimeMs: 0.02,
  };
}

/** The run behind dnsperf's quoted block. */
function referenceDnsStep(): DnsStep {
  const step = dnsStep({ targetRate: 10000, timeouts: 10, rcodes: { NXDOMAIN: 990, NOERROR: 99000 } });
  return {
    ...step,
    // Chosen so that completed / duration is the quoted 9998.877001.
    durationS: 99990 / 9998.877001,
    latencyMs: { count: 99990, min: 0.09, mean: 0.459, stdev: 0.953, p50: 0.35, p90: 0.7, p99: 3.1, p999: 12, max: 45.371 },
  };
}


/** The server columns (testbed targets only) of a step without server figures, at the end of each row. */
const NO_SERVER = ','.repeat(16);

describe('formatHttperf', () => {
  it("reproduces httperf's block line by line (reply size all in content)", () => {
    const out = formatHttperf(httpResult([referenceHttpStep()])).split('\n');
    const ref = HTTPERF_REFERENCE.split('\n');
    expect(out.length).toBe(ref.length);
    out.forEach((line, i) => {
      // We cannot split header from body bytes: all 190 B go to content (documented).
      const want = ref[i]?.startsWith('Reply size')
        ? 'Reply size [B]: header 0.0 content 190.0 footer 0.0 (total 190.0)'
        : ref[i];
      expect(line, `line ${i + 1}`).toBe(want);
    });
  });

  it('leaves out what the result has no data for instead of inventing it', () => {
    const { maxConnectBurst, maxConcurrentConnections, connectTimeMs, ...plain } = referenceHttpStep();
    expect([maxConnectBurst, maxConcurrentConnections, connectTimeMs]).toEqual([1, 1, 0.02]);
    const out = formatHttperf(httpResult([plain]));
    expect(out).not.toContain('Maximum connect burst length');
    expect(out).not.toContain('concurrent connections');
    expect(out).not.toContain('Connection time [ms]: connect');
    expect(out.startsWith('Total: connections 200 requests 200 replies 200 test-duration 1.999 s\n\n')).toBe(true);
    expect(out).toContain('Connection rate: 100.1 conn/s (10.0 ms/conn)\n');
  });

  it('leaves out request size, reply time and reply size when nothing was sent or answered, as httperf does', () => {
    const step: HttpStep = {
      ...httpStep({ targetRate: 100 }),
      sent: 0,
      completed: 0,
      connections: 0,
      bytesSent: 0,
      bytesReceived: 0,
      latencyMs: latencyStats(0, 0, 0),
      timeline: [],
    };
    const out = formatHttperf(httpResult([step]));
    expect(out).not.toMatch(/Request size|Reply time|Reply size/);
    expect(out).toContain('Connection rate: 0.0 conn/s (0.0 ms/conn)');
    expect(out).toContain('Request rate: 0.0 req/s (0.0 ms/req)');
    expect(out).toContain('Connection length [replies/conn]: 0.000');
  });

  it('takes reply-rate samples from whole seconds of the timeline, with a sample stddev', () => {
    const step = httpStep({ targetRate: 100, durationS: 4.5, timelineCompleted: [98, 102, 100, 100, 40] });
    expect(step.timeline).toHaveLength(5);
    expect(replyRateSamples(step.timeline, step.durationS)).toEqual({
      min: 98,
      avg: 100,
      max: 102,
      stddev: Math.sqrt(8 / 3),
      samples: 4,
    });
    expect(formatHttperf(httpResult([step]))).toContain(
      'Reply rate [replies/s]: min 98.0 avg 100.0 max 102.0 stddev 1.6 (4 samples)\n',
    );
  });

  it('counts timeouts as client-timo and in the total, and each error class in its place', () => {
    const step = httpStep({
      targetRate: 1000,
      timeouts: 7,
      errors: { connrefused: 1, connreset: 2, addrunavail: 3, 'fd-unavail': 4, 'ftab-full': 5, 'socket-timo': 6, other: 8 },
    });
    const lines = formatHttperf(httpResult([step])).split('\n');
    expect(lines.filter((l) => l.startsWith('Errors:'))).toEqual([
      'Errors: total 36 client-timo 7 socket-timo 6 connrefused 1 connreset 2',
      'Errors: fd-unavail 4 addrunavail 3 ftab-full 5 other 8',
    ]);
  });

  it('counts protocol errors in the total and names them, with their reasons, on a line of their own', () => {
    const step = {
      ...httpStep({ targetRate: 1000, timeouts: 1, errors: { connreset: 2, protocol: 3 } }),
      failureReasons: ['status code is not three digits: "HTTP/1.1 2000"', 'a bare CR: "HTTP/1.1 200 OK\\r"'],
    };
    const lines = formatHttperf(httpResult([step])).split('\n');
    expect(lines.filter((l) => l.startsWith('Errors:'))).toEqual([
      'Errors: total 6 client-timo 1 socket-timo 0 connrefused 0 connreset 2',
      'Errors: fd-unavail 0 addrunavail 0 ftab-full 0 other 0',
    ]);
    expect(lines[lines.findIndex((l) => l.startsWith('Errors: fd-unavail')) + 1]).toBe(
      '# tsload: protocol errors 3 (replies that broke HTTP: status code is not three digits: "HTTP/1.1 2000"; a bare CR: "HTTP/1.1 200 OK\\r")',
    );
    expect(formatHttperf(httpResult([httpStep({ targetRate: 1000 })]))).not.toContain('protocol errors');
  });

  it('prints one block per step of a sweep, each after a "# step N: rate R" line', () => {
    const sweep = httpSweep();
    const out = formatHttperf(sweep);
    const blocks = out.trimEnd().split('\n\n# step ');
    expect(blocks).toHaveLength(sweep.steps.length);
    expect(out.startsWith('# step 1: rate 500\nTotal: connections 64 requests 5000 replies 5000')).toBe(true);
    expect(out).toContain('\n\n# step 7: rate 5000\nTotal: connections 64 requests 50000 replies 49990');
    expect(out.match(/^Errors: fd-unavail/gm)).toHaveLength(sweep.steps.length);
  });

  it('marks a stopped run and shows what httperf has no line for', () => {
    const step = httpStep({ targetRate: 1000, dropped: 12, inflightAtEnd: 3 });
    const out = formatHttperf(httpResult([step], { aborted: true }));
    expect(out.startsWith('# stopped early: partial results\n\nTotal:')).toBe(true);
    expect(out.trimEnd().split('\n').at(-1)).toBe(
      '# tsload: dropped 12 (not sent: in-flight cap reached, or tsload too far behind), in flight at end 3',
    );
  });
});

describe('formatDnsperf', () => {
  it("reproduces dnsperf's block line by line", () => {
    const out = formatDnsperf(dnsResult([referenceDnsStep()]));
    expect(out.split('\n')).toEqual(DNSPERF_REFERENCE.split('\n'));
  });

  it('lists response codes in RCODE order, unknown ones last', () => {
    expect(orderedRcodes({ RCODE_12: 1, RCODE13: 1, NXDOMAIN: 3, WEIRD: 1, NOERROR: 5, SERVFAIL: 2, REFUSED: 0 })).toEqual([
      ['NOERROR', 5],
      ['SERVFAIL', 2],
      ['NXDOMAIN', 3],
      ['RCODE_12', 1],
      ['RCODE13', 1],
      ['WEIRD', 1],
    ]);
  });

  it('adds the interrupted and unexpected lines only when non-zero, as dnsperf does', () => {
    const step = dnsStep({ targetRate: 1000, inflightAtEnd: 25, unexpected: 4 });
    const lines = formatDnsperf(dnsResult([step])).split('\n');
    expect(lines.slice(2, 8)).toEqual([
      '  Queries sent:         10000',
      '  Queries completed:    9975 (99.75%)',
      '  Queries lost:         0 (0.00%)',
      '  Queries interrupted:  25 (0.25%)',
      '  Unexpected IDs:       4 (0.04%)',
      '',
    ]);
  });

  it('truncates packet sizes and drops the stddev line for a single answer', () => {
    const step: DnsStep = {
      ...dnsStep({ targetRate: 1, durationS: 1 }),
      avgRequestBytes: 31.9,
      avgResponseBytes: 62.5,
    };
    expect(step.completed).toBe(1);
    const out = formatDnsperf(dnsResult([step]));
    expect(out).toContain('  Average packet size:  request 31, response 62\n');
    expect(out).toContain('  Average Latency (s):  ');
    expect(out).not.toContain('Latency StdDev');
  });

  it('prints an empty response code list as dnsperf does when nothing answered', () => {
    const step = dnsStep({ targetRate: 10, durationS: 1, timeouts: 10, rcodes: {} });
    const out = formatDnsperf(dnsResult([step]));
    expect(out).toContain('\n  Response codes:       \n');
    expect(out).toContain('  Queries lost:         10 (100.00%)\n');
    expect(out).toContain('  Queries per second:   0.000000\n');
  });

  it('prints one block per step, marks a stopped run and notes what dnsperf has no line for', () => {
    const result = dnsResult(
      [dnsStep({ targetRate: 1000 }), dnsStep({ targetRate: 20000, timeouts: 3000, late: 40, dropped: 7 })],
      { aborted: true },
    );
    const out = formatDnsperf(result);
    expect(out.startsWith('# stopped early: partial results\n\n# step 1: rate 1000\nStatistics:\n')).toBe(true);
    expect(out).toContain('\n\n# step 2: rate 20000\nStatistics:\n');
    expect(out.match(/^Statistics:$/gm)).toHaveLength(2);
    expect(out.trimEnd().split('\n').at(-1)).toBe(
      '# tsload: late 40 (answered after being counted lost), dropped 7 (not sent: in-flight cap reached, or tsload too far behind)',
    );
  });
});

describe('formatText', () => {
  const sweepLines = (text: string): string[] => {
    const lines = text.split('\n');
    const start = lines.findIndex((l) => l.startsWith('step '));
    const end = lines.indexOf('', start);
    return lines.slice(start, end);
  };

  it('prints a sweep as an aligned table with one row per step', () => {
    const sweep = httpSweep();
    const table = sweepLines(formatText(sweep));
    expect(table).toHaveLength(2 + sweep.steps.length);
    expect(table[0]?.split(/\s+/)).toEqual([
      'step', 'target', 'sent', 'replies', 'p50', 'p90', 'p99', 'p99.9', 'max', 'errors', 'timeouts', 'unsent', 'dropped', 'busy', 'limit',
    ]);
    expect(table[1]?.trim().split(/\s+/)).toEqual(['req/s', 'req/s', 'req/s', 'ms', 'ms', 'ms', 'ms', 'ms', '%']);
    expect(table[6]?.trim().split(/\s+/)).toEqual([
      '5', '4000', '4000.0', '4000.0', '0.500', '1.31', '3.20', '5.76', '10.2', '0', '0', '0', '0', '4', '-',
    ]);
    expect(table[7]?.trim().split(/\s+/)).toEqual([
      '6', '4500', '4500.0', '4499.5', '85.0', '189', '430', '774', '1376', '0', '5', '0', '0', '5', '-',
    ]);
    // Right-aligned: every header and data row ends at the same column.
    const rows = [table[0], ...table.slice(2)];
    expect(new Set(rows.map((r) => r?.length)).size).toBe(1);
  });

  it('sums the sweep and names the saturation point and what failed above it', () => {
    const text = formatText(httpSweep());
    expect(text).toContain('\ntotal: sent 200000, completed 199985, errors 0, timeouts 15, not sent 0, dropped 0\n');
    expect(text).toContain('\nsaturation: 4000 req/s (step 5); above it p99 failed first at 4500 req/s (step 6)\n');
    expect(text).toContain('\ncriteria: replies >= 95% of target rate, errors <= 1%, p99 <= 100 ms\n');
  });

  it('says when no step met the criteria, and when none failed', () => {
    const failing = httpResult([
      httpStep({ targetRate: 100, p99Ms: 250 }),
      httpStep({ targetRate: 200, p99Ms: 300 }),
    ]);
    expect(failing.saturation).toMatchObject({ rate: null, failedCriterion: 'p99', failedAt: 0 });
    expect(saturationLine(failing)).toBe('saturation: no step met the criteria; p99 failed first at 100 req/s (step 1)');
    const passing = httpResult([httpStep({ targetRate: 100 }), httpStep({ targetRate: 200.5 })]);
    expect(saturationLine(passing)).toBe('saturation: not reached; every step met the criteria up to 200.5 req/s');
  });

  it('gives DNS sweeps lost and late columns in q/s', () => {
    const steps = [dnsStep({ targetRate: 1000 }), dnsStep({ targetRate: 20000, timeouts: 3000, late: 12, p50Ms: 2, p99Ms: 40 })];
    const text = formatText(dnsResult(steps, { saturation: saturationOf(steps) }));
    const table = sweepLines(text);
    expect(table[0]?.split(/\s+/).slice(-6)).toEqual(['errors', 'lost', 'late', 'dropped', 'busy', 'limit']);
    expect(table[0]).not.toContain('timeouts');
    expect(table[1]?.trim().split(/\s+/).slice(0, 3)).toEqual(['q/s', 'q/s', 'q/s']);
    expect(table[3]?.trim().split(/\s+/).slice(-6)).toEqual(['0', '3000', '12', '0', '20', '-']);
    expect(text).toContain('\ntotal: sent 210000, completed 207000, errors 0, lost 3000, late 12, dropped 0\n');
    expect(text).toContain('\nsaturation: 1000 q/s (step 1); above it errors failed first at 20000 q/s (step 2)\n');
  });

  it("says when the first failing step's generator was near its own limit", () => {
    const steps = [dnsStep({ targetRate: 1000 }), dnsStep({ targetRate: 60000, timeouts: 30000, generatorBusy: 0.968 })];
    const text = formatText(dnsResult(steps, { saturation: saturationOf(steps) }));
    expect(text).toContain(
      "\nsaturation: 1000 q/s (step 1); above it errors failed first at 60000 q/s (step 2), where tsload's busiest thread was busy 97% of the time: the limit may be tsload's own (add --threads)\n",
    );
    expect(sweepLines(text)[3]?.trim().split(/\s+/).at(-2)).toBe('97');
    const single = (busy: number | null): string | undefined =>
      formatText(dnsResult([dnsStep({ targetRate: 20000, generatorBusy: busy })]))
        .split('\n')
        .find((l) => l.startsWith('Generator busy'));
    expect(single(0.42)).toMatch(/^Generator busy +42% of the window \(busiest thread\)$/);
    expect(single(0.9)).toMatch(/^Generator busy +90% of the window \(busiest thread\): tsload was near its own limit, so latency and loss may be partly its own; add --threads$/);
    expect(single(null)).toMatch(/^Generator busy +not measured: the loop spins on purpose/);
  });

  it('flags a step where tsload was the limit in the dnsperf block', () => {
    const step = {
      ...dnsStep({ targetRate: 80000 }),
      lostAtGenerator: 120,
      generatorLimits: [
        { kind: 'socketBuffers' as const, cause: 'tsload' as const, lostAtGenerator: 120 },
        { kind: 'thread' as const, cause: 'tsload' as const, busy: 0.99, threads: 1 },
      ],
    };
    const block = formatDnsperf(dnsResult([step]));
    expect(block).toContain("\n# tsload: tsload was the limit here (120 answers dropped at tsload's own sockets, not read in time): add --threads or --sockets\n");
    expect(block).toContain('\n# tsload: tsload was the limit here (its busiest load thread was busy 99% of the time; latency and loss may be partly its own): add --threads, or machines');
    const text = formatText(dnsResult([dnsStep({ targetRate: 1000 }), step]));
    expect(sweepLines(text)[3]?.trim().split(/\s+/).at(-1)).toBe('tsload');
    expect(text).toContain("\nstep 2 (80000 q/s): tsload was the limit here (120 answers dropped at tsload's own sockets");
  });

  it('marks a stopped run', () => {
    const text = formatText(httpResult([httpStep({ targetRate: 100 })], { aborted: true }));
    expect(text.split('\n')[2]).toBe('stopped early: partial results');
    expect(formatText(httpResult([httpStep({ targetRate: 100 })]))).not.toContain('stopped early');
  });

  it("prints a single HTTP run with httperf's figures and the three latency rows", () => {
    const step = httpStep({
      targetRate: 1000,
      timeouts: 7,
      errors: { connreset: 2, other: 1 },
      statusCodes: { '404': 10, '200': 9980 },
    });
    const lines = formatText(httpResult([step])).split('\n');
    const value = (label: string): string | undefined =>
      lines.find((l) => l.startsWith(`${label}  `))?.slice(label.length).trim();
    expect(value('Target rate')).toBe('1000 req/s');
    expect(value('Requests sent')).toBe('10000');
    expect(value('Replies')).toBe('9990 (99.90%)');
    expect(value('Test duration')).toBe('10.000 s');
    expect(value('Request rate')).toBe('1000.0 req/s');
    expect(value('Reply rate')).toBe('999.0 req/s');
    expect(value('Connections opened')).toBe('64');
    expect(value('Status classes')).toBe('1xx 0, 2xx 9980, 3xx 0, 4xx 10, 5xx 0');
    expect(value('Status codes')).toBe('200 9980, 404 10');
    expect(value('Request size')).toBe('72.0 B (720000 B sent)');
    expect(value('Reply size')).toBe('1265.0 B (12637350 B received)');
    expect(value('Errors')).toBe('3 (connreset 2, other 1)');
    expect(value('Timeouts')).toBe('7');
    expect(value('Dropped')).toBe('0 (not sent: in-flight cap reached, or tsload too far behind)');
    expect(value('In flight at end')).toBe('0');
    expect(value('Generator CPU')).toBe('user 0.22 s, system 0.09 s in the window (30.6 µs per request)');
    expect(lines[lines.findIndex((l) => l.startsWith('Generator CPU')) + 1]?.trim()).toBe('user 0.24 s, system 0.10 s with warmup and drain');
    const head = lines.findIndex((l) => l.startsWith('(ms) '));
    expect(lines[head]?.split(/\s+/)).toEqual(['(ms)', 'count', 'min', 'mean', 'stdev', 'p50', 'p90', 'p99', 'p99.9', 'max']);
    expect(lines[head + 1]).toMatch(/^latency \(from intended send\) +9990 +0\.180 +0\.518 +0\.587 +0\.450 +0\.855 +1\.80 +3\.24 +5\.76$/);
    expect(lines[head + 2]).toMatch(/^service time \(from actual send\) +9990 /);
    expect(lines[head + 3]).toMatch(/^schedule lag \(generator late by\) +10000 /);
  });

  it("prints a single DNS run with dnsperf's figures", () => {
    const step = dnsStep({ targetRate: 10000, timeouts: 10, late: 2, rcodes: { NXDOMAIN: 990, NOERROR: 99000 } });
    const text = formatText(dnsResult([step]));
    expect(text).toMatch(/\nQueries sent +100000\n/);
    expect(text).toMatch(/\nQueries completed +99990 \(99\.99%\)\n/);
    expect(text).toMatch(/\nQueries lost +10 \(0\.01%\)\n/);
    expect(text).toMatch(/\nLate answers +2 /);
    expect(text).toMatch(/\nResponse codes +NOERROR 99000 \(99\.01%\), NXDOMAIN 990 \(0\.99%\)\n/);
    expect(text).toMatch(/\nAverage packet size +request 31\.0 B, response 62\.0 B\n/);
    expect(text).toMatch(/\nRun time +10\.000 s\n/);
    expect(text).toMatch(/\nQueries per second +9999\.0 q\/s answered\n/);
    expect(text).not.toContain('req/s');
  });

  it('prints a dash, not 0.000, for the latencies of a step with no replies', () => {
    const dead = httpStep({ targetRate: 100, timeouts: 1000 });
    expect(dead.completed).toBe(0);
    const sweep = sweepLines(formatText(httpResult([httpStep({ targetRate: 50 }), dead])));
    expect(sweep[3]?.trim().split(/\s+/).slice(4, 9)).toEqual(['\u2013', '\u2013', '\u2013', '\u2013', '\u2013']);
    expect(sweep[2]?.trim().split(/\s+/)[4]).toBe('0.450');
    const lines = formatText(httpResult([dead])).split('\n');
    const head = lines.findIndex((l) => l.startsWith('(ms) '));
    expect(lines[head + 1]).toMatch(/^latency \(from intended send\) +0( +\u2013){8}$/);
    expect(lines[head + 2]).toMatch(/^service time \(from actual send\) +0( +\u2013){8}$/);
    expect(lines[head + 3]).toMatch(/^schedule lag \(generator late by\) +1000 +0\.\d{3} /);
    // JSON keeps its numbers.
    expect(JSON.parse(formatJson(httpResult([dead]))).steps[0].latencyMs.p50).toBe(0);
  });

  it('rounds latencies to about three significant digits', () => {
    expect([ms(0.0414), ms(1.2345), ms(12.345), ms(123.45), ms(0)]).toEqual(['0.041', '1.23', '12.3', '123', '0.000']);
  });
});

describe('formatCsv', () => {
  it('writes a header and one row per step, protocol columns left empty where they do not apply', () => {
    const csv = formatCsv(httpSweep());
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines).toHaveLength(1 + 7);
    expect(csv.endsWith('\n')).toBe(true);
    const row = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, lines[6]?.split(',')[i]]));
    expect(row).toMatchObject({
      label: 'http://198.18.0.2:8080/index.html',
      protocol: 'http',
      step: '6',
      targetRate: '4500',
      sent: '45000',
      completed: '44995',
      replyRate: '4499.5',
      timeouts: '5',
      latencyP99Ms: '430',
      lost: '',
      late: '',
      connections: '64',
    });
  });

  it('quotes fields as RFC 4180 says', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(12.5)).toBe('12.5');
    const result = dnsResult([dnsStep({ targetRate: 100, timeouts: 3, late: 1 })], { label: 'nsd, "one core"' });
    const row = formatCsv(result).split('\n')[1];
    expect(row?.startsWith('"nsd, ""one core""",198.18.0.2:53,dns,1,100,')).toBe(true);
    // DNS: lost and late filled, lostAtGenerator unknown here, connections empty, then CPU (step, window).
    expect(row?.endsWith(',3,1,,,0.024,0.01,0.022,0.009,0.001,,,,1,,,,' + NO_SERVER)).toBe(true);
  });

  it('fills connections, reconnects and TLS handshakes for DNS over a stream', () => {
    const stream = { connections: 5, reconnects: 1, closedByServer: 1, connectFailures: 0, tlsHandshakes: 5, tlsHandshakeMeanMs: 1.25 };
    const row = formatCsv(dnsResult([{ ...dnsStep({ targetRate: 100, timeouts: 3, late: 1 }), stream }])).split('\n')[1];
    expect(row?.endsWith(',3,1,,5,0.024,0.01,0.022,0.009,0.001,,,,1,1,,5,1.25' + NO_SERVER)).toBe(true);
  });

  it("shows answers lost at tsload's own sockets apart, where the kernel said", () => {
    const step = dnsStep({ targetRate: 100, timeouts: 3, late: 1, lostAtGenerator: 2 });
    const result = dnsResult([step]);
    expect(formatCsv(result).split('\n')[1]?.endsWith(',3,1,2,,0.024,0.01,0.022,0.009,0.001,,,,1,,,,' + NO_SERVER)).toBe(true);
    expect(formatText(result)).toMatch(/\nLost at tsload +2 \(answers dropped at tsload's own sockets, not read in time\)\n/);
    expect(formatText(result)).toMatch(/\nGenerator CPU +user [\d.]+ s, system [\d.]+ s in the window \([\d.]+ µs per query\)\n/);
    expect(formatDnsperf(result)).toContain("# tsload: lost at tsload 2 (answers dropped at tsload's own sockets, not read in time), late 1");
    // Known to be zero: still said, in the text report; unknown (null): not shown.
    expect(formatText(dnsResult([{ ...step, lostAtGenerator: 0 }]))).toMatch(/\nLost at tsload +0 \(/);
    expect(formatText(dnsResult([{ ...step, lostAtGenerator: null }]))).not.toContain('Lost at tsload');
    expect(formatDnsperf(dnsResult([{ ...step, lostAtGenerator: 0 }]))).not.toContain('lost at tsload');
  });

  it('puts several results under one header', () => {
    const csv = formatCsvMany([httpSweep(), dnsResult([dnsStep({ targetRate: 100 })])]);
    const lines = csv.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('label,'))).toHaveLength(1);
    expect(lines).toHaveLength(1 + 7 + 1);
    expect(lines[8]?.split(',')[2]).toBe('dns');
    expect(formatCsvMany([])).toBe(`${CSV_COLUMNS.join(',')}\n`);
  });

  it('reads results written before steps carried their window CPU', () => {
    const { cpuWindow: _, generatorBusy: _busy, ...older } = dnsStep({ targetRate: 100, timeouts: 3, late: 1 });
    const result = dnsResult([older]);
    expect(formatCsv(result).split('\n')[1]?.endsWith(',3,1,,,0.024,0.01,,,,,,,1,,,,' + NO_SERVER)).toBe(true);
    const text = formatText(result).split('\n');
    expect(text.find((l) => l.startsWith('Generator CPU'))).toMatch(/^Generator CPU +user 0\.02 s, system 0\.01 s with warmup and drain$/);
    // httperf's CPU line then takes the step's CPU over warmup + window.
    const { cpuWindow: __, generatorBusy: __busy, ...olderHttp } = referenceHttpStep();
    const block = formatHttperf(httpResult([{ ...olderHttp, warmupS: 1 }])).split('\n');
    expect(block).toContain('CPU time [s]: user 0.45 system 1.60 (user 15.0% system 53.4% total 68.4%)');
  });
});

describe('formatJson', () => {
  it('writes the result as it is, keys in order, with a final newline', () => {
    const result = httpSweep();
    const json = formatJson(result);
    expect(json.endsWith('}\n')).toBe(true);
    expect(JSON.parse(json)).toEqual(result);
    expect(Object.keys(JSON.parse(json) as object)).toEqual(Object.keys(result));
    expect(json.split('\n')[1]).toBe('  "schema": "tsload/result@1",');
  });
});
