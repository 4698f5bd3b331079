import type { Kernel } from '../model/kernel.ts';
import { baseRefs } from '../model/mm.ts';
import { decodeKey } from '../model/page-table.ts';
import { rmap_walk } from '../model/rmap.ts';
import type { MapcountScheme, SchemeName } from '../model/schemes/scheme.ts';
import { vmasMapping } from '../model/schemes/truth.ts';
import type { Folio, Vma } from '../model/types.ts';

/**
 * Properties every reachable state must satisfy. Each returns the violations it found, named so
 * that a counterexample says which rule broke, for which folio and scheme.
 */
export interface Violation {
  readonly property: string;
  readonly scheme?: SchemeName;
  readonly folio?: number;
  readonly detail: string;
}

type Query = 'folio_mapcount' | 'page_mapcount' | 'folio_mapped' | 'kpagecount' | 'mapping_refs';

/** What each scheme must answer exactly; anything it is not listed for is an approximation by design. */
export const EXACT_QUERIES: Partial<Record<SchemeName, readonly Query[]>> = {
  'legacy-6.1': ['folio_mapcount', 'page_mapcount', 'folio_mapped', 'kpagecount', 'mapping_refs'],
  'large-6.12': ['folio_mapcount', 'page_mapcount', 'folio_mapped', 'kpagecount', 'mapping_refs'],
  // CONFIG_NO_PAGE_MAPCOUNT: per-page counts are averages, the folio-level ones stay exact
  'owners-6.15': ['folio_mapcount', 'folio_mapped', 'mapping_refs'],
};

const isLive = (f: Folio): boolean => f.kind !== 'zero' && f.kind !== 'huge-zero';

/**
 * The checks below run on every new state the explorer finds: they walk the folios without
 * building lists, make no closure per folio, and write a detail only for a violation.
 */

/** A query whose answers differ: the violation of exactSchemesAgree. */
function differ(out: Violation[], scheme: MapcountScheme, folio: Folio, query: string, want: number | boolean, got: number | boolean): void {
  out.push({ property: 'exact scheme equals truth', scheme: scheme.name, folio: folio.id, detail: `${query}: truth ${want}, ${scheme.name} ${got}` });
}

/** Every exact scheme answers every query it claims exactly as the page tables say. */
export function exactSchemesAgree(k: Kernel): Violation[] {
  let truth: MapcountScheme | undefined;
  for (const s of k.schemes) if (s.name === 'truth') truth = truth ?? s;
  if (!truth) return [];
  const out: Violation[] = [];
  for (const scheme of k.schemes) {
    const queries = EXACT_QUERIES[scheme.name];
    if (!queries) continue;
    const folioMapcount = queries.includes('folio_mapcount');
    const folioMapped = queries.includes('folio_mapped');
    const mappingRefs = queries.includes('mapping_refs');
    const pageMapcount = queries.includes('page_mapcount');
    const kpagecount = queries.includes('kpagecount');
    for (const folio of k.sys.folios.values()) {
      if (!isLive(folio)) continue;
      // truth first, then the scheme, query by query: the order in which they are asked
      if (folioMapcount) {
        const want = truth.folioMapcount(folio);
        const got = scheme.folioMapcount(folio);
        if (want !== got) differ(out, scheme, folio, 'folio_mapcount', want, got);
      }
      if (folioMapped) {
        const want = truth.folioMapped(folio);
        const got = scheme.folioMapped(folio);
        if (want !== got) differ(out, scheme, folio, 'folio_mapped', want, got);
      }
      if (mappingRefs) {
        const want = truth.mappingRefs(folio);
        const got = scheme.mappingRefs(folio);
        if (want !== got) differ(out, scheme, folio, 'references held for mappings', want, got);
      }
      for (let page = 0; page < 1 << folio.order; page++) {
        if (pageMapcount) {
          const want = truth.pageMapcount(folio, page);
          const got = scheme.pageMapcount(folio, page);
          if (want !== got) differ(out, scheme, folio, `page_mapcount(page ${page})`, want, got);
        }
        if (kpagecount) {
          const want = truth.kpagecount(folio, page);
          const got = scheme.kpagecount(folio, page);
          if (want !== got) differ(out, scheme, folio, `kpagecount(pfn ${folio.id + page})`, want, got);
        }
      }
    }
  }
  return out;
}

