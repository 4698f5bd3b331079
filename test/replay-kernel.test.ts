import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openFtrace } from '../traces/ftrace/convert.ts';
import { replayKernelTrace, type KernelReplayResult } from '../checker/replay-kernel.ts';

const DIR = new URL('../traces/fixtures/real/', import.meta.url).pathname;
const FIXTURES = readdirSync(DIR).filter((f) => f.endsWith('.ftrace.gz')).sort();
const TMP = mkdtempSync(join(tmpdir(), 'trollcount-replay-'));

async function replay(path: string): Promise<KernelReplayResult> {
  return replayKernelTrace(await openFtrace(path), { file: path });
}

function fixtureLines(name: string): string[] {
  return gunzipSync(readFileSync(join(DIR, name))).toString('utf8').split('\n');
}

/**
 * A page born in the trace (new anon rmap) that is unmapped twice later (fork: parent and
 * child): the first unmap is a checked (not learned) event, and deleting it leaves the second one
 * reporting a count the model cannot reach.
 */
function pickForkedPage(lines: string[], gen: '6.1' | '6.12'): { first: number; second: number } {
  const born = gen === '6.1' ? 'page_add_new_anon_rmap:' : 'folio_add_new_anon_rmap:';
  const remove = gen === '6.1' ? 'page_remove_rmap:' : 'folio_remove_rmap_ptes:';
  const key = gen === '6.1' ? / page=(0x[0-9a-f]+)/ : / folio=(0x[0-9a-f]+)/;
  const small = gen === '6.1' ? / chead=0x0 / : / nr_pages=\d+$/;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes(born) || !small.test(lines[i]) || lines[i].includes(' fflags=0xfffffe0020') ) continue;
    const k = key.exec(lines[i])![1];
    const removes: number[] = [];
    for (let j = i + 1; j < lines.length && removes.length < 2; j++) {
      if (lines[j].includes(born) && lines[j].includes(`=${k} `)) break; // freed and reused
      if (lines[j].includes(remove) && lines[j].includes(`${gen === '6.1' ? 'page' : 'folio'}=${k} `)) removes.push(j);
    }
    if (removes.length === 2) return { first: removes[0], second: removes[1] };
  }
  throw new Error('no forked page found');
}

