import { parseFtraceLine } from './parse.ts';
import type { ProbeTable } from './probes.ts';
import { GeneralLines } from './general.ts';
import { FastLines, KINDS, KIND_NONE, maxJsonBytes } from './fast-line.ts';
import { lineEnd, nextLineStart } from './regions.ts';

/**
 * Regions of ftrace lines -> JSON Lines bytes: each line through the fast path (fast-line.ts) or,
 * when it declines, through parse.ts and its event object (general.ts) and JSON.stringify.
 */

/** Room for a region's JSON lines, most of the time (OutBuffer grows when not). */
export const outputSize = (regionBytes: number): number => regionBytes + (regionBytes >> 1) + (64 << 10);

/** A growable output buffer. */
export class OutBuffer {
  buf: Buffer;
  pos = 0;

  /** At least `size` bytes: `reuse` when it is that large. */
  constructor(size = 4 << 20, reuse?: Buffer) {
    this.buf = reuse && reuse.length >= size ? reuse : Buffer.allocUnsafe(size);
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  putString(s: string): void {
    this.ensure(3 * s.length);
    this.pos += this.buf.write(s, this.pos);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Events converted, by kind in the order the kinds first came (the order `convert` reports them). */
export class KindCounts {
  events = 0;
  /** By kind; the fast path's kinds are counted in `fast` and only placed here when they first come. */
  private readonly counts: Record<string, number> = {};
  /** By fast-line.ts kind number: a line costs an array element, not a property looked up by name. */
  private readonly fast: number[] = KINDS.map(() => 0);

  add(kind: string): void {
    this.events++;
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  /** An event of the fast path's kind KINDS[kind]. */
  addFast(kind: number): void {
    this.events++;
    if (this.fast[kind]++ === 0) this.counts[KINDS[kind]] ??= 0;
  }

  get byKind(): Record<string, number> {
    const all: Record<string, number> = {};
    for (const [kind, n] of Object.entries(this.counts)) {
      const k = KINDS.indexOf(kind as (typeof KINDS)[number]);
      all[kind] = n + (k > 0 ? this.fast[k] : 0);
    }
    return all;
  }
}

export class RegionConverter {
  private readonly fast: FastLines;
  private readonly general: GeneralLines;

  constructor(
    readonly path: string,
    table: ProbeTable,
  ) {
    this.fast = new FastLines(table);
    this.general = new GeneralLines(table);
  }

  /**
   * The JSON lines of the events of `region` (whole lines, the first numbered `firstLine`) into
   * `out`, counted in `counts`; with `at`, each event's line number is pushed to it. Returns the
   * number of lines. A bad line throws its TraceInputError, the lines before it converted.
   */
  convert(region: Buffer, firstLine: number, out: OutBuffer, counts: KindCounts, at?: number[]): number {
    const fast = this.fast;
    const cr = region.indexOf(13) >= 0;
    let line = firstLine;
    for (let s = 0; s < region.length; line++) {
      const e = lineEnd(region, s, cr);
      out.ensure(maxJsonBytes(e - s));
      const p = fast.write(region, s, e, out.buf, out.pos);
      if (p < 0) this.convertGeneral(region.toString('utf8', s, e), line, out, counts, at);
      else if (fast.kind !== KIND_NONE) {
        out.pos = p;
        counts.addFast(fast.kind);
        at?.push(line);
      }
      s = nextLineStart(region, e);
    }
    return line - firstLine;
  }

  /** Any line through parse.ts and its event object: the rare shapes, and every error's wording. */
  private convertGeneral(text: string, line: number, out: OutBuffer, counts: KindCounts, at?: number[]): void {
    const l = parseFtraceLine(text, this.path, line);
    if (!l) return;
    const event = this.general.event(l, this.path, line);
    out.putString(JSON.stringify(event) + '\n');
    counts.add(event.ev);
    at?.push(line);
  }
}
