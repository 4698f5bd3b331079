import { and, assign, createActor, not, setup, type Actor } from 'xstate';

/**
 * The legacy (5.15 .. 6.1) mapping lifecycle of one anonymous THP, as a statechart that *runs*:
 * `Legacy61` keeps one long-lived actor per large anon folio and sends it every rmap call, and
 * the actor's context holds the kernel's raw counters. The states are the kernel's own views of
 * the folio (compound_mapcount, PageDoubleMap, subpage _mapcount); the guards are the tests the
 * kernel makes; the actions are the counter updates of mm/rmap.c and mm/huge_memory.c (6.1).
 *
 * - unmapped:      compound_mapcount == -1, no subpage mapped by a PTE.
 * - pmdMapped:     compound_mapcount >= 0 (PMD mappings only), PageDoubleMap clear.
 * - pteMapped:     compound_mapcount == -1, some subpage mapped by PTEs (PageDoubleMap is always
 *                  clear here: it is dropped together with the last compound mapping).
 * - doubleMapped:  PMD-mapped and PTE-mapped at once.
 *     .pageDoubleMap    PageDoubleMap set by __split_huge_pmd_locked() while another PMD mapping
 *                       remained: every subpage _mapcount carries a +1 bias. The flag is sticky
 *                       until the last compound mapping goes, even if the PTEs go first.
 *     .noPageDoubleMap  both mapped without the flag (a PTE added by page_add_anon_rmap() while a
 *                       PMD maps the folio, e.g. remove_migration_pte() after migrating it).
 * - split:         split_huge_page() turned it into small pages (final).
 * - freed:         free_transhuge_page() (final).
 */

export interface ThpMappingInput {
  /** thp_nr_pages() */
  readonly nr: number;
}

export interface ThpMappingContext {
  readonly nr: number;
  /** Raw compound_mapcount (first tail page): -1 when no PMD maps the folio. */
  readonly compoundMapcount: number;
  /** Raw _mapcount of each subpage, -1 based, including the PageDoubleMap bias. */
  readonly mapcount: readonly number[];
  /** PG_double_map on the first tail page. */
  readonly doubleMap: boolean;
  /** Atomic read-modify-writes performed on these fields so far (the scheme's cost meter). */
  readonly atomics: number;
}

export type ThpMappingEvent =
  /** page_add_new_anon_rmap() of a THP: "anon THP always mapped first with PMD" */
  | { readonly type: 'NEW_ANON_PMD' }
  /** page_add_anon_rmap(RMAP_COMPOUND) */
  | { readonly type: 'ADD_PMD' }
  /** page_try_dup_anon_rmap(compound=true) -> __page_dup_rmap() (copy_huge_pmd at fork) */
  | { readonly type: 'DUP_PMD' }
  /** page_add_anon_rmap() of one subpage */
  | { readonly type: 'ADD_PTE'; readonly page: number }
  /** page_try_dup_anon_rmap(compound=false) -> __page_dup_rmap() (copy_present_pte at fork) */
  | { readonly type: 'DUP_PTE'; readonly page: number }
  /** page_remove_rmap(compound=false) */
  | { readonly type: 'REMOVE_PTE'; readonly page: number }
  /** page_remove_rmap(compound=true) -> page_remove_anon_compound_rmap() */
  | { readonly type: 'REMOVE_PMD' }
  /** __split_huge_pmd_locked() of a present anon PMD (not freeze, not migration) */
  | { readonly type: 'SPLIT_PMD' }
  /** split_huge_page(): the compound page becomes small pages */
  | { readonly type: 'SPLIT_FOLIO' }
  /** free_transhuge_page() */
  | { readonly type: 'FREE' }
  /**
   * Not a kernel call: the trace checker learned raw values a 6.1 kprobe reported for a folio it
   * first saw mid-life. Omitted fields keep their modelled value.
   */
  | {
      readonly type: 'LEARN';
      readonly compoundMapcount?: number;
      readonly doubleMap?: boolean;
      readonly page?: number;
      readonly mapcount?: number;
    };

/** The bias PageDoubleMap puts on every subpage _mapcount. */
export const doubleMapBias = (ctx: ThpMappingContext): number => (ctx.doubleMap ? 1 : 0);

/** PTE mappings of the folio, read off the counters: Σ (_mapcount + 1 - bias). */
export function ptesMapped(ctx: ThpMappingContext): number {
  const bias = doubleMapBias(ctx);
  let n = 0;
  for (const m of ctx.mapcount) n += Math.max(0, m + 1 - bias);
  return n;
}

