import type { Kernel } from './kernel.ts';
import { splitAround, vma_merge } from './mmap.ts';
import type { Outcome } from './outcome.ts';
import type { Mm, MmSystem, Vma } from './types.ts';
import { vmasIn } from './vma.ts';

/**
 * mm/mprotect.c: do_mprotect_pkey() calls mprotect_fixup() for each VMA of the range in address
 * order, which returns at once when the VMA already has the protection (newflags == oldflags: no
 * split, no merge); otherwise it splits the VMA at the range edges (a PMD straddling an edge is
 * split), changes its protection, write-protects the entries when write is removed
 * (change_protection()), and merges it with neighbours of equal flags. No rmap call: mapcounts of
 * the exact schemes do not change, but the number of VMAs mapping a folio does.
 *
 * A hole: with none at the start of the range, the loop stops at the first VMA that does not start
 * where the previous one ended (`if (vma->vm_start != tmp) { error = -ENOMEM; break; }`), or ends
 * short of the range's end (`if (!error && tmp < end) error = -ENOMEM;`): the VMAs before the hole
 * keep their new protection and the call fails with ENOMEM (6.1 and 6.12 alike).
 */
export function do_mprotect(k: Kernel, mm: Mm, start: number, len: number, prot: { read: boolean; write: boolean }): Outcome {
  const early = mprotectEarlyEnd(k.sys, mm, start, len);
  if (early !== null) return early;
  const { sys } = k;
  const { vmas, reach } = mprotectRun(sys, mm, start, start + len);
  const changed = new Set<Vma>();
  for (const vma of vmas) {
    if (hasProtection(vma, prot)) continue;
    for (const part of splitAround(k, mm, Math.max(start, vma.start), Math.min(reach, vma.end), 'inside')) {
      part.read = prot.read;
      part.write = prot.write;
      if (!prot.write) writeProtect(k, mm, part.start, part.end);
      changed.add(part);
    }
  }
  for (const vma of vmasIn(sys, mm, start, reach)) if (changed.has(vma)) vma_merge(k, mm, vma);
  return reach === start + len ? 'ok' : 'ENOMEM';
}

const hasProtection = (vma: Vma, prot: { read: boolean; write: boolean }): boolean => vma.read === prot.read && vma.write === prot.write;

/** How mprotect() ends before it touches anything (bad arguments, no VMA at the start of the range), or null: it goes on. */
export function mprotectEarlyEnd(sys: MmSystem, mm: Mm, start: number, len: number): Outcome | null {
  const g = sys.config.geometry;
  if (len <= 0 || start % g.pageSize !== 0 || len % g.pageSize !== 0) return 'EINVAL';
  const first = vmasIn(sys, mm, start, start + len)[0];
  return first !== undefined && first.start <= start ? null : 'ENOMEM';
}

/** The VMAs mprotect() reaches in [start, end): those before the first hole, and where it stops (`end` without a hole). */
function mprotectRun(sys: MmSystem, mm: Mm, start: number, end: number): { vmas: Vma[]; reach: number } {
  const vmas: Vma[] = [];
  let reach = start;
  for (const vma of vmasIn(sys, mm, start, end)) {
    if (vma.start > reach) break;
    vmas.push(vma);
    reach = Math.min(vma.end, end);
  }
  return { vmas, reach };
}

/** Does mprotect() leave everything as it is (it ends early, or every VMA it reaches already has the protection)? */
export function mprotectLeavesUntouched(sys: MmSystem, mm: Mm, start: number, len: number, prot: { read: boolean; write: boolean }): boolean {
  if (mprotectEarlyEnd(sys, mm, start, len) !== null) return true;
  return mprotectRun(sys, mm, start, start + len).vmas.every((vma) => hasProtection(vma, prot));
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
