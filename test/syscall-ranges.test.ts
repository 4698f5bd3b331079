import { describe, expect, it } from 'vitest';
import type { Advice } from '../model/madvise.ts';
import { folioAt } from '../model/machines/mm-system.ts';
import { boot } from './helpers.ts';

/**
 * Syscalls over ranges, as the kernel walks them: mprotect() stops at the first hole (the VMAs
 * before it changed), madvise() skips holes, both then fail with ENOMEM; and madvise's rules for
 * large folios, which differ between 6.1 and 6.12.
 */

const MB2 = 0x200000;
const PAGE = 0x1000;

describe('do_mprotect_pkey(): a hole in the range', () => {
  // two VMAs [A, A+4P) and [A+8P, A+12P) with a hole between them, each with a written page
  const setup = () => {
    const b = boot();
    const A = 4 * MB2;
    expect(b.run({ type: 'SPAWN', pid: 1 })).toBe('ok');
    for (const at of [A, A + 8 * PAGE]) {
      expect(b.run({ type: 'MMAP', pid: 1, addr: at, len: 4 * PAGE, read: true, write: true, shared: false, fixed: true })).toBe('ok');
      expect(b.run({ type: 'FAULT', pid: 1, addr: at, write: true })).toBe('ok');
    }
    const vmas = () => b.k.sys.mms.get(1)!.vmas.map((id) => b.k.sys.vmas.get(id)!).map((v) => ({ start: (v.start - A) / PAGE, end: (v.end - A) / PAGE, write: v.write }));
    const pteWritable = (page: number) => {
      const pte = b.k.sys.mms.get(1)!.ptes.get((A + page * PAGE) / PAGE)!;
      return pte.kind === 'present' && pte.writable;
    };
    return { ...b, A, vmas, pteWritable };
  };

  it('changes the VMAs before the hole, then fails with ENOMEM (vma->vm_start != tmp)', () => {
    const { run, A, vmas, pteWritable } = setup();
    expect(run({ type: 'MPROTECT', pid: 1, addr: A + 2 * PAGE, len: 10 * PAGE, read: true, write: false })).toBe('ENOMEM');
    expect(vmas()).toEqual([
      { start: 0, end: 2, write: true },
      { start: 2, end: 4, write: false },
      { start: 8, end: 12, write: true },
    ]);
    expect(pteWritable(0)).toBe(true);
    expect(pteWritable(8)).toBe(true);
  });

  it('changes every VMA when the hole is at the end, then fails with ENOMEM (tmp < end)', () => {
    const { run, A, vmas, pteWritable } = setup();
    expect(run({ type: 'MPROTECT', pid: 1, addr: A + 8 * PAGE, len: 8 * PAGE, read: true, write: false })).toBe('ENOMEM');
    expect(vmas()).toEqual([
      { start: 0, end: 4, write: true },
      { start: 8, end: 12, write: false },
    ]);
    expect(pteWritable(8)).toBe(false);
  });

  it('touches nothing when the range starts in a hole (vma->vm_start > start)', () => {
    const { run, A, vmas } = setup();
    const before = vmas();
    expect(run({ type: 'MPROTECT', pid: 1, addr: A + 4 * PAGE, len: 8 * PAGE, read: true, write: false })).toBe('ENOMEM');
    expect(vmas()).toEqual(before);
  });
});

describe('madvise_walk_vmas(): holes are skipped, then ENOMEM', () => {
  // [A, A+4P) anon and [A+8P, A+12P) anon or a shared file, each page written, with a hole between
  const setup = (second: 'anon' | 'file' = 'anon') => {
    const b = boot();
    const A = 4 * MB2;
    expect(b.run({ type: 'SPAWN', pid: 1 })).toBe('ok');
    expect(b.run({ type: 'CREATE_FILE', inode: 1, pages: 4, shmem: true })).toBe('ok');
    expect(b.run({ type: 'MMAP', pid: 1, addr: A, len: 4 * PAGE, read: true, write: true, shared: false, fixed: true })).toBe('ok');
    const file = second === 'file' ? { shared: true, inode: 1, pgoff: 0 } : { shared: false };
    expect(b.run({ type: 'MMAP', pid: 1, addr: A + 8 * PAGE, len: 4 * PAGE, read: true, write: true, fixed: true, ...file })).toBe('ok');
    for (let p = 0; p < 12; p++) if (p < 4 || p >= 8) expect(b.run({ type: 'FAULT', pid: 1, addr: A + p * PAGE, write: true })).toBe('ok');
    const mapped = (page: number) => b.k.sys.mms.get(1)!.ptes.get((A + page * PAGE) / PAGE)?.kind === 'present';
    const madvise = (page: number, pages: number, advice: Advice) => b.run({ type: 'MADVISE', pid: 1, addr: A + page * PAGE, len: pages * PAGE, advice });
    return { ...b, mapped, madvise };
  };

  it('MADV_DONTNEED zaps both VMAs across the hole and fails with ENOMEM', () => {
    const { mapped, madvise } = setup();
    expect(madvise(2, 8, 'DONTNEED')).toBe('ENOMEM');
    expect([0, 1, 2, 3, 8, 9, 10, 11].map(mapped)).toEqual([true, true, false, false, false, false, true, true]);
  });

  it('MADV_PAGEOUT pages out both VMAs across a trailing hole and fails with ENOMEM', () => {
    const { mapped, madvise } = setup();
    expect(madvise(8, 8, 'PAGEOUT')).toBe('ENOMEM');
    expect([0, 8, 11].map(mapped)).toEqual([true, false, false]);
    expect(madvise(0, 4, 'PAGEOUT')).toBe('ok');
    expect(mapped(0)).toBe(false);
  });

  it('MADV_FREE ends at the first VMA that is not anonymous with EINVAL (madvise_free_single_vma())', () => {
    const { madvise } = setup('file');
    expect(madvise(0, 12, 'FREE')).toBe('EINVAL');
    expect(madvise(0, 4, 'FREE')).toBe('ok');
    expect(madvise(0, 6, 'FREE')).toBe('ENOMEM');
  });

  it('a range with no VMA at all fails with ENOMEM', () => {
    const { madvise } = setup();
    expect(madvise(4, 4, 'DONTNEED')).toBe('ENOMEM');
  });
});

