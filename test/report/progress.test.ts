import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loaderExecArgv } from '../../src/engine/module-file.js';
import { createProgress, duration, statusLine, summaryLine } from '../../src/report/progress.js';
import type { StepSummary } from '../../src/report/progress.js';
import type { ProgressEvent } from '../../src/result.js';

// ---------------------------------------------------------------- a run to replay

type Op =
  | { op: 'update'; e: ProgressEvent }
  | { op: 'stepDone'; step: StepSummary; index: number; count: number }
  | { op: 'finish' };

/** Events as the engine sends them, once a second: warmup, the measured window, then the step's summary. */
function run(steps: { rate: number; durationS: number; warmupS: number }[]): Op[] {
  const ops: Op[] = [];
  steps.forEach((s, index) => {
    let sent = 0;
    // What the engine estimates: the rest of this step's warmup and window, then every later step's.
    const later = steps.slice(index + 1).reduce((a, n) => a + n.warmupS + n.durationS, 0);
    for (let t = -s.warmupS; t <= s.durationS; t++) {
      const phase = t < 0 ? 'warmup' : 'measure';
      if (t > 0) sent += s.rate;
      ops.push({
        op: 'update',
        e: {
          stepIndex: index,
          stepCount: steps.length,
          targetRate: s.rate,
          phase,
          elapsedS: t,
          stepDurationS: s.durationS,
          sent,
          completed: sent,
          errors: 0,
          timeouts: t > 5 ? 3 : 0,
          dropped: 0,
          sendRate: s.rate * 0.998,
          p99Ms: 12.34 + index,
          remainingS: (t < 0 ? -t + s.durationS : s.durationS - t) + later,
        },
      });
    }
    ops.push({ op: 'update', e: { ...(ops.at(-1) as { e: ProgressEvent }).e, phase: 'drain' } });
    const p99 = 12.34 + index;
    ops.push({
      op: 'stepDone',
      index,
      count: steps.length,
      step: {
        targetRate: s.rate,
        durationS: s.durationS,
        sent: s.rate * s.durationS,
        completed: s.rate * s.durationS - 3,
        sendRate: s.rate,
        replyRate: s.rate - 0.3,
        errors: { total: 0, connrefused: 0, connreset: 0, addrunavail: 0, 'fd-unavail': 0, 'ftab-full': 0, 'socket-timo': 0, other: 0 },
        timeouts: 3,
        dropped: 0,
        latencyMs: { count: s.rate * s.durationS - 3, min: 0.1, mean: 1, stdev: 1, p50: 0.8, p90: 2, p99, p999: 20, max: 30 },
      },
    });
  });
  ops.push({ op: 'finish' });
  return ops;
}

/** Two short steps and one long one (35 s: interim lines at 10, 20 and 30 s when not a terminal). */
const OPS = run([
  { rate: 1000, durationS: 5, warmupS: 2 },
  { rate: 2000, durationS: 5, warmupS: 2 },
  { rate: 5000, durationS: 35, warmupS: 2 },
]);

function replay(ops: Op[], p: ReturnType<typeof createProgress>): void {
  for (const o of ops) {
    if (o.op === 'update') p.update(o.e);
    else if (o.op === 'stepDone') p.stepDone(o.step, o.index, o.count);
    else p.finish();
  }
}

const summaries = OPS.flatMap((o) => (o.op === 'stepDone' ? [summaryLine(o.step, o.index, o.count, 'http')] : []));

/** The summaries as a terminal `columns` wide shows them: wrapped, never cut. */
const wrapped = (columns: number) => summaries.flatMap((s) => s.match(new RegExp(`.{1,${columns}}`, 'g')) ?? []);

/**
 * The smallest terminal that matters here: printable characters, CR, LF, erase-line, and auto-wrap
 * at the last column (so a status line too wide for the terminal leaves a stale row behind, as on a
 * real one). Any other escape is recorded as a fault.
 */
function terminal(output: string, columns: number): { screen: string[]; faults: string[] } {
  const screen: string[] = [''];
  const faults: string[] = [];
  let row = 0;
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    const c = output[i]!;
    if (c === '\r') col = 0;
    else if (c === '\n') {
      row++;
      if (screen[row] === undefined) screen[row] = '';
    } else if (output.startsWith('\x1b[2K', i)) {
      screen[row] = '';
      i += 3;
    } else if (c === '\x1b') {
      faults.push(`unexpected escape ${JSON.stringify(output.slice(i, i + 6))}`);
    } else {
      if (col >= columns) {
        row++;
        col = 0;
        if (screen[row] === undefined) screen[row] = '';
      }
      const line = screen[row]!.padEnd(col);
      screen[row] = line.slice(0, col) + c + line.slice(col + 1);
      col++;
    }
  }
  return { screen, faults };
}

