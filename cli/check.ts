import { relative } from 'node:path';
import cliProgress from 'cli-progress';
import { checkFile, overallVerdict, type FileReport } from '../checker/check.ts';
import { buildReport, formatSummary, summarise } from '../checker/report.ts';
import { writeHtmlReport } from '../checker/html.ts';
import { writePerfetto } from '../checker/perfetto.ts';
import { TimelineCollector, type FileTimeline } from '../checker/timeline.ts';
import { isSchemeName } from '../model/schemes/registry.ts';
import type { SchemeName } from '../model/schemes/scheme.ts';
import { bundledTraces } from '../traces/bundled.ts';
import type { Generation } from '../traces/events.ts';
import { EXIT, UsageError } from './exit.ts';


interface CheckCliOptions {
  json?: boolean;
  scheme?: string[];
  kernel?: Generation;
  html?: string;
  perfetto?: string;
}

/** Write a report file; a path that cannot be written is the user's input, not a crash. */
function writeOut(what: string, path: string, write: () => void): void {
  try {
    write();
  } catch (err) {
    throw new UsageError(`cannot write the ${what} to '${path}': ${(err as Error).message}`);
  }
}

/** the partial summary of an interrupted run: the files checked, then how far the current one got. */
function interrupted(reports: FileReport[], total: number, partial: FileReport | undefined, json: boolean): number {
  const report = buildReport(reports);
  const current = partial ? { file: partial.file, ...summarise(partial), verdictSoFar: partial.verdict } : undefined;
  if (json) process.stdout.write(`${JSON.stringify({ ...report, interrupted: { signal: 'SIGINT', filesChecked: reports.length, files: total, current } }, null, 2)}\n`);
  else {
    process.stdout.write(formatSummary(report).replace(/verdict: \w+\n$/, ''));
    const where = current
      ? `; stopped in ${current.file} after ${current.events} events (${current.verified} verified, ${current.learned} learned, ${current.divergences} diverged so far: ${current.verdictSoFar})`
      : '';
    process.stdout.write(`interrupted (SIGINT): ${reports.length} of ${total} file(s) checked${where}\nverdict: none (interrupted)\n`);
  }
  return EXIT.interrupted;
}

export async function runCheck(files: string[], opts: CheckCliOptions): Promise<number> {
  const schemes = opts.scheme?.map((s) => {
    if (!isSchemeName(s)) throw new UsageError(`unknown scheme '${s}'`);
    return s as SchemeName;
  });
  const inputs = files.length ? files : bundledTraces();
  const reports: FileReport[] = [];
  // per-folio timelines only when a report that shows them is asked for
  const timelines: FileTimeline[] | null = opts.html || opts.perfetto ? [] : null;
  // a progress bar only for a person watching a terminal, never in pipes or CI logs
  const bar = process.stderr.isTTY && !process.env.CI ? new cliProgress.SingleBar({ format: ' {file} {value} events', clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  // SIGINT stops the replay (at its next 4096-event check), prints what was checked and exits 130
  const interrupt = new AbortController();
  let partial: FileReport | undefined;
  const onSigint = (): void => {
    if (interrupt.signal.aborted) process.exit(EXIT.interrupted); // a second ^C: stop at once
    interrupt.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    for (const file of inputs) {
      if (interrupt.signal.aborted) break;
      const name = relative(process.cwd(), file) || file;
      bar?.start(0, 0, { file: name });
      try {
        const timeline = timelines ? new TimelineCollector(file) : undefined;
        const r = await checkFile(file, { generation: opts.kernel, schemes, onProgress: (n) => bar?.update(n, { file: name }), timeline, signal: interrupt.signal });
        if (interrupt.signal.aborted) {
          partial = r;
          break;
        }
        reports.push(r);
        if (timeline) timelines!.push(timeline.result());
      } finally {
        bar?.stop();
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (interrupt.signal.aborted) return interrupted(reports, inputs.length, partial, opts.json === true);
  const report = buildReport(reports);
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(formatSummary(report));
  if (opts.html) writeOut('HTML report', opts.html, () => writeHtmlReport(opts.html!, report, timelines!));
  if (opts.perfetto) writeOut('Perfetto trace', opts.perfetto, () => writePerfetto(opts.perfetto!, report, timelines!));
  const verdict = overallVerdict(reports);
  return verdict === 'agree' ? EXIT.ok : verdict === 'diverge' ? EXIT.violation : EXIT.inconclusive;
}
