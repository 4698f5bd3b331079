import { assign, setup, type AnyStateMachine } from 'xstate';

/**
 * The "Zero, One, Two, Many" saturating mapcount of one folio (reference/proposal.txt), as an
 * xstate v5 machine. The count is the number of VMAs that hold at least one page-table entry
 * mapping the folio, saturated at Many:
 *
 *   zero --VMA_MAPPED--> one --VMA_MAPPED--> two --VMA_MAPPED--> many (sticky)
 *   zero <-VMA_UNMAPPED- one <-VMA_UNMAPPED- two     many --VMA_UNMAPPED--> many
 *   any --RMAP_WALKED{vmas}--> zero | one | two | many  (the walk counted exactly)
 *
 * Every step up to Many takes one reference on the folio and every step down drops one, so the
 * mapcount never holds more than 3 references ("limits the total number of refcount increments
 * to 3"). An rmap walk that finds fewer than Many VMAs sets the count and "adjusts the page
 * refcount at the same time".
 *
 * The exhaustive explorer cannot afford an actor per folio; `fastPath(machine)` derives a plain
 * transition function from this same definition (its config and its named guard and action
 * implementations), and a property test keeps the two identical.
 */

export type SaturatingState = 'zero' | 'one' | 'two' | 'many';
export const SATURATING_STATES: readonly SaturatingState[] = ['zero', 'one', 'two', 'many'];

export interface SaturatingContext {
  /** References on the folio held for the mapcount: min(count, 3). */
  readonly refs: number;
  /** folio_get()s taken by the mapcount so far (cost counter). */
  readonly gets: number;
  /** folio_put()s made by the mapcount so far (cost counter). */
  readonly puts: number;
  /** rmap walks whose result was applied. */
  readonly walks: number;
}

export type SaturatingEvent =
  /** A VMA that mapped no page of the folio now maps one. */
  | { readonly type: 'VMA_MAPPED' }
  /** A VMA that mapped a page of the folio maps none any more. */
  | { readonly type: 'VMA_UNMAPPED' }
  /** An rmap walk counted the VMAs mapping the folio exactly. */
  | { readonly type: 'RMAP_WALKED'; readonly vmas: number };

export type SaturatingEventType = SaturatingEvent['type'];

/** The value of the saturated count: Many reads as 3, i.e. "at least 3". */
export const SATURATED_VALUE: Readonly<Record<SaturatingState, number>> = { zero: 0, one: 1, two: 2, many: 3 };

/** The state a walk that found `vmas` VMAs resets the count to. */
export const stateForVmas = (vmas: number): SaturatingState =>
  vmas <= 0 ? 'zero' : vmas === 1 ? 'one' : vmas === 2 ? 'two' : 'many';

const walked = (event: SaturatingEvent): number => (event.type === 'RMAP_WALKED' ? event.vmas : -1);
/** References the count holds after a walk that found `vmas` VMAs. */
const refsForWalk = (event: SaturatingEvent): number => Math.min(Math.max(walked(event), 0), 3);

