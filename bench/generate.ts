import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { TraceEvent, TraceHeader } from '../traces/events.ts';
import { FTRACE_HEADER, renderFtraceLine } from '../traces/ftrace/render.ts';
import { X86_64, pmdSize } from '../model/geometry.ts';
import type { Kernel, ProbeHit, ProbeSink } from '../model/kernel.ts';
import { startMmSystem } from '../model/machines/mm-system.ts';
import { baseRefs, createSystem } from '../model/mm.ts';
import type { MmOperation } from '../model/operations.ts';
import { Large612 } from '../model/schemes/large-6.12.ts';
import type { MapcountScheme, RmapCall, VmaChange } from '../model/schemes/scheme.ts';
import type { Folio, Mm, MmSystem, Vma } from '../model/types.ts';

/**
 * Synthetic 6.12 kernel traces, recorded from the emulated MM: a deterministic (seeded) workload of
 * many processes (exec, mmap of anon, THP, private file and shared tmpfs memory, faults, fork,
 * COW, partial munmap, exit) runs through the MM system machine, and a recorder placed before a
 * Large612 scheme writes what the kprobes of traces/ftrace/probes-6.12.json would have recorded:
 * each rmap call with the raw counters *before* the call (read from Large612.fields()), and the
 * hidden-step hints (copy_page_range, copy_huge_pmd, __split_huge_pmd, zap_huge_pmd,
 * do_huge_pmd_anonymous_page and its return) from the model's probe sink (Kernel.probes). The
 * events have the exact shape the ftrace converter gives real captures; `trollcount check` of a
 * generated trace must agree (it cross-validates the replay checker against the emulated MM).
 *
 * The workload runs in epochs: every process of an epoch exits before the next one starts on a
 * fresh emulated machine, so physical pages (pfns) and vm_area_struct pointers are reused like
 * slab and buddy reuse them, and the live state stays bounded however long the trace is.
 */

// ---- kernel pointers --------------------------------------------------------------------------

/** struct page of a pfn: vmemmap (nokaslr) + pfn * sizeof(struct page). */
export const pagePtr = (pfn: number): string => '0xffffea' + (pfn * 64).toString(16).padStart(10, '0');
const vmaPtr = (id: number): string => '0xffff88' + (0x8100000000 + id * 0xc0).toString(16);
const hex = (n: number): string => '0x' + n.toString(16);
/** An x86-64 huge PMD value: pfn << 12 | PSE | present | ... (0x8e7 writable, 0x8a5 write-protected). */
const pmdVal = (pfn: number, writable: boolean): string => hex(pfn * 4096 + (writable ? 0x8e7 : 0x8a5));

/** 6.12 folio->flags as printed: PG_head (bit 6) on large folios, PG_uptodate, node/zone bits. */
const FLAGS_SMALL = '0x17ffffc0000008';
const FLAGS_LARGE = '0x17ffffc0000048';
const FLAGS1 = '0x17ffffc0000209';

interface Task {
  pid: number;
  comm: string;
}

/** What persists across epochs: the output, the clock, the mm pointer serials. */
class Recording {
  us = 1_000_000;
  private mmSerial = 0;
  private readonly mmPtrs = new WeakMap<Mm, string>();
  task: Task = { pid: 1, comm: 'init' };
  constructor(readonly emit: (e: TraceEvent) => void) {}

  mmPtr(mm: Mm): string {
    let p = this.mmPtrs.get(mm);
    if (!p) {
      p = '0xffff88' + (0x8000000000 + ++this.mmSerial * 0x400).toString(16);
      this.mmPtrs.set(mm, p);
    }
    return p;
  }

  /** ts, cpu, pid, tgid, comm in the converter's key order. */
  rec(): { ts: number; cpu: number; pid: number; tgid: number; comm: string } {
    this.us += 1 + (this.us % 3);
    return { ts: this.us / 1e6, cpu: this.task.pid & 1, pid: this.task.pid, tgid: this.task.pid, comm: this.task.comm };
  }

