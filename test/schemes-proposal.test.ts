import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TINY, pmdPages } from '../model/geometry.ts';
import { allocFolio, createInode, createProcess, createSystem } from '../model/mm.ts';
import { clearPmd, clearPte, getPmd, getPte, setPmd, setPte } from '../model/page-table.ts';
import { anon_vma_clone, i_mmap_insert, i_mmap_remove, unlink_anon_vmas } from '../model/rmap.ts';
import { findVma, insertVma, removeVmaFromMm } from '../model/vma.ts';
import { testVma } from './helpers.ts';
import { Proposal, ProposalVmaHooks } from '../model/schemes/proposal.ts';
import { Truth, vmasMapping } from '../model/schemes/truth.ts';
import type { MapcountScheme, RmapCall, VmaChange } from '../model/schemes/scheme.ts';
import type { Folio, Mm, MmSystem, Vma } from '../model/types.ts';

// ---------------------------------------------------------------------------------------------
// A small emulated MM driven in kernel order: the add hook runs before the entry is set, the
// remove hook after it was cleared; VMA changes are reported once the page tables are final.
// ---------------------------------------------------------------------------------------------

const PS = TINY.pageSize;
const NR = pmdPages(TINY); // 4 pages per "THP"
const BASE = 0x400000; // PMD aligned

interface Env {
  readonly sys: MmSystem;
  readonly schemes: MapcountScheme[];
}

const newSystem = (): MmSystem => createSystem({ geometry: TINY, kernel: '6.12', thp: 'always', shmemThp: false });

const rmapAll = (env: Env, call: RmapCall): void => env.schemes.forEach((s) => s.rmap(call));
const vmaAll = (env: Env, change: VmaChange): void => env.schemes.forEach((s) => s.vmaChanged(change));

function newVma(sys: MmSystem, mm: Mm, start: number, pages: number, inode: number | null, pgoff: number): Vma {
  return testVma(sys, mm, { start, end: start + pages * PS, inode, pgoff, shared: false, link: true });
}

function mapPte(env: Env, mm: Mm, vma: Vma, addr: number, folio: Folio, page: number, newAnon = false): void {
  rmapAll(env, { op: 'add', level: 'pte', folio, page, nr: 1, vma, newAnon, exclusive: newAnon });
  setPte(env.sys, mm, addr, { kind: 'present', folio: folio.id, page, writable: true });
}

function dupPte(env: Env, mm: Mm, vma: Vma, addr: number, folio: Folio, page: number): void {
  rmapAll(env, { op: 'dup', level: 'pte', folio, page, nr: 1, vma });
  setPte(env.sys, mm, addr, { kind: 'present', folio: folio.id, page, writable: false });
}

function mapPmd(env: Env, mm: Mm, vma: Vma, addr: number, folio: Folio, newAnon = false): void {
  rmapAll(env, { op: 'add', level: 'pmd', folio, page: 0, nr: NR, vma, newAnon, exclusive: newAnon });
  setPmd(env.sys, mm, addr, { folio: folio.id, writable: true });
}

function unmapPte(env: Env, mm: Mm, vma: Vma, addr: number): void {
  const pte = clearPte(env.sys, mm, addr);
  if (pte?.kind !== 'present') throw new Error('no present pte');
  rmapAll(env, { op: 'remove', level: 'pte', folio: env.sys.folios.get(pte.folio)!, page: pte.page, nr: 1, vma });
}

function unmapPmd(env: Env, mm: Mm, vma: Vma, addr: number): void {
  const pmd = clearPmd(env.sys, mm, addr);
  if (!pmd) throw new Error('no pmd');
  rmapAll(env, { op: 'remove', level: 'pmd', folio: env.sys.folios.get(pmd.folio)!, page: 0, nr: NR, vma });
}

