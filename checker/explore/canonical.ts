import type { Kernel } from '../../model/kernel.ts';
import type { PlainSnapshot } from '../../model/machines/saturating-mapcount.ts';
import type { MapcountScheme } from '../../model/schemes/scheme.ts';
import type { Folio, FolioKind, Mm, MmSystem, Pte } from '../../model/types.ts';
import { monitorKey, type ProposalMonitor } from '../properties.ts';

/**
 * Canonical state descriptions and 64-bit fingerprints for the exhaustive search.
 *
 * The description is a complete account of the state after renaming every *name* (pids, VMA
 * ids, folio pfns, anon_vma ids, swap slots, inodes created by the exploration) by first
 * appearance in a deterministic traversal. Values that are not names are kept as they are:
 * addresses, pgoff, page-cache indexes, the linear index of anon folios, the inodes the scope's
 * operations name. Two states with the same description are isomorphic, hence have isomorphic
 * futures: the reduction is sound however ties are broken (a poor tie-break only loses reduction).
 *
 * Pid symmetry. Operations of the scope are generated identically for every scope pid, and fork
 * takes the lowest free pid, in scope while one is free; so scope pids are interchangeable among
 * themselves and pids outside the scope (children forked when the scope's pids were all taken:
 * no operation can name them) among themselves. Processes are ordered by (class, a signature of
 * their own mm that uses no names, raw pid) and renamed P0.. / Q0..; the parent relation is
 * renamed with them. The symmetry is off when a scheme keeps pids in its own state
 * (owners-6.15's MM-id slots) — renaming the system but not the scheme would be unsound.
 *
 * Not described: derived data (sys.mappedBy, the reverse index of the page tables), id
 * allocators (sys.next: they only pick fresh names), cost counters (scheme costs, the saturating
 * machine's gets/puts/walks, the thp machine's atomics). Address symmetry is not used: the window
 * has edges and the setup maps fixed addresses, so translations do not map operations to operations.
 *
 * The description is a stream of numbers, never a string: each record starts with its tag and
 * has a fixed shape, lists carry their length, so the stream decodes one way (two states have the
 * same stream exactly when they have the same description). canonicalFingerprint hashes it as it
 * is written into one reused buffer; canonicalTokens returns it (for tests).
 */

export interface CanonicalOptions {
  /** Scope pids (interchangeable among themselves). */
  readonly scopePids: readonly number[];
  /** Scope inodes keep their ids (operations name them). */
  readonly scopeInodes: readonly number[];
  /** Rename pids (see above). Forced off with owners-6.15. */
  readonly pidSymmetry: boolean;
}

/** Pid symmetry is sound only when no scheme keeps pids in its own state. */
export function pidSymmetrySound(k: Kernel): boolean {
  for (const s of k.schemes) if (s.name === 'owners-6.15') return false;
  return true;
}

// record tags
const MM = 1, VMA = 2, PTE = 3, SWAP_PTE = 4, PMD = 5, INODE = 6, FOLIO = 7, ANON_VMA = 8, ANON_VMA_GONE = 9, SLOT = 10, SLOT_GONE = 11;
// value tags (scheme state)
const NIL = 20, NUM = 21, TRUE = 22, FALSE = 23, STR = 24, ARR = 25, MAP = 26, SET = 27, ACTOR = 28, ENGINE = 29, OBJ = 30, END = 31;
// name classes: scope pid, pid outside the scope, pid without symmetry, no such process; scope inode, inode made by the exploration, no inode
const P = 0, Q = 1, RAW_PID = 2, NO_PID = 3, SCOPE_INODE = 0, NEW_INODE = 1, NO_INODE = 2;
// folio names below the first index: the zero pages, and no anon_vma / slot
const ZERO = -1, HUGE_ZERO = -2, NONE = -1;

const KIND: Readonly<Record<FolioKind, number>> = { anon: 0, file: 1, shmem: 2, zero: 3, 'huge-zero': 4 };
const HUGEPAGE: Readonly<Record<string, number>> = { default: 0, hugepage: 1, nohugepage: 2 };

