import { basename } from 'node:path';
import type { SchemeName } from '../../model/schemes/scheme.ts';
import { checkFile } from '../check.ts';
import { exploreBfs } from '../explore/bfs.ts';
import { formatCounterexample } from '../explore/counterexample.ts';
import { summarise } from '../report.ts';
import type { KernelReplayResult } from '../replay-kernel.ts';
import { defaultScope, hazardScopes, type Scope } from '../scope.ts';

/**
 * Sections of specs/semantics.md computed by running the tools: what exhaustive exploration finds
 * from each hazard scope (no hints: the scopes only bound the operations), and how the real
 * recorded traces check.
 */

const SCHEMES: SchemeName[] = ['large-6.12', 'proposal', 'proposal+vma-hooks'];

interface Hunt {
  readonly name: string;
  readonly scope: Scope;
  readonly depth: number;
  readonly what: string;
}

function hunts(): Hunt[] {
  const h = hazardScopes();
  return [
    { name: 'VMA split then unmap', scope: defaultScope(), depth: 2, what: 'One process, one PMD-aligned anon VMA of one THP; faults, mprotect, munmap, fork, exit, mremap, mmap.' },
    { name: 'VMA merge', scope: h.merge, depth: 3, what: 'A tmpfs THP whose VMA was split in two; the same operations.' },
    { name: 'mremap', scope: h.mremap, depth: 2, what: 'An anon THP VMA with room to move.' },
    { name: 'fork with three or more sharers', scope: h.fork, depth: 4, what: 'One anon THP; fork, exit and faults.' },
    { name: 'same-MM double mapping', scope: h.doubleMap, depth: 2, what: 'One process mapping one tmpfs range twice.' },
  ];
}

export function explorerSection(): string {
  const out = [
    '## What the explorer finds',
    '',
    'Breadth-first search over every operation of each scope (`trollcount explore --scope ...`), checking after every step: each exact scheme equals the truth, the proposal\'s soundness rules, refcount/mapcount pairing, no mapped folio freed. The first (shortest) counterexample of each rule is shown, with each scheme\'s state of the folio after each step. `proposal+vma-hooks` is checked in the same scopes.',
  ];
  for (const hunt of hunts()) {
    const r = exploreBfs({ scope: hunt.scope, schemes: SCHEMES, maxDepth: hunt.depth });
    const hooks = r.violations.filter((v) => v.scheme === 'proposal+vma-hooks');
    out.push('', `### ${hunt.name}`, '', `${hunt.what} Depth ${hunt.depth}: ${r.distinctStates} distinct states${r.complete ? ' (complete)' : ''}.`, '');
    // one listing per distinct operation sequence: it prints every rule that sequence breaks
    const seen = new Set<string>();
    for (const v of r.violations) {
      const key = JSON.stringify(v.ops);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push('```', formatCounterexample(v, hunt.scope), '```', '');
    }
    for (const f of r.costFindings.filter((c) => c.scheme === 'proposal')) out.push(`- ${f.finding}: ${f.detail} (after ${f.ops.length} operations)`);
    out.push('', hooks.length ? `\`proposal+vma-hooks\`: ${hooks.length} violation(s).` : '`proposal+vma-hooks`: no violation in this scope.');
  }
  return out.join('\n');
}

export async function realTracesSection(files: readonly string[]): Promise<string> {
  const rows: string[] = [];
  const kernel: { file: string; result: KernelReplayResult }[] = [];
  for (const file of files) {
    const r = await checkFile(file);
    if (r.kind === 'kernel') kernel.push({ file, result: r.result });
    const s = summarise(r);
    const ratio = s.verified + s.learned ? (s.verified / (s.verified + s.learned)).toFixed(3) : '-';
    rows.push(`| ${basename(file)} | ${r.generation} | ${s.events} | ${s.verified} | ${s.learned} | ${ratio} | ${s.inferred} | ${s.divergences} | ${r.verdict} |`);
  }
  return [
    '## Real kernel traces',
    '',
    'Every bundled capture (Debian 6.1 and 6.12 kernels under qemu, traces/fixtures/real) replayed against the exact accounting of its generation. `verified`: kernel-reported values the model predicted; `learned`: values adopted on first sight (pages mapped before tracing began); `inferred`: hidden steps (fork dups, the inline PMD split of 6.1, VMA splits moving pages).',
    '',
    '| trace | gen | events | verified | learned | verified share | inferred | divergences | verdict |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    schemesOnRealTraces(kernel),
  ].join('\n');
}

/** "The real traces under each scheme": the rival schemes shadowing each replay (checker/shadow-schemes.ts). */
function schemesOnRealTraces(files: readonly { file: string; result: KernelReplayResult }[]): string {
  const rows: string[] = [];
  for (const { file, result } of files) {
    for (const s of result.schemes ?? []) {
      const judged = s.readers.reduce((n, r) => n + r.asked, 0);
      const wrong = s.readers.filter((r) => r.wrong).map((r) => `${r.reader} ${r.wrong}`).join(', ') || '0';
      const conservative = s.readers.reduce((n, r) => n + r.conservative, 0);
      const many = s.many ? `${s.many.folios} (${s.many.stickyUnmaps})` : '';
      const mapcount = s.mapcount ? `${s.mapcount.mismatches} of ${s.mapcount.checked}` : '';
      const name = s.role === 'exact' ? `${s.name} (exact)` : s.name;
      const c = s.costs;
      rows.push(`| ${basename(file)} | ${name} | ${c.atomics} | ${c.cachelines} | ${c.rmapWalks} | ${c.vmasVisited} | ${c.ptesScanned} | ${many} | ${mapcount} | ${s.role === 'exact' ? '' : judged} | ${s.role === 'exact' ? '' : conservative} | ${s.role === 'exact' ? '' : wrong} |`);
    }
  }
  return [
    '## The real traces under each scheme',
    '',
    'The same replays with the rival schemes shadowing the exact one (`trollcount check` runs them by default; `--scheme` selects them). Every rmap call the replay makes, seen or inferred, also drives `owners-6.15` (vma->vm_mm as the MM id) and the two proposal variants: VMA_MAPPED when a VMA gains its first entry of the folio, VMA_UNMAPPED when it loses its last, decided from the replay\'s per-VMA mappings and costed as the page-table scan the kernel would need; the VMA splits the replay infers reach the split hook of `proposal+vma-hooks`. Costs are those of the rmap (and VMA) hooks; answering readers is charged to the readers. Readers are asked only about folios whose whole mapping history the trace shows (seen unmapped with every counter known): kpagecount at each `obs` sample, pagemap PM_MMAP_EXCLUSIVE and smaps PSS of every mapped page at each batch of samples and at the end, try_to_unmap inside split_huge_page() (the only rmap walk the traces record; they record no reclaim, so folio_referenced is never asked). Each answer is classed against the exact scheme\'s (which the replay verified against the kernel): exact, conservative (the safe direction), wrong.',
    '',
    '`Many (sticky)`: folios whose count reached Many, and VMA_UNMAPPED decisions Many absorbed. `mapcount mismatches`: owners-6.15\'s folio_mapcount() against the exact scheme\'s after each event that touched a known folio (folios mapped before the trace adopt the learned counters first).',
    '',
    '| trace | scheme | atomics | cachelines | rmapWalks | vmasVisited | ptesScanned | Many (sticky) | mapcount mismatches | readers asked | conservative | wrong (by reader) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
