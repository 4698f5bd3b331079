import { pmdAlignDown, pmdPages } from './geometry.ts';
import { rmapCall, type Kernel } from './kernel.ts';
import { folioPutIfUnused, isSpecialFolio, newAnonFolio, thpSuitable } from './memory.ts';
import type { Outcome } from './outcome.ts';
import { clearPte, getPmd, setPmd } from './page-table.ts';
import { pageMapcountOf } from './schemes/truth.ts';
import type { Folio, Mm } from './types.ts';
import { findVma } from './vma.ts';

/**
 * mm/khugepaged.c hpage_collapse_scan_pmd() + collapse_huge_page() for the PMD range holding addr
 * of an anon VMA: refuse when more than max_ptes_none PTEs are empty, more than max_ptes_shared
 * pages are mapped elsewhere (page_mapcount() > 1), any page is swapped out beyond max_ptes_swap,
 * or a page has references its mappings do not explain (is_refcount_suitable(): pins). Otherwise
 * copy into a new THP, remove the old PTEs' rmaps and map the THP with one PMD.
 * Defaults scaled to the geometry: max_ptes_none = nr-1, max_ptes_shared = nr/2, max_ptes_swap = nr/8.
 */
export function collapse_huge_page(k: Kernel, mm: Mm, addr: number): Outcome {
  const { sys } = k;
  const g = sys.config.geometry;
  const nr = pmdPages(g);
  const haddr = pmdAlignDown(g, addr);
  const vma = findVma(sys, mm, addr);
  if (!vma || vma.inode !== null || vma.shared || !thpSuitable(sys, vma, addr)) return 'EINVAL';
  if (getPmd(sys, mm, haddr)) return 'EINVAL';
  let none = 0;
  let shared = 0;
  let swap = 0;
  const pages: ({ folio: Folio; page: number } | null)[] = [];
  for (let i = 0; i < nr; i++) {
    const pte = mm.ptes.get(haddr / g.pageSize + i);
    if (pte === undefined) {
      none++;
      pages.push(null);
      continue;
    }
    if (pte.kind === 'swap') {
      swap++;
      pages.push(null);
      continue;
    }
    const folio = sys.folios.get(pte.folio)!;
    if (isSpecialFolio(folio)) {
      none++;
      pages.push(null);
      continue;
    }
    if (folio.kind !== 'anon') return 'EINVAL';
    k.readers?.ask(k, { at: 'khugepaged_shared', pid: mm.pid, folio, page: pte.page });
    if (pageMapcountOf(sys, folio, pte.page) > 1) shared++;
    // is_refcount_suitable(): references beyond mappings and swap cache are pins
    k.readers?.ask(k, { at: 'pin_check', site: 'khugepaged', folio });
    if (folio.pins > 0) return 'EBUSY';
    pages.push({ folio, page: pte.page });
  }
  if (none > nr - 1 || shared > nr / 2 || swap > nr / 8) return 'EBUSY';
  if (swap > 0) return 'EBUSY'; // the model does not swap pages in for a collapse
  const thp = newAnonFolio(k, vma, haddr, g.pmdOrder);
  const old = new Set<Folio>();
  for (let i = 0; i < nr; i++) {
    const src = pages[i];
    const a = haddr + i * g.pageSize;
    clearPte(sys, mm, a);
    if (!src) continue;
    thp.written[i] = src.folio.written[src.page];
    rmapCall(k, { op: 'remove', level: 'pte', folio: src.folio, page: src.page, nr: 1, vma });
    old.add(src.folio);
  }
  rmapCall(k, { op: 'add', level: 'pmd', folio: thp, page: 0, nr, vma, newAnon: true, exclusive: true });
  setPmd(sys, mm, haddr, { folio: thp.id, writable: vma.write });
  for (const folio of old) folioPutIfUnused(k, folio);
  return 'ok';
}
