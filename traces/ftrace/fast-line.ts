import type { KprobeSpec, ProbeTable } from './probes.ts';

/**
 * The common ftrace lines straight from bytes to their JSON Lines bytes: kprobes of the probe
 * table, page_fault_user, sched_process_fork/exit and syscall entry/exit, in the usual column
 * layout, with printable ASCII comms. No string, regexp or object per line: the columns are
 * located in the input bytes and copied (or normalised) into the output buffer.
 *
 * write() gives exactly the bytes of JSON.stringify(conv.event(parseFtraceLine(text))) + '\n' (the
 * general path, convert.ts) for every line it takes, and declines (-1) every other line: a LOST
 * line, a marker, another tracepoint, an unusual layout, anything doubtful or wrong. The general
 * path then decides, and words every error with its file:line:column. Declining is always safe;
 * taking a line the general path would read differently is the bug to avoid, so each test here
 * mirrors a rule of parse.ts (named beside it) and is stricter where in doubt.
 *
 * One module on purpose: this code is loops over bytes made of small helpers, and Node 20's V8
 * compiles calls to what a module imports less well than calls within it (split into three
 * modules, the conversion took 25% longer, measured).
 */

// ---- bytes ---------------------------------------------------------------------------------------

const SPACE = 32;
const QUOTE = 34;
const LPAREN = 40;
const RPAREN = 41;
const COMMA = 44;
const DASH = 45;
const DOT = 46;
const COLON = 58;
const EQUALS = 61;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const ZERO = 48;
const LOWER_X = 120;

// Out-of-range reads give undefined, and a line ends at '\n', '\r' or the region's end: every class
// below is false there, so a scan by class stops at the line's end without a bounds test.
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isHexDigit = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
/** Printable ASCII other than space. */
const isGraph = (c: number): boolean => c > 32 && c < 127;
/** parse.ts NAME: [A-Za-z_][\w.]* */
const isNameStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isNameChar = (c: number): boolean => isNameStart(c) || isDigit(c) || c === DOT;
/** A character of a kprobe location: not a space, not a parenthesis, not '<'. */
const isLocChar = (c: number): boolean => isGraph(c) && c !== LPAREN && c !== RPAREN && c !== 60;
/** A byte JSON.stringify copies as it is: printable ASCII other than '"' and '\'. */
const isJsonPlain = (c: number): boolean => c >= 32 && c < 127 && c !== QUOTE && c !== BACKSLASH;
/** Per byte: the lowercase hex digit, or 0 for a byte that is no hex digit. */
const HEX_LOWER = new Uint8Array(256);
for (const c of '0123456789abcdef') HEX_LOWER[c.charCodeAt(0)] = HEX_LOWER[c.toUpperCase().charCodeAt(0)] = c.charCodeAt(0);
/** ASCII toLowerCase(). */
const lower = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c);

const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/**
 * A piece of output (or of input to match), also as little-endian 32-bit words: V8 moves a byte at
 * a time at about 1 ns, most of a line's time, and a DataView word at about the same. The words are
 * a plain array: once V8 has seen an ArrayBuffer detached (the CLI's modules do it), every
 * typed-array access checks for it, an array's does not.
 */
class Text {
  /** The text, then zeros up to a whole double word. */
  readonly bytes: Uint8Array;
  /** The bytes 4 at a time. */
  readonly words: number[];
  /**
   * The bytes 8 at a time as doubles, to write: ASCII bytes are never a NaN's (whose bits V8 may
   * change) as the exponent's 11 bits would need a byte >= 0xf0, nor -0, so a double moves them as they are.
   */
  readonly doubles: number[];
  length = 0;
  /** The bits of the last word that hold text (-1 when the text fills it). */
  tailMask = -1;
  /** Views bytes. */
  readonly view: DataView;

  /** Empty, with room for `capacity` bytes. */
  constructor(capacity: number) {
    this.bytes = new Uint8Array((capacity + 7) & ~7);
    this.words = Array.from({ length: this.bytes.length >> 2 }, () => 0);
    this.doubles = Array.from({ length: this.bytes.length >> 3 }, () => 0.5);
    this.view = viewOf(this.bytes);
  }

  static of(s: string): Text {
    const t = new Text(s.length);
    t.bytes.set(ascii(s));
    return t.seal(s.length);
  }

  /** The text is bytes[0, length) (written there, ASCII): pad it to a whole double word and take its words. */
  seal(length: number): this {
    const n = (length + 7) >> 3;
    this.length = length;
    this.tailMask = length & 3 ? (1 << (8 * (length & 3))) - 1 : -1;
    this.bytes.fill(0, length, 8 * n);
    for (let i = 0; i < 2 * n; i++) this.words[i] = this.view.getInt32(4 * i, true);
    for (let i = 0; i < n; i++) this.doubles[i] = this.view.getFloat64(8 * i, true);
    return this;
  }
}

/**
 * `t` at out[pos], 8 bytes at a time: the last double word's padding lands past the text, where
 * what follows overwrites it (maxJsonBytes leaves room for it at the end).
 */
function put(out: DataView, pos: number, t: Text): number {
  const d = t.doubles;
  const n = (t.length + 7) >> 3;
  for (let i = 0; i < n; i++) out.setFloat64(pos + 8 * i, d[i], true);
  return pos + t.length;
}

/**
 * src[at..] starts with `t` within [at, end); `inp` views src. Compared 8 bytes at a time as
 * doubles (equal doubles have equal bits unless both are zeros or one is a NaN, and a text's are
 * neither), then 4, then the last word masked (its padding is zero), reading up to 3 bytes past
 * `end` when src has them.
 */
function startsWith(inp: DataView, src: Uint8Array, at: number, end: number, t: Text): boolean {
  const n = t.length;
  if (at + n > end) return false;
  const d = t.doubles;
  const whole = n >> 3;
  for (let i = 0; i < whole; i++) if (inp.getFloat64(at + 8 * i, true) !== d[i]) return false;
  let k = whole << 3;
  if (n - k >= 4) {
    if (inp.getInt32(at + k, true) !== t.words[k >> 2]) return false;
    k += 4;
  }
  if (k === n) return true;
  if (at + k + 4 <= src.length) return (inp.getInt32(at + k, true) & t.tailMask) === t.words[k >> 2];
  for (; k < n; k++) if (src[at + k] !== t.bytes[k]) return false;
  return true;
}

