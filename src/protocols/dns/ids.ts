/**
 * What the UDP and the stream DNS drivers share: a 16-bit ID space per
 * socket or connection with LRU reuse, the FIFO of deadlines and pending
 * sends, and how often timeouts are swept. Typed arrays indexed by ID, so
 * the hot path allocates nothing.
 */


export const ID_FREE = 0;
export const ID_INFLIGHT = 1;
/** Timed out and back on the free list, not yet reused: an answer to it is `late`. */
export const ID_TIMEDOUT = 2;

/** One socket's or connection's 16-bit ID space and what each ID in flight carries. */
export class IdSpace {
  /** Ring of free IDs: taken at the head, returned at the tail (LRU reuse). */
  readonly free = new Uint16Array(65536);
  freeHead = 0;
  freeCount = 65536;
  readonly state = new Uint8Array(65536);
  readonly token = new Int32Array(65536);
  readonly query = new Int32Array(65536);
  /** Per-ID send counter: tells a queue entry for an earlier use of the ID from the current one. */
  readonly seq = new Uint32Array(65536);
  constructor() {
    for (let i = 0; i < 65536; i++) this.free[i] = i;
  }
  takeId(): number {
    const id = this.free[this.freeHead]!;
    this.freeHead = (this.freeHead + 1) & 0xffff;
    this.freeCount--;
    return id;
  }
  returnId(id: number): void {
    this.free[(this.freeHead + this.freeCount) & 0xffff] = id;
    this.freeCount++;
  }
}

/**
 * A growable FIFO of (u32, u32, f64) triples: the timeout queue (in send
 * order, so deadlines are ascending) and the per-socket queue of sends
 * awaiting their callback. Grows by doubling, so the steady state allocates nothing.
 */
export class Fifo {
  a: Uint32Array;
  b: Uint32Array;
  t: Float64Array;
  head = 0;
  count = 0;
  constructor(capacity: number) {
    this.a = new Uint32Array(capacity);
    this.b = new Uint32Array(capacity);
    this.t = new Float64Array(capacity);
  }
  push(a: number, b: number, t: number): void {
    let cap = this.a.length;
    if (this.count === cap) {
      this.grow();
      cap = this.a.length;
    }
    const i = (this.head + this.count) & (cap - 1);
    this.a[i] = a;
    this.b[i] = b;
    this.t[i] = t;
    this.count++;
  }
  /** Drop the head entry (read it first through a/b/t[head]). */
  shift(): void {
    this.head = (this.head + 1) & (this.a.length - 1);
    this.count--;
  }
  private grow(): void {
    const cap = this.a.length;
    const a = new Uint32Array(cap * 2);
    const b = new Uint32Array(cap * 2);
    const t = new Float64Array(cap * 2);
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & (cap - 1);
      a[k] = this.a[i]!;
      b[k] = this.b[i]!;
      t[k] = this.t[i]!;
    }
    this.a = a;
    this.b = b;
    this.t = t;
    this.head = 0;
  }
}

export function sweepInterval(timeoutMs: number): number {
  // Coarse: a timeout is reported at most ~a quarter of the timeout (≤ 100 ms) late.
  return Math.max(5, Math.min(100, Math.floor(timeoutMs / 4)));
}
