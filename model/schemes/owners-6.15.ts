import type { Folio, MmSystem, Vma } from '../types.ts';
import { copyCosts, zeroCosts, type Costs, type MapcountScheme, type RmapCall } from './scheme.ts';

/**
 * `owners-6.15`: Linux 6.15 with CONFIG_MM_ID (selected by TRANSPARENT_HUGEPAGE) and
 * CONFIG_NO_PAGE_MAPCOUNT. Read from David Hildenbrand's series as posted (v3, March 2025) and
 * merged for 6.15 — no plain 6.15 tree was at hand, so the rules come from the patches:
 * "mm/rmap: basic MM owner tracking for large folios (!hugetlb)" (include/linux/rmap.h
 * folio_set_large_mapcount / folio_add_large_mapcount / folio_sub_large_mapcount,
 * include/linux/mm_types.h _mm_id[2] / _mm_id_mapcount[2] / FOLIO_MM_IDS_SHARED_BIT), the
 * CONFIG_NO_PAGE_MAPCOUNT patch (folio_add_return_large_mapcount, __folio_add_rmap /
 * __folio_remove_rmap / folio_add_new_anon_rmap without per-page _mapcount), the conversion of
 * folio_likely_mapped_shared() to folio_maybe_mapped_shared() (include/linux/mm.h), and
 * folio_average_page_mapcount() (fs/proc/internal.h) as kpagecount_read() (fs/proc/page.c) uses it.
 *
 * Large folio (!hugetlb): _large_mapcount (one per PTE and per PMD, starts at -1),
 * _entire_mapcount (PMD mappings, starts at -1), two MM-owner slots (_mm_id[i], MM_ID_DUMMY = 0
 * when free; _mm_id_mapcount[i], -1 when free) and the "maybe mapped shared" bit kept in _mm_ids.
 * No per-page _mapcount, no _nr_pages_mapped. Small folio: page->_mapcount only; "shared" is
 * mapcount > 1. The mm id of the model is the mm's pid (vma.mm); pids start at 1, never DUMMY.
 *
 * Costs (atomics): a small folio pays one atomic on _mapcount per rmap call; a large folio pays
 * the bit_spin_lock() on _mm_ids (the unlock is the non-atomic __bit_spin_unlock, _large_mapcount
 * is atomic_set under the lock) plus, for a PMD, the atomic on _entire_mapcount. Every call also
 * pays one refcount atomic (folio_ref_add/sub of the batch) for the references the page-table
 * entries hold. Queries read one cacheline (folio->_large_mapcount, _mm_ids and _entire_mapcount
 * share the first tail page).
 */

/** MM_ID_DUMMY: an unoccupied slot. */
export const MM_ID_DUMMY = 0;

/** The 6.15 rmap fields of one folio (only those of its kind are used). */
export interface OwnersFolioState {
  /** page->_mapcount of a small folio (starts at -1). */
  mapcount: number;
  /** folio->_large_mapcount (starts at -1). */
  largeMapcount: number;
  /** folio->_entire_mapcount (starts at -1). */
  entireMapcount: number;
  /** folio->_mm_id[2] (without the lock and shared bits). */
  mmId: [number, number];
  /** folio->_mm_id_mapcount[2] (-1 while the slot is free). */
  mmIdMapcount: [number, number];
  /** FOLIO_MM_IDS_SHARED_BIT in folio->_mm_ids. */
  shared: boolean;
}

const freshState = (): OwnersFolioState => ({
  mapcount: -1,
  largeMapcount: -1,
  entireMapcount: -1,
  mmId: [MM_ID_DUMMY, MM_ID_DUMMY],
  mmIdMapcount: [-1, -1],
  shared: false,
});

const copyState = (s: OwnersFolioState): OwnersFolioState => ({
  ...s,
  mmId: [s.mmId[0], s.mmId[1]],
  mmIdMapcount: [s.mmIdMapcount[0], s.mmIdMapcount[1]],
});

/** The mm id of a VMA's mm: vma->vm_mm->mm_id. */
const mmIdOf = (vma: Vma): number => vma.mm;

