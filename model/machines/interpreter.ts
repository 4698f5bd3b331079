import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

/**
 * A plain interpreter of a hierarchical xstate v5 machine, for the one path that must be faster
 * than an actor (the exhaustive explorer runs hundreds of thousands of MM operations; an actor
 * send with inspection costs ~9 us). It walks the machine's own state nodes as xstate resolved
 * them (machine.root: targets, guards and actions by name), evaluates the machine's named guard
 * implementations and runs its named action implementations, with xstate's semantics:
 *   - an event selects the first transition, in document order, of the active atomic state and
 *     then of its ancestors, whose guard holds;
 *   - a microstep runs the exit actions of the states it leaves (innermost first), the
 *     transition's actions, and the entry actions of the states it enters (outermost first, down
 *     to the initial states of a compound target); a targetless transition only runs its actions;
 *   - after the event, eventless (`always`) transitions are taken until none is enabled, their
 *     guards seeing the event that started the macrostep.
 * Only what that subset can express is accepted: atomic and compound states, named guards without
 * parameters, named plain-function actions (no assign, raise or other built-in), single targets
 * outside the transition's source. Anything else (parallel, history or final states, invoke,
 * delays, wildcard events, reentering or targetless eventless transitions, built-in actions) is
 * rejected when the interpreter is built, never silently mis-run. Actions mutate the context in
 * place, as they do in the actor. test/mm-system-fastpath.test.ts keeps it identical to the actor.
 */

type Implementation = (args: { context: unknown; event: unknown }, params: unknown) => unknown;

/** How often a step's guard held or not, and how often the step was taken (the explorer's coverage). */
export interface StepCounts {
  guardTrue: number;
  guardFalse: number;
  taken: number;
}

/** A transition compiled for one active atomic state. */
export interface Step {
  /** Its place in MachineInterpreter.steps. */
  readonly index: number;
  /** Counted in the step itself: the explorer evaluates millions of guards, and a lookup per count was a tenth of a refused operation. */
  readonly counts: StepCounts;
  /** The machine's transition definition (source, event, guard, actions, target). */
  readonly def: AnyTransitionDefinition;
  readonly guardName: string | null;
  readonly guard: Implementation | null;
  /** Exit actions, the transition's actions, entry actions, in xstate's order. */
  readonly actions: readonly Implementation[];
  /** The atomic state after the step; null for a targetless transition (the state stays). */
  readonly to: AtomicState | null;
}

interface AtomicState {
  readonly node: AnyStateNode;
  /** Candidates per event type: the state's own, then its ancestors'. */
  readonly on: Map<string, Step[]>;
  readonly always: Step[];
}

const nameOf = (ref: unknown, what: string, where: string): string => {
  if (typeof ref === 'string') return ref;
  if (ref && typeof ref === 'object' && typeof (ref as { type?: unknown }).type === 'string' && (ref as { params?: unknown }).params === undefined)
    return (ref as { type: string }).type;
  throw new Error(`interpreter: ${where}: only ${what}s referenced by name without parameters are supported`);
};

/** Proper ancestors, innermost first (xstate's getProperAncestors). */
const ancestors = (node: AnyStateNode): AnyStateNode[] => {
  const out: AnyStateNode[] = [];
  for (let m = node.parent; m; m = m.parent) out.push(m);
  return out;
};

const isDescendant = (child: AnyStateNode, parent: AnyStateNode): boolean => ancestors(child).includes(parent);

