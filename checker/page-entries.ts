/**
 * The page-table entries one VMA holds as a replay rebuilds them from rmap calls: pfn -> entries
 * (PTEs mapping that page, or PMDs mapping a folio at that head pfn), with the sum per PMD-sized
 * block of pfns beside it. The rmap hooks ask "how many entries does this VMA have over the pages of
 * this folio", and a 2 MiB THP has 512 pages: the block sums answer for every block the folio
 * covers whole without looking at its pages, and skip empty blocks a partial range touches.
 */
/** What readers of a replay's VMAs may use. */
export type ReadonlyPageEntries = Pick<PageEntries, 'size' | 'has' | 'get' | 'entries' | 'count' | 'firstMapped'>;

export class PageEntries {
  private readonly byPfn = new Map<number, number>();
  private readonly byBlock = new Map<number, number>();
  private readonly blockPages: number;

  /** `pmdOrder`: a block is the pfns one PMD maps. */
  constructor(pmdOrder: number) {
    this.blockPages = 2 ** pmdOrder;
  }

  get size(): number {
    return this.byPfn.size;
  }

  has(pfn: number): boolean {
    return this.byPfn.has(pfn);
  }

  /** Entries mapping `pfn` (0 when none). */
  get(pfn: number): number {
    return this.byPfn.get(pfn) ?? 0;
  }

  add(pfn: number, n = 1): void {
    this.byPfn.set(pfn, (this.byPfn.get(pfn) ?? 0) + n);
    const b = Math.floor(pfn / this.blockPages);
    this.byBlock.set(b, (this.byBlock.get(b) ?? 0) + n);
  }

  /** Remove one entry mapping `pfn` (none left: the pfn is forgotten). */
  removeOne(pfn: number): void {
    const c = this.byPfn.get(pfn);
    if (c === undefined) return;
    if (c <= 1) this.byPfn.delete(pfn);
    else this.byPfn.set(pfn, c - 1);
    const b = Math.floor(pfn / this.blockPages);
    const s = this.byBlock.get(b)! - 1;
    if (s <= 0) this.byBlock.delete(b);
    else this.byBlock.set(b, s);
  }

  /** Every pfn with its entries, in insertion order. */
  entries(): IterableIterator<[number, number]> {
    return this.byPfn.entries();
  }

  /** Entries over the pages [first, first + nr). */
  count(first: number, nr: number): number {
    if (nr === 1) return this.get(first);
    let n = 0;
    this.eachBlock(first, nr, (from, to, whole, sum) => {
      if (whole) n += sum;
      else for (let p = from; p < to; p++) n += this.byPfn.get(p) ?? 0;
      return false;
    });
    return n;
  }

  /**
   * The first page of [first, first + nr) with an entry, as an offset from `first`, or -1: what a
   * page-table scan in page order reads before it finds one (offset + 1 entries, or nr when none).
   */
  firstMapped(first: number, nr: number): number {
    let found = -1;
    this.eachBlock(first, nr, (from, to) => {
      for (let p = from; p < to; p++) {
        if (this.byPfn.has(p)) {
          found = p - first;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  /**
   * Visit the non-empty blocks overlapping [first, first + nr) in pfn order as the part [from, to)
   * inside the range, whether the block lies whole inside it, and the block's sum; stop when `visit`
   * returns true.
   */
  private eachBlock(first: number, nr: number, visit: (from: number, to: number, whole: boolean, sum: number) => boolean): void {
    const end = first + nr;
    for (let b = Math.floor(first / this.blockPages); b * this.blockPages < end; b++) {
      const sum = this.byBlock.get(b);
      if (sum === undefined) continue;
      const from = Math.max(first, b * this.blockPages);
      const to = Math.min(end, (b + 1) * this.blockPages);
      if (visit(from, to, to - from === this.blockPages, sum)) return;
    }
  }
}
