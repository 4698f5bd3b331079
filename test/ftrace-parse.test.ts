import { describe, expect, it } from 'vitest';
import { parseFtraceLine, type FtraceEventLine } from '../traces/ftrace/parse.ts';
import { TraceInputError } from '../traces/events.ts';

const F = 'trace.txt';
const ev = (text: string): FtraceEventLine => {
  const l = parseFtraceLine(text, F, 7);
  if (!l || l.kind !== 'event') throw new Error(`not an event: ${text}`);
  return l;
};
const err = (text: string): TraceInputError => {
  try {
    parseFtraceLine(text, F, 7);
  } catch (e) {
    if (e instanceof TraceInputError) return e;
    throw e;
  }
  throw new Error(`no error for: ${text}`);
};

describe('ftrace line parser', () => {
  it('skips header comments, the column legend and blank lines', () => {
    for (const t of [
      '# tracer: nop',
      '#',
      '# entries-in-buffer/entries-written: 6193/6193   #P:1',
      '#                                          _-----=> irqs-off/BH-disabled',
      '#           TASK-PID       TGID    CPU#  |||||  TIMESTAMP  FUNCTION',
      '#              | |           |       |   |||||     |         |',
      '',
      '   ',
    ])
      expect(parseFtraceLine(t, F, 1)).toBeNull();
  });

  it('reads an event line with the TGID column and 5-character flags', () => {
    const l = ev('            init-1       (      1) [000] d....     2.622186: page_fault_user: address=0x5e3c80 ip=0x525046 error_code=0x7');
    expect(l).toMatchObject({ comm: 'init', pid: 1, tgid: 1, cpu: 0, flags: 'd....', ts: 2.622186, name: 'page_fault_user' });
    expect(l.payload).toEqual({ type: 'fields', fields: { address: '0x5e3c80', ip: '0x525046', error_code: '0x7' } });
  });

  it('reads an event line without TGID, with 4-character flags, and without flags', () => {
    const a = ev('            bash-123   [001] d..1    12.345678: page_fault_user: address=0x1 ip=0x2 error_code=0x6');
    expect(a).toMatchObject({ comm: 'bash', pid: 123, tgid: undefined, cpu: 1, flags: 'd..1', ts: 12.345678 });
    const b = ev('bash-123 [002] 12.000001: sched_process_exit: comm=bash pid=123 prio=120');
    expect(b).toMatchObject({ comm: 'bash', pid: 123, cpu: 2, flags: undefined, name: 'sched_process_exit' });
  });

  it('reads `<...>` comms, comms with dashes and spaces, and an unknown TGID', () => {
    expect(ev('           <...>-4242  (-------) [000] ....1     5.000000: sched_process_exit: comm=x pid=4242 prio=120')).toMatchObject({
      comm: '<...>',
      pid: 4242,
      tgid: undefined,
    });
    expect(ev('  kworker/u2:1-my thing-77 (   77) [000] .....  1.5: sched_process_exit: comm=a b pid=77 prio=120')).toMatchObject({ comm: 'kworker/u2:1-my thing', pid: 77, tgid: 77 });
    const f = ev('  a-7 (   7) [000] .....  1.5: sched_process_exit: comm=a b pid=7 prio=120').payload;
    expect(f).toEqual({ type: 'fields', fields: { comm: 'a b', pid: '7', prio: '120' } });
  });

  it('reads CPU:N [LOST M EVENTS]', () => {
    expect(parseFtraceLine('CPU:0 [LOST 5 EVENTS]', F, 3)).toEqual({ kind: 'lost', cpu: 0, count: 5 });
    expect(parseFtraceLine('CPU:12 [LOST 123456 EVENTS]', F, 3)).toEqual({ kind: 'lost', cpu: 12, count: 123456 });
  });

  it('reads kprobe payloads with negative counters', () => {
    const l = ev(
      '            init-1       (      1) [000] ...1.     2.625808: page_add_new_anon_rmap: (page_add_new_anon_rmap+0x0/0x120) page=0xffffea00000a7880 vma=0xffff888006134390 addr=0x1eaf2000 mm=0xffff888004858000 mapcount=-1 refcount=1 cmapcount=-5632 order=127',
    );
    expect(l.name).toBe('page_add_new_anon_rmap');
    expect(l.payload).toEqual({
      type: 'kprobe',
      func: 'page_add_new_anon_rmap',
      ret: false,
      args: { page: '0xffffea00000a7880', vma: '0xffff888006134390', addr: '0x1eaf2000', mm: '0xffff888004858000', mapcount: '-1', refcount: '1', cmapcount: '-5632', order: '127' },
    });
  });

  it('reads return probes, with and without spaces around <-', () => {
    const a = ev('        workload-102     (    102) [000] .....     2.745608: do_huge_pmd_anonymous_page_ret: (__handle_mm_fault+0x98a/0xfa0 <- do_huge_pmd_anonymous_page) ret=0x800');
    expect(a.payload).toEqual({ type: 'kprobe', func: 'do_huge_pmd_anonymous_page', ret: true, args: { ret: '0x800' } });
    const b = ev('        w-102     (    102) [000] .....     2.745608: copy_huge_pmd_ret: (copy_page_range+0x1b/0x60<-copy_huge_pmd) ret=0x0');
    expect(b.payload).toEqual({ type: 'kprobe', func: 'copy_huge_pmd', ret: true, args: { ret: '0x0' } });
  });

  it('reads syscall entry and exit tracepoints', () => {
    const a = ev('        workload-102     (    102) [000] ...1.     2.772686: sys_mmap(addr: 0, len: 800000, prot: 3, flags: 22, fd: ffffffff, off: 0)');
    expect(a.name).toBe('sys_mmap');
    expect(a.payload).toEqual({
      type: 'syscall-enter',
      syscall: 'mmap',
      args: { addr: '0x0', len: '0x800000', prot: '0x3', flags: '0x22', fd: '0xffffffff', off: '0x0' },
    });
    const b = ev('        workload-102     (    102) [000] ...1.     2.772900: sys_mmap -> 0x7fc5e4e7a000');
    expect(b.payload).toEqual({ type: 'syscall-exit', syscall: 'mmap', ret: '0x7fc5e4e7a000' });
    expect(ev('  a-1 (    1) [000] ...1.  1.0: sys_exit_group(error_code: 0)').payload).toEqual({ type: 'syscall-enter', syscall: 'exit_group', args: { error_code: '0x0' } });
  });

  it('reads sched_process_fork and trace_marker payloads', () => {
    expect(ev('  init-1 (    1) [000] .....  2.6: sched_process_fork: comm=init pid=1 child_comm=init child_pid=101').payload).toEqual({
      type: 'fields',
      fields: { comm: 'init', pid: '1', child_comm: 'init', child_pid: '101' },
    });
    expect(ev('  w-102 (  102) [000] .....  2.7: tracing_mark_write: STEP fork').payload).toEqual({ type: 'marker', text: 'STEP fork' });
    expect(ev('  w-102 (  102) [000] .....  2.7: tracing_mark_write: OBS pid=102 va=0x7f0000000000 pfn=0x7800 present=1 kpagecount=2 kpageflags=0x5838').payload).toEqual({
      type: 'marker',
      text: 'OBS pid=102 va=0x7f0000000000 pfn=0x7800 present=1 kpagecount=2 kpageflags=0x5838',
    });
  });

  it('rejects malformed lines with file:line:column and what was expected', () => {
    const cases: [string, number, RegExp][] = [
      ['garbage', 1, /comm-pid/],
      ['  bash-1 (    1) 000 d.... 1.0: x: a=1', 3, /CPU column/],
      ['  bash-1 (    1) [000] d.... abc: x: a=1', 30, /timestamp/],
      ['  bash-1 (    1) [000] d.....x 1.0: x: a=1', 24, /flags/],
      ['  bash-1 (    1) [000] d.... 1.0: page_remove_rmap: (page_remove_rmap+0x0/0x520) page=zz', 87, /number/],
      ['  bash-1 (    1) [000] d.... 1.0: page_remove_rmap: (page_remove_rmap+0x0/0x520) page', 82, /name=value/],
      ['  bash-1 (    1) [000] d.... 1.0: sys_mmap => 3', 43, /syscall/],
      ['  bash-1 (    1) [000] d.... 1.0: foo bar', 38, /':'/],
      ['CPU:0 [LOST many EVENTS]', 1, /LOST/],
    ];
    for (const [text, column, what] of cases) {
      const e = err(text);
      expect(e.at, text).toEqual({ file: F, line: 7, column });
      expect(e.message, text).toMatch(what);
      expect(e.message.startsWith(`${F}:7:${column}: `)).toBe(true);
    }
  });
});
