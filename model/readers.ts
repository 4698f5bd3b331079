import type { Kernel } from './kernel.ts';
import { baseRefs } from './mm.ts';
import { describeOperation, type MmOperation } from './operations.ts';
import { entriesMapping, getPmd, getPte, scanVmaForFolio } from './page-table.ts';
import { rmap_walk, rmapCandidates } from './rmap.ts';
import { Large612, likelyMappedShared } from './schemes/large-6.12.ts';
import { Owners615 } from './schemes/owners-6.15.ts';
import { Proposal, ProposalVmaHooks } from './schemes/proposal.ts';
import { SCHEME_NAMES, zeroCosts, type Costs, type MapcountScheme, type SchemeName } from './schemes/scheme.ts';
import { Truth, mmsMapping, sharingNumbers } from './schemes/truth.ts';
import type { Folio, Mm, MmSystem, Pid, Vma } from './types.ts';
import { findVma } from './vma.ts';

/**
 * The kernel's readers of the mapcount, as queries (reference/kernel-accounting.md section 3).
 * At each point where the real kernel reads a mapcount to make a decision, the emulated MM asks
 * the optional reader log on its Kernel (`k.readers?.ask(k, ...)`); the log lets every scheme
 * answer the same question from its own state, computes the truth's answer from the page tables,
 * and classes the scheme's answer:
 *
 *   exact         the decision the exact accounting makes;
 *   conservative  a different decision in the safe direction (an unnecessary copy, a skipped page,
 *                 a refused split, a longer rmap walk, "Shared" for a private page);
 *   wrong         a different decision in the unsafe direction (below), or any different number
 *                 where the reader reports a number (a number has no safe direction).
 *
 * The model's own decisions never change: it keeps deciding with the exact accounting, the log
 * only records what each scheme *would* have decided. The one side effect is the proposal's own
 * behaviour: where its sticky Many (or a count the walk outgrew) forces an rmap walk, the log
 * calls resolve() on it (the walk resets the count, as the proposal says) and charges the walk.
 *
 * | reader (kernel)                                   | decision and the truth's answer                  | safe direction (conservative)            | unsafe direction (wrong)                                  |
 * |---------------------------------------------------|--------------------------------------------------|------------------------------------------|-----------------------------------------------------------|
 * | cow_mapcount: do_wp_page / do_huge_pmd_wp_page    | reuse iff mapcount + swapcount == 1 (PTE: page   | copy although reuse was possible:        | reuse while another entry or swap PTE can reach the page: |
 * |   up to 5.18 (reuse_swap_page())                  |   mapcount, PMD: folio mapcount)                 |   an unnecessary copy                    |   the other mapping sees the write (memory corruption)    |
 * | cow_anon_exclusive: 6.1+ do_wp_page /             | reuse iff PageAnonExclusive or folio_ref_count   | copy although reusable                   | reuse of a page another mapping can see (corruption)      |
 * |   do_huge_pmd_wp_page                             |   == 1, the refcount holding *this scheme's*     |                                          |                                                           |
 * |                                                   |   references for mappings                        |                                          |                                                           |
 * | folio_referenced: folio_referenced() rmap walk,   | how many candidate VMAs the walk visits: it      | walks further than the last mapping      | stops before the last mapping VMA: its young bits are     |
 * |   pra.mapcount-- per mapping, stop at 0           |   stops once it saw `mapcount` mappings          |   (a longer walk; a full one for Many)   |   missed, a hot folio looks cold and is reclaimed (aging) |
 * | try_to_unmap: try_to_unmap() / try_to_migrate(), | after each VMA: is the folio still mapped?       | "mapped" when it is not: the walk goes   | "unmapped" while mapped: the walk stops, a mapping is     |
 * |   done() = folio_not_mapped()                     |   (truth: an entry is left)                      |   on to the end of the tree              |   left behind; reclaim frees / migration moves a mapped folio |
 * | smaps: smaps_account() / smaps_page_accumulate() | per mapped page: PSS divisor = page mapcount;    | "Shared" for a private page with the     | any other divisor (PSS, a number, has no safe direction); |
 * |                                                   |   Shared iff mapcount >= 2                       |   right divisor; "Private" for a page    |   "Private" for a page another process maps               |
 * |                                                   |                                                  |   only the same mm maps again            |                                                           |
 * | kpagecount: kpagecount_read()                     | per pfn: page mapcount                           | none (a number)                          | any other number                                          |
 * | pagemap_exclusive: pagemap PM_MMAP_EXCLUSIVE      | per mapped page: page mapcount == 1              | "not exclusive" for an exclusive page;   | "exclusive" while another process maps the page           |
 * |   (bit 56)                                        |                                                  |   "exclusive" while only the same mm     |                                                           |
 * |                                                   |                                                  |   maps it again (6.15's meaning of it)   |                                                           |
 * | numa_shared: migrate_misplaced_folio,             | skip when page mapcount > 1                      | skip an exclusive page (a missed         | migrate as unshared a page another process maps (NUMA     |
 * |   change_prot_numa, MPOL_MF_MOVE                  |                                                  |   migration); see pagemap for same mm    |   ping-pong; move_pages moving others' memory)            |
 * | khugepaged_shared: hpage_collapse_scan_pmd()      | page mapcount > 1 counts toward max_ptes_shared  | count an exclusive page as shared        | count as exclusive a page another process maps: collapse  |
 * |                                                   |                                                  |   (collapse refused earlier)             |   copies shared memory past max_ptes_shared               |
 * | pin_check: can_split_folio(), khugepaged          | pinned iff refcount != mapcount + extra (page    | report a pin that is not there (split,   | miss a pin: split / collapse / KSM merge / fork sharing a |
 * |   is_refcount_suitable(), KSM write_protect_page, |   and swap cache); the truth: GUP pins > 0       |   collapse refused, fork copies)         |   DMA-pinned page: the DMA goes to a page no longer mapped |
 * |   fork's maybe-pinned check                       |                                                  |                                          |                                                           |
 * | madvise_mapped_elsewhere: madvise_cold_or_pageout | skip when page mapcount != 1 (6.1; 6.12's small  | skip a page only this process maps;      | deactivate / page out / lazy-free a page another process  |
 * |   _pte_range(), madvise_free_pte_range()          |   folios); 6.12's large folios: skip when        |   act on one only the same mm maps again |   maps                                                    |
 * |                                                   |   folio_likely_mapped_shared() (PMD, part of the |                                          |                                                           |
 * |                                                   |   folio in PTEs) or folio_mapcount() != nr_pages |                                          |                                                           |
 * |                                                   |   (all of it in PTEs)                            |                                          |                                                           |
 *
 * How each scheme answers (from its own state):
 *   - legacy-6.1, large-6.12: their counters (page_mapcount, folio_mapcount, folio_mapped, the
 *     references they hold), exactly as the kernel of that generation;
 *   - owners-6.15 (CONFIG_NO_PAGE_MAPCOUNT): the shared/exclusive readers of a large folio answer
 *     folio_maybe_mapped_shared() (as 6.15 does: wp_can_reuse_anon_folio, pagemap, NUMA,
 *     khugepaged, madvise); per-page numbers are folio_average_page_mapcount(); small folios and
 *     folio_mapcount are exact;
 *   - proposal, proposal+vma-hooks: the saturated count of VMAs (Many reads as 3) for every page.
 *     The shared/exclusive readers answer "shared" from Two and Many without a walk (cheap and
 *     safe); /proc readers (smaps, kpagecount, pagemap) never walk (a walk per page per read is
 *     what the proposal avoids). Readers that need the number walk: folio_referenced and
 *     try_to_unmap cannot stop early in Many and walk the whole tree, then reset the count
 *     (resolve()); pin_check in Many walks (resolve()) to learn the mapcount it compares with.
 *
 * Same-mm mappings: the 6.15 kernel defines "shared" as "mapped by another MM"; a page mapped
 * twice by one process (the same file at two addresses) is "exclusive" there but has
 * page_mapcount 2. That deviation harms nobody (the other mapping is the caller's own), so the
 * shared/exclusive readers class it conservative; only an answer that treats as exclusive a page
 * *another* process maps is wrong.
 */

