/**
 * The page-table entries one VMA holds as a replay rebuilds them from rmap calls: per pfn, the
 * entries mapping it (PTEs mapping that page, or PMDs mapping a folio at that head pfn). Kept per
 * PMD-sized block of pfns as an array of counters with the block's sum at the end: the rmap hooks
 * ask "how many entries does this VMA have over the pages of this folio", and a 2 MiB THP has 512
 * pages; the sum answers for a block the folio covers whole, and empty blocks are skipped. (A Map
 * per pfn re-hashed itself every time a VMA mapped and unmapped a THP's worth of pages.) A block's
 * array (2 KiB) is freed when its last entry goes: a VMA holds memory only where it maps pages.
 */

/** What readers of a replay's VMAs may use. */
export type ReadonlyPageEntries = Pick<PageEntries, 'size' | 'has' | 'get' | 'entries' | 'count' | 'firstMapped'>;

export class PageEntries {
  private readonly blocks = new Map<number, Int32Array>();
  private readonly blockPages: number;
  /** Pfns with at least one entry. */
  private pages = 0;

  /** `pmdOrder`: a block is the pfns one PMD maps. */
  constructor(pmdOrder: number) {
    this.blockPages = 2 ** pmdOrder;
  }

  get size(): number {
    return this.pages;
  }

  has(pfn: number): boolean {
    return this.get(pfn) > 0;
  }

  /** Entries mapping `pfn` (0 when none). */
  get(pfn: number): number {
    const b = Math.floor(pfn / this.blockPages);
    const a = this.blocks.get(b);
    return a === undefined ? 0 : a[pfn - b * this.blockPages];
  }

  add(pfn: number, n = 1): void {
    const b = Math.floor(pfn / this.blockPages);
    let a = this.blocks.get(b);
    if (a === undefined) this.blocks.set(b, (a = new Int32Array(this.blockPages + 1)));
    const i = pfn - b * this.blockPages;
    if (a[i] === 0) this.pages++;
    a[i] += n;
    a[this.blockPages] += n;
  }

  /** Remove one entry mapping `pfn` (none left: the pfn is forgotten). */
  removeOne(pfn: number): void {
    const b = Math.floor(pfn / this.blockPages);
    const a = this.blocks.get(b);
    const i = pfn - b * this.blockPages;
    if (a === undefined || a[i] === 0) return;
    a[i]--;
    if (a[i] === 0) this.pages--;
    if (--a[this.blockPages] === 0) this.blocks.delete(b);
  }

  /** Every pfn with its entries: blocks in the order first mapped, pages in pfn order within one. */
  *entries(): IterableIterator<[number, number]> {
    for (const [b, a] of this.blocks) {
      for (let i = 0; i < this.blockPages; i++) if (a[i] !== 0) yield [b * this.blockPages + i, a[i]];
    }
  }

  /** Entries over the pages [first, first + nr). */
  count(first: number, nr: number): number {
    if (nr === 1) return this.get(first);
    const size = this.blockPages;
    const end = first + nr;
    let n = 0;
    for (let base = Math.floor(first / size) * size; base < end; base += size) {
      const a = this.blocks.get(base / size);
      if (a === undefined) continue;
      const from = Math.max(first, base) - base;
      const to = Math.min(end, base + size) - base;
      if (to - from === size) n += a[size];
      else for (let i = from; i < to; i++) n += a[i];
    }
    return n;
  }

  /**
   * The first page of [first, first + nr) with an entry, as an offset from `first`, or -1: what a
   * page-table scan in page order reads before it finds one (offset + 1 entries, or nr when none).
   */
  firstMapped(first: number, nr: number): number {
    const size = this.blockPages;
    const end = first + nr;
    for (let base = Math.floor(first / size) * size; base < end; base += size) {
      const a = this.blocks.get(base / size);
      if (a === undefined) continue;
      const to = Math.min(end, base + size) - base;
      for (let i = Math.max(first, base) - base; i < to; i++) if (a[i] !== 0) return base + i - first;
    }
    return -1;
  }
}
