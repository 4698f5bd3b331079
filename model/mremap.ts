import { isPmdAligned, pmdAlignDown, pmdSize } from './geometry.ts';
import { __split_huge_pmd, move_huge_pmd } from './huge_memory.ts';
import { vmaChanged, type Kernel } from './kernel.ts';
import { do_munmap, vmaExpandable } from './mmap.ts';
import type { MmOperation } from './operations.ts';
import type { Outcome } from './outcome.ts';
import { clearPte, getPmd, setPte } from './page-table.ts';
import { anon_vma_clone, i_mmap_insert } from './rmap.ts';
import type { Mm, MmSystem, Vma } from './types.ts';
import { dupVma, findVma, insertVma, unmappedArea } from './vma.ts';

/**
 * mm/mremap.c: shrink unmaps the tail; grow extends in place when the space after is free; else
 * (MREMAP_MAYMOVE) move_vma(): copy_vma() makes the new VMA (same anon_vma chain, pgoff kept so
 * the linear index of every page is unchanged), move_page_tables() moves PMDs whole when both
 * addresses are PMD-aligned and splits them otherwise, move_ptes() moves PTEs; no rmap call, the
 * same pfns appear at the new address. The old range is then unmapped (already empty).
 */
/** The arguments of an mremap operation (model/operations.ts MREMAP). */
export type MremapRequest = Omit<Extract<MmOperation, { type: 'MREMAP' }>, 'type' | 'pid'>;

export function do_mremap(k: Kernel, mm: Mm, req: MremapRequest): { outcome: Outcome; addr?: number } {
  const early = mremapEarlyEnd(k.sys, mm, req);
  if (early !== null) return { outcome: early };
  const { sys } = k;
  const g = sys.config.geometry;
  const { addr, oldLen, newLen } = req;
  const vma = findVma(sys, mm, addr)!;
  if (req.newAddr === undefined) {
    if (newLen <= oldLen) {
      if (newLen < oldLen) do_munmap(k, mm, addr + newLen, oldLen - newLen);
      return { outcome: 'ok', addr };
    }
    if (addr + oldLen === vma.end && vmaExpandable(k, mm, vma, addr + newLen)) {
      vma.end = addr + newLen;
      return { outcome: 'ok', addr };
    }
    if (!req.mayMove) return { outcome: 'ENOMEM' };
  }
  let dest = req.newAddr;
  if (dest !== undefined) {
    do_munmap(k, mm, dest, newLen);
  } else {
    dest = unmappedArea(sys, mm, newLen, 4 * pmdSize(g), isPmdAligned(g, addr) ? pmdSize(g) : g.pageSize);
  }
  move_vma(k, mm, vma, addr, Math.min(oldLen, newLen), dest, newLen);
  do_munmap(k, mm, addr, oldLen);
  return { outcome: 'ok', addr: dest };
}

/** How mremap() ends before it touches anything (bad arguments, a range outside one VMA, an overlapping destination), or null: it goes on. */
export function mremapEarlyEnd(sys: MmSystem, mm: Mm, req: MremapRequest): Outcome | null {
  const g = sys.config.geometry;
  const { addr, oldLen, newLen, newAddr } = req;
  if (addr % g.pageSize || oldLen % g.pageSize || newLen % g.pageSize || oldLen <= 0 || newLen <= 0) return 'EINVAL';
  if (newAddr !== undefined && (!req.mayMove || newAddr % g.pageSize)) return 'EINVAL';
  const vma = findVma(sys, mm, addr);
  // the old range must lie within one VMA (vma_to_resize())
  if (!vma || addr + oldLen > vma.end) return 'EINVAL';
  // a fixed destination must not overlap the source
  if (newAddr !== undefined && newAddr < addr + oldLen && addr < newAddr + newLen) return 'EINVAL';
  return null;
}

function move_vma(k: Kernel, mm: Mm, vma: Vma, oldAddr: number, moveLen: number, newAddr: number, newLen: number): void {
  const { sys } = k;
  const g = sys.config.geometry;
  const created = dupVma(vma, sys.next.vma++, vma.mm, newAddr, newAddr + newLen, vma.pgoff + (oldAddr - vma.start) / g.pageSize, vma.anonVma);
  anon_vma_clone(sys, created, vma);
  insertVma(sys, mm, created);
  i_mmap_insert(sys, created);
  // move_page_tables()
  const size = pmdSize(g);
  for (let off = 0; off < moveLen; ) {
    const from = oldAddr + off;
    const to = newAddr + off;
    if (isPmdAligned(g, from) && isPmdAligned(g, to) && off + size <= moveLen && getPmd(sys, mm, from)) {
      move_huge_pmd(sys, mm, from, to);
      off += size;
      continue;
    }
    if (getPmd(sys, mm, from)) __split_huge_pmd(k, mm, vma, pmdAlignDown(g, from));
    const pte = clearPte(sys, mm, from);
    if (pte) setPte(sys, mm, to, pte);
    off += g.pageSize;
  }
  vmaChanged(k, { kind: 'move', from: vma, to: created });
}