export const saturatingMapcountMachine = setup({
  types: {
    context: {} as SaturatingContext,
    events: {} as SaturatingEvent,
  },
  guards: {
    /** The walk found no VMA mapping the folio: the count is Zero. */
    walkFoundNone: ({ event }) => walked(event) === 0,
    /** The walk found exactly one VMA. */
    walkFoundOne: ({ event }) => walked(event) === 1,
    /** The walk found exactly two VMAs. */
    walkFoundTwo: ({ event }) => walked(event) === 2,
    /** The walk found three or more VMAs: the count stays (or becomes) Many. */
    walkFoundMany: ({ event }) => walked(event) >= 3,
  },
  actions: {
    /** A step up below Many: folio_get() for the new mapcount. */
    takeMapcountRef: assign(({ context }) => ({ refs: context.refs + 1, gets: context.gets + 1 })),
    /** A step down from One or Two: folio_put() of the mapcount's reference. */
    dropMapcountRef: assign(({ context }) => ({ refs: context.refs - 1, puts: context.puts + 1 })),
    /** The walk counted fewer VMAs than the count said (Many, or a stale count): drop references to match. */
    dropRefsToMatchWalk: assign(({ context, event }) => {
      const target = refsForWalk(event);
      const drop = Math.max(context.refs - target, 0);
      return { refs: context.refs - drop, puts: context.puts + drop, walks: context.walks + 1 };
    }),
    /** The walk counted more VMAs than the count said (a VMA change the count missed): take references to match. */
    takeRefsToMatchWalk: assign(({ context, event }) => {
      const target = refsForWalk(event);
      const take = Math.max(target - context.refs, 0);
      return { refs: context.refs + take, gets: context.gets + take, walks: context.walks + 1 };
    }),
    /** The walk confirmed the count. */
    confirmWalk: assign(({ context }) => ({ walks: context.walks + 1 })),
  },
}).createMachine({
  id: 'saturatingMapcount',
  description: 'Zero, One, Two, Many: the number of VMAs mapping a folio, saturated and sticky at Many',
  context: { refs: 0, gets: 0, puts: 0, walks: 0 },
  initial: 'zero',
  states: {
    zero: {
      description: 'No VMA maps the folio; no mapcount reference',
      on: {
        VMA_MAPPED: { target: 'one', actions: 'takeMapcountRef' },
        RMAP_WALKED: [
          { guard: 'walkFoundNone', actions: 'confirmWalk' },
          { guard: 'walkFoundOne', target: 'one', actions: 'takeRefsToMatchWalk' },
          { guard: 'walkFoundTwo', target: 'two', actions: 'takeRefsToMatchWalk' },
          { guard: 'walkFoundMany', target: 'many', actions: 'takeRefsToMatchWalk' },
        ],
      },
    },
    one: {
      description: 'Exactly one VMA maps the folio',
      on: {
        VMA_MAPPED: { target: 'two', actions: 'takeMapcountRef' },
        VMA_UNMAPPED: { target: 'zero', actions: 'dropMapcountRef' },
        RMAP_WALKED: [
          { guard: 'walkFoundNone', target: 'zero', actions: 'dropRefsToMatchWalk' },
          { guard: 'walkFoundOne', actions: 'confirmWalk' },
          { guard: 'walkFoundTwo', target: 'two', actions: 'takeRefsToMatchWalk' },
          { guard: 'walkFoundMany', target: 'many', actions: 'takeRefsToMatchWalk' },
        ],
      },
    },
    two: {
      description: 'Exactly two VMAs map the folio',
      on: {
        VMA_MAPPED: { target: 'many', actions: 'takeMapcountRef' },
        VMA_UNMAPPED: { target: 'one', actions: 'dropMapcountRef' },
        RMAP_WALKED: [
          { guard: 'walkFoundNone', target: 'zero', actions: 'dropRefsToMatchWalk' },
          { guard: 'walkFoundOne', target: 'one', actions: 'dropRefsToMatchWalk' },
          { guard: 'walkFoundTwo', actions: 'confirmWalk' },
          { guard: 'walkFoundMany', target: 'many', actions: 'takeRefsToMatchWalk' },
        ],
      },
    },
    many: {
      description: 'Three or more VMAs mapped the folio: count lost, only an rmap walk can lower it',
      on: {
        VMA_MAPPED: { description: 'Many stays Many: no further reference' },
        VMA_UNMAPPED: { description: "Many is sticky: you can't decrement from Many to Two" },
        RMAP_WALKED: [
          { guard: 'walkFoundNone', target: 'zero', actions: 'dropRefsToMatchWalk' },
          { guard: 'walkFoundOne', target: 'one', actions: 'dropRefsToMatchWalk' },
          { guard: 'walkFoundTwo', target: 'two', actions: 'dropRefsToMatchWalk' },
          { guard: 'walkFoundMany', actions: 'confirmWalk' },
        ],
      },
    },
  },
});

export type SaturatingMapcountMachine = typeof saturatingMapcountMachine;

/** A plain snapshot: what the fast path steps, and what an actor's snapshot reduces to. */
export interface PlainSnapshot<S extends string = SaturatingState, C = SaturatingContext> {
  readonly value: S;
  readonly context: C;
}

export const initialPlainSnapshot = (): PlainSnapshot => ({
  value: saturatingMapcountMachine.config.initial as SaturatingState,
  context: { ...(saturatingMapcountMachine.config.context as SaturatingContext) },
});

// ---------------------------------------------------------------------------------------------
// Fast path: the same machine, compiled from its config into a transition table.
// ---------------------------------------------------------------------------------------------

type GuardFn = (args: { context: unknown; event: unknown }, params: unknown) => boolean;
type Assignment = ((args: { context: unknown; event: unknown }, params: unknown) => object) | Record<string, unknown>;

interface CompiledTransition {
  readonly guard: GuardFn | null;
  readonly target: string | null;
  readonly actions: readonly Assignment[];
}

interface TransitionLike {
  target?: unknown;
  guard?: unknown;
  actions?: unknown;
  reenter?: unknown;
}

interface StateNodeLike {
  on?: Record<string, unknown>;
  states?: Record<string, unknown>;
  entry?: unknown;
  exit?: unknown;
  always?: unknown;
  after?: unknown;
  invoke?: unknown;
}

const nameOf = (ref: unknown, what: string): string => {
  if (typeof ref === 'string') return ref;
  if (ref && typeof ref === 'object' && typeof (ref as { type?: unknown }).type === 'string') return (ref as { type: string }).type;
  throw new Error(`fastPath: only ${what}s referenced by name are supported, got ${typeof ref}`);
};