/**
 * The 4 bytes of `w` are all lowercase hex digits ('0'-'9', 'a'-'f'). Tested on the 4 at once: with
 * no byte >= 0x80, adding c to every byte sets its high bit exactly when the byte is >= 0x80 - c,
 * and no sum carries into the next byte.
 */
function isLowerHex4(w: number): boolean {
  if ((w & 0x80808080) !== 0) return false;
  const digit = ((w + 0x50505050) | 0) & ~((w + 0x46464646) | 0); // >= '0' and not > '9'
  const letter = ((w + 0x1f1f1f1f) | 0) & ~((w + 0x19191919) | 0); // >= 'a' and not > 'f'
  return ((digit | letter) & 0x80808080) === (0x80808080 | 0);
}

/**
 * The hex digits at src[at..] (before `end`) copied to dst[pos..] lowercased: returns where they end
 * (as many bytes are written). `inp` views src, `out` dst.
 */
function copyHexRun(inp: DataView, out: DataView, dst: Uint8Array, src: Uint8Array, at: number, end: number, pos: number): number {
  let k = at;
  // 4 digits at a time while they are lowercase, then the rest one at a time (lowercased): one loop
  // for every value's last digits, so that V8 has seen it run before it compiles it (a path first
  // taken after that undoes the compiled code, which the next compile of this and its callers costs)
  for (let w: number; k + 4 <= end && isLowerHex4((w = inp.getInt32(k, true))); k += 4, pos += 4) out.setInt32(pos, w, true);
  for (let c: number; k < end && (c = HEX_LOWER[src[k]]) > 0; k++) dst[pos++] = c;
  return k;
}

/**
 * The 4 bytes of `w` are all printable ASCII other than space, '"', '\\' and 'A'-'Z': JSON.stringify
 * of their toLowerCase() is themselves. Tested on the 4 at once as isLowerHex4() does ('"' and '\\'
 * by the zero bytes of w XOR them).
 */
function isPlainLower4(w: number): boolean {
  if ((w & 0x80808080) !== 0) return false;
  const graph = ((w + 0x5f5f5f5f) | 0) & ~((w + 0x01010101) | 0); // >= '!' and not > '~'
  const upper = ((w + 0x3f3f3f3f) | 0) & ~((w + 0x25252525) | 0); // >= 'A' and not > 'Z'
  const quote = w ^ 0x22222222;
  const backslash = w ^ 0x5c5c5c5c;
  const zero = (((quote - 0x01010101) | 0) & ~quote) | (((backslash - 0x01010101) | 0) & ~backslash);
  return ((graph & ~upper & ~zero) & 0x80808080) === (0x80808080 | 0);
}

/**
 * The bytes at src[at..] (before `end`) that are printable ASCII other than space, '"' and '\\'
 * copied to dst[pos..] lowercased: returns where they end (as many bytes are written). `inp` views
 * src, `out` dst.
 */
function copyPlainRun(inp: DataView, out: DataView, dst: Uint8Array, src: Uint8Array, at: number, end: number, pos: number): number {
  let k = at;
  for (let w: number; k + 4 <= end && isPlainLower4((w = inp.getInt32(k, true))); k += 4, pos += 4) out.setInt32(pos, w, true);
  for (let c = src[k]; k < end && isGraph(c) && c !== QUOTE && c !== BACKSLASH; c = src[++k]) dst[pos++] = lower(c);
  return k;
}

/** The text of src[at, end) (ASCII), for the rare values handed to Number(). */
function latin1(src: Uint8Array, at: number, end: number): string {
  let s = '';
  for (let k = at; k < end; k++) s += String.fromCharCode(src[k]);
  return s;
}

function copy(dst: Uint8Array, pos: number, src: Uint8Array, at: number, end: number): number {
  while (at < end) dst[pos++] = src[at++];
  return pos;
}

function copyLower(dst: Uint8Array, pos: number, src: Uint8Array, at: number, end: number): number {
  while (at < end) dst[pos++] = lower(src[at++]);
  return pos;
}

function putString(dst: Uint8Array, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) dst[pos++] = s.charCodeAt(i);
  return pos;
}

/** The digits [at, end) without leading zeros ("0" stays): the text of Number(digits) when there are at most 15. */
function copyInteger(dst: Uint8Array, pos: number, src: Uint8Array, at: number, end: number): number {
  while (at < end - 1 && src[at] === ZERO) at++;
  return copy(dst, pos, src, at, end);
}

