import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TINY, pmdPages, pmdSize } from '../model/geometry.ts';
import { allocFolio, createInode, createProcess, createSystem } from '../model/mm.ts';
import { clearPmd, clearPte, getPmd, getPte, setPmd, setPte } from '../model/page-table.ts';
import { testVma } from './helpers.ts';
import { Legacy61 } from '../model/schemes/legacy-6.1.ts';
import { Large612, ENTIRELY_MAPPED } from '../model/schemes/large-6.12.ts';
import { Truth } from '../model/schemes/truth.ts';
import type { MapcountScheme, RmapCall } from '../model/schemes/scheme.ts';
import type { Folio, Mm, MmSystem, Vma } from '../model/types.ts';

/**
 * legacy-6.1 driven by rmap calls in kernel order (add before set_pte_at, remove after the entry
 * was cleared), checked against hand-computed 6.1 values; then random valid call sequences on a
 * TINY geometry (THP = 4 pages) against `truth`, for legacy-6.1 and large-6.12 side by side.
 */

const NR = pmdPages(TINY);
const PMD = pmdSize(TINY);
const PAGE = TINY.pageSize;

interface World {
  sys: MmSystem;
  mm: Mm[];
  anonVma: Vma[];
  fileVma: Vma[];
  schemes: MapcountScheme[];
}

/** `procs` processes, each with an anon VMA [0, 3 PMDs) and a shared file VMA [3 PMDs, 4 PMDs). */
function world(procs: number, make: (sys: MmSystem) => MapcountScheme[]): World {
  const sys = createSystem({ geometry: TINY, kernel: '6.1', thp: 'always', shmemThp: true });
  const inode = createInode(sys, NR, true);
  const mm: Mm[] = [];
  const anonVma: Vma[] = [];
  const fileVma: Vma[] = [];
  for (let i = 0; i < procs; i++) {
    const m = createProcess(sys, i === 0 ? null : mm[0].pid);
    mm.push(m);
    anonVma.push(testVma(sys, m, { start: 0, end: 3 * PMD, inode: null }));
    fileVma.push(testVma(sys, m, { start: 3 * PMD, end: 4 * PMD, inode: inode.id }));
  }
  return { sys, mm, anonVma, fileVma, schemes: make(sys) };
}

function fileFolio(w: World, order: number): Folio {
  const f = allocFolio(w.sys, 'shmem', order);
  f.inode = w.fileVma[0].inode;
  f.inPageCache = true;
  return f;
}

const call = (w: World, c: RmapCall): void => {
  for (const s of w.schemes) s.rmap(c);
};
const addCall = (folio: Folio, level: 'pte' | 'pmd', page: number, v: Vma, newAnon = false): RmapCall => ({
  op: 'add',
  level,
  folio,
  page,
  nr: level === 'pmd' ? 1 << folio.order : 1,
  vma: v,
  newAnon,
  exclusive: newAnon,
});

// Kernel-order drivers: the hook sees the page tables without the entry being added/removed.
function mapPmd(w: World, p: number, addr: number, folio: Folio, v: Vma, newAnon = false): void {
  call(w, addCall(folio, 'pmd', 0, v, newAnon));
  setPmd(w.sys, w.mm[p], addr, { folio: folio.id, writable: true });
}
function mapPte(w: World, p: number, addr: number, folio: Folio, page: number, v: Vma, newAnon = false): void {
  call(w, addCall(folio, 'pte', page, v, newAnon));
  setPte(w.sys, w.mm[p], addr, { kind: 'present', folio: folio.id, page, writable: true });
}
function dupPmd(w: World, to: number, addr: number, folio: Folio, v: Vma): void {
  call(w, { op: 'dup', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma: v });
  setPmd(w.sys, w.mm[to], addr, { folio: folio.id, writable: false });
}
function dupPte(w: World, to: number, addr: number, folio: Folio, page: number, v: Vma): void {
  call(w, { op: 'dup', level: 'pte', folio, page, nr: 1, vma: v });
  setPte(w.sys, w.mm[to], addr, { kind: 'present', folio: folio.id, page, writable: false });
}
function unmapPmd(w: World, p: number, addr: number, folio: Folio, v: Vma): void {
  clearPmd(w.sys, w.mm[p], addr);
  call(w, { op: 'remove', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma: v });
}
function unmapPte(w: World, p: number, addr: number, folio: Folio, page: number, v: Vma): void {
  clearPte(w.sys, w.mm[p], addr);
  call(w, { op: 'remove', level: 'pte', folio, page, nr: 1, vma: v });
}
/** __split_huge_pmd_locked(): the PMD is cleared, the hook runs, the PTEs appear. */
function splitPmd(w: World, p: number, addr: number, folio: Folio, v: Vma): void {
  clearPmd(w.sys, w.mm[p], addr);
  call(w, { op: 'split-pmd', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma: v });
  for (let i = 0; i < 1 << folio.order; i++)
    setPte(w.sys, w.mm[p], addr + i * PAGE, { kind: 'present', folio: folio.id, page: i, writable: true });
}

