import { parentPort, workerData } from 'node:worker_threads';
import { Expander, type ChunkRequest, type ExpanderInit } from './expand.ts';

/** A worker thread of the parallel BFS (parallel.ts): an Expander answering chunk requests. */

const expander = new Expander(workerData as ExpanderInit);

parentPort!.on('message', (msg: ChunkRequest | { type: 'coverage' }) => {
  if (msg.type === 'chunk') {
    const r = expander.expand(msg);
    parentPort!.postMessage(r, [r.node.buffer as ArrayBuffer, r.op.buffer as ArrayBuffer, r.h.buffer as ArrayBuffer]);
  } else {
    const c = expander.exec.coverage;
    parentPort!.postMessage({ type: 'coverage', maps: [c.mmTaken, c.mmTrue, c.mmFalse, c.satTaken, c.satTrue, c.satFalse] });
  }
});
parentPort!.postMessage({ type: 'ready' });
