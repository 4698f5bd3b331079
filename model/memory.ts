import { isPmdAligned, pmdAlignDown, pmdPages, pmdSize } from './geometry.ts';
import { folioFreed, rmapCall, type Kernel } from './kernel.ts';
import { allocFolio, baseRefs } from './mm.ts';
import { clearPte, getPmd, getPte, setPte } from './page-table.ts';
import { anon_vma_prepare } from './rmap.ts';
import type { Folio, Mm, MmSystem, Vma } from './types.ts';
import { ZERO_PFN } from './types.ts';

/**
 * mm/memory.c: PTE-level faults, COW, zapping and fork's copy of page tables. Every entry that
 * maps a folio is set or cleared together with its rmap call, in the kernel's order: add before
 * set_pte_at, remove after the entry was cleared.
 */

/** References held on a folio in the kernel (exact accounting: one per present PTE or PMD). */
export function folioRefcount(sys: MmSystem, folio: Folio): number {
  return baseRefs(folio) + (sys.mappedBy.get(folio.id)?.size ?? 0);
}

export const isSpecialFolio = (folio: Folio): boolean => folio.kind === 'zero' || folio.kind === 'huge-zero';

/** A private writable mapping whose pages must be copied on write (is_cow_mapping()). */
export const isCowMapping = (vma: Vma): boolean => !vma.shared;

/** Free the folio once nothing references it (folio_put() reaching zero). */
export function folioPutIfUnused(k: Kernel, folio: Folio): void {
  if (isSpecialFolio(folio) || !k.sys.folios.has(folio.id)) return;
  if (folioRefcount(k.sys, folio) > 0) return;
  k.sys.folios.delete(folio.id);
  folioFreed(k, folio);
}

/** Map `nr` consecutive pages of a folio with PTEs from `addr`: rmap first, then set_pte_at. */
export function mapPtes(
  k: Kernel,
  mm: Mm,
  vma: Vma,
  addr: number,
  folio: Folio,
  page: number,
  nr: number,
  how: { op: 'add'; newAnon: boolean; exclusive: boolean; writable: boolean } | { op: 'dup'; writable: boolean },
): void {
  if (!isSpecialFolio(folio)) {
    if (how.op === 'add') rmapCall(k, { op: 'add', level: 'pte', folio, page, nr, vma, newAnon: how.newAnon, exclusive: how.exclusive });
    else rmapCall(k, { op: 'dup', level: 'pte', folio, page, nr, vma });
  }
  const { pageSize } = k.sys.config.geometry;
  for (let i = 0; i < nr; i++) {
    setPte(k.sys, mm, addr + i * pageSize, { kind: 'present', folio: folio.id, page: page + i, writable: how.writable });
  }
}

/**
 * zap_pte_range() over [start, end) of one VMA: clear the entries, then remove their rmap, one
 * batch at a time. 6.12 batches consecutive pages of one folio (folio_pte_batch() looks ahead
 * without clearing) into one folio_remove_rmap_ptes(); 6.1 calls page_remove_rmap() per page.
 * Either way a remove hook sees every later entry still in place. Swap entries drop their count.
 */
export function zapPteRange(k: Kernel, mm: Mm, vma: Vma, start: number, end: number): void {
  const { sys } = k;
  const { pageSize } = sys.config.geometry;
  const batched = sys.config.kernel !== '6.1';
  const touched = new Set<Folio>();
  for (let addr = start; addr < end; ) {
    const pte = getPte(sys, mm, addr);
    if (pte === undefined) {
      addr += pageSize;
      continue;
    }
    if (pte.kind === 'swap' || isSpecialFolio(sys.folios.get(pte.folio)!)) {
      clearPte(sys, mm, addr);
      if (pte.kind === 'swap') swapFree(sys, pte.slot);
      addr += pageSize;
      continue;
    }
    const folio = sys.folios.get(pte.folio)!;
    let nr = 1;
    while (batched && addr + nr * pageSize < end) {
      const next = getPte(sys, mm, addr + nr * pageSize);
      if (next?.kind !== 'present' || next.folio !== folio.id || next.page !== pte.page + nr) break;
      nr++;
    }
    for (let i = 0; i < nr; i++) clearPte(sys, mm, addr + i * pageSize);
    rmapCall(k, { op: 'remove', level: 'pte', folio, page: pte.page, nr, vma });
    touched.add(folio);
    addr += nr * pageSize;
  }
  for (const folio of touched) folioPutIfUnused(k, folio);
}

/** swap_free(): one swap entry less; the slot and its swap-cache folio go with the last one. */
export function swapFree(sys: MmSystem, slot: number): void {
  const s = sys.swap.get(slot);
  if (!s) return;
  s.count--;
  if (s.count > 0) return;
  sys.swap.delete(slot);
  for (const folio of sys.folios.values()) if (folio.swapSlot === slot) folio.swapSlot = null;
}

