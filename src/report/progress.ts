/**
 * Live progress on stderr while a run goes on.
 *
 * In a terminal: the finished steps stay on screen, one summary line each, and
 * below them a single status line is redrawn in place on every update. The
 * redraw is plain ANSI: carriage return + erase-line (`\r\x1b[2K`), then the new
 * text cut to the terminal width minus one, so the line never wraps (a wrapped
 * line cannot be erased by erase-line, and the next redraw would stack up). The
 * width is read at each redraw, so resizing is followed. Step summaries are
 * written whole (they may wrap: they are never redrawn). The cursor is never
 * hidden and nothing but the current line is touched, so a crash or Ctrl-C
 * leaves at worst one partial status line: no cleanup hook is needed. `finish()`
 * erases the status line. Text is ASCII so characters = columns.
 *
 * Not a terminal (a pipe, a file, CI): no escape codes, one line per finished
 * step, and on steps longer than 10 s a line every 10 s of the measured window.
 *
 * quiet: nothing at all.
 *
 * Usage by the engine/CLI:
 *   const progress = createProgress(process.stderr, { quiet, protocol });
 *   onProgress: (e) => progress.update(e)           // at least once a second
 *   after each step: progress.stepDone(step, index, count)
 *   when the run ends (also after an error or abort): progress.finish()
 */
import { WORDS, type ProgressEvent, type ProtocolOfResult, type StepBase } from '../result.js';
import { ownLimits } from '../measure/saturation.js';

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  quiet: boolean;
  protocol: ProtocolOfResult;
  /** Override terminal detection (default: `stream.isTTY === true`). */
  tty?: boolean;
}

/** The figures of a finished step that its summary line shows (a StepBase has them all). */
export type StepSummary = Pick<
  StepBase,
  'targetRate' | 'durationS' | 'sent' | 'completed' | 'sendRate' | 'replyRate' | 'errors' | 'timeouts' | 'dropped' | 'latencyMs'
> &
  Partial<Pick<StepBase, 'notSent' | 'generatorLimits'>>;

export interface Progress {
  /** A progress event from the engine: redraws the status line (TTY) or prints every 10 s of a long step (not a TTY). */
  update(event: ProgressEvent): void;
  /** A step finished: prints its summary line. `stepIndex` counts from 0. */
  stepDone(step: StepSummary, stepIndex: number, stepCount: number): void;
  /** The run is over (normally or not): clears the status line. Safe to call twice. */
  finish(): void;
}

/** Non-TTY: print a line every this many seconds of a step's measured window. */
export const PLAIN_INTERVAL_S = 10;

const ERASE_LINE = '\r\x1b[2K';

export function createProgress(stream: ProgressStream, options: ProgressOptions): Progress {
  if (options.quiet) return { update() {}, stepDone() {}, finish() {} };
  return (options.tty ?? stream.isTTY === true) ? ttyProgress(stream, options.protocol) : plainProgress(stream, options.protocol);
}


function ttyProgress(stream: ProgressStream, protocol: ProtocolOfResult): Progress {
  let shown = false;
  const width = (): number => {
    const columns = stream.columns;
    // No width known (e.g. a pty of size 0): assume the classic 80.
    return typeof columns === 'number' && columns > 0 ? columns : 80;
  };
  const fit = (line: string): string => {
    const max = Math.max(1, width() - 1);
    return line.length > max ? line.slice(0, max) : line;
  };
  return {
    update(e) {
      stream.write(ERASE_LINE + fit(statusLine(e, protocol)));
      shown = true;
    },
    stepDone(step, stepIndex, stepCount) {
      // Replace the status line by the permanent summary, uncut: it may wrap, since it is never
      // redrawn; the newline puts the next status line on a fresh row below it.
      stream.write(ERASE_LINE + summaryLine(step, stepIndex, stepCount, protocol) + '\n');
      shown = false;
    },
    finish() {
      if (shown) stream.write(ERASE_LINE);
      shown = false;
    },
  };
}