/** __split_huge_pmd(): the PMD becomes NR PTEs of the same VMA. */
function splitPmd(env: Env, mm: Mm, vma: Vma, addr: number): void {
  const haddr = addr - (addr % (NR * PS));
  const pmd = getPmd(env.sys, mm, haddr)!;
  const folio = env.sys.folios.get(pmd.folio)!;
  rmapAll(env, { op: 'split-pmd', level: 'pmd', folio, page: 0, nr: NR, vma });
  clearPmd(env.sys, mm, haddr);
  for (let i = 0; i < NR; i++) setPte(env.sys, mm, haddr + i * PS, { kind: 'present', folio: folio.id, page: i, writable: true });
}

/** __split_vma() at addr (mprotect, partial munmap): no rmap call; the PMD is split first if it straddles. */
function splitVma(env: Env, mm: Mm, vma: Vma, addr: number): Vma {
  if (addr % (NR * PS) !== 0 && getPmd(env.sys, mm, addr)) splitPmd(env, mm, vma, addr); // vma_adjust_trans_huge()
  const { sys } = env;
  const created: Vma = { ...vma, id: sys.next.vma++, start: addr, pgoff: vma.pgoff + (addr - vma.start) / PS, avc: [] };
  vma.end = addr;
  insertVma(sys, mm, created);
  if (vma.inode === null) anon_vma_clone(sys, created, vma);
  else i_mmap_insert(sys, created);
  vmaAll(env, { kind: 'split', original: vma, created });
  return created;
}

/** vma_merge(): `next` (right after `prev`, same backing, contiguous pgoff) is absorbed by `prev`. */
function mergeVmas(env: Env, mm: Mm, prev: Vma, next: Vma): void {
  prev.end = next.end;
  if (next.inode === null) unlink_anon_vmas(env.sys, next);
  else i_mmap_remove(env.sys, next);
  removeVmaFromMm(env.sys, mm, next);
  vmaAll(env, { kind: 'merge', survivor: prev, removed: next });
}

const mergeable = (a: Vma, b: Vma): boolean =>
  a.end === b.start && a.inode === b.inode && a.anonVma === b.anonVma && b.pgoff === a.pgoff + (a.end - a.start) / PS;

/** An anon THP (order 2) in a 2-PMD anon VMA of a new process, mapped by one PMD. */
function anonThpWorld(schemes: (sys: MmSystem) => MapcountScheme[]) {
  const sys = newSystem();
  const env: Env = { sys, schemes: schemes(sys) };
  const mm = createProcess(sys, null);
  const vma = newVma(sys, mm, BASE, 2 * NR, null, BASE / PS);
  const folio = allocFolio(sys, 'anon', TINY.pmdOrder);
  folio.anonVma = vma.anonVma;
  folio.index = vma.pgoff;
  mapPmd(env, mm, vma, BASE, folio, true);
  return { sys, env, mm, vma, folio };
}

