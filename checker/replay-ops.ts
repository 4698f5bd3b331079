import type { Kernel } from '../model/kernel.ts';
import type { MmOperation } from '../model/operations.ts';
import type { Outcome } from '../model/outcome.ts';
import { getPmd, getPte } from '../model/page-table.ts';
import { SCHEME_NAMES, type SchemeName } from '../model/schemes/scheme.ts';
import type { Folio } from '../model/types.ts';
import type { PositionedEvent, Position, TraceHeader } from '../traces/events.ts';
import { Executor } from './explore/executor.ts';
import { newKernel } from './explore/world.ts';
import type { Scope } from './scope.ts';
import { checkState, newMonitor, observe, violationKey, type StateProperty } from './properties.ts';
import { TINY } from '../model/geometry.ts';

/**
 * The checker side of `trollcount check` for traces of MM operations (explorer counterexamples,
 * synthetic traces, workloads recorded as ops): every `op` runs through the MM system actor with
 * all schemes (proposal on its xstate actors), the same properties as exploration are evaluated
 * after each op, and every `obs` event (kpagecount and present bit of the page a process maps at
 * a virtual address) is compared with the model's exact scheme.
 */

export interface OpReplayViolation {
  readonly property: string;
  readonly scheme?: SchemeName;
  readonly folio?: number;
  readonly detail: string;
  /** The op that produced it (the first op after which it held). */
  readonly at: Position;
  readonly op: MmOperation;
}

export interface OpDivergence {
  readonly at: Position;
  readonly pid: number;
  readonly va: string;
  readonly field: 'present' | 'kpagecount';
  readonly kernel: number | boolean;
  readonly model: number | boolean;
  /** The scheme whose prediction was compared. */
  readonly scheme: SchemeName;
}

export interface OpReplayResult {
  readonly verdict: 'agree' | 'diverge';
  readonly generation: '6.1' | '6.12';
  readonly schemes: readonly SchemeName[];
  readonly counts: {
    readonly events: number;
    readonly ops: number;
    readonly observations: number;
    readonly observationsCompared: number;
    readonly ignored: number;
    readonly outcomes: Readonly<Partial<Record<Outcome, number>>>;
  };
  readonly violations: readonly OpReplayViolation[];
  readonly divergences: readonly OpDivergence[];
}

export interface OpReplayOptions {
  /** Schemes beside truth (default: all). */
  readonly schemes?: SchemeName[];
  /** Extra state properties (e.g. reader decisions). */
  readonly extra?: readonly StateProperty[];
}

/** A scope-like description of the header's MM, for building the kernel. */
function headerScope(header: TraceHeader): Scope {
  return {
    geometry: header.geometry ?? TINY,
    kernel: header.kernel.generation,
    setup: [],
    pids: [],
    inodes: [],
    windowStart: 0,
    windowPmds: 0,
    ops: [],
    lengths: [],
    thp: header.mm?.thp ?? 'always',
    shmemThp: header.mm?.shmemThp ?? true,
  };
}

/** The model's page at pid/va: present (any entry, the zero pages included) and the folio if it is a real one. */
function pageAt(k: Kernel, pid: number, va: number): { present: boolean; folio?: Folio; page?: number } {
  const mm = k.sys.mms.get(pid);
  if (!mm) return { present: false };
  const g = k.sys.config.geometry;
  const pmd = getPmd(k.sys, mm, va);
  if (pmd) {
    const folio = k.sys.folios.get(pmd.folio);
    const page = Math.floor((va % (g.pageSize << g.pmdOrder)) / g.pageSize);
    return { present: true, folio, page };
  }
  const pte = getPte(k.sys, mm, va);
  if (pte?.kind !== 'present') return { present: false };
  return { present: true, folio: k.sys.folios.get(pte.folio), page: pte.page };
}

export async function replayOpTrace(stream: { header: TraceHeader; events: AsyncIterable<PositionedEvent> }, opts: OpReplayOptions = {}): Promise<OpReplayResult> {
  const { header } = stream;
  const generation = header.kernel.generation;
  const exact: SchemeName = generation === '6.1' ? 'legacy-6.1' : 'large-6.12';
  const schemes = ['truth' as SchemeName, ...(opts.schemes ?? SCHEME_NAMES).filter((s) => s !== 'truth')];
  if (!schemes.includes(exact)) schemes.push(exact);
  const k = newKernel(headerScope(header), schemes, 'actor');
  const exec = new Executor();
  const monitor = newMonitor();
  const violations: OpReplayViolation[] = [];
  const divergences: OpDivergence[] = [];
  const outcomes: Partial<Record<Outcome, number>> = {};
  let holding = new Set<string>();
  let events = 0;
  let ops = 0;
  let observations = 0;
  let compared = 0;
  let ignored = 0;
  const exactScheme = k.schemes.find((s) => s.name === exact)!;

  for await (const { event, at } of stream.events) {
    events++;
    if (event.ev === 'op') {
      ops++;
      const outcome = exec.run(k, event.op, monitor);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      observe(k, monitor);
      const now = new Set<string>();
      for (const v of checkState(k, monitor, { extra: opts.extra })) {
        const key = `${violationKey(v)}|${v.folio ?? ''}`;
        now.add(key);
        if (!holding.has(key)) violations.push({ ...v, at, op: event.op });
      }
      holding = now;
    } else if (event.ev === 'obs') {
      observations++;
      const va = Number(BigInt(event.va));
      const model = pageAt(k, event.pid, va);
      const diverge = (field: OpDivergence['field'], kernel: number | boolean, predicted: number | boolean): void =>
        void divergences.push({ at, pid: event.pid, va: event.va, field, kernel, model: predicted, scheme: exact });
      compared++;
      if (model.present !== event.present) {
        diverge('present', event.present, model.present);
        continue;
      }
      // the zero pages' kpagecount is not a mapcount the model predicts
      if (!event.present || !model.folio || model.folio.kind === 'zero' || model.folio.kind === 'huge-zero') continue;
      const predicted = exactScheme.kpagecount(model.folio, model.page ?? 0);
      if (predicted !== event.kpagecount) diverge('kpagecount', event.kpagecount, predicted);
    } else {
      ignored++;
    }
  }
  return {
    verdict: violations.length || divergences.length ? 'diverge' : 'agree',
    generation,
    schemes,
    counts: { events, ops, observations, observationsCompared: compared, ignored, outcomes },
    violations,
    divergences,
  };
}