// ---------------------------------------------------------------- in process

function sink(isTTY: boolean, columns?: number) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns, write: (s: string) => chunks.push(s) }, text: () => chunks.join('') };
}

describe('progress, in process', () => {
  it('quiet writes nothing', () => {
    for (const tty of [true, false]) {
      const out = sink(tty, 80);
      replay(OPS, createProgress(out.stream, { quiet: true, protocol: 'http' }));
      expect(out.text()).toBe('');
    }
  });

  it('not a terminal: one line per step, one per 10 s of a long step, no escape codes', () => {
    const out = sink(false);
    replay(OPS, createProgress(out.stream, { quiet: false, protocol: 'http' }));
    const text = out.text();
    expect(text).not.toMatch(/[\x1b\r]/);
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(3 + 3);
    expect(lines.filter((l) => l.includes(' done: '))).toEqual(summaries);
    expect(lines.filter((l) => !l.includes(' done: ')).map((l) => l.match(/: (\d+)\/35 s,/)?.[1])).toEqual(['10', '20', '30']);
    expect(lines[2]).toBe('step 3/3 5000 req/s: 10/35 s, sent 50000 (4990/s), p99 14.3 ms, errors 0, timeouts 3, dropped 0, 25s left');
  });

  it('not a terminal: irregular event times still give one line per 10 s mark', () => {
    const out = sink(false);
    const p = createProgress(out.stream, { quiet: false, protocol: 'dns' });
    const base = (OPS.find((o) => o.op === 'update') as { e: ProgressEvent }).e;
    for (const t of [0.4, 9.7, 10.9, 11.5, 31.2, 39.9, 40.0]) p.update({ ...base, phase: 'measure', stepDurationS: 40, elapsedS: t });
    expect(out.text().split('\n').filter(Boolean).map((l) => l.match(/: ([\d.]+)\/40 s/)?.[1])).toEqual(['10.9', '31.2']);
    expect(out.text()).toContain('lost 0');
  });

  it('terminal: redraws one status line in place, keeps step summaries, erases the status at the end', () => {
    const out = sink(true, 60);
    replay(OPS, createProgress(out.stream, { quiet: false, protocol: 'http' }));
    const { screen, faults } = terminal(out.text(), 60);
    expect(faults).toEqual([]);
    expect(screen).toEqual([...wrapped(60), '']);
    // Every redraw starts by returning to column 0 and erasing the line.
    const updates = OPS.filter((o) => o.op === 'update').length;
    expect(out.text().split('\r\x1b[2K').length - 1).toBe(updates + summaries.length);
  });

  it('terminal: a run stopped mid-step leaves a clean line after finish()', () => {
    const out = sink(true, 200);
    const p = createProgress(out.stream, { quiet: false, protocol: 'http' });
    const cut = OPS.findIndex((o) => o.op === 'update' && o.e.stepIndex === 1 && o.e.elapsedS === 3);
    replay([...OPS.slice(0, cut + 1), { op: 'finish' }, { op: 'finish' }], p);
    expect(out.text().endsWith('\r\x1b[2K')).toBe(true);
    expect(terminal(out.text(), 200).screen).toEqual([summaries[0], '']);
  });

  it('terminal: the status line shows step, rates, p99, errors and time left', () => {
    const e = (OPS.find((o) => o.op === 'update' && o.e.stepIndex === 2 && o.e.elapsedS === 12) as { e: ProgressEvent }).e;
    expect(statusLine(e, 'http')).toBe('step 3/3  5000 req/s  sent 4990/s  p99 14.3 ms  err 0  timeouts 3  drop 0  12/35 s  left 23s');
    expect(statusLine({ ...e, phase: 'warmup', elapsedS: -2 }, 'dns')).toContain('5000 q/s');
    expect(statusLine({ ...e, phase: 'warmup', elapsedS: -2 }, 'dns')).toContain('warmup 2 s');
    expect(duration(59.6)).toBe('1m00s');
    expect(duration(3725)).toBe('1h02m');
  });

  it('terminal: follows a resize and assumes 80 columns when the width is unknown', () => {
    const stream = { isTTY: true, columns: 30 as number | undefined, chunks: [] as string[], write(s: string) { this.chunks.push(s); } };
    const p = createProgress(stream, { quiet: false, protocol: 'http' });
    const e = (OPS.find((o) => o.op === 'update' && o.e.stepIndex === 2 && o.e.elapsedS === 12) as { e: ProgressEvent }).e;
    p.update(e);
    stream.columns = 50;
    p.update(e);
    stream.columns = undefined;
    p.update(e);
    expect(stream.chunks.map((c) => c.replace('\r\x1b[2K', '').length)).toEqual([29, 49, Math.min(79, statusLine(e).length)]);
  });
});

