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
import { describeOperation } from '../model/operations.ts';
import { describeSchemeState } from './doc/examples.ts';
import type { TimelineValue } from './replay-kernel.ts';

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

/** An op the emulated MM refused because its process does not exist (ESRCH). */
export interface OpRefusal {
  readonly at: Position;
  readonly op: MmOperation;
  readonly outcome: 'ESRCH';
}

export interface OpReplayResult {
  /** inconclusive: no divergence, but an op named a process that never existed (see `refused`). */
  readonly verdict: 'agree' | 'diverge' | 'inconclusive';
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
  /** The first ops refused with ESRCH (a pid never spawned or forked), capped at 50; all are counted in outcomes. */
  readonly refused: readonly OpRefusal[];
}

export interface OpReplayOptions {
  /** Schemes beside truth (default: all). */
  readonly schemes?: SchemeName[];
  /** Extra state properties (e.g. reader decisions). */
  readonly extra?: readonly StateProperty[];
  /** Observer of each folio's scheme states after every op and obs (for `check --html/--perfetto`); absent: no cost. */
  readonly timeline?: (entry: OpTimelineEntry) => void;
  /** Stop early when aborted (checked every 256 events): the result covers the events replayed so far. */
  readonly signal?: AbortSignal;
}

/** One folio after an op (when any scheme's state of it changed) or at an obs of one of its pages. */
export interface OpTimelineEntry {
  readonly file: string;
  readonly line: number;
  /** The op as the kernel would say it, or `OBS pid va`. */
  readonly fn: string;
  readonly outcome?: Outcome;
  /** Head pfn of the folio (hex). */
  readonly folio: string;
  readonly page: number;
  readonly nr: number;
  /** One-line state per scheme (checker/doc/examples.ts describeSchemeState); 'freed' once gone. */
  readonly states: Readonly<Record<string, string>>;
  /** obs: kpagecount the kernel reported vs the exact scheme's prediction. */
  readonly values: readonly TimelineValue[];
  /** Properties that started to fail on this folio with this op. */
  readonly violations: readonly string[];
  readonly diverged: boolean;
}

/** Folios followed per op at most (the timeline is for reading, not for exhaustive dumps). */
const TIMELINE_FOLIOS_PER_OP = 256;

/** Timeline: emit every folio whose scheme states changed with this op (only with an observer). */
function emitOpTimeline(
  k: Kernel,
  last: Map<number, string>,
  tl: (e: OpTimelineEntry) => void,
  at: Position,
  op: MmOperation,
  outcome: Outcome,
  fresh: readonly OpReplayViolation[],
): void {
  const fn = describeOperation(op);
  const byFolio = new Map<number, string[]>();
  for (const v of fresh) if (v.folio !== undefined) byFolio.set(v.folio, [...(byFolio.get(v.folio) ?? []), `${v.property}${v.scheme ? ` [${v.scheme}]` : ''}: ${v.detail}`]);
  let n = 0;
  for (const folio of k.sys.folios.values()) {
    if (n++ >= TIMELINE_FOLIOS_PER_OP) break;
    const states: Record<string, string> = {};
    for (const s of k.schemes) states[s.name] = describeSchemeState(k, s, folio);
    const key = JSON.stringify(states);
    const violations = byFolio.get(folio.id) ?? [];
    if (last.get(folio.id) === key && !violations.length) continue;
    last.set(folio.id, key);
    tl({ file: at.file, line: at.line, fn, outcome, folio: '0x' + folio.id.toString(16), page: 0, nr: 1 << folio.order, states, values: [], violations, diverged: violations.length > 0 });
  }
  for (const id of [...last.keys()]) {
    if (k.sys.folios.has(id)) continue;
    last.delete(id);
    const states = Object.fromEntries(k.schemes.map((s) => [s.name, 'freed']));
    const violations = byFolio.get(id) ?? [];
    tl({ file: at.file, line: at.line, fn, outcome, folio: '0x' + id.toString(16), page: 0, nr: 1, states, values: [], violations, diverged: violations.length > 0 });
  }
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

/** Timeline: an obs compared with the exact scheme, with every scheme's state of the folio. */
function emitObsTimeline(k: Kernel, tl: (e: OpTimelineEntry) => void, at: Position, pid: number, va: string, folio: Folio, page: number, value: TimelineValue): void {
  const states: Record<string, string> = {};
  for (const s of k.schemes) states[s.name] = describeSchemeState(k, s, folio);
  tl({ file: at.file, line: at.line, fn: `OBS pid ${pid} va ${va}`, folio: '0x' + folio.id.toString(16), page, nr: 1 << folio.order, states, values: [value], violations: [], diverged: value.diverged });
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
  const tl = opts.timeline;
  const tlLast = new Map<number, string>();

  const refused: OpRefusal[] = [];
  for await (const { event, at } of stream.events) {
    events++;
    if ((events & 255) === 0 && opts.signal?.aborted) break;
    if (event.ev === 'op') {
      ops++;
      const outcome = exec.run(k, event.op, monitor);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      // an op of a process that does not exist (never spawned or forked) cannot be in a recorded trace
      if (outcome === 'ESRCH' && refused.length < 50) refused.push({ at, op: event.op, outcome });
      observe(k, monitor);
      const now = new Set<string>();
      const before = violations.length;
      for (const v of checkState(k, monitor, { extra: opts.extra })) {
        const key = `${violationKey(v)}|${v.folio ?? ''}`;
        now.add(key);
        if (!holding.has(key)) violations.push({ ...v, at, op: event.op });
      }
      holding = now;
      if (tl) emitOpTimeline(k, tlLast, tl, at, event.op, outcome, violations.slice(before));
    } else if (event.ev === 'obs') {
      observations++;
      const va = Number(BigInt(event.va));
      const model = pageAt(k, event.pid, va);
      const diverge = (field: OpDivergence['field'], kernel: number | boolean, predicted: number | boolean): void => {
        divergences.push({ at, pid: event.pid, va: event.va, field, kernel, model: predicted, scheme: exact });
        if (tl && model.folio) emitObsTimeline(k, tl, at, event.pid, event.va, model.folio, model.page ?? 0, { field, page: model.page ?? 0, kernel, model: predicted, diverged: true });
      };
      compared++;
      if (model.present !== event.present) {
        diverge('present', event.present, model.present);
        continue;
      }
      // the zero pages' kpagecount is not a mapcount the model predicts
      if (!event.present || !model.folio || model.folio.kind === 'zero' || model.folio.kind === 'huge-zero') continue;
      const predicted = exactScheme.kpagecount(model.folio, model.page ?? 0);
      if (predicted !== event.kpagecount) diverge('kpagecount', event.kpagecount, predicted);
      else if (tl) emitObsTimeline(k, tl, at, event.pid, event.va, model.folio, model.page ?? 0, { field: 'kpagecount', page: model.page ?? 0, kernel: event.kpagecount, model: predicted, diverged: false });
    } else {
      ignored++;
    }
  }
  return {
    verdict: violations.length || divergences.length ? 'diverge' : outcomes.ESRCH ? 'inconclusive' : 'agree',
    generation,
    schemes,
    counts: { events, ops, observations, observationsCompared: compared, ignored, outcomes },
    violations,
    divergences,
    refused,
  };
}