  kcall(fn: string, args: Record<string, string | number>, ret = false): void {
    this.emit(ret ? { ev: 'kcall', fn, ret: true, args, ...this.rec() } : { ev: 'kcall', fn, args, ...this.rec() });
  }
}

/**
 * The recorder: a MapcountScheme in front of a private Large612, and the kernel's probe sink. It
 * reports each rmap call as the 6.12 kprobe prints it, with the counters before the call, then
 * applies the call to its Large612. __split_huge_pmd_locked()'s anon split is reported as the
 * kernel makes it: folio_add_anon_rmap_ptes(HPAGE_PMD_NR), then folio_remove_rmap_pmd().
 */
export class ProbeRecorder implements MapcountScheme, ProbeSink {
  readonly name = 'large-6.12' as const;
  readonly inner: Large612;

  constructor(
    readonly sys: MmSystem,
    private readonly out: Recording,
  ) {
    this.inner = new Large612(sys);
  }

  get costs() {
    return this.inner.costs;
  }

  private mm(vma: Vma): string {
    return this.out.mmPtr(this.sys.mms.get(vma.mm)!);
  }

  private addrOf(vma: Vma, folio: Folio, page: number): string {
    return hex(vma.start + (folio.index + page - vma.pgoff) * this.sys.config.geometry.pageSize);
  }

  /** The counters a 6.12 probe reads, before the call; `extraRefs` taken by the caller first. */
  private counters(folio: Folio, page: number, extraRefs: number, withPage: boolean): Record<string, string | number> {
    const f = this.inner.fields(folio, page);
    const large = folio.order > 0;
    const out: Record<string, string | number> = {};
    if (withPage) out.pmapcount = f.mapcount;
    out.fflags = large ? FLAGS_LARGE : FLAGS_SMALL;
    out.fmapcount = page === 0 ? f.mapcount : this.inner.fields(folio, 0).mapcount;
    out.refcount = baseRefs(folio) + this.inner.mappingRefs(folio) + extraRefs;
    out.flags1 = large ? FLAGS1 : FLAGS_SMALL;
    // a small folio has no first tail page: the probe reads the next struct page's words
    out.large_mapcount = large ? f.largeMapcount! : 0;
    out.entire_mapcount = large ? f.entireMapcount! : 0;
    out.nr_pages_mapped = large ? f.nrPagesMapped! : 0;
    out.nr_pages = large ? 1 << folio.order : 0;
    return out;
  }

  private addAnonPtes(folio: Folio, page: number, nr: number, vma: Vma, exclusive: boolean, extraRefs: number): void {
    const c = this.counters(folio, page, extraRefs, true);
    this.out.kcall('folio_add_anon_rmap_ptes', {
      folio: pagePtr(folio.id), page: pagePtr(folio.id + page), nr, vma: vmaPtr(vma.id), addr: this.addrOf(vma, folio, page), flags: exclusive ? 1 : 0, mm: this.mm(vma), ...c,
    });
  }

