import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { synthesize, syntheticHeader } from '../bench/generate.ts';
import { TraceInputError, type PositionedEvent, type TraceHeader } from '../traces/events.ts';
import { openTrace } from '../traces/reader.ts';
import { tempFiles } from './helpers.ts';

/**
 * A JSON Lines trace read on its own thread (traces/jsonl-thread.ts) gives what the main-thread
 * reader gives: the same header, the same events at the same lines, and the same input error
 * (file:line:column and words) after the same events, whatever is wrong with the file.
 */

const { file } = tempFiles('trollcount-thread-');

interface Read {
  readonly header?: TraceHeader;
  readonly events: PositionedEvent[];
  readonly error?: string;
}

async function read(path: string, readerThread: boolean): Promise<Read> {
  const events: PositionedEvent[] = [];
  let header: TraceHeader | undefined;
  try {
    const t = await openTrace(path, { readerThread });
    header = t.header;
    for await (const batch of t.batches!) events.push(...batch);
    return { header, events };
  } catch (e) {
    // anything but an input error fails the comparison with its own words
    return { header, events, error: e instanceof TraceInputError ? e.message : `not a TraceInputError: ${String(e)}` };
  }
}

async function expectSameBothWays(path: string): Promise<Read> {
  const main = await read(path, false);
  const thread = await read(path, true);
  expect(thread.error).toBe(main.error);
  expect(thread.header).toEqual(main.header);
  expect(thread.events.length).toBe(main.events.length);
  expect(thread.events).toEqual(main.events);
  return main;
}

const FIXTURES = new URL('../traces/fixtures/', import.meta.url).pathname;

describe('the reader thread', () => {
  it('reads every JSON Lines fixture as the main thread does', async () => {
    for (const dir of ['', 'contradictions/']) {
      for (const f of readdirSync(FIXTURES + dir).filter((x) => x.endsWith('.jsonl'))) await expectSameBothWays(FIXTURES + dir + f);
    }
  });

  it('gives the same events, positions and error for damaged synthetic traces (truncated, garbled, invalid, CRLF, gzip)', async () => {
    const damage = fc.record({
      seed: fc.nat(1000),
      events: fc.integer({ min: 1, max: 1500 }),
      cut: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
      garble: fc.option(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom('{', '"x', '}', ',', '\u0000', '{"ev":"kcall"}', '{"ev":"nope"}', '{"ev":"lost","count":-1}', ''))),
      crlf: fc.boolean(),
      gzip: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(damage, async (d) => {
        const o = { workload: 'mixed' as const, events: d.events, seed: d.seed };
        const lines = [JSON.stringify(syntheticHeader(o)), ...[...synthesize(o)].map((e) => JSON.stringify(e))];
        if (d.garble) lines[1 + Math.floor(d.garble[0] * (lines.length - 1))] = d.garble[1];
        let text = lines.join(d.crlf ? '\r\n' : '\n') + '\n';
        if (d.cut !== null) text = text.slice(0, Math.floor(d.cut * text.length));
        const bytes = d.gzip ? gzipSync(text) : Buffer.from(text);
        const cutBytes = d.gzip && d.cut !== null ? bytes.subarray(0, Math.max(2, Math.floor(bytes.length * 0.9))) : bytes;
        await expectSameBothWays(file(cutBytes, d.gzip ? 'trace.jsonl.gz' : 'trace.jsonl'));
      }),
      { numRuns: 12 },
    );
  });

  it('opts.generation overrides the header on the reader thread too', async () => {
    const t = await openTrace(FIXTURES + 'kcalls-6.1-dropped.jsonl', { generation: '6.12', readerThread: true });
    expect(t.header.kernel.generation).toBe('6.12');
    for await (const batch of t.batches!) expect(batch.length).toBeGreaterThan(0);
  });

  it('a stream left after one batch, or never read, does not keep the process alive', () => {
    const o = { workload: 'mixed' as const, events: 20000, seed: 1 };
    const big = file([JSON.stringify(syntheticHeader(o)), ...[...synthesize(o)].map((e) => JSON.stringify(e))].join('\n') + '\n');
    const script = `
      const { openTrace } = await import(${JSON.stringify(new URL('../traces/reader.ts', import.meta.url).pathname)});
      const left = await openTrace(process.argv[2], { readerThread: true });
      const t = await openTrace(process.argv[2], { readerThread: true });
      for await (const batch of t.batches) { console.log('batch', batch.length > 0); break; }
      console.log('done', left.header.format);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', file(script, 'leave.mts'), big], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('batch true\ndone trollcount-trace\n');
    expect(r.status).toBe(0);
  });
});
