import { createActor } from 'xstate';
import { fastPath, type PlainSnapshot } from '../model/machines/saturating-mapcount.ts';
import { TraceInputError, type Generation, type Position, type TraceEvent, type TraceHeader } from '../traces/events.ts';
import { createSystem } from '../model/mm.ts';
import { Legacy61 } from '../model/schemes/legacy-6.1.ts';
import { Large612 } from '../model/schemes/large-6.12.ts';
import type { RmapCall } from '../model/schemes/scheme.ts';
import type { Folio, FolioKind, Vma } from '../model/types.ts';
import { knowledgeMachine, type KnowledgeContext, type KnowledgeEvent, type KnowledgeState } from './machines/knowledge.ts';
import { FolioHistory, type HistoryEntry } from './folio-history.ts';
import { FolioIndex } from './folio-index.ts';
import { PageEntries } from './page-entries.ts';
import type { KernelShadow, ShadowSchemeResult } from './shadow-schemes.ts';

/**
 * Replay of a real kernel trace (kcall events: the rmap probes with the counters the kernel held
 * before each call) against the exact accounting scheme of the trace's generation: Legacy61 for
 * 6.1, Large612 for 6.12. The model is rmap-level: its page tables are rebuilt from the rmap
 * events themselves (one model VMA per kernel vma pointer, one model folio per head page), and
 * every step the kernel takes without an rmap event (fork's inline dups, the 6.1 inline anon PMD
 * split, VMA splits, slab reuse of vma pointers, ...) is inferred and counted as inferred.
 *
 * Partial observability: a folio first seen mid-life takes the values the kernel reported
 * (learned, not verified); a `[LOST N EVENTS]` gap makes every folio unknown again, and a value
 * that the gap kept from being checked makes the verdict inconclusive.
 */

import type { TraceStream } from '../traces/reader.ts';
import { PROBE_TABLES } from '../traces/ftrace/convert.ts';
export type { TraceStream };

export type KernelVerdict = 'agree' | 'diverge' | 'inconclusive';

export interface KernelDivergence {
  readonly file: string;
  readonly line: number;
  /** The kcall (or `OBS`) whose reported value disagreed. */
  readonly fn: string;
  /** Kernel field name: _mapcount, compound_mapcount, PageDoubleMap, _large_mapcount, ..., refcount, kpagecount, mapped-in-vma */
  readonly field: string;
  /** Head pfn of the folio (hex) and the page index within it. */
  readonly folio: string;
  readonly page: number;
  readonly kernel: number | boolean;
  readonly model: number | boolean;
  /** The last events that touched this folio, oldest first. */
  readonly history: readonly HistoryEntry[];
}

export interface KernelReplayResult {
  readonly file: string;
  readonly generation: Generation;
  readonly verdict: KernelVerdict;
  readonly events: number;
  readonly byKind: Record<string, number>;
  readonly byFn: Record<string, number>;
  readonly values: {
    /** Kernel-reported counter values that matched the model's prediction. */
    readonly verified: number;
    /** Values adopted on first sight (pages and folios mapped before tracing, or after a gap). */
    readonly learned: number;
    /** verified / (verified + learned) */
    readonly verifiedRatio: number;
  };
  readonly refcount: { readonly checked: number; readonly failed: number };
  readonly observations: { readonly checked: number; readonly skipped: number };
  /** Hidden steps the replay inferred, by kind. */
  readonly inferred: Record<string, number>;
  readonly inferredTotal: number;
  readonly divergenceCount: number;
  /** The first divergences (capped). */
  readonly divergences: readonly KernelDivergence[];
  readonly lost: {
    readonly markers: number;
    readonly events: number;
    /** Values re-learned after a gap for folios known before it: what the gap kept from being checked. */
    readonly uncheckedValues: number;
  };
  /** Folios by final knowledge state. */
  readonly folios: Record<KnowledgeState, number>;
  /** shadow: with the `shadow` option, every scheme's costs and reader decisions (checker/shadow-schemes.ts). */
  readonly schemes?: readonly ShadowSchemeResult[];
}

export interface ReplayKernelOptions {
  readonly file: string;
  readonly onProgress?: (events: number) => void;
  /** Divergences kept in the result (default 50); all are counted. */
  readonly maxDivergences?: number;
  /** Stop early when aborted (checked every 4096 events): the result covers the events replayed so far. */
  readonly signal?: AbortSignal;
  /** Observer of every checked or learned kcall/obs (for `check --html/--perfetto`); absent: no cost. */
  readonly timeline?: (entry: TimelineEntry) => void;
  /** How the knowledge machines run: their fast path (default) or xstate actors; the results are identical. */
  readonly knowledgeEngine?: KnowledgeEngine;
  /** shadow: rival schemes driven by the same rmap calls (checker/shadow-schemes.ts); absent: no cost. */
  readonly shadow?: KernelShadow;
}

// ---- timeline (observer for reports; nothing is collected unless opts.timeline is given) -----------

/** One value of an event: what the kernel reported and what the model predicted (absent: learned). */
export interface TimelineValue {
  readonly field: string;
  readonly page: number;
  readonly kernel: number | boolean;
  /** The model's prediction; undefined when the value was adopted from the kernel (learned). */
  readonly model?: number | boolean;
  readonly diverged: boolean;
}

/** A kcall or obs of a real trace, seen from one folio: its values and the folio's knowledge after it. */
export interface TimelineEntry {
  readonly file: string;
  readonly line: number;
  /** The event's timestamp (seconds), when the trace has one. */
  readonly ts?: number;
  readonly fn: string;
  /** Head pfn of the folio (hex) and the (first) page index the event reported. */
  readonly folio: string;
  readonly page: number;
  /** Pages in the folio. */
  readonly nr: number;
  readonly values: readonly TimelineValue[];
  /** The folio's knowledge state after the event. */
  readonly state: KnowledgeState;
  readonly diverged: boolean;
}

// ---- kernel constants -----------------------------------------------------------------------------

/** With nokaslr, struct page array (vmemmap) base on x86-64; sizeof(struct page) = 64. */
const VMEMMAP_PREFIX = '0xffffea';
const STRUCT_PAGE = 64;
/** 6.1: PG_head is bit 16 of page->flags; PG_double_map bit 6 of the first tail's flags. */
const PG_HEAD_61 = 1 << 16;
const PG_DOUBLE_MAP_61 = 1 << 6;
/** 6.12: PG_head is bit 6 of folio->flags. */
const PG_HEAD_612 = 1 << 6;
/** VM_FAULT_FALLBACK */
const VM_FAULT_FALLBACK = 0x800;
/** /proc/kpageflags KPF_ZERO_PAGE */
const KPF_ZERO_PAGE = 1n << 24n;

/** pfn of a struct page pointer (vmemmap + pfn * 64), or -1 when it is not one. */
function pfnOfPage(hex: string): number {
  if (hex.length !== 18 || !hex.startsWith(VMEMMAP_PREFIX)) return -1;
  const off = parseInt(hex.slice(8), 16);
  return off % STRUCT_PAGE === 0 ? off / STRUCT_PAGE : -1;
}

/** The low 32 bits of a hex value (page flags we need are all below bit 32). */
const low32 = (hex: string): number => parseInt(hex.length > 10 ? hex.slice(-8) : hex, 16) >>> 0;

/** A present huge PMD's pfn (x86-64: _PAGE_PRESENT bit 0, _PAGE_PSE bit 7, pfn in bits 12..51), or -1. */
function hugePmdPfn(hex: string): number {
  const v = BigInt(hex);
  if ((v & 1n) === 0n || (v & 0x80n) === 0n) return -1;
  return Number((v & 0x000ffffffffff000n) >> 12n);
}

/**
 * The replay models neither PageAnonExclusive nor which pages were written: every folio shares one
 * frozen empty list (a THP split makes 512 folios), and a write to it would throw.
 */
const UNTRACKED_PAGES = Object.freeze([]) as unknown as boolean[];

type Args = Readonly<Record<string, string | number>>;
const hx = (a: Args, k: string): string => {
  const v = a[k];
  return typeof v === 'string' ? v : '0x' + (v ?? 0).toString(16);
};
const nm = (a: Args, k: string): number => {
  const v = a[k];
  return typeof v === 'number' ? v : v === undefined ? NaN : Number(v);
};

// ---- model state ------------------------------------------------------------------------------------