  rmap(call: RmapCall): void {
    const { folio, vma } = call;
    if (folio.kind === 'zero' || folio.kind === 'huge-zero') return this.inner.rmap(call);
    const pmd = call.level === 'pmd';
    const entries = pmd ? 1 : call.nr;
    const anon = folio.kind === 'anon';
    switch (call.op) {
      case 'add': {
        if (call.newAnon) {
          const { pmapcount: _p, ...c } = this.counters(folio, 0, baseRefs(folio) === 0 ? 1 : 0, true);
          void _p;
          this.out.kcall('folio_add_new_anon_rmap', { folio: pagePtr(folio.id), vma: vmaPtr(vma.id), addr: this.addrOf(vma, folio, 0), flags: 1, mm: this.mm(vma), ...c });
        } else if (anon && !pmd) {
          this.addAnonPtes(folio, call.page, call.nr, vma, call.exclusive, entries);
        } else if (anon) {
          const { pmapcount: _p, ...c } = this.counters(folio, 0, entries, false);
          void _p;
          this.out.kcall('folio_add_anon_rmap_pmd', { folio: pagePtr(folio.id), page: pagePtr(folio.id), vma: vmaPtr(vma.id), addr: this.addrOf(vma, folio, 0), flags: call.exclusive ? 1 : 0, mm: this.mm(vma), ...c });
        } else if (!pmd) {
          this.out.kcall('folio_add_file_rmap_ptes', { folio: pagePtr(folio.id), page: pagePtr(folio.id + call.page), nr: call.nr, vma: vmaPtr(vma.id), mm: this.mm(vma), ...this.counters(folio, call.page, entries, true) });
        } else {
          this.out.kcall('folio_add_file_rmap_pmd', { folio: pagePtr(folio.id), page: pagePtr(folio.id), vma: vmaPtr(vma.id), mm: this.mm(vma), ...this.counters(folio, 0, entries, false) });
        }
        return this.inner.rmap(call);
      }
      case 'dup':
        // folio_try_dup_anon_rmap_*() / folio_dup_file_rmap_*() are inline in copy_present_ptes(): no probe fires
        return this.inner.rmap(call);
      case 'remove':
        if (pmd) this.out.kcall('folio_remove_rmap_pmd', { folio: pagePtr(folio.id), page: pagePtr(folio.id), vma: vmaPtr(vma.id), mm: this.mm(vma), ...this.counters(folio, 0, 0, false) });
        else this.out.kcall('folio_remove_rmap_ptes', { folio: pagePtr(folio.id), page: pagePtr(folio.id + call.page), nr: call.nr, vma: vmaPtr(vma.id), mm: this.mm(vma), ...this.counters(folio, call.page, 0, true) });
        return this.inner.rmap(call);
      case 'split-pmd': {
        // __split_huge_pmd_locked(): folio_ref_add(HPAGE_PMD_NR - 1), folio_add_anon_rmap_ptes(), folio_remove_rmap_pmd()
        const nr = 1 << folio.order;
        const exclusive = folio.anonExclusive[0] === true;
        this.addAnonPtes(folio, 0, nr, vma, exclusive, nr - 1);
        this.inner.rmap({ op: 'add', level: 'pte', folio, page: 0, nr, vma, newAnon: false, exclusive });
        this.out.kcall('folio_remove_rmap_pmd', { folio: pagePtr(folio.id), page: pagePtr(folio.id), vma: vmaPtr(vma.id), mm: this.mm(vma), ...this.counters(folio, 0, 0, false) });
        this.inner.rmap({ op: 'remove', level: 'pmd', folio, page: 0, nr, vma });
        return;
      }
    }
  }

  hit(p: ProbeHit): void {
    const o = this.out;
    switch (p.fn) {
      case 'copy_page_range':
        return o.kcall('copy_page_range', {
          dst_vma: vmaPtr(p.dstVma.id), src_vma: vmaPtr(p.srcVma.id), start: hex(p.srcVma.start), end: hex(p.srcVma.end), dst_mm: o.mmPtr(p.dst), src_mm: o.mmPtr(p.src),
        });
      case 'copy_huge_pmd':
        return o.kcall('copy_huge_pmd', {
          dst_mm: o.mmPtr(p.dst), src_mm: o.mmPtr(p.src), addr: hex(p.addr), src_pmdval: pmdVal(p.pmd.folio, p.pmd.writable), dst_vma: vmaPtr(p.dstVma.id), src_vma: vmaPtr(p.srcVma.id),
        });
      case '__split_huge_pmd':
        return o.kcall('__split_huge_pmd', {
          vma: vmaPtr(p.vma.id), pmd: pmdEntryPtr(p.addr, this.sys), addr: hex(p.addr), freeze: 0, folio: '0x0', pmdval: pmdVal(p.pmd.folio, p.pmd.writable), mm: o.mmPtr(p.mm),
        });
      case 'zap_huge_pmd':
        return o.kcall('zap_huge_pmd', { vma: vmaPtr(p.vma.id), pmd: pmdEntryPtr(p.addr, this.sys), addr: hex(p.addr), pmdval: pmdVal(p.pmd.folio, p.pmd.writable) });
      case 'do_huge_pmd_anonymous_page':
        if (p.ret === undefined) return o.kcall('do_huge_pmd_anonymous_page', { vmf: '0xffffc900005d3e00', vma: vmaPtr(p.vma.id), addr: hex(p.addr) });
        return o.kcall('do_huge_pmd_anonymous_page', { ret: p.ret }, true);
    }
  }

