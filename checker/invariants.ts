import type { Kernel } from '../model/kernel.ts';
import { baseRefs } from '../model/mm.ts';
import { decodeKey } from '../model/page-table.ts';
import { rmap_walk } from '../model/rmap.ts';
import type { MapcountScheme, SchemeName } from '../model/schemes/scheme.ts';
import { vmasMapping } from '../model/schemes/truth.ts';
import type { Folio } from '../model/types.ts';

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

const liveFolios = (k: Kernel): Folio[] => [...k.sys.folios.values()].filter((f) => f.kind !== 'zero' && f.kind !== 'huge-zero');

/** Every exact scheme answers every query it claims exactly as the page tables say. */
export function exactSchemesAgree(k: Kernel): Violation[] {
  const truth = k.schemes.find((s) => s.name === 'truth');
  if (!truth) return [];
  const out: Violation[] = [];
  for (const scheme of k.schemes) {
    const queries = EXACT_QUERIES[scheme.name];
    if (!queries) continue;
    for (const folio of liveFolios(k)) {
      const differ = (query: string, want: number | boolean, got: number | boolean): void => {
        if (want !== got) out.push({ property: 'exact scheme equals truth', scheme: scheme.name, folio: folio.id, detail: `${query}: truth ${want}, ${scheme.name} ${got}` });
      };
      if (queries.includes('folio_mapcount')) differ('folio_mapcount', truth.folioMapcount(folio), scheme.folioMapcount(folio));
      if (queries.includes('folio_mapped')) differ('folio_mapped', truth.folioMapped(folio), scheme.folioMapped(folio));
      if (queries.includes('mapping_refs')) differ('references held for mappings', truth.mappingRefs(folio), scheme.mappingRefs(folio));
      for (let page = 0; page < 1 << folio.order; page++) {
        if (queries.includes('page_mapcount')) differ(`page_mapcount(page ${page})`, truth.pageMapcount(folio, page), scheme.pageMapcount(folio, page));
        if (queries.includes('kpagecount')) differ(`kpagecount(pfn ${folio.id + page})`, truth.kpagecount(folio, page), scheme.kpagecount(folio, page));
      }
    }
  }
  return out;
}

/** refcount >= references held by mappings: a scheme may hold fewer mapping references only if others cover them. */
export function refcountCoversMappings(k: Kernel, scheme: MapcountScheme): Violation[] {
  const out: Violation[] = [];
  for (const folio of liveFolios(k)) {
    const entries = k.sys.mappedBy.get(folio.id)?.size ?? 0;
    const refcount = baseRefs(folio) + scheme.mappingRefs(folio);
    if (entries > 0 && refcount < 1) out.push({ property: 'mapped folio holds a reference', scheme: scheme.name, folio: folio.id, detail: `mapped by ${entries} entries, refcount ${refcount}` });
    if (EXACT_QUERIES[scheme.name]?.includes('mapping_refs') && refcount < entries)
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
  for (const folio of liveFolios(k)) {
    const walked = rmap_walk(k.sys, folio).hits.map((h) => h.vma.id).sort((a, b) => a - b);
    const mapped = vmasMapping(k.sys, folio).map((v) => v.id).sort((a, b) => a - b);
    if (walked.join() !== mapped.join())
      out.push({ property: 'rmap walk finds exactly the mapping VMAs', folio: folio.id, detail: `walk found VMAs [${walked}], page tables say [${mapped}]` });
  }
  return out;
}

/** A page-cache folio is what its inode's cache says, page by page. */
export function pageCacheConsistent(k: Kernel): Violation[] {
  const out: Violation[] = [];
  for (const folio of liveFolios(k)) {
    if (!folio.inPageCache || folio.inode === null) continue;
    const cache = k.sys.inodes.get(folio.inode)!.cache;
    for (let i = 0; i < 1 << folio.order; i++) {
      if (cache.get(folio.index + i) !== folio.id) out.push({ property: 'page cache consistent', folio: folio.id, detail: `index ${folio.index + i} not cached as this folio` });
    }
  }
  return out;
}

/** The foundation's invariants, for the model-based test and the explorer. */
export function mmInvariants(k: Kernel): Violation[] {
  return [
    ...exactSchemesAgree(k),
    ...k.schemes.flatMap((s) => refcountCoversMappings(k, s)),
    ...noMappedFolioFreed(k),
    ...rmapWalkFindsMappers(k),
    ...pageCacheConsistent(k),
  ];
}

