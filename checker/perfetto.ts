import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { CheckReport } from './report.ts';
import type { FileTimeline } from './timeline.ts';

/**
 * `trollcount check --perfetto out.json`: Chrome trace-event JSON, which ui.perfetto.dev and
 * chrome://tracing open. Time is the trace's line number (1 line = 1 µs), so every trace file
 * reads in its own order whether or not it recorded timestamps. One process per trace file, one
 * track (thread) per folio with a slice per event (name: the kcall or op, args: the kernel's and
 * the model's values and the folio's state), an instant event per divergence (args: field,
 * kernel, model, line), and counters of the reported values for the folios that diverged.
 */

export interface TraceEventJson {
  readonly name: string;
  readonly ph: 'X' | 'i' | 'C' | 'M';
  readonly ts?: number;
  readonly dur?: number;
  readonly pid: number;
  readonly tid?: number;
  readonly s?: 't' | 'p' | 'g';
  readonly cat?: string;
  readonly args?: Record<string, unknown>;
}

const num = (v: number | boolean | undefined): number | undefined => (typeof v === 'boolean' ? (v ? 1 : 0) : v);

/** Track of divergences whose folio has no timeline (not kept, or no folio). */
const DIVERGENCE_TID = 1;

export function perfettoTrace(report: CheckReport, timelines: readonly FileTimeline[]): { traceEvents: TraceEventJson[] } {
  const ev: TraceEventJson[] = [];
  report.files.forEach((f, i) => {
    const pid = i + 1;
    const tl = timelines.find((t) => t.file === f.file);
    ev.push({ name: 'process_name', ph: 'M', pid, args: { name: `${basename(f.file)} (${f.kind}, ${f.generation}: ${f.verdict}; ts = trace line)` } });
    ev.push({ name: 'process_sort_index', ph: 'M', pid, args: { sort_index: pid } });
    ev.push({ name: 'thread_name', ph: 'M', pid, tid: DIVERGENCE_TID, args: { name: 'divergences' } });
    ev.push({ name: 'thread_sort_index', ph: 'M', pid, tid: DIVERGENCE_TID, args: { sort_index: 0 } });
    const tidOf = new Map<string, number>();
    tl?.folios.forEach((folio, k) => {
      const tid = k + 2;
      tidOf.set(folio.folio, tid);
      ev.push({ name: 'thread_name', ph: 'M', pid, tid, args: { name: `folio ${folio.folio} (${folio.nr} page${folio.nr === 1 ? '' : 's'})` } });
      ev.push({ name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: tid } });
      folio.points.forEach((p, pi) => {
        const next = folio.points[pi + 1];
        const args: Record<string, unknown> = { line: p.line, page: p.page };
        if (p.ts !== undefined) args.trace_ts_s = p.ts;
        if (p.state) args.knowledge = p.state;
        if (p.outcome) args.outcome = p.outcome;
        if (p.states) for (const [s, v] of Object.entries(p.states)) args[s] = v;
        for (const v of p.values) {
          const key = v.page && v.field !== 'folio._mapcount' ? `${v.field}[p${v.page}]` : v.field;
          args[`kernel ${key}`] = v.kernel;
          args[`model ${key}`] = v.model ?? 'learned';
        }
        if (p.violations) args.violations = p.violations;
        ev.push({ name: p.fn, cat: p.diverged ? 'diverged' : p.state ?? 'op', ph: 'X', ts: p.line, dur: next ? Math.max(1, next.line - p.line) : 1, pid, tid, args });
        if (folio.divergences) {
          for (const v of p.values) {
            const kernel = num(v.kernel);
            if (kernel === undefined) continue;
            const cargs: Record<string, number> = { kernel };
            const model = num(v.model);
            if (model !== undefined) cargs.model = model;
            ev.push({ name: `${folio.folio} p${v.page} ${v.field}`, ph: 'C', ts: p.line, pid, args: cargs });
          }
        }
      });
    });
    const instant = (line: number, tid: number, name: string, args: Record<string, unknown>): void =>
      void ev.push({ name, cat: 'divergence', ph: 'i', s: 't', ts: line, pid, tid, args: { ...args, line, file: f.file } });
    if (f.kind === 'kernel') {
      for (const d of f.result.divergences) {
        instant(d.line, tidOf.get(d.folio) ?? DIVERGENCE_TID, `DIVERGED ${d.field}`, {
          field: d.field,
          kernel: d.kernel,
          model: d.model,
          fn: d.fn,
          folio: d.folio,
          page: d.page,
          history: d.history.map((h) => `${h.line} ${h.fn}`).join(', '),
        });
      }
    } else {
      const tidAt = (line: number): number => {
        for (const folio of tl?.folios ?? []) if (folio.points.some((p) => p.line === line && p.diverged)) return tidOf.get(folio.folio)!;
        return DIVERGENCE_TID;
      };
      for (const d of f.result.divergences) {
        instant(d.at.line, tidAt(d.at.line), `DIVERGED ${d.field}`, { field: d.field, kernel: d.kernel, model: d.model, scheme: d.scheme, pid: d.pid, va: d.va });
      }
      for (const v of f.result.violations) {
        const tid = v.folio === undefined ? DIVERGENCE_TID : tidOf.get('0x' + v.folio.toString(16)) ?? DIVERGENCE_TID;
        instant(v.at.line, tid, `VIOLATED ${v.property}`, { field: v.property, scheme: v.scheme ?? null, detail: v.detail });
      }
    }
  });
  return { traceEvents: ev };
}

export function writePerfetto(path: string, report: CheckReport, timelines: readonly FileTimeline[]): void {
  writeFileSync(path, JSON.stringify(perfettoTrace(report, timelines)));
}
