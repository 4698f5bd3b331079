import { exploreBfs, type ExploreReport } from '../checker/explore/bfs.ts';
import { formatCounterexample, writeCounterexampleTrace } from '../checker/explore/counterexample.ts';
import { exploreRandom } from '../checker/explore/random.ts';
import { defaultScope, hazardScopes, type Scope } from '../checker/scope.ts';
import { isSchemeName } from '../model/schemes/registry.ts';
import type { SchemeName } from '../model/schemes/scheme.ts';
import type { Generation } from '../traces/events.ts';
import { EXIT, UsageError } from './exit.ts';

interface ExploreCliOptions {
  mode: string;
  scheme: string[];
  depth: string;
  maxStates: string;
  runs: string;
  scope: string;
  kernel: Generation;
  out?: string;
  json?: boolean;
  readers: boolean;
}

const positive = (name: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} wants a positive integer, got '${value}'`);
  return n;
};

function namedScope(name: string, kernel: Generation): Scope {
  if (name === 'default') return defaultScope({ kernel });
  const scopes = hazardScopes();
  const key = ({ merge: 'merge', mremap: 'mremap', 'fork-many': 'fork', fork: 'fork', 'double-map': 'doubleMap', doubleMap: 'doubleMap' } as const)[name];
  if (!key) throw new UsageError(`unknown scope '${name}' (expected default, merge, mremap, fork-many, double-map)`);
  return { ...scopes[key], kernel };
}

function formatReport(r: ExploreReport, scope: Scope): string {
  const out = [
    `${r.mode} exploration of ${r.schemes.join(', ')} (${r.scope.operations} operations in scope, kernel ${r.scope.kernel})`,
    `  states explored ${r.statesExplored}, distinct ${r.distinctStates}, depth reached ${r.depthReached}${r.complete ? ' (complete)' : ''}`,
    `  ${(r.timeMs / 1000).toFixed(2)} s, ${Math.round(r.statesPerSecond)} states/s, ${Math.round(r.distinctPerSecond)} distinct states/s, ${r.bytesPerState.toFixed(1)} bytes per visited state`,
  ];
  for (const c of r.coverage) {
    out.push(`  ${c.machine}: ${c.transitions.exercised.length} transitions exercised, ${c.transitions.never.length} never`);
    for (const t of c.transitions.never) out.push(`    never: ${t}`);
  }
  if (!r.violations.length) out.push('  no property violated');
  for (const v of r.violations) out.push('', formatCounterexample(v, scope));
  for (const f of r.costFindings) out.push('', `${f.finding} [${f.scheme}]: ${f.detail}`);
  return `${out.join('\n')}\n`;
}

export async function runExplore(opts: ExploreCliOptions): Promise<number> {
  const schemes = opts.scheme.map((s) => {
    if (!isSchemeName(s)) throw new UsageError(`unknown scheme '${s}'`);
    return s as SchemeName;
  });
  const scope = namedScope(opts.scope, opts.kernel);
  let report: ExploreReport;
  const readers = opts.readers;
  if (opts.mode === 'bfs') report = exploreBfs({ scope, schemes, readers, maxDepth: positive('depth', opts.depth), maxStates: positive('max-states', opts.maxStates) });
  else if (opts.mode === 'random') report = exploreRandom({ scope, schemes, readers, runs: positive('runs', opts.runs), maxOps: positive('depth', opts.depth) });
  else throw new UsageError(`unknown mode '${opts.mode}' (expected bfs or random)`);
  if (opts.out && report.violations.length) await writeCounterexampleTrace(opts.out, report.violations[0], scope);
  if (opts.json) process.stdout.write(`${JSON.stringify({ ...report, fingerprints: undefined }, null, 2)}\n`);
  else process.stdout.write(formatReport(report, scope));
  if (opts.out && !report.violations.length) process.stderr.write(`no violation: ${opts.out} not written\n`);
  return report.violations.length ? EXIT.violation : EXIT.ok;
}