  vmaChanged(change: VmaChange): void {
    (this.inner as MapcountScheme).vmaChanged(change);
  }
  folioFreed(folio: Folio): void {
    this.inner.folioFreed(folio);
  }
  folioSplit(folio: Folio, into: readonly Folio[]): void {
    this.inner.folioSplit(folio, into);
  }
  folioMapcount(folio: Folio): number {
    return this.inner.folioMapcount(folio);
  }
  pageMapcount(folio: Folio, page: number): number {
    return this.inner.pageMapcount(folio, page);
  }
  folioMapped(folio: Folio): boolean {
    return this.inner.folioMapped(folio);
  }
  kpagecount(folio: Folio, page: number): number {
    return this.inner.kpagecount(folio, page);
  }
  mappingRefs(folio: Folio): number {
    return this.inner.mappingRefs(folio);
  }
  clone(): MapcountScheme {
    throw new Error('the probe recorder is not cloned: it writes a trace');
  }
}

/** A page-table page address for the PMD entry of addr (synthetic, stable per address). */
const pmdEntryPtr = (addr: number, sys: MmSystem): string => '0xffff8880' + ((Math.floor(addr / pmdSize(sys.config.geometry)) * 8) % 0x100000000).toString(16).padStart(8, '0');

// ---- the workload -------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG (deterministic traces). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Workload =
  /** Many processes: exec, anon small and THP memory, private file text and data, shared tmpfs, fork + COW, partial munmap, exit. */
  | 'mixed'
  /** `processes` processes mapping the same file shared, each touching every page (file folios with large mapcounts). */
  | 'shared-file'
  /** One parent with anon THPs and `processes` forked children sharing them, each writing (COW) and exiting. */
  | 'fork-thp';

export interface SynthOptions {
  /** Stop after at least this many events (the current epoch's processes still exit). */
  readonly events: number;
  readonly seed?: number;
  readonly workload?: Workload;
  /** Processes per epoch: parents for 'mixed', sharers for 'shared-file', children for 'fork-thp'. */
  readonly processes?: number;
}

export const syntheticHeader = (o: SynthOptions): TraceHeader => ({
  format: 'trollcount-trace',
  version: 1,
  kernel: { release: '6.12.0-synthetic', generation: '6.12' },
  geometry: { pageSize: X86_64.pageSize, pmdOrder: X86_64.pmdOrder },
  source: { kind: 'synthetic', description: `bench/generate.ts workload=${o.workload ?? 'mixed'} seed=${o.seed ?? 1} processes=${o.processes ?? ''} events>=${o.events}` },
});

const PAGE = X86_64.pageSize;
const THP = pmdSize(X86_64);

/** One epoch's driver: runs operations on the MM system machine and records the syscalls and faults. */
class Driver {
  readonly k: Kernel;
  private readonly run: (op: MmOperation) => string;
  private readonly result: () => number | undefined;

