import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { convertFile, openFtrace } from '../traces/ftrace/convert.ts';
import type { TraceEvent } from '../traces/events.ts';

const DIR = new URL('../traces/fixtures/real/', import.meta.url).pathname;
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

describe('ftrace -> events, the 12 real captures', () => {
  it('has 12 fixtures', () => expect(FIXTURES).toHaveLength(12));

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
    const tmp = mkdtempSync(join(tmpdir(), 'trollcount-conv-'));
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
    const tmp = mkdtempSync(join(tmpdir(), 'trollcount-conv-'));
    const p = join(tmp, 'none.ftrace');
    writeFileSync(p, '# tracer: nop\n  a-1 (    1) [000] .....  1.0: sched_process_exit: comm=a pid=1 prio=120\n');
    await expect(openFtrace(p)).rejects.toThrow(/cannot tell the kernel generation/);
    const s = await openFtrace(p, { generation: '6.12' });
    const evs = [];
    for await (const e of s.events) evs.push(e);
    expect(evs).toEqual([{ event: { ev: 'sched', what: 'exit', ts: 1, cpu: 0, pid: 1, tgid: 1, comm: 'a' }, at: { file: p, line: 2 } }]);
  });
});
