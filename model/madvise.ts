import { pmdAlignDown, pmdSize } from './geometry.ts';
import { split_huge_page } from './huge_memory.ts';
import type { Kernel } from './kernel.ts';
import { splitAround, unmap_page_range, vma_merge } from './mmap.ts';
import type { Outcome } from './outcome.ts';
import { getPmd, getPte } from './page-table.ts';
import { likelyMappedShared } from './schemes/large-6.12.ts';
import { pageMapcountOf, sharingNumbers } from './schemes/truth.ts';
import type { Folio, Mm, MmSystem } from './types.ts';
import { shrink_folio } from './vmscan.ts';
import { vmasIn } from './vma.ts';

/** mm/madvise.c, as far as the advice touches mappings. */
export const ADVICE = ['DONTNEED', 'HUGEPAGE', 'NOHUGEPAGE', 'COLD', 'PAGEOUT', 'FREE'] as const;
export type Advice = (typeof ADVICE)[number];

/**
 * do_madvise() / madvise_walk_vmas(): the advice is applied VMA by VMA over the range; holes in it
 * are skipped and make the call fail with ENOMEM once every VMA is done ("If the interval
 * [start,end) covers some unmapped address ranges, just ignore them, but return -ENOMEM at the
 * end"); an error of one VMA (MADV_FREE on a VMA that is not anonymous) ends the walk there.
 */
export function do_madvise(k: Kernel, mm: Mm, start: number, len: number, advice: Advice): Outcome {
  const { sys } = k;
  const g = sys.config.geometry;
  if (len <= 0 || start % g.pageSize !== 0 || len % g.pageSize !== 0) return 'EINVAL';
  const end = start + len;
  const vmas = vmasIn(sys, mm, start, end);
  if (vmas.length === 0) return 'ENOMEM';
  let covered = 0;
  for (const vma of vmas) covered += Math.min(vma.end, end) - Math.max(vma.start, start);
  const done: Outcome = covered === len ? 'ok' : 'ENOMEM';
  switch (advice) {
    case 'HUGEPAGE':
    case 'NOHUGEPAGE':
      // madvise_update_vma(): split at the edges, set VM_(NO)HUGEPAGE, merge again
      for (const vma of splitAround(k, mm, start, end, 'inside')) vma.hugepage = advice === 'HUGEPAGE' ? 'hugepage' : 'nohugepage';
      for (const vma of vmasIn(sys, mm, start, end)) vma_merge(k, mm, vma);
      return done;
    case 'DONTNEED':
      // zap_page_range_single() per VMA: a partly covered PMD is split, then PTEs zapped
      for (const vma of vmas) unmap_page_range(k, mm, vma, Math.max(start, vma.start), Math.min(end, vma.end));
      return done;
    case 'COLD':
    case 'PAGEOUT':
    case 'FREE':
      for (const vma of vmas) {
        // madvise_free_single_vma(): "MADV_FREE works for only anon vma at the moment"
        if (advice === 'FREE' && (vma.inode !== null || vma.shared)) return 'EINVAL';
        for (const folio of exclusiveFoliosIn(k, mm, Math.max(start, vma.start), Math.min(end, vma.end))) {
          if (advice === 'PAGEOUT') shrink_folio(k, folio);
          // COLD only deactivates and FREE only marks lazyfree: no mapping changes
        }
      }
      return done;
  }
}

/**
 * madvise_cold_or_pageout_pte_range() / madvise_free_pte_range(): the folios of the range to act
 * on, splitting the large ones the range maps only in part when they are not mapped elsewhere.
 *
 * A PMD entry is decided once (`goto huge_unlock` skips it whole): 6.1 asks page_mapcount() != 1,
 * 6.12 folio_likely_mapped_shared(); a PMD only partly in the range is split first.
 * A PTE-mapped large folio: 6.1 asks page_mapcount() != 1 of the page and splits the folio, and
 * ends the walk of the PMD's PTEs at a folio it leaves whole (`break`, `goto out`); 6.12 takes the
 * batch of PTEs mapping its following pages (madvise_folio_pte_batch()): a batch short of the whole
 * folio splits it unless folio_likely_mapped_shared(), a whole one acts on it unless
 * folio_mapcount() != folio_nr_pages(). A small folio: its mapcount != 1 skips it.
 */
