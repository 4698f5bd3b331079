import type { Kernel } from './kernel.ts';
import { splitAround, vma_merge } from './mmap.ts';
import type { Outcome } from './outcome.ts';
import type { Mm, MmSystem, Vma } from './types.ts';
import { vmasIn } from './vma.ts';

/**
 * mm/mprotect.c: do_mprotect_pkey() calls mprotect_fixup() for each VMA of the range, which returns
 * at once when the VMA already has the protection (newflags == oldflags: no split, no merge);
 * otherwise it splits the VMA at the range edges (a PMD straddling an edge is split), changes its
 * protection, write-protects the entries when write is removed (change_protection()), and merges
 * it with neighbours of equal flags. No rmap call: mapcounts of the exact schemes do not change, but
 * the number of VMAs mapping a folio does.
 */
export function do_mprotect(k: Kernel, mm: Mm, start: number, len: number, prot: { read: boolean; write: boolean }): Outcome {
  const early = mprotectEarlyEnd(k.sys, mm, start, len);
  if (early !== null) return early;
  const { sys } = k;
  const end = start + len;
  const changed = new Set<Vma>();
  for (const vma of vmasIn(sys, mm, start, end)) {
    if (vma.read === prot.read && vma.write === prot.write) continue;
    for (const part of splitAround(k, mm, Math.max(start, vma.start), Math.min(end, vma.end), 'inside')) {
      part.read = prot.read;
      part.write = prot.write;
      if (!prot.write) writeProtect(k, mm, part.start, part.end);
      changed.add(part);
    }
  }
  for (const vma of vmasIn(sys, mm, start, end)) if (changed.has(vma)) vma_merge(k, mm, vma);
  return 'ok';
}

/** How mprotect() ends before it touches anything (bad arguments, a hole in the range), or null: it goes on. */
export function mprotectEarlyEnd(sys: MmSystem, mm: Mm, start: number, len: number): Outcome | null {
  const g = sys.config.geometry;
  if (len <= 0 || start % g.pageSize !== 0 || len % g.pageSize !== 0) return 'EINVAL';
  const end = start + len;
  // the whole range must be mapped (mprotect fails with ENOMEM on holes)
  let covered = 0;
  for (const vma of vmasIn(sys, mm, start, end)) covered += Math.min(vma.end, end) - Math.max(vma.start, start);
  return covered === len ? null : 'ENOMEM';
}

/** change_protection() removing write: every present PTE and PMD in range becomes read-only. */
function writeProtect(k: Kernel, mm: Mm, start: number, end: number): void {
  const g = k.sys.config.geometry;
  const first = start / g.pageSize;
  const last = end / g.pageSize;
  for (const [vpn, pte] of mm.ptes) if (vpn >= first && vpn < last && pte.kind === 'present') pte.writable = false;
  const nr = 1 << g.pmdOrder;
  for (const [i, pmd] of mm.pmds) if (i * nr >= first && i * nr < last) pmd.writable = false;
}