  constructor(
    private readonly out: Recording,
    readonly rnd: () => number,
  ) {
    const sys = createSystem({ geometry: X86_64, kernel: '6.12', thp: 'always', shmemThp: true });
    const recorder = new ProbeRecorder(sys, out);
    this.k = { sys, schemes: [recorder], probes: recorder };
    const m = startMmSystem(this.k);
    this.run = m.run;
    this.result = () => m.actor.getSnapshot().context.result;
  }

  private as(pid: number, comm = 'worker'): void {
    this.out.task = { pid, comm };
  }

  private op(op: MmOperation): void {
    const r = this.run(op);
    if (r !== 'ok') throw new Error(`synthetic workload: ${op.type} ${JSON.stringify(op)} -> ${r}`);
  }

  private syscall(name: string, args: Record<string, string>, ret: string): void {
    this.out.emit({ ev: 'syscall', name, phase: 'enter', args, ...this.out.rec() });
    this.pendingRet = { name, ret };
  }
  private pendingRet: { name: string; ret: string } | null = null;
  private sysret(ret?: string): void {
    const p = this.pendingRet!;
    this.pendingRet = null;
    this.out.emit({ ev: 'syscall', name: p.name, phase: 'exit', ret: ret ?? p.ret, ...this.out.rec() });
  }

  createFile(inode: number, pages: number, shmem: boolean): void {
    this.op({ type: 'CREATE_FILE', inode, pages, shmem });
  }

  spawn(pid: number, comm: string): void {
    this.as(pid, comm);
    this.syscall('execve', { filename: '0x55d0c0a1e2a0', argv: '0x7ffc9d0a1f28', envp: '0x7ffc9d0a1f38' }, '0x0');
    this.op({ type: 'SPAWN', pid });
    this.sysret();
  }

  mmap(pid: number, len: number, o: { write: boolean; shared: boolean; inode?: number }): number {
    this.as(pid);
    const prot = o.write ? 3 : 1;
    const flags = (o.shared ? 1 : 2) | (o.inode === undefined ? 0x20 : 0);
    this.syscall('mmap', { addr: '0x0', len: hex(len), prot: hex(prot), flags: hex(flags), fd: o.inode === undefined ? '0xffffffffffffffff' : hex(2 + o.inode), off: '0x0' }, '0x0');
    this.op({ type: 'MMAP', pid, len, read: true, write: o.write, shared: o.shared, ...(o.inode !== undefined ? { inode: o.inode, pgoff: 0 } : {}), fixed: false });
    const addr = this.result()!;
    this.sysret(hex(addr));
    return addr;
  }

  munmap(pid: number, addr: number, len: number): void {
    this.as(pid);
    this.syscall('munmap', { addr: hex(addr), len: hex(len) }, '0x0');
    this.op({ type: 'MUNMAP', pid, addr, len });
    this.sysret();
  }

  fault(pid: number, addr: number, write: boolean): void {
    this.as(pid);
    this.out.emit({ ev: 'fault', address: hex(addr), ip: '0x55d0c0a01234', errorCode: write ? '0x6' : '0x4', ...this.out.rec() });
    this.op({ type: 'FAULT', pid, addr, write });
  }

  fork(pid: number, child: number): void {
    this.as(pid);
    this.syscall('clone', { clone_flags: '0x1200011', newsp: '0x0', parent_tidptr: '0x0', child_tidptr: '0x7f3a1c2d4a10', tls: '0x0' }, hex(child));
    this.op({ type: 'FORK', pid, child });
    this.out.emit({ ev: 'sched', what: 'fork', childPid: child, ...this.out.rec() });
    this.sysret();
  }

  exit(pid: number): void {
    this.as(pid);
    this.out.emit({ ev: 'syscall', name: 'exit_group', phase: 'enter', args: { error_code: '0x0' }, ...this.out.rec() });
    this.op({ type: 'EXIT', pid });
    this.out.emit({ ev: 'sched', what: 'exit', ...this.out.rec() });
  }
}

