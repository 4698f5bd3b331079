import { createActor, type Actor, type SnapshotFrom } from 'xstate';
import { pmdPages } from '../geometry.ts';
import { scanVmaForFolio } from '../page-table.ts';
import { rmap_walk } from '../rmap.ts';
import type { Folio, MmSystem, Vma } from '../types.ts';
import {
  SATURATED_VALUE,
  initialPlainSnapshot,
  saturatingFastPath,
  saturatingMapcountMachine,
  type PlainSnapshot,
  type SaturatingEvent,
  type SaturatingState,
} from '../machines/saturating-mapcount.ts';
import { copyCosts, zeroCosts, type Costs, type MapcountScheme, type RmapCall, type VmaChange } from './scheme.ts';

/**
 * `proposal` and `proposal+vma-hooks`: Wilcox's "Zero, One, Two, Many" (reference/proposal.txt).
 * Per folio, the saturating-mapcount machine counts the VMAs that hold at least one page-table
 * entry of the folio. The rmap hooks decide when a VMA starts or stops mapping the folio by
 * scanning that VMA's page tables (scanVmaForFolio: up to nr_pages PTEs plus the PMD):
 *   - add / dup (called before the entries are set): the VMA mapped no page of the folio -> VMA_MAPPED;
 *   - remove (called after the entries were cleared): the VMA maps no page of it now -> VMA_UNMAPPED;
 *   - split-pmd: the same VMA keeps mapping the folio -> nothing.
 * `proposal` is the proposal as written: VMA split / merge / mremap are invisible to it, which is
 * its known hazard (a split VMA is two VMAs behind a count of one). `proposal+vma-hooks` also
 * hears those changes (vmaChanged) and keeps Zero/One/Two exact.
 *
 * Costs: every page-table entry read in costs.ptesScanned (hook scans, VMA-change scans and the
 * entries page_vma_mapped_walk() reads in an explicit walk); in costs.atomics one atomic for each
 * change of the mapcount word and one for each change of the refcount (folio_get/folio_put on a
 * step, one folio_ref_add/sub when a walk adjusts by several); rmapWalks/vmasVisited for resolve();
 * one cacheline (the folio's mapcount word) per query.
 */

export type ProposalEngineKind = 'actor' | 'fast';

export interface ProposalOptions {
  /**
   * How each folio's saturating machine runs: a long-lived xstate actor (default), or the fast
   * path derived from the same machine (identical behaviour; for the exhaustive explorer).
   */
  readonly engine?: ProposalEngineKind;
  /**
   * Where the hooks learn whether a VMA maps a folio. Absent (default): the emulated MM's page
   * tables (scanVmaForFolio, rmap_walk). A trace replay that rebuilds per-VMA mappings from rmap
   * events, without addresses or page tables, passes its own view.
   */
  readonly view?: VmaMappingView;
}

/**
 * The page tables as the proposal's hooks see them: what a scan of one VMA over the folio's range
 * finds, what an rmap walk finds, and which counted folios a VMA split concerns.
 */
export interface VmaMappingView {
  /** Does the VMA map any page of the folio? `scanned`: page-table entries read to know. Read at once: a view may reuse the object. */
  scan(vma: Vma, folio: Folio): { readonly mapped: boolean; readonly scanned: number };
  /** An rmap walk of the folio: distinct VMAs mapping it, candidate VMAs visited, entries read. */
  walk(folio: Folio): { readonly vmas: number; readonly visited: number; readonly scanned: number };
  /** The counted folios `created` took from its original VMA at a split (replaces the boundary scan). */
  foliosNear?(created: Vma): Folio[];
}

/** One folio's saturating mapcount, run by an actor or by the fast path. */
interface FolioEngine {
  send(event: SaturatingEvent): void;
  snapshot(): PlainSnapshot;
  copy(): FolioEngine;
}

type SaturatingActor = Actor<typeof saturatingMapcountMachine>;

class ActorEngine implements FolioEngine {
  private readonly actor: SaturatingActor;

  constructor(restore?: SnapshotFrom<typeof saturatingMapcountMachine>) {
    this.actor = createActor(saturatingMapcountMachine, restore ? { snapshot: restore } : undefined).start();
  }

  send(event: SaturatingEvent): void {
    this.actor.send(event);
  }

  snapshot(): PlainSnapshot {
    const s = this.actor.getSnapshot();
    return { value: s.value as SaturatingState, context: s.context };
  }

  copy(): ActorEngine {
    return new ActorEngine(this.actor.getPersistedSnapshot() as SnapshotFrom<typeof saturatingMapcountMachine>);
  }
}