/** refcount >= references held by mappings: a scheme may hold fewer mapping references only if others cover them. */
export function refcountCoversMappings(k: Kernel, scheme: MapcountScheme): Violation[] {
  const out: Violation[] = [];
  const exactRefs = EXACT_QUERIES[scheme.name]?.includes('mapping_refs') ?? false;
  for (const folio of k.sys.folios.values()) {
    if (!isLive(folio)) continue;
    const entries = k.sys.mappedBy.get(folio.id)?.size ?? 0;
    const refcount = baseRefs(folio) + scheme.mappingRefs(folio);
    if (entries > 0 && refcount < 1) out.push({ property: 'mapped folio holds a reference', scheme: scheme.name, folio: folio.id, detail: `mapped by ${entries} entries, refcount ${refcount}` });
    if (exactRefs && refcount < entries)
      out.push({ property: 'refcount >= references held by mappings', scheme: scheme.name, folio: folio.id, detail: `refcount ${refcount} < ${entries} entries` });
  }
  return out;
}

/** No page table maps a folio that was freed. */
export function noMappedFolioFreed(k: Kernel): Violation[] {
  const out: Violation[] = [];
  for (const [id, keys] of k.sys.mappedBy) {
    if (!k.sys.folios.has(id)) {
      const where = [...keys].map((key) => decodeKey(k.sys, key)).map((e) => `pid ${e.pid} 0x${e.addr.toString(16)}`);
      out.push({ property: 'no mapped folio freed', folio: id, detail: `freed folio still mapped at ${where.join(', ')}` });
    }
  }
  for (const mm of k.sys.mms.values()) {
    for (const pte of mm.ptes.values()) {
      if (pte.kind === 'present' && !k.sys.folios.has(pte.folio)) out.push({ property: 'no mapped folio freed', folio: pte.folio, detail: `PTE of pid ${mm.pid} maps freed pfn ${pte.folio}` });
    }
  }
  return out;
}

/** An rmap walk (anon_vma / i_mmap) finds exactly the VMAs whose page tables map the folio. */
export function rmapWalkFindsMappers(k: Kernel): Violation[] {
  const out: Violation[] = [];
  for (const folio of k.sys.folios.values()) {
    if (!isLive(folio)) continue;
    const walked = rmap_walk(k.sys, folio).hits.map(vmaIdOfHit).sort(increasing);
    const mapped = vmasMapping(k.sys, folio).map(idOf).sort(increasing);
    if (!sameNumbers(walked, mapped))
      out.push({ property: 'rmap walk finds exactly the mapping VMAs', folio: folio.id, detail: `walk found VMAs [${walked}], page tables say [${mapped}]` });
  }
  return out;
}

const vmaIdOfHit = (h: { readonly vma: Vma }): number => h.vma.id;
const idOf = (v: Vma): number => v.id;
const increasing = (a: number, b: number): number => a - b;
const sameNumbers = (a: readonly number[], b: readonly number[]): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** A page-cache folio is what its inode's cache says, page by page. */
export function pageCacheConsistent(k: Kernel): Violation[] {
  const out: Violation[] = [];
  for (const folio of k.sys.folios.values()) {
    if (!isLive(folio) || !folio.inPageCache || folio.inode === null) continue;
    const cache = k.sys.inodes.get(folio.inode)!.cache;
    for (let i = 0; i < 1 << folio.order; i++) {
      if (cache.get(folio.index + i) !== folio.id) out.push({ property: 'page cache consistent', folio: folio.id, detail: `index ${folio.index + i} not cached as this folio` });
    }
  }
  return out;
}

/** The foundation's invariants, for the model-based test and the explorer. */
export function mmInvariants(k: Kernel): Violation[] {
  const out = exactSchemesAgree(k);
  for (const s of k.schemes) for (const v of refcountCoversMappings(k, s)) out.push(v);
  for (const v of noMappedFolioFreed(k)) out.push(v);
  for (const v of rmapWalkFindsMappers(k)) out.push(v);
  for (const v of pageCacheConsistent(k)) out.push(v);
  return out;
}

