import type { Kernel } from '../model/kernel.ts';
import { SATURATED_VALUE, type PlainSnapshot, type SaturatingState } from '../model/machines/saturating-mapcount.ts';
import { rmap_walk } from '../model/rmap.ts';
import type { MapcountScheme, SchemeName } from '../model/schemes/scheme.ts';
import { vmasMapping } from '../model/schemes/truth.ts';
import type { Folio, Vma } from '../model/types.ts';
import { mmInvariants, type Violation } from './invariants.ts';

/**
 * The proposal's soundness, per folio, for `proposal` and `proposal+vma-hooks` (reference/proposal.txt):
 *   - Zero / One / Two equal the number of VMAs whose page tables map the folio (truth.ts vmasMapping);
 *   - Many only if at least 3 VMAs mapped it since the last rmap walk (or the walk said so);
 *   - never below the truth (Many reads as "at least 3");
 *   - the references the mapcount holds are min(count, 3).
 * Each rule has its own property name, so a violation says which rule broke. Sticky Many above
 * the truth is allowed by the proposal; it is reported as a cost finding (what resolving it costs).
 */

/** The rules, as they appear in Violation.property. */
export const RULE = {
  zeroWhileMapped: 'proposal: Zero while the folio is mapped',
  belowTruth: 'proposal: count below the VMAs mapping the folio',
  aboveTruth: 'proposal: Zero/One/Two above the VMAs mapping the folio',
  manyUnjustified: 'proposal: Many without 3 VMAs since the last walk',
  refs: 'proposal: mapcount references == min(count, 3)',
} as const;

/** A finding that is not a violation: sticky Many over fewer than 3 VMAs, and what resolving it costs. */
export const STICKY_MANY = 'proposal: sticky Many above the truth (resolving needs an rmap walk)';

/** A finding that is not a violation: one mm maps the folio through several VMAs, and the count says so. */
export const SAME_MM_VMAS = 'proposal: several VMAs of one mm counted (a reader taking the count for sharing sees it shared)';

export interface CostFinding {
  readonly finding: typeof STICKY_MANY | typeof SAME_MM_VMAS;
  readonly scheme: SchemeName;
  readonly folio: number;
  readonly detail: string;
  /** What one rmap walk to resolve it costs. */
  readonly walk?: { readonly vmasVisited: number; readonly ptesScanned: number; readonly vmasFound: number };
}

const WORD: Readonly<Record<SaturatingState, string>> = { zero: 'Zero', one: 'One', two: 'Two', many: 'Many' };
export const stateWord = (s: SaturatingState): string => WORD[s];

/**
 * History the soundness rule for Many needs, per proposal scheme and folio: whether at least 3
 * VMAs mapped it (sampled after each operation) since the last walk the scheme applied. Plain
 * data (structuredClone-able); part of the explored state.
 */
export interface ProposalMonitor {
  /** `${scheme}:${pfn}` -> { manyAllowed, walks seen } */
  readonly folios: Map<string, { manyAllowed: boolean; walks: number }>;
}

export const newMonitor = (): ProposalMonitor => ({ folios: new Map() });
export function cloneMonitor(m: ProposalMonitor): ProposalMonitor {
  const folios = new Map<string, { manyAllowed: boolean; walks: number }>();
  for (const [key, e] of m.folios) folios.set(key, { manyAllowed: e.manyAllowed, walks: e.walks });
  return { folios };
}

interface Saturating extends MapcountScheme {
  snapshotOf(folio: Folio): PlainSnapshot;
}

/** Is the scheme one of the proposal's two variants? (Asked for every scheme of every folio of every state.) */
const isProposal = (s: MapcountScheme): boolean => s.name === 'proposal' || s.name === 'proposal+vma-hooks';

/** Does the kernel run a proposal scheme? (No list: the explorer asks after every operation and VMA change.) */
const hasProposal = (k: Kernel): boolean => {
  for (const s of k.schemes) if (isProposal(s)) return true;
  return false;
};

