import { pmdPages } from './geometry.ts';
import type { Folio, FolioKind, Inode, Mm, MmConfig, MmSystem, Pid } from './types.ts';
import { ZERO_PFN } from './types.ts';

/** Creation of systems, processes, files and folios (the page allocator's side of mm/). */

export function createSystem(config: MmConfig): MmSystem {
  const nr = pmdPages(config.geometry);
  const sys: MmSystem = {
    config,
    mms: new Map(),
    vmas: new Map(),
    folios: new Map(),
    inodes: new Map(),
    anonVmas: new Map(),
    swap: new Map(),
    mappedBy: new Map(),
    ptGeneration: 0,
    // pfns below 2 * HPAGE_PMD_NR hold the zero page and the huge zero page
    next: { vma: 1, pfn: 2 * nr, anonVma: 1, inode: 1, slot: 1 },
  };
  sys.folios.set(ZERO_PFN, newFolio(ZERO_PFN, 0, 'zero'));
  sys.folios.set(nr, newFolio(nr, config.geometry.pmdOrder, 'huge-zero'));
  return sys;
}

export const hugeZeroPfn = (sys: MmSystem): number => pmdPages(sys.config.geometry);

function newFolio(id: number, order: number, kind: FolioKind): Folio {
  const nr = 1 << order;
  return {
    id,
    order,
    kind,
    inode: null,
    index: 0,
    anonVma: null,
    anonExclusive: new Array(nr).fill(false),
    written: new Array(nr).fill(false),
    inPageCache: false,
    swapSlot: null,
    pins: 0,
  };
}

/**
 * A new process with an empty mm. Without a requested pid it takes the lowest free one: pid
 * values mean nothing to the accounting, and reuse keeps explored states small.
 */
export function createProcess(sys: MmSystem, parent: Pid | null, pid?: Pid): Mm {
  let id = pid ?? 1;
  if (pid === undefined) while (sys.mms.has(id)) id++;
  const mm: Mm = { pid: id, parent, vmas: [], ptes: new Map(), pmds: new Map() };
  sys.mms.set(id, mm);
  return mm;
}

export function createInode(sys: MmSystem, sizePages: number, shmem: boolean): Inode {
  const inode: Inode = { id: sys.next.inode++, shmem, size: sizePages, cache: new Map(), iMmap: [] };
  sys.inodes.set(inode.id, inode);
  return inode;
}

/** folio_alloc(): pfns come from a bump allocator aligned to the folio's order, like the buddy. */
export function allocFolio(sys: MmSystem, kind: 'anon' | 'file' | 'shmem', order: number): Folio {
  const nr = 1 << order;
  const pfn = Math.ceil(sys.next.pfn / nr) * nr;
  sys.next.pfn = pfn + nr;
  const folio = newFolio(pfn, order, kind);
  sys.folios.set(pfn, folio);
  return folio;
}

/** References the MM holds outside page tables: page cache, swap cache, GUP pins. */
export function baseRefs(folio: Folio): number {
  const nr = 1 << folio.order;
  return (folio.inPageCache ? nr : 0) + (folio.swapSlot !== null ? nr : 0) + folio.pins;
}