/**
 * The knowledge of one folio: the knowledge machine run as a long-lived actor, or (default) by its
 * fast path derived from the same machine definition and the same guard and assign functions
 * (fastPath(), test/knowledge-fastpath.test.ts keeps the two identical). A trace has a knowledge
 * machine per folio and several sends per event: actors cost ~10 us to create and ~3 us per send.
 */
interface KnowledgeActor {
  send(e: KnowledgeEvent): void;
  getSnapshot(): PlainSnapshot<KnowledgeState, KnowledgeContext>;
  stop(): void;
}

export type KnowledgeEngine = 'fast' | 'actor';

const knowledgeStep = fastPath<KnowledgeState, KnowledgeContext, KnowledgeEvent>(knowledgeMachine);
const KNOWLEDGE_INITIAL: PlainSnapshot<KnowledgeState, KnowledgeContext> = {
  value: knowledgeMachine.config.initial as KnowledgeState,
  context: { ...(knowledgeMachine.config.context as KnowledgeContext) },
};

class FastKnowledge implements KnowledgeActor {
  private s = KNOWLEDGE_INITIAL;
  send(e: KnowledgeEvent): void {
    this.s = knowledgeStep(this.s, e);
  }
  getSnapshot(): PlainSnapshot<KnowledgeState, KnowledgeContext> {
    return this.s;
  }
  stop(): void {}
}

const newKnowledge = (engine: KnowledgeEngine): KnowledgeActor =>
  engine === 'fast' ? new FastKnowledge() : (createActor(knowledgeMachine).start() as unknown as KnowledgeActor);

interface FolioRec {
  readonly folio: Folio;
  readonly nr: number;
  readonly knowledge: KnowledgeActor;
  /**
   * Per page: its _mapcount is known (learned or predicted). None for an order-0 folio, whose page is
   * known when knownPages is 1 (a THP split makes 512 of them).
   */
  readonly pageKnown: Uint8Array | null;
  knownPages: number;
  /** Folio-level fields known (6.1 compound_mapcount/PageDoubleMap; 6.12 large-folio fields). */
  folioKnown: boolean;
  /** Event sequence number when the model first held values for it. */
  knownSince: number;
  /**
   * Its last events; until its first own event, the history it was born with (none, or that of the
   * THP it was split from): a split makes 512 folios, most of which are never touched again.
   */
  history: FolioHistory | null;
  ownHistory: boolean;
}

const pageIsKnown = (rec: FolioRec, page: number): boolean => (rec.pageKnown === null ? rec.knownPages === 1 : rec.pageKnown[page] === 1);

/** The page's _mapcount is known from now on; whether it was not before. */
function knowPage(rec: FolioRec, page: number): boolean {
  if (pageIsKnown(rec, page)) return false;
  if (rec.pageKnown !== null) rec.pageKnown[page] = 1;
  rec.knownPages++;
  return true;
}

function knowAllPages(rec: FolioRec, known: boolean): void {
  rec.pageKnown?.fill(known ? 1 : 0);
  rec.knownPages = known ? rec.nr : 0;
}

interface VmaRec {
  readonly ptr: string;
  readonly mm: string;
  readonly model: Vma;
  /** PTE mappings: pfn -> entries. */
  readonly ptes: PageEntries;
  /** PMD mappings: head pfn -> entries. */
  readonly pmds: PageEntries;
  /** vma->anon_vma: true, false, or unknown (a VMA older than the trace). */
  anonVma: boolean | undefined;
  /** Every mapping it holds was seen being made (born in the trace from complete sources). */
  complete: boolean;
  /** Event sequence number of its creation (0: before the trace). */
  readonly birth: number;
  /** Fork copy whose source might not have needed copying (vma_needs_copy() unknown): the dups not yet applied. */
  pending: { readonly src: VmaRec; readonly ptes: [number, number][] } | null;
  /** Has page_add_file_rmap been seen in it. */
  file: boolean;
  /** The parent's VMA it was copied from at fork (copy_page_range). */
  source: VmaRec | null;
  retired: boolean;
  /** The lowest and highest address the trace showed it mapping at (rmap adds, PMD splits, fork copies), or null. */
  span: { lo: number; hi: number } | null;
}

interface MmRec {
  readonly ptr: string;
  readonly vmas: Set<VmaRec>;
  /**
   * Retired VMAs (their pointer was freed and reused) that still held mappings: move_vma() moved
   * those entries to another VMA of this mm without any rmap call, and a later unmap claims them.
   */
  readonly orphans: Set<VmaRec>;
  /** Born in the trace (by exec or fork): its VMAs are complete unless copied from incomplete ones. */
  readonly born: boolean;
}

type Scheme = Legacy61 | Large612;

class KernelReplay {
  private readonly gen: Generation;
  /** The rmap probes that exist only in the other generation. */
  private readonly foreignRmap: ReadonlySet<string>;
  private readonly pmdOrder: number;
  private readonly pageSize: number;
  private readonly scheme: Scheme;
  private readonly folios: FolioIndex<FolioRec>;
  private readonly vmas = new Map<string, VmaRec>();
  private readonly mms = new Map<string, MmRec>();
  private nextVmaId = 1;
  private seq = 0;
  private at: Position = { file: '', line: 0 };
  private fn = '';
  private ts: number | undefined;
  /** timeline observer: the folio and values of the event being handled */
  private tlRec: FolioRec | null = null;
  private tlValues: TimelineValue[] = [];

  // counters
  events = 0;
  /** Events by kind, and kcalls by function (returns as `fn:ret`): Maps, as they count every event. */
  private readonly byKind = new Map<string, number>();
  private readonly byFn = new Map<string, number>();
  /** `fn:ret` of each function, made once: a key built per event would be a new string to hash each time. */
  private readonly retKeys = new Map<string, string>();
  verified = 0;
  learned = 0;
  refChecked = 0;
  refFailed = 0;
  obsChecked = 0;
  obsSkipped = 0;
  readonly inferred: Record<string, number> = {};
  divergenceCount = 0;
  readonly divergences: KernelDivergence[] = [];
  lostMarkers = 0;
  lostEvents = 0;
  uncheckedAfterGap = 0;
  private afterGap = false;

  /** Hints kept between an entry probe and its return probe or the next event. */
  private pendingHugeFault: { vma: string; mm?: string } | null = null;
  private pendingCopyHugePmd: { dst: VmaRec; src: VmaRec; head: number; addr: string; line: number } | null = null;
  /** pids that called execve and whose next new mm is born in the trace */
  private readonly execPending = new Set<number>();
  /**
   * mm pointers born in the trace (fork's dst_mm, the first new mm after execve): an mm's record
   * is dropped once none of its VMAs is left, and one made again for the same pointer stays born.
   */
  private readonly bornMms = new Set<string>();

  constructor(
    header: TraceHeader,
    private readonly file: string,
    private readonly maxDivergences: number,
    private readonly tl?: (entry: TimelineEntry) => void,
    private readonly engine: KnowledgeEngine = 'fast',
    private readonly shadow?: KernelShadow,
  ) {
    this.gen = header.kernel.generation;
    this.foreignRmap = new Set(PROBE_TABLES[this.gen === '6.1' ? '6.12' : '6.1'].generationMarkers);
    this.pmdOrder = header.geometry.pmdOrder;
    this.pageSize = header.geometry.pageSize;
    this.folios = new FolioIndex(this.pmdOrder);
    const sys = createSystem({ geometry: header.geometry, kernel: this.gen, thp: 'always', shmemThp: true });
    this.scheme = this.gen === '6.1' ? new Legacy61(sys) : new Large612(sys);
    // the rival schemes read the exact scheme and the folios (a folio is known when all its counters are)
    shadow?.attach({ generation: this.gen, geometry: header.geometry, exact: this.scheme, folioAt: (pfn) => {
      const rec = this.folios.at(pfn);
      if (!rec) return undefined;
      return { folio: rec.folio, page: pfn - rec.folio.id, known: rec.knownPages === rec.nr && rec.folioKnown && this.state(rec) !== 'unknown' };
    } });
  }

  // ---- values no kernel reports are bad input (exit 2), never model state -------------

  /** A counter or size the probe records: missing or not a number is bad input (NaN would poison the model). */
  private need(a: Args, k: string): number {
    const v = nm(a, k);
    if (!Number.isFinite(v)) throw new TraceInputError(this.at, `${this.fn}: missing or non-numeric arg '${k}' (the probe records it)`);
    return v;
  }

