import { parentPort, workerData } from 'node:worker_threads';
import { EventEncoder } from './event-codec.ts';
import { TraceInputError } from './events.ts';
import { openTrace } from './reader.ts';
import type { FromReader } from './jsonl-thread.ts';

/**
 * The reader thread of traces/jsonl-thread.ts: reads, parses and validates a JSON Lines trace as
 * traces/reader.ts does on the main thread, and posts the header, then each batch of events
 * encoded (traces/event-codec.ts), then the end or the input error where reading stopped.
 */

/** Batches posted and not yet decoded: bounds the memory a reader ahead of the replay holds. */
const IN_FLIGHT = 4;

const port = parentPort!;
const post = (m: FromReader): void => port.postMessage(m);
let inFlight = 0;
let wake: (() => void) | null = null;
port.on('message', () => {
  inFlight--;
  wake?.();
  wake = null;
});

async function read(path: string): Promise<void> {
  const encoder = new EventEncoder();
  const trace = await openTrace(path, { readerThread: false });
  post({ kind: 'header', header: trace.header });
  for await (const batch of trace.batches!) {
    if (!batch.length) continue;
    for (let i = 0; i < batch.length; i++) encoder.add(batch[i].at.line, batch[i].event);
    post({ kind: 'batch', batch: encoder.take() });
    inFlight++;
    while (inFlight >= IN_FLIGHT) await new Promise<void>((resolve) => (wake = resolve));
  }
  post({ kind: 'end' });
}

read((workerData as { path: string }).path).catch((e: unknown) => {
  if (e instanceof TraceInputError) post({ kind: 'input-error', at: e.at, what: e.what });
  else post({ kind: 'crash', message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack });
});
