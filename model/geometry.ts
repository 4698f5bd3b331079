/**
 * Geometry of the emulated machine. The kernel's THP size is PMD_ORDER pages; exploration uses
 * tiny "THPs" (order 2 = 4 pages) so that every state stays small, real traces use x86-64.
 */
export interface Geometry {
  /** PAGE_SIZE in bytes. */
  readonly pageSize: number;
  /** HPAGE_PMD_ORDER: a PMD maps 2^pmdOrder pages. */
  readonly pmdOrder: number;
}

export const X86_64: Geometry = { pageSize: 4096, pmdOrder: 9 };
export const TINY: Geometry = { pageSize: 4096, pmdOrder: 2 };

/** HPAGE_PMD_NR */
export const pmdPages = (g: Geometry): number => 1 << g.pmdOrder;
/** HPAGE_PMD_SIZE */
export const pmdSize = (g: Geometry): number => g.pageSize * pmdPages(g);

export const pmdAlignDown = (g: Geometry, addr: number): number => addr - (addr % pmdSize(g));
export const isPmdAligned = (g: Geometry, addr: number): boolean => addr % pmdSize(g) === 0;
