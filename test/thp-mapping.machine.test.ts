import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createActor, type AnyStateNode, type AnyTransitionDefinition, type InspectionEvent } from 'xstate';
import {
  ptesMapped,
  thpMappingMachine,
  thpStatePath,
  type ThpMappingContext,
  type ThpMappingEvent,
  type ThpMappingState,
} from '../model/machines/thp-mapping.ts';

/**
 * The legacy THP mapping machine: every transition by a hand-computed unit case (nr = 4, a TINY
 * THP), coverage of the whole statechart, and a property test against a line-by-line
 * transcription of the 6.1 C code.
 */

const NR = 4;

// ---- transition coverage ----------------------------------------------------------------------

const keyOf = (t: AnyTransitionDefinition): string => {
  const source = t.source as AnyStateNode;
  const list = t.eventType ? source.transitions.get(t.eventType) : source.always;
  const i = list ? list.indexOf(t) : -1;
  return `${source.id} --${t.eventType || 'always'}[${i}]`;
};

function allTransitions(node: AnyStateNode, out: Set<string> = new Set()): Set<string> {
  for (const defs of node.transitions.values()) for (const t of defs) out.add(keyOf(t));
  for (const t of node.always ?? []) out.add(keyOf(t));
  for (const child of Object.values(node.states)) allTransitions(child as AnyStateNode, out);
  return out;
}

const covered = new Set<string>();
const inspect = (e: InspectionEvent): void => {
  if (e.type === '@xstate.microstep') for (const t of e._transitions) covered.add(keyOf(t));
};

function run(...events: ThpMappingEvent[]) {
  const actor = createActor(thpMappingMachine, { input: { nr: NR }, inspect }).start();
  for (const e of events) actor.send(e);
  return actor;
}

const state = (actor: ReturnType<typeof run>): ThpMappingState => thpStatePath(actor.getSnapshot().value);
const ctx = (actor: ReturnType<typeof run>): ThpMappingContext => actor.getSnapshot().context;
const raw = (actor: ReturnType<typeof run>) => {
  const c = ctx(actor);
  return { compound: c.compoundMapcount, mapcount: [...c.mapcount], doubleMap: c.doubleMap };
};

const NEW: ThpMappingEvent = { type: 'NEW_ANON_PMD' };
const ADD_PMD: ThpMappingEvent = { type: 'ADD_PMD' };
const DUP_PMD: ThpMappingEvent = { type: 'DUP_PMD' };
const REMOVE_PMD: ThpMappingEvent = { type: 'REMOVE_PMD' };
const SPLIT_PMD: ThpMappingEvent = { type: 'SPLIT_PMD' };
const addPte = (page: number): ThpMappingEvent => ({ type: 'ADD_PTE', page });
const dupPte = (page: number): ThpMappingEvent => ({ type: 'DUP_PTE', page });
const removePte = (page: number): ThpMappingEvent => ({ type: 'REMOVE_PTE', page });

/** pmdMapped twice (fork), then one of them split: PageDoubleMap set with the bias. */
const doubleMapped = [NEW, DUP_PMD, SPLIT_PMD];
/** PMD-mapped and PTE-mapped without PageDoubleMap (e.g. remove_migration_pte()). */
const noDoubleMap = [NEW, addPte(2)];

describe('thp-mapping machine: unmapped', () => {
  it('page_add_new_anon_rmap: compound_mapcount set to 0', () => {
    const a = run(NEW);
    expect(state(a)).toBe('pmdMapped');
    expect(raw(a)).toEqual({ compound: 0, mapcount: [-1, -1, -1, -1], doubleMap: false });
    expect(ctx(a).atomics).toBe(0); // atomic_set is a store
  });
  it('page_add_anon_rmap(RMAP_COMPOUND) and __page_dup_rmap(compound) bump compound_mapcount', () => {
    expect(raw(run(ADD_PMD)).compound).toBe(0);
    expect(state(run(DUP_PMD))).toBe('pmdMapped');
    expect(ctx(run(DUP_PMD)).atomics).toBe(1);
  });
  it('a PTE map bumps only that subpage', () => {
    const a = run(addPte(1));
    expect(state(a)).toBe('pteMapped');
    expect(raw(a)).toEqual({ compound: -1, mapcount: [-1, 0, -1, -1], doubleMap: false });
    expect(state(run(dupPte(3)))).toBe('pteMapped');
  });
  it('split_huge_page and free end the machine', () => {
    const s = run({ type: 'SPLIT_FOLIO' });
    expect(state(s)).toBe('split');
    expect(s.getSnapshot().status).toBe('done');
    const f = run({ type: 'FREE' });
    expect(state(f)).toBe('freed');
    expect(f.getSnapshot().status).toBe('done');
  });
});