  /** A page count within one folio: 1..max, max at most a PMD-sized folio (the largest folio modelled). */
  private pagesArg(n: number, k: string, max = 1 << this.pmdOrder): number {
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new TraceInputError(this.at, `${this.fn}: arg '${k}' is ${n}: expected 1..${max} pages (no folio is larger than a PMD)`);
    return n;
  }

  /** A folio order: 0..pmdOrder. */
  private orderArg(a: Args): number {
    const o = this.need(a, 'order');
    if (!Number.isInteger(o) || o < 0 || o > this.pmdOrder) throw new TraceInputError(this.at, `${this.fn}: arg 'order' is ${o}: expected 0..${this.pmdOrder}`);
    return o;
  }

  // ---- bookkeeping ------------------------------------------------------------------------------

  private infer(kind: string, n = 1): void {
    this.inferred[kind] = (this.inferred[kind] ?? 0) + n;
  }

  private touch(rec: FolioRec): void {
    this.touchAs(rec, this.fn);
  }

  private state(rec: FolioRec): KnowledgeState {
    return rec.knowledge.getSnapshot().value as KnowledgeState;
  }

  private diverge(rec: FolioRec | null, page: number, field: string, kernel: number | boolean, model: number | boolean, pfn?: number): void {
    this.divergenceCount++;
    if (this.tl && rec) this.note(rec, page, field, kernel, model, true);
    if (this.divergences.length >= this.maxDivergences) return;
    this.divergences.push({
      file: this.file,
      line: this.at.line,
      fn: this.fn,
      field,
      folio: '0x' + (rec ? rec.folio.id : pfn ?? 0).toString(16),
      page,
      kernel,
      model,
      history: rec?.history ? rec.history.entries() : [],
    });
  }

  /** Compare one reported value with the model's prediction. Returns whether it matched. */
  private check(rec: FolioRec, page: number, field: string, kernel: number | boolean, model: number | boolean): boolean {
    rec.knowledge.send({ type: 'CHECK', kernel, model });
    if (kernel === model) {
      this.verified++;
      if (this.tl) this.note(rec, page, field, kernel, model, false);
      return true;
    }
    this.diverge(rec, page, field, kernel, model);
    return false;
  }

  private learn(rec: FolioRec, n: number): void {
    const before = rec.knowledge.getSnapshot().context.hiddenByGap;
    rec.knowledge.send({ type: 'LEARN', n });
    this.uncheckedAfterGap += rec.knowledge.getSnapshot().context.hiddenByGap - before;
    this.learned += n;
    if (rec.knownSince < 0) rec.knownSince = this.seq;
  }

  /** Timeline: one value of the current event (only called when an observer is set). */
  private note(rec: FolioRec, page: number, field: string, kernel: number | boolean, model: number | boolean | undefined, diverged: boolean): void {
    if (this.tlRec !== rec) {
      if (this.tlRec) this.flushTimeline();
      this.tlRec = rec;
    }
    this.tlValues.push({ field, page, kernel, model, diverged });
  }

  /** Timeline: values adopted from the kernel (learned) by the current event. */
  private noteLearned(rec: FolioRec, page: number, fields: readonly (readonly [string, number | boolean | undefined, boolean])[]): void {
    for (const [field, value, learned] of fields) if (learned && value !== undefined) this.note(rec, field === 'folio._mapcount' ? 0 : page, field, value, undefined, false);
  }

  private flushTimeline(): void {
    const rec = this.tlRec!;
    const values = this.tlValues;
    this.tlRec = null;
    this.tlValues = [];
    this.tl!({
      file: this.file,
      line: this.at.line,
      ts: this.ts,
      fn: this.fn,
      folio: '0x' + rec.folio.id.toString(16),
      page: values[0].page,
      nr: rec.nr,
      values,
      state: this.state(rec),
      diverged: values.some((v) => v.diverged),
    });
  }

  // ---- folios -------------------------------------------------------------------------------------

  private newRec(head: number, nr: number, kind: FolioKind, splitFrom: FolioHistory | null = null): FolioRec {
    const order = Math.round(Math.log2(nr));
    const folio: Folio = {
      id: head,
      order,
      kind,
      inode: kind === 'anon' ? null : 1,
      index: 0,
      anonVma: null,
      anonExclusive: UNTRACKED_PAGES,
      written: UNTRACKED_PAGES,
      inPageCache: false,
      swapSlot: null,
      pins: 0,
    };
    const rec: FolioRec = {
      folio,
      nr,
      knowledge: newKnowledge(this.engine),
      pageKnown: nr > 1 ? new Uint8Array(nr) : null,
      knownPages: 0,
      folioKnown: false,
      knownSince: -1,
      history: splitFrom,
      ownHistory: false,
    };
    this.folios.add(rec);
    return rec;
  }

  /** Forget a folio the kernel freed and reused (its pfns now belong to another folio). */
  private dropRec(rec: FolioRec, why: string): void {
    const id = rec.folio.id;
    if (this.folios.get(id) !== rec) return;
    this.scheme.folioFreed(rec.folio);
    this.folios.delete(rec);
    rec.knowledge.stop();
    this.infer(why);
  }

  /** Drop every folio overlapping [head, head + nr). */
  private clearRange(head: number, nr: number, why: string): void {
    for (const rec of this.folios.overlapping(head, nr)) this.dropRec(rec, why);
  }

  /**
   * split_huge_page() happened without a probe telling us where (the 6.1 split path remaps the
   * small pages with page_add_anon_rmap before split_huge_page_to_list returns; 6.12 the same with
   * folio_add_anon_rmap_ptes): mirrors __split_huge_page(): every page becomes an order-0 folio
   * keeping its own _mapcount.
   */
  private splitFolio(big: FolioRec): void {
    const head = big.folio.id;
    const into: Folio[] = [];
    const wasKnown = this.state(big) !== 'unknown';
    this.folios.delete(big);
    for (let p = 0; p < big.nr; p++) {
      const rec = this.newRec(head + p, 1, big.folio.kind, big.history);
      into.push(rec.folio);
      if (wasKnown && pageIsKnown(big, p)) {
        rec.knownPages = 1;
        rec.folioKnown = true;
        rec.knownSince = this.seq;
        rec.knowledge.send({ type: 'BORN' });
      }
    }
    this.scheme.folioSplit(big.folio, into);
    big.knowledge.stop();
    this.infer('folio-split');
  }

  /**
   * The model folio for a page the kernel reported: `large` and `head` as the kernel's flags say.
   * Handles reuse of pfns (a freed folio's pages in a new folio) and splits seen from their remap.
   */
  private folioFor(pfn: number, head: number, large: boolean, nr: number, kind: FolioKind): FolioRec {
    if (large) {
      const rec = this.folios.get(head);
      if (rec && rec.nr > 1 && (nr === 0 || rec.nr === nr)) return rec;
      if (rec) this.dropRec(rec, 'folio-reuse');
      const n = nr || 1 << this.pmdOrder;
      this.clearRange(head, n, 'folio-reuse');
      return this.newRec(head, n, kind);
    }
    const big = this.folios.largeAt(pfn);
    if (big) {
      if (this.mappedAnywhere(big)) this.splitFolio(big);
      else this.dropRec(big, 'folio-reuse');
    }
    return this.folios.get(pfn) ?? this.newRec(pfn, 1, kind);
  }

  /**
   * Does any model VMA map a page of the folio, or does the model still hold its counters? The
   * knowledge state is asked first: a folio the model knows (every folio born or learned in the
   * trace) answers without looking at any VMA; only a folio in state unknown (after a gap) is
   * looked for in every VMA.
   */
  private mappedAnywhere(rec: FolioRec): boolean {
    // a split's migration entries: the mappings are gone but the model folio still has counters
    if (this.state(rec) !== 'unknown') return true;
    const id = rec.folio.id;
    for (const v of this.vmas.values()) {
      if (v.pmds.has(id) || v.ptes.count(id, rec.nr) > 0) return true;
    }
    return false;
  }

  /** A folio freshly allocated and mapped for the first time: its whole state is predicted. */
  private born(rec: FolioRec): void {
    knowAllPages(rec, true);
    rec.folioKnown = true;
    rec.knownSince = this.seq;
    rec.knowledge.send({ type: 'BORN' });
  }

