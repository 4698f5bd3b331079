import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TINY, pmdPages, pmdSize } from '../model/geometry.ts';
import { allocFolio, createInode, createProcess, createSystem } from '../model/mm.ts';
import { clearPmd, clearPte, getPmd, getPte, setPmd, setPte } from '../model/page-table.ts';
import { testVma } from './helpers.ts';
import { ENTIRELY_MAPPED, Large612 } from '../model/schemes/large-6.12.ts';
import { Truth } from '../model/schemes/truth.ts';
import type { Folio, Mm, MmSystem, Vma } from '../model/types.ts';

/**
 * large-6.12 driven by batched rmap calls in kernel order (folio_add_*_rmap_ptes/pmd before the
 * entries are set, folio_remove_rmap_* after they were cleared), against hand-computed 6.12
 * values and, for random sequences of batched calls, against `truth`.
 */

const NR = pmdPages(TINY);
const PMD = pmdSize(TINY);
const PAGE = TINY.pageSize;

interface World {
  sys: MmSystem;
  mm: Mm[];
  anon: Vma[];
  file: Vma[];
  s: Large612;
}

function world(procs: number): World {
  const sys = createSystem({ geometry: TINY, kernel: '6.12', thp: 'always', shmemThp: true });
  const inode = createInode(sys, NR, true);
  const mm: Mm[] = [];
  const anon: Vma[] = [];
  const file: Vma[] = [];
  for (let i = 0; i < procs; i++) {
    const m = createProcess(sys, i === 0 ? null : mm[0].pid);
    mm.push(m);
    anon.push(testVma(sys, m, { start: 0, end: 3 * PMD, inode: null }));
    file.push(testVma(sys, m, { start: 3 * PMD, end: 4 * PMD, inode: inode.id }));
  }
  return { sys, mm, anon, file, s: new Large612(sys) };
}

function fileFolio(w: World, order: number): Folio {
  const f = allocFolio(w.sys, 'file', order);
  f.inode = w.file[0].inode;
  f.inPageCache = true;
  return f;
}

const present = (folio: Folio, page: number) => ({ kind: 'present' as const, folio: folio.id, page, writable: true });

function addPmd(w: World, p: number, addr: number, folio: Folio, v: Vma, newAnon = false): void {
  w.s.rmap({ op: 'add', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma: v, newAnon, exclusive: newAnon });
  setPmd(w.sys, w.mm[p], addr, { folio: folio.id, writable: true });
}
/** folio_add_*_rmap_ptes(folio, page, nr): one batched call, then set_ptes(). */
function addPtes(w: World, p: number, addr: number, folio: Folio, page: number, nr: number, v: Vma, newAnon = false): void {
  w.s.rmap({ op: 'add', level: 'pte', folio, page, nr, vma: v, newAnon, exclusive: newAnon });
  for (let i = 0; i < nr; i++) setPte(w.sys, w.mm[p], addr + i * PAGE, present(folio, page + i));
}
function dupPmd(w: World, to: number, addr: number, folio: Folio, v: Vma): void {
  w.s.rmap({ op: 'dup', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma: v });
  setPmd(w.sys, w.mm[to], addr, { folio: folio.id, writable: false });
}
function dupPtes(w: World, to: number, addr: number, folio: Folio, page: number, nr: number, v: Vma): void {
  w.s.rmap({ op: 'dup', level: 'pte', folio, page, nr, vma: v });
  for (let i = 0; i < nr; i++) setPte(w.sys, w.mm[to], addr + i * PAGE, present(folio, page + i));
}
function removePmd(w: World, p: number, addr: number, folio: Folio, v: Vma): void {
  clearPmd(w.sys, w.mm[p], addr);
  w.s.rmap({ op: 'remove', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma: v });
}
function removePtes(w: World, p: number, addr: number, folio: Folio, page: number, nr: number, v: Vma): void {
  for (let i = 0; i < nr; i++) clearPte(w.sys, w.mm[p], addr + i * PAGE);
  w.s.rmap({ op: 'remove', level: 'pte', folio, page, nr, vma: v });
}
function splitPmd(w: World, p: number, addr: number, folio: Folio, v: Vma): void {
  clearPmd(w.sys, w.mm[p], addr);
  w.s.rmap({ op: 'split-pmd', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma: v });
  for (let i = 0; i < 1 << folio.order; i++) setPte(w.sys, w.mm[p], addr + i * PAGE, present(folio, i));
}

