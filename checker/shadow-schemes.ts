import { basename } from 'node:path';
import type { Geometry } from '../model/geometry.ts';
import { createSystem } from '../model/mm.ts';
import type { ReaderCase, ReaderClass, ReaderName, ReaderRow } from '../model/readers.ts';
import { Owners615 } from '../model/schemes/owners-6.15.ts';
import { Proposal, ProposalVmaHooks, type VmaMappingView } from '../model/schemes/proposal.ts';
import { zeroCosts, type Costs, type MapcountScheme, type RmapCall, type SchemeName } from '../model/schemes/scheme.ts';
import type { Folio, MmSystem, Vma } from '../model/types.ts';
import type { Generation, Position, TraceEvent } from '../traces/events.ts';
import type { ReadonlyPageEntries } from './page-entries.ts';

/**
 * The rival schemes shadowing a kernel-trace replay (checker/replay-kernel.ts). The replay checks
 * the kernel against the exact accounting of its generation; beside it, every rmap call it makes
 * (seen or inferred) also drives:
 *
 *   owners-6.15         the same RmapCalls, with vma->vm_mm as the MM id (one id per kernel mm);
 *   proposal            the saturating machine per folio: VMA_MAPPED when a VMA gains its first
 *                       entry of the folio, VMA_UNMAPPED when it loses its last, decided from the
 *                       replay's own per-VMA mappings (its VmaMappingView) and costed as the scan
 *                       of the VMA's page tables over the folio's range the kernel would need;
 *   proposal+vma-hooks  the same, plus the VMA splits the replay infers (__split_vma() moved an
 *                       entry to another vm_area_struct of the same mm) reach its split hook.
 *
 * Partial observability: a folio first seen mapped (its history began before the trace, or a
 * `[LOST N EVENTS]` gap hid part of it) has unknown owners and an unknown VMA count. owners-6.15
 * adopts the exact counters the replay learned (counted as adopted); the proposal's count is
 * meaningless until the folio is seen unmapped. Reader decisions are judged only on folios whose
 * whole mapping history the trace shows (tracked: seen with folio mapcount 0 and every counter
 * known), the others are counted as skipped.
 *
 * Readers (classed exact / conservative / wrong as model/readers.ts does, against the exact
 * scheme's answer, which the replay verifies against the kernel):
 *   - kpagecount at every `obs` event of a tracked folio (the pfn the workload sampled);
 *   - pagemap_exclusive and smaps (PSS divisor, Shared) for every mapped page of every tracked
 *     folio, at the first `obs` of each batch and at the end of the trace;
 *   - try_to_unmap where the trace shows an rmap walk unmapping: the removes inside
 *     split_huge_page_to_list[_to_order]() (unmap_folio() -> try_to_migrate()), asked once a VMA
 *     maps nothing of the folio (done() -> folio_mapped()). The traces record no reclaim, so
 *     folio_referenced() is never asked.
 */

/** The vm_area_struct as the replay rebuilds it (checker/replay-kernel.ts VmaRec, read-only here). */
export interface ShadowVma {
  /** vm_area_struct and mm_struct pointers. */
  readonly ptr: string;
  readonly mm: string;
  readonly model: Vma;
  /** PTE mappings (pfn -> entries) and PMD mappings (head pfn -> entries). */
  readonly ptes: ReadonlyPageEntries;
  readonly pmds: ReadonlyPageEntries;
  /** Freed (its pointer was reused). */
  readonly retired: boolean;
}

/** What the replay lets its shadows see. */
export interface ReplayHost {
  readonly generation: Generation;
  readonly geometry: Geometry;
  /** The exact scheme of the trace's generation (legacy-6.1 or large-6.12). */
  readonly exact: MapcountScheme & { fields(folio: Folio, page: number): { compoundMapcount?: number; entireMapcount?: number } };
  /** The folio holding `pfn`, the page index in it, and whether all its counters are known (learned or predicted). */
  folioAt(pfn: number): { readonly folio: Folio; readonly page: number; readonly known: boolean } | undefined;
}

/** The hook interface of replayKernelTrace's `shadow` option. */
export interface KernelShadow {
  attach(host: ReplayHost): void;
  /** A vm_area_struct the replay starts modelling. */
  vma(v: ShadowVma): void;
  /** An rmap call, before the exact scheme applies it (the replay has checked or learned its values). */
  rmap(call: RmapCall): void;
  /** The replay inferred that __split_vma() / move_vma() moved an entry of `folio` from `from` to `to` (same mm). */
  vmaSplitMove(from: ShadowVma, to: ShadowVma, folio: Folio | undefined): void;
  /** The replay has handled an event. */
  eventDone(e: TraceEvent, at: Position, fn: string): void;
  result(): ShadowSchemeResult[];
}

export const SHADOW_SCHEMES = ['owners-6.15', 'proposal', 'proposal+vma-hooks'] as const;
export type ShadowSchemeName = (typeof SHADOW_SCHEMES)[number];
export const isShadowScheme = (n: string): n is ShadowSchemeName => (SHADOW_SCHEMES as readonly string[]).includes(n);

