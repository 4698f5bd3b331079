import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { streamOf } from '../lines.ts';
import { TraceInputError, type Generation, type PositionedEvent, type TraceHeader } from '../events.ts';
import type { TraceStream } from '../reader.ts';
import { parseFtraceLine } from './parse.ts';
import { PROBE_TABLES, detectGeneration, type ProbeTable } from './probes.ts';
import { KindCounts, OutBuffer, RegionConverter } from './to-json.ts';
import { RegionPipeline, type Output } from './pipeline.ts';
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
 * The text is read in regions of whole lines (regions.ts), ahead of the conversion; the output is
 * written by the thread pool while the next regions convert (pipeline.ts).
 */

export { PROBE_TABLES, detectGeneration };
export type { TraceStream };

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
  readonly table: ProbeTable;
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
  return { path, header, table, src, held };
}

/**
 * The next region of an opened file, the held ones first; undefined at the end. A failure to read
 * is thrown as it is: the caller knows the line reached (regions.ts readError).
 */
async function nextRegion(o: OpenedFtrace): Promise<Buffer | undefined> {
  return o.held.shift() ?? (await o.src.next());
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
  const conv = new RegionConverter(o.path, o.table);
  const counts = new KindCounts();
  const out = new OutBuffer();
  const lines: number[] = [];
  let linesRead = 0;
  try {
    for (;;) {
      let region: Buffer | undefined;
      try {
        region = await nextRegion(o);
      } catch (e) {
        throw readError(e, o.path, linesRead + 1);
      }
      if (!region) return;
      out.pos = 0;
      lines.length = 0;
      let failure: unknown;
      try {
        linesRead += conv.convert(region, linesRead + 1, out, counts, lines);
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

/** The output file: writes (pipeline.ts Output: in order, resolved once written or taken by zlib), then close. */
interface JsonlSink extends Output {
  close(): Promise<void>;
}

/** A plain file: each write at its own offset, so several can be in flight. */
class FileSink implements JsonlSink {
  private position = 0;

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<FileSink> {
    return new FileSink(await open(path, 'w'));
  }

  async write(bytes: Buffer): Promise<void> {
    const at = this.position;
    this.position += bytes.length;
    for (let off = 0; off < bytes.length; ) off += (await this.fh.write(bytes, off, bytes.length - off, at + off)).bytesWritten;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** A .gz file, through zlib. */
class GzipSink implements JsonlSink {
  private readonly gz = createGzip();
  private readonly done: Promise<void>;

  constructor(path: string) {
    this.done = pipeline(this.gz, createWriteStream(path));
    this.done.catch(() => {}); // surfaced by write() and close()
  }

  async write(bytes: Buffer): Promise<void> {
    const taken = new Promise<void>((resolve, reject) => this.gz.write(bytes, (e) => (e ? reject(e) : resolve())));
    await Promise.race([taken, this.done]);
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
 * output ends in .gz. An error at a line is thrown after the lines before it are written.
 */
export async function convertFile(input: string, output: string, opts: { generation?: Generation } = {}): Promise<ConvertSummary> {
  const o = await openFtraceRegions(input, opts);
  let sink: JsonlSink | undefined;
  let regions: RegionPipeline | undefined;
  try {
    sink = output.endsWith('.gz') ? new GzipSink(output) : await FileSink.open(output);
    await sink.write(Buffer.from(JSON.stringify(o.header) + '\n'));
    regions = new RegionPipeline(input, o.table, sink);
    for (;;) {
      let region: Buffer | undefined;
      try {
        region = await nextRegion(o);
      } catch (e) {
        await regions.finish();
        throw readError(e, input, regions.lines + 1);
      }
      if (!region) break;
      await regions.add(region);
    }
    await regions.finish();
    await sink.close();
    sink = undefined;
  } finally {
    await o.src.close();
    await sink?.close().catch(() => {}); // after a failure: the failure is what is thrown
  }
  const { events, byKind } = regions.counts;
  return { generation: o.header.kernel.generation, events, byKind };
}
