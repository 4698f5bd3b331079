import type { SchemeName } from '../../model/schemes/scheme.ts';
import { checkState, costKey, proposalCostFindings, violationKey } from '../properties.ts';
import { enumerateOperations, type Scope } from '../scope.ts';
import { rootState } from './bfs.ts';
import { FingerprintSet, canonicalFingerprint } from './canonical.ts';
import { Executor, type ExecutionEngine, type ExploredState } from './executor.ts';

/**
 * One expander of the parallel BFS (parallel.ts), in a worker thread (worker.ts) or in the main
 * thread: expands the frontier nodes it is given, exactly as exploreBfs does, and answers with
 * the fingerprints of the children and the keys of the rules each violates. Nodes arrive as
 * operation paths from the root; the expander re-materialises them by replaying the path, reusing
 * the states of the longest common prefix with the previous node (frontier nodes come in discovery
 * order, so siblings follow each other). Children whose fingerprint this expander already answered
 * are skipped: the main thread saw them at an earlier position of the search order (each expander
 * gets its chunks in increasing order), so they can never be the first occurrence.
 */

export interface ExpanderInit {
  readonly scope: Scope;
  readonly schemes: readonly SchemeName[];
  readonly pidSymmetry: boolean;
  readonly engine: ExecutionEngine;
}

/** A chunk of consecutive frontier nodes, each a path of `len` operation indexes. */
export interface ChunkRequest {
  readonly type: 'chunk';
  readonly id: number;
  readonly len: number;
  readonly paths: Int32Array;
}

export interface ChunkResult {
  readonly type: 'chunk';
  readonly id: number;
  /** Per child answered: node index within the chunk, operation index, two fingerprint words. */
  readonly node: Int32Array;
  readonly op: Int32Array;
  readonly h: Uint32Array;
  /** Per child answered: violation keys then cost-finding keys (each in first-occurrence order), or null. */
  readonly keys: ({ v: string[]; c: string[] } | null)[];
}

/** The distinct keys of a list, in first-occurrence order (most states have nothing to list). */
function distinctKeys<T>(list: readonly T[], key: (x: T) => string): string[] {
  if (list.length === 0) return [];
  return [...new Set(list.map(key))];
}

export class Expander {
  readonly exec: Executor;
  readonly root: ExploredState;
  private readonly ops;
  private readonly canon;
  private readonly answered = new FingerprintSet();
  /** States along the previous path: stack[j] is the state after its first j operations. */
  private stack: ExploredState[];
  private last: number[] = [];

  constructor(init: ExpanderInit) {
    this.exec = new Executor(init.engine);
    this.ops = enumerateOperations(init.scope);
    this.root = rootState(init.scope, init.schemes, this.exec);
    this.canon = { scopePids: init.scope.pids, scopeInodes: init.scope.inodes, pidSymmetry: init.pidSymmetry };
    this.stack = [this.root];
  }

  expand(req: ChunkRequest): ChunkResult {
    const { exec, ops } = this;
    const node: number[] = [];
    const opOut: number[] = [];
    const h: number[] = [];
    const keys: ChunkResult['keys'] = [];
    const count = req.len === 0 ? 1 : req.paths.length / req.len;
    for (let j = 0; j < count; j++) {
      const parent = this.materialise(req.paths.subarray(j * req.len, (j + 1) * req.len));
      for (let i = 0; i < ops.length; i++) {
        const c = exec.child(parent, ops[i]).next;
        if (c === null) continue; // as exploreBfs: refused, the parent itself
        const [h1, h2] = canonicalFingerprint(c.k, c.monitor, this.canon);
        if (!this.answered.add(h1, h2)) continue;
        node.push(j);
        opOut.push(i);
        h.push(h1, h2);
        const v = distinctKeys(checkState(c.k, c.monitor), violationKey);
        const cf = distinctKeys(proposalCostFindings(c.k), costKey);
        keys.push(v.length || cf.length ? { v, c: cf } : null);
      }
    }
    return { type: 'chunk', id: req.id, node: Int32Array.from(node), op: Int32Array.from(opOut), h: Uint32Array.from(h), keys };
  }

  private materialise(path: Int32Array): ExploredState {
    let common = 0;
    while (common < path.length && common < this.last.length && path[common] === this.last[common]) common++;
    this.stack = this.stack.slice(0, common + 1);
    // every operation of a path made a new state, so it is never refused
    for (let j = common; j < path.length; j++) this.stack.push(this.exec.child(this.stack[j], this.ops[path[j]]).next!);
    this.last = Array.from(path);
    return this.stack[path.length];
  }
}
