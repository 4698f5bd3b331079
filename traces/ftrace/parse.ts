import { TraceInputError, type Position } from '../events.ts';

/**
 * The ftrace `trace` text format, one line at a time (kernel/trace/trace_output.c):
 *
 *   # tracer: nop                                   (header comments and the column legend)
 *           bash-123     (    123) [000] d..1.  12.345678: name: payload     (record-tgid on)
 *           bash-123     [000] d..1.  12.345678: name: payload                (record-tgid off)
 *   CPU:0 [LOST 5 EVENTS]                            (ring-buffer overrun marker)
 *
 * The flags column has 4 characters before 5.18 (irqs-off, need-resched, hardirq/softirq,
 * preempt-depth) and 5 since (migrate-disable); it is absent when `irq-info` is off. The comm
 * column may hold spaces and dashes (`<...>` when the comm was not recorded): the pid is the
 * last `-N` before the TGID or CPU column.
 *
 * Payloads: kprobes print `(func+0x0/0x1400) name=value ...`, return probes
 * `(caller+0x1b/0x60 <- func) ret=0x0` (older kernels without the space: `<-func`); syscall
 * tracepoints print `sys_mmap(addr: 0, len: 200000, ...)` and `sys_mmap -> 0x7f...` (arguments
 * and return value in hex without 0x); other tracepoints `field=value ...`; trace_marker writes
 * `tracing_mark_write: text`.
 */

export type FtracePayload =
  /** A kprobe (`ret` false) or kretprobe (`ret` true); `args` values exactly as printed. */
  | { readonly type: 'kprobe'; readonly func: string; readonly ret: boolean; readonly args: Record<string, string> }
  /** syscalls:sys_enter_*, printed as `sys_NAME(arg: hex, ...)`; `args` values as 0x-prefixed lowercase hex. */
  | { readonly type: 'syscall-enter'; readonly syscall: string; readonly args: Record<string, string> }
  /** syscalls:sys_exit_*, printed as `sys_NAME -> 0xRET`. */
  | { readonly type: 'syscall-exit'; readonly syscall: string; readonly ret: string }
  /** A tracepoint with `field=value` pairs. */
  | { readonly type: 'fields'; readonly fields: Record<string, string> }
  /** ftrace:print (trace_marker): the text written. */
  | { readonly type: 'marker'; readonly text: string };

export interface FtraceEventLine {
  readonly kind: 'event';
  readonly comm: string;
  readonly pid: number;
  readonly tgid?: number;
  readonly cpu: number;
  /** The irq-info flags column as printed (4 or 5 characters), when present. */
  readonly flags?: string;
  /** Seconds. */
  readonly ts: number;
  /** Event name as printed: the probe name, the tracepoint name, or `sys_NAME` for syscalls. */
  readonly name: string;
  readonly payload: FtracePayload;
}

export interface FtraceLostLine {
  readonly kind: 'lost';
  readonly cpu: number;
  readonly count: number;
}

export type FtraceLine = FtraceEventLine | FtraceLostLine;

// ---- compiled once ------------------------------------------------------------------------------

/** comm-pid, optional (tgid), [cpu], optional flags, timestamp, then ': ' */
const EVENT_PREFIX = /^\s*(.*?)-(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\]\s+(?:([^\s]{4,5})\s+)?(\d+\.\d+):\s/y;
const LOST = /^CPU:(\d+) \[LOST (\d+) EVENTS\]\s*$/;
const NAME = /[A-Za-z_][\w.]*/y;
/** `(func+0x0/0x1400)` or `(caller+0x1b/0x60 <- func)` / `(caller+0x1b/0x60<-func)` */
const KPROBE_HEAD = /\(([^()\s]+?)(?:\s*<-\s*([^()\s]+))?\)(?:\s+|$)/y;
const SYSCALL_EXIT = / -> (0x[0-9a-fA-F]+|-?\d+)\s*$/y;
const HEX_OR_DEC = /^(?:0x[0-9a-fA-F]+|-?\d+)$/;

function fail(file: string, line: number, column: number, what: string): never {
  const at: Position = { file, line, column };
  throw new TraceInputError(at, what);
}

/**
 * Parse one line of ftrace text. Returns null for header comments and blank lines. A line that
 * is none of the known forms throws TraceInputError naming file:line:column and what was expected.
 */
