import { openTrace, type TraceStream } from '../traces/reader.ts';
import type { Generation, PositionedEvent } from '../traces/events.ts';
import { replayKernelTrace, type KernelReplayResult } from './replay-kernel.ts';
import { replayOpTrace, type OpReplayResult } from './replay-ops.ts';
import type { SchemeName } from '../model/schemes/scheme.ts';
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

/**
 * robustness: how many leading events (steps, markers, observations) are read ahead to find the
 * first `op` or `kcall`, which says how to replay (an ops trace may start with a `step`); without
 * one, an `mm` section in the header says ops. Bounded: a huge trace is still read as a stream.
 */
const KIND_LOOKAHEAD = 4096;

export async function checkFile(file: string, opts: CheckOptions = {}): Promise<FileReport> {
  const stream = await openTrace(file, { generation: opts.generation });
  const it = stream.events[Symbol.asyncIterator]();
  const head: PositionedEvent[] = [];
  let decided: 'op' | 'kcall' | undefined;
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
  const generation = stream.header.kernel.generation;
  const events: AsyncIterable<PositionedEvent> = prepend(head, ended ? undefined : it);
  const rest: TraceStream = { header: stream.header, events };
  const isOps = decided === 'op' || (decided === undefined && stream.header.mm !== undefined);
  if (isOps) {
    const result = await replayOpTrace(rest, { schemes: opts.schemes ? [...opts.schemes] : undefined, timeline: opts.timeline?.ops, signal: opts.signal });
    return { file, kind: 'ops', generation, verdict: result.verdict, result };
  }
  const result = await replayKernelTrace(rest, { file, onProgress: opts.onProgress, timeline: opts.timeline?.kernel, signal: opts.signal });
  return { file, kind: 'kernel', generation, verdict: result.verdict, result };
}

/** The worst verdict wins: a divergence anywhere, else inconclusive anywhere, else agree. */
export function overallVerdict(reports: readonly FileReport[]): Verdict {
  if (reports.some((r) => r.verdict === 'diverge')) return 'diverge';
  if (reports.some((r) => r.verdict === 'inconclusive')) return 'inconclusive';
  return 'agree';
}
