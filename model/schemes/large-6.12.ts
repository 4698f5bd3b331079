import type { Folio, MmSystem } from '../types.ts';
import { copyCosts, zeroCosts, type Costs, type MapcountScheme, type RmapCall } from './scheme.ts';

/**
 * `large-6.12`: Linux 6.12's accounting (mm/rmap.c __folio_add_rmap / __folio_remove_rmap /
 * __folio_dup_file_rmap / __folio_try_dup_anon_rmap, include/linux/mm.h, mm/internal.h).
 * Small folios use only folio->_mapcount. Large folios have per-page _mapcount (-1 based, PTE
 * mappings only), _large_mapcount (-1 based: +nr per PTE, +1 per PMD), _entire_mapcount (-1
 * based: PMD mappings) and _nr_pages_mapped (0 based: pages whose _mapcount went -1 -> 0, plus
 * ENTIRELY_MAPPED while any PMD maps the folio). File and anon are accounted alike.
 */

/** mm/internal.h: the _nr_pages_mapped bias while the folio is entirely mapped. */
export const ENTIRELY_MAPPED = 0x800000;
/** mm/internal.h */
export const FOLIO_PAGES_MAPPED = ENTIRELY_MAPPED - 1;

/** Raw fields as a 6.12 kprobe reads them (folio +48; first tail +80, +84, +88). */
export interface Large612Fields {
  /** Raw _mapcount of the page (small folio: folio->_mapcount), -1 based. */
  mapcount: number;
  /** Raw folio->_large_mapcount (large folios only), -1 based. */
  largeMapcount?: number;
  /** Raw folio->_entire_mapcount (large folios only), -1 based. */
  entireMapcount?: number;
  /** Raw folio->_nr_pages_mapped including the ENTIRELY_MAPPED bias (large folios only). */
  nrPagesMapped?: number;
}

interface Counters {
  /** _mapcount of each page (a small folio: one entry, folio->_mapcount). */
  mapcount: number[];
  largeMapcount: number;
  entireMapcount: number;
  nrPagesMapped: number;
}

const isZero = (folio: Folio): boolean => folio.kind === 'zero' || folio.kind === 'huge-zero';
const isLarge = (folio: Folio): boolean => folio.order > 0;

const fresh = (nr: number): Counters => ({
  mapcount: new Array<number>(nr).fill(-1),
  largeMapcount: -1,
  entireMapcount: -1,
  nrPagesMapped: 0,
});

/**
 * folio_likely_mapped_shared() of 6.12 (include/linux/mm.h) from a folio's numbers: folio_mapcount(),
 * folio_entire_mapcount() and the first page's own mappings (its _mapcount + 1). An estimate: a
 * large folio mapped by one process page by page more than once, or by a PMD and a PTE, reads shared.
 */
export function likelyMappedShared(n: { readonly large: boolean; readonly nrPages: number; readonly mapcount: number; readonly entire: number; readonly firstPage: number }): boolean {
  if (!n.large) return n.mapcount > 1;
  // a single mapping implies "mapped exclusively"
  if (n.mapcount <= 1) return false;
  // if any page is mapped more than once we treat it "mapped shared"
  if (n.entire > 0 || n.mapcount > n.nrPages) return true;
  // let's guess based on the first subpage
  return n.firstPage > 1;
}

export class Large612 implements MapcountScheme {
  readonly name = 'large-6.12' as const;
  readonly costs: Costs = zeroCosts();

  private readonly state = new Map<number, Counters>();
  /** References held for mappings: one per present PTE or PMD. */
  private readonly refs = new Map<number, number>();

  constructor(readonly sys: MmSystem) {}

  private counters(folio: Folio): Counters {
    let c = this.state.get(folio.id);
    if (!c) {
      c = fresh(1 << folio.order);
      this.state.set(folio.id, c);
    }
    return c;
  }

  private view(folio: Folio): Counters {
    return this.state.get(folio.id) ?? fresh(1 << folio.order);
  }

