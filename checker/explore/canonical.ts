import type { Kernel } from '../../model/kernel.ts';
import type { PlainSnapshot } from '../../model/machines/saturating-mapcount.ts';
import type { MapcountScheme } from '../../model/schemes/scheme.ts';
import type { Folio, Mm, MmSystem, Pte, Vma } from '../../model/types.ts';
import type { ProposalMonitor } from '../properties.ts';

/**
 * Canonical state strings and 64-bit fingerprints for the exhaustive search.
 *
 * The string is a complete description of the state after renaming every *name* (pids, VMA ids,
 * folio pfns, anon_vma ids, swap slots, inodes created by the exploration) by first appearance in
 * a deterministic traversal. Values that are not names are kept as they are: addresses, pgoff,
 * page-cache indexes, the linear index of anon folios, the inodes the scope's operations name.
 * Two states with the same string are isomorphic, hence have isomorphic futures: the reduction
 * is sound however ties are broken (a poor tie-break only loses reduction).
 *
 * Pid symmetry. Operations of the scope are generated identically for every scope pid, and fork
 * takes the lowest free pid, in scope while one is free; so scope pids are interchangeable among
 * themselves and pids outside the scope (children forked when the scope's pids were all taken:
 * no operation can name them) among themselves. Processes are ordered by (class, a signature of
 * their own mm that uses no names, raw pid) and renamed P0.. / Q0..; the parent relation is
 * renamed with them. The symmetry is off when a scheme keeps pids in its own state
 * (owners-6.15's MM-id slots) — renaming the system but not the scheme would be unsound.
 *
 * Not hashed: derived data (sys.mappedBy, the reverse index of the page tables), id allocators
 * (sys.next: they only pick fresh names), cost counters (scheme costs, the saturating machine's
 * gets/puts/walks, the thp machine's atomics). Address symmetry is not used: the window has
 * edges and the setup maps fixed addresses, so translations do not map operations to operations.
 */

export interface CanonicalOptions {
  /** Scope pids (interchangeable among themselves). */
  readonly scopePids: readonly number[];
  /** Scope inodes keep their ids (operations name them). */
  readonly scopeInodes: readonly number[];
  /** Rename pids (see above). Forced off with owners-6.15. */
  readonly pidSymmetry: boolean;
}

const COST_KEYS = new Set(['costs', 'sys', 'atomics', 'gets', 'puts', 'walks', 'name', 'engineKind', 'instrumented']);

/** Any plain value, actor, engine, Map or array as a stable string (cost counters skipped). */
function ser(v: unknown): string {
  if (v === null || v === undefined) return '_';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return String(v);
  if (Array.isArray(v)) return `[${v.map(ser).join(',')}]`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${ser(k)}:${ser(x)}`).join(',')}}`;
  if (v instanceof Set) return `<${[...v].map(ser).join(',')}>`;
  const o = v as Record<string, unknown>;
  if (typeof o.getSnapshot === 'function') {
    const s = (o.getSnapshot as () => { value: unknown; context: unknown })();
    return `@${ser(s.value)}${ser(s.context)}`;
  }
  if (typeof o.snapshot === 'function') {
    const s = (o.snapshot as () => PlainSnapshot)();
    return `@${s.value}r${s.context.refs}`;
  }
  if (typeof v === 'object') {
    return `{${Object.keys(o)
      .filter((k) => !COST_KEYS.has(k) && typeof o[k] !== 'function')
      .map((k) => `${k}=${ser(o[k])}`)
      .join(',')}}`;
  }
  return '?';
}

/** A scheme's own state for one folio: the value of every per-folio Map field it keeps. */
function schemeFolioState(s: MapcountScheme, pfn: number): string {
  const fields = s as unknown as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(fields)) {
    if (COST_KEYS.has(key)) continue;
    const f = fields[key];
    if (f instanceof Map) parts.push(ser(f.get(pfn)));
  }
  return parts.join('/');
}

/** Pid symmetry is sound only when no scheme keeps pids in its own state. */
export const pidSymmetrySound = (k: Kernel): boolean => !k.schemes.some((s) => s.name === 'owners-6.15');

