import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_EXPLORED_OPS, defaultScope, operationArbitrary } from '../checker/scope.ts';
import { TINY, pmdSize } from '../model/geometry.ts';
import type { Kernel } from '../model/kernel.ts';
import { folioAt } from '../model/machines/mm-system.ts';
import { describeOperation, type MmOperation } from '../model/operations.ts';
import {
  READER_NAMES,
  SHARED_EXCLUSIVE_READERS,
  attachReaders,
  formatCostSummary,
  formatReaderTable,
  observeReaders,
  smapsRollup,
  type ReaderLog,
  type ReaderName,
  type ReaderRow,
  type ReaderTable,
} from '../model/readers.ts';
import { Large612 } from '../model/schemes/large-6.12.ts';
import { Legacy61 } from '../model/schemes/legacy-6.1.ts';
import { Owners615 } from '../model/schemes/owners-6.15.ts';
import { Proposal, ProposalVmaHooks } from '../model/schemes/proposal.ts';
import type { MapcountScheme, SchemeName } from '../model/schemes/scheme.ts';
import type { Folio, KernelGeneration, MmSystem } from '../model/types.ts';
import { boot } from './helpers.ts';

const PS = TINY.pageSize;
const THP = pmdSize(TINY); // 4 pages
const A = 4 * THP; // PMD aligned

const allSchemes = (sys: MmSystem): MapcountScheme[] => [new Legacy61(sys), new Large612(sys), new Owners615(sys), new Proposal(sys), new ProposalVmaHooks(sys)];

/** A TINY-geometry kernel with every scheme and a reader log; `run` fails the test on an unexpected outcome. */
function bootReaders(kernel: KernelGeneration = '6.12') {
  const b = boot({ geometry: TINY, kernel, schemes: allSchemes });
  const log = attachReaders(b.k);
  const run = (op: MmOperation, want = 'ok'): void => {
    const outcome = b.run(op);
    if (outcome !== want) throw new Error(`${describeOperation(op)}: ${outcome}, expected ${want}`);
  };
  const scheme = <T extends MapcountScheme>(name: SchemeName): T => b.k.schemes.find((s) => s.name === name) as T;
  return { ...b, log, run, scheme };
}

const row = (t: ReaderTable, scheme: SchemeName, reader: ReaderName): ReaderRow | undefined => t.rows.find((r) => r.scheme === scheme && r.reader === reader);
const counts = (r: ReaderRow | undefined): [number, number, number] => (r ? [r.exact, r.conservative, r.wrong] : [0, 0, 0]);

const anonThp = (len = THP): MmOperation => ({ type: 'MMAP', pid: 1, addr: A, len, read: true, write: true, shared: false, fixed: true });

/**
 * Hazard (a)'s state: a PMD THP, fork, mprotect splits the parent's VMA, munmap of the split-off
 * half; the proposal says One while the child maps the folio by its PMD. Returns the folio.
 */
function proposalOneWhileChildMaps({ k, run, scheme }: ReturnType<typeof bootReaders>): Folio {
  run({ type: 'SPAWN', pid: 1 });
  run(anonThp());
  run({ type: 'FAULT', pid: 1, addr: A, write: true });
  const thp = folioAt(k, 1, A)!.folio;
  run({ type: 'FORK', pid: 1, child: 2 });
  run({ type: 'MPROTECT', pid: 1, addr: A + 2 * PS, len: 2 * PS, read: true, write: false });
  run({ type: 'MUNMAP', pid: 1, addr: A + 2 * PS, len: 2 * PS });
  expect(scheme<Proposal>('proposal').stateOf(thp)).toBe('one');
  return thp;
}