export const READER_NAMES = [
  'cow_mapcount',
  'cow_anon_exclusive',
  'folio_referenced',
  'try_to_unmap',
  'smaps',
  'kpagecount',
  'pagemap_exclusive',
  'numa_shared',
  'khugepaged_shared',
  'pin_check',
  'madvise_mapped_elsewhere',
] as const;
export type ReaderName = (typeof READER_NAMES)[number];

/** The readers whose question is "shared or exclusive?" (no false negatives demanded of owners-6.15). */
export const SHARED_EXCLUSIVE_READERS: readonly ReaderName[] = [
  'cow_mapcount',
  'cow_anon_exclusive',
  'pagemap_exclusive',
  'numa_shared',
  'khugepaged_shared',
  'madvise_mapped_elsewhere',
];

export type ReaderClass = 'exact' | 'conservative' | 'wrong';

export interface ReaderInfo {
  /** The kernel functions that read the mapcount. */
  readonly kernel: string;
  readonly decision: string;
  /** A deviation in this direction is conservative. */
  readonly safe: string;
  /** A deviation in this direction is wrong. */
  readonly unsafe: string;
}

export const READERS: Readonly<Record<ReaderName, ReaderInfo>> = {
  cow_mapcount: {
    kernel: 'do_wp_page() / do_huge_pmd_wp_page() up to 5.18: reuse_swap_page()',
    decision: 'reuse iff mapcount + swapcount == 1 (PTE: page mapcount; PMD: folio mapcount)',
    safe: 'copy although reuse was possible (an unnecessary copy)',
    unsafe: 'reuse while another mapping or swap entry can reach the page (memory corruption)',
  },
  cow_anon_exclusive: {
    kernel: 'do_wp_page() / do_huge_pmd_wp_page() 6.1+: PageAnonExclusive || folio_ref_count() == 1',
    decision: "reuse iff PageAnonExclusive or refcount == 1, the refcount holding the scheme's references for mappings",
    safe: 'copy although reusable',
    unsafe: 'reuse of a page another mapping can see (memory corruption)',
  },
  folio_referenced: {
    kernel: 'folio_referenced(): rmap walk with pra.mapcount = folio_mapcount(), stop when all mappings seen',
    decision: 'how many candidate VMAs the walk visits before it stops',
    safe: 'a longer walk (past the last mapping; the whole tree when the count is sticky Many)',
    unsafe: 'stopping before the last mapping: its young bits are missed, a hot folio looks cold',
  },
  try_to_unmap: {
    kernel: 'try_to_unmap() / try_to_migrate(): rmap walk, done() = !folio_mapped() after each VMA',
    decision: 'after each VMA is unmapped: is the folio still mapped (walk on) or not (stop)?',
    safe: '"mapped" when it is not: the walk goes on to the end of the tree',
    unsafe: '"unmapped" while still mapped: the walk stops, a mapping is left behind (a mapped folio freed or moved)',
  },
  smaps: {
    kernel: 'smaps_account() / smaps_page_accumulate()',
    decision: 'per mapped page: PSS divisor = page mapcount; Shared iff mapcount >= 2',
    safe: '"Shared" for a private page with the right divisor; "Private" for a page only the same mm maps again',
    unsafe: 'any other divisor (PSS is a number: no safe direction); "Private" for a page another process maps',
  },
  kpagecount: {
    kernel: 'kpagecount_read()',
    decision: 'per pfn: the page mapcount',
    safe: 'none (a number)',
    unsafe: 'any other number',
  },
  pagemap_exclusive: {
    kernel: 'pagemap_pmd_range() / pte_to_pagemap_entry(): PM_MMAP_EXCLUSIVE (bit 56)',
    decision: 'per mapped page: page mapcount == 1',
    safe: '"not exclusive" for an exclusive page; "exclusive" for a page only the same mm maps again',
    unsafe: '"exclusive" while another process maps the page',
  },
  numa_shared: {
    kernel: 'migrate_misplaced_folio() / change_prot_numa() / MPOL_MF_MOVE (migrate_folio_add())',
    decision: 'skip the page when its mapcount > 1',
    safe: 'skipping an exclusive page (a missed migration)',
    unsafe: 'migrating as unshared a page another process maps',
  },
  khugepaged_shared: {
    kernel: 'hpage_collapse_scan_pmd(): max_ptes_shared',
    decision: 'a page with mapcount > 1 counts as shared',
    safe: 'counting an exclusive page as shared (collapse refused earlier)',
    unsafe: 'counting as exclusive a page another process maps (collapse copies shared memory)',
  },
  pin_check: {
    kernel: "can_split_folio(), khugepaged is_refcount_suitable(), KSM write_protect_page(), fork's maybe-pinned check",
    decision: 'pinned iff refcount != mapcount + extra (page / swap cache references)',
    safe: 'reporting a pin that is not there (split / collapse refused, fork copies)',
    unsafe: 'missing a pin (split, collapse, KSM merge or fork sharing of a DMA-pinned page)',
  },
  madvise_mapped_elsewhere: {
    kernel: 'madvise_cold_or_pageout_pte_range() / madvise_free_pte_range()',
    decision: "skip the page when its mapcount != 1 (6.1, and 6.12's small folios); 6.12's large folios: skip when folio_likely_mapped_shared() (a PMD, or PTEs mapping part of the folio) or when folio_mapcount() != folio_nr_pages() (PTEs mapping all of it)",
    safe: 'skipping a page only this process maps; acting on one only the same mm maps again',
    unsafe: 'deactivating / paging out / lazy-freeing a page another process maps',
  },
};

