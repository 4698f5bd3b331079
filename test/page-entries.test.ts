import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageEntries } from '../checker/page-entries.ts';

/**
 * PageEntries answers range questions from per-block sums: it must answer exactly what a plain
 * pfn -> entries map visited page by page answers, for any sequence of adds and removes and any range
 * (aligned folios, ranges across blocks, ranges partly outside anything mapped).
 */
const PMD_ORDER = 3; // small blocks, so that ranges cross many of them

const op = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), pfn: fc.nat(64), n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('remove' as const), pfn: fc.nat(64) }),
);

function naiveCount(m: Map<number, number>, first: number, nr: number): number {
  let n = 0;
  for (let p = first; p < first + nr; p++) n += m.get(p) ?? 0;
  return n;
}

function naiveFirst(m: Map<number, number>, first: number, nr: number): number {
  for (let p = first; p < first + nr; p++) if (m.has(p)) return p - first;
  return -1;
}

describe('PageEntries', () => {
  it('counts and finds like a page-by-page map after any adds and removes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.array(fc.tuple(fc.nat(70), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 10 }), (ops, ranges) => {
        const e = new PageEntries(PMD_ORDER);
        const m = new Map<number, number>();
        for (const o of ops) {
          if (o.kind === 'add') {
            e.add(o.pfn, o.n);
            m.set(o.pfn, (m.get(o.pfn) ?? 0) + o.n);
          } else {
            e.removeOne(o.pfn);
            const c = m.get(o.pfn);
            if (c !== undefined) {
              if (c <= 1) m.delete(o.pfn);
              else m.set(o.pfn, c - 1);
            }
          }
        }
        expect(e.size).toBe(m.size);
        expect(new Map(e.entries())).toEqual(m);
        for (const [first, nr] of ranges) {
          expect(e.count(first, nr)).toBe(naiveCount(m, first, nr));
          expect(e.firstMapped(first, nr)).toBe(naiveFirst(m, first, nr));
        }
        for (let p = 0; p <= 64; p++) {
          expect(e.get(p)).toBe(m.get(p) ?? 0);
          expect(e.has(p)).toBe(m.has(p));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('counts a whole PMD-sized folio from its block sum', () => {
    const e = new PageEntries(9);
    for (let p = 512; p < 1024; p += 2) e.add(p);
    e.add(1024); // the next folio's first page is not counted
    expect(e.count(512, 512)).toBe(256);
    expect(e.firstMapped(512, 512)).toBe(0);
    expect(e.firstMapped(513, 511)).toBe(1);
    expect(e.count(0, 512)).toBe(0);
    expect(e.firstMapped(0, 512)).toBe(-1);
  });
});