describe('proposal: the rmap hooks', () => {
  it('counts VMAs, not entries: many PTEs of one VMA are One', () => {
    const sys = newSystem();
    const p = new Proposal(sys);
    const env: Env = { sys, schemes: [p] };
    const mm = createProcess(sys, null);
    const vma = newVma(sys, mm, BASE, NR, null, BASE / PS);
    const folio = allocFolio(sys, 'anon', TINY.pmdOrder);
    folio.anonVma = vma.anonVma;
    folio.index = vma.pgoff;
    for (let i = 0; i < NR; i++) mapPte(env, mm, vma, BASE + i * PS, folio, i, i === 0);
    expect(p.stateOf(folio)).toBe('one');
    expect(p.folioMapcount(folio)).toBe(1);
    expect(p.mappingRefs(folio)).toBe(1);
    expect(p.costs.ptesScanned).toBeGreaterThan(0);
    // unmapping one PTE of several keeps One (the VMA maps another page)
    unmapPte(env, mm, vma, BASE + 2 * PS);
    expect(p.stateOf(folio)).toBe('one');
    for (const i of [0, 1, 3]) unmapPte(env, mm, vma, BASE + i * PS);
    expect(p.stateOf(folio)).toBe('zero');
    expect(p.folioMapped(folio)).toBe(false);
    expect(p.mappingRefs(folio)).toBe(0);
  });

  it('fork (dup) into two children reaches Many; Many is sticky until an rmap walk resets it', () => {
    const sys = newSystem();
    const p = new Proposal(sys);
    const truth = new Truth(sys);
    const env: Env = { sys, schemes: [p, truth] };
    const parent = createProcess(sys, null);
    const pv = newVma(sys, parent, BASE, NR, null, BASE / PS);
    const folio = allocFolio(sys, 'anon', 0);
    folio.anonVma = pv.anonVma;
    folio.index = pv.pgoff;
    mapPte(env, parent, pv, BASE, folio, 0, true);
    const children = [1, 2].map(() => {
      const mm = createProcess(sys, parent.pid);
      const v: Vma = { ...pv, id: sys.next.vma++, mm: mm.pid, avc: [] };
      insertVma(sys, mm, v);
      anon_vma_clone(sys, v, pv);
      dupPte(env, mm, v, BASE, folio, 0);
      return { mm, v };
    });
    expect(p.stateOf(folio)).toBe('many');
    expect(p.folioMapcount(folio)).toBe(3);
    expect(p.mappingRefs(folio)).toBe(3);
    for (const c of children) unmapPte(env, c.mm, c.v, BASE);
    expect(truth.folioMapcount(folio)).toBe(1);
    expect(p.stateOf(folio)).toBe('many'); // sticky
    const walks = p.costs.rmapWalks;
    expect(p.resolve(folio)).toBe(1);
    expect(p.costs.rmapWalks).toBe(walks + 1);
    expect(p.costs.vmasVisited).toBeGreaterThanOrEqual(1);
    expect(p.stateOf(folio)).toBe('one');
    expect(p.mappingRefs(folio)).toBe(1);
    expect(p.snapshotOf(folio).context).toMatchObject({ gets: 3, puts: 2, walks: 1 });
  });

  it('has no per-page count: pageMapcount and kpagecount answer the folio value', () => {
    const { env, folio } = anonThpWorld((sys) => [new Proposal(sys)]);
    const p = env.schemes[0] as Proposal;
    for (let i = 0; i < NR; i++) {
      expect(p.pageMapcount(folio, i)).toBe(1);
      expect(p.kpagecount(folio, i)).toBe(1);
    }
  });

  it('split-pmd changes nothing: the same VMA keeps mapping the folio', () => {
    const { env, mm, vma, folio } = anonThpWorld((sys) => [new Proposal(sys)]);
    const p = env.schemes[0] as Proposal;
    const atomics = p.costs.atomics;
    splitPmd(env, mm, vma, BASE);
    expect(p.stateOf(folio)).toBe('one');
    expect(p.costs.atomics).toBe(atomics);
  });

  it('HAZARD (proposal as written): mprotect splits the VMA, unmapping the upper half reaches Zero while the lower VMA still maps the folio', () => {
    const { sys, env, mm, vma, folio } = anonThpWorld((s) => [new Proposal(s), new Truth(s)]);
    const [p, truth] = env.schemes as [Proposal, Truth];
    expect(p.stateOf(folio)).toBe('one');
    // mprotect(BASE + 2 pages): the PMD is split first ('split-pmd'), then the VMA (no rmap call)
    const upper = splitVma(env, mm, vma, BASE + 2 * PS);
    expect(vmasMapping(sys, folio).length).toBe(2);
    expect(p.stateOf(folio)).toBe('one'); // two VMAs map it, the count says one
    unmapPte(env, mm, upper, BASE + 2 * PS);
    unmapPte(env, mm, upper, BASE + 3 * PS);
    expect(p.stateOf(folio)).toBe('zero');
    expect(p.folioMapped(folio)).toBe(false);
    expect(truth.folioMapped(folio)).toBe(true); // the lower VMA still maps pages 0 and 1
    expect(vmasMapping(sys, folio).map((v) => v.id)).toEqual([vma.id]);
    // only an rmap walk repairs it
    expect(p.resolve(folio)).toBe(1);
    expect(p.stateOf(folio)).toBe('one');
  });

  it('the same sequence stays exact with proposal+vma-hooks', () => {
    const { sys, env, mm, vma, folio } = anonThpWorld((s) => [new ProposalVmaHooks(s), new Truth(s)]);
    const [h] = env.schemes as [ProposalVmaHooks];
    const upper = splitVma(env, mm, vma, BASE + 2 * PS);
    expect(h.stateOf(folio)).toBe('two');
    expect(h.mappingRefs(folio)).toBe(2);
    unmapPte(env, mm, upper, BASE + 2 * PS);
    expect(h.stateOf(folio)).toBe('two');
    unmapPte(env, mm, upper, BASE + 3 * PS);
    expect(h.stateOf(folio)).toBe('one');
    expect(h.folioMapped(folio)).toBe(true);
    expect(vmasMapping(sys, folio).length).toBe(1);
  });
});

