import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticTrace, type SynthOptions } from './generate.ts';

/**
 * `npm run bench`: the performance benchmark of trollcount (README "Performance").
 *
 *   npm run bench                       # 1M and 4M events
 *   npm run bench -- --sizes 1000000    # other sizes
 *   npm run bench -- --smoke            # a tiny run (CI smoke test: no timing assertions)
 *
 * Generates deterministic synthetic 6.12 traces (bench/generate.ts: the emulated MM recorded by
 * the 6.12 probes), then measures, each in a fresh child process (so that the peak RSS,
 * process.resourceUsage().maxRSS, belongs to that measurement alone):
 *   (a) baseline: read the JSON Lines file and JSON.parse every line;
 *   (b) `check` end to end (checkFile: read, validate, replay against large-6.12);
 *   (c) ftrace text conversion of the same events (convertFile: parse + convert + write JSONL);
 *   (d) exhaustive exploration of the default small scope on every core (exploreBfsParallel):
 *       distinct states/s, bytes/state; the complete depth-3 search, and depth 4 up to 1M states
 *       (the throughput once V8 has compiled the explorer in every thread);
 *   (e) peak memory of (b) for each size;
 * (a), (b), (c) and the depth-3 search run three times, alternating, and each figure is the run with
 * the median time (this VM's single runs vary by up to 1.6x);
 * and the scale case: per-event check cost (default, and exact replay alone) with 1,000 processes
 * sharing a file and 100 forked children sharing anon THPs, against small versions of the same
 * workloads (each the best of three runs, alternating small and large: the ratio is the figure).
 * Prints a table (with the load average before and after: figures taken under load are low) and
 * writes bench/out/bench.json, where each measurement also has the CPU time of its child.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, 'out');

interface ChildResult {
  readonly ms: number;
  /** User + system CPU time of the child (more than `ms` when the collector's threads help). */
  readonly cpuMs: number;
  /** The same of its main thread alone (Linux): a check reads its input on a second thread. */
  readonly mainThreadCpuMs?: number;
  readonly count: number;
  readonly maxRssMB: number;
  readonly extra?: Record<string, unknown>;
}

// ---- child measurements -------------------------------------------------------------------------

/** CPU time of the calling thread in ms, from /proc/thread-self/stat (utime + stime in USER_HZ = 100 ticks/s); undefined off Linux. */
function threadCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

async function childMain(kind: string, arg: string, arg2?: string): Promise<void> {
  // modules load before the clock starts: the figures are steady-state throughput
  const { checkFile } = await import('../checker/check.ts');
  const { convertFile } = await import('../traces/ftrace/convert.ts');
  const { exploreBfsParallel } = await import('../checker/explore/parallel.ts');
  const { defaultScope } = await import('../checker/scope.ts');
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const m0 = threadCpuMs();
  let count = 0;
  let extra: Record<string, unknown> | undefined;
  if (kind === 'baseline') {
    const dec = new TextDecoder();
    let partial = '';
    for await (const buf of createReadStream(arg, { highWaterMark: 1 << 16 })) {
      const chunk = partial + dec.decode(buf as Buffer, { stream: true });
      let from = 0;
      for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', from)) {
        JSON.parse(chunk.slice(from, nl));
        count++;
        from = nl + 1;
      }
      partial = chunk.slice(from);
    }
    if (partial.trim()) {
      JSON.parse(partial);
      count++;
    }
    count--; // the header line
  } else if (kind === 'check' || kind === 'check-exact') {
    // check-exact: the exact replay alone, without the shadow schemes (checkFile's shadows: false)
    const r = await checkFile(arg, kind === 'check-exact' ? { shadows: false } : {});
    count = r.kind === 'kernel' ? r.result.events : 0;
    extra = { verdict: r.verdict, divergences: r.kind === 'kernel' ? r.result.divergenceCount : undefined };
  } else if (kind === 'convert') {
    const s = await convertFile(arg, arg2!);
    count = s.events;
  } else if (kind === 'explore') {
    // every core: the frontier of each level split over worker threads (checker/explore/parallel.ts)
    const r = await exploreBfsParallel({ scope: defaultScope(), maxDepth: Number(arg), maxStates: Number(arg2 ?? 500_000), workers: cpus().length });
    count = r.distinctStates;
    extra = { statesExplored: r.statesExplored, distinctPerSecond: r.distinctPerSecond, statesPerSecond: r.statesPerSecond, bytesPerState: r.bytesPerState, complete: r.complete, depth: r.depthReached, workers: r.workers };
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const m1 = threadCpuMs();
  // the converted output is removed after the clock stops (unlinking 300 MB took ~15 ms of it)
  if (kind === 'convert') rmSync(arg2!, { force: true });
  const res: ChildResult = { ms, cpuMs: (cpu.user + cpu.system) / 1000, ...(m0 !== undefined && m1 !== undefined ? { mainThreadCpuMs: m1 - m0 } : {}), count, maxRssMB: process.resourceUsage().maxRSS / 1024, ...(extra ? { extra } : {}) };
  process.stdout.write(JSON.stringify(res) + '\n');
}

