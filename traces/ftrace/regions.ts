import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { openStream } from '../lines.ts';
import { TraceInputError } from '../events.ts';

/**
 * An ftrace file as regions of whole lines, in bytes: the converter works on the bytes (no string
 * per line). Two buffers take turns: while the caller converts the region handed out from one, the
 * next bytes are read into the other (a plain file straight from the file, a .gz one from zlib), so
 * reading overlaps converting. A region ends at the last '\n' read; the bytes after it start the
 * next one. A region is valid until the next call of next().
 *
 * Lines break as readline breaks them (\r\n, \n or a lone \r), as traces/lines.ts readLineChunks
 * does for the other readers: lineEnd() and nextLineStart() split a region.
 */

/**
 * Bytes read at a time; a longer line grows the buffers. Measured on the 1M-line bench trace
 * against 1 MB (3 alternations each): 4 MB took more CPU (~1.4 s against ~1.0 s, most of it system
 * time: the buffers are fresh memory, and on this VM a fresh page costs ~12 us), 256 KB no less,
 * 512 KB ~5% less.
 */
const READ_SIZE = 1 << 19;

/** Where the bytes come from. */
interface ByteSource {
  /** Up to `len` bytes into buf[off..]; 0 at the end. */
  read(buf: Buffer, off: number, len: number): Promise<number>;
  close(): Promise<void>;
}

class FileSource implements ByteSource {
  private fh: FileHandle | undefined;
  constructor(private readonly path: string) {}

  async read(buf: Buffer, off: number, len: number): Promise<number> {
    this.fh ??= await open(this.path, 'r');
    return (await this.fh.read(buf, off, len, null)).bytesRead;
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}

/** A .gz file through zlib (traces/lines.ts openStream): its chunks are copied in. */
class GzipSource implements ByteSource {
  private readonly stream: Readable;
  private readonly chunks: AsyncIterator<Buffer>;
  /** The part of a chunk that did not fit. */
  private spill: Buffer | undefined;
  /** A failure of the stream, thrown once the bytes before it are handed out. */
  private failure: unknown;

  constructor(path: string) {
    this.stream = openStream(path, 1 << 18);
    this.chunks = this.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async read(buf: Buffer, off: number, len: number): Promise<number> {
    if (this.failure !== undefined) throw this.failure;
    let n = 0;
    while (n < len) {
      let chunk = this.spill;
      this.spill = undefined;
      if (!chunk) {
        let r: IteratorResult<Buffer>;
        try {
          r = await this.chunks.next();
        } catch (e) {
          if (n === 0) throw e;
          this.failure = e;
          break;
        }
        if (r.done) break;
        chunk = r.value;
      }
      const take = Math.min(chunk.length, len - n);
      chunk.copy(buf, off + n, 0, take);
      if (take < chunk.length) this.spill = chunk.subarray(take);
      n += take;
    }
    return n;
  }

  async close(): Promise<void> {
    this.stream.destroy();
  }
}

export class ByteRegions {
  /** The buffer the last region was handed out from. */
  private front: Buffer;
  /** The buffer being filled: back[0, filled) is read and not handed out. */
  private back: Buffer;
  private filled = 0;
  /** The read into back[filled..] in flight. */
  private reading: Promise<number> | undefined;
  private eof = false;
  private readonly source: ByteSource;

  /**
   * Open `path` (gunzipped when it ends in .gz), to read `readSize` bytes at a time (tests make it
   * small). Failures surface from next(), as read errors.
   */
  constructor(
    path: string,
    private readonly readSize = READ_SIZE,
  ) {
    this.source = path.endsWith('.gz') ? new GzipSource(path) : new FileSource(path);
    this.front = Buffer.allocUnsafe(2 * readSize);
    this.back = Buffer.allocUnsafe(2 * readSize);
  }

  /** The next region of whole lines (the last one may lack its final break), or undefined at the end. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (!this.reading && !this.eof) this.readMore();
      if (this.reading) {
        const n = await this.reading;
        this.reading = undefined;
        if (n === 0) this.eof = true;
        this.filled += n;
      }
      const nl = this.filled > 0 ? this.back.lastIndexOf(10, this.filled - 1) : -1;
      if (nl >= 0) return this.handOut(nl + 1);
      if (this.eof) return this.filled > 0 ? this.handOut(this.filled) : undefined;
    }
  }

  /** back[0, end) becomes the region; the bytes after it move to the other buffer, where the next read goes on. */
  private handOut(end: number): Buffer {
    const full = this.back;
    const rest = this.filled - end;
    this.back = this.front;
    this.front = full;
    if (rest + this.readSize > this.back.length) this.back = Buffer.allocUnsafe(Math.max(this.back.length * 2, rest + this.readSize));
    full.copy(this.back, 0, end, this.filled);
    this.filled = rest;
    if (!this.eof) this.readMore();
    return full.subarray(0, end);
  }

  /** Start reading after back[0, filled), growing back when a line fills it. */
  private readMore(): void {
    if (this.filled + this.readSize > this.back.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.back.length * 2, this.filled + this.readSize));
      this.back.copy(bigger, 0, 0, this.filled);
      this.back = bigger;
    }
    this.reading = this.source.read(this.back, this.filled, Math.min(this.readSize, this.back.length - this.filled));
    this.reading.catch(() => {}); // awaited by next(); a failure must not count as unhandled meanwhile
  }

  async close(): Promise<void> {
    await this.reading?.catch(() => {});
    await this.source.close();
  }
}

/**
 * A failure of the byte source (a missing file, a directory, gzip cut short or corrupt, I/O) as a
 * TraceInputError at `line`, the first line not read: never a raw zlib or fs error.
 */
export function readError(e: unknown, path: string, line: number): TraceInputError {
  if (e instanceof TraceInputError) return e;
  const err = e as NodeJS.ErrnoException;
  const what =
    err.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(err.message)
      ? 'gzip stream cut short (unexpected end of file): the trace is truncated'
      : typeof err.code === 'string' && err.code.startsWith('Z_')
        ? `corrupt gzip data (${err.message})`
        : `cannot read the trace file: ${err.message}`;
  return new TraceInputError({ file: path, line, column: 1 }, what);
}

/*
 * Splitting a region into lines:
 *   const cr = region.indexOf(13) >= 0;
 *   for (let s = 0; s < region.length; ) { const e = lineEnd(region, s, cr); ...; s = nextLineStart(region, e); }
 * A region that ends with a break has no empty line after it.
 */

/** End of the line starting at `s`, before its break: the next '\n', or also '\r' when `cr` (the region has one). */
export function lineEnd(region: Buffer, s: number, cr: boolean): number {
  if (!cr) {
    const e = region.indexOf(10, s);
    return e < 0 ? region.length : e;
  }
  let e = s;
  while (e < region.length && region[e] !== 10 && region[e] !== 13) e++;
  return e;
}

/** Start of the line after the one ending at `e` (\r\n is one break). */
export function nextLineStart(region: Buffer, e: number): number {
  return region[e] === 13 && region[e + 1] === 10 ? e + 2 : e + 1;
}
