import { describe, expect, it } from 'vitest';
import { exploreBfs } from '../checker/explore/bfs.ts';
import { formatCounterexample } from '../checker/explore/counterexample.ts';
import { exploreRandom } from '../checker/explore/random.ts';
import { RULE } from '../checker/properties.ts';
import { defaultScope } from '../checker/scope.ts';

describe('random exploration (fast-check)', () => {
  it('agrees with the exhaustive search on a tiny scope: every state it reaches is in the complete BFS set, and most of them', () => {
    const scope = defaultScope({ pids: [1], windowPmds: 1, ops: ['FAULT', 'MUNMAP'], lengths: [2, 4] });
    const bfs = exploreBfs({ scope, maxDepth: 40, keepFingerprints: true });
    expect(bfs.complete).toBe(true);
    const rnd = exploreRandom({ scope, runs: 800, maxOps: 12, keepFingerprints: true });
    const outside = [...rnd.fingerprints!].filter((f) => !bfs.fingerprints!.has(f));
    console.log(`tiny scope: BFS ${bfs.distinctStates} reachable states (complete, depth ${bfs.depthReached}); random ${rnd.distinctStates} in ${rnd.runs} runs`);
    expect(outside).toEqual([]);
    expect(rnd.distinctStates).toBeGreaterThanOrEqual(0.85 * bfs.distinctStates);
    // the same rules are violated
    expect(new Set(rnd.violations.map((v) => `${v.property}|${v.scheme}`))).toEqual(new Set(bfs.violations.map((v) => `${v.property}|${v.scheme}`)));
  });

  it('finds the proposal hazard in the default scope unaided and shrinks it to two operations', () => {
    const scope = defaultScope();
    const r = exploreRandom({ scope, runs: 600, maxOps: 16, schemes: ['large-6.12', 'proposal'] });
    const cex = r.violations.find((v) => v.scheme === 'proposal' && v.property.startsWith('proposal:'))!;
    expect(cex).toBeDefined();
    expect(cex.ops).toHaveLength(2);
    expect(cex.ops[0]).toMatchObject({ type: 'FAULT', pid: 1, write: true });
    expect([RULE.belowTruth, RULE.zeroWhileMapped]).toContain(cex.property);
    console.log(`random: ${r.statesExplored} operations, ${r.distinctStates} distinct states, ${Math.round(r.statesPerSecond)} states/s\n${formatCounterexample(cex, scope)}`);
  });
});
