import { readFileSync, writeFileSync } from 'node:fs';
import { costSections } from '../checker/doc/costs.ts';
import { explorerSection, realTracesSection } from '../checker/doc/findings.ts';
import { bundledTraces } from '../traces/bundled.ts';
import { semanticsDocument } from '../checker/doc/semantics.ts';
import { EXIT } from './exit.ts';

export async function runDoc(opts: { check?: boolean; out: string }): Promise<number> {
  const doc = semanticsDocument({ sections: [explorerSection(), ...(await costSections()), await realTracesSection(bundledTraces())] });
  if (opts.check) {
    let committed = '';
    try {
      committed = readFileSync(opts.out, 'utf8');
    } catch {
      committed = '';
    }
    if (committed === doc) {
      process.stdout.write(`${opts.out} is up to date\n`);
      return EXIT.ok;
    }
    process.stderr.write(`${opts.out} is stale: run \`trollcount doc\` and commit the result\n`);
    return EXIT.violation;
  }
  writeFileSync(opts.out, doc);
  process.stdout.write(`wrote ${opts.out}\n`);
  return EXIT.ok;
}
