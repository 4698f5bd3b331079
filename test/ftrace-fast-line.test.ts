import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FastLines, maxJsonBytes } from '../traces/ftrace/fast-line.ts';
import { GeneralLines } from '../traces/ftrace/general.ts';
import { parseFtraceLine } from '../traces/ftrace/parse.ts';
import { PROBE_TABLES } from '../traces/ftrace/probes.ts';

/**
 * The fast path (traces/ftrace/fast-line.ts) against the general one (parse.ts + general.ts +
 * JSON.stringify), which defines the conversion: on real capture lines and on mutations of them
 * (bytes flipped, tokens inserted, dropped or repeated, numbers in every form, spacing changed),
 * every line the fast path takes gives exactly the general path's JSON, and a line the general
 * path rejects is never taken.
 */

const REAL = join(import.meta.dirname, '../traces/fixtures/real');
type Gen = '6.1' | '6.12';
const GENS = ['6.1', '6.12'] as const;

const lines: Record<Gen, string[]> = { '6.1': [], '6.12': [] };
for (const gen of GENS)
  for (const w of ['thp-fork-cow', 'mremap-dontneed', 'fork-many'])
    lines[gen].push(...gunzipSync(readFileSync(join(REAL, `${gen}-${w}.ftrace.gz`))).toString('utf8').split('\n'));

/** One line of each event name (and each `CPU:`, comment or blank), so the rare shapes weigh as much as the common ones. */
function shapes(all: string[]): string[] {
  const byName = new Map<string, string>();
  for (const l of all) byName.set(/: ([A-Za-z_][\w.]*)/.exec(l)?.[1] ?? l.slice(0, 4), l);
  return [...byName.values()];
}

const converters = Object.fromEntries(GENS.map((g) => [g, { fast: new FastLines(PROBE_TABLES[g]), general: new GeneralLines(PROBE_TABLES[g]) }])) as Record<
  Gen,
  { fast: FastLines; general: GeneralLines }
>;

/** The general path's JSON line ('' for no event), or 'error: ...'. */
function general(gen: Gen, bytes: Buffer): string {
  try {
    const l = parseFtraceLine(bytes.toString('utf8'), 'f', 1);
    return l ? JSON.stringify(converters[gen].general.event(l, 'f', 1)) + '\n' : '';
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

/** The fast path's JSON line, or undefined when it declines. */
function fast(gen: Gen, bytes: Buffer): string | undefined {
  // the line sits in a region, before the next line's bytes, as the converter hands it over
  const region = Buffer.concat([bytes, Buffer.from('\n  x-1 [000] 1.0: sys_a -> 0x1\n')]);
  const out = Buffer.alloc(maxJsonBytes(bytes.length));
  const p = converters[gen].fast.write(region, 0, bytes.length, out, 0);
  return p < 0 ? undefined : out.toString('utf8', 0, p);
}

const INSERTS = [' ', '  ', '-', '(', ')', '=', ':', ',', '.', '0', '9', 'x', 'X', 'A', 'F', 'g', '\t', '"', '\\', '#', '[', ']', '<', ' <- ', ' -> ', 'é', '\u2028', '-0', '00', '0x', '__proto__', 'child_pid=', 'address=', 'ip=', 'error_code=', 'sys_'];
const NUMBERS = ['0', '-0', '007', '-1', '1', '123456789012345', '1234567890123456', '123456789012345678901234', '0x0', '0x00', '0xABCDEF', '0x1fffffffffffff', '0xfffffffffffff', '0xffffffffffffffff', '0x', '', 'ffff', 'FFFF', '0000ff', '1.5', '0.000001', '0.0000001', '00001.100000', '1234567890123.123456', '-5', 'abc'];

type Mutation = (b: Buffer) => Buffer;
const at = (b: Buffer, f: number): number => Math.floor(f * (b.length + 1));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 7 })).map(([f, bit]): Mutation => (b) => {
    const c = Buffer.from(b);
    if (c.length) c[Math.min(at(c, f), c.length - 1)] ^= 1 << bit;
    return c;
  }),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...INSERTS)).map(([f, s]): Mutation => (b) => Buffer.concat([b.subarray(0, at(b, f)), Buffer.from(s), b.subarray(at(b, f))])),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 6 })).map(([f, n]): Mutation => (b) => Buffer.concat([b.subarray(0, at(b, f)), b.subarray(at(b, f) + n)])),
  // a token repeated, dropped, or its spacing changed
  fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('repeat', 'drop', 'join', 'widen')).map(([i, j, how]): Mutation => (b) => {
    const toks = b.toString('latin1').split(' ');
    const k = i % toks.length;
    if (how === 'repeat') toks.splice(k, 0, toks[j % toks.length]);
    else if (how === 'drop') toks.splice(k, 1);
    else if (k + 1 < toks.length) toks.splice(k, 2, how === 'join' ? toks[k] + toks[k + 1] : `${toks[k]}  ${toks[k + 1]}`);
    return Buffer.from(toks.join(' '), 'latin1');
  }),
  // a kprobe location printed the other way: entry `(fn+0x4/0x140)` <-> return `(caller+0x1b/0x60 <- fn)`
  fc.boolean().map((spaced): Mutation => (b) => {
    const s = b.toString('latin1');
    const flipped = s.includes(' <- ') || s.includes('<-')
      ? s.replace(/\(([^()\s]+?)\s*<-\s*([^()\s]+)\)/, '($2+0x4/0x140)')
      : s.replace(/\(([A-Za-z_][\w.]*)\+(0x[0-9a-f]+\/0x[0-9a-f]+)\)/, spaced ? '(caller+0x1b/0x60 <- $1)' : '(caller+0x1b/0x60<-$1)');
    return Buffer.from(flipped, 'latin1');
  }),
  // a number (value, column, timestamp) in another form
  fc.tuple(fc.nat(), fc.constantFrom(...NUMBERS)).map(([i, n]): Mutation => (b) => {
    const s = b.toString('latin1');
    const spots = [...s.matchAll(/(?<==)[^ ]*|(?<=: )[0-9a-fA-F]+|\d+\.\d+(?=:)|(?<=\(\s*)\d+(?=\))|(?<=\[)\d+(?=\])|(?<=-)\d+(?= )/g)];
    if (!spots.length) return b;
    const m = spots[i % spots.length];
    return Buffer.from(s.slice(0, m.index) + n + s.slice(m.index + m[0].length), 'latin1');
  }),
);

