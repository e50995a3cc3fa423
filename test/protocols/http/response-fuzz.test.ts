/**
 * Property tests of the HTTP/1.1 response reader: random bytes, and the
 * corpus's responses mutated, fed in random splits. The only outcomes are
 * responses read and a protocol error (never an exception); the same bytes
 * split differently read the same; a verdict, once the bytes give it, does
 * not wait for more bytes and does not change with what follows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RESPONSE_CASES } from '../../fixtures/http1-responses.js';
import { readPieces, type Outcome } from './read-pieces.js';
import { fuzzRuns, fuzzSeed } from '../../fuzz.js';

/** Fixed, so a failure in CI is the same failure on a laptop; raise numRuns locally to search further. */
const SEED = fuzzSeed(159_112);
const RUNS = fuzzRuns(1000);

/** Many requests outstanding, so a response to no request is not what decides. */
const reading = { requests: 64, serverCloses: true };

/** Cut `length` bytes into pieces at the given points (any numbers; taken modulo the length). */
function piecesAt(length: number, cuts: readonly number[]): number[] {
  if (length === 0) return [];
  const points = [...new Set(cuts.map((c) => c % length))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: number[] = [];
  let at = 0;
  for (const p of points) {
    out.push(p - at);
    at = p;
  }
  out.push(length - at);
  return out;
}

/** What a split must not change. */
const verdict = (o: Outcome) => ({ statuses: o.statuses, keepAlive: o.keepAlive, error: o.error, endedByClose: o.endedByClose });

const valid = RESPONSE_CASES.filter((c) => c.error === undefined);

/** A valid case's bytes, mutated: bytes flipped, inserted, deleted, or a stretch repeated. */
const mutated = fc
  .tuple(
    fc.constantFrom(...valid),
    fc.array(
      fc.tuple(fc.constantFrom('flip', 'insert', 'delete', 'repeat'), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 8 })),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([c, edits]) => {
    let bytes = [...Buffer.from(c.wire, 'latin1')];
    for (const [kind, at, byte, n] of edits) {
      const p = bytes.length === 0 ? 0 : at % bytes.length;
      if (kind === 'flip') bytes[p] = byte;
      else if (kind === 'insert') bytes.splice(p, 0, byte);
      else if (kind === 'delete') bytes.splice(p, n);
      else bytes.splice(p, 0, ...bytes.slice(p, p + n));
    }
    return { head: c.head === true, wire: Buffer.from(bytes) };
  });

const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  // Mostly printable, with line ends: closer to something a reader gets far into.
  fc.array(fc.constantFrom(...'HTTP/1.1 200 OK\r\n:;= \t0123456789abcdefXContent-LengthTransfer-Encodingchunked\r\n\r\n'.split('')), { maxLength: 200 }).map((cs) => Buffer.from(cs.join(''), 'latin1')),
);

const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe('ResponseReader under random input', () => {
  it('reads random bytes and mutated responses the same however they are split, and never throws', () => {
    fc.assert(
      fc.property(fc.oneof(mutated, randomBytes.map((wire) => ({ head: false, wire }))), cuts, ({ head, wire }, at) => {
        const c = { ...reading, head };
        const whole = readPieces(c, wire, [wire.length]);
        const split = readPieces(c, wire, piecesAt(wire.length, at));
        const bytewise = readPieces(c, wire, new Array<number>(wire.length).fill(1));
        expect(verdict(split)).toEqual(verdict(whole));
        expect(verdict(bytewise)).toEqual(verdict(whole));
        // Counted as read: nothing invented, and the payload and heads within what arrived.
        expect(split.bytes.replyWireBytes).toBe(split.fed);
        expect(split.bytes.replyHeaderBytes + split.bytes.replyBodyBytes).toBeLessThanOrEqual(split.fed);
        if (whole.error !== '') {
          expect(whole.error.length).toBeLessThanOrEqual(120);
          expect(whole.error).toMatch(/^[\x20-\x7e]+$/);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('keeps its verdict whatever follows: a protocol error is decided by the bytes that give it', () => {
    fc.assert(
      fc.property(fc.oneof(mutated, randomBytes.map((wire) => ({ head: false, wire }))), randomBytes, cuts, ({ head, wire }, more, at) => {
        const c = { ...reading, head, serverCloses: false };
        const alone = readPieces(c, wire, piecesAt(wire.length, at));
        fc.pre(alone.error !== '');
        const longer = Buffer.concat([wire, more]);
        const after = readPieces(c, longer, piecesAt(longer.length, at));
        expect(after.error).toBe(alone.error);
        expect(after.statuses).toEqual(alone.statuses);
        // Given at the byte that broke it: no byte after that one was needed.
        expect(readPieces(c, wire.subarray(0, after.fed), [after.fed]).error).toBe(alone.error);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('refuses a head at the first byte no HTTP/1.1 head may hold, without waiting for the rest', () => {
    // Control characters are never in a status or field line (HTAB aside); a CR is only ever followed by LF.
    const never = fc.oneof(
      fc.integer({ min: 0, max: 31 }).filter((b) => b !== 9 && b !== 10 && b !== 13).map((b) => Buffer.from([b])),
      fc.constant(Buffer.from([0x7f])),
      fc.integer({ min: 0x20, max: 0x7e }).map((b) => Buffer.from([13, b])),
    );
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.nat(), never, cuts, (c, where, bad, at) => {
        const wire = Buffer.from(c.wire, 'latin1');
        // Anywhere in the first head, its status line to its empty line.
        const headEnd = wire.indexOf('\n\n') >= 0 && (wire.indexOf('\r\n\r\n') < 0 || wire.indexOf('\n\n') < wire.indexOf('\r\n\r\n')) ? wire.indexOf('\n\n') + 1 : wire.indexOf('\r\n\r\n') + 2;
        const p = where % (headEnd + 1);
        const cut = Buffer.concat([wire.subarray(0, p), bad]);
        const r = readPieces({ ...c, serverCloses: false }, cut, piecesAt(cut.length, at));
        expect(r.error, `${c.name}, ${JSON.stringify(bad.toString('latin1'))} at ${p}`).not.toBe('');
        expect(r.statuses).toEqual([]);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