const pages = (n: number) => [...Array(n).keys()];

describe('large-6.12: anon THP', () => {
  it('folio_add_new_anon_rmap of a PMD-mappable folio', () => {
    const w = world(1);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    addPmd(w, 0, 0, thp, w.anon[0], true);
    expect(w.s.fields(thp, 0)).toEqual({ mapcount: -1, largeMapcount: 0, entireMapcount: 0, nrPagesMapped: ENTIRELY_MAPPED });
    expect(w.s.folioMapcount(thp)).toBe(1);
    expect(pages(NR).map((i) => w.s.pageMapcount(thp, i))).toEqual([1, 1, 1, 1]);
    expect(w.s.costs.atomics).toBe(0);
  });

  it('fork dup never touches _nr_pages_mapped; split = add_rmap_ptes(nr) + remove_rmap_pmd', () => {
    const w = world(2);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    addPmd(w, 0, 0, thp, w.anon[0], true);
    dupPmd(w, 1, 0, thp, w.anon[1]);
    expect(w.s.fields(thp, 0)).toEqual({ mapcount: -1, largeMapcount: 1, entireMapcount: 1, nrPagesMapped: ENTIRELY_MAPPED });
    expect(pages(NR).map((i) => w.s.kpagecount(thp, i))).toEqual([2, 2, 2, 2]);
    const atomicsBefore = w.s.costs.atomics;

    splitPmd(w, 0, 0, thp, w.anon[0]);
    // pages went -1 -> 0 while the child's PMD maps the folio: counted, under the bias
    expect(w.s.fields(thp, 2)).toEqual({
      mapcount: 0,
      largeMapcount: NR,
      entireMapcount: 0,
      nrPagesMapped: ENTIRELY_MAPPED + NR,
    });
    expect(pages(NR).map((i) => w.s.pageMapcount(thp, i))).toEqual([2, 2, 2, 2]);
    expect(w.s.folioMapcount(thp)).toBe(1 + NR);
    expect(w.s.mappingRefs(thp)).toBe(1 + NR);
    // folio_ref_add; nr _mapcount incs, _nr_pages_mapped add, _large_mapcount add;
    // _large_mapcount dec, _entire_mapcount add_negative (not last)
    expect(w.s.costs.atomics - atomicsBefore).toBe(1 + NR + 1 + 1 + 2);

    removePmd(w, 1, 0, thp, w.anon[1]);
    expect(w.s.fields(thp, 2)).toEqual({ mapcount: 0, largeMapcount: NR - 1, entireMapcount: -1, nrPagesMapped: NR });
    removePtes(w, 0, 0, thp, 0, NR, w.anon[0]);
    expect(w.s.fields(thp, 2)).toEqual({ mapcount: -1, largeMapcount: -1, entireMapcount: -1, nrPagesMapped: 0 });
    expect(w.s.folioMapped(thp)).toBe(false);
    expect(w.s.mappingRefs(thp)).toBe(0);
  });

  it('anon mTHP: folio_add_new_anon_rmap maps every page', () => {
    const w = world(1);
    const m = allocFolio(w.sys, 'anon', 1);
    addPtes(w, 0, 2 * PMD, m, 0, 2, w.anon[0], true);
    expect(w.s.fields(m, 1)).toEqual({ mapcount: 0, largeMapcount: 1, entireMapcount: -1, nrPagesMapped: 2 });
    expect(w.s.folioMapcount(m)).toBe(2);
    expect(w.s.mappingRefs(m)).toBe(2);
    expect(w.s.costs.atomics).toBe(1); // folio_ref_add(nr - 1)
  });

  it('costs: folio_mapcount is O(1)', () => {
    const w = world(1);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    addPmd(w, 0, 0, thp, w.anon[0], true);
    w.s.folioMapcount(thp);
    w.s.folioMapped(thp);
    w.s.pageMapcount(thp, 3);
    expect(w.s.costs.cachelines).toBe(2 + 2 + 2);
  });
});

