// The BFS worker is TypeScript run through tsx (as the CLI is): register the loader, then start it.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
