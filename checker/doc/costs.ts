import { X86_64 } from '../../model/geometry.ts';
import { startMmSystem } from '../../model/machines/mm-system.ts';
import { attachReaders, observeReaders, type ReaderRow } from '../../model/readers.ts';
import { createKernel } from '../../model/schemes/registry.ts';
import { SCHEME_NAMES, type Costs, type SchemeName } from '../../model/schemes/scheme.ts';
import { WORKLOADS, type SyntheticWorkload } from './workloads.ts';

/**
 * The cost answer: each synthetic workload run at growing N with every scheme side by side, and
 * each scheme's costs (scheme.costs) reported with how they grow with N.
 */
export const SIZES = [1, 4, 16, 64] as const;
const METRICS: readonly (keyof Costs)[] = ['atomics', 'cachelines', 'rmapWalks', 'vmasVisited', 'ptesScanned'];

export interface WorkloadCosts {
  readonly workload: string;
  readonly what: string;
  /** costs[n][scheme]: the rmap hooks plus what the readers made each scheme do. */
  readonly costs: Readonly<Record<number, Readonly<Record<SchemeName, Costs>>>>;
  /** Walks the readers themselves do (folio_referenced, try_to_unmap): VMAs visited per scheme, per N. */
  readonly readerWalkVmas: Readonly<Record<number, Readonly<Record<SchemeName, number>>>>;
  /** At the largest N: the reader decisions a scheme got wrong or answered conservatively. */
  readonly decisions: readonly ReaderRow[];
}

export function measureWorkload(w: SyntheticWorkload, sizes: readonly number[] = SIZES): WorkloadCosts {
  const costs: Record<number, Record<SchemeName, Costs>> = {};
  const readerWalkVmas: Record<number, Record<SchemeName, number>> = {};
  let decisions: ReaderRow[] = [];
  for (const n of sizes) {
    // per-page rmap calls, as in the kernel the proposal was written against (6.1)
    const k = createKernel({ geometry: X86_64, kernel: '6.1', thp: 'always', shmemThp: true });
    const log = attachReaders(k);
    const { run } = startMmSystem(k);
    const ops = w.ops(n);
    // the /proc readers (smaps, kpagecount, pagemap) look once at the busiest moment, before the teardown
    const busiest = ops.findIndex((op) => op.type === 'EXIT' || op.type === 'MUNMAP');
    ops.forEach((op, i) => {
      if (i === busiest) observeReaders(k);
      run(op);
    });
    if (busiest < 0) observeReaders(k);
    const summary = log.costSummary(k);
    costs[n] = Object.fromEntries(summary.map((s) => [s.scheme, s.total])) as Record<SchemeName, Costs>;
    readerWalkVmas[n] = Object.fromEntries(summary.map((s) => [s.scheme, s.readerWalks.vmasVisited])) as Record<SchemeName, number>;
    decisions = log.table().rows.filter((r) => r.wrong > 0 || r.conservative > 0);
  }
  return { workload: w.name, what: w.what, costs, readerWalkVmas, decisions };
}

/** How a cost grows from the second-largest to the largest N: constant, linear, quadratic... */
function growth(small: number, large: number, ratio: number): string {
  if (large === small) return 'constant';
  if (small === 0) return 'appears';
  const exponent = Math.log(large / small) / Math.log(ratio);
  return exponent < 0.5 ? '~constant' : exponent < 1.5 ? '~N' : exponent < 2.5 ? '~N²' : `~N^${exponent.toFixed(1)}`;
}

export function costTable(wc: WorkloadCosts): string {
  const sizes = Object.keys(wc.costs).map(Number);
  const [prev, last] = sizes.slice(-2);
  const head = ['cost', 'scheme', ...sizes.map((n) => `N=${n}`), 'growth'];
  const rows: string[][] = [];
  for (const metric of METRICS) {
    for (const scheme of SCHEME_NAMES) {
      if (scheme === 'truth') continue;
      const values = sizes.map((n) => wc.costs[n][scheme][metric]);
      if (values.every((v) => v === 0)) continue;
      rows.push([metric, scheme, ...values.map(String), growth(wc.costs[prev][scheme][metric], wc.costs[last][scheme][metric], last / prev)]);
    }
  }
  for (const scheme of SCHEME_NAMES) {
    if (scheme === 'truth' || !(scheme in wc.readerWalkVmas[last])) continue;
    const values = sizes.map((n) => wc.readerWalkVmas[n][scheme]);
    if (values.some((v) => v > 0)) rows.push(['readers\' walks (VMAs)', scheme, ...values.map(String), growth(wc.readerWalkVmas[prev][scheme], wc.readerWalkVmas[last][scheme], last / prev)]);
  }
  const decisionRows = wc.decisions.map((r) => [r.scheme, r.reader, String(r.asked), String(r.conservative), String(r.wrong), r.firstWrong ? `${r.firstWrong.operation}: truth ${r.firstWrong.truth}, answered ${r.firstWrong.answer}` : '']);
  return [
    `### ${wc.workload}`,
    '',
    wc.what,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    decisionRows.length
      ? [
          `Reader decisions that change at N=${last} (every other answer exact):`,
          '',
          '| scheme | reader | asked | conservative | wrong | first wrong |',
          '|---|---|---|---|---|---|',
          ...decisionRows.map((r) => `| ${r.join(' | ')} |`),
        ].join('\n')
      : `Every reader decision of every scheme is exact at N=${last}.`,
  ].join('\n');
}

export async function costSections(): Promise<string[]> {
  const tables = WORKLOADS.map((w) => costTable(measureWorkload(w)));
  return [
    [
      '## What becomes slower: costs per scheme',
      '',
      'Each workload runs on the emulated MM (x86-64 geometry, per-page rmap calls as in 6.1) with every scheme side by side. Costs: `atomics` = atomic read-modify-writes on mapcounts and the refcount; `cachelines` = struct pages read by mapcount queries; `rmapWalks` / `vmasVisited` = walks forced to resolve a count; `ptesScanned` = page-table entries read to decide whether a VMA still maps a folio. `growth` compares the two largest N.',
    ].join('\n'),
    ...tables,
  ];
}
