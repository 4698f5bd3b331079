import fc from 'fast-check';
import type { MmOperation } from '../../model/operations.ts';
import type { SchemeName } from '../../model/schemes/scheme.ts';
import type { Violation } from '../invariants.ts';
import { attachReaders } from '../../model/readers.ts';
import { checkState, costKey, newMonitor, observe, proposalCostFindings, readerSafety, violationKey, type StateProperty } from '../properties.ts';
import { enumerateOperations, operationArbitrary, type Scope } from '../scope.ts';
import { exploreReport, toCounterexample, type Counterexample, type CostCounterexample, type ExploreReport } from './bfs.ts';
import { FingerprintSet, canonicalFingerprint, pidSymmetrySound } from './canonical.ts';
import { Executor } from './executor.ts';
import { defaultExploreSchemes, newKernel } from './world.ts';

/**
 * Random exploration with fast-check for scopes too large to enumerate: sequences of the scope's
 * operations (operationArbitrary), each run from the scope's setup through the same long-lived MM
 * system actor and checked after every operation with the same properties as the exhaustive
 * search. Two phases:
 *   1. sampling: `runs` sequences; every state reached is fingerprinted like the BFS does
 *      (coverage = distinct states), every violated rule noted with the sequence that hit it;
 *   2. shrinking: for each rule violated, fast-check is started from that sequence on the property
 *      "this rule is never violated" and shrinks it to a minimal counterexample.
 */

export interface RandomOptions {
  readonly scope: Scope;
  readonly schemes?: readonly SchemeName[];
  /** Sequences sampled (default 1000). */
  readonly runs?: number;
  /** Maximal sequence length (default 20). */
  readonly maxOps?: number;
  readonly seed?: number;
  readonly pidSymmetry?: boolean;
  readonly extra?: readonly StateProperty[];
  /** Ask the kernel's readers of the mapcount at every decision point and check every answer is safe. */
  readonly readers?: boolean;
  /** Keep the fingerprints reached (as "h1:h2" strings), to compare with the BFS. */
  readonly keepFingerprints?: boolean;
}

export type RandomReport = ExploreReport;

interface RunResult {
  readonly violations: Violation[];
  /** Index of the op after which each violation key first held. */
  readonly firstAt: Map<string, { v: Violation; step: number }>;
  readonly depth: number;
}

export function exploreRandom(opts: RandomOptions): RandomReport {
  const t0 = performance.now();
  const { scope } = opts;
  const schemes = opts.schemes ?? defaultExploreSchemes(scope);
  const runs = opts.runs ?? 1000;
  const maxOps = opts.maxOps ?? 20;
  const seed = opts.seed ?? 42;
  const exec = new Executor();
  const extra = [...(opts.extra ?? []), ...(opts.readers ? [readerSafety] : [])];
  const visited = new FingerprintSet();
  const prints = opts.keepFingerprints ? new Set<string>() : undefined;
  let explored = 0;
  let depthReached = 0;
  let pidSymmetry = opts.pidSymmetry ?? true;

  /** Runs one sequence; `track` records coverage. Stops early once `stopAt` is violated. */
  const runSequence = (ops: readonly MmOperation[], track: boolean, stopAt?: string): RunResult => {
    const k = newKernel(scope, schemes, 'fast');
    if (opts.readers) attachReaders(k);
    const monitor = newMonitor();
    for (const op of scope.setup) exec.run(k, op, monitor);
    observe(k, monitor);
    pidSymmetry &&= pidSymmetrySound(k);
    const canon = { scopePids: scope.pids, scopeInodes: scope.inodes, pidSymmetry };
    const firstAt = new Map<string, { v: Violation; step: number }>();
    const note = (step: number): boolean => {
      for (const v of checkState(k, monitor, { extra })) {
        const key = violationKey(v);
        if (!firstAt.has(key)) firstAt.set(key, { v, step });
        if (key === stopAt) return true;
      }
      return false;
    };
    const fp = (): void => {
      const [a, b] = canonicalFingerprint(k, monitor, canon);
      visited.add(a, b);
      prints?.add(`${a}:${b}`);
    };
    if (track) fp();
    if (note(-1)) return { violations: [], firstAt, depth: 0 };
    let depth = 0;
    for (const op of ops) {
      exec.run(k, op, monitor);
      observe(k, monitor);
      depth++;
      if (track) {
        explored++;
        fp();
        for (const f of proposalCostFindings(k)) if (!costs.has(costKey(f))) costs.set(costKey(f), { ...f, setup: scope.setup, ops: ops.slice(0, depth) });
      }
      if (note(depth - 1)) break;
    }
    if (track) depthReached = Math.max(depthReached, depth);
    return { violations: [...firstAt.values()].map((x) => x.v), firstAt, depth };
  };

  const costs = new Map<string, CostCounterexample>();
  const arb = fc.array(operationArbitrary(scope), { minLength: 1, maxLength: maxOps, size: 'max' });
  const samples = fc.sample(arb, { numRuns: runs, seed });
  const firstSeen = new Map<string, readonly MmOperation[]>();
  for (const ops of samples) {
    const r = runSequence(ops, true);
    for (const [key, { step }] of r.firstAt) if (!firstSeen.has(key)) firstSeen.set(key, ops.slice(0, step + 1));
  }

  // shrink each violated rule to a minimal sequence
  const violations: Counterexample[] = [];
  for (const [key, ops] of firstSeen) {
    const out = fc.check(
      fc.property(arb, (seq) => !runSequence(seq, false, key).firstAt.has(key)),
      { seed, numRuns: 1, examples: [[[...ops]]], endOnFailure: false },
    );
    const shrunk = (out.counterexample?.[0] as MmOperation[] | undefined) ?? [...ops];
    const r = runSequence(shrunk, false, key);
    const hit = r.firstAt.get(key);
    if (!hit) continue;
    violations.push(toCounterexample(hit.v, scope.setup, shrunk.slice(0, hit.step + 1)));
  }
  violations.sort((a, b) => a.ops.length - b.ops.length);

  return exploreReport(
    {
      mode: 'random',
      depthReached,
      complete: false,
      pidSymmetry,
      violations,
      costFindings: [...costs.values()],
      coverage: exec.coverage.report(),
      runs,
      seed,
      ...(prints ? { fingerprints: prints } : {}),
    },
    { scope, schemes, operations: enumerateOperations(scope).length, explored, visited, t0 },
  );
}
