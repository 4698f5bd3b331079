import { X86_64, TINY, pmdSize, type Geometry } from '../../model/geometry.ts';
import type { Kernel } from '../../model/kernel.ts';
import { folioAt, startMmSystem } from '../../model/machines/mm-system.ts';
import { describeOperation, type MmOperation } from '../../model/operations.ts';
import { Large612 } from '../../model/schemes/large-6.12.ts';
import { Legacy61 } from '../../model/schemes/legacy-6.1.ts';
import { Owners615 } from '../../model/schemes/owners-6.15.ts';
import { Proposal, ProposalVmaHooks } from '../../model/schemes/proposal.ts';
import { createKernel } from '../../model/schemes/registry.ts';
import type { MapcountScheme } from '../../model/schemes/scheme.ts';
import { mmsMapping, vmasMapping } from '../../model/schemes/truth.ts';
import type { Folio, KernelGeneration } from '../../model/types.ts';

/**
 * Worked examples: operation sequences run through the model with every scheme, and each scheme's
 * view of one folio after every step. Nothing here is written by hand but the operations.
 */

/** One scheme's state of a folio, in the scheme's own kernel vocabulary. */
export function describeSchemeState(k: Kernel, scheme: MapcountScheme, folio: Folio): string {
  if (!k.sys.folios.has(folio.id)) return 'freed';
  if (scheme instanceof Legacy61) {
    const f = scheme.fields(folio, 0);
    const large = folio.order > 0 ? ` compound_mapcount=${f.compoundMapcount} DoubleMap=${f.doubleMap ? 1 : 0}` : '';
    return `folio_mapcount=${scheme.folioMapcount(folio)}${large}`;
  }
  if (scheme instanceof Large612) {
    const f = scheme.fields(folio, 0);
    return folio.order > 0
      ? `_large_mapcount=${f.largeMapcount} _entire_mapcount=${f.entireMapcount} _nr_pages_mapped=0x${(f.nrPagesMapped ?? 0).toString(16)}`
      : `_mapcount=${f.mapcount}`;
  }
  if (scheme instanceof Owners615) return `mapcount=${scheme.folioMapcount(folio)} maybe_shared=${scheme.maybeMappedShared(folio) ? 1 : 0}`;
  if (scheme instanceof Proposal || scheme instanceof ProposalVmaHooks) return `${scheme.stateOf(folio)} (refs ${scheme.mappingRefs(folio)})`;
  const vmas = vmasMapping(k.sys, folio).length;
  return `entries=${scheme.folioMapcount(folio)} vmas=${vmas} mms=${mmsMapping(k.sys, folio).length}`;
}

export interface Example {
  readonly title: string;
  readonly why: string;
  readonly geometry: Geometry;
  readonly kernel: KernelGeneration;
  readonly ops: readonly MmOperation[];
  /** The folio followed: the one mapped at this pid and address once it exists. */
  readonly focus: { readonly pid: number; readonly addr: number };
}

export interface ExampleRow {
  readonly step: string;
  readonly outcome: string;
  readonly states: Readonly<Record<string, string>>;
}

export function runExample(ex: Example): ExampleRow[] {
  const k = createKernel({ geometry: ex.geometry, kernel: ex.kernel, thp: 'always', shmemThp: true });
  const { run } = startMmSystem(k);
  const rows: ExampleRow[] = [];
  let folio: Folio | undefined;
  for (const op of ex.ops) {
    const outcome = run(op);
    folio = folioAt(k, ex.focus.pid, ex.focus.addr)?.folio ?? folio;
    if (op.type === 'SPAWN' || op.type === 'CREATE_FILE' || op.type === 'MMAP') continue;
    const states: Record<string, string> = {};
    for (const s of k.schemes) states[s.name] = folio ? describeSchemeState(k, s, folio) : '-';
    rows.push({ step: describeOperation(op), outcome, states });
  }
  return rows;
}

