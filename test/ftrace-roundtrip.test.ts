import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../traces/events.ts';
import { convertFile, openFtrace, PROBE_TABLES } from '../traces/ftrace/convert.ts';
import { FTRACE_HEADER, renderFtraceLine } from '../traces/ftrace/render.ts';

/**
 * Random events of every kind, rendered as ftrace text by traces/ftrace/render.ts, convert back to
 * exactly those events: the JSON Lines `convert` writes are JSON.stringify of the events, byte for
 * byte (key order included), and `openFtrace` reads the same events. The events are those the
 * ftrace text can carry (render.ts and parse.ts: hex as printed, micro-second timestamps, comms
 * without brackets), with the odd cases the fast path hands to the general one (escaped comms,
 * unknown probes, numbers it does not copy).
 */

const TMP = mkdtempSync(join(tmpdir(), 'trollcount-roundtrip-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
let seq = 0;

type Gen = '6.1' | '6.12';

const hexOf = (max: bigint): fc.Arbitrary<string> => fc.bigInt({ min: 0n, max }).map((v) => `0x${v.toString(16)}`);
const hex64 = fc.oneof(hexOf(0xffffn), hexOf(0xffffffffffffffffn));
const identifier = fc.stringMatching(/^[a-z_][a-z0-9_]{0,11}$/).filter((k) => k !== '__proto__');
/** A comm as ftrace prints it: no brackets or parentheses (they would read as the TGID/CPU columns), no '#' first, no space at either end. */
const comm = fc.oneof(
  fc.constantFrom('init', 'bash', 'kworker/u2:1', 'my-thing', 'a-1b', '<...>', 'two words', ''),
  fc.stringMatching(/^[a-zA-Z0-9_/:.<>"\\-]{1,15}$/),
  fc.stringMatching(/^[a-zé\u{1F600}]{1,6}$/u),
);
const record = fc.record(
  {
    // micro-seconds as ftrace prints them, often with trailing zeros; past 15 digits the converter
    // computes rather than copies
    ts: fc
      .tuple(fc.oneof(fc.integer({ min: 0, max: 99_999_999_999 }), fc.integer({ min: 0, max: 999_999_999_999_999 })), fc.integer({ min: 0, max: 6 }))
      .map(([us, zeros]) => Math.floor(us / 10 ** zeros) * 10 ** zeros / 1e6),
    cpu: fc.nat(511),
    pid: fc.nat(4_194_304),
    tgid: fc.option(fc.nat(4_194_304), { nil: undefined }),
    comm,
  },
  { requiredKeys: ['ts', 'cpu', 'pid', 'comm'] },
);
const rec = (r: { ts: number; cpu: number; pid: number; tgid?: number; comm: string }) => ({ ts: r.ts, cpu: r.cpu, pid: r.pid, tgid: r.tgid, comm: r.comm });

/**
 * A kcall of the probe table (each fetch-arg present or not, in the table's order), or of a probe
 * the table does not know. An entry probe whose function has no return probe is sometimes printed
 * as a return (`<- fn`): the event then says ret, as the text does.
 */
function kcall(gen: Gen): fc.Arbitrary<TraceEvent> {
  const specs = Object.values(PROBE_TABLES[gen].kprobes);
  const known = specs.map((spec) => {
    const canReturn = !spec.ret && !specs.some((o) => o.fn === spec.fn && o.ret);
    const args = Object.entries(spec.fields).map(([name, type]) => {
      const value: fc.Arbitrary<string | number> =
        type === 'x64'
          ? fc.oneof({ weight: 9, arbitrary: hex64 }, { weight: 1, arbitrary: fc.integer().map(String) })
          : type === 'x32'
            ? fc.oneof(fc.nat(0xffffffff), fc.nat(Number.MAX_SAFE_INTEGER))
            : fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer(), fc.maxSafeInteger());
      return fc.option(value.map((v) => [name, v] as const), { nil: undefined, freq: 10 });
    });
    const ret = canReturn ? fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) : fc.constant(spec.ret);
    return fc.tuple(fc.tuple(...args), ret, record).map(([a, returns, r]) => {
      const present = a.filter((x) => x !== undefined);
      return { ev: 'kcall', fn: spec.fn, ...(returns ? { ret: true } : {}), args: Object.fromEntries(present), ...rec(r) } as TraceEvent;
    });
  });
  const unknown = fc
    .tuple(identifier, fc.boolean(), fc.uniqueArray(fc.tuple(identifier, fc.oneof(hex64, fc.integer())), { selector: ([k]) => k, maxLength: 4 }), record)
    .map(([name, ret, args, r]) => ({ ev: 'kcall', fn: `probe_${name}`, ...(ret ? { ret: true } : {}), args: Object.fromEntries(args), ...rec(r) }) as TraceEvent);
  return fc.oneof({ weight: 4, arbitrary: fc.oneof(...known) }, { weight: 1, arbitrary: unknown });
}

/** Canonical syscall argument and return values: 0x-hex, lowercase; arguments without leading zeros. */
const syscall = fc.oneof(
  fc
    .tuple(identifier, fc.uniqueArray(fc.tuple(identifier, hexOf(0xffffffffffffffffn)), { selector: ([k]) => k, maxLength: 6 }), record)
    .map(([name, args, r]) => ({ ev: 'syscall', name, phase: 'enter', args: Object.fromEntries(args), ...rec(r) }) as TraceEvent),
  fc
    .tuple(identifier, fc.oneof(hexOf(0xffffffffffffffffn), fc.constant('0x0007')), record)
    .map(([name, ret, r]) => ({ ev: 'syscall', name, phase: 'exit', ret, ...rec(r) }) as TraceEvent),
);

const SPECIAL_NAMES = new Set(['page_fault_user', 'sched_process_fork', 'sched_process_exit', 'tracing_mark_write']);

const others = fc.oneof(
  fc.tuple(hex64, hex64, hexOf(0x1fn), record).map(([address, ip, errorCode, r]) => ({ ev: 'fault', address, ip, errorCode, ...rec(r) }) as TraceEvent),
  fc.tuple(fc.integer({ min: -1, max: 4_194_304 }), record).map(([childPid, r]) => ({ ev: 'sched', what: 'fork', childPid, ...rec(r) }) as TraceEvent),
  record.map((r) => ({ ev: 'sched', what: 'exit', ...rec(r) }) as TraceEvent),
  fc
    .tuple(
      fc.oneof(identifier, fc.constantFrom('mm_khugepaged_scan_pmd', 'folio_add_new_anon_rmap', 'page_remove_rmap', 'sys_odd')).filter((n) => !SPECIAL_NAMES.has(n)),
      fc.uniqueArray(fc.tuple(identifier, fc.stringMatching(/^[^\s]{0,8}$/)), { selector: ([k]) => k, maxLength: 4 }),
      record,
    )
    .map(([name, fields, r]) => ({ ev: 'tracepoint', name, fields: Object.fromEntries(fields), ...rec(r) }) as TraceEvent),
  fc
    .tuple(record, hex64, hex64, fc.boolean(), fc.integer({ min: -1, max: 100 }), hex64)
    .map(([r, va, pfn, present, kpagecount, kpageflags]) => ({ ev: 'obs', ts: r.ts, cpu: r.cpu, pid: r.pid, tgid: r.tgid, comm: r.comm, va, pfn, present, kpagecount, kpageflags }) as TraceEvent),
  fc.tuple(fc.stringMatching(/^[a-z][a-z0-9 _-]{0,10}[a-z0-9]$/), record).map(([name, r]) => ({ ev: 'step', name, ...rec(r) }) as TraceEvent),
  fc
    .tuple(fc.string({ unit: 'grapheme', maxLength: 20 }), record)
    .filter(([text]) => !/[\r\n]/.test(text) && !text.endsWith(' ') && !text.startsWith('STEP ') && !text.startsWith('OBS '))
    .map(([text, r]) => ({ ev: 'marker', text, ...rec(r) }) as TraceEvent),
  fc.tuple(fc.nat(1_000_000), fc.nat(511)).map(([count, cpu]) => ({ ev: 'lost', count, cpu }) as TraceEvent),
);

const events = (gen: Gen): fc.Arbitrary<TraceEvent[]> =>
  fc.array(fc.oneof({ weight: 3, arbitrary: kcall(gen) }, { weight: 2, arbitrary: syscall }, { weight: 3, arbitrary: others }), { minLength: 1, maxLength: 40 });

describe('render -> convert gives back the events', () => {
  for (const gen of ['6.1', '6.12'] as const) {
    it(`${gen}: convert writes JSON.stringify of each event; openFtrace reads the same events`, async () => {
      await fc.assert(
        fc.asyncProperty(events(gen), async (evs) => {
          const dir = join(TMP, String(seq++));
          const ftrace = `${dir}.ftrace`;
          const jsonl = `${dir}.jsonl`;
          writeFileSync(ftrace, `${FTRACE_HEADER}\n${evs.map((e) => renderFtraceLine(e, gen)).join('\n')}\n`);
          const expected = evs.map((e) => JSON.stringify(e));
          const summary = await convertFile(ftrace, jsonl, { generation: gen });
          const lines = readFileSync(jsonl, 'utf8').split('\n');
          expect(lines.pop()).toBe('');
          expect(lines.slice(1)).toEqual(expected);
          expect(summary.events).toBe(evs.length);
          const read: string[] = [];
          for await (const { event } of (await openFtrace(ftrace, { generation: gen })).events) read.push(JSON.stringify(event));
          expect(read).toEqual(expected);
        }),
        { numRuns: 150 },
      );
    });
  }
});
