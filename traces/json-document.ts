/**
 * A streaming JSON tokenizer with line:column positions, and on top of it the streaming reader of
 * the JSON document form of a trace, `{ "header": {...}, "events": [ ... ] }`: it yields the header
 * and then each element of `events` as soon as the element's closing character has been read, so
 * a large document is never held whole. The scanner checks the full JSON grammar itself (and so
 * can say where a document is broken); the text of a completed element is then JSON.parse'd.
 *
 * Lines and columns count from 1; a column counts UTF-16 code units of the line.
 */

/** A syntax or structure problem at line:column of the scanned text. */
export class JsonSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly what: string,
  ) {
    super(`${line}:${column}: ${what}`);
    this.name = 'JsonSyntaxError';
  }
}

/** The byte source failed (gzip stream cut short, invalid UTF-8, I/O): reported at the position reached. */
export class InputStreamError extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'InputStreamError';
  }
}

/** What the scanner tells its user. Depth 0 is the top-level value; members of a depth-d container are at d+1. */
export interface ScanSink {
  /** A value starts at line:column with character `first`; return true to receive its text at valueEnd. */
  valueStart(depth: number, first: string, line: number, column: number): boolean;
  /** A value ended (its last character was the one just read); `text` if valueStart asked for it. */
  valueEnd(depth: number, text: string | undefined): void;
  /** An object key (the raw JSON string token, quotes included) of a member at `depth`, starting at line:column. */
  key(depth: number, raw: string, line: number, column: number): void;
}

const enum S {
  Value,
  ObjKeyOrEnd,
  ObjKey,
  Colon,
  After,
  ArrValueOrEnd,
  Str,
  StrEsc,
  StrU,
  Num,
  Lit,
  Done,
}
const enum N {
  Minus,
  Zero,
  Int,
  Dot,
  Frac,
  E,
  ESign,
  Exp,
}

const OBJ = 0;
const ARR = 1;

const VALUE_EXPECTED = 'expected a JSON value (an object, array, string, number, true, false or null)';

export class JsonScanner {
  /** Position of the next character. */
  line = 1;
  column = 1;
  private state: S = S.Value;
  private readonly stack: number[] = [];
  private readonly openedAt: [number, number][] = [];
  private afterComma = false;
  private strIsKey = false;
  private uDigits = 0;
  private num: N = N.Int;
  private lit = '';
  private litPos = 0;
  private captureDepth = -1;
  private captureParts: string[] = [];
  private captureFrom = 0;
  private keyParts: string[] = [];
  private keyFrom = 0;
  private keyLine = 0;
  private keyColumn = 0;
  private seenValue = false;

  constructor(private readonly sink: ScanSink) {}

  /** The open containers, innermost last, with where they were opened. */
  get depth(): number {
    return this.stack.length;
  }

