import fc from 'fast-check';
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { knowledgeMachine, type KnowledgeContext, type KnowledgeEvent, type KnowledgeState } from '../checker/machines/knowledge.ts';
import { fastPath, type PlainSnapshot } from '../model/machines/saturating-mapcount.ts';

/** The replay's fast path of the folio knowledge machine is the machine: same states, same context, for any events. */
const step = fastPath<KnowledgeState, KnowledgeContext, KnowledgeEvent>(knowledgeMachine);
const initial: PlainSnapshot<KnowledgeState, KnowledgeContext> = {
  value: knowledgeMachine.config.initial as KnowledgeState,
  context: { ...(knowledgeMachine.config.context as KnowledgeContext) },
};

const event: fc.Arbitrary<KnowledgeEvent> = fc.oneof(
  fc.constant({ type: 'BORN' } as const),
  fc.integer({ min: 0, max: 5 }).map((n) => ({ type: 'LEARN', n }) as const),
  fc.tuple(fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 })).map(([kernel, model]) => ({ type: 'CHECK', kernel, model }) as const),
  fc.tuple(fc.boolean(), fc.boolean()).map(([kernel, model]) => ({ type: 'CHECK', kernel, model }) as const),
  fc.constant({ type: 'RESYNC' } as const),
  fc.constant({ type: 'FORGET' } as const),
);

describe('knowledge machine fast path', () => {
  it('agrees with an xstate actor after every event of random sequences', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const actor = createActor(knowledgeMachine).start();
        let s = initial;
        for (const e of events) {
          actor.send(e);
          s = step(s, e);
          const a = actor.getSnapshot();
          expect(s.value).toBe(a.value);
          expect(s.context).toEqual(a.context);
        }
        actor.stop();
      }),
      { numRuns: 500 },
    );
  });
});