/** Is the VMA allowed to get a PMD-sized folio at addr? (hugepage_vma_check + transhuge_vma_suitable) */
export function thpSuitable(sys: MmSystem, vma: Vma, addr: number): boolean {
  const { config } = sys;
  const g = config.geometry;
  if (vma.hugepage === 'nohugepage') return false;
  if (vma.inode !== null) {
    const inode = sys.inodes.get(vma.inode)!;
    if (!inode.shmem || !config.shmemThp) return false;
    // file VMAs must map PMD-aligned file offsets at PMD-aligned addresses
    if ((vma.start / g.pageSize - vma.pgoff) % pmdPages(g) !== 0) return false;
  } else if (config.thp === 'never' || (config.thp === 'madvise' && vma.hugepage !== 'hugepage')) {
    return false;
  }
  const haddr = pmdAlignDown(g, addr);
  return haddr >= vma.start && haddr + pmdSize(g) <= vma.end;
}

/** No PTE table entries in the PMD range (pmd_none() for our purposes). */
export function pmdRangeEmpty(sys: MmSystem, mm: Mm, addr: number): boolean {
  const g = sys.config.geometry;
  const haddr = pmdAlignDown(g, addr);
  if (getPmd(sys, mm, haddr)) return false;
  for (let i = 0; i < pmdPages(g); i++) if (mm.ptes.has(haddr / g.pageSize + i)) return false;
  return true;
}

/** do_anonymous_page(): a read maps the shared zero page, a write a new exclusive anon folio. */
export function do_anonymous_page(k: Kernel, mm: Mm, vma: Vma, addr: number, write: boolean): void {
  const { sys } = k;
  if (!write) {
    setPte(sys, mm, addr, { kind: 'present', folio: ZERO_PFN, page: 0, writable: false });
    return;
  }
  const folio = newAnonFolio(k, vma, addr, 0);
  folio.written[0] = true;
  mapPtes(k, mm, vma, addr, folio, 0, 1, { op: 'add', newAnon: true, exclusive: true, writable: true });
}

/** Allocate an anon folio filed under the VMA's own anon_vma at the linear index of addr. */
export function newAnonFolio(k: Kernel, vma: Vma, addr: number, order: number): Folio {
  const av = anon_vma_prepare(k.sys, vma);
  const folio = allocFolio(k.sys, 'anon', order);
  folio.anonVma = av.id;
  folio.index = linearPageIndex(k.sys, vma, addr);
  // folio_add_new_anon_rmap(): a PMD-mapped THP keeps PageAnonExclusive on its head page only
  folio.anonExclusive[0] = true;
  return folio;
}

/** linear_page_index(): the page offset of addr in the VMA's pgoff space. */
export function linearPageIndex(sys: MmSystem, vma: Vma, addr: number): number {
  return vma.pgoff + Math.floor((addr - vma.start) / sys.config.geometry.pageSize);
}

/** do_wp_page(): an anon page can be reused when it is exclusive, or referenced by this PTE alone. */
export function anonPageReusable(sys: MmSystem, folio: Folio, page: number): boolean {
  return folio.kind === 'anon' && (folio.anonExclusive[page] || folioRefcount(sys, folio) === 1);
}

/** wp_page_reuse(): make the PTE writable; page_move_anon_rmap() files a small folio under this VMA's anon_vma. */
export function wp_page_reuse(k: Kernel, mm: Mm, vma: Vma, addr: number): void {
  const pte = getPte(k.sys, mm, addr);
  if (pte?.kind !== 'present') return;
  const folio = k.sys.folios.get(pte.folio)!;
  folio.anonExclusive[pte.page] = true;
  if (folio.order === 0) folio.anonVma = anon_vma_prepare(k.sys, vma).id;
  pte.writable = true;
}

/** wp_page_copy(): a new exclusive anon page replaces the shared (or zero, or page-cache) page. */
export function wp_page_copy(k: Kernel, mm: Mm, vma: Vma, addr: number): void {
  const { sys } = k;
  const old = getPte(sys, mm, addr);
  if (old?.kind !== 'present') return;
  const oldFolio = sys.folios.get(old.folio)!;
  const folio = newAnonFolio(k, vma, addr, 0);
  folio.written[0] = true;
  // the new page is mapped first, the old one removed after the PTE is replaced
  rmapCall(k, { op: 'add', level: 'pte', folio, page: 0, nr: 1, vma, newAnon: true, exclusive: true });
  setPte(sys, mm, addr, { kind: 'present', folio: folio.id, page: 0, writable: true });
  if (!isSpecialFolio(oldFolio)) {
    rmapCall(k, { op: 'remove', level: 'pte', folio: oldFolio, page: old.page, nr: 1, vma });
    folioPutIfUnused(k, oldFolio);
  }
}