describe('(a) COW reuse: the proposal says One while two mms map the folio', () => {
  it('PMD THP, fork, mprotect splits the parent VMA, munmap of one half: the parent write fault would reuse a page the child maps', () => {
    const { k, log, run, scheme } = bootReaders('6.12');
    run({ type: 'SPAWN', pid: 1 });
    run(anonThp());
    run({ type: 'FAULT', pid: 1, addr: A, write: true }); // do_huge_pmd_anonymous_page: One
    const thp = folioAt(k, 1, A)!.folio;
    run({ type: 'FORK', pid: 1, child: 2 }); // copy_huge_pmd: Two
    run({ type: 'MPROTECT', pid: 1, addr: A + 2 * PS, len: 2 * PS, read: true, write: false }); // __split_vma: 3 VMAs, proposal still Two
    const proposal = scheme<Proposal>('proposal');
    const hooks = scheme<ProposalVmaHooks>('proposal+vma-hooks');
    expect(proposal.stateOf(thp)).toBe('two');
    expect(hooks.stateOf(thp)).toBe('many');
    run({ type: 'MUNMAP', pid: 1, addr: A + 2 * PS, len: 2 * PS }); // the read-only half goes: proposal One
    expect(proposal.stateOf(thp)).toBe('one');
    expect(folioAt(k, 2, A)!.folio).toBe(thp); // the child still maps it by its PMD

    run({ type: 'FAULT', pid: 1, addr: A, write: true }); // do_wp_page on page 0
    expect(folioAt(k, 1, A)!.folio).not.toBe(thp); // the kernel (exact) copied
    const t = log.table();
    for (const reader of ['cow_mapcount', 'cow_anon_exclusive'] as const) {
      expect(counts(row(t, 'proposal', reader))).toEqual([0, 0, 1]);
      expect(counts(row(t, 'proposal+vma-hooks', reader))).toEqual([1, 0, 0]);
      for (const s of ['legacy-6.1', 'large-6.12', 'owners-6.15'] as const) expect(counts(row(t, s, reader))).toEqual([1, 0, 0]);
    }
    const wrong = row(t, 'proposal', 'cow_mapcount')!.firstWrong!;
    expect(wrong).toMatchObject({ op: 6, folio: thp.id, page: 0, pid: 1, truth: 'copy (mapcount 2)', answer: 'reuse (mapcount 1 [one])' });
    expect(row(t, 'proposal', 'cow_anon_exclusive')!.firstWrong!.answer).toBe('reuse (AnonExclusive false, refcount 1 [one])');
  });

  it('the same hazard stops try_to_unmap early: a mapping is left behind', () => {
    const b = bootReaders('6.12');
    const { log, run } = b;
    proposalOneWhileChildMaps(b);
    run({ type: 'MIGRATE', pid: 2, addr: A }); // try_to_migrate(): two VMAs (parent's half, child's PMD)
    const t = log.table();
    // the first VMA unmapped takes the count to Zero: folio_mapped() false while the other VMA maps it
    expect(counts(row(t, 'proposal', 'try_to_unmap'))).toEqual([0, 0, 1]);
    expect(row(t, 'proposal', 'try_to_unmap')!.firstWrong!.answer).toMatch(/^unmapped \[zero\]: stop after 1 VMAs/);
    // with the hooks the count is Many: never stops early, walks the whole tree, then resets
    expect(counts(row(t, 'proposal+vma-hooks', 'try_to_unmap'))).toEqual([1, 1, 0]);
    for (const s of ['legacy-6.1', 'large-6.12', 'owners-6.15'] as const) expect(counts(row(t, s, 'try_to_unmap'))).toEqual([2, 0, 0]);
  });
});

