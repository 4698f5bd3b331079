import type { MapcountScheme, RmapCall, VmaChange } from './schemes/scheme.ts';
import type { Folio, MmSystem } from './types.ts';

/**
 * The emulated kernel: the MM state plus the accounting schemes that observe it. Every rmap call
 * and VMA-structure change is broadcast to all schemes, so they run side by side.
 */
export interface Kernel {
  readonly sys: MmSystem;
  readonly schemes: readonly MapcountScheme[];
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
