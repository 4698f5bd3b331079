import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundledTraces } from '../traces/bundled.ts';
import { ROOT, trollcount, type CliResult } from './cli-run.ts';

/**
 * End-to-end: the CLI spawned as a user runs it (`node cli/trollcount.js`), every command and every
 * exit code (0 agree/ok, 1 divergence or violated property, 2 bad input or usage, 3 inconclusive).
 * The tests of a describe run concurrently: each is a child process.
 */
/** Per test: generous, the machine may be shared (a quiet 2-core run of the whole file takes < 60 s). */
const SLOW = 280_000;
const TMP = mkdtempSync(join(tmpdir(), 'trollcount-cli-'));
const WRONG_MAPCOUNT = 'traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl';
const WRONG_KPAGECOUNT = 'traces/fixtures/ops-wrong-kpagecount.jsonl';
const LOST = 'traces/fixtures/kcalls-6.12-lost.jsonl';
const OPS = 'traces/fixtures/ops-fork-cow.jsonl';
const REAL61 = 'traces/fixtures/real/6.1-thp-fork-cow.ftrace.gz';

/** A user error: one line on stderr naming the problem, no stack trace. */
function expectUserError(r: CliResult, message: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error/);
}

describe.concurrent('trollcount check', { timeout: SLOW }, () => {
  it('without files checks the bundled real traces: exit 0 and the summary table', async () => {
    const r = await trollcount(['check']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^trace\s+gen\s+kind\s+events\s+verified\s+learned\s+inferred\s+diverged\s+verdict$/);
    expect(lines[1]).toMatch(/^-+( +-+){8}$/);
    const bundled = bundledTraces().map((f) => basename(f));
    expect(bundled.length).toBeGreaterThanOrEqual(12);
    for (const name of bundled) expect(r.stdout).toMatch(new RegExp(`^${name.replace(/\./g, '\\.')}\\s+6\\.12?\\s+kernel\\s+\\d+\\s+\\d+\\s+\\d+\\s+\\d+\\s+0\\s+agree`, 'm'));
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('verdict: agree');
  });

  it('--json prints the report (tool, verdict, files with summary and result)', async () => {
    const r = await trollcount(['check', REAL61, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.tool).toBe('trollcount');
    expect(report.verdict).toBe('agree');
    expect(report.files).toHaveLength(1);
    const f = report.files[0];
    expect(f).toMatchObject({ kind: 'kernel', generation: '6.1', verdict: 'agree' });
    expect(f.summary.verified).toBeGreaterThan(0);
    expect(f.summary.divergences).toBe(0);
    expect(f.summary.verified).toBe(f.result.values.verified);
  });

  it('--json into a pipe is written whole (a report over the 64 KiB a pipe takes at once)', async () => {
    // the bundled traces' report is ~140 kB; `| cat` reads slower than the CLI writes
    const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      execFile('sh', ['-c', `"${process.execPath}" cli/trollcount.js check --json | cat`], { cwd: ROOT, env: { ...process.env, CI: '1' }, maxBuffer: 1 << 26 }, (err, out) =>
        err && err.code === undefined ? reject(err) : resolve({ code: err ? Number(err.code) : 0, out }),
      );
    });
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThan(1 << 16);
    expect(JSON.parse(r.out).verdict).toBe('agree');
  });

  it('--scheme runs the named schemes beside truth and the exact scheme of the generation', async () => {
    const r = await trollcount(['check', OPS, '--scheme', 'proposal', 'owners-6.15', '--json']);
    expect(r.code).toBe(0);
    const schemes: string[] = JSON.parse(r.stdout).files[0].result.schemes;
    expect(schemes).toEqual(expect.arrayContaining(['truth', 'proposal', 'owners-6.15']));
    expect(schemes).not.toContain('proposal+vma-hooks');
    const all = await trollcount(['check', OPS, '--json']);
    expect(JSON.parse(all.stdout).files[0].result.schemes).toContain('proposal+vma-hooks');
  });

  it('--kernel overrides the generation detected from the trace', async () => {
    const same = await trollcount(['check', REAL61, '--kernel', '6.1', '--json']);
    expect(same.code).toBe(0);
    expect(JSON.parse(same.stdout).files[0]).toMatchObject({ generation: '6.1', verdict: 'agree' });
    // checking 6.1 rmap calls as 6.12 would verify nothing: a usage error naming the first one
    const other = await trollcount(['check', WRONG_MAPCOUNT, '--kernel', '6.12']);
    expectUserError(other, /page_add_new_anon_rmap is a 6\.1 rmap call, but the trace is checked as 6\.12/);
    const bad = await trollcount(['check', REAL61, '--kernel', '5.10']);
    expectUserError(bad, /option '--kernel <generation>' argument '5\.10' is invalid/);
  });

  it('exit 1 on a wrong _mapcount in a kernel trace, naming file:line, field, kernel and model values', async () => {
    const r = await trollcount(['check', WRONG_MAPCOUNT]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl:5: page_remove_rmap: folio 0x29e1 page 0: _mapcount: kernel 1, model 0');
    expect(r.stdout).toMatch(/recent history of the folio: 3 page_add_new_anon_rmap, 5 page_remove_rmap/);
    expect(r.stdout).toMatch(/verdict: diverge\n$/);
  });

  it('exit 1 on a wrong kpagecount in an ops trace', async () => {
    const r = await trollcount(['check', WRONG_KPAGECOUNT]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('traces/fixtures/ops-wrong-kpagecount.jsonl:25: pid 2 va 0x40005000: kpagecount: kernel 2, model (legacy-6.1) 1');
    expect(r.stdout).toMatch(/verdict: diverge\n$/);
  });

  it('exit 3 when a lost-event gap hides values the verdict depends on', async () => {
    const r = await trollcount(['check', LOST]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/kcalls-6\.12-lost\.jsonl: inconclusive: 1 lost-event gap\(s\) \(37 events\)/);
    expect(r.stdout).toMatch(/verdict: inconclusive\n$/);
  });

  it('the worst verdict wins over several files (diverge > inconclusive > agree)', async () => {
    const r = await trollcount(['check', OPS, LOST, WRONG_MAPCOUNT]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/verdict: diverge\n$/);
  });

  it('exit 2 on a malformed file, naming file:line:column', async () => {
    const bad = join(TMP, 'malformed.jsonl');
    const header = readFileSync(join(ROOT, WRONG_MAPCOUNT), 'utf8').split('\n')[0];
    writeFileSync(bad, `${header}\n{"ev": kcall}\n`);
    const r = await trollcount(['check', bad]);
    expectUserError(r, new RegExp(`${bad.replace(/\./g, '\\.')}:2:\\d+: `));
    expect(r.stdout).toBe('');
  });

  it('exit 2 on a missing file', async () => {
    expectUserError(await trollcount(['check', join(TMP, 'no-such.jsonl')]), /no-such\.jsonl/);
  });

  it('exit 2 on an unknown option and on an unknown scheme', async () => {
    expectUserError(await trollcount(['check', '--bogus']), /unknown option '--bogus'/);
    expectUserError(await trollcount(['check', OPS, '--scheme', 'nope']), /unknown scheme 'nope'/);
  });
});

describe.concurrent('trollcount convert', { timeout: SLOW }, () => {
  it('a real .ftrace.gz -> .jsonl, and `check` of the output agrees with `check` of the input', async () => {
    const out = join(TMP, '6.1-thp-fork-cow.jsonl');
    const c = await trollcount(['convert', REAL61, '-o', out]);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/-> .*6\.1-thp-fork-cow\.jsonl: \{/);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(JSON.parse(lines[0])).toMatchObject({ format: 'trollcount-trace', kernel: { generation: '6.1' } });
    const [a, b] = await Promise.all([trollcount(['check', REAL61, '--json']), trollcount(['check', out, '--json'])]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const ra = JSON.parse(a.stdout).files[0];
    const rb = JSON.parse(b.stdout).files[0];
    expect(rb.verdict).toBe('agree');
    expect(rb.summary).toEqual(ra.summary);
    expect(rb.result.byFn).toEqual(ra.result.byFn);
    expect(rb.result.inferred).toEqual(ra.result.inferred);
  });

  it('exit 2 on a missing input and without -o', async () => {
    expectUserError(await trollcount(['convert', join(TMP, 'missing.ftrace.gz'), '-o', join(TMP, 'x.jsonl')]), /missing\.ftrace\.gz.*no such file/);
    expectUserError(await trollcount(['convert', REAL61]), /required option '-o, --out <file>' not specified/);
  });
});

describe.concurrent('trollcount explore', { timeout: SLOW }, () => {
  it('bfs depth 2 on the default scope finds the 2-step counterexample (exit 1); --out writes a trace that `check` replays to exit 1 with the same violation', async () => {
    const out = join(TMP, 'cex.jsonl');
    const r = await trollcount(['explore', '--depth', '2', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^bfs exploration of truth, proposal, proposal\+vma-hooks/);
    expect(r.stdout).toMatch(/depth reached 2 \(complete\)/);
    const property = 'proposal: count below the VMAs mapping the folio [proposal]';
    expect(r.stdout).toContain(property);
    expect(r.stdout).toContain('2 operations after 3 setup steps');
    expect(r.stdout).toMatch(/1\. pid 1: write fault at 0x10000/);
    expect(r.stdout).toMatch(/2\. pid 1: mprotect\(0x10000, 0x2000, R-\)/);
    expect(existsSync(out)).toBe(true);
    const replay = await trollcount(['check', out]);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain(`cex.jsonl:6: ${property}: count says One while 2 VMAs map it`);
    expect(replay.stdout).toMatch(/verdict: diverge\n$/);
  });

  it('--mode random runs sequences and reports in the same shape', async () => {
    const r = await trollcount(['explore', '--mode', 'random', '--runs', '30', '--depth', '3']);
    expect([0, 1]).toContain(r.code);
    expect(r.stdout).toMatch(/^random exploration of truth, proposal, proposal\+vma-hooks \(\d+ operations in scope, kernel 6\.12\)/);
    expect(r.stdout).toMatch(/states explored \d+/);
    expect(r.code === 1).toBe(/\[proposal(\+vma-hooks)?\]/.test(r.stdout) || /count (below|above)/.test(r.stdout));
  });

  it('--json prints the report; depth 1 violates nothing: exit 0', async () => {
    const r = await trollcount(['explore', '--depth', '1', '--json']);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ mode: 'bfs', depthReached: 1, complete: true });
    expect(report.fingerprints).toBeUndefined();
    expect(r.code).toBe(report.violations.length ? 1 : 0);
    expect(report.violations).toEqual([]);
  });

  it('exit 2 on a bad --depth, mode or scope', async () => {
    const runs = await Promise.all([
      trollcount(['explore', '--depth', '0']),
      trollcount(['explore', '--depth', 'abc']),
      trollcount(['explore', '--mode', 'dfs']),
      trollcount(['explore', '--scope', 'nowhere']),
    ]);
    expectUserError(runs[0], /--depth wants a positive integer, got '0'/);
    expectUserError(runs[1], /--depth wants a positive integer, got 'abc'/);
    expectUserError(runs[2], /unknown mode 'dfs'/);
    expectUserError(runs[3], /unknown scope 'nowhere'/);
  });
});

describe.concurrent('trollcount doc, capture, help', { timeout: SLOW }, () => {
  it('doc --check: the committed specs/semantics.md is current (exit 0)', async () => {
    const r = await trollcount(['doc', '--check']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('specs/semantics.md is up to date\n');
  });

  it('capture: exit 2 on an unknown workload (before anything is downloaded or booted)', async () => {
    const r = await trollcount(['capture', '--kernel', '6.1', '--workload', 'no-such-workload', '-o', join(TMP, 'x.ftrace.gz')]);
    expectUserError(r, /unknown workload 'no-such-workload' \(expected one of thp-fork-cow, /);
    expect(existsSync(join(TMP, 'x.ftrace.gz'))).toBe(false);
  });

  it('capture: usage errors exit 2 (missing --kernel, --workload or -o; a kernel that is not 6.1 or 6.12)', async () => {
    const out = join(TMP, 'y.ftrace.gz');
    const runs = await Promise.all([
      trollcount(['capture', '--workload', 'thp-fork-cow', '-o', out]),
      trollcount(['capture', '--kernel', '6.1', '-o', out]),
      trollcount(['capture', '--kernel', '6.1', '--workload', 'thp-fork-cow']),
      trollcount(['capture', '--kernel', '4.19', '--workload', 'thp-fork-cow', '-o', out]),
    ]);
    expectUserError(runs[0], /required option '--kernel <generation>' not specified/);
    expectUserError(runs[1], /required option '--workload <name>' not specified/);
    expectUserError(runs[2], /required option '-o, --out <file>' not specified/);
    expectUserError(runs[3], /argument '4\.19' is invalid/);
  });

  it('an unknown command exits 2', async () => {
    expectUserError(await trollcount(['frobnicate']), /unknown command 'frobnicate'/);
  });

  for (const cmd of [[], ['check'], ['convert'], ['explore'], ['doc'], ['capture']]) {
    it(`${['trollcount', ...cmd].join(' ')} --help shows usage and an Examples section (exit 0)`, async () => {
      const r = await trollcount([...cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: trollcount${cmd.length ? ` ${cmd[0]}` : ''} `, 'm'));
      expect(r.stdout).toMatch(/^Examples?:\n {2}trollcount /m);
    });
  }
});
