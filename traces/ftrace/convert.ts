import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type { Writable } from 'node:stream';
import { readLineChunks, streamOf } from '../lines.ts';
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

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
/** A character of a kprobe location: not a space, not a parenthesis, not '<' (printable ASCII). */
const isLocChar = (c: number): boolean => c > 32 && c < 127 && c !== 40 && c !== 41 && c !== 60;

/** End (the ':') of `\d+\.\d+:` spanning exactly [at, sp), or -1. */
function timestampEnd(text: string, at: number, sp: number): number {
  let k = at;
  while (k < sp && isDigit(text.charCodeAt(k))) k++;
  if (k === at || text.charCodeAt(k) !== 46) return -1;
  const f = ++k;
  while (k < sp && isDigit(text.charCodeAt(k))) k++;
  if (k === f || k !== sp - 1 || text.charCodeAt(k) !== 58) return -1;
  return k;
}

/** [at, end) is 0x-hex or optionally negative decimal (parse.ts HEX_OR_DEC): 1 if it has upper-case hex digits, 0 if not, -1 if it is neither. */
function hexOrDecUpper(text: string, at: number, end: number): number {
  if (end <= at) return -1;
  if (text.charCodeAt(at) === 48 && text.charCodeAt(at + 1) === 120) {
    if (end - at < 3) return -1;
    let upper = 0;
    for (let k = at + 2; k < end; k++) {
      const c = text.charCodeAt(k);
      if ((c >= 65 && c <= 70)) upper = 1;
      else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return -1;
    }
    return upper;
  }
  let k = at;
  if (text.charCodeAt(k) === 45) k++;
  if (k >= end) return -1;
  for (; k < end; k++) if (!isDigit(text.charCodeAt(k))) return -1;
  return 0;
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

  /** Per probe, in the probe definition's order: field names, `"name":` and whether hex (the fast path). */
  private readonly fastFields = new Map<string, { names: string[]; json: string[]; hex: boolean[] }>();
  /** Per probe: `"ev":"kcall","fn":...` and, for return probes, `"ret":true`, as JSON. */
  private readonly kcallHead = new Map<string, string>();
  /** The event kind of the last line json() converted. */
  lastKind = '';

  private fastTable(name: string, spec: KprobeSpec): { names: string[]; json: string[]; hex: boolean[] } {
    const names = Object.keys(spec.fields);
    const t = { names, json: names.map((f) => JSON.stringify(f) + ':'), hex: names.map((f) => spec.fields[f] === 'x64') };
    this.fastFields.set(name, t);
    return t;
  }

  /**
   * The JSON Lines text (with its newline) of one ftrace line's event, for the common shapes only:
   * a kprobe of the probe table or a page_fault_user line, in the usual column layout. Gives
   * exactly JSON.stringify(this.event(parseFtraceLine(text))) + '\n', without the objects in
   * between; undefined for any other line (a comment, another event, an unusual layout, anything
   * doubtful or wrong): the caller then takes the general path, which also words every error.
   */
  json(text: string): string | undefined {
    const n = text.length;
    let i = 0;
    while (i < n && text.charCodeAt(i) === 32) i++;
    const c0 = text.charCodeAt(i);
    if (!(c0 > 32 && c0 < 127) || c0 === 35 /* # */) return undefined;
    // comm-pid: the first '-' followed by a digit (the regexp's lazy comm, when the rest matches)
    let dash = text.indexOf('-', i);
    while (dash >= 0) {
      const c = text.charCodeAt(dash + 1);
      if (c >= 48 && c <= 57) break;
      dash = text.indexOf('-', dash + 1);
    }
    if (dash < 0) return undefined;
    const comm = text.slice(i, dash);
    if (comm.indexOf('\u2028') >= 0 || comm.indexOf('\u2029') >= 0) return undefined; // not matched by '.'
    let k = dash + 1;
    const pidAt = k;
    while (isDigit(text.charCodeAt(k))) k++;
    if (k - pidAt > 15 || text.charCodeAt(k) !== 32) return undefined;
    const pid = text.slice(pidAt, k);
    while (text.charCodeAt(k) === 32) k++;
    let tgid: string | undefined;
    if (text.charCodeAt(k) === 40 /* ( */) {
      k++;
      while (text.charCodeAt(k) === 32) k++;
      const t = k;
      if (isDigit(text.charCodeAt(k))) {
        while (isDigit(text.charCodeAt(k))) k++;
        if (k - t > 15) return undefined;
        tgid = text.slice(t, k);
      } else {
        while (text.charCodeAt(k) === 45) k++;
        if (k === t) return undefined;
      }
      if (text.charCodeAt(k) !== 41 /* ) */ || text.charCodeAt(k + 1) !== 32) return undefined;
      k++;
      while (text.charCodeAt(k) === 32) k++;
    }
    if (text.charCodeAt(k) !== 91 /* [ */) return undefined;
    const cpuAt = ++k;
    while (isDigit(text.charCodeAt(k))) k++;
    if (k === cpuAt || k - cpuAt > 15 || text.charCodeAt(k) !== 93 /* ] */ || text.charCodeAt(k + 1) !== 32) return undefined;
    const cpu = text.slice(cpuAt, k);
    k++;
    while (text.charCodeAt(k) === 32) k++;
    // optional 4- or 5-character flags, then SECONDS.MICROS: and a space
    let sp = text.indexOf(' ', k);
    if (sp < 0) return undefined;
    for (let j = k; j < sp; j++) {
      const c = text.charCodeAt(j);
      if (c <= 32 || c >= 127) return undefined;
    }
    let tsEnd = timestampEnd(text, k, sp);
    if (tsEnd < 0) {
      if (sp - k !== 4 && sp - k !== 5) return undefined;
      k = sp;
      while (text.charCodeAt(k) === 32) k++;
      sp = text.indexOf(' ', k);
      if (sp < 0) return undefined;
      tsEnd = timestampEnd(text, k, sp);
      if (tsEnd < 0) return undefined;
    } else if (sp - k === 4 || sp - k === 5) return undefined; // could be read as flags: let the regexp decide
    const ts = Number(text.slice(k, tsEnd));
    if (!Number.isFinite(ts)) return undefined;
    // the event name, then ':' and the payload
    k = sp + 1;
    const nameAt = k;
    const c1 = text.charCodeAt(k);
    if (!((c1 >= 65 && c1 <= 90) || (c1 >= 97 && c1 <= 122) || c1 === 95)) return undefined;
    k++;
    for (let c = text.charCodeAt(k); (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 46; c = text.charCodeAt(++k));
    if (text.charCodeAt(k) !== 58 /* : */) return undefined;
    const name = text.slice(nameAt, k);
    let body = k + 1;
    if (text.charCodeAt(body) === 32) body++;
    const rec = `,"ts":${ts},"cpu":${Number(cpu)},"pid":${Number(pid)}${tgid === undefined ? '' : `,"tgid":${Number(tgid)}`},"comm":${JSON.stringify(comm)}}\n`;
    if (text.charCodeAt(body) === 40 /* ( */) {
      const spec = this.kprobes.get(name);
      if (!spec) return undefined;
      // (func+0x4/0x140) or (caller+0x1b/0x60 <- func)
      let j = body + 1;
      while (isLocChar(text.charCodeAt(j))) j++;
      if (j === body + 1) return undefined;
      let ret = false;
      if (text.charCodeAt(j) === 32) {
        if (text.charCodeAt(j + 1) !== 60 || text.charCodeAt(j + 2) !== 45 || text.charCodeAt(j + 3) !== 32) return undefined;
        const f = j + 4;
        j = f;
        while (isLocChar(text.charCodeAt(j))) j++;
        if (j === f) return undefined;
        ret = true;
      }
      if (text.charCodeAt(j) !== 41 /* ) */) return undefined;
      j++;
      if (j < n && text.charCodeAt(j) !== 32) return undefined;
      // name=value pairs in the probe definition's order (as the kernel prints them), each at most once
      const t = this.fastFields.get(name) ?? this.fastTable(name, spec);
      let f = 0;
      let args = '';
      while (j < n) {
        while (j < n && text.charCodeAt(j) === 32) j++;
        if (j >= n) break;
        let end = text.indexOf(' ', j);
        if (end < 0) end = n;
        while (f < t.names.length && !(text.startsWith(t.names[f], j) && text.charCodeAt(j + t.names[f].length) === 61)) f++;
        if (f === t.names.length) return undefined;
        const eq = j + t.names[f].length;
        if (eq >= end) return undefined;
        const upper = hexOrDecUpper(text, eq + 1, end);
        if (upper < 0) return undefined;
        const value = text.slice(eq + 1, end);
        if (args) args += ',';
        if (t.hex[f]) args += t.json[f] + '"' + (upper ? value.toLowerCase() : value) + '"';
        else {
          const v = Number(value);
          args += t.json[f] + (Number.isFinite(v) ? v : 'null');
        }
        f++;
        j = end;
      }
      let head = this.kcallHead.get(name + (ret ? '|r' : ''));
      if (head === undefined) {
        head = `{"ev":"kcall","fn":${JSON.stringify(spec.fn)}${ret || spec.ret ? ',"ret":true' : ''},"args":{`;
        this.kcallHead.set(name + (ret ? '|r' : ''), head);
      }
      this.lastKind = 'kcall';
      return head + args + '}' + rec;
    }
    if (name === 'page_fault_user') {
      let address: string | undefined;
      let ip: string | undefined;
      let errorCode: string | undefined;
      let j = body;
      while (j < n) {
        while (j < n && text.charCodeAt(j) === 32) j++;
        if (j >= n) break;
        let end = text.indexOf(' ', j);
        if (end < 0) end = n;
        const eq = text.indexOf('=', j);
        if (eq <= j || eq > end) return undefined;
        for (let q = eq + 1; q < end; q++) {
          const c = text.charCodeAt(q);
          if (c <= 32 || c >= 127 || c === 34 || c === 92) return undefined;
        }
        const key = text.slice(j, eq);
        if (key === 'address') address = text.slice(eq + 1, end);
        else if (key === 'ip') ip = text.slice(eq + 1, end);
        else if (key === 'error_code') errorCode = text.slice(eq + 1, end);
        j = end;
      }
      if (address === undefined || errorCode === undefined) return undefined;
      this.lastKind = 'fault';
      return `{"ev":"fault","address":"${address.toLowerCase()}"${ip === undefined ? '' : `,"ip":"${ip.toLowerCase()}"`},"errorCode":"${errorCode.toLowerCase()}"${rec}`;
    }
    return undefined;
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
 * The lines of the file in chunks (traces/lines.ts readLineChunks, numbered here),
 * with every failure of the byte source (gzip stream cut short, corrupt gzip, a missing file, a
 * directory, I/O) turned into a TraceInputError at the line reached, as the JSON readers do:
 * never a raw zlib or fs error.
 */
class FtraceLines {
  /** Lines handed out so far: the next chunk's first line is lines + 1. */
  lines = 0;
  private readonly it: AsyncGenerator<string[]>;
  constructor(readonly path: string) {
    this.it = readLineChunks(path);
  }

  async next(): Promise<string[] | undefined> {
    try {
      const r = await this.it.next();
      if (r.done) return undefined;
      this.lines += r.value.length;
      return r.value;
    } catch (e) {
      if (e instanceof TraceInputError) throw e;
      const err = e as NodeJS.ErrnoException;
      const what =
        err.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(err.message)
          ? 'gzip stream cut short (unexpected end of file): the trace is truncated'
          : typeof err.code === 'string' && err.code.startsWith('Z_')
            ? `corrupt gzip data (${err.message})`
            : `cannot read the trace file: ${err.message}`;
      throw new TraceInputError({ file: this.path, line: this.lines + 1, column: 1 }, what);
    }
  }

  async close(): Promise<void> {
    await this.it.return(undefined);
  }
}

/** An ftrace file read up to its generation: the header, and where reading goes on. */
interface OpenedFtrace {
  readonly path: string;
  readonly header: TraceHeader;
  readonly conv: FtraceConverter;
  readonly src: FtraceLines;
  /** Lines parsed while looking for the generation, not yet converted. */
  readonly pending: { l: FtraceLine; line: number }[];
  /** The rest of the chunk the generation was found in: texts[from..], texts[0] is line `first`. */
  readonly texts: string[];
  readonly from: number;
  readonly first: number;
  readonly done: boolean;
}

/** Read ahead only until the generation is known (the first generation-specific rmap probe), unless `opts.generation`. */
async function openFtraceLines(path: string, opts: { generation?: Generation }): Promise<OpenedFtrace> {
  const src = new FtraceLines(path);
  const pending: { l: FtraceLine; line: number }[] = [];
  let generation = opts.generation;
  let done = false;
  let texts: string[] = [];
  let from = 0;
  let first = 1;
  try {
    search: while (generation === undefined) {
      const chunk = await src.next();
      if (!chunk) {
        done = true;
        break;
      }
      texts = chunk;
      first = src.lines - chunk.length + 1;
      for (from = 0; from < texts.length; ) {
        const line = first + from;
        const l = parseFtraceLine(texts[from++], path, line);
        if (!l) continue;
        pending.push({ l, line });
        if (l.kind === 'event') generation = detectGeneration(l.name);
        if (generation !== undefined) continue search;
      }
    }
    if (generation === undefined)
      throw new TraceInputError(
        { file: path, line: 1 },
        'cannot tell the kernel generation: expected a 6.1 page_* or 6.12 folio_* rmap probe event, or --kernel 6.1|6.12',
      );
  } catch (e) {
    await src.close();
    throw e;
  }
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
  return { path, header, conv, src, pending, texts, from, first, done };
}

/**
 * The events of an opened ftrace file in batches (one per chunk of lines). An error at a line is
 * thrown after the batch of the events before it.
 */
async function* eventBatches(o: OpenedFtrace): AsyncGenerator<PositionedEvent[]> {
  const { path, conv, src } = o;
  const lines = (texts: string[], from: number, first: number, out: PositionedEvent[]): void => {
    for (let i = from; i < texts.length; i++) {
      const line = first + i;
      const l = parseFtraceLine(texts[i], path, line);
      if (l) out.push({ event: conv.event(l, path, line), at: { file: path, line } });
    }
  };
  try {
    let out: PositionedEvent[] = [];
    try {
      for (const p of o.pending) out.push({ event: conv.event(p.l, path, p.line), at: { file: path, line: p.line } });
      o.pending.length = 0;
      lines(o.texts, o.from, o.first, out);
    } catch (e) {
      if (out.length) yield out;
      throw e;
    }
    if (out.length) yield out;
    if (o.done) return;
    for (let chunk = await src.next(); chunk; chunk = await src.next()) {
      out = [];
      try {
        lines(chunk, 0, src.lines - chunk.length + 1, out);
      } catch (e) {
        if (out.length) yield out;
        throw e;
      }
      if (out.length) yield out;
    }
  } finally {
    await src.close();
  }
}

/**
 * Open an ftrace text file (optionally .gz) as a trace stream. Reads ahead only until the
 * generation is known (the first generation-specific rmap probe), unless `opts.generation`.
 */
export async function openFtrace(path: string, opts: { generation?: Generation } = {}): Promise<TraceStream> {
  const o = await openFtraceLines(path, opts);
  return streamOf(path, o.header, eventBatches(o));
}

export interface ConvertSummary {
  readonly generation: Generation;
  readonly events: number;
  readonly byKind: Record<string, number>;
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

/**
 * `trollcount convert`: ftrace text -> JSON Lines (a header line, then one event per line); gzip if
 * output ends in .gz. The common lines (kprobes, page faults) are formatted straight from the text
 * (FtraceConverter.json()), the others through their event object and JSON.stringify; the output
 * is written once per chunk of input lines. An error at a line is thrown after the lines before
 * it are written.
 */
export async function convertFile(input: string, output: string, opts: { generation?: Generation } = {}): Promise<ConvertSummary> {
  const o = await openFtraceLines(input, opts);
  const { conv, src } = o;
  const file = createWriteStream(output);
  const out: Writable = output.endsWith('.gz') ? createGzip() : file;
  if (out !== file) out.pipe(file);
  const byKind: Record<string, number> = {};
  let events = 0;
  let text = JSON.stringify(o.header) + '\n';
  const general = (e: TraceEvent): void => {
    events++;
    byKind[e.ev] = (byKind[e.ev] ?? 0) + 1;
    text += JSON.stringify(e) + '\n';
  };
  const lines = (texts: string[], from: number, first: number): void => {
    for (let i = from; i < texts.length; i++) {
      const t = texts[i];
      const j = conv.json(t);
      if (j !== undefined) {
        events++;
        byKind[conv.lastKind] = (byKind[conv.lastKind] ?? 0) + 1;
        text += j;
        continue;
      }
      const l = parseFtraceLine(t, input, first + i);
      if (l) general(conv.event(l, input, first + i));
    }
  };
  try {
    try {
      for (const p of o.pending) general(conv.event(p.l, input, p.line));
      lines(o.texts, o.from, o.first);
      if (!o.done) for (let chunk = await src.next(); chunk; chunk = await src.next()) {
        lines(chunk, 0, src.lines - chunk.length + 1);
        await write(out, text);
        text = '';
      }
    } finally {
      await write(out, text);
      text = '';
    }
  } finally {
    await src.close();
  }
  out.end();
  await once(file, 'close');
  return { generation: o.header.kernel.generation, events, byKind };
}
