import { pmdAlignDown, pmdSize } from './geometry.ts';
import { __split_huge_pmd, splitPmdStraddling, zap_huge_pmd } from './huge_memory.ts';
import { vmaChanged, type Kernel } from './kernel.ts';
import { zapPteRange } from './memory.ts';
import { createInode } from './mm.ts';
import type { MmOperation } from './operations.ts';
import type { Outcome } from './outcome.ts';
import { getPmd } from './page-table.ts';
import { anon_vma_clone, i_mmap_insert, i_mmap_remove, unlink_anon_vmas } from './rmap.ts';
import type { Mm, MmSystem, Vma } from './types.ts';
import { dupVma, insertVma, rangeFree, removeVmaFromMm, unmappedArea, vmasIn } from './vma.ts';

/** mm/mmap.c and mm/vma.c: creating, splitting, merging and unmapping VMAs. */

/** The arguments of an mmap operation (model/operations.ts MMAP). */
export type MmapRequest = Omit<Extract<MmOperation, { type: 'MMAP' }>, 'type' | 'pid'>;

export function do_mmap(k: Kernel, mm: Mm, req: MmapRequest): { outcome: Outcome; addr?: number } {
  const { sys } = k;
  const g = sys.config.geometry;
  if (req.len <= 0 || req.len % g.pageSize !== 0) return { outcome: 'EINVAL' };
  if (req.inode !== undefined && !sys.inodes.has(req.inode)) return { outcome: 'EINVAL' };
  let inode = req.inode ?? null;
  let pgoff = req.pgoff ?? 0;
  if (inode === null && req.shared) {
    inode = createInode(sys, req.len / g.pageSize, true).id;
    pgoff = 0;
  }
  let addr: number;
  if (req.fixed) {
    if (req.addr === undefined || req.addr % g.pageSize !== 0) return { outcome: 'EINVAL' };
    addr = req.addr;
    do_munmap(k, mm, addr, req.len);
  } else {
    // thp_get_unmapped_area(): PMD-align shmem mappings and (6.12) PMD-multiple anon mappings
    const shmem = inode !== null && sys.inodes.get(inode)!.shmem && sys.config.shmemThp;
    const anonAligned = inode === null && sys.config.kernel !== '6.1' && req.len % pmdSize(g) === 0;
    const align = (shmem && req.len >= pmdSize(g)) || anonAligned ? pmdSize(g) : g.pageSize;
    addr = unmappedArea(sys, mm, req.len, req.addr ?? 4 * pmdSize(g), align);
  }
  const vma: Vma = {
    id: sys.next.vma++,
    mm: mm.pid,
    start: addr,
    end: addr + req.len,
    read: req.read,
    write: req.write,
    shared: req.shared,
    inode,
    pgoff: inode === null ? addr / g.pageSize : pgoff,
    anonVma: null,
    avc: [],
    hugepage: 'default',
  };
  insertVma(sys, mm, vma);
  i_mmap_insert(sys, vma);
  vma_merge(k, mm, vma);
  return { outcome: 'ok', addr };
}

/**
 * __split_vma(): `vma` keeps one side of addr, a new VMA takes the other (the lower part when
 * `newBelow`). A PMD straddling addr is split first (vma_adjust_trans_huge()).
 */
export function __split_vma(k: Kernel, mm: Mm, vma: Vma, addr: number, newBelow: boolean): Vma {
  const { sys } = k;
  splitPmdStraddling(k, mm, addr);
  const pages = (addr - vma.start) / sys.config.geometry.pageSize;
  const created = dupVma(vma, sys.next.vma++, vma.mm, vma.start, vma.end, vma.pgoff, vma.anonVma);
  if (newBelow) {
    created.end = addr;
    vma.start = addr;
    vma.pgoff += pages;
  } else {
    created.start = addr;
    created.pgoff += pages;
    vma.end = addr;
  }
  anon_vma_clone(sys, created, vma);
  insertVma(sys, mm, created);
  i_mmap_insert(sys, created);
  vmaChanged(k, { kind: 'split', original: vma, created });
  return created;
}

/**
 * Split VMAs so that start and end fall on VMA boundaries; returns the VMAs inside [start, end).
 * mprotect_fixup() keeps the original VMA for the range it changes; munmap
 * (do_mas_align_munmap() in 6.1) keeps it for what survives and detaches the new parts.
 */
export function splitAround(k: Kernel, mm: Mm, start: number, end: number, keep: 'inside' | 'outside'): Vma[] {
  const { sys } = k;
  for (const vma of vmasIn(sys, mm, start, end)) {
    if (vma.start < start) __split_vma(k, mm, vma, start, keep === 'inside');
  }
  for (const vma of vmasIn(sys, mm, start, end)) {
    if (vma.end > end) __split_vma(k, mm, vma, end, keep === 'outside');
  }
  return vmasIn(sys, mm, start, end);
}