/** src[at, end) equals `bytes`. */
function equals(src: Uint8Array, at: number, end: number, bytes: Uint8Array): boolean {
  if (end - at !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (src[at + i] !== bytes[i]) return false;
  return true;
}

/**
 * [at, end) is an integer whose JS Number prints as the same text: an optional '-', then at most
 * 15 digits without a leading zero (or "0" alone). Then copying it is Number() and back.
 */
function isPlainInteger(src: Uint8Array, at: number, end: number): boolean {
  const d = src[at] === DASH ? at + 1 : at;
  if (d >= end || end - d > 15) return false;
  if (src[d] === ZERO) return end - d === 1 && d === at; // "0", but not "-0" (prints "0") nor "007"
  for (let k = d; k < end; k++) if (!isDigit(src[k])) return false;
  return true;
}

/** Number(text) as JSON (JSON.stringify of NaN or an infinity is null): the rare numbers not copied as they are. */
function putNumberOf(dst: Uint8Array, pos: number, text: string): number {
  const v = Number(text);
  return putString(dst, pos, Number.isFinite(v) ? String(v) : 'null');
}

/** The non-negative integer v (below 2^53) in decimal. */
function putUint(dst: Uint8Array, pos: number, v: number): number {
  let digits = 1;
  for (let p = 10; p <= v; p *= 10) digits++;
  for (let i = pos + digits - 1; i >= pos; i--) {
    dst[i] = ZERO + (v % 10);
    v = Math.floor(v / 10);
  }
  return pos + digits;
}

// ---- record columns --------------------------------------------------------------------------------

/** Task columns longer than this go the general way (a comm has 15 characters in the kernel). */
const MAX_TASK_BYTES = 128;

const TAIL_TS = Text.of(',"ts":');
const TAIL_CPU = Text.of(',"cpu":');
const TAIL_PID = Text.of(',"pid":');
const TAIL_TGID = Text.of(',"tgid":');
const TAIL_COMM = Text.of(',"comm":"');

/**
 * The record columns that begin every event line (parse.ts EVENT_PREFIX), in their usual layout:
 *
 *           bash-123     (    123) [000] d..1.  12.345678: name: payload
 *
 * located in the line's bytes and written as the end of its event's JSON line:
 * `,"ts":..,"cpu":..,"pid":..,"tgid":..,"comm":".."}` and the newline.
 *
 * A trace comes in runs of lines from one task on one CPU: the task's columns (up to and with the
 * space after `[cpu]`) are kept with their JSON from the line that read them, and a line that
 * starts with the same bytes only compares them. The same goes for the columns up to the timestamp
 * (the task's, the flags and the spaces), after which only the timestamp is read.
 */
class RecordColumns {
  /** The task columns of the last line read, with the spaces before them. */
  private readonly task = new Text(MAX_TASK_BYTES);
  /** Their JSON: `,"cpu":..,"pid":..,"tgid":..,"comm":".."}` and the newline. */
  private readonly taskJson = new Text(2 * MAX_TASK_BYTES + 64);
  private tsAt = 0;
  /** The ':' after the timestamp. */
  private tsEnd = 0;
  /** The columns before the timestamp of the last line read (none while the task's are not kept). */
  private readonly prefix = new Text(MAX_TASK_BYTES + 64);
  /** That line has no flags token: a timestamp of 4 or 5 characters there would read as one. */
  private prefixWithoutFlags = false;

  /**
   * The columns of the line src[at, end) (`inp` views src): returns where the event name starts,
   * or -1 when they are not in the usual layout.
   */
  read(inp: DataView, src: Uint8Array, at: number, end: number): number {
    const prefix = this.prefix;
    if (prefix.length > 0 && startsWith(inp, src, at, end, prefix)) {
      const k = at + prefix.length;
      const tsEnd = timestampAt(src, k);
      if (tsEnd >= 0 && !(this.prefixWithoutFlags && (tsEnd + 1 - k === 4 || tsEnd + 1 - k === 5))) {
        this.tsAt = k;
        this.tsEnd = tsEnd;
        return tsEnd + 2;
      }
    }
    const task = this.task;
    let k = task.length > 0 && startsWith(inp, src, at, end, task) ? at + task.length : this.readTask(src, at, end);
    if (k < 0) return -1;
    while (src[k] === SPACE) k++;
    const flagsAt = k;
    // an optional 4- or 5-character flags token, then `SECONDS.MICROS:` and one space
    let sp = k;
    while (isGraph(src[sp])) sp++;
    if (src[sp] !== SPACE) return -1;
    let tsEnd = timestampEnd(src, k, sp);
    if (tsEnd < 0) {
      if (sp - k !== 4 && sp - k !== 5) return -1;
      k = sp;
      while (src[k] === SPACE) k++;
      sp = k;
      while (isGraph(src[sp])) sp++;
      if (src[sp] !== SPACE) return -1;
      tsEnd = timestampEnd(src, k, sp);
      if (tsEnd < 0) return -1;
    } else if (sp - k === 4 || sp - k === 5) return -1; // could be read as flags: let the regexp decide
    this.tsAt = k;
    this.tsEnd = tsEnd;
    if (k - at <= prefix.bytes.length) {
      prefix.bytes.set(src.subarray(at, k));
      prefix.seal(k - at);
      this.prefixWithoutFlags = k === flagsAt;
    }
    return sp + 1;
  }

  /**
   * `   comm-pid (tgid) [cpu] `: kept with their JSON, and returns where they end (after the space
   * following `[cpu]`), or -1.
   */
  private readTask(src: Uint8Array, at: number, end: number): number {
    this.task.length = 0; // none kept until these are read
    this.prefix.length = 0;
    let i = at;
    while (src[i] === SPACE) i++;
    const c0 = src[i];
    if (!isGraph(c0) || c0 === 35 /* # */) return -1;
    // comm-pid: the first '-' followed by a digit (the regexp's lazy comm, when the rest matches);
    // the comm must be text JSON.stringify copies as it is
    let dash = i;
    for (;;) {
      const c = src[dash];
      if (c === DASH && isDigit(src[dash + 1])) break;
      if (!isJsonPlain(c) || dash >= end) return -1;
      dash++;
    }
    const commAt = i;
    const commEnd = dash;
    let k = dash + 1;
    const pidAt = k;
    while (isDigit(src[k])) k++;
    if (k - pidAt > 15 || src[k] !== SPACE) return -1;
    const pidEnd = k;
    while (src[k] === SPACE) k++;
    // an optional `(  tgid)` or `(-------)`
    let tgidAt = -1;
    let tgidEnd = 0;
    if (src[k] === LPAREN) {
      k++;
      while (src[k] === SPACE) k++;
      const t = k;
      if (isDigit(src[k])) {
        while (isDigit(src[k])) k++;
        if (k - t > 15) return -1;
        tgidAt = t;
        tgidEnd = k;
      } else {
        while (src[k] === DASH) k++;
        if (k === t) return -1;
      }
      if (src[k] !== RPAREN || src[k + 1] !== SPACE) return -1;
      k++;
      while (src[k] === SPACE) k++;
    }
    // [cpu]
    if (src[k] !== LBRACKET) return -1;
    const cpuAt = ++k;
    while (isDigit(src[k])) k++;
    if (k === cpuAt || k - cpuAt > 15 || src[k] !== RBRACKET || src[k + 1] !== SPACE) return -1;
    const cpuEnd = k;
    k += 2;
    if (k - at > MAX_TASK_BYTES) return -1;

    const json = this.taskJson;
    const out = json.view;
    let pos = put(out, 0, TAIL_CPU);
    pos = copyInteger(json.bytes, pos, src, cpuAt, cpuEnd);
    pos = put(out, pos, TAIL_PID);
    pos = copyInteger(json.bytes, pos, src, pidAt, pidEnd);
    if (tgidAt >= 0) {
      pos = put(out, pos, TAIL_TGID);
      pos = copyInteger(json.bytes, pos, src, tgidAt, tgidEnd);
    }
    pos = put(out, pos, TAIL_COMM);
    pos = copy(json.bytes, pos, src, commAt, commEnd);
    json.bytes[pos++] = QUOTE;
    json.bytes[pos++] = 125; // }
    json.bytes[pos++] = 10;
    json.seal(pos);
    this.task.bytes.set(src.subarray(at, k));
    this.task.seal(k - at);
    return k;
  }

  /** The JSON of the columns last read at dst[pos] (`inp` views src, `out` dst); -1 if the timestamp is no finite number. */
  write(inp: DataView, src: Uint8Array, dst: Uint8Array, out: DataView, pos: number): number {
    pos = put(out, pos, TAIL_TS);
    pos = putTimestamp(inp, out, dst, pos, src, this.tsAt, this.tsEnd);
    return pos < 0 ? -1 : put(out, pos, this.taskJson);
  }
}

/** End (the ':') of `\d+\.\d+: ` at src[at], or -1. */
function timestampAt(src: Uint8Array, at: number): number {
  let d = at;
  while (isDigit(src[d])) d++;
  if (d === at || src[d] !== DOT) return -1;
  let e = d + 1;
  while (isDigit(src[e])) e++;
  return e > d + 1 && src[e] === COLON && src[e + 1] === SPACE ? e : -1;
}

/** End (the ':') of `\d+\.\d+:` spanning exactly [at, sp), or -1. */
function timestampEnd(src: Uint8Array, at: number, sp: number): number {
  let k = at;
  while (k < sp && isDigit(src[k])) k++;
  if (k === at || src[k] !== DOT) return -1;
  const f = ++k;
  while (k < sp && isDigit(src[k])) k++;
  if (k === f || k !== sp - 1 || src[k] !== COLON) return -1;
  return k;
}

/**
 * The timestamp DIGITS.DIGITS at [at, end) as JSON.stringify(Number(text)) writes it, or -1 when
 * that is no finite number. The common case is copied: with at most 6 decimals and 15 digits the
 * text is the shortest decimal of its double, so Number() prints it back without the leading zeros
 * of the integer part and the trailing zeros of the fraction (and without the '.' when none is left).
 */
function putTimestamp(inp: DataView, out: DataView, dst: Uint8Array, pos: number, src: Uint8Array, at: number, end: number): number {
  let dot = at;
  while (src[dot] !== DOT) dot++;
  let i = at;
  while (i < dot && src[i] === ZERO) i++;
  let fe = end;
  if (end - dot - 1 > 6 || dot - i + end - dot - 1 > 15) {
    const v = Number(latin1(src, at, end));
    return Number.isFinite(v) ? putString(dst, pos, String(v)) : -1;
  }
  while (fe > dot + 1 && src[fe - 1] === ZERO) fe--;
  if (fe === dot + 1) fe = dot;
  if (i === dot) dst[pos++] = ZERO;
  return copyWords(inp, out, dst, src, i, fe, pos);
}

/**
 * src[at, end) to dst[pos..], 4 bytes at a time: the last word may read up to 3 bytes past `end`
 * (when src has them) and write them past the copy, where what follows overwrites them.
 */
function copyWords(inp: DataView, out: DataView, dst: Uint8Array, src: Uint8Array, at: number, end: number, pos: number): number {
  if (at + ((end - at + 3) & ~3) > src.length) return copy(dst, pos, src, at, end);
  for (let k = at; k < end; k += 4) out.setInt32(pos + k - at, inp.getInt32(k, true), true);
  return pos + end - at;
}

// ---- the probe table, as bytes ---------------------------------------------------------------------

const SHAPE_KPROBE = 1;
const SHAPE_FAULT = 2;
const SHAPE_FORK = 3;
const SHAPE_EXIT = 4;

/** A kprobe's fetch-args in the probe definition's order (the order the kernel prints them). */
class ProbeFields {
  /** `name=` of each field, as the text has it. */
  readonly keys: Text[];
  /** ` name=` of each field after the space before it, with `0x` for an x64 field: the usual field, compared at once. */
  readonly spacedKeys: Text[];
  /** `"name":` of each field, as JSON has it, and `,"name":` after another field. */
  readonly jsonKeys: Text[];
  readonly commaKeys: Text[];
  /** For an x64 field with a 0x value: `"name":"0x` and `,"name":"0x`. */
  readonly hexKeys: Text[];
  readonly commaHexKeys: Text[];
  /** The value stays a lowercase hex string (x64); otherwise it becomes a number. */
  readonly hex: boolean[];
  /** `{"ev":"kcall","fn":...,"args":{` without and with `"ret":true` (the text says `<-`, or the probe is a return probe). */
  readonly head: Text;
  readonly headRet: Text;

  constructor(spec: KprobeSpec) {
    const fields = Object.keys(spec.fields);
    // written as `"name":`, which is JSON.stringify(name) for these names only
    for (const f of fields) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f)) throw new Error(`probe field name ${JSON.stringify(f)} is not an identifier`);
    this.keys = fields.map((f) => Text.of(`${f}=`));
    this.hex = fields.map((f) => spec.fields[f] === 'x64');
    this.spacedKeys = fields.map((f, i) => Text.of(` ${f}=${this.hex[i] ? '0x' : ''}`));
    this.jsonKeys = fields.map((f) => Text.of(`"${f}":`));
    this.commaKeys = fields.map((f) => Text.of(`,"${f}":`));
    this.hexKeys = fields.map((f) => Text.of(`"${f}":"0x`));
    this.commaHexKeys = fields.map((f) => Text.of(`,"${f}":"0x`));
    const head = (ret: boolean): Text => Text.of(`{"ev":"kcall","fn":${JSON.stringify(spec.fn)}${ret ? ',"ret":true' : ''},"args":{`);
    this.head = head(spec.ret);
    this.headRet = head(true);
  }
}