/** Fields that are cost counters, back references or names of the object, not state. */
const COST_KEYS = new Set(['costs', 'sys', 'atomics', 'gets', 'puts', 'walks', 'name', 'engineKind', 'instrumented']);

/** The description being written: numbers in one buffer reused from state to state. */
class Tokens {
  buf = new Float64Array(1024);
  n = 0;

  put(x: number): void {
    if (this.n === this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.n++] = x;
  }

  /** A string as its length and two hashes of its characters (remembered: keys and state names recur). */
  str(s: string): void {
    let t = STRINGS.get(s);
    if (t === undefined) {
      let a = 0x811c9dc5;
      let b = 0x2545f491;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
      }
      STRINGS.set(s, (t = [a, b]));
    }
    this.put(STR);
    this.put(s.length);
    this.put(t[0]);
    this.put(t[1]);
  }
}

const STRINGS = new Map<string, [number, number]>();

/** Any plain value, actor, engine, Map or array of a scheme's state (cost counters skipped). */
function value(v: unknown, out: Tokens): void {
  if (v === null || v === undefined) return out.put(NIL);
  if (typeof v === 'number') {
    out.put(NUM);
    return out.put(v);
  }
  if (typeof v === 'boolean') return out.put(v ? TRUE : FALSE);
  if (typeof v === 'string') return out.str(v);
  if (Array.isArray(v)) {
    out.put(ARR);
    out.put(v.length);
    for (const x of v) value(x, out);
    return;
  }
  if (v instanceof Map) {
    out.put(MAP);
    out.put(v.size);
    for (const [key, x] of v) {
      value(key, out);
      value(x, out);
    }
    return;
  }
  if (v instanceof Set) {
    out.put(SET);
    out.put(v.size);
    for (const x of v) value(x, out);
    return;
  }
  const o = v as Record<string, unknown>;
  if (typeof o.getSnapshot === 'function') {
    const s = (o.getSnapshot as () => { value: unknown; context: unknown })();
    out.put(ACTOR);
    value(s.value, out);
    return value(s.context, out);
  }
  if (typeof o.snapshot === 'function') {
    const s = (o.snapshot as () => PlainSnapshot)();
    out.put(ENGINE);
    out.str(s.value);
    return out.put(s.context.refs);
  }
  out.put(OBJ);
  // own enumerable fields in Object.keys() order (scheme records are plain objects or class
  // instances, whose methods are not enumerable), without allocating the list of keys
  for (const key in o) {
    const x = o[key];
    if (COST_KEYS.has(key) || typeof x === 'function') continue;
    out.str(key);
    value(x, out);
  }
  out.put(END);
}

/** The per-folio Maps of each scheme class: the fields its constructor sets that are Maps keyed by pfn. */
const FOLIO_MAPS = new Map<unknown, string[]>();

function folioMaps(s: MapcountScheme): string[] {
  let keys = FOLIO_MAPS.get(s.constructor);
  if (keys === undefined) {
    const fields = s as unknown as Record<string, unknown>;
    FOLIO_MAPS.set(s.constructor, (keys = Object.keys(fields).filter((key) => !COST_KEYS.has(key) && fields[key] instanceof Map)));
  }
  return keys;
}

/**
 * Names by first appearance: id -> index. Ids are small integers (allocated from sys.next), so the
 * table is an array stamped with the traversal it belongs to: nothing to clear between states.
 */
class Names {
  private stamp = new Int32Array(256);
  private index = new Int32Array(256);
  private traversal = 0;
  /** The ids named, in naming order: order[0..count) (the array is reused, never truncated: that costs a builtin call per state). */
  readonly order: number[] = [];
  count = 0;

  /** Forget every name (a new traversal). */
  reset(): void {
    this.traversal++;
    this.count = 0;
  }

  of(id: number): number {
    if (id >= this.stamp.length) this.grow(id);
    if (this.stamp[id] === this.traversal) return this.index[id];
    this.stamp[id] = this.traversal;
    this.index[id] = this.count;
    this.order[this.count++] = id;
    return this.index[id];
  }

