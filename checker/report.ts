import { basename } from 'node:path';
import { overallVerdict, type FileReport, type Verdict } from './check.ts';
import { describeOperation } from '../model/operations.ts';
import { formatSchemes } from './shadow-schemes.ts';

/**
 * The report of `trollcount check`: one summary row per file, the worst verdict, and each file's
 * full replay result. `--json` prints it as is (its shape is specs/report.schema.json).
 */
export interface SummaryRow {
  readonly events: number;
  /** Kernel-reported (or observed) values that matched the model's prediction. */
  readonly verified: number;
  /** Values adopted on first sight: state the trace could not show being built. */
  readonly learned: number;
  /** Hidden steps the replay inferred (fork dups, inline PMD splits, ...). */
  readonly inferred: number;
  readonly divergences: number;
}

export interface CheckReport {
  readonly tool: 'trollcount';
  readonly verdict: Verdict;
  readonly files: readonly (FileReport & { readonly summary: SummaryRow })[];
}

export function summarise(r: FileReport): SummaryRow {
  if (r.kind === 'kernel') {
    const x = r.result;
    return { events: x.events, verified: x.values.verified, learned: x.values.learned, inferred: x.inferredTotal, divergences: x.divergenceCount };
  }
  const x = r.result;
  return {
    events: x.counts.events,
    verified: x.counts.observationsCompared - x.divergences.length,
    learned: 0,
    inferred: 0,
    divergences: x.divergences.length + x.violations.length,
  };
}

export function buildReport(reports: readonly FileReport[]): CheckReport {
  return { tool: 'trollcount', verdict: overallVerdict(reports), files: reports.map((r) => ({ ...r, summary: summarise(r) })) };
}

const pad = (s: string, n: number, right = false): string => (right ? s.padStart(n) : s.padEnd(n));

/** The readable summary: a table of files, then what went wrong and where. */
export function formatSummary(report: CheckReport): string {
  const head = ['trace', 'gen', 'kind', 'events', 'verified', 'learned', 'inferred', 'diverged', 'verdict'];
  const rows = report.files.map((f) => [
    basename(f.file),
    f.generation,
    f.kind,
    String(f.summary.events),
    String(f.summary.verified),
    String(f.summary.learned),
    String(f.summary.inferred),
    String(f.summary.divergences),
    f.verdict,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i], i >= 3 && i <= 7)).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), ''];
  // the rival schemes of the kernel traces, all files together
  const schemes = formatSchemes(report.files.flatMap((f) => (f.kind === 'kernel' ? [{ file: f.file, schemes: f.result.schemes }] : [])));
  if (schemes) out.push(schemes, '');
  for (const f of report.files) {
    if (f.kind === 'kernel') {
      for (const d of f.result.divergences) {
        out.push(`${d.file}:${d.line}: ${d.fn}: folio ${d.folio} page ${d.page}: ${d.field}: kernel ${d.kernel}, model ${d.model}`);
        out.push(`    recent history of the folio: ${d.history.map((h) => `${h.line} ${h.fn}`).join(', ')}`);
      }
      if (f.verdict === 'inconclusive') out.push(`${f.file}: inconclusive: ${f.result.lost.markers} lost-event gap(s) (${f.result.lost.events} events) hid ${f.result.lost.uncheckedValues} value(s) the verdict depends on`);
    } else {
      for (const v of f.result.violations) out.push(`${v.at.file}:${v.at.line}: ${v.property}${v.scheme ? ` [${v.scheme}]` : ''}: ${v.detail}`);
      for (const d of f.result.divergences) out.push(`${d.at.file}:${d.at.line}: pid ${d.pid} va ${d.va}: ${d.field}: kernel ${d.kernel}, model (${d.scheme}) ${d.model}`);
      for (const r of f.result.refused ?? []) out.push(`${r.at.file}:${r.at.line}: ${describeOperation(r.op)}: ESRCH: no such process (never spawned nor forked in the trace), so the trace is inconclusive`);
    }
  }
  out.push(`verdict: ${report.verdict}`, '');
  return out.join('\n');
}