/**
 * do_swap_page(): the swap-cache folio of the slot, or a new order-0 folio read from swap, mapped
 * with page_add_anon_rmap() (exclusive when the swap PTE said so). Non-exclusive pages are filed
 * under the root anon_vma so every sharer's rmap walk finds them (__page_set_anon_rmap()).
 */
export function do_swap_page(k: Kernel, mm: Mm, vma: Vma, addr: number, write: boolean): void {
  const { sys } = k;
  const pte = getPte(sys, mm, addr);
  if (pte?.kind !== 'swap') return;
  const slot = sys.swap.get(pte.slot)!;
  let folio = [...sys.folios.values()].find((f) => f.swapSlot === pte.slot);
  const av = anon_vma_prepare(sys, vma);
  if (!folio) {
    folio = allocFolio(sys, 'anon', 0);
    folio.swapSlot = pte.slot;
    folio.written[0] = slot.written;
    folio.index = linearPageIndex(sys, vma, addr);
  }
  const exclusive = pte.exclusive;
  if (!sys.mappedBy.has(folio.id)) folio.anonVma = exclusive ? av.id : sys.anonVmas.get(av.id)!.root;
  folio.anonExclusive[0] = exclusive;
  clearPte(sys, mm, addr);
  rmapCall(k, { op: 'add', level: 'pte', folio, page: 0, nr: 1, vma, newAnon: false, exclusive });
  setPte(sys, mm, addr, { kind: 'present', folio: folio.id, page: 0, writable: exclusive && vma.write });
  swapFree(sys, pte.slot);
  if (write && !exclusive) {
    k.readers?.ask(k, { at: 'wp_fault', pid: mm.pid, addr, level: 'pte' });
    if (anonPageReusable(sys, folio, 0)) wp_page_reuse(k, mm, vma, addr);
    else wp_page_copy(k, mm, vma, addr);
  }
}

/** The page-cache folio holding `index` of the inode, read in (or allocated for shmem) when missing. */
export function filemapGetFolio(k: Kernel, vma: Vma, addr: number): { folio: Folio; page: number } {
  const { sys } = k;
  const g = sys.config.geometry;
  const inode = sys.inodes.get(vma.inode!)!;
  const index = linearPageIndex(sys, vma, addr);
  const head = inode.cache.get(index);
  if (head !== undefined) {
    const folio = sys.folios.get(head)!;
    return { folio, page: index - folio.index };
  }
  // shmem_alloc_and_add_folio(): a PMD-sized folio when the aligned range fits the file and the VMA
  const nr = pmdPages(g);
  const hindex = index - (index % nr);
  let order = 0;
  if (inode.shmem && thpSuitable(sys, vma, addr) && hindex + nr <= inode.size) {
    order = g.pmdOrder;
    for (let i = hindex; i < hindex + nr; i++) if (inode.cache.has(i)) order = 0;
  }
  const folio = allocFolio(sys, inode.shmem ? 'shmem' : 'file', order);
  folio.inode = inode.id;
  folio.index = order ? hindex : index;
  folio.inPageCache = true;
  for (let i = 0; i < 1 << order; i++) inode.cache.set(folio.index + i, folio.id);
  return { folio, page: index - folio.index };
}

/** do_cow_fault(): a write to a private file mapping copies the page-cache page into a new anon page. */
export function do_cow_fault(k: Kernel, mm: Mm, vma: Vma, addr: number): void {
  const { folio: cached } = filemapGetFolio(k, vma, addr);
  const folio = newAnonFolio(k, vma, addr, 0);
  folio.written[0] = true;
  mapPtes(k, mm, vma, addr, folio, 0, 1, { op: 'add', newAnon: true, exclusive: true, writable: true });
  folioPutIfUnused(k, cached);
}

/** do_read_fault() / do_shared_fault(): map the page-cache page (finish_fault()). */
export function do_file_pte_fault(k: Kernel, mm: Mm, vma: Vma, addr: number, folio: Folio, page: number): void {
  mapPtes(k, mm, vma, addr, folio, page, 1, { op: 'add', newAnon: false, exclusive: false, writable: vma.shared && vma.write });
}

/** Is the folio's PMD-sized range mappable by one PMD at this address of the VMA? */
export function pmdMappable(sys: MmSystem, vma: Vma, addr: number, folio: Folio): boolean {
  const g = sys.config.geometry;
  const haddr = pmdAlignDown(g, addr);
  return folio.order === g.pmdOrder && isPmdAligned(g, haddr) && linearPageIndex(sys, vma, haddr) === folio.index && thpSuitable(sys, vma, addr);
}