const MB2 = pmdSize(X86_64);
const T = pmdSize(TINY);
const P = TINY.pageSize;
const anon = (pid: number, addr: number, len: number): MmOperation => ({ type: 'MMAP', pid, addr, len, read: true, write: true, shared: false, fixed: true });

export const EXAMPLES: readonly Example[] = [
  {
    title: 'Fork and COW of a PMD-mapped anon THP (x86-64, 6.1)',
    why: 'The sequence seen on a real 6.1 kernel: after fork every subpage has kpagecount 2; a write by the parent splits its PMD and copies one page.',
    geometry: X86_64,
    kernel: '6.1',
    ops: [{ type: 'SPAWN', pid: 1 }, anon(1, MB2, MB2), { type: 'FAULT', pid: 1, addr: MB2, write: true }, { type: 'FORK', pid: 1, child: 2 }, { type: 'FAULT', pid: 1, addr: MB2 + 3 * X86_64.pageSize, write: true }, { type: 'EXIT', pid: 2 }],
    focus: { pid: 1, addr: MB2 },
  },
  {
    title: "The proposal's shortest hazard: mprotect splits the VMA, then a zap",
    why: 'mprotect of half the VMA makes two VMAs map the THP without any rmap call: `proposal` still says One; unmapping the upper half takes it to Zero while the lower VMA maps the folio. With hooks on VMA split the count stays exact.',
    geometry: TINY,
    kernel: '6.12',
    ops: [{ type: 'SPAWN', pid: 1 }, anon(1, 4 * T, T), { type: 'FAULT', pid: 1, addr: 4 * T, write: true }, { type: 'MPROTECT', pid: 1, addr: 4 * T, len: T / 2, read: true, write: false }, { type: 'MUNMAP', pid: 1, addr: 4 * T + T / 2, len: T / 2 }],
    focus: { pid: 1, addr: 4 * T },
  },
  {
    title: 'Fork with three children: sticky Many',
    why: 'Four mms map the THP: the count saturates at Many. Children exiting do not bring it down. Migration walks the rmap, unmaps every mapping and maps a new folio, whose count starts exact again.',
    geometry: TINY,
    kernel: '6.12',
    ops: [
      { type: 'SPAWN', pid: 1 },
      anon(1, 4 * T, T),
      { type: 'FAULT', pid: 1, addr: 4 * T, write: true },
      { type: 'FORK', pid: 1, child: 2 },
      { type: 'FORK', pid: 1, child: 3 },
      { type: 'FORK', pid: 1, child: 4 },
      { type: 'EXIT', pid: 4 },
      { type: 'EXIT', pid: 3 },
      { type: 'EXIT', pid: 2 },
      { type: 'MIGRATE', pid: 1, addr: 4 * T },
    ],
    focus: { pid: 1, addr: 4 * T },
  },
  {
    title: 'Same-MM double mapping of one tmpfs range',
    why: 'One process maps the same file range at two addresses: two VMAs of one mm. The exact schemes count entries, the proposal counts VMAs, owners-6.15 sees one mm.',
    geometry: TINY,
    kernel: '6.12',
    ops: [
      { type: 'SPAWN', pid: 1 },
      { type: 'CREATE_FILE', inode: 1, pages: 4, shmem: true },
      { type: 'MMAP', pid: 1, addr: 4 * T, len: T, read: true, write: true, shared: true, inode: 1, pgoff: 0, fixed: true },
      { type: 'MMAP', pid: 1, addr: 8 * T, len: T, read: true, write: true, shared: true, inode: 1, pgoff: 0, fixed: true },
      { type: 'FAULT', pid: 1, addr: 4 * T, write: false },
      { type: 'FAULT', pid: 1, addr: 8 * T + P, write: false },
      { type: 'MUNMAP', pid: 1, addr: 8 * T, len: T },
    ],
    focus: { pid: 1, addr: 4 * T },
  },
];
