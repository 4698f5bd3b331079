import { X86_64 } from '../../model/geometry.ts';
import { startMmSystem } from '../../model/machines/mm-system.ts';
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
  /** costs[n][scheme] */
  readonly costs: Readonly<Record<number, Readonly<Record<SchemeName, Costs>>>>;
}

export function measureWorkload(w: SyntheticWorkload, sizes: readonly number[] = SIZES): WorkloadCosts {
  const costs: Record<number, Record<SchemeName, Costs>> = {};
  for (const n of sizes) {
    // per-page rmap calls, as in the kernel the proposal was written against (6.1)
    const k = createKernel({ geometry: X86_64, kernel: '6.1', thp: 'always', shmemThp: true });
    const { run } = startMmSystem(k);
    for (const op of w.ops(n)) run(op);
    costs[n] = Object.fromEntries(k.schemes.map((s) => [s.name, { ...s.costs }])) as Record<SchemeName, Costs>;
  }
  return { workload: w.name, what: w.what, costs };
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
  return [
    `### ${wc.workload}`,
    '',
    wc.what,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
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