const legacyWorld = (procs: number) => {
  const w = world(procs, (sys) => [new Legacy61(sys)]);
  return { w, s: w.schemes[0] as Legacy61 };
};
const pages = (n: number) => [...Array(n).keys()];

describe('legacy-6.1: anon THP', () => {
  it('new anon PMD map: compound_mapcount 0, subpages untouched', () => {
    const { w, s } = legacyWorld(1);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    mapPmd(w, 0, 0, thp, w.anonVma[0], true);
    expect(s.fields(thp, 0)).toEqual({ mapcount: -1, compoundMapcount: 0, doubleMap: false });
    expect(s.folioMapcount(thp)).toBe(1);
    expect(pages(NR).map((i) => s.pageMapcount(thp, i))).toEqual([1, 1, 1, 1]);
    expect(s.folioMapped(thp)).toBe(true);
    expect(s.mappingRefs(thp)).toBe(1);
    expect(s.thpState(thp)?.state).toBe('pmdMapped');
  });

  it('fork dup, split in one process, remove the last PMD', () => {
    const { w, s } = legacyWorld(2);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    mapPmd(w, 0, 0, thp, w.anonVma[0], true);
    dupPmd(w, 1, 0, thp, w.anonVma[1]); // copy_huge_pmd
    expect(s.fields(thp, 0).compoundMapcount).toBe(1);
    expect(pages(NR).map((i) => s.pageMapcount(thp, i))).toEqual([2, 2, 2, 2]);
    expect(s.folioMapcount(thp)).toBe(2);

    splitPmd(w, 0, 0, thp, w.anonVma[0]);
    // each subpage: 1 PTE + the DoubleMap bias; compound: the child's PMD
    expect(pages(NR).map((i) => s.fields(thp, i))).toEqual(
      pages(NR).map(() => ({ mapcount: 1, compoundMapcount: 0, doubleMap: true })),
    );
    expect(pages(NR).map((i) => s.pageMapcount(thp, i))).toEqual([2, 2, 2, 2]);
    expect(s.folioMapcount(thp)).toBe(1 + NR);
    expect(s.mappingRefs(thp)).toBe(1 + NR); // PMD ref + page_ref_add(nr - 1)
    expect(s.thpState(thp)?.state).toBe('doubleMapped.pageDoubleMap');

    unmapPmd(w, 1, 0, thp, w.anonVma[1]); // the child exits
    expect(pages(NR).map((i) => s.fields(thp, i))).toEqual(
      pages(NR).map(() => ({ mapcount: 0, compoundMapcount: -1, doubleMap: false })),
    );
    expect(pages(NR).map((i) => s.pageMapcount(thp, i))).toEqual([1, 1, 1, 1]);
    expect(s.folioMapcount(thp)).toBe(NR);
    expect(s.thpState(thp)?.state).toBe('pteMapped');

    for (const i of pages(NR)) unmapPte(w, 0, i * PAGE, thp, i, w.anonVma[0]);
    expect(s.folioMapped(thp)).toBe(false);
    expect(s.mappingRefs(thp)).toBe(0);
    expect(s.thpState(thp)?.state).toBe('unmapped');
    s.folioFreed(thp);
    expect(s.thpState(thp)).toBeUndefined();
  });

  it('fork of a PTE-mapped THP: page_try_dup_anon_rmap per PTE', () => {
    const { w, s } = legacyWorld(2);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    mapPmd(w, 0, 0, thp, w.anonVma[0], true);
    splitPmd(w, 0, 0, thp, w.anonVma[0]);
    expect(s.fields(thp, 2)).toEqual({ mapcount: 0, compoundMapcount: -1, doubleMap: false });
    dupPte(w, 1, 2 * PAGE, thp, 2, w.anonVma[1]);
    expect(s.fields(thp, 2).mapcount).toBe(1);
    expect(pages(NR).map((i) => s.kpagecount(thp, i))).toEqual([1, 1, 2, 1]);
    expect(s.folioMapcount(thp)).toBe(NR + 1);
  });

  it('costs: folio_mapcount reads every struct page, folio_mapped stops at the compound', () => {
    const { w, s } = legacyWorld(1);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    mapPmd(w, 0, 0, thp, w.anonVma[0], true);
    const before = { ...s.costs };
    s.folioMapcount(thp);
    expect(s.costs.cachelines - before.cachelines).toBe(NR);
    s.folioMapped(thp);
    expect(s.costs.cachelines - before.cachelines).toBe(NR + 2);
    s.pageMapcount(thp, 3); // page, head (PageAnon), first tail (compound_mapcount)
    expect(s.costs.cachelines - before.cachelines).toBe(NR + 2 + 3);
    // new anon: atomic_set only, the allocation reference is the PMD's
    expect(before.atomics).toBe(0);
  });

  it('atomics of a split with another PMD mapping', () => {
    const { w, s } = legacyWorld(2);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    mapPmd(w, 0, 0, thp, w.anonVma[0], true);
    dupPmd(w, 1, 0, thp, w.anonVma[1]);
    expect(s.costs.atomics).toBe(2); // get_page + compound_mapcount++
    splitPmd(w, 0, 0, thp, w.anonVma[0]);
    // page_ref_add + nr inc + TestSetPageDoubleMap + nr bias + atomic_add_negative
    expect(s.costs.atomics - 2).toBe(1 + NR + 1 + NR + 1);
  });
});

