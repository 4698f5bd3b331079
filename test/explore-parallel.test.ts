import { describe, expect, it } from 'vitest';
import { exploreBfs, rootState, type ExploreReport } from '../checker/explore/bfs.ts';
import { FingerprintSet, canonicalFingerprint, canonicalTokens, fingerprint } from '../checker/explore/canonical.ts';
import { Executor } from '../checker/explore/executor.ts';
import { exploreBfsParallel } from '../checker/explore/parallel.ts';
import { cloneSystem, defaultExploreSchemes } from '../checker/explore/world.ts';
import { defaultScope, enumerateOperations, hazardScopes } from '../checker/scope.ts';
import fc from 'fast-check';
import type { SchemeName } from '../model/schemes/scheme.ts';
import { pageMapcountOf } from '../model/schemes/truth.ts';
import type { Folio, MmSystem } from '../model/types.ts';

const SCHEMES: SchemeName[] = ['large-6.12', 'proposal', 'proposal+vma-hooks'];

/** The fields of a VMA record in the order do_mmap writes them. */
const VMA_FIELDS = ['id', 'mm', 'start', 'end', 'read', 'write', 'shared', 'inode', 'pgoff', 'anonVma', 'avc', 'hugepage'];

/** Everything a report says about the search, without the timings. */
const result = (r: ExploreReport) => ({
  distinctStates: r.distinctStates,
  statesExplored: r.statesExplored,
  depthReached: r.depthReached,
  complete: r.complete,
  bytesPerState: r.bytesPerState,
  pidSymmetry: r.pidSymmetry,
  violations: r.violations,
  costFindings: r.costFindings,
  coverage: r.coverage,
  fingerprints: [...(r.fingerprints ?? [])].sort(),
});

describe('explorer fast paths equal the reference', () => {
  it('cloneSystem equals structuredClone, canonicalFingerprint equals fingerprint(canonicalTokens), a state expanded is left as it was, every VMA is one record layout, on random walks', () => {
    const scope = defaultScope();
    const schemes = defaultExploreSchemes(scope);
    const exec = new Executor('fast');
    const ops = enumerateOperations(scope);
    const canon = { scopePids: scope.pids, scopeInodes: scope.inodes, pidSymmetry: true };
    let seed = 12345;
    const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    let checked = 0;
    for (let walk = 0; walk < 120; walk++) {
      let s = rootState(scope, schemes, exec);
      for (let step = 0; step < 8; step++) {
        const before = canonicalTokens(s.k, s.monitor, canon);
        const { next } = exec.child(s, ops[rand(ops.length)]);
        // the copy shares nothing the operation changed (the proposal's engines share their snapshots)
        expect(canonicalTokens(s.k, s.monitor, canon)).toEqual(before);
        if (next === null) continue;
        s = next;
        const { k, monitor } = s;
        expect(cloneSystem(k.sys)).toEqual(structuredClone(k.sys));
        expect(canonicalFingerprint(k, monitor, canon)).toEqual(fingerprint(canonicalTokens(k, monitor, canon)));
        // VMAs made by mmap, split, fork and mremap, and their copies, list the same fields in the
        // same order (model/vma.ts dupVma): one hidden class for the code that reads them
        for (const v of k.sys.vmas.values()) expect(Object.keys(v)).toEqual(VMA_FIELDS);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('pageMapcountOf answers each system as its page tables say, asked about a state and its parent in turn', () => {
    const scope = defaultScope();
    const exec = new Executor('fast');
    const ops = enumerateOperations(scope);
    // the oracle: PTEs mapping the page plus PMDs mapping the folio, read off every mm
    const entries = (sys: MmSystem, folio: Folio, page: number): number => {
      let n = 0;
      for (const mm of sys.mms.values()) {
        for (const p of mm.ptes.values()) if (p.kind === 'present' && p.folio === folio.id && p.page === page) n++;
        for (const p of mm.pmds.values()) if (p.folio === folio.id) n++;
      }
      return n;
    };
    const agree = (sys: MmSystem): void => {
      // the zero pages are in no rmap: truth does not count their entries
      for (const f of sys.folios.values())
        if (f.kind !== 'zero' && f.kind !== 'huge-zero') for (let page = 0; page < 1 << f.order; page++) expect(pageMapcountOf(sys, f, page)).toBe(entries(sys, f, page));
    };
    fc.assert(
      fc.property(fc.array(fc.nat(ops.length - 1), { minLength: 1, maxLength: 6 }), (path) => {
        let s = rootState(scope, defaultExploreSchemes(scope), exec);
        for (const i of path) {
          const next = exec.child(s, ops[i]).next;
          if (next === null) continue;
          // a copy has the generation of its parent: the memo must tell the systems apart
          agree(s.k.sys);
          agree(next.k.sys);
          agree(s.k.sys);
          s = next;
        }
      }),
      { numRuns: 150 },
    );
  });

  it('FingerprintSet: a set, at most 16 bytes a state past its initial capacity', () => {
    const set = new FingerprintSet();
    const ref = new Set<string>();
    let x = 1;
    for (let i = 0; i < 50_000; i++) {
      x = (Math.imul(x, 48271) + 11) >>> 0;
      const a = x % 5000; // collisions on purpose
      const b = (x >>> 7) % 3;
      expect(set.add(a, b)).toBe(!ref.has(`${a}:${b}`));
      ref.add(`${a}:${b}`);
      if (ref.size > 16) expect(set.bytes / set.size).toBeLessThanOrEqual(16);
    }
    expect(set.size).toBe(ref.size);
    for (const k of [...ref].slice(0, 100)) expect(set.has(...(k.split(':').map(Number) as [number, number]))).toBe(true);
  });
});

describe('parallel BFS (worker threads) gives the sequential result', () => {
  it('default scope, depth 2: same states, operations run, violations with the same shortest counterexamples, cost findings, coverage', async () => {
    const opts = { scope: defaultScope(), maxDepth: 2, schemes: SCHEMES, keepFingerprints: true };
    const seq = exploreBfs(opts);
    const par = await exploreBfsParallel({ ...opts, workers: 2 });
    expect(par.workers).toBe(2);
    expect(result(par)).toEqual(result(seq));
    expect(seq.violations.length).toBeGreaterThan(0);
  });

  it('stopped by maxStates in the middle of a level, and a hazard scope to depth 3', async () => {
    // stopped by maxStates, the workers have expanded the chunks in flight too: their coverage may be larger
    const cut = { scope: defaultScope(), maxDepth: 3, maxStates: 1_900, keepFingerprints: true };
    const cutSeq = exploreBfs(cut);
    const cutPar = await exploreBfsParallel({ ...cut, workers: 2, awaitThreads: true });
    expect({ ...result(cutPar), coverage: null }).toEqual({ ...result(cutSeq), coverage: null });
    // depth 3 is a large level: the worker thread expanded part of it beside the main thread
    expect(cutPar.expandedBy).toHaveLength(2);
    expect(cutPar.expandedBy!.every((n) => n > 0)).toBe(true);
    for (const [i, c] of cutSeq.coverage.entries()) for (const t of c.transitions.exercised) expect(cutPar.coverage[i].transitions.exercised).toContain(t);
    const fork = { scope: hazardScopes().fork, maxDepth: 3, schemes: SCHEMES, keepFingerprints: true };
    const seq = exploreBfs(fork);
    expect(seq.distinctStates).toBeGreaterThan(100);
    expect(result(await exploreBfsParallel({ ...fork, workers: 3 }))).toEqual(result(seq));
  });
});