  feed(chunk: string): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const c = chunk.charCodeAt(i);
      switch (this.state) {
        case S.Str: {
          // fast path through the body of a string
          let j = i;
          while (j < n) {
            const d = chunk.charCodeAt(j);
            if (d === 0x22 || d === 0x5c || d < 0x20) break;
            j++;
          }
          this.column += j - i;
          i = j;
          if (i === n) continue;
          const d = chunk.charCodeAt(i);
          if (d === 0x22) {
            this.advance(d);
            i++;
            this.endString(chunk, i);
            continue;
          }
          if (d === 0x5c) {
            this.state = S.StrEsc;
            break;
          }
          throw this.error(
            d === 0x0a || d === 0x0d
              ? 'end of line inside a string (a string ends on the line it starts; write a newline as \\n)'
              : `control character ${charName(d)} inside a string (escape it as \\u${d.toString(16).padStart(4, '0')})`,
          );
        }
        case S.StrEsc:
          if (c === 0x75) {
            this.state = S.StrU;
            this.uDigits = 0;
          } else if ('"\\/bfnrt'.includes(String.fromCharCode(c))) this.state = S.Str;
          else throw this.error(`invalid escape \\${printable(c)} in a string (expected \\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)`);
          break;
        case S.StrU:
          if (!isHex(c)) throw this.error(`expected a hex digit in a \\u escape, found ${charName(c)}`);
          if (++this.uDigits === 4) this.state = S.Str;
          break;
        case S.Num:
          if (this.number(c)) break;
          // the character after a number: the number ended before it; read it again as what follows
          if (this.num === N.Minus || this.num === N.Dot || this.num === N.E || this.num === N.ESign)
            throw this.error(`expected a digit in the number, found ${charName(c)}`);
          this.endValue(chunk, i);
          continue;
        case S.Lit:
          if (c !== this.lit.charCodeAt(this.litPos)) throw this.error(`unexpected ${charName(c)}: expected '${this.lit}'`);
          if (++this.litPos === this.lit.length) {
            this.advance(c);
            i++;
            this.endValue(chunk, i);
            continue;
          }
          break;
        default:
          if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) break;
          if (this.structural(c, chunk, i)) {
            i++; // structural() has consumed the character
            continue;
          }
      }
      this.advance(c);
      i++;
    }
    if (this.captureDepth >= 0) {
      this.captureParts.push(chunk.slice(this.captureFrom));
      this.captureFrom = 0;
    }
    if (this.state === S.Str && this.strIsKey) {
      this.keyParts.push(chunk.slice(this.keyFrom));
      this.keyFrom = 0;
    } else if ((this.state === S.StrEsc || this.state === S.StrU) && this.strIsKey) {
      this.keyParts.push(chunk.slice(this.keyFrom));
      this.keyFrom = 0;
    }
  }

  /** The input ended: throws unless exactly one complete value was read. */
  end(): void {
    const p = this.endProblem();
    if (p !== undefined) throw this.error(`unexpected end of input: ${p}`);
  }

  /** Why the input cannot end here (undefined when it can: one complete value was read). */
  endProblem(): string | undefined {
    if (this.state === S.Num && this.stack.length === 0 && (this.num === N.Zero || this.num === N.Int || this.num === N.Frac || this.num === N.Exp)) {
      this.endValue('', 0);
    }
    if (this.state === S.Done) return undefined;
    if (!this.seenValue) return VALUE_EXPECTED;
    const open = this.openedAt[this.openedAt.length - 1];
    const inside =
      this.state === S.Str || this.state === S.StrEsc || this.state === S.StrU
        ? 'inside a string'
        : this.state === S.Num
          ? 'inside a number'
          : this.state === S.Lit
            ? `inside '${this.lit}'`
            : this.expecting();
    const container = open ? `; the ${this.stack[this.stack.length - 1] === OBJ ? 'object' : 'array'} opened at ${open[0]}:${open[1]} is not closed` : '';
    return `${inside}${container}`;
  }

  private advance(c: number): void {
    if (c === 0x0a) {
      this.line++;
      this.column = 1;
    } else this.column++;
  }

  private error(what: string): JsonSyntaxError {
    return new JsonSyntaxError(this.line, this.column, what);
  }

  private expecting(): string {
    switch (this.state) {
      case S.Value:
        return VALUE_EXPECTED;
      case S.ObjKeyOrEnd:
        return "expected a quoted field name or '}'";
      case S.ObjKey:
        return "expected a quoted field name after ','";
      case S.Colon:
        return "expected ':' after the field name";
      case S.ArrValueOrEnd:
        return `${VALUE_EXPECTED} or ']'`;
      case S.After:
        return this.stack[this.stack.length - 1] === OBJ ? "expected ',' or '}'" : "expected ',' or ']'";
      case S.Done:
        return 'expected nothing after the end of the JSON value';
      default:
        return VALUE_EXPECTED;
    }
  }

  /**
   * A structural character or the first character of a value, outside strings, numbers and
   * literals. True when it consumed the character itself (a closing bracket ends a value).
   */
  private structural(c: number, chunk: string, i: number): boolean {
    switch (this.state) {
      case S.Value:
        this.startValue(c, i);
        return false;
      case S.ArrValueOrEnd:
        if (c === 0x5d) return this.close(chunk, i);
        this.startValue(c, i);
        return false;
      case S.ObjKeyOrEnd:
      case S.ObjKey:
        if (c === 0x22) {
          this.state = S.Str;
          this.strIsKey = true;
          this.keyParts = [];
          this.keyFrom = i;
          this.keyLine = this.line;
          this.keyColumn = this.column;
          return false;
        }
        if (c === 0x7d && this.state === S.ObjKeyOrEnd) return this.close(chunk, i);
        if (c === 0x7d) throw this.error("unexpected '}' after ',': a trailing comma is not JSON (expected a quoted field name)");
        throw this.error(`unexpected ${charName(c)}: ${this.expecting()}`);
      case S.Colon:
        if (c === 0x3a) {
          this.state = S.Value;
          this.afterComma = false;
          return false;
        }
        throw this.error(`unexpected ${charName(c)}: ${this.expecting()}`);
      case S.After: {
        const top = this.stack[this.stack.length - 1];
        if (c === 0x2c) {
          this.state = top === OBJ ? S.ObjKey : S.Value;
          this.afterComma = true;
          return false;
        }
        if (top === OBJ && c === 0x7d) return this.close(chunk, i);
        if (top === ARR && c === 0x5d) return this.close(chunk, i);
        throw this.error(`unexpected ${charName(c)}: ${this.expecting()}`);
      }
      case S.Done:
        throw this.error(`unexpected ${charName(c)} after the end of the JSON value`);
      default:
        throw this.error(`unexpected ${charName(c)}`);
    }
  }

  private startValue(c: number, i: number): void {
    if (c === 0x5d && this.afterComma) throw this.error("unexpected ']' after ',': a trailing comma is not JSON (expected a value)");
    const depth = this.stack.length;
    const first = String.fromCharCode(c);
    const kind =
      c === 0x7b ? 'obj' : c === 0x5b ? 'arr' : c === 0x22 ? 'str' : c === 0x2d || (c >= 0x30 && c <= 0x39) ? 'num' : c === 0x74 || c === 0x66 || c === 0x6e ? 'lit' : undefined;
    if (kind === undefined) throw this.error(`unexpected ${charName(c)}: ${VALUE_EXPECTED}`);
    this.seenValue = true;
    if (this.sink.valueStart(depth, first, this.line, this.column) && this.captureDepth < 0) {
      this.captureDepth = depth;
      this.captureParts = [];
      this.captureFrom = i;
    }
    this.afterComma = false;
    switch (kind) {
      case 'obj':
      case 'arr':
        this.stack.push(kind === 'obj' ? OBJ : ARR);
        this.openedAt.push([this.line, this.column]);
        this.state = kind === 'obj' ? S.ObjKeyOrEnd : S.ArrValueOrEnd;
        return;
      case 'str':
        this.state = S.Str;
        this.strIsKey = false;
        return;
      case 'num':
        this.state = S.Num;
        this.num = c === 0x2d ? N.Minus : c === 0x30 ? N.Zero : N.Int;
        return;
      case 'lit':
        this.state = S.Lit;
        this.lit = c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null';
        this.litPos = 1;
        return;
    }
  }

  private close(chunk: string, i: number): boolean {
    this.stack.pop();
    this.openedAt.pop();
    this.advance(chunk.charCodeAt(i));
    this.endValue(chunk, i + 1);
    return true;
  }

  /** The value that started at the current depth ended just before chunk[end] (the position is already past it). */
  private endValue(chunk: string, end: number): void {
    const depth = this.stack.length;
    let text: string | undefined;
    if (this.captureDepth === depth) {
      this.captureParts.push(chunk.slice(this.captureFrom, end));
      text = this.captureParts.join('');
      this.captureParts = [];
      this.captureDepth = -1;
    }
    this.state = depth === 0 ? S.Done : S.After;
    this.sink.valueEnd(depth, text);
  }

  private endString(chunk: string, end: number): void {
    if (this.strIsKey) {
      this.keyParts.push(chunk.slice(this.keyFrom, end));
      const raw = this.keyParts.join('');
      this.keyParts = [];
      this.state = S.Colon;
      this.sink.key(this.stack.length, raw, this.keyLine, this.keyColumn);
    } else this.endValue(chunk, end);
  }

  /** Consumes c if it continues the number; false if the number ended before c. */
  private number(c: number): boolean {
    const digit = c >= 0x30 && c <= 0x39;
    switch (this.num) {
      case N.Minus:
        if (!digit) return false;
        this.num = c === 0x30 ? N.Zero : N.Int;
        return true;
      case N.Zero:
        if (c === 0x2e) this.num = N.Dot;
        else if (c === 0x65 || c === 0x45) this.num = N.E;
        else return false;
        return true;
      case N.Int:
        if (digit) return true;
        if (c === 0x2e) this.num = N.Dot;
        else if (c === 0x65 || c === 0x45) this.num = N.E;
        else return false;
        return true;
      case N.Dot:
        if (!digit) return false;
        this.num = N.Frac;
        return true;
      case N.Frac:
        if (digit) return true;
        if (c === 0x65 || c === 0x45) {
          this.num = N.E;
          return true;
        }
        return false;
      case N.E:
        if (c === 0x2b || c === 0x2d) this.num = N.ESign;
        else if (digit) this.num = N.Exp;
        else return false;
        return true;
      case N.ESign:
        if (!digit) return false;
        this.num = N.Exp;
        return true;
      case N.Exp:
        return digit;
    }
  }
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function printable(c: number): string {
  return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\u${c.toString(16).padStart(4, '0')}`;
}

/** A character as a message shows it: 'x', or U+0000 (binary data?) for what is not text. */
export function charName(c: number): string {
  if (c >= 0x21 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  if (c === 0x20) return 'space';
  if (c === 0x0a) return 'end of line';
  const u = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  if (c < 0x20 || c === 0x7f || c === 0xfffd || (c >= 0xd800 && c <= 0xdfff)) return `character ${u} (binary data?)`;
  return `'${String.fromCharCode(c)}' (${u})`;
}

/**
 * Check one complete JSON text (a JSON Lines line) with positions; throws JsonSyntaxError at the
 * first problem. Used to say where a line is broken after JSON.parse refused it.
 */
export function checkJsonText(text: string, line = 1, column = 1): void {
  const sc = new JsonScanner({ valueStart: () => false, valueEnd: () => {}, key: () => {} });
  sc.line = line;
  sc.column = column;
  sc.feed(text);
  sc.end();
}

/**
 * The offset in `text` (valid JSON) of the value at `path` (object keys, array indices), or of the
 * key naming it when `atKey`; as deep as the path exists (a missing member gives its object).
 */
export function locateInJson(text: string, path: readonly string[], atKey = false): number {
  let i = skipWs(text, 0);
  for (let d = 0; d < path.length; d++) {
    const c = text[i];
    if (c === '{') {
      let j = skipWs(text, i + 1);
      let found = -1;
      let keyAt = -1;
      while (text[j] === '"') {
        const kEnd = skipString(text, j);
        const key = JSON.parse(text.slice(j, kEnd)) as string;
        const v = skipWs(text, skipWs(text, kEnd) + 1);
        if (key === path[d]) {
          found = v;
          keyAt = j;
          break;
        }
        j = skipWs(text, skipValue(text, v));
        if (text[j] === ',') j = skipWs(text, j + 1);
      }
      if (found < 0) return i;
      if (atKey && d === path.length - 1) return keyAt;
      i = found;
    } else if (c === '[') {
      const want = Number(path[d]);
      let j = skipWs(text, i + 1);
      let k = 0;
      while (j < text.length && text[j] !== ']' && k < want) {
        j = skipWs(text, skipValue(text, j));
        if (text[j] === ',') j = skipWs(text, j + 1);
        k++;
      }
      if (k !== want || text[j] === ']') return i;
      i = j;
    } else return i;
  }
  return i;
}

/** Line and column of `offset` in `text`, which starts at line:column. */
export function positionIn(text: string, offset: number, line: number, column: number): { line: number; column: number } {
  let l = line;
  let c = column;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text.charCodeAt(k) === 0x0a) {
      l++;
      c = 1;
    } else c++;
  }
  return { line: l, column: c };
}

function skipWs(t: string, i: number): number {
  while (i < t.length && (t[i] === ' ' || t[i] === '\n' || t[i] === '\r' || t[i] === '\t')) i++;
  return i;
}

function skipString(t: string, i: number): number {
  for (let j = i + 1; j < t.length; j++) {
    if (t[j] === '\\') j++;
    else if (t[j] === '"') return j + 1;
  }
  return t.length;
}

function skipValue(t: string, i: number): number {
  const c = t[i];
  if (c === '"') return skipString(t, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < t.length; j++) {
      const d = t[j];
      if (d === '"') j = skipString(t, j) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        if (--depth === 0) return j + 1;
      }
    }
    return t.length;
  }
  let j = i;
  while (j < t.length && !',}] \n\r\t'.includes(t[j]!)) j++;
  return j;
}

// ---- the trace document ----------------------------------------------------------------------

/** An element of a trace document: the header, then each event, with the position of its first character. */
export interface DocumentItem {
  readonly kind: 'header' | 'event';
  readonly value: unknown;
  /** The element's JSON text, for locating a field in it. */
  readonly text: string;
  readonly line: number;
  readonly column: number;
}

/**
 * Read a trace document `{ "header": {...}, "events": [ ... ] }` from text chunks, yielding the
 * header and then each event as soon as it is complete. Throws JsonSyntaxError for malformed JSON
 * and for a document of the wrong shape (header missing or not first, events not an array,
 * another field, truncated), with the line and column of the problem; an error of the chunk source
 * propagates unchanged (the caller knows the position from `position()`).
 */
export class TraceDocumentReader {
  private readonly scanner: JsonScanner;
  private readonly out: DocumentItem[] = [];
  private phase: 'start' | 'header' | 'afterHeader' | 'events' | 'afterEvents' | 'done' = 'start';
  private current: 'header' | 'events' | undefined;
  private startLine = 0;
  private startColumn = 0;

  constructor() {
    this.scanner = new JsonScanner({
      valueStart: (depth, first, line, column) => this.valueStart(depth, first, line, column),
      valueEnd: (depth, text) => this.valueEnd(depth, text),
      key: (depth, raw, line, column) => this.key(depth, raw, line, column),
    });
  }

  /** Where the reader is: the position of the next character. */
  position(): { line: number; column: number } {
    return { line: this.scanner.line, column: this.scanner.column };
  }

  async *read(chunks: AsyncIterable<string>): AsyncGenerator<DocumentItem> {
    for await (const chunk of chunks) {
      let failure: unknown;
      try {
        this.scanner.feed(chunk);
      } catch (e) {
        failure = e;
      }
      // what completed before the problem comes first
      while (this.out.length) yield this.out.shift()!;
      if (failure !== undefined) throw failure;
    }
    const problem = this.scanner.endProblem();
    if (problem !== undefined) {
      const { line, column } = this.position();
      if (this.phase === 'start' && this.scanner.depth === 0 && line === 1 && column === 1) throw new JsonSyntaxError(line, column, 'empty file: expected a trace document {"header": {...}, "events": [...]}');
      const where = this.phase === 'events' ? (this.scanner.depth > 2 ? ' inside an event' : ' in the "events" array') : this.phase === 'header' ? ' inside the header' : '';
      throw new JsonSyntaxError(line, column, `unexpected end of file${where} (truncated trace?): ${problem}`);
    }
  }

  private valueStart(depth: number, first: string, line: number, column: number): boolean {
    if (depth === 0) {
      if (first !== '{') throw new JsonSyntaxError(line, column, 'expected \'{\' starting a trace document {"header": {...}, "events": [...]}');
      return false;
    }
    if (depth === 1) {
      if (this.current === 'header') {
        if (first !== '{') throw new JsonSyntaxError(line, column, '"header" must be an object {"format": "trollcount-trace", ...}');
        this.startLine = line;
        this.startColumn = column;
        return true;
      }
      if (first !== '[') throw new JsonSyntaxError(line, column, '"events" must be an array of events');
      this.phase = 'events';
      return false;
    }
    if (depth === 2 && this.phase === 'events') {
      this.startLine = line;
      this.startColumn = column;
      return true;
    }
    return false;
  }

  private valueEnd(depth: number, text: string | undefined): void {
    if (depth === 0) {
      const { line, column } = this.position();
      const at = [line, column - 1] as const; // the closing '}'
      if (this.phase === 'start') throw new JsonSyntaxError(at[0], at[1], 'missing "header": a trace document is {"header": {...}, "events": [...]}');
      if (this.phase !== 'afterEvents') throw new JsonSyntaxError(at[0], at[1], 'missing "events" after the header: a trace document is {"header": {...}, "events": [...]}');
      this.phase = 'done';
      return;
    }
    if (text === undefined) {
      if (depth === 1 && this.phase === 'events') this.phase = 'afterEvents';
      return;
    }
    const kind = depth === 1 ? 'header' : 'event';
    if (kind === 'header') this.phase = 'afterHeader';
    this.out.push({ kind, value: JSON.parse(text), text, line: this.startLine, column: this.startColumn });
  }

  private key(depth: number, raw: string, line: number, column: number): void {
    if (depth !== 1) return;
    const k = JSON.parse(raw) as string;
    if (this.phase === 'start') {
      if (k === 'header') {
        this.phase = 'header';
        this.current = 'header';
        return;
      }
      if (k === 'events') throw new JsonSyntaxError(line, column, '"header" must come before "events" (a trace is read as a stream: the header first)');
      if (k === 'format' || k === 'ev')
        throw new JsonSyntaxError(line, column, `expected "header" as the first field of a trace document, found ${raw} (a JSON Lines trace has its header alone on the first line)`);
      throw new JsonSyntaxError(line, column, `expected "header" as the first field of a trace document, found ${raw}`);
    }
    if (this.phase === 'afterHeader' && k === 'events') {
      this.current = 'events';
      return;
    }
    if (k === 'header') throw new JsonSyntaxError(line, column, 'a second "header" in the trace document');
    throw new JsonSyntaxError(line, column, `unexpected field ${raw} in a trace document (it has only "header" and then "events")`);
  }
}
