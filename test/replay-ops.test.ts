import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exploreBfs } from '../checker/explore/bfs.ts';
import { writeCounterexampleTrace } from '../checker/explore/counterexample.ts';
import { RULE } from '../checker/properties.ts';
import { replayOpTrace } from '../checker/replay-ops.ts';
import { defaultScope } from '../checker/scope.ts';
import type { PositionedEvent, TraceEvent, TraceHeader } from '../traces/events.ts';
import { readLines } from '../traces/lines.ts';

/** A minimal JSON Lines reader for op traces (the real one is traces/reader.ts). */
async function openOpTrace(file: string): Promise<{ header: TraceHeader; events: AsyncIterable<PositionedEvent> }> {
  const lines = readLines(file)[Symbol.asyncIterator]();
  const first = await lines.next();
  const header = JSON.parse(first.value!.text) as TraceHeader;
  async function* events(): AsyncGenerator<PositionedEvent> {
    for (let l = await lines.next(); !l.done; l = await lines.next()) {
      if (l.value.text.trim()) yield { event: JSON.parse(l.value.text) as TraceEvent, at: { file, line: l.value.line } };
    }
  }
  return { header, events: events() };
}

const dir = mkdtempSync(join(tmpdir(), 'trollcount-replay-'));

describe('replay of op traces', () => {
  it('a counterexample written by explore replays through replayOpTrace to the same violation, at the line of its last op', async () => {
    const scope = defaultScope();
    const r = exploreBfs({ scope, maxDepth: 2, schemes: ['large-6.12', 'proposal'] });
    const cex = r.violations.find((v) => v.property === RULE.belowTruth && v.scheme === 'proposal')!;
    const file = join(dir, 'cex.jsonl');
    writeCounterexampleTrace(file, cex, scope);
    const result = await replayOpTrace(await openOpTrace(file), {});
    expect(result.verdict).toBe('diverge');
    const v = result.violations.find((x) => x.property === cex.property && x.scheme === cex.scheme)!;
    expect(v.detail).toBe(cex.detail);
    expect(v.at).toEqual({ file, line: 1 + scope.setup.length + cex.ops.length });
    expect(v.op).toEqual(cex.ops.at(-1));
    expect(result.counts.ops).toBe(scope.setup.length + cex.ops.length);
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('compares obs events with the exact scheme: a right kpagecount agrees, a wrong one diverges with file:line', async () => {
    const scope = defaultScope();
    const header = { format: 'trollcount-trace', version: 1, kernel: { generation: '6.12' }, geometry: scope.geometry, source: { kind: 'synthetic' }, mm: { thp: 'always', shmemThp: true } };
    const va = `0x${scope.windowStart.toString(16)}`;
    const obs = (kpagecount: number) => ({ ev: 'obs', pid: 1, va, pfn: '0x0', present: true, kpagecount, kpageflags: '0x0' });
    const lines = (k: number) => [header, ...scope.setup.map((op) => ({ ev: 'op', op })), { ev: 'op', op: { type: 'FAULT', pid: 1, addr: scope.windowStart, write: true } }, obs(k)];
    const good = join(dir, 'good.jsonl');
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(good, lines(1).map((l) => JSON.stringify(l)).join('\n'));
    writeFileSync(bad, lines(2).map((l) => JSON.stringify(l)).join('\n'));
    const ok = await replayOpTrace(await openOpTrace(good), { schemes: ['large-6.12'] });
    expect(ok.verdict).toBe('agree');
    expect(ok.counts.observationsCompared).toBe(1);
    const ko = await replayOpTrace(await openOpTrace(bad), { schemes: ['large-6.12'] });
    expect(ko.verdict).toBe('diverge');
    expect(ko.divergences).toEqual([{ at: { file: bad, line: scope.setup.length + 3 }, pid: 1, va, field: 'kpagecount', kernel: 2, model: 1, scheme: 'large-6.12' }]);
  });
});