function inChild(kind: string, ...args: string[]): ChildResult {
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', kind, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
}

// ---- traces ---------------------------------------------------------------------------------------

async function trace(o: SynthOptions, name: string, ftrace = false): Promise<{ jsonl: string; ftrace?: string; events: number }> {
  mkdirSync(OUT, { recursive: true });
  const jsonl = join(OUT, `${name}.jsonl`);
  const ft = join(OUT, `${name}.ftrace`);
  const meta = join(OUT, `${name}.meta.json`);
  const want = JSON.stringify(o);
  if (existsSync(meta) && existsSync(jsonl) && (!ftrace || existsSync(ft))) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { options: string; events: number };
    if (m.options === want) return { jsonl, ftrace: ftrace ? ft : undefined, events: m.events };
  }
  const s = await writeSyntheticTrace(o, { jsonl, ...(ftrace ? { ftrace: ft } : {}) });
  writeFileSync(meta, JSON.stringify({ options: want, events: s.events, byFn: s.byFn }));
  return { jsonl, ftrace: ftrace ? ft : undefined, events: s.events };
}

// ---- main -----------------------------------------------------------------------------------------

function machine(): Record<string, unknown> {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // not Linux
  }
  return { nproc: cpus().length, cpu: model, node: process.version };
}

const rate = (count: number, ms: number): number => Math.round(count / (ms / 1000));

/** The run with the median wall time (of an odd number of runs: one that was measured). */
const median = (rs: readonly ChildResult[]): ChildResult => [...rs].sort((a, b) => a.ms - b.ms)[(rs.length - 1) >> 1];

/** Read a file once, into the page cache. */
function warm(path: string): void {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}