  /** folio_ref_add(folio, n) / folio_get() / folio_put_refs(): one RMW per batch. */
  private ref(folio: Folio, entries: number, atomic: boolean): void {
    this.refs.set(folio.id, (this.refs.get(folio.id) ?? 0) + entries);
    if (atomic) this.costs.atomics++;
  }

  // ---- rmap calls ---------------------------------------------------------------------------

  rmap(call: RmapCall): void {
    const { folio } = call;
    if (isZero(folio)) return; // vm_normal_page() is NULL: never in the rmap
    switch (call.op) {
      case 'add':
        if (call.newAnon) return this.addNewAnon(folio, call.level === 'pmd' ? 1 : call.nr);
        this.ref(folio, call.level === 'pmd' ? 1 : call.nr, true);
        return call.level === 'pmd' ? this.addPmd(folio) : this.addPtes(folio, call.page, call.nr);
      case 'dup':
        this.ref(folio, call.level === 'pmd' ? 1 : call.nr, true); // copy_present_ptes() / copy_huge_pmd()
        return call.level === 'pmd' ? this.dupPmd(folio) : this.dupPtes(folio, call.page, call.nr);
      case 'remove':
        this.ref(folio, call.level === 'pmd' ? -1 : -call.nr, true);
        return call.level === 'pmd' ? this.removePmd(folio) : this.removePtes(folio, call.page, call.nr);
      case 'split-pmd': {
        // mirrors __split_huge_pmd_locked(): folio_ref_add(folio, HPAGE_PMD_NR - 1),
        // folio_add_anon_rmap_ptes(folio, page, HPAGE_PMD_NR, ...), then folio_remove_rmap_pmd()
        const nr = 1 << folio.order;
        this.ref(folio, nr - 1, true);
        this.addPtes(folio, 0, nr);
        this.removePmd(folio);
        return;
      }
    }
  }

  // mirrors folio_add_new_anon_rmap(): atomic_set()s, no RMW on the mapcounts
  private addNewAnon(folio: Folio, entries: number): void {
    // the allocation's reference is the first mapping's; mTHP adds folio_ref_add(nr - 1)
    this.ref(folio, entries, entries > 1);
    const c = this.counters(folio);
    const nr = c.mapcount.length;
    if (!isLarge(folio)) {
      c.mapcount[0] = 0;
    } else if (folio.order < this.sys.config.geometry.pmdOrder) {
      // !folio_test_pmd_mappable(): every page mapped by a PTE
      c.mapcount.fill(0);
      c.largeMapcount = nr - 1;
      c.nrPagesMapped = nr;
    } else {
      c.entireMapcount = 0;
      c.largeMapcount = 0;
      c.nrPagesMapped = ENTIRELY_MAPPED;
    }
  }

  // mirrors __folio_add_rmap(RMAP_LEVEL_PTE): per-page atomic_inc_and_test(&page->_mapcount),
  // atomic_add_return_relaxed(first, &_nr_pages_mapped) if any went -1 -> 0,
  // atomic_add(nr, &_large_mapcount)
  private addPtes(folio: Folio, page: number, nr: number): void {
    const c = this.counters(folio);
    if (!isLarge(folio)) {
      c.mapcount[0]++;
      this.costs.atomics++;
      return;
    }
    let first = 0;
    for (let p = page; p < page + nr; p++) if (++c.mapcount[p] === 0) first++;
    this.costs.atomics += nr;
    if (first) {
      c.nrPagesMapped += first;
      this.costs.atomics++;
    }
    c.largeMapcount += nr;
    this.costs.atomics++;
  }

  // mirrors __folio_add_rmap(RMAP_LEVEL_PMD): atomic_inc_and_test(&_entire_mapcount); if first,
  // atomic_add_return_relaxed(ENTIRELY_MAPPED, &_nr_pages_mapped); atomic_inc(&_large_mapcount)
  private addPmd(folio: Folio): void {
    const c = this.counters(folio);
    this.costs.atomics++;
    if (++c.entireMapcount === 0) {
      c.nrPagesMapped += ENTIRELY_MAPPED;
      this.costs.atomics++;
    }
    c.largeMapcount++;
    this.costs.atomics++;
  }

