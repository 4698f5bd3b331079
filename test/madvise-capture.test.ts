import { describe, expect, it } from 'vitest';
import type { Advice } from '../model/madvise.ts';
import type { MmOperation } from '../model/operations.ts';
import type { KernelGeneration } from '../model/types.ts';
import { openTrace } from '../traces/reader.ts';
import { boot } from './helpers.ts';

/**
 * The madvise-thp captures (traces/capture/workloads/madvise-thp.c) beside the model running the
 * same steps: in every step the real kernel splits as many large folios as the model's madvise
 * does (6.1 splits a THP mapped whole by PTEs, 6.12 does not; both split one mapped in part; neither
 * one shared with a child), and mprotect and madvise over a range with a hole end with ENOMEM on
 * both, as in the model.
 */

const DIR = new URL('../traces/fixtures/real/', import.meta.url).pathname;
const ENOMEM = '0xfffffffffffffff4';

interface Step {
  splits: number;
  /** Return values of the mprotect and madvise calls of the step, in order. */
  rets: string[];
}

/** Folio splits and mprotect / madvise returns of the workload's process, step by step. */
async function kernelSteps(gen: KernelGeneration): Promise<Record<string, Step>> {
  const steps: Record<string, Step> = {};
  let step: Step | undefined;
  const trace = await openTrace(`${DIR}${gen}-madvise-thp.ftrace.gz`);
  for await (const { event: e } of trace.events) {
    if (e.ev === 'step') steps[e.name] = step = { splits: 0, rets: [] };
    else if (!step || e.ev === 'op' || e.comm !== 'workload') continue;
    else if (e.ev === 'kcall' && e.fn.startsWith('split_huge_page_to_list') && e.ret !== true) step.splits++;
    else if (e.ev === 'syscall' && e.phase === 'exit' && (e.name === 'mprotect' || e.name === 'madvise')) step.rets.push(e.ret === '0x0' ? 'ok' : e.ret === ENOMEM ? 'ENOMEM' : String(e.ret));
  }
  return steps;
}

/** The workload's steps run by the model: large folios split and outcomes of each step. */
function modelSteps(kernel: KernelGeneration): Record<string, Step> {
  const { k, run } = boot({ kernel });
  const PAGE = 0x1000;
  const HPAGE = 0x200000;
  const A = 8 * HPAGE;
  const H = 16 * HPAGE;
  const large = (): number => [...k.sys.folios.values()].filter((f) => f.order > 0 && f.kind === 'anon').length;
  const steps: Record<string, Step> = {};
  const step = (name: string, ops: MmOperation[]): void => {
    const before = large();
    const rets: string[] = [];
    for (const op of ops) {
      const outcome = run(op);
      if (op.type === 'MPROTECT' || op.type === 'MADVISE') rets.push(outcome);
      else expect(outcome, `${name}: ${op.type}`).toBe('ok');
    }
    steps[name] = { splits: before - large(), rets };
  };
  const madvise = (addr: number, len: number, advice: Advice): MmOperation => ({ type: 'MADVISE', pid: 1, addr, len, advice });
  const mprotect = (addr: number, len: number, write: boolean): MmOperation => ({ type: 'MPROTECT', pid: 1, addr, len, read: true, write });
  const fault = (addr: number, pages: number): MmOperation[] => Array.from({ length: pages }, (_, i) => ({ type: 'FAULT', pid: 1, addr: addr + i * PAGE, write: true }));
  const anon = (addr: number, len: number): MmOperation => ({ type: 'MMAP', pid: 1, addr, len, read: true, write: true, shared: false, fixed: true });

  run({ type: 'SPAWN', pid: 1 });
  step('mmap-fault', [anon(A, 3 * HPAGE), madvise(A, 3 * HPAGE, 'HUGEPAGE'), ...[0, 1, 2].flatMap((i) => fault(A + i * HPAGE, 1))]);
  step('pte-map', [0, 1, 2].flatMap((i) => [mprotect(A + i * HPAGE, HPAGE / 2, false), mprotect(A + i * HPAGE, HPAGE / 2, true)]));
  step('cold-whole-thp0', [madvise(A, HPAGE, 'COLD')]);
  step('cold-part-thp1', [madvise(A + HPAGE, HPAGE / 2, 'COLD')]);
  step('fork', [{ type: 'FORK', pid: 1, child: 2 }]);
  step('cold-part-shared-thp2', [madvise(A + 2 * HPAGE, HPAGE / 2, 'COLD')]);
  step('child-exit', [{ type: 'EXIT', pid: 2 }]);
  step('holes', [anon(H, 12 * PAGE), madvise(H, 12 * PAGE, 'NOHUGEPAGE'), ...fault(H, 12), { type: 'MUNMAP', pid: 1, addr: H + 4 * PAGE, len: 4 * PAGE }, mprotect(H + 2 * PAGE, 10 * PAGE, false), madvise(H, 12 * PAGE, 'DONTNEED')]);
  return steps;
}

describe('madvise-thp: the real kernels and the model, step by step', () => {
  for (const gen of ['6.1', '6.12'] as const) {
    it(`${gen}: the same folio splits in every step, and the same ENOMEM over a hole`, async () => {
      const kernel = await kernelSteps(gen);
      const model = modelSteps(gen);
      for (const name of ['cold-whole-thp0', 'cold-part-thp1', 'cold-part-shared-thp2']) expect({ name, ...kernel[name] }).toEqual({ name, ...model[name] });
      expect(kernel['cold-whole-thp0'].splits).toBe(gen === '6.1' ? 1 : 0);
      expect(kernel['cold-part-thp1'].splits).toBe(1);
      expect(kernel['cold-part-shared-thp2'].splits).toBe(0);
      // MADV_NOHUGEPAGE of the new mapping, then mprotect and MADV_DONTNEED over the hole
      expect(kernel.holes.rets).toEqual(['ok', 'ENOMEM', 'ENOMEM']);
      expect(model.holes.rets).toEqual(kernel.holes.rets);
    });
  }
});
