import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { X86_64, type Geometry } from '../model/geometry.ts';
import type { Kernel } from '../model/kernel.ts';
import { startMmSystem } from '../model/machines/mm-system.ts';
import { createSystem } from '../model/mm.ts';
import type { MapcountScheme } from '../model/schemes/scheme.ts';
import { Truth } from '../model/schemes/truth.ts';
import { anon_vma_prepare, i_mmap_insert } from '../model/rmap.ts';
import type { KernelGeneration, Mm, MmSystem, Vma } from '../model/types.ts';
import { insertVma } from '../model/vma.ts';

/** A kernel with the given schemes (truth always first) driven by a long-lived MM system actor. */
export function boot(opts: { geometry?: Geometry; kernel?: KernelGeneration; schemes?: (sys: MmSystem) => MapcountScheme[] } = {}) {
  const sys = createSystem({ geometry: opts.geometry ?? X86_64, kernel: opts.kernel ?? '6.1', thp: 'always', shmemThp: true });
  const k: Kernel = { sys, schemes: [new Truth(sys), ...(opts.schemes?.(sys) ?? [])] };
  const { run } = startMmSystem(k);
  return { k, sys, run, truth: k.schemes[0] as Truth };
}

/**
 * A VMA built by hand for scheme tests that drive rmap calls directly (no mmap): anon VMAs take the
 * linear pgoff of their start, file VMAs pgoff 0 unless given; `link` also files the VMA in the
 * anon_vma tree or i_mmap, as the first fault or mmap would.
 */
export function testVma(
  sys: MmSystem,
  mm: Mm,
  o: { start: number; end: number; inode: number | null; pgoff?: number; shared?: boolean; link?: boolean },
): Vma {
  const vma: Vma = {
    id: sys.next.vma++,
    mm: mm.pid,
    start: o.start,
    end: o.end,
    read: true,
    write: true,
    shared: o.shared ?? o.inode !== null,
    inode: o.inode,
    pgoff: o.pgoff ?? (o.inode === null ? o.start / sys.config.geometry.pageSize : 0),
    anonVma: null,
    avc: [],
    hugepage: 'default',
  };
  insertVma(sys, mm, vma);
  if (o.link) {
    if (o.inode === null) anon_vma_prepare(sys, vma);
    else i_mmap_insert(sys, vma);
  }
  return vma;
}

/**
 * A temporary directory for one test file's inputs, removed after its tests: `path` names a fresh
 * file in it, `file` writes one (names are numbered, so no two tests share a file).
 */
export function tempFiles(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const path = (name = 'trace.jsonl'): string => join(dir, `${n++}-${name}`);
  const file = (content: string | Buffer, name?: string): string => {
    const p = path(name);
    writeFileSync(p, content);
    return p;
  };
  return { dir, path, file };
}