  // ---- VMAs ---------------------------------------------------------------------------------------

  private mmRec(ptr: string, pid: number | undefined): MmRec {
    let mm = this.mms.get(ptr);
    if (!mm) {
      if (pid !== undefined && this.execPending.has(pid)) {
        this.execPending.delete(pid);
        this.bornMms.add(ptr);
      }
      const born = this.bornMms.has(ptr);
      mm = { ptr, vmas: new Set(), orphans: new Set(), born: born && !this.afterGap };
      this.mms.set(ptr, mm);
    }
    return mm;
  }

  private freshVma(ptr: string, mmPtr: string, pid: number | undefined, complete?: boolean): VmaRec {
    const old = this.vmas.get(ptr);
    if (old) this.retireVma(old);
    const mm = this.mmRec(mmPtr, pid);
    const id = this.nextVmaId++;
    const v: VmaRec = {
      ptr,
      mm: mmPtr,
      model: {
        id,
        mm: id,
        start: 0,
        end: 0,
        read: true,
        write: true,
        shared: false,
        inode: null,
        pgoff: 0,
        anonVma: null,
        avc: [],
        hugepage: 'default',
      },
      ptes: new PageEntries(this.pmdOrder),
      pmds: new PageEntries(this.pmdOrder),
      anonVma: complete ?? mm.born ? false : undefined,
      complete: complete ?? mm.born,
      birth: this.seq,
      pending: null,
      file: false,
      source: null,
      retired: false,
      span: null,
    };
    this.vmas.set(ptr, v);
    mm.vmas.add(v);
    if (this.shadow) this.shadow.vma(v);
    return v;
  }

  /** A vma pointer freed and reused (slab): forget the old VMA. */
  private retireVma(v: VmaRec): void {
    v.retired = true;
    // nothing walks up from a freed VMA (explainMapping stops at a retired source) and its fork
    // copies wait for nothing more: let them go, or each fork generation's records would keep
    // the previous one's alive, however long the trace
    v.source = null;
    v.pending = null;
    const mm = this.mms.get(v.mm);
    mm?.vmas.delete(v);
    this.vmas.delete(v.ptr);
    if (v.ptes.size || v.pmds.size) {
      // 6.1 frees a VMA emptied by mremap at once and fork may reuse the pointer before the moved
      // entries are ever unmapped (6.12 frees VMAs through RCU): keep them claimable in the mm
      mm?.orphans.add(v);
      this.infer('vma-reuse-with-stale-mappings');
    } else this.infer('vma-reuse');
    if (mm) this.dropMmIfEmpty(mm);
  }

  /** An mm none of whose VMAs the replay holds any more (its process exited, most likely): forget it. */
  private dropMmIfEmpty(mm: MmRec): void {
    if (!mm.vmas.size && !mm.orphans.size) this.mms.delete(mm.ptr);
  }

  private vma(ptr: string, mmPtr: string, pid: number | undefined): VmaRec {
    const v = this.vmas.get(ptr);
    if (v && v.mm === mmPtr) return v;
    return this.freshVma(ptr, mmPtr, pid);
  }

  /** The VMA maps something in [lo, hi) (an event's address; probes of older captures may not report one). */
  private noteSpan(v: VmaRec, lo: number, hi: number): void {
    if (!Number.isFinite(lo)) return;
    if (v.span === null) v.span = { lo, hi };
    else {
      v.span.lo = Math.min(v.span.lo, lo);
      v.span.hi = Math.max(v.span.hi, hi);
    }
  }

  /** The VMA maps the PMD range holding the event's `addr` (a PMD split: its entries are there). */
  private notePmd(v: VmaRec, a: Args): void {
    const size = this.pageSize << this.pmdOrder;
    const addr = Number(hx(a, 'addr'));
    this.noteSpan(v, addr - (addr % size), addr - (addr % size) + size);
  }

  /** The VMA maps `pages` pages from the event's `addr` argument (if it has one). */
  private noteMapped(v: VmaRec, a: Args, pages: number): void {
    if (a.addr === undefined) return;
    const lo = Number(hx(a, 'addr'));
    this.noteSpan(v, lo, lo + pages * this.pageSize);
  }

  /**
   * vma_merge() is not probed: an mprotect or madvise that split a VMA and merged it back leaves
   * the entries the replay filed under a part (a PMD split names the part) on a pointer the kernel
   * freed (and may have reused: the record is then retired with its entries). At fork,
   * copy_page_range() names the VMA covering [start, end): another VMA record of the same mm, live
   * or retired, all of whose seen addresses lie in that range was merged into it, and its entries
   * are copied with it.
   */
  private absorbMerged(v: VmaRec, start: number, end: number): void {
    const mm = this.mms.get(v.mm);
    if (!mm) return;
    for (const w of [...mm.vmas, ...mm.orphans]) {
      if (w === v || w.span === null || w.span.lo < start || w.span.hi > end || (!w.ptes.size && !w.pmds.size)) continue;
      for (const [from, to] of [[w.ptes, v.ptes], [w.pmds, v.pmds]] as const)
        for (const [pfn, n] of [...from.entries()]) {
          to.add(pfn, n);
          for (let k = 0; k < n; k++) from.removeOne(pfn);
        }
      if (w.anonVma && v.anonVma !== true) v.anonVma = true;
      mm.orphans.delete(w);
      this.infer('vma-merge-move');
    }
  }

  // ---- rmap ----------------------------------------------------------------------------------------

  private rmap(call: RmapCall): void {
    if (this.shadow) this.shadow.rmap(call);
    this.scheme.rmap(call);
  }

  private addMapping(v: VmaRec, level: 'pte' | 'pmd', pfn: number, nr: number): void {
    if (level === 'pmd') v.pmds.add(pfn);
    else for (let p = pfn; p < pfn + nr; p++) v.ptes.add(p);
  }

  private dropMapping(v: VmaRec, level: 'pte' | 'pmd', pfn: number, nr: number): void {
    if (level === 'pmd') v.pmds.removeOne(pfn);
    else for (let p = pfn; p < pfn + nr; p++) v.ptes.removeOne(p);
  }

  /** The fork dup of one PTE: mirrors copy_present_pte(): get_page(); page_try_dup_anon_rmap() / page_dup_file_rmap() (inline). */
  private dupPte(dst: VmaRec, pfn: number, count: number): void {
    const rec = this.folios.at(pfn);
    dst.ptes.add(pfn, count);
    if (!rec) return;
    for (let k = 0; k < count; k++) this.rmap({ op: 'dup', level: 'pte', folio: rec.folio, page: pfn - rec.folio.id, nr: 1, vma: dst.model });
    this.touchAs(rec, 'copy_page_range(dup)');
  }

  private touchAs(rec: FolioRec, fn: string): void {
    if (!rec.ownHistory) {
      rec.history = new FolioHistory(rec.history);
      rec.ownHistory = true;
    }
    rec.history!.push(this.at.line, fn);
  }

  /** Apply fork dups that waited for evidence that the source VMA was copied (vma_needs_copy()). */
  private resolvePending(v: VmaRec): void {
    const p = v.pending;
    if (!p) return;
    v.pending = null;
    p.src.anonVma = true;
    v.anonVma = true;
    for (const [pfn, count] of p.ptes) this.dupPte(v, pfn, count);
    this.infer('fork-copy-confirmed-late');
    this.infer('fork-pte-dup', p.ptes.length);
  }

