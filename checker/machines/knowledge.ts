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

export interface KnowledgeContext {
  readonly learned: number;
  readonly verified: number;
  readonly diverged: number;
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
    countLearned: assign(({ context, event }) => ({ learned: context.learned + (event.type === 'LEARN' ? event.n : 0) })),
    countHiddenByGap: assign(({ context, event }) => ({
      hiddenByGap: context.hiddenByGap + (event.type === 'LEARN' ? event.n : 0),
      forgottenByGap: false,
    })),
    countVerified: assign(({ context }) => ({ verified: context.verified + 1 })),
    countDiverged: assign(({ context }) => ({ diverged: context.diverged + 1 })),
    markForgottenByGap: assign({ forgottenByGap: true }),
  },
}).createMachine({
  id: 'folioKnowledge',
  context: { learned: 0, verified: 0, diverged: 0, forgottenByGap: false, hiddenByGap: 0 },
  initial: 'unknown',
  states: {
    unknown: {
      on: {
        BORN: { target: 'learned' },
        LEARN: [
          { guard: 'knownBeforeGap', target: 'learned', actions: ['countLearned', 'countHiddenByGap'] },
          { target: 'learned', actions: 'countLearned' },
        ],
      },
    },
    learned: {
      on: {
        LEARN: { actions: 'countLearned' },
        CHECK: [
          { guard: 'kernelAgreesWithModel', target: 'verified', actions: 'countVerified' },
          { target: 'diverged', actions: 'countDiverged' },
        ],
        FORGET: { target: 'unknown', actions: 'markForgottenByGap' },
        BORN: { target: 'learned' },
      },
    },
    verified: {
      on: {
        LEARN: { actions: 'countLearned' },
        CHECK: [
          { guard: 'kernelAgreesWithModel', actions: 'countVerified' },
          { target: 'diverged', actions: 'countDiverged' },
        ],
        FORGET: { target: 'unknown', actions: 'markForgottenByGap' },
        BORN: { target: 'learned' },
      },
    },
    diverged: {
      on: {
        RESYNC: { target: 'learned' },
        LEARN: { actions: 'countLearned' },
        CHECK: [
          { guard: 'kernelAgreesWithModel', actions: 'countVerified' },
          { actions: 'countDiverged' },
        ],
        FORGET: { target: 'unknown', actions: 'markForgottenByGap' },
        BORN: { target: 'learned' },
      },
    },
  },
});

export type KnowledgeState = 'unknown' | 'learned' | 'verified' | 'diverged';
