import { isAscii } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { TraceInputError, type Generation, type Position, type PositionedEvent, type TraceHeader } from './events.ts';
import { InputStreamError, JsonSyntaxError, TraceDocumentReader, checkJsonText, locateInJson, positionIn } from './json-document.ts';
import { eventProblem, headerProblem } from './schema.ts';
import { streamOf } from './lines.ts';
import { openJsonlThread } from './jsonl-thread.ts';

/**
 * Reading trace files as streams, whatever their form:
 * - JSON Lines (`.jsonl`): the header alone on the first non-blank line, then one event per line;
 *   blank lines are ignored;
 * - a JSON document (`.json`): `{ "header": {...}, "events": [ ... ] }`, header first;
 * - ftrace text (`# tracer:` on the first line, or a name containing `.ftrace` or ending in
 *   `.txt`): converted on the fly by traces/ftrace/convert.ts;
 * each optionally gzip-compressed (detected by the gzip magic bytes; a name ending in `.gz` must be
 * gzip). A large file is never loaded whole. Every problem with the input is a TraceInputError
 * naming file:line:column and what was expected.
 */

export interface TraceStream {
  readonly header: TraceHeader;
  /** The events in file order, each with where it came from. Iterate once. */
  readonly events: AsyncIterable<PositionedEvent>;
  /**
   * The same events in arrays (one per chunk of input), for consumers that handle events
   * synchronously: one await per chunk instead of one per event. Iterate either this or `events`,
   * once. An input error is thrown after the batch of the events before it. Absent: use `events`.
   */
  readonly batches?: AsyncIterable<readonly PositionedEvent[]>;
}

export interface OpenTraceOptions {
  /** Check against this accounting generation instead of header.kernel.generation. */
  readonly generation?: Generation;
  /**
   * Read JSON Lines on a thread of their own (traces/jsonl-thread.ts). Default: for files of
   * READER_THREAD_BYTES or more (the thread takes 0.2-0.4 s to start: on a smaller file it costs
   * more than it saves; the threshold itself is not tuned).
   */
  readonly readerThread?: boolean;
}

const READER_THREAD_BYTES = 4 << 20;

type OpenFtrace = (path: string, opts?: OpenTraceOptions) => Promise<TraceStream>;

/** Open a trace file of any supported form; the header has been read and checked when this resolves. */
export async function openTrace(path: string, opts: OpenTraceOptions = {}): Promise<TraceStream> {
  if (/\.ftrace(\.|$)/.test(basename(path)) || /\.txt(\.gz)?$/.test(path)) return openFtraceFile(path, opts);
  const source = decodeFile(path);
  let head = '';
  let form: 'jsonl' | 'document' | 'ftrace' | undefined;
  let ended = false;
  try {
    while (form === undefined) {
      const next = await source.next();
      if (next.done) ended = true;
      else head += next.value;
      form = detect(path, head, ended);
    }
  } catch (e) {
    await source.return(undefined);
    if (e instanceof InputStreamError) throw new TraceInputError(positionAfter(path, head), e.message);
    throw e;
  }
  if (form === 'ftrace') {
    await source.return(undefined);
    return openFtraceFile(path, opts);
  }
  if (form === 'jsonl' && (opts.readerThread ?? (await fileSize(path)) >= READER_THREAD_BYTES)) {
    await source.return(undefined);
    return openJsonlThread(path, opts);
  }
  const chunks = prepend(head, ended ? emptyAsync() : source);
  if (form === 'jsonl') return openJsonl(path, chunks, opts);
  const items = readDocument(path, chunks);
  const first = await items.next();
  if (first.done || first.value.kind !== 'header') throw new Error('trace reader: no header'); // readers throw before this
  const header = opts.generation ? { ...first.value.header, kernel: { ...first.value.header.kernel, generation: opts.generation } } : first.value.header;
  return { header, events: once(path, eventsOf(items)) };
}

/** Read a whole trace into memory (tests, small traces). */
export async function readTrace(path: string, opts: OpenTraceOptions = {}): Promise<{ header: TraceHeader; events: PositionedEvent[] }> {
  const t = await openTrace(path, opts);
  const events: PositionedEvent[] = [];
  for await (const e of t.events) events.push(e);
  return { header: t.header, events };
}

// ---- form detection ---------------------------------------------------------------------------

const DETECT_LIMIT = 1 << 20;

/**
 * Which form the text starting with `head` is, or undefined to read more. JSON Lines when the first
 * field of the first object is not "header"/"events" (a JSONL header begins with "format"; a line
 * without a header is reported by the JSONL reader); when the first field cannot be seen yet, JSON
 * Lines if the first line is a complete JSON object with `format`, otherwise a JSON document.
 */
