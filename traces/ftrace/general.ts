import { TraceInputError, type TraceEvent } from '../events.ts';
import type { FtraceEventLine, FtraceLine } from './parse.ts';
import type { KprobeSpec, ProbeTable } from './probes.ts';

/**
 * The general path of the converter: a line as parse.ts reads it -> its event. Every line shape
 * and every error is defined here and in parse.ts; fast-line.ts takes the common shapes straight
 * from bytes and must give the same JSON.
 */

const numberOrHex = (v: string): string | number => (v.startsWith('0x') || v.startsWith('-0x') ? v.toLowerCase() : Number(v));

export class GeneralLines {
  private readonly kprobes: Map<string, KprobeSpec>;
  /** Per probe: field name -> true when the value stays a hex string. */
  private readonly hexField = new Map<string, Map<string, boolean>>();

  constructor(table: ProbeTable) {
    this.kprobes = new Map(Object.entries(table.kprobes));
    for (const [name, spec] of this.kprobes) {
      const m = new Map<string, boolean>();
      for (const [f, t] of Object.entries(spec.fields)) m.set(f, t === 'x64');
      this.hexField.set(name, m);
    }
  }

  /** One parsed line -> one event (every ftrace line is exactly one event). */
  event(l: FtraceLine, file: string, line: number): TraceEvent {
    if (l.kind === 'lost') return { ev: 'lost', count: l.count, cpu: l.cpu };
    const rec = { ts: l.ts, cpu: l.cpu, pid: l.pid, tgid: l.tgid, comm: l.comm };
    const p = l.payload;
    switch (p.type) {
      case 'kprobe': {
        const spec = this.kprobes.get(l.name);
        const hex = this.hexField.get(l.name);
        const args: Record<string, string | number> = {};
        for (const k in p.args) {
          const v = p.args[k];
          const isHex = hex?.get(k);
          if (isHex === true) args[k] = v.toLowerCase();
          else if (isHex === false) args[k] = Number(v);
          else args[k] = numberOrHex(v);
        }
        const fn = spec?.fn ?? (p.ret ? p.func : l.name);
        return p.ret || spec?.ret ? { ev: 'kcall', fn, ret: true, args, ...rec } : { ev: 'kcall', fn, args, ...rec };
      }
      case 'syscall-enter':
        return { ev: 'syscall', name: p.syscall, phase: 'enter', args: p.args, ...rec };
      case 'syscall-exit':
        return { ev: 'syscall', name: p.syscall, phase: 'exit', ret: p.ret, ...rec };
      case 'marker':
        return markerEvent(p.text, rec, file, line);
      case 'fields':
        return this.tracepoint(l, p.fields, rec, file, line);
    }
  }

  private tracepoint(l: FtraceEventLine, f: Record<string, string>, rec: object, file: string, line: number): TraceEvent {
    if (l.name === 'page_fault_user') {
      if (f.address === undefined || f.error_code === undefined)
        throw new TraceInputError({ file, line }, 'expected page_fault_user: address=0x... ip=0x... error_code=0x...');
      return { ev: 'fault', address: f.address.toLowerCase(), ip: f.ip?.toLowerCase(), errorCode: f.error_code.toLowerCase(), ...rec };
    }
    if (l.name === 'sched_process_fork') {
      const childPid = Number(f.child_pid);
      if (!Number.isInteger(childPid)) throw new TraceInputError({ file, line }, 'expected sched_process_fork: ... child_pid=N');
      return { ev: 'sched', what: 'fork', childPid, ...rec };
    }
    if (l.name === 'sched_process_exit') return { ev: 'sched', what: 'exit', ...rec };
    return { ev: 'tracepoint', name: l.name, fields: f, ...rec };
  }
}

const OBS = /^OBS pid=(\d+) va=(0x[0-9a-fA-F]+) pfn=(0x[0-9a-fA-F]+) present=([01]) kpagecount=(-?\d+) kpageflags=(0x[0-9a-fA-F]+)\s*$/;

function markerEvent(text: string, rec: object, file: string, line: number): TraceEvent {
  if (text.startsWith('STEP ')) return { ev: 'step', name: text.slice(5).trim(), ...rec };
  if (text.startsWith('OBS ')) {
    const m = OBS.exec(text);
    if (!m)
      throw new TraceInputError(
        { file, line },
        'expected `OBS pid=<pid> va=0x<hex> pfn=0x<hex> present=<0|1> kpagecount=<n> kpageflags=0x<hex>`',
      );
    return {
      ev: 'obs',
      ...rec,
      pid: Number(m[1]),
      va: m[2].toLowerCase(),
      pfn: m[3].toLowerCase(),
      present: m[4] === '1',
      kpagecount: Number(m[5]),
      kpageflags: m[6].toLowerCase(),
    };
  }
  return { ev: 'marker', text, ...rec };
}

