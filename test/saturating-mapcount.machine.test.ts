import fc from 'fast-check';
import { assign, createActor, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  SATURATED_VALUE,
  SATURATING_STATES,
  fastPath,
  initialPlainSnapshot,
  saturatingFastPath,
  saturatingMapcountMachine,
  stateForVmas,
  type PlainSnapshot,
  type SaturatingEvent,
  type SaturatingState,
} from '../model/machines/saturating-mapcount.ts';

const MAPPED: SaturatingEvent = { type: 'VMA_MAPPED' };
const UNMAPPED: SaturatingEvent = { type: 'VMA_UNMAPPED' };
const walked = (vmas: number): SaturatingEvent => ({ type: 'RMAP_WALKED', vmas });

/** Events that bring a fresh machine to `state` by the ordinary path. */
const reach = (state: SaturatingState): SaturatingEvent[] => new Array(SATURATED_VALUE[state]).fill(MAPPED);

const actorAfter = (events: readonly SaturatingEvent[]) => {
  const actor = createActor(saturatingMapcountMachine).start();
  for (const e of events) actor.send(e);
  return actor;
};

const fastAfter = (events: readonly SaturatingEvent[]): PlainSnapshot =>
  events.reduce((s, e) => saturatingFastPath(s, e), initialPlainSnapshot());

describe('saturating mapcount machine (Zero, One, Two, Many)', () => {
  it('is built with setup() and names every guard and action after the proposal', () => {
    const impl = saturatingMapcountMachine.implementations;
    expect(Object.keys(impl.guards).sort()).toEqual(['walkFoundMany', 'walkFoundNone', 'walkFoundOne', 'walkFoundTwo']);
    expect(Object.keys(impl.actions).sort()).toEqual(
      ['confirmWalk', 'dropMapcountRef', 'dropRefsToMatchWalk', 'takeMapcountRef', 'takeRefsToMatchWalk'].sort(),
    );
    expect(Object.keys(saturatingMapcountMachine.config.states ?? {})).toEqual(['zero', 'one', 'two', 'many']);
    const s = createActor(saturatingMapcountMachine).start().getSnapshot();
    expect(s.value).toBe('zero');
    expect(s.context).toEqual({ refs: 0, gets: 0, puts: 0, walks: 0 });
  });

  // Every (state, event) pair: the expected state and the references held afterwards.
  const table: Array<[SaturatingState, SaturatingEvent, SaturatingState, string]> = [
    ['zero', MAPPED, 'one', 'zero -> one takes a reference'],
    ['one', MAPPED, 'two', 'one -> two takes a reference'],
    ['two', MAPPED, 'many', 'two -> many takes the third reference'],
    ['many', MAPPED, 'many', 'many stays many, no extra reference'],
    ['zero', UNMAPPED, 'zero', 'zero has no VMA to lose: ignored'],
    ['one', UNMAPPED, 'zero', 'one -> zero drops the reference'],
    ['two', UNMAPPED, 'one', 'two -> one drops a reference'],
    ['many', UNMAPPED, 'many', "many is sticky: you can't decrement from Many to Two"],
  ];
  for (const from of SATURATING_STATES) {
    for (const vmas of [0, 1, 2, 3, 7]) {
      table.push([from, walked(vmas), stateForVmas(vmas), `walk finding ${vmas} VMAs resets ${from}`]);
    }
  }

  it.each(table)('%s --%o--> %s (%s)', (from, event, to) => {
    const path = reach(from);
    const actor = actorAfter(path);
    const before = actor.getSnapshot().context;
    actor.send(event);
    const after = actor.getSnapshot();
    expect(after.value).toBe(to);
    expect(after.context.refs).toBe(SATURATED_VALUE[to]);
    expect(after.context.gets - after.context.puts).toBe(after.context.refs);
    expect(after.context.walks).toBe(before.walks + (event.type === 'RMAP_WALKED' ? 1 : 0));
    // a reference is taken or dropped only by the difference of the counts
    const delta = SATURATED_VALUE[to] - SATURATED_VALUE[from];
    expect(after.context.gets - before.gets).toBe(Math.max(delta, 0));
    expect(after.context.puts - before.puts).toBe(Math.max(-delta, 0));
    // the fast path agrees on this transition
    const fast = fastAfter([...path, event]);
    expect(fast.value).toBe(after.value);
    expect(fast.context).toEqual(after.context);
  });

  it('a stale count (after a VMA change it missed) is raised by a walk, taking references to match', () => {
    const actor = actorAfter([MAPPED, walked(3)]);
    expect(actor.getSnapshot().value).toBe('many');
    expect(actor.getSnapshot().context).toMatchObject({ refs: 3, gets: 3, puts: 0 });
  });

  it('holds at most three references however many VMAs map the folio', () => {
    const actor = actorAfter(new Array(100).fill(MAPPED));
    expect(actor.getSnapshot().value).toBe('many');
    expect(actor.getSnapshot().context.refs).toBe(3);
  });

  it('the fast path returns its input when nothing changes and never mutates it', () => {
    const s = fastAfter(reach('many'));
    const frozen = JSON.stringify(s);
    expect(saturatingFastPath(s, MAPPED)).toBe(s);
    expect(saturatingFastPath(s, UNMAPPED)).toBe(s);
    saturatingFastPath(s, walked(0));
    expect(JSON.stringify(s)).toBe(frozen);
  });

  it('fastPath() rejects machines it cannot run faithfully', () => {
    const withEntry = setup({ actions: { a: assign({}) } }).createMachine({
      initial: 's',
      context: {},
      states: { s: { entry: 'a' } },
    });
    expect(() => fastPath(withEntry)).toThrow(/entry/);
    const inline = setup({}).createMachine({
      initial: 's',
      context: { n: 0 },
      states: { s: { on: { E: { actions: assign({ n: 1 }) } } } },
    });
    expect(() => fastPath(inline)).toThrow(/by name/);
  });

  it('property: a long-lived actor and the fast path agree on every random event sequence', () => {
    const event = fc.oneof(
      fc.constant(MAPPED),
      fc.constant(UNMAPPED),
      fc.integer({ min: 0, max: 6 }).map((vmas) => walked(vmas)),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const actor = createActor(saturatingMapcountMachine).start();
        let fast = initialPlainSnapshot();
        for (const e of events) {
          actor.send(e);
          fast = saturatingFastPath(fast, e);
          const s = actor.getSnapshot();
          expect(fast.value).toBe(s.value);
          expect(fast.context).toEqual(s.context);
          expect(s.context.refs).toBe(SATURATED_VALUE[s.value as SaturatingState]);
          expect(s.context.refs).toBeLessThanOrEqual(3);
        }
        actor.stop();
      }),
      { numRuns: 500 },
    );
  });
});
