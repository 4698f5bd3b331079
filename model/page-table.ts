import { pmdPages } from './geometry.ts';
import type { MmSystem, Mm, Pte, Pmd, Vma, Folio } from './types.ts';

/**
 * Page tables of every mm, and their reverse index (folio -> entries that map it). The index is
 * not a counter: it is rebuilt from the entries themselves on every set and clear, so `truth`
 * reads the page tables, never a stored count.
 */

export type EntryKey = string;
export const pteKey = (pid: number, vpn: number): EntryKey => `p:${pid}:${vpn}`;
export const pmdKey = (pid: number, pmdIndex: number): EntryKey => `h:${pid}:${pmdIndex}`;

export interface DecodedEntry {
  readonly level: 'pte' | 'pmd';
  readonly pid: number;
  /** Virtual address in bytes of the entry (PMD: of its first page). */
  readonly addr: number;
}

export function decodeKey(sys: MmSystem, key: EntryKey): DecodedEntry {
  // `tag:pid:n`, read in place (split() made an array and three strings per entry of every rmap walk)
  const colon = key.indexOf(':', 2);
  const pid = Number(key.slice(2, colon));
  const n = Number(key.slice(colon + 1));
  const { pageSize } = sys.config.geometry;
  const level = key.charCodeAt(0) === H ? 'pmd' : 'pte';
  const pages = level === 'pmd' ? n * pmdPages(sys.config.geometry) : n;
  return { level, pid, addr: pages * pageSize };
}

const H = 'h'.charCodeAt(0);

const vpnOf = (sys: MmSystem, addr: number): number => Math.floor(addr / sys.config.geometry.pageSize);
const pmdIndexOf = (sys: MmSystem, addr: number): number =>
  Math.floor(addr / (sys.config.geometry.pageSize * pmdPages(sys.config.geometry)));

function index(sys: MmSystem, folio: number): Set<EntryKey> {
  let set = sys.mappedBy.get(folio);
  if (!set) {
    set = new Set();
    sys.mappedBy.set(folio, set);
  }
  return set;
}

function unindex(sys: MmSystem, folio: number, key: EntryKey): void {
  const set = sys.mappedBy.get(folio);
  if (!set) return;
  set.delete(key);
  if (set.size === 0) sys.mappedBy.delete(folio);
}

export function getPte(sys: MmSystem, mm: Mm, addr: number): Pte | undefined {
  return mm.ptes.get(vpnOf(sys, addr));
}

export function getPmd(sys: MmSystem, mm: Mm, addr: number): Pmd | undefined {
  return mm.pmds.get(pmdIndexOf(sys, addr));
}

/** The zero page and huge zero page are never in the rmap and not in the index either. */
const indexed = (folio: Folio | undefined): boolean =>
  folio !== undefined && folio.kind !== 'zero' && folio.kind !== 'huge-zero';

export function setPte(sys: MmSystem, mm: Mm, addr: number, pte: Pte): void {
  const vpn = vpnOf(sys, addr);
  sys.ptGeneration++;
  clearPte(sys, mm, addr);
  mm.ptes.set(vpn, pte);
  if (pte.kind === 'present' && indexed(sys.folios.get(pte.folio))) index(sys, pte.folio).add(pteKey(mm.pid, vpn));
}

export function clearPte(sys: MmSystem, mm: Mm, addr: number): Pte | undefined {
  const vpn = vpnOf(sys, addr);
  const old = mm.ptes.get(vpn);
  if (old === undefined) return undefined;
  sys.ptGeneration++;
  mm.ptes.delete(vpn);
  if (old.kind === 'present') unindex(sys, old.folio, pteKey(mm.pid, vpn));
  return old;
}

export function setPmd(sys: MmSystem, mm: Mm, addr: number, pmd: Pmd): void {
  const i = pmdIndexOf(sys, addr);
  clearPmd(sys, mm, addr);
  sys.ptGeneration++;
  mm.pmds.set(i, pmd);
  if (indexed(sys.folios.get(pmd.folio))) index(sys, pmd.folio).add(pmdKey(mm.pid, i));
}

export function clearPmd(sys: MmSystem, mm: Mm, addr: number): Pmd | undefined {
  const i = pmdIndexOf(sys, addr);
  const old = mm.pmds.get(i);
  if (old === undefined) return undefined;
  sys.ptGeneration++;
  mm.pmds.delete(i);
  unindex(sys, old.folio, pmdKey(mm.pid, i));
  return old;
}

/** Every entry that maps the folio, decoded: what an rmap walk would find, read off the page tables. */
export function entriesMapping(sys: MmSystem, folio: number): DecodedEntry[] {
  const set = sys.mappedBy.get(folio);
  return set ? [...set].map((key) => decodeKey(sys, key)) : [];
}

/**
 * Virtual address at which page `page` of the folio would be mapped in the VMA, or null when the
 * VMA's range does not cover it (vma_address(): linear index against vm_pgoff).
 */
export function vmaAddress(sys: MmSystem, vma: Vma, folio: Folio, page: number): number | null {
  const addr = vma.start + (folio.index + page - vma.pgoff) * sys.config.geometry.pageSize;
  return addr >= vma.start && addr < vma.end ? addr : null;
}

export interface ScanResult {
  readonly mapped: boolean;
  /** Page-table entries read to decide. */
  readonly scanned: number;
}

/**
 * Does the VMA map any page of the folio through its page tables? What a scheme that counts
 * VMAs must learn on every unmap: a scan of up to nr_pages PTEs plus the PMD, stopping early.
 */
export function scanVmaForFolio(sys: MmSystem, vma: Vma, folio: Folio): ScanResult {
  const mm = sys.mms.get(vma.mm);
  if (!mm) return { mapped: false, scanned: 0 };
  let scanned = 0;
  const nr = 1 << folio.order;
  const first = vmaAddress(sys, vma, folio, 0);
  if (folio.order === sys.config.geometry.pmdOrder && first !== null) {
    scanned++;
    if (getPmd(sys, mm, first)?.folio === folio.id) return { mapped: true, scanned };
  }
  for (let i = 0; i < nr; i++) {
    const addr = vmaAddress(sys, vma, folio, i);
    if (addr === null) continue;
    scanned++;
    const pte = getPte(sys, mm, addr);
    if (pte?.kind === 'present' && pte.folio === folio.id) return { mapped: true, scanned };
  }
  return { mapped: false, scanned };
}
