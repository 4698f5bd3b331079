import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { checkFile, type FileReport } from '../checker/check.ts';
import { renderHtmlReport } from '../checker/html.ts';
import { perfettoTrace } from '../checker/perfetto.ts';
import { replayKernelTrace, type TimelineEntry } from '../checker/replay-kernel.ts';
import { replayOpTrace } from '../checker/replay-ops.ts';
import { buildReport, type CheckReport } from '../checker/report.ts';
import { TimelineCollector, compactPoints, type FileTimeline, type TimelinePoint } from '../checker/timeline.ts';
import { openTrace } from '../traces/reader.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const FIX = join(ROOT, 'traces/fixtures');
const WRONG = join(FIX, 'kcalls-6.1-wrong-mapcount.jsonl');
const TMP = mkdtempSync(join(tmpdir(), 'trollcount-html-'));

/** What `trollcount check --html` does: check each file with a timeline collector. */
async function checkWithTimelines(files: string[]): Promise<{ report: CheckReport; timelines: FileTimeline[] }> {
  const reports: FileReport[] = [];
  const timelines: FileTimeline[] = [];
  for (const file of files) {
    const c = new TimelineCollector(file);
    reports.push(await checkFile(file, { timeline: c }));
    timelines.push(c.result());
  }
  return { report: buildReport(reports), timelines };
}

/** Every URL-like reference of the page: attributes that load or link something, CSS url() and @import. */
function references(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href|action|srcset|poster|data)\s*=\s*"([^"]*)"/gi), ...html.matchAll(/url\(([^)]*)\)|@import\s+([^;]+)/gi)].map((m) => m[1] ?? m[2] ?? '');
}

describe('timeline observers', () => {
  it('the kernel replay reports every checked kcall with kernel and model values, and its result is the same with or without an observer', async () => {
    const entries: TimelineEntry[] = [];
    const plain = await replayKernelTrace(await openTrace(WRONG), { file: WRONG });
    const observed = await replayKernelTrace(await openTrace(WRONG), { file: WRONG, timeline: (e) => entries.push(e) });
    expect(observed).toEqual(plain);
    expect(entries.map((e) => [e.line, e.fn, e.folio, e.diverged])).toEqual([
      [3, 'page_add_new_anon_rmap', '0x29e1', false],
      [5, 'page_remove_rmap', '0x29e1', true],
    ]);
    expect(entries[0].state).toBe('verified');
    expect(entries[1].values.find((v) => v.field === '_mapcount')).toEqual({ field: '_mapcount', page: 0, kernel: 1, model: 0, diverged: true });
    expect(entries[1].ts).toBe(3.644605);
  });

  it('a real trace: learned values carry no model value, and the observer does not change the result', async () => {
    const file = join(FIX, 'real/6.12-thp-fork-cow.ftrace.gz');
    const entries: TimelineEntry[] = [];
    const plain = await replayKernelTrace(await openTrace(file), { file });
    const observed = await replayKernelTrace(await openTrace(file), { file, timeline: (e) => entries.push(e) });
    expect(observed).toEqual(plain);
    const learned = entries.flatMap((e) => e.values).filter((v) => v.model === undefined).length;
    const checked = entries.flatMap((e) => e.values).filter((v) => v.model !== undefined && !v.field.startsWith('refcount')).length;
    expect(learned).toBeGreaterThanOrEqual(plain.values.learned > 0 ? 1 : 0);
    expect(checked).toBe(plain.values.verified);
    expect(entries.every((e) => !e.diverged)).toBe(true);
  });

  it('the op replay reports each scheme\'s state of a folio when it changes, and obs comparisons with their divergence', async () => {
    const file = join(FIX, 'ops-wrong-kpagecount.jsonl');
    const c = new TimelineCollector(file);
    const result = await replayOpTrace(await openTrace(file), { timeline: c.ops });
    const tl = c.result();
    expect(tl.kind).toBe('ops');
    expect(tl.schemes).toEqual(result.schemes);
    const points = tl.folios.flatMap((f) => f.points);
    expect(points.some((p) => p.fn.startsWith('fork') || p.fn.includes('fork'))).toBe(true);
    const bad = points.filter((p) => p.diverged);
    expect(bad.map((p) => p.line)).toContain(25);
    expect(bad.find((p) => p.line === 25)!.values[0]).toMatchObject({ field: 'kpagecount', kernel: 2, model: 1, diverged: true });
    expect(Object.keys(bad[0].states!)).toEqual(result.schemes);
    expect(tl.folios[0].divergences).toBeGreaterThan(0); // diverging folios first
  });
});