const isLive = (f: Folio): boolean => f.kind !== 'zero' && f.kind !== 'huge-zero';

/**
 * The monitor's key of a scheme's folio, `${scheme}:${pfn}`, made once per scheme and pfn: the
 * explorer looks keys up for every folio of every state it reaches, and a string built per lookup
 * is allocated and hashed every time.
 */
export function monitorKey(scheme: string, pfn: number): string {
  let keys = MONITOR_KEYS.get(scheme);
  if (keys === undefined) MONITOR_KEYS.set(scheme, (keys = []));
  return (keys[pfn] ??= `${scheme}:${pfn}`);
}

const MONITOR_KEYS = new Map<string, string[]>();

/** Update the monitor after an operation (call before checking the state). */
export function observe(k: Kernel, monitor: ProposalMonitor): void {
  if (!hasProposal(k)) return;
  for (const folio of k.sys.folios.values()) {
    if (!isLive(folio)) continue;
    // a VMA maps the folio through at least one entry: fewer than 3 entries, fewer than 3 VMAs
    const truth = (k.sys.mappedBy.get(folio.id)?.size ?? 0) < 3 ? 0 : vmasMapping(k.sys, folio).length;
    for (const s of k.schemes) {
      if (!isProposal(s)) continue;
      const key = monitorKey(s.name, folio.id);
      const walks = (s as unknown as Saturating).snapshotOf(folio).context.walks;
      let e = monitor.folios.get(key);
      if (!e) monitor.folios.set(key, (e = { manyAllowed: false, walks }));
      if (e.walks !== walks) {
        e.walks = walks;
        e.manyAllowed = false;
      }
      if (truth >= 3) e.manyAllowed = true;
    }
  }
  // forget the folios gone (freed, split): the entries of live folios of the kernel's proposal
  // schemes stay; a Map iterator skips the entries deleted behind it
  for (const key of monitor.folios.keys()) {
    const { scheme, pfn } = keyOwner(key);
    const folio = k.sys.folios.get(pfn);
    if (folio === undefined || !isLive(folio) || !hasScheme(k, scheme)) monitor.folios.delete(key);
  }
}

/** The scheme and pfn a monitor key names (remembered: the same keys come back state after state). */
function keyOwner(key: string): { readonly scheme: string; readonly pfn: number } {
  let owner = KEY_OWNERS.get(key);
  if (owner === undefined) {
    const colon = key.lastIndexOf(':');
    KEY_OWNERS.set(key, (owner = { scheme: key.slice(0, colon), pfn: Number(key.slice(colon + 1)) }));
  }
  return owner;
}

const KEY_OWNERS = new Map<string, { readonly scheme: string; readonly pfn: number }>();

const hasScheme = (k: Kernel, name: string): boolean => {
  for (const s of k.schemes) if (s.name === name && isProposal(s)) return true;
  return false;
};

const vmaList = (n: number): string => `${n} VMA${n === 1 ? '' : 's'}`;

/**
 * Sampling inside an operation: a split, merge or move, or an rmap call, may take the number of
 * VMAs mapping a folio to 3 and back within one operation (mprotect of a middle page splits the
 * VMA in three, then merges it back), and a count that saw it go to Many is right to stay there.
 * The executor calls this from every rmap call (add/dup run before the entry is set: the VMA
 * counts as mapping) and every VMA change (page tables final).
 */
