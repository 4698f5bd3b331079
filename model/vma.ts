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
  mm.vmas.push(vma.id);
  mm.vmas.sort((a, b) => sys.vmas.get(a)!.start - sys.vmas.get(b)!.start);
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