/** One scheme over one replayed kernel trace. */
export interface ShadowSchemeResult {
  readonly name: SchemeName;
  /** `exact`: the scheme the kernel is checked against; `shadow`: run beside it. */
  readonly role: 'exact' | 'shadow';
  /** What the scheme's rmap (and VMA) hooks paid to keep its count: the cost of mapping and unmapping. */
  readonly costs: Costs;
  /** What answering the readers cost it (queries' cachelines, rmap walks forced by a sticky count); per reader in `readers`. */
  readonly readerCosts: Costs;
  /** Reader decisions (none for the exact scheme: it is the reference). */
  readonly readers: readonly ReaderRow[];
  /** Reader questions not asked because the folio's history began before the trace (or a gap). */
  readonly skipped: number;
  /** owners-6.15: folio_mapcount() compared with the exact scheme after each event touching a known folio. */
  readonly mapcount?: { readonly checked: number; readonly mismatches: number; readonly adopted: number; readonly firstMismatch?: string };
  /** proposal variants: folios that reached Many, and VMA_UNMAPPED decisions that Many absorbed (sticky). */
  readonly many?: { readonly folios: number; readonly stickyUnmaps: number; readonly trackedFolios: number };
}

type Saturating = Proposal | ProposalVmaHooks;
const COST_KEYS = ['atomics', 'cachelines', 'rmapWalks', 'vmasVisited', 'ptesScanned'] as const;
const KPF_ZERO_PAGE = 1n << 24n;
/** procReaders(): a pfn more than one mm maps. */
const SEVERAL = '(several mms)';
const exclusiveWord = (x: boolean): string => (x ? 'exclusive' : 'not exclusive');
const smapsWords = (divisor: number, shared: boolean): string => `pss/${divisor} ${shared ? 'Shared' : 'Private'}`;
const SPLIT_FNS = new Set(['split_huge_page_to_list', 'split_huge_page_to_list_to_order']);

/**
 * Ask `query` of scheme `s` without charging it (the checker's own look, not a kernel reader). A
 * method and its arguments rather than a closure: asked several times per rmap call.
 */
function quiet<S extends MapcountScheme, A, B, T>(s: S, query: (this: S, a: A, b: B) => T, a: A, b?: B): T {
  const c = s.costs;
  const { atomics, cachelines, rmapWalks, vmasVisited, ptesScanned } = c;
  try {
    return query.call(s, a, b as B);
  } finally {
    c.atomics = atomics;
    c.cachelines = cachelines;
    c.rmapWalks = rmapWalks;
    c.vmasVisited = vmasVisited;
    c.ptesScanned = ptesScanned;
  }
}

class Shadows implements KernelShadow, VmaMappingView {
  private host!: ReplayHost;
  private sys!: MmSystem;
  private owners: Owners615 | null = null;
  private readonly saturating: Saturating[] = [];
  private readonly schemes: MapcountScheme[] = [];

  private readonly vmaByModel = new Map<Vma, ShadowVma>();
  private readonly vmas = new Set<ShadowVma>();
  private readonly mmIds = new Map<string, number>();
  /** MM ids are never reused (a dead mm's id may still sit in a folio's owner slot). */
  private nextMmId = 1;
  private readonly ownersVma = new Map<Vma, Vma>();
  /** The current Folio object of each head pfn: a new object means the old folio was freed or split. */
  private readonly folioObj = new Map<number, Folio>();
  /** Folios whose whole mapping history the shadows saw. */
  private readonly tracked = new Set<Folio>();
  /**
   * VMAs split off others (the replay inferred __split_vma() / move_vma() moving entries to them):
   * the entries the replay still files under the original may be in the new VMA's range, so a scan
   * of the new VMA counts them (the proposal's drift after a split is underestimated, not multiplied
   * by the entries the replay has not yet attributed).
   */
  private readonly siblings = new Map<ShadowVma, Set<ShadowVma>>();
  /** Folios whose split a created VMA was already told about; dies with the VMA. */
  private readonly splitDone = new WeakMap<ShadowVma, Set<number>>();
  /** Per folio, the VMAs seen mapping it and their entries at the end of the last event that touched them. */
  private readonly seen = new Map<Folio, Map<ShadowVma, number>>();

  // the event being handled
  /**
   * Its rmap calls and the VMA of each: the first `pending` slots of two arrays kept from event to
   * event (emptying an array gives its storage back, and the next push allocates it again).
   */
  private readonly pendingCalls: RmapCall[] = [];
  private readonly pendingVmas: (ShadowVma | undefined)[] = [];
  private pending = 0;
  private mode: 'before' | 'now' = 'now';
  /** The answer of the last scan() (one object, rewritten by every scan: the hooks read it at once). */
  private readonly lastScan = { mapped: false, scanned: 0 };
  private at: Position = { file: '', line: 0 };
  private fn = '';
  private splitting = false;
  private readonly unmapEnded = new Set<string>();
  private prevObs = false;
  private events = 0;
  private finished = false;

  // results
  /** Per scheme, per reader: the decisions. */
  private readonly rows = new Map<SchemeName, Map<ReaderName, ReaderRow>>();
  private skipped = 0;
  private mapcount = { checked: 0, mismatches: 0, adopted: 0, firstMismatch: undefined as string | undefined };
  /** Folios that reached Many (held weakly: a freed folio must not stay in memory) and how many. */
  private readonly many = new Map<SchemeName, { reached: WeakSet<Folio>; folios: number; stickyUnmaps: number }>();
  private trackedEver = 0;

