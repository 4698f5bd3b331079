import type { KnowledgeState } from './machines/knowledge.ts';
import type { TimelineEntry, TimelineValue } from './replay-kernel.ts';
import type { OpTimelineEntry } from './replay-ops.ts';

/**
 * Per-folio timelines for the reports of `trollcount check --html / --perfetto`: the replays'
 * timeline observers feed a collector, which keeps memory bounded while the trace streams by
 * (at most 16 times `maxFolios` folios and `maxEntries` points each) and at the end keeps the
 * folios worth reading: those with divergences first, then the most active.
 */

/** One point of a folio's timeline: a kcall/obs of a real trace or an op/obs of an op trace. */
export interface TimelinePoint {
  readonly line: number;
  /** Seconds, when the trace records time. */
  readonly ts?: number;
  readonly fn: string;
  readonly page: number;
  /** Kernel-reported values and the model's predictions (model absent: learned). */
  readonly values: readonly TimelineValue[];
  /** Kernel traces: the folio's knowledge state after the event. */
  readonly state?: KnowledgeState;
  /** Op traces: each scheme's one-line state of the folio after the op. */
  readonly states?: Readonly<Record<string, string>>;
  readonly outcome?: string;
  readonly violations?: readonly string[];
  readonly diverged: boolean;
}

export interface FolioTimeline {
  /** Head pfn (hex). */
  readonly folio: string;
  readonly nr: number;
  readonly points: readonly TimelinePoint[];
  /** Points seen for this folio (kept or not). */
  readonly events: number;
  /** Diverging points seen. */
  readonly divergences: number;
  readonly firstLine: number;
  readonly lastLine: number;
}

export interface FileTimeline {
  readonly file: string;
  readonly kind: 'kernel' | 'ops';
  /** Op traces: the schemes, in the replay's order. */
  readonly schemes: readonly string[];
  readonly folios: readonly FolioTimeline[];
  /** Folios seen in all (the kept ones are `folios`). */
  readonly foliosSeen: number;
  /** Points left out of the kept folios to keep the report small. */
  readonly pointsDropped: number;
}

/** What the replays call: checker/check.ts passes these to replayKernelTrace / replayOpTrace. */
export interface TimelineSink {
  readonly kernel: (entry: TimelineEntry) => void;
  readonly ops: (entry: OpTimelineEntry) => void;
}

export interface TimelineLimits {
  /** Folios kept in the report (default 24). */
  readonly maxFolios?: number;
  /** Points kept per folio (default 120). */
  readonly maxEntries?: number;
}

interface FolioAcc {
  folio: string;
  nr: number;
  points: TimelinePoint[];
  events: number;
  divergences: number;
  firstLine: number;
  lastLine: number;
  dropped: number;
}

/** Points kept around each divergence: this many before it, one after. */
const CONTEXT_BEFORE = 4;
/** The first points of a folio (its birth or first sight) are kept. */
const KEEP_FIRST = 6;

/** Trailing zero bits of i (i > 0): ranking by it keeps an evenly spread subset. */
const ctz = (i: number): number => 31 - Math.clz32(i & -i);

/**
 * Keep at most `max` points: the first few and the last, every divergence with its context
 * (earliest first when even those are too many), then points spread evenly over the rest; order
 * preserved.
 */
export function compactPoints(points: readonly TimelinePoint[], max: number): TimelinePoint[] {
  if (points.length <= max) return [...points];
  const rank = new Float64Array(points.length); // higher is kept first
  for (let i = 1; i < points.length; i++) rank[i] = ctz(i) / 32; // evenly spread
  rank[points.length - 1] = 1.5;
  for (let i = 0; i < Math.min(KEEP_FIRST, points.length); i++) rank[i] = Math.max(rank[i], 2);
  for (let i = 0; i < points.length; i++) {
    if (!points[i].diverged) continue;
    // earlier divergences outrank later ones: the first fault explains the rest
    const r = 4 - i / points.length;
    for (let j = Math.max(0, i - CONTEXT_BEFORE); j <= Math.min(points.length - 1, i + 1); j++) rank[j] = Math.max(rank[j], j === i ? r + 1 : r);
  }
  const order = [...points.keys()].sort((a, b) => rank[b] - rank[a]).slice(0, max).sort((a, b) => a - b);
  return order.map((i) => points[i]);
}

