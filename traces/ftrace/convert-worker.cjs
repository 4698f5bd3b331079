// The conversion worker is TypeScript run through tsx, as the CLI is. tsx's require hook compiles
// the worker's modules in this thread (as checker/explore/worker-boot.cjs does): faster to start
// than the ESM loader hooks.
require('tsx/cjs/api').register();
require('./convert-worker.ts');