  constructor(private readonly names: readonly ShadowSchemeName[]) {}

  attach(host: ReplayHost): void {
    this.host = host;
    this.sys = createSystem({ geometry: host.geometry, kernel: host.generation, thp: 'always', shmemThp: true });
    for (const name of SHADOW_SCHEMES) {
      if (!this.names.includes(name)) continue;
      if (name === 'owners-6.15') this.schemes.push((this.owners = new Owners615(this.sys)));
      else {
        // a kernel trace creates a saturating machine per folio and sends several events per rmap
        // call: run by the fast path derived from the machine (test/saturating-mapcount.machine.test.ts
        // keeps it identical to the actor), as the replay runs its knowledge machines
        const options = { view: this, engine: 'fast' } as const;
        const s = name === 'proposal' ? new Proposal(this.sys, options) : new ProposalVmaHooks(this.sys, options);
        this.saturating.push(s);
        this.schemes.push(s);
        this.many.set(name, { reached: new WeakSet(), folios: 0, stickyUnmaps: 0 });
      }
    }
  }

  // ---- hooks -------------------------------------------------------------------------------------

  vma(v: ShadowVma): void {
    this.vmaByModel.set(v.model, v);
    this.vmas.add(v);
  }

  rmap(call: RmapCall): void {
    const f = this.current(call.folio);
    const exact = this.host.exact;
    const exactMc = quiet(exact, exact.folioMapcount, f);
    if (this.owners) {
      const o = this.owners;
      if (quiet(o, o.folioMapcount, f) !== exactMc) {
        // the replay learned counters from the kernel (a folio mapped before the trace, split, or after a gap)
        const fl = quiet(exact, exact.fields, f, 0);
        const entire = f.order > 0 ? (fl.entireMapcount ?? fl.compoundMapcount ?? -1) + 1 : 0;
        o.adopt(f, exactMc, entire);
        this.mapcount.adopted++;
      }
      o.rmap({ ...call, vma: this.ownersVmaOf(call.vma) });
    }
    if (!this.tracked.has(f) && exactMc === 0 && this.host.folioAt(f.id)?.known) {
      // unmapped and fully known: from here on every mapping of it goes through the shadows
      this.tracked.add(f);
      this.trackedEver++;
      for (const s of this.saturating) s.folioFreed(f);
    }
    this.pendingCalls[this.pending] = call;
    this.pendingVmas[this.pending++] = this.vmaByModel.get(call.vma);
  }

  vmaSplitMove(from: ShadowVma, to: ShadowVma, folio: Folio | undefined): void {
    if (!folio) return;
    const f = this.current(folio);
    const seen = this.seenOf(f);
    let sib = this.siblings.get(to);
    if (!sib) this.siblings.set(to, (sib = new Set()));
    sib.add(from);
    // proposal+vma-hooks' split hook: `to` is the part created by the split; the folio concerns it
    // once (the replay discovers a split's entries one at a time, at their removal)
    let done = this.splitDone.get(to);
    if (!done) this.splitDone.set(to, (done = new Set()));
    this.splitFolios = done.has(f.id) || (seen.get(to) ?? 0) > 0 ? [] : [f];
    done.add(f.id);
    this.mode = 'now';
    for (const s of this.saturating) {
      if (s instanceof ProposalVmaHooks) {
        s.vmaChanged({ kind: 'split', original: from.model, created: to.model });
        this.noteMany(s, f);
      }
    }
    this.splitFolios = [];
    seen.set(from, this.entries(from, f));
    seen.set(to, this.entries(to, f));
  }

  eventDone(e: TraceEvent, at: Position, fn: string): void {
    this.at = at;
    this.fn = fn;
    if ((++this.events & 4095) === 0) this.prune();
    if (e.ev === 'lost') {
      // a gap: nothing is known about what happened to any folio; the replay forgets them all, and
      // so do the shadows (their per-folio state would otherwise outlive every folio of a long trace)
      for (const f of this.folioObj.values()) for (const s of this.schemes) s.folioFreed(f);
      this.folioObj.clear();
      this.seen.clear();
      this.tracked.clear();
      this.forgetPending();
      return;
    }
    if (this.pending) this.settle();
    if (e.ev === 'kcall' && SPLIT_FNS.has(e.fn)) {
      this.splitting = e.ret !== true;
      this.unmapEnded.clear();
    }
    if (e.ev === 'obs') {
      if (!this.prevObs) this.procReaders();
      this.kpagecountReader(e.pfn, e.present, e.kpageflags);
    }
    this.prevObs = e.ev === 'obs';
  }

  result(): ShadowSchemeResult[] {
    if (!this.finished) {
      this.finished = true;
      this.procReaders();
    }
    const exact = this.host.exact;
    const out: ShadowSchemeResult[] = [{ name: exact.name, role: 'exact', costs: { ...exact.costs }, readerCosts: zeroCosts(), readers: [], skipped: 0 }];
    for (const s of this.schemes) {
      const readers = [...(this.rows.get(s.name)?.values() ?? [])].map((r) => structuredClone(r));
      const m = this.many.get(s.name);
      const readerCosts = zeroCosts();
      for (const r of readers) for (const k of COST_KEYS) readerCosts[k] += r.costs[k];
      const costs = zeroCosts();
      for (const k of COST_KEYS) costs[k] = s.costs[k] - readerCosts[k];
      out.push({
        name: s.name,
        role: 'shadow',
        costs,
        readerCosts,
        readers,
        skipped: this.skipped,
        ...(s === this.owners
          ? { mapcount: { checked: this.mapcount.checked, mismatches: this.mapcount.mismatches, adopted: this.mapcount.adopted, ...(this.mapcount.firstMismatch ? { firstMismatch: this.mapcount.firstMismatch } : {}) } }
          : {}),
        ...(m ? { many: { folios: m.folios, stickyUnmaps: m.stickyUnmaps, trackedFolios: this.trackedEver } } : {}),
      });
    }
    return out;
  }

