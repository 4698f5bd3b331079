import { Worker } from 'node:worker_threads';
import { EventDecoder, type EncodedBatch } from './event-codec.ts';
import { TraceInputError, type Position, type PositionedEvent, type TraceEvent, type TraceHeader } from './events.ts';
import { streamOf } from './lines.ts';
import type { OpenTraceOptions, TraceStream } from './reader.ts';

/**
 * A JSON Lines trace read on a thread of its own (traces/jsonl-thread-worker.ts): reading, JSON.parse
 * and validation cost about as much as replaying the events, so on two cores the replay runs while
 * the next events are read. The events arrive encoded (traces/event-codec.ts) and are rebuilt here
 * as JSON.parse made them there; the header, the batches and any input error (file:line) come in
 * the order the main-thread reader gives them.
 */

export type FromReader =
  | { readonly kind: 'header'; readonly header: TraceHeader }
  | { readonly kind: 'batch'; readonly batch: EncodedBatch }
  | { readonly kind: 'end' }
  | { readonly kind: 'input-error'; readonly at: Position; readonly what: string }
  | { readonly kind: 'crash'; readonly message: string; readonly stack?: string };

type Message = FromReader | { readonly kind: 'exit'; readonly code: number };

/**
 * The worker's messages in order, awaited one at a time. The worker keeps the process alive only
 * while a message is awaited: a stream left unread (an error elsewhere) must not hang the CLI.
 */
class Inbox {
  private readonly queue: Message[] = [];
  private waiting: ((m: Message) => void) | null = null;

  constructor(private readonly worker: Worker) {
    worker.unref();
    worker.on('message', (m: FromReader) => this.put(m));
    worker.on('error', (e: Error) => this.put({ kind: 'crash', message: e.message, stack: e.stack }));
    worker.on('exit', (code: number) => this.put({ kind: 'exit', code }));
  }

  /**
   * The next message, always handed over in a turn of the event loop of its own (setImmediate), as a
   * read from a file is: resolved inside the port's 'message' event, the replay of the batch would
   * run inside Node's loop that drains the port, and that loop goes on while the reader keeps
   * posting, so no SIGINT handler (or progress bar) would run until the end of the file.
   */
  next(): Promise<Message> {
    const m = this.queue.shift();
    if (m) return new Promise((resolve) => setImmediate(resolve, m));
    this.worker.ref();
    return new Promise((resolve) => (this.waiting = resolve));
  }

  private put(m: Message): void {
    const w = this.waiting;
    if (w) {
      this.waiting = null;
      this.worker.unref();
      setImmediate(w, m);
    } else this.queue.push(m);
  }
}

/** What a message other than a header or batch means: the input error, or the reader's failure. */
function failure(m: Message): Error {
  if (m.kind === 'input-error') return new TraceInputError(m.at, m.what);
  if (m.kind === 'crash') return Object.assign(new Error(`trace reader thread: ${m.message}`), { stack: m.stack });
  return new Error(`trace reader thread: unexpected ${m.kind === 'exit' ? `exit (code ${m.code})` : m.kind}`);
}

export async function openJsonlThread(path: string, opts: OpenTraceOptions): Promise<TraceStream> {
  const worker = new Worker(new URL('./jsonl-thread-boot.cjs', import.meta.url), { workerData: { path } });
  const inbox = new Inbox(worker);
  const first = await inbox.next();
  if (first.kind !== 'header') {
    await worker.terminate();
    throw failure(first);
  }
  const h = first.header;
  const header = opts.generation ? { ...h, kernel: { ...h.kernel, generation: opts.generation } } : h;
  return streamOf(path, header, batches(path, worker, inbox));
}

async function* batches(file: string, worker: Worker, inbox: Inbox): AsyncGenerator<PositionedEvent[]> {
  const decoder = new EventDecoder();
  let out: PositionedEvent[] = [];
  const take = (line: number, event: unknown): void => {
    out.push({ event: event as TraceEvent, at: { file, line } });
  };
  try {
    for (;;) {
      const m = await inbox.next();
      if (m.kind === 'end') return;
      if (m.kind !== 'batch') throw failure(m);
      out = [];
      decoder.decode(m.batch, take);
      worker.postMessage(0); // decoded: the reader may post another batch
      yield out;
    }
  } finally {
    await worker.terminate();
  }
}
