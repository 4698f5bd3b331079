import { openTrace, type TraceStream } from '../traces/reader.ts';
import type { Generation, PositionedEvent } from '../traces/events.ts';
import { replayKernelTrace, type KernelReplayResult } from './replay-kernel.ts';
import { replayOpTrace, type OpReplayResult } from './replay-ops.ts';
import type { SchemeName } from '../model/schemes/scheme.ts';
import { createShadows, isShadowScheme } from './shadow-schemes.ts';
import type { TimelineSink } from './timeline.ts';

/**
 * `trollcount check` for one file: open it, look ahead to its first op or kcall, and replay it the way its
 * content asks. A trace of MM operations runs through the emulated MM with every scheme; a trace
 * of kernel rmap calls is checked against the exact accounting of its generation.
 */
export type Verdict = 'agree' | 'diverge' | 'inconclusive';

export type FileReport =
  | { readonly file: string; readonly kind: 'kernel'; readonly generation: Generation; readonly verdict: Verdict; readonly result: KernelReplayResult }
  | { readonly file: string; readonly kind: 'ops'; readonly generation: Generation; readonly verdict: Verdict; readonly result: OpReplayResult };

export interface CheckOptions {
  readonly generation?: Generation;
  readonly schemes?: readonly SchemeName[];
  /** Kernel traces: run the rival schemes of `schemes` (default: all) beside the exact one (default true). */
  readonly shadows?: boolean;
  readonly onProgress?: (events: number) => void;
  /** Per-folio timeline observers (`check --html / --perfetto`); absent: nothing is collected. */
  readonly timeline?: TimelineSink;
  /** Stop replaying early (SIGINT): the report then covers the events replayed so far. */
  readonly signal?: AbortSignal;
}

/** Put back the events we peeked at in front of the rest of the stream. */
async function* prepend(head: PositionedEvent[], rest: AsyncIterator<PositionedEvent> | undefined): AsyncGenerator<PositionedEvent> {
  while (head.length) yield head.shift()!;
  if (rest) for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

/** The same for a stream read in batches: the batches we peeked at, then the rest. */
async function* prependBatches(head: (readonly PositionedEvent[])[], rest: AsyncIterator<readonly PositionedEvent[]> | undefined): AsyncGenerator<readonly PositionedEvent[]> {
  try {
    while (head.length) yield head.shift()!;
    if (rest) for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
  } finally {
    await rest?.return?.(undefined);
  }
}

async function* flatten(batches: AsyncIterable<readonly PositionedEvent[]>): AsyncGenerator<PositionedEvent> {
  for await (const batch of batches) yield* batch;
}

/**
 * how many leading events (steps, markers, observations) are read ahead to find the
 * first `op` or `kcall`, which says how to replay (an ops trace may start with a `step`); without
 * one, an `mm` section in the header says ops. Bounded: a huge trace is still read as a stream.
 */
const KIND_LOOKAHEAD = 4096;

export async function checkFile(file: string, opts: CheckOptions = {}): Promise<FileReport> {
  const stream = await openTrace(file, { generation: opts.generation });
  let decided: 'op' | 'kcall' | undefined;
  let rest: TraceStream;
  if (stream.batches) {
    // the first KIND_LOOKAHEAD events decide, as below; whole batches are read ahead
    const it = stream.batches[Symbol.asyncIterator]();
    const head: (readonly PositionedEvent[])[] = [];
    let seen = 0;
    let ended = false;
    while (decided === undefined && seen < KIND_LOOKAHEAD) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      for (let i = 0; i < r.value.length && seen < KIND_LOOKAHEAD; i++, seen++) {
        const ev = r.value[i].event.ev;
        if (ev === 'op' || ev === 'kcall') {
          decided = ev;
          break;
        }
      }
    }
    const batches = prependBatches(head, ended ? undefined : it);
    rest = { header: stream.header, events: flatten(batches), batches };
  } else {
    const it = stream.events[Symbol.asyncIterator]();
    const head: PositionedEvent[] = [];
    let ended = false;
    while (decided === undefined && head.length < KIND_LOOKAHEAD) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      if (r.value.event.ev === 'op' || r.value.event.ev === 'kcall') decided = r.value.event.ev;
    }
    rest = { header: stream.header, events: prepend(head, ended ? undefined : it) };
  }
  const generation = stream.header.kernel.generation;
  const isOps = decided === 'op' || (decided === undefined && stream.header.mm !== undefined);
  if (isOps) {
    const result = await replayOpTrace(rest, { schemes: opts.schemes ? [...opts.schemes] : undefined, timeline: opts.timeline?.ops, signal: opts.signal });
    return { file, kind: 'ops', generation, verdict: result.verdict, result };
  }
  // kernel traces: owners-6.15 and the proposal variants named by `schemes` shadow the exact replay
  const shadowNames = (opts.schemes ?? ['owners-6.15', 'proposal', 'proposal+vma-hooks']).filter(isShadowScheme);
  const shadow = opts.shadows !== false && shadowNames.length ? createShadows(shadowNames) : undefined;
  const result = await replayKernelTrace(rest, { file, onProgress: opts.onProgress, timeline: opts.timeline?.kernel, signal: opts.signal, shadow });
  return { file, kind: 'kernel', generation, verdict: result.verdict, result };
}

/** The worst verdict wins: a divergence anywhere, else inconclusive anywhere, else agree. */
export function overallVerdict(reports: readonly FileReport[]): Verdict {
  if (reports.some((r) => r.verdict === 'diverge')) return 'diverge';
  if (reports.some((r) => r.verdict === 'inconclusive')) return 'inconclusive';
  return 'agree';
}