async function main(argv: string[]): Promise<void> {
  const smoke = argv.includes('--smoke');
  // rounds of each measurement of the check, the conversion and the depth-3 search
  const ROUNDS = smoke ? 1 : 3;
  const sizesArg = argv.indexOf('--sizes');
  const sizes = sizesArg >= 0 ? argv[sizesArg + 1].split(',').map(Number) : smoke ? [5_000, 20_000] : [1_000_000, 4_000_000];
  const outArg = argv.indexOf('--out');
  const outFile = outArg >= 0 ? argv[outArg + 1] : join(OUT, smoke ? 'bench-smoke.json' : 'bench.json');
  const log = (s: string): void => void process.stderr.write(s + '\n');

  const result: Record<string, unknown> = { machine: machine(), smoke, sizes, loadAverageAtStart: loadavg()[0] };
  const runs: Record<string, unknown>[] = [];
  for (const [i, events] of sizes.entries()) {
    log(`generating ${events} events ...`);
    const t = await trace({ events, seed: 1, workload: 'mixed', processes: 16 }, `synth-mixed-${events}`, i === 0);
    log(`(a) baseline, (b) check${i === 0 ? ', (c) convert' : ''} on ${t.events} events ...`);
    // every measurement reads from the page cache: the baseline runs first and would otherwise pay
    // for the disk alone (a 4M baseline ran at 321k lines/s cold against 604k warm)
    warm(t.jsonl);
    if (t.ftrace) warm(t.ftrace);
    // rounds alternate the measurements, and each figure is the round with the median time: single
    // runs on this VM vary by up to 1.6x (every round is kept in the JSON, `roundsMs`)
    const rounds: Record<'baseline' | 'check' | 'exact' | 'convert', ChildResult[]> = { baseline: [], check: [], exact: [], convert: [] };
    for (let k = 0; k < ROUNDS; k++) {
      rounds.baseline.push(inChild('baseline', t.jsonl));
      rounds.check.push(inChild('check', t.jsonl));
      rounds.exact.push(inChild('check-exact', t.jsonl));
      if (t.ftrace) rounds.convert.push(inChild('convert', t.ftrace, join(OUT, 'convert-out.jsonl')));
    }
    const [base, check, exact] = [median(rounds.baseline), median(rounds.check), median(rounds.exact)];
    const conv = t.ftrace ? median(rounds.convert) : undefined;
    const roundsMs = (rs: ChildResult[]): number[] => rs.map((r) => Math.round(r.ms));
    runs.push({
      events: t.events,
      rounds: ROUNDS,
      baseline: { ms: base.ms, cpuMs: base.cpuMs, mainThreadCpuMs: base.mainThreadCpuMs, perSecond: rate(base.count, base.ms), maxRssMB: base.maxRssMB, roundsMs: roundsMs(rounds.baseline) },
      check: {
        ms: check.ms,
        cpuMs: check.cpuMs,
        mainThreadCpuMs: check.mainThreadCpuMs,
        perSecond: rate(check.count, check.ms),
        // the peak of every round: memory does not depend on how busy the machine is
        maxRssMB: Math.max(...rounds.check.map((r) => r.maxRssMB)),
        verdict: check.extra?.verdict,
        divergences: check.extra?.divergences,
        roundsMs: roundsMs(rounds.check),
      },
      checkOverBaseline: base.ms / check.ms,
      checkExact: { ms: exact.ms, cpuMs: exact.cpuMs, mainThreadCpuMs: exact.mainThreadCpuMs, perSecond: rate(exact.count, exact.ms), maxRssMB: exact.maxRssMB, verdict: exact.extra?.verdict, roundsMs: roundsMs(rounds.exact) },
      checkExactOverBaseline: base.ms / exact.ms,
      ...(conv ? { convert: { ms: conv.ms, cpuMs: conv.cpuMs, mainThreadCpuMs: conv.mainThreadCpuMs, linesPerSecond: rate(conv.count, conv.ms), maxRssMB: conv.maxRssMB, roundsMs: roundsMs(rounds.convert) } } : {}),
    });
  }
  result.runs = runs;
  const peaks = runs.map((r) => (r.check as { maxRssMB: number }).maxRssMB);
  result.memory = { peakMB: peaks, ratioLargestOverSmallest: peaks.length > 1 ? peaks[peaks.length - 1] / peaks[0] : 1, measuredBy: 'process.resourceUsage().maxRSS of a child process running checkFile alone' };

  log('(d) exhaustive exploration of the default scope ...');
  // 200,000 states: a short search mostly measures the JIT compiling the explorer in every thread
  const exRounds = Array.from({ length: ROUNDS }, () => inChild('explore', smoke ? '1' : '3', smoke ? '2000' : '200000'));
  const ex = median(exRounds);
  result.explore = { distinct: ex.count, ms: ex.ms, cpuMs: ex.cpuMs, ...ex.extra, maxRssMB: ex.maxRssMB, roundsMs: exRounds.map((r) => Math.round(r.ms)) };
  // the complete depth-3 search lasts ~2.5 s, about half of it V8 compiling the explorer in each
  // thread: one depth further (up to 1M states) shows the throughput once the code is compiled
  const deep = inChild('explore', smoke ? '2' : '4', smoke ? '5000' : '1000000');
  result.exploreDeep = { distinct: deep.count, ms: deep.ms, cpuMs: deep.cpuMs, ...deep.extra, maxRssMB: deep.maxRssMB };

  log('scale: 1,000 processes sharing a file; 100 forked children sharing anon THPs ...');
  const scaleEvents = smoke ? 3_000 : 200_000;
  const scale: Record<string, unknown>[] = [];
  for (const [workload, big, small] of [['shared-file', smoke ? 50 : 1000, 10], ['fork-thp', smoke ? 10 : 100, 5]] as const) {
    const row: Record<string, unknown> = { workload };
    const traces = { small: await trace({ events: scaleEvents, seed: 2, workload, processes: small }, `synth-${workload}-${small}-${scaleEvents}`), large: await trace({ events: scaleEvents, seed: 2, workload, processes: big }, `synth-${workload}-${big}-${scaleEvents}`) };
    const runs = { small: { check: [] as ChildResult[], exact: [] as ChildResult[] }, large: { check: [] as ChildResult[], exact: [] as ChildResult[] } };
    for (let k = 0; k < (smoke ? 1 : 3); k++) {
      for (const label of ['small', 'large'] as const) {
        runs[label].check.push(inChild('check', traces[label].jsonl));
        runs[label].exact.push(inChild('check-exact', traces[label].jsonl));
      }
    }
    const fastest = (rs: ChildResult[]): ChildResult => rs.reduce((a, b) => (b.ms < a.ms ? b : a));
    for (const [label, processes] of [['small', small], ['large', big]] as const) {
      const c = fastest(runs[label].check);
      const x = fastest(runs[label].exact);
      row[label] = { processes, events: c.count, usPerEvent: (c.ms * 1000) / c.count, exactUsPerEvent: (x.ms * 1000) / x.count, cpuUsPerEvent: (c.cpuMs * 1000) / c.count, exactCpuUsPerEvent: (x.cpuMs * 1000) / x.count, verdict: c.extra?.verdict };
    }
    type Cost = { usPerEvent: number; exactUsPerEvent: number };
    row.largeOverSmall = (row.large as Cost).usPerEvent / (row.small as Cost).usPerEvent;
    row.exactLargeOverSmall = (row.large as Cost).exactUsPerEvent / (row.small as Cost).exactUsPerEvent;
    scale.push(row);
  }
  result.scale = scale;
  result.loadAverageAtEnd = loadavg()[0];

  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
  printTable(result);
  log(`wrote ${outFile}`);
}