  // ---- VmaMappingView (the proposal's hooks read the replay's per-VMA mappings) ------------------

  private splitFolios: Folio[] = [];

  /**
   * Does the VMA map a page of the folio? `before` (add / dup hooks, called before the entries are
   * set): as at the end of the previous event; `now` (remove hooks, after the entries were cleared;
   * split hooks). Costed as scanVmaForFolio(): the PMD, then the PTEs in page order up to the first hit.
   */
  scan(vma: Vma, folio: Folio): { mapped: boolean; scanned: number } {
    const r = this.lastScan;
    const v = this.vmaByModel.get(vma);
    if (!v) {
      r.mapped = false;
      r.scanned = 0;
      return r;
    }
    const now = this.scanNow(v, folio);
    r.mapped = this.mode === 'now' ? now > 0 : (this.seen.get(folio)?.get(v) ?? 0) > 0;
    r.scanned = r.mapped === (now > 0) ? Math.abs(now) : this.fullScan(folio);
    return r;
  }

  /** An rmap walk: the VMAs the replay saw mapping the folio are its candidates. */
  walk(folio: Folio): { vmas: number; visited: number; scanned: number } {
    let vmas = 0;
    let visited = 0;
    let scanned = 0;
    for (const v of this.seen.get(folio)?.keys() ?? []) {
      if (v.retired) continue;
      visited++;
      const r = this.scanNow(v, folio);
      scanned += Math.abs(r);
      if (r > 0) vmas++;
    }
    return { vmas, visited, scanned };
  }

  foliosNear(_created: Vma): Folio[] {
    return this.splitFolios;
  }

  // ---- internals -----------------------------------------------------------------------------------

  /** The folio object the replay uses now; a new object under a known pfn: the old folio is gone. */
  private current(f: Folio): Folio {
    const prev = this.folioObj.get(f.id);
    if (prev !== f) {
      if (prev) {
        for (const s of this.schemes) s.folioFreed(prev);
        this.tracked.delete(prev);
        this.seen.delete(prev);
      }
      this.folioObj.set(f.id, f);
    }
    return f;
  }

  /** Forget the VMAs the replay retired (memory stays bounded on long traces). */
  private prune(): void {
    let retired = false;
    for (const v of this.vmas) {
      if (!v.retired) continue;
      retired = true;
      this.vmas.delete(v);
      this.vmaByModel.delete(v.model);
      this.ownersVma.delete(v.model);
      this.siblings.delete(v);
    }
    if (!retired) return;
    // a freed VMA is no candidate of a later rmap walk: forget it under every folio it mapped (a
    // page-cache folio outlives the processes that map it, and would keep every one of their VMAs)
    for (const m of this.seen.values()) for (const v of m.keys()) if (v.retired) m.delete(v);
    for (const sib of this.siblings.values()) for (const v of sib) if (v.retired) sib.delete(v);
    // an mm none of whose VMAs is live any more needs no id (long traces create mms without end)
    const live = new Set([...this.vmas].map((v) => v.mm));
    for (const mm of this.mmIds.keys()) if (!live.has(mm)) this.mmIds.delete(mm);
  }

  private seenOf(f: Folio): Map<ShadowVma, number> {
    let m = this.seen.get(f);
    if (!m) this.seen.set(f, (m = new Map()));
    return m;
  }

  private ownersVmaOf(vma: Vma): Vma {
    let o = this.ownersVma.get(vma);
    if (!o) {
      const mm = this.vmaByModel.get(vma)?.mm ?? `vma:${vma.id}`;
      let id = this.mmIds.get(mm);
      if (id === undefined) this.mmIds.set(mm, (id = this.nextMmId++)); // MM ids start at 1 (never MM_ID_DUMMY)
      o = { ...vma, mm: id };
      this.ownersVma.set(vma, o);
    }
    return o;
  }

  private entries(v: ShadowVma, f: Folio): number {
    return v.pmds.get(f.id) + v.ptes.count(f.id, 1 << f.order);
  }

  private fullScan(f: Folio): number {
    return (1 << f.order) + (f.order === this.host.geometry.pmdOrder ? 1 : 0);
  }

  /**
   * mirrors scanVmaForFolio(): the PMD first (PMD-order folio), then each page's PTE until one maps
   * it. The entries read, positive when the VMA maps the folio, negative when not (never 0: at least
   * one entry is read); a number, not an object, as it is asked several times per rmap call.
   */
  private scanNow(v: ShadowVma, f: Folio): number {
    const own = this.scanOwn(v, f);
    if (own > 0) return own;
    const sib = this.siblings.get(v);
    if (sib) {
      for (const o of sib) {
        if (o.retired) continue;
        if (this.scanOwn(o, f) > 0) return -own;
      }
    }
    return own;
  }

