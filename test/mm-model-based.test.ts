import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mmInvariants } from '../checker/invariants.ts';
import { ALL_EXPLORED_OPS, defaultScope, operationArbitrary } from '../checker/scope.ts';
import type { Kernel } from '../model/kernel.ts';
import { describeOperation, type MmOperation } from '../model/operations.ts';
import { Large612 } from '../model/schemes/large-6.12.ts';
import { Legacy61 } from '../model/schemes/legacy-6.1.ts';
import { Owners615 } from '../model/schemes/owners-6.15.ts';
import type { KernelGeneration } from '../model/types.ts';
import { boot } from './helpers.ts';

/** The kernel under test. */
interface Real {
  k: Kernel;
  run: (op: MmOperation) => string;
}

/** The model: which processes live (operations on others are not generated) and how many steps ran. */
interface Model {
  pids: Set<number>;
  steps: number;
}

/** One MM operation as a fast-check command: prints as a kernel operation, checks every invariant after it. */
class MmCommand implements fc.Command<Model, Real> {
  constructor(readonly op: MmOperation) {}
  /** Only operations of live processes; pid 1 never exits, so there is always someone to act. */
  check(model: Readonly<Model>): boolean {
    if (!('pid' in this.op) || !model.pids.has(this.op.pid)) return false;
    return !(this.op.type === 'EXIT' && this.op.pid === 1);
  }
  run(model: Model, real: Real): void {
    real.run(this.op);
    model.steps++;
    model.pids = new Set(real.k.sys.mms.keys());
    const violations = mmInvariants(real.k);
    if (violations.length) throw new Error(`after ${describeOperation(this.op)}:\n${violations.map((v) => `  ${v.property} [${v.scheme ?? ''} folio ${v.folio}]: ${v.detail}`).join('\n')}`);
  }
  toString(): string {
    return describeOperation(this.op);
  }
}

const RUNS = 1000;

describe.each(['6.1', '6.12'] as KernelGeneration[])('model-based: random MM operations on %s', (kernel) => {
  it(`keeps every exact scheme equal to truth, refcounts covering mappings, no mapped folio freed, rmap walks exact (${RUNS} sequences)`, () => {
    const scope = defaultScope({ kernel, ops: ALL_EXPLORED_OPS, windowPmds: 4, lengths: [1, 2, 3, 4, 8] });
    const lengths: number[] = [];
    fc.assert(
      fc.property(fc.commands([operationArbitrary(scope).map((op) => new MmCommand(op))], { size: 'large', maxCommands: 300 }), (cmds) => {
        const { k, run } = boot({ geometry: scope.geometry, kernel, schemes: (sys) => [new Legacy61(sys), new Large612(sys), new Owners615(sys)] });
        for (const op of scope.setup) run(op);
        run({ type: 'MMAP', pid: 1, addr: scope.windowStart + 2 * 0x4000, len: 0x4000, read: true, write: true, shared: true, inode: 1, pgoff: 0, fixed: true });
        const model: Model = { steps: 0, pids: new Set(k.sys.mms.keys()) };
        fc.modelRun(() => ({ model, real: { k, run } }), cmds);
        lengths.push(model.steps);
      }),
      { numRuns: RUNS },
    );
    const average = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    expect(lengths.length).toBeGreaterThanOrEqual(RUNS);
    expect(average).toBeGreaterThanOrEqual(50);
  });
});
