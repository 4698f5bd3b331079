import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFile } from '../checker/check.ts';
import { replayKernelTrace, type KernelReplayResult } from '../checker/replay-kernel.ts';
import { buildReport, formatSummary } from '../checker/report.ts';
import { createShadows, type ShadowSchemeResult } from '../checker/shadow-schemes.ts';
import { openFtrace } from '../traces/ftrace/convert.ts';

const DIR = new URL('../traces/fixtures/real/', import.meta.url).pathname;
const FIXTURES = readdirSync(DIR).filter((f) => f.endsWith('.ftrace.gz')).sort();

async function replay(name: string): Promise<KernelReplayResult> {
  const path = join(DIR, name);
  return replayKernelTrace(await openFtrace(path), { file: path, shadow: createShadows() });
}

const scheme = (r: KernelReplayResult, name: string): ShadowSchemeResult => {
  const s = r.schemes?.find((x) => x.name === name);
  if (!s) throw new Error(`no ${name} in the result`);
  return s;
};

describe.concurrent('the rival schemes shadowing the replay of the real kernel traces', () => {
  for (const f of FIXTURES) {
    it(`${f}: owners-6.15 keeps the exact folio mapcount; the proposal pays page-table scans`, async () => {
      const r = await replay(f);
      expect(r.verdict).toBe('agree'); // the shadows change nothing in the replay
      expect(r.schemes?.map((s) => s.name)).toEqual([f.startsWith('6.12') ? 'large-6.12' : 'legacy-6.1', 'owners-6.15', 'proposal', 'proposal+vma-hooks']);
      const owners = scheme(r, 'owners-6.15');
      expect(owners.mapcount!.checked).toBeGreaterThan(0);
      expect(owners.mapcount!.mismatches).toBe(0);
      for (const name of ['proposal', 'proposal+vma-hooks']) {
        const p = scheme(r, name);
        expect(p.costs.ptesScanned).toBeGreaterThan(0);
        expect(p.costs.atomics).toBeGreaterThan(0);
        expect(p.many!.trackedFolios).toBeGreaterThan(0);
      }
      // every reader row classes every decision
      for (const s of r.schemes!) for (const row of s.readers) expect(row.exact + row.conservative + row.wrong).toBe(row.asked);
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    });
  }

  for (const f of FIXTURES.filter((x) => x.includes('fork-many'))) {
    it(`${f}: the proposal reaches Many and Many is sticky`, async () => {
      const r = await replay(f);
      for (const name of ['proposal', 'proposal+vma-hooks']) {
        const p = scheme(r, name);
        expect(p.many!.folios).toBeGreaterThan(0);
        expect(p.many!.stickyUnmaps).toBeGreaterThan(0);
        // a sticky Many reads as 3 where the exact count says otherwise: kpagecount numbers differ
        const kpc = p.readers.find((x) => x.reader === 'kpagecount')!;
        expect(kpc.wrong).toBeGreaterThan(0);
        expect(kpc.firstWrong!.answer).toMatch(/\[many\]/);
      }
    });
  }

  it('without the shadow option the result has no schemes (zero cost when absent)', async () => {
    const path = join(DIR, FIXTURES[0]);
    const r = await replayKernelTrace(await openFtrace(path), { file: path });
    expect(r.schemes).toBeUndefined();
  });

  it('check runs the shadows by default, --scheme selects them, and the report prints the per-scheme lines', async () => {
    const files = FIXTURES.filter((x) => x.includes('fork-many')).map((x) => join(DIR, x));
    const all = await Promise.all(files.map((f) => checkFile(f)));
    const text = formatSummary(buildReport(all));
    expect(text).toMatch(/schemes side by side on 2 kernel trace\(s\)/);
    expect(text).toMatch(/^legacy-6\.1 \(exact\)\s+\d+/m);
    expect(text).toMatch(/^large-6\.12 \(exact\)\s+\d+/m);
    expect(text).toMatch(/^owners-6\.15\s+\d+/m);
    expect(text).toMatch(/^proposal\s+\d+/m);
    expect(text).toMatch(/^proposal\+vma-hooks\s+\d+/m);
    expect(text).toMatch(/owners-6\.15: folio_mapcount compared with the exact scheme's at \d+ checked events: 0 mismatch/);
    expect(text).toMatch(/proposal: \d+ folio\(s\) reached Many/);
    expect(text).toMatch(/reader decisions that differ from the exact scheme:\n {2}\S+ \S+: \d+ wrong, \d+ conservative of \d+/);
    const one = await checkFile(files[0], { schemes: ['proposal'] });
    expect(one.kind === 'kernel' && one.result.schemes?.map((s) => s.name)).toEqual(['legacy-6.1', 'proposal']);
    const none = await checkFile(files[0], { shadows: false });
    expect(none.kind === 'kernel' && none.result.schemes).toBeUndefined();
  });
});
