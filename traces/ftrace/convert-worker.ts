import { workerData, type MessagePort } from 'node:worker_threads';
import { TraceInputError, type Generation } from '../events.ts';
import { PROBE_TABLES } from './probes.ts';
import { KindCounts, OutBuffer, RegionConverter, outputSize } from './to-json.ts';

/**
 * The worker thread of a parallel `convert` (parallel.ts): converts the regions of lines it is
 * sent, each on its own (lines numbered from 1 within the region; the main thread knows where the
 * region starts), and answers with the JSON lines and their counts.
 */

export interface WorkerInit {
  readonly path: string;
  readonly generation: Generation;
  /** Where jobs come and answers go. */
  readonly port: MessagePort;
}

/** A region of whole lines: bytes [0, length) of `input`, handed over with a buffer to reuse for the output. */
export interface RegionJob {
  readonly id: number;
  readonly input: ArrayBuffer;
  readonly length: number;
  readonly out?: ArrayBuffer;
}

export interface RegionDone {
  readonly id: number;
  /** The job's input, handed back to reuse. */
  readonly input: ArrayBuffer;
  /** The JSON lines: bytes [0, length) of `out`, handed over. */
  readonly out: ArrayBuffer;
  readonly length: number;
  readonly lines: number;
  readonly byKind: Record<string, number>;
  /** The bad line that stopped the region (its line within the region, from 1), if any. */
  readonly error?: { readonly line: number; readonly column?: number; readonly what: string };
  /** A failure that is no input error (a bug), with its stack. */
  readonly crash?: string;
}

const init = workerData as WorkerInit;
const conv = new RegionConverter(init.path, PROBE_TABLES[init.generation]);

const port = init.port;
port.on('message', (job: RegionJob) => {
  const region = Buffer.from(job.input, 0, job.length);
  const out = new OutBuffer(outputSize(job.length), job.out && Buffer.from(job.out));
  const counts = new KindCounts();
  let lines = 0;
  let error: RegionDone['error'];
  let crash: string | undefined;
  try {
    lines = conv.convert(region, 1, out, counts);
  } catch (e) {
    if (e instanceof TraceInputError) error = { line: e.at.line, column: e.at.column, what: e.what };
    else crash = (e as Error)?.stack ?? String(e);
  }
  const bytes = out.buf.buffer as ArrayBuffer; // its own memory (OutBuffer): handed over whole
  const done: RegionDone = { id: job.id, input: job.input, out: bytes, length: out.pos, lines, byKind: counts.byKind, error, crash };
  port.postMessage(done, [job.input, bytes]);
});
port.postMessage('ready');