  /** scanNow() of the VMA's own entries. */
  private scanOwn(v: ShadowVma, f: Folio): number {
    let pmd = 0;
    if (f.order === this.host.geometry.pmdOrder) {
      pmd = 1;
      if (v.pmds.get(f.id) > 0) return pmd;
    }
    const nr = 1 << f.order;
    const first = v.ptes.firstMapped(f.id, nr);
    return first < 0 ? -(pmd + nr) : pmd + first + 1;
  }

  private noteMany(s: Saturating, f: Folio): void {
    const m = this.many.get(s.name)!;
    if (s.stateOf(f) === 'many' && !m.reached.has(f)) {
      m.reached.add(f);
      m.folios++;
    }
  }

  /** The end of an event: the proposal's hooks decide, owners is compared, try_to_unmap is asked. */
  private settle(): void {
    const calls = this.pendingCalls;
    const vmas = this.pendingVmas;
    const n = this.pending;
    for (let i = 0; i < n; i++) {
      const call = calls[i];
      const v = vmas[i];
      const f = call.folio;
      this.mode = call.op === 'remove' ? 'now' : 'before';
      for (const s of this.saturating) {
        if (call.op === 'remove') {
          // an unmap never reaches Many; one that leaves Many as it was is absorbed (sticky)
          const was = s.stateOf(f);
          s.rmap(call);
          if (was === 'many' && !this.lastScan.mapped) this.many.get(s.name)!.stickyUnmaps++;
        } else {
          s.rmap(call);
          this.noteMany(s, f);
        }
      }
      // a later add / dup of the same VMA in this event finds the folio mapped there
      if (v && call.op !== 'remove') {
        const seen = this.seenOf(f);
        seen.set(v, Math.max(seen.get(v) ?? 0, 1));
      }
    }
    this.mode = 'now';
    if (n === 1) {
      // most events make one rmap call: no grouping
      const call = calls[0];
      const v = vmas[0];
      if (v) this.seenOf(call.folio).set(v, this.entries(v, call.folio));
      this.compareOwners(call.folio);
    } else {
      // per folio the event touched (in order), the VMAs it touched it in
      const touched = new Map<Folio, Set<ShadowVma>>();
      for (let i = 0; i < n; i++) {
        const call = calls[i];
        const v = vmas[i];
        let vs = touched.get(call.folio);
        if (!vs) touched.set(call.folio, (vs = new Set()));
        if (v) vs.add(v);
      }
      for (const [f, vs] of touched) {
        const seen = this.seenOf(f);
        for (const v of vs) seen.set(v, this.entries(v, f));
        this.compareOwners(f);
      }
    }
    if (this.splitting) {
      for (let i = 0; i < n; i++) if (calls[i].op === 'remove' && vmas[i]) this.tryToUnmap(calls[i].folio, vmas[i]!);
    }
    this.forgetPending();
  }

  /** Empty the pending slots (their calls and VMAs are not kept alive until overwritten). */
  private forgetPending(): void {
    this.pendingCalls.fill(undefined as never, 0, this.pending);
    this.pendingVmas.fill(undefined, 0, this.pending);
    this.pending = 0;
  }

  /** owners-6.15's folio_mapcount() against the exact one, for a folio the event touched. */
  private compareOwners(f: Folio): void {
    const o = this.owners;
    if (!o || this.folioObj.get(f.id) !== f || !this.host.folioAt(f.id)?.known) return;
    const exact = this.host.exact;
    const got = quiet(o, o.folioMapcount, f);
    const want = quiet(exact, exact.folioMapcount, f);
    this.mapcount.checked++;
    if (got !== want) {
      this.mapcount.mismatches++;
      this.mapcount.firstMismatch ??= `${this.where()}: folio 0x${f.id.toString(16)}: folio_mapcount ${got}, exact ${want}`;
    }
  }

  private where(): string {
    return `${basename(this.at.file)}:${this.at.line} ${this.fn}`;
  }

  // ---- readers -------------------------------------------------------------------------------------

  private row(scheme: SchemeName, reader: ReaderName): ReaderRow {
    let byReader = this.rows.get(scheme);
    if (!byReader) this.rows.set(scheme, (byReader = new Map()));
    let row = byReader.get(reader);
    if (!row) byReader.set(reader, (row = { scheme, reader, asked: 0, exact: 0, conservative: 0, wrong: 0, costs: zeroCosts() }));
    return row;
  }

  /**
   * Ask the scheme (`answer`, charged to the reader's row) and count its class. The words of the
   * truth and of the answer are only put together for a case that is not exact and is the first
   * of its class.
   */
  private judge(
    s: MapcountScheme,
    reader: ReaderName,
    folio: Folio,
    page: number | undefined,
    truth: string | (() => string),
    answer: () => { answer: string | (() => string); cls: ReaderClass },
  ): void {
    this.beginAnswer(s);
    const v = answer();
    const row = this.count(s, reader, v.cls);
    if (v.cls === 'exact' || this.caseNoted(row, v.cls)) return;
    this.noteCase(row, s, v.cls, folio, page, typeof truth === 'string' ? truth : truth(), typeof v.answer === 'string' ? v.answer : v.answer());
  }