describe('proposal+vma-hooks: VMA split, merge and mremap', () => {
  it('a split whose parts do not both map the folio changes nothing; a merge of two mapping parts is one VMA fewer', () => {
    const { env, mm, vma, folio } = anonThpWorld((s) => [new ProposalVmaHooks(s)]);
    const [h] = env.schemes as [ProposalVmaHooks];
    // split at the PMD boundary: the folio is entirely in the lower part
    const upper = splitVma(env, mm, vma, BASE + NR * PS);
    expect(h.stateOf(folio)).toBe('one');
    mergeVmas(env, mm, vma, upper);
    expect(h.stateOf(folio)).toBe('one');
    // split through the folio, then merge back
    const mid = splitVma(env, mm, vma, BASE + PS);
    expect(h.stateOf(folio)).toBe('two');
    mergeVmas(env, mm, vma, mid);
    expect(h.stateOf(folio)).toBe('one');
    expect(h.mappingRefs(folio)).toBe(1);
  });

  it('a merge in Many is sticky', () => {
    const { env, mm, vma, folio } = anonThpWorld((s) => [new ProposalVmaHooks(s)]);
    const [h] = env.schemes as [ProposalVmaHooks];
    const b = splitVma(env, mm, vma, BASE + PS);
    const c = splitVma(env, mm, b, BASE + 2 * PS);
    expect(h.stateOf(folio)).toBe('many');
    mergeVmas(env, mm, b, c);
    mergeVmas(env, mm, vma, b);
    expect(h.stateOf(folio)).toBe('many');
    expect(h.resolve(folio)).toBe(1);
    expect(h.stateOf(folio)).toBe('one');
  });

  it('mremap to a new VMA moves the mapping; mremap that expands an adjacent mapping VMA is one VMA fewer', () => {
    const sys = newSystem();
    const h = new ProposalVmaHooks(sys);
    const truth = new Truth(sys);
    const env: Env = { sys, schemes: [h, truth] };
    const mm = createProcess(sys, null);
    const a = newVma(sys, mm, BASE, 2, null, BASE / PS);
    const folio = allocFolio(sys, 'anon', TINY.pmdOrder);
    folio.anonVma = a.anonVma;
    folio.index = a.pgoff;
    mapPte(env, mm, a, BASE, folio, 0, true);
    mapPte(env, mm, a, BASE + PS, folio, 1);
    // b maps pages 2..3 of the folio elsewhere (as after an earlier mremap)
    const far = BASE + 16 * NR * PS;
    const b: Vma = { ...a, id: sys.next.vma++, start: far, end: far + 2 * PS, pgoff: a.pgoff + 2, avc: [] };
    insertVma(sys, mm, b);
    anon_vma_clone(sys, b, a);
    mapPte(env, mm, b, far, folio, 2);
    mapPte(env, mm, b, far + PS, folio, 3);
    expect(h.stateOf(folio)).toBe('two');

    // 1. move b to a fresh VMA c at another place: the mapping moves, the count stays
    const far2 = far + 8 * NR * PS;
    const c: Vma = { ...b, id: sys.next.vma++, start: far2, end: far2 + 2 * PS, avc: [] };
    insertVma(sys, mm, c);
    anon_vma_clone(sys, c, b);
    const move = (from: Vma, to: Vma, toAddr: number): void => {
      for (let i = 0; i < 2; i++) {
        const pte = clearPte(sys, mm, from.start + i * PS)!;
        setPte(sys, mm, toAddr + i * PS, pte);
      }
      vmaAll(env, { kind: 'move', from, to });
      unlink_anon_vmas(sys, from);
      removeVmaFromMm(sys, mm, from); // unmapped without zapping: nothing left to zap
    };
    move(b, c, far2);
    expect(h.stateOf(folio)).toBe('two');
    expect(vmasMapping(sys, folio).length).toBe(2);

    // 2. move c right after a: vma_merge expands a, which already maps the folio
    a.end = BASE + 4 * PS;
    move(c, a, BASE + 2 * PS);
    expect(vmasMapping(sys, folio).length).toBe(1);
    expect(h.stateOf(folio)).toBe('one');
    expect(truth.folioMapcount(folio)).toBe(4);
  });

  it('clone() copies the counts; the copy evolves independently', () => {
    const { sys, env, mm, vma, folio } = anonThpWorld((s) => [new ProposalVmaHooks(s)]);
    const [h] = env.schemes as [ProposalVmaHooks];
    splitVma(env, mm, vma, BASE + PS);
    const copy = h.clone(structuredClone(sys));
    expect(copy.stateOf(folio)).toBe('two');
    expect(copy.costs).toEqual(h.costs);
    copy.resolve(folio);
    expect(h.stateOf(folio)).toBe('two');
    expect(copy.snapshotOf(folio).context.walks).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random valid rmap calls and VMA splits/merges on a file THP mapped by 3 processes.
// Commands follow fast-check's model-based shape (check / run / toString).
// ---------------------------------------------------------------------------------------------

const PAGES = 2 * NR; // each process maps file pages [0, 8) at BASE
const PROCS = 3;

interface Model {
  readonly sys: MmSystem;
  readonly env: Env;
  readonly procs: Mm[];
  /** F: order-2 file folio at index 0; G: order-0 file folio at index NR. */
  readonly folios: Folio[];
  readonly hooks: ProposalVmaHooks;
  readonly hooksFast: ProposalVmaHooks;
  readonly plain: Proposal;
  /** Per folio: truth reached >= 3 VMAs (or a walk said so) since the last walk. */
  readonly manyAllowed: Map<number, boolean>;
}

function newModel(): Model {
  const sys = newSystem();
  const hooks = new ProposalVmaHooks(sys);
  const hooksFast = new ProposalVmaHooks(sys, { engine: 'fast' });
  const plain = new Proposal(sys, { engine: 'fast' });
  const env: Env = { sys, schemes: [hooks, hooksFast, plain] };
  const inode = createInode(sys, PAGES, false);
  const thp = allocFolio(sys, 'file', TINY.pmdOrder);
  const small = allocFolio(sys, 'file', 0);
  for (const [f, index] of [[thp, 0], [small, NR]] as const) {
    f.inode = inode.id;
    f.index = index;
    f.inPageCache = true;
    for (let i = 0; i < 1 << f.order; i++) inode.cache.set(index + i, f.id);
  }
  const procs: Mm[] = [];
  for (let i = 0; i < PROCS; i++) {
    const mm = createProcess(sys, null);
    newVma(sys, mm, BASE, PAGES, inode.id, 0);
    procs.push(mm);
  }
  return { sys, env, procs, folios: [thp, small], hooks, hooksFast, plain, manyAllowed: new Map() };
}

/** The folio and page at file page `page`, or null. */
const pageAt = (m: Model, page: number): [Folio, number] | null =>
  page < NR ? [m.folios[0], page] : page === NR ? [m.folios[1], 0] : null;

/** What the random runs reached, so the property cannot pass vacuously. */
const reached = new Set<string>();

function checkInvariants(m: Model): void {
  for (const folio of m.folios) {
    const truthVmas = vmasMapping(m.sys, folio).length;
    reached.add(`${m.hooks.stateOf(folio)}`);
    reached.add(`plain:${m.plain.stateOf(folio)}/truth:${Math.min(truthVmas, 3)}`);
    if (truthVmas >= 3) m.manyAllowed.set(folio.id, true);
    const state = m.hooks.stateOf(folio);
    const value = m.hooks.folioMapcount(folio);
    if (state === 'many') expect(m.manyAllowed.get(folio.id), `${folio.id} Many without >= 3 VMAs since the last walk`).toBe(true);
    else expect(value, `folio ${folio.id}: state ${state}, truth ${truthVmas} VMAs`).toBe(truthVmas);
    expect(value).toBeGreaterThanOrEqual(Math.min(truthVmas, 3));
    expect(m.hooks.mappingRefs(folio)).toBe(Math.min(value, 3));
    expect(m.hooks.folioMapped(folio)).toBe(state !== 'zero');
    // the fast engine behaves identically
    expect(m.hooksFast.snapshotOf(folio)).toEqual(m.hooks.snapshotOf(folio));
    // the plain proposal never holds more than 3 references either
    expect(m.plain.mappingRefs(folio)).toBeLessThanOrEqual(3);
  }
}

type Cmd = fc.Command<Model, Model>;

abstract class MmCommand implements Cmd {
  abstract check(m: Readonly<Model>): boolean;
  abstract apply(m: Model): void;
  run(m: Model): void {
    this.apply(m);
    reached.add(this.constructor.name);
    checkInvariants(m);
  }
  abstract toString(): string;
}

class MapPte extends MmCommand {
  constructor(readonly p: number, readonly page: number) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    const mm = m.procs[this.p];
    const addr = BASE + this.page * PS;
    return pageAt(m as Model, this.page) !== null && !getPte(m.sys, mm, addr) && !getPmd(m.sys, mm, addr) && !!findVma(m.sys, mm, addr);
  }
  apply(m: Model): void {
    const mm = m.procs[this.p];
    const addr = BASE + this.page * PS;
    const [folio, page] = pageAt(m, this.page)!;
    mapPte(m.env, mm, findVma(m.sys, mm, addr)!, addr, folio, page);
  }
  toString(): string {
    return `fault(pid ${this.p + 1}, pte page ${this.page})`;
  }
}

class UnmapPte extends MmCommand {
  constructor(readonly p: number, readonly page: number) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return getPte(m.sys, m.procs[this.p], BASE + this.page * PS)?.kind === 'present';
  }
  apply(m: Model): void {
    const mm = m.procs[this.p];
    const addr = BASE + this.page * PS;
    unmapPte(m.env, mm, findVma(m.sys, mm, addr)!, addr);
  }
  toString(): string {
    return `zap_pte(pid ${this.p + 1}, page ${this.page})`;
  }
}

class MapPmd extends MmCommand {
  constructor(readonly p: number) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    const mm = m.procs[this.p];
    const vma = findVma(m.sys, mm, BASE);
    if (!vma || vma.end < BASE + NR * PS || getPmd(m.sys, mm, BASE)) return false;
    for (let i = 0; i < NR; i++) if (getPte(m.sys, mm, BASE + i * PS)) return false;
    return true;
  }
  apply(m: Model): void {
    const mm = m.procs[this.p];
    mapPmd(m.env, mm, findVma(m.sys, mm, BASE)!, BASE, m.folios[0]);
  }
  toString(): string {
    return `fault(pid ${this.p + 1}, pmd)`;
  }
}

class UnmapPmd extends MmCommand {
  constructor(readonly p: number) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return !!getPmd(m.sys, m.procs[this.p], BASE);
  }
  apply(m: Model): void {
    const mm = m.procs[this.p];
    unmapPmd(m.env, mm, findVma(m.sys, mm, BASE)!, BASE);
  }
  toString(): string {
    return `zap_pmd(pid ${this.p + 1})`;
  }
}