  has(id: number): boolean {
    return id < this.stamp.length && this.stamp[id] === this.traversal;
  }

  private grow(id: number): void {
    let n = this.stamp.length;
    while (n <= id) n *= 2;
    const stamp = new Int32Array(n);
    stamp.set(this.stamp);
    const index = new Int32Array(n);
    index.set(this.index);
    this.stamp = stamp;
    this.index = index;
  }
}

/** The numbers ordering folios without names: kind, order, index (a missing folio: -1). */
function folioShape(sys: MmSystem, id: number, out: number[]): void {
  const f = sys.folios.get(id);
  if (f) out.push(KIND[f.kind], f.order, f.index);
  else out.push(-1, 0, 0);
}

/** Keys of a map of entries in increasing order (an insertion sort: the maps are small, mostly in order already). */
function sortedKeys(m: Map<number, unknown>): number[] {
  const keys: number[] = [];
  for (const key of m.keys()) {
    let i = keys.length;
    keys.push(key);
    for (; i > 0 && keys[i - 1] > key; i--) keys[i] = keys[i - 1];
    keys[i] = key;
  }
  return keys;
}

/** An mm's own signature without names: its VMAs, PTEs and PMDs with folio shapes. */
function mmSignature(sys: MmSystem, mm: Mm): number[] {
  const sig: number[] = [];
  for (const id of mm.vmas) {
    const v = sys.vmas.get(id)!;
    sig.push(VMA, v.start, v.end, +v.read | (+v.write << 1) | (+v.shared << 2), v.inode ?? -1, v.pgoff, HUGEPAGE[v.hugepage], +(v.anonVma !== null));
  }
  for (const vpn of sortedKeys(mm.ptes)) {
    const p = mm.ptes.get(vpn)!;
    if (p.kind === 'present') {
      sig.push(PTE, vpn);
      folioShape(sys, p.folio, sig);
      sig.push(p.page, +p.writable);
    } else sig.push(SWAP_PTE, vpn, +p.exclusive);
  }
  for (const i of sortedKeys(mm.pmds)) {
    const p = mm.pmds.get(i)!;
    sig.push(PMD, i);
    folioShape(sys, p.folio, sig);
    sig.push(+p.writable);
  }
  return sig;
}

const compareNumbers = (a: readonly number[], b: readonly number[]): number => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
};

/** A process in the canonical order: its class (in the scope or not), then its own signature, then its pid. */
interface OrderedMm {
  readonly mm: Mm;
  readonly inScope: boolean;
  readonly sig: readonly number[];
}

const NO_SIGNATURE: readonly number[] = [];

// comparators at module level: an arrow made per state costs an allocation (and tsx's name helper)
const byClassSignaturePid = (a: OrderedMm, b: OrderedMm): number => (a.inScope !== b.inScope ? (a.inScope ? -1 : 1) : compareNumbers(a.sig, b.sig) || a.mm.pid - b.mm.pid);
const byPid = (a: Mm, b: Mm): number => a.pid - b.pid;

/** A process's canonical name (class, index) as one number: pids and indexes are far below 2^20. */
const pidNameOf = (cls: number, index: number): number => cls * 0x100000 + index;
const pidClass = (name: number): number => Math.floor(name / 0x100000);
const pidIndex = (name: number): number => name % 0x100000;
/** No name: the pid is not a process of the state (a parent that exited). */
const NO_NAME = -1;

/**
 * The canonical names of the processes of one state, by pid: a table stamped with the traversal,
 * as Names (Map.prototype.clear, or a Map per state, cost more than the rest of a small state's
 * description).
 */
class PidNames {
  private stamp = new Int32Array(64);
  private name = new Float64Array(64);
  private traversal = 0;

  reset(): void {
    this.traversal++;
  }

  set(pid: number, name: number): void {
    if (pid >= this.stamp.length) this.grow(pid);
    this.stamp[pid] = this.traversal;
    this.name[pid] = name;
  }

  get(pid: number): number {
    return pid < this.stamp.length && this.stamp[pid] === this.traversal ? this.name[pid] : NO_NAME;
  }

