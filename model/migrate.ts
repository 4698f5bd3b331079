import { remapSaved, unmapAll } from './huge_memory.ts';
import { folioFreed, type Kernel } from './kernel.ts';
import { allocFolio } from './mm.ts';
import { isSpecialFolio } from './memory.ts';
import type { Outcome } from './outcome.ts';
import type { Folio } from './types.ts';

/**
 * mm/migrate.c migrate_pages() for one folio: refuse if pinned (folio_migrate_mapping()'s refcount
 * check), try_to_migrate() replaces every mapping by a migration entry (rmap removed; PMDs stay
 * PMD-level), the contents and page-cache slot move to a new folio, remove_migration_ptes() maps
 * the new folio where the old one was (rmap added, exclusivity kept).
 */
export function migrate_folio(k: Kernel, folio: Folio): Outcome {
  const { sys } = k;
  if (isSpecialFolio(folio)) return 'EINVAL';
  if (folio.pins > 0) return 'EBUSY';
  const saved = unmapAll(k, folio, false);
  const dst = allocFolio(sys, folio.kind as 'anon' | 'file' | 'shmem', folio.order);
  dst.inode = folio.inode;
  dst.index = folio.index;
  dst.anonVma = folio.anonVma;
  dst.anonExclusive = [...folio.anonExclusive];
  dst.written = [...folio.written];
  dst.inPageCache = folio.inPageCache;
  dst.swapSlot = folio.swapSlot;
  if (folio.inode !== null && folio.inPageCache) {
    const cache = sys.inodes.get(folio.inode)!.cache;
    for (let i = 0; i < 1 << folio.order; i++) cache.set(folio.index + i, dst.id);
  }
  sys.folios.delete(folio.id);
  folioFreed(k, folio);
  remapSaved(k, saved, (page) => ({ folio: dst, page }), false);
  return 'ok';
}