describe('large-6.12: file THP and small folios', () => {
  it('file PMD map no longer bumps subpage _mapcount; a PTE map on top', () => {
    const w = world(2);
    const f = fileFolio(w, TINY.pmdOrder);
    addPmd(w, 0, 3 * PMD, f, w.file[0]);
    expect(w.s.fields(f, 1)).toEqual({ mapcount: -1, largeMapcount: 0, entireMapcount: 0, nrPagesMapped: ENTIRELY_MAPPED });
    addPtes(w, 1, 3 * PMD + PAGE, f, 1, 2, w.file[1]);
    expect(w.s.fields(f, 1)).toEqual({ mapcount: 0, largeMapcount: 2, entireMapcount: 0, nrPagesMapped: ENTIRELY_MAPPED + 2 });
    expect(pages(NR).map((i) => w.s.pageMapcount(f, i))).toEqual([1, 2, 2, 1]);
    expect(w.s.folioMapcount(f)).toBe(3);
    removePmd(w, 0, 3 * PMD, f, w.file[0]);
    expect(w.s.fields(f, 0)).toEqual({ mapcount: -1, largeMapcount: 1, entireMapcount: -1, nrPagesMapped: 2 });
    expect(pages(NR).map((i) => w.s.pageMapcount(f, i))).toEqual([0, 1, 1, 0]);
  });

  it('small folios use only folio->_mapcount', () => {
    const w = world(2);
    const small = allocFolio(w.sys, 'anon', 0);
    addPtes(w, 0, PMD, small, 0, 1, w.anon[0], true);
    expect(w.s.fields(small, 0)).toEqual({ mapcount: 0 });
    dupPtes(w, 1, PMD, small, 0, 1, w.anon[1]);
    expect(w.s.fields(small, 0)).toEqual({ mapcount: 1 });
    expect(w.s.folioMapcount(small)).toBe(2);
    expect(w.s.mappingRefs(small)).toBe(2);
  });

  it('setFields seeds a folio first seen mid-trace', () => {
    const w = world(1);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    w.s.setFields(thp, 1, { mapcount: 0, largeMapcount: 1, entireMapcount: 0, nrPagesMapped: ENTIRELY_MAPPED + 1 });
    expect(w.s.fields(thp, 1)).toEqual({ mapcount: 0, largeMapcount: 1, entireMapcount: 0, nrPagesMapped: ENTIRELY_MAPPED + 1 });
    expect(w.s.pageMapcount(thp, 1)).toBe(2);
    expect(w.s.folioMapcount(thp)).toBe(2);
    expect(w.s.mappingRefs(thp)).toBe(2);
  });

  it('split_huge_page: the new small folios keep their PTE mappings; clone is independent', () => {
    const w = world(1);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    addPmd(w, 0, 0, thp, w.anon[0], true);
    const copy = w.s.clone(structuredClone(w.sys));
    splitPmd(w, 0, 0, thp, w.anon[0]);
    removePtes(w, 0, 2 * PAGE, thp, 2, 1, w.anon[0]);
    const into: Folio[] = pages(NR).map((i) => ({ ...thp, id: thp.id + i, order: 0 }));
    w.s.folioSplit(thp, into);
    expect(into.map((f) => w.s.fields(f, 0).mapcount)).toEqual([0, 0, -1, 0]);
    expect(into.map((f) => w.s.mappingRefs(f))).toEqual([1, 1, 0, 1]);
    expect(copy.fields(thp, 0)).toEqual({ mapcount: -1, largeMapcount: 0, entireMapcount: 0, nrPagesMapped: ENTIRELY_MAPPED });
  });
});

// ---- property: batched calls against truth ---------------------------------------------------

type Name = 'thp' | 'mthp' | 'small' | 'file';
const BASE: Record<Name, number> = { thp: 0, small: PMD, mthp: 2 * PMD, file: 3 * PMD };

interface Op {
  readonly text: string;
  readonly run: () => void;
}