function compile(machine: AnyStateMachine): { atomics: Map<AnyStateNode, AtomicState>; initial: AnyStateNode[]; steps: Step[] } {
  const impl = machine.implementations as { guards: Record<string, unknown>; actions: Record<string, unknown> };
  const action = (ref: unknown, where: string): Implementation => {
    const name = nameOf(ref, 'action', where);
    const fn = impl.actions[name];
    if (typeof fn !== 'function' || 'resolve' in fn) throw new Error(`interpreter: ${where}: action ${name} is not a plain function`);
    return fn as Implementation;
  };
  const nodes: AnyStateNode[] = [];
  const visit = (node: AnyStateNode): void => {
    if (node.type !== 'atomic' && node.type !== 'compound') throw new Error(`interpreter: ${node.id}: ${node.type} states are not supported`);
    if (node.invoke.length || node.after.length) throw new Error(`interpreter: ${node.id}: invoke and delayed transitions are not supported`);
    if (node.type === 'compound' && node.initial.actions.length) throw new Error(`interpreter: ${node.id}: initial actions are not supported`);
    nodes.push(node);
    for (const child of Object.values(node.states)) visit(child as AnyStateNode);
  };
  visit(machine.root);

  /** The states entered down to `target` from below `domain`, then to its initial atomic state. */
  const entered = (domain: AnyStateNode | null, target: AnyStateNode): AnyStateNode[] => {
    const above = ancestors(target);
    const out = [target, ...(domain === null ? above : above.slice(0, above.indexOf(domain)))].reverse();
    for (let n = target; n.type === 'compound'; ) out.push((n = n.initial.target[0] as AnyStateNode));
    return out;
  };

  const atomics = new Map<AnyStateNode, AtomicState>();
  const steps: Step[] = [];
  const atomicOf = (node: AnyStateNode): AtomicState => {
    let a = atomics.get(node);
    if (!a) atomics.set(node, (a = { node, on: new Map(), always: [] }));
    return a;
  };
  const step = (from: AnyStateNode, t: AnyTransitionDefinition, eventless: boolean): Step => {
    const where = `${t.source.id} --${eventless ? 'always' : t.eventType}`;
    if (t.reenter) throw new Error(`interpreter: ${where}: reenter is not supported`);
    let guardName: string | null = null;
    let guard: Implementation | null = null;
    if (t.guard !== undefined) {
      guardName = nameOf(t.guard, 'guard', where);
      const g = impl.guards[guardName];
      if (typeof g !== 'function' || 'check' in g) throw new Error(`interpreter: ${where}: guard ${guardName} is not a plain function`);
      guard = g as Implementation;
    }
    const own = t.actions.map((a) => action(a, where));
    const made = (actions: Implementation[], to: AtomicState | null): Step => {
      const compiled: Step = { index: steps.length, counts: { guardTrue: 0, guardFalse: 0, taken: 0 }, def: t, guardName, guard, actions, to };
      steps.push(compiled);
      return compiled;
    };
    if (!t.target?.length) {
      if (eventless) throw new Error(`interpreter: ${where}: a targetless eventless transition is not supported`);
      return made(own, null);
    }
    if (t.target.length !== 1) throw new Error(`interpreter: ${where}: one target expected`);
    const target = t.target[0] as AnyStateNode;
    if (target === t.source || isDescendant(target, t.source)) throw new Error(`interpreter: ${where}: a target inside the source is not supported`);
    // xstate's transition domain: the least common ancestor of the target and the source
    const domain = ancestors(target).find((a) => isDescendant(t.source, a))!;
    const exited = [from, ...ancestors(from)].filter((n) => isDescendant(n, domain));
    const enter = entered(domain, target);
    const actions = [
      ...exited.flatMap((n) => n.exit.map((a) => action(a, `${n.id} exit`))),
      ...own,
      ...enter.flatMap((n) => n.entry.map((a) => action(a, `${n.id} entry`))),
    ];
    return made(actions, atomicOf(enter.at(-1)!));
  };
  for (const node of nodes) {
    if (node.type !== 'atomic') continue;
    const a = atomicOf(node);
    for (const n of [node, ...ancestors(node)]) {
      for (const [eventType, list] of n.transitions) {
        if (eventType === '*' || eventType.endsWith('.*')) throw new Error(`interpreter: ${n.id}: wildcard event ${eventType} is not supported`);
        let candidates = a.on.get(eventType);
        if (!candidates) a.on.set(eventType, (candidates = []));
        for (const t of list) candidates.push(step(node, t, false));
      }
      for (const t of n.always ?? []) a.always.push(step(node, t, true));
    }
  }
  return { atomics, initial: entered(null, machine.root), steps };
}

/** A running instance: the active atomic state and the context the actions mutate. */
export class MachineInterpreter<TContext, TEvent extends { readonly type: string }> {
  private state: AtomicState;
  /**
   * The arguments every guard and action of the current event gets ({ context, event }, as
   * xstate passes them), one object for the interpreter's life: the explorer sends over a million
   * events a search, most refused by the first guard. Implementations read it and keep nothing of
   * it, and no event starts while another runs (a microstep's actions do not send).
   */
  private readonly args: { context: TContext; event: TEvent | { type: string } };

  /** Every compiled step, each with the counts of its guard and of the times it was taken. */
  readonly steps: readonly Step[];

  constructor(
    machine: AnyStateMachine,
    readonly context: TContext,
  ) {
    this.args = { context, event: { type: 'xstate.init' } };
    const { atomics, initial, steps } = compile(machine);
    this.steps = steps;
    // as an actor starts: the initial states are entered, their entry actions run
    const init = { type: 'xstate.init' };
    for (const node of initial) for (const a of node.entry) (machine.implementations.actions[nameOf(a, 'action', node.id)] as Implementation)({ context, event: init }, undefined);
    this.state = atomics.get(initial.at(-1)!)!;
  }

  /** The active atomic state's id (e.g. `mm.idle`). */
  get stateId(): string {
    return this.state.node.id;
  }

  /** The transition the event takes from the active state (its guards evaluated), or null. */
  select(event: TEvent): Step | null {
    return this.first(this.state.on.get(event.type), event);
  }

  /** Takes the selected transition, then the eventless ones that follow: the rest of the macrostep. */
  complete(selected: Step | null, event: TEvent): void {
    const { args } = this;
    args.event = event;
    for (let s = selected ?? this.first(this.state.always, event); s !== null; s = this.first(this.state.always, event)) {
      s.counts.taken++;
      for (const a of s.actions) a(args, undefined);
      if (s.to !== null) this.state = s.to;
    }
  }

  /** A macrostep, as actor.send(event). */
  send(event: TEvent): void {
    this.complete(this.select(event), event);
  }

  private first(candidates: readonly Step[] | undefined, event: TEvent): Step | null {
    if (!candidates || candidates.length === 0) return null;
    const { args } = this;
    args.event = event;
    for (const s of candidates) {
      if (s.guard === null) return s;
      if (s.guard(args, undefined)) {
        s.counts.guardTrue++;
        return s;
      }
      s.counts.guardFalse++;
    }
    return null;
  }
}
