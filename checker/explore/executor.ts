import { createActor, type AnyStateMachine, type AnyTransitionDefinition } from 'xstate';
import type { Kernel } from '../../model/kernel.ts';
import { mmSystemMachine, type MmContext } from '../../model/machines/mm-system.ts';
import { saturatingMapcountMachine, type PlainSnapshot, type SaturatingEvent } from '../../model/machines/saturating-mapcount.ts';
import type { MmOperation } from '../../model/operations.ts';
import type { Outcome } from '../../model/outcome.ts';
import type { RmapCall, VmaChange } from '../../model/schemes/scheme.ts';
import type { Folio } from '../../model/types.ts';
import { sampleVmaChange, sampleWithinOperation, type ProposalMonitor } from '../properties.ts';

/**
 * Execution for exploration: ONE long-lived MM system actor (xstate stays in the execution path)
 * whose context.k is swapped to the kernel being expanded, instrumented to record which machine
 * transitions and guards were exercised.
 *   - MM system machine: guards wrapped by machine.provide() (true and false results recorded),
 *     transitions taken read from xstate's inspection API (@xstate.microstep).
 *   - Saturating mapcount machine: each proposal scheme's per-folio send is wrapped on the
 *     instance (after every clone), and the transition the machine takes is selected from the
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

const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);

type GuardImpl = (args: { context: unknown; event: unknown }, params: unknown) => boolean;

/** Selects the saturating machine's transition for an event in a state, recording guards. */
function satSelector(coverage: Coverage): (state: string, event: SaturatingEvent) => void {
  const guards = saturatingMapcountMachine.implementations.guards as Record<string, GuardImpl>;
  const table = new Map<string, AnyTransitionDefinition[]>();
  for (const t of allTransitions(saturatingMapcountMachine)) {
    const key = `${t.source.key}|${t.eventType}`;
    table.set(key, [...(table.get(key) ?? []), t]);
  }
  return (state, event) => {
    for (const t of table.get(`${state}|${event.type}`) ?? []) {
      if (t.guard !== undefined) {
        const name = nameOf(t.guard);
        const ok = guards[name]({ context: undefined, event }, undefined);
        bump(ok ? coverage.satTrue : coverage.satFalse, name);
        if (!ok) continue;
      }
      bump(coverage.satTaken, transitionKey(t));
      return;
    }
  };
}

interface Instrumentable {
  send(folio: Folio, event: SaturatingEvent): void;
  snapshotOf(folio: Folio): PlainSnapshot;
}

export class Executor {
  readonly coverage = new Coverage();
  private readonly actor;
  private readonly selectSat;
  private readonly instrumented = new WeakSet<object>();
  /** When set, the VMA changes of each operation, as the kernel functions that made them. */
  vmaChanges: string[] | null = null;
  /** The monitor of the state being expanded, fed from inside the operation. */
  private monitor: ProposalMonitor | null = null;

  constructor() {
    const cov = this.coverage;
    const wrapped: Record<string, GuardImpl> = {};
    for (const [name, fn] of Object.entries(mmSystemMachine.implementations.guards as Record<string, GuardImpl>)) {
      wrapped[name] = (args, params) => {
        const r = fn(args, params);
        bump(r ? cov.mmTrue : cov.mmFalse, name);
        return r;
      };
    }
    const machine = mmSystemMachine.provide({ guards: wrapped as never });
    const keys = new Map<AnyTransitionDefinition, string>();
    this.actor = createActor(machine, {
      input: { k: { sys: null as never, schemes: [] } },
      inspect: (ev) => {
        if (ev.type !== '@xstate.microstep') return;
        for (const t of ev._transitions) {
          let key = keys.get(t);
          if (key === undefined) keys.set(t, (key = transitionKey(t)));
          bump(cov.mmTaken, key);
        }
      },
    }).start();
    this.selectSat = satSelector(cov);
  }

  /** Wrap the saturating schemes of a kernel (each clone is a new instance) to record coverage. */
  instrument(k: Kernel): void {
    for (const s of k.schemes) {
      if (s.name === 'truth' && !this.instrumented.has(s)) {
        // truth ignores rmap calls and VMA changes: listen to them for the proposal monitor
        s.rmap = (call: RmapCall) => {
          if (this.monitor && call.op !== 'split-pmd') sampleWithinOperation(k, this.monitor, call.folio, call.op === 'remove' ? null : call.vma);
        };
        s.vmaChanged = (change: VmaChange) => {
          this.vmaChanges?.push(
            change.kind === 'split'
              ? `__split_vma: VMA ${change.original.id} [0x${change.original.start.toString(16)}-0x${change.original.end.toString(16)}) + VMA ${change.created.id} [0x${change.created.start.toString(16)}-0x${change.created.end.toString(16)})`
              : change.kind === 'merge'
                ? `vma_merge: VMA ${change.removed.id} absorbed by VMA ${change.survivor.id} [0x${change.survivor.start.toString(16)}-0x${change.survivor.end.toString(16)})`
                : `move_vma: VMA ${change.from.id} -> VMA ${change.to.id} [0x${change.to.start.toString(16)}-0x${change.to.end.toString(16)})`,
          );
          if (!this.monitor) return;
          const vma = change.kind === 'split' ? change.original : change.kind === 'merge' ? change.survivor : change.to;
          sampleVmaChange(k, this.monitor, vma.mm);
        };
        this.instrumented.add(s);
        continue;
      }
      if ((s.name !== 'proposal' && s.name !== 'proposal+vma-hooks') || this.instrumented.has(s)) continue;
      const scheme = s as unknown as Instrumentable;
      const original = scheme.send.bind(scheme);
      const select = this.selectSat;
      scheme.send = (folio, event) => {
        select(scheme.snapshotOf(folio).value, event);
        original(folio, event);
      };
      this.instrumented.add(s);
    }
  }

  /**
   * Run one operation on the kernel through the long-lived actor; `monitor` (the state's proposal
   * monitor) hears the VMA counts reached inside the operation.
   */
  run(k: Kernel, op: MmOperation, monitor: ProposalMonitor | null = null): Outcome {
    this.instrument(k);
    this.monitor = monitor;
    const context = this.actor.getSnapshot().context as MmContext;
    context.k = k;
    context.fault = null;
    this.actor.send(op);
    return (this.actor.getSnapshot().context as MmContext).outcome;
  }
}