describe('legacy-6.1: file THP', () => {
  it('PMD map bumps every subpage and compound_mapcount; a PTE map sets DoubleMap', () => {
    const { w, s } = legacyWorld(2);
    const f = fileFolio(w, TINY.pmdOrder);
    mapPmd(w, 0, 3 * PMD, f, w.fileVma[0]);
    expect(s.fields(f, 1)).toEqual({ mapcount: 0, compoundMapcount: 0, doubleMap: false });
    expect(s.costs.atomics).toBe(1 + NR + 1); // get_page, nr subpages, compound
    mapPte(w, 1, 3 * PMD + PAGE, f, 1, w.fileVma[1]);
    expect(s.fields(f, 1)).toEqual({ mapcount: 1, compoundMapcount: 0, doubleMap: true });
    expect(s.fields(f, 0)).toEqual({ mapcount: 0, compoundMapcount: 0, doubleMap: true });
    expect(pages(NR).map((i) => s.pageMapcount(f, i))).toEqual([1, 2, 1, 1]);
    expect(s.folioMapcount(f)).toBe(2);

    // DoubleMap is a hint for file THPs: unmaps never clear it
    unmapPte(w, 1, 3 * PMD + PAGE, f, 1, w.fileVma[1]);
    unmapPmd(w, 0, 3 * PMD, f, w.fileVma[0]);
    expect(s.fields(f, 1)).toEqual({ mapcount: -1, compoundMapcount: -1, doubleMap: true });
    expect(s.folioMapped(f)).toBe(false);

    // ... only page_add_file_rmap(compound) of an entirely unmapped THP clears it
    mapPmd(w, 0, 3 * PMD, f, w.fileVma[0]);
    expect(s.fields(f, 1).doubleMap).toBe(false);
  });

  it('first PMD map with a subpage still PTE-mapped keeps DoubleMap', () => {
    const { w, s } = legacyWorld(2);
    const f = fileFolio(w, TINY.pmdOrder);
    mapPte(w, 1, 3 * PMD + 2 * PAGE, f, 2, w.fileVma[1]);
    mapPmd(w, 0, 3 * PMD, f, w.fileVma[0]);
    expect(s.fields(f, 2)).toEqual({ mapcount: 1, compoundMapcount: 0, doubleMap: true });
    expect(s.pageMapcount(f, 2)).toBe(2);
    expect(s.folioMapcount(f)).toBe(2);
  });
});

