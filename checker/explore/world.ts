import type { Kernel } from '../../model/kernel.ts';
import { createSystem } from '../../model/mm.ts';
import type { ProposalEngineKind } from '../../model/schemes/proposal.ts';
import { createScheme } from '../../model/schemes/registry.ts';
import type { SchemeName } from '../../model/schemes/scheme.ts';
import type { AnonVma, Folio, Inode, Mm, MmConfig, MmSystem, Pmd, Pte, SwapSlot, Vma } from '../../model/types.ts';
import type { Scope } from '../scope.ts';

/**
 * The explored world: a kernel (plain-data MM system plus the schemes observing it) built from a
 * scope, and its copies. `truth` is always the first scheme.
 */

/** The exact scheme of the scope's kernel generation. */
export const exactSchemeOf = (scope: Scope): SchemeName => (scope.kernel === '6.1' ? 'legacy-6.1' : 'large-6.12');

/** Default schemes checked by exploration: the generation's exact scheme and both proposal variants. */
export const defaultExploreSchemes = (scope: Scope): SchemeName[] => [exactSchemeOf(scope), 'proposal', 'proposal+vma-hooks'];

export function mmConfigOf(scope: Scope): MmConfig {
  return { geometry: scope.geometry, kernel: scope.kernel, thp: scope.thp ?? 'always', shmemThp: scope.shmemThp ?? true };
}

/** A fresh kernel for the scope (setup not run): truth first, then the named schemes in order. */
export function newKernel(scope: Scope, schemes: readonly SchemeName[], engine: ProposalEngineKind): Kernel {
  const sys = createSystem(mmConfigOf(scope));
  const names = ['truth' as SchemeName, ...schemes.filter((s) => s !== 'truth')];
  // the shape of cloneKernel's copies (readers included): code that sees the root and its copies
  // sees one hidden class (two made V8 throw away optimised code for every function taking a kernel)
  return { sys, schemes: names.map((n) => createScheme(n, sys, { engine })), readers: undefined };
}

/**
 * A deep copy of the plain-data MM system, written out field by field (types.ts): several times
 * faster than structuredClone, which serialises the whole graph. Equal to structuredClone(sys)
 * (test/explore-parallel.test.ts); config is immutable and shared. A field added to types.ts must
 * be added here (the test compares with structuredClone on explored states).
 */
export function cloneSystem(sys: MmSystem): MmSystem {
  const mms = new Map<number, Mm>();
  for (const [pid, mm] of sys.mms) {
    const ptes = new Map<number, Pte>();
    for (const [vpn, p] of mm.ptes)
      ptes.set(vpn, p.kind === 'present' ? { kind: 'present', folio: p.folio, page: p.page, writable: p.writable } : { kind: 'swap', slot: p.slot, exclusive: p.exclusive });
    const pmds = new Map<number, Pmd>();
    for (const [i, p] of mm.pmds) pmds.set(i, { folio: p.folio, writable: p.writable });
    mms.set(pid, { pid: mm.pid, parent: mm.parent, vmas: mm.vmas.slice(), ptes, pmds });
  }
  const vmas = new Map<number, Vma>();
  for (const [id, v] of sys.vmas)
    vmas.set(id, { id: v.id, mm: v.mm, start: v.start, end: v.end, read: v.read, write: v.write, shared: v.shared, inode: v.inode, pgoff: v.pgoff, anonVma: v.anonVma, avc: v.avc.slice(), hugepage: v.hugepage });
  const folios = new Map<number, Folio>();
  for (const [id, f] of sys.folios)
    folios.set(id, {
      id: f.id,
      order: f.order,
      kind: f.kind,
      inode: f.inode,
      index: f.index,
      anonVma: f.anonVma,
      anonExclusive: f.anonExclusive.slice(),
      written: f.written.slice(),
      inPageCache: f.inPageCache,
      swapSlot: f.swapSlot,
      pins: f.pins,
    });
  const inodes = new Map<number, Inode>();
  for (const [id, i] of sys.inodes) {
    // a Map copied entry by entry: new Map(map) takes V8's generic iterable path, slower for a few entries
    const cache = new Map<number, number>();
    for (const [index, pfn] of i.cache) cache.set(index, pfn);
    inodes.set(id, { id: i.id, shmem: i.shmem, size: i.size, cache, iMmap: i.iMmap.slice() });
  }
  const anonVmas = new Map<number, AnonVma>();
  for (const [id, a] of sys.anonVmas) anonVmas.set(id, { id: a.id, root: a.root, parent: a.parent, vmas: a.vmas.slice() });
  const swap = new Map<number, SwapSlot>();
  for (const [id, s] of sys.swap) swap.set(id, { count: s.count, written: s.written });
  const mappedBy = new Map<number, Set<string>>();
  for (const [id, keys] of sys.mappedBy) {
    const copy = new Set<string>();
    for (const key of keys) copy.add(key);
    mappedBy.set(id, copy);
  }
  const { next } = sys;
  return {
    config: sys.config,
    mms,
    vmas,
    folios,
    inodes,
    anonVmas,
    swap,
    mappedBy,
    ptGeneration: sys.ptGeneration,
    next: { vma: next.vma, pfn: next.pfn, anonVma: next.anonVma, inode: next.inode, slot: next.slot },
  };
}

/** A deep copy: the system by cloneSystem, every scheme bound to the copy. */
export function cloneKernel(k: Kernel): Kernel {
  const sys = cloneSystem(k.sys);
  // the reader log is shared: it accumulates what was asked over the whole exploration
  return { sys, schemes: k.schemes.map((s) => s.clone(sys)), readers: k.readers };
}
