import { createActor, setup, type Actor } from 'xstate';
import { do_huge_pmd_anonymous_page, do_set_pmd, __split_huge_pmd, split_huge_page } from '../huge_memory.ts';
import type { Kernel } from '../kernel.ts';
import { collapse_huge_page } from '../khugepaged.ts';
import { do_madvise } from '../madvise.ts';
import {
  anonPageReusable,
  do_anonymous_page,
  do_cow_fault,
  do_file_pte_fault,
  do_swap_page,
  filemapGetFolio,
  folioPutIfUnused,
  folioRefcount,
  pmdMappable,
  pmdRangeEmpty,
  thpSuitable,
  wp_page_copy,
  wp_page_reuse,
} from '../memory.ts';
import { do_mmap, do_munmap, exit_mmap, munmapEarlyEnd } from '../mmap.ts';
import { createInode, createProcess } from '../mm.ts';
import { migrate_folio } from '../migrate.ts';
import { do_mprotect, mprotectLeavesUntouched } from '../mprotect.ts';
import { do_mremap, mremapEarlyEnd } from '../mremap.ts';
import { dup_mmap } from '../fork.ts';
import type { MmOperation } from '../operations.ts';
import type { Outcome } from '../outcome.ts';
import { getPmd, getPte } from '../page-table.ts';
import type { Folio, Mm, Vma } from '../types.ts';
import { findVma } from '../vma.ts';
import { shrink_folio } from '../vmscan.ts';

/**
 * The MM system machine: its events are the MM operations, its guards the kernel's decisions and
 * its actions the kernel functions they mirror. A page fault walks handle_mm_fault()'s decision
 * tree through transient states (pmd level, pte level, do_wp_page(), do_fault()), so the diagram
 * reads like mm/memory.c. The context holds the emulated kernel, mutated in place by the actions.
 */

interface PendingFault {
  readonly mm: Mm;
  readonly vma: Vma;
  readonly addr: number;
  readonly write: boolean;
  /** The page-cache page found by filemap_fault(). */
  cached?: { folio: Folio; page: number };
}

export interface MmContext {
  /** The kernel being driven; the explorer swaps it between states of a long-lived actor. */
  k: Kernel;
  /** How the last operation ended. */
  outcome: Outcome;
  /** Address returned by the last mmap or mremap. */
  result?: number;
  fault: PendingFault | null;
}

type Ev<T extends MmOperation['type']> = Extract<MmOperation, { type: T }>;

// a load of `pid` (undefined on CREATE_FILE), not `'pid' in event`: over the many event shapes the
// `in` check is the slower one, and every guard of every operation asks
const mmOf = (context: MmContext, event: MmOperation): Mm | undefined => {
  const pid = (event as { pid?: number }).pid;
  return pid === undefined ? undefined : context.k.sys.mms.get(pid);
};

/** The folio and page mapped at the address, if any (not the zero pages). */
export function folioAt(k: Kernel, pid: number, addr: number): { folio: Folio; page: number } | undefined {
  const { sys } = k;
  const mm = sys.mms.get(pid);
  if (!mm) return undefined;
  const pmd = getPmd(sys, mm, addr);
  const pte = getPte(sys, mm, addr);
  const hit = pmd
    ? { id: pmd.folio, page: (addr % (sys.config.geometry.pageSize << sys.config.geometry.pmdOrder)) / sys.config.geometry.pageSize }
    : pte?.kind === 'present'
      ? { id: pte.folio, page: pte.page }
      : undefined;
  if (!hit) return undefined;
  const folio = sys.folios.get(hit.id);
  if (!folio || folio.kind === 'zero' || folio.kind === 'huge-zero') return undefined;
  return { folio, page: Math.floor(hit.page) };
}

const pending = (context: MmContext): PendingFault => context.fault!;