const mutated = (gen: Gen): fc.Arbitrary<Buffer> =>
  fc.tuple(fc.constantFrom(...shapes(lines[gen])), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([line, ms]) =>
    Buffer.from(ms.reduce((b: Buffer, m) => m(b), Buffer.from(line)).filter((c) => c !== 10 && c !== 13)),
  );

describe('the fast path gives the general path JSON, or declines', () => {
  for (const gen of GENS) {
    it(`${gen}: takes the common real lines, and gives exactly their JSON`, () => {
      let taken = 0;
      for (const line of lines[gen]) {
        const b = Buffer.from(line);
        const f = fast(gen, b);
        const g = general(gen, b);
        if (f !== undefined) {
          taken++;
          expect(f, line).toBe(g);
        } else expect(line, 'a common shape declined').not.toMatch(/: (page_|folio_|__split|copy_|zap_|do_huge|deferred|split_huge|sys_|sched_process)/);
      }
      expect(taken).toBeGreaterThan(lines[gen].length * 0.7);
    });

    it(`${gen}: mutated lines: the same JSON whenever the fast path takes one`, () => {
      let taken = 0;
      fc.assert(
        fc.property(mutated(gen), (b) => {
          const f = fast(gen, b);
          if (f === undefined) return;
          taken++;
          expect(f).toBe(general(gen, b));
        }),
        { numRuns: 4000 },
      );
      expect(taken).toBeGreaterThan(400);
    });

    it(`${gen}: a line after the one it was mutated from: the same JSON`, () => {
      // the fast path keeps the last line's task columns (`comm-pid (tgid) [cpu] `) with their JSON;
      // a mutation of the line before shares them, or all but a byte
      let taken = 0;
      fc.assert(
        fc.property(fc.constantFrom(...shapes(lines[gen])), fc.array(mutation, { minLength: 1, maxLength: 2 }), (line, ms) => {
          const before = Buffer.from(line);
          const b = Buffer.from(ms.reduce((x: Buffer, m) => m(x), before).filter((c) => c !== 10 && c !== 13));
          fast(gen, before);
          const f = fast(gen, b);
          if (f === undefined) return;
          taken++;
          expect(f).toBe(general(gen, b));
        }),
        { numRuns: 4000 },
      );
      expect(taken).toBeGreaterThan(400);
    });

    it(`${gen}: lines without the flags column, after one like them: the same JSON`, () => {
      // the fast path keeps the columns up to the timestamp; without flags, a timestamp of 4 or 5
      // characters could be read as flags, and the line is left to the general path
      const noFlags = shapes(lines[gen])
        .map((l) => l.replace(/(\] )\S{4,5} +/, '$1'))
        .filter((l) => /\] \d/.test(l));
      let taken = 0;
      fc.assert(
        fc.property(
          fc.constantFrom(...noFlags),
          fc.array(mutation, { minLength: 0, maxLength: 2 }),
          fc.constantFrom('1.5', '12.5', '0.25', '1.000001', '123.5', '00001.100000', '7', '1.5: 2.5', '12.5:  0.000001'),
          (line, ms, ts) => {
            const before = Buffer.from(line);
            const withTs = Buffer.from(line.replace(/\d+\.\d+(?=:)/, ts));
            const b = Buffer.from(ms.reduce((x: Buffer, m) => m(x), withTs).filter((c) => c !== 10 && c !== 13));
            fast(gen, before);
            const f = fast(gen, b);
            if (f === undefined) return;
            taken++;
            expect(f).toBe(general(gen, b));
          },
        ),
        { numRuns: 3000 },
      );
      expect(taken).toBeGreaterThan(300);
    });
  }
});