const EMPTY_VIEW = new DataView(new ArrayBuffer(0));

class NameEntry {
  constructor(
    readonly name: Text,
    readonly shape: number,
    readonly probe: ProbeFields | undefined,
  ) {}
}

/**
 * The start of a payload line read before: from the event name up to where the payload's fields
 * begin (`name: ` or `name: (func+0x4/0x140)`). A line that starts with the same bytes reads the
 * same up to there; lines come from a few probes, so most lines compare words instead of reading
 * the name and the location byte by byte. A return probe's location names its caller, which
 * varies: those are not kept.
 */
class Head {
  constructor(
    readonly text: Text,
    readonly shape: number,
    readonly probe: ProbeFields | undefined,
  ) {}
}

/** Heads kept per bucket (the bucket is chosen by the first 8 bytes of the name). */
const HEADS_PER_BUCKET = 4;
const HEAD_BUCKETS = 64;
/** A head shorter than this is not kept: its bucket is taken from 8 bytes of it. */
const MIN_HEAD_BYTES = 8;

/** The bucket of the head at src[at] (8 bytes there, `inp` views src). */
function headBucket(inp: DataView, at: number): number {
  return (Math.imul(inp.getInt32(at, true), 0x9e3779b1) + inp.getInt32(at + 4, true)) >>> 26;
}