describe('legacy-6.1: small folios, split, seeding, clone', () => {
  it('small anon: page_add_new_anon_rmap sets 0, fork dup, COW-style remove', () => {
    const { w, s } = legacyWorld(2);
    const small = allocFolio(w.sys, 'anon', 0);
    mapPte(w, 0, PMD, small, 0, w.anonVma[0], true);
    expect(s.fields(small, 0)).toEqual({ mapcount: 0 });
    dupPte(w, 1, PMD, small, 0, w.anonVma[1]);
    expect(s.fields(small, 0)).toEqual({ mapcount: 1 });
    expect(s.pageMapcount(small, 0)).toBe(2);
    unmapPte(w, 1, PMD, small, 0, w.anonVma[1]);
    expect(s.folioMapcount(small)).toBe(1);
    expect(s.mappingRefs(small)).toBe(1);
  });

  it('split_huge_page: new small folios keep their PTE mappings', () => {
    const { w, s } = legacyWorld(1);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    mapPmd(w, 0, 0, thp, w.anonVma[0], true);
    splitPmd(w, 0, 0, thp, w.anonVma[0]);
    unmapPte(w, 0, PAGE, thp, 1, w.anonVma[0]);
    const actor = s.thpActor(thp)!;
    const into: Folio[] = pages(NR).map((i) => ({ ...thp, id: thp.id + i, order: 0 }));
    s.folioSplit(thp, into);
    expect(actor.getSnapshot().value).toBe('split');
    expect(into.map((f) => s.fields(f, 0).mapcount)).toEqual([0, -1, 0, 0]);
    expect(into.map((f) => s.mappingRefs(f))).toEqual([1, 0, 1, 1]);
  });

  it('setFields seeds a THP first seen mid-trace; the machine classifies it', () => {
    const { w, s } = legacyWorld(1);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    for (const i of pages(NR)) s.setFields(thp, i, { mapcount: i === 3 ? 1 : 0, compoundMapcount: 0, doubleMap: true });
    expect(s.thpState(thp)?.state).toBe('doubleMapped.pageDoubleMap');
    expect(s.pageMapcount(thp, 3)).toBe(2);
    expect(s.folioMapcount(thp)).toBe(2);
    expect(s.mappingRefs(thp)).toBe(2);
    const file = fileFolio(w, TINY.pmdOrder);
    s.setFields(file, 2, { mapcount: 1, compoundMapcount: 0, doubleMap: true });
    expect(s.fields(file, 2)).toEqual({ mapcount: 1, compoundMapcount: 0, doubleMap: true });
  });

  it('clone copies counters and restarts the actors from their snapshots', () => {
    const { w, s } = legacyWorld(2);
    const thp = allocFolio(w.sys, 'anon', TINY.pmdOrder);
    mapPmd(w, 0, 0, thp, w.anonVma[0], true);
    dupPmd(w, 1, 0, thp, w.anonVma[1]);
    const copy = s.clone(structuredClone(w.sys));
    splitPmd(w, 0, 0, thp, w.anonVma[0]);
    expect(copy.thpState(thp)?.state).toBe('pmdMapped');
    expect(copy.fields(thp, 0)).toEqual({ mapcount: -1, compoundMapcount: 1, doubleMap: false });
    copy.rmap({ op: 'split-pmd', level: 'pmd', folio: thp, page: 0, nr: NR, vma: w.anonVma[0] });
    expect(copy.fields(thp, 0)).toEqual(s.fields(thp, 0));
    expect(copy.thpState(thp)?.state).toBe('doubleMapped.pageDoubleMap');
  });
});

// ---- property: legacy-6.1 and large-6.12 agree with truth ------------------------------------