export type PinSite = 'can_split_folio' | 'khugepaged' | 'ksm' | 'fork';

/**
 * 6.12's madvise (COLD, PAGEOUT, FREE) asks of a large folio: `likely-shared`,
 * folio_likely_mapped_shared() (a PMD entry, or PTEs mapping only part of the folio: split it?);
 * `whole-folio`, folio_mapcount() != folio_nr_pages() (PTEs mapping all of it: act on it whole?).
 */
export type MadviseTest = 'likely-shared' | 'whole-folio';

/** What an instrumented decision point of the emulated MM tells the reader log. */
export type ReaderQuestion =
  /** do_wp_page() (level 'pte') or do_huge_pmd_wp_page() (level 'pmd'): a write fault on a present read-only entry; asks both COW rules. */
  | { readonly at: 'wp_fault'; readonly pid: Pid; readonly addr: number; readonly level: 'pte' | 'pmd' }
  /** shrink_folio_list() -> folio_check_references() -> folio_referenced(). */
  | { readonly at: 'folio_referenced'; readonly folio: Folio }
  /**
   * try_to_unmap_one() / try_to_migrate_one() removed an entry of the folio in `vma` (asked
   * after the rmap call). Once the VMA maps no page of the folio, the walk's done() callback
   * asks folio_mapped().
   */
  | { readonly at: 'try_to_unmap'; readonly folio: Folio; readonly vma: Vma }
  /**
   * A shared check by process `pid` at page `page` of the folio: per page (page mapcount), or for
   * 6.12's madvise the folio-level tests (MadviseTest).
   */
  | { readonly at: 'numa_shared' | 'khugepaged_shared' | 'madvise_mapped_elsewhere'; readonly pid: Pid; readonly folio: Folio; readonly page: number; readonly test?: MadviseTest }
  /** A pin check comparing refcount with mapcount. */
  | { readonly at: 'pin_check'; readonly site: PinSite; readonly folio: Folio };

/** One decision, as the table reports it. */
export interface ReaderCase {
  /** Index of the MM operation during which it was asked (-1 before the first). */
  readonly op: number;
  /** That operation, in kernel words (plus "(observation)" for /proc reads after it). */
  readonly operation: string;
  readonly reader: ReaderName;
  readonly scheme: SchemeName;
  readonly folio: number;
  readonly page?: number;
  readonly pid?: number;
  readonly site?: PinSite;
  readonly truth: string;
  readonly answer: string;
}

export interface ReaderRow {
  readonly scheme: SchemeName;
  readonly reader: ReaderName;
  asked: number;
  exact: number;
  conservative: number;
  wrong: number;
  firstWrong?: ReaderCase;
  firstConservative?: ReaderCase;
  /** What answering cost this scheme (queries' cachelines, walks forced by resolve()). */
  readonly costs: Costs;
}

/** The reader decision table: plain JSON. */
export interface ReaderTable {
  /** MM operations seen. */
  readonly operations: number;
  readonly rows: ReaderRow[];
}

export interface WalkLength {
  /** rmap walks the readers performed (folio_referenced, try_to_unmap). */
  walks: number;
  /** Candidate VMAs those walks visited, as far as this scheme's answers let them stop. */
  vmasVisited: number;
}

export interface SchemeCostSummary {
  readonly scheme: SchemeName;
  /** scheme.costs as they stand: the rmap hooks plus everything the readers made it do. */
  readonly total: Costs;
  /** The part of `total` spent answering readers (queries, and rmap walks forced through resolve()). */
  readonly readers: Costs;
  /** total - readers: the rmap hooks (and VMA-change hooks). */
  readonly hooks: Costs;
  /** Length of the walks the readers do anyway, as this scheme lets them stop (exact: at the last mapping). */
  readonly readerWalks: WalkLength;
}

// ---------------------------------------------------------------------------------------------

type Saturating = Proposal | ProposalVmaHooks;
const isSaturating = (s: MapcountScheme): s is Saturating => s instanceof Proposal || s instanceof ProposalVmaHooks;
const isOwners = (s: MapcountScheme): s is Owners615 => s instanceof Owners615;
const isSpecial = (folio: Folio): boolean => folio.kind === 'zero' || folio.kind === 'huge-zero';

