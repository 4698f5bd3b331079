import { X86_64, type Geometry } from '../model/geometry.ts';
import type { Kernel } from '../model/kernel.ts';
import { startMmSystem } from '../model/machines/mm-system.ts';
import { createSystem } from '../model/mm.ts';
import type { MapcountScheme } from '../model/schemes/scheme.ts';
import { Truth } from '../model/schemes/truth.ts';
import type { KernelGeneration, MmSystem } from '../model/types.ts';

/** A kernel with the given schemes (truth always first) driven by a long-lived MM system actor. */
export function boot(opts: { geometry?: Geometry; kernel?: KernelGeneration; schemes?: (sys: MmSystem) => MapcountScheme[] } = {}) {
  const sys = createSystem({ geometry: opts.geometry ?? X86_64, kernel: opts.kernel ?? '6.1', thp: 'always', shmemThp: true });
  const k: Kernel = { sys, schemes: [new Truth(sys), ...(opts.schemes?.(sys) ?? [])] };
  const { run } = startMmSystem(k);
  return { k, sys, run, truth: k.schemes[0] as Truth };
}
