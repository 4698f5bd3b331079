import { createActor, type AnyStateMachine, type AnyTransitionDefinition } from 'xstate';
import type { Kernel } from '../../model/kernel.ts';
import { MachineInterpreter } from '../../model/machines/interpreter.ts';
import { LEAVES_KERNEL_UNTOUCHED, mmSystemMachine, type MmContext } from '../../model/machines/mm-system.ts';
import { saturatingMapcountMachine, type SaturatingEvent } from '../../model/machines/saturating-mapcount.ts';
import type { MmOperation } from '../../model/operations.ts';
import type { Outcome } from '../../model/outcome.ts';
import { SaturatingScheme } from '../../model/schemes/proposal.ts';
import type { RmapCall, VmaChange } from '../../model/schemes/scheme.ts';
import { Truth, type HookListener } from '../../model/schemes/truth.ts';
import { findVma } from '../../model/vma.ts';
import { cloneMonitor, observe, sampleVmaChange, sampleWithinOperation, type ProposalMonitor } from '../properties.ts';
import { cloneKernel } from './world.ts';

/**
 * Execution for exploration: ONE long-lived runner of the MM system machine whose context.k is
 * swapped to the kernel being expanded, instrumented to record which machine transitions and
 * guards were exercised. Two engines run the same machine:
 *   - 'actor' (default: op replay, counterexamples, random exploration): an xstate actor; guards
 *     wrapped by machine.provide() (true and false results recorded), transitions taken read
 *     from xstate's inspection API (@xstate.microstep);
 *   - 'fast' (the exhaustive search): the machine's own definition run by MachineInterpreter
 *     (model/machines/interpreter.ts), which counts the guards it evaluates and the transitions
 *     it takes; test/mm-system-fastpath.test.ts keeps both identical (kernels, outcomes, coverage).
 *   - Saturating mapcount machine: each proposal scheme tells of every per-folio send through
 *     its onSend field (set after every clone), and the transition the machine takes is selected from the
 *     machine's own config and guard implementations, exactly as xstate and the fast path do.
 */

export interface MachineCoverage {
  readonly machine: string;
  /** Every transition of the machine, as `source --EVENT [guard]--> target`. */
  readonly transitions: readonly string[];
  readonly transitionsTaken: ReadonlyMap<string, number>;
  readonly guards: readonly string[];
  readonly guardsTrue: ReadonlyMap<string, number>;
  readonly guardsFalse: ReadonlyMap<string, number>;
}

export interface CoverageReport {
  readonly machine: string;
  readonly transitions: { readonly total: number; readonly exercised: string[]; readonly never: string[] };
  readonly guards: { readonly total: number; readonly exercised: string[]; readonly neverTrue: string[]; readonly neverEvaluated: string[] };
}

const nameOf = (ref: unknown): string =>
  typeof ref === 'string' ? ref : ref && typeof ref === 'object' && 'type' in ref ? String((ref as { type: unknown }).type) : '(inline)';

/** A readable key of a transition definition. */
function transitionKey(t: AnyTransitionDefinition): string {
  const targets = t.target?.map((n) => n.id).join(',') ?? '(self)';
  const event = t.eventType === '' ? 'always' : t.eventType;
  return `${t.source.id} --${event}${t.guard !== undefined ? ` [${nameOf(t.guard)}]` : ''}--> ${targets}`;
}

/** Every transition (event and eventless) of every state node. */
function allTransitions(machine: AnyStateMachine): AnyTransitionDefinition[] {
  const out: AnyTransitionDefinition[] = [];
  const visit = (node: AnyStateMachine['root']): void => {
    for (const list of node.transitions.values()) out.push(...list);
    if (node.always) out.push(...node.always);
    for (const child of Object.values(node.states)) visit(child as AnyStateMachine['root']);
  };
  visit(machine.root);
  return out;
}

export class Coverage {
  readonly mmTransitions: string[];
  readonly mmGuards: string[];
  readonly mmTaken = new Map<string, number>();
  readonly mmTrue = new Map<string, number>();
  readonly mmFalse = new Map<string, number>();
  readonly satTransitions: string[];
  readonly satGuards: string[];
  readonly satTaken = new Map<string, number>();
  readonly satTrue = new Map<string, number>();
  readonly satFalse = new Map<string, number>();