/** The hash of an event name, as write() computes it while reading the name. */
function hashName(bytes: Uint8Array, at: number, end: number): number {
  let h = 0;
  for (let k = at; k < end; k++) h = (Math.imul(h, 31) + bytes[k]) | 0;
  return h;
}

const FAULT_ADDRESS = Text.of('{"ev":"fault","address":"');
const FAULT_IP = Text.of('","ip":"');
const FAULT_ERROR_CODE = Text.of('","errorCode":"');
const FAULT_ADDRESS_KEY = Text.of('address=');
const FAULT_IP_KEY = Text.of(' ip=');
const FAULT_ERROR_CODE_KEY = Text.of(' error_code=');
const SCHED_FORK = Text.of('{"ev":"sched","what":"fork","childPid":');
const SCHED_EXIT = Text.of('{"ev":"sched","what":"exit"');
const SYSCALL_NAME = Text.of('{"ev":"syscall","name":"');
const SYSCALL_ENTER = Text.of('","phase":"enter","args":{');
const SYSCALL_EXIT = Text.of('","phase":"exit","ret":"0x');
const ADDRESS = ascii('address');
const IP = ascii('ip');
const ERROR_CODE = ascii('error_code');
const CHILD_PID = ascii('child_pid');
const PROTO = ascii('__proto__');
/** Syscalls have at most 6 arguments; more goes the general way. */
const MAX_SYSCALL_ARGS = 8;

/** Event kinds write() produces, for the caller's counts (KINDS[kind] is the `ev`). */
export const KIND_NONE = 0;
const KIND_KCALL = 1;
const KIND_FAULT = 2;
const KIND_SYSCALL = 3;
const KIND_SCHED = 4;
export const KINDS = ['', 'kcall', 'fault', 'syscall', 'sched'] as const;

/**
 * The bytes an output line can take beyond its input line's, at most: JSON keys and quotes add
 * less than twice a field's text, numbers never grow past 24 characters, the record adds its keys
 * (and a double word written last may pad 7 bytes past the line).
 */
export const maxJsonBytes = (lineBytes: number): number => 3 * lineBytes + 512;

export class FastLines {
  /** The kind of the last line write() took (KINDS), KIND_NONE for a comment or a blank line. */
  kind = KIND_NONE;

  /** Names by the low bits of their hash. */
  private readonly byHash: NameEntry[][] = Array.from({ length: 256 }, () => []);
  /** Heads read before, by headBucket(). */
  private readonly heads: Head[][] = Array.from({ length: HEAD_BUCKETS }, () => []);
  /** The next head to replace in a full bucket. */
  private evict = 0;
  /** What readHead() or knownHead() found: the shape, the probe, the return flag of the location, and where the fields begin. */
  private shape = 0;
  private probe: ProbeFields | undefined;
  private ret = false;
  private bodyAt = 0;

  private readonly columns = new RecordColumns();
  /** The buffers of the last write() and DataViews of them, to read and write words. */
  private src: Uint8Array | undefined;
  private inp: DataView = EMPTY_VIEW;
  private dst: Uint8Array | undefined;
  private out: DataView = EMPTY_VIEW;
  /** The syscall argument names seen so far on the line, to decline a repeated one. */
  private readonly keyAt = new Int32Array(MAX_SYSCALL_ARGS);
  private readonly keyEnd = new Int32Array(MAX_SYSCALL_ARGS);

  constructor(table: ProbeTable) {
    for (const [name, spec] of Object.entries(table.kprobes)) this.add(name, SHAPE_KPROBE, new ProbeFields(spec));
    this.add('page_fault_user', SHAPE_FAULT);
    this.add('sched_process_fork', SHAPE_FORK);
    this.add('sched_process_exit', SHAPE_EXIT);
  }

  private add(name: string, shape: number, probe?: ProbeFields): void {
    const text = Text.of(name);
    const h = hashName(text.bytes, 0, text.length);
    this.byHash[h & 255].push(new NameEntry(text, shape, probe));
  }

  private lookup(h: number, src: Uint8Array, at: number, end: number): NameEntry | undefined {
    const list = this.byHash[h & 255];
    for (let i = 0; i < list.length; i++) {
      const name = list[i].name;
      if (name.length === end - at && startsWith(this.inp, src, at, end, name)) return list[i];
    }
    return undefined;
  }

