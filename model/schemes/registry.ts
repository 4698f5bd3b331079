import type { Kernel } from '../kernel.ts';
import { createSystem } from '../mm.ts';
import type { MmConfig, MmSystem } from '../types.ts';
import { Large612 } from './large-6.12.ts';
import { Legacy61 } from './legacy-6.1.ts';
import { Owners615 } from './owners-6.15.ts';
import { Proposal, ProposalVmaHooks, type ProposalEngineKind } from './proposal.ts';
import { SCHEME_NAMES, type MapcountScheme, type SchemeName } from './scheme.ts';
import { Truth } from './truth.ts';

/** Every scheme by name, so the CLI, the checker and the explorer build them the same way. */
export function createScheme(name: SchemeName, sys: MmSystem, opts: { engine?: ProposalEngineKind } = {}): MapcountScheme {
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
      return new Proposal(sys, opts);
    case 'proposal+vma-hooks':
      return new ProposalVmaHooks(sys, opts);
  }
}

export function isSchemeName(name: string): name is SchemeName {
  return (SCHEME_NAMES as readonly string[]).includes(name);
}

/** A fresh kernel running the named schemes (truth always first, whether named or not). */
export function createKernel(config: MmConfig, names: readonly SchemeName[] = SCHEME_NAMES, opts: { engine?: ProposalEngineKind } = {}): Kernel {
  const sys = createSystem(config);
  const wanted = ['truth' as const, ...names.filter((n) => n !== 'truth')];
  return { sys, schemes: wanted.map((n) => createScheme(n, sys, opts)) };
}