describe('(b) sticky Many forces full rmap walks', () => {
  /** A small anon page shared by fork with three children, one of which then COWs it: 3 mappers, 4 candidate VMAs, count Many. */
  function fourCandidatesThreeMappers() {
    const b = bootReaders('6.12');
    b.run({ type: 'SPAWN', pid: 1 });
    b.run(anonThp(PS)); // one page: no THP
    b.run({ type: 'FAULT', pid: 1, addr: A, write: true });
    const page = folioAt(b.k, 1, A)!.folio;
    for (const child of [2, 3, 4]) b.run({ type: 'FORK', pid: 1, child });
    b.run({ type: 'FAULT', pid: 4, addr: A, write: true }); // the child gets its own copy; its VMA stays in the tree
    expect(folioAt(b.k, 4, A)!.folio).not.toBe(page);
    expect(b.scheme<Proposal>('proposal').stateOf(page)).toBe('many');
    return { ...b, page };
  }

  it('try_to_migrate with 3 mappers: exact schemes stop after the 3rd VMA, the proposal walks all 4 and then walks again to reset', () => {
    const { k, log, run } = fourCandidatesThreeMappers();
    const before = log.costSummary(k);
    run({ type: 'MIGRATE', pid: 1, addr: A });
    const t = log.table();
    const after = log.costSummary(k);
    const delta = (name: SchemeName) => {
      const b = before.find((s) => s.scheme === name)!;
      const a = after.find((s) => s.scheme === name)!;
      return { walks: a.readerWalks.walks - b.readerWalks.walks, vmas: a.readerWalks.vmasVisited - b.readerWalks.vmasVisited, forced: a.readers.rmapWalks - b.readers.rmapWalks, forcedVmas: a.readers.vmasVisited - b.readers.vmasVisited };
    };
    for (const s of ['legacy-6.1', 'large-6.12', 'owners-6.15'] as const) {
      expect(counts(row(t, s, 'try_to_unmap'))).toEqual([3, 0, 0]);
      expect(delta(s)).toEqual({ walks: 1, vmas: 3, forced: 0, forcedVmas: 0 });
    }
    for (const s of ['proposal', 'proposal+vma-hooks'] as const) {
      expect(counts(row(t, s, 'try_to_unmap'))).toEqual([2, 1, 0]);
      expect(row(t, s, 'try_to_unmap')!.firstConservative!.answer).toBe('mapped [many]: walk all 4 VMAs, reset to [zero]');
      // the walk over the whole tree, plus resolve()'s walk (4 VMAs) to reset the count
      expect(delta(s)).toEqual({ walks: 1, vmas: 4, forced: 1, forcedVmas: 4 });
    }
  });

  it('folio_referenced in Many cannot stop early: full walk, then the count resets and try_to_unmap is exact again', () => {
    const { k, log, run, page } = fourCandidatesThreeMappers();
    run({ type: 'FAULT', pid: 3, addr: A, write: true }); // 2 mappers left, still Many
    run({ type: 'RECLAIM', pid: 1, addr: A });
    expect(k.sys.folios.has(page.id)).toBe(false);
    const t = log.table();
    expect(counts(row(t, 'legacy-6.1', 'folio_referenced'))).toEqual([1, 0, 0]);
    expect(counts(row(t, 'proposal', 'folio_referenced'))).toEqual([0, 1, 0]);
    const c = row(t, 'proposal', 'folio_referenced')!.firstConservative!;
    expect(c.truth).toBe('stops after 2 of 4 VMAs (mapcount 2)');
    expect(c.answer).toBe('stops after 4 of 4 VMAs ([many] full walk, reset to [two])');
    expect(counts(row(t, 'proposal', 'try_to_unmap'))).toEqual([2, 0, 0]);
    const costs = Object.fromEntries(log.costSummary(k).map((s) => [s.scheme, s]));
    expect(costs['legacy-6.1'].readerWalks).toEqual({ walks: 2, vmasVisited: 4 });
    expect(costs['proposal'].readerWalks).toEqual({ walks: 2, vmasVisited: 6 });
    // folio_referenced's reset walked the 4 candidates once (the other forced walk was fork's pin check in Many)
    expect(row(t, 'proposal', 'folio_referenced')!.costs).toMatchObject({ rmapWalks: 1, vmasVisited: 4 });
    expect(row(t, 'legacy-6.1', 'folio_referenced')!.costs).toMatchObject({ rmapWalks: 0, vmasVisited: 0 });
    console.log(formatCostSummary(log.costSummary(k)));
  });
});