export function sampleWithinOperation(k: Kernel, monitor: ProposalMonitor, folio: Folio, adding: Vma | null): void {
  // a VMA maps the folio through at least one entry: fewer than 3 entries, fewer than 3 VMAs
  if ((k.sys.mappedBy.get(folio.id)?.size ?? 0) + (adding ? 1 : 0) < 3) return;
  if (!hasProposal(k) || !k.sys.folios.has(folio.id)) return;
  const mapping = vmasMapping(k.sys, folio);
  // vmasMapping lists each VMA once: `adding` is one more unless it is listed
  if (mapping.length + (adding && !mapping.some((v) => v.id === adding.id) ? 1 : 0) < 3) return;
  for (const s of k.schemes) {
    if (!isProposal(s)) continue;
    const key = monitorKey(s.name, folio.id);
    const e = monitor.folios.get(key);
    if (e) e.manyAllowed = true;
    else monitor.folios.set(key, { manyAllowed: true, walks: (s as unknown as Saturating).snapshotOf(folio).context.walks });
  }
}

/** Folios an rmap walk could see near a VMA change: every live folio mapped in the mm of the VMA. */
export function sampleVmaChange(k: Kernel, monitor: ProposalMonitor, mmPid: number): void {
  if (!hasProposal(k)) return;
  const mm = k.sys.mms.get(mmPid);
  if (!mm) return;
  // each folio once, in order of first entry (PTEs, then PMDs); only a folio mapped by 3 entries
  // or more can be mapped by 3 VMAs, so most VMA changes sample nothing and build no set
  let ids: Set<number> | null = null;
  for (const p of mm.ptes.values()) if (p.kind === 'present' && (k.sys.mappedBy.get(p.folio)?.size ?? 0) >= 3) (ids ??= new Set()).add(p.folio);
  for (const p of mm.pmds.values()) if ((k.sys.mappedBy.get(p.folio)?.size ?? 0) >= 3) (ids ??= new Set()).add(p.folio);
  if (ids === null) return;
  for (const id of ids) {
    const f = k.sys.folios.get(id);
    if (f && isLive(f)) sampleWithinOperation(k, monitor, f, null);
  }
}

/** What a count says against the VMAs mapping the folio (written only for a violation). */
function says(state: SaturatingState, vmas: readonly Vma[]): string {
  const truth = vmas.length;
  const where = vmas.length ? ` (VMAs ${vmas.map((v) => `${v.id} [0x${v.start.toString(16)}-0x${v.end.toString(16)}) of pid ${v.mm}`).join(', ')})` : '';
  return `count says ${WORD[state]} while ${vmaList(truth)} map${truth === 1 ? 's' : ''} it${where}`;
}

/** The soundness rules for every proposal scheme present in the kernel. */
export function proposalSoundness(k: Kernel, monitor: ProposalMonitor): Violation[] {
  const out: Violation[] = [];
  if (!hasProposal(k)) return out;
  for (const folio of k.sys.folios.values()) {
    if (!isLive(folio)) continue;
    const vmas = vmasMapping(k.sys, folio);
    const truth = vmas.length;
    for (const s of k.schemes) {
      if (!isProposal(s)) continue;
      const snap = (s as unknown as Saturating).snapshotOf(folio);
      const value = SATURATED_VALUE[snap.value];
      if (snap.value !== 'many') {
        if (value !== truth) {
          const rule = value === 0 ? RULE.zeroWhileMapped : value < truth ? RULE.belowTruth : RULE.aboveTruth;
          out.push({ property: rule, scheme: s.name, folio: folio.id, detail: says(snap.value, vmas) });
        }
      } else if (!(monitor.folios.get(monitorKey(s.name, folio.id))?.manyAllowed ?? false)) {
        out.push({ property: RULE.manyUnjustified, scheme: s.name, folio: folio.id, detail: `${says(snap.value, vmas)}; never 3 since the last walk` });
      }
      if (snap.context.refs !== Math.min(value, 3)) out.push({ property: RULE.refs, scheme: s.name, folio: folio.id, detail: `count ${WORD[snap.value]} holds ${snap.context.refs} references` });
    }
  }
  return out;
}

