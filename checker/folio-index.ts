/**
 * The folios a replay models, by pfn. A folio is filed under its head pfn; a large folio is also
 * filed under each PMD-sized block of pfns it has pages in (one block for a naturally aligned THP),
 * so that the folio owning any page is found without a per-page table (a 2 MiB THP would need 512
 * entries, made and dropped every time its pfns are reused); order-0 folios are also filed by
 * block, so that clearing a range visits the folios there rather than every pfn.
 */
interface Filed {
  readonly folio: { readonly id: number };
  /** Pages in the folio. */
  readonly nr: number;
}

export class FolioIndex<R extends Filed> {
  private readonly byHead = new Map<number, R>();
  private readonly largeIn = new Map<number, R[]>();
  private readonly smallIn = new Map<number, Set<R>>();
  private readonly blockPages: number;

  /** `pmdOrder`: a block is the pfns one PMD maps. */
  constructor(pmdOrder: number) {
    this.blockPages = 2 ** pmdOrder;
  }

  get size(): number {
    return this.byHead.size;
  }

  /** The folio whose head is `pfn`. */
  get(head: number): R | undefined {
    return this.byHead.get(head);
  }

  /** The large folio with a page at `pfn`. */
  largeAt(pfn: number): R | undefined {
    const list = this.largeIn.get(this.block(pfn));
    if (list !== undefined) for (const r of list) if (pfn >= r.folio.id && pfn < r.folio.id + r.nr) return r;
    return undefined;
  }

  /** The folio with a page at `pfn`: the large one owning it, else the order-0 folio there. */
  at(pfn: number): R | undefined {
    return this.largeAt(pfn) ?? this.byHead.get(pfn);
  }

  /** File a folio; the caller has cleared its pfns of any other folio first. */
  add(rec: R): void {
    const head = rec.folio.id;
    this.byHead.set(head, rec);
    if (rec.nr === 1) {
      const b = this.block(head);
      const small = this.smallIn.get(b);
      if (small !== undefined) small.add(rec);
      else this.smallIn.set(b, new Set([rec]));
      return;
    }
    for (let b = this.block(head); b <= this.block(head + rec.nr - 1); b++) {
      const list = this.largeIn.get(b);
      if (list) list.push(rec);
      else this.largeIn.set(b, [rec]);
    }
  }

  /** Unfile a folio (no-op when another record is filed under its head). */
  delete(rec: R): void {
    const head = rec.folio.id;
    if (this.byHead.get(head) !== rec) return;
    this.byHead.delete(head);
    if (rec.nr === 1) {
      const b = this.block(head);
      const small = this.smallIn.get(b)!;
      small.delete(rec);
      if (!small.size) this.smallIn.delete(b);
      return;
    }
    for (let b = this.block(head); b <= this.block(head + rec.nr - 1); b++) {
      const list = this.largeIn.get(b)!;
      list.splice(list.indexOf(rec), 1);
      if (!list.length) this.largeIn.delete(b);
    }
  }

  /** Every folio with a page in [first, first + nr), each once, by block. */
  overlapping(first: number, nr: number): R[] {
    const out: R[] = [];
    const end = first + nr;
    for (let b = this.block(first); b * this.blockPages < end; b++) {
      const large = this.largeIn.get(b);
      if (large !== undefined) for (const r of large) if (r.folio.id < end && r.folio.id + r.nr > first && !out.includes(r)) out.push(r);
      const small = this.smallIn.get(b);
      if (small === undefined) continue;
      if (nr === 1) {
        // one pfn: look it up rather than walk the block's folios
        const r = this.byHead.get(first);
        if (r !== undefined && r.nr === 1) out.push(r);
      } else for (const r of small) if (r.folio.id >= first && r.folio.id < end) out.push(r);
    }
    return out;
  }

  values(): IterableIterator<R> {
    return this.byHead.values();
  }

  private block(pfn: number): number {
    return Math.floor(pfn / this.blockPages);
  }
}
