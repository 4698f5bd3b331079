import type { Kernel } from '../../model/kernel.ts';
import { createSystem } from '../../model/mm.ts';
import { Large612 } from '../../model/schemes/large-6.12.ts';
import { Legacy61 } from '../../model/schemes/legacy-6.1.ts';
import { Owners615 } from '../../model/schemes/owners-6.15.ts';
import { Proposal, ProposalVmaHooks, type ProposalEngineKind } from '../../model/schemes/proposal.ts';
import type { MapcountScheme, SchemeName } from '../../model/schemes/scheme.ts';
import { Truth } from '../../model/schemes/truth.ts';
import type { MmConfig, MmSystem } from '../../model/types.ts';
import type { Scope } from '../scope.ts';

/**
 * The explored world: a kernel (plain-data MM system plus the schemes observing it) built from a
 * scope, and its copies. `truth` is always the first scheme.
 */

export function makeScheme(name: SchemeName, sys: MmSystem, engine: ProposalEngineKind): MapcountScheme {
  switch (name) {
    case 'truth':
      return new Truth(sys);
    case 'legacy-6.1':
      return new Legacy61(sys);
    case 'large-6.12':
      return new Large612(sys);
    case 'owners-6.15':
      return new Owners615(sys);
    case 'proposal':
      return new Proposal(sys, { engine });
    case 'proposal+vma-hooks':
      return new ProposalVmaHooks(sys, { engine });
  }
}

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
  return { sys, schemes: names.map((n) => makeScheme(n, sys, engine)) };
}

/** A deep copy: the system by structuredClone, every scheme bound to the copy. */
export function cloneKernel(k: Kernel): Kernel {
  const sys = structuredClone(k.sys);
  // the reader log is shared: it accumulates what was asked over the whole exploration
  return { sys, schemes: k.schemes.map((s) => s.clone(sys)), readers: k.readers };
}