class FastEngine implements FolioEngine {
  constructor(private state: PlainSnapshot = initialPlainSnapshot()) {}

  send(event: SaturatingEvent): void {
    this.state = saturatingFastPath(this.state, event);
  }

  snapshot(): PlainSnapshot {
    return this.state;
  }

  /** The copy shares the snapshot: the fast path never changes one, it returns a new snapshot for every change. */
  copy(): FastEngine {
    return new FastEngine(this.state);
  }
}

const newEngine = (kind: ProposalEngineKind): FolioEngine => (kind === 'fast' ? new FastEngine() : new ActorEngine());

/** A VMA restricted to [start, end) of its range, with vm_pgoff to match (for scanning a part). */
function vmaPart(sys: MmSystem, vma: Vma, start: number, end: number): Vma {
  // field by field, in the order of every VMA record (model/vma.ts dupVma: one hidden class)
  const pgoff = vma.pgoff + (start - vma.start) / sys.config.geometry.pageSize;
  return { id: vma.id, mm: vma.mm, start, end, read: vma.read, write: vma.write, shared: vma.shared, inode: vma.inode, pgoff, anonVma: vma.anonVma, avc: vma.avc, hugepage: vma.hugepage };
}

/** Shared behaviour of both variants. */
export abstract class SaturatingScheme implements MapcountScheme {
  abstract readonly name: 'proposal' | 'proposal+vma-hooks';
  readonly costs: Costs = zeroCosts();
  /**
   * Told of every event sent to a folio's machine, with the state the machine is in before it
   * (the explorer's coverage of the saturating machine). A field from construction: setting it
   * leaves the object's hidden class as it was. A clone has none.
   */
  onSend: ((state: SaturatingState, event: SaturatingEvent) => void) | null = null;
  protected readonly engines = new Map<number, FolioEngine>();
  protected readonly engineKind: ProposalEngineKind;
  protected readonly view: VmaMappingView | undefined;

  constructor(
    protected readonly sys: MmSystem,
    options: ProposalOptions = {},
  ) {
    this.engineKind = options.engine ?? 'actor';
    this.view = options.view;
  }

  // --- the rmap hooks --------------------------------------------------------------------------

  rmap(call: RmapCall): void {
    switch (call.op) {
      case 'add':
      case 'dup': {
        // folio_add_*_rmap / folio_dup_*_rmap run before set_pte_at(): the VMA's page tables do
        // not yet hold the new entries, so "mapped before" is what the scan sees.
        if (!this.scan(call.vma, call.folio)) this.send(call.folio, { type: 'VMA_MAPPED' });
        return;
      }
      case 'remove': {
        // folio_remove_rmap_* runs after the entries were cleared: does the VMA map another page?
        if (!this.scan(call.vma, call.folio)) this.send(call.folio, { type: 'VMA_UNMAPPED' });
        return;
      }
      case 'split-pmd':
        // __split_huge_pmd_locked(): the same VMA keeps mapping the folio, now by PTEs.
        return;
    }
  }

  abstract vmaChanged(change: VmaChange): void;

  folioFreed(folio: Folio): void {
    this.engines.delete(folio.id);
  }

  /**
   * split_huge_page() of an unmapped folio: the order-0 folios start at Zero. (A real split first
   * unmaps by an rmap walk, which resets a sticky Many; the model's interface only splits unmapped
   * folios, so whatever the large folio's count said is dropped with it.)
   */
  folioSplit(folio: Folio, into: readonly Folio[]): void {
    this.engines.delete(folio.id);
    for (const f of into) this.engines.delete(f.id);
  }

  // --- queries ---------------------------------------------------------------------------------

  /** The saturated count: 0, 1, 2, and 3 for Many ("at least 3"). */
  folioMapcount(folio: Folio): number {
    this.costs.cachelines++;
    return SATURATED_VALUE[this.stateOf(folio)];
  }

  /**
   * The proposal keeps no per-page count ("the mapcount would also no longer count the number of
   * individual PTE or PMD mappings"): every page of the folio answers the folio's saturated count.
   */
  pageMapcount(folio: Folio, _page: number): number {
    return this.folioMapcount(folio);
  }

  folioMapped(folio: Folio): boolean {
    this.costs.cachelines++;
    return this.stateOf(folio) !== 'zero';
  }

  /** /proc/kpagecount: like pageMapcount, the folio's saturated count for every pfn of it. */
  kpagecount(folio: Folio, page: number): number {
    return this.pageMapcount(folio, page);
  }

  /** References the mapcount holds: at most 3, whatever the number of PTEs and PMDs. */
  mappingRefs(folio: Folio): number {
    return this.engines.get(folio.id)?.snapshot().context.refs ?? 0;
  }