function plainProgress(stream: ProgressStream, protocol: ProtocolOfResult): Progress {
  let step = -1;
  let nextMark = PLAIN_INTERVAL_S;
  return {
    update(e) {
      if (e.stepIndex !== step) {
        step = e.stepIndex;
        nextMark = PLAIN_INTERVAL_S;
      }
      // Only long steps get interim lines, and never one at the very end (the summary line covers it).
      if (e.phase !== 'measure' || e.elapsedS < nextMark || e.elapsedS >= e.stepDurationS) return;
      while (nextMark <= e.elapsedS) nextMark += PLAIN_INTERVAL_S;
      stream.write(plainLine(e, protocol) + '\n');
    },
    stepDone(s, stepIndex, stepCount) {
      stream.write(summaryLine(s, stepIndex, stepCount, protocol) + '\n');
    },
    finish() {},
  };
}

/** TTY status: "step 3/10  5000 req/s  sent 4987/s  p99 12.3 ms  err 0  timeouts 0  drop 0  12/30 s  left 3m12s". */
export function statusLine(e: ProgressEvent, protocol: ProtocolOfResult = 'http'): string {
  const words = WORDS[protocol];
  const where =
    e.phase === 'warmup'
      ? `warmup ${num(Math.max(0, -e.elapsedS))} s`
      : e.phase === 'drain'
        ? 'draining'
        : `${num(Math.max(0, e.elapsedS))}/${num(e.stepDurationS)} s`;
  return [
    `step ${e.stepIndex + 1}/${e.stepCount}`,
    `${num(e.targetRate)} ${words.shortUnit}`,
    `sent ${num(e.sendRate)}/s`,
    `p99 ${ms(e.p99Ms)}`,
    `err ${e.errors}`,
    `${words.timeouts} ${e.timeouts}`,
    `drop ${e.dropped}`,
    where,
    `left ${duration(e.remainingS)}`,
  ].join('  ');
}

/** Non-TTY interim line: "step 3/10 5000 req/s: 20/60 s, sent 99870 (4987/s), p99 12.3 ms, errors 0, timeouts 0, dropped 0, 3m12s left". */
export function plainLine(e: ProgressEvent, protocol: ProtocolOfResult = 'http'): string {
  const words = WORDS[protocol];
  return (
    `step ${e.stepIndex + 1}/${e.stepCount} ${num(e.targetRate)} ${words.shortUnit}: ` +
    `${num(e.elapsedS)}/${num(e.stepDurationS)} s, sent ${e.sent} (${num(e.sendRate)}/s), p99 ${ms(e.p99Ms)}, ` +
    `errors ${e.errors}, ${words.timeouts} ${e.timeouts}, dropped ${e.dropped}, ${duration(e.remainingS)} left`
  );
}

/** Finished step: "step 3/10 5000 req/s done: sent 4987/s, replies 4980/s, p99 12.3 ms, errors 0, timeouts 0, dropped 0 (0.00%)". */
export function summaryLine(s: StepSummary, stepIndex: number, stepCount: number, protocol: ProtocolOfResult = 'http'): string {
  const words = WORDS[protocol];
  const notSent = s.notSent ?? 0;
  const arrivals = s.sent + s.dropped + notSent;
  const failures = s.errors.total + s.timeouts + s.dropped + notSent;
  const share = arrivals > 0 ? ((100 * failures) / arrivals).toFixed(2) : '0.00';
  const own = ownLimits(s.generatorLimits).map((l) => l.kind);
  return (
    `step ${stepIndex + 1}/${stepCount} ${num(s.targetRate)} ${words.shortUnit} done: ` +
    `sent ${num(s.sendRate)}/s, ${words.replies} ${num(s.replyRate)}/s, ` +
    `p99 ${s.latencyMs.count > 0 ? ms(s.latencyMs.p99) : '-'}, ` +
    `errors ${s.errors.total}, ${words.timeouts} ${s.timeouts}, ${notSent > 0 ? `not sent ${notSent}, ` : ''}dropped ${s.dropped} (${share}% failed)` +
    (own.length > 0 ? `; tsload was the limit (${own.join(', ')})` : '')
  );
}

function num(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function ms(v: number): string {
  return v >= 100 ? `${v.toFixed(0)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`;
}

/** 45s, 3m12s, 1h02m. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
