import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { streamOf } from '../lines.ts';
import { TraceInputError, type Generation, type PositionedEvent, type TraceHeader } from '../events.ts';
import type { TraceStream } from '../reader.ts';
import { parseFtraceLine } from './parse.ts';
import { PROBE_TABLES, detectGeneration, type ProbeTable } from './probes.ts';
import { GeneralLines } from './general.ts';
import { FastLines, KINDS, KIND_NONE, maxJsonBytes } from './fast-line.ts';
import { ByteRegions, lineEnd, nextLineStart, readError } from './regions.ts';

/**
 * ftrace text -> trollcount events, with the text's line numbers. Driven by data: probes-<gen>.json
 * (probes.ts) maps each probe / tracepoint name to its event kind and its fetch-arg types. The
 * generation is detected from the rmap probes (page_* -> 6.1, folio_* -> 6.12) unless given; the
 * text is held only until then.
 *
 * Every line becomes JSON Lines bytes: the common shapes straight from the input bytes
 * (fast-line.ts), any other line through parse.ts and its event object (general.ts) and
 * JSON.stringify. `convertFile` writes those bytes; `openFtrace` (the checker's reader) parses them
 * back, so checking an ftrace file and checking its conversion read exactly the same events.
 *
 * One thread: the conversion is sequential per line and cheap (no state crosses lines but the
 * line number), and the output is written by the thread pool while the next region converts.
 */

export { PROBE_TABLES, detectGeneration };
export type { TraceStream };

// ---- converting regions of lines ------------------------------------------------------------------

/** A growable output buffer. */
class OutBuffer {
  buf = Buffer.allocUnsafe(4 << 20);
  pos = 0;

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

/** The lines of one file -> JSON Lines, with the line numbers and the counts of what was converted. */
class RegionConverter {
  /** Lines converted so far: the next region's first line is lines + 1. */
  lines = 0;
  events = 0;
  readonly byKind: Record<string, number> = {};
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
   * The JSON lines of the events of `region` (whole lines) into `out`; with `at`, each event's
   * line number is pushed to it. A bad line throws its TraceInputError with the lines before it
   * converted.
   */
  convert(region: Buffer, out: OutBuffer, at?: number[]): void {
    const fast = this.fast;
    const cr = region.indexOf(13) >= 0;
    for (let s = 0; s < region.length; ) {
      const e = lineEnd(region, s, cr);
      const line = ++this.lines;
      out.ensure(maxJsonBytes(e - s));
      const p = fast.write(region, s, e, out.buf, out.pos);
      if (p < 0) this.convertGeneral(region.toString('utf8', s, e), line, out, at);
      else if (fast.kind !== KIND_NONE) {
        out.pos = p;
        this.count(KINDS[fast.kind]);
        at?.push(line);
      }
      s = nextLineStart(region, e);
    }
  }

  /** Any line through parse.ts and its event object: the rare shapes, and every error's wording. */
  private convertGeneral(text: string, line: number, out: OutBuffer, at?: number[]): void {
    const l = parseFtraceLine(text, this.path, line);
    if (!l) return;
    const event = this.general.event(l, this.path, line);
    out.putString(JSON.stringify(event) + '\n');
    this.count(event.ev);
    at?.push(line);
  }