export class TimelineCollector implements TimelineSink {
  private readonly folios = new Map<string, FolioAcc>();
  private readonly maxFolios: number;
  private readonly maxEntries: number;
  private kind: 'kernel' | 'ops' = 'kernel';
  private schemes: string[] = [];
  private seen = new Set<string>();
  private evictedPoints = 0;

  constructor(
    readonly file: string,
    limits: TimelineLimits = {},
  ) {
    this.maxFolios = limits.maxFolios ?? 24;
    this.maxEntries = limits.maxEntries ?? 120;
  }

  readonly kernel = (e: TimelineEntry): void => {
    this.kind = 'kernel';
    this.add(e.folio, e.nr, { line: e.line, ts: e.ts, fn: e.fn, page: e.page, values: e.values, state: e.state, diverged: e.diverged });
  };

  readonly ops = (e: OpTimelineEntry): void => {
    this.kind = 'ops';
    if (!this.schemes.length) this.schemes = Object.keys(e.states);
    this.add(e.folio, e.nr, {
      line: e.line,
      fn: e.fn,
      page: e.page,
      values: e.values,
      states: e.states,
      outcome: e.outcome,
      violations: e.violations.length ? e.violations : undefined,
      diverged: e.diverged,
    });
  };

  private add(folio: string, nr: number, p: TimelinePoint): void {
    let acc = this.folios.get(folio);
    if (!acc) {
      if (this.folios.size >= 16 * this.maxFolios) this.evict();
      acc = { folio, nr, points: [], events: 0, divergences: 0, firstLine: p.line, lastLine: p.line, dropped: 0 };
      this.folios.set(folio, acc);
      if (this.seen.size < 1 << 20) this.seen.add(folio);
    }
    acc.nr = nr;
    acc.events++;
    acc.lastLine = p.line;
    if (p.diverged) acc.divergences++;
    acc.points.push(p);
    if (acc.points.length >= 2 * this.maxEntries) {
      const before = acc.points.length;
      acc.points = compactPoints(acc.points, this.maxEntries);
      acc.dropped += before - acc.points.length;
    }
  }

  /** Too many folios in flight: keep the better half (divergences first, then activity). */
  private evict(): void {
    const ranked = [...this.folios.values()].sort(byInterest);
    for (const acc of ranked.slice(8 * this.maxFolios)) {
      this.folios.delete(acc.folio);
      this.evictedPoints += acc.points.length + acc.dropped;
    }
  }

  result(): FileTimeline {
    const kept = [...this.folios.values()].sort(byInterest).slice(0, this.maxFolios);
    let pointsDropped = this.evictedPoints;
    for (const acc of this.folios.values()) if (!kept.includes(acc)) pointsDropped += acc.points.length + acc.dropped;
    // order of reading: diverging folios, then the most active
    const folios: FolioTimeline[] = kept.map((acc) => {
        const points = compactPoints(acc.points, this.maxEntries);
        pointsDropped += acc.dropped + acc.points.length - points.length;
        return { folio: acc.folio, nr: acc.nr, points, events: acc.events, divergences: acc.divergences, firstLine: acc.firstLine, lastLine: acc.lastLine };
      });
    return { file: this.file, kind: this.kind, schemes: this.schemes, folios, foliosSeen: this.seen.size, pointsDropped };
  }
}

const byInterest = (a: FolioAcc, b: FolioAcc): number => b.divergences - a.divergences || b.events - a.events || a.firstLine - b.firstLine;
