import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { synthesize } from '../bench/generate.ts';
import { ajvEventValid, fastEventValid } from '../traces/schema.ts';

/**
 * The hand-written validator of kcall/fault events (traces/schema.ts fastEventValid) may only say
 * "valid" where ajv says valid: it never lets a bad event through, and the common events take it.
 */
const ajvValid = (v: Record<string, unknown>): boolean => ajvEventValid(v);

const hexish = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((b) => '0x' + b.toString(16)),
  fc.constantFrom('0x', '0X1', '0xFF', '0x' + 'f'.repeat(17), '1234', '', '0x-1', 'ffffea'),
);
const argValue = fc.oneof(hexish, fc.integer({ min: -2147483649, max: 4294967296 }), fc.double(), fc.constant(null), fc.boolean());
const key = fc.oneof(fc.constantFrom('folio', 'page', 'nr', 'vma', 'mm', 'x_1', 'A9'), fc.constantFrom('_x', '9a', 'a-b', '', '__proto__', 'constructor'));
const recorded = fc.record(
  { ts: fc.oneof(fc.double({ min: -1, max: 1e6, noNaN: true }), fc.constant('1')), cpu: fc.oneof(fc.integer({ min: -1, max: 64 }), fc.double()), pid: fc.integer({ min: -1, max: 4194305 }), tgid: fc.integer({ min: -1, max: 4194305 }), comm: fc.oneof(fc.string(), fc.integer()) },
  { requiredKeys: [] },
);
const kcall = fc
  .record({ fn: fc.oneof(fc.constantFrom('folio_add_anon_rmap_ptes', 'copy_page_range', 'a.b', '_x'), fc.constantFrom('9x', 'a b', '')), ret: fc.oneof(fc.boolean(), fc.constant(1)), args: fc.dictionary(key, argValue, { maxKeys: 6 }), extra: fc.constantFrom(undefined, 'x') }, { requiredKeys: ['fn', 'args'] })
  .chain((k) => recorded.map((r) => ({ ev: 'kcall', ...k, ...r }) as Record<string, unknown>))
  .map((v) => {
    if (v.extra === undefined) delete v.extra;
    return v;
  });
const fault = fc
  .record({ address: hexish, ip: hexish, errorCode: hexish }, { requiredKeys: [] })
  .chain((f) => recorded.map((r) => ({ ev: 'fault', ...f, ...r }) as Record<string, unknown>));

describe('fast event validator', () => {
  it('never accepts what ajv rejects (random kcall and fault shapes)', () => {
    fc.assert(
      fc.property(fc.oneof(kcall, fault), (v) => {
        const parsed = JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
        if (fastEventValid(parsed)) expect(ajvValid(parsed)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts every kcall and fault event of a synthetic trace (the fast path is taken)', () => {
    for (const e of synthesize({ events: 2000, seed: 3 })) {
      if (e.ev !== 'kcall' && e.ev !== 'fault') continue;
      expect(fastEventValid(JSON.parse(JSON.stringify(e)))).toBe(true);
    }
  });
});