type FolioName = 'thp' | 'small' | 'mthp' | 'file';
/** Where each folio lives: anon THP at PMD 0, small at PMD 1, an order-1 anon folio at PMD 2, the file THP at PMD 3. */
const BASE: Record<FolioName, number> = { thp: 0, small: PMD, mthp: 2 * PMD, file: 3 * PMD };

interface Op {
  readonly text: string;
  readonly run: () => void;
}

/** Every valid kernel-order step of the tiny world at this moment. */
function validOps(w: World, folios: Record<FolioName, Folio>): Op[] {
  const ops: Op[] = [];
  const procs = w.mm.length;
  for (const name of Object.keys(folios) as FolioName[]) {
    const folio = folios[name];
    const nr = 1 << folio.order;
    const base = BASE[name];
    const anon = folio.kind === 'anon';
    const mapped = w.sys.mappedBy.has(folio.id);
    const vmaOf = (p: number) => (anon ? w.anonVma[p] : w.fileVma[p]);
    for (let p = 0; p < procs; p++) {
      const mm = w.mm[p];
      const pmd = getPmd(w.sys, mm, base);
      const anyPte = pages(nr).some((i) => getPte(w.sys, mm, base + i * PAGE) !== undefined);
      if (name === 'thp' || name === 'file') {
        if (!pmd && !anyPte) {
          if (anon && !mapped) ops.push({ text: `new-anon-pmd ${name} p${p}`, run: () => mapPmd(w, p, base, folio, vmaOf(p), true) });
          ops.push({ text: `add-pmd ${name} p${p}`, run: () => mapPmd(w, p, base, folio, vmaOf(p)) });
          if (anon)
            for (let q = 0; q < procs; q++)
              if (q !== p && getPmd(w.sys, w.mm[q], base))
                ops.push({ text: `dup-pmd ${name} p${q}->p${p}`, run: () => dupPmd(w, p, base, folio, vmaOf(p)) });
        }
        if (pmd) {
          ops.push({ text: `remove-pmd ${name} p${p}`, run: () => unmapPmd(w, p, base, folio, vmaOf(p)) });
          if (anon) ops.push({ text: `split-pmd ${name} p${p}`, run: () => splitPmd(w, p, base, folio, vmaOf(p)) });
        }
      }
      if (pmd) continue;
      if (anon && !mapped && name !== 'thp')
        ops.push({
          text: `new-anon ${name} p${p}`,
          run: () => {
            call(w, { op: 'add', level: 'pte', folio, page: 0, nr, vma: vmaOf(p), newAnon: true, exclusive: true });
            for (const i of pages(nr)) setPte(w.sys, mm, base + i * PAGE, { kind: 'present', folio: folio.id, page: i, writable: true });
          },
        });
      for (const i of pages(nr)) {
        const addr = base + i * PAGE;
        const pte = getPte(w.sys, mm, addr);
        if (pte) ops.push({ text: `remove-pte ${name}[${i}] p${p}`, run: () => unmapPte(w, p, addr, folio, i, vmaOf(p)) });
        else {
          ops.push({ text: `add-pte ${name}[${i}] p${p}`, run: () => mapPte(w, p, addr, folio, i, vmaOf(p)) });
          for (let q = 0; q < procs; q++)
            if (q !== p && getPte(w.sys, w.mm[q], addr))
              ops.push({ text: `dup-pte ${name}[${i}] p${q}->p${p}`, run: () => dupPte(w, p, addr, folio, i, vmaOf(p)) });
        }
      }
    }
    if (!mapped)
      ops.push({
        text: `free ${name}`,
        run: () => {
          for (const s of w.schemes) s.folioFreed(folio);
        },
      });
  }
  return ops;
}

function checkAgainstTruth(w: World, folios: Record<FolioName, Folio>, where: string): void {
  const truth = new Truth(w.sys);
  for (const folio of Object.values(folios)) {
    const nr = 1 << folio.order;
    for (const s of w.schemes) {
      const at = `${s.name} folio ${folio.kind}/${folio.order} after: ${where}`;
      expect(s.folioMapcount(folio), at).toBe(truth.folioMapcount(folio));
      expect(s.folioMapped(folio), at).toBe(truth.folioMapped(folio));
      expect(s.mappingRefs(folio), at).toBe(truth.mappingRefs(folio));
      for (let i = 0; i < nr; i++) {
        expect(s.pageMapcount(folio, i), `${at} page ${i}`).toBe(truth.pageMapcount(folio, i));
        expect(s.kpagecount(folio, i), `${at} page ${i}`).toBe(truth.kpagecount(folio, i));
      }
    }
  }
}

