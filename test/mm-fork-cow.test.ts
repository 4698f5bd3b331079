import { describe, expect, it } from 'vitest';
import { folioAt } from '../model/machines/mm-system.ts';
import { boot } from './helpers.ts';

const MB2 = 0x200000;
const PAGE = 0x1000;

describe('fork + COW of a PMD-mapped anon THP (as seen on a real 6.1 kernel)', () => {
  it('gives kpagecount 2 after fork, 1/1/2 after the parent writes a subpage, 1 after the child exits', () => {
    const { k, run, truth } = boot();
    expect(run({ type: 'SPAWN', pid: 1 })).toBe('ok');
    expect(run({ type: 'MMAP', pid: 1, addr: MB2, len: MB2, read: true, write: true, shared: false, fixed: true })).toBe('ok');
    expect(run({ type: 'FAULT', pid: 1, addr: MB2, write: true })).toBe('ok');
    const thp = folioAt(k, 1, MB2)!.folio;
    expect(thp.order).toBe(9);
    expect(k.sys.mms.get(1)!.pmds.size).toBe(1);

    expect(run({ type: 'FORK', pid: 1, child: 2 })).toBe('ok');
    for (const page of [0, 3, 511]) expect(truth.kpagecount(thp, page)).toBe(2);
    expect(folioAt(k, 2, MB2 + 3 * PAGE)!.folio).toBe(thp);

    // the parent writes subpage 3: the PMD is split (not exclusive) and that page copied
    expect(run({ type: 'FAULT', pid: 1, addr: MB2 + 3 * PAGE, write: true })).toBe('ok');
    const copy = folioAt(k, 1, MB2 + 3 * PAGE)!.folio;
    expect(copy).not.toBe(thp);
    expect(truth.kpagecount(copy, 0)).toBe(1);
    expect(truth.kpagecount(thp, 3)).toBe(1);
    for (const page of [0, 2, 4, 511]) expect(truth.kpagecount(thp, page)).toBe(2);
    expect(k.sys.mms.get(1)!.pmds.size).toBe(0);
    expect(k.sys.mms.get(2)!.pmds.size).toBe(1);

    expect(run({ type: 'EXIT', pid: 2 })).toBe('ok');
    for (const page of [0, 2, 4, 511]) expect(truth.kpagecount(thp, page)).toBe(1);
    expect(truth.kpagecount(thp, 3)).toBe(0);
    expect(truth.kpagecount(copy, 0)).toBe(1);
  });

  it('ends invalid operations in named outcomes', () => {
    const { run } = boot();
    expect(run({ type: 'FAULT', pid: 9, addr: MB2, write: false })).toBe('ESRCH');
    run({ type: 'SPAWN', pid: 1 });
    expect(run({ type: 'FAULT', pid: 1, addr: MB2, write: false })).toBe('SIGSEGV');
    run({ type: 'MMAP', pid: 1, addr: MB2, len: MB2, read: true, write: false, shared: false, fixed: true });
    expect(run({ type: 'FAULT', pid: 1, addr: MB2, write: true })).toBe('SIGSEGV');
    expect(run({ type: 'FAULT', pid: 1, addr: MB2, write: false })).toBe('ok');
    expect(run({ type: 'SPAWN', pid: 1 })).toBe('EINVAL');
    expect(run({ type: 'MUNMAP', pid: 1, addr: MB2 + 1, len: PAGE })).toBe('EINVAL');
  });
});

describe('mprotect_fixup(): newflags == oldflags', () => {
  it('leaves a VMA that already has the protection alone (no split, no PMD split), and splits one that changes', () => {
    const { k, run } = boot();
    expect(run({ type: 'SPAWN', pid: 1 })).toBe('ok');
    expect(run({ type: 'MMAP', pid: 1, addr: MB2, len: MB2, read: true, write: true, shared: false, fixed: true })).toBe('ok');
    expect(run({ type: 'FAULT', pid: 1, addr: MB2, write: true })).toBe('ok');
    const mm = () => k.sys.mms.get(1)!;
    const vmas = (): number => mm().vmas.length;
    expect(vmas()).toBe(1);
    // the same protection over a page in the middle: mprotect_fixup() returns before __split_vma()
    expect(run({ type: 'MPROTECT', pid: 1, addr: MB2 + 4 * PAGE, len: PAGE, read: true, write: true })).toBe('ok');
    expect(vmas()).toBe(1);
    expect(mm().pmds.size).toBe(1);
    // another protection: three VMAs, the PMD split at the edges
    expect(run({ type: 'MPROTECT', pid: 1, addr: MB2 + 4 * PAGE, len: PAGE, read: true, write: false })).toBe('ok');
    expect(vmas()).toBe(3);
    expect(mm().pmds.size).toBe(0);
    // over all three with the middle one's protection: only the outer two change, and all merge into one
    expect(run({ type: 'MPROTECT', pid: 1, addr: MB2, len: MB2, read: true, write: false })).toBe('ok');
    expect(vmas()).toBe(1);
  });
});