  constructor() {
    this.mmTransitions = allTransitions(mmSystemMachine).map(transitionKey);
    this.mmGuards = Object.keys(mmSystemMachine.implementations.guards);
    this.satTransitions = allTransitions(saturatingMapcountMachine).map(transitionKey);
    this.satGuards = Object.keys(saturatingMapcountMachine.implementations.guards);
  }

  merge(other: Coverage): void {
    for (const [mine, theirs] of [
      [this.mmTaken, other.mmTaken],
      [this.mmTrue, other.mmTrue],
      [this.mmFalse, other.mmFalse],
      [this.satTaken, other.satTaken],
      [this.satTrue, other.satTrue],
      [this.satFalse, other.satFalse],
    ] as const)
      for (const [k, n] of theirs) mine.set(k, (mine.get(k) ?? 0) + n);
  }

  report(): CoverageReport[] {
    const one = (machine: string, transitions: string[], guards: string[], taken: Map<string, number>, yes: Map<string, number>, no: Map<string, number>): CoverageReport => ({
      machine,
      transitions: { total: transitions.length, exercised: transitions.filter((t) => taken.has(t)), never: transitions.filter((t) => !taken.has(t)) },
      guards: {
        total: guards.length,
        exercised: guards.filter((g) => yes.has(g)),
        neverTrue: guards.filter((g) => !yes.has(g)),
        neverEvaluated: guards.filter((g) => !yes.has(g) && !no.has(g)),
      },
    });
    return [
      one('mm', this.mmTransitions, this.mmGuards, this.mmTaken, this.mmTrue, this.mmFalse),
      one('saturatingMapcount', this.satTransitions, this.satGuards, this.satTaken, this.satTrue, this.satFalse),
    ];
  }
}

/**
 * Counts of one kind of coverage event (a transition taken, a guard true or false) as they happen:
 * one lookup of a counter per event, keyed by whatever the recorder holds (a transition definition,
 * a guard name); added to a Coverage map, by name, when the coverage is read (the exhaustive
 * search records several events per operation, hundreds of thousands of operations a second).
 */
class Tally<K> {
  private readonly cells = new Map<K, { n: number }>();

  constructor(
    private readonly into: (c: Coverage) => Map<string, number>,
    private readonly nameOf: (k: K) => string,
  ) {}

  bump(k: K): void {
    const cell = this.cells.get(k);
    if (cell === undefined) this.cells.set(k, { n: 1 });
    else cell.n++;
  }

  flush(coverage: Coverage): void {
    const m = this.into(coverage);
    for (const [k, { n }] of this.cells) {
      const name = this.nameOf(k);
      m.set(name, (m.get(name) ?? 0) + n);
    }
    this.cells.clear();
  }
}

const add = (m: Map<string, number>, key: string, n: number): void => void m.set(key, (m.get(key) ?? 0) + n);

/** The tallies an executor records into, one per map of Coverage. */
class Tallies {
  readonly mmTaken = new Tally<AnyTransitionDefinition>((c) => c.mmTaken, transitionKey);
  readonly mmTrue = new Tally<string>((c) => c.mmTrue, String);
  readonly mmFalse = new Tally<string>((c) => c.mmFalse, String);
  readonly satTaken = new Tally<AnyTransitionDefinition>((c) => c.satTaken, transitionKey);
  readonly satTrue = new Tally<string>((c) => c.satTrue, String);
  readonly satFalse = new Tally<string>((c) => c.satFalse, String);

  flush(coverage: Coverage): void {
    for (const t of [this.mmTaken, this.mmTrue, this.mmFalse, this.satTaken, this.satTrue, this.satFalse]) t.flush(coverage);
  }
}

type GuardImpl = (args: { context: unknown; event: unknown }, params: unknown) => boolean;

/** Selects the saturating machine's transition for an event in a state, recording guards. */
function satSelector(tallies: Tallies): (state: string, event: SaturatingEvent) => void {
  const guards = saturatingMapcountMachine.implementations.guards as Record<string, GuardImpl>;
  // state -> event type -> candidates in document order
  const table = new Map<string, Map<string, AnyTransitionDefinition[]>>();
  for (const t of allTransitions(saturatingMapcountMachine)) {
    let byEvent = table.get(t.source.key);
    if (!byEvent) table.set(t.source.key, (byEvent = new Map()));
    byEvent.set(t.eventType, [...(byEvent.get(t.eventType) ?? []), t]);
  }
  return (state, event) => {
    for (const t of table.get(state)?.get(event.type) ?? []) {
      if (t.guard !== undefined) {
        const name = nameOf(t.guard);
        const ok = guards[name]({ context: undefined, event }, undefined);
        (ok ? tallies.satTrue : tallies.satFalse).bump(name);
        if (!ok) continue;
      }
      tallies.satTaken.bump(t);
      return;
    }
  };
}

