import { pmdAlignDown, pmdSize } from './geometry.ts';
import { __split_huge_pmd, copy_huge_pmd } from './huge_memory.ts';
import type { Kernel } from './kernel.ts';
import { isCowMapping, isSpecialFolio, mapPtes, newAnonFolio } from './memory.ts';
import { createProcess } from './mm.ts';
import { getPmd, setPte } from './page-table.ts';
import { anon_vma_fork, i_mmap_insert } from './rmap.ts';
import type { Mm, Vma } from './types.ts';
import { dupVma, insertVma } from './vma.ts';

/**
 * kernel/fork.c dup_mmap() with mm/memory.c copy_page_range(): every VMA is duplicated, but its
 * page tables only when vma_needs_copy() (it has an anon_vma): a shared file VMA is refaulted by
 * the child. Anon pages lose exclusivity (folio_try_dup_anon_rmap()), COW mappings are
 * write-protected in parent and child.
 */
export function dup_mmap(k: Kernel, parent: Mm, childPid?: number): Mm {
  const { sys } = k;
  const child = createProcess(sys, parent.pid, childPid);
  for (const id of parent.vmas) {
    const src = sys.vmas.get(id)!;
    const dst = dupVma(src, sys.next.vma++, child.pid, src.start, src.end, src.pgoff, null);
    insertVma(sys, child, dst);
    anon_vma_fork(sys, dst, src);
    i_mmap_insert(sys, dst);
    k.probes?.hit({ fn: 'copy_page_range', dst: child, dstVma: dst, src: parent, srcVma: src });
    if (src.anonVma !== null) copy_page_range(k, child, dst, parent, src);
  }
  return child;
}

/** copy_page_range(): PMDs through copy_huge_pmd(), PTEs through copy_present_pte()/copy_nonpresent_pte(). */
function copy_page_range(k: Kernel, dst: Mm, dstVma: Vma, src: Mm, srcVma: Vma): void {
  const { sys } = k;
  const g = sys.config.geometry;
  for (let haddr = pmdAlignDown(g, srcVma.start); haddr < srcVma.end; haddr += pmdSize(g)) {
    const pmd = getPmd(sys, src, haddr);
    if (!pmd) continue;
    k.probes?.hit({ fn: 'copy_huge_pmd', dst, dstVma, src, srcVma, addr: haddr, pmd });
    // a maybe-pinned anon THP cannot be shared: split it, the PTE copy below handles the pages
    k.readers?.ask(k, { at: 'pin_check', site: 'fork', folio: sys.folios.get(pmd.folio)! });
    if (sys.folios.get(pmd.folio)!.pins > 0) __split_huge_pmd(k, src, srcVma, haddr);
    else copy_huge_pmd(k, dst, dstVma, src, haddr);
  }
  const first = srcVma.start / g.pageSize;
  const last = srcVma.end / g.pageSize;
  const vpns = [...src.ptes.keys()].filter((v) => v >= first && v < last).sort((a, b) => a - b);
  const cow = isCowMapping(srcVma);
  for (const vpn of vpns) {
    const pte = src.ptes.get(vpn)!;
    const addr = vpn * g.pageSize;
    if (pte.kind === 'swap') {
      // copy_nonpresent_pte(): swap_duplicate(); the entry is no longer exclusive to either side
      sys.swap.get(pte.slot)!.count++;
      pte.exclusive = false;
      setPte(sys, dst, addr, { kind: 'swap', slot: pte.slot, exclusive: false });
      continue;
    }
    const folio = sys.folios.get(pte.folio)!;
    if (cow) pte.writable = false;
    if (isSpecialFolio(folio)) {
      setPte(sys, dst, addr, { kind: 'present', folio: folio.id, page: 0, writable: false });
      continue;
    }
    k.readers?.ask(k, { at: 'pin_check', site: 'fork', folio });
    if (folio.kind === 'anon' && folio.pins > 0) {
      // folio_try_dup_anon_rmap() fails on a maybe-pinned page: the child gets its own copy
      // (copy_present_page()) and the parent keeps the page writable and exclusive
      if (cow) pte.writable = srcVma.write;
      const copy = newAnonFolio(k, dstVma, addr, 0);
      copy.written[0] = folio.written[pte.page];
      mapPtes(k, dst, dstVma, addr, copy, 0, 1, { op: 'add', newAnon: true, exclusive: true, writable: dstVma.write });
      continue;
    }
    mapPtes(k, dst, dstVma, addr, folio, pte.page, 1, { op: 'dup', writable: pte.writable });
    if (folio.kind === 'anon') folio.anonExclusive[pte.page] = false;
  }
}
