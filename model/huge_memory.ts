import { pmdAlignDown, pmdPages } from './geometry.ts';
import { folioSplit, rmapCall, type Kernel } from './kernel.ts';
import { hugeZeroPfn } from './mm.ts';
import { folioPutIfUnused, isSpecialFolio, mapPtes, newAnonFolio } from './memory.ts';
import { clearPmd, clearPte, decodeKey, getPmd, setPmd, setPte } from './page-table.ts';
import { findVma } from './vma.ts';
import type { Folio, Mm, MmSystem, Vma } from './types.ts';
import { ZERO_PFN } from './types.ts';
import type { Outcome } from './outcome.ts';

/** mm/huge_memory.c: PMD-mapped THPs, their faults, splits, copies and moves. */

/**
 * do_huge_pmd_anonymous_page(): a read maps the huge zero page, a write a new PMD-sized anon
 * folio mapped exclusively by one PMD (folio_add_new_anon_rmap() with RMAP_LEVEL_PMD).
 */
export function do_huge_pmd_anonymous_page(k: Kernel, mm: Mm, vma: Vma, addr: number, write: boolean): void {
  const { sys } = k;
  const haddr = pmdAlignDown(sys.config.geometry, addr);
  k.probes?.hit({ fn: 'do_huge_pmd_anonymous_page', mm, vma, addr });
  if (!write) {
    setPmd(sys, mm, haddr, { folio: hugeZeroPfn(sys), writable: false });
    k.probes?.hit({ fn: 'do_huge_pmd_anonymous_page', mm, vma, addr, ret: 0 });
    return;
  }
  const folio = newAnonFolio(k, vma, haddr, sys.config.geometry.pmdOrder);
  folio.written[(addr - haddr) / sys.config.geometry.pageSize] = true;
  rmapCall(k, { op: 'add', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma, newAnon: true, exclusive: true });
  setPmd(sys, mm, haddr, { folio: folio.id, writable: true });
  k.probes?.hit({ fn: 'do_huge_pmd_anonymous_page', mm, vma, addr, ret: 0 });
}

/** do_set_pmd(): map a PMD-sized page-cache folio with one PMD (folio_add_file_rmap_pmd()). */
export function do_set_pmd(k: Kernel, mm: Mm, vma: Vma, addr: number, folio: Folio): void {
  const haddr = pmdAlignDown(k.sys.config.geometry, addr);
  rmapCall(k, { op: 'add', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma, newAnon: false, exclusive: false });
  setPmd(k.sys, mm, haddr, { folio: folio.id, writable: vma.shared && vma.write });
}

/**
 * __split_huge_pmd(): anon: the same folio becomes mapped by PTEs of the same VMA (6.1 does the
 * counters inline in __split_huge_pmd_locked(), PageAnonExclusive copied to every subpage); file
 * and shmem: the PMD is simply zapped, later faults map PTEs; huge zero page: zero-page PTEs.
 */
export function __split_huge_pmd(k: Kernel, mm: Mm, vma: Vma, addr: number): void {
  const { sys } = k;
  const g = sys.config.geometry;
  const haddr = pmdAlignDown(g, addr);
  const pmd = getPmd(sys, mm, haddr);
  if (!pmd) return;
  k.probes?.hit({ fn: '__split_huge_pmd', mm, vma, addr, pmd });
  const folio = sys.folios.get(pmd.folio)!;
  const nr = pmdPages(g);
  if (folio.kind === 'huge-zero') {
    clearPmd(sys, mm, haddr);
    for (let i = 0; i < nr; i++) setPte(sys, mm, haddr + i * g.pageSize, { kind: 'present', folio: ZERO_PFN, page: 0, writable: false });
    return;
  }
  clearPmd(sys, mm, haddr);
  if (folio.kind !== 'anon') {
    rmapCall(k, { op: 'remove', level: 'pmd', folio, page: 0, nr, vma });
    folioPutIfUnused(k, folio);
    return;
  }
  rmapCall(k, { op: 'split-pmd', level: 'pmd', folio, page: 0, nr, vma });
  const exclusive = folio.anonExclusive[0];
  for (let i = 0; i < nr; i++) {
    if (exclusive) folio.anonExclusive[i] = true;
    setPte(sys, mm, haddr + i * g.pageSize, { kind: 'present', folio: folio.id, page: i, writable: pmd.writable });
  }
}

