import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type AjvModule from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { MmOperationType } from '../model/operations.ts';
import { TraceInputError, type Position, type TraceEvent, type TraceEventKind, type TraceHeader } from './events.ts';

/**
 * specs/trace.schema.json, compiled once with ajv's JSON Schema 2020-12 dialect, when first needed:
 * the header and the events of kernel traces take the hand-written checks below, and loading and
 * compiling ajv costs ~0.3 s (a reader thread starts for each large trace, traces/jsonl-thread.ts).
 * `ev` and the operation's `type` are OpenAPI-style discriminators: ajv then checks only the
 * branch named by the tag, so an error speaks about the event the user meant.
 */

type JsonSchema = { readonly [key: string]: unknown };

export const traceSchema: JsonSchema = JSON.parse(readFileSync(new URL('../specs/trace.schema.json', import.meta.url), 'utf8'));
const defs = traceSchema['$defs'] as Record<string, JsonSchema>;
const SCHEMA_ID = traceSchema['$id'] as string;

/** Every event kind, in the schema's order (a test keeps this, the schema and events.ts in step). */
export const EVENT_KINDS: readonly TraceEventKind[] = ['op', 'kcall', 'syscall', 'fault', 'sched', 'tracepoint', 'obs', 'step', 'marker', 'lost'];
/** Every MmOperation type, in the schema's order. */
export const OPERATION_TYPES: readonly MmOperationType[] = [
  'SPAWN', 'CREATE_FILE', 'MMAP', 'MUNMAP', 'MPROTECT', 'MADVISE', 'MREMAP', 'FORK', 'EXIT', 'FAULT',
  'SPLIT_FOLIO', 'COLLAPSE', 'MIGRATE', 'RECLAIM', 'PIN', 'UNPIN',
];

let compiledSchema: { readonly header: ValidateFunction; readonly event: ValidateFunction } | undefined;
function ajvValidators(): { readonly header: ValidateFunction; readonly event: ValidateFunction } {
  if (compiledSchema) return compiledSchema;
  // ajv is CommonJS: required synchronously, as validation is
  const Ajv2020 = createRequire(import.meta.url)('ajv/dist/2020.js') as typeof AjvModule;
  const ajv = new Ajv2020.default({ discriminator: true, verbose: true, strict: true, strictRequired: false, strictTypes: false, allErrors: false });
  ajv.addSchema(traceSchema);
  const compiled = (def: string): ValidateFunction => {
    const v = ajv.getSchema(`${SCHEMA_ID}#/$defs/${def}`);
    if (!v) throw new Error(`specs/trace.schema.json has no $defs/${def}`);
    return v;
  };
  return (compiledSchema = { header: compiled('header'), event: compiled('event') });
}

/** What is wrong with a value: the path of the offending field (object keys, array indices) and a sentence. */
export interface SchemaProblem {
  readonly path: readonly string[];
  readonly what: string;
  /** The problem is the last path element's name (an unexpected field), not its value. */
  readonly atKey?: boolean;
}

/** The problem with a would-be trace header, or undefined when it is valid. */
export function headerProblem(value: unknown): SchemaProblem | undefined {
  if (!isObject(value)) return { path: [], what: `expected the trace header object {"format": "trollcount-trace", "version": 1, ...}, got ${typeName(value)}` };
  if (fastHeaderValid(value)) return undefined;
  const headerValidator = ajvValidators().header;
  if (headerValidator(value)) return undefined;
  if ('format' in value && value['format'] !== 'trollcount-trace')
    return { path: ['format'], what: `not a trollcount trace header: format is ${show(value['format'])} (expected "trollcount-trace")` };
  return explain(headerValidator.errors ?? [], 'trace header: ');
}

/** The problem with a would-be trace event, or undefined when it is valid. */
export function eventProblem(value: unknown): SchemaProblem | undefined {
  if (!isObject(value)) return { path: [], what: `expected an event object {"ev": ...}, got ${typeName(value)}` };
  if (fastEventValid(value)) return undefined;
  const eventValidator = ajvValidators().event;
  if (eventValidator(value)) return undefined;
  if ('format' in value && !('ev' in value))
    return { path: [], what: 'a trace header where an event was expected: the header comes once, first in the trace' };
  const kind = typeof value['ev'] === 'string' ? value['ev'] : undefined;
  const op = kind === 'op' && isObject(value['op']) && (OPERATION_TYPES as readonly unknown[]).includes(value['op']['type']) ? ` (${String(value['op']['type'])})` : '';
  return explain(eventValidator.errors ?? [], kind !== undefined && (EVENT_KINDS as readonly string[]).includes(kind) ? `'${kind}' event${op}: ` : '');
}