export const mmSystemMachine = setup({
  types: {
    context: {} as MmContext,
    events: {} as MmOperation,
    input: {} as { k: Kernel },
  },
  guards: {
    noSuchProcess: ({ context, event }) => event.type !== 'SPAWN' && event.type !== 'CREATE_FILE' && !mmOf(context, event),
    pidInUse: ({ context, event }) => context.k.sys.mms.has((event as Ev<'SPAWN'>).pid),
    inodeInUse: ({ context, event }) => context.k.sys.inodes.has((event as Ev<'CREATE_FILE'>).inode),
    childPidInUse: ({ context, event }) => {
      const child = (event as Ev<'FORK'>).child;
      return child !== undefined && context.k.sys.mms.has(child);
    },
    noFolioMapped: ({ context, event }) => !folioAt(context.k, (event as Ev<'MIGRATE'>).pid, (event as Ev<'MIGRATE'>).addr),
    notPinned: ({ context, event }) => folioAt(context.k, (event as Ev<'UNPIN'>).pid, (event as Ev<'UNPIN'>).addr)!.folio.pins === 0,
    // handle_mm_fault(): find_vma() and the access check of do_user_addr_fault()
    noVmaAtAddress: ({ context, event }) => !findVma(context.k.sys, mmOf(context, event)!, (event as Ev<'FAULT'>).addr),
    accessViolation: ({ context, event }) => {
      const e = event as Ev<'FAULT'>;
      const vma = findVma(context.k.sys, mmOf(context, event)!, e.addr)!;
      return e.write ? !vma.write : !vma.read;
    },
    // __handle_mm_fault(): the PMD level
    hugePmdPresent: ({ context }) => getPmd(context.k.sys, pending(context).mm, pending(context).addr) !== undefined,
    anonThpFault: ({ context }) => {
      const f = pending(context);
      return f.vma.inode === null && pmdRangeEmpty(context.k.sys, f.mm, f.addr) && thpSuitable(context.k.sys, f.vma, f.addr);
    },
    writeToReadOnlyPmd: ({ context }) => pending(context).write && !getPmd(context.k.sys, pending(context).mm, pending(context).addr)!.writable,
    // do_huge_pmd_wp_page(): PageAnonExclusive or the only reference
    thpExclusive: ({ context }) => {
      const f = pending(context);
      const folio = context.k.sys.folios.get(getPmd(context.k.sys, f.mm, f.addr)!.folio)!;
      return folio.kind === 'anon' && (folio.anonExclusive[0] || folioRefcount(context.k.sys, folio) === 1);
    },
    sharedFileMapping: ({ context }) => pending(context).vma.shared,
    // handle_pte_fault()
    ptePresent: ({ context }) => getPte(context.k.sys, pending(context).mm, pending(context).addr)?.kind === 'present',
    pteSwapped: ({ context }) => getPte(context.k.sys, pending(context).mm, pending(context).addr)?.kind === 'swap',
    anonymousVma: ({ context }) => pending(context).vma.inode === null,
    writeToReadOnlyPte: ({ context }) => {
      const pte = getPte(context.k.sys, pending(context).mm, pending(context).addr);
      return pending(context).write && pte?.kind === 'present' && !pte.writable;
    },
    writeFault: ({ context }) => pending(context).write,
    privateMapping: ({ context }) => !pending(context).vma.shared,
    // do_wp_page(): reuse an anon page that is exclusive, or referenced by this PTE alone
    anonPageReusable: ({ context }) => {
      const f = pending(context);
      const pte = getPte(context.k.sys, f.mm, f.addr);
      return pte?.kind === 'present' && anonPageReusable(context.k.sys, context.k.sys.folios.get(pte.folio)!, pte.page);
    },
    // finish_fault(): a PMD-sized page-cache folio over an empty PMD goes in by do_set_pmd()
    folioPmdMappable: ({ context }) => {
      const f = pending(context);
      return pmdMappable(context.k.sys, f.vma, f.addr, f.cached!.folio) && pmdRangeEmpty(context.k.sys, f.mm, f.addr);
    },
  },
  actions: {
    esrch: ({ context }) => void (context.outcome = 'ESRCH'),
    einval: ({ context }) => void (context.outcome = 'EINVAL'),
    enoent: ({ context }) => void (context.outcome = 'ENOENT'),
    sigsegv: ({ context }) => void (context.outcome = 'SIGSEGV'),
    spawnProcess: ({ context, event }) => {
      createProcess(context.k.sys, null, (event as Ev<'SPAWN'>).pid);
      context.outcome = 'ok';
    },
    createFile: ({ context, event }) => {
      const e = event as Ev<'CREATE_FILE'>;
      const { sys } = context.k;
      sys.next.inode = e.inode;
      createInode(sys, e.pages, e.shmem);
      sys.next.inode = Math.max(...sys.inodes.keys()) + 1;
      context.outcome = 'ok';
    },
    do_mmap: ({ context, event }) => {
      const e = event as Ev<'MMAP'>;
      const r = do_mmap(context.k, mmOf(context, e)!, e);
      context.outcome = r.outcome;
      context.result = r.addr;
    },
    do_munmap: ({ context, event }) => {
      const e = event as Ev<'MUNMAP'>;
      context.outcome = do_munmap(context.k, mmOf(context, e)!, e.addr, e.len);
    },
    do_mprotect: ({ context, event }) => {
      const e = event as Ev<'MPROTECT'>;
      context.outcome = do_mprotect(context.k, mmOf(context, e)!, e.addr, e.len, e);
    },
    do_madvise: ({ context, event }) => {
      const e = event as Ev<'MADVISE'>;
      context.outcome = do_madvise(context.k, mmOf(context, e)!, e.addr, e.len, e.advice);
    },
    do_mremap: ({ context, event }) => {
      const e = event as Ev<'MREMAP'>;
      const r = do_mremap(context.k, mmOf(context, e)!, e);
      context.outcome = r.outcome;
      context.result = r.addr;
    },
    dup_mmap: ({ context, event }) => {
      const e = event as Ev<'FORK'>;
      context.result = dup_mmap(context.k, mmOf(context, e)!, e.child).pid;
      context.outcome = 'ok';
    },
    exit_mmap: ({ context, event }) => {
      exit_mmap(context.k, mmOf(context, event)!);
      context.outcome = 'ok';
    },
    split_huge_page: ({ context, event }) => {
      const e = event as Ev<'SPLIT_FOLIO'>;
      context.outcome = split_huge_page(context.k, folioAt(context.k, e.pid, e.addr)!.folio);
    },
    collapse_huge_page: ({ context, event }) => {
      const e = event as Ev<'COLLAPSE'>;
      context.outcome = collapse_huge_page(context.k, mmOf(context, e)!, e.addr);
    },
    migrate_folio: ({ context, event }) => {
      const e = event as Ev<'MIGRATE'>;
      context.k.readers?.ask(context.k, { at: 'numa_shared', pid: e.pid, ...folioAt(context.k, e.pid, e.addr)! });
      context.outcome = migrate_folio(context.k, folioAt(context.k, e.pid, e.addr)!.folio);
    },
    shrink_folio: ({ context, event }) => {
      const e = event as Ev<'RECLAIM'>;
      context.outcome = shrink_folio(context.k, folioAt(context.k, e.pid, e.addr)!.folio);
    },
    pin_user_page: ({ context, event }) => {
      const e = event as Ev<'PIN'>;
      folioAt(context.k, e.pid, e.addr)!.folio.pins++;
      context.outcome = 'ok';
    },
    unpin_user_page: ({ context, event }) => {
      const e = event as Ev<'UNPIN'>;
      const { folio } = folioAt(context.k, e.pid, e.addr)!;
      folio.pins--;
      folioPutIfUnused(context.k, folio);
      context.outcome = 'ok';
    },
    // the fault path
    beginFault: ({ context, event }) => {
      const e = event as Ev<'FAULT'>;
      const mm = mmOf(context, e)!;
      context.fault = { mm, vma: findVma(context.k.sys, mm, e.addr)!, addr: e.addr, write: e.write };
      context.outcome = 'ok';
    },
    endFault: ({ context }) => void (context.fault = null),
    // the readers of the mapcount (model/readers.ts): the COW decision about to be made
    askCowReaders: ({ context }) => context.k.readers?.ask(context.k, { at: 'wp_fault', pid: pending(context).mm.pid, addr: pending(context).addr, level: 'pte' }),
    askHugeCowReaders: ({ context }) => context.k.readers?.ask(context.k, { at: 'wp_fault', pid: pending(context).mm.pid, addr: pending(context).addr, level: 'pmd' }),
    do_huge_pmd_anonymous_page: ({ context }) => {
      const f = pending(context);
      do_huge_pmd_anonymous_page(context.k, f.mm, f.vma, f.addr, f.write);
    },
    reuseHugePmd: ({ context }) => {
      const f = pending(context);
      const pmd = getPmd(context.k.sys, f.mm, f.addr)!;
      context.k.sys.folios.get(pmd.folio)!.anonExclusive[0] = true;
      pmd.writable = true;
    },
    makePmdWritable: ({ context }) => void (getPmd(context.k.sys, pending(context).mm, pending(context).addr)!.writable = true),
    __split_huge_pmd: ({ context }) => {
      const f = pending(context);
      __split_huge_pmd(context.k, f.mm, f.vma, f.addr);
    },
    do_swap_page: ({ context }) => {
      const f = pending(context);
      do_swap_page(context.k, f.mm, f.vma, f.addr, f.write);
    },
    do_anonymous_page: ({ context }) => {
      const f = pending(context);
      do_anonymous_page(context.k, f.mm, f.vma, f.addr, f.write);
    },
    wp_page_shared: ({ context }) => {
      const pte = getPte(context.k.sys, pending(context).mm, pending(context).addr);
      if (pte?.kind === 'present') pte.writable = true;
    },
    wp_page_reuse: ({ context }) => {
      const f = pending(context);
      wp_page_reuse(context.k, f.mm, f.vma, f.addr);
    },
    wp_page_copy: ({ context }) => {
      const f = pending(context);
      wp_page_copy(context.k, f.mm, f.vma, f.addr);
    },
    do_cow_fault: ({ context }) => {
      const f = pending(context);
      do_cow_fault(context.k, f.mm, f.vma, f.addr);
    },
    filemap_fault: ({ context }) => {
      const f = pending(context);
      f.cached = filemapGetFolio(context.k, f.vma, f.addr);
    },
    do_set_pmd: ({ context }) => {
      const f = pending(context);
      do_set_pmd(context.k, f.mm, f.vma, f.addr, f.cached!.folio);
    },
    set_pte_range: ({ context }) => {
      const f = pending(context);
      do_file_pte_fault(context.k, f.mm, f.vma, f.addr, f.cached!.folio, f.cached!.page);
    },
  },
}).createMachine({
  id: 'mm',
  context: ({ input }) => ({ k: input.k, outcome: 'ok', fault: null }),
  initial: 'idle',
  states: {
    idle: {
      // entry runs after the actions of the transition that ends a fault
      entry: 'endFault',
      on: {
        SPAWN: [{ guard: 'pidInUse', actions: 'einval' }, { actions: 'spawnProcess' }],
        CREATE_FILE: [{ guard: 'inodeInUse', actions: 'einval' }, { actions: 'createFile' }],
        MMAP: [{ guard: 'noSuchProcess', actions: 'esrch' }, { actions: 'do_mmap' }],
        MUNMAP: [{ guard: 'noSuchProcess', actions: 'esrch' }, { actions: 'do_munmap' }],
        MPROTECT: [{ guard: 'noSuchProcess', actions: 'esrch' }, { actions: 'do_mprotect' }],
        MADVISE: [{ guard: 'noSuchProcess', actions: 'esrch' }, { actions: 'do_madvise' }],
        MREMAP: [{ guard: 'noSuchProcess', actions: 'esrch' }, { actions: 'do_mremap' }],
        FORK: [{ guard: 'noSuchProcess', actions: 'esrch' }, { guard: 'childPidInUse', actions: 'einval' }, { actions: 'dup_mmap' }],
        EXIT: [{ guard: 'noSuchProcess', actions: 'esrch' }, { actions: 'exit_mmap' }],
        SPLIT_FOLIO: [{ guard: 'noSuchProcess', actions: 'esrch' }, { guard: 'noFolioMapped', actions: 'enoent' }, { actions: 'split_huge_page' }],
        COLLAPSE: [{ guard: 'noSuchProcess', actions: 'esrch' }, { actions: 'collapse_huge_page' }],
        MIGRATE: [{ guard: 'noSuchProcess', actions: 'esrch' }, { guard: 'noFolioMapped', actions: 'enoent' }, { actions: 'migrate_folio' }],
        RECLAIM: [{ guard: 'noSuchProcess', actions: 'esrch' }, { guard: 'noFolioMapped', actions: 'enoent' }, { actions: 'shrink_folio' }],
        PIN: [{ guard: 'noSuchProcess', actions: 'esrch' }, { guard: 'noFolioMapped', actions: 'enoent' }, { actions: 'pin_user_page' }],
        UNPIN: [
          { guard: 'noSuchProcess', actions: 'esrch' },
          { guard: 'noFolioMapped', actions: 'enoent' },
          { guard: 'notPinned', actions: 'einval' },
          { actions: 'unpin_user_page' },
        ],
        FAULT: [
          { guard: 'noSuchProcess', actions: 'esrch' },
          { guard: 'noVmaAtAddress', actions: 'sigsegv' },
          { guard: 'accessViolation', actions: 'sigsegv' },
          { target: 'handle_mm_fault' },
        ],
      },
    },
    handle_mm_fault: {
      entry: 'beginFault',
      initial: 'pmdLevel',
      states: {
        pmdLevel: {
          always: [
            { guard: 'hugePmdPresent', target: 'hugePmd' },
            { guard: 'anonThpFault', target: '#mm.idle', actions: 'do_huge_pmd_anonymous_page' },
            { target: 'pteLevel' },
          ],
        },
        hugePmd: {
          always: [{ guard: 'writeToReadOnlyPmd', target: 'do_huge_pmd_wp_page' }, { target: '#mm.idle' }],
        },
        do_huge_pmd_wp_page: {
          entry: 'askHugeCowReaders',
          always: [
            { guard: 'thpExclusive', target: '#mm.idle', actions: 'reuseHugePmd' },
            { guard: 'sharedFileMapping', target: '#mm.idle', actions: 'makePmdWritable' },
            // VM_FAULT_FALLBACK: split the PMD and handle the fault on the PTE
            { target: 'pteLevel', actions: '__split_huge_pmd' },
          ],
        },
        pteLevel: {
          always: [
            { guard: 'ptePresent', target: 'ptePresent' },
            { guard: 'pteSwapped', target: '#mm.idle', actions: 'do_swap_page' },
            { guard: 'anonymousVma', target: '#mm.idle', actions: 'do_anonymous_page' },
            { target: 'do_fault' },
          ],
        },
        ptePresent: {
          always: [{ guard: 'writeToReadOnlyPte', target: 'do_wp_page' }, { target: '#mm.idle' }],
        },
        do_wp_page: {
          entry: 'askCowReaders',
          always: [
            { guard: 'sharedFileMapping', target: '#mm.idle', actions: 'wp_page_shared' },
            { guard: 'anonPageReusable', target: '#mm.idle', actions: 'wp_page_reuse' },
            { target: '#mm.idle', actions: 'wp_page_copy' },
          ],
        },
        do_fault: {
          always: [
            { guard: 'writeFault', target: 'writeFileFault' },
            { target: 'finish_fault', actions: 'filemap_fault' },
          ],
        },
        writeFileFault: {
          always: [
            { guard: 'privateMapping', target: '#mm.idle', actions: 'do_cow_fault' },
            { target: 'finish_fault', actions: 'filemap_fault' },
          ],
        },
        finish_fault: {
          always: [
            { guard: 'folioPmdMappable', target: '#mm.idle', actions: 'do_set_pmd' },
            { target: '#mm.idle', actions: 'set_pte_range' },
          ],
        },
      },
    },
  },
});