const COST_KEYS = ['atomics', 'cachelines', 'rmapWalks', 'vmasVisited', 'ptesScanned'] as const;
const addCosts = (into: Costs, d: Costs): void => {
  for (const key of COST_KEYS) into[key] += d[key];
};
const subCosts = (a: Costs, b: Costs): Costs => {
  const out = zeroCosts();
  for (const key of COST_KEYS) out[key] = a[key] - b[key];
  return out;
};

/** Swap entries still referencing the folio's swap slot (reuse_swap_page()'s swapcount). */
function swapCount(sys: MmSystem, folio: Folio): number {
  return folio.swapSlot === null ? 0 : (sys.swap.get(folio.swapSlot)?.count ?? 0);
}

/** Does an mm other than `pid` map page `page` of the folio (by a PTE of that page or a PMD)? */
function otherMmMapsPage(sys: MmSystem, folio: Folio, page: number, pid: Pid): boolean {
  return entriesMapping(sys, folio.id).some((e) => {
    if (e.pid === pid) return false;
    if (e.level === 'pmd') return true;
    const pte = sys.mms.get(e.pid)!.ptes.get(e.addr / sys.config.geometry.pageSize);
    return pte?.kind === 'present' && pte.page === page;
  });
}

/** What a shared check that skips shared folios decides (NUMA migration, madvise). */
const skipOrAct = (shared: boolean): string => (shared ? 'skip (shared)' : 'act (not shared)');

/** " [many]" for a saturating scheme: the state behind its number. */
const stateNote = (s: MapcountScheme, folio: Folio): string => (isSaturating(s) ? ` [${s.stateOf(folio)}]` : '');

/** Every page mapped by the mm's page tables (PTEs, and each page under a PMD), zero pages left out. */
function* mappedPages(sys: MmSystem, mm: Mm): Generator<{ folio: Folio; page: number }> {
  for (const pte of mm.ptes.values()) {
    if (pte.kind !== 'present') continue;
    const folio = sys.folios.get(pte.folio);
    if (folio && !isSpecial(folio)) yield { folio, page: pte.page };
  }
  for (const pmd of mm.pmds.values()) {
    const folio = sys.folios.get(pmd.folio);
    if (!folio || isSpecial(folio)) continue;
    for (let page = 0; page < 1 << folio.order; page++) yield { folio, page };
  }
}

/** The PSS divisor and Shared flag a scheme gives a mapped page (smaps_account()). */
function smapsPage(s: MapcountScheme, folio: Folio, page: number): { divisor: number; shared: boolean } {
  if (isOwners(s) && folio.order > 0) {
    // 6.15 without CONFIG_PAGE_MAPCOUNT: folio_average_page_mapcount(), exclusive = !folio_maybe_mapped_shared()
    return { divisor: s.averagePageMapcount(folio), shared: s.maybeMappedShared(folio) };
  }
  const divisor = s.pageMapcount(folio, page);
  return { divisor, shared: divisor >= 2 };
}

/** A scheme's answer to one of 6.12's folio-level madvise tests (MadviseTest), from its own numbers. */
function madviseFolioAnswer(s: MapcountScheme, test: MadviseTest, folio: Folio): { shared: boolean; how: string } {
  const nrPages = 1 << folio.order;
  if (test === 'whole-folio') {
    const m = s.folioMapcount(folio);
    return { shared: m !== nrPages, how: `folio_mapcount ${m} of ${nrPages} pages${stateNote(s, folio)}` };
  }
  if (isOwners(s)) {
    const shared = s.maybeMappedShared(folio);
    return { shared, how: `folio_maybe_mapped_shared ${shared}` };
  }
  if (s instanceof Large612) return { shared: s.likelyMappedShared(folio), how: `folio_likely_mapped_shared, mapcount ${s.folioMapcount(folio)}` };
  // without an entire mapcount: the folio's and the first page's numbers as the scheme gives them
  const mapcount = s.folioMapcount(folio);
  const shared = likelyMappedShared({ large: folio.order > 0, nrPages, mapcount, entire: 0, firstPage: s.pageMapcount(folio, 0) });
  return { shared, how: `folio_likely_mapped_shared, mapcount ${mapcount}${stateNote(s, folio)}` };
}

/** The shared answer a scheme gives a per-page shared check; `differs` is the rule (> 1 or != 1). */
function sharedAnswer(s: MapcountScheme, folio: Folio, page: number, isShared: (m: number) => boolean): { shared: boolean; how: string } {
  if (isOwners(s) && folio.order > 0) {
    const shared = s.maybeMappedShared(folio);
    return { shared, how: `folio_maybe_mapped_shared ${shared}` };
  }
  const m = s.pageMapcount(folio, page);
  return { shared: isShared(m), how: `mapcount ${m}${stateNote(s, folio)}` };
}

/**
 * smaps_rollup of one process as a scheme would report it: Rss, Pss, Shared and Private bytes
 * (anon and file together). Leaves the scheme's costs as they were.
 */
export function smapsRollup(k: Kernel, scheme: MapcountScheme, pid: Pid): { rss: number; pss: number; shared: number; private: number } {
  const mm = k.sys.mms.get(pid);
  const out = { rss: 0, pss: 0, shared: 0, private: 0 };
  if (!mm) return out;
  const saved = { ...scheme.costs };
  const size = k.sys.config.geometry.pageSize;
  for (const { folio, page } of mappedPages(k.sys, mm)) {
    const { divisor, shared } = smapsPage(scheme, folio, page);
    out.rss += size;
    out.pss += divisor >= 2 ? size / divisor : size;
    if (shared) out.shared += size;
    else out.private += size;
  }
  Object.assign(scheme.costs, saved);
  return out;
}

