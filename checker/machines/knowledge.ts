import { assign, setup } from 'xstate';

/**
 * What the trace checker knows about one folio of a real kernel trace (partial observability
 * made explicit). One long-lived actor per folio; the replay sends it every value it learns or
 * checks.
 *
 * - unknown:   nothing known: first seen mid-life, or forgotten after a `[LOST N EVENTS]` gap.
 * - learned:   the model's counters were taken from what the kernel reported (not verified).
 * - verified:  at least one kernel-reported value matched the model's prediction since.
 * - diverged:  a reported value differed from the prediction; the model was re-seeded from the
 *              kernel's values so that one fault is reported once, not on every later event.
 */

/**
 * Only what the replay reads back: how many values the gaps hid. (It counts values learned, verified
 * and diverged itself, over the whole trace; counted again per folio here, they would cost a new
 * snapshot for every value checked and be read by nothing.)
 */
export interface KnowledgeContext {
  /** The folio was known before a ring-buffer gap: a later re-learn is a value the gap hid. */
  readonly forgottenByGap: boolean;
  /** Values re-learned after a gap although the folio had been known before it. */
  readonly hiddenByGap: number;
}

export type KnowledgeEvent =
  /** A freshly allocated folio (folio_add_new_anon_rmap): its whole state is predicted. */
  | { readonly type: 'BORN' }
  /** `n` reported values adopted into the model (first sight). */
  | { readonly type: 'LEARN'; readonly n: number }
  /** A reported value compared with the model's prediction. */
  | { readonly type: 'CHECK'; readonly kernel: number | boolean; readonly model: number | boolean }
  /** After a divergence: the model takes the kernel's values again. */
  | { readonly type: 'RESYNC' }
  /** A ring-buffer gap: whatever the lost events did is unknown. */
  | { readonly type: 'FORGET' };

export const knowledgeMachine = setup({
  types: {
    context: {} as KnowledgeContext,
    events: {} as KnowledgeEvent,
  },
  guards: {
    /** the kernel's value equals the model's prediction */
    kernelAgreesWithModel: ({ event }) => event.type === 'CHECK' && event.kernel === event.model,
    /** the folio was known when events were lost: re-learning it means a value went unchecked */
    knownBeforeGap: ({ context }) => context.forgottenByGap,
  },
  actions: {
    countHiddenByGap: assign(({ context, event }) => ({
      hiddenByGap: context.hiddenByGap + (event.type === 'LEARN' ? event.n : 0),
      forgottenByGap: false,
    })),
    markForgottenByGap: assign({ forgottenByGap: true }),
  },
}).createMachine({
  id: 'folioKnowledge',
  context: { forgottenByGap: false, hiddenByGap: 0 },
  initial: 'unknown',
  states: {
    unknown: {
      on: {
        BORN: { target: 'learned' },
        LEARN: [{ guard: 'knownBeforeGap', target: 'learned', actions: 'countHiddenByGap' }, { target: 'learned' }],
      },
    },
    learned: {
      on: {
        CHECK: [{ guard: 'kernelAgreesWithModel', target: 'verified' }, { target: 'diverged' }],
        FORGET: { target: 'unknown', actions: 'markForgottenByGap' },
        BORN: { target: 'learned' },
      },
    },
    verified: {
      on: {
        // an agreeing value keeps it verified
        CHECK: [{ guard: 'kernelAgreesWithModel' }, { target: 'diverged' }],
        FORGET: { target: 'unknown', actions: 'markForgottenByGap' },
        BORN: { target: 'learned' },
      },
    },
    diverged: {
      on: {
        RESYNC: { target: 'learned' },
        FORGET: { target: 'unknown', actions: 'markForgottenByGap' },
        BORN: { target: 'learned' },
      },
    },
  },
});

export type KnowledgeState = 'unknown' | 'learned' | 'verified' | 'diverged';
