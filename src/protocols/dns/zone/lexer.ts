/**
 * Master-file tokens (RFC 1035 §5.1): blanks separate, `;` starts a comment,
 * parentheses join lines, quotes keep blanks, and a backslash escapes the
 * next character (`\DDD` is resolved later, by whoever knows the field).
 */
import { InputFileError } from '../../../errors.js';

export interface Tok {
  /** Text with escapes still in it; for a quoted token, what was between the quotes. */
  raw: string;
  quoted: boolean;
  line: number;
}

export interface Entry {
  /** Line of the entry's first token. */
  line: number;
  /** The entry's first line began with a space or tab: owner omitted. */
  blankOwner: boolean;
  toks: Tok[];
}

/** Characters that end an unquoted token: space, tab, CR, LF, ';', '(', ')', '"'. */
function isDelimiter(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10 || c === 59 || c === 40 || c === 41 || c === 34;
}

/**
 * Splits master-file text into entries (one per logical line, parentheses
 * joining lines), one entry at a time so that tokens die young (holding the
 * whole file's tokens made garbage collection the main cost).
 */
export class Lexer {
  private i: number;
  private line = 1;
  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {
    this.i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // byte order mark
  }

  /** The next entry with at least one token, or undefined at the end. */
  next(): Entry | undefined {
    const text = this.text;
    const n = text.length;
    while (this.i < n) {
      const c0 = text.charCodeAt(this.i);
      const entry: Entry = { line: this.line, blankOwner: c0 === 32 || c0 === 9, toks: [] };
      this.scanEntry(entry, text, n);
      if (entry.toks.length > 0) return entry;
    }
    return undefined;
  }

  /** Read one logical line into `entry`, up to and including its final newline. */
  private scanEntry(entry: Entry, text: string, n: number): void {
    let i = this.i;
    let line = this.line;
    let depth = 0;
    let parenLine = 0;
    const toks = entry.toks;
    for (;;) {
      if (i >= n) {
        if (depth > 0) throw new InputFileError(this.file, parenLine, "unbalanced parenthesis: '(' is never closed");
        break;
      }
      const c = text.charCodeAt(i);
      if (c === 10) {
        line++;
        i++;
        if (depth === 0) break;
      } else if (c === 32 || c === 9 || c === 13) {
        i++;
      } else if (c === 59) {
        const eol = text.indexOf('\n', i);
        i = eol < 0 ? n : eol;
      } else if (c === 40) {
        if (depth === 0) parenLine = line;
        depth++;
        i++;
      } else if (c === 41) {
        if (depth === 0) throw new InputFileError(this.file, line, "unbalanced parenthesis: ')' without '('");
        depth--;
        i++;
      } else if (c === 34) {
        const startLine = line;
        let j = i + 1;
        for (;;) {
          if (j >= n) throw new InputFileError(this.file, startLine, 'unterminated quoted string');
          const d = text.charCodeAt(j);
          if (d === 34) break;
          if (d === 10) throw new InputFileError(this.file, startLine, 'unterminated quoted string (a quote must close on its line)');
          if (d === 92) {
            if (j + 1 >= n) throw new InputFileError(this.file, startLine, 'unterminated quoted string');
            if (text.charCodeAt(j + 1) === 10) line++;
            j += 2;
          } else {
            j++;
          }
        }
        if (toks.length === 0) entry.line = startLine;
        toks.push({ raw: text.slice(i + 1, j), quoted: true, line: startLine });
        i = j + 1;
      } else {
        const startLine = line;
        let j = i;
        while (j < n) {
          const d = text.charCodeAt(j);
          if (d === 92) {
            if (j + 1 >= n) throw new InputFileError(this.file, line, 'backslash at end of file');
            if (text.charCodeAt(j + 1) === 10) line++;
            j += 2;
          } else if (isDelimiter(d)) {
            break;
          } else {
            j++;
          }
        }
        if (toks.length === 0) entry.line = startLine;
        toks.push({ raw: text.slice(i, j), quoted: false, line: startLine });
        i = j;
      }
    }
    this.i = i;
    this.line = line;
  }
}

