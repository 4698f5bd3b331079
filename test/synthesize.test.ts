import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthesize, writeSyntheticTrace, type SynthOptions } from '../bench/generate.ts';
import { checkFile } from '../checker/check.ts';
import { replayKernelTrace } from '../checker/replay-kernel.ts';
import { openTrace } from '../traces/reader.ts';
import { convertFile } from '../traces/ftrace/convert.ts';
import { PROBE_TABLES } from '../traces/ftrace/convert.ts';
import { eventProblem } from '../traces/schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'trollcount-synth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('synthetic 6.12 traces recorded from the emulated MM', () => {
  for (const o of [
    { events: 4000, seed: 7, workload: 'mixed', processes: 6 },
    { events: 2000, seed: 3, workload: 'shared-file', processes: 20 },
    { events: 2000, seed: 5, workload: 'fork-thp', processes: 8 },
  ] satisfies SynthOptions[]) {
    it(`${o.workload}: checks as agree with zero divergences, the hints present`, async () => {
      const jsonl = join(dir, `${o.workload}.jsonl`);
      const s = await writeSyntheticTrace(o, { jsonl });
      expect(s.events).toBeGreaterThanOrEqual(o.events);
      const r = await checkFile(jsonl);
      expect(r.kind).toBe('kernel');
      if (r.kind !== 'kernel') return;
      expect(r.result.divergences).toEqual([]);
      expect(r.verdict).toBe('agree');
      expect(r.result.values.verified).toBeGreaterThan(0);
      if (o.workload !== 'shared-file') {
        for (const fn of ['copy_page_range', 'copy_huge_pmd', 'folio_add_new_anon_rmap', 'folio_remove_rmap_pmd', 'do_huge_pmd_anonymous_page']) expect(s.byFn[fn], fn).toBeGreaterThan(0);
        expect((r.result.inferred['fork-pte-dup'] ?? 0) + (r.result.inferred['fork-pmd-dup'] ?? 0)).toBeGreaterThan(0);
      }
    });
  }

  it('is deterministic, valid against the schema, and uses the 6.12 probes names and fields', () => {
    const a = [...synthesize({ events: 1500, seed: 11 })];
    const b = [...synthesize({ events: 1500, seed: 11 })];
    expect(a).toEqual(b);
    const probes = PROBE_TABLES['6.12'].kprobes;
    const byFn = new Map(Object.values(probes).map((p) => [`${p.fn}|${p.ret}`, p.fields]));
    for (const e of a) {
      expect(eventProblem(e)).toBeUndefined();
      if (e.ev !== 'kcall') continue;
      const fields = byFn.get(`${e.fn}|${e.ret === true}`);
      expect(fields, e.fn).toBeDefined();
      expect(Object.keys(e.args)).toEqual(Object.keys(fields!));
      for (const [k, t] of Object.entries(fields!)) expect(typeof e.args[k], `${e.fn}.${k}`).toBe(t === 'x64' ? 'string' : 'number');
    }
  });

  it('rendered as ftrace text, converts back to the same events', async () => {
    const o = { events: 3000, seed: 13 };
    const jsonl = join(dir, 'rt.jsonl');
    const ftrace = join(dir, 'rt.ftrace');
    const back = join(dir, 'rt-back.jsonl');
    await writeSyntheticTrace(o, { jsonl, ftrace });
    await convertFile(ftrace, back);
    const lines = (p: string): string[] => readFileSync(p, 'utf8').trim().split('\n').slice(1);
    expect(lines(back)).toEqual(lines(jsonl));
  });

  it('the knowledge machines give the same report run as xstate actors as by their fast path', async () => {
    const jsonl = join(dir, 'engines.jsonl');
    await writeSyntheticTrace({ events: 3000, seed: 17 }, { jsonl });
    const run = async (knowledgeEngine: 'fast' | 'actor') => replayKernelTrace(await openTrace(jsonl), { file: jsonl, knowledgeEngine });
    expect(await run('fast')).toEqual(await run('actor'));
  });
});
