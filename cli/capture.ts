import { capture, CaptureUnavailableError, WORKLOADS } from '../traces/capture/capture.ts';
import { EXIT, UsageError } from './exit.ts';

export async function runCapture(opts: { kernel: '6.1' | '6.12'; workload: string; out: string; cache: string }): Promise<number> {
  if (!WORKLOADS.includes(opts.workload)) throw new UsageError(`unknown workload '${opts.workload}' (expected one of ${WORKLOADS.join(', ')})`);
  try {
    const meta = await capture({
      kernel: opts.kernel,
      workload: opts.workload,
      out: opts.out,
      cacheDir: opts.cache,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stderr.write(`wrote ${opts.out}: ${meta.lineCount} lines, ${meta.lostEvents} lost events\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CaptureUnavailableError) {
      process.stderr.write(`trollcount capture: ${err.message}\n`);
      return EXIT.badInput;
    }
    throw err;
  }
}