  // mirrors __folio_dup_file_rmap() / __folio_try_dup_anon_rmap(RMAP_LEVEL_PTE): atomic_inc of
  // each page's _mapcount, atomic_add(nr, &_large_mapcount); never _nr_pages_mapped
  private dupPtes(folio: Folio, page: number, nr: number): void {
    const c = this.counters(folio);
    if (!isLarge(folio)) {
      c.mapcount[0]++;
      this.costs.atomics++;
      return;
    }
    for (let p = page; p < page + nr; p++) c.mapcount[p]++;
    c.largeMapcount += nr;
    this.costs.atomics += nr + 1;
  }

  // mirrors __folio_dup_file_rmap() / __folio_try_dup_anon_rmap(RMAP_LEVEL_PMD):
  // atomic_inc(&_entire_mapcount), atomic_inc(&_large_mapcount)
  private dupPmd(folio: Folio): void {
    const c = this.counters(folio);
    c.entireMapcount++;
    c.largeMapcount++;
    this.costs.atomics += 2;
  }

  // mirrors __folio_remove_rmap(RMAP_LEVEL_PTE): atomic_sub(nr, &_large_mapcount), per-page
  // atomic_add_negative(-1, &page->_mapcount), atomic_sub_return_relaxed(last, &_nr_pages_mapped)
  private removePtes(folio: Folio, page: number, nr: number): void {
    const c = this.counters(folio);
    if (!isLarge(folio)) {
      c.mapcount[0]--;
      this.costs.atomics++;
      return;
    }
    c.largeMapcount -= nr;
    let last = 0;
    for (let p = page; p < page + nr; p++) if (--c.mapcount[p] < 0) last++;
    this.costs.atomics += 1 + nr;
    if (last) {
      c.nrPagesMapped -= last;
      this.costs.atomics++;
    }
  }

  // mirrors __folio_remove_rmap(RMAP_LEVEL_PMD): atomic_dec(&_large_mapcount),
  // atomic_add_negative(-1, &_entire_mapcount); if last, atomic_sub_return_relaxed(ENTIRELY_MAPPED)
  private removePmd(folio: Folio): void {
    const c = this.counters(folio);
    c.largeMapcount--;
    this.costs.atomics += 2;
    if (--c.entireMapcount < 0) {
      c.nrPagesMapped -= ENTIRELY_MAPPED;
      this.costs.atomics++;
    }
  }

  vmaChanged(): void {}

  folioFreed(folio: Folio): void {
    this.state.delete(folio.id);
    this.refs.delete(folio.id);
  }

  /**
   * split_huge_page_to_list_to_order(): the kernel unmaps (migration entries), splits and remaps,
   * so each new small folio keeps its page's PTE mappings (its _mapcount).
   */
  folioSplit(folio: Folio, into: readonly Folio[]): void {
    const old = this.view(folio);
    this.state.delete(folio.id);
    this.refs.delete(folio.id);
    for (const small of into) {
      const offset = small.id - folio.id;
      const nr = 1 << small.order;
      const mapcount = old.mapcount.slice(offset, offset + nr);
      if (mapcount.every((m) => m < 0)) continue;
      const c = fresh(nr);
      c.mapcount = mapcount;
      if (nr > 1) {
        const ptes = mapcount.reduce((n, m) => n + m + 1, 0);
        c.largeMapcount = ptes - 1;
        c.nrPagesMapped = mapcount.filter((m) => m >= 0).length;
      }
      this.state.set(small.id, c);
      this.refs.set(small.id, mapcount.reduce((n, m) => n + m + 1, 0));
    }
  }

  // ---- queries --------------------------------------------------------------------------------