/** Same flags, same file at contiguous offsets, compatible anon_vmas (is_mergeable_vma() and is_mergeable_anon_vma()). */
function canMerge(k: Kernel, prev: Vma, next: Vma): boolean {
  const { pageSize } = k.sys.config.geometry;
  if (prev.end !== next.start) return false;
  if (prev.read !== next.read || prev.write !== next.write || prev.shared !== next.shared) return false;
  if (prev.hugepage !== next.hugepage || prev.inode !== next.inode) return false;
  if (prev.pgoff + (prev.end - prev.start) / pageSize !== next.pgoff) return false;
  if (prev.anonVma === null || next.anonVma === null) {
    const withChain = prev.anonVma === null ? next : prev;
    return withChain.avc.length <= 1;
  }
  return prev.anonVma === next.anonVma;
}

/** vma_merge(): absorb `next` into `prev`; `next` goes away, its page tables stay in place. */
function mergeInto(k: Kernel, mm: Mm, prev: Vma, next: Vma): void {
  const { sys } = k;
  prev.end = next.end;
  if (prev.anonVma === null && next.anonVma !== null) anon_vma_clone(sys, prev, next);
  unlink_anon_vmas(sys, next);
  i_mmap_remove(sys, next);
  removeVmaFromMm(sys, mm, next);
  vmaChanged(k, { kind: 'merge', survivor: prev, removed: next });
}

/** Merge the VMA with its neighbours where the kernel would; returns the VMA now covering it. */
export function vma_merge(k: Kernel, mm: Mm, vma: Vma): Vma {
  const { sys } = k;
  const i = mm.vmas.indexOf(vma.id);
  const prev = i > 0 ? sys.vmas.get(mm.vmas[i - 1])! : undefined;
  let cur = vma;
  if (prev && canMerge(k, prev, cur)) {
    mergeInto(k, mm, prev, cur);
    cur = prev;
  }
  const j = mm.vmas.indexOf(cur.id);
  const next = j + 1 < mm.vmas.length ? sys.vmas.get(mm.vmas[j + 1])! : undefined;
  if (next && canMerge(k, cur, next)) mergeInto(k, mm, cur, next);
  return cur;
}

/** unmap_page_range() of [start, end) inside one VMA: PMDs fully covered are zapped whole. */
export function unmap_page_range(k: Kernel, mm: Mm, vma: Vma, start: number, end: number): void {
  const { sys } = k;
  const g = sys.config.geometry;
  const size = pmdSize(g);
  for (let haddr = pmdAlignDown(g, start); haddr < end; haddr += size) {
    if (!getPmd(sys, mm, haddr)) continue;
    if (haddr >= start && haddr + size <= end) zap_huge_pmd(k, mm, vma, haddr);
    else __split_huge_pmd(k, mm, vma, haddr);
  }
  if (mm.ptes.size > 0) zapPteRange(k, mm, vma, start, end);
}

/** remove_vma(): the VMA leaves the anon_vma trees, i_mmap and the mm. */
function remove_vma(k: Kernel, mm: Mm, vma: Vma): void {
  unlink_anon_vmas(k.sys, vma);
  i_mmap_remove(k.sys, vma);
  removeVmaFromMm(k.sys, mm, vma);
}

/** do_vmi_munmap(): split the edge VMAs, zap everything in range, remove the VMAs. */
export function do_munmap(k: Kernel, mm: Mm, start: number, len: number): Outcome {
  const early = munmapEarlyEnd(k.sys, mm, start, len);
  if (early !== null) return early;
  const end = start + len;
  for (const vma of splitAround(k, mm, start, end, 'outside')) {
    unmap_page_range(k, mm, vma, vma.start, vma.end);
    remove_vma(k, mm, vma);
  }
  return 'ok';
}

/** How munmap() ends before it touches anything (bad arguments; 'ok' when nothing is mapped in the range), or null: it unmaps. */
export function munmapEarlyEnd(sys: MmSystem, mm: Mm, start: number, len: number): Outcome | null {
  const g = sys.config.geometry;
  if (len <= 0 || start % g.pageSize !== 0 || len % g.pageSize !== 0) return 'EINVAL';
  return vmasIn(sys, mm, start, start + len).length ? null : 'ok';
}

/** exit_mmap(): tear down every VMA of an exiting process. */
export function exit_mmap(k: Kernel, mm: Mm): void {
  for (const id of [...mm.vmas]) {
    const vma = k.sys.vmas.get(id)!;
    unmap_page_range(k, mm, vma, vma.start, vma.end);
    remove_vma(k, mm, vma);
  }
  k.sys.mms.delete(mm.pid);
}

/** Can the VMA grow in place to newEnd (vma_expandable())? */
export function vmaExpandable(k: Kernel, mm: Mm, vma: Vma, newEnd: number): boolean {
  return rangeFree(k.sys, mm, vma.end, newEnd);
}