/** Throws TraceInputError at `at` unless `value` is a valid TraceHeader. */
export function validateHeader(value: unknown, at: Position): asserts value is TraceHeader {
  const p = headerProblem(value);
  if (p) throw new TraceInputError(at, p.what);
}

/** Throws TraceInputError at `at` unless `value` is a valid TraceEvent. */
export function validateEvent(value: unknown, at: Position): asserts value is TraceEvent {
  const p = eventProblem(value);
  if (p) throw new TraceInputError(at, p.what);
}

// ---- fast path for the common events -------------------------------------------------------

/**
 * A hand-written check of the header and of the events of kernel traces (kcall and fault, most of
 * them, then syscall, sched, obs, step, marker, lost, tracepoint), written from
 * specs/trace.schema.json's definitions. It answers true only when the value is certainly valid;
 * anything else (an op event, an unexpected field, a doubtful value) goes to ajv, which also words
 * the message. test/schema-fastpath.test.ts checks it against ajv on generated values.
 */
const HEX = /^0x[0-9a-f]+$/;
const FIELD = /^[A-Za-z][A-Za-z0-9_]*$/;
const FN = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const PID_MAX = (defs['pid'] as { maximum?: number }).maximum ?? 0;
const isHex = (v: unknown): boolean => typeof v === 'string' && v.length <= 18 && HEX.test(v);

/**
 * Field and function names already found valid: a trace repeats a few dozen of them millions of
 * times. Bounded, so that a trace of ever-new names costs a regex test each, not memory.
 */
const VALID_NAMES_MAX = 4096;
const validFields = new Set<string>();
const validFns = new Set<string>();
function validName(names: Set<string>, re: RegExp, name: string): boolean {
  if (names.has(name)) return true;
  if (!re.test(name)) return false;
  if (names.size < VALID_NAMES_MAX) names.add(name);
  return true;
}
const isUint = (v: unknown, max = Infinity): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

/** The optional Recorded fields (ts, cpu, pid, tgid, comm); false for any other key. */
function recordedOk(key: string, v: unknown): boolean {
  switch (key) {
    case 'ts':
      return typeof v === 'number' && v >= 0;
    case 'cpu':
      return isUint(v);
    case 'pid':
    case 'tgid':
      return isUint(v, PID_MAX);
    case 'comm':
      return typeof v === 'string';
    default:
      return false;
  }
}

/** ajv alone (no fast path): for tests of the fast path. */
export const ajvEventValid = (value: unknown): boolean => ajvValidators().event(value) === true;
/** ajv alone for a header: for tests of the fast path. */
export const ajvHeaderValid = (value: unknown): boolean => ajvValidators().header(value) === true;

export function fastEventValid(value: Record<string, unknown>): boolean {
  const ev = value['ev'];
  if (ev === 'kcall') {
    const fn = value['fn'];
    const args = value['args'];
    if (typeof fn !== 'string' || !validName(validFns, FN, fn) || typeof args !== 'object' || args === null || Array.isArray(args)) return false;
    for (const key in value) {
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      if (key === 'ev' || key === 'fn' || key === 'args') continue;
      const v = value[key];
      if (key === 'ret' ? typeof v !== 'boolean' : !recordedOk(key, v)) return false;
    }
    const a = args as Record<string, unknown>;
    for (const key in a) {
      if (!Object.prototype.hasOwnProperty.call(a, key)) continue;
      if (!validName(validFields, FIELD, key)) return false;
      const v = a[key];
      if (typeof v === 'number') {
        if (!Number.isInteger(v) || v < -2147483648 || v > 4294967295) return false;
      } else if (!isHex(v)) return false;
    }
    return true;
  }
  if (ev === 'fault') {
    if (!isHex(value['address']) || !isHex(value['errorCode'])) return false;
    for (const key in value) {
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      if (key === 'ev' || key === 'address' || key === 'errorCode') continue;
      if (key === 'ip' ? !isHex(value[key]) : !recordedOk(key, value[key])) return false;
    }
    return true;
  }
  const kind = typeof ev === 'string' ? OTHER_KINDS.get(ev) : undefined;
  return kind !== undefined && fieldsValid(value, kind, true);
}

