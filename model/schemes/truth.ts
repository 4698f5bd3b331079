import { decodeKey, entriesMapping } from '../page-table.ts';
import { findVma } from '../vma.ts';
import type { Folio, MmSystem, Vma } from '../types.ts';
import { zeroCosts, type Costs, type MapcountScheme, type RmapCall, type VmaChange } from './scheme.ts';

/**
 * `truth`: every answer derived from the page tables at the moment of the query, never stored.
 * A PMD mapping counts once for the folio and once for each of its pages; a PTE once for its page.
 */
/** Hears the rmap calls and VMA changes the kernel broadcasts to its schemes. */
export interface HookListener {
  rmap(call: RmapCall): void;
  vmaChanged(change: VmaChange): void;
}

export class Truth implements MapcountScheme {
  readonly name = 'truth' as const;
  readonly costs: Costs = zeroCosts();
  /**
   * Told of every rmap call and VMA change truth receives (the explorer samples its proposal
   * monitor there). A field from construction: setting it leaves the object's hidden class as it
   * was (a method patched onto the instance gave every scheme a second shape). A clone has none.
   */
  listener: HookListener | null = null;

  constructor(private readonly sys: MmSystem) {}

  rmap(call: RmapCall): void {
    this.listener?.rmap(call);
  }

  vmaChanged(change: VmaChange): void {
    this.listener?.vmaChanged(change);
  }

  folioFreed(): void {}
  folioSplit(): void {}

  folioMapcount(folio: Folio): number {
    return this.sys.mappedBy.get(folio.id)?.size ?? 0;
  }

  pageMapcount(folio: Folio, page: number): number {
    return pageMapcountOf(this.sys, folio, page);
  }

  folioMapped(folio: Folio): boolean {
    return this.folioMapcount(folio) > 0;
  }

  kpagecount(folio: Folio, page: number): number {
    return this.pageMapcount(folio, page);
  }

  /** The kernel's rule: each present page-table entry is paired with one folio reference. */
  mappingRefs(folio: Folio): number {
    return this.folioMapcount(folio);
  }

  clone(sys: MmSystem): Truth {
    return new Truth(sys);
  }
}

/**
 * Per-page mapcounts of each folio read off its entries, reused until the next page-table write:
 * a query of every page of a large folio (smaps, kpagecount) reads the entries once, not once per page.
 */
/**
 * The counts of one system at one generation: the last asked about (the queries of a system come
 * together: a replay has one, the explorer checks one state after the other; a WeakMap entry per
 * explored state cost more than the counts it saved).
 */
let pageCounts: { sys: MmSystem | null; generation: number; folios: Map<number, Int32Array> } = { sys: null, generation: 0, folios: new Map() };

/** Entries mapping page `page` of the folio: its PTEs plus every PMD mapping the whole folio. */
export function pageMapcountOf(sys: MmSystem, folio: Folio, page: number): number {
  let cache = pageCounts;
  if (cache.sys !== sys || cache.generation !== sys.ptGeneration) {
    cache = { sys, generation: sys.ptGeneration, folios: new Map() };
    pageCounts = cache;
  }
  let counts = cache.folios.get(folio.id);
  if (!counts) {
    const { pageSize } = sys.config.geometry;
    counts = new Int32Array(1 << folio.order);
    for (const e of entriesMapping(sys, folio.id)) {
      if (e.level === 'pmd') counts.forEach((_, i) => counts![i]++);
      else {
        const pte = sys.mms.get(e.pid)!.ptes.get(e.addr / pageSize);
        if (pte?.kind === 'present' && pte.page < counts.length) counts[pte.page]++;
      }
    }
    cache.folios.set(folio.id, counts);
  }
  return counts[page] ?? 0;
}

/** The numbers folio_likely_mapped_shared() reads (model/schemes/large-6.12.ts), off the page tables. */
export function sharingNumbers(sys: MmSystem, folio: Folio): { large: boolean; nrPages: number; mapcount: number; entire: number; firstPage: number } {
  let entire = 0;
  for (const e of entriesMapping(sys, folio.id)) if (e.level === 'pmd') entire++;
  const mapcount = sys.mappedBy.get(folio.id)?.size ?? 0;
  return { large: folio.order > 0, nrPages: 1 << folio.order, mapcount, entire, firstPage: pageMapcountOf(sys, folio, 0) - entire };
}

/** The VMAs whose page tables map the folio, read off the page tables (for checking rmap walks). */
export function vmasMapping(sys: MmSystem, folio: Folio): Vma[] {
  // in order of first mapping entry; a folio is mapped by a few VMAs, so a list beats a Map (the
  // explorer asks at every rmap call and VMA change of every operation)
  const out: Vma[] = [];
  for (const key of sys.mappedBy.get(folio.id) ?? []) {
    const e = decodeKey(sys, key);
    const vma = findVma(sys, sys.mms.get(e.pid)!, e.addr);
    if (vma && !out.includes(vma)) out.push(vma);
  }
  return out;
}

/** Distinct mms mapping the folio (what owners-6.15 tracks). */
export function mmsMapping(sys: MmSystem, folio: Folio): number[] {
  return [...new Set(entriesMapping(sys, folio.id).map((e) => e.pid))];
}
