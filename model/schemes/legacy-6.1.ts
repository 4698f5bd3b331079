import { createActor, type Actor } from 'xstate';
import {
  startThpActor,
  thpMappingMachine,
  thpStatePath,
  type ThpMappingContext,
  type ThpMappingEvent,
  type ThpMappingState,
} from '../machines/thp-mapping.ts';
import type { Folio, MmSystem } from '../types.ts';
import { copyCosts, zeroCosts, type Costs, type MapcountScheme, type RmapCall } from './scheme.ts';

/**
 * `legacy-6.1`: Linux 6.1's exact accounting (mm/rmap.c, mm/huge_memory.c, mm/util.c of v6.1).
 * Every struct page has `_mapcount` (-1 = unmapped); a compound page also has
 * `compound_mapcount` (first tail page, -1 based: its PMD mappings) and PG_double_map.
 * Anon THP: a PMD map bumps only compound_mapcount. File/shmem THP: a PMD map bumps every
 * subpage _mapcount and compound_mapcount. Large anon folios run the thp-mapping machine
 * (model/machines/thp-mapping.ts); small folios and file/shmem folios are plain counters.
 */

/** Raw fields of one page as a 6.1 kprobe reads them (struct page +48; first tail +84, flags bit 6). */
export interface Legacy61Fields {
  /** Raw page->_mapcount (-1 based). */
  mapcount: number;
  /** Raw compound_mapcount of the folio (large folios only). */
  compoundMapcount?: number;
  /** PageDoubleMap of the folio (large folios only). */
  doubleMap?: boolean;
}

/** Counters of a small folio or a file/shmem large folio. */
interface PlainCounters {
  mapcount: number[];
  compoundMapcount: number;
  doubleMap: boolean;
}

type ThpActor = Actor<typeof thpMappingMachine>;

const isZero = (folio: Folio): boolean => folio.kind === 'zero' || folio.kind === 'huge-zero';
const isAnon = (folio: Folio): boolean => folio.kind === 'anon';
const isLarge = (folio: Folio): boolean => folio.order > 0;
/** Large anon folios run the thp-mapping machine. */
const runsMachine = (folio: Folio): boolean => isAnon(folio) && isLarge(folio);

export class Legacy61 implements MapcountScheme {
  readonly name = 'legacy-6.1' as const;
  readonly costs: Costs = zeroCosts();

  private readonly plain = new Map<number, PlainCounters>();
  private readonly thps = new Map<number, ThpActor>();
  /** References held for mappings: one per present PTE or PMD. */
  private readonly refs = new Map<number, number>();

  constructor(readonly sys: MmSystem) {}

  // ---- state ------------------------------------------------------------------------------

  private thp(folio: Folio): ThpActor {
    let actor = this.thps.get(folio.id);
    if (!actor) {
      actor = startThpActor(1 << folio.order);
      this.thps.set(folio.id, actor);
    }
    return actor;
  }

  private counters(folio: Folio): PlainCounters {
    let c = this.plain.get(folio.id);
    if (!c) {
      c = { mapcount: new Array<number>(1 << folio.order).fill(-1), compoundMapcount: -1, doubleMap: false };
      this.plain.set(folio.id, c);
    }
    return c;
  }

  /** The raw counters of any folio, read-only (machine context or plain record). */
  private view(folio: Folio): { mapcount: readonly number[]; compoundMapcount: number; doubleMap: boolean } {
    if (runsMachine(folio)) {
      const actor = this.thps.get(folio.id);
      if (actor) return actor.getSnapshot().context;
    } else {
      const c = this.plain.get(folio.id);
      if (c) return c;
    }
    return { mapcount: new Array<number>(1 << folio.order).fill(-1), compoundMapcount: -1, doubleMap: false };
  }

  /** Send an event to the folio's machine and charge the atomics its actions performed. */
  private send(folio: Folio, event: ThpMappingEvent): void {
    const actor = this.thp(folio);
    const before = actor.getSnapshot().context.atomics;
    actor.send(event);
    this.costs.atomics += actor.getSnapshot().context.atomics - before;
  }

  /** get_page() / put_page() per page-table entry (6.1 has no batched folio_ref_add for PTEs). */
  private ref(folio: Folio, entries: number, atomic: boolean): void {
    this.refs.set(folio.id, (this.refs.get(folio.id) ?? 0) + entries);
    if (atomic) this.costs.atomics += Math.abs(entries);
  }

