import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { ROOT, trollcount } from './cli-run.ts';

/**
 * specs/report.schema.json and specs/explore-report.schema.json describe what `trollcount check --json`
 * and `trollcount explore --json` print: validated here against real outputs of the CLI.
 */
const ajv = new Ajv2020.default({ strict: true, allErrors: true, strictRequired: false, strictTypes: false });
const load = (name: string): ValidateFunction => ajv.compile(JSON.parse(readFileSync(join(ROOT, 'specs', name), 'utf8')));
const reportSchema = load('report.schema.json');
const exploreSchema = load('explore-report.schema.json');

function valid(validate: ValidateFunction, value: unknown): void {
  const ok = validate(value);
  expect(ok ? [] : ajv.errorsText(validate.errors, { separator: '\n' }).split('\n')).toEqual([]);
}

describe.concurrent('check --json output validates against specs/report.schema.json', { timeout: 240_000 }, () => {
  it('a real kernel trace (agree)', async () => {
    const r = await trollcount(['check', '--json', 'traces/fixtures/real/6.12-thp-fork-cow.ftrace.gz']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    valid(reportSchema, report);
    expect(report.files[0].kind).toBe('kernel');
    expect(report.files[0].result.values.verified).toBeGreaterThan(0);
  });

  it('a diverging kernel fixture, an ops fixture, a diverging ops fixture and an inconclusive one in one report', async () => {
    const r = await trollcount([
      'check', '--json',
      'traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl',
      'traces/fixtures/ops-fork-cow.jsonl',
      'traces/fixtures/ops-wrong-kpagecount.jsonl',
      'traces/fixtures/kcalls-6.12-lost.jsonl',
    ]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    valid(reportSchema, report);
    expect(report.files.map((f: { kind: string; verdict: string }) => `${f.kind} ${f.verdict}`)).toEqual(['kernel diverge', 'ops agree', 'ops diverge', 'kernel inconclusive']);
    expect(report.files[0].result.divergences[0]).toMatchObject({ field: '_mapcount', line: 5 });
  });

  it('rejects what the CLI never prints (the schema is not vacuous)', async () => {
    const r = await trollcount(['check', '--json', 'traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl']);
    const report = JSON.parse(r.stdout);
    expect(reportSchema({ ...report, verdict: 'maybe' })).toBe(false);
    expect(reportSchema({ ...report, files: [{ ...report.files[0], kind: 'ops' }] })).toBe(false);
    const { divergences, ...rest } = report.files[0].result;
    expect(divergences.length).toBe(1);
    expect(reportSchema({ ...report, files: [{ ...report.files[0], result: rest }] })).toBe(false);
  });
});

describe.concurrent('explore --json output validates against specs/explore-report.schema.json', { timeout: 240_000 }, () => {
  it('bfs, depth 2, default scope (with a counterexample)', async () => {
    const r = await trollcount(['explore', '--depth', '2', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    valid(exploreSchema, report);
    expect(report.violations.length).toBeGreaterThan(0);
    expect(exploreSchema({ ...report, mode: 'dfs' })).toBe(false);
  });

  it('random mode (runs and seed)', async () => {
    const r = await trollcount(['explore', '--mode', 'random', '--runs', '20', '--depth', '3', '--json']);
    expect([0, 1]).toContain(r.code);
    const report = JSON.parse(r.stdout);
    valid(exploreSchema, report);
    expect(report.mode).toBe('random');
    expect(report.runs).toBe(20);
  });
});
