import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readLineChunks } from '../traces/lines.ts';
import { ByteRegions, lineEnd, nextLineStart } from '../traces/ftrace/regions.ts';

/**
 * The converter reads ftrace text as byte regions of whole lines (traces/ftrace/regions.ts): its
 * lines, and so every line number it reports, must be those of the other readers
 * (traces/lines.ts readLineChunks: \r\n, \n and a lone \r break a line), whatever the read size, for
 * plain and gzipped files, with lines longer than a read.
 */

const TMP = mkdtempSync(join(tmpdir(), 'trollcount-regions-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let seq = 0;

async function regionLines(path: string, readSize: number): Promise<string[]> {
  const src = new ByteRegions(path, readSize);
  const lines: string[] = [];
  try {
    for (let region = await src.next(); region; region = await src.next()) {
      const cr = region.indexOf(13) >= 0;
      for (let s = 0; s < region.length; ) {
        const e = lineEnd(region, s, cr);
        lines.push(region.toString('utf8', s, e));
        s = nextLineStart(region, e);
      }
    }
  } finally {
    await src.close();
  }
  return lines;
}

async function readlineLines(path: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const chunk of readLineChunks(path)) lines.push(...chunk);
  return lines;
}

/** Text made of the bytes that matter to splitting: breaks of every kind, multi-byte and invalid UTF-8. */
const content = fc
  .array(fc.constantFrom('a', 'bc', ' ', '\n', '\r', '\r\n', '\n\n', 'é', '\u{1F600}', '\xff'), { maxLength: 200 })
  .map((parts) => Buffer.concat(parts.map((p) => (p === '\xff' ? Buffer.from([0xff]) : Buffer.from(p, 'utf8')))));

describe('byte regions of whole lines', () => {
  it('split into the lines readline gives, for any read size, plain or gzipped', async () => {
    await fc.assert(
      fc.asyncProperty(content, fc.integer({ min: 1, max: 64 }), fc.boolean(), async (bytes, readSize, gz) => {
        const path = join(TMP, `p${seq++}.ftrace${gz ? '.gz' : ''}`);
        writeFileSync(path, gz ? gzipSync(bytes) : bytes);
        expect(await regionLines(path, readSize)).toEqual(await readlineLines(path));
      }),
      { numRuns: 300 },
    );
  });

  it('a line longer than the buffers grows them', async () => {
    const long = 'x'.repeat(5000);
    const path = join(TMP, 'long.ftrace');
    writeFileSync(path, `a\n${long}\r\nb\n${long}${long}`);
    expect(await regionLines(path, 16)).toEqual(['a', long, 'b', long + long]);
  });

  it('a gzip stream cut short: the whole lines before the cut, then the error', async () => {
    const text = Array.from({ length: 4000 }, (_, i) => `line ${i} ${'y'.repeat(i % 50)}`).join('\n') + '\n';
    const gz = gzipSync(text);
    const path = join(TMP, 'cut.ftrace.gz');
    writeFileSync(path, gz.subarray(0, gz.length >> 1));
    const src = new ByteRegions(path, 256);
    const lines: string[] = [];
    let failure: unknown;
    try {
      for (let region = await src.next(); region; region = await src.next()) lines.push(...region.toString('utf8').split('\n').slice(0, -1));
    } catch (e) {
      failure = e;
    } finally {
      await src.close();
    }
    expect(String(failure)).toMatch(/unexpected end of file/);
    expect(lines.length).toBeGreaterThan(100);
    expect(lines).toEqual(text.split('\n').slice(0, lines.length));
  });
});