  // ---- rmap calls ---------------------------------------------------------------------------

  rmap(call: RmapCall): void {
    const { folio } = call;
    if (isZero(folio)) return; // the zero pages are never in the rmap
    switch (call.op) {
      case 'add':
        if (call.newAnon) return this.addNewAnon(folio, call.level, call.page, call.nr);
        if (call.level === 'pmd') {
          this.ref(folio, 1, true);
          return isAnon(folio) ? this.send(folio, { type: 'ADD_PMD' }) : this.addFileCompound(folio);
        }
        this.ref(folio, call.nr, true);
        for (let p = call.page; p < call.page + call.nr; p++) {
          if (runsMachine(folio)) this.send(folio, { type: 'ADD_PTE', page: p });
          else if (isAnon(folio)) this.incMapcount(folio, p); // mirrors page_add_anon_rmap(): atomic_inc_and_test(&page->_mapcount)
          else this.addFilePte(folio, p);
        }
        return;
      case 'dup':
        if (call.level === 'pmd') {
          this.ref(folio, 1, true); // copy_huge_pmd(): get_page()
          // mirrors __page_dup_rmap(compound=true): atomic_inc(compound_mapcount_ptr(page)) only.
          // (file PMDs are never copied at fork: copy_huge_pmd() leaves them to be refaulted)
          if (runsMachine(folio)) return this.send(folio, { type: 'DUP_PMD' });
          const c = this.counters(folio);
          c.compoundMapcount++;
          this.costs.atomics++;
          return;
        }
        this.ref(folio, call.nr, true); // copy_present_pte(): get_page()
        for (let p = call.page; p < call.page + call.nr; p++) {
          // mirrors __page_dup_rmap(compound=false): atomic_inc(&page->_mapcount)
          if (runsMachine(folio)) this.send(folio, { type: 'DUP_PTE', page: p });
          else this.incMapcount(folio, p);
        }
        return;
      case 'remove':
        if (call.level === 'pmd') {
          this.ref(folio, -1, true);
          return isAnon(folio) ? this.send(folio, { type: 'REMOVE_PMD' }) : this.removeFileCompound(folio);
        }
        this.ref(folio, -call.nr, true);
        for (let p = call.page; p < call.page + call.nr; p++) {
          // mirrors page_remove_rmap(compound=false): atomic_add_negative(-1, &page->_mapcount)
          if (runsMachine(folio)) this.send(folio, { type: 'REMOVE_PTE', page: p });
          else this.decMapcount(folio, p);
        }
        return;
      case 'split-pmd': {
        const nr = 1 << folio.order;
        // mirrors __split_huge_pmd_locked(): page_ref_add(page, HPAGE_PMD_NR - 1)
        this.refs.set(folio.id, (this.refs.get(folio.id) ?? 0) + nr - 1);
        this.costs.atomics++;
        if (runsMachine(folio)) return this.send(folio, { type: 'SPLIT_PMD' });
        // Not a 6.1 path (a file PMD is zapped, not split): account it as nr page_add_file_rmap()
        // of the subpages followed by page_remove_rmap(compound=true).
        for (let p = 0; p < nr; p++) this.addFilePte(folio, p);
        this.removeFileCompound(folio);
        return;
      }
    }
  }

  private addNewAnon(folio: Folio, level: 'pte' | 'pmd', page: number, nr: number): void {
    // the freshly allocated folio's own reference becomes the mapping's: no get_page()
    this.ref(folio, level === 'pmd' ? 1 : nr, false);
    if (runsMachine(folio)) {
      // mirrors page_add_new_anon_rmap(): atomic_set(compound_mapcount_ptr(page), 0)
      if (level === 'pmd') return this.send(folio, { type: 'NEW_ANON_PMD' });
      // 6.1 never maps a new anon compound page by PTEs (VM_BUG_ON); count it as page_add_anon_rmap()
      for (let p = page; p < page + nr; p++) this.send(folio, { type: 'ADD_PTE', page: p });
      return;
    }
    // mirrors page_add_new_anon_rmap(): atomic_set(&page->_mapcount, 0) (a store, not an RMW)
    const c = this.counters(folio);
    for (let p = page; p < page + nr; p++) c.mapcount[p] = 0;
  }

  private incMapcount(folio: Folio, page: number): void {
    this.counters(folio).mapcount[page]++;
    this.costs.atomics++;
  }

