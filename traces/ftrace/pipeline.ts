import type { ProbeTable } from './probes.ts';
import { KindCounts, OutBuffer, RegionConverter, outputSize } from './to-json.ts';

/**
 * The regions of a file converted to JSON Lines and written in file order, the output written
 * while the next regions convert.
 *
 * One thread converts. A worker thread converting regions as well was measured to gain little on
 * an idle machine and to lose much on a busy one: its start and its own JIT warm-up cost ~0.8 s of
 * CPU on the 1M-line bench trace (1.1 s -> 1.9 s in all), and at load 3 to 4 on 2 cores the
 * conversion took 1.8-2.0 s with it against 1.07-1.13 s without. Handing it buffers also costs this
 * thread: once any ArrayBuffer is detached (a transfer), V8 checks every typed-array access for it
 * for the rest of the process, and the conversion takes ~25% longer (measured).
 */

export interface Output {
  /** Write `bytes` after what was given before; resolves once they are written. */
  write(bytes: Buffer): Promise<void>;
}

/** Writes in flight at a time: the conversion goes on while the output is written. */
const WRITES_IN_FLIGHT = 2;

export class RegionPipeline {
  /** Lines converted: the next region starts at line lines + 1. */
  lines = 0;
  readonly counts = new KindCounts();
  private readonly conv: RegionConverter;
  private readonly writing: Promise<void>[] = [];
  /** Output buffers whose bytes are written, to reuse (fresh ones cost page faults). */
  private readonly spare: Buffer[] = [];

  constructor(
    path: string,
    table: ProbeTable,
    private readonly out: Output,
  ) {
    this.conv = new RegionConverter(path, table);
  }

  /**
   * Convert a region (its bytes are not kept) and write its JSON lines. A bad line throws its
   * TraceInputError once the lines before it are written.
   */
  async add(region: Buffer): Promise<void> {
    const out = new OutBuffer(outputSize(region.length), this.spare.pop());
    let failure: unknown;
    try {
      this.lines += this.conv.convert(region, this.lines + 1, out, this.counts);
    } catch (e) {
      failure = e;
    }
    await this.write(out);
    if (failure === undefined) return;
    await this.finish();
    throw failure;
  }

  /** Wait for every write. */
  async finish(): Promise<void> {
    while (this.writing.length) await this.writing.shift();
  }

  /** Write a region's bytes, at most WRITES_IN_FLIGHT at a time; its buffer is spare once they are written. */
  private async write(out: OutBuffer): Promise<void> {
    if (this.writing.length === WRITES_IN_FLIGHT) await this.writing.shift();
    const written = this.out.write(out.bytes()).then(() => {
      this.spare.push(out.buf);
    });
    written.catch(() => {}); // a failure is thrown where it is awaited
    this.writing.push(written);
  }
}
