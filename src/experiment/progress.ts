/**
 * The experiment's progress on stderr, over the whole plan:
 *   cell 3/8 nginx/page r1 · step 2/4 500 req/s · 2 done · 41s left
 * In a terminal one line redrawn in place (as src/report/progress.ts does
 * for a single run), notices printed above it; elsewhere a line when a cell
 * or step begins, so a CI log shows where a run was without a flood.
 */
import { duration, type ProgressStream } from '../report/progress.js';
import { WORDS } from '../result.js';
import type { ExperimentProgress } from './run.js';

export interface ExperimentProgressView {
  update(event: ExperimentProgress): void;
  /** A line that stays (a notice), printed above the status line. */
  line(text: string): void;
  finish(): void;
}

const ERASE_LINE = '\r\x1b[2K';

export function experimentLine(e: ExperimentProgress): string {
  const where = `cell ${e.cellIndex + 1}/${e.cellCount} ${e.cell.target}/${e.cell.workload} r${e.cell.repeat}`;
  const step =
    e.phase === 'starting'
      ? `starting ${e.cell.target}`
      : e.phase === 'stopping'
        ? `stopping ${e.cell.target}`
        : e.step === undefined
          ? 'load starting'
          : `step ${e.step.stepIndex + 1}/${e.step.stepCount} ${Math.round(e.step.targetRate)} ${WORDS[e.cell.protocol].shortUnit}${e.step.phase === 'measure' ? '' : ` (${e.step.phase})`}`;
  const failed = e.failed > 0 ? ` · ${e.failed} failed` : '';
  return `${where} · ${step} · ${e.done} done${failed} · ${duration(e.remainingS)} left`;
}

export function createExperimentProgress(stream: ProgressStream, options: { quiet: boolean; tty?: boolean }): ExperimentProgressView {
  if (options.quiet) return { update() {}, line() {}, finish() {} };
  const tty = options.tty ?? stream.isTTY === true;
  if (!tty) {
    let last = '';
    return {
      update(e) {
        const key = `${e.cellIndex}/${e.phase}/${e.step?.stepIndex ?? -1}`;
        if (key === last) return;
        last = key;
        stream.write(`${experimentLine(e)}\n`);
      },
      line(text) {
        stream.write(`${text}\n`);
      },
      finish() {},
    };
  }
  let shown = '';
  const fit = (text: string): string => {
    const max = Math.max(1, (typeof stream.columns === 'number' && stream.columns > 0 ? stream.columns : 80) - 1);
    return text.length > max ? text.slice(0, max) : text;
  };
  return {
    update(e) {
      shown = fit(experimentLine(e));
      stream.write(ERASE_LINE + shown);
    },
    line(text) {
      stream.write(`${ERASE_LINE}${text}\n${shown}`);
    },
    finish() {
      if (shown !== '') stream.write(ERASE_LINE);
      shown = '';
    },
  };
}