  /** The scheme's costs when its answer began: what the answer's queries cost is charged to the reader's row. */
  private readonly costsBefore = zeroCosts();
  private beginAnswer(s: MapcountScheme): void {
    const c = s.costs;
    const b = this.costsBefore;
    b.atomics = c.atomics;
    b.cachelines = c.cachelines;
    b.rmapWalks = c.rmapWalks;
    b.vmasVisited = c.vmasVisited;
    b.ptesScanned = c.ptesScanned;
  }

  /** Charge the answer's queries to the reader's row and count its class; the row. */
  private count(s: MapcountScheme, reader: ReaderName, cls: ReaderClass): ReaderRow {
    const c = s.costs;
    const b = this.costsBefore;
    const row = this.row(s.name, reader);
    row.costs.atomics += c.atomics - b.atomics;
    row.costs.cachelines += c.cachelines - b.cachelines;
    row.costs.rmapWalks += c.rmapWalks - b.rmapWalks;
    row.costs.vmasVisited += c.vmasVisited - b.vmasVisited;
    row.costs.ptesScanned += c.ptesScanned - b.ptesScanned;
    row.asked++;
    row[cls]++;
    return row;
  }

  /** The row has its first case of this class already (a case is reported once). */
  private caseNoted(row: ReaderRow, cls: ReaderClass): boolean {
    return (cls === 'wrong' ? row.firstWrong : row.firstConservative) !== undefined;
  }

  private noteCase(row: ReaderRow, s: MapcountScheme, cls: ReaderClass, folio: Folio, page: number | undefined, truth: string, answer: string): void {
    const kase: ReaderCase = { op: this.at.line, operation: this.where(), reader: row.reader, scheme: s.name, folio: folio.id, ...(page !== undefined ? { page } : {}), truth, answer };
    if (cls === 'wrong') row.firstWrong = kase;
    else row.firstConservative = kase;
  }

  private stateNote(s: MapcountScheme, f: Folio): string {
    return s instanceof Proposal || s instanceof ProposalVmaHooks ? ` [${s.stateOf(f)}]` : '';
  }

  /** A folio the readers may be asked about: its whole history seen, its counters known. */
  private judgeable(pfn: number): { folio: Folio; page: number } | undefined {
    const at = this.host.folioAt(pfn);
    if (!at || !at.known || at.folio.kind === 'zero' || at.folio.kind === 'huge-zero') return undefined;
    if (!this.tracked.has(at.folio) || this.folioObj.get(at.folio.id) !== at.folio) {
      this.skipped++;
      return undefined;
    }
    return at;
  }

  /** kpagecount_read() of the pfn an `obs` event sampled. */
  private kpagecountReader(pfnHex: string, present: boolean, kpageflags: string): void {
    if (!present || (BigInt(kpageflags) & KPF_ZERO_PAGE) !== 0n) return;
    const at = this.judgeable(parseInt(pfnHex, 16));
    if (!at) return;
    const { folio, page } = at;
    const exact = this.host.exact;
    const want = quiet(exact, exact.kpagecount, folio, page);
    for (const s of this.schemes) {
      this.beginAnswer(s);
      const got = s.kpagecount(folio, page);
      const cls: ReaderClass = got === want ? 'exact' : 'wrong';
      const row = this.count(s, 'kpagecount', cls);
      if (cls !== 'exact' && !this.caseNoted(row, cls)) this.noteCase(row, s, cls, folio, page, `${want}`, `${got}${this.stateNote(s, folio)}`);
    }
  }

  /**
   * Shared or not, as the scheme answers a per-page question (6.15: folio_maybe_mapped_shared() for
   * a large folio), into `answer` (one object, rewritten each time: asked for every mapped page).
   */
  private readonly answer = { shared: false, divisor: 0 };
  private shared(s: MapcountScheme, f: Folio, page: number): { readonly shared: boolean; readonly divisor: number } {
    const a = this.answer;
    if (s instanceof Owners615 && f.order > 0) {
      a.shared = s.maybeMappedShared(f);
      a.divisor = s.averagePageMapcount(f);
    } else {
      a.divisor = s.pageMapcount(f, page);
      a.shared = a.divisor >= 2;
    }
    return a;
  }

  /** The words of shared()'s answer, put together only for a case that is reported. */
  private sharedWords(s: MapcountScheme, f: Folio, shared: boolean, divisor: number): string {
    return s instanceof Owners615 && f.order > 0 ? `folio_maybe_mapped_shared ${shared}` : `mapcount ${divisor}${this.stateNote(s, f)}`;
  }

