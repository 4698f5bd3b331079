import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFile, type FileReport } from '../checker/check.ts';
import { TraceInputError } from '../traces/events.ts';
import { openFtrace } from '../traces/ftrace/convert.ts';
import { EVENT_KINDS, eventProblem } from '../traces/schema.ts';

/**
 * Robustness of the input path (docs/robustness.md has the table): mutations of REAL recorded traces
 * (slices of traces/fixtures/real/*-thp-fork-cow.ftrace.gz, as raw ftrace text, as converted JSON
 * Lines and as a JSON document) are read and replayed in process by checkFile(). Every case must end
 * in a TraceInputError naming file:line (and :column where the form has columns) or in a report;
 * never another exception, never a hang (each case has a deadline). Where the mutation loses or
 * alters data that the model had verified, the report must not say agree; the rule is per class.
 *
 * Run counts are bounded (CI): about 20 cases per property over slices of 1000 events.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REAL = join(ROOT, 'traces/fixtures/real');
const SLICE = 1000;
const RUNS = Number(process.env.TROLLCOUNT_FUZZ_RUNS ?? 15);
const DEADLINE_MS = 20_000;
const GENS = ['6.1', '6.12'] as const;
type Gen = (typeof GENS)[number];

let TMP = '';
let seq = 0;

interface Base {
  /** raw ftrace text: the header comments and the first SLICE event lines */
  ftrace: string;
  /** the same slice converted: the JSON Lines text, its lines (header first) and the parsed events */
  jsonl: string;
  lines: string[];
  events: Record<string, unknown>[];
  /** the same events as a JSON document, one event per line */
  doc: string;
  report: FileReport;
}
const base = {} as Record<Gen, Base>;

type Outcome = { kind: 'error'; error: TraceInputError } | { kind: 'report'; report: FileReport };