  /**
   * Write the JSON line (with its '\n') of the line src[at, end) (without its break) at dst[pos],
   * which has maxJsonBytes(end - at) bytes of room. Returns the position after what was written
   * (pos itself for a comment or a blank line), or -1 to leave the line to the general path.
   */
  write(src: Uint8Array, at: number, end: number, dst: Uint8Array, pos: number): number {
    if (src !== this.src) {
      this.src = src;
      this.inp = viewOf(src);
    }
    if (dst !== this.dst) {
      this.dst = dst;
      this.out = viewOf(dst);
    }
    this.kind = KIND_NONE;
    // parse.ts: a '#' comment or an empty line is no event
    if (at === end || src[at] === 35 /* # */) return pos;
    const nameAt = this.columns.read(this.inp, src, at, end);
    if (nameAt < 0) return -1;
    let p: number;
    if (this.knownHead(src, nameAt, end) || this.readHead(src, nameAt)) {
      const body = this.bodyAt;
      if (this.shape === SHAPE_KPROBE) {
        p = this.kprobe(this.probe!, this.ret, src, body, end, dst, pos);
        this.kind = KIND_KCALL;
      } else if (this.shape === SHAPE_FAULT) {
        p = this.fault(src, body, end, dst, pos);
        this.kind = KIND_FAULT;
      } else {
        p = this.sched(this.shape === SHAPE_FORK, src, body, end, dst, pos);
        this.kind = KIND_SCHED;
      }
    } else {
      p = this.syscall(src, nameAt, end, dst, pos);
      this.kind = KIND_SYSCALL;
    }
    return p < 0 ? -1 : this.columns.write(this.inp, src, dst, this.out, p);
  }

  /** The line at src[nameAt] starts with a head kept before: its reading is taken from it. */
  private knownHead(src: Uint8Array, nameAt: number, end: number): boolean {
    if (nameAt + MIN_HEAD_BYTES > end) return false;
    const bucket = this.heads[headBucket(this.inp, nameAt)];
    for (let i = 0; i < bucket.length; i++) {
      const head = bucket[i];
      if (startsWith(this.inp, src, nameAt, end, head.text)) {
        this.shape = head.shape;
        this.probe = head.probe;
        this.ret = false;
        this.bodyAt = nameAt + head.text.length;
        return true;
      }
    }
    return false;
  }

  /**
   * Read `name: ` and a kprobe's `(location)` at src[nameAt] (parse.ts NAME, parsePayload: one
   * optional space after the ':'); false unless the name is one of the probe table's kprobes (with
   * a location) or of the tracepoints taken here (without). Keeps the head when it can.
   */
  private readHead(src: Uint8Array, nameAt: number): boolean {
    if (!isNameStart(src[nameAt])) return false;
    let h = src[nameAt];
    let k = nameAt + 1;
    for (let c = src[k]; isNameChar(c); c = src[++k]) h = (Math.imul(h, 31) + c) | 0;
    if (src[k] !== COLON) return false;
    let body = k + 1;
    if (src[body] === SPACE) body++;
    const entry = this.lookup(h, src, nameAt, k);
    if (!entry) return false;
    this.ret = false;
    if (src[body] === LPAREN) {
      if (entry.shape !== SHAPE_KPROBE) return false;
      body = this.location(src, body);
      if (body < 0) return false;
    } else if (entry.shape === SHAPE_KPROBE) return false;
    this.shape = entry.shape;
    this.probe = entry.probe;
    this.bodyAt = body;
    if (!this.ret && body - nameAt >= MIN_HEAD_BYTES) {
      const bucket = this.heads[headBucket(this.inp, nameAt)];
      const head = new Head(Text.of(latin1(src, nameAt, body)), entry.shape, entry.probe);
      if (bucket.length < HEADS_PER_BUCKET) bucket.push(head);
      else bucket[this.evict++ % HEADS_PER_BUCKET] = head;
    }
    return true;
  }

  /** parse.ts: `sys_NAME(args)` or `sys_NAME -> 0xRET` at src[nameAt]. */
  private syscall(src: Uint8Array, nameAt: number, end: number, dst: Uint8Array, pos: number): number {
    if (src[nameAt] !== 115 || src[nameAt + 1] !== 121 || src[nameAt + 2] !== 115 || src[nameAt + 3] !== 95 /* sys_ */) return -1;
    let k = nameAt + 4;
    while (isNameChar(src[k])) k++;
    pos = put(this.out, pos, SYSCALL_NAME);
    pos = copy(dst, pos, src, nameAt + 4, k);
    return src[k] === LPAREN ? this.syscallEnter(src, k, end, dst, pos) : this.syscallExit(src, k, end, dst, pos);
  }

  /**
   * `(func+0x4/0x140)` or `(caller+0x1b/0x60 <- func)` at src[at] (the '('): where it ends (after
   * the ')'), -1 if it is no kprobe location. Sets `ret` for the second form.
   */
  private location(src: Uint8Array, at: number): number {
    let j = at + 1;
    while (isLocChar(src[j])) j++;
    if (j === at + 1) return -1;
    if (src[j] === SPACE) {
      if (src[j + 1] !== 60 /* < */ || src[j + 2] !== DASH || src[j + 3] !== SPACE) return -1;
      const f = j + 4;
      j = f;
      while (isLocChar(src[j])) j++;
      if (j === f) return -1;
      this.ret = true;
    }
    return src[j] === RPAREN ? j + 1 : -1;
  }

  /**
   * ` name=value ...` at src[at], after the location (`ret` for `(caller+0x1b/0x60 <- func)`): the
   * kcall up to its args' closing brace. The fields must come in the probe definition's order,
   * each at most once, with numeric values (parse.ts parseKprobe, parseFields strict).
   */
  private kprobe(probe: ProbeFields, ret: boolean, src: Uint8Array, at: number, end: number, dst: Uint8Array, pos: number): number {
    let j = at;
    if (j < end && src[j] !== SPACE) return -1;
    const out = this.out;
    pos = put(out, pos, ret ? probe.headRet : probe.head);
    const { keys, spacedKeys, hex } = probe;
    const inp = this.inp;
    const argsAt = pos;
    let f = 0;
    // at the line's end, or at the spaces before a field: `name=` becomes `"name":`, after a ',' but for the first
    while (j < end) {
      if (src[j] !== SPACE) return -1;
      if (f < keys.length && startsWith(inp, src, j, end, spacedKeys[f])) j += 1 + keys[f].length;
      else {
        // the next of the probe's fields, in order, that starts after the spaces
        while (src[j] === SPACE) j++;
        if (j >= end) break;
        while (f < keys.length && !startsWith(inp, src, j, end, keys[f])) f++;
        if (f === keys.length) return -1;
        j += keys[f].length;
      }
      const first = pos === argsAt;
      if (hex[f] && src[j] === ZERO && src[j + 1] === LOWER_X) {
        pos = put(out, pos, first ? probe.hexKeys[f] : probe.commaHexKeys[f]);
        const k = copyHexRun(inp, out, dst, src, j + 2, end, pos);
        if (k === j + 2) return -1;
        pos += k - j - 2;
        dst[pos++] = QUOTE;
        j = k;
      } else {
        pos = put(out, pos, first ? probe.jsonKeys[f] : probe.commaKeys[f]);
        pos = hex[f] ? this.putDecimalString(dst, pos, src, j) : this.putNumber(dst, pos, src, j, end);
        if (pos < 0) return -1;
        j = this.valueEnd;
      }
      f++;
    }
    dst[pos++] = 125; // }
    return pos;
  }

