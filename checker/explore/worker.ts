import { parentPort, workerData } from 'node:worker_threads';
import type { SchemeName } from '../../model/schemes/scheme.ts';
import { checkState, proposalCostFindings, violationKey } from '../properties.ts';
import { enumerateOperations, type Scope } from '../scope.ts';
import { rootState } from './bfs.ts';
import { FingerprintSet, canonicalFingerprint } from './canonical.ts';
import { Executor, type ExecutionEngine, type ExploredState } from './executor.ts';

/**
 * A BFS worker (parallel.ts): expands the frontier nodes it is sent, exactly as exploreBfs does,
 * and answers with the fingerprints of the children and the keys of the rules each violates.
 * Nodes arrive as operation paths from the root; the worker re-materialises them by replaying the
 * path, reusing the states of the longest common prefix with the previous node (frontier nodes
 * come in discovery order, so siblings follow each other). Children whose fingerprint this worker
 * already sent are skipped: the main thread saw them at an earlier position of the search order
 * (each worker gets its chunks in increasing order), so they can never be the first occurrence.
 */

export interface WorkerInit {
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
  /** Per child sent: node index within the chunk, operation index, two fingerprint words. */
  readonly node: Int32Array;
  readonly op: Int32Array;
  readonly h: Uint32Array;
  /** Per child sent: violation keys then cost-finding keys (each in first-occurrence order), or null. */
  readonly keys: ({ v: string[]; c: string[] } | null)[];
}

const init = workerData as WorkerInit;
const exec = new Executor(init.engine);
const ops = enumerateOperations(init.scope);
const root = rootState(init.scope, init.schemes, exec);
const canon = { scopePids: init.scope.pids, scopeInodes: init.scope.inodes, pidSymmetry: init.pidSymmetry };
const sent = new FingerprintSet();
// states along the previous path: stack[j] is the state after its first j operations
let stack: ExploredState[] = [root];
let last: number[] = [];

function materialise(path: Int32Array): ExploredState {
  let common = 0;
  while (common < path.length && common < last.length && path[common] === last[common]) common++;
  stack = stack.slice(0, common + 1);
  // every operation of a path made a new state, so it is never refused
  for (let j = common; j < path.length; j++) stack.push(exec.child(stack[j], ops[path[j]]).next!);
  last = Array.from(path);
  return stack[path.length];
}

function expand(req: ChunkRequest): ChunkResult {
  const node: number[] = [];
  const opOut: number[] = [];
  const h: number[] = [];
  const keys: ChunkResult['keys'] = [];
  const count = req.len === 0 ? 1 : req.paths.length / req.len;
  for (let j = 0; j < count; j++) {
    const parent = materialise(req.paths.subarray(j * req.len, (j + 1) * req.len));
    for (let i = 0; i < ops.length; i++) {
      const c = exec.child(parent, ops[i]).next;
      if (c === null) continue; // as exploreBfs: refused, the parent itself
      const [h1, h2] = canonicalFingerprint(c.k, c.monitor, canon);
      if (!sent.add(h1, h2)) continue;
      node.push(j);
      opOut.push(i);
      h.push(h1, h2);
      const v = [...new Set(checkState(c.k, c.monitor).map(violationKey))];
      const cf = [...new Set(proposalCostFindings(c.k).map((f) => `${f.finding}|${f.scheme}`))];
      keys.push(v.length || cf.length ? { v, c: cf } : null);
    }
  }
  return { type: 'chunk', id: req.id, node: Int32Array.from(node), op: Int32Array.from(opOut), h: Uint32Array.from(h), keys };
}

parentPort!.on('message', (msg: ChunkRequest | { type: 'coverage' }) => {
  if (msg.type === 'chunk') {
    const r = expand(msg);
    parentPort!.postMessage(r, [r.node.buffer as ArrayBuffer, r.op.buffer as ArrayBuffer, r.h.buffer as ArrayBuffer]);
  } else {
    const c = exec.coverage;
    parentPort!.postMessage({ type: 'coverage', maps: [c.mmTaken, c.mmTrue, c.mmFalse, c.satTaken, c.satTrue, c.satFalse] });
  }
});
parentPort!.postMessage({ type: 'ready' });
