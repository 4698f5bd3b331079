import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TraceInputError } from '../traces/events.ts';
import { PROBE_TABLES } from '../traces/ftrace/probes.ts';
import { RegionPipeline, type Output } from '../traces/ftrace/pipeline.ts';

/**
 * The conversion region by region (traces/ftrace/pipeline.ts) writes what it writes for the whole
 * text as one region: the same bytes in the same order, the same counts (kinds in the order they
 * first came), and at a bad line the same lines before it and the same error, its line counted
 * across the regions before.
 */

const REAL = join(import.meta.dirname, '../traces/fixtures/real');
const text = (name: string): string => gunzipSync(readFileSync(join(REAL, `${name}.ftrace.gz`))).toString('utf8');

/** The text cut into regions of about `size` bytes, at line ends. */
function regions(t: string, size: number): Buffer[] {
  const bytes = Buffer.from(t);
  const out: Buffer[] = [];
  for (let from = 0; from < bytes.length; ) {
    const nl = bytes.indexOf(10, Math.min(from + size, bytes.length - 1));
    const end = nl < 0 ? bytes.length : nl + 1;
    out.push(bytes.subarray(from, end));
    from = end;
  }
  return out;
}

/** An output that keeps copies (the pipeline reuses its buffers once written). */
class Collect implements Output {
  readonly chunks: Buffer[] = [];
  async write(bytes: Buffer): Promise<void> {
    this.chunks.push(Buffer.from(bytes));
  }
}

async function convert(gen: '6.1' | '6.12', parts: Buffer[]) {
  const out = new Collect();
  const pipeline = new RegionPipeline('t.ftrace', PROBE_TABLES[gen], out);
  let error: unknown;
  try {
    // the reader hands out each region in a buffer it then reuses: so does this test
    for (const part of parts) {
      const reused = Buffer.from(part);
      await pipeline.add(reused);
      reused.fill(0x23);
    }
    await pipeline.finish();
  } catch (e) {
    error = e;
  }
  return { bytes: Buffer.concat(out.chunks).toString('utf8'), error, counts: JSON.stringify(pipeline.counts) };
}

describe('regions write what the whole text as one region writes', () => {
  for (const [gen, name] of [['6.1', '6.1-thp-fork-cow'], ['6.12', '6.12-split-folio']] as const) {
    it(`${name}: the same JSON lines and counts`, async () => {
      const t = text(name);
      const whole = await convert(gen, [Buffer.from(t)]);
      const parts = await convert(gen, regions(t, 16 << 10));
      expect(whole.error).toBeUndefined();
      expect(parts.error).toBeUndefined();
      expect(parts.bytes).toBe(whole.bytes);
      expect(parts.counts).toBe(whole.counts);
    });
  }

  it('a bad line anywhere: the same lines before it, the same error at the same file line', async () => {
    const lines = text('6.12-thp-fork-cow').split('\n');
    const bad = ['garbage', '  a-1 (    1) [000] d.... 1.0: folio_remove_rmap_ptes: (folio_remove_rmap_ptes+0x0/0x520) folio=zz', '  a-1 (    1) [000] d.... 1.0: sched_process_fork: comm=a child_pid=x'];
    await fc.assert(
      fc.asyncProperty(fc.nat(lines.length - 1), fc.constantFrom(...bad), fc.integer({ min: 1, max: 64 }), async (at, line, kb) => {
        const t = [...lines.slice(0, at), line, ...lines.slice(at)].join('\n');
        const whole = await convert('6.12', [Buffer.from(t)]);
        const parts = await convert('6.12', regions(t, kb << 10));
        expect(whole.error).toBeInstanceOf(TraceInputError);
        expect((whole.error as TraceInputError).at.line).toBe(at + 1);
        expect(parts.error).toBeInstanceOf(TraceInputError);
        expect((parts.error as TraceInputError).message).toBe((whole.error as TraceInputError).message);
        expect((parts.error as TraceInputError).at).toEqual((whole.error as TraceInputError).at);
        expect(parts.bytes).toBe(whole.bytes);
      }),
      { numRuns: 12 },
    );
  });
});