describe('thp-mapping machine: pmdMapped', () => {
  it('more PMD mappings stay pmdMapped', () => {
    expect(raw(run(NEW, ADD_PMD)).compound).toBe(1);
    const a = run(NEW, DUP_PMD);
    expect(state(a)).toBe('pmdMapped');
    expect(raw(a).compound).toBe(1);
  });
  it('a PTE map while PMD-mapped is double mapping without PageDoubleMap', () => {
    const a = run(NEW, addPte(0));
    expect(state(a)).toBe('doubleMapped.noPageDoubleMap');
    expect(raw(a)).toEqual({ compound: 0, mapcount: [0, -1, -1, -1], doubleMap: false });
    expect(state(run(NEW, dupPte(0)))).toBe('doubleMapped.noPageDoubleMap');
  });
  it('page_remove_anon_compound_rmap: otherPmdMappingRemains, then lastCompoundMapping', () => {
    const a = run(NEW, DUP_PMD, REMOVE_PMD);
    expect(state(a)).toBe('pmdMapped');
    expect(raw(a).compound).toBe(0);
    a.send(REMOVE_PMD);
    expect(state(a)).toBe('unmapped');
    expect(raw(a)).toEqual({ compound: -1, mapcount: [-1, -1, -1, -1], doubleMap: false });
  });
  it('__split_huge_pmd_locked with another PMD mapping: PageDoubleMap set, bias added', () => {
    const a = run(...doubleMapped);
    expect(state(a)).toBe('doubleMapped.pageDoubleMap');
    // each subpage: 1 PTE + the bias; compound: the other process's PMD
    expect(raw(a)).toEqual({ compound: 0, mapcount: [1, 1, 1, 1], doubleMap: true });
    // nr atomic_inc + TestSetPageDoubleMap + nr bias + atomic_add_negative, after 1 dup
    expect(ctx(a).atomics).toBe(1 + NR + 1 + NR + 1);
  });
  it('__split_huge_pmd_locked of the last PMD mapping: no PageDoubleMap, pteMapped', () => {
    const a = run(NEW, SPLIT_PMD);
    expect(state(a)).toBe('pteMapped');
    expect(raw(a)).toEqual({ compound: -1, mapcount: [0, 0, 0, 0], doubleMap: false });
    expect(ctx(a).atomics).toBe(NR + 1 + 1); // incs, add_negative, TestClearPageDoubleMap
  });
});

describe('thp-mapping machine: pteMapped', () => {
  it('a PMD map of a PTE-mapped THP is double mapping without the flag', () => {
    expect(state(run(addPte(0), ADD_PMD))).toBe('doubleMapped.noPageDoubleMap');
    expect(state(run(addPte(0), DUP_PMD))).toBe('doubleMapped.noPageDoubleMap');
  });
  it('more PTEs stay pteMapped', () => {
    const a = run(addPte(0), addPte(0), dupPte(3));
    expect(state(a)).toBe('pteMapped');
    expect(raw(a).mapcount).toEqual([1, -1, -1, 0]);
  });
  it('page_remove_rmap of PTEs: lastPteMapping goes unmapped', () => {
    const a = run(addPte(0), addPte(1), removePte(0));
    expect(state(a)).toBe('pteMapped');
    a.send(removePte(1));
    expect(state(a)).toBe('unmapped');
    expect(raw(a).mapcount).toEqual([-1, -1, -1, -1]);
  });
  it('split_huge_page of a PTE-mapped THP', () => {
    expect(state(run(NEW, SPLIT_PMD, { type: 'SPLIT_FOLIO' }))).toBe('split');
  });
});

