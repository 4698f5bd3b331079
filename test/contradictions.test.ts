import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkFile, type FileReport } from '../checker/check.ts';
import { buildReport, formatSummary } from '../checker/report.ts';

/**
 * Semantically contradictory traces (traces/fixtures/contradictions/, each file's header says what
 * it contradicts and what the checker must say): every one is read, replayed and ends in a
 * divergence or an inconclusive verdict whose explanation names the line, the field and the values;
 * never a crash, never agree.
 */

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../traces/fixtures/contradictions');
const check = (name: string): Promise<FileReport> => checkFile(join(DIR, name));
const summary = (r: FileReport): string => formatSummary(buildReport([r]));

describe('contradictory traces give a divergence or inconclusive, with an explanation', () => {
  it('every fixture is covered below and none agrees', async () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.jsonl')).sort();
    expect(files).toEqual([
      'ops-unknown-pid.jsonl',
      'page-in-two-folios-6.1.jsonl',
      'page-in-two-folios-6.12.jsonl',
      'unknown-mm-6.1.jsonl',
      'unmap-never-mapped-6.1.jsonl',
      'unreachable-mapcount-6.12.jsonl',
    ]);
    for (const f of files) {
      const r = await check(f);
      expect(r.verdict, f).not.toBe('agree');
      const header = JSON.parse(readFileSync(join(DIR, f), 'utf8').split('\n')[0]!) as { source: { description?: string } };
      expect(header.source.description, f).toMatch(/^Contradiction: /);
    }
  });

  it('an unmap of a page never mapped in a complete VMA (born after execve) diverges: mapped-in-vma', async () => {
    const r = await check('unmap-never-mapped-6.1.jsonl');
    if (r.kind !== 'kernel') throw new Error('expected a kernel trace');
    expect(r.verdict).toBe('diverge');
    expect(r.result.divergences[0]).toMatchObject({ line: 4, fn: 'page_remove_rmap', field: 'mapped-in-vma', kernel: true, model: false, folio: '0x6001' });
    expect(summary(r)).toMatch(/unmap-never-mapped-6\.1\.jsonl:4: page_remove_rmap: folio 0x6001 page 0: mapped-in-vma: kernel true, model false/);
  });

  it('a reported _mapcount the model cannot reach diverges at that line with both values', async () => {
    const r = await check('unreachable-mapcount-6.12.jsonl');
    if (r.kind !== 'kernel') throw new Error('expected a kernel trace');
    expect(r.verdict).toBe('diverge');
    const d = r.result.divergences.find((x) => x.field === 'folio._mapcount' || x.field === 'page._mapcount');
    expect(d).toMatchObject({ line: 3, kernel: 4, model: 0 });
    expect(d!.history.map((h) => h.line)).toEqual([2, 3]);
  });

  it('kcall trace: a mm never seen (its fork was not recorded) unmapping a page born in the trace diverges', async () => {
    const r = await check('unknown-mm-6.1.jsonl');
    if (r.kind !== 'kernel') throw new Error('expected a kernel trace');
    expect(r.verdict).toBe('diverge');
    expect(r.result.divergences[0]).toMatchObject({ line: 4, field: '_mapcount', kernel: 0, model: 1 });
    expect(r.result.inferred['pre-trace-mapping-dup']).toBe(1);
  });

  it('ops trace: an op for a pid never spawned nor forked is refused with ESRCH, reported, and the verdict is inconclusive', async () => {
    const r = await check('ops-unknown-pid.jsonl');
    if (r.kind !== 'ops') throw new Error('expected an ops trace (the first event is a step, the first decisive one an op)');
    expect(r.verdict).toBe('inconclusive');
    expect(r.result.counts.outcomes.ESRCH).toBe(1);
    expect(r.result.refused).toEqual([expect.objectContaining({ at: expect.objectContaining({ line: 5 }), outcome: 'ESRCH' })]);
    expect(summary(r)).toMatch(/ops-unknown-pid\.jsonl:5: .*pid 7.*ESRCH: no such process/);
  });

  it('6.1: a page of a mapped THP reported as a tail of another folio (compound_head elsewhere) diverges', async () => {
    const r = await check('page-in-two-folios-6.1.jsonl');
    if (r.kind !== 'kernel') throw new Error('expected a kernel trace');
    expect(r.verdict).toBe('diverge');
    expect(r.result.divergences[0]).toMatchObject({ line: 4, fn: 'page_remove_rmap' });
  });

  it('6.12: a page outside the folio the event names diverges (page-in-folio) and the event is not replayed', async () => {
    const r = await check('page-in-two-folios-6.12.jsonl');
    if (r.kind !== 'kernel') throw new Error('expected a kernel trace');
    expect(r.verdict).toBe('diverge');
    expect(r.result.divergences).toEqual([expect.objectContaining({ line: 4, field: 'page-in-folio(nr_pages)', kernel: 6, model: 4, folio: '0x9000' })]);
    expect(summary(r)).toMatch(/:4: folio_remove_rmap_ptes: folio 0x9000 page 6: page-in-folio\(nr_pages\): kernel 6, model 4/);
  });

  it('the hand-written ops fixtures that start with a step are replayed as ops (not as an empty kernel trace)', async () => {
    const r = await checkFile(join(DIR, '../ops-wrong-kpagecount.jsonl'));
    expect(r.kind).toBe('ops');
    expect(r.verdict).toBe('diverge');
  });
});
