import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('trollcount doc', () => {
  it('the committed specs/semantics.md is what the machines and the model produce now', () => {
    const r = spawnSync('node', ['cli/trollcount.js', 'doc', '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('says so and exits 1 when the document is stale', () => {
    const r = spawnSync('node', ['cli/trollcount.js', 'doc', '--check', '--out', 'README.md'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/README\.md is stale/);
  });
});
