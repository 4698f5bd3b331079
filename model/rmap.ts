import { getPmd, getPte, vmaAddress } from './page-table.ts';
import type { AnonVma, Folio, MmSystem, Vma } from './types.ts';

/**
 * The reverse map (mm/rmap.c): anon_vma chains for anonymous memory, i_mmap for files, and the
 * rmap walk that finds every VMA mapping a folio.
 */

function link(av: AnonVma, vma: Vma): void {
  if (!av.vmas.includes(vma.id)) av.vmas.push(vma.id);
  if (!vma.avc.includes(av.id)) vma.avc.push(av.id);
}

/** anon_vma_prepare(): the first anon fault of a VMA gives it an anon_vma of its own. */
export function anon_vma_prepare(sys: MmSystem, vma: Vma): AnonVma {
  if (vma.anonVma !== null) return sys.anonVmas.get(vma.anonVma)!;
  const id = sys.next.anonVma++;
  const av: AnonVma = { id, root: id, parent: null, vmas: [] };
  sys.anonVmas.set(id, av);
  link(av, vma);
  vma.anonVma = id;
  return av;
}

/** anon_vma_clone(): `dst` (a split-off or moved copy of `src`) joins every anon_vma of `src`. */
export function anon_vma_clone(sys: MmSystem, dst: Vma, src: Vma): void {
  for (const id of src.avc) link(sys.anonVmas.get(id)!, dst);
  dst.anonVma = src.anonVma;
}

/**
 * anon_vma_fork(): the child's VMA joins the parent's chain and gets an anon_vma of its own
 * whose parent is the parent VMA's, so folios COWed in the child are invisible to the parent.
 */
export function anon_vma_fork(sys: MmSystem, child: Vma, parent: Vma): void {
  if (parent.anonVma === null) return;
  anon_vma_clone(sys, child, parent);
  const pav = sys.anonVmas.get(parent.anonVma)!;
  const id = sys.next.anonVma++;
  const av: AnonVma = { id, root: pav.root, parent: pav.id, vmas: [] };
  sys.anonVmas.set(id, av);
  link(av, child);
  child.anonVma = id;
}

/** unlink_anon_vmas(): a VMA going away leaves every tree; empty anon_vmas are freed. */
export function unlink_anon_vmas(sys: MmSystem, vma: Vma): void {
  for (const id of vma.avc) {
    const av = sys.anonVmas.get(id);
    if (!av) continue;
    av.vmas = av.vmas.filter((v) => v !== vma.id);
    if (av.vmas.length === 0 && ![...sys.anonVmas.values()].some((o) => o.parent === id)) sys.anonVmas.delete(id);
  }
  vma.avc = [];
}

/** vma_link() into i_mmap for file VMAs. */
export function i_mmap_insert(sys: MmSystem, vma: Vma): void {
  if (vma.inode === null) return;
  const inode = sys.inodes.get(vma.inode)!;
  if (!inode.iMmap.includes(vma.id)) inode.iMmap.push(vma.id);
}

export function i_mmap_remove(sys: MmSystem, vma: Vma): void {
  if (vma.inode === null) return;
  const inode = sys.inodes.get(vma.inode)!;
  inode.iMmap = inode.iMmap.filter((v) => v !== vma.id);
}

export interface RmapWalkHit {
  readonly vma: Vma;
  /** Entries found in this VMA: PTEs and PMDs mapping pages of the folio. */
  readonly ptes: number;
  readonly pmds: number;
}

export interface RmapWalk {
  readonly hits: RmapWalkHit[];
  /** VMAs the walk visited (interval-tree candidates), mapped or not. */
  readonly visited: number;
  /** Page-table entries read by page_vma_mapped_walk(). */
  readonly scanned: number;
}

/** The candidate VMAs of a folio's rmap walk: its anon_vma's tree, or its file's i_mmap. */
export function rmapCandidates(sys: MmSystem, folio: Folio): Vma[] {
  let ids: number[] = [];
  if (folio.kind === 'anon') {
    const av = folio.anonVma === null ? undefined : sys.anonVmas.get(folio.anonVma);
    ids = av ? av.vmas : [];
  } else if (folio.inode !== null) {
    ids = sys.inodes.get(folio.inode)?.iMmap ?? [];
  }
  const nr = 1 << folio.order;
  return ids
    .map((id) => sys.vmas.get(id)!)
    .filter((vma) => vma.pgoff < folio.index + nr && folio.index < vma.pgoff + (vma.end - vma.start) / sys.config.geometry.pageSize);
}

/** rmap_walk() with page_vma_mapped_walk() in each candidate VMA. */
export function rmap_walk(sys: MmSystem, folio: Folio): RmapWalk {
  const hits: RmapWalkHit[] = [];
  const candidates = rmapCandidates(sys, folio);
  let scanned = 0;
  const nr = 1 << folio.order;
  for (const vma of candidates) {
    const mm = sys.mms.get(vma.mm)!;
    let ptes = 0;
    let pmds = 0;
    const first = vmaAddress(sys, vma, folio, 0);
    if (folio.order === sys.config.geometry.pmdOrder && first !== null) {
      scanned++;
      if (getPmd(sys, mm, first)?.folio === folio.id) pmds++;
    }
    if (pmds === 0) {
      for (let i = 0; i < nr; i++) {
        const addr = vmaAddress(sys, vma, folio, i);
        if (addr === null) continue;
        scanned++;
        const pte = getPte(sys, mm, addr);
        if (pte?.kind === 'present' && pte.folio === folio.id) ptes++;
      }
    }
    if (ptes + pmds > 0) hits.push({ vma, ptes, pmds });
  }
  return { hits, visited: candidates.length, scanned };
}