class SplitPmd extends MmCommand {
  constructor(readonly p: number) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    return !!getPmd(m.sys, m.procs[this.p], BASE);
  }
  apply(m: Model): void {
    const mm = m.procs[this.p];
    splitPmd(m.env, mm, findVma(m.sys, mm, BASE)!, BASE);
  }
  toString(): string {
    return `split_huge_pmd(pid ${this.p + 1})`;
  }
}

class SplitVma extends MmCommand {
  constructor(readonly p: number, readonly page: number) {
    super();
  }
  check(m: Readonly<Model>): boolean {
    const addr = BASE + this.page * PS;
    const vma = findVma(m.sys, m.procs[this.p], addr);
    return !!vma && vma.start < addr;
  }
  apply(m: Model): void {
    const mm = m.procs[this.p];
    const addr = BASE + this.page * PS;
    splitVma(m.env, mm, findVma(m.sys, mm, addr)!, addr);
  }
  toString(): string {
    return `mprotect_split(pid ${this.p + 1}, at page ${this.page})`;
  }
}

class MergeVma extends MmCommand {
  constructor(readonly p: number, readonly page: number) {
    super();
  }
  private pair(m: Readonly<Model>): [Vma, Vma] | null {
    const mm = m.procs[this.p];
    const next = findVma(m.sys, mm, BASE + this.page * PS);
    const prev = next && findVma(m.sys, mm, next.start - PS);
    return prev && next && mergeable(prev, next) ? [prev, next] : null;
  }
  check(m: Readonly<Model>): boolean {
    return this.pair(m) !== null;
  }
  apply(m: Model): void {
    const [prev, next] = this.pair(m)!;
    mergeVmas(m.env, m.procs[this.p], prev, next);
  }
  toString(): string {
    return `vma_merge(pid ${this.p + 1}, at page ${this.page})`;
  }
}