type Check = (v: unknown) => boolean;
/** An object's own fields: each checked, the required ones present, no others. */
interface Fields {
  readonly checks: ReadonlyMap<string, Check>;
  readonly required: ReadonlySet<string>;
}
const fields = (checks: Record<string, Check>, required: readonly string[]): Fields => ({ checks: new Map(Object.entries(checks)), required: new Set(required) });

/** `event`: the Recorded fields (ts, cpu, pid, tgid, comm) are allowed too, and `ev` is the tag. */
function fieldsValid(value: Record<string, unknown>, f: Fields, event: boolean): boolean {
  let present = 0;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    if (event && key === 'ev') continue;
    const check = f.checks.get(key);
    if (check === undefined) {
      if (!event || !recordedOk(key, value[key])) return false;
    } else {
      if (!check(value[key])) return false;
      if (f.required.has(key)) present++;
    }
  }
  return present === f.required.size;
}

const isString = (v: unknown): boolean => typeof v === 'string';
const isNonEmpty = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
const isBool = (v: unknown): boolean => typeof v === 'boolean';
const oneOf =
  (...values: unknown[]): Check =>
  (v) =>
    values.includes(v);
const isInt = (min: number, max: number): Check => (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const objectOf = (f: Fields): Check => (v) => isObject(v) && fieldsValid(v, f, false);
/** An object whose field names are identifiers, each value passing `each`. */
const recordOf =
  (each: Check): Check =>
  (v) => {
    if (!isObject(v)) return false;
    for (const key in v) if (Object.prototype.hasOwnProperty.call(v, key) && (!validName(validFields, FIELD, key) || !each(v[key]))) return false;
    return true;
  };
const SYSCALL = /^[a-z0-9_]+$/;
const validSyscalls = new Set<string>();

/** The other event kinds of kernel traces. */
const OTHER_KINDS = new Map<string, Fields>();
function kind(name: string, checks: Record<string, Check>, required: readonly string[]): void {
  OTHER_KINDS.set(name, fields(checks, required));
}
kind('syscall', { name: (v) => typeof v === 'string' && validName(validSyscalls, SYSCALL, v), phase: oneOf('enter', 'exit'), args: recordOf(isHex), ret: isHex }, ['name', 'phase']);
kind('sched', { what: oneOf('fork', 'exit'), childPid: (v) => isUint(v, PID_MAX) }, ['what']);
kind('obs', { pid: (v) => isUint(v, PID_MAX), va: isHex, pfn: isHex, present: isBool, kpagecount: (v) => isUint(v), kpageflags: isHex }, ['pid', 'va', 'pfn', 'present', 'kpagecount', 'kpageflags']);
kind('step', { name: isNonEmpty }, ['name']);
kind('marker', { text: isString }, ['text']);
kind('lost', { count: (v) => isUint(v) }, ['count']);
kind('tracepoint', { name: isNonEmpty, fields: recordOf(isString) }, ['name', 'fields']);

const HEADER = fields(
  {
    format: oneOf('trollcount-trace'),
    version: oneOf(1),
    kernel: objectOf(fields({ release: isString, generation: oneOf('6.1', '6.12') }, ['generation'])),
    geometry: objectOf(fields({ pageSize: isInt(1, 1 << 30), pmdOrder: isInt(0, 20) }, ['pageSize', 'pmdOrder'])),
    source: objectOf(fields({ kind: oneOf('ftrace', 'explore', 'synthetic', 'hand-written', 'bench'), description: isString }, ['kind'])),
    mm: objectOf(fields({ thp: oneOf('always', 'madvise', 'never'), shmemThp: isBool }, ['thp', 'shmemThp'])),
  },
  ['format', 'version', 'kernel', 'geometry', 'source'],
);

export function fastHeaderValid(value: Record<string, unknown>): boolean {
  return fieldsValid(value, HEADER, false);
}


// ---- error messages ------------------------------------------------------------------------

function explain(errors: readonly ErrorObject[], context: string): SchemaProblem {
  // anyOf reports each branch's failure and then itself: the anyOf says what was expected.
  const e = errors.find((x) => x.keyword === 'anyOf' || x.keyword === 'propertyNames') ?? errors[0];
  if (!e) return { path: [], what: `${context}does not match specs/trace.schema.json` };
  const path = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const field = (p: readonly string[]): string => `'${p.join('.')}'`;
  const parent = (e.parentSchema ?? {}) as JsonSchema;
  switch (e.keyword) {
    case 'discriminator': {
      const { tag, tagValue } = e.params as { tag: string; tagValue: unknown };
      const [noun, options] = tag === 'ev' ? ['event kind', EVENT_KINDS] : ['operation type', OPERATION_TYPES];
      const at = tag === 'ev' ? '' : ` in ${field([...path, tag])}`;
      if (typeof tagValue !== 'string') return { path: [...path, tag], what: `${context}the ${noun}${at} must be a string (expected one of ${options.join(', ')}), got ${show(tagValue)}` };
      return { path: [...path, tag], what: `${context}unknown ${noun} '${tagValue}'${at} (expected one of ${options.join(', ')})` };
    }
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      if (path.length === 0 && missing === 'ev') return { path, what: `missing field 'ev' (the event kind: one of ${EVENT_KINDS.join(', ')})` };
      const props = (parent['properties'] ?? {}) as Record<string, JsonSchema>;
      const expected = props[missing] ? ` (${describe(props[missing])})` : '';
      return { path, what: `${context}missing field ${field([...path, missing])}${expected}` };
    }
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = allowedFields(parent);
      return { path: [...path, extra], atKey: true, what: `${context}unexpected field ${field([...path, extra])}${allowed.length ? ` (expected only ${allowed.join(', ')})` : ''}` };
    }
    default: {
      const name = (e.params as { propertyName?: string }).propertyName;
      if (e.keyword === 'propertyNames' || name !== undefined)
        return { path: name === undefined ? path : [...path, name], atKey: true, what: `${context}field name ${show(name)}${path.length ? ` in ${field(path)}` : ''} must be an identifier (a letter, then letters, digits or _)` };
      const where = path.length ? `field ${field(path)}` : 'the value';
      return { path, what: `${context}${where} must be ${describe(parent, e)} (got ${show(e.data)})` };
    }
  }
}

