import type { MmOperation } from '../model/operations.ts';

/**
 * The one event vocabulary of trollcount traces (specs/trace.schema.json is its schema). A trace
 * is a header and a sequence of events; the reader attaches where each event came from.
 *
 * Kernel pointers and pfns are 64-bit: they travel as lowercase hex strings ("0xffffea0004280000"),
 * never as JS numbers. Counters the kernel reported (s32 fields of struct page / folio) are numbers.
 */

export type Generation = '6.1' | '6.12';
export type Hex = string;

export interface TraceHeader {
  readonly format: 'trollcount-trace';
  readonly version: 1;
  readonly kernel: {
    /** uname -r of the traced kernel, when known. */
    readonly release?: string;
    /** The accounting generation whose exact scheme the trace is checked against. */
    readonly generation: Generation;
  };
  readonly geometry: { readonly pageSize: number; readonly pmdOrder: number };
  readonly source: {
    readonly kind: 'ftrace' | 'explore' | 'synthetic' | 'hand-written' | 'bench';
    readonly description?: string;
  };
  /** MM settings for traces of MM operations (op events). */
  readonly mm?: { readonly thp: 'always' | 'madvise' | 'never'; readonly shmemThp: boolean };
}

/** Where an event was recorded (ftrace columns); all optional for synthetic traces. */
export interface Recorded {
  readonly ts?: number;
  readonly cpu?: number;
  readonly pid?: number;
  readonly tgid?: number;
  readonly comm?: string;
}

export type TraceEvent =
  /** An MM operation for the emulated MM to execute (synthetic and explorer traces). */
  | { readonly ev: 'op'; readonly op: MmOperation }
  /**
   * A kernel function call as a kprobe recorded it: the rmap calls (page_add_anon_rmap,
   * folio_remove_rmap_ptes, ...) with the counters the kernel held before the call, and the
   * hidden-step hints (copy_page_range, __split_huge_pmd, ...). `ret` marks a return probe.
   */
  | (Recorded & { readonly ev: 'kcall'; readonly fn: string; readonly ret?: boolean; readonly args: Readonly<Record<string, Hex | number>> })
  /** A syscall tracepoint: entry with its arguments, or exit with its return value. */
  | (Recorded & { readonly ev: 'syscall'; readonly name: string; readonly phase: 'enter' | 'exit'; readonly args?: Readonly<Record<string, Hex>>; readonly ret?: Hex })
  /** exceptions:page_fault_user */
  | (Recorded & { readonly ev: 'fault'; readonly address: Hex; readonly ip?: Hex; readonly errorCode: Hex })
  /** sched:sched_process_fork / sched_process_exit */
  | (Recorded & { readonly ev: 'sched'; readonly what: 'fork' | 'exit'; readonly childPid?: number })
  /** Any other known tracepoint (huge_memory:mm_khugepaged_scan_pmd, ...), fields as printed. */
  | (Recorded & { readonly ev: 'tracepoint'; readonly name: string; readonly fields: Readonly<Record<string, string>> })
  /** A page sampled by the workload: /proc/self/pagemap, /proc/kpagecount, /proc/kpageflags. */
  | (Recorded & {
      readonly ev: 'obs';
      /** The observing process (may differ from the ftrace pid column for op traces). */
      readonly pid: number;
      readonly va: Hex;
      readonly pfn: Hex;
      readonly present: boolean;
      readonly kpagecount: number;
      readonly kpageflags: Hex;
    })
  /** `STEP <name>` written by the workload before each step. */
  | (Recorded & { readonly ev: 'step'; readonly name: string })
  /** Any other trace_marker text. */
  | (Recorded & { readonly ev: 'marker'; readonly text: string })
  /** `CPU:N [LOST M EVENTS]`: the ring buffer dropped events; what they changed is unknown. */
  | (Recorded & { readonly ev: 'lost'; readonly count: number });

export type TraceEventKind = TraceEvent['ev'];

/** Where an event came from, for every message about it. */
export interface Position {
  readonly file: string;
  readonly line: number;
  readonly column?: number;
}

export interface PositionedEvent {
  readonly event: TraceEvent;
  readonly at: Position;
}

/** A user-facing input error: names the place and what was expected. */
export class TraceInputError extends Error {
  constructor(
    readonly at: Position,
    readonly what: string,
  ) {
    super(`${at.file}:${at.line}${at.column !== undefined ? `:${at.column}` : ''}: ${what}`);
    this.name = 'TraceInputError';
  }
}
