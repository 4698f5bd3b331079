import type { ReaderLog } from './readers.ts';
import type { MapcountScheme, RmapCall, VmaChange } from './schemes/scheme.ts';
import type { Folio, Mm, MmSystem, Pmd, Vma } from './types.ts';

/**
 * The emulated kernel: the MM state plus the accounting schemes that observe it. Every rmap call
 * and VMA-structure change is broadcast to all schemes, so they run side by side.
 */
export interface Kernel {
  readonly sys: MmSystem;
  readonly schemes: readonly MapcountScheme[];
  /** The kernel's readers of the mapcount, asked at the MM's decision points (model/readers.ts); absent: nobody asks. */
  readonly readers?: ReaderLog;
  /** Told when a kernel function that a kprobe of a real capture records is entered (absent: nobody listens). */
  readonly probes?: ProbeSink;
}

/**
 * The entry (or return) of a kernel function that real traces record beside the rmap calls: the
 * hidden-step hints (traces/ftrace/probes-6.12.json), with the page-table values before the call.
 */
export type ProbeHit =
  | { readonly fn: 'copy_page_range'; readonly dst: Mm; readonly dstVma: Vma; readonly src: Mm; readonly srcVma: Vma }
  | { readonly fn: 'copy_huge_pmd'; readonly dst: Mm; readonly dstVma: Vma; readonly src: Mm; readonly srcVma: Vma; readonly addr: number; readonly pmd: Pmd }
  | { readonly fn: '__split_huge_pmd' | 'zap_huge_pmd'; readonly mm: Mm; readonly vma: Vma; readonly addr: number; readonly pmd: Pmd }
  | { readonly fn: 'do_huge_pmd_anonymous_page'; readonly mm: Mm; readonly vma: Vma; readonly addr: number; readonly ret?: number };

export interface ProbeSink {
  hit(p: ProbeHit): void;
}

export function rmapCall(k: Kernel, call: RmapCall): void {
  for (const s of k.schemes) s.rmap(call);
}

export function vmaChanged(k: Kernel, change: VmaChange): void {
  for (const s of k.schemes) s.vmaChanged(change);
}

export function folioFreed(k: Kernel, folio: Folio): void {
  for (const s of k.schemes) s.folioFreed(folio);
}

export function folioSplit(k: Kernel, folio: Folio, into: readonly Folio[]): void {
  for (const s of k.schemes) s.folioSplit(folio, into);
}
