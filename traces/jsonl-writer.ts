import { createWriteStream } from 'node:fs';
import { finished, pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { TraceEvent, TraceHeader } from './events.ts';
import { validateEvent, validateHeader } from './schema.ts';

/**
 * Writes a trace as JSON Lines: the header line, then one event per line; gzip-compressed when the
 * path ends in `.gz`. Everything written is checked against specs/trace.schema.json first (a bad
 * event is a TraceInputError naming the line it would have had), so what this writes reads back.
 *
 * Backpressure: `header()` and `event()` return a promise that resolves when the stream can take
 * more; a producer of many events awaits it, a producer of a few may ignore it (it never rejects).
 * A write error is thrown by the next call and by `close()`, which must be awaited.
 */
export class JsonlWriter {
  private readonly out: Writable;
  private readonly done: Promise<void>;
  private failure: Error | undefined;
  private line = 0;
  private headerWritten = false;
  private closed = false;

  constructor(readonly path: string) {
    const file = createWriteStream(path);
    if (path.endsWith('.gz')) {
      const gzip = createGzip();
      this.out = gzip;
      this.done = pipeline(gzip, file);
    } else {
      this.out = file;
      this.done = finished(file);
    }
    this.done.catch((e: Error) => {
      this.failure ??= e;
    });
  }

  /** The header: first, once. */
  header(h: TraceHeader): Promise<void> {
    if (this.headerWritten) throw new Error(`${this.path}: the trace header is written once, first`);
    validateHeader(h, { file: this.path, line: this.line + 1 });
    this.headerWritten = true;
    return this.write(h);
  }

  event(e: TraceEvent): Promise<void> {
    if (!this.headerWritten) throw new Error(`${this.path}: write the trace header before the events`);
    validateEvent(e, { file: this.path, line: this.line + 1 });
    return this.write(e);
  }

  /** Flush and close the file; rejects if anything failed to be written. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.out.end();
    }
    try {
      await this.done;
    } catch (e) {
      this.failure ??= e as Error;
    }
    if (this.failure) throw this.failure;
  }

  private write(value: TraceHeader | TraceEvent): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error(`${this.path}: write after close()`);
    this.line++;
    if (this.out.write(`${JSON.stringify(value)}\n`)) return Promise.resolve();
    return new Promise((resolve) => {
      const go = (): void => {
        this.out.off('drain', go);
        this.out.off('close', go);
        resolve();
      };
      this.out.on('drain', go);
      this.out.on('close', go);
    });
  }
}

/** A small trace as JSON Lines text (checked like JsonlWriter's output). */
export function formatJsonl(header: TraceHeader, events: Iterable<TraceEvent>): string {
  validateHeader(header, { file: '<jsonl>', line: 1 });
  const lines = [JSON.stringify(header)];
  for (const e of events) {
    validateEvent(e, { file: '<jsonl>', line: lines.length + 1 });
    lines.push(JSON.stringify(e));
  }
  return `${lines.join('\n')}\n`;
}
