import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type { Writable } from 'node:stream';
import { readLines, type Line } from '../lines.ts';
import {
  TraceInputError,
  type Generation,
  type PositionedEvent,
  type TraceEvent,
  type TraceHeader,
} from '../events.ts';
import { parseFtraceLine, type FtraceEventLine, type FtraceLine } from './parse.ts';
import probes61 from './probes-6.1.json' with { type: 'json' };
import probes612 from './probes-6.12.json' with { type: 'json' };

/**
 * ftrace text -> trollcount events, on the fly, with the text's line numbers. Driven by data:
 * probes-<gen>.json maps each probe / tracepoint name to its event kind and its fetch-arg types
 * (x64 -> lowercase hex string, every other type -> number). The generation is detected from the
 * rmap probes (page_* -> 6.1, folio_* -> 6.12) unless given; lines are buffered only until then.
 */

import type { TraceStream } from '../reader.ts';
export type { TraceStream };

interface KprobeSpec {
  readonly fn: string;
  readonly ret: boolean;
  readonly fields: Readonly<Record<string, string>>;
}

interface ProbeTable {
  readonly generation: Generation;
  readonly geometry: { readonly pageSize: number; readonly pmdOrder: number };
  readonly generationMarkers: readonly string[];
  readonly kprobes: Readonly<Record<string, KprobeSpec>>;
  readonly tracepoints: Readonly<Record<string, { readonly ev: string; readonly what?: string }>>;
  readonly syscalls: readonly string[];
}

export const PROBE_TABLES: Readonly<Record<Generation, ProbeTable>> = {
  '6.1': probes61 as unknown as ProbeTable,
  '6.12': probes612 as unknown as ProbeTable,
};

/** Which generation an event name proves, if any. */
const MARKERS = new Map<string, Generation>();
for (const gen of ['6.1', '6.12'] as const) for (const n of PROBE_TABLES[gen].generationMarkers) MARKERS.set(n, gen);

export function detectGeneration(name: string): Generation | undefined {
  return MARKERS.get(name);
}

const numberOrHex = (v: string): string | number => (v.startsWith('0x') || v.startsWith('-0x') ? v.toLowerCase() : Number(v));

/** A converter bound to one generation's probe table. */
export class FtraceConverter {
  private readonly kprobes: Map<string, KprobeSpec>;
  /** Per probe: field name -> true when the value stays a hex string. */
  private readonly hexField = new Map<string, Map<string, boolean>>();

  constructor(readonly table: ProbeTable) {
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

/** uname -r from the capture's .meta.json beside the trace, when there is one. */
function releaseBeside(path: string): string | undefined {
  const meta = path.replace(/\.ftrace(\.gz)?$/, '') + '.meta.json';
  if (meta === path || !existsSync(meta)) return undefined;
  try {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { kernelRelease?: unknown };
    return typeof m.kernelRelease === 'string' ? m.kernelRelease : undefined;
  } catch {
    return undefined;
  }
}

/**
 * robustness: the lines of the file, with every failure of the byte source (gzip stream cut short,
 * corrupt gzip, a missing file, a directory, I/O) turned into a TraceInputError at the line reached,
 * as the JSON readers do: never a raw zlib or fs error.
 */
async function* checkedLines(path: string): AsyncGenerator<Line> {
  let line = 0;
  try {
    for await (const l of readLines(path)) {
      line = l.line;
      yield l;
    }
  } catch (e) {
    if (e instanceof TraceInputError) throw e;
    const err = e as NodeJS.ErrnoException;
    const what =
      err.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(err.message)
        ? 'gzip stream cut short (unexpected end of file): the trace is truncated'
        : typeof err.code === 'string' && err.code.startsWith('Z_')
          ? `corrupt gzip data (${err.message})`
          : `cannot read the trace file: ${err.message}`;
    throw new TraceInputError({ file: path, line: line + 1, column: 1 }, what);
  }
}

/**
 * Open an ftrace text file (optionally .gz) as a trace stream. Reads ahead only until the
 * generation is known (the first generation-specific rmap probe), unless `opts.generation`.
 */
export async function openFtrace(path: string, opts: { generation?: Generation } = {}): Promise<TraceStream> {
  const lines = checkedLines(path)[Symbol.asyncIterator]();
  const pending: { l: FtraceLine; line: number }[] = [];
  let generation = opts.generation;
  let done = false;
  while (generation === undefined) {
    const r = await lines.next();
    if (r.done) {
      done = true;
      break;
    }
    const l = parseFtraceLine(r.value.text, path, r.value.line);
    if (!l) continue;
    pending.push({ l, line: r.value.line });
    if (l.kind === 'event') generation = detectGeneration(l.name);
  }
  if (generation === undefined)
    throw new TraceInputError(
      { file: path, line: 1 },
      'cannot tell the kernel generation: expected a 6.1 page_* or 6.12 folio_* rmap probe event, or --kernel 6.1|6.12',
    );
  const table = PROBE_TABLES[generation];
  const conv = new FtraceConverter(table);
  const release = releaseBeside(path);
  const header: TraceHeader = {
    format: 'trollcount-trace',
    version: 1,
    kernel: release ? { release, generation } : { generation },
    geometry: { pageSize: table.geometry.pageSize, pmdOrder: table.geometry.pmdOrder },
    source: { kind: 'ftrace', description: path },
  };
  async function* events(): AsyncGenerator<PositionedEvent> {
    for (const p of pending) yield { event: conv.event(p.l, path, p.line), at: { file: path, line: p.line } };
    pending.length = 0;
    if (done) return;
    for (let r = await lines.next(); !r.done; r = await lines.next()) {
      const l = parseFtraceLine(r.value.text, path, r.value.line);
      if (l) yield { event: conv.event(l, path, r.value.line), at: { file: path, line: r.value.line } };
    }
  }
  return { header, events: events() };
}

export interface ConvertSummary {
  readonly generation: Generation;
  readonly events: number;
  readonly byKind: Record<string, number>;
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

/** `trollcount convert`: ftrace text -> JSON Lines (a header line, then one event per line); gzip if output ends in .gz. */
export async function convertFile(input: string, output: string, opts: { generation?: Generation } = {}): Promise<ConvertSummary> {
  const stream = await openFtrace(input, opts);
  const file = createWriteStream(output);
  const out: Writable = output.endsWith('.gz') ? createGzip() : file;
  if (out !== file) out.pipe(file);
  const byKind: Record<string, number> = {};
  let events = 0;
  await write(out, JSON.stringify(stream.header) + '\n');
  for await (const { event } of stream.events) {
    events++;
    byKind[event.ev] = (byKind[event.ev] ?? 0) + 1;
    await write(out, JSON.stringify(event) + '\n');
  }
  out.end();
  await once(file, 'close');
  return { generation: stream.header.kernel.generation, events, byKind };
}