function printTable(r: Record<string, unknown>): void {
  const m = r.machine as { nproc: number; cpu: string; node: string };
  const load = `load average (1 min) ${(r.loadAverageAtStart as number).toFixed(2)} at the start, ${(r.loadAverageAtEnd as number).toFixed(2)} at the end`;
  const rounds = (r.runs as { rounds: number }[])[0].rounds;
  const lines: string[] = [`machine: ${m.nproc} x ${m.cpu}, node ${m.node}; ${load}; (a)-(c) and the depth-3 search: the median of ${rounds} rounds`, '', '| measurement | events | figure | ratio / target |', '|---|---:|---:|---|'];
  for (const run of r.runs as Record<string, any>[]) {
    lines.push(`| (a) baseline: read + JSON.parse | ${run.events} | ${run.baseline.perSecond.toLocaleString('en')} lines/s | 1 |`);
    const cpu = (c: { cpuMs: number; mainThreadCpuMs?: number }): string => `CPU ${(c.cpuMs / 1000).toFixed(1)} s${c.mainThreadCpuMs !== undefined ? `, main thread ${(c.mainThreadCpuMs / 1000).toFixed(1)} s` : ''}`;
    lines.push(`| (b) check end to end (${run.check.verdict}) | ${run.events} | ${run.check.perSecond.toLocaleString('en')} events/s (${cpu(run.check)}) | ${run.checkOverBaseline.toFixed(3)}x baseline (target >= 0.5x) |`);
    lines.push(`| (b') check, exact replay only (no shadow schemes) | ${run.events} | ${run.checkExact.perSecond.toLocaleString('en')} events/s (${cpu(run.checkExact)}) | ${run.checkExactOverBaseline.toFixed(3)}x baseline |`);
    if (run.convert) lines.push(`| (c) ftrace conversion | ${run.events} | ${run.convert.linesPerSecond.toLocaleString('en')} lines/s (${cpu(run.convert)}) | target >= 1,000,000 lines/s |`);
    lines.push(`| (e) check peak RSS | ${run.events} | ${run.check.maxRssMB.toFixed(0)} MB | |`);
  }
  const mem = r.memory as { ratioLargestOverSmallest: number };
  lines.push(`| (e) peak RSS largest / smallest | | | ${mem.ratioLargestOverSmallest.toFixed(2)}x (target <= 1.2x) |`);
  for (const e of [r.explore, r.exploreDeep] as Record<string, any>[]) {
    const scope = `default scope, depth ${e.depth}${e.complete ? ', complete' : ''}`;
    lines.push(`| (d) exhaustive exploration, ${scope} | ${e.distinct} states | ${Math.round(e.distinctPerSecond).toLocaleString('en')} distinct/s (${e.workers} worker${e.workers === 1 ? '' : 's'}) | ${e.bytesPerState.toFixed(1)} B/state (targets >= 100,000/s, <= 16 B) |`);
  }
  for (const s of r.scale as Record<string, any>[]) {
    lines.push(`| scale ${s.workload}: ${s.small.processes} vs ${s.large.processes} processes, default | ${s.large.events} | ${s.small.usPerEvent.toFixed(2)} vs ${s.large.usPerEvent.toFixed(2)} us/event | ${s.largeOverSmall.toFixed(2)}x |`);
    lines.push(`| scale ${s.workload}: the same, exact replay only | ${s.large.events} | ${s.small.exactUsPerEvent.toFixed(2)} vs ${s.large.exactUsPerEvent.toFixed(2)} us/event | ${s.exactLargeOverSmall.toFixed(2)}x |`);
  }
  console.log(lines.join('\n'));
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') await childMain(argv[1], argv[2], argv[3]);
else await main(argv);
