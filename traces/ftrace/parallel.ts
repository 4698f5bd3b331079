import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { TraceInputError } from '../events.ts';
import type { ProbeTable } from './probes.ts';
import { KindCounts, OutBuffer, RegionConverter, outputSize } from './to-json.ts';
import type { RegionDone, RegionJob, WorkerInit } from './convert-worker.ts';

/**
 * The regions of a file converted to JSON Lines and written in file order: on this thread, and
 * optionally on a worker thread as well (convert-worker.ts), so that two cores convert.
 *
 * The conversion allows it: no state crosses lines but the line number (the generation is known
 * before the first region). Each region is converted on its own, its lines numbered from 1; where
 * it starts is known once the regions before it are written, and only an error needs it. Regions
 * are written strictly in order, a region converted here waiting for the ones before it still on
 * the worker. The first bad line of the file stops everything after the lines before it are
 * written, as on one thread.
 *
 * The worker starts with the conversion (tsx compiles its modules: a few hundred milliseconds) and
 * takes regions once it is ready: one while it warms up, then two at a time; this thread converts
 * the others. A worker that fails to start leaves the whole conversion to this thread.
 */

/** What a region converted to: its JSON lines, its counts, or the bad line that stopped it. */
interface Converted {
  readonly bytes: Buffer;
  /** The buffer `bytes` is in, to reuse once they are written. */
  readonly buffer: Buffer;
  readonly lines: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly error?: RegionDone['error'];
  readonly crash?: string;
}

/** A region on its way to the output. */
class Slot {
  result: Converted | undefined;
  readonly settled: Promise<void>;
  private settle!: () => void;

  constructor() {
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  done(result: Converted): this {
    this.result = result;
    this.settle();
    return this;
  }
}

export interface Output {
  /** Write `bytes` after what was given before; resolves once they are written. */
  write(bytes: Buffer): Promise<void>;
}

/** Writes in flight at a time: the conversion goes on while the output is written. */
const WRITES_IN_FLIGHT = 2;
/** Regions converted here wait at most this many for one still on the worker. */
const MAX_WAITING = 32;

export class RegionPipeline {
  /** Lines of the regions written: the next region to write starts at line linesWritten + 1. */
  linesWritten = 0;
  readonly counts = new KindCounts();
  private readonly here: RegionConverter;
  private readonly worker: ConvertWorker | undefined;
  /** Regions converted or converting, not written yet, in file order. */
  private readonly slots: Slot[] = [];
  private readonly writing: Promise<void>[] = [];
  /** Output buffers whose bytes are written, to reuse (fresh ones cost page faults). */
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly path: string,
    table: ProbeTable,
    private readonly out: Output,
    worker: boolean,
  ) {
    this.here = new RegionConverter(path, table);
    this.worker = worker ? new ConvertWorker({ path, generation: table.generation }) : undefined;
  }

  /** Whether the worker is ready to take regions (false without one, or when it failed to start). */
  ready(): Promise<boolean> {
    return this.worker?.started ?? Promise.resolve(false);
  }

  /** Regions the worker converted. */
  get regionsOnWorker(): number {
    return this.worker?.answers ?? 0;
  }

  /** Convert a region (its bytes are not kept), and write the regions converted, in order. */
  async add(region: Buffer): Promise<void> {
    // after a bad line nothing more is converted: the lines before it are written, then it is thrown
    if (this.slots.some((s) => s.result?.error || s.result?.crash)) return this.finish();
    this.slots.push(this.worker?.canTake() ? this.worker.convert(region, this.spare.pop()) : this.convertHere(region));
    await this.writeConverted(this.slots.length > MAX_WAITING);
  }

  /** Write every region left, in order. */
  async finish(): Promise<void> {
    while (this.slots.length) await this.writeConverted(true);
    while (this.writing.length) await this.writing.shift();
  }

  async close(): Promise<void> {
    await this.worker?.close();
  }

  private convertHere(region: Buffer): Slot {
    const out = new OutBuffer(outputSize(region.length), this.spare.pop());
    const counts = new KindCounts();
    const slot = new Slot();
    try {
      const lines = this.here.convert(region, 1, out, counts);
      return slot.done({ bytes: out.bytes(), buffer: out.buf, lines, byKind: counts.byKind });
    } catch (e) {
      if (!(e instanceof TraceInputError)) throw e;
      return slot.done({ bytes: out.bytes(), buffer: out.buf, lines: 0, byKind: {}, error: { line: e.at.line, column: e.at.column, what: e.what } });
    }
  }