  private grow(pid: number): void {
    let n = this.stamp.length;
    while (n <= pid) n *= 2;
    const stamp = new Int32Array(n);
    stamp.set(this.stamp);
    const name = new Float64Array(n);
    name.set(this.name);
    this.stamp = stamp;
    this.name = name;
  }
}

const MISSING_FOLIO = (id: number): Folio => ({ id, order: -1, kind: 'anon', inode: null, index: -1, anonVma: null, anonExclusive: [], written: [], inPageCache: false, swapSlot: null, pins: 0 });

/** The canonical traversal, writing to `out`; one instance serves every state (nothing is allocated per name). */
class Describer {
  private readonly vmaN = new Names();
  private readonly folioN = new Names();
  private readonly avN = new Names();
  private readonly slotN = new Names();
  private readonly inodeN = new Names();
  private sys!: MmSystem;
  private opts!: CanonicalOptions;
  /** The scope's inodes in increasing order (of `opts`). */
  private scopeInodes: number[] = [];
  /** Canonical process names of the state being described (pidNameOf), by pid. */
  private readonly pidName = new PidNames();

  constructor(private readonly out: Tokens) {}

  describe(k: Kernel, monitor: ProposalMonitor, opts: CanonicalOptions): void {
    const { sys } = k;
    const { out } = this;
    this.sys = sys;
    if (opts !== this.opts) this.scopeInodes = [...opts.scopeInodes].sort((a, b) => a - b);
    this.opts = opts;
    this.vmaN.reset();
    this.folioN.reset();
    this.avN.reset();
    this.slotN.reset();
    this.inodeN.reset();

    // processes in canonical order, each named (class, index)
    const { pidName } = this;
    pidName.reset();
    const mms: Mm[] = [];
    if (opts.pidSymmetry && pidSymmetrySound(k)) {
      const keyed: OrderedMm[] = [];
      for (const mm of sys.mms.values()) keyed.push({ mm, inScope: opts.scopePids.includes(mm.pid), sig: sys.mms.size > 1 ? mmSignature(sys, mm) : NO_SIGNATURE });
      keyed.sort(byClassSignaturePid);
      let p = 0;
      let q = 0;
      for (const { mm, inScope } of keyed) {
        pidName.set(mm.pid, inScope ? pidNameOf(P, p++) : pidNameOf(Q, q++));
        mms.push(mm);
      }
    } else {
      for (const mm of sys.mms.values()) mms.push(mm);
      mms.sort(byPid);
      for (const mm of mms) pidName.set(mm.pid, pidNameOf(RAW_PID, mm.pid));
    }

    for (const mm of mms) {
      const name = pidName.get(mm.pid);
      const parent = mm.parent !== null ? pidName.get(mm.parent) : NO_NAME;
      out.put(MM);
      out.put(pidClass(name));
      out.put(pidIndex(name));
      out.put(parent !== NO_NAME ? pidClass(parent) : NO_PID);
      out.put(parent !== NO_NAME ? pidIndex(parent) : 0);
      for (const id of mm.vmas) {
        const v = sys.vmas.get(id)!;
        out.put(VMA);
        out.put(this.vmaN.of(v.id));
        out.put(v.start);
        out.put(v.end);
        out.put(+v.read | (+v.write << 1) | (+v.shared << 2));
        this.inode(v.inode);
        out.put(v.pgoff);
        out.put(v.anonVma === null ? NONE : this.avN.of(v.anonVma));
        out.put(v.avc.length);
        for (const a of v.avc) out.put(this.avN.of(a));
        out.put(HUGEPAGE[v.hugepage]);
      }
      for (const vpn of sortedKeys(mm.ptes)) this.pte(vpn, mm.ptes.get(vpn)!);
      for (const i of sortedKeys(mm.pmds)) {
        const p = mm.pmds.get(i)!;
        out.put(PMD);
        out.put(i);
        out.put(this.folioName(p.folio));
        out.put(+p.writable);
      }
    }
    // files: scope inodes by id, then the ones named so far (more may be named below: loop to closure)
    for (const id of this.scopeInodes) if (sys.inodes.has(id)) this.describeInode(id);
    // folios in order of first appearance, then anything not reached (unmapped, uncached), by shape
    const rest: Folio[] = [];
    for (const f of sys.folios.values()) if (f.kind !== 'zero' && f.kind !== 'huge-zero' && !this.folioN.has(f.id)) rest.push(f);
    if (rest.length > 1) {
      const shapes = new Map<number, number[]>();
      for (const f of rest) {
        const shape: number[] = [];
        folioShape(sys, f.id, shape);
        shapes.set(f.id, shape);
      }
      rest.sort((a, b) => compareNumbers(shapes.get(a.id)!, shapes.get(b.id)!) || a.id - b.id);
    }
    for (const f of rest) this.folioName(f.id);
    const proposals: MapcountScheme[] = [];
    for (const x of k.schemes) if (x.name === 'proposal' || x.name === 'proposal+vma-hooks') proposals.push(x);
    // closure: describing one object may name others, described in their turn (in naming order)
    let folios = 0;
    let inodes = 0;
    let avs = 0;
    let slots = 0;
    for (let progress = true; progress; ) {
      progress = false;
      for (; folios < this.folioN.count; folios++, progress = true) {
        const id = this.folioN.order[folios];
        this.describeFolio(k, monitor, proposals, sys.folios.get(id) ?? MISSING_FOLIO(id));
      }
      for (; inodes < this.inodeN.count; inodes++) {
        const id = this.inodeN.order[inodes];
        if (!sys.inodes.has(id)) continue;
        progress = true;
        this.describeInode(id);
      }
      for (; avs < this.avN.count; avs++, progress = true) {
        const id = this.avN.order[avs];
        const av = sys.anonVmas.get(id);
        if (!av) {
          out.put(ANON_VMA_GONE);
          out.put(this.avN.of(id));
          continue;
        }
        out.put(ANON_VMA);
        out.put(this.avN.of(id));
        out.put(this.avN.of(av.root));
        out.put(av.parent === null ? NONE : this.avN.of(av.parent));
        out.put(av.vmas.length);
        for (const v of av.vmas) out.put(this.vmaN.of(v));
      }
      for (; slots < this.slotN.count; slots++, progress = true) {
        const id = this.slotN.order[slots];
        const slot = sys.swap.get(id);
        if (!slot) {
          out.put(SLOT_GONE);
          out.put(this.slotN.of(id));
          continue;
        }
        out.put(SLOT);
        out.put(this.slotN.of(id));
        out.put(slot.count);
        out.put(+slot.written);
      }
    }
    // inodes created by the exploration and not reached (e.g. an unmapped MAP_SHARED|MAP_ANONYMOUS file): unreachable, skipped
  }

