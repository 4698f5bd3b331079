import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { PositionedEvent, TraceHeader } from './events.ts';

/** One line of an input file, numbered from 1. */
export interface Line {
  readonly text: string;
  readonly line: number;
}

/** Open a file as a byte stream, gunzipped when its name ends in .gz. */
export function openStream(path: string, highWaterMark?: number): Readable {
  const raw = createReadStream(path, highWaterMark ? { highWaterMark } : undefined);
  if (!path.endsWith('.gz')) return raw;
  const gunzip = createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

/** Line breaks as readline (crlfDelay: Infinity) splits them: \r\n, \n, or a lone \r. */
const BREAK = /\r\n|\n|\r/;

/**
 * The file's lines in arrays, one array per chunk read (the lines that chunk completed): a large
 * file is never loaded whole, and a consumer handles a chunk's lines synchronously (one await per
 * chunk). A byte-level splitter over Buffer chunks: the bytes up to the chunk's last '\n' are
 * decoded at once as UTF-8 (a '\n' byte is never inside a multi-byte sequence), the bytes after
 * it wait for the next chunk. Lines break as readline breaks them (\r\n, \n or a lone \r), without
 * the break. A gzip stream cut short surfaces as an error from the iterator (zlib's "unexpected
 * end of file"), after the lines before it, not as silent EOF.
 */
export async function* readLineChunks(path: string): AsyncGenerator<string[]> {
  const stream = openStream(path, 1 << 18);
  let rest: Buffer | undefined;
  try {
    for await (const chunk of stream) {
      let buf = chunk as Buffer;
      const nl = buf.lastIndexOf(10);
      if (nl < 0) {
        rest = rest ? Buffer.concat([rest, buf]) : buf;
        continue;
      }
      if (rest) {
        buf = Buffer.concat([rest, buf]);
        rest = undefined;
      }
      const end = buf.length - (chunk as Buffer).length + nl + 1;
      // the break is \r\n when the '\n' follows a '\r'
      const text = buf.toString('utf8', 0, end >= 2 && buf[end - 2] === 13 ? end - 2 : end - 1);
      if (end < buf.length) rest = buf.subarray(end);
      yield splitText(text);
    }
    if (rest && rest.length) {
      const lines = splitText(rest.toString('utf8'));
      if (lines[lines.length - 1] === '') lines.pop(); // a lone \r at the very end
      yield lines;
    }
  } finally {
    stream.destroy();
  }
}

/** `text` (no break at its end) split at every break. */
function splitText(text: string): string[] {
  if (text.indexOf('\r') >= 0) return text.split(BREAK);
  const out: string[] = [];
  let from = 0;
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
    out.push(text.slice(from, nl));
    from = nl + 1;
  }
  out.push(text.slice(from));
  return out;
}

/**
 * The file's lines as a stream: a large file is never loaded whole. A gzip stream cut short
 * surfaces as an error from the iterator (zlib's "unexpected end of file"), not as silent EOF.
 */
export async function* readLines(path: string): AsyncGenerator<Line> {
  let line = 0;
  for await (const texts of readLineChunks(path)) for (const text of texts) yield { text, line: ++line };
}

/**
 * A trace stream over batches of events (traces/reader.ts TraceStream): `events` and `batches`
 * share one iteration (either, once).
 */
export function streamOf(
  path: string,
  header: TraceHeader,
  batches: AsyncGenerator<readonly PositionedEvent[]>,
): { header: TraceHeader; events: AsyncIterable<PositionedEvent>; batches: AsyncIterable<readonly PositionedEvent[]> } {
  let used = false;
  const take = (): void => {
    if (used) throw new Error(`the events of ${path} can be iterated only once`);
    used = true;
  };
  return {
    header,
    events: {
      [Symbol.asyncIterator]() {
        take();
        return flatten(batches);
      },
    },
    batches: {
      [Symbol.asyncIterator]() {
        take();
        return batches;
      },
    },
  };
}

async function* flatten<T>(batches: AsyncIterable<readonly T[]>): AsyncGenerator<T> {
  for await (const batch of batches) yield* batch;
}
