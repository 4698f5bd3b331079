import { writeFileSync } from 'node:fs';
import type { Kernel } from '../../model/kernel.ts';
import { describeOperation, type MmOperation } from '../../model/operations.ts';
import type { PlainSnapshot } from '../../model/machines/saturating-mapcount.ts';
import { SCHEME_NAMES, type SchemeName } from '../../model/schemes/scheme.ts';
import { vmasMapping } from '../../model/schemes/truth.ts';
import type { TraceHeader } from '../../traces/events.ts';
import { checkState, newMonitor, observe, stateWord, violationKey } from '../properties.ts';
import type { Scope } from '../scope.ts';
import type { Counterexample } from './bfs.ts';
import { Executor } from './executor.ts';
import { mmConfigOf, newKernel } from './world.ts';

/**
 * A counterexample as people read it (each step with every scheme's view of the folio) and as
 * `trollcount check` replays it (a JSON Lines trace of op events, setup included).
 */

export interface FolioView {
  readonly scheme: SchemeName;
  /** proposal: Zero/One/Two/Many and refs; truth: VMAs and entries; exact schemes: folio mapcount. */
  readonly text: string;
}

export interface CounterexampleStep {
  readonly index: number;
  readonly setup: boolean;
  readonly op: MmOperation;
  readonly description: string;
  readonly outcome: string;
  /** VMA splits, merges and moves the operation made (what the proposal as written does not hear). */
  readonly vmaChanges: readonly string[];
  /** The folio of the counterexample after the step (absent before it is allocated or after it is freed). */
  readonly folio: readonly FolioView[] | null;
  /** Properties violated for the first time at this step. */
  readonly violated: readonly string[];
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function folioViews(k: Kernel, pfn: number): FolioView[] | null {
  const folio = k.sys.folios.get(pfn);
  if (!folio) return null;
  return k.schemes.map((s) => {
    if (s.name === 'truth') {
      const vmas = vmasMapping(k.sys, folio);
      const entries = k.sys.mappedBy.get(pfn)?.size ?? 0;
      const pmds = [...(k.sys.mappedBy.get(pfn) ?? [])].filter((e) => e.startsWith('h:')).length;
      return { scheme: s.name, text: `${vmas.length} VMA${vmas.length === 1 ? '' : 's'}${vmas.length ? ` [${vmas.map((v) => v.id).join(',')}]` : ''}, ${entries} entr${entries === 1 ? 'y' : 'ies'}${pmds ? ` (${pmds} PMD)` : ''}` };
    }
    if (s.name === 'proposal' || s.name === 'proposal+vma-hooks') {
      const snap = (s as unknown as { snapshotOf(f: typeof folio): PlainSnapshot }).snapshotOf(folio);
      return { scheme: s.name, text: `${stateWord(snap.value)} refs ${snap.context.refs}` };
    }
    return { scheme: s.name, text: `mapcount ${s.folioMapcount(folio)}` };
  });
}

/**
 * Replays the counterexample on a fresh kernel with every scheme (actor engine) and describes
 * each step. `folio` defaults to the counterexample's.
 */
export function explainCounterexample(cex: Counterexample, scope: Scope, opts: { schemes?: readonly SchemeName[]; folio?: number } = {}): CounterexampleStep[] {
  const schemes = opts.schemes ?? SCHEME_NAMES.filter((s) => s !== 'owners-6.15');
  const k = newKernel(scope, schemes, 'actor');
  const exec = new Executor();
  const monitor = newMonitor();
  const pfn = opts.folio ?? cex.folio;
  const seen = new Set<string>();
  const all = [...cex.setup.map((op) => ({ op, setup: true })), ...cex.ops.map((op) => ({ op, setup: false }))];
  return all.map(({ op, setup }, index) => {
    exec.vmaChanges = [];
    const outcome = exec.run(k, op, monitor);
    observe(k, monitor);
    const violated: string[] = [];
    for (const v of checkState(k, monitor)) {
      const key = violationKey(v);
      if (!seen.has(key)) {
        seen.add(key);
        violated.push(`${v.property}${v.scheme ? ` [${v.scheme}]` : ''}: ${v.detail}`);
      }
    }
    return { index, setup, op, description: describeOperation(op), outcome, vmaChanges: exec.vmaChanges, folio: pfn === undefined ? null : folioViews(k, pfn), violated };
  });
}

/** The readable list of steps. */
export function formatCounterexample(cex: Counterexample, scope: Scope, opts: { schemes?: readonly SchemeName[]; showSetup?: boolean } = {}): string {
  const steps = explainCounterexample(cex, scope, opts);
  const lines: string[] = [`${cex.property}${cex.scheme ? ` [${cex.scheme}]` : ''}${cex.folio !== undefined ? `, folio pfn ${hex(cex.folio)}` : ''}: ${cex.detail}`];
  lines.push(`  ${cex.ops.length} operation${cex.ops.length === 1 ? '' : 's'} after ${cex.setup.length} setup step${cex.setup.length === 1 ? '' : 's'}:`);
  let n = 0;
  for (const s of steps) {
    if (s.setup && !opts.showSetup) continue;
    const label = s.setup ? '  setup' : `  ${String(++n).padStart(2)}.`;
    lines.push(`${label} ${s.description}${s.outcome !== 'ok' ? ` -> ${s.outcome}` : ''}`);
    for (const c of s.vmaChanges) lines.push(`        ${c}`);
    if (s.folio) lines.push(`        folio ${hex(cex.folio!)}: ${s.folio.map((v) => `${v.scheme}: ${v.text}`).join(' | ')}`);
    for (const v of s.violated) lines.push(`        VIOLATED ${v}`);
  }
  return lines.join('\n');
}

/** The trace header of a counterexample. */
export function counterexampleHeader(cex: Counterexample, scope: Scope): TraceHeader {
  const mm = mmConfigOf(scope);
  return {
    format: 'trollcount-trace',
    version: 1,
    kernel: { generation: scope.kernel },
    geometry: { pageSize: scope.geometry.pageSize, pmdOrder: scope.geometry.pmdOrder },
    source: { kind: 'explore', description: `${cex.property}${cex.scheme ? ` [${cex.scheme}]` : ''}: ${cex.detail}` },
    mm: { thp: mm.thp, shmemThp: mm.shmemThp },
  };
}

/** The counterexample as JSON Lines: the header, then one op event per operation (setup included). */
export function counterexampleTrace(cex: Counterexample, scope: Scope): string {
  const lines = [JSON.stringify(counterexampleHeader(cex, scope))];
  for (const op of [...cex.setup, ...cex.ops]) lines.push(JSON.stringify({ ev: 'op', op }));
  return `${lines.join('\n')}\n`;
}

/** Writes the trace file (`trollcount explore --out`). Line 1 + setup.length + i is the i-th explored op. */
export function writeCounterexampleTrace(path: string, cex: Counterexample, scope: Scope): void {
  writeFileSync(path, counterexampleTrace(cex, scope));
}
