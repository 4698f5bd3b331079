import type { Geometry } from './geometry.ts';

/**
 * The emulated MM as plain data: every object is a record addressed by a numeric id, so a whole
 * system can be cloned (structuredClone) and hashed for exploration. Behaviour lives in the
 * modules named after the kernel files that hold the same logic (memory.ts, mmap.ts, ...).
 */

export type Pid = number;
export type KernelGeneration = '6.1' | '6.12';
export type ThpMode = 'always' | 'madvise' | 'never';

export interface MmConfig {
  readonly geometry: Geometry;
  /** Kernel whose MM behaviour is emulated where 6.1 and 6.12 differ (e.g. zero-page remap on split). */
  readonly kernel: KernelGeneration;
  /** /sys/kernel/mm/transparent_hugepage/enabled */
  readonly thp: ThpMode;
  /** shmem_enabled / tmpfs huge= : whether shmem faults allocate PMD-sized folios */
  readonly shmemThp: boolean;
}

export type FolioKind = 'anon' | 'file' | 'shmem' | 'zero' | 'huge-zero';

export interface Folio {
  /** The head page's pfn; a folio of order n covers pfns [id, id + 2^n). */
  readonly id: number;
  order: number;
  readonly kind: FolioKind;
  /** Page cache: owning inode (file/shmem) or null. */
  inode: number | null;
  /** folio->index: page-cache index of the first page, or the linear page index for anon. */
  index: number;
  /** folio->mapping for anon folios: the anon_vma it was faulted under. */
  anonVma: number | null;
  /** PageAnonExclusive per page (6.1 keeps it on the head page while PMD-mapped). */
  anonExclusive: boolean[];
  /** Whether each page holds data other than zeroes (a zero-filled page can be remapped to the zero page). */
  written: boolean[];
  /** In the page cache: holds one reference per page (__filemap_add_folio). */
  inPageCache: boolean;
  /** In the swap cache for this slot (anon), holding one reference per page. */
  swapSlot: number | null;
  /** GUP pins (FOLL_PIN): references that no mapping explains. */
  pins: number;
}

export interface Vma {
  readonly id: number;
  readonly mm: Pid;
  /** [start, end) in bytes, page aligned. */
  start: number;
  end: number;
  read: boolean;
  write: boolean;
  /** VM_SHARED */
  shared: boolean;
  /** Backing file, or null for anonymous memory. */
  inode: number | null;
  /** vm_pgoff: file page offset of start, or for anon the linear index of start at creation. */
  pgoff: number;
  /** vma->anon_vma: where new anon folios of this VMA are filed. */
  anonVma: number | null;
  /** The anon_vma chain: every anon_vma whose tree holds this VMA. */
  avc: number[];
  /** VM_HUGEPAGE / VM_NOHUGEPAGE from madvise. */
  hugepage: 'default' | 'hugepage' | 'nohugepage';
}

/** A present PTE maps one page of a folio; a swap PTE names a swap slot. */
export type Pte =
  | { readonly kind: 'present'; readonly folio: number; readonly page: number; writable: boolean }
  | { readonly kind: 'swap'; readonly slot: number; exclusive: boolean };

/** A huge PMD maps a whole PMD-order folio. */
export interface Pmd {
  readonly folio: number;
  writable: boolean;
}

export interface Mm {
  readonly pid: Pid;
  readonly parent: Pid | null;
  /** VMA ids sorted by start address (the maple tree). */
  vmas: number[];
  /** Page tables: PTEs keyed by virtual page number, huge PMDs keyed by PMD index. */
  ptes: Map<number, Pte>;
  pmds: Map<number, Pmd>;
}

export interface AnonVma {
  readonly id: number;
  readonly root: number;
  readonly parent: number | null;
  /** The interval tree of VMAs linked to this anon_vma through their chains. */
  vmas: number[];
}

export interface Inode {
  readonly id: number;
  readonly shmem: boolean;
  /** File size in pages. */
  size: number;
  /** Page cache: index of every cached page -> head pfn of its folio. */
  cache: Map<number, number>;
  /** i_mmap: every VMA mapping this file (private and shared). */
  iMmap: number[];
}

export interface SwapSlot {
  /** Swap PTEs that reference the slot (swap_map count). */
  count: number;
  written: boolean;
}

export interface MmSystem {
  readonly config: MmConfig;
  mms: Map<Pid, Mm>;
  vmas: Map<number, Vma>;
  folios: Map<number, Folio>;
  inodes: Map<number, Inode>;
  anonVmas: Map<number, AnonVma>;
  swap: Map<number, SwapSlot>;
  /** Reverse index of the page tables: folio -> keys of the entries that map it (see page-table.ts). */
  mappedBy: Map<number, Set<string>>;
  /** Bumped by every page-table write, so answers derived from the page tables can be reused until the next one. */
  ptGeneration: number;
  next: { vma: number; pfn: number; anonVma: number; inode: number; slot: number };
}

/** The zero page and the huge zero page have fixed pfns below every allocated folio. */
export const ZERO_PFN = 0;
