import { pmdAlignDown, pmdSize } from './geometry.ts';
import { split_huge_page } from './huge_memory.ts';
import type { Kernel } from './kernel.ts';
import { splitAround, unmap_page_range, vma_merge } from './mmap.ts';
import type { Outcome } from './outcome.ts';
import { getPmd, getPte } from './page-table.ts';
import { pageMapcountOf } from './schemes/truth.ts';
import type { Folio, Mm } from './types.ts';
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
 * madvise_cold_or_pageout_pte_range() / madvise_free_pte_range(): folios mapped elsewhere
 * (page_mapcount() != 1) are skipped; a large folio only partly covered by the range is split
 * first when it is mapped once. A PMD entry is decided once (`goto huge_unlock` skips it whole),
 * and 6.1 also ends the walk of a PMD's PTEs at a large folio it leaves whole (`break` in
 * madvise_cold_or_pageout_pte_range(), `goto out` in madvise_free_pte_range()): the rest of that
 * PMD's range is left alone. Returns the folios to act on.
 */
function exclusiveFoliosIn(k: Kernel, mm: Mm, start: number, end: number): Folio[] {
  const { sys } = k;
  const g = sys.config.geometry;
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
    const lastOfPmd = Math.min(haddr + pmdSize(g), end) - g.pageSize;
    const leavesPmd = pmd !== undefined || (folio.order > 0 && sys.config.kernel === '6.1');
    k.readers?.ask(k, { at: 'madvise_mapped_elsewhere', pid: mm.pid, folio, page });
    if (pageMapcountOf(sys, folio, page) !== 1) {
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