/** split_huge_pmd_address(): split a PMD that straddles addr (vma_adjust_trans_huge() on VMA edges). */
export function splitPmdStraddling(k: Kernel, mm: Mm, addr: number): void {
  const { sys } = k;
  const g = sys.config.geometry;
  if (addr % (g.pageSize * pmdPages(g)) === 0) return;
  if (!getPmd(sys, mm, addr)) return;
  const vma = findVma(sys, mm, addr)!;
  __split_huge_pmd(k, mm, vma, addr);
}

/** zap_huge_pmd(): clear the PMD, then remove the rmap (folio_remove_rmap_pmd()). */
export function zap_huge_pmd(k: Kernel, mm: Mm, vma: Vma, haddr: number): void {
  const entry = getPmd(k.sys, mm, haddr);
  if (entry) k.probes?.hit({ fn: 'zap_huge_pmd', mm, vma, addr: haddr, pmd: entry });
  const pmd = clearPmd(k.sys, mm, haddr);
  if (!pmd) return;
  const folio = k.sys.folios.get(pmd.folio)!;
  if (isSpecialFolio(folio)) return;
  rmapCall(k, { op: 'remove', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma });
  folioPutIfUnused(k, folio);
}

/**
 * copy_huge_pmd(): fork duplicates an anon PMD (both write-protected, PageAnonExclusive cleared);
 * a file PMD is not copied: the child faults it in again.
 */
export function copy_huge_pmd(k: Kernel, dst: Mm, dstVma: Vma, src: Mm, haddr: number): void {
  const { sys } = k;
  const pmd = getPmd(sys, src, haddr);
  if (!pmd) return;
  const folio = sys.folios.get(pmd.folio)!;
  if (folio.kind === 'huge-zero') {
    setPmd(sys, dst, haddr, { folio: folio.id, writable: false });
    return;
  }
  if (folio.kind !== 'anon') return;
  rmapCall(k, { op: 'dup', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma: dstVma });
  folio.anonExclusive[0] = false;
  pmd.writable = false;
  setPmd(sys, dst, haddr, { folio: folio.id, writable: false });
}

/** move_huge_pmd(): mremap moves an aligned PMD to its new address without any rmap call. */
export function move_huge_pmd(sys: MmSystem, mm: Mm, oldAddr: number, newAddr: number): void {
  const pmd = clearPmd(sys, mm, oldAddr);
  if (pmd) setPmd(sys, mm, newAddr, pmd);
}

interface SavedMapping {
  readonly pid: number;
  readonly addr: number;
  readonly level: 'pte' | 'pmd';
  readonly page: number;
  readonly writable: boolean;
}

/**
 * try_to_migrate()/try_to_unmap() by rmap walk: every mapping of the folio replaced by a
 * migration entry (recorded here) with its rmap removed. PMD mappings are kept as PMD-level
 * migration entries unless `splitPmds` (TTU_SPLIT_HUGE_PMD) asks to split them first.
 */
export function unmapAll(k: Kernel, folio: Folio, splitPmds: boolean): SavedMapping[] {
  const { sys } = k;
  if (splitPmds) {
    for (const key of [...(sys.mappedBy.get(folio.id) ?? [])]) {
      const e = decodeKey(sys, key);
      if (e.level !== 'pmd') continue;
      const mm = sys.mms.get(e.pid)!;
      __split_huge_pmd(k, mm, findVma(sys, mm, e.addr)!, e.addr);
    }
  }
  const saved: SavedMapping[] = [];
  for (const key of [...(sys.mappedBy.get(folio.id) ?? [])]) {
    const e = decodeKey(sys, key);
    const mm = sys.mms.get(e.pid)!;
    const vma = findVma(sys, mm, e.addr)!;
    if (e.level === 'pmd') {
      const pmd = clearPmd(sys, mm, e.addr)!;
      saved.push({ pid: e.pid, addr: e.addr, level: 'pmd', page: 0, writable: pmd.writable });
      rmapCall(k, { op: 'remove', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma });
    } else {
      const pte = clearPte(sys, mm, e.addr)!;
      if (pte.kind !== 'present') continue;
      saved.push({ pid: e.pid, addr: e.addr, level: 'pte', page: pte.page, writable: pte.writable });
      rmapCall(k, { op: 'remove', level: 'pte', folio, page: pte.page, nr: 1, vma });
    }
    k.readers?.ask(k, { at: 'try_to_unmap', folio, vma });
  }
  return saved;
}