export function parseFtraceLine(text: string, file: string, line: number): FtraceLine | null {
  const c0 = text.charCodeAt(0);
  if (c0 === 35 /* # */ || text.length === 0) return null;
  if (c0 === 67 /* C */ && text.startsWith('CPU:')) {
    const m = LOST.exec(text);
    if (m) return { kind: 'lost', cpu: Number(m[1]), count: Number(m[2]) };
    fail(file, line, 1, 'expected `CPU:N [LOST M EVENTS]`');
  }
  EVENT_PREFIX.lastIndex = 0;
  const m = EVENT_PREFIX.exec(text);
  if (!m) {
    if (text.trim() === '') return null;
    diagnosePrefix(text, file, line);
  }
  const tgidText = m[3];
  const start = EVENT_PREFIX.lastIndex;
  NAME.lastIndex = start;
  const nm = NAME.exec(text);
  if (!nm) fail(file, line, start + 1, 'expected an event name after the timestamp');
  const name = nm[0];
  const after = NAME.lastIndex;
  const payload = parsePayload(text, name, after, file, line);
  const ev: FtraceEventLine = {
    kind: 'event',
    comm: m[1],
    pid: Number(m[2]),
    tgid: tgidText === undefined || tgidText.charCodeAt(0) === 45 /* - */ ? undefined : Number(tgidText),
    cpu: Number(m[4]),
    flags: m[5],
    ts: Number(m[6]),
    name: payload.type === 'syscall-enter' || payload.type === 'syscall-exit' ? `sys_${payload.syscall}` : name,
    payload,
  };
  return ev;
}

function parsePayload(text: string, name: string, at: number, file: string, line: number): FtracePayload {
  const ch = text.charCodeAt(at);
  if (ch === 58 /* : */) {
    let body = at + 1;
    if (text.charCodeAt(body) === 32) body++;
    if (name === 'tracing_mark_write') {
      let end = text.length;
      while (end > body && (text.charCodeAt(end - 1) === 10 || text.charCodeAt(end - 1) === 32)) end--;
      return { type: 'marker', text: text.slice(body, end) };
    }
    if (text.charCodeAt(body) === 40 /* ( */) return parseKprobe(text, body, file, line);
    return { type: 'fields', fields: parseFields(text, body, file, line) };
  }
  if (name.startsWith('sys_')) {
    const syscall = name.slice(4);
    if (ch === 40 /* ( */) return { type: 'syscall-enter', syscall, args: parseSyscallArgs(text, at, file, line) };
    SYSCALL_EXIT.lastIndex = at;
    const x = SYSCALL_EXIT.exec(text);
    if (x) return { type: 'syscall-exit', syscall, ret: normHex(x[1]) };
    fail(file, line, at + 1, 'expected `(args)` or ` -> 0xRET` after a syscall name');
  }
  fail(file, line, at + 1, `expected ':' after the event name '${name}'`);
}

function normHex(v: string): string {
  if (v.charCodeAt(0) === 48 && (v.charCodeAt(1) === 120 || v.charCodeAt(1) === 88)) return v.toLowerCase();
  const n = Number(v);
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}

function parseKprobe(text: string, at: number, file: string, line: number): FtracePayload {
  KPROBE_HEAD.lastIndex = at;
  const h = KPROBE_HEAD.exec(text);
  if (!h) fail(file, line, at + 1, 'expected a kprobe location `(func+0x0/0x...)` or `(caller+0x../0x.. <- func)`');
  const ret = h[2] !== undefined;
  const loc = ret ? h[2] : h[1];
  const plus = loc.indexOf('+');
  const func = plus < 0 ? loc : loc.slice(0, plus);
  const args = parseFields(text, KPROBE_HEAD.lastIndex, file, line, true);
  return { type: 'kprobe', func, ret, args };
}

/**
 * `name=value name=value ...` starting at `at`. A value runs to the next space; a token without
 * '=' continues the previous value (a comm with a space). With `strict`, every value must be a
 * number (kprobe fetch-args print hex or decimal).
 */
