import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FolioIndex } from '../checker/folio-index.ts';

/**
 * FolioIndex finds the folio owning a pfn through per-block lists instead of a per-page table: it
 * must answer what a pfn -> folio table answers, for any sequence of folios filed (the replay clears
 * a folio's pfns before filing it) and unfiled, of any size and alignment.
 */
const PMD_ORDER = 3;

interface Rec {
  readonly folio: { readonly id: number };
  readonly nr: number;
}

const step = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), head: fc.nat(60), nr: fc.oneof(fc.constant(1), fc.constant(8), fc.integer({ min: 2, max: 20 })) }),
  fc.record({ kind: fc.constant('drop' as const), pfn: fc.nat(80) }),
);

describe('FolioIndex', () => {
  it('owns, finds and overlaps like a page-by-page table', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.array(fc.tuple(fc.nat(80), fc.integer({ min: 1, max: 30 })), { maxLength: 8 }), (steps, ranges) => {
        const index = new FolioIndex<Rec>(PMD_ORDER);
        const table = new Map<number, Rec>();
        const unfile = (r: Rec): void => {
          for (let p = r.folio.id; p < r.folio.id + r.nr; p++) table.delete(p);
          index.delete(r);
        };
        for (const s of steps) {
          if (s.kind === 'add') {
            // the replay's rule: clear the range, then file the new folio
            for (const r of index.overlapping(s.head, s.nr)) unfile(r);
            const rec: Rec = { folio: { id: s.head }, nr: s.nr };
            index.add(rec);
            for (let p = s.head; p < s.head + s.nr; p++) table.set(p, rec);
          } else {
            const r = index.at(s.pfn);
            expect(r).toBe(table.get(s.pfn));
            if (r) unfile(r);
          }
        }
        for (let p = 0; p < 90; p++) {
          const owner = table.get(p);
          expect(index.at(p)).toBe(owner);
          expect(index.largeAt(p)).toBe(owner && owner.nr > 1 ? owner : undefined);
          expect(index.get(p)).toBe(owner && owner.folio.id === p ? owner : undefined);
        }
        expect(index.size).toBe(new Set(table.values()).size);
        for (const [first, nr] of ranges) {
          const want = new Set<Rec>();
          for (let p = first; p < first + nr; p++) if (table.has(p)) want.add(table.get(p)!);
          const got = index.overlapping(first, nr);
          expect(got.length).toBe(want.size);
          expect(new Set(got)).toEqual(want);
        }
      }),
      { numRuns: 500 },
    );
  });
});