  /**
   * The kernel unmaps `nr` pages (or a PMD) of `head` from vma `v`, which the model may not know
   * to be mapped there. Rules, in order: a fork copy still unconfirmed is confirmed; a VMA split
   * (mprotect, munmap, mremap) moved the mapping to this vma pointer of the same mm; a VMA older
   * than the trace had it mapped before tracing. Returns false when nothing explains it.
   */
  private explainMapping(v: VmaRec, level: 'pte' | 'pmd', pfn: number, rec: FolioRec | null): boolean {
    const m = level === 'pmd' ? v.pmds : v.ptes;
    if (m.has(pfn)) return true;
    if (v.pending && level === 'pte' && v.pending.ptes.some(([p]) => p === pfn)) {
      this.resolvePending(v);
      if (m.has(pfn)) return true;
    }
    const mm = this.mms.get(v.mm);
    if (mm) {
      for (const other of [...mm.vmas, ...mm.orphans]) {
        if (other === v) continue;
        const om = level === 'pmd' ? other.pmds : other.ptes;
        if (om.has(pfn)) {
          // mirrors __split_vma() / move_vma(): the entries now belong to another vm_area_struct
          om.removeOne(pfn);
          m.add(pfn);
          if (other.retired && !other.ptes.size && !other.pmds.size) {
            mm.orphans.delete(other);
            this.dropMmIfEmpty(mm);
          }
          if (other.anonVma && v.anonVma !== true) v.anonVma = true;
          this.infer('vma-split-move');
          if (this.shadow) this.shadow.vmaSplitMove(other, v, rec?.folio);
          return true;
        }
      }
    }
    if (!v.complete) {
      // mapped before tracing (rule: mappings older than the trace spread through fork)
      m.add(pfn);
      if (rec && rec.knownSince >= 0 && v.birth > rec.knownSince) {
        // the model knew the folio when this VMA was copied at fork, but not that its source mapped it
        const head = rec.folio.id;
        this.rmap(level === 'pmd'
          ? { op: 'dup', level: 'pmd', folio: rec.folio, page: 0, nr: rec.nr, vma: v.model }
          : { op: 'dup', level: 'pte', folio: rec.folio, page: pfn - head, nr: 1, vma: v.model });
        this.infer('pre-trace-mapping-dup');
      } else this.infer('pre-trace-mapping');
      // the mapping came through fork: it also exists in the parent's VMA it was copied from
      // (which therefore needed copying: it has an anon_vma), up the chain of copies
      for (let s = v.source, c = v; s && !s.retired && !s.complete; c = s, s = s.source) {
        if (c.pending) this.resolvePending(c);
        s.anonVma = true;
        const sm = level === 'pmd' ? s.pmds : s.ptes;
        if (sm.has(pfn)) break;
        sm.add(pfn);
        this.infer('pre-trace-mapping-in-parent');
      }
      return true;
    }
    return false;
  }

  // ---- event dispatch ----------------------------------------------------------------------------

  handle(e: TraceEvent, at: Position): void {
    if (this.tl) {
      this.ts = 'ts' in e ? e.ts : undefined;
      this.dispatch(e, at);
      if (this.tlRec) this.flushTimeline();
      if (this.shadow) this.shadow.eventDone(e, at, this.fn);
      return;
    }
    this.dispatch(e, at);
    if (this.shadow) this.shadow.eventDone(e, at, this.fn);
  }

  private retKey(fn: string): string {
    let key = this.retKeys.get(fn);
    if (key === undefined) this.retKeys.set(fn, (key = `${fn}:ret`));
    return key;
  }

  private dispatch(e: TraceEvent, at: Position): void {
    this.events++;
    this.seq++;
    this.at = at;
    this.byKind.set(e.ev, (this.byKind.get(e.ev) ?? 0) + 1);
    switch (e.ev) {
      case 'kcall': {
        const key = e.ret ? this.retKey(e.fn) : e.fn;
        this.byFn.set(key, (this.byFn.get(key) ?? 0) + 1);
        this.fn = key;
        if (this.foreignRmap.has(e.fn)) {
          // an rmap call of the other accounting generation: checking it against this one would verify nothing
          throw new TraceInputError(at, `${e.fn} is a ${this.gen === '6.1' ? '6.12' : '6.1'} rmap call, but the trace is checked as ${this.gen} (header or --kernel)`);
        }
        if (this.pendingCopyHugePmd && !(e.fn === '__split_huge_pmd' && !e.ret)) this.flushCopyHugePmd();
        if (this.gen === '6.1') this.kcall61(e.fn, e.ret === true, e.args, e.pid);
        else this.kcall612(e.fn, e.ret === true, e.args, e.pid);
        return;
      }
      case 'obs':
        this.fn = 'OBS';
        return this.obs(e);
      case 'lost':
        return this.lost(e.count);
      case 'syscall':
        if (e.phase === 'enter' && e.name === 'execve' && e.pid !== undefined) this.execPending.add(e.pid);
        return;
      default:
        return;
    }
  }

  private lost(count: number): void {
    this.lostMarkers++;
    this.lostEvents += count;
    this.afterGap = true;
    for (const rec of this.folios.values()) {
      rec.knowledge.send({ type: 'FORGET' });
      knowAllPages(rec, false);
      rec.folioKnown = false;
      rec.knownSince = -1;
    }
    for (const v of this.vmas.values()) {
      v.complete = false;
      if (v.anonVma === false) v.anonVma = undefined;
    }
    this.pendingCopyHugePmd = null;
    this.pendingHugeFault = null;
    this.infer('lost-gap-forget');
  }

  private flushCopyHugePmd(): void {
    const c = this.pendingCopyHugePmd!;
    this.pendingCopyHugePmd = null;
    this.copyHugePmd(c.dst, c.src, c.head);
  }

  /** mirrors copy_huge_pmd() of an anon PMD: get_page(); page_try_dup_anon_rmap(compound=true) */
  private copyHugePmd(dst: VmaRec, src: VmaRec, head: number): void {
    // only reached when vma_needs_copy() was true: the source has an anon_vma
    src.anonVma = true;
    if (dst.pending) this.resolvePending(dst);
    dst.anonVma = true;
    const rec = this.folios.get(head);
    if (!rec || rec.nr === 1 || rec.folio.kind !== 'anon') return; // file PMDs are refaulted, not copied
    this.rmap({ op: 'dup', level: 'pmd', folio: rec.folio, page: 0, nr: rec.nr, vma: dst.model });
    this.addMapping(dst, 'pmd', head, 1);
    this.touchAs(rec, 'copy_huge_pmd(dup)');
    this.infer('fork-pmd-dup');
  }

  /** mirrors copy_page_range(): vma_needs_copy(), then copy_pte_range() dups every present PTE (inline). */
  private copyPageRange(a: Args, pid: number | undefined): void {
    const dstMm = hx(a, 'dst_mm');
    this.bornMms.add(dstMm);
    const src = this.vma(hx(a, 'src_vma'), hx(a, 'src_mm'), pid);
    const start = a.start === undefined ? NaN : Number(hx(a, 'start'));
    const end = a.end === undefined ? NaN : Number(hx(a, 'end'));
    if (Number.isFinite(start) && Number.isFinite(end)) this.absorbMerged(src, start, end);
    this.noteSpan(src, start, end);
    const dst = this.freshVma(hx(a, 'dst_vma'), dstMm, undefined, src.complete);
    this.noteSpan(dst, start, end);
    // anon_vma_fork(): the child VMA gets an anon_vma when the parent's has one
    dst.anonVma = src.anonVma;
    dst.file = src.file;
    dst.source = src;
    if (src.anonVma === true) {
      let n = 0;
      for (const [pfn, count] of src.ptes.entries()) {
        this.dupPte(dst, pfn, count);
        n++;
      }
      if (n) this.infer('fork-pte-dup', n);
    } else if (src.anonVma === undefined && src.ptes.size) {
      dst.pending = { src, ptes: [...src.ptes.entries()] };
      this.infer('fork-copy-unknown');
    }
  }

  // ---- 6.1 -----------------------------------------------------------------------------------------

  /** 6.1: resolve a page pointer with its flags and compound_head to (folio, page index). */
  private page61(a: Args, kind: FolioKind, order?: number): { rec: FolioRec; page: number; head: boolean } | null {
    const pfn = pfnOfPage(hx(a, 'page'));
    if (pfn < 0) return null;
    const flags = a.pflags === undefined ? PG_HEAD_61 : low32(hx(a, 'pflags'));
    const chead = a.chead === undefined ? '' : hx(a, 'chead');
    let headPfn = pfn;
    let large = false;
    if (flags & PG_HEAD_61) large = true;
    else if (chead && (low32(chead) & 1) === 1) {
      const h = chead.length === 18 && chead.startsWith(VMEMMAP_PREFIX) ? parseInt(chead.slice(8), 16) - 1 : -1;
      if (h >= 0 && h % STRUCT_PAGE === 0) {
        headPfn = h / STRUCT_PAGE;
        large = true;
      }
    }
    const nr = large ? (order !== undefined ? 1 << order : 0) : 1;
    const rec = this.folioFor(pfn, headPfn, large, nr, kind);
    // compound_head points at a head whose folio cannot hold this page: report, skip
    if (pfn < headPfn || pfn >= headPfn + rec.nr) {
      this.diverge(rec, pfn - headPfn, 'page-in-folio(nr_pages)', pfn - headPfn, rec.nr);
      return null;
    }
    return { rec, page: pfn - headPfn, head: pfn === headPfn };
  }