interface UnmapWalk {
  readonly op: number;
  /** Candidate VMAs of the walk (anon_vma tree or i_mmap) when it started. */
  readonly candidates: number;
  /** VMAs finished so far (done() points). */
  done: number;
  /** Schemes whose walk has ended, with the VMAs it visited. */
  readonly ended: Map<SchemeName, number>;
}

/**
 * The reader log: asked at the emulated MM's decision points, it lets every scheme answer and
 * keeps the decision table and the costs. Attach it with attachReaders(k).
 */
export class ReaderLog {
  private opIndex = -1;
  private opText = '(before any operation)';
  private observing = false;
  private readonly rows = new Map<string, ReaderRow>();
  private readonly readerCosts = new Map<SchemeName, Costs>();
  private readonly walkLengths = new Map<SchemeName, WalkLength>();
  private readonly unmapWalks = new Map<number, UnmapWalk>();
  private pendingWrong: ReaderCase[] = [];

  /** The MM system is about to run operation `op` (called by startMmSystem's run, or by a driver). */
  operation(op: MmOperation): void {
    this.opIndex++;
    this.opText = describeOperation(op);
  }

  /** A decision point of the emulated MM. */
  ask(k: Kernel, q: ReaderQuestion): void {
    switch (q.at) {
      case 'wp_fault':
        return this.wpFault(k, q.pid, q.addr, q.level);
      case 'folio_referenced':
        return this.folioReferenced(k, q.folio);
      case 'try_to_unmap':
        return this.tryToUnmap(k, q.folio, q.vma);
      case 'numa_shared':
      case 'khugepaged_shared':
      case 'madvise_mapped_elsewhere':
        return q.test === undefined ? this.sharedCheck(k, q.at, q.pid, q.folio, q.page) : this.madviseFolioCheck(k, q.test, q.pid, q.folio, q.page);
      case 'pin_check':
        return this.pinCheck(k, q.site, q.folio);
    }
  }

  /** The /proc observation point: kpagecount of every pfn, pagemap and smaps of every process. */
  observe(k: Kernel): void {
    this.observing = true;
    try {
      this.kpagecount(k);
      for (const mm of k.sys.mms.values()) {
        this.pagemap(k, mm);
        this.smaps(k, mm);
      }
    } finally {
      this.observing = false;
    }
  }

  /** The decision table so far (a JSON-serialisable copy). */
  table(): ReaderTable {
    const order = (r: ReaderRow): number => SCHEME_NAMES.indexOf(r.scheme) * READER_NAMES.length + READER_NAMES.indexOf(r.reader);
    const rows = [...this.rows.values()].sort((a, b) => order(a) - order(b));
    return { operations: this.opIndex + 1, rows: structuredClone(rows) };
  }

  /** Wrong decisions recorded since the last call (for a checker property: each is a violation). */
  drainWrong(): ReaderCase[] {
    const out = this.pendingWrong;
    this.pendingWrong = [];
    return out;
  }

  /** Per scheme of the kernel: total costs, the readers' part, the hooks' part, and the readers' walk lengths. */
  costSummary(k: Kernel): SchemeCostSummary[] {
    return k.schemes
      .filter((s) => s.name !== 'truth')
      .map((s) => {
        const readers = { ...(this.readerCosts.get(s.name) ?? zeroCosts()) };
        return {
          scheme: s.name,
          total: { ...s.costs },
          readers,
          hooks: subCosts(s.costs, readers),
          readerWalks: { ...(this.walkLengths.get(s.name) ?? { walks: 0, vmasVisited: 0 }) },
        };
      });
  }

  // --- bookkeeping -----------------------------------------------------------------------------

  private row(scheme: SchemeName, reader: ReaderName): ReaderRow {
    const key = `${scheme}|${reader}`;
    let row = this.rows.get(key);
    if (!row) {
      row = { scheme, reader, asked: 0, exact: 0, conservative: 0, wrong: 0, costs: zeroCosts() };
      this.rows.set(key, row);
    }
    return row;
  }

  private walked(scheme: SchemeName, vmas: number): void {
    let w = this.walkLengths.get(scheme);
    if (!w) this.walkLengths.set(scheme, (w = { walks: 0, vmasVisited: 0 }));
    w.walks++;
    w.vmasVisited += vmas;
  }

  /** Let one scheme answer (costs measured around it) and record its class. */
  private judge(
    s: MapcountScheme,
    reader: ReaderName,
    where: { folio: Folio; page?: number; pid?: number; site?: PinSite },
    truth: string,
    answer: () => { answer: string; cls: ReaderClass },
  ): void {
    const before = { ...s.costs };
    const v = answer();
    const spent = subCosts(s.costs, before);
    let total = this.readerCosts.get(s.name);
    if (!total) this.readerCosts.set(s.name, (total = zeroCosts()));
    addCosts(total, spent);
    const row = this.row(s.name, reader);
    addCosts(row.costs, spent);
    row.asked++;
    row[v.cls]++;
    if (v.cls === 'exact') return;
    const c: ReaderCase = {
      op: this.opIndex,
      operation: this.observing ? `${this.opText} (observation)` : this.opText,
      reader,
      scheme: s.name,
      folio: where.folio.id,
      ...(where.page !== undefined ? { page: where.page } : {}),
      ...(where.pid !== undefined ? { pid: where.pid } : {}),
      ...(where.site !== undefined ? { site: where.site } : {}),
      truth,
      answer: v.answer,
    };
    if (v.cls === 'wrong') {
      row.firstWrong ??= c;
      if (this.pendingWrong.length < 1000) this.pendingWrong.push(c);
    } else row.firstConservative ??= c;
  }

  private schemes(k: Kernel): MapcountScheme[] {
    return k.schemes.filter((s) => s.name !== 'truth');
  }

  // --- COW -------------------------------------------------------------------------------------

