import type { TraceEvent } from '../events.ts';
import { PROBE_TABLES } from './probes.ts';

/**
 * trollcount events -> ftrace `trace` text, the inverse of parse.ts + convert.ts: the line format
 * of a real capture with record-tgid and irq-info on (kernel/trace/trace_output.c), kprobes printed
 * with their fetch-args in the probe definition's order (x64 and x32 as 0x-hex, s32/u32/u8 in
 * decimal). Used to produce ftrace text from synthetic traces (bench, tests); rendering then
 * converting gives back the same events.
 */

/** kprobe name (as printed) by fn and ret, for the 6.12 and 6.1 tables. */
const PROBE_NAMES = new Map<string, { name: string; fields: Readonly<Record<string, string>> }>();
for (const gen of ['6.1', '6.12'] as const) {
  for (const [name, spec] of Object.entries(PROBE_TABLES[gen].kprobes)) {
    const key = `${gen}|${spec.fn}|${spec.ret ? 1 : 0}`;
    PROBE_NAMES.set(key, { name, fields: spec.fields });
  }
}

const pad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** ` comm-pid (tgid) [cpu] flags seconds.micros: ` as trace_output.c prints it. */
function prefix(e: { ts?: number; cpu?: number; pid?: number; tgid?: number; comm?: string }): string {
  const pid = e.pid ?? 0;
  const comm = e.comm ?? '<...>';
  const tgid = e.tgid === undefined ? '-------' : pad(String(e.tgid), 7);
  const us = Math.round((e.ts ?? 0) * 1e6);
  const sec = Math.floor(us / 1e6);
  const frac = String(us - sec * 1e6).padStart(6, '0');
  const cpu = String(e.cpu ?? 0).padStart(3, '0');
  const pidText = String(pid);
  return `${pad(comm, 16)}-${pidText}${' '.repeat(Math.max(1, 8 - pidText.length))}(${tgid}) [${cpu}] ..... ${pad(String(sec), 5)}.${frac}: `;
}

const hexNoPrefix = (v: string): string => (v.startsWith('0x') ? v.slice(2) : v);

/** One event as one line of ftrace text (no newline). */
export function renderFtraceLine(e: TraceEvent, generation: '6.1' | '6.12' = '6.12'): string {
  switch (e.ev) {
    case 'kcall': {
      const probe = PROBE_NAMES.get(`${generation}|${e.fn}|${e.ret ? 1 : 0}`);
      const name = probe?.name ?? e.fn;
      let out = prefix(e) + name + (e.ret ? `: (${e.fn}_caller+0x1b/0x60 <- ${e.fn})` : `: (${e.fn}+0x4/0x140)`);
      const types = probe?.fields;
      for (const k in e.args) {
        const v = e.args[k];
        const t = types?.[k];
        out += ' ' + k + '=' + (typeof v === 'string' ? v : t === 'x32' || t === 'x64' ? (v < 0 ? '-0x' + (-v).toString(16) : '0x' + v.toString(16)) : String(v));
      }
      return out;
    }
    case 'syscall': {
      if (e.phase === 'exit') return `${prefix(e)}sys_${e.name} -> ${e.ret ?? '0x0'}`;
      const args = Object.entries(e.args ?? {})
        .map(([k, v]) => `${k}: ${hexNoPrefix(v)}`)
        .join(', ');
      return `${prefix(e)}sys_${e.name}(${args})`;
    }
    case 'fault':
      return `${prefix(e)}page_fault_user: address=${e.address} ip=${e.ip ?? '0x0'} error_code=${e.errorCode}`;
    case 'sched':
      if (e.what === 'fork') return `${prefix(e)}sched_process_fork: comm=${e.comm ?? ''} pid=${e.pid ?? 0} child_comm=${e.comm ?? ''} child_pid=${e.childPid ?? 0}`;
      return `${prefix(e)}sched_process_exit: comm=${e.comm ?? ''} pid=${e.pid ?? 0} prio=120`;
    case 'tracepoint':
      return `${prefix(e)}${e.name}: ${Object.entries(e.fields)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`;
    case 'obs':
      return `${prefix(e)}tracing_mark_write: OBS pid=${e.pid} va=${e.va} pfn=${e.pfn} present=${e.present ? 1 : 0} kpagecount=${e.kpagecount} kpageflags=${e.kpageflags}`;
    case 'step':
      return `${prefix(e)}tracing_mark_write: STEP ${e.name}`;
    case 'marker':
      return `${prefix(e)}tracing_mark_write: ${e.text}`;
    case 'lost':
      return `CPU:${e.cpu ?? 0} [LOST ${e.count} EVENTS]`;
    case 'op':
      throw new Error('an MM operation (op event) has no ftrace form');
  }
}

/** The header comments of a `trace` file with record-tgid on. */
export const FTRACE_HEADER = [
  '# tracer: nop',
  '#',
  '#                                _-----=> irqs-off/BH-disabled',
  '#                               / _----=> need-resched',
  '#                              | / _---=> hardirq/softirq',
  '#                              || / _--=> preempt-depth',
  '#                              ||| / _-=> migrate-disable',
  '#                              |||| /     delay',
  '#           TASK-PID     TGID  CPU#  |||||  TIMESTAMP  FUNCTION',
  '#              | |         |     |   |||||     |         |',
].join('\n');
