import fc from 'fast-check';
import { TINY, pmdSize, type Geometry } from '../model/geometry.ts';
import { ADVICE } from '../model/madvise.ts';
import type { MmOperation, MmOperationType } from '../model/operations.ts';
import type { KernelGeneration } from '../model/types.ts';

/**
 * A scope bounds the operations an exploration may issue: which processes and files exist, which
 * addresses and lengths are tried, and which operation kinds. The exhaustive search enumerates
 * it; the random exploration draws from it with fast-check. Both use the same parameter domains.
 */
export interface Scope {
  readonly geometry: Geometry;
  readonly kernel: KernelGeneration;
  /** Operations run once before exploring (spawn, create files, initial mmaps). */
  readonly setup: readonly MmOperation[];
  /** Pids operations may name (a FORK child takes the lowest free one). */
  readonly pids: readonly number[];
  /** Files that may be mapped. */
  readonly inodes: readonly number[];
  /** First address of the window explored and its size in PMDs. */
  readonly windowStart: number;
  readonly windowPmds: number;
  /** Operation kinds explored. */
  readonly ops: readonly MmOperationType[];
  /** Lengths tried, in pages. */
  readonly lengths: readonly number[];
  /** /sys/kernel/mm/transparent_hugepage/enabled (default 'always'). */
  readonly thp?: 'always' | 'madvise' | 'never';
  /** Whether shmem faults allocate PMD-sized folios (default true). */
  readonly shmemThp?: boolean;
}

export const ALL_EXPLORED_OPS: readonly MmOperationType[] = [
  'MMAP', 'MUNMAP', 'MPROTECT', 'MADVISE', 'MREMAP', 'FORK', 'EXIT', 'FAULT', 'SPLIT_FOLIO', 'COLLAPSE', 'MIGRATE', 'RECLAIM', 'PIN', 'UNPIN',
];

/**
 * The default small scope: one process with one PMD-aligned anon VMA of one THP, plus a tmpfs
 * file of one THP mapped shared, in a 4-page-THP geometry.
 */
export function defaultScope(overrides: Partial<Scope> = {}): Scope {
  const geometry = overrides.geometry ?? TINY;
  const thp = pmdSize(geometry);
  const windowStart = 4 * thp;
  return {
    geometry,
    kernel: '6.12',
    setup: [
      { type: 'SPAWN', pid: 1 },
      { type: 'CREATE_FILE', inode: 1, pages: 2 * (thp / geometry.pageSize), shmem: true },
      { type: 'MMAP', pid: 1, addr: windowStart, len: thp, read: true, write: true, shared: false, fixed: true },
    ],
    pids: [1, 2, 3],
    inodes: [1],
    windowStart,
    windowPmds: 3,
    ops: ['FAULT', 'MPROTECT', 'MUNMAP', 'FORK', 'EXIT', 'MREMAP', 'MMAP'],
    // half a THP first: the split that shows the proposal's hazard in the fewest steps
    lengths: [thp / geometry.pageSize / 2, 1, thp / geometry.pageSize],
    ...overrides,
  };
}

const pageAddresses = (s: Scope): number[] => {
  const nr = (s.windowPmds * pmdSize(s.geometry)) / s.geometry.pageSize;
  return Array.from({ length: nr }, (_, i) => s.windowStart + i * s.geometry.pageSize);
};

/** Every operation of the scope, for breadth-first search. */
export function enumerateOperations(s: Scope): MmOperation[] {
  const addrs = pageAddresses(s);
  const lens = s.lengths.map((n) => n * s.geometry.pageSize);
  const thp = pmdSize(s.geometry);
  const pmdAddrs = addrs.filter((a) => a % thp === 0);
  const out: MmOperation[] = [];
  for (const type of s.ops) {
    for (const pid of s.pids) {
      switch (type) {
        case 'FAULT':
          for (const addr of addrs) for (const write of [false, true]) out.push({ type, pid, addr, write });
          break;
        case 'MPROTECT':
          for (const addr of addrs) for (const len of lens) out.push({ type, pid, addr, len, read: true, write: false }, { type, pid, addr, len, read: true, write: true });
          break;
        case 'MUNMAP':
          for (const addr of addrs) for (const len of lens) out.push({ type, pid, addr, len });
          break;
        case 'MADVISE':
          for (const addr of addrs) for (const len of lens) for (const advice of ADVICE) out.push({ type, pid, addr, len, advice });
          break;
        case 'MREMAP':
          for (const addr of addrs) for (const len of lens) for (const newAddr of pmdAddrs) out.push({ type, pid, addr, oldLen: len, newLen: len, mayMove: true, newAddr });
          break;
        case 'MMAP':
          for (const addr of pmdAddrs) {
            out.push({ type, pid, addr, len: thp, read: true, write: true, shared: false, fixed: true });
            for (const inode of s.inodes) for (const shared of [false, true]) out.push({ type, pid, addr, len: thp, read: true, write: true, shared, inode, pgoff: 0, fixed: true });
          }
          break;
        case 'FORK':
          out.push({ type, pid });
          break;
        case 'EXIT':
          out.push({ type, pid });
          break;
        case 'SPLIT_FOLIO':
        case 'COLLAPSE':
        case 'MIGRATE':
        case 'RECLAIM':
        case 'PIN':
        case 'UNPIN':
          for (const addr of addrs) out.push({ type, pid, addr });
          break;
        case 'SPAWN':
        case 'CREATE_FILE':
          break;
      }
    }
  }
  return out;
}