  /**
   * Compare (or learn) the values a 6.1 rmap probe reported for `page` of the folio: the page's
   * _mapcount; on a head page also compound_mapcount, PageDoubleMap and refcount >= the references
   * its mappings hold.
   */
  private fields61(rec: FolioRec, page: number, isHead: boolean, a: Args, withRef: boolean, cleared = 0): void {
    const s = this.scheme as Legacy61;
    const mapcount = this.need(a, 'mapcount');
    const large = rec.nr > 1;
    const hasFolioFields = large && isHead && a.cmapcount !== undefined;
    const cmap = hasFolioFields ? this.need(a, 'cmapcount') : 0;
    const dmap = hasFolioFields ? (low32(hx(a, 'flags1')) & PG_DOUBLE_MAP_61) !== 0 : false;
    const learnPage = !pageIsKnown(rec, page);
    const learnFolio = large ? hasFolioFields && !rec.folioKnown : false;
    if (learnPage || learnFolio) {
      s.setFields(rec.folio, page, {
        mapcount: learnPage ? mapcount : undefined,
        compoundMapcount: learnFolio ? cmap : undefined,
        doubleMap: learnFolio ? dmap : undefined,
      });
      if (learnPage) {
        knowPage(rec, page);
        if (!large) rec.folioKnown = true;
      }
      if (learnFolio) rec.folioKnown = true;
      this.learn(rec, (learnPage ? 1 : 0) + (learnFolio ? 2 : 0));
      if (this.tl) this.noteLearned(rec, page, [['_mapcount', mapcount, learnPage], ['compound_mapcount', cmap, learnFolio], ['PageDoubleMap', dmap, learnFolio]]);
    }
    const f = s.fields(rec.folio, page);
    let ok = true;
    if (!learnPage) ok = this.check(rec, page, '_mapcount', mapcount, f.mapcount) && ok;
    if (hasFolioFields && !learnFolio) {
      ok = this.check(rec, page, 'compound_mapcount', cmap, f.compoundMapcount ?? -1) && ok;
      ok = this.check(rec, page, 'PageDoubleMap', dmap, f.doubleMap ?? false) && ok;
    }
    if (!ok) {
      s.setFields(rec.folio, page, { mapcount, ...(hasFolioFields ? { compoundMapcount: cmap, doubleMap: dmap } : {}) });
      rec.knowledge.send({ type: 'RESYNC' });
    }
    if (withRef && isHead && a.refcount !== undefined && rec.knownPages === rec.nr && rec.folioKnown) this.refcount(rec, nm(a, 'refcount'), cleared);
  }

  /**
   * refcount >= the references the model's mappings hold. `cleared` entries of this call are
   * already cleared (the kernel clears the entry, then calls the remove hook): their references
   * may already be gone or passed on (__split_huge_pmd_locked(): the PMD's reference becomes one
   * of the PTEs' by folio_ref_add(HPAGE_PMD_NR - 1)), so they are not demanded.
   */
  private refcount(rec: FolioRec, refcount: number, cleared = 0): void {
    this.refChecked++;
    const refs = this.scheme.mappingRefs(rec.folio) - cleared;
    if (refcount >= refs) {
      if (this.tl) this.note(rec, 0, 'refcount>=mapping refs', refcount, refs, false);
      return;
    }
    this.refFailed++;
    this.diverge(rec, 0, 'refcount>=mapping refs', refcount, refs);
  }

  private kcall61(fn: string, ret: boolean, a: Args, pid: number | undefined): void {
    switch (fn) {
      case 'page_add_new_anon_rmap': {
        const flags = low32(hx(a, 'pflags'));
        const compound = (flags & PG_HEAD_61) !== 0;
        const pfn = pfnOfPage(hx(a, 'page'));
        if (pfn < 0) return;
        const nr = compound ? 1 << this.orderArg(a) : 1;
        this.clearRange(pfn, nr, 'folio-reuse');
        const rec = this.newRec(pfn, nr, 'anon');
        this.born(rec);
        this.touch(rec);
        const v = this.vma(hx(a, 'vma'), hx(a, 'mm'), pid);
        v.anonVma = true;
        this.fields61(rec, 0, true, a, true);
        this.rmap({ op: 'add', level: compound ? 'pmd' : 'pte', folio: rec.folio, page: 0, nr: compound ? nr : 1, vma: v.model, newAnon: true, exclusive: true });
        this.addMapping(v, compound ? 'pmd' : 'pte', pfn, 1);
        this.noteMapped(v, a, compound ? nr : 1);
        return;
      }
      case 'page_add_anon_rmap':
      case 'page_add_file_rmap': {
        const anon = fn === 'page_add_anon_rmap';
        const compound = anon ? (this.need(a, 'flags') & 2) !== 0 : this.need(a, 'compound') !== 0;
        const r = this.page61(a, anon ? 'anon' : 'shmem');
        if (!r) return;
        const { rec, page } = r;
        this.touch(rec);
        const v = this.vma(hx(a, 'vma'), hx(a, 'mm'), pid);
        if (anon) v.anonVma = true;
        else v.file = true;
        this.fields61(rec, page, r.head, a, true);
        const pfn = rec.folio.id + page;
        this.rmap({ op: 'add', level: compound ? 'pmd' : 'pte', folio: rec.folio, page: compound ? 0 : page, nr: compound ? rec.nr : 1, vma: v.model, newAnon: false, exclusive: (nm(a, 'flags') & 1) !== 0 });
        this.addMapping(v, compound ? 'pmd' : 'pte', compound ? rec.folio.id : pfn, 1);
        this.noteMapped(v, a, compound ? rec.nr : 1);
        return;
      }
      case 'page_remove_rmap': {
        const compound = this.need(a, 'compound') !== 0;
        const v = this.vma(hx(a, 'vma'), hx(a, 'mm'), pid);
        const r = this.page61(a, v.file && v.anonVma !== true ? 'shmem' : 'anon');
        if (!r) return;
        const { rec, page } = r;
        this.touch(rec);
        const pfn = compound ? rec.folio.id : rec.folio.id + page;
        if (!this.explainMapping(v, compound ? 'pmd' : 'pte', pfn, rec)) {
          this.diverge(rec, page, 'mapped-in-vma', true, false);
          this.addMapping(v, compound ? 'pmd' : 'pte', pfn, 1);
        }
        this.fields61(rec, page, r.head, a, true, 1);
        this.rmap({ op: 'remove', level: compound ? 'pmd' : 'pte', folio: rec.folio, page: compound ? 0 : page, nr: compound ? rec.nr : 1, vma: v.model });
        this.dropMapping(v, compound ? 'pmd' : 'pte', pfn, 1);
        return;
      }
      case 'deferred_split_huge_page': {
        // called from page_remove_rmap() after its counter updates: the head's values now
        const pfn = pfnOfPage(hx(a, 'page'));
        const rec = this.folios.get(pfn);
        if (!rec || rec.nr === 1) return;
        this.touch(rec);
        this.fields61(rec, 0, true, a, false);
        return;
      }
      case 'split_huge_page_to_list': {
        if (ret) return;
        const r = this.page61(a, 'anon');
        if (!r || r.rec.nr === 1) return;
        this.touch(r.rec);
        this.fields61(r.rec, r.page, r.head, a, true);
        return;
      }
      case 'free_transhuge_page': {
        const pfn = pfnOfPage(hx(a, 'page'));
        const rec = this.folios.get(pfn);
        if (rec && rec.nr > 1) {
          this.scheme.folioFreed(rec.folio);
          this.folios.delete(rec);
          rec.knowledge.stop();
        }
        return;
      }
      case '__split_huge_pmd':
        return this.splitHugePmd61(a, pid);
      case 'copy_page_range':
        return this.copyPageRange(a, pid);
      case 'copy_huge_pmd': {
        if (ret) {
          const c = this.pendingCopyHugePmd;
          this.pendingCopyHugePmd = null;
          if (c && nm(a, 'ret') === 0) this.copyHugePmd(c.dst, c.src, c.head);
          return;
        }
        this.stashCopyHugePmd(a, pid);
        return;
      }
      case 'do_huge_pmd_anonymous_page':
        return this.hugeFault(ret, a);
      case 'wp_page_copy': {
        // wp_page_copy(): anon_vma_prepare(vma) before allocating the copy
        const v = this.vmas.get(hx(a, 'vma'));
        if (v) v.anonVma = true;
        return;
      }
      default:
        return;
    }
  }

