import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assign, createActor, createMachine, setup } from 'xstate';
import { exploreBfs, rootState, type ExploreReport } from '../checker/explore/bfs.ts';
import { canonicalTokens } from '../checker/explore/canonical.ts';
import { Executor, type Coverage, type ExploredState } from '../checker/explore/executor.ts';
import { defaultExploreSchemes } from '../checker/explore/world.ts';
import { observe } from '../checker/properties.ts';
import { ALL_EXPLORED_OPS, defaultScope, hazardScopes, operationArbitrary, type Scope } from '../checker/scope.ts';
import { MachineInterpreter } from '../model/machines/interpreter.ts';
import { describeOperation, type MmOperation } from '../model/operations.ts';
import type { SchemeName } from '../model/schemes/scheme.ts';

/**
 * The MM system machine run by its interpreter (the explorer's fast engine) against the same
 * machine run by an xstate actor: random operation sequences in the explorer's scopes, both
 * kernel generations, every state compared after every operation: the kernel (the plain-data
 * system, every scheme's per-folio state and costs), the outcome, the proposal monitor, the
 * readers' decisions and the coverage of both machines (guards true/false, transitions taken,
 * with their counts). The fast engine runs the way the search does (Executor.child: refused
 * operations leave the state without a copy), the actor in place on one kernel.
 */

const coverageOf = (c: Coverage) => [c.mmTaken, c.mmTrue, c.mmFalse, c.satTaken, c.satTrue, c.satFalse].map((m) => [...m].sort());

/** Everything a state holds, pids kept as they are (no symmetry): equal descriptions are equal kernels. */
function stateOf(s: ExploredState, scope: Scope) {
  return {
    sys: s.k.sys,
    canonical: canonicalTokens(s.k, s.monitor, { scopePids: scope.pids, scopeInodes: scope.inodes, pidSymmetry: false }),
    costs: s.k.schemes.map((x) => ({ ...x.costs })),
    monitor: s.monitor,
  };
}

const SCOPES: [string, Scope][] = [
  ['default 6.12', defaultScope()],
  ['default 6.1', defaultScope({ kernel: '6.1' })],
  ['every operation, 6.12', defaultScope({ ops: ALL_EXPLORED_OPS })],
  ['every operation, 6.1', defaultScope({ kernel: '6.1', ops: ALL_EXPLORED_OPS })],
  ['every operation, 6.12, 4 PMDs, more lengths', defaultScope({ ops: ALL_EXPLORED_OPS, windowPmds: 4, lengths: [1, 2, 3, 4, 8] })],
  ['every operation, 6.1, 4 PMDs, more lengths', defaultScope({ kernel: '6.1', ops: ALL_EXPLORED_OPS, windowPmds: 4, lengths: [1, 2, 3, 4, 8] })],
  // one process and one PMD: operations keep hitting mapped pages (pins, COW reuse, swap-in)
  ['every operation, 6.12, one process, one PMD', defaultScope({ ops: ALL_EXPLORED_OPS, pids: [1], windowPmds: 1 })],
  ['every operation, 6.1, one process, one PMD', defaultScope({ kernel: '6.1', ops: ALL_EXPLORED_OPS, pids: [1], windowPmds: 1 })],
  // write faults on write-protected PMDs: mprotect of the whole THP and back
  ['anon THP write-protected and back', defaultScope({ pids: [1], windowPmds: 1, ops: ['FAULT', 'MPROTECT'], lengths: [4] })],
  ['shared tmpfs THP write-protected and back', defaultScope({ setup: [...defaultScope().setup.slice(0, 2), { ...defaultScope().setup[2], shared: true, inode: 1, pgoff: 0 } as MmOperation], pids: [1], windowPmds: 1, ops: ['FAULT', 'MPROTECT'], lengths: [4] })],
  ...Object.entries(hazardScopes()).map(([name, scope]): [string, Scope] => [`hazard ${name}`, scope]),
];

/** Transitions the fast engine took over every scope's sequences. */
const exercised = new Set<string>();

describe.each(SCOPES)('MM system machine: interpreter == actor, random sequences (%s)', (_name, scope) => {
  it('same kernels, outcomes, monitors, reader decisions and coverage after every operation', () => {
    const schemes = [...new Set<SchemeName>([...defaultExploreSchemes(scope), 'legacy-6.1', 'large-6.12'])];
    fc.assert(
      fc.property(fc.array(operationArbitrary(scope), { minLength: 1, maxLength: 60, size: 'max' }), fc.boolean(), (ops, readers) => {
        const actor = new Executor('actor');
        const fast = new Executor('fast');
        const a = rootState(scope, schemes, actor, 'fast', readers);
        let f: ExploredState = rootState(scope, schemes, fast, 'fast', readers);
        expect(coverageOf(fast.coverage)).toEqual(coverageOf(actor.coverage));
        for (const [i, op] of ops.entries()) {
          const at = `after op ${i}: ${describeOperation(op)}`;
          a.k.readers?.operation(op);
          f.k.readers?.operation(op);
          const outcome = actor.run(a.k, op, a.monitor);
          observe(a.k, a.monitor);
          const before = structuredClone(stateOf(f, scope));
          const step = fast.child(f, op);
          // no copy (next null): the state is left as it was, which the actor's kernel must show too
          if (step.next === null) expect(stateOf(f, scope), `${at}: the kernel was touched`).toEqual(before);
          f = step.next ?? f;
          expect(step.outcome, at).toBe(outcome);
          expect(stateOf(f, scope), at).toEqual(stateOf(a, scope));
          expect(coverageOf(fast.coverage), at).toEqual(coverageOf(actor.coverage));
          if (readers) expect(f.k.readers!.table(), at).toEqual(a.k.readers!.table());
        }
        for (const t of fast.coverage.mmTaken.keys()) exercised.add(t);
      }),
      { numRuns: 100, seed: 7 },
    );
  });
});

