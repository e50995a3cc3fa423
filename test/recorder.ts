/** A Completion that records what a driver reports, for the driver tests. */
import { expect } from 'vitest';
import type { Completion } from '../src/engine/driver.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Records every done(); `codes[token]` holds the codes reported for it, in order. */
export class Recorder {
  readonly codes = new Map<number, number[]>();
  total = 0;
  onDone: ((token: number, code: number) => void) | null = null;
  /** Tokens the driver said it wrote, in order. */
  readonly written: number[] = [];
  readonly completion: Completion = {
    written: (token) => {
      this.written.push(token);
    },
    done: (token, code) => {
      this.total++;
      const list = this.codes.get(token);
      if (list) list.push(code);
      else this.codes.set(token, [code]);
      this.onDone?.(token, code);
    },
  };
  count(code: number): number {
    let n = 0;
    for (const list of this.codes.values()) for (const c of list) if (c === code) n++;
    return n;
  }
  /** Waits until `total` outcomes were reported, then asserts exactly that many. */
  async waitFor(total: number, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.total < total && Date.now() < end) await sleep(5);
    expect(this.total).toBe(total);
  }
}
