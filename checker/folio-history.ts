/** One event in a folio's recent history: where a divergence report says the folio was last touched. */
export interface HistoryEntry {
  readonly line: number;
  readonly fn: string;
}

/** Events kept per folio. */
const HISTORY = 8;

/** Function names by number: a history holds numbers only (no pointers for the collector to trace). */
const fnNames: string[] = [];
const fnIds = new Map<string, number>();
const fnId = (fn: string): number => {
  let id = fnIds.get(fn);
  if (id === undefined) fnIds.set(fn, (id = fnNames.push(fn) - 1));
  return id;
};

/**
 * The last HISTORY events that touched a folio, as one array of (line, function) pairs. A folio born
 * from a split starts with the history of the folio it was split from, shared rather than copied (a
 * THP split makes 512 folios, most of which are never touched again).
 */
export class FolioHistory {
  private readonly ring = new Int32Array(2 * HISTORY);
  private n = 0;

  /** `before`: the history of the folio this one was split from (no longer touched). */
  constructor(private readonly before: FolioHistory | null = null) {}

  push(line: number, fn: string): void {
    const i = 2 * (this.n++ % HISTORY);
    this.ring[i] = line;
    this.ring[i + 1] = fnId(fn);
  }

  /** Oldest first, at most HISTORY. */
  entries(): HistoryEntry[] {
    const out = this.before ? this.before.entries() : [];
    const n = Math.min(this.n, HISTORY);
    for (let k = this.n - n; k < this.n; k++) {
      const i = 2 * (k % HISTORY);
      out.push({ line: this.ring[i], fn: fnNames[this.ring[i + 1]] });
    }
    return out.slice(-HISTORY);
  }
}