class Names {
  private readonly map = new Map<number, string>();
  readonly order: number[] = [];
  constructor(private readonly prefix: string) {}
  of(id: number): string {
    let n = this.map.get(id);
    if (n === undefined) {
      n = `${this.prefix}${this.map.size}`;
      this.map.set(id, n);
      this.order.push(id);
    }
    return n;
  }
  has(id: number): boolean {
    return this.map.has(id);
  }
}

/** A description of a folio that uses no names (for ordering processes). */
const folioShape = (sys: MmSystem, id: number): string => {
  const f = sys.folios.get(id);
  return f ? `${f.kind[0]}${f.order}.${f.index}` : 'x';
};

/** An mm's own signature without names: VMAs, PTEs and PMDs with folio shapes. */
function mmSignature(sys: MmSystem, mm: Mm): string {
  const parts: string[] = [];
  for (const id of mm.vmas) {
    const v = sys.vmas.get(id)!;
    parts.push(`${v.start}-${v.end}${v.read ? 'r' : '-'}${v.write ? 'w' : '-'}${v.shared ? 's' : 'p'}${v.inode ?? ''}.${v.pgoff}${v.hugepage[0]}${v.anonVma === null ? '' : 'a'}`);
  }
  const ptes = [...mm.ptes].sort((a, b) => a[0] - b[0]);
  for (const [vpn, p] of ptes) parts.push(p.kind === 'present' ? `${vpn}:${folioShape(sys, p.folio)}+${p.page}${p.writable ? 'w' : ''}` : `${vpn}:s${p.exclusive ? 'x' : ''}`);
  for (const [i, p] of [...mm.pmds].sort((a, b) => a[0] - b[0])) parts.push(`H${i}:${folioShape(sys, p.folio)}${p.writable ? 'w' : ''}`);
  return parts.join(' ');
}

export function canonicalString(k: Kernel, monitor: ProposalMonitor, opts: CanonicalOptions): string {
  const out: string[] = [];
  canonicalLines(k, monitor, opts, (line) => void out.push(line));
  return out.join('\n');
}

/**
 * fingerprint(canonicalString(k, monitor, opts)), without building the joined string: the lines
 * are hashed as they are made, with the same two lanes and the same '\n' between lines, so the
 * result is bit for bit the same (test/explore-parallel.test.ts).
 */
export function canonicalFingerprint(k: Kernel, monitor: ProposalMonitor, opts: CanonicalOptions): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  let first = true;
  canonicalLines(k, monitor, opts, (line) => {
    if (!first) {
      h1 = Math.imul(h1 ^ 10, 2654435761);
      h2 = Math.imul(h2 ^ 10, 1597334677);
    }
    first = false;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
  });
  return finish(h1, h2);
}

const finish = (h1: number, h2: number): [number, number] => {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
};

