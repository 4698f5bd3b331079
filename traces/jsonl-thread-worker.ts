import { parentPort, workerData } from 'node:worker_threads';
import { EventEncoder } from './event-codec.ts';
import { TraceInputError } from './events.ts';
import { readJsonlInto } from './reader.ts';
import type { FromReader } from './jsonl-thread.ts';

/**
 * The reader thread of traces/jsonl-thread.ts: reads and validates a JSON Lines trace as
 * traces/reader.ts does on the main thread, and posts the header, then
 * the events encoded in batches (traces/event-codec.ts), then the end or the input error where
 * reading stopped.
 */

/** Batches posted and not yet decoded: bounds the memory a reader ahead of the replay holds. */
const IN_FLIGHT = 4;
/** Encoded words that make a batch (~2,000 kcall events, several 64 KB chunks of input): fewer messages for the replay to await. */
const BATCH_WORDS = 1 << 16;

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
  const flush = (): void => {
    if (encoder.pending === 0) return;
    post({ kind: 'batch', batch: encoder.take() });
    inFlight++;
  };
  try {
    await readJsonlInto(path, {
      header: (header) => post({ kind: 'header', header }),
      event: (line, value) => encoder.add(line, value),
      chunkDone: async () => {
        if (encoder.pending < BATCH_WORDS) return;
        flush();
        while (inFlight >= IN_FLIGHT) await new Promise<void>((resolve) => (wake = resolve));
      },
    });
  } finally {
    // the events before an input error go first, as the main-thread reader yields them first
    flush();
  }
  post({ kind: 'end' });
}

read((workerData as { path: string }).path).catch((e: unknown) => {
  if (e instanceof TraceInputError) post({ kind: 'input-error', at: e.at, what: e.what });
  else post({ kind: 'crash', message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack });
});