  /**
   * pagemap PM_MMAP_EXCLUSIVE and smaps PSS / Shared of every mapped page of every tracked folio.
   * Asked for every mapped page of every process at each batch of observations: written without a
   * closure per page (tsx names every function it creates, a property definition each time).
   */
  private procReaders(): void {
    // the mm mapping each pfn (by a PTE of it or a PMD over it), or SEVERAL
    const mmOf = new Map<number, string>();
    const pageVmas: ShadowVma[] = [];
    const pagePfns: number[] = [];
    const add = (v: ShadowVma, pfn: number): void => {
      const mm = mmOf.get(pfn);
      if (mm === undefined) mmOf.set(pfn, v.mm);
      else if (mm !== v.mm) mmOf.set(pfn, SEVERAL);
      pageVmas.push(v);
      pagePfns.push(pfn);
    };
    for (const v of this.vmas) {
      if (v.retired) continue; // prune() forgets it everywhere
      for (const [pfn, n] of v.ptes.entries()) if (n > 0) add(v, pfn);
      for (const [head, n] of v.pmds.entries()) {
        if (n <= 0) continue;
        const at = this.host.folioAt(head);
        for (let p = 0; p < (at ? 1 << at.folio.order : 1); p++) add(v, head + p);
      }
    }
    const exact = this.host.exact;
    for (let k = 0; k < pagePfns.length; k++) {
      const pfn = pagePfns[k];
      const at = this.judgeable(pfn);
      if (!at) continue;
      const { folio, page } = at;
      const tm = quiet(exact, exact.pageMapcount, folio, page);
      // another mm maps the page too (the page's own mm is one of those mapping it)
      const otherMm = mmOf.get(pfn) === SEVERAL;
      for (const s of this.schemes) {
        this.beginAnswer(s);
        const p = this.shared(s, folio, page);
        const exclusive = s instanceof Owners615 && folio.order > 0 ? !p.shared : p.divisor === 1;
        let cls: ReaderClass = 'exact';
        if (exclusive !== (tm === 1)) cls = !exclusive || !otherMm ? 'conservative' : 'wrong';
        let row = this.count(s, 'pagemap_exclusive', cls);
        if (cls !== 'exact' && !this.caseNoted(row, cls))
          this.noteCase(row, s, cls, folio, page, `${exclusiveWord(tm === 1)} (mapcount ${tm})`, `${exclusiveWord(exclusive)} (${this.sharedWords(s, folio, p.shared, p.divisor)})`);

        this.beginAnswer(s);
        const q = this.shared(s, folio, page);
        cls = 'exact';
        if (q.divisor !== tm) cls = 'wrong';
        else if (q.shared !== tm >= 2) cls = q.shared || !otherMm ? 'conservative' : 'wrong';
        row = this.count(s, 'smaps', cls);
        if (cls !== 'exact' && !this.caseNoted(row, cls)) this.noteCase(row, s, cls, folio, page, smapsWords(tm, tm >= 2), `${smapsWords(q.divisor, q.shared)}${this.stateNote(s, folio)}`);
      }
    }
  }

  /**
   * try_to_migrate() inside split_huge_page(): the rmap walk's done() asks folio_mapped() once a VMA
   * maps nothing of the folio. Saying "mapped" when it is not walks to the end of the tree (and
   * resets a saturating count); "unmapped" while it is mapped stops the walk early (wrong).
   */
  private tryToUnmap(folio: Folio, v: ShadowVma): void {
    if (this.scanNow(v, folio) > 0) return; // try_to_migrate_one() has not finished this VMA
    if (!this.tracked.has(folio) || this.folioObj.get(folio.id) !== folio) {
      this.skipped++;
      return;
    }
    const exact = this.host.exact;
    const truth = quiet(exact, exact.folioMapped, folio);
    const candidates = [...(this.seen.get(folio)?.keys() ?? [])].filter((x) => !x.retired).length;
    for (const s of this.schemes) {
      const key = `${s.name}|${folio.id}`;
      if (this.unmapEnded.has(key)) continue;
      this.judge(s, 'try_to_unmap', folio, undefined, truth ? 'mapped: walk on' : 'unmapped: stop', () => {
        const mapped = s.folioMapped(folio);
        const note = this.stateNote(s, folio);
        if (!mapped) {
          this.unmapEnded.add(key);
          return { answer: `unmapped${note}: stop`, cls: truth ? 'wrong' : 'exact' };
        }
        if (truth) return { answer: `mapped${note}: walk on`, cls: 'exact' };
        this.unmapEnded.add(key);
        let reset = '';
        if (s instanceof Proposal || s instanceof ProposalVmaHooks) {
          s.resolve(folio);
          reset = `, reset to [${s.stateOf(folio)}]`;
        }
        return { answer: `mapped${note}: walk all ${candidates} VMAs${reset}`, cls: 'conservative' };
      });
    }
  }
}

/** Shadows for a kernel-trace replay: the named schemes (default: all of owners-6.15, proposal, proposal+vma-hooks). */
export function createShadows(names: readonly ShadowSchemeName[] = SHADOW_SCHEMES): KernelShadow {
  return new Shadows(names);
}

// ---- the report --------------------------------------------------------------------------------------

const padl = (s: string, n: number): string => s.padStart(n);
const padr = (s: string, n: number): string => s.padEnd(n);

export interface SchemesOfFile {
  readonly file: string;
  readonly schemes?: readonly ShadowSchemeResult[];
}

interface Totals {
  name: SchemeName;
  role: 'exact' | 'shadow';
  files: number;
  costs: Costs;
  readerCosts: Costs;
  asked: number;
  conservative: number;
  wrong: number;
  skipped: number;
  many: number;
  manyFiles: string[];
  sticky: number;
  mapcount?: { checked: number; mismatches: number; adopted: number; firstMismatch?: string };
  readers: Map<ReaderName, { row: ReaderRow; firstWrongFile?: string; firstConsFile?: string }>;
}