describe('thp-mapping machine: doubleMapped.pageDoubleMap', () => {
  it('adds and dups stay; the bias stays', () => {
    const a = run(...doubleMapped, ADD_PMD, DUP_PMD, addPte(0), dupPte(0));
    expect(state(a)).toBe('doubleMapped.pageDoubleMap');
    expect(raw(a)).toEqual({ compound: 2, mapcount: [3, 1, 1, 1], doubleMap: true });
  });
  it('PageDoubleMap is sticky: unmapping every PTE keeps flag and bias', () => {
    const a = run(...doubleMapped, removePte(0), removePte(1), removePte(2), removePte(3));
    expect(state(a)).toBe('doubleMapped.pageDoubleMap');
    expect(raw(a)).toEqual({ compound: 0, mapcount: [0, 0, 0, 0], doubleMap: true });
  });
  it('REMOVE_PMD with another PMD mapping stays', () => {
    const a = run(NEW, DUP_PMD, DUP_PMD, SPLIT_PMD, REMOVE_PMD);
    expect(state(a)).toBe('doubleMapped.pageDoubleMap');
    expect(raw(a).compound).toBe(0);
  });
  it('last compound mapping with PTEs left: TestClearPageDoubleMap drops the bias', () => {
    const a = run(...doubleMapped, REMOVE_PMD);
    expect(state(a)).toBe('pteMapped');
    expect(raw(a)).toEqual({ compound: -1, mapcount: [0, 0, 0, 0], doubleMap: false });
  });
  it('last compound mapping after the PTEs went: unmapped', () => {
    const a = run(...doubleMapped, removePte(0), removePte(1), removePte(2), removePte(3), REMOVE_PMD);
    expect(state(a)).toBe('unmapped');
    expect(raw(a)).toEqual({ compound: -1, mapcount: [-1, -1, -1, -1], doubleMap: false });
  });
  it('split of another PMD while PageDoubleMap is set: TestSetPageDoubleMap adds no second bias', () => {
    const a = run(NEW, DUP_PMD, DUP_PMD, SPLIT_PMD, SPLIT_PMD);
    expect(state(a)).toBe('doubleMapped.pageDoubleMap');
    expect(raw(a)).toEqual({ compound: 0, mapcount: [2, 2, 2, 2], doubleMap: true });
  });
  it('split of the last PMD: bias dropped, pteMapped', () => {
    const a = run(...doubleMapped, SPLIT_PMD);
    expect(state(a)).toBe('pteMapped');
    expect(raw(a)).toEqual({ compound: -1, mapcount: [1, 1, 1, 1], doubleMap: false });
  });
});

describe('thp-mapping machine: doubleMapped.noPageDoubleMap', () => {
  it('adds and dups stay', () => {
    const a = run(...noDoubleMap, ADD_PMD, DUP_PMD, addPte(2), dupPte(3));
    expect(state(a)).toBe('doubleMapped.noPageDoubleMap');
    expect(raw(a)).toEqual({ compound: 2, mapcount: [-1, -1, 1, 0], doubleMap: false });
  });
  it('removing PTEs: stays until lastPteMapping, then pmdMapped', () => {
    const a = run(...noDoubleMap, addPte(3), removePte(2));
    expect(state(a)).toBe('doubleMapped.noPageDoubleMap');
    a.send(removePte(3));
    expect(state(a)).toBe('pmdMapped');
  });
  it('REMOVE_PMD: other PMD stays; last goes pteMapped', () => {
    const a = run(...noDoubleMap, DUP_PMD, REMOVE_PMD);
    expect(state(a)).toBe('doubleMapped.noPageDoubleMap');
    a.send(REMOVE_PMD);
    expect(state(a)).toBe('pteMapped');
    expect(raw(a)).toEqual({ compound: -1, mapcount: [-1, -1, 0, -1], doubleMap: false });
  });
  it('SPLIT_PMD with another PMD: PageDoubleMap set now', () => {
    const a = run(...noDoubleMap, DUP_PMD, SPLIT_PMD);
    expect(state(a)).toBe('doubleMapped.pageDoubleMap');
    expect(raw(a)).toEqual({ compound: 0, mapcount: [1, 1, 2, 1], doubleMap: true });
  });
  it('SPLIT_PMD of the last PMD: pteMapped', () => {
    const a = run(...noDoubleMap, SPLIT_PMD);
    expect(state(a)).toBe('pteMapped');
    expect(raw(a)).toEqual({ compound: -1, mapcount: [0, 0, 1, 0], doubleMap: false });
  });
});

describe('thp-mapping machine: learning kernel-reported fields', () => {
  it.each<[string, Omit<Extract<ThpMappingEvent, { type: 'LEARN' }>, 'type'>, ThpMappingState]>([
    ['compound and DoubleMap', { compoundMapcount: 1, doubleMap: true, page: 0, mapcount: 1 }, 'doubleMapped.pageDoubleMap'],
    ['compound and a PTE', { compoundMapcount: 0, page: 1, mapcount: 0 }, 'doubleMapped.noPageDoubleMap'],
    ['compound only', { compoundMapcount: 2 }, 'pmdMapped'],
    ['a PTE only', { page: 3, mapcount: 1 }, 'pteMapped'],
    ['nothing', { compoundMapcount: -1 }, 'unmapped'],
  ])('%s', (_, learned, expected) => {
    const a = run({ type: 'LEARN', ...learned });
    expect(state(a)).toBe(expected);
  });
  it('learning on top of modelled state keeps the other fields', () => {
    const a = run(NEW, { type: 'LEARN', page: 2, mapcount: 0 });
    expect(state(a)).toBe('doubleMapped.noPageDoubleMap');
    expect(raw(a)).toEqual({ compound: 0, mapcount: [-1, -1, 0, -1], doubleMap: false });
  });
});

// ---- property: the machine is the 6.1 C code -------------------------------------------------