export type MmActor = Actor<typeof mmSystemMachine>;

const always = (): boolean => true;

/**
 * When an action leaves the kernel as it was, for the operation at hand: the errno actions
 * always; a syscall's action when the checks its kernel function makes before touching anything
 * end it (bad arguments, a hole in the range, nothing mapped there), or when it finds nothing to
 * change (mprotect() over VMAs that all have the protection already). The explorer takes a
 * transition whose actions all leave the kernel untouched on the explored state itself, without
 * copying it (checker/explore/executor.ts); test/mm-system-fastpath.test.ts checks the kernel
 * indeed stays as it was.
 */
export const LEAVES_KERNEL_UNTOUCHED: Readonly<Record<string, (context: MmContext, event: MmOperation) => boolean>> = {
  esrch: always,
  einval: always,
  enoent: always,
  sigsegv: always,
  do_munmap: (context, event) => {
    const e = event as Ev<'MUNMAP'>;
    return munmapEarlyEnd(context.k.sys, mmOf(context, e)!, e.addr, e.len) !== null;
  },
  do_mprotect: (context, event) => {
    const e = event as Ev<'MPROTECT'>;
    return mprotectLeavesUntouched(context.k.sys, mmOf(context, e)!, e.addr, e.len, e);
  },
  do_mremap: (context, event) => mremapEarlyEnd(context.k.sys, mmOf(context, event)!, event as Ev<'MREMAP'>) !== null,
};

/** A long-lived actor executing MM operations on a kernel; returns each operation's outcome. */
export function startMmSystem(k: Kernel): { actor: MmActor; run: (op: MmOperation) => Outcome } {
  const actor = createActor(mmSystemMachine, { input: { k } }).start();
  return {
    actor,
    run: (op) => {
      actor.getSnapshot().context.k.readers?.operation(op);
      actor.send(op);
      return actor.getSnapshot().context.outcome;
    },
  };
}
