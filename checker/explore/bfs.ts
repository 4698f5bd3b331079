import type { Kernel } from '../../model/kernel.ts';
import type { MmOperation } from '../../model/operations.ts';
import type { SchemeName } from '../../model/schemes/scheme.ts';
import type { Violation } from '../invariants.ts';
import { attachReaders } from '../../model/readers.ts';
import { checkState, costKey, newMonitor, observe, proposalCostFindings, readerSafety, violationKey, type CostFinding, type ProposalMonitor, type StateProperty } from '../properties.ts';
import { enumerateOperations, type Scope } from '../scope.ts';
import { FingerprintSet, canonicalFingerprint, pidSymmetrySound } from './canonical.ts';
import { Executor, type CoverageReport, type ExecutionEngine } from './executor.ts';
import { defaultExploreSchemes, newKernel } from './world.ts';

/**
 * Exhaustive bounded breadth-first search over the MM operations of a scope. States are kernels
 * (the plain-data MM system and every scheme's state, the proposal with its fast engine) plus the
 * proposal monitor; each is expanded by ONE long-lived runner of the MM system machine whose
 * context.k is swapped to a copy of the state (Executor.child: the machine's interpreter by
 * default, an xstate actor on request). Visited states are kept as 64-bit fingerprints of their canonical
 * strings (canonical.ts); the frontier carries each state's path, so every violation comes with
 * its shortest operation sequence, the first found in the scope's enumeration order.
 */

export interface BfsOptions {
  readonly scope: Scope;
  /** Schemes checked beside truth (default: the generation's exact scheme and both proposal variants). */
  readonly schemes?: readonly SchemeName[];
  /** Operations after setup (default 3). */
  readonly maxDepth?: number;
  /** Distinct states at which the search stops (default 500 000). */
  readonly maxStates?: number;
  /** Symmetry reduction over pids (default true; off by itself with owners-6.15). */
  readonly pidSymmetry?: boolean;
  /** Stop at the end of the depth where the first violation was found. */
  readonly stopAtFirstDepth?: boolean;
  /** Extra state properties. */
  readonly extra?: readonly StateProperty[];
  /** Ask the kernel's readers of the mapcount at every decision point and check every answer is safe. */
  readonly readers?: boolean;
  /** Keep the fingerprints reached (as "h1:h2" strings), to compare with random exploration. */
  readonly keepFingerprints?: boolean;
  /** What runs the MM system machine (default 'fast', its interpreter; 'actor' for cross-checks). */
  readonly engine?: ExecutionEngine;
  /** Called after each depth level. */
  readonly onProgress?: (p: { depth: number; distinct: number; explored: number; frontier: number }) => void;
}

/** A violated property with the shortest operation sequence reaching it. */
export interface Counterexample {
  readonly property: string;
  readonly scheme?: SchemeName;
  readonly folio?: number;
  readonly detail: string;
  /** Operations run before exploring (spawn, files, initial mmaps). */
  readonly setup: readonly MmOperation[];
  /** The explored operations, in order; the last one produced the violation. */
  readonly ops: readonly MmOperation[];
}

export interface CostCounterexample extends CostFinding {
  readonly setup: readonly MmOperation[];
  readonly ops: readonly MmOperation[];
}

export interface ExploreReport {
  readonly mode: 'bfs' | 'random';
  readonly schemes: readonly SchemeName[];
  readonly scope: { readonly kernel: string; readonly geometry: Scope['geometry']; readonly pids: readonly number[]; readonly inodes: readonly number[]; readonly windowPmds: number; readonly ops: readonly string[]; readonly lengths: readonly number[]; readonly operations: number };
  /** Operations executed (state expansions). */
  readonly statesExplored: number;
  readonly distinctStates: number;
  readonly depthReached: number;
  /** BFS: the frontier emptied before the bounds (the reachable state space within the scope is complete). */
  readonly complete: boolean;
  readonly timeMs: number;
  readonly statesPerSecond: number;
  readonly distinctPerSecond: number;
  /** Bytes the visited set uses per distinct state. */
  readonly bytesPerState: number;
  readonly pidSymmetry: boolean;
  readonly violations: readonly Counterexample[];
  readonly costFindings: readonly CostCounterexample[];
  readonly coverage: readonly CoverageReport[];
  /** Random mode: sequences run. */
  readonly runs?: number;
  readonly seed?: number;
  /** With keepFingerprints: every distinct state's fingerprint. */
  readonly fingerprints?: ReadonlySet<string>;
}

interface Node {
  readonly k: Kernel;
  readonly monitor: ProposalMonitor;
  readonly path: readonly number[];
}

export const scopeSummary = (scope: Scope, operations: number): ExploreReport['scope'] => ({
  kernel: scope.kernel,
  geometry: scope.geometry,
  pids: scope.pids,
  inodes: scope.inodes,
  windowPmds: scope.windowPmds,
  ops: scope.ops,
  lengths: scope.lengths,
  operations,
});