  /** Where the value the last putDecimalString() or putNumber() read ends. */
  private valueEnd = 0;

  /**
   * A fetch-arg of an x64 field at src[at] that is no 0x-hex (kprobe() copies those): the decimal
   * as printed, in quotes; -1 unless it is an optionally negative decimal (parse.ts HEX_OR_DEC).
   */
  private putDecimalString(dst: Uint8Array, pos: number, src: Uint8Array, at: number): number {
    dst[pos++] = QUOTE;
    let k = at;
    if (src[k] === DASH) dst[pos++] = src[k++];
    const d = k;
    while (isDigit(src[k])) dst[pos++] = src[k++];
    if (k === d) return -1;
    dst[pos++] = QUOTE;
    this.valueEnd = k;
    return pos;
  }

  /**
   * A fetch-arg of any other field at src[at], as Number(text) in JSON; -1 unless 0x-hex or an
   * optionally negative decimal. Plain integers are copied, hex up to 13 digits (exact) is converted here.
   */
  private putNumber(dst: Uint8Array, pos: number, src: Uint8Array, at: number, end: number): number {
    // the usual small values: a digit, or '-' and a digit other than 0, before a space or the line's end, as they are
    const c = src[at];
    if (isDigit(c) && (src[at + 1] === SPACE || at + 1 === end)) {
      dst[pos] = c;
      this.valueEnd = at + 1;
      return pos + 1;
    }
    if (c === DASH && src[at + 1] > ZERO && src[at + 1] <= 57 && (src[at + 2] === SPACE || at + 2 === end)) {
      dst[pos] = DASH;
      dst[pos + 1] = src[at + 1];
      this.valueEnd = at + 2;
      return pos + 2;
    }
    let k = at;
    if (src[at] === ZERO && src[at + 1] === LOWER_X) {
      k += 2;
      let v = 0;
      for (let c = HEX_LOWER[src[k]]; c > 0; c = HEX_LOWER[src[++k]]) v = v * 16 + (c <= 57 ? c - 48 : c - 87);
      this.valueEnd = k;
      if (k === at + 2) return -1;
      return k - at - 2 <= 13 ? putUint(dst, pos, v) : putNumberOf(dst, pos, latin1(src, at, k));
    }
    if (src[k] === DASH) k++;
    const d = k;
    while (isDigit(src[k])) k++;
    this.valueEnd = k;
    if (k === d) return -1;
    if (isPlainInteger(src, at, k)) return copy(dst, pos, src, at, k);
    return putNumberOf(dst, pos, latin1(src, at, k));
  }

  /** `address=0x.. ip=0x.. error_code=0x..` (convert.ts tracepoint(): page_fault_user). */
  private fault(src: Uint8Array, at: number, end: number, dst: Uint8Array, pos: number): number {
    const p = this.usualFault(src, at, end, dst, pos);
    return p >= 0 ? p : this.anyFault(src, at, end, dst, pos);
  }

  /**
   * The kernel's own layout: the three fields in its order, one space apart, none empty, nothing
   * after them. Their values copied a word at a time; -1 for anything else (anyFault() decides).
   */
  private usualFault(src: Uint8Array, at: number, end: number, dst: Uint8Array, pos: number): number {
    const inp = this.inp;
    const out = this.out;
    if (!startsWith(inp, src, at, end, FAULT_ADDRESS_KEY)) return -1;
    pos = put(out, pos, FAULT_ADDRESS);
    let v = at + FAULT_ADDRESS_KEY.length;
    let k = copyPlainRun(inp, out, dst, src, v, end, pos);
    if (k === v || !startsWith(inp, src, k, end, FAULT_IP_KEY)) return -1;
    pos = put(out, pos + k - v, FAULT_IP);
    v = k + FAULT_IP_KEY.length;
    k = copyPlainRun(inp, out, dst, src, v, end, pos);
    if (k === v || !startsWith(inp, src, k, end, FAULT_ERROR_CODE_KEY)) return -1;
    pos = put(out, pos + k - v, FAULT_ERROR_CODE);
    v = k + FAULT_ERROR_CODE_KEY.length;
    k = copyPlainRun(inp, out, dst, src, v, end, pos);
    if (k === v || k !== end) return -1;
    pos += k - v;
    dst[pos++] = QUOTE;
    return pos;
  }

