import type { Mm, MmSystem, Vma } from './types.ts';

/** VMA lookup and ordering in an mm (the maple tree of mm/mmap.c and mm/vma.c). */

/** find_vma(): the VMA containing addr, or undefined. Binary search over the sorted VMA list. */
export function findVma(sys: MmSystem, mm: Mm, addr: number): Vma | undefined {
  let lo = 0;
  let hi = mm.vmas.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const vma = sys.vmas.get(mm.vmas[mid])!;
    if (addr < vma.start) hi = mid - 1;
    else if (addr >= vma.end) lo = mid + 1;
    else return vma;
  }
  return undefined;
}

/**
 * A VMA made from another (vm_area_dup() in __split_vma, dup_mmap and copy_vma): its flags,
 * file and hugepage advice, with the given identity, range, pgoff and anon_vma, and an empty
 * anon_vma chain. Written field by field in the order of every other VMA record (mmap's, the
 * explorer's copies): an object spread made VMAs of a second hidden class, and code reading a VMA
 * then saw two shapes (V8 threw its optimised code away when the second came).
 */
export function dupVma(v: Vma, id: number, mm: number, start: number, end: number, pgoff: number, anonVma: number | null): Vma {
  return { id, mm, start, end, read: v.read, write: v.write, shared: v.shared, inode: v.inode, pgoff, anonVma, avc: [], hugepage: v.hugepage };
}

/** VMAs overlapping [start, end), in address order. */
export function vmasIn(sys: MmSystem, mm: Mm, start: number, end: number): Vma[] {
  const out: Vma[] = [];
  for (const id of mm.vmas) {
    const vma = sys.vmas.get(id)!;
    if (vma.end > start && vma.start < end) out.push(vma);
  }
  return out;
}

export function insertVma(sys: MmSystem, mm: Mm, vma: Vma): void {
  sys.vmas.set(vma.id, vma);
  const list = mm.vmas;
  // after the last VMA starting at or below it: where a stable sort by start puts it in a sorted list
  let i = list.length;
  while (i > 0 && sys.vmas.get(list[i - 1])!.start > vma.start) i--;
  list.splice(i, 0, vma.id);
  if (!sortedByStart(sys, list)) list.sort((a, b) => sys.vmas.get(a)!.start - sys.vmas.get(b)!.start);
}

/** Is the list in increasing start order? (A caller that moved a VMA before inserting another gets the full sort.) */
function sortedByStart(sys: MmSystem, list: readonly number[]): boolean {
  for (let i = 1; i < list.length; i++) if (sys.vmas.get(list[i - 1])!.start > sys.vmas.get(list[i])!.start) return false;
  return true;
}

export function removeVmaFromMm(sys: MmSystem, mm: Mm, vma: Vma): void {
  mm.vmas = mm.vmas.filter((id) => id !== vma.id);
  sys.vmas.delete(vma.id);
}

/** Is [start, end) free of VMAs in this mm? */
export function rangeFree(sys: MmSystem, mm: Mm, start: number, end: number): boolean {
  return vmasIn(sys, mm, start, end).length === 0;
}

/**
 * get_unmapped_area() for a non-fixed mmap: the lowest gap at or above `base` that fits `len`,
 * aligned to `align` (THP-sized anonymous mappings are PMD-aligned since 5.x's thp_get_unmapped_area).
 */
export function unmappedArea(sys: MmSystem, mm: Mm, len: number, base: number, align: number): number {
  let addr = Math.ceil(base / align) * align;
  for (const id of mm.vmas) {
    const vma = sys.vmas.get(id)!;
    if (vma.end <= addr) continue;
    if (vma.start >= addr + len) break;
    addr = Math.ceil(vma.end / align) * align;
  }
  return addr;
}