/** The scope's root state: setup run on a fresh kernel. */
export function rootState(scope: Scope, schemes: readonly SchemeName[], exec: Executor, engine: 'fast' | 'actor' = 'fast', readers = false): { k: Kernel; monitor: ProposalMonitor } {
  const k = newKernel(scope, schemes, engine);
  if (readers) attachReaders(k);
  const monitor = newMonitor();
  for (const op of scope.setup) {
    const outcome = exec.run(k, op, monitor);
    if (outcome !== 'ok') throw new Error(`scope setup: ${op.type} failed with ${outcome}`);
  }
  observe(k, monitor);
  return { k, monitor };
}

export function exploreBfs(opts: BfsOptions): ExploreReport {
  const t0 = performance.now();
  const { scope } = opts;
  const schemes = opts.schemes ?? defaultExploreSchemes(scope);
  const maxDepth = opts.maxDepth ?? 3;
  const maxStates = opts.maxStates ?? 500_000;
  const exec = new Executor(opts.engine ?? 'fast');
  const ops = enumerateOperations(scope);
  const root = rootState(scope, schemes, exec, 'fast', opts.readers);
  const extra = [...(opts.extra ?? []), ...(opts.readers ? [readerSafety] : [])];
  const pidSymmetry = (opts.pidSymmetry ?? true) && pidSymmetrySound(root.k);
  const canon = { scopePids: scope.pids, scopeInodes: scope.inodes, pidSymmetry };
  const visited = new FingerprintSet();
  const prints = opts.keepFingerprints ? new Set<string>() : undefined;
  const violations = new Map<string, Counterexample>();
  const costs = new Map<string, CostCounterexample>();
  let explored = 0;
  let depthReached = 0;

  const record = (node: Node): void => {
    const path = node.path.map((i) => ops[i]);
    for (const v of checkState(node.k, node.monitor, { extra })) {
      const key = violationKey(v);
      if (!violations.has(key)) violations.set(key, toCounterexample(v, scope.setup, path));
    }
    for (const f of proposalCostFindings(node.k)) {
      if (!costs.has(costKey(f))) costs.set(costKey(f), { ...f, setup: scope.setup, ops: path });
    }
  };

  const [a, b] = canonicalFingerprint(root.k, root.monitor, canon);
  visited.add(a, b);
  prints?.add(`${a}:${b}`);
  const rootNode: Node = { k: root.k, monitor: root.monitor, path: [] };
  record(rootNode);
  let frontier: Node[] = [rootNode];
  let full = false;
  for (let depth = 1; depth <= maxDepth && frontier.length && !full; depth++) {
    const next: Node[] = [];
    const foundBefore = violations.size;
    for (const node of frontier) {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        explored++;
        const { next: s } = exec.child(node, op);
        if (s === null) continue; // refused without touching the state: the node itself
        const { k, monitor } = s;
        const [h1, h2] = canonicalFingerprint(k, monitor, canon);
        if (!visited.add(h1, h2)) continue;
        prints?.add(`${h1}:${h2}`);
        const child: Node = { k, monitor, path: [...node.path, i] };
        depthReached = depth;
        record(child);
        if (depth < maxDepth) next.push(child);
        if (visited.size >= maxStates) {
          full = true;
          break;
        }
      }
      if (full) break;
    }
    opts.onProgress?.({ depth, distinct: visited.size, explored, frontier: next.length });
    frontier = next;
    if (opts.stopAtFirstDepth && violations.size > foundBefore) break;
  }
  return exploreReport(
    {
      mode: 'bfs',
      depthReached,
      complete: frontier.length === 0 && !full,
      pidSymmetry,
      violations: [...violations.values()],
      costFindings: [...costs.values()],
      coverage: exec.coverage.report(),
      ...(prints ? { fingerprints: prints } : {}),
    },
    { scope, schemes, operations: ops.length, explored, visited, t0 },
  );
}

/** The report fields every exploration mode derives the same way from its counts. */
export function exploreReport(
  base: Pick<ExploreReport, 'mode' | 'depthReached' | 'complete' | 'pidSymmetry' | 'violations' | 'costFindings' | 'coverage'> & Partial<ExploreReport>,
  run: { scope: Scope; schemes: readonly SchemeName[]; operations: number; explored: number; visited: { size: number; bytes: number }; t0: number },
): ExploreReport {
  const timeMs = performance.now() - run.t0;
  return {
    ...base,
    schemes: ['truth', ...run.schemes.filter((s) => s !== 'truth')],
    scope: scopeSummary(run.scope, run.operations),
    statesExplored: run.explored,
    distinctStates: run.visited.size,
    timeMs,
    statesPerSecond: run.explored / (timeMs / 1000),
    distinctPerSecond: run.visited.size / (timeMs / 1000),
    bytesPerState: run.visited.bytes / run.visited.size,
  };
}

export const toCounterexample = (v: Violation, setup: readonly MmOperation[], ops: readonly MmOperation[]): Counterexample => ({
  property: v.property,
  ...(v.scheme !== undefined ? { scheme: v.scheme } : {}),
  ...(v.folio !== undefined ? { folio: v.folio } : {}),
  detail: v.detail,
  setup,
  ops,
});
