import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { synthesize } from '../bench/generate.ts';
import { readTrace } from '../traces/reader.ts';
import { ajvEventValid, ajvHeaderValid, fastEventValid, fastHeaderValid } from '../traces/schema.ts';

/**
 * The hand-written validators of the header and of kernel-trace events (traces/schema.ts
 * fastHeaderValid, fastEventValid) may only say "valid" where ajv says valid: they never let a bad
 * value through, and the values of real traces take them.
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

const uint = fc.oneof(fc.integer({ min: -1, max: 4194305 }), fc.double(), fc.constant('1'));
const word = fc.oneof(fc.constantFrom('mmap', 'enter', 'exit', 'fork', 'STEP x', 'a_b', 'x'), fc.string({ maxLength: 4 }), fc.integer());
const strings = fc.dictionary(key, fc.oneof(word, hexish), { maxKeys: 3 });
/** The other kinds, each with its fields (any may be missing or bad) and at times one that is not its own. */
const pidish = fc.oneof(fc.integer({ min: 0, max: 4194304 }), uint);
const ownFields: Record<string, Record<string, fc.Arbitrary<unknown>>> = {
  syscall: { name: fc.oneof(fc.constantFrom('mmap', 'munmap'), word), phase: fc.oneof(fc.constantFrom('enter', 'exit'), word), args: fc.oneof(fc.dictionary(fc.constantFrom('addr', 'len'), hexish, { maxKeys: 2 }), strings, fc.constant([])), ret: hexish },
  sched: { what: fc.oneof(fc.constantFrom('fork', 'exit'), word), childPid: pidish },
  obs: { pid: pidish, va: hexish, pfn: hexish, present: fc.oneof(fc.boolean(), fc.constant(0)), kpagecount: fc.oneof(fc.nat(), uint), kpageflags: hexish },
  step: { name: word },
  marker: { text: word },
  lost: { count: fc.oneof(fc.nat(), uint) },
  tracepoint: { name: word, fields: fc.oneof(fc.dictionary(fc.constantFrom('pfn', 'status'), fc.string({ maxLength: 3 }), { maxKeys: 2 }), strings, fc.constant(null)) },
};
const otherKinds = fc
  .constantFrom(...Object.keys(ownFields), 'op', 'nope')
  .chain((ev) =>
    fc.tuple(
      fc.record(ownFields[ev] ?? ownFields['step']!, { requiredKeys: [] }),
      fc.option(fc.constantFrom('name', 'text', 'count', 'what', 'extra', 'va'), { freq: 4 }),
      recorded,
    ).map(([own, foreign, r]) => ({ ev, ...r, ...own, ...(foreign ? { [foreign]: 'x' } : {}) }) as Record<string, unknown>),
  );

const header = fc.record(
  {
    format: fc.constantFrom('trollcount-trace', 'x'),
    version: fc.constantFrom(1, 2, '1'),
    kernel: fc.record({ release: fc.oneof(fc.string(), fc.integer()), generation: fc.constantFrom('6.1', '6.12', '5.15', 6.1), extra: fc.constant(1) }, { requiredKeys: [] }),
    geometry: fc.record({ pageSize: fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.double()), pmdOrder: fc.integer({ min: -1, max: 21 }), x: fc.constant(0) }, { requiredKeys: [] }),
    source: fc.oneof(fc.record({ kind: fc.constantFrom('ftrace', 'explore', 'synthetic', 'hand-written', 'bench', 'other'), description: fc.oneof(fc.string(), fc.constant(null)) }, { requiredKeys: [] }), fc.constant('ftrace')),
    mm: fc.record({ thp: fc.constantFrom('always', 'madvise', 'never', 'sometimes'), shmemThp: fc.oneof(fc.boolean(), fc.constant('yes')) }, { requiredKeys: [] }),
    extra: fc.constant(true),
  },
  { requiredKeys: [] },
);

describe('fast header validator', () => {
  it('never accepts what ajv rejects, and accepts what ajv accepts (random headers)', () => {
    fc.assert(
      fc.property(header, (h) => {
        const parsed = JSON.parse(JSON.stringify(h)) as Record<string, unknown>;
        expect(fastHeaderValid(parsed)).toBe(ajvHeaderValid(parsed));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('fast event validator', () => {
  it('never accepts what ajv rejects (random events of the other kinds)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(otherKinds, (v) => {
        const parsed = JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
        if (!fastEventValid(parsed)) return;
        accepted++;
        expect(ajvValid(parsed)).toBe(true);
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(20); // not vacuous: valid events of every kind come up
  });

  it('accepts every event and header of the bundled real captures (only op events need ajv)', async () => {
    for (const f of ['traces/fixtures/real/6.1-fork-many.ftrace.gz', 'traces/fixtures/real/6.12-split-folio.ftrace.gz']) {
      const t = await readTrace(f);
      expect(fastHeaderValid(JSON.parse(JSON.stringify(t.header)))).toBe(true);
      for (const e of t.events) expect(fastEventValid(JSON.parse(JSON.stringify(e.event))), `${f}:${e.at.line}`).toBe(true);
    }
  });

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