function pageOf(event: ThpMappingEvent): number {
  if ('page' in event && typeof event.page === 'number') return event.page;
  throw new Error(`thp-mapping: ${event.type} needs a page`);
}

const bump = (mapcount: readonly number[], page: number, by: number): number[] => {
  const next = mapcount.slice();
  next[page] += by;
  return next;
};

/** A freshly allocated THP: every counter at -1 (unmapped), PageDoubleMap clear. */
export const initialThpContext = (nr: number): ThpMappingContext => ({
  nr,
  compoundMapcount: -1,
  mapcount: new Array<number>(nr).fill(-1),
  doubleMap: false,
  atomics: 0,
});

/**
 * A started actor for a new THP. Its first snapshot is resolved directly, not through the context
 * factory (which xstate runs as an assign(): flagged when the actor is born inside another actor's
 * action, as every scheme's is, from an action of the MM system machine).
 */
export function startThpActor(nr: number): Actor<typeof thpMappingMachine> {
  return createActor(thpMappingMachine, {
    snapshot: thpMappingMachine.resolveState({ value: 'unmapped', context: initialThpContext(nr) }),
    input: { nr },
  }).start();
}

export const thpMappingMachine = setup({
  types: {
    context: {} as ThpMappingContext,
    events: {} as ThpMappingEvent,
    input: {} as ThpMappingInput,
  },
  guards: {
    /** compound_mapcount(page) > 1: another PMD still maps the folio after this one goes */
    otherPmdMappingRemains: ({ context }) => context.compoundMapcount >= 1,
    /** atomic_add_negative(-1, compound_mapcount_ptr(page)) will be true */
    lastCompoundMapping: ({ context }) => context.compoundMapcount === 0,
    /** some subpage _mapcount is above the PageDoubleMap bias: a PTE maps it */
    subpagePteMapped: ({ context }) => ptesMapped(context) > 0,
    /** this page_remove_rmap(compound=false) drops the folio's last PTE mapping */
    lastPteMapping: ({ context }) => ptesMapped(context) <= 1,
    /** compound_mapcount >= 0 (a learned state) */
    compoundMapped: ({ context }) => context.compoundMapcount >= 0,
    /** PageDoubleMap(page) (a learned state) */
    pageDoubleMap: ({ context }) => context.doubleMap,
  },
  actions: {
    /** page_add_new_anon_rmap(): atomic_set(compound_mapcount_ptr(page), 0): no RMW */
    setCompoundMapcountZero: assign({ compoundMapcount: 0 }),
    /** page_add_anon_rmap(RMAP_COMPOUND) / __page_dup_rmap(compound): compound_mapcount++ */
    incCompoundMapcount: assign(({ context }) => ({
      compoundMapcount: context.compoundMapcount + 1,
      atomics: context.atomics + 1,
    })),
    /** page_add_anon_rmap() / __page_dup_rmap(): atomic_inc(&page->_mapcount) */
    incSubpageMapcount: assign(({ context, event }) => ({
      mapcount: bump(context.mapcount, pageOf(event), +1),
      atomics: context.atomics + 1,
    })),
    /** page_remove_rmap(compound=false): atomic_add_negative(-1, &page->_mapcount) */
    decSubpageMapcount: assign(({ context, event }) => ({
      mapcount: bump(context.mapcount, pageOf(event), -1),
      atomics: context.atomics + 1,
    })),
    /** __split_huge_pmd_locked(): atomic_inc(&page[i]._mapcount) for each new PTE */
    mapEverySubpageByPte: assign(({ context }) => ({
      mapcount: context.mapcount.map((m) => m + 1),
      atomics: context.atomics + context.nr,
    })),
    /** __split_huge_pmd_locked(): !TestSetPageDoubleMap(page): every subpage _mapcount++ (the bias) */
    setDoubleMapAndAddBias: assign(({ context }) => ({
      doubleMap: true,
      mapcount: context.mapcount.map((m) => m + 1),
      atomics: context.atomics + 1 + context.nr,
    })),
    /** __split_huge_pmd_locked(): TestSetPageDoubleMap(page) found it already set: no bias */
    testSetDoubleMap: assign(({ context }) => ({ atomics: context.atomics + 1 })),
    /** atomic_add_negative(-1, compound_mapcount_ptr(page)) */
    dropCompoundMapping: assign(({ context }) => ({
      compoundMapcount: context.compoundMapcount - 1,
      atomics: context.atomics + 1,
    })),
    /** last compound mapping: TestClearPageDoubleMap(page): every subpage _mapcount-- */
    clearDoubleMapAndDropBias: assign(({ context }) => ({
      doubleMap: false,
      mapcount: context.mapcount.map((m) => m - 1),
      atomics: context.atomics + 1 + context.nr,
    })),
    /** last compound mapping: TestClearPageDoubleMap(page) found it clear: nothing to undo */
    testClearDoubleMap: assign(({ context }) => ({ atomics: context.atomics + 1 })),
    /** the checker's seeding from kernel-reported values (no kernel counterpart) */
    learnKernelFields: assign(({ context, event }) => {
      if (event.type !== 'LEARN') return {};
      const mapcount =
        event.page !== undefined && event.mapcount !== undefined
          ? context.mapcount.map((m, i) => (i === event.page ? event.mapcount! : m))
          : context.mapcount;
      return {
        compoundMapcount: event.compoundMapcount ?? context.compoundMapcount,
        doubleMap: event.doubleMap ?? context.doubleMap,
        mapcount,
      };
    }),
  },
}).createMachine({
  id: 'thpMapping',
  context: ({ input }) => initialThpContext(input.nr),
  initial: 'unmapped',
  on: {
    LEARN: { target: '.learned', actions: 'learnKernelFields' },
  },
  states: {
    unmapped: {
      on: {
        NEW_ANON_PMD: { target: 'pmdMapped', actions: 'setCompoundMapcountZero' },
        ADD_PMD: { target: 'pmdMapped', actions: 'incCompoundMapcount' },
        DUP_PMD: { target: 'pmdMapped', actions: 'incCompoundMapcount' },
        ADD_PTE: { target: 'pteMapped', actions: 'incSubpageMapcount' },
        DUP_PTE: { target: 'pteMapped', actions: 'incSubpageMapcount' },
        SPLIT_FOLIO: { target: 'split' },
        FREE: { target: 'freed' },
      },
    },
    pmdMapped: {
      on: {
        ADD_PMD: { target: 'pmdMapped', actions: 'incCompoundMapcount' },
        DUP_PMD: { target: 'pmdMapped', actions: 'incCompoundMapcount' },
        ADD_PTE: { target: 'doubleMapped.noPageDoubleMap', actions: 'incSubpageMapcount' },
        DUP_PTE: { target: 'doubleMapped.noPageDoubleMap', actions: 'incSubpageMapcount' },
        REMOVE_PMD: [
          { guard: 'otherPmdMappingRemains', target: 'pmdMapped', actions: 'dropCompoundMapping' },
          { guard: 'lastCompoundMapping', target: 'unmapped', actions: ['dropCompoundMapping', 'testClearDoubleMap'] },
        ],
        SPLIT_PMD: [
          {
            guard: 'otherPmdMappingRemains',
            target: 'doubleMapped.pageDoubleMap',
            actions: ['mapEverySubpageByPte', 'setDoubleMapAndAddBias', 'dropCompoundMapping'],
          },
          {
            guard: 'lastCompoundMapping',
            target: 'pteMapped',
            actions: ['mapEverySubpageByPte', 'dropCompoundMapping', 'testClearDoubleMap'],
          },
        ],
      },
    },
    pteMapped: {
      on: {
        ADD_PMD: { target: 'doubleMapped.noPageDoubleMap', actions: 'incCompoundMapcount' },
        DUP_PMD: { target: 'doubleMapped.noPageDoubleMap', actions: 'incCompoundMapcount' },
        ADD_PTE: { target: 'pteMapped', actions: 'incSubpageMapcount' },
        DUP_PTE: { target: 'pteMapped', actions: 'incSubpageMapcount' },
        REMOVE_PTE: [
          { guard: 'lastPteMapping', target: 'unmapped', actions: 'decSubpageMapcount' },
          { target: 'pteMapped', actions: 'decSubpageMapcount' },
        ],
        // split_huge_page() unmaps (migration entries) and remaps every PTE: each page keeps its count
        SPLIT_FOLIO: { target: 'split' },
      },
    },
    doubleMapped: {
      initial: 'pageDoubleMap',
      states: {
        pageDoubleMap: {
          on: {
            ADD_PMD: { target: 'pageDoubleMap', actions: 'incCompoundMapcount' },
            DUP_PMD: { target: 'pageDoubleMap', actions: 'incCompoundMapcount' },
            ADD_PTE: { target: 'pageDoubleMap', actions: 'incSubpageMapcount' },
            DUP_PTE: { target: 'pageDoubleMap', actions: 'incSubpageMapcount' },
            // PageDoubleMap is sticky: unmapping every PTE leaves flag and bias in place
            REMOVE_PTE: { target: 'pageDoubleMap', actions: 'decSubpageMapcount' },
            REMOVE_PMD: [
              { guard: 'otherPmdMappingRemains', target: 'pageDoubleMap', actions: 'dropCompoundMapping' },
              {
                guard: and(['lastCompoundMapping', 'subpagePteMapped']),
                target: '#thpMapping.pteMapped',
                actions: ['dropCompoundMapping', 'clearDoubleMapAndDropBias'],
              },
              {
                guard: and(['lastCompoundMapping', not('subpagePteMapped')]),
                target: '#thpMapping.unmapped',
                actions: ['dropCompoundMapping', 'clearDoubleMapAndDropBias'],
              },
            ],
            SPLIT_PMD: [
              {
                guard: 'otherPmdMappingRemains',
                target: 'pageDoubleMap',
                actions: ['mapEverySubpageByPte', 'testSetDoubleMap', 'dropCompoundMapping'],
              },
              {
                guard: 'lastCompoundMapping',
                target: '#thpMapping.pteMapped',
                actions: ['mapEverySubpageByPte', 'dropCompoundMapping', 'clearDoubleMapAndDropBias'],
              },
            ],
          },
        },
        noPageDoubleMap: {
          on: {
            ADD_PMD: { target: 'noPageDoubleMap', actions: 'incCompoundMapcount' },
            DUP_PMD: { target: 'noPageDoubleMap', actions: 'incCompoundMapcount' },
            ADD_PTE: { target: 'noPageDoubleMap', actions: 'incSubpageMapcount' },
            DUP_PTE: { target: 'noPageDoubleMap', actions: 'incSubpageMapcount' },
            REMOVE_PTE: [
              { guard: 'lastPteMapping', target: '#thpMapping.pmdMapped', actions: 'decSubpageMapcount' },
              { target: 'noPageDoubleMap', actions: 'decSubpageMapcount' },
            ],
            REMOVE_PMD: [
              { guard: 'otherPmdMappingRemains', target: 'noPageDoubleMap', actions: 'dropCompoundMapping' },
              {
                guard: 'lastCompoundMapping',
                target: '#thpMapping.pteMapped',
                actions: ['dropCompoundMapping', 'testClearDoubleMap'],
              },
            ],
            SPLIT_PMD: [
              {
                guard: 'otherPmdMappingRemains',
                target: 'pageDoubleMap',
                actions: ['mapEverySubpageByPte', 'setDoubleMapAndAddBias', 'dropCompoundMapping'],
              },
              {
                guard: 'lastCompoundMapping',
                target: '#thpMapping.pteMapped',
                actions: ['mapEverySubpageByPte', 'dropCompoundMapping', 'testClearDoubleMap'],
              },
            ],
          },
        },
      },
    },
    /** Transient: classify counters the checker learned from the kernel. */
    learned: {
      always: [
        { guard: and(['compoundMapped', 'pageDoubleMap']), target: 'doubleMapped.pageDoubleMap' },
        { guard: and(['compoundMapped', 'subpagePteMapped']), target: 'doubleMapped.noPageDoubleMap' },
        { guard: 'compoundMapped', target: 'pmdMapped' },
        { guard: 'subpagePteMapped', target: 'pteMapped' },
        { target: 'unmapped' },
      ],
    },
    split: { type: 'final' },
    freed: { type: 'final' },
  },
});

export type ThpMappingMachine = typeof thpMappingMachine;

/** The state a folio's counters put it in (what the machine must agree with). */
export type ThpMappingState =
  | 'unmapped'
  | 'pmdMapped'
  | 'pteMapped'
  | 'doubleMapped.pageDoubleMap'
  | 'doubleMapped.noPageDoubleMap'
  | 'split'
  | 'freed';

/** Flatten a snapshot value of the machine to a dotted path. */
export function thpStatePath(value: unknown): ThpMappingState {
  if (typeof value === 'string') return value as ThpMappingState;
  const [k, v] = Object.entries(value as Record<string, unknown>)[0];
  return `${k}.${String(v)}` as ThpMappingState;
}