function detect(path: string, head: string, ended: boolean): 'jsonl' | 'document' | 'ftrace' | undefined {
  const start = head.search(/\S/);
  if (start < 0) {
    if (!ended) return undefined;
    throw new TraceInputError({ file: path, line: 1, column: 1 }, 'empty file: expected a trace (a JSON Lines header line, a JSON document {"header": ..., "events": [...]} or ftrace text)');
  }
  const nl = head.indexOf('\n', start);
  const firstLine = (nl < 0 ? head.slice(start) : head.slice(start, nl)).replace(/\r$/, '');
  if (firstLine.startsWith('# tracer:')) return 'ftrace';
  if (nl < 0 && !ended && head.length - start < 9 && '# tracer:'.startsWith(firstLine)) return undefined;
  if (head[start] !== '{') {
    const at = positionIn(head, start, 1, 1);
    throw new TraceInputError(
      { file: path, ...at },
      `not a trace: found ${describeStart(head.charCodeAt(start))}; expected a JSON Lines header {"format": "trollcount-trace", ...}, a JSON document {"header": ..., "events": [...]} or ftrace text ("# tracer: ...")`,
    );
  }
  const key = /^\{\s*"((?:[^"\\\n]|\\.)*)"/.exec(head.slice(start));
  if (key) return key[1] === 'header' || key[1] === 'events' ? 'document' : 'jsonl';
  if (nl < 0 && !ended && head.length < DETECT_LIMIT) return undefined;
  try {
    const v: unknown = JSON.parse(firstLine);
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && 'format' in v) return 'jsonl';
  } catch {
    // not a complete object on one line
  }
  return 'document';
}

function describeStart(c: number): string {
  if (c === 0x5b) return "'[' (a bare JSON array has no header)";
  if (c < 0x20 || c === 0x7f || c === 0xfffd || c === 0) return `binary data (character U+${c.toString(16).toUpperCase().padStart(4, '0')})`;
  return `'${String.fromCharCode(c)}'`;
}

// ---- JSON Lines -------------------------------------------------------------------------------

type Item = { kind: 'header'; header: TraceHeader; at: Position } | { kind: 'event'; event: PositionedEvent };

/**
 * The JSON Lines parser: synchronous, fed with the text in chunks. Lines are numbered from 1; the
 * header is the first non-blank line; every problem throws TraceInputError at the offending line
 * (the events of the lines before it are already in `out`).
 */
class JsonlParser {
  lineNo = 0;
  partial = '';
  header: TraceHeader | undefined;
  constructor(
    readonly file: string,
    private readonly sink?: JsonlSink,
  ) {}

  /** The complete lines of `chunk` (with what was left of the previous chunk); the rest waits. */
  feed(chunk: string, out: PositionedEvent[]): void {
    let from = 0;
    let nl = chunk.indexOf('\n');
    if (nl < 0) {
      this.partial += chunk;
      return;
    }
    if (this.partial) {
      const text = this.partial + chunk.slice(0, nl);
      this.partial = '';
      from = nl + 1;
      this.take(text, out);
      nl = chunk.indexOf('\n', from);
    }
    for (; nl >= 0; nl = chunk.indexOf('\n', from)) {
      const text = chunk.slice(from, nl);
      from = nl + 1;
      this.take(text, out);
    }
    this.partial = chunk.slice(from);
  }

  /** The end of the input: the last line without a newline; a file without a header is an error. */
  end(out: PositionedEvent[]): void {
    const rest = this.partial;
    this.partial = '';
    if (rest.length) this.take(rest, out);
    if (!this.header) throw new TraceInputError({ file: this.file, line: 1, column: 1 }, 'empty file: expected the trace header line {"format": "trollcount-trace", ...}');
  }

  private take(text: string, out: PositionedEvent[]): void {
    const file = this.file;
    const lineNo = ++this.lineNo;
    const line = text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text;
    const start = line.charCodeAt(0) === 123 /* { */ ? 0 : line.search(/\S/);
    if (start < 0) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw syntaxError(file, line, lineNo, e);
    }
    if (this.header === undefined) {
      const column = start + 1;
      const isEvent = typeof value === 'object' && value !== null && 'ev' in value && !('format' in value);
      if (isEvent)
        throw new TraceInputError({ file, line: lineNo, column }, 'header missing: the first line is an event; a JSON Lines trace starts with the header {"format": "trollcount-trace", "version": 1, ...}');
      const p = headerProblem(value);
      if (p) throw new TraceInputError(locate(file, line, lineNo, p.path, p.atKey), p.what);
      this.header = value as TraceHeader;
      this.sink?.header(this.header);
      return;
    }
    const p = eventProblem(value);
    if (p) throw new TraceInputError(locate(file, line, lineNo, p.path, p.atKey), p.what);
    if (this.sink) this.sink.event(lineNo, value);
    else out.push({ event: value as PositionedEvent['event'], at: { file, line: lineNo } });
  }
}

