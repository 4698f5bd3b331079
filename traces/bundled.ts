import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundled real recordings (traces/fixtures/real/*.ftrace.gz): `trollcount check`'s default input. */
export function bundledTraces(): string[] {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/real');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ftrace.gz'))
    .sort()
    .map((f) => join(dir, f));
}