/** folio_test_large() (the zero page and order-0 folios are small). */
const isLarge = (folio: Folio): boolean => folio.order > 0;

export class Owners615 implements MapcountScheme {
  readonly name = 'owners-6.15' as const;
  readonly costs: Costs = zeroCosts();
  private readonly folios = new Map<number, OwnersFolioState>();

  /** The scheme reads no page tables: the system is not needed (kept for the common constructor shape). */
  constructor(_sys: MmSystem) {}

  /** The folio's rmap fields (a copy of the fresh state when the folio was never mapped). */
  stateOf(folio: Folio): OwnersFolioState {
    return copyState(this.folios.get(folio.id) ?? freshState());
  }

  /**
   * A folio first seen mid-life (a trace replay that learned the exact counters from the kernel):
   * take its folio mapcount and PMD mappings. The MMs that made the mappings before are unknown:
   * no slot owns them and the maybe-shared bit is set while anything is mapped (no false negative).
   */
  adopt(folio: Folio, mapcount: number, pmdMappings: number): void {
    const s = freshState();
    if (isLarge(folio)) {
      s.largeMapcount = mapcount - 1;
      s.entireMapcount = pmdMappings - 1;
      s.shared = mapcount > 0;
    } else s.mapcount = mapcount - 1;
    this.folios.set(folio.id, s);
  }

  private state(folio: Folio): OwnersFolioState {
    let s = this.folios.get(folio.id);
    if (!s) {
      s = freshState();
      this.folios.set(folio.id, s);
    }
    return s;
  }

  // --- rmap hooks (mm/rmap.c) ----------------------------------------------------------------

  rmap(call: RmapCall): void {
    const { folio, vma } = call;
    const s = this.state(folio);
    const nrPages = 1 << folio.order;
    this.costs.atomics++; // the references of the entries: folio_ref_add / folio_put_refs
    if (!isLarge(folio)) {
      // __folio_add_rmap / __folio_remove_rmap, small folio: atomic_inc_and_test / atomic_add_negative
      this.costs.atomics++;
      if (call.op === 'add' && call.newAnon) s.mapcount = 0; // folio_add_new_anon_rmap(): atomic_set(&_mapcount, 0)
      else if (call.op === 'remove') s.mapcount -= 1;
      else if (call.op !== 'split-pmd') s.mapcount += 1;
      return;
    }
    switch (call.op) {
      case 'add':
        if (call.newAnon) {
          // folio_add_new_anon_rmap(): folio_set_large_mapcount(folio, nr or 1, vma)
          if (call.level === 'pmd') {
            s.entireMapcount = 0; // atomic_set(&_entire_mapcount, 0): a plain store
            this.setLargeMapcount(s, 1, vma);
          } else {
            this.setLargeMapcount(s, call.nr, vma);
          }
          return;
        }
        this.addMapping(s, call.level, call.nr, vma);
        return;
      case 'dup':
        // __folio_dup_file_rmap / __folio_try_dup_anon_rmap: the same counters as an add
        this.addMapping(s, call.level, call.nr, vma);
        return;
      case 'remove':
        this.removeMapping(s, call.level, call.nr, vma);
        return;
      case 'split-pmd':
        // __split_huge_pmd_locked(): folio_add_anon_rmap_ptes(HPAGE_PMD_NR) then folio_remove_rmap_pmd()
        // (the refcount side is one folio_ref_add(HPAGE_PMD_NR - 1), counted above)
        this.addMapping(s, 'pte', call.nr || nrPages, vma);
        this.removeMapping(s, 'pmd', 1, vma);
        return;
    }
  }

  /** __folio_add_rmap() with CONFIG_NO_PAGE_MAPCOUNT, large folio. */
  private addMapping(s: OwnersFolioState, level: 'pte' | 'pmd', nr: number, vma: Vma): void {
    if (level === 'pmd') {
      this.costs.atomics++; // atomic_inc_and_test(&_entire_mapcount)
      s.entireMapcount += 1;
      this.addLargeMapcount(s, 1, vma); // folio_inc_return_large_mapcount()
    } else {
      this.addLargeMapcount(s, nr, vma); // folio_add_return_large_mapcount(folio, orig_nr_pages, vma)
    }
  }

