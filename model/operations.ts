import type { Advice } from './madvise.ts';
import type { Pid } from './types.ts';

/**
 * The MM operations: the events of the MM system machine, at syscall and fault level. Addresses
 * and lengths are bytes; `inode` names a file created by CREATE_FILE.
 */
export type MmOperation =
  /** A new process with an empty mm (exec of a fresh program). */
  | { readonly type: 'SPAWN'; readonly pid: Pid }
  /** A file on tmpfs (shmem) or a regular file, `pages` long. */
  | { readonly type: 'CREATE_FILE'; readonly inode: number; readonly pages: number; readonly shmem: boolean }
  | {
      readonly type: 'MMAP';
      readonly pid: Pid;
      /** Hint or, with `fixed`, the exact address. */
      readonly addr?: number;
      readonly len: number;
      readonly read: boolean;
      readonly write: boolean;
      /** MAP_SHARED; MAP_SHARED|MAP_ANONYMOUS is backed by a fresh shmem file (shmem_zero_setup()). */
      readonly shared: boolean;
      /** Backing file (inode id) and the page offset mapped at the start. */
      readonly inode?: number;
      readonly pgoff?: number;
      readonly fixed: boolean;
    }
  | { readonly type: 'MUNMAP'; readonly pid: Pid; readonly addr: number; readonly len: number }
  | { readonly type: 'MPROTECT'; readonly pid: Pid; readonly addr: number; readonly len: number; readonly read: boolean; readonly write: boolean }
  | { readonly type: 'MADVISE'; readonly pid: Pid; readonly addr: number; readonly len: number; readonly advice: Advice }
  | {
      readonly type: 'MREMAP';
      readonly pid: Pid;
      readonly addr: number;
      readonly oldLen: number;
      readonly newLen: number;
      readonly mayMove: boolean;
      /** MREMAP_FIXED destination. */
      readonly newAddr?: number;
    }
  | { readonly type: 'FORK'; readonly pid: Pid; readonly child?: Pid }
  | { readonly type: 'EXIT'; readonly pid: Pid }
  | { readonly type: 'FAULT'; readonly pid: Pid; readonly addr: number; readonly write: boolean }
  /** Write "<pid>,<addr>,<addr+1>" to debugfs split_huge_pages: split_huge_page() of the folio mapped there. */
  | { readonly type: 'SPLIT_FOLIO'; readonly pid: Pid; readonly addr: number }
  /** khugepaged collapses the PMD range holding addr. */
  | { readonly type: 'COLLAPSE'; readonly pid: Pid; readonly addr: number }
  /** Migrate the folio mapped at addr (NUMA balancing, compaction, move_pages). */
  | { readonly type: 'MIGRATE'; readonly pid: Pid; readonly addr: number }
  /** Reclaim the folio mapped at addr (shrink_folio_list by rmap walk). */
  | { readonly type: 'RECLAIM'; readonly pid: Pid; readonly addr: number }
  /** pin_user_pages() / unpin_user_page() on the folio mapped at addr (FOLL_PIN). */
  | { readonly type: 'PIN'; readonly pid: Pid; readonly addr: number }
  | { readonly type: 'UNPIN'; readonly pid: Pid; readonly addr: number };

export type MmOperationType = MmOperation['type'];

/** A readable kernel-style rendering of an operation, for counterexamples and reports. */
export function describeOperation(op: MmOperation): string {
  const hex = (n: number | undefined): string => (n === undefined ? '?' : `0x${n.toString(16)}`);
  switch (op.type) {
    case 'SPAWN':
      return `spawn pid ${op.pid}`;
    case 'CREATE_FILE':
      return `create ${op.shmem ? 'tmpfs' : 'regular'} file inode ${op.inode} (${op.pages} pages)`;
    case 'MMAP': {
      const prot = `${op.read ? 'R' : '-'}${op.write ? 'W' : '-'}`;
      const what = op.inode === undefined ? 'anon' : `inode ${op.inode} pgoff ${op.pgoff ?? 0}`;
      return `pid ${op.pid}: mmap(${op.fixed ? 'MAP_FIXED ' : ''}${hex(op.addr)}, ${hex(op.len)}, ${prot}, ${op.shared ? 'MAP_SHARED' : 'MAP_PRIVATE'}, ${what})`;
    }
    case 'MUNMAP':
      return `pid ${op.pid}: munmap(${hex(op.addr)}, ${hex(op.len)})`;
    case 'MPROTECT':
      return `pid ${op.pid}: mprotect(${hex(op.addr)}, ${hex(op.len)}, ${op.read ? 'R' : '-'}${op.write ? 'W' : '-'})`;
    case 'MADVISE':
      return `pid ${op.pid}: madvise(${hex(op.addr)}, ${hex(op.len)}, MADV_${op.advice})`;
    case 'MREMAP':
      return `pid ${op.pid}: mremap(${hex(op.addr)}, ${hex(op.oldLen)}, ${hex(op.newLen)}${op.mayMove ? ', MAYMOVE' : ''}${op.newAddr !== undefined ? `|FIXED ${hex(op.newAddr)}` : ''})`;
    case 'FORK':
      return `pid ${op.pid}: fork()${op.child !== undefined ? ` -> pid ${op.child}` : ''}`;
    case 'EXIT':
      return `pid ${op.pid}: exit()`;
    case 'FAULT':
      return `pid ${op.pid}: ${op.write ? 'write' : 'read'} fault at ${hex(op.addr)}`;
    case 'SPLIT_FOLIO':
      return `pid ${op.pid}: split_huge_page of the folio at ${hex(op.addr)}`;
    case 'COLLAPSE':
      return `pid ${op.pid}: khugepaged collapse at ${hex(op.addr)}`;
    case 'MIGRATE':
      return `pid ${op.pid}: migrate the folio at ${hex(op.addr)}`;
    case 'RECLAIM':
      return `pid ${op.pid}: reclaim the folio at ${hex(op.addr)}`;
    case 'PIN':
      return `pid ${op.pid}: pin the page at ${hex(op.addr)}`;
    case 'UNPIN':
      return `pid ${op.pid}: unpin the page at ${hex(op.addr)}`;
  }
}
