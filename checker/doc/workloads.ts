import { X86_64, pmdSize } from '../../model/geometry.ts';
import type { MmOperation } from '../../model/operations.ts';

/**
 * Synthetic workloads that answer the proposal's question, "what becomes catastrophically
 * slower?", each parametrised by N so the tables show how costs grow. x86-64 geometry: the cost
 * of reading 512 struct pages is the point.
 */
export interface SyntheticWorkload {
  readonly name: string;
  readonly what: string;
  readonly ops: (n: number) => MmOperation[];
}

const MB2 = pmdSize(X86_64);
const PAGE = X86_64.pageSize;
const BASE = 16 * MB2;

const spawn: MmOperation = { type: 'SPAWN', pid: 1 };

export const WORKLOADS: readonly SyntheticWorkload[] = [
  {
    name: 'forking server',
    what: 'A server with one anon THP forks N children; every child writes one subpage (COW), then exits.',
    ops: (n) => [
      spawn,
      { type: 'MMAP', pid: 1, addr: BASE, len: MB2, read: true, write: true, shared: false, fixed: true },
      { type: 'FAULT', pid: 1, addr: BASE, write: true },
      ...Array.from({ length: n }, (_, i): MmOperation => ({ type: 'FORK', pid: 1, child: i + 2 })),
      ...Array.from({ length: n }, (_, i): MmOperation => ({ type: 'FAULT', pid: i + 2, addr: BASE + (i % 512) * PAGE, write: true })),
      ...Array.from({ length: n }, (_, i): MmOperation => ({ type: 'EXIT', pid: i + 2 })),
    ],
  },
  {
    name: 'shared library',
    what: 'N processes map the same 256 KiB file privately read-only (library text) and read every page, then exit.',
    ops: (n) => [
      { type: 'CREATE_FILE', inode: 1, pages: 64, shmem: false },
      ...Array.from({ length: n }, (_, i): MmOperation[] => [
        { type: 'SPAWN', pid: i + 1 },
        { type: 'MMAP', pid: i + 1, addr: BASE, len: 64 * PAGE, read: true, write: false, shared: false, inode: 1, pgoff: 0, fixed: true },
        ...Array.from({ length: 64 }, (_, p): MmOperation => ({ type: 'FAULT', pid: i + 1, addr: BASE + p * PAGE, write: false })),
      ]).flat(),
      ...Array.from({ length: n }, (_, i): MmOperation => ({ type: 'EXIT', pid: i + 1 })),
    ],
  },
  {
    name: 'THP-heavy anon',
    what: 'One process faults N anon THPs, mprotects half of each (PMD split into 512 PTEs), then unmaps everything PTE by PTE.',
    ops: (n) => [
      spawn,
      { type: 'MMAP', pid: 1, addr: BASE, len: n * MB2, read: true, write: true, shared: false, fixed: true },
      ...Array.from({ length: n }, (_, i): MmOperation => ({ type: 'FAULT', pid: 1, addr: BASE + i * MB2, write: true })),
      ...Array.from({ length: n }, (_, i): MmOperation => ({ type: 'MPROTECT', pid: 1, addr: BASE + i * MB2, len: MB2 / 2, read: true, write: false })),
      { type: 'MUNMAP', pid: 1, addr: BASE, len: n * MB2 },
    ],
  },
  {
    name: 'same-MM double mapping',
    what: 'One process maps the same 2 MiB tmpfs range at N addresses and reads one page in each.',
    ops: (n) => [
      spawn,
      { type: 'CREATE_FILE', inode: 1, pages: 512, shmem: true },
      ...Array.from({ length: n }, (_, i): MmOperation[] => [
        { type: 'MMAP', pid: 1, addr: BASE + 2 * i * MB2, len: MB2, read: true, write: true, shared: true, inode: 1, pgoff: 0, fixed: true },
        { type: 'FAULT', pid: 1, addr: BASE + 2 * i * MB2 + (i % 512) * PAGE, write: false },
      ]).flat(),
      { type: 'EXIT', pid: 1 },
    ],
  },
];