  /** mirrors folio_mapcount() of 6.12: _large_mapcount + 1 (small: _mapcount + 1); O(1) */
  folioMapcount(folio: Folio): number {
    if (isZero(folio)) return 0;
    this.costs.cachelines += isLarge(folio) ? 2 : 1; // head flags, first tail's _large_mapcount
    return this.computeFolioMapcount(folio);
  }

  private computeFolioMapcount(folio: Folio): number {
    const c = this.view(folio);
    return isLarge(folio) ? c.largeMapcount + 1 : c.mapcount[0] + 1;
  }

  /** mirrors page_mapcount() of 6.12: _mapcount + 1, plus folio_entire_mapcount() if compound */
  pageMapcount(folio: Folio, page: number): number {
    if (isZero(folio)) return 0;
    const c = this.view(folio);
    if (!isLarge(folio)) {
      this.costs.cachelines += 1;
      return c.mapcount[0] + 1;
    }
    this.costs.cachelines += page === 1 ? 1 : 2; // the page, the first tail's _entire_mapcount
    return c.mapcount[page] + 1 + c.entireMapcount + 1;
  }

  /** mirrors folio_likely_mapped_shared() of 6.12, on this scheme's counters */
  likelyMappedShared(folio: Folio): boolean {
    const c = this.view(folio);
    const large = isLarge(folio);
    return likelyMappedShared({ large, nrPages: 1 << folio.order, mapcount: this.folioMapcount(folio), entire: large ? c.entireMapcount + 1 : 0, firstPage: c.mapcount[0] + 1 });
  }

  /** mirrors folio_mapped() of 6.12: folio_mapcount(folio) >= 1 */
  folioMapped(folio: Folio): boolean {
    return this.folioMapcount(folio) >= 1;
  }

  /** kpagecount_read(): the page's mapcount (page_mapcount()) per pfn */
  kpagecount(folio: Folio, page: number): number {
    return this.pageMapcount(folio, page);
  }

  mappingRefs(folio: Folio): number {
    return this.refs.get(folio.id) ?? 0;
  }

  // ---- raw fields for the trace checker -------------------------------------------------------

  /** The raw kernel fields of page `page` of the folio, as a 6.12 kprobe would report them. */
  fields(folio: Folio, page: number): Large612Fields {
    const c = this.view(folio);
    if (!isLarge(folio)) return { mapcount: c.mapcount[0] };
    return {
      mapcount: c.mapcount[page],
      largeMapcount: c.largeMapcount,
      entireMapcount: c.entireMapcount,
      nrPagesMapped: c.nrPagesMapped,
    };
  }

  /**
   * Seed raw counters the kernel reported for a folio first seen mid-trace (learned, not
   * verified). Omitted fields keep their modelled value; the references held for mappings are
   * re-derived from _large_mapcount (one per mapping).
   */
  setFields(folio: Folio, page: number, f: Partial<Large612Fields>): void {
    const c = this.counters(folio);
    if (f.mapcount !== undefined) c.mapcount[isLarge(folio) ? page : 0] = f.mapcount;
    if (isLarge(folio)) {
      if (f.largeMapcount !== undefined) c.largeMapcount = f.largeMapcount;
      if (f.entireMapcount !== undefined) c.entireMapcount = f.entireMapcount;
      if (f.nrPagesMapped !== undefined) c.nrPagesMapped = f.nrPagesMapped;
    }
    this.refs.set(folio.id, this.computeFolioMapcount(folio));
  }

  clone(sys: MmSystem): Large612 {
    const copy = new Large612(sys);
    copyCosts(copy.costs, this.costs);
    // field by field: an object spread is several times slower (the explorer clones per state)
    for (const [id, c] of this.state) copy.state.set(id, { mapcount: c.mapcount.slice(), largeMapcount: c.largeMapcount, entireMapcount: c.entireMapcount, nrPagesMapped: c.nrPagesMapped });
    for (const [id, n] of this.refs) copy.refs.set(id, n);
    return copy;
  }
}