/** What a schema expects, in words. */
function describe(s: JsonSchema, e?: ErrorObject): string {
  if (typeof s['$ref'] === 'string') return describe(defs[(s['$ref'] as string).replace('#/$defs/', '')] ?? {});
  if (s === defs['hex'] || s['pattern'] === '^0x[0-9a-f]+$')
    return 'a lowercase hex string like "0xffffea0004280040" (64-bit values are strings, never JSON numbers)';
  if (s === defs['kcallArg']) return 'a hex string like "0xffffea0004280040" (an x64 fetch-arg) or an integer in the 32-bit range (an s32/u32/x32/u8 fetch-arg)';
  if ('const' in s) return show(s['const']);
  if (Array.isArray(s['enum'])) return `one of ${(s['enum'] as unknown[]).map(show).join(', ')}`;
  if (e && (e.keyword === 'minimum' || e.keyword === 'maximum' || e.keyword === 'maxLength' || e.keyword === 'minLength' || e.keyword === 'pattern'))
    return `${article(s)}${e.keyword === 'pattern' ? ` matching ${String(s['pattern'])}` : ` that ${(e.message ?? '').replace(/^must (be|NOT have) /, (_m, v: string) => (v === 'be' ? 'is ' : 'has no '))}`}`;
  return article(s);
}

function article(s: JsonSchema): string {
  switch (s['type']) {
    case 'boolean':
      return 'true or false';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    default:
      return 'valid';
  }
}

function allowedFields(s: JsonSchema): string[] {
  return Object.keys((s['properties'] ?? {}) as object);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v === 'string' ? 'a string' : typeof v === 'number' ? 'a number' : typeof v === 'boolean' ? 'a boolean' : typeof v} ${show(v)}`;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
