import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TraceInputError, type PositionedEvent, type TraceEvent, type TraceHeader } from '../traces/events.ts';
import { JsonlWriter, formatJsonl } from '../traces/jsonl-writer.ts';
import { readLines } from '../traces/lines.ts';
import { openTrace, readTrace } from '../traces/reader.ts';
import type { MmOperation } from '../model/operations.ts';
import { ADVICE } from '../model/madvise.ts';
import { folioAt } from '../model/machines/mm-system.ts';
import { EVENT_KINDS } from '../traces/schema.ts';
import { JsonSyntaxError, TraceDocumentReader } from '../traces/json-document.ts';
import { boot, tempFiles } from './helpers.ts';

const FIXTURES = new URL('../traces/fixtures/', import.meta.url).pathname;
const fixture = (name: string): string => join(FIXTURES, name);
const { path: tmpPath, file } = tempFiles('trollcount-reader-');

/** Read a trace as far as it goes: the events before the first error, and the error. */
async function collect(path: string): Promise<{ header?: TraceHeader; events: PositionedEvent[]; error?: unknown }> {
  const events: PositionedEvent[] = [];
  try {
    const t = await openTrace(path);
    try {
      for await (const e of t.events) events.push(e);
    } catch (error) {
      return { header: t.header, events, error };
    }
    return { header: t.header, events };
  } catch (error) {
    return { events, error };
  }
}

/** The TraceInputError reading `path` ends in. */
async function failure(path: string): Promise<TraceInputError> {
  const r = await collect(path);
  expect(r.error, 'expected a TraceInputError').toBeInstanceOf(TraceInputError);
  return r.error as TraceInputError;
}

const HEADER: TraceHeader = {
  format: 'trollcount-trace',
  version: 1,
  kernel: { generation: '6.12' },
  geometry: { pageSize: 4096, pmdOrder: 9 },
  source: { kind: 'synthetic', description: 'test' },
};
const H = JSON.stringify(HEADER);
const LOST = '{"ev":"lost","count":1}';

const JSON_FIXTURES = readdirSync(FIXTURES).filter((f) => /\.jsonl?$/.test(f));