  private count(kind: string): void {
    this.events++;
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
  }
}

// ---- opening a file: the generation ------------------------------------------------------------------

/** uname -r from the capture's .meta.json beside the trace, when there is one. */
function releaseBeside(path: string): string | undefined {
  const meta = path.replace(/\.ftrace(\.gz)?$/, '') + '.meta.json';
  if (meta === path || !existsSync(meta)) return undefined;
  try {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { kernelRelease?: unknown };
    return typeof m.kernelRelease === 'string' ? m.kernelRelease : undefined;
  } catch {
    return undefined;
  }
}

/** An ftrace file read up to its generation. */
interface OpenedFtrace {
  readonly path: string;
  readonly header: TraceHeader;
  readonly conv: RegionConverter;
  readonly src: ByteRegions;
  /** Copies of the regions read while looking for the generation, to convert first. */
  readonly held: Buffer[];
}

/**
 * Read ahead only until the generation is known (the first generation-specific rmap probe), unless
 * `opts.generation`. The lines read meanwhile are parsed (a bad one throws here, before any output)
 * and converted again once the probe table is known.
 */
async function openFtraceRegions(path: string, opts: { generation?: Generation }): Promise<OpenedFtrace> {
  const src = new ByteRegions(path);
  const held: Buffer[] = [];
  let generation = opts.generation;
  try {
    let lines = 0;
    search: while (generation === undefined) {
      let region: Buffer | undefined;
      try {
        region = await src.next();
      } catch (e) {
        throw readError(e, path, lines + 1);
      }
      if (!region) break;
      held.push(Buffer.from(region)); // a copy: the reader reuses its buffer
      const cr = region.indexOf(13) >= 0;
      for (let s = 0; s < region.length; ) {
        const e = lineEnd(region, s, cr);
        const l = parseFtraceLine(region.toString('utf8', s, e), path, ++lines);
        if (l?.kind === 'event') generation = detectGeneration(l.name);
        if (generation !== undefined) continue search;
        s = nextLineStart(region, e);
      }
    }
    if (generation === undefined)
      throw new TraceInputError(
        { file: path, line: 1 },
        'cannot tell the kernel generation: expected a 6.1 page_* or 6.12 folio_* rmap probe event, or --kernel 6.1|6.12',
      );
  } catch (e) {
    await src.close();
    throw e;
  }
  const table = PROBE_TABLES[generation];
  const release = releaseBeside(path);
  const header: TraceHeader = {
    format: 'trollcount-trace',
    version: 1,
    kernel: release ? { release, generation } : { generation },
    geometry: { pageSize: table.geometry.pageSize, pmdOrder: table.geometry.pmdOrder },
    source: { kind: 'ftrace', description: path },
  };
  return { path, header, conv: new RegionConverter(path, table), src, held };
}

/** The regions of an opened file, the held ones first; a failure to read is a TraceInputError at the first line not read. */
async function* regionsOf(o: OpenedFtrace): AsyncGenerator<Buffer> {
  yield* o.held;
  o.held.length = 0;
  for (;;) {
    let region: Buffer | undefined;
    try {
      region = await o.src.next();
    } catch (e) {
      throw readError(e, o.path, o.conv.lines + 1);
    }
    if (!region) return;
    yield region;
  }
}

// ---- events: the checker's reader ------------------------------------------------------------------

/**
 * Open an ftrace text file (optionally .gz) as a trace stream of the events its conversion holds:
 * the JSON lines of each region parsed back, one batch per region. An error at a line is thrown
 * after the batch of the events before it.
 */
export async function openFtrace(path: string, opts: { generation?: Generation } = {}): Promise<TraceStream> {
  const o = await openFtraceRegions(path, opts);
  return streamOf(path, o.header, eventBatches(o));
}

async function* eventBatches(o: OpenedFtrace): AsyncGenerator<PositionedEvent[]> {
  const out = new OutBuffer();
  const lines: number[] = [];
  try {
    for await (const region of regionsOf(o)) {
      out.pos = 0;
      lines.length = 0;
      let failure: unknown;
      try {
        o.conv.convert(region, out, lines);
      } catch (e) {
        failure = e;
      }
      const batch = parseJsonLines(out, lines, o.path);
      if (batch.length) yield batch;
      if (failure !== undefined) throw failure;
    }
  } finally {
    await o.src.close();
  }
}

/** The events of the JSON lines in `out`, the i-th from line lines[i]. */
function parseJsonLines(out: OutBuffer, lines: readonly number[], file: string): PositionedEvent[] {
  const text = out.buf.toString('utf8', 0, out.pos);
  const batch: PositionedEvent[] = new Array(lines.length);
  for (let i = 0, from = 0; i < lines.length; i++) {
    const nl = text.indexOf('\n', from);
    batch[i] = { event: JSON.parse(text.slice(from, nl)), at: { file, line: lines[i] } };
    from = nl + 1;
  }
  return batch;
}

// ---- JSON Lines files ------------------------------------------------------------------------------

interface JsonlSink {
  /** `bytes` given to write() may still be read until this many more write() calls, or close(), have resolved. */
  readonly holds: number;
  write(bytes: Buffer): Promise<void>;
  close(): Promise<void>;
}

/**
 * A plain file: writes go to the thread pool, up to two at a time at their own offsets, so the
 * conversion goes on while the output is written, through the jitter of a busy machine.
 */
class FileSink implements JsonlSink {
  readonly holds = 2;
  private readonly inFlight: Promise<void>[] = [];
  private position = 0;
  private failure: unknown;

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<FileSink> {
    return new FileSink(await open(path, 'w'));
  }