describe('(c) smaps PSS with three or more sharers', () => {
  it('4 mms map a PMD THP: the proposal divides by 3 (Many), PSS and kpagecount wrong', () => {
    const { k, log, run, scheme } = bootReaders('6.12');
    run({ type: 'SPAWN', pid: 1 });
    run(anonThp());
    run({ type: 'FAULT', pid: 1, addr: A, write: true });
    for (const child of [2, 3, 4]) run({ type: 'FORK', pid: 1, child });
    observeReaders(k);
    const t = log.table();
    expect(counts(row(t, 'proposal', 'smaps'))).toEqual([0, 0, 16]); // 4 mms x 4 pages
    expect(counts(row(t, 'proposal', 'kpagecount'))).toEqual([0, 0, 4]);
    expect(row(t, 'proposal', 'smaps')!.firstWrong).toMatchObject({ truth: 'pss/4 Shared', answer: 'pss/3 Shared [many]' });
    for (const s of ['legacy-6.1', 'large-6.12', 'owners-6.15'] as const) expect(counts(row(t, s, 'smaps'))).toEqual([16, 0, 0]);
    const truthPss = smapsRollup(k, k.schemes[0], 1).pss;
    const proposalPss = smapsRollup(k, scheme('proposal'), 1).pss;
    expect(truthPss).toBe(4096); // 16 KiB / 4
    expect(proposalPss).toBeCloseTo(16384 / 3); // 5461: a third too much
  });

  it('3 mms, one COWed a page: Many reads 3 for every page, the page mapped twice gets the wrong divisor', () => {
    const { k, log, run } = bootReaders('6.12');
    run({ type: 'SPAWN', pid: 1 });
    run(anonThp());
    run({ type: 'FAULT', pid: 1, addr: A, write: true });
    const thp = folioAt(k, 1, A)!.folio;
    for (const child of [2, 3]) run({ type: 'FORK', pid: 1, child });
    run({ type: 'FAULT', pid: 3, addr: A + PS, write: true }); // pid 3: PMD split, page 1 copied
    observeReaders(k);
    const t = log.table();
    const smaps = row(t, 'proposal', 'smaps')!;
    // pid 1 and 2 map page 1 (mapcount 2, read as 3): wrong; the other pages have 3 mappers (right by chance)
    expect(smaps.wrong).toBe(2);
    expect(smaps.firstWrong).toMatchObject({ folio: thp.id, page: 1, truth: 'pss/2 Shared', answer: 'pss/3 Shared [many]' });
    expect(counts(row(t, 'proposal', 'kpagecount'))).toEqual([1 + 3, 0, 1]); // THP: page 1 wrong; the copy exact
    expect(counts(row(t, 'large-6.12', 'smaps'))).toEqual([smaps.asked, 0, 0]);
  });
});

describe('(d) pin detection by refcount == mapcount + extra with the proposal at most 3 references', () => {
  it('4 mms map a small page: Many walks to count 4 mappings but the refcount holds 3: a pin goes undetected, no pin looks pinned', () => {
    const { k, log, run, scheme } = bootReaders('6.12');
    run({ type: 'SPAWN', pid: 1 });
    run(anonThp());
    run({ type: 'MADVISE', pid: 1, addr: A, len: THP, advice: 'NOHUGEPAGE' });
    run({ type: 'FAULT', pid: 1, addr: A, write: true }); // a small page
    run({ type: 'MADVISE', pid: 1, addr: A, len: THP, advice: 'HUGEPAGE' });
    const page = folioAt(k, 1, A)!.folio;
    expect(page.order).toBe(0);
    for (const child of [2, 3, 4]) run({ type: 'FORK', pid: 1, child });
    const proposal = scheme<Proposal>('proposal');
    expect([proposal.stateOf(page), proposal.mappingRefs(page)]).toEqual(['many', 3]);

    run({ type: 'PIN', pid: 1, addr: A });
    run({ type: 'FORK', pid: 1, child: 5 }); // fork's pin check: the child must get a copy
    expect(folioAt(k, 5, A)!.folio).not.toBe(page);
    run({ type: 'COLLAPSE', pid: 1, addr: A }, 'EBUSY'); // khugepaged: is_refcount_suitable()
    let t = log.table();
    const pin = row(t, 'proposal', 'pin_check')!;
    // fork 2, 3, 4 (at fork 4 three VMAs map it: Many, walked, 3 == 3: exact), fork 5 and the collapse
    expect(counts(pin)).toEqual([3, 0, 2]);
    expect(pin.firstWrong).toMatchObject({
      site: 'fork',
      truth: 'pinned (refcount 5, mapcount 4, extra 0, pins 1)',
      answer: 'not pinned (refcount 4 == mapcount 4 + extra 0 [many: walked, 4 VMAs])',
    });
    expect(pin.costs.rmapWalks).toBe(3); // each check in Many walked the rmap

    run({ type: 'UNPIN', pid: 1, addr: A });
    run({ type: 'COLLAPSE', pid: 1, addr: A }); // no pin: the exact kernel collapses
    t = log.table();
    expect(row(t, 'proposal', 'pin_check')!.firstConservative).toMatchObject({
      site: 'khugepaged',
      truth: 'not pinned (refcount 4, mapcount 4, extra 0, pins 0)',
      answer: 'pinned (refcount 3 != mapcount 4 + extra 0 [many: walked, 4 VMAs])',
    });
    expect(counts(row(t, 'proposal', 'pin_check'))).toEqual([3, 1, 2]);
    for (const s of ['legacy-6.1', 'large-6.12', 'owners-6.15'] as const) expect(counts(row(t, s, 'pin_check'))).toEqual([6, 0, 0]);
  });
});