  stateOf(folio: Folio): SaturatingState {
    return this.engines.get(folio.id)?.snapshot().value ?? 'zero';
  }

  /** The whole plain snapshot of a folio's machine (state and context), for checks and traces. */
  snapshotOf(folio: Folio): PlainSnapshot {
    return this.engines.get(folio.id)?.snapshot() ?? initialPlainSnapshot();
  }

  /**
   * An explicit rmap walk (what try_to_unmap, folio_referenced, ... do): count the distinct VMAs
   * that map the folio and let the count reset to Zero/One/Two, or stay Many. Returns the number
   * of VMAs found.
   */
  resolve(folio: Folio): number {
    this.costs.rmapWalks++;
    let vmas: number;
    if (this.view) {
      const walk = this.view.walk(folio);
      this.costs.vmasVisited += walk.visited;
      this.costs.ptesScanned += walk.scanned;
      vmas = walk.vmas;
    } else {
      const walk = rmap_walk(this.sys, folio);
      this.costs.vmasVisited += walk.visited;
      this.costs.ptesScanned += walk.scanned;
      vmas = new Set(walk.hits.map((h) => h.vma.id)).size;
    }
    this.send(folio, { type: 'RMAP_WALKED', vmas });
    return vmas;
  }

  abstract clone(sys: MmSystem): SaturatingScheme;

  protected copyInto<T extends SaturatingScheme>(other: T): T {
    for (const [id, engine] of this.engines) other.engines.set(id, engine.copy());
    copyCosts(other.costs, this.costs);
    return other;
  }

  // --- helpers ---------------------------------------------------------------------------------

  /** Does the VMA map any page of the folio? Costs the entries read. */
  protected scan(vma: Vma, folio: Folio): boolean {
    const r = this.view ? this.view.scan(vma, folio) : scanVmaForFolio(this.sys, vma, folio);
    this.costs.ptesScanned += r.scanned;
    return r.mapped;
  }

  protected send(folio: Folio, event: SaturatingEvent): void {
    if (this.onSend !== null) this.onSend(this.snapshotOf(folio).value, event);
    let engine = this.engines.get(folio.id);
    if (!engine) {
      // A folio nobody counted is at Zero; nothing to do for an event that cannot leave Zero.
      if (event.type === 'VMA_UNMAPPED' || (event.type === 'RMAP_WALKED' && event.vmas === 0)) return;
      engine = newEngine(this.engineKind);
      this.engines.set(folio.id, engine);
    }
    const before = engine.snapshot();
    engine.send(event);
    const after = engine.snapshot();
    if (after.value !== before.value) this.costs.atomics++; // the mapcount word
    if (after.context.refs !== before.context.refs) this.costs.atomics++; // folio_get/put or folio_ref_add/sub
  }
}

/** The proposal as written: only the rmap hooks drive the count. */
export class Proposal extends SaturatingScheme {
  readonly name = 'proposal' as const;

  /** VMA split / merge / mremap make no rmap call: the proposal does not see them. */
  vmaChanged(_change: VmaChange): void {}

  clone(sys: MmSystem): Proposal {
    return this.copyInto(new Proposal(sys, { engine: this.engineKind, view: this.view }));
  }
}

/**
 * The proposal with hooks on VMA split, merge and mremap move, which change the number of VMAs
 * mapping a folio without any rmap call. The hook finds the folios concerned by reading the page
 * tables near the boundary (split, merge) or of the moved range (move), and decides by scanning
 * the VMAs involved:
 *   - split: both parts map the folio -> one VMA more (VMA_MAPPED);
 *   - merge: both parts mapped it -> one VMA fewer (VMA_UNMAPPED; sticky in Many);
 *   - move: the mapping moves from `from` to `to`; only if `to` already mapped the folio outside
 *     the moved range (mremap expanded an adjacent VMA) is it one VMA fewer.
 */
export class ProposalVmaHooks extends SaturatingScheme {
  readonly name = 'proposal+vma-hooks' as const;

  vmaChanged(change: VmaChange): void {
    switch (change.kind) {
      case 'split':
        return this.split(change.original, change.created);
      case 'merge':
        return this.merge(change.survivor, change.removed);
      case 'move':
        return this.move(change.from, change.to);
    }
  }

  clone(sys: MmSystem): ProposalVmaHooks {
    return this.copyInto(new ProposalVmaHooks(sys, { engine: this.engineKind, view: this.view }));
  }

