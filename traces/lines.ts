import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

/** One line of an input file, numbered from 1. */
export interface Line {
  readonly text: string;
  readonly line: number;
}

/** Open a file as a byte stream, gunzipped when its name ends in .gz. */
export function openStream(path: string): Readable {
  const raw = createReadStream(path);
  if (!path.endsWith('.gz')) return raw;
  const gunzip = createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

/**
 * The file's lines as a stream: a large file is never loaded whole. A gzip stream cut short
 * surfaces as an error from the iterator (zlib's "unexpected end of file"), not as silent EOF.
 */
export async function* readLines(path: string): AsyncGenerator<Line> {
  const rl = createInterface({ input: openStream(path), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) yield { text, line: ++line };
}