describe('(e) owners-6.15: "maybe shared" after three mms, persisting when the two slot owners exit', () => {
  /** A PTE-mapped THP (4 PTEs) in pid 1, shared by fork with pid 2 (slot 1) and pid 3 (no slot). */
  function threeMms() {
    const b = bootReaders('6.12');
    b.run({ type: 'SPAWN', pid: 1 });
    b.run(anonThp());
    b.run({ type: 'FAULT', pid: 1, addr: A, write: true });
    b.run({ type: 'MPROTECT', pid: 1, addr: A + PS, len: PS, read: true, write: false }); // splits the PMD
    b.run({ type: 'MPROTECT', pid: 1, addr: A + PS, len: PS, read: true, write: true }); // one VMA again, 4 PTEs
    const thp = folioAt(b.k, 1, A)!.folio;
    expect(b.k.sys.mms.get(1)!.pmds.size).toBe(0);
    for (const child of [2, 3]) b.run({ type: 'FORK', pid: 1, child });
    const owners = b.scheme<Owners615>('owners-6.15');
    expect(owners.stateOf(thp)).toMatchObject({ mmId: [1, 2], shared: true });
    return { ...b, thp, owners };
  }

  it('after pid 1 and pid 2 exit, pid 3 alone maps the folio but every shared/exclusive reader still hears "maybe shared": conservative, never wrong', () => {
    const { k, log, run, thp, owners } = threeMms();
    run({ type: 'EXIT', pid: 1 });
    run({ type: 'EXIT', pid: 2 });
    expect(owners.stateOf(thp)).toMatchObject({ mmId: [0, 0], shared: true });
    expect(owners.maybeMappedShared(thp)).toBe(true);
    observeReaders(k);
    run({ type: 'FAULT', pid: 3, addr: A, write: true }); // COW: truth page_mapcount 1
    run({ type: 'MIGRATE', pid: 3, addr: A + PS }); // NUMA shared check
    const t = log.table();
    expect(counts(row(t, 'owners-6.15', 'pagemap_exclusive'))).toEqual([0, 4, 0]);
    expect(counts(row(t, 'owners-6.15', 'smaps'))).toEqual([0, 4, 0]); // divisor right (average 1), "Shared"
    expect(counts(row(t, 'owners-6.15', 'cow_mapcount'))).toEqual([0, 1, 0]);
    expect(counts(row(t, 'owners-6.15', 'numa_shared'))).toEqual([0, 1, 0]);
    expect(row(t, 'owners-6.15', 'numa_shared')!.firstConservative).toMatchObject({ truth: 'act (not shared) (mapcount 1)', answer: 'skip (shared) (folio_maybe_mapped_shared true)' });
    for (const s of ['legacy-6.1', 'large-6.12'] as const) for (const r of ['pagemap_exclusive', 'smaps', 'cow_mapcount', 'numa_shared'] as const) expect(row(t, s, r)!.exact).toBe(row(t, s, r)!.asked);
  });

  it('when pid 3 (no slot) and pid 2 exit instead, slot 0 owns all mappings again: exact', () => {
    const { k, log, run, thp, owners } = threeMms();
    run({ type: 'EXIT', pid: 3 });
    run({ type: 'EXIT', pid: 2 });
    expect(owners.maybeMappedShared(thp)).toBe(false);
    observeReaders(k);
    expect(counts(row(log.table(), 'owners-6.15', 'pagemap_exclusive'))).toEqual([4, 0, 0]);
  });
});

