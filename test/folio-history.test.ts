import { describe, expect, it } from 'vitest';
import { FolioHistory } from '../checker/folio-history.ts';

/** What a divergence report lists as a folio's last events, including those of the THP it was split from. */
describe('FolioHistory', () => {
  const lines = (h: FolioHistory): number[] => h.entries().map((e) => e.line);

  it('keeps the last 8 events, oldest first', () => {
    const h = new FolioHistory();
    expect(h.entries()).toEqual([]);
    for (let line = 1; line <= 11; line++) h.push(line, `fn${line}`);
    expect(lines(h)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect(h.entries()[0]).toEqual({ line: 4, fn: 'fn4' });
  });

  it('a folio split from a THP starts with the THP history, and its own events push the oldest out', () => {
    const thp = new FolioHistory();
    for (let line = 1; line <= 6; line++) thp.push(line, 'thp');
    const small = new FolioHistory(thp);
    const untouched = new FolioHistory(thp);
    expect(lines(small)).toEqual([1, 2, 3, 4, 5, 6]);
    small.push(20, 'own');
    small.push(21, 'own');
    small.push(22, 'own');
    expect(lines(small)).toEqual([2, 3, 4, 5, 6, 20, 21, 22]);
    // the history is shared, not copied into each sibling
    expect(lines(untouched)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