  private decMapcount(folio: Folio, page: number): void {
    this.counters(folio).mapcount[page]--;
    this.costs.atomics++;
  }

  // mirrors page_add_file_rmap(compound=false): a PTE of a compound page in the page cache sets
  // PageDoubleMap (a hint only), then atomic_inc_and_test(&page->_mapcount)
  private addFilePte(folio: Folio, page: number): void {
    const c = this.counters(folio);
    if (isLarge(folio) && folio.inode !== null) {
      c.doubleMap = true; // SetPageDoubleMap(compound_head(page))
      this.costs.atomics++;
    }
    c.mapcount[page]++;
    this.costs.atomics++;
  }

  // mirrors page_add_file_rmap(compound=true): every subpage _mapcount++, then compound_mapcount++;
  // on the first compound mapping, if every subpage went -1 -> 0, ClearPageDoubleMap
  private addFileCompound(folio: Folio): void {
    const c = this.counters(folio);
    let first = 0;
    for (let i = 0; i < c.mapcount.length; i++) if (++c.mapcount[i] === 0) first++;
    this.costs.atomics += c.mapcount.length + 1;
    if (++c.compoundMapcount !== 0) return; // !atomic_inc_and_test(compound_mapcount_ptr(page))
    if (first === c.mapcount.length && c.doubleMap) {
      c.doubleMap = false;
      this.costs.atomics++;
    }
  }

  // mirrors page_remove_file_rmap(compound=true): every subpage _mapcount--, compound_mapcount--
  // (PageDoubleMap is left alone)
  private removeFileCompound(folio: Folio): void {
    const c = this.counters(folio);
    for (let i = 0; i < c.mapcount.length; i++) c.mapcount[i]--;
    c.compoundMapcount--;
    this.costs.atomics += c.mapcount.length + 1;
  }

  vmaChanged(): void {}

  folioFreed(folio: Folio): void {
    const actor = this.thps.get(folio.id);
    if (actor) {
      actor.send({ type: 'FREE' }); // free_transhuge_page()
      actor.stop();
    }
    this.thps.delete(folio.id);
    this.plain.delete(folio.id);
    this.refs.delete(folio.id);
  }

  /**
   * split_huge_page(): the compound page becomes small pages. The kernel unmaps the folio
   * (migration entries) and remaps each page, so each new small page keeps its own PTE mappings:
   * its _mapcount is the subpage's _mapcount without the PageDoubleMap bias.
   */
  folioSplit(folio: Folio, into: readonly Folio[]): void {
    const view = this.view(folio);
    const bias = view.doubleMap && isAnon(folio) ? 1 : 0;
    const perPage = view.mapcount.map((m) => m - bias);
    const actor = this.thps.get(folio.id);
    if (actor) {
      actor.send({ type: 'SPLIT_FOLIO' });
      actor.stop();
    }
    this.thps.delete(folio.id);
    this.plain.delete(folio.id);
    this.refs.delete(folio.id);
    for (const small of into) {
      const offset = small.id - folio.id;
      const nr = 1 << small.order;
      const mapcount = perPage.slice(offset, offset + nr);
      if (mapcount.every((m) => m < 0)) continue;
      this.plain.set(small.id, { mapcount, compoundMapcount: -1, doubleMap: false });
      this.refs.set(small.id, mapcount.reduce((n, m) => n + m + 1, 0));
    }
  }

  // ---- queries --------------------------------------------------------------------------------

  /** mirrors folio_mapcount() of 6.1 mm/util.c: reads every struct page of a large folio */
  folioMapcount(folio: Folio): number {
    if (isZero(folio)) return 0;
    const nr = 1 << folio.order;
    this.costs.cachelines += nr;
    return this.computeFolioMapcount(folio);
  }

  private computeFolioMapcount(folio: Folio): number {
    const v = this.view(folio);
    if (!isLarge(folio)) return v.mapcount[0] + 1;
    const nr = v.mapcount.length;
    const compound = v.compoundMapcount + 1; // folio_entire_mapcount()
    let ret = compound;
    for (const m of v.mapcount) ret += m + 1;
    // "File pages has compound_mapcount included in _mapcount"
    if (!isAnon(folio)) return ret - compound * nr;
    if (v.doubleMap) ret -= nr;
    return ret;
  }