/**
 * Where the reader thread (traces/jsonl-thread-worker.ts) wants a JSON Lines file: the header, then
 * each event in order as JSON.parse made it and the schema passed it (no PositionedEvent objects
 * for it to walk past); `chunkDone` after each chunk of input.
 */
export interface JsonlSink {
  header(header: TraceHeader): void;
  event(lineNo: number, value: unknown): void;
  chunkDone(): Promise<void>;
}

/** Read a JSON Lines file into `sink`; input errors are thrown as openTrace's reader throws them, after the events before them. */
export async function readJsonlInto(path: string, sink: JsonlSink): Promise<void> {
  const parser = new JsonlParser(path, sink);
  const chunks = decodeFile(path);
  const none: PositionedEvent[] = [];
  try {
    for (;;) {
      const r = await nextChunk(parser, chunks);
      if (r.done) return parser.end(none);
      parser.feed(r.value, none);
      await sink.chunkDone();
    }
  } finally {
    await chunks.return(undefined);
  }
}

/** Read up to the header (openTrace resolves with it), then the events in batches. */
async function openJsonl(path: string, chunks: AsyncGenerator<string>, opts: OpenTraceOptions): Promise<TraceStream> {
  const parser = new JsonlParser(path);
  const first: PositionedEvent[] = [];
  let deferred: { error: unknown } | undefined;
  let ended = false;
  try {
    while (parser.header === undefined) {
      const r = await nextChunk(parser, chunks);
      if (r.done) {
        ended = true;
        parser.end(first);
        break;
      }
      try {
        parser.feed(r.value, first);
      } catch (e) {
        // an error after the header belongs to the events: thrown when they are read that far
        if (parser.header === undefined) throw e;
        deferred = { error: e };
      }
    }
  } catch (e) {
    await chunks.return(undefined);
    throw e;
  }
  const h = parser.header!;
  const header = opts.generation ? { ...h, kernel: { ...h.kernel, generation: opts.generation } } : h;
  return streamOf(path, header, jsonlBatches(parser, chunks, first, deferred, ended));
}

async function nextChunk(parser: JsonlParser, chunks: AsyncGenerator<string>): Promise<IteratorResult<string>> {
  try {
    return await chunks.next();
  } catch (e) {
    if (e instanceof InputStreamError) throw new TraceInputError({ file: parser.file, line: parser.lineNo + 1, column: parser.partial.length + 1 }, e.message);
    throw e;
  }
}

async function* jsonlBatches(
  parser: JsonlParser,
  chunks: AsyncGenerator<string>,
  first: PositionedEvent[],
  deferred: { error: unknown } | undefined,
  ended: boolean,
): AsyncGenerator<PositionedEvent[]> {
  try {
    if (first.length) yield first;
    if (deferred) throw deferred.error;
    if (ended) return;
    for (;;) {
      const r = await nextChunk(parser, chunks);
      const out: PositionedEvent[] = [];
      try {
        if (r.done) parser.end(out);
        else parser.feed(r.value, out);
      } catch (e) {
        if (out.length) yield out;
        throw e;
      }
      if (out.length) yield out;
      if (r.done) return;
    }
  } finally {
    await chunks.return(undefined);
  }
}

function syntaxError(file: string, line: string, lineNo: number, parseError: unknown): TraceInputError {
  try {
    checkJsonText(line, lineNo, 1);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      const what = e.what.startsWith('unexpected end of input') ? e.what.replace('unexpected end of input', 'the line ends early (truncated?)') : e.what;
      return new TraceInputError({ file, line: e.line, column: e.column }, `malformed JSON: ${what}`);
    }
  }
  return new TraceInputError({ file, line: lineNo, column: 1 }, `malformed JSON: ${(parseError as Error).message}`);
}

function locate(file: string, text: string, line: number, path: readonly string[], atKey = false, column = 1): Position {
  const offset = locateInJson(text, path, atKey);
  return { file, ...positionIn(text, offset, line, column) };
}

// ---- JSON document ----------------------------------------------------------------------------

async function* readDocument(file: string, chunks: AsyncIterable<string>): AsyncGenerator<Item> {
  const reader = new TraceDocumentReader();
  try {
    for await (const item of reader.read(chunks)) {
      const at = { file, line: item.line, column: item.column };
      if (item.kind === 'header') {
        const p = headerProblem(item.value);
        if (p) throw new TraceInputError(locate(file, item.text, item.line, p.path, p.atKey, item.column), p.what);
        yield { kind: 'header', header: item.value as TraceHeader, at };
      } else {
        const p = eventProblem(item.value);
        if (p) throw new TraceInputError(locate(file, item.text, item.line, p.path, p.atKey, item.column), p.what);
        yield { kind: 'event', event: { event: item.value as PositionedEvent['event'], at } };
      }
    }
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new TraceInputError({ file, line: e.line, column: e.column }, e.what);
    if (e instanceof InputStreamError) throw new TraceInputError({ file, ...reader.position() }, e.message);
    throw e;
  }
}