// ---------------------------------------------------------------------------------------------
// Random operation sequences
// ---------------------------------------------------------------------------------------------

/** Page tables, VMAs, folios and swap as a string: what "the model's behaviour" is. */
function fingerprint(sys: MmSystem): string {
  const mms = [...sys.mms.values()].map((mm) => [
    mm.pid,
    mm.vmas.map((id) => {
      const v = sys.vmas.get(id)!;
      return [v.start, v.end, v.read, v.write, v.shared, v.inode, v.pgoff, v.anonVma, v.hugepage];
    }),
    [...mm.ptes.entries()].sort((a, b) => a[0] - b[0]),
    [...mm.pmds.entries()].sort((a, b) => a[0] - b[0]),
  ]);
  const folios = [...sys.folios.values()].map((f) => [f.id, f.order, f.kind, f.pins, f.swapSlot, f.anonVma, f.index, f.anonExclusive.join(), f.written.join()]).sort();
  return JSON.stringify({ mms, folios, swap: [...sys.swap.entries()].sort() });
}

/** Sum of decision tables over runs. */
function mergeInto(total: Map<string, ReaderRow>, t: ReaderTable): void {
  for (const r of t.rows) {
    const key = `${r.scheme}|${r.reader}`;
    const acc = total.get(key);
    if (!acc) {
      total.set(key, structuredClone(r));
      continue;
    }
    acc.asked += r.asked;
    acc.exact += r.exact;
    acc.conservative += r.conservative;
    acc.wrong += r.wrong;
    acc.firstWrong ??= r.firstWrong;
    acc.firstConservative ??= r.firstConservative;
  }
}

const RUNS = 150;

describe.each(['6.1', '6.12'] as KernelGeneration[])('random MM operations with every reader asked (%s)', (kernel) => {
  it(`the model decides as without readers; legacy-6.1 and large-6.12 are exact on every reader; owners-6.15 is never wrong on a shared/exclusive reader (${RUNS} sequences)`, () => {
    const scope = defaultScope({ kernel, ops: ALL_EXPLORED_OPS, windowPmds: 4, lengths: [1, 2, 3, 4, 8] });
    const total = new Map<string, ReaderRow>();
    let operations = 0;
    const start = (withReaders: boolean): { k: Kernel; run: (op: MmOperation) => string; log?: ReaderLog } => {
      const b = boot({ geometry: scope.geometry, kernel, schemes: allSchemes });
      const log = withReaders ? attachReaders(b.k) : undefined;
      for (const op of scope.setup) b.run(op);
      b.run({ type: 'MMAP', pid: 1, addr: scope.windowStart + 2 * THP, len: THP, read: true, write: true, shared: true, inode: 1, pgoff: 0, fixed: true });
      return { k: b.k, run: b.run, log };
    };
    // the scope's generator, with extra faults and forks mixed in so that COW faults are common
    const cowScope = defaultScope({ kernel, ops: ['FAULT', 'FORK'], windowPmds: 4 });
    const operation = fc.oneof({ arbitrary: operationArbitrary(scope), weight: 3 }, { arbitrary: operationArbitrary(cowScope), weight: 1 });
    fc.assert(
      fc.property(fc.array(operation, { minLength: 30, maxLength: 150 }), (ops) => {
        const asked = start(true);
        const plain = start(false);
        for (const op of ops) {
          if (!('pid' in op) || !asked.k.sys.mms.has(op.pid) || (op.type === 'EXIT' && op.pid === 1)) continue;
          const a = asked.run(op);
          const b = plain.run(op);
          if (a !== b) throw new Error(`${describeOperation(op)}: ${a} with readers, ${b} without`);
          observeReaders(asked.k);
          if (fingerprint(asked.k.sys) !== fingerprint(plain.k.sys)) throw new Error(`${describeOperation(op)}: the MM differs with readers attached`);
        }
        const t = asked.log!.table();
        operations += t.operations;
        mergeInto(total, t);
        for (const r of t.rows) {
          if ((r.scheme === 'legacy-6.1' || r.scheme === 'large-6.12') && r.exact !== r.asked)
            throw new Error(`${r.scheme} ${r.reader} not exact: ${JSON.stringify(r.firstWrong ?? r.firstConservative)}`);
          if (r.scheme === 'owners-6.15' && SHARED_EXCLUSIVE_READERS.includes(r.reader) && r.wrong > 0)
            throw new Error(`owners-6.15 ${r.reader} wrong: ${JSON.stringify(r.firstWrong)}`);
        }
      }),
      // a fixed seed: the coverage assertion below must not depend on luck (a random seed once missed khugepaged)
      { numRuns: RUNS, seed: 1 },
    );
    const table: ReaderTable = { operations, rows: [...total.values()] };
    console.log(`${kernel}:\n${formatReaderTable(table)}`);
    // every reader was reached by the random sequences
    const reached = new Set(table.rows.filter((r) => r.scheme === 'legacy-6.1').map((r) => r.reader));
    for (const reader of READER_NAMES) expect(reached.has(reader), reader).toBe(true);
  });
});