/** Per-page PTE count and PMD count of a folio, read off the page tables. */
function mappings(w: World, folio: Folio, base: number): { pmds: number; ptes: number[] } {
  const nr = 1 << folio.order;
  let pmds = 0;
  const ptes = new Array<number>(nr).fill(0);
  for (const mm of w.mm) {
    if (getPmd(w.sys, mm, base)?.folio === folio.id) pmds++;
    for (let i = 0; i < nr; i++) if (getPte(w.sys, mm, base + i * PAGE)?.kind === 'present') ptes[i]++;
  }
  return { pmds, ptes };
}

function checkRawFields(w: World, folios: Record<FolioName, Folio>, where: string): void {
  const legacy = w.schemes.find((s) => s instanceof Legacy61) as Legacy61;
  const large = w.schemes.find((s) => s instanceof Large612) as Large612;
  for (const name of Object.keys(folios) as FolioName[]) {
    const folio = folios[name];
    const { pmds, ptes } = mappings(w, folio, BASE[name]);
    const total = ptes.reduce((a, b) => a + b, 0);
    const at = `${name} after: ${where}`;
    if (legacy && folio.order > 0) {
      const dm = legacy.fields(folio, 0).doubleMap!;
      expect(legacy.fields(folio, 0).compoundMapcount, at).toBe(pmds - 1);
      ptes.forEach((n, i) =>
        expect(legacy.fields(folio, i).mapcount, `${at} page ${i}`).toBe(
          folio.kind === 'anon' ? n - 1 + (dm ? 1 : 0) : n + pmds - 1,
        ),
      );
      if (folio.kind === 'anon') {
        if (dm) expect(pmds, at).toBeGreaterThan(0);
        const st = legacy.thpState(folio)?.state ?? 'unmapped';
        const expected =
          pmds > 0 && dm
            ? 'doubleMapped.pageDoubleMap'
            : pmds > 0 && total > 0
              ? 'doubleMapped.noPageDoubleMap'
              : pmds > 0
                ? 'pmdMapped'
                : total > 0
                  ? 'pteMapped'
                  : 'unmapped';
        expect(st, `machine state of ${at}`).toBe(expected);
      }
    }
    if (large && folio.order > 0) {
      const f = large.fields(folio, 0);
      expect(f.entireMapcount, at).toBe(pmds - 1);
      expect(f.largeMapcount, at).toBe(pmds + total - 1);
      expect(f.nrPagesMapped, at).toBe(ptes.filter((n) => n > 0).length + (pmds > 0 ? ENTIRELY_MAPPED : 0));
      ptes.forEach((n, i) => expect(large.fields(folio, i).mapcount, `${at} page ${i}`).toBe(n - 1));
    }
  }
}

function runRandomSequences(make: (sys: MmSystem) => MapcountScheme[], numRuns: number): void {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), fc.array(fc.nat(), { maxLength: 50 }), (procs, choices) => {
      const w = world(procs, make);
      const folios: Record<FolioName, Folio> = {
        thp: allocFolio(w.sys, 'anon', TINY.pmdOrder),
        small: allocFolio(w.sys, 'anon', 0),
        mthp: allocFolio(w.sys, 'anon', 1),
        file: fileFolio(w, TINY.pmdOrder),
      };
      const path: string[] = [];
      for (const choice of choices) {
        const ops = validOps(w, folios);
        const op = ops[choice % ops.length];
        path.push(op.text);
        op.run();
        const where = path.join('; ');
        checkAgainstTruth(w, folios, where);
        checkRawFields(w, folios, where);
      }
    }),
    { numRuns },
  );
}

describe('legacy-6.1 and large-6.12 against truth (fast-check, TINY geometry)', () => {
  it('random valid rmap call sequences: every query agrees with truth after every call', () => {
    runRandomSequences((sys) => [new Legacy61(sys), new Large612(sys)], 300);
  });
});
