/** One event in a folio's recent history: where a divergence report says the folio was last touched. */
export interface HistoryEntry {
  readonly line: number;
  readonly fn: string;
}

/** Events kept per folio. */
const HISTORY = 8;

/**
 * The last HISTORY events that touched a folio. A folio born from a split starts with the history
 * of the folio it was split from, shared rather than copied (a THP split makes 512 folios, most of
 * which are never touched again), and its ring is only allocated at its first own event.
 */
export class FolioHistory {
  private lines: Int32Array | null = null;
  private fns: string[] | null = null;
  private n = 0;

  /** `before`: the history of the folio this one was split from (no longer touched). */
  constructor(private readonly before: FolioHistory | null = null) {}

  push(line: number, fn: string): void {
    if (this.lines === null) {
      this.lines = new Int32Array(HISTORY);
      this.fns = new Array<string>(HISTORY);
    }
    const i = this.n++ % HISTORY;
    this.lines[i] = line;
    this.fns![i] = fn;
  }

  /** Oldest first, at most HISTORY. */
  entries(): HistoryEntry[] {
    const out = this.before ? this.before.entries() : [];
    const n = Math.min(this.n, HISTORY);
    for (let k = this.n - n; k < this.n; k++) out.push({ line: this.lines![k % HISTORY], fn: this.fns![k % HISTORY] });
    return out.slice(-HISTORY);
  }
}
