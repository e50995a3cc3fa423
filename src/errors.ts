/**
 * Every failure tsload reports to a user has a class here with a stable `code`
 * (like undici's errors) and one exit status. Per-request failures are never
 * thrown: they are counted in the result.
 */

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  unreachable: 3,
  /** Every step ended without a single reply: the results are printed and written, but they measure only failure. */
  noReplies: 4,
  /** Stopped by Ctrl-C: what was measured is still printed and written. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class TsloadError extends Error {
  readonly code: string = 'TSLOAD_ERR';
  readonly exitCode: ExitCode = ExitCode.failure;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One or more options are invalid; `problems` lists every one, not just the first. */
export class OptionsError extends TsloadError {
  override readonly code = 'TSLOAD_ERR_OPTIONS';
  override readonly exitCode = ExitCode.usage;
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.length === 1 ? (problems[0] ?? 'invalid options') : `invalid options:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** Quoted excerpts of the input longer than this are cut; a whole message longer than MAX_MESSAGE too. */
const MAX_EXCERPT = 80;
const MAX_MESSAGE = 240;

/**
 * Text from an input file made fit for a terminal: control characters (but
 * tab), bytes that were not UTF-8 (read as U+FFFD) and other unprintables
 * escaped JSON-style (`\x1b`, `\ufffd`), quoted excerpts cut to about 80
 * characters, and the whole to a few lines. A file of random bytes must not
 * write escape sequences to the user's terminal, nor a screenful of noise.
 */
export function printable(text: string): string {
  const escaped = text.replace(/(?!\t)[\p{C}\p{Zl}\p{Zp}\uFFFD]/gu, (c) => {
    const cp = c.codePointAt(0)!;
    if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
    return cp < 0x10000 ? `\\u${cp.toString(16).padStart(4, '0')}` : `\\u{${cp.toString(16)}}`;
  });
  const cut = escaped.replace(/'([^'\n]*)'/g, (whole, inner: string) => (inner.length > MAX_EXCERPT ? `'${inner.slice(0, MAX_EXCERPT - 3)}…'` : whole));
  return cut.length > MAX_MESSAGE ? `${cut.slice(0, MAX_MESSAGE - 1)}…` : cut;
}

/** An input file (zone, query list, URL list, body) could not be read or parsed. */
export class InputFileError extends TsloadError {
  override readonly code = 'TSLOAD_ERR_INPUT_FILE';
  override readonly exitCode = ExitCode.usage;
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, line: number | undefined, reason: string) {
    super(printable(line === undefined ? `${file}: ${reason}` : `${file}:${line}: ${reason}`));
    this.file = file;
    this.line = line;
  }
}

/** The target did not answer the pre-flight probe: nothing was measured. */
export class TargetUnreachableError extends TsloadError {
  override readonly code = 'TSLOAD_ERR_UNREACHABLE';
  override readonly exitCode = ExitCode.unreachable;
  readonly target: string;
  constructor(target: string, reason: string, options?: { cause?: unknown }) {
    super(`target ${target} is unreachable: ${reason}`, options);
    this.target = target;
  }
}

/** The environment lacks something a command needs (root, `ip`, a server binary). */
export class EnvironmentError extends TsloadError {
  override readonly code = 'TSLOAD_ERR_ENVIRONMENT';
  override readonly exitCode = ExitCode.usage;
}

/** A server (built-in or real) failed to start or to become ready. */
export class ServerStartError extends TsloadError {
  override readonly code = 'TSLOAD_ERR_SERVER_START';
  override readonly exitCode = ExitCode.failure;
}

export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof TsloadError ? error.exitCode : ExitCode.failure;
}

/** Results that are not parts of one run (`tsload merge`); `problems` lists every reason. */
export class MergeError extends TsloadError {
  override readonly code = 'TSLOAD_ERR_MERGE';
  override readonly exitCode = ExitCode.usage;
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.length === 1 ? `cannot merge: ${problems[0]}` : `cannot merge:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** A results folder holds another plan's cells: resuming into it would mix two experiments. */
export class PlanMismatchError extends TsloadError {
  override readonly code = 'TSLOAD_ERR_PLAN_MISMATCH';
  override readonly exitCode = ExitCode.usage;
}
