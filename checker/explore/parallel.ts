import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SchemeName } from '../../model/schemes/scheme.ts';
import { checkState, costKey, proposalCostFindings, violationKey } from '../properties.ts';
import { enumerateOperations } from '../scope.ts';
import { exploreBfs, rootState, exploreReport, toCounterexample, type BfsOptions, type CostCounterexample, type Counterexample, type ExploreReport } from './bfs.ts';
import { FingerprintSet, canonicalFingerprint, pidSymmetrySound } from './canonical.ts';
import { Coverage, Executor } from './executor.ts';
import { Expander, type ChunkRequest, type ChunkResult, type ExpanderInit } from './expand.ts';
import { defaultExploreSchemes } from './world.ts';

/**
 * The exhaustive BFS of bfs.ts on several cores, with the same result: the same distinct states
 * (fingerprints), the same violations and cost findings with the same shortest counterexamples
 * (the first in the scope's enumeration order), the same coverage (test/explore-parallel.test.ts;
 * a search stopped by maxStates has also expanded the chunks in flight when it stopped, so its
 * coverage may list more transitions than the sequential search, which stops at the operation).
 *
 * Level by level: the frontier is a list of operation paths (no states are sent), cut into chunks
 * handed in increasing order to the expanders (expand.ts) as they come free: one in the main
 * thread, which starts at once, and one in each worker thread (worker.ts). An expander replays
 * each path, expands it by every operation, and answers per child with its 64-bit fingerprint and
 * the keys of the rules it violates. The main thread merges the answers in chunk order, which is
 * the sequential search order, as they come (a chunk waits for the ones before it), and hands out
 * no more chunks once maxStates is reached: the visited set (FingerprintSet, 8-byte slots, no
 * parent pointers) says which child is new; a new child extends the next frontier (its parent's
 * path plus the operation) and the first new child violating a rule is that rule's
 * counterexample. Details (the violation text, folio) are recomputed at the end by replaying each
 * counterexample's path once.
 *
 * Reader decisions (`readers`) and extra properties are checked by the sequential search: the
 * reader log is shared state of the whole run and functions do not cross threads.
 */

export interface ParallelBfsOptions extends BfsOptions {
  /** Threads expanding the frontier, the main thread included (default: the cores available, at least 1). */
  readonly workers?: number;
  /** Wait for every thread to boot before the first large level, so that each surely expands part of it (tests). */
  readonly awaitThreads?: boolean;
}

export type ParallelReport = ExploreReport & {
  readonly workers: number;
  /** Chunks expanded by the main thread, then by each worker thread. */
  readonly expandedBy?: readonly number[];
};

/** Frontier nodes from which a level is worth the worker threads (below, the main thread expands it alone). */
const THREADS_FROM = 64;

