import { folioFreed, rmapCall, type Kernel } from './kernel.ts';
import { split_huge_page } from './huge_memory.ts';
import { isSpecialFolio } from './memory.ts';
import type { Outcome } from './outcome.ts';
import { clearPte, decodeKey, setPte } from './page-table.ts';
import type { Folio } from './types.ts';
import { findVma } from './vma.ts';

/**
 * mm/vmscan.c shrink_folio_list() for one folio: a large folio is split first (the model does not
 * swap THPs whole), then try_to_unmap() walks the rmap: anon PTEs become swap entries, file PTEs
 * are cleared; the folio leaves the swap or page cache and is freed. Pinned folios are kept.
 */
export function shrink_folio(k: Kernel, folio: Folio): Outcome {
  const { sys } = k;
  if (isSpecialFolio(folio)) return 'EINVAL';
  k.readers?.ask(k, { at: 'folio_referenced', folio });
  if (folio.pins > 0) return 'EBUSY';
  if (folio.order > 0) {
    const first = folio.id;
    const nr = 1 << folio.order;
    const outcome = split_huge_page(k, folio);
    if (outcome !== 'ok') return outcome;
    for (let pfn = first; pfn < first + nr; pfn++) {
      const small = sys.folios.get(pfn);
      if (small) shrink_folio(k, small);
    }
    return 'ok';
  }
  let slot: number | null = null;
  if (folio.kind === 'anon') {
    slot = sys.next.slot++;
    sys.swap.set(slot, { count: 0, written: folio.written[0] });
  }
  for (const key of [...(sys.mappedBy.get(folio.id) ?? [])]) {
    const e = decodeKey(sys, key);
    const mm = sys.mms.get(e.pid)!;
    const vma = findVma(sys, mm, e.addr)!;
    clearPte(sys, mm, e.addr);
    if (slot !== null) {
      sys.swap.get(slot)!.count++;
      setPte(sys, mm, e.addr, { kind: 'swap', slot, exclusive: folio.anonExclusive[0] });
    }
    rmapCall(k, { op: 'remove', level: 'pte', folio, page: 0, nr: 1, vma });
    k.readers?.ask(k, { at: 'try_to_unmap', folio, vma });
  }
  if (slot !== null && sys.swap.get(slot)!.count === 0) sys.swap.delete(slot);
  if (folio.inode !== null && folio.inPageCache) {
    sys.inodes.get(folio.inode)!.cache.delete(folio.index);
    folio.inPageCache = false;
  }
  folio.swapSlot = null;
  sys.folios.delete(folio.id);
  folioFreed(k, folio);
  return 'ok';
}
