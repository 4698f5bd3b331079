import { entriesMapping } from '../page-table.ts';
import { findVma } from '../vma.ts';
import type { Folio, MmSystem, Vma } from '../types.ts';
import { zeroCosts, type Costs, type MapcountScheme } from './scheme.ts';

/**
 * `truth`: every answer derived from the page tables at the moment of the query, never stored.
 * A PMD mapping counts once for the folio and once for each of its pages; a PTE once for its page.
 */
export class Truth implements MapcountScheme {
  readonly name = 'truth' as const;
  readonly costs: Costs = zeroCosts();

  constructor(private readonly sys: MmSystem) {}

  rmap(): void {}
  vmaChanged(): void {}
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

/** Entries mapping page `page` of the folio: its PTEs plus every PMD mapping the whole folio. */
export function pageMapcountOf(sys: MmSystem, folio: Folio, page: number): number {
  const { pageSize } = sys.config.geometry;
  let n = 0;
  for (const e of entriesMapping(sys, folio.id)) {
    if (e.level === 'pmd') n++;
    else {
      const pte = sys.mms.get(e.pid)!.ptes.get(e.addr / pageSize);
      if (pte?.kind === 'present' && pte.page === page) n++;
    }
  }
  return n;
}

/** The VMAs whose page tables map the folio, read off the page tables (for checking rmap walks). */
export function vmasMapping(sys: MmSystem, folio: Folio): Vma[] {
  const seen = new Map<number, Vma>();
  for (const e of entriesMapping(sys, folio.id)) {
    const vma = findVma(sys, sys.mms.get(e.pid)!, e.addr);
    if (vma) seen.set(vma.id, vma);
  }
  return [...seen.values()];
}

/** Distinct mms mapping the folio (what owners-6.15 tracks). */
export function mmsMapping(sys: MmSystem, folio: Folio): number[] {
  return [...new Set(entriesMapping(sys, folio.id).map((e) => e.pid))];
}