const pick = (rnd: () => number, n: number): number => Math.floor(rnd() * n);

/** One epoch of the mixed workload: `parents` processes, each with children. */
function mixedEpoch(d: Driver, parents: number): void {
  const rnd = d.rnd;
  const TEXT = 1; // a regular file: program text and data, mapped private
  const SHM = 2; // a tmpfs file of 2 THPs, mapped shared
  d.createFile(TEXT, 256, false);
  d.createFile(SHM, 1024, true);
  let nextPid = 1;
  interface Proc { pid: number; text: number; data: number; heap: number; thp: number; shm: number; kids: number[] }
  const procs: Proc[] = [];
  for (let i = 0; i < parents; i++) {
    const pid = nextPid++;
    d.spawn(pid, 'worker');
    const p: Proc = {
      pid,
      text: d.mmap(pid, 128 * PAGE, { write: false, shared: false, inode: TEXT }),
      data: d.mmap(pid, 64 * PAGE, { write: true, shared: false, inode: TEXT }),
      heap: d.mmap(pid, 96 * PAGE, { write: true, shared: false }),
      thp: d.mmap(pid, 2 * THP, { write: true, shared: false }),
      shm: d.mmap(pid, 2 * THP, { write: true, shared: true, inode: SHM }),
      kids: [],
    };
    procs.push(p);
    for (let j = 0; j < 24; j++) d.fault(pid, p.text + pick(rnd, 128) * PAGE, false);
    for (let j = 0; j < 12; j++) d.fault(pid, p.data + pick(rnd, 64) * PAGE, rnd() < 0.5);
    for (let j = 0; j < 40; j++) d.fault(pid, p.heap + pick(rnd, 96) * PAGE, rnd() < 0.85);
    d.fault(pid, p.thp + pick(rnd, 512) * PAGE, true);
    if (rnd() < 0.7) d.fault(pid, p.thp + THP + pick(rnd, 512) * PAGE, true);
    d.fault(pid, p.shm + pick(rnd, 1024) * PAGE, rnd() < 0.5);
  }
  for (const p of procs) {
    const kids = 1 + pick(rnd, 3);
    for (let c = 0; c < kids; c++) {
      const child = nextPid++;
      d.fork(p.pid, child);
      // the child: COW on heap pages and in a THP (do_huge_pmd_wp_page splits, then copies), text reads
      for (let j = 0; j < 10; j++) d.fault(child, p.heap + pick(rnd, 96) * PAGE, true);
      for (let j = 0; j < 6; j++) d.fault(child, p.text + pick(rnd, 128) * PAGE, false);
      if (rnd() < 0.6) d.fault(child, p.thp + pick(rnd, 512) * PAGE, true);
      if (rnd() < 0.4) d.munmap(child, p.thp + THP + 256 * PAGE, 64 * PAGE);
      d.fault(child, p.data + pick(rnd, 64) * PAGE, true);
      d.fault(child, p.shm + pick(rnd, 1024) * PAGE, false);
      if (rnd() < 0.8) d.exit(child);
      else p.kids.push(child);
    }
    // the parent after its children: more COW, a partial unmap of its heap
    for (let j = 0; j < 6; j++) d.fault(p.pid, p.heap + pick(rnd, 96) * PAGE, true);
    if (rnd() < 0.5) d.munmap(p.pid, p.heap + 32 * PAGE, 16 * PAGE);
    if (rnd() < 0.3) d.munmap(p.pid, p.thp, 128 * PAGE);
  }
  for (const p of procs) {
    for (const c of p.kids) d.exit(c);
    d.exit(p.pid);
  }
}