const asArray = (x: unknown): unknown[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/**
 * Builds a transition function over plain `{ value, context }` snapshots from a flat xstate v5
 * machine made by `setup().createMachine()`: it reads the machine's config (states, `on`, guards
 * and actions by name) and runs the machine's own guard and `assign` implementations
 * (machine.implementations), with xstate's semantics: the first enabled transition of the state
 * (then of the root) is taken, its assign actions run in order on the context, a targetless
 * transition keeps the state, an unhandled event changes nothing. The result of a step is a new
 * snapshot (the input is not mutated); an event that changes nothing returns the input.
 *
 * Supported: flat machines whose states have only `on` transitions with named guards and named
 * assign actions. Anything else (entry/exit, always, after, invoke, nested states, inline
 * functions) is rejected when the fast path is built, never silently mis-run.
 */
export function fastPath<S extends string, C extends object, E extends { type: string }>(
  machine: AnyStateMachine,
): (snapshot: PlainSnapshot<S, C>, event: E) => PlainSnapshot<S, C> {
  const config = machine.config as StateNodeLike & { states?: Record<string, StateNodeLike> };
  const impl = machine.implementations as { guards: Record<string, unknown>; actions: Record<string, unknown> };
  for (const key of ['entry', 'exit', 'always', 'after', 'invoke'] as const) {
    if (config[key] !== undefined) throw new Error(`fastPath: root '${key}' is not supported`);
  }
  const states = config.states ?? {};

  const compile = (where: string, on: Record<string, unknown> | undefined): Map<string, CompiledTransition[]> => {
    const table = new Map<string, CompiledTransition[]>();
    for (const [eventType, spec] of Object.entries(on ?? {})) {
      const list: CompiledTransition[] = [];
      for (const raw of asArray(spec)) {
        const t: TransitionLike = typeof raw === 'string' ? { target: raw } : (raw as TransitionLike);
        if (t.reenter) throw new Error(`fastPath: ${where}.${eventType}: reenter is not supported`);
        let guard: GuardFn | null = null;
        if (t.guard !== undefined) {
          const g = impl.guards[nameOf(t.guard, 'guard')];
          if (typeof g !== 'function') throw new Error(`fastPath: ${where}.${eventType}: unknown guard ${nameOf(t.guard, 'guard')}`);
          guard = g as GuardFn;
        }
        const actions: Assignment[] = asArray(t.actions).map((a) => {
          const name = nameOf(a, 'action');
          const fn = impl.actions[name] as { type?: string; assignment?: Assignment } | undefined;
          if (!fn || fn.type !== 'xstate.assign' || fn.assignment === undefined) {
            throw new Error(`fastPath: ${where}.${eventType}: action ${name} is not a named assign()`);
          }
          return fn.assignment;
        });
        let target: string | null = null;
        if (t.target !== undefined) {
          const targets = asArray(t.target);
          if (targets.length !== 1 || typeof targets[0] !== 'string') throw new Error(`fastPath: ${where}.${eventType}: one sibling target expected`);
          target = (targets[0] as string).replace(/^\./, '');
          if (!(target in states)) throw new Error(`fastPath: ${where}.${eventType}: unknown target ${target}`);
        }
        list.push({ guard, target, actions });
      }
      table.set(eventType, list);
    }
    return table;
  };

  const rootTable = compile('root', config.on);
  const tables = new Map<string, Map<string, CompiledTransition[]>>();
  for (const [name, node] of Object.entries(states)) {
    for (const key of ['entry', 'exit', 'always', 'after', 'invoke', 'states'] as const) {
      if (node[key] !== undefined) throw new Error(`fastPath: state '${name}': '${key}' is not supported`);
    }
    tables.set(name, compile(name, node.on));
  }

  const select = (list: CompiledTransition[] | undefined, args: { context: unknown; event: unknown }): CompiledTransition | null => {
    if (!list) return null;
    for (const t of list) if (t.guard === null || t.guard(args, undefined)) return t;
    return null;
  };

  return (snapshot, event) => {
    const args = { context: snapshot.context as unknown, event: event as unknown };
    const t = select(tables.get(snapshot.value)?.get(event.type), args) ?? select(rootTable.get(event.type), args);
    if (t === null) return snapshot;
    let context = snapshot.context as Record<string, unknown>;
    for (const assignment of t.actions) {
      // the guards' arguments serve the first action (a trace sends several events per folio and rmap call)
      const a = context === args.context ? args : { context, event: event as unknown };
      let partial: Record<string, unknown>;
      if (typeof assignment === 'function') partial = assignment(a, undefined) as Record<string, unknown>;
      else {
        partial = {};
        for (const key of Object.keys(assignment)) {
          const v = assignment[key];
          partial[key] = typeof v === 'function' ? (v as (x: unknown, p: unknown) => unknown)(a, undefined) : v;
        }
      }
      context = Object.assign({}, context, partial);
    }
    const value = (t.target ?? snapshot.value) as S;
    if (value === snapshot.value && context === snapshot.context) return snapshot;
    return { value, context: context as C };
  };
}

/** The fast path of the saturating mapcount, derived once from the machine above. */
export const saturatingFastPath: (snapshot: PlainSnapshot, event: SaturatingEvent) => PlainSnapshot = fastPath<
  SaturatingState,
  SaturatingContext,
  SaturatingEvent
>(saturatingMapcountMachine);