  /** Any order of the fields, others among them, any spacing. */
  private anyFault(src: Uint8Array, at: number, end: number, dst: Uint8Array, pos: number): number {
    let addressAt = -1;
    let addressEnd = 0;
    let ipAt = -1;
    let ipEnd = 0;
    let errorAt = -1;
    let errorEnd = 0;
    let j = at;
    while (j < end) {
      while (src[j] === SPACE) j++;
      if (j >= end) break;
      // key=value, the value printable and free of what JSON escapes
      let eq = j;
      while (eq < end && src[eq] !== EQUALS && src[eq] !== SPACE) eq++;
      if (src[eq] !== EQUALS || eq === j) return -1;
      let e = eq + 1;
      for (let c = src[e]; c !== SPACE && e < end; c = src[++e]) if (!isGraph(c) || c === QUOTE || c === BACKSLASH) return -1;
      if (equals(src, j, eq, ADDRESS)) {
        addressAt = eq + 1;
        addressEnd = e;
      } else if (equals(src, j, eq, IP)) {
        ipAt = eq + 1;
        ipEnd = e;
      } else if (equals(src, j, eq, ERROR_CODE)) {
        errorAt = eq + 1;
        errorEnd = e;
      }
      j = e;
    }
    if (addressAt < 0 || errorAt < 0) return -1;
    pos = put(this.out, pos, FAULT_ADDRESS);
    pos = copyLower(dst, pos, src, addressAt, addressEnd);
    if (ipAt >= 0) {
      pos = put(this.out, pos, FAULT_IP);
      pos = copyLower(dst, pos, src, ipAt, ipEnd);
    }
    pos = put(this.out, pos, FAULT_ERROR_CODE);
    pos = copyLower(dst, pos, src, errorAt, errorEnd);
    dst[pos++] = QUOTE;
    return pos;
  }

  /**
   * `comm=.. pid=.. child_comm=.. child_pid=N` or `comm=.. pid=.. prio=..` (parse.ts parseFields:
   * a token without '=' continues the previous value; convert.ts tracepoint(): child_pid an integer).
   */
  private sched(fork: boolean, src: Uint8Array, at: number, end: number, dst: Uint8Array, pos: number): number {
    let childAt = -1;
    let childEnd = 0;
    /** The previous field: 0 none yet, 1 child_pid, 2 another. */
    let last = 0;
    let j = at;
    while (j < end) {
      while (src[j] === SPACE) j++;
      if (j >= end) break;
      let e = j;
      while (e < end && src[e] !== SPACE) e++;
      let eq = j;
      while (eq < e && src[eq] !== EQUALS) eq++;
      if (eq === e) {
        // a continuation: an error without a previous field, a non-number child_pid after it
        if (last !== 2) return -1;
      } else {
        if (eq === j) return -1;
        last = 2;
        if (equals(src, j, eq, CHILD_PID)) {
          childAt = eq + 1;
          childEnd = e;
          last = 1;
        }
      }
      j = e;
    }
    if (!fork) return put(this.out, pos, SCHED_EXIT);
    if (childAt < 0 || !isPlainInteger(src, childAt, childEnd)) return -1;
    pos = put(this.out, pos, SCHED_FORK);
    return copy(dst, pos, src, childAt, childEnd);
  }

  /**
   * `(name: hex, name: hex)` at src[at] (the '('), after `{"ev":"syscall","name":"NAME` is written
   * (parse.ts parseSyscallArgs: values become 0x-prefixed lowercase hex without leading zeros). The
   * names must be distinct identifiers (an object's key order and __proto__ are then no concern).
   */
  private syscallEnter(src: Uint8Array, at: number, end: number, dst: Uint8Array, pos: number): number {
    // the last ')' of the line closes the arguments; what follows it is ignored
    let close = end - 1;
    while (close > at && src[close] !== RPAREN) close--;
    if (close === at) return -1;
    pos = put(this.out, pos, SYSCALL_ENTER);
    let keys = 0;
    let i = at + 1;
    while (i < close) {
      while (src[i] === SPACE) i++;
      let colon = i;
      while (colon < close && src[colon] !== COLON) colon++;
      if (colon === close) return -1;
      let comma = colon + 1;
      while (comma < close && src[comma] !== COMMA) comma++;
      if (!isIdentifier(src, i, colon) || equals(src, i, colon, PROTO) || keys === MAX_SYSCALL_ARGS) return -1;
      for (let q = 0; q < keys; q++) if (sameBytes(src, this.keyAt[q], this.keyEnd[q], i, colon)) return -1;
      this.keyAt[keys] = i;
      this.keyEnd[keys] = colon;
      // the value: spaces around, then hex digits
      let v = colon + 1;
      while (src[v] === SPACE) v++;
      let ve = comma;
      while (ve > v && src[ve - 1] === SPACE) ve--;
      if (v === ve) return -1;
      for (let q = v; q < ve; q++) if (!isHexDigit(src[q])) return -1;
      while (v < ve - 1 && src[v] === ZERO) v++;
      if (keys++ > 0) dst[pos++] = COMMA;
      dst[pos++] = QUOTE;
      pos = copy(dst, pos, src, i, colon);
      dst[pos++] = QUOTE;
      dst[pos++] = COLON;
      dst[pos++] = QUOTE;
      dst[pos++] = ZERO;
      dst[pos++] = LOWER_X;
      pos = copyLower(dst, pos, src, v, ve);
      dst[pos++] = QUOTE;
      i = comma + 1;
    }
    dst[pos++] = 125; // }
    return pos;
  }

  /** ` -> 0xRET` at src[at], then only spaces (parse.ts SYSCALL_EXIT; a decimal return goes the general way). */
  private syscallExit(src: Uint8Array, at: number, end: number, dst: Uint8Array, pos: number): number {
    if (src[at] !== SPACE || src[at + 1] !== DASH || src[at + 2] !== 62 /* > */ || src[at + 3] !== SPACE) return -1;
    if (src[at + 4] !== ZERO || src[at + 5] !== LOWER_X) return -1;
    const v = at + 6;
    let e = v;
    while (isHexDigit(src[e])) e++;
    if (e === v) return -1;
    for (let q = e; q < end; q++) if (src[q] !== SPACE) return -1;
    pos = put(this.out, pos, SYSCALL_EXIT);
    pos = copyLower(dst, pos, src, v, e);
    dst[pos++] = QUOTE;
    return pos;
  }
}

/** [at, end) is [A-Za-z_][A-Za-z0-9_]*. */
function isIdentifier(src: Uint8Array, at: number, end: number): boolean {
  if (at >= end || !isNameStart(src[at])) return false;
  for (let k = at + 1; k < end; k++) if (!isNameStart(src[k]) && !isDigit(src[k])) return false;
  return true;
}

/** src[a, aEnd) and src[b, bEnd) hold the same bytes. */
function sameBytes(src: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; i < aEnd - a; i++) if (src[a + i] !== src[b + i]) return false;
  return true;
}