describe('MADV_PAGEOUT at a large folio mapped elsewhere', () => {
  // the first half of a THP (PTE-mapped after munmap of the second half) shared with a child, then
  // four small pages of the parent's own in the second half of the same PMD
  const run = (kernel: '6.1' | '6.12') => {
    const { k, run } = boot({ kernel });
    const A = 4 * MB2;
    const HALF = MB2 / 2;
    expect(run({ type: 'SPAWN', pid: 1 })).toBe('ok');
    expect(run({ type: 'MMAP', pid: 1, addr: A, len: MB2, read: true, write: true, shared: false, fixed: true })).toBe('ok');
    expect(run({ type: 'FAULT', pid: 1, addr: A, write: true })).toBe('ok');
    expect(run({ type: 'MUNMAP', pid: 1, addr: A + HALF, len: HALF })).toBe('ok');
    expect(run({ type: 'FORK', pid: 1, child: 2 })).toBe('ok');
    expect(run({ type: 'MMAP', pid: 1, addr: A + HALF, len: 4 * PAGE, read: true, write: true, shared: false, fixed: true })).toBe('ok');
    for (let p = 0; p < 4; p++) expect(run({ type: 'FAULT', pid: 1, addr: A + HALF + p * PAGE, write: true })).toBe('ok');
    expect(folioAt(k, 1, A)!.folio.order).toBeGreaterThan(0);
    expect(run({ type: 'MADVISE', pid: 1, addr: A, len: HALF + 4 * PAGE, advice: 'PAGEOUT' })).toBe('ok');
    const present = (addr: number) => k.sys.mms.get(1)!.ptes.get(addr / PAGE)?.kind === 'present';
    return { thpKept: present(A), smallKept: [0, 1, 2, 3].map((p) => present(A + HALF + p * PAGE)) };
  };

  it('6.1 ends the walk of the PMD there: the small pages after it stay (break)', () => {
    expect(run('6.1')).toEqual({ thpKept: true, smallKept: [true, true, true, true] });
  });

  it('6.12 skips the folio and pages out the small pages after it (continue)', () => {
    expect(run('6.12')).toEqual({ thpKept: true, smallKept: [false, false, false, false] });
  });
});

describe('MADV_COLD on a THP its process maps whole by PTEs', () => {
  // a PMD THP, its PMD split by mprotect of half the VMA, the VMA merged back by mprotect again:
  // one VMA, 512 PTEs mapping the folio's pages in order
  const run = (kernel: '6.1' | '6.12') => {
    const { k, run } = boot({ kernel });
    const A = 4 * MB2;
    expect(run({ type: 'SPAWN', pid: 1 })).toBe('ok');
    expect(run({ type: 'MMAP', pid: 1, addr: A, len: MB2, read: true, write: true, shared: false, fixed: true })).toBe('ok');
    expect(run({ type: 'FAULT', pid: 1, addr: A, write: true })).toBe('ok');
    expect(run({ type: 'MPROTECT', pid: 1, addr: A, len: MB2 / 2, read: true, write: false })).toBe('ok');
    expect(run({ type: 'MPROTECT', pid: 1, addr: A, len: MB2 / 2, read: true, write: true })).toBe('ok');
    const mm = k.sys.mms.get(1)!;
    expect(mm.vmas.length).toBe(1);
    expect(mm.pmds.size).toBe(0);
    expect(run({ type: 'MADVISE', pid: 1, addr: A, len: MB2, advice: 'COLD' })).toBe('ok');
    return [folioAt(k, 1, A)!.folio.order, folioAt(k, 1, A + MB2 - PAGE)!.folio.order];
  };

  it('6.1 splits it (page_mapcount() == 1: PageTransCompound is split)', () => {
    expect(run('6.1')).toEqual([0, 0]);
  });

  it('6.12 leaves it whole (the PTE batch covers the folio: no split)', () => {
    expect(run('6.12')).toEqual([9, 9]);
  });
});
