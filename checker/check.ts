import { openTrace, type TraceStream } from '../traces/reader.ts';
import type { Generation, PositionedEvent } from '../traces/events.ts';
import { replayKernelTrace, type KernelReplayResult } from './replay-kernel.ts';
import { replayOpTrace, type OpReplayResult } from './replay-ops.ts';
import type { SchemeName } from '../model/schemes/scheme.ts';

/**
 * `trollcount check` for one file: open it, look at its first event, and replay it the way its
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
}

/** Put back the event we peeked at in front of the rest of the stream. */
async function* prepend(first: PositionedEvent, rest: AsyncIterator<PositionedEvent>): AsyncGenerator<PositionedEvent> {
  yield first;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

export async function checkFile(file: string, opts: CheckOptions = {}): Promise<FileReport> {
  const stream = await openTrace(file, { generation: opts.generation });
  const it = stream.events[Symbol.asyncIterator]();
  const first = await it.next();
  const generation = stream.header.kernel.generation;
  const events: AsyncIterable<PositionedEvent> = first.done ? (async function* () {})() : prepend(first.value, it);
  const rest: TraceStream = { header: stream.header, events };
  const isOps = !first.done && first.value.event.ev === 'op';
  if (isOps) {
    const result = await replayOpTrace(rest, { schemes: opts.schemes ? [...opts.schemes] : undefined });
    return { file, kind: 'ops', generation, verdict: result.verdict, result };
  }
  const result = await replayKernelTrace(rest, { file, onProgress: opts.onProgress });
  return { file, kind: 'kernel', generation, verdict: result.verdict, result };
}

/** The worst verdict wins: a divergence anywhere, else inconclusive anywhere, else agree. */
export function overallVerdict(reports: readonly FileReport[]): Verdict {
  if (reports.some((r) => r.verdict === 'diverge')) return 'diverge';
  if (reports.some((r) => r.verdict === 'inconclusive')) return 'inconclusive';
  return 'agree';
}