  /** __folio_remove_rmap() with CONFIG_NO_PAGE_MAPCOUNT, large folio. */
  private removeMapping(s: OwnersFolioState, level: 'pte' | 'pmd', nr: number, vma: Vma): void {
    if (level === 'pmd') {
      this.costs.atomics++; // atomic_add_negative(-1, &_entire_mapcount)
      s.entireMapcount -= 1;
      this.subLargeMapcount(s, 1, vma); // folio_dec_return_large_mapcount()
    } else {
      this.subLargeMapcount(s, nr, vma); // folio_sub_return_large_mapcount(folio, nr_pages, vma)
    }
  }

  /** folio_set_large_mapcount(): the first mapping of a new anon folio, owned by slot 0. */
  private setLargeMapcount(s: OwnersFolioState, mapcount: number, vma: Vma): void {
    // atomic_set()s without the lock: the folio is not visible to anybody else yet
    s.largeMapcount = mapcount - 1; // "Note: mapcounts start at -1."
    s.mmIdMapcount[0] = mapcount - 1;
    s.mmId[0] = mmIdOf(vma);
  }

  /** folio_add_return_large_mapcount() (CONFIG_MM_ID, 64-bit: no per-MM overflow handling). */
  private addLargeMapcount(s: OwnersFolioState, diff: number, vma: Vma): void {
    const mmId = mmIdOf(vma);
    this.costs.atomics++; // folio_lock_large_mapcount(): bit_spin_lock on _mm_ids
    const newMapcountVal = s.largeMapcount + diff;
    s.largeMapcount = newMapcountVal;
    if (s.mmId[0] === mmId) {
      s.mmIdMapcount[0] += diff;
    } else if (s.mmId[1] === mmId) {
      s.mmIdMapcount[1] += diff;
    } else if (s.mmId[0] === MM_ID_DUMMY) {
      s.mmId[0] = mmId;
      s.mmIdMapcount[0] = diff - 1;
      // We might have other mappings already.
      if (newMapcountVal !== diff - 1) s.shared = true;
    } else if (s.mmId[1] === MM_ID_DUMMY) {
      s.mmId[1] = mmId;
      s.mmIdMapcount[1] = diff - 1;
      // Slot 0 certainly has mappings as well.
      s.shared = true;
    }
    // else: no free slot; the mappings are only in _large_mapcount (the shared bit is already set)
  }

  /** folio_sub_return_large_mapcount() */
  private subLargeMapcount(s: OwnersFolioState, diff: number, vma: Vma): void {
    const mmId = mmIdOf(vma);
    this.costs.atomics++; // folio_lock_large_mapcount()
    const newMapcountVal = s.largeMapcount - diff;
    s.largeMapcount = newMapcountVal;
    // "There are valid corner cases where we might underflow a per-MM mapcount ..., so we always
    // set it to -1 once we go negative."
    if (s.mmId[0] === mmId) {
      s.mmIdMapcount[0] -= diff;
      if (s.mmIdMapcount[0] >= 0) return;
      s.mmIdMapcount[0] = -1;
      s.mmId[0] = MM_ID_DUMMY;
    } else if (s.mmId[1] === mmId) {
      s.mmIdMapcount[1] -= diff;
      if (s.mmIdMapcount[1] >= 0) return;
      s.mmIdMapcount[1] = -1;
      s.mmId[1] = MM_ID_DUMMY;
    }
    // If one MM slot owns all mappings, the folio is mapped exclusively (also when now unmapped:
    // new_mapcount_val == -1 and both slots are free).
    if (s.mmIdMapcount[0] === newMapcountVal || s.mmIdMapcount[1] === newMapcountVal) s.shared = false;
  }