  private wpFault(k: Kernel, pid: Pid, addr: number, level: 'pte' | 'pmd'): void {
    const { sys } = k;
    const mm = sys.mms.get(pid);
    const vma = mm && findVma(sys, mm, addr);
    if (!mm || !vma || vma.shared) return; // a shared mapping is made writable, no COW decision
    let folio: Folio | undefined;
    let page = 0;
    if (level === 'pmd') {
      const pmd = getPmd(sys, mm, addr);
      folio = pmd && sys.folios.get(pmd.folio);
    } else {
      const pte = getPte(sys, mm, addr);
      if (pte?.kind !== 'present') return;
      folio = sys.folios.get(pte.folio);
      page = pte.page;
    }
    // only anon folios are reused; page-cache and zero pages are always copied without a mapcount read
    if (!folio || folio.kind !== 'anon') return;
    const truth = new Truth(sys);
    const swap = swapCount(sys, folio);
    const swapNote = swap ? ` + swapcount ${swap}` : '';
    const mapcountOf = (s: MapcountScheme): number => (level === 'pmd' ? s.folioMapcount(folio) : s.pageMapcount(folio, page));
    const tm = mapcountOf(truth);
    const truthReuse = tm + swap === 1;
    const exclusive = folio.anonExclusive[level === 'pmd' ? 0 : page];
    const truthRefcount = baseRefs(folio) + truth.mappingRefs(folio);
    const truthReuse61 = exclusive || truthRefcount === 1;
    const verb = (reuse: boolean): string => (reuse ? 'reuse' : 'copy');
    const classify = (reuse: boolean, want: boolean): ReaderClass => (reuse === want ? 'exact' : reuse ? 'wrong' : 'conservative');
    const where = { folio, page, pid };
    for (const s of this.schemes(k)) {
      this.judge(s, 'cow_mapcount', where, `${verb(truthReuse)} (mapcount ${tm}${swapNote})`, () => {
        if (isOwners(s) && folio.order > 0) {
          // 6.15 wp_can_reuse_anon_folio() of a large folio: !folio_maybe_mapped_shared()
          const shared = s.maybeMappedShared(folio);
          const reuse = !shared && swap === 0;
          return { answer: `${verb(reuse)} (folio_maybe_mapped_shared ${shared}${swapNote})`, cls: classify(reuse, truthReuse) };
        }
        const m = mapcountOf(s);
        const reuse = m + swap === 1;
        return { answer: `${verb(reuse)} (mapcount ${m}${stateNote(s, folio)}${swapNote})`, cls: classify(reuse, truthReuse) };
      });
      this.judge(s, 'cow_anon_exclusive', where, `${verb(truthReuse61)} (AnonExclusive ${exclusive}, refcount ${truthRefcount})`, () => {
        const refcount = baseRefs(folio) + s.mappingRefs(folio);
        const reuse = exclusive || refcount === 1;
        return { answer: `${verb(reuse)} (AnonExclusive ${exclusive}, refcount ${refcount}${stateNote(s, folio)})`, cls: classify(reuse, truthReuse61) };
      });
    }
  }

  // --- rmap walks ------------------------------------------------------------------------------

  /**
   * folio_referenced(): the walk visits the candidate VMAs in tree order and stops once it has
   * seen as many mappings as the count said. Exact: right after the last VMA that maps the folio.
   */
  private folioReferenced(k: Kernel, folio: Folio): void {
    const { sys } = k;
    const candidates = rmapCandidates(sys, folio).map((v) => v.id);
    const walk = rmap_walk(sys, folio);
    const hits = walk.hits.map((h) => ({ at: candidates.indexOf(h.vma.id) + 1, entries: h.ptes + h.pmds }));
    const full = candidates.length;
    const exactStop = hits.length ? hits[hits.length - 1].at : 0;
    /** Stop after `count` mappings (page-table entries), or walk the whole tree if they never add up. */
    const stopAfterEntries = (count: number): number => {
      if (count <= 0) return 0;
      let seen = 0;
      for (const h of hits) if ((seen += h.entries) >= count) return h.at;
      return full;
    };
    /** Stop after `count` VMAs (the proposal counts VMAs). */
    const stopAfterVmas = (count: number): number => (count <= 0 ? 0 : count > hits.length ? full : hits[count - 1].at);
    const truthMapcount = new Truth(sys).folioMapcount(folio);
    const render = (n: number): string => `stops after ${n} of ${full} VMAs`;
    for (const s of this.schemes(k)) {
      this.judge(s, 'folio_referenced', { folio }, `${render(exactStop)} (mapcount ${truthMapcount})`, () => {
        let visited: number;
        let how: string;
        if (isSaturating(s)) {
          const state = s.stateOf(folio);
          const count = s.folioMapcount(folio);
          visited = state === 'many' ? full : stopAfterVmas(count);
          how = `[${state}]`;
          // the walk reached the end of the tree without the count running out: it counted exactly, reset
          if (visited === full && full > 0 && (state === 'many' || count > hits.length)) {
            s.resolve(folio);
            how += ` full walk, reset to [${s.stateOf(folio)}]`;
          }
        } else {
          const count = s.folioMapcount(folio);
          visited = stopAfterEntries(count);
          how = `mapcount ${count}`;
        }
        this.walked(s.name, visited);
        const cls: ReaderClass = visited === exactStop ? 'exact' : visited < exactStop ? 'wrong' : 'conservative';
        return { answer: `${render(visited)} (${how})`, cls };
      });
    }
  }