  private inode(id: number | null): void {
    const { out } = this;
    if (id === null) {
      out.put(NO_INODE);
      out.put(0);
    } else if (this.opts.scopeInodes.includes(id)) {
      out.put(SCOPE_INODE);
      out.put(id);
    } else {
      out.put(NEW_INODE);
      out.put(this.inodeN.of(id));
    }
  }

  private folioName(id: number): number {
    const f = this.sys.folios.get(id);
    if (f && f.kind === 'zero') return ZERO;
    if (f && f.kind === 'huge-zero') return HUGE_ZERO;
    return this.folioN.of(id);
  }

  private pte(vpn: number, p: Pte): void {
    const { out } = this;
    if (p.kind === 'present') {
      out.put(PTE);
      out.put(vpn);
      out.put(this.folioName(p.folio));
      out.put(p.page);
      out.put(+p.writable);
    } else {
      out.put(SWAP_PTE);
      out.put(vpn);
      out.put(this.slotN.of(p.slot));
      out.put(+p.exclusive);
    }
  }

  private describeInode(id: number): void {
    const { out } = this;
    const ino = this.sys.inodes.get(id)!;
    out.put(INODE);
    this.inode(id);
    out.put(+ino.shmem);
    out.put(ino.size);
    out.put(ino.cache.size);
    for (const idx of sortedKeys(ino.cache)) {
      out.put(idx);
      out.put(this.folioName(ino.cache.get(idx)!));
    }
    out.put(ino.iMmap.length);
    for (const v of ino.iMmap) out.put(this.vmaN.of(v));
  }