// ---- plumbing ---------------------------------------------------------------------------------

async function* eventsOf(items: AsyncGenerator<Item>): AsyncGenerator<PositionedEvent> {
  for await (const item of items) if (item.kind === 'event') yield item.event;
}

function once<T>(path: string, gen: AsyncGenerator<T>): AsyncIterable<T> {
  let used = false;
  return {
    [Symbol.asyncIterator]() {
      if (used) throw new Error(`the events of ${path} can be iterated only once`);
      used = true;
      return gen;
    },
  };
}

async function* prepend(head: string, rest: AsyncIterator<string>): AsyncGenerator<string> {
  try {
    if (head) yield head;
    for (;;) {
      const n = await rest.next();
      if (n.done) return;
      yield n.value;
    }
  } finally {
    await rest.return?.(undefined);
  }
}

async function* emptyAsync(): AsyncGenerator<string> {}

function positionAfter(file: string, text: string): Position {
  return { file, ...positionIn(text, text.length, 1, 1) };
}

async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * The file's text in chunks: gunzipped when it starts with the gzip magic bytes, decoded as UTF-8
 * (strictly: bytes that are not UTF-8 are an error, binary data is not silently turned into U+FFFD).
 * Problems of the byte source are InputStreamError, thrown after the text decoded before them.
 */
async function* decodeFile(path: string): AsyncGenerator<string> {
  let magic: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0);
      magic = buffer.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new InputStreamError(`cannot read the trace file: ${(e as Error).message}`);
  }
  const gzip = magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  if (!gzip && path.endsWith('.gz') && magic.length > 0) {
    if (magic.length === 1 && magic[0] === 0x1f) throw new InputStreamError('gzip stream cut short (the file ends inside the gzip header): the trace is truncated');
    throw new InputStreamError('not gzip data, although the file name ends in .gz');
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 16 });
  let stream: Readable = raw;
  if (gzip) {
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    stream = raw.pipe(gunzip);
  }
  // Made at the first chunk that is not ASCII: a byte order mark is dropped only at the very start.
  let decoder: TextDecoder | undefined;
  let started = false;
  /** The decoder holds no bytes of a character cut at the end of the last chunk. */
  let clean = true;
  try {
    for await (const buf of stream) {
      const b = buf as Buffer;
      // ASCII (a trace is, but for the odd comm or marker) is its own UTF-8: as latin1, ~10x faster than TextDecoder
      if (clean && isAscii(b)) yield b.toString('latin1');
      else {
        decoder ??= new TextDecoder('utf-8', { fatal: true, ignoreBOM: started });
        yield decodeChunk(decoder, b);
        clean = b.length === 0 || b[b.length - 1]! < 0x80;
      }
      started ||= b.length > 0;
    }
    const rest = decoder ? decodeChunk(decoder, undefined) : '';
    if (rest) yield rest;
  } catch (e) {
    if (e instanceof BadUtf8) {
      if (e.valid) yield e.valid;
      throw new InputStreamError('invalid UTF-8 (binary data?): a trace is text');
    }
    throw new InputStreamError(streamProblem(e as NodeJS.ErrnoException));
  } finally {
    raw.destroy();
    if (stream !== raw) stream.destroy();
  }
}

class BadUtf8 extends Error {
  constructor(readonly valid: string) {
    super('invalid UTF-8');
  }
}

function decodeChunk(decoder: TextDecoder, buf: Buffer | undefined): string {
  try {
    return buf ? decoder.decode(buf, { stream: true }) : decoder.decode();
  } catch {
    // the text before the first bad byte (approximately: a sequence split across chunks may shift it)
    const lenient = buf ? new TextDecoder('utf-8').decode(buf) : '';
    const bad = lenient.indexOf('\ufffd');
    throw new BadUtf8(bad > 0 ? lenient.slice(0, bad) : '');
  }
}

function streamProblem(e: NodeJS.ErrnoException): string {
  if (e.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(e.message)) return 'gzip stream cut short (unexpected end of file): the trace is truncated';
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return `corrupt gzip data (${e.message})`;
  return `cannot read the trace file: ${e.message}`;
}

async function openFtraceFile(path: string, opts: OpenTraceOptions): Promise<TraceStream> {
  // loaded lazily: the converter and its probe tables are only needed for ftrace text
  const { openFtrace }: { openFtrace: OpenFtrace } = await import('./ftrace/convert.ts');
  return openFtrace(path, opts);
}