  /** __split_vma(): page tables are final; `original` and `created` are the two parts. */
  private split(original: Vma, created: Vma): void {
    const boundary = created.start >= original.end ? created.start : created.end;
    const folios = this.view?.foliosNear ? this.view.foliosNear(created) : this.foliosNear(created, boundary);
    for (const folio of folios) {
      if (this.scan(original, folio)) this.send(folio, { type: 'VMA_MAPPED' });
    }
  }

  /** vma_merge(): `removed` (its range as it was) was absorbed into `survivor`. */
  private merge(survivor: Vma, removed: Vma): void {
    // The survivor as it was before the merge: its range minus the absorbed one.
    let before = survivor;
    if (survivor.start <= removed.start && removed.end <= survivor.end) {
      before =
        removed.start === survivor.start
          ? vmaPart(this.sys, survivor, removed.end, survivor.end)
          : vmaPart(this.sys, survivor, survivor.start, removed.start);
    }
    if (before.start >= before.end) return;
    const boundary = removed.start >= before.end ? removed.start : removed.end;
    for (const folio of this.foliosNear(removed, boundary)) {
      if (this.scan(before, folio)) this.send(folio, { type: 'VMA_UNMAPPED' });
    }
  }

  /**
   * move_vma(): `to` already holds the moved entries, `from` is about to be unmapped without
   * zapping (it maps nothing any more). A folio mapped in the moved range was mapped by `from`.
   */
  private move(from: Vma, to: Vma): void {
    const { pageSize } = this.sys.config.geometry;
    const len = from.end - from.start;
    const movedStart = Math.max(to.start, to.start + (from.pgoff - to.pgoff) * pageSize);
    const movedEnd = Math.min(to.end, to.start + (from.pgoff - to.pgoff) * pageSize + len);
    const moved = vmaPart(this.sys, to, movedStart, movedEnd);
    const others: Vma[] = [];
    if (to.start < moved.start) others.push(vmaPart(this.sys, to, to.start, moved.start));
    if (moved.end < to.end) others.push(vmaPart(this.sys, to, moved.end, to.end));
    for (const folio of this.foliosIn(moved, moved.start, moved.end)) {
      // before: `from` mapped the folio (and `to` too, if it held other pages of it already)
      const toMappedBefore = others.some((part) => this.scan(part, folio));
      // after: `to` maps it, and `from` still does if only part of the folio moved
      const fromStillMaps = this.scan(from, folio);
      if (fromStillMaps && !toMappedBefore) this.send(folio, { type: 'VMA_MAPPED' });
      if (!fromStillMaps && toMappedBefore) this.send(folio, { type: 'VMA_UNMAPPED' });
    }
  }

  /** Counted folios mapped in `vma` within one folio's reach of `boundary`: the only ones a split or merge can concern. */
  private foliosNear(vma: Vma, boundary: number): Folio[] {
    const reach = this.maxFolioPages() * this.sys.config.geometry.pageSize;
    return this.foliosIn(vma, Math.max(vma.start, boundary - reach), Math.min(vma.end, boundary + reach));
  }

  /** Counted folios with an entry in [start, end) of the VMA's page tables; costs the entries read. */
  private foliosIn(vma: Vma, start: number, end: number): Folio[] {
    const mm = this.sys.mms.get(vma.mm);
    if (!mm || start >= end) return [];
    const { pageSize } = this.sys.config.geometry;
    const pmdNr = pmdPages(this.sys.config.geometry);
    const found = new Map<number, Folio>();
    const firstVpn = Math.floor(start / pageSize);
    const lastVpn = Math.ceil(end / pageSize);
    for (let vpn = firstVpn; vpn < lastVpn; vpn++) {
      this.costs.ptesScanned++;
      const pte = mm.ptes.get(vpn);
      if (pte?.kind === 'present') this.consider(found, pte.folio);
    }
    for (let i = Math.floor(firstVpn / pmdNr); i * pmdNr < lastVpn; i++) {
      this.costs.ptesScanned++;
      const pmd = mm.pmds.get(i);
      if (pmd) this.consider(found, pmd.folio);
    }
    return [...found.values()];
  }

  /** foliosIn(): a counted folio, once (a method, not a closure per call: the explorer runs this per state). */
  private consider(found: Map<number, Folio>, id: number): void {
    if (found.has(id) || !this.engines.has(id)) return;
    const folio = this.sys.folios.get(id);
    if (folio) found.set(id, folio);
  }

  private maxFolioPages(): number {
    let max = pmdPages(this.sys.config.geometry);
    for (const id of this.engines.keys()) {
      const f = this.sys.folios.get(id);
      if (f) max = Math.max(max, 1 << f.order);
    }
    return max;
  }
}
