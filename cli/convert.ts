import { convertFile } from '../traces/ftrace/convert.ts';
import type { Generation } from '../traces/events.ts';
import { EXIT } from './exit.ts';

export async function runConvert(input: string, opts: { out: string; kernel?: Generation }): Promise<number> {
  const summary = await convertFile(input, opts.out, { generation: opts.kernel });
  process.stderr.write(`${input} -> ${opts.out}: ${JSON.stringify(summary)}\n`);
  return EXIT.ok;
}
