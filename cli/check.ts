import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { checkFile, overallVerdict, type FileReport } from '../checker/check.ts';
import { buildReport, formatSummary } from '../checker/report.ts';
import { writeHtmlReport } from '../checker/html.ts';
import { writePerfetto } from '../checker/perfetto.ts';
import { TimelineCollector, type FileTimeline } from '../checker/timeline.ts';
import { isSchemeName } from '../model/schemes/registry.ts';
import type { SchemeName } from '../model/schemes/scheme.ts';
import type { Generation } from '../traces/events.ts';
import { EXIT, UsageError } from './exit.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The bundled default: every real recorded trace. */
export function bundledTraces(): string[] {
  const dir = join(ROOT, 'traces/fixtures/real');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ftrace.gz'))
    .sort()
    .map((f) => join(dir, f));
}

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
  for (const file of inputs) {
    const name = relative(process.cwd(), file) || file;
    bar?.start(0, 0, { file: name });
    try {
      const timeline = timelines ? new TimelineCollector(file) : undefined;
      reports.push(await checkFile(file, { generation: opts.kernel, schemes, onProgress: (n) => bar?.update(n, { file: name }), timeline }));
      if (timeline) timelines!.push(timeline.result());
    } finally {
      bar?.stop();
    }
  }
  const report = buildReport(reports);
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(formatSummary(report));
  if (opts.html) writeOut('HTML report', opts.html, () => writeHtmlReport(opts.html!, report, timelines!));
  if (opts.perfetto) writeOut('Perfetto trace', opts.perfetto, () => writePerfetto(opts.perfetto!, report, timelines!));
  const verdict = overallVerdict(reports);
  return verdict === 'agree' ? EXIT.ok : verdict === 'diverge' ? EXIT.violation : EXIT.inconclusive;
}