  /** Write the converted regions at the head of the queue; with `wait`, wait for the first one. */
  private async writeConverted(wait: boolean): Promise<void> {
    if (wait && this.slots.length) await this.slots[0].settled;
    while (this.slots.length && this.slots[0].result) {
      const r = this.slots.shift()!.result!;
      if (r.crash !== undefined) throw new Error(`the ftrace conversion worker failed: ${r.crash}`);
      await this.write(r);
      if (r.error) {
        while (this.writing.length) await this.writing.shift();
        const { line, column, what } = r.error;
        const at = this.linesWritten + line;
        throw new TraceInputError(column === undefined ? { file: this.path, line: at } : { file: this.path, line: at, column }, what);
      }
      this.linesWritten += r.lines;
      this.counts.addAll(r.byKind);
    }
  }

  /** Write a region's bytes, at most WRITES_IN_FLIGHT at a time; its buffer is spare once they are written. */
  private async write(r: Converted): Promise<void> {
    if (this.writing.length === WRITES_IN_FLIGHT) await this.writing.shift();
    const written = this.out.write(r.bytes).then(() => {
      this.spare.push(r.buffer);
    });
    written.catch(() => {}); // a failure is thrown where it is awaited
    this.writing.push(written);
  }
}

/** The worker thread and the regions it holds. */
class ConvertWorker {
  /** Resolves true once the worker takes regions, false if it failed before. */
  readonly started: Promise<boolean>;
  private startedAs!: (ok: boolean) => void;
  /** Regions it converted. */
  answers = 0;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private ready = false;
  private nextId = 0;
  private readonly holding = new Map<number, Slot>();
  /** Region copies it gave back, to reuse. */
  private readonly inputs: ArrayBuffer[] = [];

  constructor(init: Omit<WorkerInit, 'port'>) {
    // answers come on a port of their own, read synchronously before each region is handed out:
    // a thread busy converting gets to the event loop only between reads
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    // not the parent's execArgv (`--import tsx`: ESM hooks, slow to start); the boot file
    // registers tsx's require hook
    this.worker = new Worker(new URL('./convert-worker.cjs', import.meta.url), { workerData: { ...init, port: port2 }, transferList: [port2], execArgv: [] });
    this.started = new Promise((resolve) => (this.startedAs = resolve));
    this.port.on('message', (m: 'ready' | RegionDone) => this.received(m));
    const stopped = (why: string): void => {
      this.startedAs(false);
      this.ready = false;
      for (const slot of this.holding.values()) slot.done({ bytes: Buffer.alloc(0), buffer: Buffer.alloc(0), lines: 0, byKind: {}, crash: why });
      this.holding.clear();
    };
    this.worker.on('error', (e) => stopped(e.stack ?? String(e)));
    this.worker.on('exit', (code) => stopped(`the worker exited (${code})`));
  }

  /** Take the messages that came. */
  poll(): void {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) this.received(m.message as 'ready' | RegionDone);
  }

  private received(m: 'ready' | RegionDone): void {
    if (m !== 'ready') return this.answered(m);
    this.ready = true;
    this.startedAs(true);
  }

  /** It takes one region while it warms up, two at a time once it has answered. */
  canTake(): boolean {
    this.poll();
    return this.ready && this.holding.size < (this.answers > 0 ? 2 : 1);
  }

  /** Send a copy of `region` (the reader reuses its buffer), with a spare output buffer for it to fill. */
  convert(region: Buffer, spare: Buffer | undefined): Slot {
    let input = this.inputs.pop();
    if (!input || input.byteLength < region.length) input = new ArrayBuffer(Math.max(region.length, 2 << 20));
    new Uint8Array(input).set(region);
    const out = spare?.buffer as ArrayBuffer | undefined; // OutBuffer memory: its own ArrayBuffer
    const job: RegionJob = { id: this.nextId++, input, length: region.length, out };
    const slot = new Slot();
    this.holding.set(job.id, slot);
    this.port.postMessage(job, out ? [input, out] : [input]);
    return slot;
  }

  private answered(m: RegionDone): void {
    this.answers++;
    this.inputs.push(m.input);
    const slot = this.holding.get(m.id)!;
    this.holding.delete(m.id);
    const buffer = Buffer.from(m.out);
    slot.done({ bytes: buffer.subarray(0, m.length), buffer, lines: m.lines, byKind: m.byKind, error: m.error, crash: m.crash });
  }

  async close(): Promise<void> {
    this.port.close();
    await this.worker.terminate();
  }
}