/** `n` processes mapping one regular file shared, all touching every page, then exiting. */
function sharedFileEpoch(d: Driver, n: number): void {
  const FILE = 1;
  const pages = 64;
  d.createFile(FILE, pages, false);
  const addrs: number[] = [];
  for (let pid = 1; pid <= n; pid++) {
    d.spawn(pid, 'reader');
    addrs.push(d.mmap(pid, pages * PAGE, { write: false, shared: true, inode: FILE }));
  }
  for (let pid = 1; pid <= n; pid++) for (let i = 0; i < pages; i++) d.fault(pid, addrs[pid - 1] + i * PAGE, false);
  for (let pid = 1; pid <= n; pid++) d.exit(pid);
}

/** A parent with 4 anon THPs and `n` forked children that all share them, then write (COW) and exit. */
function forkThpEpoch(d: Driver, n: number): void {
  const rnd = d.rnd;
  d.spawn(1, 'parent');
  const thps = d.mmap(1, 4 * THP, { write: true, shared: false });
  for (let i = 0; i < 4; i++) d.fault(1, thps + i * THP, true);
  const kids: number[] = [];
  for (let c = 0; c < n; c++) {
    d.fork(1, 2 + c);
    kids.push(2 + c);
  }
  for (const child of kids) for (let j = 0; j < 8; j++) d.fault(child, thps + pick(rnd, 4 * 512) * PAGE, true);
  for (const child of kids) d.exit(child);
  d.exit(1);
}

/** The events of a synthetic trace, in order (a generator: memory stays bounded). */
export function* synthesize(o: SynthOptions): Generator<TraceEvent> {
  const rnd = prng(o.seed ?? 1);
  const buf: TraceEvent[] = [];
  const out = new Recording((e) => buf.push(e));
  let n = 0;
  const workload = o.workload ?? 'mixed';
  while (n < o.events) {
    const d = new Driver(out, rnd);
    if (workload === 'mixed') mixedEpoch(d, o.processes ?? 16);
    else if (workload === 'shared-file') sharedFileEpoch(d, o.processes ?? 1000);
    else forkThpEpoch(d, o.processes ?? 100);
    n += buf.length;
    yield* buf;
    buf.length = 0;
  }
}

export interface WriteSummary {
  readonly events: number;
  readonly byFn: Record<string, number>;
  readonly jsonlBytes: number;
  readonly ftraceBytes: number;
}

async function put(w: Writable, s: string): Promise<void> {
  if (!w.write(s)) await once(w, 'drain');
}

/** Write a synthetic trace as JSON Lines and/or ftrace text (the same events). */
export async function writeSyntheticTrace(o: SynthOptions, paths: { jsonl?: string; ftrace?: string }): Promise<WriteSummary> {
  const j = paths.jsonl ? createWriteStream(paths.jsonl) : undefined;
  const f = paths.ftrace ? createWriteStream(paths.ftrace) : undefined;
  let jb = '';
  let fb = '';
  let jsonlBytes = 0;
  let ftraceBytes = 0;
  const byFn: Record<string, number> = {};
  let events = 0;
  if (j) jb += JSON.stringify(syntheticHeader(o)) + '\n';
  if (f) fb += FTRACE_HEADER + '\n';
  for (const e of synthesize(o)) {
    events++;
    if (e.ev === 'kcall') byFn[e.fn] = (byFn[e.fn] ?? 0) + 1;
    if (j) jb += JSON.stringify(e) + '\n';
    if (f) fb += renderFtraceLine(e) + '\n';
    if (jb.length > 1 << 20) {
      jsonlBytes += Buffer.byteLength(jb);
      await put(j!, jb);
      jb = '';
    }
    if (fb.length > 1 << 20) {
      ftraceBytes += Buffer.byteLength(fb);
      await put(f!, fb);
      fb = '';
    }
  }
  if (j) {
    jsonlBytes += Buffer.byteLength(jb);
    j.end(jb);
    await once(j, 'close');
  }
  if (f) {
    ftraceBytes += Buffer.byteLength(fb);
    f.end(fb);
    await once(f, 'close');
  }
  return { events, byFn, jsonlBytes, ftraceBytes };
}