/** The same domains as fast-check arbitraries, for random exploration and model-based tests. */
export function operationArbitrary(s: Scope): fc.Arbitrary<MmOperation> {
  const addrs = pageAddresses(s);
  const thp = pmdSize(s.geometry);
  const pid = fc.constantFrom(...s.pids);
  const addr = fc.constantFrom(...addrs);
  const pmdAddr = fc.constantFrom(...addrs.filter((a) => a % thp === 0));
  const len = fc.constantFrom(...s.lengths.map((n) => n * s.geometry.pageSize));
  const byType: Partial<Record<MmOperationType, fc.Arbitrary<MmOperation>>> = {
    FAULT: fc.record({ type: fc.constant('FAULT' as const), pid, addr, write: fc.boolean() }),
    MPROTECT: fc.record({ type: fc.constant('MPROTECT' as const), pid, addr, len, read: fc.constant(true), write: fc.boolean() }),
    MUNMAP: fc.record({ type: fc.constant('MUNMAP' as const), pid, addr, len }),
    MADVISE: fc.record({ type: fc.constant('MADVISE' as const), pid, addr, len, advice: fc.constantFrom(...ADVICE) }),
    MREMAP: fc.record({ type: fc.constant('MREMAP' as const), pid, addr, oldLen: len, newLen: len, mayMove: fc.constant(true), newAddr: pmdAddr }),
    MMAP: fc.oneof(
      fc.record({ type: fc.constant('MMAP' as const), pid, addr: pmdAddr, len: fc.constant(thp), read: fc.constant(true), write: fc.constant(true), shared: fc.constant(false), fixed: fc.constant(true) }),
      fc.record({
        type: fc.constant('MMAP' as const),
        pid,
        addr: pmdAddr,
        len: fc.constant(thp),
        read: fc.constant(true),
        write: fc.constant(true),
        shared: fc.boolean(),
        inode: fc.constantFrom(...(s.inodes.length ? s.inodes : [1])),
        pgoff: fc.constant(0),
        fixed: fc.constant(true),
      }),
    ),
    FORK: fc.record({ type: fc.constant('FORK' as const), pid }),
    EXIT: fc.record({ type: fc.constant('EXIT' as const), pid }),
    SPLIT_FOLIO: fc.record({ type: fc.constant('SPLIT_FOLIO' as const), pid, addr }),
    COLLAPSE: fc.record({ type: fc.constant('COLLAPSE' as const), pid, addr }),
    MIGRATE: fc.record({ type: fc.constant('MIGRATE' as const), pid, addr }),
    RECLAIM: fc.record({ type: fc.constant('RECLAIM' as const), pid, addr }),
    PIN: fc.record({ type: fc.constant('PIN' as const), pid, addr }),
    UNPIN: fc.record({ type: fc.constant('UNPIN' as const), pid, addr }),
  };
  // faults are what populates page tables: weigh them up so sequences do something
  const weighted = s.ops
    .filter((t) => byType[t])
    .map((t) => ({ arbitrary: byType[t]!, weight: t === 'FAULT' ? 6 : t === 'FORK' || t === 'EXIT' ? 1 : 2 }));
  return fc.oneof(...weighted);
}

/**
 * Small scopes aimed at one VMA-structure change each (the proposal's hazards), built on the
 * default geometry. The explorer gets no hint about the hazard: only which operations exist.
 */
export function hazardScopes(geometry: Geometry = TINY): Record<'merge' | 'mremap' | 'fork' | 'doubleMap', Scope> {
  const thp = pmdSize(geometry);
  const half = thp / 2;
  const pages = thp / geometry.pageSize;
  const base = defaultScope({ geometry });
  const w = base.windowStart;
  const file: MmOperation = { type: 'CREATE_FILE', inode: 1, pages: 2 * pages, shmem: true };
  return {
    // a tmpfs THP in the page cache (faulted in while its VMA was whole), then the VMA split in two
    // that differ only in protection: faults map the THP from both, mprotect merges them
    merge: defaultScope({
      geometry,
      setup: [
        { type: 'SPAWN', pid: 1 },
        file,
        { type: 'MMAP', pid: 1, addr: w, len: thp, read: true, write: true, shared: true, inode: 1, pgoff: 0, fixed: true },
        { type: 'FAULT', pid: 1, addr: w, write: false },
        { type: 'MPROTECT', pid: 1, addr: w + half, len: half, read: true, write: false },
      ],
      pids: [1],
      windowPmds: 1,
      ops: ['FAULT', 'MPROTECT'],
      lengths: [pages / 2],
    }),
    // an anon THP and mremap to other PMDs of the window
    mremap: defaultScope({ geometry, pids: [1], windowPmds: 3, ops: ['FAULT', 'MREMAP'], lengths: [pages / 2, pages] }),
    // an anon THP shared by fork among up to three processes
    fork: defaultScope({ geometry, pids: [1, 2, 3], windowPmds: 1, ops: ['FAULT', 'FORK', 'EXIT'], lengths: [pages] }),
    // one mm maps the same file range twice (two VMAs over one tmpfs THP)
    doubleMap: defaultScope({
      geometry,
      setup: [
        { type: 'SPAWN', pid: 1 },
        file,
        { type: 'MMAP', pid: 1, addr: w, len: thp, read: true, write: true, shared: true, inode: 1, pgoff: 0, fixed: true },
        { type: 'MMAP', pid: 1, addr: w + thp, len: thp, read: true, write: true, shared: true, inode: 1, pgoff: 0, fixed: true },
      ],
      pids: [1],
      windowPmds: 2,
      ops: ['FAULT', 'MUNMAP'],
      lengths: [pages],
    }),
  };
}
