import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ADVICE } from '../model/madvise.ts';
import { TraceInputError, type Position } from '../traces/events.ts';
import { EVENT_KINDS, OPERATION_TYPES, eventProblem, headerProblem, traceSchema, validateEvent, validateHeader } from '../traces/schema.ts';

const FIXTURES = new URL('../traces/fixtures/', import.meta.url);
const at: Position = { file: 'x.jsonl', line: 7 };
const header = {
  format: 'trollcount-trace',
  version: 1,
  kernel: { generation: '6.1' },
  geometry: { pageSize: 4096, pmdOrder: 9 },
  source: { kind: 'hand-written' },
};

/** The message validateEvent throws for `value`. */
function eventError(value: unknown): string {
  try {
    validateEvent(value, at);
  } catch (e) {
    expect(e).toBeInstanceOf(TraceInputError);
    expect((e as TraceInputError).at).toEqual(at);
    return (e as TraceInputError).message;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be invalid`);
}

describe('specs/trace.schema.json', () => {
  const defs = traceSchema['$defs'] as Record<string, { oneOf?: { $ref?: string; properties?: { type?: { const?: string } } }[] }>;

  it('lists exactly the event kinds of traces/events.ts and the MmOperation types, in discriminated branches', () => {
    const kinds = defs['event']!.oneOf!.map((b) => b.$ref!.replace('#/$defs/event_', ''));
    expect(kinds).toEqual([...EVENT_KINDS]);
    const types = defs['operation']!.oneOf!.map((b) => b.properties!.type!.const);
    expect(types).toEqual([...OPERATION_TYPES]);
    const madvise = defs['operation']!.oneOf!.find((b) => b.properties!.type!.const === 'MADVISE') as unknown as { properties: { advice: { enum: string[] } } };
    expect(madvise.properties.advice.enum).toEqual([...ADVICE]);
  });

  it('exposes header and event as $defs and validates a whole JSON document at the root', () => {
    expect(Object.keys(traceSchema['$defs'] as object)).toEqual(expect.arrayContaining(['header', 'event', 'operation', 'hex']));
    expect(traceSchema['required']).toEqual(['header', 'events']);
  });

  it('accepts the header and every event of every hand-written fixture', () => {
    const files = readdirSync(FIXTURES).filter((f) => /\.jsonl?$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const f of files) {
      const text = readFileSync(new URL(f, FIXTURES), 'utf8');
      const records = f.endsWith('.jsonl')
        ? text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown)
        : (() => {
            const doc = JSON.parse(text) as { header: unknown; events: unknown[] };
            return [doc.header, ...doc.events];
          })();
      const [h, ...events] = records;
      expect(headerProblem(h), f).toBeUndefined();
      expect((h as { source: { description?: string } }).source.description, `${f} says what it shows`).toBeTruthy();
      for (const e of events) expect(eventProblem(e), `${f}: ${JSON.stringify(e)}`).toBeUndefined();
    }
  });

  it('accepts a valid header and narrows the type', () => {
    const h: unknown = header;
    validateHeader(h, at);
    expect(h.kernel.generation).toBe('6.1');
  });

  it('names an unknown event kind and lists the known ones', () => {
    expect(eventError({ ev: 'xyz' })).toBe(
      "x.jsonl:7: unknown event kind 'xyz' (expected one of op, kcall, syscall, fault, sched, tracepoint, obs, step, marker, lost)",
    );
    expect(eventError({ count: 3 })).toMatch(/missing field 'ev' \(the event kind: one of op, kcall/);
    expect(eventError({ ev: 3 })).toMatch(/event kind must be a string/);
  });

  it('names an unknown operation type', () => {
    expect(eventError({ ev: 'op', op: { type: 'BRK', pid: 1 } })).toMatch(/unknown operation type 'BRK' in 'op.type' \(expected one of SPAWN, CREATE_FILE, MMAP/);
  });

  it('checks each operation exactly: required fields, types, no extra fields', () => {
    expect(eventError({ ev: 'op', op: { type: 'FAULT', pid: 1, addr: 4096 } })).toBe("x.jsonl:7: 'op' event (FAULT): missing field 'op.write' (true or false)");
    expect(eventError({ ev: 'op', op: { type: 'FAULT', pid: 1, addr: '0x1000', write: true } })).toMatch(/field 'op.addr' must be an integer \(got "0x1000"\)/);
    expect(eventError({ ev: 'op', op: { type: 'SPAWN', pid: 1, comm: 'x' } })).toMatch(/unexpected field 'op.comm' \(expected only type, pid\)/);
    expect(eventError({ ev: 'op', op: { type: 'MADVISE', pid: 1, addr: 0, len: 4096, advice: 'WILLNEED' } })).toMatch(/field 'op.advice' must be one of "DONTNEED", "HUGEPAGE"/);
    expect(eventError({ ev: 'op', op: { type: 'MUNMAP', pid: 1, addr: -4096, len: 4096 } })).toMatch(/field 'op.addr' must be an integer that is >= 0/);
    for (const op of [
      { type: 'SPAWN', pid: 1 },
      { type: 'MMAP', pid: 1, len: 4096, read: true, write: false, shared: true, inode: 3, pgoff: 2, fixed: false },
      { type: 'MREMAP', pid: 1, addr: 0, oldLen: 4096, newLen: 8192, mayMove: true, newAddr: 1 << 30 },
      { type: 'FORK', pid: 1 },
      { type: 'UNPIN', pid: 1, addr: 0 },
    ])
      expect(eventProblem({ ev: 'op', op })).toBeUndefined();
  });

  it('demands hex strings for 64-bit values, never JSON numbers', () => {
    expect(eventError({ ev: 'fault', address: 140737488351232, errorCode: '0x6' })).toMatch(
      /'fault' event: field 'address' must be a lowercase hex string like "0xffffea0004280040" \(64-bit values are strings, never JSON numbers\) \(got 140737488351232\)/,
    );
    expect(eventError({ ev: 'fault', address: '0x7FFF', errorCode: '0x6' })).toMatch(/field 'address' must be a lowercase hex string/);
    // a JSON number above 2^53 in a kcall arg is refused (it would already have lost precision)
    expect(eventError({ ev: 'kcall', fn: 'page_remove_rmap', args: { page: 18446719884522766400 } })).toMatch(
      /field 'args.page' must be a hex string like "0xffffea0004280040" \(an x64 fetch-arg\) or an integer in the 32-bit range/,
    );
    expect(eventProblem({ ev: 'kcall', fn: 'page_remove_rmap', args: { page: '0xffffea0004280040', mapcount: -1, nr_pages: 4294967295 } })).toBeUndefined();
    expect(eventError({ ev: 'kcall', fn: 'f', args: { 'bad name': 1 } })).toMatch(/field name "bad name" in 'args' must be an identifier/);
  });

  it('refuses fields an event does not have, and accepts the recorded columns on every kind but op', () => {
    expect(eventError({ ev: 'lost', count: 3, lost: true })).toBe("x.jsonl:7: 'lost' event: unexpected field 'lost' (expected only ev, count, ts, cpu, pid, tgid, comm)");
    expect(eventProblem({ ev: 'lost', count: 3, ts: 1.5, cpu: 0, pid: 1, tgid: 1, comm: 'x' })).toBeUndefined();
    expect(eventError({ ev: 'op', ts: 1, op: { type: 'SPAWN', pid: 1 } })).toMatch(/unexpected field 'ts'/);
    expect(eventError({ ev: 'obs', va: '0x1000', pfn: '0x0', present: true, kpagecount: 1, kpageflags: '0x0' })).toMatch(/missing field 'pid'/);
  });

  it('says what is wrong with a header', () => {
    const bad = (h: unknown): string => {
      try {
        validateHeader(h, { file: 'h.jsonl', line: 1, column: 1 });
      } catch (e) {
        expect(e).toBeInstanceOf(TraceInputError);
        return (e as Error).message;
      }
      throw new Error('expected invalid');
    };
    expect(bad({ ...header, kernel: { generation: '5.15' } })).toBe(`h.jsonl:1:1: trace header: field 'kernel.generation' must be one of "6.1", "6.12" (got "5.15")`);
    expect(bad({ ...header, format: 'perf' })).toMatch(/not a trollcount trace header: format is "perf"/);
    expect(bad({ ...header, version: 2 })).toMatch(/field 'version' must be 1 \(got 2\)/);
    const { geometry: _g, ...noGeometry } = header;
    expect(bad(noGeometry)).toMatch(/missing field 'geometry' \(an object\)/);
    expect(bad([header])).toMatch(/expected the trace header object/);
    expect(bad({ ...header, extra: 1 })).toMatch(/unexpected field 'extra'/);
  });

  it('says what it got when the value is not an object', () => {
    expect(eventError(null)).toMatch(/expected an event object \{"ev": \.\.\.\}, got null/);
    expect(eventError([1])).toMatch(/got an array/);
    expect(eventError(header)).toMatch(/a trace header where an event was expected/);
  });
});