describe('replay of the 14 real kernel traces against the exact schemes', () => {
  const table: string[] = [];
  for (const f of FIXTURES) {
    it(`${f}: agree, no divergence, values verified`, async () => {
      const r = await replay(join(DIR, f));
      table.push(
        `${f.padEnd(36)} events ${String(r.events).padStart(6)} verified ${String(r.values.verified).padStart(6)} learned ${String(r.values.learned).padStart(4)} ratio ${r.values.verifiedRatio.toFixed(3)} inferred ${r.inferredTotal} refcount ${r.refcount.checked}`,
      );
      expect(r.divergences).toEqual([]);
      expect(r.divergenceCount).toBe(0);
      expect(r.verdict).toBe('agree');
      expect(r.values.verified).toBeGreaterThan(0);
      expect(r.values.verified).toBeGreaterThan(r.values.learned);
      expect(r.refcount.checked).toBeGreaterThan(0);
      expect(r.observations.checked).toBeGreaterThan(0);
      expect(r.generation).toBe(f.startsWith('6.12') ? '6.12' : '6.1');
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    });
  }
  it('reports the verified/learned ratio', () => {
    console.log(table.join('\n'));
    expect(table).toHaveLength(14);
  });

  for (const gen of ['6.1', '6.12'] as const) {
    const name = `${gen}-thp-fork-cow.ftrace.gz`;
    const field = gen === '6.1' ? 'mapcount' : 'pmapcount';

    it(`${gen}: one altered counter diverges at that line`, async () => {
      const lines = fixtureLines(name);
      const { first } = pickForkedPage(lines, gen);
      const re = new RegExp(` ${field}=(-?\\d+) `);
      const v = Number(re.exec(lines[first])![1]);
      const mutated = lines.slice();
      mutated[first] = lines[first].replace(re, ` ${field}=${v + 1} `);
      const p = join(TMP, `${gen}-altered.ftrace`);
      writeFileSync(p, mutated.join('\n'));
      const r = await replay(p);
      expect(r.verdict).toBe('diverge');
      expect(r.divergences[0]).toMatchObject({ line: first + 1, kernel: v + 1, model: v });
      expect(r.divergences[0].field).toMatch(/_mapcount/);
      expect(r.divergences[0].history.at(-1)).toEqual({ line: first + 1, fn: gen === '6.1' ? 'page_remove_rmap' : 'folio_remove_rmap_ptes' });
    });

    it(`${gen}: one deleted rmap line diverges`, async () => {
      const lines = fixtureLines(name);
      const { first, second } = pickForkedPage(lines, gen);
      const p = join(TMP, `${gen}-deleted.ftrace`);
      writeFileSync(p, [...lines.slice(0, first), ...lines.slice(first + 1)].join('\n'));
      const r = await replay(p);
      expect(r.verdict).toBe('diverge');
      expect(r.divergences[0].line).toBe(second); // the second unmap, one line earlier now
    });

    it(`${gen}: a deleted rmap line after a [LOST] marker is inconclusive, not agree`, async () => {
      const lines = fixtureLines(name);
      const { first } = pickForkedPage(lines, gen);
      const p = join(TMP, `${gen}-lost.ftrace`);
      writeFileSync(p, [...lines.slice(0, first), 'CPU:0 [LOST 5 EVENTS]', ...lines.slice(first + 1)].join('\n'));
      const r = await replay(p);
      expect(r.lost).toMatchObject({ markers: 1, events: 5 });
      expect(r.lost.uncheckedValues).toBeGreaterThan(0);
      expect(r.divergenceCount).toBe(0);
      expect(r.verdict).toBe('inconclusive');
    });

    it(`${gen}: a deleted new-anon rmap line diverges (unmap of a mapping the model never saw)`, async () => {
      const lines = fixtureLines(name);
      const born = gen === '6.1' ? 'page_add_new_anon_rmap:' : 'folio_add_new_anon_rmap:';
      const idx = lines.findIndex((l, i) => i > lines.length / 2 && l.includes(born));
      const p = join(TMP, `${gen}-deleted-born.ftrace`);
      writeFileSync(p, [...lines.slice(0, idx), ...lines.slice(idx + 1)].join('\n'));
      const r = await replay(p);
      expect(r.verdict).toBe('diverge');
    });
  }
});

describe('the history a divergence report gives', () => {
  it('a page split from a THP lists the THP events before its own (the history is inherited, not lost)', async () => {
    // 6.12-split-folio: the THP at pfn 0x5200 is split (split_huge_page_to_list_to_order, its 512
    // PTEs unmapped to migration entries, then remapped page by page); page 1 is unmapped later
    const lines = fixtureLines('6.12-split-folio.ftrace.gz');
    const page1 = 'folio=0xffffea0000148040 page=0xffffea0000148040';
    const split = lines.findIndex((l) => l.includes('split_huge_page_to_list_to_order:') && l.includes('page=0xffffea0000148000'));
    const remap = lines.findIndex((l) => l.includes('folio_add_anon_rmap_ptes:') && l.includes(page1));
    const unmap = lines.findIndex((l) => l.includes('folio_remove_rmap_ptes:') && l.includes(page1));
    expect(split).toBeGreaterThan(0);
    expect(remap).toBeGreaterThan(split);
    expect(unmap).toBeGreaterThan(remap);
    const mutated = lines.slice();
    mutated[unmap] = lines[unmap].replace(' pmapcount=0 ', ' pmapcount=1 ');
    const p = join(TMP, 'split-history.ftrace');
    writeFileSync(p, mutated.join('\n'));
    const r = await replay(p);
    expect(r.divergences[0]).toMatchObject({ line: unmap + 1, folio: '0x5201', kernel: 1, model: 0 });
    const history = r.divergences[0].history;
    expect(history).toHaveLength(8);
    // oldest first: the THP's last event (the split unmapping its PTEs), then the page's own events
    // from its remap after the split (its `obs` samples between) to the unmap that diverged
    expect(history[0].line).toBeGreaterThan(split + 1);
    expect(history[0].line).toBeLessThan(remap + 1);
    expect(lines[history[0].line - 1]).toContain('folio=0xffffea0000148000');
    expect(history[1]).toEqual({ line: remap + 1, fn: 'folio_add_anon_rmap_ptes' });
    expect(history.at(-1)).toEqual({ line: unmap + 1, fn: 'folio_remove_rmap_ptes' });
  });
});