/** The canonical traversal: each line of the canonical string, in order, to `emit`. */
function canonicalLines(k: Kernel, monitor: ProposalMonitor, opts: CanonicalOptions, emit: (line: string) => void): void {
  const { sys } = k;
  const scopePids = new Set(opts.scopePids);
  const scopeInodes = new Set(opts.scopeInodes);
  const symmetric = opts.pidSymmetry && pidSymmetrySound(k);

  // processes in canonical order and their names
  const mms = [...sys.mms.values()];
  const pidName = new Map<number, string>();
  if (symmetric) {
    const keyed = mms.map((mm) => ({ mm, inScope: scopePids.has(mm.pid), sig: mmSignature(sys, mm) }));
    keyed.sort((a, b) => (a.inScope !== b.inScope ? (a.inScope ? -1 : 1) : a.sig < b.sig ? -1 : a.sig > b.sig ? 1 : a.mm.pid - b.mm.pid));
    let p = 0;
    let q = 0;
    for (const { mm, inScope } of keyed) pidName.set(mm.pid, inScope ? `P${p++}` : `Q${q++}`);
    mms.splice(0, mms.length, ...keyed.map((x) => x.mm));
  } else {
    mms.sort((a, b) => a.pid - b.pid);
    for (const mm of mms) pidName.set(mm.pid, `p${mm.pid}`);
  }

  const vmaN = new Names('V');
  const folioN = new Names('F');
  const avN = new Names('A');
  const slotN = new Names('S');
  const inodeN = new Names('I');
  const inodeName = (id: number | null): string => (id === null ? '_' : scopeInodes.has(id) ? `i${id}` : inodeN.of(id));
  const folioName = (id: number): string => {
    const f = sys.folios.get(id);
    if (f && f.kind === 'zero') return 'Z';
    if (f && f.kind === 'huge-zero') return 'HZ';
    return folioN.of(id);
  };
  const pte = (p: Pte): string => (p.kind === 'present' ? `${folioName(p.folio)}+${p.page}${p.writable ? 'w' : ''}` : `${slotN.of(p.slot)}${p.exclusive ? 'x' : ''}`);
  const vmaStr = (v: Vma): string =>
    `${vmaN.of(v.id)}[${v.start}-${v.end}${v.read ? 'r' : '-'}${v.write ? 'w' : '-'}${v.shared ? 's' : 'p'} ${inodeName(v.inode)}.${v.pgoff} ${v.anonVma === null ? '_' : avN.of(v.anonVma)}(${v.avc.map((a) => avN.of(a)).join(',')})${v.hugepage[0]}]`;

  const out = { push: emit };
  for (const mm of mms) {
    const parent = mm.parent !== null && pidName.has(mm.parent) ? pidName.get(mm.parent)! : '-';
    out.push(`${pidName.get(mm.pid)}<${parent}`);
    for (const id of mm.vmas) out.push(vmaStr(sys.vmas.get(id)!));
    for (const [vpn, p] of [...mm.ptes].sort((a, b) => a[0] - b[0])) out.push(`${vpn}=${pte(p)}`);
    for (const [i, p] of [...mm.pmds].sort((a, b) => a[0] - b[0])) out.push(`H${i}=${folioName(p.folio)}${p.writable ? 'w' : ''}`);
  }
  // files: scope inodes by id, then the ones named so far (more may be named below: loop to closure)
  const inodeIds = [...sys.inodes.keys()].filter((id) => scopeInodes.has(id)).sort((a, b) => a - b);
  const describeInode = (id: number): void => {
    const ino = sys.inodes.get(id)!;
    const cache = [...ino.cache].sort((a, b) => a[0] - b[0]).map(([idx, pfn]) => `${idx}:${folioName(pfn)}`);
    out.push(`${inodeName(id)}{${ino.shmem ? 'shmem' : 'file'} ${ino.size} [${cache.join(' ')}] (${ino.iMmap.map((v) => vmaN.of(v)).join(',')})}`);
  };
  for (const id of inodeIds) describeInode(id);
  // folios in order of first appearance, then anything not reached (unmapped, uncached), by shape
  const describeFolio = (f: Folio): void => {
    const monitorBits = k.schemes
      .filter((s) => s.name === 'proposal' || s.name === 'proposal+vma-hooks')
      .map((s) => (monitor.folios.get(`${s.name}:${f.id}`)?.manyAllowed ? 'M' : '.'))
      .join('');
    out.push(
      `${folioName(f.id)}{${f.kind} o${f.order} ${inodeName(f.inode)}.${f.index} ${f.anonVma === null ? '_' : avN.of(f.anonVma)} x${f.anonExclusive.map(Number).join('')} w${f.written.map(Number).join('')} ${f.inPageCache ? 'pc' : ''} ${f.swapSlot === null ? '' : slotN.of(f.swapSlot)} p${f.pins} ${monitorBits}|${k.schemes.map((s) => schemeFolioState(s, f.id)).join('|')}}`,
    );
  };
  const rest = [...sys.folios.values()].filter((f) => f.kind !== 'zero' && f.kind !== 'huge-zero' && !folioN.has(f.id));
  rest.sort((a, b) => {
    const sa = folioShape(sys, a.id);
    const sb = folioShape(sys, b.id);
    return sa < sb ? -1 : sa > sb ? 1 : a.id - b.id;
  });
  for (const f of rest) folioName(f.id);
  const described = new Set<number>();
  const describedInodes = new Set<number>(inodeIds);
  const describedAv = new Set<number>();
  const describedSlots = new Set<number>();
  // closure: describing one object may name others
  for (let progress = true; progress; ) {
    progress = false;
    for (const id of folioN.order) {
      if (described.has(id)) continue;
      described.add(id);
      progress = true;
      describeFolio(sys.folios.get(id) ?? ({ id, kind: 'anon', order: -1, inode: null, index: -1, anonVma: null, anonExclusive: [], written: [], inPageCache: false, swapSlot: null, pins: 0 } as Folio));
    }
    for (const id of inodeN.order) {
      if (describedInodes.has(id) || !sys.inodes.has(id)) continue;
      describedInodes.add(id);
      progress = true;
      describeInode(id);
    }
    for (const id of avN.order) {
      if (describedAv.has(id)) continue;
      describedAv.add(id);
      progress = true;
      const av = sys.anonVmas.get(id);
      out.push(av ? `${avN.of(id)}{${avN.of(av.root)} ${av.parent === null ? '_' : avN.of(av.parent)} (${av.vmas.map((v) => vmaN.of(v)).join(',')})}` : `${avN.of(id)}{gone}`);
    }
    for (const id of slotN.order) {
      if (describedSlots.has(id)) continue;
      describedSlots.add(id);
      progress = true;
      const s = sys.swap.get(id);
      out.push(`${slotN.of(id)}{${s ? `${s.count}${s.written ? 'w' : ''}` : 'gone'}}`);
    }
  }
  // inodes created by the exploration and not reached (e.g. an unmapped MAP_SHARED|MAP_ANONYMOUS file): unreachable, skipped
}