/** Write `content` to a fresh file named `name` and check it in process, with a deadline. */
async function run(content: string | Uint8Array, name: string): Promise<Outcome & { file: string }> {
  const dir = join(TMP, String(seq++));
  mkdirSync(dir);
  const file = join(dir, name);
  writeFileSync(file, content);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${file} not checked within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  try {
    const report = await Promise.race([checkFile(file), deadline]);
    return { kind: 'report', report, file };
  } catch (e) {
    if (e instanceof TraceInputError) return { kind: 'error', error: e, file };
    throw new Error(`not a TraceInputError for ${file}: ${(e as Error)?.stack ?? String(e)}`);
  } finally {
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A TraceInputError names the file, a line, and (when `column`) a column, in its one-line message. */
function expectInputError(o: Outcome & { file: string }, opts: { line?: number | number[]; column?: boolean } = {}): TraceInputError {
  if (o.kind !== 'error') throw new Error(`expected a TraceInputError for ${o.file}, got verdict ${o.report.verdict}`);
  const e = o.error;
  expect(e.at.file).toBe(o.file);
  expect(e.at.line).toBeGreaterThanOrEqual(1);
  if (opts.line !== undefined) expect([opts.line].flat()).toContain(e.at.line);
  if (opts.column) expect(e.at.column).toBeGreaterThanOrEqual(1);
  expect(e.message.startsWith(`${o.file}:${e.at.line}${e.at.column !== undefined ? `:${e.at.column}` : ''}: `)).toBe(true);
  expect(e.message).not.toMatch(/\n/);
  return e;
}

const summaryOf = (r: FileReport): unknown =>
  r.kind === 'kernel'
    ? { verdict: r.verdict, events: r.result.events, verified: r.result.values.verified, learned: r.result.values.learned, div: r.result.divergenceCount }
    : { verdict: r.verdict, events: r.result.counts.events };

const lineOf = (text: string, offset: number): number => {
  let n = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
};

const jsonlOf = (lines: readonly string[]): string => `${lines.join('\n')}\n`;

// ---- the page oracle: which rmap events the model had checked, for the semantic rules ----------------

interface Rmap {
  /** index in Base.lines (header = 0; file line = index + 1) */
  readonly idx: number;
  readonly page: string;
  /** page_add_new_anon_rmap / folio_add_new_anon_rmap: a new folio, nothing is checked against the past */
  readonly isNew: boolean;
  /** the page's own _mapcount as reported before the call (6.1 mapcount, 6.12 pmapcount) */
  readonly mapcount: number | undefined;
  readonly field: 'mapcount' | 'pmapcount';
}

/** Single-page PTE-level rmap calls (and the new-anon calls), by page pointer. */
function rmaps(gen: Gen, lines: readonly string[]): Rmap[] {
  const out: Rmap[] = [];
  lines.forEach((l, idx) => {
    if (idx === 0) return;
    const e = JSON.parse(l) as { ev: string; fn?: string; args?: Record<string, string | number> };
    if (e.ev !== 'kcall' || !e.args) return;
    const a = e.args;
    if (gen === '6.1') {
      const pte = (e.fn === 'page_add_anon_rmap' && ((a.flags as number) & 2) === 0) || ((e.fn === 'page_add_file_rmap' || e.fn === 'page_remove_rmap') && a.compound === 0);
      if (pte || e.fn === 'page_add_new_anon_rmap') out.push({ idx, page: String(a.page), isNew: e.fn === 'page_add_new_anon_rmap', mapcount: a.mapcount as number, field: 'mapcount' });
    } else {
      const pte = /^folio_(add_(anon|file)|remove)_rmap_ptes$/.test(e.fn ?? '') && a.nr === 1 && a.page !== undefined;
      if (pte) out.push({ idx, page: String(a.page), isNew: false, mapcount: a.pmapcount as number, field: 'pmapcount' });
      else if (e.fn === 'folio_add_new_anon_rmap') out.push({ idx, page: String(a.folio), isNew: true, mapcount: undefined, field: 'pmapcount' });
    }
  });
  return out;
}

/**
 * Events the model had already checked a value for, with the next event on the same page: `r` is a
 * non-new single-page rmap call whose page had an earlier event (so the model knows its _mapcount)
 * and a later non-new rmap call (which reports the _mapcount `r` changed), with no `[LOST]` marker
 * and no new folio on that page in between.
 */
function checkedPairs(gen: Gen): { r: Rmap; prev: Rmap; next: Rmap }[] {
  const { lines } = base[gen];
  const lost = lines.map((l) => l.includes('"ev":"lost"'));
  const list = rmaps(gen, lines);
  const byPage = new Map<string, Rmap[]>();
  for (const r of list) byPage.set(r.page, [...(byPage.get(r.page) ?? []), r]);
  const out: { r: Rmap; prev: Rmap; next: Rmap }[] = [];
  for (const seqOfPage of byPage.values()) {
    for (let k = 1; k + 1 < seqOfPage.length; k++) {
      const [prev, r, next] = [seqOfPage[k - 1]!, seqOfPage[k]!, seqOfPage[k + 1]!];
      if (r.isNew || next.isNew || r.mapcount === undefined || next.mapcount === undefined) continue;
      if (lost.slice(prev.idx, next.idx + 1).some(Boolean)) continue;
      out.push({ r, prev, next });
    }
  }
  return out.sort((x, y) => x.r.idx - y.r.idx);
}

beforeAll(async () => {
  TMP = mkdtempSync(join(tmpdir(), 'trollcount-fuzz-'));
  for (const gen of GENS) {
    const all = gunzipSync(readFileSync(join(REAL, `${gen}-thp-fork-cow.ftrace.gz`))).toString('utf8').split('\n');
    const comments = all.filter((l) => l.startsWith('#'));
    const body = all.filter((l) => l && !l.startsWith('#')).slice(0, SLICE);
    const ftrace = `${[...comments, ...body].join('\n')}\n`;
    const p = join(TMP, `base-${gen}.ftrace`);
    writeFileSync(p, ftrace);
    const t = await openFtrace(p);
    const events: Record<string, unknown>[] = [];
    for await (const { event } of t.events) events.push(event as unknown as Record<string, unknown>);
    const lines = [JSON.stringify(t.header), ...events.map((e) => JSON.stringify(e))];
    const doc = `{"header": ${JSON.stringify(t.header)},\n"events": [\n${events.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`;
    const jsonl = jsonlOf(lines);
    const bp = join(TMP, `base-${gen}.jsonl`);
    writeFileSync(bp, jsonl);
    const report = await checkFile(bp);
    base[gen] = { ftrace, jsonl, lines, events, doc, report };
  }
});

afterAll(() => {
  if (TMP) rmSync(TMP, { recursive: true, force: true });
});

const gen = fc.constantFrom(...GENS);

describe('the bases: slices of real traces agree in every form', () => {
  it('jsonl, json document and ftrace text agree, with values verified', async () => {
    for (const g of GENS) {
      const b = base[g];
      expect(b.report.verdict).toBe('agree');
      expect(b.report.kind === 'kernel' && b.report.result.values.verified).toBeGreaterThan(100);
      for (const [content, name] of [[b.doc, 'b.json'], [b.ftrace, 'b.ftrace'], [gzipSync(b.jsonl), 'b.jsonl.gz'], [gzipSync(b.ftrace), 'b.ftrace.gz']] as const) {
        const o = await run(content, name);
        expect(o.kind === 'report' && summaryOf(o.report)).toEqual(summaryOf(b.report));
      }
      expect(checkedPairs(g).length).toBeGreaterThan(20);
    }
  });
});

describe('truncation at any byte', () => {
  it('JSON Lines: a cut inside a line is malformed JSON at that line:column; a cut at a line end is a shorter trace', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), async (g, f) => {
        const text = base[g].jsonl;
        const k = Math.floor(f * (text.length - 1));
        const cut = text.slice(0, k);
        const o = await run(cut, 't.jsonl');
        const last = cut.slice(cut.lastIndexOf('\n') + 1);
        if (cut.trim() === '') expect(expectInputError(o, { line: 1, column: true }).message).toMatch(/empty/);
        // rule: a cut at a line end is undetectable in plain text (no length, no checksum): a shorter trace
        else if (last.trim() === '' || isJson(last)) expect(o.kind).toBe('report');
        else expect(expectInputError(o, { line: lineOf(cut, cut.length), column: true }).message).toMatch(/malformed JSON|truncated/);
      }),
      { numRuns: RUNS },
    );
  });

  it('JSON document: any cut before the closing brace is an error at the end of the text', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), async (g, f) => {
        const text = base[g].doc;
        const k = Math.floor(f * (text.trimEnd().length - 1));
        const o = await run(text.slice(0, k), 't.json');
        expectInputError(o, { column: true });
      }),
      { numRuns: RUNS },
    );
  });

  it('gzip (.jsonl.gz and .ftrace.gz): any cut is an error (gzip stream cut short or empty), never a report', async () => {
    const gz = { '6.1': { jsonl: gzipSync(base['6.1'].jsonl), ftrace: gzipSync(base['6.1'].ftrace) }, '6.12': { jsonl: gzipSync(base['6.12'].jsonl), ftrace: gzipSync(base['6.12'].ftrace) } };
    await fc.assert(
      fc.asyncProperty(gen, fc.constantFrom('jsonl', 'ftrace') as fc.Arbitrary<'jsonl' | 'ftrace'>, fc.double({ min: 0, max: 1, noNaN: true }), async (g, form, f) => {
        const bytes = gz[g][form];
        const k = Math.floor(f * (bytes.length - 1));
        const o = await run(bytes.subarray(0, k), `t.${form}.gz`);
        const e = expectInputError(o);
        if (k > 0) expect(e.message).toMatch(/gzip|truncated|cannot tell/);
      }),
      { numRuns: RUNS },
    );
  });

  it('ftrace text: no crash; a cut at a line end is a shorter trace, a cut inside a line is read as that line', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0.2, max: 1, noNaN: true }), async (g, f) => {
        const text = base[g].ftrace;
        const k = Math.floor(f * (text.length - 1));
        const o = await run(text.slice(0, k), 't.ftrace');
        if (o.kind === 'error') expectInputError(o, { line: lineOf(text, k) });
        // rule (documented limitation): plain ftrace text has no length or checksum; a cut that leaves a
        // well-formed last line is not detectable. Compressed captures (.ftrace.gz, what `capture` writes) are.
      }),
      { numRuns: RUNS },
    );
  });
});