  /** The page tables hold entries, not VMAs: a split, merge or mremap changes nothing here. */
  vmaChanged(): void {}

  folioFreed(folio: Folio): void {
    this.folios.delete(folio.id);
  }

  /** split_huge_page() of an unmapped folio: the new small folios start unmapped (_mapcount -1). */
  folioSplit(folio: Folio, into: readonly Folio[]): void {
    this.folios.delete(folio.id);
    for (const f of into) this.folios.delete(f.id);
  }

  // --- queries --------------------------------------------------------------------------------

  /** folio_mapcount(): _mapcount + 1, or folio_large_mapcount() = _large_mapcount + 1. Exact. */
  folioMapcount(folio: Folio): number {
    this.costs.cachelines++;
    const s = this.folios.get(folio.id);
    if (!s) return 0;
    return isLarge(folio) ? s.largeMapcount + 1 : s.mapcount + 1;
  }

  /**
   * With CONFIG_NO_PAGE_MAPCOUNT there is no per-page mapcount of a large folio (page_mapcount()
   * is gone; folio_precise_page_mapcount() is BUILD_BUG()). Every reader that wants one — kpagecount,
   * smaps PSS, numa_maps — falls back to folio_average_page_mapcount(), so this does too: it is the
   * same value for every page of the folio. Small folios: _mapcount + 1, exact.
   */
  pageMapcount(folio: Folio, _page: number): number {
    return this.averagePageMapcount(folio);
  }

  /** folio_mapped(): folio_mapcount() >= 1. */
  folioMapped(folio: Folio): boolean {
    return this.folioMapcount(folio) >= 1;
  }

  /**
   * kpagecount_read() (fs/proc/page.c, 6.15): IS_ENABLED(CONFIG_PAGE_MAPCOUNT) ?
   * folio_precise_page_mapcount() : folio_average_page_mapcount() — the latter here.
   */
  kpagecount(folio: Folio, _page: number): number {
    return this.averagePageMapcount(folio);
  }

  /**
   * folio_average_page_mapcount() (fs/proc/internal.h): the PMD mappings count for every page;
   * the PTE mappings are averaged over the pages, rounded to the closest integer, but at least 1
   * while anything is mapped.
   */
  averagePageMapcount(folio: Folio): number {
    this.costs.cachelines++;
    const s = this.folios.get(folio.id);
    if (!s) return 0;
    if (!isLarge(folio)) return s.mapcount + 1;
    let mapcount = s.largeMapcount + 1;
    if (mapcount <= 0) return 0;
    const entire = s.entireMapcount + 1;
    if (mapcount <= entire) return entire;
    mapcount -= entire;
    const nr = 1 << folio.order;
    const avg = (mapcount + nr / 2) >>> folio.order; // Round to closest integer ...
    return Math.max(avg + entire, 1); // ... but return at least 1.
  }

  /** "Each present user page table entry must be paired with exactly one folio reference." */
  mappingRefs(folio: Folio): number {
    const s = this.folios.get(folio.id);
    if (!s) return 0;
    return isLarge(folio) ? s.largeMapcount + 1 : s.mapcount + 1;
  }

  /**
   * folio_maybe_mapped_shared() (include/linux/mm.h, 6.15): small (and hugetlb) folios by
   * mapcount > 1; a large folio with a single mapping is exclusive whatever the bit says;
   * otherwise the FOLIO_MM_IDS_SHARED_BIT. No false negatives; false positives only after three
   * or more MMs mapped the folio at once, until one slot again owns all mappings.
   */
  maybeMappedShared(folio: Folio): boolean {
    this.costs.cachelines++;
    const s = this.folios.get(folio.id);
    if (!s) return false;
    if (!isLarge(folio)) return s.mapcount + 1 > 1;
    if (s.largeMapcount + 1 <= 1) return false;
    return s.shared;
  }

  clone(sys: MmSystem): Owners615 {
    const other = new Owners615(sys);
    for (const [id, s] of this.folios) other.folios.set(id, copyState(s));
    copyCosts(other.costs, this.costs);
    return other;
  }
}