/** An explored state: the kernel and the proposal monitor. */
export interface ExploredState {
  readonly k: Kernel;
  readonly monitor: ProposalMonitor;
}

export type ExecutionEngine = 'actor' | 'fast';

/** Does the operation leave the state unchanged without touching it (no such process, no VMA for a fault)? */
export function inertOperation(k: Kernel, op: MmOperation): boolean {
  if (op.type === 'SPAWN' || op.type === 'CREATE_FILE') return false;
  const mm = k.sys.mms.get(op.pid);
  if (!mm) return true;
  return op.type === 'FAULT' && !findVma(k.sys, mm, op.addr);
}

type UntouchedCheck = (context: MmContext, event: MmOperation) => boolean;

/** Do all the checks say the operation leaves the kernel untouched? (A loop: no closure per operation.) */
function leavesUntouched(checks: readonly UntouchedCheck[], context: MmContext, op: MmOperation): boolean {
  for (const leaves of checks) if (!leaves(context, op)) return false;
  return true;
}

export class Executor {
  private readonly recorded = new Coverage();
  private readonly tallies = new Tallies();
  /** The context the operations run in: the actor's, or the interpreter's. */
  private readonly context: MmContext;
  private readonly send: (op: MmOperation) => void;
  /** The fast engine's interpreter. */
  private readonly fast: MachineInterpreter<MmContext, MmOperation> | null = null;
  /** Per step of the fast engine (by index): the checks saying when a targetless step whose actions may all leave the kernel untouched does. */
  private readonly untouched: (readonly UntouchedCheck[] | undefined)[] = [];
  /** When set, the VMA changes of each operation, as the kernel functions that made them. */
  vmaChanges: string[] | null = null;
  /** The monitor of the state being expanded, fed from inside the operation. */
  private monitor: ProposalMonitor | null = null;

  constructor(readonly engine: ExecutionEngine = 'actor') {
    const { tallies } = this;
    const taken = (t: AnyTransitionDefinition): void => tallies.mmTaken.bump(t);
    const noted = (name: string, result: boolean): void => (result ? tallies.mmTrue : tallies.mmFalse).bump(name);
    if (engine === 'fast') {
      // the interpreter counts guards and transitions in its steps (read by `coverage`)
      const fast = new MachineInterpreter<MmContext, MmOperation>(mmSystemMachine, { k: { sys: null as never, schemes: [], readers: undefined }, outcome: 'ok', fault: null });
      this.fast = fast;
      this.context = fast.context;
      this.send = (op) => fast.send(op);
      for (const step of fast.steps) {
        const t = step.def;
        const checks = t.actions.map((a) => LEAVES_KERNEL_UNTOUCHED[nameOf(a)]);
        if (!t.target?.length && checks.length && checks.every((c) => c !== undefined)) this.untouched[step.index] = checks;
      }
    } else {
      const wrapped: Record<string, GuardImpl> = {};
      for (const [name, fn] of Object.entries(mmSystemMachine.implementations.guards as Record<string, GuardImpl>)) {
        wrapped[name] = (args, params) => {
          const r = fn(args, params);
          noted(name, r);
          return r;
        };
      }
      const actor = createActor(mmSystemMachine.provide({ guards: wrapped as never }), {
        input: { k: { sys: null as never, schemes: [], readers: undefined } },
        inspect: (ev) => {
          if (ev.type === '@xstate.microstep') for (const t of ev._transitions) taken(t);
        },
      }).start();
      this.context = actor.getSnapshot().context as MmContext;
      this.send = (op) => actor.send(op);
    }
  }

  /** The machines' coverage of every operation run so far. */
  get coverage(): Coverage {
    this.tallies.flush(this.recorded);
    const r = this.recorded;
    for (const { counts, def, guardName } of this.fast?.steps ?? []) {
      if (counts.taken) add(r.mmTaken, transitionKey(def), counts.taken);
      if (guardName !== null && counts.guardTrue) add(r.mmTrue, guardName, counts.guardTrue);
      if (guardName !== null && counts.guardFalse) add(r.mmFalse, guardName, counts.guardFalse);
      counts.taken = counts.guardTrue = counts.guardFalse = 0;
    }
    return r;
  }

