import type { Folio, MmSystem, Vma } from '../types.ts';

/** The accounting schemes trollcount runs side by side on the same page-table changes. */
export const SCHEME_NAMES = ['truth', 'legacy-6.1', 'large-6.12', 'owners-6.15', 'proposal', 'proposal+vma-hooks'] as const;
export type SchemeName = (typeof SCHEME_NAMES)[number];

export type RmapLevel = 'pte' | 'pmd';

/**
 * One call into the rmap, as every page-table change makes it (mm/rmap.c). A scheme sees the
 * page tables *without* the entries being added or removed: the kernel calls
 * folio_add_*_rmap before set_pte_at and folio_remove_rmap after the entry was cleared.
 */
export type RmapCall =
  | {
      /** folio_add_new_anon_rmap / folio_add_anon_rmap_* / folio_add_file_rmap_* */
      readonly op: 'add';
      readonly level: RmapLevel;
      readonly folio: Folio;
      /** First page (index within the folio) and number of PTEs; a PMD call covers the folio. */
      readonly page: number;
      readonly nr: number;
      readonly vma: Vma;
      /** folio_add_new_anon_rmap: a freshly allocated anon folio, mapped for the first time. */
      readonly newAnon: boolean;
      /** RMAP_EXCLUSIVE */
      readonly exclusive: boolean;
    }
  | {
      /** folio_try_dup_anon_rmap_* / folio_dup_file_rmap_* from fork's copy_page_range */
      readonly op: 'dup';
      readonly level: RmapLevel;
      readonly folio: Folio;
      readonly page: number;
      readonly nr: number;
      /** The child's VMA that gains the mapping. */
      readonly vma: Vma;
    }
  | {
      /** folio_remove_rmap_* / page_remove_rmap */
      readonly op: 'remove';
      readonly level: RmapLevel;
      readonly folio: Folio;
      readonly page: number;
      readonly nr: number;
      readonly vma: Vma;
    }
  | {
      /**
       * __split_huge_pmd_locked() on an anon PMD: the same folio becomes mapped by nr_pages
       * PTEs of the same VMA. 6.1 does it inline with its own counter rules (PageDoubleMap);
       * later kernels as add_rmap_ptes then remove_rmap_pmd.
       */
      readonly op: 'split-pmd';
      readonly level: 'pmd';
      readonly folio: Folio;
      readonly page: 0;
      readonly nr: number;
      readonly vma: Vma;
    };

/** Costs a scheme pays, in the units the proposal argues about. */
export interface Costs {
  /** Atomic read-modify-writes on struct page / folio fields (mapcounts and refcount). */
  atomics: number;
  /** Cachelines (struct pages) read by queries. */
  cachelines: number;
  /** rmap walks forced to answer a query or resolve a sticky state. */
  rmapWalks: number;
  /** VMAs visited by those walks. */
  vmasVisited: number;
  /** Page-table entries scanned to decide whether a VMA still maps a folio. */
  ptesScanned: number;
}

export const zeroCosts = (): Costs => ({ atomics: 0, cachelines: 0, rmapWalks: 0, vmasVisited: 0, ptesScanned: 0 });

/** A clone's costs: the counts so far, field by field (Object.assign is a runtime call; the explorer clones every scheme per state). */
export function copyCosts(into: Costs, from: Costs): void {
  into.atomics = from.atomics;
  into.cachelines = from.cachelines;
  into.rmapWalks = from.rmapWalks;
  into.vmasVisited = from.vmasVisited;
  into.ptesScanned = from.ptesScanned;
}

/** A VMA-structure change that no rmap call reports (the proposal's hazards). */
export type VmaChange =
  /** __split_vma(): `created` is the new VMA that took part of `original`'s range. */
  | { readonly kind: 'split'; readonly original: Vma; readonly created: Vma }
  /** vma_merge(): `removed` was absorbed by `survivor`. */
  | { readonly kind: 'merge'; readonly survivor: Vma; readonly removed: Vma }
  /** mremap's move_vma(): page tables moved from `from` (about to be unmapped without zapping) to `to`. */
  | { readonly kind: 'move'; readonly from: Vma; readonly to: Vma };

/**
 * The rmap hook interface: every accounting scheme receives the same calls and answers the same
 * queries, so each answer can be compared with `truth`.
 */
export interface MapcountScheme {
  readonly name: SchemeName;
  readonly costs: Costs;
  /** Every rmap call of a page-table change. */
  rmap(call: RmapCall): void;
  /** VMA split / merge / move; the kernel's exact schemes ignore them (mapcount is per entry). */
  vmaChanged(change: VmaChange): void;
  /** The folio's pages are freed (refcount reached zero); forget it. */
  folioFreed(folio: Folio): void;
  /** split_huge_page: an unmapped folio becomes `into` (order-0 folios, same pfns). */
  folioSplit(folio: Folio, into: readonly Folio[]): void;

  /** folio_mapcount() in the scheme's own terms. */
  folioMapcount(folio: Folio): number;
  /** page_mapcount() of page `page` of the folio. */
  pageMapcount(folio: Folio, page: number): number;
  /** folio_mapped() */
  folioMapped(folio: Folio): boolean;
  /** /proc/kpagecount for the pfn of page `page` of the folio. */
  kpagecount(folio: Folio, page: number): number;
  /** References this scheme holds on the folio for its mappings (added to the MM's own references). */
  mappingRefs(folio: Folio): number;
  /** A copy of the scheme's state, bound to a cloned system. */
  clone(sys: MmSystem): MapcountScheme;
}
