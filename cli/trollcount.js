#!/usr/bin/env node
// The CLI is TypeScript run through tsx: register the loader, then start the program.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