  async write(bytes: Buffer): Promise<void> {
    if (this.inFlight.length === this.holds) await this.inFlight.shift();
    if (this.failure !== undefined) throw this.failure;
    const done = writeAt(this.fh, bytes, this.position).catch((e: unknown) => {
      this.failure = e;
    });
    this.inFlight.push(done);
    this.position += bytes.length;
  }

  async close(): Promise<void> {
    try {
      await Promise.all(this.inFlight);
      if (this.failure !== undefined) throw this.failure;
    } finally {
      await this.fh.close();
    }
  }
}

async function writeAt(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let off = 0; off < bytes.length; ) off += (await fh.write(bytes, off, bytes.length - off, position + off)).bytesWritten;
}

/** A .gz file: each write is copied into the gzip stream. */
class GzipSink implements JsonlSink {
  readonly holds = 0;
  private readonly gz = createGzip();
  private readonly done: Promise<void>;

  constructor(path: string) {
    this.done = pipeline(this.gz, createWriteStream(path));
    this.done.catch(() => {}); // surfaced by write() and close()
  }

  async write(bytes: Buffer): Promise<void> {
    if (!this.gz.write(Buffer.from(bytes))) await Promise.race([once(this.gz, 'drain'), this.done]);
  }

  async close(): Promise<void> {
    this.gz.end();
    await this.done;
  }
}

export interface ConvertSummary {
  readonly generation: Generation;
  readonly events: number;
  readonly byKind: Record<string, number>;
}

/**
 * `trollcount convert`: ftrace text -> JSON Lines (a header line, then one event per line); gzip if
 * output ends in .gz. The output is written once per region of input lines. An error at a line is
 * thrown after the lines before it are written.
 */
export async function convertFile(input: string, output: string, opts: { generation?: Generation } = {}): Promise<ConvertSummary> {
  const o = await openFtraceRegions(input, opts);
  let sink: JsonlSink | undefined;
  try {
    sink = output.endsWith('.gz') ? new GzipSink(output) : await FileSink.open(output);
    // a buffer per region, reused once the sink is done with it
    const outs = Array.from({ length: sink.holds + 1 }, () => new OutBuffer());
    let n = 0;
    let out = outs[0];
    out.putString(JSON.stringify(o.header) + '\n');
    try {
      for await (const region of regionsOf(o)) {
        try {
          o.conv.convert(region, out);
        } finally {
          await sink.write(out.bytes());
          out = outs[++n % outs.length];
          out.pos = 0;
        }
      }
    } finally {
      if (out.pos > 0) await sink.write(out.bytes()); // the header, when no region came
    }
    await sink.close();
    sink = undefined;
  } finally {
    await o.src.close();
    await sink?.close().catch(() => {}); // after a failure: the failure is what is thrown
  }
  return { generation: o.header.kernel.generation, events: o.conv.events, byKind: o.conv.byKind };
}
