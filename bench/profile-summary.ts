import { readFileSync } from 'node:fs';

/**
 * Summarize a V8 .cpuprofile (node --cpu-prof): self time per function, the top N, with file:line.
 * Usage: node --import tsx bench/profile-summary.ts CPU.*.cpuprofile [N]
 */
interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

export function summarize(path: string, top = 25): string {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i])!;
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const url = n.callFrame.url.replace(/^.*\/work\/main\//, '').replace(/^file:\/\//, '');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return rows.map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`).join('\n');
}

if (process.argv[1] && process.argv[1].endsWith('profile-summary.ts')) {
  for (const f of process.argv.slice(2).filter((a) => a.endsWith('.cpuprofile'))) console.log(`${f}\n${summarize(f, Number(process.argv.at(-1)) || 25)}\n`);
}
