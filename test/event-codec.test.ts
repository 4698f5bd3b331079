import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { synthesize } from '../bench/generate.ts';
import { EventDecoder, EventEncoder, type CodecTables } from '../traces/event-codec.ts';

/**
 * traces/event-codec.ts rebuilds on the replay's thread exactly what JSON.parse made on the reader's:
 * the same values, keys in the same order, -0 and "__proto__" fields included, however the events
 * are cut into batches and however small the tables (strings evicted, keys and shapes run out).
 */
function roundTrip(values: readonly unknown[], cuts: readonly number[], tables?: CodecTables): unknown[] {
  const enc = new EventEncoder(tables);
  const dec = new EventDecoder();
  const out: unknown[] = [];
  const lines: number[] = [];
  const flush = (): void => dec.decode(structuredClone(enc.take()), (line, v) => (lines.push(line), out.push(v)));
  values.forEach((v, i) => {
    enc.add(i + 1, v);
    if (cuts.includes(i)) flush();
  });
  flush();
  expect(lines).toEqual(values.map((_, i) => i + 1));
  return out;
}

/** Equal as values and in key order (isDeepStrictEqual ignores the order of keys, JSON.stringify does not). */
function expectSame(got: unknown[], want: unknown[]): void {
  expect(isDeepStrictEqual(got, want)).toBe(true);
  expect(JSON.stringify(got)).toBe(JSON.stringify(want));
}

const tables = fc.record({ strings: fc.integer({ min: 1, max: 8 }), keys: fc.integer({ min: 0, max: 8 }), shapes: fc.integer({ min: 0, max: 4 }) });
const keyish = fc.oneof(fc.constantFrom('ev', 'fn', 'args', 'folio', '__proto__', 'constructor', ''), fc.string({ maxLength: 3 }));
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(0, -0, 1.5, -2147483648, 2147483647, 2147483648, 2 ** 53, 1e-7, true, false, null),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom('0xffffea0000010000', '0x1', 'kcall', '', 'é', '\u2028'),
    fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    fc.string({ maxLength: 4 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keyish, tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('event codec', () => {
  it('decodes what JSON.parse made, in any batches, with tables small enough to overflow', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(jsonish, fc.dictionary(fc.constantFrom('k', 'l'), fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minKeys: 1 })), { maxLength: 16 }), fc.array(fc.nat(12), { maxLength: 4 }), tables, (values, cuts, t) => {
        const parsed = values.map((v) => JSON.parse(JSON.stringify(v) ?? 'null'));
        expectSame(roundTrip(parsed, cuts, t), parsed);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps -0 and "__proto__" as JSON.parse has them', () => {
    const parsed = [JSON.parse('{"a": -0, "__proto__": {"x": 1}, "b": [-0]}'), JSON.parse('{"__proto__": 1}')];
    const [a, b] = roundTrip(parsed, []) as Record<string, unknown>[];
    expect(Object.is(a!['a'], -0)).toBe(true);
    expect(Object.getPrototypeOf(a)).toBe(Object.prototype);
    expect(Object.keys(a!)).toEqual(['a', '__proto__', 'b']);
    expect(Object.prototype.hasOwnProperty.call(b, '__proto__')).toBe(true);
    expectSame([a, b], parsed);
  });

  it('a synthetic kernel trace survives with the default tables and with tiny ones', () => {
    const events = [...synthesize({ events: 3000, seed: 5 })].map((e) => JSON.parse(JSON.stringify(e)) as unknown);
    expectSame(roundTrip(events, [100, 101, 1500]), events);
    // few string slots, so that a field's string of the object before has often left its slot
    expectSame(roundTrip(events, [700], { strings: 3, keys: 64, shapes: 64 }), events);
    // keys and shapes run out
    expectSame(roundTrip(events, [700], { strings: 3, keys: 5, shapes: 2 }), events);
  });
});