describe('bounded timelines', () => {
  const pt = (line: number, diverged = false): TimelinePoint => ({ line, fn: 'f', page: 0, values: [], diverged });

  it('compactPoints keeps the first points, the last, every divergence with its context, in order', () => {
    const points = Array.from({ length: 1000 }, (_, i) => pt(i + 1, i === 500));
    const kept = compactPoints(points, 50);
    expect(kept).toHaveLength(50);
    const lines = kept.map((p) => p.line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    for (const l of [1, 2, 3, 497, 498, 499, 500, 501, 502, 1000]) expect(lines).toContain(l);
    expect(Math.max(...lines.filter((l) => l < 497))).toBeGreaterThan(200); // spread, not only the start
  });

  it('the collector keeps at most maxFolios folios (diverging first) and maxEntries points each', () => {
    const c = new TimelineCollector('x', { maxFolios: 5, maxEntries: 10 });
    for (let i = 0; i < 20_000; i++) {
      const folio = `0x${(i % 300).toString(16)}`;
      c.kernel({ file: 'x', line: i + 1, fn: 'f', folio, page: 0, nr: 1, values: [], state: 'verified', diverged: folio === '0x2a' && i > 10_000 && i < 10_400 });
    }
    const tl = c.result();
    expect(tl.folios).toHaveLength(5);
    expect(tl.folios[0].folio).toBe('0x2a');
    expect(tl.folios.every((f) => f.points.length <= 10)).toBe(true);
    expect(tl.foliosSeen).toBe(300);
    expect(tl.pointsDropped).toBeGreaterThan(0);
  });
});

describe('HTML report', () => {
  it('shows the summary, the divergence of the wrong-mapcount fixture and its folio timeline, with no URL to fetch', async () => {
    const { report, timelines } = await checkWithTimelines([WRONG, join(FIX, 'real/6.1-tmpfs-shared-private.ftrace.gz')]);
    const html = renderHtmlReport(report, timelines);
    expect(html).toContain(`${WRONG}:5</code>: <code>page_remove_rmap</code>`);
    expect(html).toContain('<b>_mapcount</b>: kernel <span class="k">1</span>, model <span class="m">0</span>');
    expect(html).toContain('recent history of the folio: 3 page_add_new_anon_rmap, 5 page_remove_rmap');
    expect(html).toMatch(/<tr id="p-0-0-1" class="pt dv">/); // the diverging row of folio 0x29e1
    expect(html).toContain('<b class="mono">folio 0x29e1</b>');
    expect(html).toContain('<span class="verdict v-diverge">diverge</span>');
    expect(html).toContain('6.1-tmpfs-shared-private.ftrace.gz');
    // self-contained: nothing fetched, no external fonts, no scheme-bearing URL at all
    expect(html).not.toMatch(/https?:|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
    expect(html).not.toMatch(/<link\b|<img\b|<iframe\b|@font-face|<script\s+src/i);
    for (const ref of references(html)) expect(ref.startsWith('#'), ref).toBe(true);
  });

  it('escapes every text from traces: file names, kcall names, scheme states', async () => {
    const evil = join(TMP, `<b>x&"y'.jsonl`);
    copyFileSync(WRONG, evil);
    const { report, timelines } = await checkWithTimelines([evil]);
    const injected: FileTimeline = {
      ...timelines[0],
      folios: [{ ...timelines[0].folios[0], points: [...timelines[0].folios[0].points, { line: 9, fn: '<img src=x onerror=alert(1)>', page: 0, values: [{ field: '<i>f</i>', page: 0, kernel: 1, model: 2, diverged: true }], state: 'learned', diverged: true }] }],
    };
    const html = renderHtmlReport(report, [injected]);
    expect(html).not.toContain('<b>x&');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<i>f</i>');
    expect(html).toContain('&lt;b&gt;x&amp;&quot;y&#39;.jsonl');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&lt;i&gt;f&lt;/i&gt;');
  });

  it('renders cost tables when the report carries them', async () => {
    const { report, timelines } = await checkWithTimelines([WRONG]);
    const withCosts = { ...report, costs: { proposal: { atomics: 3, rmapWalks: 1 }, 'legacy-6.1': { atomics: 7, rmapWalks: 0 } } } as CheckReport;
    const html = renderHtmlReport(withCosts, timelines);
    expect(html).toContain('<section id="costs">');
    expect(html).toMatch(/<tr><th>proposal<\/th><td class="num">3<\/td><td class="num">1<\/td><\/tr>/);
    expect(renderHtmlReport(report, timelines)).not.toContain('<section id="costs">');
  });
});

describe('Perfetto export', () => {
  it('is trace-event JSON with one track per folio and an instant event for the divergence', async () => {
    const { report, timelines } = await checkWithTimelines([WRONG]);
    const json = JSON.parse(JSON.stringify(perfettoTrace(report, timelines))) as { traceEvents: { ph: string; name: string; ts?: number; pid: number; tid?: number; args?: Record<string, unknown> }[] };
    expect(Array.isArray(json.traceEvents)).toBe(true);
    expect(json.traceEvents.every((e) => ['X', 'i', 'C', 'M'].includes(e.ph))).toBe(true);
    expect(json.traceEvents.filter((e) => e.ph !== 'M').every((e) => typeof e.ts === 'number')).toBe(true);
    const track = json.traceEvents.find((e) => e.ph === 'M' && e.name === 'thread_name' && (e.args?.name as string).startsWith('folio 0x29e1'))!;
    expect(track).toBeDefined();
    const slices = json.traceEvents.filter((e) => e.ph === 'X' && e.tid === track.tid);
    expect(slices.map((e) => [e.name, e.ts])).toEqual([['page_add_new_anon_rmap', 3], ['page_remove_rmap', 5]]);
    const instants = json.traceEvents.filter((e) => e.ph === 'i');
    expect(instants).toHaveLength(1);
    expect(instants[0]).toMatchObject({ ts: 5, pid: track.pid, tid: track.tid, args: { field: '_mapcount', kernel: 1, model: 0, line: 5 } });
    expect(json.traceEvents.some((e) => e.ph === 'C')).toBe(true);
  });
});

describe('trollcount check --html --perfetto (end to end)', () => {
  it('exits 1 on the diverging fixture and writes both files', () => {
    const html = join(TMP, 'cli-report.html');
    const trace = join(TMP, 'cli-trace.json');
    const r = spawnSync(process.execPath, [join(ROOT, 'cli/trollcount.js'), 'check', 'traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl', '--html', html, '--perfetto', trace], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' } });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain('verdict: diverge');
    expect(existsSync(html) && existsSync(trace)).toBe(true);
    expect(readFileSync(html, 'utf8')).toContain('traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl:5</code>');
    const events = (JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: { ph: string; args?: { field?: string } }[] }).traceEvents;
    expect(events.some((e) => e.ph === 'i' && e.args?.field === '_mapcount')).toBe(true);
  });

  it('a report path that cannot be written is bad usage (exit 2), with the path named', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'cli/trollcount.js'), 'check', 'traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl', '--html', join(TMP, 'no/such/dir/r.html')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot write the HTML report to');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