/** Line-by-line transcription of the 6.1 functions (mm/rmap.c, mm/huge_memory.c), as an oracle. */
class Kernel61Thp {
  compound = -1;
  mapcount = new Array<number>(NR).fill(-1);
  doubleMap = false;
  apply(e: ThpMappingEvent): void {
    switch (e.type) {
      case 'NEW_ANON_PMD':
        this.compound = 0;
        break;
      case 'ADD_PMD':
      case 'DUP_PMD':
        this.compound++;
        break;
      case 'ADD_PTE':
      case 'DUP_PTE':
        this.mapcount[e.page]++;
        break;
      case 'REMOVE_PTE':
        this.mapcount[e.page]--;
        break;
      case 'REMOVE_PMD':
        if (--this.compound < 0 && this.doubleMap) {
          this.doubleMap = false;
          for (let i = 0; i < NR; i++) this.mapcount[i]--;
        }
        break;
      case 'SPLIT_PMD':
        for (let i = 0; i < NR; i++) this.mapcount[i]++;
        if (this.compound + 1 > 1 && !this.doubleMap) {
          this.doubleMap = true;
          for (let i = 0; i < NR; i++) this.mapcount[i]++;
        }
        if (--this.compound < 0 && this.doubleMap) {
          this.doubleMap = false;
          for (let i = 0; i < NR; i++) this.mapcount[i]--;
        }
        break;
      default:
        break;
    }
  }
}

/** The state the machine must be in, from what really maps the folio and PageDoubleMap. */
function expectedState(pmds: number, ptes: number, doubleMap: boolean): ThpMappingState {
  if (pmds > 0 && doubleMap) return 'doubleMapped.pageDoubleMap';
  if (pmds > 0 && ptes > 0) return 'doubleMapped.noPageDoubleMap';
  if (pmds > 0) return 'pmdMapped';
  if (ptes > 0) return 'pteMapped';
  return 'unmapped';
}

describe('thp-mapping machine: property', () => {
  it('random valid rmap sequences: counters equal the 6.1 C code, state equals the mappings', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(7), fc.nat(NR - 1)), { maxLength: 60 }), (steps) => {
        const actor = createActor(thpMappingMachine, { input: { nr: NR } }).start();
        const oracle = new Kernel61Thp();
        let pmds = 0;
        const ptes = new Array<number>(NR).fill(0);
        const log: string[] = [];
        for (const [kind, page] of steps) {
          const anyPte = ptes.some((n) => n > 0);
          let e: ThpMappingEvent | null = null;
          if (kind === 0 && pmds === 0 && !anyPte) e = NEW;
          else if (kind === 1 && pmds > 0) e = DUP_PMD;
          else if (kind === 2) e = ADD_PMD;
          else if (kind === 3) e = addPte(page);
          else if (kind === 4 && ptes.some((n) => n > 0)) e = dupPte(ptes.findIndex((n) => n > 0));
          else if (kind === 5 && ptes[page] > 0) e = removePte(page);
          else if (kind === 6 && pmds > 0) e = REMOVE_PMD;
          else if (kind === 7 && pmds > 0) e = SPLIT_PMD;
          if (!e) continue;
          log.push(JSON.stringify(e));
          if (e.type === 'NEW_ANON_PMD' || e.type === 'ADD_PMD' || e.type === 'DUP_PMD') pmds++;
          if (e.type === 'ADD_PTE' || e.type === 'DUP_PTE') ptes[e.page]++;
          if (e.type === 'REMOVE_PTE') ptes[e.page]--;
          if (e.type === 'REMOVE_PMD') pmds--;
          if (e.type === 'SPLIT_PMD') {
            pmds--;
            for (let i = 0; i < NR; i++) ptes[i]++;
          }
          actor.send(e);
          oracle.apply(e);
          const c = actor.getSnapshot().context;
          const where = log.join(' ');
          expect(c.compoundMapcount, where).toBe(oracle.compound);
          expect([...c.mapcount], where).toEqual(oracle.mapcount);
          expect(c.doubleMap, where).toBe(oracle.doubleMap);
          expect(ptesMapped(c), where).toBe(ptes.reduce((a, b) => a + b, 0));
          expect(thpStatePath(actor.getSnapshot().value), where).toBe(
            expectedState(pmds, ptes.reduce((a, b) => a + b, 0), c.doubleMap),
          );
          // PageDoubleMap only while a PMD maps the folio
          if (c.doubleMap) expect(pmds, where).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('thp-mapping machine: coverage', () => {
  it('every transition of the statechart was taken by a unit case above', () => {
    const all = allTransitions(thpMappingMachine.root as AnyStateNode);
    const missing = [...all].filter((k) => !covered.has(k));
    expect(missing).toEqual([]);
    expect(all.size).toBeGreaterThan(40);
  });
});