/** Two independent 32-bit hashes of the string (a 64-bit fingerprint). */
export function fingerprint(s: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2);
}

/**
 * A set of 64-bit fingerprints: open addressing (linear probing) over one Uint32Array, two words
 * a slot. The capacity is not a power of two: when the table is 4/5 full it grows to twice the
 * states it will hold (8/5 of its size), so the
 * load stays between 1/2 and 4/5 and a state costs between 10 and 16 bytes (once past the
 * initial capacity). The slot is chosen by multiply-high of a mixed 32-bit word (no modulo).
 */
export class FingerprintSet {
  private table: Uint32Array;
  private cap: number;
  private limit: number;
  size = 0;

  constructor(capacity = 16) {
    this.cap = Math.max(4, Math.ceil(capacity));
    this.table = new Uint32Array(this.cap * 2);
    this.limit = Math.floor((this.cap * 4) / 5);
  }

  get bytes(): number {
    return this.table.byteLength;
  }

  /** Adds the fingerprint; false if it was there. */
  add(a: number, b: number): boolean {
    if (a === 0 && b === 0) b = 1;
    if (this.size + 1 > this.limit) {
      if (this.has(a, b)) return false;
      this.grow();
    }
    return this.insert(a >>> 0, b >>> 0);
  }

  /** Is the fingerprint in the set? */
  has(a: number, b: number): boolean {
    a >>>= 0;
    b >>>= 0;
    if (a === 0 && b === 0) b = 1;
    const t = this.table;
    let i = this.slot(a, b);
    for (;;) {
      const x = t[2 * i];
      const y = t[2 * i + 1];
      if (x === 0 && y === 0) return false;
      if (x === a && y === b) return true;
      if (++i === this.cap) i = 0;
    }
  }

  private slot(a: number, b: number): number {
    return Math.floor((((a ^ Math.imul(b, 0x9e3779b1)) >>> 0) * this.cap) / 4294967296);
  }

  private insert(a: number, b: number): boolean {
    const t = this.table;
    let i = this.slot(a, b);
    for (;;) {
      const x = t[2 * i];
      const y = t[2 * i + 1];
      if (x === 0 && y === 0) {
        t[2 * i] = a;
        t[2 * i + 1] = b;
        this.size++;
        return true;
      }
      if (x === a && y === b) return false;
      if (++i === this.cap) i = 0;
    }
  }

  private grow(): void {
    const old = this.table;
    // twice the size after the insert that triggered the growth: exactly half full, 16 bytes a state
    this.cap = 2 * (this.size + 1);
    this.limit = Math.floor((this.cap * 4) / 5);
    this.table = new Uint32Array(this.cap * 2);
    this.size = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0 || old[i + 1] !== 0) this.insert(old[i], old[i + 1]);
  }
}
