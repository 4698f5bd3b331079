/**
 * The folios a replay models, by pfn. A folio is filed under its head pfn; a large folio is also
 * filed under each PMD-sized block of pfns it has pages in (one block for a naturally aligned THP),
 * so that the folio owning any page is found without a per-page table (a 2 MiB THP would need 512
 * entries, made and dropped every time its pfns are reused). Order-0 folios are filed in a slot per
 * page of their block, not in a Map by pfn: a THP split files 512 of them at once, and hashing each
 * (twice, when a Map by head and a set per block held them) was most of the split's cost.
 */
interface Filed {
  readonly folio: { readonly id: number };
  /** Pages in the folio. */
  readonly nr: number;
}

export class FolioIndex<R extends Filed> {
  /** Large folios by head pfn. */
  private readonly largeByHead = new Map<number, R>();
  private readonly largeIn = new Map<number, R[]>();
  /** Per block with order-0 folios: one slot per page, and how many are filled. */
  private readonly smallIn = new Map<number, { filled: number; readonly at: (R | undefined)[] }>();
  private smallCount = 0;
  private readonly blockPages: number;

  /** `pmdOrder`: a block is the pfns one PMD maps. */
  constructor(pmdOrder: number) {
    this.blockPages = 2 ** pmdOrder;
  }

  get size(): number {
    return this.largeByHead.size + this.smallCount;
  }

  /** The folio whose head is `pfn`. */
  get(head: number): R | undefined {
    return this.largeByHead.get(head) ?? this.small(head);
  }

  /** The large folio with a page at `pfn`. */
  largeAt(pfn: number): R | undefined {
    const list = this.largeIn.get(this.block(pfn));
    if (list !== undefined) for (const r of list) if (pfn >= r.folio.id && pfn < r.folio.id + r.nr) return r;
    return undefined;
  }

  /** The folio with a page at `pfn`: the large one owning it, else the order-0 folio there. */
  at(pfn: number): R | undefined {
    return this.largeAt(pfn) ?? this.small(pfn);
  }

  /** File a folio; the caller has cleared its pfns of any other folio first. */
  add(rec: R): void {
    const head = rec.folio.id;
    if (rec.nr === 1) {
      const b = this.block(head);
      let small = this.smallIn.get(b);
      if (small === undefined) this.smallIn.set(b, (small = { filled: 0, at: new Array<R | undefined>(this.blockPages).fill(undefined) }));
      const i = head - b * this.blockPages;
      if (small.at[i] === undefined) {
        small.filled++;
        this.smallCount++;
      }
      small.at[i] = rec;
      return;
    }
    this.largeByHead.set(head, rec);
    for (let b = this.block(head); b <= this.block(head + rec.nr - 1); b++) {
      const list = this.largeIn.get(b);
      if (list) list.push(rec);
      else this.largeIn.set(b, [rec]);
    }
  }

  /** Unfile a folio (no-op when it is not the one filed under its head). */
  delete(rec: R): void {
    const head = rec.folio.id;
    if (rec.nr === 1) {
      const b = this.block(head);
      const small = this.smallIn.get(b);
      const i = head - b * this.blockPages;
      if (small === undefined || small.at[i] !== rec) return;
      small.at[i] = undefined;
      this.smallCount--;
      if (--small.filled === 0) this.smallIn.delete(b);
      return;
    }
    if (this.largeByHead.get(head) !== rec) return;
    this.largeByHead.delete(head);
    for (let b = this.block(head); b <= this.block(head + rec.nr - 1); b++) {
      const list = this.largeIn.get(b)!;
      list.splice(list.indexOf(rec), 1);
      if (!list.length) this.largeIn.delete(b);
    }
  }

  /** Every folio with a page in [first, first + nr), each once, by block (large ones first). */
  overlapping(first: number, nr: number): R[] {
    const out: R[] = [];
    const end = first + nr;
    for (let b = this.block(first); b * this.blockPages < end; b++) {
      const base = b * this.blockPages;
      const large = this.largeIn.get(b);
      if (large !== undefined) for (const r of large) if (r.folio.id < end && r.folio.id + r.nr > first && !out.includes(r)) out.push(r);
      const small = this.smallIn.get(b);
      if (small === undefined) continue;
      const to = Math.min(end, base + this.blockPages) - base;
      for (let i = Math.max(first, base) - base; i < to; i++) {
        const r = small.at[i];
        if (r !== undefined) out.push(r);
      }
    }
    return out;
  }

  *values(): IterableIterator<R> {
    yield* this.largeByHead.values();
    for (const small of this.smallIn.values()) for (const r of small.at) if (r !== undefined) yield r;
  }

  /** The order-0 folio at `pfn`. */
  private small(pfn: number): R | undefined {
    const b = this.block(pfn);
    return this.smallIn.get(b)?.at[pfn - b * this.blockPages];
  }

  private block(pfn: number): number {
    return Math.floor(pfn / this.blockPages);
  }
}