describe('bit flips', () => {
  it('in plain JSON Lines: an error on the flipped line (or the next, when the flip made a line break), or a report', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 7 }), async (g, f, bit) => {
        const bytes = Buffer.from(base[g].jsonl);
        const k = Math.floor(f * (bytes.length - 1));
        bytes[k] = bytes[k]! ^ (1 << bit);
        const line = lineOf(base[g].jsonl, k);
        const o = await run(bytes, 'f.jsonl');
        if (o.kind === 'error') expectInputError(o, { line: [line, line + 1] });
      }),
      { numRuns: RUNS },
    );
  });

  it('in ftrace text: an error on the flipped line (or the next), or a report', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 7 }), async (g, f, bit) => {
        const bytes = Buffer.from(base[g].ftrace);
        const k = Math.floor(f * (bytes.length - 1));
        bytes[k] = bytes[k]! ^ (1 << bit);
        const line = lineOf(base[g].ftrace, k);
        const o = await run(bytes, 'f.ftrace');
        // the generation is detected from the first rmap probe: a flip there may move the complaint to line 1
        if (o.kind === 'error') expectInputError(o, { line: [1, line, line + 1] });
      }),
      { numRuns: RUNS },
    );
  });

  it('in gzip bytes: an error, or (a flip in the gzip header fields nobody reads) exactly the same report', async () => {
    const gz = { '6.1': gzipSync(base['6.1'].jsonl), '6.12': gzipSync(base['6.12'].jsonl) };
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 7 }), async (g, f, bit) => {
        const bytes = Buffer.from(gz[g]);
        const k = Math.floor(f * (bytes.length - 1));
        bytes[k] = bytes[k]! ^ (1 << bit);
        const o = await run(bytes, 'f.jsonl.gz');
        if (o.kind === 'report') expect(summaryOf(o.report)).toEqual(summaryOf(base[g].report));
        else expectInputError(o);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- structured mutations of JSON Lines events --------------------------------------------------------

/** Pick an event line (index >= 1) and a field path in it: a top-level key or `args.<key>`. */
const fieldPick = fc.record({ g: gen, at: fc.double({ min: 0, max: 1, noNaN: true }), which: fc.nat() });
function pickField(g: Gen, at: number, which: number): { idx: number; event: Record<string, unknown>; path: string[] } {
  const { lines } = base[g];
  const idx = 1 + Math.floor(at * (lines.length - 2));
  const event = JSON.parse(lines[idx]!) as Record<string, unknown>;
  const paths: string[][] = Object.keys(event).map((k) => [k]);
  if (event.args && typeof event.args === 'object') for (const k of Object.keys(event.args)) paths.push(['args', k]);
  return { idx, event, path: paths[which % paths.length]! };
}
function setPath(e: Record<string, unknown>, path: string[], v: unknown): Record<string, unknown> {
  const c = structuredClone(e);
  const o = (path.length === 2 ? c[path[0]!] : c) as Record<string, unknown>;
  if (v === DELETE) delete o[path.at(-1)!];
  else o[path.at(-1)!] = v;
  return c;
}
const DELETE = Symbol('delete');
function withLine(g: Gen, idx: number, text: string): string {
  const lines = base[g].lines.slice();
  lines[idx] = text;
  return jsonlOf(lines);
}

/** The counters and sizes the replay needs from each rmap call: missing, they are bad input. */
const NEEDED: Record<string, readonly string[]> = {
  page_add_anon_rmap: ['mapcount', 'flags'],
  page_add_file_rmap: ['mapcount', 'compound'],
  page_remove_rmap: ['mapcount', 'compound'],
  page_add_new_anon_rmap: ['mapcount'],
  folio_add_anon_rmap_ptes: ['fmapcount', 'nr'],
  folio_add_file_rmap_ptes: ['fmapcount', 'nr'],
  folio_remove_rmap_ptes: ['fmapcount', 'nr'],
  folio_add_new_anon_rmap: ['fmapcount'],
};

describe('wrong types, missing fields, unknown event kinds, huge numbers', () => {
  const wrong = fc.constantFrom<unknown>(null, true, [], {}, 'text', 1.5, -3, 2 ** 40, '0xZZ', '0xFFFF', -1e308, 'x'.repeat(200));

  it('a value of the wrong type: the schema refuses it at that line:column (else the value is legal and replayed)', async () => {
    await fc.assert(
      fc.asyncProperty(fieldPick, wrong, async ({ g, at, which }, v) => {
        const { idx, event, path } = pickField(g, at, which);
        const mutated = setPath(event, path, v);
        const o = await run(withLine(g, idx, JSON.stringify(mutated)), 'w.jsonl');
        if (eventProblem(mutated) !== undefined) {
          const e = expectInputError(o, { line: idx + 1, column: true });
          expect(e.at.column!).toBeLessThanOrEqual(JSON.stringify(mutated).length);
        } else if (o.kind === 'error') expectInputError(o, { line: idx + 1 });
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('a missing field: a required field or a counter the replay needs is an error at that line; an informational one changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fieldPick, async ({ g, at, which }) => {
        const { idx, event, path } = pickField(g, at, which);
        const mutated = setPath(event, path, DELETE);
        const o = await run(withLine(g, idx, JSON.stringify(mutated)), 'm.jsonl');
        const key = path.at(-1)!;
        if (eventProblem(mutated) !== undefined) expectInputError(o, { line: idx + 1, column: true });
        else if (path[0] === 'args' && NEEDED[String(event.fn)]?.includes(key)) expectInputError(o, { line: idx + 1 });
        else if (path.length === 1 && ['ts', 'cpu', 'comm', 'tgid'].includes(key)) {
          // rule: the recorded-where fields are informational: same report
          expect(o.kind === 'report' && summaryOf(o.report)).toEqual(summaryOf(base[g].report));
        } else if (o.kind === 'error') expectInputError(o, { line: idx + 1 });
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('an unknown event kind is refused at that line:column, naming the kinds expected', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), fc.stringMatching(/^[a-z][a-z_]{0,12}$/), async (g, at, kind) => {
        fc.pre(!(EVENT_KINDS as readonly string[]).includes(kind));
        const idx = 1 + Math.floor(at * (base[g].lines.length - 2));
        const e = { ...JSON.parse(base[g].lines[idx]!), ev: kind };
        const err = expectInputError(await run(withLine(g, idx, JSON.stringify(e)), 'k.jsonl'), { line: idx + 1, column: true });
        expect(err.message).toMatch(/unknown event kind/);
      }),
      { numRuns: RUNS },
    );
  });

  it('huge numbers: refused by the schema, or an impossible size refused by the replay at that line, never a crash or hang', async () => {
    const huge = fc.constantFrom<number | string>(1e308, 2 ** 53 + 2, 4294967295, 2147483647, -2147483648, 1e21, 65536, 513, '0xffffffffffffffff', '0x7fffffff');
    await fc.assert(
      fc.asyncProperty(fieldPick, huge, async ({ g, at, which }, v) => {
        const { idx, event, path } = pickField(g, at, which);
        fc.pre(typeof (path.length === 2 ? (event.args as Record<string, unknown>)[path[1]!] : event[path[0]!]) === 'number');
        const o = await run(withLine(g, idx, JSON.stringify(setPath(event, path, v))), 'h.jsonl');
        if (o.kind === 'error') expectInputError(o, { line: idx + 1 });
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('sizes no folio has (nr, nr_pages, order) are bad input at that line, never a loop over 2^32 pages', async () => {
    for (const g of GENS) {
      const { lines } = base[g];
      const targets = g === '6.1' ? [['page_add_new_anon_rmap', 'order', 30, { pflags: '0x10000' }]] : [['folio_add_new_anon_rmap', 'nr_pages', 4294967295, { fflags: '0x40' }], ['folio_add_anon_rmap_ptes', 'nr', 4294967295, {}], ['folio_remove_rmap_ptes', 'nr', 100000000, {}]];
      for (const [fn, key, v, extra] of targets as [string, string, number, object][]) {
        const idx = lines.findIndex((l, i) => i > 0 && l.includes(`"fn":"${fn}"`));
        if (idx < 0) continue;
        const e = JSON.parse(lines[idx]!);
        e.args = { ...e.args, ...extra, [key]: v };
        const err = expectInputError(await run(withLine(g, idx, JSON.stringify(e)), 's.jsonl'), { line: idx + 1 });
        expect(err.message).toMatch(new RegExp(`'${key}' is ${v}`));
      }
    }
  });
});

describe('order, timestamps, CPUs, garbage lines', () => {
  it('timestamps duplicated or going backwards, CPUs interleaved: informational, the same report (the line order is the event order)', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), ts: fc.constantFrom(0, 1, 1e9, 2.5), cpu: fc.nat({ max: 255 }) }), { minLength: 1, maxLength: 30 }), async (g, edits) => {
        const lines = base[g].lines.slice();
        for (const { at, ts, cpu } of edits) {
          const idx = 1 + Math.floor(at * (lines.length - 2));
          const e = JSON.parse(lines[idx]!);
          if ('ts' in e) e.ts = ts;
          if ('cpu' in e) e.cpu = cpu;
          lines[idx] = JSON.stringify(e);
        }
        const o = await run(jsonlOf(lines), 'o.jsonl');
        expect(o.kind === 'report' && summaryOf(o.report)).toEqual(summaryOf(base[g].report));
      }),
      { numRuns: RUNS },
    );
  });

  it('a garbage or binary line: an error at that line (JSON Lines: unless it is blank; ftrace: unless a # comment or blank)', async () => {
    const garbage = fc.uint8Array({ minLength: 1, maxLength: 80 }).map((b) => Buffer.from(b.filter((c) => c !== 0x0a && c !== 0x0d)));
    await fc.assert(
      fc.asyncProperty(gen, fc.constantFrom('jsonl', 'ftrace'), fc.double({ min: 0, max: 1, noNaN: true }), garbage, async (g, form, at, junk) => {
        const text = form === 'jsonl' ? base[g].jsonl : base[g].ftrace;
        const lines = text.split('\n');
        const idx = 1 + Math.floor(at * (lines.length - 3));
        const out = Buffer.concat([Buffer.from(lines.slice(0, idx).join('\n') + '\n'), junk, Buffer.from('\n' + lines.slice(idx).join('\n'))]);
        const o = await run(out, `g.${form}`);
        const s = junk.toString('latin1');
        if (s.trim() === '' || (form === 'ftrace' && s.startsWith('#'))) {
          expect(o.kind).toBe('report');
          return;
        }
        expectInputError(o, { line: form === 'ftrace' ? [1, idx + 1] : idx + 1 });
      }),
      { numRuns: RUNS },
    );
  });
});

describe('empty files and what is not a file', () => {
  it('every form of empty is bad input at line 1', async () => {
    for (const [content, name] of [
      ['', 'e.jsonl'],
      ['', 'e.json'],
      ['', 'e.ftrace'],
      ['\n\n  \n', 'e.jsonl'],
      [gzipSync(''), 'e.jsonl.gz'],
      [gzipSync(''), 'e.ftrace.gz'],
      ['# tracer: nop\n#\n', 'e.txt'],
      [Buffer.from([0x1f]), 'e.jsonl.gz'],
    ] as const) {
      expectInputError(await run(content, name), { line: 1 });
    }
  });
});

// ---- semantic mutations: data lost or altered where the model had checked values --------------------

describe('lost, duplicated, reordered or altered rmap events', () => {
  const pick = (g: Gen, at: number) => {
    const pairs = checkedPairs(g);
    return pairs[Math.floor(at * (pairs.length - 1))]!;
  };

  it('dropping a checked rmap event without a [LOST] marker never agrees', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), async (g, at) => {
        const { r } = pick(g, at);
        const lines = base[g].lines.filter((_, i) => i !== r.idx);
        const o = await run(jsonlOf(lines), 'd.jsonl');
        expect(o.kind === 'report' && o.report.verdict).toBe('diverge');
      }),
      { numRuns: RUNS },
    );
  });

  it('renaming the function of a checked rmap event (an unknown kcall is ignored) is a drop: never agrees', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), async (g, at) => {
        const { r } = pick(g, at);
        const e = JSON.parse(base[g].lines[r.idx]!);
        e.fn = `${e.fn}_x`;
        const o = await run(withLine(g, r.idx, JSON.stringify(e)), 'n.jsonl');
        expect(o.kind === 'report' && o.report.verdict).toBe('diverge');
      }),
      { numRuns: RUNS },
    );
  });

  it('the same drop with a [LOST N EVENTS] marker in its place is inconclusive, never agree and never a divergence', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 1000 }), async (g, at, n) => {
        const { r } = pick(g, at);
        const lines = base[g].lines.slice();
        lines[r.idx] = JSON.stringify({ ev: 'lost', cpu: 0, count: n });
        const o = await run(jsonlOf(lines), 'l.jsonl');
        expect(o.kind === 'report' && o.report.verdict).toBe('inconclusive');
      }),
      { numRuns: RUNS },
    );
  });

  it('duplicating a checked rmap event never agrees (the copy reports a _mapcount the first one changed)', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), async (g, at) => {
        const { r } = pick(g, at);
        const lines = base[g].lines.slice();
        lines.splice(r.idx + 1, 0, lines[r.idx]!);
        const o = await run(jsonlOf(lines), 'u.jsonl');
        expect(o.kind === 'report' && o.report.verdict).toBe('diverge');
      }),
      { numRuns: RUNS },
    );
  });

  it('swapping two successive rmap events of a page that report different _mapcounts never agrees', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), async (g, at) => {
        const pairs = checkedPairs(g).filter((p) => p.r.mapcount !== p.next.mapcount);
        const { r, next } = pairs[Math.floor(at * (pairs.length - 1))]!;
        const lines = base[g].lines.slice();
        [lines[r.idx], lines[next.idx]] = [lines[next.idx]!, lines[r.idx]!];
        const o = await run(jsonlOf(lines), 's.jsonl');
        expect(o.kind === 'report' && o.report.verdict).toBe('diverge');
      }),
      { numRuns: RUNS },
    );
  });

  it('a reported _mapcount the model cannot reach diverges at that line, naming the field and both values', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0), async (g, at, d) => {
        const { r } = pick(g, at);
        const e = JSON.parse(base[g].lines[r.idx]!);
        e.args[r.field] = r.mapcount! + d;
        const o = await run(withLine(g, r.idx, JSON.stringify(e)), 'c.jsonl');
        if (o.kind !== 'report' || o.report.kind !== 'kernel') throw new Error('expected a kernel report');
        expect(o.report.verdict).toBe('diverge');
        const div = o.report.result.divergences.find((x) => x.line === r.idx + 1 && /_mapcount/.test(x.field));
        expect(div).toMatchObject({ kernel: r.mapcount! + d, model: r.mapcount! });
      }),
      { numRuns: RUNS },
    );
  });

  it('inserting a [LOST] marker anywhere never makes an agreeing slice diverge', async () => {
    await fc.assert(
      fc.asyncProperty(gen, fc.double({ min: 0, max: 1, noNaN: true }), async (g, at) => {
        const lines = base[g].lines.slice();
        lines.splice(1 + Math.floor(at * (lines.length - 1)), 0, JSON.stringify({ ev: 'lost', cpu: 1, count: 3 }));
        const o = await run(jsonlOf(lines), 'i.jsonl');
        expect(o.kind === 'report' && o.report.verdict).not.toBe('diverge');
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- the CLI, end to end ------------------------------------------------------------------------------

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'cli/trollcount.js'), ...args], { cwd: ROOT, env: { ...process.env, CI: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`hang: trollcount ${args.join(' ')}`));
    }, 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('trollcount check, end to end', () => {
  it('bad input: exit 2 and one line `trollcount: file:line:col: ...`, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trollcount-cli-'));
    const f = (name: string, content: string | Uint8Array): string => {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    };
    const h = base['6.12'].lines[0]!;
    const cases: [string, RegExp][] = [
      [f('malformed.jsonl', `${h}\n{"ev":"lost","count":1,}\n`), /:2:\d+: malformed JSON/],
      [f('schema.jsonl', `${h}\n{"ev":"lost","count":"many"}\n`), /:2:\d+: 'lost' event: field 'count'/],
      [f('kind.jsonl', `${h}\n{"ev":"rmap","count":1}\n`), /:2:\d+: unknown event kind 'rmap'/],
      [f('cut.jsonl.gz', gzipSync(base['6.12'].jsonl).subarray(0, 3000)), /:\d+:\d+: gzip stream cut short/],
      [f('cut.ftrace.gz', gzipSync(base['6.1'].ftrace).subarray(0, 3000)), /:\d+:\d+: gzip stream cut short/],
      [f('empty.jsonl', ''), /:1:1: empty file/],
      [f('binary.jsonl', Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x0a, 0x00])), /:1:1: not a trace: found binary data/],
      [dir, /:1:1: cannot read the trace file: EISDIR/],
      [join(dir, 'missing.jsonl'), /:1:1: cannot read the trace file: ENOENT/],
    ];
    const results = await Promise.all(cases.map(([p]) => cli(['check', p])));
    results.forEach((r, i) => {
      const [p, re] = cases[i]!;
      expect(r.code, `${p}: ${r.stderr}`).toBe(2);
      expect(r.stderr.startsWith(`trollcount: ${p}:`), r.stderr).toBe(true);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
    });
    rmSync(dir, { recursive: true, force: true });
  });

  it('a diverging fixture exits 1, a lost-gap fixture exits 3', async () => {
    const [d, l] = await Promise.all([cli(['check', 'traces/fixtures/kcalls-6.1-dropped.jsonl']), cli(['check', 'traces/fixtures/kcalls-6.12-lost.jsonl'])]);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/kcalls-6.1-dropped.jsonl:4: page_remove_rmap: .*_mapcount: kernel 2, model 1/);
    expect(l.code).toBe(3);
    expect(l.stdout).toMatch(/inconclusive: 1 lost-event gap/);
  });
});

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
