import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** `npm run bench -- --smoke` end to end: every measurement is in the JSON, and the generated traces agreed. No timing assertions. */
const dir = mkdtempSync(join(tmpdir(), 'trollcount-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench smoke', () => {
  it('runs and reports every measurement', () => {
    const out = join(dir, 'bench.json');
    execFileSync(process.execPath, ['--import', 'tsx', 'bench/bench.ts', '--smoke', '--out', out], { cwd: new URL('..', import.meta.url).pathname, stdio: 'pipe', timeout: 300_000 });
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.machine.nproc).toBeGreaterThan(0);
    expect(r.loadAverageAtStart).toBeGreaterThanOrEqual(0);
    expect(r.loadAverageAtEnd).toBeGreaterThanOrEqual(0);
    expect(r.runs.length).toBe(2);
    for (const run of r.runs) {
      expect(run.events).toBeGreaterThan(0);
      expect(run.baseline.perSecond).toBeGreaterThan(0);
      expect(run.check.perSecond).toBeGreaterThan(0);
      expect(run.check.verdict).toBe('agree');
      expect(run.check.divergences).toBe(0);
      expect(run.checkOverBaseline).toBeGreaterThan(0);
      expect(run.check.maxRssMB).toBeGreaterThan(0);
      expect(run.check.cpuMs).toBeGreaterThan(0);
      // a smoke run measures once; every round's time is in the JSON
      expect(run.rounds).toBe(1);
      for (const m of [run.baseline, run.check, run.checkExact]) expect(m.roundsMs).toHaveLength(1);
    }
    expect(r.runs[0].convert.linesPerSecond).toBeGreaterThan(0);
    expect(r.memory.peakMB.length).toBe(2);
    expect(r.explore.distinct).toBeGreaterThan(0);
    expect(r.explore.distinctPerSecond).toBeGreaterThan(0);
    expect(r.explore.bytesPerState).toBeGreaterThan(0);
    expect(r.exploreDeep.distinct).toBeGreaterThan(r.explore.distinct);
    expect(r.exploreDeep.distinctPerSecond).toBeGreaterThan(0);
    expect(r.scale.map((s: { workload: string }) => s.workload)).toEqual(['shared-file', 'fork-thp']);
    for (const s of r.scale) {
      expect(s.small.verdict).toBe('agree');
      expect(s.large.verdict).toBe('agree');
      expect(s.largeOverSmall).toBeGreaterThan(0);
      expect(s.exactLargeOverSmall).toBeGreaterThan(0);
      expect(s.large.cpuUsPerEvent).toBeGreaterThan(0);
    }
  });
});
