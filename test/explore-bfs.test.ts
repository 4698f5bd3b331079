import { describe, expect, it } from 'vitest';
import { exploreBfs, type Counterexample, type ExploreReport } from '../checker/explore/bfs.ts';
import { explainCounterexample, formatCounterexample } from '../checker/explore/counterexample.ts';
import { RULE, SAME_MM_VMAS, STICKY_MANY } from '../checker/properties.ts';
import { defaultScope, hazardScopes, type Scope } from '../checker/scope.ts';
import type { MmOperation } from '../model/operations.ts';
import type { SchemeName } from '../model/schemes/scheme.ts';

const SCHEMES: SchemeName[] = ['large-6.12', 'proposal', 'proposal+vma-hooks'];
const find = (r: ExploreReport, property: string, scheme: SchemeName): Counterexample | undefined =>
  r.violations.find((v) => v.property === property && v.scheme === scheme);
const soundness = (r: ExploreReport, scheme: SchemeName): Counterexample[] =>
  r.violations.filter((v) => v.scheme === scheme && v.property.startsWith('proposal:'));

describe('exhaustive BFS: the default scope', () => {
  const scope = defaultScope();
  const t0 = performance.now();
  const r = exploreBfs({ scope, maxDepth: 2, schemes: SCHEMES });
  const secs = (performance.now() - t0) / 1000;

  it('explores the scope completely to depth 2 and reports its numbers', () => {
    console.log(
      `default scope, depth 2: ${r.statesExplored} operations run, ${r.distinctStates} distinct states in ${secs.toFixed(2)} s: ` +
        `${Math.round(r.statesPerSecond)} states/s, ${Math.round(r.distinctPerSecond)} distinct states/s, ${r.bytesPerState.toFixed(1)} bytes per visited state`,
    );
    expect(r.depthReached).toBe(2);
    expect(r.distinctStates).toBeGreaterThan(100);
    expect(r.bytesPerState).toBeLessThanOrEqual(32);
    const mm = r.coverage.find((c) => c.machine === 'mm')!;
    expect(mm.transitions.exercised).toContain('mm.handle_mm_fault.pmdLevel --always [anonThpFault]--> mm.idle');
    expect(mm.transitions.never.length).toBeGreaterThan(0);
    const sat = r.coverage.find((c) => c.machine === 'saturatingMapcount')!;
    expect(sat.transitions.exercised).toContain('saturatingMapcount.zero --VMA_MAPPED--> saturatingMapcount.one');
    expect(sat.guards.neverTrue).toContain('walkFoundMany'); // no MM operation walks the rmap to resolve the count
  });

  it('finds for `proposal` exactly the 2-step shortest counterexample: THP by PMD, mprotect half of its VMA -> One while two VMAs map it', () => {
    const cex = find(r, RULE.belowTruth, 'proposal')!;
    expect(cex.ops).toEqual<MmOperation[]>([
      { type: 'FAULT', pid: 1, addr: scope.windowStart, write: true },
      { type: 'MPROTECT', pid: 1, addr: scope.windowStart, len: 2 * scope.geometry.pageSize, read: true, write: false },
    ]);
    expect(cex.detail).toMatch(/^count says One while 2 VMAs map it/);
    const steps = explainCounterexample(cex, scope);
    expect(steps[scope.setup.length].folio!.find((v) => v.scheme === 'truth')!.text).toMatch(/1 VMA .*\(1 PMD\)/);
    console.log(formatCounterexample(cex, scope));
  });

  it('one zap later the count says Zero while the folio is mapped', () => {
    const cex = find(r, RULE.belowTruth, 'proposal')!;
    const zap: MmOperation = { type: 'MUNMAP', pid: 1, addr: scope.windowStart + 2 * scope.geometry.pageSize, len: 2 * scope.geometry.pageSize };
    const extended: Counterexample = { ...cex, ops: [...cex.ops, zap] };
    const last = explainCounterexample(extended, scope).at(-1)!;
    expect(last.violated.some((v) => v.startsWith(`${RULE.zeroWhileMapped} [proposal]: count says Zero while 1 VMA maps it`))).toBe(true);
    expect(last.folio!.find((v) => v.scheme === 'proposal')!.text).toBe('Zero refs 0');
    // munmap of half the VMA is a split and a zap in one call: BFS finds Zero-while-mapped in 2 steps too
    const direct = find(r, RULE.zeroWhileMapped, 'proposal')!;
    expect(direct.ops.map((op) => op.type)).toEqual(['FAULT', 'MUNMAP']);
    console.log(formatCounterexample(extended, scope));
  });

  it('finds nothing for `proposal+vma-hooks` in the same scope', () => {
    expect(soundness(r, 'proposal+vma-hooks')).toEqual([]);
    const noMremap = exploreBfs({ scope: defaultScope({ ops: ['FAULT', 'MPROTECT', 'MUNMAP', 'FORK', 'EXIT', 'MMAP'] }), maxDepth: 2, schemes: SCHEMES });
    expect(soundness(noMremap, 'proposal+vma-hooks')).toEqual([]);
    expect(soundness(noMremap, 'proposal').length).toBeGreaterThan(0);
    expect(noMremap.violations.filter((v) => v.scheme === 'large-6.12' || v.scheme === undefined)).toEqual([]);
  });
});