/** remove_migration_ptes(): map the saved entries again, now to `folio` (the new or split folio). */
export function remapSaved(
  k: Kernel,
  saved: readonly SavedMapping[],
  folioOfPage: (page: number) => { folio: Folio; page: number },
  useSharedZeropage: boolean,
): void {
  const { sys } = k;
  for (const s of saved) {
    const mm = sys.mms.get(s.pid)!;
    const vma = findVma(sys, mm, s.addr)!;
    const { folio, page } = folioOfPage(s.page);
    if (s.level === 'pmd') {
      rmapCall(k, { op: 'add', level: 'pmd', folio, page: 0, nr: 1 << folio.order, vma, newAnon: false, exclusive: folio.anonExclusive[0] });
      setPmd(sys, mm, s.addr, { folio: folio.id, writable: s.writable });
      continue;
    }
    // RMP_USE_SHARED_ZEROPAGE: a zero-filled anon page comes back as the shared zero page
    // (try_to_map_unused_to_zeropage()), with no rmap call
    if (useSharedZeropage && folio.kind === 'anon' && !folio.written[page]) {
      setPte(sys, mm, s.addr, { kind: 'present', folio: ZERO_PFN, page: 0, writable: false });
      continue;
    }
    mapPtes(k, mm, vma, s.addr, folio, page, 1, {
      op: 'add',
      newAnon: false,
      exclusive: folio.kind === 'anon' && folio.anonExclusive[page],
      writable: s.writable,
    });
  }
}

/**
 * split_huge_page(): refuse when references beyond the mappings pin the folio (can_split_folio()),
 * else unmap every mapping (anon: migration entries, PMDs split first; file: zapped), split into
 * order-0 folios, and remap the anon ones.
 */
export function split_huge_page(k: Kernel, folio: Folio): Outcome {
  const { sys } = k;
  if (folio.order === 0 || isSpecialFolio(folio)) return 'EINVAL';
  k.readers?.ask(k, { at: 'pin_check', site: 'can_split_folio', folio });
  if (folio.pins > 0) return 'EBUSY';
  const saved = unmapAll(k, folio, true);
  const nr = 1 << folio.order;
  const into: Folio[] = [];
  sys.folios.delete(folio.id);
  for (let i = 0; i < nr; i++) {
    into.push(allocSplitPage(sys, folio, i));
  }
  folioSplit(k, folio, into);
  // 6.12's split maps unused zero-filled subpages to the zero page; 6.1 remaps every page
  if (folio.kind === 'anon') remapSaved(k, saved, (page) => ({ folio: into[page], page: 0 }), sys.config.kernel !== '6.1');
  for (const small of into) folioPutIfUnused(k, small);
  return 'ok';
}

/** __split_huge_page_tail(): page i of the old folio becomes an order-0 folio at the same pfn. */
function allocSplitPage(sys: MmSystem, folio: Folio, i: number): Folio {
  const small: Folio = {
    id: folio.id + i,
    order: 0,
    kind: folio.kind,
    inode: folio.inode,
    index: folio.index + i,
    anonVma: folio.anonVma,
    anonExclusive: [folio.anonExclusive[i]],
    written: [folio.written[i]],
    inPageCache: folio.inPageCache,
    swapSlot: folio.swapSlot,
    pins: 0,
  };
  sys.folios.set(small.id, small);
  if (small.inPageCache && small.inode !== null) sys.inodes.get(small.inode)!.cache.set(small.index, small.id);
  return small;
}