describe('hand-written fixtures', () => {
  it('are all there', () => {
    expect(JSON_FIXTURES.sort()).toEqual(
      expect.arrayContaining([
        'every-event-kind.json',
        'kcalls-6.1-dropped.jsonl',
        'kcalls-6.1-wrong-mapcount.jsonl',
        'kcalls-6.12-big-pointer.jsonl',
        'kcalls-6.12-lost.jsonl',
        'ops-fork-cow.jsonl',
        'ops-wrong-kpagecount.jsonl',
      ]),
    );
  });

  it.each(JSON_FIXTURES)('%s reads with the line number of each event', async (name) => {
    const { header, events } = await readTrace(fixture(name));
    expect(header.source.kind).toBe('hand-written');
    const lines = readFileSync(fixture(name), 'utf8').split('\n');
    for (const { event, at } of events) {
      expect(at.file).toBe(fixture(name));
      // the event's text starts at its position
      const text = lines[at.line - 1]!.slice((at.column ?? 1) - 1);
      expect(text.startsWith(`{ "ev": "${event.ev}"`) || text.startsWith(`{"ev":"${event.ev}"`), `${name}:${at.line}: ${text}`).toBe(true);
    }
  });

  it('ops-fork-cow.jsonl skips blank lines and keeps the numbering', async () => {
    const { header, events } = await readTrace(fixture('ops-fork-cow.jsonl'));
    expect(header.mm).toEqual({ thp: 'always', shmemThp: true });
    expect(events.map((e) => e.at.line)).toEqual([2, 3, 4, 5, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 27, 28, 29, 30, 31]);
    expect(events[10]!.event).toEqual({ ev: 'op', op: { type: 'FORK', pid: 1, child: 2 } });
    expect(events[10]!.at).toEqual({ file: fixture('ops-fork-cow.jsonl'), line: 14 });
  });

  it('every-event-kind.json has every event kind, with line:column positions', async () => {
    const { header, events } = await readTrace(fixture('every-event-kind.json'));
    expect(header.kernel).toEqual({ release: '6.12.57+deb13-amd64', generation: '6.12' });
    expect(new Set(events.map((e) => e.event.ev))).toEqual(new Set(EVENT_KINDS));
    expect(events[0]!.at).toEqual({ file: fixture('every-event-kind.json'), line: 14, column: 5 });
    const kcall = events.find((e) => e.event.ev === 'kcall' && e.event.fn === 'folio_add_new_anon_rmap')!;
    expect(kcall.at).toEqual({ file: fixture('every-event-kind.json'), line: 25, column: 5 });
    expect(events.some((e) => e.event.ev === 'kcall' && e.event.ret === true)).toBe(true);
  });

  it('kcalls-6.12-big-pointer.jsonl keeps pointers above 2^53 exactly', async () => {
    const { events } = await readTrace(fixture('kcalls-6.12-big-pointer.jsonl'));
    const add = events.find((e) => e.event.ev === 'kcall')!.event as Extract<TraceEvent, { ev: 'kcall' }>;
    expect(add.args['folio']).toBe('0xffffea0004280040');
    expect(BigInt(add.args['folio'] as string)).toBe(0xffffea0004280040n);
    expect(BigInt(add.args['folio'] as string) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(add.args['flags1']).toBe('0xffffffffffffffff');
    expect(add.args['fmapcount']).toBe(-1);
    // and through the writer
    const p = tmpPath('big.jsonl.gz');
    const w = new JsonlWriter(p);
    await w.header(HEADER);
    for (const e of events) await w.event(e.event);
    await w.close();
    expect((await readTrace(p)).events.map((e) => e.event)).toEqual(events.map((e) => e.event));
  });

  it('opts.generation overrides the header', async () => {
    const t = await openTrace(fixture('kcalls-6.1-dropped.jsonl'), { generation: '6.12' });
    expect(t.header.kernel).toEqual({ release: '6.1.0-56-amd64', generation: '6.12' });
  });

  it('the op fixtures say what the 6.1 model says (ops-wrong-kpagecount differs at line 25 only)', async () => {
    for (const [name, wrongLines] of [
      ['ops-fork-cow.jsonl', []],
      ['ops-wrong-kpagecount.jsonl', [25]],
    ] as const) {
      const { events } = await readTrace(fixture(name));
      const { k, run, truth } = boot({ kernel: '6.1' });
      const differ: number[] = [];
      for (const { event, at } of events) {
        if (event.ev === 'op') expect(run(event.op), `${name}:${at.line}`).toBe('ok');
        if (event.ev !== 'obs') continue;
        const hit = folioAt(k, event.pid, Number(BigInt(event.va)));
        expect(hit !== undefined, `${name}:${at.line} present`).toBe(event.present);
        const model = hit ? truth.kpagecount(hit.folio, hit.page) : 0;
        if (model !== event.kpagecount) differ.push(at.line);
      }
      expect(differ, name).toEqual(wrongLines);
    }
  });
});

describe('JSON document and JSON Lines', () => {
  it.each(JSON_FIXTURES)('%s gives the same events in both forms, plain and gzip', async (name) => {
    const { header, events } = await readTrace(fixture(name));
    const evs = events.map((e) => e.event);
    const jsonl = formatJsonl(header, evs);
    const doc = JSON.stringify({ header, events: evs }, null, 2);
    const compact = JSON.stringify({ header, events: evs });
    for (const p of [file(jsonl, 'a.jsonl'), file(doc, 'a.json'), file(compact, 'b.json'), file(gzipSync(jsonl), 'a.jsonl.gz'), file(gzipSync(doc), 'a.json.gz')]) {
      const back = await readTrace(p);
      expect(back.header).toEqual(header);
      expect(back.events.map((e) => e.event)).toEqual(evs);
    }
  });

  it('a JSON document gives each element its own line:column, also several on one line', async () => {
    const p = file(`{"header":${H},\n "events":[${LOST}, {"ev":"step","name":"x"},\n\n  {"ev":"lost","count":2}]}\n`, 'x.json');
    const { events } = await readTrace(p);
    expect(events.map((e) => [e.at.line, e.at.column])).toEqual([
      [2, 12],
      [2, 37],
      [4, 3],
    ]);
  });

  it('CRLF line ends and a UTF-8 byte order mark are accepted', async () => {
    const bom = '\ufeff';
    const a = await readTrace(file(`${bom}${H}\r\n\r\n${LOST}\r\n`, 'crlf.jsonl'));
    expect(a.events).toEqual([{ event: { ev: 'lost', count: 1 }, at: { file: expect.stringMatching(/crlf\.jsonl$/), line: 3 } }]);
    const b = await readTrace(file(`${bom}{"header": ${H},\r\n "events": [\r\n  ${LOST}]}\r\n`, 'crlf.json'));
    expect(b.events.map((e) => [e.at.line, e.at.column])).toEqual([[3, 3]]);
  });

  it('text that is not ASCII reads the same wherever the 64 KB chunks of the file cut it', async () => {
    // ASCII chunks are decoded as latin1, the others by TextDecoder: a character cut by a chunk
    // boundary, and U+FEFF starting a chunk (a byte order mark only at the start of the file)
    const CHUNK = 1 << 16;
    for (const text of ['é', '€', '😀', '\ufeff']) {
      for (let shift = 0; shift < 4; shift++) {
        const head = `${H}\n`;
        const filler = (n: number): string => `{"ev":"marker","text":"${'x'.repeat(n)}"}\n`;
        // the marker line whose text starts `shift` bytes before the first chunk boundary
        const prefix = `{"ev":"marker","text":"`;
        const pad = CHUNK - shift - Buffer.byteLength(head) - Buffer.byteLength(prefix) - 40;
        const body = filler(pad - Buffer.byteLength(filler(0)) + 40) + `${prefix}${text}${text}"}\n` + LOST + '\n';
        const p = file(head + body, 'unicode.jsonl');
        const { events } = await readTrace(p);
        expect(events.map((e) => (e.event.ev === 'marker' ? e.event.text : e.event.ev))).toEqual(['x'.repeat(pad - Buffer.byteLength(filler(0)) + 40), text + text, 'lost']);
      }
    }
  });

  it('a character cut short at the end of a chunk is invalid UTF-8 even when the next chunk is ASCII', async () => {
    const CHUNK = 1 << 16;
    const head = `${H}\n`;
    const prefix = `{"ev":"marker","text":"`;
    // the lead byte of a two-byte character is the last byte of the first chunk; its continuation never comes
    const n = CHUNK - 1 - Buffer.byteLength(head) - Buffer.byteLength(prefix);
    const bytes = Buffer.concat([Buffer.from(head + prefix + 'x'.repeat(n)), Buffer.from([0xc3]), Buffer.from(`"}\n${LOST}\n`)]);
    const r = await collect(file(bytes, 'cut-char.jsonl'));
    expect((r.error as Error).message).toMatch(/invalid UTF-8/);
    expect(r.events).toEqual([]);
  });

  it('formatJsonl writes what JsonlWriter writes', async () => {
    const evs: TraceEvent[] = [{ ev: 'lost', count: 1 }, { ev: 'step', name: 'fork' }];
    const p = tmpPath('w.jsonl');
    const w = new JsonlWriter(p);
    await w.header(HEADER);
    for (const e of evs) await w.event(e);
    await w.close();
    expect(readFileSync(p, 'utf8')).toBe(formatJsonl(HEADER, evs));
  });

  it('the writer refuses an invalid event, naming the line it would have had', async () => {
    const w = new JsonlWriter(tmpPath('bad-w.jsonl'));
    await w.header(HEADER);
    await w.event({ ev: 'lost', count: 1 });
    expect(() => w.event({ ev: 'fault', address: 4096 as unknown as string, errorCode: '0x6' })).toThrow(/bad-w\.jsonl:3: 'fault' event: field 'address' must be a lowercase hex string/);
    expect(() => w.header(HEADER)).toThrow(/written once/);
    await w.close();
  });
});

describe('errors name file:line:column and what was expected', () => {
  it('malformed JSON in JSON Lines: the column of the problem', async () => {
    const p = file(`${H}\n${LOST}\n{"ev":"lost","count":}\n`);
    const r = await collect(p);
    expect(r.events).toHaveLength(1);
    const e = r.error as TraceInputError;
    expect(e).toBeInstanceOf(TraceInputError);
    expect(e.at).toEqual({ file: p, line: 3, column: 22 });
    expect(e.message).toBe(`${p}:3:22: malformed JSON: unexpected '}': expected a JSON value (an object, array, string, number, true, false or null)`);
  });

  it('malformed JSON in JSON Lines: other problems', async () => {
    expect((await failure(file(`${H}\n{"ev":"lost" "count":1}\n`))).at).toMatchObject({ line: 2, column: 14 });
    expect((await failure(file(`${H}\n{"ev":"lost","count":1,}\n`))).message).toMatch(/:2:24: malformed JSON: unexpected '}' after ',': a trailing comma is not JSON/);
    expect((await failure(file(`${H}\n{'ev':'lost'}\n`))).message).toMatch(/:2:2: malformed JSON: unexpected '''/);
    expect((await failure(file(`${H}\n{"ev":"lost","count":1} x\n`))).message).toMatch(/:2:25: malformed JSON: unexpected 'x' after the end of the JSON value/);
    expect((await failure(file(`${H}\n{"ev":"marker","text":"a\\qb"}\n`))).message).toMatch(/:2:26: malformed JSON: invalid escape \\q/);
  });

  it('malformed JSON in a JSON document: line and column across lines', async () => {
    const p = file(`{\n  "header": ${H},\n  "events": [\n    ${LOST},\n    {"ev": "lost", "count": 2,,}\n  ]\n}\n`, 'm.json');
    const r = await collect(p);
    expect(r.events).toHaveLength(1);
    expect((r.error as TraceInputError).at).toEqual({ file: p, line: 5, column: 31 });
    expect((r.error as Error).message).toMatch(/:5:31: unexpected ',': expected a quoted field name after ','/);
  });

  it('schema violations point at the field', async () => {
    const p = file(`${H}\n${LOST}\n{"ev":"fault","address":5,"errorCode":"0x6"}\n`);
    const e = await failure(p);
    expect(e.at).toEqual({ file: p, line: 3, column: 25 });
    expect(e.what).toMatch(/^'fault' event: field 'address' must be a lowercase hex string/);
    // in a document, across lines
    const d = file(`{"header": ${H},\n"events": [\n  {"ev": "op",\n   "op": {"type": "FAULT", "pid": 1, "addr": 4096, "write": "yes"}}\n]}`, 's.json');
    const e2 = await failure(d);
    expect(e2.at).toEqual({ file: d, line: 4, column: 61 });
    expect(e2.what).toBe(`'op' event (FAULT): field 'op.write' must be true or false (got "yes")`);
    // an unexpected field: its name
    const x = file(`${H}\n{"ev":"lost","count":1,"bogus":2}\n`);
    expect((await failure(x)).at).toEqual({ file: x, line: 2, column: 24 });
    // a bad header
    const hp = file(`${H.replace('"6.12"', '"5.15"')}\n${LOST}\n`);
    const he = await failure(hp);
    expect(he.at.line).toBe(1);
    expect(he.message).toMatch(/trace header: field 'kernel.generation' must be one of "6.1", "6.12" \(got "5.15"\)/);
  });

  it('an unknown event kind lists the known ones', async () => {
    const p = file(`${H}\n\n{"ev":"xyz","count":1}\n`);
    const e = await failure(p);
    expect(e.at).toEqual({ file: p, line: 3, column: 7 });
    expect(e.what).toBe("unknown event kind 'xyz' (expected one of op, kcall, syscall, fault, sched, tracepoint, obs, step, marker, lost)");
  });

  it('a truncated JSON Lines file: the line ends early', async () => {
    const p = file(`${H}\n${LOST}\n{"ev":"lost","co`);
    const r = await collect(p);
    expect(r.events).toHaveLength(1);
    expect((r.error as TraceInputError).at).toEqual({ file: p, line: 3, column: 17 });
    expect((r.error as Error).message).toMatch(/malformed JSON: the line ends early \(truncated\?\): inside a string; the object opened at 3:1 is not closed/);
  });

  it('a truncated JSON document: unexpected end of file', async () => {
    const p = file(`{"header": ${H},\n "events": [\n  ${LOST},\n  {"ev": "lo`, 't.json');
    const r = await collect(p);
    expect(r.events).toHaveLength(1);
    expect((r.error as TraceInputError).at).toEqual({ file: p, line: 4, column: 13 });
    expect((r.error as Error).message).toMatch(/unexpected end of file inside an event \(truncated trace\?\): inside a string/);
    const q = file(`{"header": ${H},\n "events": [\n  ${LOST}\n`, 'u.json');
    expect((await failure(q)).message).toMatch(/:4:1: unexpected end of file in the "events" array \(truncated trace\?\): expected ',' or '\]'; the array opened at 2:12 is not closed/);
  });

  it('a gzip stream cut short', async () => {
    const text = formatJsonl(HEADER, Array.from({ length: 3000 }, (_, i) => ({ ev: 'lost', count: i }) as TraceEvent));
    const gz = gzipSync(text);
    const p = file(gz.subarray(0, Math.floor(gz.length / 2)), 'cut.jsonl.gz');
    const r = await collect(p);
    expect(r.events.length).toBeGreaterThan(0);
    expect(r.events.length).toBeLessThan(3000);
    expect((r.error as Error).message).toMatch(/gzip stream cut short \(unexpected end of file\): the trace is truncated/);
    expect((r.error as TraceInputError).at.line).toBe(r.events.length + 2);
    // cut in the trailer: every event was read, the error still comes
    const t = await collect(file(gz.subarray(0, gz.length - 4), 'trailer.jsonl.gz'));
    expect(t.events).toHaveLength(3000);
    expect(t.error).toBeInstanceOf(TraceInputError);
    // and in a document
    const d = await collect(file(gzipSync(JSON.stringify({ header: HEADER, events: Array.from({ length: 3000 }, (_, i) => ({ ev: 'lost', count: i })) })).subarray(0, 2000), 'cut.json.gz'));
    expect((d.error as Error).message).toMatch(/gzip stream cut short/);
  });

  it('lines.ts: a gzip stream cut short is an error, not a silent end of file', async () => {
    const text = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n');
    const gz = gzipSync(text);
    const p = file(gz.subarray(0, gz.length - 100), 'lines.txt.gz');
    let n = 0;
    await expect(
      (async () => {
        for await (const l of readLines(p)) n = l.line;
      })(),
    ).rejects.toThrow(/unexpected end of file/);
    expect(n).toBeGreaterThan(0);
  });

  it('an empty file', async () => {
    for (const [content, name] of [
      ['', 'e.jsonl'],
      ['\n\n  \n', 'e.json'],
      [gzipSync(''), 'e.jsonl.gz'],
    ] as const) {
      const p = file(content, name);
      const e = await failure(p);
      expect(e.at).toEqual({ file: p, line: 1, column: 1 });
      expect(e.what).toMatch(/^empty file: expected a trace/);
    }
  });

  it('the header missing or not first', async () => {
    const a = file(`${LOST}\n${H}\n`);
    const ea = await failure(a);
    expect(ea.at).toEqual({ file: a, line: 1, column: 1 });
    expect(ea.what).toMatch(/^header missing: the first line is an event/);
    const b = file(`{"events": [], "header": ${H}}`, 'b.json');
    const eb = await failure(b);
    expect(eb.at).toEqual({ file: b, line: 1, column: 2 });
    expect(eb.what).toMatch(/"header" must come before "events"/);
    const c = file(`{"header": ${H}}`, 'c.json');
    expect((await failure(c)).what).toMatch(/missing "events" after the header/);
    const d = file(`${H}\n${LOST}\n${H}\n`);
    const ed = await failure(d);
    expect(ed.at.line).toBe(3);
    expect(ed.what).toMatch(/a trace header where an event was expected/);
    const e = file(`{"header": ${H}, "events": [], "extra": 1}`, 'e.json');
    expect((await failure(e)).what).toMatch(/unexpected field "extra" in a trace document/);
    const f = file(`[${H}]`, 'f.json');
    expect((await failure(f)).what).toMatch(/not a trace: found '\[' \(a bare JSON array has no header\)/);
  });

  it('binary garbage', async () => {
    const g = file(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x42, 0x00, 0x01, 0x02]), 'g.jsonl');
    const eg = await failure(g);
    expect(eg.at).toEqual({ file: g, line: 1, column: 1 });
    expect(eg.what).toMatch(/not a trace: found binary data \(character U\+0000\)/);
    // not UTF-8 after two good lines
    const h = file(Buffer.concat([Buffer.from(`${H}\n${LOST}\n`), Buffer.from([0xff, 0xfe, 0x00, 0x41])]), 'h.jsonl');
    const rh = await collect(h);
    expect(rh.events).toHaveLength(1);
    expect((rh.error as TraceInputError).at).toEqual({ file: h, line: 3, column: 1 });
    expect((rh.error as Error).message).toMatch(/invalid UTF-8 \(binary data\?\)/);
    // NUL bytes inside a line
    const n = file(`${H}\n{"ev":"lost",\u0000"count":1}\n`, 'n.jsonl');
    expect((await failure(n)).message).toMatch(/:2:14: malformed JSON: unexpected character U\+0000 \(binary data\?\)/);
    // a .gz name over bytes that are not gzip
    const z = file(`${H}\n`, 'z.jsonl.gz');
    expect((await failure(z)).what).toMatch(/not gzip data/);
    // garbage inside gzip data
    const gz = gzipSync(`${H}\n${LOST}\n`);
    gz.fill(0x55, 12, 30);
    expect(await failure(file(gz, 'corrupt.jsonl.gz'))).toBeInstanceOf(TraceInputError);
  });

  it('a missing file', async () => {
    const p = tmpPath('does-not-exist.jsonl');
    expect((await failure(p)).what).toMatch(/cannot read the trace file: ENOENT/);
  });
});

// ---- properties -------------------------------------------------------------------------------

const hex64 = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((b) => `0x${b.toString(16)}`),
  fc.bigInt({ min: 1n << 53n, max: (1n << 64n) - 1n }).map((b) => `0x${b.toString(16)}`),
  fc.constantFrom('0x0', '0xffffea0004280040', '0xffffffffffffffff', '0x20000000000001'),
);
const fieldName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,11}$/);
const text = fc.string({ unit: 'binary', maxLength: 24 });
const pid = fc.integer({ min: 0, max: 4194304 });
const uaddr = fc.oneof(fc.nat({ max: 2 ** 47 }), fc.constant(Number.MAX_SAFE_INTEGER));
const recorded = {
  ts: fc.integer({ min: 0, max: 10 ** 12 }).map((n) => n / 1e6),
  cpu: fc.nat({ max: 255 }),
  pid,
  tgid: pid,
  comm: text,
};
function withRecorded<T extends Record<string, fc.Arbitrary<unknown>>>(own: T, required: (keyof T)[]) {
  return fc.record({ ...recorded, ...own }, { requiredKeys: required as never[] });
}
const dict = <V>(v: fc.Arbitrary<V>) => fc.dictionary(fieldName, v, { maxKeys: 5, noNullPrototype: true });

const operation: fc.Arbitrary<MmOperation> = fc.oneof(
  fc.record({ type: fc.constant('SPAWN' as const), pid }),
  fc.record({ type: fc.constant('CREATE_FILE' as const), inode: fc.nat(), pages: fc.nat(), shmem: fc.boolean() }),
  fc.record(
    { type: fc.constant('MMAP' as const), pid, addr: uaddr, len: uaddr, read: fc.boolean(), write: fc.boolean(), shared: fc.boolean(), inode: fc.nat(), pgoff: fc.nat(), fixed: fc.boolean() },
    { requiredKeys: ['type', 'pid', 'len', 'read', 'write', 'shared', 'fixed'] },
  ),
  fc.record({ type: fc.constant('MUNMAP' as const), pid, addr: uaddr, len: uaddr }),
  fc.record({ type: fc.constant('MPROTECT' as const), pid, addr: uaddr, len: uaddr, read: fc.boolean(), write: fc.boolean() }),
  fc.record({ type: fc.constant('MADVISE' as const), pid, addr: uaddr, len: uaddr, advice: fc.constantFrom(...ADVICE) }),
  fc.record(
    { type: fc.constant('MREMAP' as const), pid, addr: uaddr, oldLen: uaddr, newLen: uaddr, mayMove: fc.boolean(), newAddr: uaddr },
    { requiredKeys: ['type', 'pid', 'addr', 'oldLen', 'newLen', 'mayMove'] },
  ),
  fc.record({ type: fc.constant('FORK' as const), pid, child: pid }, { requiredKeys: ['type', 'pid'] }),
  fc.record({ type: fc.constant('EXIT' as const), pid }),
  fc.record({ type: fc.constant('FAULT' as const), pid, addr: uaddr, write: fc.boolean() }),
  fc.record({ type: fc.constantFrom('SPLIT_FOLIO' as const, 'COLLAPSE' as const, 'MIGRATE' as const, 'RECLAIM' as const, 'PIN' as const, 'UNPIN' as const), pid, addr: uaddr }),
);

const traceEvent = fc.oneof(
  fc.record({ ev: fc.constant('op' as const), op: operation }),
  withRecorded(
    {
      ev: fc.constant('kcall' as const),
      fn: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.]{0,24}$/),
      ret: fc.boolean(),
      args: dict(fc.oneof(hex64, fc.integer({ min: -2147483648, max: 4294967295 }))),
    },
    ['ev', 'fn', 'args'],
  ),
  withRecorded(
    { ev: fc.constant('syscall' as const), name: fc.stringMatching(/^[a-z0-9_]{1,16}$/), phase: fc.constantFrom('enter' as const, 'exit' as const), args: dict(hex64), ret: hex64 },
    ['ev', 'name', 'phase'],
  ),
  withRecorded({ ev: fc.constant('fault' as const), address: hex64, ip: hex64, errorCode: hex64 }, ['ev', 'address', 'errorCode']),
  withRecorded({ ev: fc.constant('sched' as const), what: fc.constantFrom('fork' as const, 'exit' as const), childPid: pid }, ['ev', 'what']),
  withRecorded({ ev: fc.constant('tracepoint' as const), name: text.filter((s) => s.length > 0), fields: dict(text) }, ['ev', 'name', 'fields']),
  withRecorded(
    { ev: fc.constant('obs' as const), pid, va: hex64, pfn: hex64, present: fc.boolean(), kpagecount: fc.nat(), kpageflags: hex64 },
    ['ev', 'pid', 'va', 'pfn', 'present', 'kpagecount', 'kpageflags'],
  ),
  withRecorded({ ev: fc.constant('step' as const), name: text.filter((s) => s.length > 0) }, ['ev', 'name']),
  withRecorded({ ev: fc.constant('marker' as const), text }, ['ev', 'text']),
  withRecorded({ ev: fc.constant('lost' as const), count: fc.nat() }, ['ev', 'count']),
) as fc.Arbitrary<TraceEvent>;

const traceHeader: fc.Arbitrary<TraceHeader> = fc.record(
  {
    format: fc.constant('trollcount-trace' as const),
    version: fc.constant(1 as const),
    kernel: fc.record({ release: text, generation: fc.constantFrom('6.1' as const, '6.12' as const) }, { requiredKeys: ['generation'] }),
    geometry: fc.record({ pageSize: fc.constantFrom(4096, 16384), pmdOrder: fc.integer({ min: 0, max: 13 }) }),
    source: fc.record({ kind: fc.constantFrom('ftrace' as const, 'explore' as const, 'synthetic' as const, 'hand-written' as const, 'bench' as const), description: text }, { requiredKeys: ['kind'] }),
    mm: fc.record({ thp: fc.constantFrom('always' as const, 'madvise' as const, 'never' as const), shmemThp: fc.boolean() }),
  },
  { requiredKeys: ['format', 'version', 'kernel', 'geometry', 'source'] },
);

describe('properties', () => {
  it('JsonlWriter then openTrace is the identity (64-bit hex pointers included), plain and gzip', async () => {
    await fc.assert(
      fc.asyncProperty(traceHeader, fc.array(traceEvent, { maxLength: 30 }), fc.boolean(), async (header, events, gz) => {
        const p = tmpPath(`rt.jsonl${gz ? '.gz' : ''}`);
        const w = new JsonlWriter(p);
        await w.header(header);
        for (const e of events) await w.event(e);
        await w.close();
        const back = await readTrace(p);
        expect(back.header).toEqual(header);
        expect(back.events.map((e) => e.event)).toEqual(events);
        expect(back.events.map((e) => e.at.line)).toEqual(events.map((_, i) => i + 2));
        rmSync(p);
      }),
      { numRuns: 150 },
    );
  });

  /*
   * Truncating a valid file at any byte:
   * - JSON Lines: when the cut falls at a line boundary (right after a '\n', or right before it:
   *   the last line is then complete without its newline), the file reads cleanly as the header
   *   and the first k events; anywhere else the last line is an incomplete JSON object (or bytes
   *   that are not UTF-8, or an incomplete header, or nothing at all) and reading gives the events
   *   of the complete lines and then a TraceInputError.
   * - JSON document: the events completed before the cut, then a TraceInputError — except a cut
   *   that only drops trailing whitespace after the closing '}', which reads the whole document.
   * Never another exception type.
   */
  it('a truncated JSON Lines or JSON document file reads a prefix of the events, then a TraceInputError or a clean end', async () => {
    await fc.assert(
      fc.asyncProperty(traceHeader, fc.array(traceEvent, { minLength: 1, maxLength: 8 }), fc.constantFrom('jsonl', 'json', 'json-pretty'), fc.double({ min: 0, max: 1, noNaN: true }), async (header, events, form, where) => {
        const full = Buffer.from(
          form === 'jsonl' ? formatJsonl(header, events) : `${JSON.stringify({ header, events }, null, form === 'json-pretty' ? 2 : undefined)}\n`,
          'utf8',
        );
        const cut = Math.min(full.length - 1, Math.floor(where * full.length));
        const bytes = full.subarray(0, cut);
        const p = file(bytes, form === 'jsonl' ? 't.jsonl' : 't.json');
        const r = await collect(p);
        const got = r.events.map((e) => e.event);
        expect(got).toEqual(events.slice(0, got.length));
        const completeLines = bytes.toString('latin1').split('\n').length - 1;
        const cleanJsonl = form === 'jsonl' && cut > 0 && (bytes[cut - 1] === 0x0a || full[cut] === 0x0a);
        const cleanDoc = form !== 'jsonl' && full.subarray(cut).toString().trim() === '';
        if (cleanJsonl || cleanDoc) {
          expect(r.error).toBeUndefined();
          if (cleanJsonl) expect(got).toHaveLength((full[cut] === 0x0a ? completeLines + 1 : completeLines) - 1);
          else expect(got).toEqual(events);
        } else {
          expect(r.error).toBeInstanceOf(TraceInputError);
          if (form === 'jsonl') expect(got).toHaveLength(Math.max(0, completeLines - 1));
        }
        rmSync(p);
      }),
      { numRuns: 300 },
    );
  });

  it('the JSON document reader gives the same elements, positions and errors however the text is cut into chunks', async () => {
    const read = async (chunks: string[]) => {
      const items: unknown[] = [];
      try {
        for await (const it of new TraceDocumentReader().read((async function* () {
          yield* chunks;
        })()))
          items.push([it.kind, it.value, it.line, it.column]);
      } catch (e) {
        if (!(e instanceof JsonSyntaxError)) throw e;
        return { items, error: [e.line, e.column, e.what] };
      }
      return { items };
    };
    await fc.assert(
      fc.asyncProperty(
        traceHeader,
        fc.array(traceEvent, { maxLength: 6 }),
        fc.boolean(),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        fc.option(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom('', '}', ',', 'x', '"', '\n', '\u0000', '[', '1e')), { nil: undefined }),
        async (header, events, pretty, cuts, damage) => {
          let text = JSON.stringify({ header, events }, null, pretty ? 2 : undefined);
          if (damage) {
            const at = Math.floor(damage[0] * text.length);
            text = text.slice(0, at) + damage[1] + text.slice(at + 1);
          }
          const points = [...new Set(cuts.map((c) => Math.floor(c * text.length)))].sort((a, b) => a - b);
          const chunks = [0, ...points].map((from, i) => text.slice(from, i < points.length ? points[i] : text.length));
          expect(await read(chunks)).toEqual(await read([text]));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a truncated gzip trace always ends in a TraceInputError', async () => {
    await fc.assert(
      fc.asyncProperty(traceHeader, fc.array(traceEvent, { minLength: 1, maxLength: 8 }), fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), async (header, events, jsonl, where) => {
        const full = gzipSync(jsonl ? formatJsonl(header, events) : JSON.stringify({ header, events }));
        const cut = Math.min(full.length - 1, Math.floor(where * full.length));
        const p = file(full.subarray(0, cut), jsonl ? 'g.jsonl.gz' : 'g.json.gz');
        const r = await collect(p);
        expect(r.events.map((e) => e.event)).toEqual(events.slice(0, r.events.length));
        expect(r.error).toBeInstanceOf(TraceInputError);
        rmSync(p);
      }),
      { numRuns: 100 },
    );
  });
});

describe('ftrace text is delegated to traces/ftrace/convert.ts', () => {
  const converter = existsSync(new URL('../traces/ftrace/convert.ts', import.meta.url));
  it.skipIf(!converter)('by name (.ftrace) and by content (# tracer:)', async () => {
    const real = new URL('../traces/fixtures/real/6.1-thp-fork-cow.ftrace.gz', import.meta.url).pathname;
    const t = await openTrace(real, { generation: '6.1' });
    expect(t.header.kernel.generation).toBe('6.1');
    const it0 = t.events[Symbol.asyncIterator]();
    const first = await it0.next();
    expect(first.done).toBe(false);
    await it0.return?.();
    const text = '# tracer: nop\n#\n';
    const t2 = await openTrace(file(text, 'plain.log'), { generation: '6.12' }).catch((e: unknown) => e);
    // a header-only ftrace text either opens or is refused as input, by the converter
    if (t2 instanceof Error) expect(t2).toBeInstanceOf(TraceInputError);
    else expect((t2 as { header: TraceHeader }).header.kernel.generation).toBe('6.12');
  });
});