  private stashCopyHugePmd(a: Args, pid: number | undefined): void {
    const head = hugePmdPfn(hx(a, 'src_pmdval'));
    const src = this.vma(hx(a, 'src_vma'), hx(a, 'src_mm'), pid);
    const dstPtr = hx(a, 'dst_vma');
    const dst = this.vmas.get(dstPtr) ?? this.freshVma(dstPtr, hx(a, 'dst_mm'), undefined, src.complete);
    src.anonVma = true;
    if (head < 0) return;
    this.pendingCopyHugePmd = { dst, src, head, addr: hx(a, 'addr'), line: this.at.line };
  }

  private hugeFault(ret: boolean, a: Args): void {
    if (!ret) {
      this.pendingHugeFault = { vma: hx(a, 'vma') };
      return;
    }
    const f = this.pendingHugeFault;
    this.pendingHugeFault = null;
    // do_huge_pmd_anonymous_page(): anon_vma_prepare() unless transhuge_vma_suitable() failed first
    if (f && nm(a, 'ret') !== VM_FAULT_FALLBACK) {
      const v = this.vmas.get(f.vma);
      if (v) v.anonVma = true;
    }
  }

  /**
   * 6.1 __split_huge_pmd() -> __split_huge_pmd_locked() (inline, no rmap event for anon): acts
   * when the PMD is present and huge and maps `folio` (if given). Anon: the PMD becomes 512 PTEs
   * of the same VMA (SPLIT_PMD of the thp-mapping machine); file/shmem: the PMD is zapped with a
   * visible page_remove_rmap(compound=true), nothing to infer.
   */
  private splitHugePmd61(a: Args, pid: number | undefined): void {
    const head = hugePmdPfn(hx(a, 'pmdval'));
    if (head < 0) return; // pmd_trans_huge() false: already split, or not a THP
    const folioArg = hx(a, 'folio');
    if (folioArg !== '0x0' && pfnOfPage(folioArg) !== head) return; // folio && folio != page_folio(pmd_page(*pmd))
    const rec = this.folios.get(head);
    if (!rec || rec.nr === 1 || rec.folio.kind !== 'anon') return;
    const v = this.vma(hx(a, 'vma'), hx(a, 'mm'), pid);
    this.touch(rec);
    this.explainMapping(v, 'pmd', head, rec);
    this.rmap({ op: 'split-pmd', level: 'pmd', folio: rec.folio, page: 0, nr: rec.nr, vma: v.model });
    this.dropMapping(v, 'pmd', head, 1);
    this.addMapping(v, 'pte', head, rec.nr);
    this.notePmd(v, a);
    this.infer('anon-pmd-split');
  }

  // ---- 6.12 ----------------------------------------------------------------------------------------

  private folio612(a: Args, kind: FolioKind): { rec: FolioRec; page: number } | null {
    const head = pfnOfPage(hx(a, 'folio'));
    if (head < 0) return null;
    const pfn = a.page === undefined ? head : pfnOfPage(hx(a, 'page'));
    if (pfn < 0) return null;
    const large = a.fflags !== undefined && (low32(hx(a, 'fflags')) & PG_HEAD_612) !== 0;
    const nr = large ? nm(a, 'nr_pages') : 1;
    // the event names a page outside the folio it names (a page in two folios): report, skip
    if (!large && pfn !== head) {
      this.diverge(this.folios.get(head) ?? null, pfn - head, 'page-in-folio(nr_pages)', pfn - head, 1, head);
      return null;
    }
    const rec = this.folioFor(pfn, head, large, large && nr > 1 && nr <= 1 << 18 ? nr : 0, kind);
    if (pfn < head || pfn >= head + rec.nr) {
      this.diverge(rec, pfn - head, 'page-in-folio(nr_pages)', pfn - head, rec.nr);
      return null;
    }
    return { rec, page: pfn - head };
  }

  /**
   * Compare (or learn) what a 6.12 rmap probe reported: the page's _mapcount, the folio's first
   * _mapcount, and on a large folio _large_mapcount, _entire_mapcount, _nr_pages_mapped;
   * refcount >= the references the folio's mappings hold.
   */
  private fields612(rec: FolioRec, page: number, a: Args, cleared = 0): void {
    const s = this.scheme as Large612;
    const large = rec.nr > 1;
    const pm = a.pmapcount !== undefined ? nm(a, 'pmapcount') : undefined;
    const fm = this.need(a, 'fmapcount');
    const lm = large ? this.need(a, 'large_mapcount') : 0;
    const em = large ? this.need(a, 'entire_mapcount') : 0;
    const np = large ? this.need(a, 'nr_pages_mapped') : 0;
    const learnPage = pm !== undefined && !pageIsKnown(rec, page);
    const learnHead = !pageIsKnown(rec, 0) && (page !== 0 || pm === undefined);
    const learnFolio = large && !rec.folioKnown;
    if (learnPage || learnHead || learnFolio) {
      if (learnHead) s.setFields(rec.folio, 0, { mapcount: fm });
      s.setFields(rec.folio, page, {
        mapcount: learnPage ? pm : undefined,
        largeMapcount: learnFolio ? lm : undefined,
        entireMapcount: learnFolio ? em : undefined,
        nrPagesMapped: learnFolio ? np : undefined,
      });
      let n = 0;
      if (learnPage && knowPage(rec, page)) n++;
      if (learnHead && knowPage(rec, 0)) n++;
      if (learnFolio) n += 3;
      if (!large) rec.folioKnown = true;
      else if (learnFolio) rec.folioKnown = true;
      this.learn(rec, n);
      if (this.tl) this.noteLearned(rec, page, [['page._mapcount', pm, learnPage], ['folio._mapcount', fm, learnHead], ['_large_mapcount', lm, learnFolio], ['_entire_mapcount', em, learnFolio], ['_nr_pages_mapped', np, learnFolio]]);
    }
    let ok = true;
    if (pm !== undefined && !learnPage) ok = this.check(rec, page, 'page._mapcount', pm, s.fields(rec.folio, page).mapcount) && ok;
    if ((page !== 0 || pm === undefined) && !learnHead) ok = this.check(rec, 0, 'folio._mapcount', fm, s.fields(rec.folio, 0).mapcount) && ok;
    if (large && !learnFolio) {
      const f = s.fields(rec.folio, page);
      ok = this.check(rec, page, '_large_mapcount', lm, f.largeMapcount ?? -1) && ok;
      ok = this.check(rec, page, '_entire_mapcount', em, f.entireMapcount ?? -1) && ok;
      ok = this.check(rec, page, '_nr_pages_mapped', np, f.nrPagesMapped ?? 0) && ok;
    }
    if (!ok) {
      s.setFields(rec.folio, 0, { mapcount: fm });
      s.setFields(rec.folio, page, { mapcount: pm, ...(large ? { largeMapcount: lm, entireMapcount: em, nrPagesMapped: np } : {}) });
      rec.knowledge.send({ type: 'RESYNC' });
    }
    if (a.refcount !== undefined && rec.folioKnown) this.refcount(rec, nm(a, 'refcount'), cleared);
  }

