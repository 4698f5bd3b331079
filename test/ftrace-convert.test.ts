import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { convertFile, openFtrace } from '../traces/ftrace/convert.ts';
import { TraceInputError } from '../traces/events.ts';
import type { TraceEvent } from '../traces/events.ts';

const DIR = new URL('../traces/fixtures/real/', import.meta.url).pathname;
const TMP = mkdtempSync(join(tmpdir(), 'trollcount-conv-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let seq = 0;
/** A fresh directory under TMP. */
const tmpDir = (): string => {
  const d = join(TMP, String(seq++));
  mkdirSync(d);
  return d;
};
const FIXTURES = readdirSync(DIR).filter((f) => f.endsWith('.ftrace.gz')).sort();

/** The name the capture's meta.json counts an event under (the ftrace event name). */
function metaName(e: TraceEvent): string {
  switch (e.ev) {
    case 'kcall':
      return e.fn + (e.ret ? '_ret' : '');
    case 'syscall':
      return `sys_${e.phase}_${e.name}`;
    case 'fault':
      return 'page_fault_user';
    case 'sched':
      return `sched_process_${e.what}`;
    case 'tracepoint':
      return e.name;
    case 'lost':
      return 'lost';
    default:
      return 'tracing_mark_write';
  }
}

describe('ftrace -> events, the 14 real captures', () => {
  it('has 14 fixtures', () => expect(FIXTURES).toHaveLength(14));

  for (const f of FIXTURES) {
    it(`${f}: converts; per-event counts match eventCounts; generation detected`, async () => {
      const meta = JSON.parse(readFileSync(join(DIR, f.replace('.ftrace.gz', '.meta.json')), 'utf8'));
      const s = await openFtrace(join(DIR, f));
      expect(s.header.kernel.generation).toBe(meta.kernelGen);
      expect(s.header.kernel.release).toBe(meta.kernelRelease);
      expect(s.header.geometry).toEqual({ pageSize: 4096, pmdOrder: 9 });
      const counts: Record<string, number> = {};
      let lastLine = 0;
      let pointers = 0;
      for await (const { event, at } of s.events) {
        expect(at.line).toBeGreaterThan(lastLine);
        lastLine = at.line;
        const k = metaName(event);
        counts[k] = (counts[k] ?? 0) + 1;
        if (event.ev === 'kcall' && (event.fn === 'page_remove_rmap' || event.fn === 'folio_remove_rmap_ptes')) {
          const ptr = event.args[event.fn === 'page_remove_rmap' ? 'page' : 'folio'];
          expect(ptr).toMatch(/^0xffffea[0-9a-f]{10}$/);
          expect(typeof event.args.vma).toBe('string');
          expect(typeof event.args.refcount).toBe('number');
          pointers++;
        }
      }
      expect(counts).toEqual(meta.eventCounts);
      expect(lastLine).toBe(meta.lineCount);
      expect(pointers).toBeGreaterThan(0);
    });
  }

  it('pointers round-trip as lowercase hex strings through JSON Lines (.gz)', async () => {
    const tmp = tmpDir();
    const out = join(tmp, 'x.jsonl.gz');
    const summary = await convertFile(join(DIR, '6.12-thp-fork-cow.ftrace.gz'), out);
    expect(summary.generation).toBe('6.12');
    const lines = gunzipSync(readFileSync(out)).toString('utf8').trimEnd().split('\n');
    expect(JSON.parse(lines[0])).toMatchObject({ format: 'trollcount-trace', version: 1, kernel: { generation: '6.12' } });
    expect(lines.length - 1).toBe(summary.events);
    const text = gunzipSync(readFileSync(join(DIR, '6.12-thp-fork-cow.ftrace.gz'))).toString('utf8');
    const raw = /folio_add_new_anon_rmap: .* folio=(0x[0-9a-f]+) vma=(0x[0-9a-f]+) .* flags1=(0x[0-9a-f]+)/.exec(text)!;
    const ev = lines.slice(1).map((l) => JSON.parse(l)).find((e) => e.ev === 'kcall' && e.fn === 'folio_add_new_anon_rmap');
    expect(ev.args.folio).toBe(raw[1]);
    expect(ev.args.vma).toBe(raw[2]);
    expect(ev.args.flags1).toBe(raw[3]);
    expect(ev.args.fmapcount).toBe(-1);
    // a plain (not gzipped) output, and a forced generation
    const plain = join(tmp, 'y.jsonl');
    const small = join(tmp, 'small.ftrace');
    writeFileSync(small, text.split('\n').slice(0, 20).join('\n') + '\n');
    const s2 = await convertFile(small, plain, { generation: '6.1' });
    expect(s2.generation).toBe('6.1');
    expect(readFileSync(plain, 'utf8').trimEnd().split('\n')).toHaveLength(1 + s2.events);
  });

  it('a trace without rmap probes needs --kernel', async () => {
    const tmp = tmpDir();
    const p = join(tmp, 'none.ftrace');
    writeFileSync(p, '# tracer: nop\n  a-1 (    1) [000] .....  1.0: sched_process_exit: comm=a pid=1 prio=120\n');
    await expect(openFtrace(p)).rejects.toThrow(/cannot tell the kernel generation/);
    const s = await openFtrace(p, { generation: '6.12' });
    const evs = [];
    for await (const e of s.events) evs.push(e);
    expect(evs).toEqual([{ event: { ev: 'sched', what: 'exit', ts: 1, cpu: 0, pid: 1, tgid: 1, comm: 'a' }, at: { file: p, line: 2 } }]);
  });
});

/**
 * sha256 of the event lines (the header names the input path, so it is left out) and their count,
 * as `convert` wrote them for every bundled capture when the converter moved from strings to bytes
 * (traces/ftrace/fast-line.ts; the madvise-thp captures, recorded later, as it wrote them then):
 * any change of the conversion of a real capture fails here.
 */
const CONVERTED: Record<string, [sha256: string, events: number]> = {
  'real/6.1-fork-many.ftrace.gz': ['a6cd3ee7f3f8da5fa46c60df2c727217662df726a6047b1873408828f9c149cb', 5206],
  'real/6.1-holdout-mixed.ftrace.gz': ['039939c2ee4eae3f9a7d7ae69e7b617fb9fc984a46c74e62d20335e360a88302', 6347],
  'real/6.1-madvise-thp.ftrace.gz': ['4285db9323f3111a4f7ac02bbde0f96f1d8f917ac0f150c646b1953923c6b54d', 8840],
  'real/6.1-mremap-dontneed.ftrace.gz': ['2b8c0318e814ad7204e473324c5f551531d48c239f518c704defe5cea206eab6', 8548],
  'real/6.1-split-folio.ftrace.gz': ['9af3d63e263f004f4ab5d64f9432142469aca042d55e04d1ae6a69ec83c0941a', 10213],
  'real/6.1-thp-fork-cow.ftrace.gz': ['de1aa510169d8573fa89d52b25f062f1dc4ca9a6cbf9198e62d5df81b7c302f1', 6193],
  'real/6.1-tmpfs-shared-private.ftrace.gz': ['05472a1c2b2368fa308ff8adfaaafb76380421dec1161f0cedab83de192c8200', 3026],
  'real/6.12-fork-many.ftrace.gz': ['0476dfda9bb128e0935477680fd1b3cde30134902d664617ef413e692e360dce', 4116],
  'real/6.12-holdout-mixed.ftrace.gz': ['759c09fea30487d3174eef290399f58728833a0ba49c2bb0c91e62becd74223b', 3330],
  'real/6.12-madvise-thp.ftrace.gz': ['943214e1abfed7c67ab4b0e23c3b363744687109ca710656ea8f6fd8b6836892', 4213],
  'real/6.12-mremap-dontneed.ftrace.gz': ['6e35245c5a510809ef332af738d92dc1cf1d13a527a0f9ba18139edadf4d399e', 4448],
  'real/6.12-split-folio.ftrace.gz': ['06d116e9eaedd3e65db68f482ace203e4df6efb71d08ac07c05b997456193961', 7101],
  'real/6.12-thp-fork-cow.ftrace.gz': ['c57d1a3bfedd488e899bc9593fb3c2123ef7f463ab41bf67e9f685f1cc8142d8', 2595],
  'real/6.12-tmpfs-shared-private.ftrace.gz': ['5c86c271aaeb5eb0decf6f235a79165ff0a876cf0c5bf4b1130cd631c56f64bc', 2966],
  'holdout/6.1-holdout-shmem-remap.ftrace.gz': ['1cd646f06211efb5ee32a6c27e37b3697cd367e138c464f5901c905f83ca43bb', 4079],
  'holdout/6.1-holdout2-thp-grow-fork2.ftrace.gz': ['230944b80eadd10cb65bbb83752d4842a077a30ad333e015357fc6ed9999f198', 8828],
  'holdout/6.12-holdout-shmem-remap.ftrace.gz': ['399a29ddf3d13c8f8c5bcf9ba27d76452930f7feda17215c1cb59a1fe1618449', 3536],
  'holdout/6.12-holdout2-thp-grow-fork2.ftrace.gz': ['dbf27b1d052e117ddb1c6ced5b495d1e0441f20e4eb33d93c9c9ec0533e34eac', 5025],
};

describe('the bundled captures convert to the recorded bytes', () => {
  const FIXTURES_DIR = new URL('../traces/fixtures/', import.meta.url).pathname;
  const tmp = tmpDir();
  const sha256 = (lines: string[]): string => createHash('sha256').update(lines.map((l) => `${l}\n`).join('')).digest('hex');

  it('lists every capture', () => {
    const all = ['real', 'holdout'].flatMap((d) => readdirSync(join(FIXTURES_DIR, d)).filter((f) => f.endsWith('.ftrace.gz')).map((f) => `${d}/${f}`));
    expect(all.sort()).toEqual(Object.keys(CONVERTED).sort());
  });

  for (const [f, [hash, events]] of Object.entries(CONVERTED)) {
    it(`${f}: convert writes the recorded event lines; openFtrace reads the same events`, async () => {
      const out = join(tmp, f.replace('/', '-') + '.jsonl');
      const summary = await convertFile(join(FIXTURES_DIR, f), out);
      const lines = readFileSync(out, 'utf8').split('\n').slice(1, -1);
      expect(summary.events).toBe(events);
      expect(lines).toHaveLength(events);
      expect(sha256(lines)).toBe(hash);
      const read: string[] = [];
      for await (const { event } of (await openFtrace(join(FIXTURES_DIR, f))).events) read.push(JSON.stringify(event));
      expect(sha256(read)).toBe(hash);
    });
  }
});

describe('a bad line in a large file', () => {
  it('is reported at its file:line:column (line breaks of every kind counted), after the lines before it', async () => {
    const tmp = tmpDir();
    const text = gunzipSync(readFileSync(join(DIR, '6.12-thp-fork-cow.ftrace.gz'))).toString('utf8');
    const body = text.split('\n').filter((l) => l && !l.startsWith('#'));
    // several read regions of text; \r\n breaks, then \n, then a lone \r
    const good = [body.join('\r\n'), body.join('\n'), body.slice(0, 50).join('\r'), body.join('\n'), body.join('\n')].join('\n') + '\n';
    const bad = '  bash-1 (    1) [000] d.... 1.0: folio_remove_rmap_ptes: (folio_remove_rmap_ptes+0x0/0x520) folio=zz';
    const line = good.split(/\r\n|\n|\r/).length;
    const column = bad.indexOf('=zz') + 2;
    const ok = join(tmp, 'ok.ftrace');
    const broken = join(tmp, 'broken.ftrace');
    writeFileSync(ok, good);
    writeFileSync(broken, `${good}${bad}\n${body.slice(0, 10).join('\n')}\n`);
    expect(good.length).toBeGreaterThan(2.5 * (1 << 20));

    const events = (f: string): string[] => readFileSync(f, 'utf8').split('\n').slice(1);
    await convertFile(ok, join(tmp, 'ok.jsonl'));
    const error = await convertFile(broken, join(tmp, 'broken.jsonl')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TraceInputError);
    expect((error as TraceInputError).at).toEqual({ file: broken, line, column });
    expect((error as TraceInputError).message).toBe(`${broken}:${line}:${column}: expected a number (0x-hex or decimal) for folio=`);
    expect(events(join(tmp, 'broken.jsonl'))).toEqual(events(join(tmp, 'ok.jsonl')));

    const read: number[] = [];
    const failure = await (async () => {
      for await (const { at } of (await openFtrace(broken)).events) read.push(at.line);
    })().catch((e: unknown) => e);
    expect((failure as TraceInputError).at).toEqual({ file: broken, line, column });
    expect(read).toHaveLength(events(join(tmp, 'ok.jsonl')).length - 1);
    expect(read.at(-1)).toBe(line - 1);
  });
});