function parseFields(text: string, at: number, file: string, line: number, strict = false): Record<string, string> {
  const out: Record<string, string> = {};
  let i = at;
  const n = text.length;
  let last: string | undefined;
  while (i < n) {
    while (i < n && text.charCodeAt(i) === 32) i++;
    if (i >= n) break;
    let sp = text.indexOf(' ', i);
    if (sp < 0) sp = n;
    const eq = text.indexOf('=', i);
    if (eq < 0 || eq > sp) {
      if (last === undefined || strict) fail(file, line, i + 1, 'expected `name=value`');
      out[last] += ' ' + text.slice(i, sp);
      i = sp;
      continue;
    }
    if (eq === i) fail(file, line, i + 1, 'expected a field name before `=`');
    const key = text.slice(i, eq);
    const value = text.slice(eq + 1, sp);
    if (strict && !HEX_OR_DEC.test(value)) fail(file, line, eq + 2, `expected a number (0x-hex or decimal) for ${key}=`);
    out[key] = value;
    last = key;
    i = sp;
  }
  return out;
}

/** `(name: hex, name: hex)` at `at` (the '('): values become 0x-prefixed lowercase hex. */
function parseSyscallArgs(text: string, at: number, file: string, line: number): Record<string, string> {
  const close = text.lastIndexOf(')');
  if (close < at) fail(file, line, text.length + 1, "expected ')' closing the syscall arguments");
  const out: Record<string, string> = {};
  let i = at + 1;
  while (i < close) {
    while (text.charCodeAt(i) === 32) i++;
    const colon = text.indexOf(':', i);
    if (colon < 0 || colon > close) fail(file, line, i + 1, 'expected `name: value` in the syscall arguments');
    let comma = text.indexOf(',', colon);
    if (comma < 0 || comma > close) comma = close;
    const key = text.slice(i, colon);
    const raw = text.slice(colon + 1, comma).trim();
    if (!/^[0-9a-fA-F]+$/.test(raw)) fail(file, line, colon + 2, `expected a hex value for syscall argument ${key}`);
    out[key] = '0x' + raw.toLowerCase().replace(/^0+(?=.)/, '');
    i = comma + 1;
  }
  return out;
}

/** Explain where an event line's fixed columns went wrong (only on failure: not the fast path). */
function diagnosePrefix(text: string, file: string, line: number): never {
  const bracket = text.search(/\[\d+\]/);
  if (bracket < 0) {
    const firstNonSpace = text.search(/\S/);
    if (!/-\d+/.test(text)) fail(file, line, firstNonSpace + 1, 'expected `comm-pid` at the start of an event line');
    fail(file, line, firstNonSpace + 1, 'expected a CPU column `[NNN]` after `comm-pid`');
  }
  const head = text.slice(0, bracket);
  if (!/^\s*.*?-\d+\s+(?:\(\s*(?:\d+|-+)\)\s+)?$/.test(head)) {
    const paren = head.indexOf('(');
    if (paren >= 0) fail(file, line, paren + 1, 'expected a TGID column `(  NNN)` before the CPU column');
    fail(file, line, 1, 'expected `comm-pid` before the CPU column');
  }
  const afterCpu = text.indexOf(']', bracket) + 1;
  const rest = /^\s+(?:([^\s]{4,5})\s+)?/.exec(text.slice(afterCpu));
  let col = afterCpu + (rest ? rest[0].length : 0);
  const tok = /^\S+/.exec(text.slice(col))?.[0] ?? '';
  if (rest && rest[1] === undefined && /^\S{1,3}$|^\S{6,}$/.test(tok) && !/^\d+\.\d+:/.test(tok)) {
    fail(file, line, col + 1, 'expected a 4- or 5-character flags field (e.g. `d..1.`) after the CPU column');
  }
  if (!/^\d+\.\d+:/.test(text.slice(col))) {
    // maybe the flags token is wrong size and we are at the timestamp anyway
    const ts = /^\S+\s+(\d+\.\d+:)/.exec(text.slice(col));
    if (ts && rest?.[1] === undefined) fail(file, line, col + 1, 'expected a 4- or 5-character flags field (e.g. `d..1.`) after the CPU column');
    fail(file, line, col + 1, 'expected a timestamp `SECONDS.MICROS:`');
  }
  col = text.indexOf(':', col) + 1;
  fail(file, line, col + 1, "expected a space after the timestamp's ':'");
}