describe("6.12's madvise asks folio-level questions of a large folio", () => {
  it('whole folio in PTEs, mapped by its process alone: folio_mapcount == nr_pages acts on it; the proposal (count 1) skips it, conservatively', () => {
    const { k, log, run } = bootReaders('6.12');
    run({ type: 'SPAWN', pid: 1 });
    run(anonThp());
    run({ type: 'FAULT', pid: 1, addr: A, write: true });
    // the PMD split by mprotect of half the VMA, the VMA merged back: one VMA mapping the folio by 4 PTEs
    run({ type: 'MPROTECT', pid: 1, addr: A, len: 2 * PS, read: true, write: false });
    run({ type: 'MPROTECT', pid: 1, addr: A, len: 2 * PS, read: true, write: true });
    run({ type: 'MADVISE', pid: 1, addr: A, len: THP, advice: 'COLD' });
    expect(folioAt(k, 1, A)!.folio.order).toBe(2); // not split: the batch covers the folio
    const t = log.table();
    for (const s of ['legacy-6.1', 'large-6.12', 'owners-6.15'] as const) expect(counts(row(t, s, 'madvise_mapped_elsewhere'))).toEqual([1, 0, 0]);
    for (const s of ['proposal', 'proposal+vma-hooks'] as const) {
      expect(counts(row(t, s, 'madvise_mapped_elsewhere'))).toEqual([0, 1, 0]);
      expect(row(t, s, 'madvise_mapped_elsewhere')!.firstConservative).toMatchObject({ truth: 'act (not shared) (folio_mapcount 4 of 4 pages)', answer: 'skip (shared) (folio_mapcount 1 of 4 pages [one])' });
    }
  });

  it('part of a folio another process maps by its PMD: folio_likely_mapped_shared() skips it; the proposal, One after mprotect and munmap, would page it out', () => {
    const b = bootReaders('6.12');
    const { k, log, run } = b;
    const thp = proposalOneWhileChildMaps(b);
    run({ type: 'MADVISE', pid: 1, addr: A, len: 2 * PS, advice: 'PAGEOUT' });
    expect(folioAt(k, 1, A)!.folio).toBe(thp); // skipped: not split, not paged out
    const t = log.table();
    for (const s of ['large-6.12', 'owners-6.15', 'proposal+vma-hooks'] as const) expect(counts(row(t, s, 'madvise_mapped_elsewhere'))).toEqual([1, 0, 0]);
    expect(counts(row(t, 'proposal', 'madvise_mapped_elsewhere'))).toEqual([0, 0, 1]);
    expect(row(t, 'proposal', 'madvise_mapped_elsewhere')!.firstWrong).toMatchObject({
      folio: thp.id,
      pid: 1,
      truth: 'skip (shared) (folio_likely_mapped_shared: mapcount 3, entire 1, first page 1)',
      answer: 'act (not shared) (folio_likely_mapped_shared, mapcount 1 [one])',
    });
  });
});