  /**
   * Listen to a kernel's schemes (each clone has new instances), once per kernel: truth ignores
   * rmap calls and VMA changes, so its listener feeds the proposal monitor (and vmaChanged); each
   * proposal scheme tells the saturating machine's coverage of every event it sends. The
   * listeners are shared by every kernel and act on the kernel being run (context.k).
   */
  instrument(k: Kernel): void {
    for (const s of k.schemes) {
      if (s instanceof Truth) {
        if (s.listener !== null) return; // this kernel's schemes are instrumented
        s.listener = this.truthHooks;
      } else if (s instanceof SaturatingScheme) s.onSend = this.saturatingSelect;
    }
  }

  private readonly truthRmap = (call: RmapCall): void => {
    if (this.monitor && call.op !== 'split-pmd') sampleWithinOperation(this.context.k, this.monitor, call.folio, call.op === 'remove' ? null : call.vma);
  };

  private readonly truthVmaChanged = (change: VmaChange): void => {
    this.vmaChanges?.push(
      change.kind === 'split'
        ? `__split_vma: VMA ${change.original.id} [0x${change.original.start.toString(16)}-0x${change.original.end.toString(16)}) + VMA ${change.created.id} [0x${change.created.start.toString(16)}-0x${change.created.end.toString(16)})`
        : change.kind === 'merge'
          ? `vma_merge: VMA ${change.removed.id} absorbed by VMA ${change.survivor.id} [0x${change.survivor.start.toString(16)}-0x${change.survivor.end.toString(16)})`
          : `move_vma: VMA ${change.from.id} -> VMA ${change.to.id} [0x${change.to.start.toString(16)}-0x${change.to.end.toString(16)})`,
    );
    if (!this.monitor) return;
    const vma = change.kind === 'split' ? change.original : change.kind === 'merge' ? change.survivor : change.to;
    sampleVmaChange(this.context.k, this.monitor, vma.mm);
  };

  private readonly truthHooks: HookListener = { rmap: this.truthRmap, vmaChanged: this.truthVmaChanged };

  /** The saturating machine's transition, selected before the scheme's send runs it. */
  private readonly saturatingSelect = satSelector(this.tallies);

  /**
   * Run one operation on the kernel (in place); `monitor` (the state's proposal monitor) hears the
   * VMA counts reached inside the operation.
   */
  run(k: Kernel, op: MmOperation, monitor: ProposalMonitor | null = null): Outcome {
    this.instrument(k);
    this.monitor = monitor;
    this.context.k = k;
    this.context.fault = null;
    this.send(op);
    return this.context.outcome;
  }

  /**
   * The state one operation leads to, on a copy of `s` (observed by the monitor), as the
   * exhaustive search makes it; `next` is null when the operation leaves the kernel untouched, so
   * the state stays `s` and no copy is made. The fast engine knows that from the transition the
   * machine selects and the actions' own checks (LEAVES_KERNEL_UNTOUCHED: an errno, a syscall that
   * ends before touching anything), the actor engine from inertOperation().
   */
  child(s: ExploredState, op: MmOperation): { outcome: Outcome; next: ExploredState | null } {
    if (this.fast === null) {
      if (inertOperation(s.k, op)) return { outcome: this.run(s.k, op), next: null };
      const next = { k: cloneKernel(s.k), monitor: cloneMonitor(s.monitor) };
      const outcome = this.run(next.k, op, next.monitor);
      observe(next.k, next.monitor);
      return { outcome, next };
    }
    const context = this.context;
    context.k = s.k;
    context.fault = null;
    const step = this.fast.select(op);
    const checks = step === null ? undefined : this.untouched[step.index];
    if (checks !== undefined && leavesUntouched(checks, context, op)) {
      this.fast.complete(step, op);
      return { outcome: context.outcome, next: null };
    }
    // guards are pure: the step selected on `s` is the step on its copy
    const next = { k: cloneKernel(s.k), monitor: cloneMonitor(s.monitor) };
    this.instrument(next.k);
    this.monitor = next.monitor;
    context.k = next.k;
    this.fast.complete(step, op);
    observe(next.k, next.monitor);
    return { outcome: context.outcome, next };
  }
}