  /**
   * mirrors page_mapcount() -> __page_mapcount() of 6.1: file THP: _mapcount + 1 (PMD maps are
   * included); anon: _mapcount + 1 + compound_mapcount + 1 - PageDoubleMap.
   * Reads the page, the head (PageAnon: folio->mapping) and the first tail page (PageHuge's
   * compound_dtor, compound_mapcount, PG_double_map).
   */
  pageMapcount(folio: Folio, page: number): number {
    if (isZero(folio)) return 0;
    this.costs.cachelines += isLarge(folio) ? new Set([page, 0, 1]).size : 1;
    return this.computePageMapcount(folio, page);
  }

  private computePageMapcount(folio: Folio, page: number): number {
    const v = this.view(folio);
    let ret = v.mapcount[page] + 1;
    if (!isLarge(folio) || !isAnon(folio)) return ret;
    ret += v.compoundMapcount + 1;
    if (v.doubleMap) ret--;
    return ret;
  }

  /**
   * mirrors folio_mapped() of 6.1 mm/util.c: compound_mapcount >= 0, else the first subpage
   * with _mapcount >= 0 (stops there).
   */
  folioMapped(folio: Folio): boolean {
    if (isZero(folio)) return false;
    const v = this.view(folio);
    if (!isLarge(folio)) {
      this.costs.cachelines += 1;
      return v.mapcount[0] >= 0;
    }
    if (v.compoundMapcount >= 0) {
      this.costs.cachelines += 2; // head flags, first tail's compound_mapcount
      return true;
    }
    const i = v.mapcount.findIndex((m) => m >= 0);
    this.costs.cachelines += Math.max(2, i < 0 ? v.mapcount.length : i + 1);
    return i >= 0;
  }

  /** 6.1 kpagecount_read(): page_mapcount() per pfn */
  kpagecount(folio: Folio, page: number): number {
    return this.pageMapcount(folio, page);
  }

  mappingRefs(folio: Folio): number {
    return this.refs.get(folio.id) ?? 0;
  }

  // ---- raw fields for the trace checker -------------------------------------------------------

  /** The raw kernel fields of page `page` of the folio, as a 6.1 kprobe would report them. */
  fields(folio: Folio, page: number): Legacy61Fields {
    const v = this.view(folio);
    if (!isLarge(folio)) return { mapcount: v.mapcount[0] };
    return { mapcount: v.mapcount[page], compoundMapcount: v.compoundMapcount, doubleMap: v.doubleMap };
  }

  /**
   * Seed raw counters the kernel reported for a folio first seen mid-trace (learned, not
   * verified). Omitted fields keep their modelled value. The references held for mappings are
   * re-derived from the counters (one per mapping).
   */
  setFields(folio: Folio, page: number, f: Partial<Legacy61Fields>): void {
    if (runsMachine(folio)) {
      this.thp(folio).send({
        type: 'LEARN',
        page,
        mapcount: f.mapcount,
        compoundMapcount: f.compoundMapcount,
        doubleMap: f.doubleMap,
      });
    } else {
      const c = this.counters(folio);
      if (f.mapcount !== undefined) c.mapcount[isLarge(folio) ? page : 0] = f.mapcount;
      if (isLarge(folio)) {
        if (f.compoundMapcount !== undefined) c.compoundMapcount = f.compoundMapcount;
        if (f.doubleMap !== undefined) c.doubleMap = f.doubleMap;
      }
    }
    this.refs.set(folio.id, this.computeFolioMapcount(folio));
  }

  /** The thp-mapping machine's state and counters for a large anon folio it has seen. */
  thpState(folio: Folio): { state: ThpMappingState; context: ThpMappingContext } | undefined {
    const snapshot = this.thps.get(folio.id)?.getSnapshot();
    return snapshot && { state: thpStatePath(snapshot.value), context: snapshot.context };
  }

  /** The running thp-mapping actor of a large anon folio, if the folio was ever seen. */
  thpActor(folio: Folio): ThpActor | undefined {
    return this.thps.get(folio.id);
  }

  clone(sys: MmSystem): Legacy61 {
    const copy = new Legacy61(sys);
    copyCosts(copy.costs, this.costs);
    for (const [id, c] of this.plain) copy.plain.set(id, { ...c, mapcount: c.mapcount.slice() });
    for (const [id, actor] of this.thps) {
      const snapshot = actor.getPersistedSnapshot();
      copy.thps.set(id, createActor(thpMappingMachine, { snapshot, input: { nr: actor.getSnapshot().context.nr } }).start());
    }
    for (const [id, n] of this.refs) copy.refs.set(id, n);
    return copy;
  }
}