// ---------------------------------------------------------------- real pseudo-terminal and pipe

describe('progress, in a child process', () => {
  let dir: string;
  let driver: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsload-progress-'));
    driver = join(dir, 'driver.mjs');
    // Replays the ops on process.stderr: the progress module decides TTY or not from the stream itself.
    await writeFile(
      driver,
      [
        `const { createProgress } = await import(process.env.PROGRESS_MODULE);`,
        `const ops = JSON.parse(process.env.PROGRESS_OPS);`,
        `const p = createProgress(process.stderr, { quiet: process.env.PROGRESS_QUIET === '1', protocol: 'http' });`,
        `for (const o of ops) {`,
        `  if (o.op === 'update') p.update(o.e);`,
        `  else if (o.op === 'stepDone') p.stepDone(o.step, o.index, o.count);`,
        `  else p.finish();`,
        `}`,
        `process.stdout.write('isTTY=' + (process.stderr.isTTY === true) + ' columns=' + process.stderr.columns + '\\n');`,
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const env = (quiet = false) => ({
    ...process.env,
    PROGRESS_MODULE: new URL('../../src/report/progress.ts', import.meta.url).href,
    PROGRESS_OPS: JSON.stringify(OPS),
    PROGRESS_QUIET: quiet ? '1' : '0',
  });
  const nodeArgs = () => [...loaderExecArgv(), driver];

  function collect(command: string, args: string[], environment: NodeJS.ProcessEnv) {
    return new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
      const child = spawn(command, args, { env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ stdout, stderr, code }));
    });
  }

  it('in a pseudo-terminal (util-linux script): redraws in place within the width, leaves only the summaries', async () => {
    // script gives the child a pty; stty sets its width to 60 so the long status lines must be cut.
    const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
    const inner = `stty cols 60 rows 24 && ${[process.execPath, ...nodeArgs()].map(quote).join(' ')}`;
    const { stdout, code } = await collect('script', ['-qfec', inner, '/dev/null'], env());
    expect(code).toBe(0);
    // The pty turns LF into CR LF; the driver's last stdout line reports what it saw.
    const output = stdout.replaceAll('\r\n', '\n');
    expect(output).toContain('isTTY=true columns=60');
    const progress = output.slice(0, output.lastIndexOf('isTTY='));
    expect(progress).toContain('\r\x1b[2K');
    const { screen, faults } = terminal(progress, 60);
    expect(faults).toEqual([]);
    expect(screen).toEqual([...wrapped(60), '']);
  }, 60_000);

  it('through a pipe: plain lines, no escape codes; quiet: nothing', async () => {
    const { stdout, stderr, code } = await collect(process.execPath, nodeArgs(), env());
    expect(code).toBe(0);
    expect(stdout).toBe('isTTY=false columns=undefined\n');
    expect(stderr).not.toMatch(/[\x1b\r]/);
    const lines = stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(6);
    expect(lines.filter((l) => l.includes(' done: '))).toEqual(summaries);
    const quiet = await collect(process.execPath, nodeArgs(), env(true));
    expect(quiet.stderr).toBe('');
  }, 60_000);
});

describe('a step where tsload was the limit', () => {
  it('says so in its summary line, with the requests never written', () => {
    const step = OPS.find((o) => o.op === 'stepDone');
    if (step?.op !== 'stepDone') throw new Error('no stepDone in the fixture');
    const limited = {
      ...step.step,
      notSent: 40,
      generatorLimits: [{ kind: 'thread' as const, cause: 'tsload' as const, busy: 0.97, threads: 1 }],
    };
    expect(summaryLine(limited, 0, 3, 'http')).toMatch(/, timeouts 3, not sent 40, dropped 0 \([\d.]+% failed\); tsload was the limit \(thread\)$/);
    expect(summaryLine(step.step, 0, 3, 'http')).not.toContain('tsload was the limit');
  });
});