describe('exhaustive BFS: hazard scopes, without hints', () => {
  const scopes = hazardScopes();
  const run = (scope: Scope, depth: number) => exploreBfs({ scope, maxDepth: depth, schemes: SCHEMES });

  it('VMA merge: two VMAs mapping one tmpfs THP merge, the count stays Two over one VMA', () => {
    const r = run(scopes.merge, 3);
    expect(r.complete || r.depthReached === 3).toBe(true);
    const cex = find(r, RULE.aboveTruth, 'proposal')!;
    expect(cex.detail).toMatch(/^count says Two while 1 VMA maps it/);
    const steps = explainCounterexample(cex, scopes.merge);
    expect(steps.at(-1)!.vmaChanges.some((c) => c.startsWith('vma_merge'))).toBe(true);
    expect(soundness(r, 'proposal+vma-hooks')).toEqual([]);
    console.log(formatCounterexample(cex, scopes.merge));
  });

  it('mremap: moving half a THP to another PMD leaves the count One over two VMAs', () => {
    const r = run(scopes.mremap, 2);
    const cex = find(r, RULE.belowTruth, 'proposal')!;
    expect(cex.ops.map((op) => op.type)).toEqual(['FAULT', 'MREMAP']);
    expect(explainCounterexample(cex, scopes.mremap).at(-1)!.vmaChanges.some((c) => c.startsWith('move_vma'))).toBe(true);
    expect(find(r, RULE.zeroWhileMapped, 'proposal')?.ops.length).toBe(2);
    console.log(formatCounterexample(cex, scopes.mremap));
    // the move hook sees both VMAs mapping the folio after a partial move
    expect(soundness(r, 'proposal+vma-hooks')).toEqual([]);
  });

  it('fork with 3 sharers drives Many; after one exits Many is sticky and resolving costs an rmap walk', () => {
    const r = run(scopes.fork, 4);
    expect(soundness(r, 'proposal')).toEqual([]);
    expect(soundness(r, 'proposal+vma-hooks')).toEqual([]);
    const sticky = r.costFindings.find((f) => f.finding === STICKY_MANY && f.scheme === 'proposal')!;
    expect(sticky.ops.filter((op) => op.type === 'FORK')).toHaveLength(2);
    expect(sticky.ops.at(-1)!.type).toBe('EXIT');
    expect(sticky.walk).toEqual({ vmasVisited: 2, ptesScanned: expect.any(Number), vmasFound: 2 });
    console.log(`${sticky.finding} [${sticky.scheme}]: ${sticky.detail}\n  ${sticky.ops.map((op) => JSON.stringify(op)).join('\n  ')}`);
  });

  it('same-MM double mapping: two VMAs of one mm over one file range are counted Two', () => {
    const r = run(scopes.doubleMap, 2);
    expect(soundness(r, 'proposal')).toEqual([]);
    expect(soundness(r, 'proposal+vma-hooks')).toEqual([]);
    const f = r.costFindings.find((x) => x.finding === SAME_MM_VMAS && x.scheme === 'proposal')!;
    expect(f.ops.map((op) => op.type)).toEqual(['FAULT', 'FAULT']);
    expect(f.detail).toMatch(/count says Two while 2 VMAs of pid 1 alone map it/);
  });
});