  /**
   * try_to_unmap() / try_to_migrate(): after each VMA, done() asks folio_mapped(). Asked after
   * every entry the model removes; a decision point only once the VMA maps nothing of the folio.
   */
  private tryToUnmap(k: Kernel, folio: Folio, vma: Vma): void {
    const { sys } = k;
    if (scanVmaForFolio(sys, vma, folio).mapped) return; // try_to_unmap_one() has not finished this VMA
    let walk = this.unmapWalks.get(folio.id);
    if (!walk || walk.op !== this.opIndex) {
      walk = { op: this.opIndex, candidates: rmapCandidates(sys, folio).length, done: 0, ended: new Map() };
      this.unmapWalks.set(folio.id, walk);
    }
    walk.done++;
    const w = walk;
    const truthMapped = new Truth(sys).folioMapped(folio);
    const truthText = truthMapped ? `mapped: walk on (after ${w.done} VMAs)` : `unmapped: stop after ${w.done} of ${w.candidates} VMAs`;
    for (const s of this.schemes(k)) {
      if (w.ended.has(s.name)) continue; // this scheme's walk already stopped
      this.judge(s, 'try_to_unmap', { folio }, truthText, () => {
        const mapped = s.folioMapped(folio);
        const note = stateNote(s, folio);
        if (!mapped) {
          w.ended.set(s.name, w.done);
          this.walked(s.name, w.done);
          return { answer: `unmapped${note}: stop after ${w.done} VMAs`, cls: truthMapped ? 'wrong' : 'exact' };
        }
        if (truthMapped) return { answer: `mapped${note}: walk on`, cls: 'exact' };
        // still "mapped" with nothing left: the walk goes on to the end of the tree; a saturating
        // count learns from the full walk (Many never reaches Zero by itself)
        w.ended.set(s.name, w.candidates);
        this.walked(s.name, w.candidates);
        let reset = '';
        if (isSaturating(s)) {
          s.resolve(folio);
          reset = `, reset to [${s.stateOf(folio)}]`;
        }
        return { answer: `mapped${note}: walk all ${w.candidates} VMAs${reset}`, cls: 'conservative' };
      });
    }
    if (!truthMapped) this.unmapWalks.delete(folio.id);
  }

  // --- shared checks ---------------------------------------------------------------------------

  private sharedCheck(k: Kernel, reader: 'numa_shared' | 'khugepaged_shared' | 'madvise_mapped_elsewhere', pid: Pid, folio: Folio, page: number): void {
    const { sys } = k;
    if (isSpecial(folio)) return;
    const isShared = reader === 'madvise_mapped_elsewhere' ? (m: number): boolean => m !== 1 : (m: number): boolean => m > 1;
    const tm = new Truth(sys).pageMapcount(folio, page);
    const truthShared = isShared(tm);
    const word = (shared: boolean): string =>
      reader === 'khugepaged_shared' ? (shared ? 'shared' : 'not shared') : skipOrAct(shared);
    for (const s of this.schemes(k)) {
      this.judge(s, reader, { folio, page, pid }, `${word(truthShared)} (mapcount ${tm})`, () => {
        const a = sharedAnswer(s, folio, page, isShared);
        let cls: ReaderClass = 'exact';
        if (a.shared !== truthShared) cls = a.shared ? 'conservative' : otherMmMapsPage(sys, folio, page, pid) ? 'wrong' : 'conservative';
        return { answer: `${word(a.shared)} (${a.how})`, cls };
      });
    }
  }

  /**
   * 6.12's folio-level madvise tests (MadviseTest), each scheme from its own numbers: large-6.12
   * its counters; owners-6.15 folio_maybe_mapped_shared() (what 6.15 asks there) and its exact
   * folio_mapcount(); the proposal its count of VMAs as folio_mapcount() and as every page's
   * mapcount. An answer "not shared" is wrong when another process maps the folio.
   */
  private madviseFolioCheck(k: Kernel, test: MadviseTest, pid: Pid, folio: Folio, page: number): void {
    const { sys } = k;
    if (isSpecial(folio)) return;
    const nrPages = 1 << folio.order;
    const truthNumbers = sharingNumbers(sys, folio);
    const truthShared = test === 'likely-shared' ? likelyMappedShared(truthNumbers) : truthNumbers.mapcount !== nrPages;
    const truthText =
      test === 'likely-shared'
        ? `${skipOrAct(truthShared)} (folio_likely_mapped_shared: mapcount ${truthNumbers.mapcount}, entire ${truthNumbers.entire}, first page ${truthNumbers.firstPage})`
        : `${skipOrAct(truthShared)} (folio_mapcount ${truthNumbers.mapcount} of ${nrPages} pages)`;
    const elsewhere = mmsMapping(sys, folio).some((p) => p !== pid);
    for (const s of this.schemes(k)) {
      this.judge(s, 'madvise_mapped_elsewhere', { folio, page, pid }, truthText, () => {
        const a = madviseFolioAnswer(s, test, folio);
        const cls: ReaderClass = a.shared === truthShared ? 'exact' : a.shared || !elsewhere ? 'conservative' : 'wrong';
        return { answer: `${skipOrAct(a.shared)} (${a.how})`, cls };
      });
    }
  }

  /**
   * refcount == mapcount + extra: the refcount holds the scheme's references for mappings (the
   * proposal's at most 3); in Many the proposal walks (resolve()) to learn the mapcount.
   */
  private pinCheck(k: Kernel, site: PinSite, folio: Folio): void {
    const { sys } = k;
    if (isSpecial(folio) || (site === 'fork' && folio.kind !== 'anon')) return;
    const extra = baseRefs(folio) - folio.pins;
    const truth = new Truth(sys);
    const tm = truth.folioMapcount(folio);
    const truthPinned = folio.pins > 0;
    const truthText = `${truthPinned ? 'pinned' : 'not pinned'} (refcount ${baseRefs(folio) + truth.mappingRefs(folio)}, mapcount ${tm}, extra ${extra}, pins ${folio.pins})`;
    for (const s of this.schemes(k)) {
      this.judge(s, 'pin_check', { folio, site }, truthText, () => {
        let how = '';
        let mapcount: number;
        if (isSaturating(s) && s.stateOf(folio) === 'many') {
          mapcount = s.resolve(folio); // Many: walk the rmap to count
          how = ` [many: walked, ${mapcount} VMAs]`;
        } else {
          mapcount = s.folioMapcount(folio);
          how = stateNote(s, folio);
        }
        const refcount = baseRefs(folio) + s.mappingRefs(folio);
        const pinned = refcount !== mapcount + extra;
        const cls: ReaderClass = pinned === truthPinned ? 'exact' : pinned ? 'conservative' : 'wrong';
        return { answer: `${pinned ? 'pinned' : 'not pinned'} (refcount ${refcount} ${pinned ? '!=' : '=='} mapcount ${mapcount} + extra ${extra}${how})`, cls };
      });
    }
  }

