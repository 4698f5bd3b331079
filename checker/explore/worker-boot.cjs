// The BFS worker is TypeScript run through tsx, as the CLI is. tsx's require hook compiles the
// worker's modules in this thread: several times faster to start than the ESM loader hooks, which
// Node runs on a thread of their own and asks once per module.
require('tsx/cjs/api').register();
require('./worker.ts');
