// The JSON Lines reader thread is TypeScript run through tsx, as the CLI is (see
// checker/explore/worker-boot.cjs: tsx's require hook starts a worker several times faster than
// the ESM loader hooks).
require('tsx/cjs/api').register();
require('./jsonl-thread-worker.ts');