function exclusiveFoliosIn(k: Kernel, mm: Mm, start: number, end: number): Folio[] {
  const { sys } = k;
  const g = sys.config.geometry;
  const v612 = sys.config.kernel === '6.12';
  const out = new Set<Folio>();
  for (let addr = start; addr < end; addr += g.pageSize) {
    const pmd = getPmd(sys, mm, addr);
    const pte = getPte(sys, mm, addr);
    const id = pmd ? pmd.folio : pte?.kind === 'present' ? pte.folio : undefined;
    if (id === undefined) continue;
    const folio = sys.folios.get(id);
    if (!folio || folio.kind === 'zero' || folio.kind === 'huge-zero') continue;
    const page = pmd ? 0 : (pte as { page: number }).page;
    const haddr = pmdAlignDown(g, addr);
    const pmdEnd = Math.min(haddr + pmdSize(g), end);
    const lastOfPmd = pmdEnd - g.pageSize;
    if (v612 && !pmd && folio.order > 0) {
      const nr = pteBatch(sys, mm, addr, pmdEnd, folio, page);
      const lastOfBatch = addr + (nr - 1) * g.pageSize;
      if (nr < 1 << folio.order) {
        k.readers?.ask(k, { at: 'madvise_mapped_elsewhere', pid: mm.pid, folio, page, test: 'likely-shared' });
        if (likelyMappedShared(sharingNumbers(sys, folio)) || split_huge_page(k, folio) !== 'ok') addr = lastOfBatch;
        else addr -= g.pageSize; // look at the now small folio again
        continue;
      }
      k.readers?.ask(k, { at: 'madvise_mapped_elsewhere', pid: mm.pid, folio, page, test: 'whole-folio' });
      if (sharingNumbers(sys, folio).mapcount === 1 << folio.order) out.add(folio);
      addr = lastOfBatch;
      continue;
    }
    const leavesPmd = pmd !== undefined || (folio.order > 0 && !v612);
    const pmdTest = v612 && pmd !== undefined;
    k.readers?.ask(k, { at: 'madvise_mapped_elsewhere', pid: mm.pid, folio, page, ...(pmdTest ? { test: 'likely-shared' as const } : {}) });
    if (pmdTest ? likelyMappedShared(sharingNumbers(sys, folio)) : pageMapcountOf(sys, folio, page) !== 1) {
      if (leavesPmd) addr = lastOfPmd;
      continue;
    }
    const covered = folio.order === 0 || (pmd !== undefined && haddr >= start && haddr + pmdSize(g) <= end);
    if (!covered) {
      if (split_huge_page(k, folio) !== 'ok') {
        if (leavesPmd) addr = lastOfPmd;
        continue;
      }
      addr -= g.pageSize; // look at the now small folio again
      continue;
    }
    out.add(folio);
    if (pmd) addr = lastOfPmd;
  }
  return [...out];
}

/** folio_pte_batch(): present PTEs from `addr` (below `end`) mapping page `page` of the folio and the pages after it, in order. */
function pteBatch(sys: MmSystem, mm: Mm, addr: number, end: number, folio: Folio, page: number): number {
  const g = sys.config.geometry;
  let nr = 1;
  for (let a = addr + g.pageSize; a < end && page + nr < 1 << folio.order; a += g.pageSize, nr++) {
    const next = getPte(sys, mm, a);
    if (next?.kind !== 'present' || next.folio !== folio.id || next.page !== page + nr) break;
  }
  return nr;
}