/** Per scheme, every kernel trace together. */
export function totalSchemes(files: readonly SchemesOfFile[]): Totals[] {
  const by = new Map<SchemeName, Totals>();
  for (const f of files) {
    for (const s of f.schemes ?? []) {
      let t = by.get(s.name);
      if (!t) by.set(s.name, (t = { name: s.name, role: s.role, files: 0, costs: zeroCosts(), readerCosts: zeroCosts(), asked: 0, conservative: 0, wrong: 0, skipped: 0, many: 0, manyFiles: [], sticky: 0, readers: new Map() }));
      t.files++;
      for (const k of COST_KEYS) t.costs[k] += s.costs[k];
      for (const k of COST_KEYS) t.readerCosts[k] += s.readerCosts[k];
      t.skipped += s.skipped;
      if (s.many) {
        t.many += s.many.folios;
        t.sticky += s.many.stickyUnmaps;
        if (s.many.folios) t.manyFiles.push(basename(f.file));
      }
      if (s.mapcount) {
        t.mapcount ??= { checked: 0, mismatches: 0, adopted: 0 };
        t.mapcount.checked += s.mapcount.checked;
        t.mapcount.mismatches += s.mapcount.mismatches;
        t.mapcount.adopted += s.mapcount.adopted;
        t.mapcount.firstMismatch ??= s.mapcount.firstMismatch;
      }
      for (const r of s.readers) {
        t.asked += r.asked;
        t.conservative += r.conservative;
        t.wrong += r.wrong;
        let a = t.readers.get(r.reader);
        if (!a) t.readers.set(r.reader, (a = { row: { scheme: r.scheme, reader: r.reader, asked: 0, exact: 0, conservative: 0, wrong: 0, costs: zeroCosts() } }));
        a.row.asked += r.asked;
        a.row.exact += r.exact;
        a.row.conservative += r.conservative;
        a.row.wrong += r.wrong;
        if (r.firstWrong && !a.row.firstWrong) a.row.firstWrong = r.firstWrong;
        if (r.firstConservative && !a.row.firstConservative) a.row.firstConservative = r.firstConservative;
      }
    }
  }
  return [...by.values()];
}

const caseText = (c: ReaderCase): string => `${c.operation}: folio 0x${c.folio.toString(16)}${c.page !== undefined ? ` page ${c.page}` : ''}: exact ${c.truth}, answer ${c.answer}`;

/**
 * Under `trollcount check`'s summary table: one cost line per scheme over every kernel trace, then
 * the reader decisions of each shadow scheme that differ from the exact scheme's. Empty when no
 * kernel trace ran shadows.
 */
export function formatSchemes(files: readonly SchemesOfFile[]): string {
  const totals = totalSchemes(files);
  if (!totals.length) return '';
  const n = files.filter((f) => f.schemes?.length).length;
  const w = Math.max(...totals.map((t) => t.name.length + (t.role === 'exact' ? 8 : 0)), 6);
  const head = [padr('scheme', w), ...COST_KEYS.map((k) => padl(k, 11)), padl('asked', 7), padl('conserv.', 8), padl('wrong', 6), padl('Many', 5)];
  const out = [
    `schemes side by side on ${n} kernel trace(s): costs of their rmap and VMA hooks; reader decisions judged on folios whose whole mapping history the trace shows`,
    head.join('  '),
  ];
  for (const t of totals) {
    const name = t.role === 'exact' ? `${t.name} (exact)` : t.name;
    const readers = t.role === 'exact' ? ['-', '-', '-'] : [String(t.asked), String(t.conservative), String(t.wrong)];
    const many = t.name === 'proposal' || t.name === 'proposal+vma-hooks' ? String(t.many) : '-';
    out.push([padr(name, w), ...COST_KEYS.map((k) => padl(String(t.costs[k]), 11)), padl(readers[0], 7), padl(readers[1], 8), padl(readers[2], 6), padl(many, 5)].join('  '));
    if (t.role === 'shadow') out.push([padr('  + readers', w), ...COST_KEYS.map((k) => padl(String(t.readerCosts[k]), 11))].join('  '));
  }
  for (const t of totals) {
    if (t.mapcount) out.push(`${t.name}: folio_mapcount compared with the exact scheme's at ${t.mapcount.checked} checked events: ${t.mapcount.mismatches} mismatch(es); counters adopted ${t.mapcount.adopted} time(s) for folios mapped before the trace${t.mapcount.firstMismatch ? `; first mismatch ${t.mapcount.firstMismatch}` : ''}`);
    if (t.manyFiles.length) out.push(`${t.name}: ${t.many} folio(s) reached Many (${t.manyFiles.join(', ')}); ${t.sticky} VMA_UNMAPPED absorbed by sticky Many`);
  }
  const differing = totals.flatMap((t) => [...t.readers.values()].filter((r) => r.row.conservative + r.row.wrong > 0).map((r) => r.row));
  if (differing.length) {
    out.push('reader decisions that differ from the exact scheme:');
    for (const r of differing) {
      out.push(`  ${r.scheme} ${r.reader}: ${r.wrong} wrong, ${r.conservative} conservative of ${r.asked}`);
      if (r.firstWrong) out.push(`    first wrong: ${caseText(r.firstWrong)}`);
      else if (r.firstConservative) out.push(`    first conservative: ${caseText(r.firstConservative)}`);
    }
  } else out.push('reader decisions: every shadow scheme decided as the exact scheme did.');
  return out.join('\n');
}
