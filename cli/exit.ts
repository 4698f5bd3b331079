import { TraceInputError } from '../traces/events.ts';

/** The CLI's exit codes (DESIGN.md conventions). */
export const EXIT = { ok: 0, violation: 1, badInput: 2, inconclusive: 3, /** 128 + SIGINT: an interrupted check (partial summary printed) */ interrupted: 130 } as const;

/**
 * process.exit() once everything written to stdout and stderr has been handed to them: into a
 * pipe (`check --json | jq`) node writes asynchronously, 64 KiB at a time, and a bare exit cut the
 * report there.
 */
export async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
  process.exit(code);
}

/** Bad command-line usage detected after parsing (e.g. an unknown scheme). */
export class UsageError extends Error {}

/**
 * Input errors are the user's: one line naming file:line:column, exit 2, no stack. Anything else
 * is a bug of ours: say so with the stack, exit 2 as well so scripts never read it as agreement.
 */
export function reportFailure(err: unknown): number {
  if (err instanceof TraceInputError) {
    process.stderr.write(`trollcount: ${err.message}\n`);
    return EXIT.badInput;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && (e.code === 'ENOENT' || e.code === 'EISDIR' || e.code === 'EACCES')) {
    process.stderr.write(`trollcount: ${e.path ?? ''}: ${e.code === 'ENOENT' ? 'no such file' : e.message}\n`);
    return EXIT.badInput;
  }
  process.stderr.write(`trollcount: internal error (please report): ${e?.stack ?? String(err)}\n`);
  return EXIT.badInput;
}