  private kcall612(fn: string, ret: boolean, a: Args, pid: number | undefined): void {
    switch (fn) {
      case 'folio_add_new_anon_rmap': {
        const head = pfnOfPage(hx(a, 'folio'));
        if (head < 0) return;
        const large = (low32(hx(a, 'fflags')) & PG_HEAD_612) !== 0;
        const nr = large ? this.pagesArg(this.need(a, 'nr_pages'), 'nr_pages') : 1;
        this.clearRange(head, nr, 'folio-reuse');
        const rec = this.newRec(head, nr, 'anon');
        this.born(rec);
        this.touch(rec);
        const v = this.vma(hx(a, 'vma'), hx(a, 'mm'), pid);
        v.anonVma = true;
        this.fields612(rec, 0, a);
        const pmd = large && rec.folio.order === this.pmdOrder;
        this.rmap({ op: 'add', level: pmd ? 'pmd' : 'pte', folio: rec.folio, page: 0, nr, vma: v.model, newAnon: true, exclusive: true });
        this.addMapping(v, pmd ? 'pmd' : 'pte', head, pmd ? 1 : nr);
        this.noteMapped(v, a, nr);
        return;
      }
      case 'folio_add_anon_rmap_ptes':
      case 'folio_add_file_rmap_ptes':
      case 'folio_add_anon_rmap_pmd':
      case 'folio_add_file_rmap_pmd': {
        const anon = fn.startsWith('folio_add_anon');
        const pmd = fn.endsWith('_pmd');
        const r = this.folio612(a, anon ? 'anon' : 'shmem');
        if (!r) return;
        const { rec, page } = r;
        this.touch(rec);
        const v = this.vma(hx(a, 'vma'), hx(a, 'mm'), pid);
        if (anon) v.anonVma = true;
        else v.file = true;
        this.fields612(rec, page, a);
        const nr = pmd ? rec.nr : this.pagesArg(this.need(a, 'nr'), 'nr', rec.nr - page);
        this.rmap({ op: 'add', level: pmd ? 'pmd' : 'pte', folio: rec.folio, page: pmd ? 0 : page, nr, vma: v.model, newAnon: false, exclusive: (nm(a, 'flags') & 1) !== 0 });
        this.addMapping(v, pmd ? 'pmd' : 'pte', pmd ? rec.folio.id : rec.folio.id + page, nr);
        this.noteMapped(v, a, nr);
        return;
      }
      case 'folio_remove_rmap_ptes':
      case 'folio_remove_rmap_pmd': {
        const pmd = fn.endsWith('_pmd');
        const v = this.vma(hx(a, 'vma'), hx(a, 'mm'), pid);
        const r = this.folio612(a, v.file && v.anonVma !== true ? 'shmem' : 'anon');
        if (!r) return;
        const { rec, page } = r;
        this.touch(rec);
        const nr = pmd ? 1 : this.pagesArg(this.need(a, 'nr'), 'nr', rec.nr - page);
        const first = pmd ? rec.folio.id : rec.folio.id + page;
        for (let k = 0; k < nr; k++) {
          if (!this.explainMapping(v, pmd ? 'pmd' : 'pte', first + k, rec)) {
            this.diverge(rec, page + k, 'mapped-in-vma', true, false);
            this.addMapping(v, pmd ? 'pmd' : 'pte', first + k, 1);
          }
        }
        this.fields612(rec, page, a, nr);
        this.rmap({ op: 'remove', level: pmd ? 'pmd' : 'pte', folio: rec.folio, page: pmd ? 0 : page, nr: pmd ? rec.nr : nr, vma: v.model });
        if (pmd) this.dropMapping(v, 'pmd', first, 1);
        else this.dropMapping(v, 'pte', first, nr);
        return;
      }
      case 'split_huge_page_to_list_to_order': {
        if (ret) return;
        const pfn = pfnOfPage(hx(a, 'page'));
        const rec = this.folios.largeAt(pfn);
        if (!rec) return;
        this.touch(rec);
        const page = pfn - rec.folio.id;
        if (pageIsKnown(rec, page)) this.check(rec, page, 'page._mapcount', this.need(a, 'pmapcount'), (this.scheme as Large612).fields(rec.folio, page).mapcount);
        return;
      }
      case '__split_huge_pmd':
        if (this.pendingCopyHugePmd) {
          const c = this.pendingCopyHugePmd;
          const v = this.vmas.get(hx(a, 'vma'));
          this.pendingCopyHugePmd = null;
          if (v === c.src && hx(a, 'addr') === c.addr) {
            // copy_huge_pmd(): folio_try_dup_anon_rmap_pmd() failed (maybe pinned): split, -EAGAIN
            this.infer('fork-pmd-dup-undone');
            c.src.anonVma = true;
          } else this.copyHugePmd(c.dst, c.src, c.head);
        }
        return;
      case 'copy_page_range':
        return this.copyPageRange(a, pid);
      case 'copy_huge_pmd':
        // no return probe on 6.12: the dup is applied at the next event unless a split of the
        // same PMD follows at once (rule: the possibly-pinned case)
        this.stashCopyHugePmd(a, pid);
        return;
      case 'do_huge_pmd_anonymous_page':
        return this.hugeFault(ret, a);
      default:
        return;
    }
  }

  // ---- observations -------------------------------------------------------------------------------

  private obs(e: Extract<TraceEvent, { ev: 'obs' }>): void {
    if (!e.present) {
      this.obsSkipped++;
      return;
    }
    const pfn = parseInt(e.pfn, 16);
    if ((BigInt(e.kpageflags) & KPF_ZERO_PAGE) !== 0n) {
      // 6.12: a zero-filled subpage remapped to the shared zero page after a split, no rmap call
      if (this.gen === '6.12') this.infer('zero-page-remap');
      this.obsSkipped++;
      return;
    }
    const rec = this.folios.at(pfn);
    if (!rec) {
      this.obsSkipped++;
      return;
    }
    const page = pfn - rec.folio.id;
    if (!pageIsKnown(rec, page) || (rec.nr > 1 && !rec.folioKnown) || this.state(rec) === 'unknown') {
      this.obsSkipped++;
      return;
    }
    this.obsChecked++;
    this.touch(rec);
    const model = this.scheme.kpagecount(rec.folio, page);
    rec.knowledge.send({ type: 'CHECK', kernel: e.kpagecount, model });
    if (model === e.kpagecount) {
      this.verified++;
      if (this.tl) this.note(rec, page, 'kpagecount', e.kpagecount, model, false);
    } else this.diverge(rec, page, 'kpagecount', e.kpagecount, model);
  }

  result(): KernelReplayResult {
    const folios: Record<KnowledgeState, number> = { unknown: 0, learned: 0, verified: 0, diverged: 0 };
    for (const rec of this.folios.values()) folios[this.state(rec)]++;
    const inferredTotal = Object.entries(this.inferred)
      .filter(([k]) => k !== 'lost-gap-forget')
      .reduce((n, [, v]) => n + v, 0);
    const verdict: KernelVerdict = this.divergenceCount > 0 ? 'diverge' : this.uncheckedAfterGap > 0 ? 'inconclusive' : 'agree';
    const total = this.verified + this.learned;
    return {
      file: this.file,
      generation: this.gen,
      verdict,
      events: this.events,
      byKind: Object.fromEntries(this.byKind),
      byFn: Object.fromEntries(this.byFn),
      values: { verified: this.verified, learned: this.learned, verifiedRatio: total ? this.verified / total : 0 },
      refcount: { checked: this.refChecked, failed: this.refFailed },
      observations: { checked: this.obsChecked, skipped: this.obsSkipped },
      inferred: this.inferred,
      inferredTotal,
      divergenceCount: this.divergenceCount,
      divergences: this.divergences,
      lost: { markers: this.lostMarkers, events: this.lostEvents, uncheckedValues: this.uncheckedAfterGap },
      folios,
      ...(this.shadow ? { schemes: this.shadow.result() } : {}),
    };
  }

  stop(): void {
    for (const rec of this.folios.values()) rec.knowledge.stop();
  }
}

/**
 * Replay a kernel trace (kcall events) against the exact scheme of its generation and compare
 * every counter the kernel reported with the model's prediction.
 */
export async function replayKernelTrace(stream: TraceStream, opts: ReplayKernelOptions): Promise<KernelReplayResult> {
  const r = new KernelReplay(stream.header, opts.file, opts.maxDivergences ?? 50, opts.timeline, opts.knowledgeEngine ?? 'fast', opts.shadow);
  const progress = opts.onProgress;
  const signal = opts.signal;
  if (stream.batches) {
    // one await per batch (a chunk of input), the events of a batch synchronously
    batches: for await (const batch of stream.batches) {
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i];
        r.handle(e.event, e.at);
        if ((r.events & 4095) === 0) {
          if (progress) progress(r.events);
          if (signal?.aborted) break batches;
        }
      }
    }
  } else {
    for await (const { event, at } of stream.events) {
      r.handle(event, at);
      if ((r.events & 4095) === 0) {
        if (progress) progress(r.events);
        if (signal?.aborted) break;
      }
    }
  }
  if (progress) progress(r.events);
  const result = r.result();
  r.stop();
  return result;
}