/** Valid batched steps: a run of absent (or present) PTEs of one folio in one mm, PMD maps, dups, splits. */
function validOps(w: World, folios: Record<Name, Folio>, len: number): Op[] {
  const ops: Op[] = [];
  for (const name of Object.keys(folios) as Name[]) {
    const folio = folios[name];
    const nr = 1 << folio.order;
    const base = BASE[name];
    const anon = folio.kind === 'anon';
    const mapped = w.sys.mappedBy.has(folio.id);
    const v = (p: number) => (anon ? w.anon[p] : w.file[p]);
    w.mm.forEach((mm, p) => {
      const pmd = getPmd(w.sys, mm, base);
      const pte = (i: number) => getPte(w.sys, mm, base + i * PAGE);
      const anyPte = pages(nr).some((i) => pte(i));
      if (folio.order === TINY.pmdOrder) {
        if (!pmd && !anyPte) {
          if (anon && !mapped) ops.push({ text: `new-anon-pmd ${name} p${p}`, run: () => addPmd(w, p, base, folio, v(p), true) });
          ops.push({ text: `add-pmd ${name} p${p}`, run: () => addPmd(w, p, base, folio, v(p)) });
          w.mm.forEach((other, q) => {
            if (q !== p && getPmd(w.sys, other, base)) ops.push({ text: `dup-pmd ${name} p${q}->p${p}`, run: () => dupPmd(w, p, base, folio, v(p)) });
          });
        }
        if (pmd) {
          ops.push({ text: `remove-pmd ${name} p${p}`, run: () => removePmd(w, p, base, folio, v(p)) });
          if (anon) ops.push({ text: `split-pmd ${name} p${p}`, run: () => splitPmd(w, p, base, folio, v(p)) });
        }
      }
      if (pmd) return;
      if (anon && !mapped && folio.order < TINY.pmdOrder)
        ops.push({ text: `new-anon ${name} p${p}`, run: () => addPtes(w, p, base, folio, 0, nr, v(p), true) });
      for (const start of pages(nr)) {
        const n = Math.min(len, nr - start);
        const run = pages(n).map((i) => pte(start + i) !== undefined);
        const at = base + start * PAGE;
        if (run.every((x) => x)) ops.push({ text: `remove-ptes ${name}[${start}+${n}] p${p}`, run: () => removePtes(w, p, at, folio, start, n, v(p)) });
        if (run.every((x) => !x)) {
          ops.push({ text: `add-ptes ${name}[${start}+${n}] p${p}`, run: () => addPtes(w, p, at, folio, start, n, v(p)) });
          w.mm.forEach((other, q) => {
            if (q !== p && pages(n).every((i) => getPte(w.sys, other, at + i * PAGE)))
              ops.push({ text: `dup-ptes ${name}[${start}+${n}] p${q}->p${p}`, run: () => dupPtes(w, p, at, folio, start, n, v(p)) });
          });
        }
      }
    });
    if (!mapped) ops.push({ text: `free ${name}`, run: () => w.s.folioFreed(folio) });
  }
  return ops;
}

describe('large-6.12 against truth (fast-check, TINY geometry, batched calls)', () => {
  it('every query and every raw field agrees after every call', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: NR })), { maxLength: 50 }), (procs, steps) => {
        const w = world(procs);
        const folios: Record<Name, Folio> = {
          thp: allocFolio(w.sys, 'anon', TINY.pmdOrder),
          small: allocFolio(w.sys, 'anon', 0),
          mthp: allocFolio(w.sys, 'anon', 1),
          file: fileFolio(w, TINY.pmdOrder),
        };
        const truth = new Truth(w.sys);
        const path: string[] = [];
        for (const [choice, len] of steps) {
          const ops = validOps(w, folios, len);
          const op = ops[choice % ops.length];
          path.push(op.text);
          op.run();
          const where = path.join('; ');
          for (const name of Object.keys(folios) as Name[]) {
            const folio = folios[name];
            const nr = 1 << folio.order;
            const at = `${name} after: ${where}`;
            expect(w.s.folioMapcount(folio), at).toBe(truth.folioMapcount(folio));
            expect(w.s.folioMapped(folio), at).toBe(truth.folioMapped(folio));
            expect(w.s.mappingRefs(folio), at).toBe(truth.mappingRefs(folio));
            for (const i of pages(nr)) {
              expect(w.s.pageMapcount(folio, i), `${at} page ${i}`).toBe(truth.pageMapcount(folio, i));
              expect(w.s.kpagecount(folio, i), `${at} page ${i}`).toBe(truth.kpagecount(folio, i));
            }
            if (nr > 1) {
              let pmds = 0;
              const ptes = pages(nr).map(() => 0);
              for (const mm of w.mm) {
                if (getPmd(w.sys, mm, BASE[name])) pmds++;
                for (const i of pages(nr)) if (getPte(w.sys, mm, BASE[name] + i * PAGE)) ptes[i]++;
              }
              const f = w.s.fields(folio, 0);
              expect(f.entireMapcount, at).toBe(pmds - 1);
              expect(f.largeMapcount, at).toBe(pmds + ptes.reduce((a, b) => a + b, 0) - 1);
              expect(f.nrPagesMapped, at).toBe(ptes.filter((n) => n > 0).length + (pmds ? ENTIRELY_MAPPED : 0));
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