  private describeFolio(k: Kernel, monitor: ProposalMonitor, proposals: readonly MapcountScheme[], f: Folio): void {
    const { out } = this;
    out.put(FOLIO);
    out.put(this.folioName(f.id));
    out.put(KIND[f.kind]);
    out.put(f.order);
    this.inode(f.inode);
    out.put(f.index);
    out.put(f.anonVma === null ? NONE : this.avN.of(f.anonVma));
    out.put(f.anonExclusive.length);
    for (const x of f.anonExclusive) out.put(+x);
    out.put(f.written.length);
    for (const x of f.written) out.put(+x);
    out.put(+f.inPageCache);
    out.put(f.swapSlot === null ? NONE : this.slotN.of(f.swapSlot));
    out.put(f.pins);
    for (const s of proposals) out.put(+(monitor.folios.get(monitorKey(s.name, f.id))?.manyAllowed ?? false));
    for (const s of k.schemes) {
      const fields = s as unknown as Record<string, Map<number, unknown>>;
      for (const key of folioMaps(s)) value(fields[key].get(f.id), out);
    }
  }
}

const tokens = new Tokens();
const describer = new Describer(tokens);

/** The canonical description of the state, as its numbers. */
export function canonicalTokens(k: Kernel, monitor: ProposalMonitor, opts: CanonicalOptions): number[] {
  tokens.n = 0;
  describer.describe(k, monitor, opts);
  return Array.from(tokens.buf.subarray(0, tokens.n));
}

/** The 64-bit fingerprint of the state's canonical description, as two 32-bit words. */
export function canonicalFingerprint(k: Kernel, monitor: ProposalMonitor, opts: CanonicalOptions): [number, number] {
  tokens.n = 0;
  describer.describe(k, monitor, opts);
  return fingerprint(tokens.buf.subarray(0, tokens.n));
}

const WIDE = -0x80000000;
const wide = new Float64Array(1);
const wideWords = new Int32Array(wide.buffer);

/**
 * Two independent 32-bit hashes (murmur3's mixing, two seeds) of a description. A number that is
 * not a 32-bit integer is hashed as a marker and its 64 bits. The lanes are locals of one loop
 * (module-level lanes cost a context load and store per word: a fifth of a fingerprint's time).
 */
export function fingerprint(description: ArrayLike<number>): [number, number] {
  let a = 0xdeadbeef | 0;
  let b = 0x41c6ce57;
  const n = description.length;
  // each number is one word, or three (WIDE and its 64 bits); the length closes the stream
  for (let i = 0; i <= n; i++) {
    const x = i < n ? description[i] : n;
    let words = 1;
    if ((x | 0) !== x || x === WIDE) {
      wide[0] = x;
      words = 3;
    }
    for (let k = 0; k < words; k++) {
      const w = words === 1 ? x : k === 0 ? WIDE : wideWords[k - 1];
      let u = Math.imul(w, 0xcc9e2d51);
      u = Math.imul((u << 15) | (u >>> 17), 0x1b873593);
      a ^= u;
      a = (Math.imul((a << 13) | (a >>> 19), 5) + 0xe6546b64) | 0;
      let v = Math.imul(w, 0x85ebca6b);
      v = Math.imul((v << 16) | (v >>> 16), 0xc2b2ae35);
      b ^= v;
      b = (Math.imul((b << 15) | (b >>> 17), 5) + 0x561ccd1b) | 0;
    }
  }
  return finish(a, b);
}

const finish = (a: number, b: number): [number, number] => {
  a = Math.imul(a ^ (a >>> 16), 2246822507) ^ Math.imul(b ^ (b >>> 13), 3266489909);
  b = Math.imul(b ^ (b >>> 16), 2246822507) ^ Math.imul(a ^ (a >>> 13), 3266489909);
  return [a >>> 0, b >>> 0];
};

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