  // --- /proc -----------------------------------------------------------------------------------

  private kpagecount(k: Kernel): void {
    const truth = new Truth(k.sys);
    for (const folio of k.sys.folios.values()) {
      if (isSpecial(folio)) continue;
      for (let page = 0; page < 1 << folio.order; page++) {
        const want = truth.kpagecount(folio, page);
        for (const s of this.schemes(k)) {
          this.judge(s, 'kpagecount', { folio, page }, `${want}`, () => {
            const got = s.kpagecount(folio, page);
            return { answer: `${got}${stateNote(s, folio)}`, cls: got === want ? 'exact' : 'wrong' };
          });
        }
      }
    }
  }

  private pagemap(k: Kernel, mm: Mm): void {
    const truth = new Truth(k.sys);
    for (const { folio, page } of mappedPages(k.sys, mm)) {
      const tm = truth.pageMapcount(folio, page);
      const want = tm === 1;
      const word = (exclusive: boolean): string => (exclusive ? 'exclusive' : 'not exclusive');
      for (const s of this.schemes(k)) {
        this.judge(s, 'pagemap_exclusive', { folio, page, pid: mm.pid }, `${word(want)} (mapcount ${tm})`, () => {
          const a = sharedAnswer(s, folio, page, (m) => m !== 1);
          const exclusive = !a.shared;
          let cls: ReaderClass = 'exact';
          if (exclusive !== want) cls = !exclusive ? 'conservative' : otherMmMapsPage(k.sys, folio, page, mm.pid) ? 'wrong' : 'conservative';
          return { answer: `${word(exclusive)} (${a.how})`, cls };
        });
      }
    }
  }

  private smaps(k: Kernel, mm: Mm): void {
    const truth = new Truth(k.sys);
    const render = (d: { divisor: number; shared: boolean }): string => `pss/${d.divisor} ${d.shared ? 'Shared' : 'Private'}`;
    for (const { folio, page } of mappedPages(k.sys, mm)) {
      const want = smapsPage(truth, folio, page);
      for (const s of this.schemes(k)) {
        this.judge(s, 'smaps', { folio, page, pid: mm.pid }, render(want), () => {
          const got = smapsPage(s, folio, page);
          let cls: ReaderClass = 'exact';
          if (got.divisor !== want.divisor) cls = 'wrong';
          else if (got.shared !== want.shared) cls = got.shared || !otherMmMapsPage(k.sys, folio, page, mm.pid) ? 'conservative' : 'wrong';
          return { answer: `${render(got)}${stateNote(s, folio)}`, cls };
        });
      }
    }
  }
}

/** Give the kernel a reader log (the MM asks it at its decision points); returns the log. */
export function attachReaders(k: Kernel, log: ReaderLog = new ReaderLog()): ReaderLog {
  (k as { readers?: ReaderLog }).readers = log;
  return log;
}

/** The /proc observation point (kpagecount, pagemap, smaps): the checker calls it at `obs` events and at the end. */
export function observeReaders(k: Kernel): void {
  k.readers?.observe(k);
}

// --- formatting ----------------------------------------------------------------------------------

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const padl = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

const caseText = (c: ReaderCase): string =>
  `op ${c.op} (${c.operation}), folio ${c.folio}${c.page !== undefined ? ` page ${c.page}` : ''}${c.pid !== undefined ? ` pid ${c.pid}` : ''}${c.site ? ` at ${c.site}` : ''}: truth ${c.truth}, answer ${c.answer}`;

/** The decision table as text: one line per scheme x reader, then the first wrong case of each. */
export function formatReaderTable(t: ReaderTable): string {
  const lines: string[] = [];
  const w = Math.max(6, ...t.rows.map((r) => r.scheme.length));
  const rw = Math.max(6, ...t.rows.map((r) => r.reader.length));
  lines.push(`reader decisions over ${t.operations} MM operations`);
  lines.push(`${pad('scheme', w)}  ${pad('reader', rw)}  ${padl('asked', 7)}  ${padl('exact', 7)}  ${padl('conserv.', 8)}  ${padl('wrong', 7)}`);
  for (const r of t.rows) {
    lines.push(`${pad(r.scheme, w)}  ${pad(r.reader, rw)}  ${padl(String(r.asked), 7)}  ${padl(String(r.exact), 7)}  ${padl(String(r.conservative), 8)}  ${padl(String(r.wrong), 7)}`);
  }
  const wrong = t.rows.filter((r) => r.firstWrong);
  if (wrong.length) {
    lines.push('', 'first wrong decision:');
    for (const r of wrong) lines.push(`  ${r.scheme} ${r.reader}: ${caseText(r.firstWrong!)}`);
  }
  return lines.join('\n');
}

/** The cost summary as text: per scheme, total = hooks + readers, and the readers' walk lengths. */
export function formatCostSummary(summary: readonly SchemeCostSummary[]): string {
  const w = Math.max(6, ...summary.map((s) => s.scheme.length));
  const cols = (c: Costs): string => COST_KEYS.map((key) => padl(String(c[key]), 11)).join(' ');
  const lines = [
    `${pad('scheme', w)}  ${pad('part', 7)} ${COST_KEYS.map((key) => padl(key, 11)).join(' ')}  reader walks (VMAs visited)`,
  ];
  for (const s of summary) {
    lines.push(`${pad(s.scheme, w)}  ${pad('total', 7)} ${cols(s.total)}  ${s.readerWalks.walks} (${s.readerWalks.vmasVisited})`);
    lines.push(`${pad('', w)}  ${pad('hooks', 7)} ${cols(s.hooks)}`);
    lines.push(`${pad('', w)}  ${pad('readers', 7)} ${cols(s.readers)}`);
  }
  return lines.join('\n');
}