describe('MM system machine: the sequences are not vacuous', () => {
  it('together they take every transition an explored operation can take', () => {
    // SPAWN and CREATE_FILE are setup operations; the explored FORK names no child pid
    const unreachable = ['mm.idle --SPAWN [pidInUse]--> (self)', 'mm.idle --CREATE_FILE [inodeInUse]--> (self)', 'mm.idle --FORK [childPidInUse]--> (self)'];
    expect(new Executor('fast').coverage.mmTransitions.filter((t) => !exercised.has(t))).toEqual(unreachable);
  });
});

describe('the exhaustive search through the interpreter equals the search through the actor', () => {
  /** Everything a report says about the search, without the timings. */
  const result = (r: ExploreReport) => ({ ...r, timeMs: 0, statesPerSecond: 0, distinctPerSecond: 0, fingerprints: [...(r.fingerprints ?? [])].sort() });

  it.each([
    ['default scope 6.12, depth 2', defaultScope(), 2],
    ['default scope 6.1, every operation, depth 1', defaultScope({ kernel: '6.1', ops: ALL_EXPLORED_OPS }), 1],
    ['hazard scope fork, depth 3', hazardScopes().fork, 3],
  ] as const)('%s: same states, violations, cost findings and coverage', (_name, scope, maxDepth) => {
    const opts = { scope, maxDepth, keepFingerprints: true };
    const fast = exploreBfs({ ...opts, engine: 'fast' });
    expect(fast.distinctStates).toBeGreaterThan(50);
    expect(result(fast)).toEqual(result(exploreBfs({ ...opts, engine: 'actor' })));
  });
});

describe('MachineInterpreter accepts only what it runs as xstate does', () => {
  const noop = () => undefined;

  it('runs entry, exit and transition actions in the order an actor does, through compound states', () => {
    const log: string[] = [];
    const act = (name: string) => () => void log.push(name);
    const machine = setup({
      types: { context: {} as { n: number }, events: {} as { type: 'GO' } | { type: 'STAY' } },
      guards: { small: ({ context }) => context.n < 2 },
      actions: { exitA: act('exit a'), enterB: act('enter b'), enterB1: act('enter b1'), exitB1: act('exit b1'), go: act('go'), stay: act('stay'), back: act('back'), enterA: act('enter a') },
    }).createMachine({
      id: 'm',
      context: { n: 0 },
      initial: 'a',
      states: {
        a: { entry: 'enterA', exit: 'exitA', on: { GO: { target: 'b', actions: 'go' }, STAY: { actions: 'stay' } } },
        b: {
          entry: 'enterB',
          initial: 'b1',
          states: { b1: { entry: 'enterB1', exit: 'exitB1', always: [{ guard: 'small', target: '#m.a', actions: 'back' }] } },
        },
      },
    });
    const events = [{ type: 'STAY' }, { type: 'GO' }, { type: 'GO' }] as const;
    const actor = createActor(machine).start();
    for (const e of events) actor.send(e);
    const byActor = log.splice(0);
    const run = new MachineInterpreter<{ n: number }, { type: 'GO' } | { type: 'STAY' }>(machine, { n: 0 });
    for (const e of events) run.send(e);
    expect(run.stateId).toBe('m.a');
    expect(log).toEqual(byActor);
    expect(log).toEqual(['enter a', 'stay', 'exit a', 'go', 'enter b', 'enter b1', 'exit b1', 'back', 'enter a', 'exit a', 'go', 'enter b', 'enter b1', 'exit b1', 'back', 'enter a']);
  });

  it.each([
    ['a parallel state', createMachine({ type: 'parallel', states: { x: {}, y: {} } })],
    ['a built-in action', setup({ actions: { inc: assign({}) } }).createMachine({ initial: 'a', states: { a: { on: { E: { actions: 'inc' } } } } })],
    ['an inline guard', createMachine({ initial: 'a', states: { a: { on: { E: { guard: () => true, target: 'b' } } }, b: {} } })],
    ['a wildcard event', setup({ actions: { noop } }).createMachine({ initial: 'a', states: { a: { on: { '*': { actions: 'noop' } } } } })],
    ['a targetless eventless transition', setup({ actions: { noop } }).createMachine({ initial: 'a', states: { a: { always: { actions: 'noop' } } } })],
    ['a delayed transition', createMachine({ initial: 'a', states: { a: { after: { 10: 'b' } }, b: {} } })],
  ])('rejects %s when built', (_what, machine) => {
    expect(() => new MachineInterpreter(machine, {})).toThrow(/interpreter: /);
  });
});