/** Sticky Many over fewer than 3 VMAs: allowed, but only an rmap walk can bring it down. */
export function proposalCostFindings(k: Kernel): CostFinding[] {
  const out: CostFinding[] = [];
  if (!hasProposal(k)) return out;
  for (const folio of k.sys.folios.values()) {
    if (!isLive(folio)) continue;
    const vmas = vmasMapping(k.sys, folio);
    const truth = vmas.length;
    if (truth >= 2 && vmas.every(sameMmAs(vmas[0]))) {
      for (const s of k.schemes) {
        if (!isProposal(s)) continue;
        const state = (s as unknown as Saturating).snapshotOf(folio).value;
        if (state === 'two' || state === 'many')
          out.push({ finding: SAME_MM_VMAS, scheme: s.name, folio: folio.id, detail: `count says ${WORD[state]} while ${vmaList(truth)} of pid ${vmas[0].mm} alone map it` });
      }
    }
    if (truth >= 3) continue;
    let manyIn: Saturating[] | null = null;
    for (const s of k.schemes) if (isProposal(s) && (s as unknown as Saturating).snapshotOf(folio).value === 'many') (manyIn ??= []).push(s as unknown as Saturating);
    if (manyIn === null) continue;
    const walk = rmap_walk(k.sys, folio);
    const found = new Set(walk.hits.map((h) => h.vma.id)).size;
    for (const s of manyIn) {
      out.push({
        finding: STICKY_MANY,
        scheme: s.name,
        folio: folio.id,
        detail: `count says Many while ${vmaList(truth)} map${truth === 1 ? 's' : ''} it; resolving walks ${walk.visited} VMAs and reads ${walk.scanned} page-table entries to find ${found}`,
        walk: { vmasVisited: walk.visited, ptesScanned: walk.scanned, vmasFound: found },
      });
    }
  }
  return out;
}

/** Is a VMA of the same mm as `first`? (One predicate per mm, made only for a folio several VMAs map.) */
const sameMmAs =
  (first: Vma) =>
  (v: Vma): boolean =>
    v.mm === first.mm;

/**
 * A state property beyond the built-in ones: the extension point for reader decisions
 * (model/readers.ts: every reader decision classed exact / conservative / wrong; a wrong one is a
 * violation) and anything else a caller wants checked after every operation.
 */
export type StateProperty = (k: Kernel) => Violation[];

/**
 * Every reader decision safe: the kernel's readers of the mapcount (model/readers.ts), asked at the
 * MM's decision points, must never get an unsafe ('wrong') answer from a scheme. Needs a reader
 * log attached to the kernel (attachReaders); reports the wrong answers of the last operation.
 */
export const READER_SAFE = 'reader decision safe';
export const readerSafety: StateProperty = (k) =>
  (k.readers?.drainWrong() ?? []).map((c) => ({
    property: READER_SAFE,
    scheme: c.scheme,
    folio: c.folio,
    detail: `${c.reader}${c.site ? ` at ${c.site}` : ''}: answered ${c.answer} where the page tables say ${c.truth}`,
  }));

export interface PropertyOptions {
  /** Extra properties checked after every operation (e.g. reader decisions). */
  readonly extra?: readonly StateProperty[];
}

/**
 * Everything exploration and op replay check after each operation: the MM invariants (every exact
 * scheme equals the truth, refcount/mapcount pairing, no mapped folio freed, rmap walks exact,
 * page cache consistent), the proposal's soundness, and the extra properties.
 */
export function checkState(k: Kernel, monitor: ProposalMonitor, opts: PropertyOptions = {}): Violation[] {
  const out = mmInvariants(k);
  for (const v of proposalSoundness(k, monitor)) out.push(v);
  for (const p of opts.extra ?? []) for (const v of p(k)) out.push(v);
  return out;
}

/** The key a violation is deduplicated by: the rule and the scheme (each gets its shortest counterexample). */
export const violationKey = (v: Violation): string => `${v.property}|${v.scheme ?? ''}`;

/** The key a cost finding is deduplicated by: the finding and the scheme. */
export const costKey = (f: CostFinding): string => `${f.finding}|${f.scheme}`;