class Walk extends MmCommand {
  constructor(readonly f: number) {
    super();
  }
  check(): boolean {
    return true;
  }
  apply(m: Model): void {
    const folio = m.folios[this.f];
    const found = m.hooks.resolve(folio);
    expect(m.hooksFast.resolve(folio)).toBe(found);
    m.plain.resolve(folio);
    m.manyAllowed.set(folio.id, found >= 3);
  }
  toString(): string {
    return `rmap_walk(folio ${this.f})`;
  }
}

const proc = fc.integer({ min: 0, max: PROCS - 1 });
const page = fc.integer({ min: 0, max: PAGES - 1 });
const commands: fc.Arbitrary<Cmd>[] = [
  fc.tuple(proc, page).map(([p, pg]) => new MapPte(p, pg)),
  fc.tuple(proc, page).map(([p, pg]) => new MapPte(p, pg)),
  fc.tuple(proc, page).map(([p, pg]) => new UnmapPte(p, pg)),
  proc.map((p) => new MapPmd(p)),
  proc.map((p) => new UnmapPmd(p)),
  proc.map((p) => new SplitPmd(p)),
  fc.tuple(proc, fc.integer({ min: 1, max: PAGES - 1 })).map(([p, pg]) => new SplitVma(p, pg)),
  fc.tuple(proc, fc.integer({ min: 1, max: PAGES - 1 })).map(([p, pg]) => new MergeVma(p, pg)),
  fc.integer({ min: 0, max: 1 }).map((f) => new Walk(f)),
];

describe('proposal+vma-hooks property', () => {
  it('Zero/One/Two equal the number of VMAs mapping the folio; Many only after >= 3; refs == min(count, 3)', () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 80, size: 'large' }), (cmds) => {
        fc.modelRun(() => {
          const m = newModel();
          return { model: m, real: m };
        }, cmds);
      }),
      { numRuns: 300 },
    );
    for (const r of ['zero', 'one', 'two', 'many', 'SplitVma', 'MergeVma', 'SplitPmd', 'MapPmd', 'Walk']) expect(reached).toContain(r);
    // the proposal as written drifts below the truth (the split hazard) somewhere in these runs
    expect([...reached].some((r) => /^plain:zero\/truth:[123]$/.test(r) || /^plain:one\/truth:[23]$/.test(r))).toBe(true);
  });
});
