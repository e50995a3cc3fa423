/**
 * Experiment plans: what a plan file becomes (defaults, absolute paths,
 * derived rates), every problem listed with its path, the run order that
 * interleaves repeats, and the cells' ids.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputFileError, OptionsError } from '../../src/errors.js';
import { cellId, loadPlan, parsePlan, planCells, plannedSeconds, sanitizeName } from '../../src/experiment/index.js';
import { runOptions } from '../../src/experiment/plan.js';
import { createExperimentProgress, experimentLine } from '../../src/experiment/progress.js';

const root = new URL('../..', import.meta.url).pathname;
const fixtures = join(root, 'fixtures');
const zone = join(fixtures, 'test.zone');

function problemsOf(text: string, format: 'yaml' | 'json' = 'yaml'): string[] {
  try {
    parsePlan(text, format, { baseDir: fixtures });
  } catch (error) {
    if (error instanceof OptionsError) return [...error.problems];
    throw error;
  }
  throw new Error('the plan was accepted');
}

const minimal = `
repeats: 3
sweep: { rate: 1000 }
targets: [nginx, nsd]
workloads:
  - { name: page, protocol: http, path: /index.html }
  - { name: zone, protocol: dns, zone: test.zone }
`;

describe('plan', () => {
  it('reads the CI fixture: defaults filled in, paths absolute, rates derived', () => {
    const plan = loadPlan(join(fixtures, 'experiments', 'ci.yaml'));
    expect(plan.name).toBe('ci');
    expect(plan.repeats).toBe(2);
    expect(plan.testbed).toEqual({ rate: '1gbit', delay: '0', loss: '0%' });
    expect(plan.targets.map((t) => [t.name, t.server, t.protocols])).toEqual([
      ['nginx', 'nginx', ['http']],
      ['lighttpd', 'lighttpd', ['http']],
      ['nsd', 'nsd', ['dns']],
      ['builtin-dns', 'builtin-dns', ['dns']],
    ]);
    const [page, dns] = plan.workloads;
    expect(page).toMatchObject({ name: 'page', protocol: 'http', path: '/index.html', options: { connections: 8 } });
    expect(dns).toMatchObject({ name: 'zone', protocol: 'dns', zone, options: { sockets: 4 } });
    expect(page!.sweep).toEqual({ rate: '100..400', steps: 2, duration: '1s', warmup: '0.5s', rates: [100, 400], durationMs: 1000, warmupMs: 500 });
    expect(plan.cells).toEqual([
      { target: 'nginx', workload: 'page' },
      { target: 'lighttpd', workload: 'page' },
      { target: 'nsd', workload: 'zone' },
      { target: 'builtin-dns', workload: 'zone' },
    ]);
    // What the runner records must survive the manifest's JSON unchanged, or a resume would see another plan.
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('interleaves repeats (A B C A B C) and names cells target--workload--rN', () => {
    const plan = loadPlan(join(fixtures, 'experiments', 'ci.yaml'));
    const cells = planCells(plan);
    expect(cells.map((c) => c.id)).toEqual([
      'nginx--page--r1',
      'lighttpd--page--r1',
      'nsd--zone--r1',
      'builtin-dns--zone--r1',
      'nginx--page--r2',
      'lighttpd--page--r2',
      'nsd--zone--r2',
      'builtin-dns--zone--r2',
    ]);
    expect(cells.map((c) => c.protocol)).toEqual(['http', 'http', 'dns', 'dns', 'http', 'http', 'dns', 'dns']);
    // Two steps of 0.5 s warmup + 1 s window.
    expect(cells.every((c) => c.plannedS === 3)).toBe(true);
  });

  it('runs all of a target workloads before the next target, whatever order cells are listed in', () => {
    const plan = parsePlan(
      `
repeats: 2
sweep: { rate: 100 }
targets: [lighttpd, nginx]
workloads:
  - { name: a, protocol: http, path: /a }
  - { name: b, protocol: http, path: /b }
cells:
  - { target: nginx, workload: b }
  - { target: lighttpd, workload: a }
  - { target: nginx, workload: a }
`,
      'yaml',
      { baseDir: fixtures },
    );
    expect(planCells(plan).map((c) => c.id)).toEqual(['lighttpd--a--r1', 'nginx--a--r1', 'nginx--b--r1', 'lighttpd--a--r2', 'nginx--a--r2', 'nginx--b--r2']);
  });

  it('the seed study: six servers, five repeats, 10 steps of 1 s + 3 s, one core and 1 GiB each', () => {
    const plan = loadPlan(join(fixtures, 'experiments', 'seed-study.yaml'));
    const cells = planCells(plan);
    expect(cells).toHaveLength(30);
    expect(new Set(cells.map((c) => c.target))).toEqual(new Set(['nginx', 'apache', 'lighttpd', 'bind', 'nsd', 'knot']));
    expect(plan.workloads[0]!.sweep.rates).toEqual([100, 1200, 2300, 3400, 4500, 5600, 6700, 7800, 8900, 10000]);
    expect(plan.targets.every((t) => t.start.cpus === 1 && t.start.memory === '1g')).toBe(true);
    expect(plan.workloads.map((w) => w.options)).toEqual([{ confirm: 0 }, { confirm: 0 }]);
    // The load alone: 30 cells × 40 s = 20 minutes.
    expect(cells.reduce((s, c) => s + c.plannedS, 0)).toBe(1200);
  });

  it('short and long target forms, a series name with server:, defaults', () => {
    const plan = parsePlan(
      `
sweep: { rate: 200, duration: 2, warmup: 0 }
targets:
  - builtin-http
  - { name: nginx 4 workers, server: nginx, workers: 4, cpus: 1, memory: 1g }
  - { name: knot, zone: zones/include-main.zone, readyTimeout: 30s }
workloads:
  - { name: page, protocol: http, url: 'http://198.18.0.2/x', options: { timeout: 2, maxConnections: 100 } }
  - { name: q, protocol: dns, queries: zones/queries.txt }
`,
      'yaml',
      { baseDir: fixtures, defaultName: 'from-file' },
    );
    expect(plan.name).toBe('from-file');
    expect(plan.repeats).toBe(1);
    expect(plan.targets[1]).toEqual({ name: 'nginx 4 workers', server: 'nginx', protocols: ['http'], start: { workers: 4, cpus: 1, memory: '1g' } });
    expect(plan.targets[2]!.start).toEqual({ zone: join(fixtures, 'zones', 'include-main.zone'), readyTimeoutMs: 30_000 });
    expect(plan.workloads[1]!.queries).toBe(join(fixtures, 'zones', 'queries.txt'));
    // Bare numbers are seconds, as on the command line.
    expect(plan.workloads[0]!.sweep).toMatchObject({ durationMs: 2000, warmupMs: 0, rates: [200] });
    expect(plan.workloads[0]!.options).toEqual({ timeout: '2', maxConnections: 100 });
    expect(planCells(plan).map((c) => c.id)).toEqual(['builtin-http--page--r1', 'nginx_4_workers--page--r1', 'knot--q--r1']);
    expect(sanitizeName('a/b c:d')).toBe('a_b_c_d');
    expect(cellId('a b', 'w/1', 3)).toBe('a_b--w_1--r3');
  });

  it('a per-workload sweep overrides the plan sweep key by key', () => {
    const plan = parsePlan(
      `
sweep: { rate: 100..1000, duration: 1s, warmup: 0.5s }
targets: [nginx]
workloads:
  - { name: a, protocol: http, path: /, sweep: { rate: '100,500', duration: 2s } }
`,
      'yaml',
      { baseDir: fixtures },
    );
    expect(plan.workloads[0]!.sweep).toEqual({ rate: '100,500', duration: '2s', warmup: '0.5s', rates: [100, 500], durationMs: 2000, warmupMs: 500 });
    expect(plannedSeconds(plan.workloads[0]!.sweep)).toBe(5);
  });

  it('a VM target serves the protocols of its ports; its files resolve against the plan', () => {
    const plan = parsePlan(
      `
sweep: { rate: 100 }
targets:
  - { name: unikraft, vm: { kernel: ../vm/kernel, append: 'netdev.ipv4_addr={address}', memory: 256M, ports: { http: 80, dns: 53 } } }
workloads:
  - { name: page, protocol: http, path: / }
  - { name: zone, protocol: dns, zone: test.zone }
`,
      'yaml',
      { baseDir: fixtures },
    );
    expect(plan.targets[0]).toEqual({
      name: 'unikraft',
      vm: { kernel: join(root, 'vm', 'kernel'), append: 'netdev.ipv4_addr={address}', memory: '256M', ports: { http: 80, dns: 53 } },
      protocols: ['http', 'dns'],
      start: {},
    });
    expect(planCells(plan).map((c) => c.id)).toEqual(['unikraft--page--r1', 'unikraft--zone--r1']);
  });

  it('a VM booted from its disk alone (OSv) needs no kernel; qemu arguments pass through; a VM with nothing to boot is refused', () => {
    const plan = parsePlan(
      `
sweep: { rate: 100 }
targets:
  - { name: osv, vm: { disk: ../vm/usr.img, memory: 1g, ports: { http: 80 } } }
  - { name: mirage, vm: { kernel: x.virtio, qemuArgs: [-cpu, Westmere, -no-acpi], ports: { http: 80 } } }
workloads:
  - { name: page, protocol: http, path: / }
`,
      'yaml',
      { baseDir: fixtures },
    );
    expect(plan.targets.map((t) => t.vm)).toEqual([
      { disk: join(root, 'vm', 'usr.img'), memory: '1g', ports: { http: 80 } },
      { kernel: join(fixtures, 'x.virtio'), qemuArgs: ['-cpu', 'Westmere', '-no-acpi'], ports: { http: 80 } },
    ]);
    expect(() => parsePlan('sweep: { rate: 100 }\ntargets: [{ name: g, vm: { append: x, qemuArgs: -smp, ports: { http: 80 } } }]\nworkloads: [{ name: p, protocol: http, path: / }]')).toThrow(
      /targets\[0\]\.vm: give kernel, or a disk that boots[\s\S]*targets\[0\]\.vm: initrd and append need a kernel[\s\S]*targets\[0\]\.vm\.qemuArgs: expected a list of strings/,
    );
  });

  it('JSON plans read the same', () => {
    const yaml = parsePlan(minimal, 'yaml', { baseDir: fixtures });
    const json = parsePlan(
      JSON.stringify({ repeats: 3, sweep: { rate: 1000 }, targets: ['nginx', 'nsd'], workloads: [{ name: 'page', protocol: 'http', path: '/index.html' }, { name: 'zone', protocol: 'dns', zone: 'test.zone' }] }),
      'json',
      { baseDir: fixtures },
    );
    expect(json).toEqual(yaml);
  });

  it('lists every problem at once, each with its path', () => {
    const problems = problemsOf(`
repeats: 0
extra: 1
testbed: { rate: 1gbps }
sweep: { rate: abc, duration: 1s }
targets:
  - { name: nginx, wrkers: 2 }
  - { name: nope }
  - { name: bind, root: /srv }
workloads:
  - { name: page, protocol: http, path: index.html, url: 'http://x/', options: { max-connections: 4, rate: 5, bogus: 1 } }
  - { name: zone, protocol: dns }
  - { name: gopher, protocol: gopher }
cells:
  - { target: ghost, workload: page }
`);
    const expected = [
      'plan.extra: unknown key',
      'repeats: 0 must be a whole number from 1 to 1000',
      'testbed: --rate "1gbps": expected a rate in bit units',
      'targets[0].wrkers: unknown key',
      'targets[1].name: "nope" is not a testbed server',
      'targets[2].root: is for HTTP servers, and bind serves DNS',
      "workloads[0].options.max-connections: unknown key (expected threads, arrival, seed, maxInflight, busyPoll, timeout, sloP99, minReplyRatio, maxErrorRatio, confirm, refine, connections, maxConnections, pipelining, method, headers, secretHeaders, body, urls, newConnectionPerRequest, client, http2, streams, insecure, ca, tlsServername); options take the library's camelCase names: maxConnections",
      'workloads[0].options.rate: unknown key',
      'belongs in sweep',
      'workloads[0].options.bogus: unknown key',
      'workloads[0]: give one of url or path',
      'workloads[0].path: "index.html" must start with /',
      "workloads[0].sweep: --rate: 'abc' is not a rate",
      'workloads[1]: give one of zone or queries',
      'workloads[2].protocol: "gopher" must be one of http, dns',
      'cells[0].target: "ghost" is not one of the targets (nginx, bind)',
    ];
    for (const text of expected) expect(problems.some((p) => p.includes(text)), `${text}\nin:\n${problems.join('\n')}`).toBe(true);
    // workloads[0] was refused: said once, not again where cells name it.
    expect(problems.filter((p) => p.includes('"page"'))).toEqual([]);
  });

  it('refuses cells a target cannot serve, and a cell listed twice', () => {
    expect(
      problemsOf(`
sweep: { rate: 100 }
targets: [nginx, nsd]
workloads:
  - { name: page, protocol: http, path: / }
  - { name: zone, protocol: dns, zone: test.zone }
cells:
  - { target: nginx, workload: zone }
  - { target: nsd, workload: zone }
  - { target: nsd, workload: zone }
  - { target: nsd, workload: zone, repeat: 1 }
`),
    ).toEqual([
      'cells[0]: nginx serves http, not dns (workload zone)',
      'cells[2]: nsd/zone is listed twice',
      'cells[3].repeat: unknown key (expected target, workload)',
      'cells[3]: nsd/zone is listed twice',
    ]);
  });

  it('checks the options as the run would: the protocol refuses what it cannot use', () => {
    const problems = problemsOf(`
sweep: { rate: 100 }
targets: [nginx, nsd]
workloads:
  - { name: page, protocol: http, path: /, options: { connections: many, pipelining: 0 } }
  - { name: zone, protocol: dns, zone: test.zone, options: { transport: carrier-pigeon, timeout: soon } }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^workloads\[0\]: --connections: 'many' is not a number/),
        expect.stringMatching(/^workloads\[0\]: --pipelining: 0 must be between 1 and 1024/),
        expect.stringMatching(/^workloads\[1\]: --timeout: 'soon' is not a duration/),
        expect.stringMatching(/^workloads\[1\]: --transport: 'carrier-pigeon' must be one of/),
      ]),
    );
  });

  it('refuses names that would share a file, a target no workload fits, and a missing rate', () => {
    const problems = problemsOf(`
targets: [{ name: 'a b', server: nginx }, { name: a_b, server: nginx }, knot]
workloads:
  - { name: page, protocol: http, path: /, sweep: { rate: 100 } }
  - { name: other, protocol: http, path: / }
`);
    expect(problems).toEqual([
      "workloads[1].sweep.rate: missing (give it in the plan's sweep or the workload's)",
      'targets: "a_b" and "a b" make the same file name (a_b): names must differ in [A-Za-z0-9_.-]',
      'targets: knot serves dns, and no workload is dns',
    ]);
  });

  it('a YAML syntax error names the line; a missing file is an input error', () => {
    let error: unknown;
    try {
      parsePlan('repeats: 2\ntargets: [nginx\nworkloads: {', 'yaml', { file: 'broken.yaml' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputFileError);
    expect((error as InputFileError).file).toBe('broken.yaml');
    expect((error as InputFileError).line).toBeGreaterThanOrEqual(2);
    expect(() => loadPlan(join(fixtures, 'no-such-plan.yaml'))).toThrow(InputFileError);
    expect(() => parsePlan('[1, 2]')).toThrow(OptionsError);
  });

  it('a cell run aims at its target: a path joins the endpoint, a url is kept; the label is the target', () => {
    const plan = parsePlan(minimal, 'yaml', { baseDir: fixtures });
    const [page, dns] = plan.workloads;
    expect(runOptions(page!, page!.sweep, 'http://198.18.7.2/', 'nginx')).toEqual({ rate: 1000, duration: '10s', warmup: '1s', label: 'nginx', url: 'http://198.18.7.2/index.html' });
    expect(runOptions(dns!, dns!.sweep, '198.18.7.2:53', 'nsd')).toEqual({ rate: 1000, duration: '10s', warmup: '1s', label: 'nsd', server: '198.18.7.2:53', zone });
  });

  it('the progress line covers the whole plan', () => {
    const plan = loadPlan(join(fixtures, 'experiments', 'ci.yaml'));
    const cell = planCells(plan)[2]!;
    const step = { stepIndex: 1, stepCount: 2, targetRate: 400, phase: 'measure' as const, elapsedS: 0.5, stepDurationS: 1, sent: 200, completed: 200, errors: 0, timeouts: 0, dropped: 0, sendRate: 400, p99Ms: 1, remainingS: 0.5 };
    expect(experimentLine({ cell, cellIndex: 2, cellCount: 8, phase: 'load', step, done: 2, failed: 0, remainingS: 41 })).toBe('cell 3/8 nsd/zone r1 · step 2/2 400 q/s · 2 done · 41s left');
    expect(experimentLine({ cell, cellIndex: 2, cellCount: 8, phase: 'starting', done: 2, failed: 1, remainingS: 125 })).toBe('cell 3/8 nsd/zone r1 · starting nsd · 2 done · 1 failed · 2m05s left');

    // Not a terminal: a line when a cell, its phase or its step changes, not one per event.
    let plain = '';
    const log = createExperimentProgress({ write: (c: string) => (plain += c) }, { quiet: false, tty: false });
    const event = { cell, cellIndex: 2, cellCount: 8, phase: 'load' as const, step, done: 2, failed: 0, remainingS: 41 };
    log.update(event);
    log.update({ ...event, remainingS: 40 });
    log.line('tsload: a notice');
    log.update({ ...event, step: { ...step, stepIndex: 0 }, remainingS: 39 });
    expect(plain.split('\n')).toEqual(['cell 3/8 nsd/zone r1 · step 2/2 400 q/s · 2 done · 41s left', 'tsload: a notice', 'cell 3/8 nsd/zone r1 · step 1/2 400 q/s · 2 done · 39s left', '']);

    // A terminal: one line redrawn in place, cut to the width; a notice goes above it and the line comes back.
    let tty = '';
    const live = createExperimentProgress({ write: (c: string) => (tty += c), columns: 30 }, { quiet: false, tty: true });
    live.update(event);
    live.line('notice');
    live.finish();
    expect(tty).toBe('\r\x1b[2Kcell 3/8 nsd/zone r1 · step 2\r\x1b[2Knotice\ncell 3/8 nsd/zone r1 · step 2\r\x1b[2K');
  });
});