export async function exploreBfsParallel(opts: ParallelBfsOptions): Promise<ParallelReport> {
  if (opts.readers || opts.extra?.length) return { ...exploreBfs(opts), workers: 1 };
  const t0 = performance.now();
  const { scope } = opts;
  const schemes: readonly SchemeName[] = opts.schemes ?? defaultExploreSchemes(scope);
  const maxDepth = opts.maxDepth ?? 3;
  const maxStates = opts.maxStates ?? 500_000;
  const nThreads = Math.max(1, opts.workers ?? availableParallelism());
  const engine = opts.engine ?? 'fast';
  const exec = new Executor(engine);
  const ops = enumerateOperations(scope);
  const root = rootState(scope, schemes, exec);
  const pidSymmetry = (opts.pidSymmetry ?? true) && pidSymmetrySound(root.k);
  const canon = { scopePids: scope.pids, scopeInodes: scope.inodes, pidSymmetry };
  const visited = new FingerprintSet();
  const prints = opts.keepFingerprints ? new Set<string>() : undefined;
  // rule key -> path of its first violating state (details filled in at the end)
  const violations = new Map<string, readonly number[]>();
  const costs = new Map<string, readonly number[]>();
  let explored = 0;
  let depthReached = 0;

  const noteChecks = (path: readonly number[], keys: ChunkResult['keys'][number]): void => {
    if (!keys) return;
    for (const key of keys.v) if (!violations.has(key)) violations.set(key, path);
    for (const key of keys.c) if (!costs.has(key)) costs.set(key, path);
  };

  const [a, b] = canonicalFingerprint(root.k, root.monitor, canon);
  visited.add(a, b);
  prints?.add(`${a}:${b}`);
  noteChecks([], {
    v: [...new Set(checkState(root.k, root.monitor).map(violationKey))],
    c: [...new Set(proposalCostFindings(root.k).map(costKey))],
  });

  const init: ExpanderInit = { scope, schemes, pidSymmetry, engine };
  // A young generation larger than V8's default: expanding a state allocates a copy of it that
  // mostly dies at once (refused, or already seen), and a bigger nursery scavenges far less often.
  const resourceLimits = { maxYoungGenerationSizeMb: 128 };
  const threads = Array.from({ length: nThreads - 1 }, () => new Worker(new URL('./worker-boot.cjs', import.meta.url), { workerData: init, resourceLimits }));
  // the main thread expands chunks too, from the start (the threads take a while to boot)
  const local = new Expander(init);
  const pending = new Map<number, (r: ChunkResult) => void>();
  const ready = threads.map(
    (w) =>
      new Promise<void>((resolve, reject) => {
        w.once('error', reject);
        w.on('message', (m: ChunkResult | { type: 'ready' }) => {
          if (m.type === 'ready') resolve();
          if (m.type !== 'chunk') return;
          pending.get(m.id)!(m);
          pending.delete(m.id);
        });
      }),
  );
  // a thread that fails before a lane waits on it is reported through `failed`
  for (const r of ready) r.catch(() => undefined);
  const failed = new Promise<never>((_, reject) => threads.forEach((w) => w.once('error', reject)));
  failed.catch(() => undefined);

  try {
    // A lane takes chunks one after the other: the main thread's lane expands them itself (and
    // yields between chunks, so the threads' answers are merged and they get more work); each
    // thread has two lanes, so it always has the next chunk queued while the main thread is busy.
    // A thread's lanes take chunks once it is ready: until then the main thread goes on alone
    // (a thread boots in ~0.3 s of a core; waiting for it left the main thread idle that long).
    const expandedBy = new Array<number>(nThreads).fill(0);
    interface Lane {
      readonly ready: Promise<void>;
      expand(req: ChunkRequest): Promise<ChunkResult>;
    }
    const lanes: Lane[] = [
      {
        ready: Promise.resolve(),
        async expand(req) {
          await new Promise(setImmediate);
          expandedBy[0]++;
          return local.expand(req);
        },
      },
      ...threads.flatMap((w, i): Lane[] => {
        const lane: Lane = {
          ready: ready[i],
          expand: (req) =>
            Promise.race([
              failed,
              new Promise<ChunkResult>((resolve) => {
                pending.set(req.id, (r) => {
                  expandedBy[i + 1]++;
                  resolve(r);
                });
                w.postMessage(req);
              }),
            ]),
        };
        return [lane, lane];
      }),
    ];

    // the frontier: `count` paths of `len` operations, flattened
    let frontier = { len: 0, count: 1, paths: new Int32Array(0) };
    let full = false;
    for (let depth = 1; depth <= maxDepth && frontier.count && !full; depth++) {
      const { len, count, paths } = frontier;
      // small chunks: a search stopped by maxStates wastes at most the chunks in flight
      const chunkNodes = Math.max(1, Math.min(16, Math.ceil(count / (nThreads * 8))));
      const chunks = Math.ceil(count / chunkNodes);
      const results: (ChunkResult | undefined)[] = new Array(chunks);
      const foundBefore = violations.size;
      const next: number[] = [];
      let nextCount = 0;
      // merge in the sequential order, as soon as the chunks before have come
      let merged = 0;
      const merge = (): void => {
        for (; merged < chunks && results[merged] && !full; merged++) {
          const r = results[merged]!;
          const base = merged * chunkNodes;
          for (let x = 0; x < r.node.length; x++) {
            const h1 = r.h[2 * x];
            const h2 = r.h[2 * x + 1];
            if (!visited.add(h1, h2)) continue;
            prints?.add(`${h1}:${h2}`);
            const j = base + r.node[x];
            const path = [...paths.subarray(j * len, (j + 1) * len), r.op[x]];
            depthReached = depth;
            noteChecks(path, r.keys[x]);
            if (depth < maxDepth) {
              next.push(...path);
              nextCount++;
            }
            if (visited.size >= maxStates) {
              // exploreBfs stops right after this operation
              full = true;
              explored += j * ops.length + r.op[x] + 1;
              break;
            }
          }
          results[merged] = undefined;
        }
      };
      // small levels cost the main thread less than handing chunks out: it expands them alone
      const active = count > THREADS_FROM ? lanes : lanes.slice(0, 1);
      if (opts.awaitThreads && active.length > 1) await Promise.all(ready);
      let nextChunk = 0;
      // a thread not ready when the chunks run out has nothing to do at this level
      let allTaken!: () => void;
      const taken = new Promise<void>((resolve) => (allTaken = resolve));
      await Promise.all(
        active.map(async (lane) => {
          await Promise.race([lane.ready, taken]);
          while (nextChunk < chunks && !full) {
            const id = nextChunk++;
            const from = id * chunkNodes;
            const to = Math.min(count, from + chunkNodes);
            results[id] = await lane.expand({ type: 'chunk', id, len, paths: paths.slice(from * len, to * len) });
            merge();
          }
          allTaken();
        }),
      );
      if (!full) explored += count * ops.length;
      opts.onProgress?.({ depth, distinct: visited.size, explored, frontier: nextCount });
      frontier = { len: len + 1, count: nextCount, paths: Int32Array.from(next) };
      if (opts.stopAtFirstDepth && violations.size > foundBefore) break;
    }

    const coverage = new Coverage();
    coverage.merge(exec.coverage);
    coverage.merge(local.exec.coverage);
    for (const w of threads) {
      const maps = await new Promise<Map<string, number>[]>((resolve) => {
        const on = (m: { type: string; maps: Map<string, number>[] }): void => {
          if (m.type !== 'coverage') return;
          w.off('message', on);
          resolve(m.maps);
        };
        w.on('message', on);
        w.postMessage({ type: 'coverage' });
      });
      const c = new Coverage();
      [c.mmTaken, c.mmTrue, c.mmFalse, c.satTaken, c.satTrue, c.satFalse].forEach((m, i) => maps[i].forEach((n, key) => m.set(key, n)));
      coverage.merge(c);
    }

    // the counterexamples' details: replay each path once
    const replayExec = new Executor(engine);
    const stateAt = (path: readonly number[]) => {
      let s = rootState(scope, schemes, replayExec);
      for (const i of path) s = replayExec.child(s, ops[i]).next!;
      return s;
    };
    const cache = new Map<string, ReturnType<typeof stateAt>>();
    const at = (path: readonly number[]) => {
      const key = path.join(',');
      let s = cache.get(key);
      if (!s) cache.set(key, (s = stateAt(path)));
      return s;
    };
    const outViolations: Counterexample[] = [];
    for (const [key, path] of violations) {
      const s = at(path);
      const v = checkState(s.k, s.monitor).find((x) => violationKey(x) === key)!;
      outViolations.push(toCounterexample(v, scope.setup, path.map((i) => ops[i])));
    }
    const outCosts: CostCounterexample[] = [];
    for (const [key, path] of costs) {
      const s = at(path);
      const f = proposalCostFindings(s.k).find((x) => costKey(x) === key)!;
      outCosts.push({ ...f, setup: scope.setup, ops: path.map((i) => ops[i]) });
    }

    const report = exploreReport(
      {
        mode: 'bfs',
        depthReached,
        complete: frontier.count === 0 && !full,
        pidSymmetry,
        violations: outViolations,
        costFindings: outCosts,
        coverage: coverage.report(),
        ...(prints ? { fingerprints: prints } : {}),
      },
      { scope, schemes, operations: ops.length, explored, visited, t0 },
    );
    return { ...report, workers: nThreads, expandedBy };
  } finally {
    await Promise.all(threads.map((w) => w.terminate()));
  }
}
