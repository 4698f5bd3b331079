import { Command, CommanderError, Option } from 'commander';
import { runCapture } from './capture.ts';
import { runCheck } from './check.ts';
import { runConvert } from './convert.ts';
import { runDoc } from './doc.ts';
import { runExplore } from './explore.ts';
import { EXIT, UsageError, exitWhenFlushed, reportFailure } from './exit.ts';

/**
 * trollcount: a thin command-line front over checker/ and traces/. Exit codes: 0 agree / ok,
 * 1 divergence or violated property, 2 bad input or usage, 3 inconclusive.
 */
const program = new Command()
  .name('trollcount')
  .description('Model, trace-check and explore Linux folio mapcount accounting and the "Zero, One, Two, Many" proposal.')
  .exitOverride()
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Exit codes: 0 agree/ok, 1 divergence or violated property, 2 bad input or usage, 3 inconclusive.

Examples:
  trollcount check                                  # the bundled real 6.1 and 6.12 traces
  trollcount check trace.ftrace.gz --kernel 6.12 --json
  trollcount convert trace.ftrace.gz -o trace.jsonl.gz
  trollcount explore --scheme proposal --depth 3 --out cex.jsonl
  trollcount doc`,
  );

program
  .command('check')
  .description('Replay traces through the model and check that the kernel agrees with the exact accounting, event by event.')
  .argument('[files...]', 'trace files: ftrace text, JSON, JSON Lines, optionally .gz (default: the bundled real traces)')
  .option('--json', 'print the report as JSON (specs/report.schema.json)')
  .option('--html <file>', 'also write a self-contained HTML report: summary, divergences, a timeline per folio')
  .option('--perfetto <file>', 'also write Chrome/Perfetto trace-event JSON (open it in ui.perfetto.dev)')
  .option('--scheme <names...>', 'schemes to run beside the exact one (default: all)')
  .addOption(new Option('--kernel <generation>', 'override the detected accounting generation').choices(['6.1', '6.12']))
  .addHelpText(
    'after',
    `
Examples:
  trollcount check
  trollcount check traces/fixtures/ops-fork-cow.jsonl
  trollcount check my.ftrace.gz --kernel 6.1 --json > report.json
  trollcount check traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl --html report.html --perfetto report.json`,
  )
  .action(async (files: string[], opts) => exitWhenFlushed(await runCheck(files, opts)));

program
  .command('convert')
  .description('Convert recorded ftrace text into trollcount JSON Lines events.')
  .argument('<ftrace>', 'ftrace text file (optionally .gz)')
  .requiredOption('-o, --out <file>', 'output JSON Lines file (.gz to compress)')
  .addOption(new Option('--kernel <generation>', 'override the detected accounting generation').choices(['6.1', '6.12']))
  .addHelpText('after', `
Example:
  trollcount convert traces/fixtures/real/6.1-thp-fork-cow.ftrace.gz -o /tmp/thp.jsonl`)
  .action(async (input: string, opts) => exitWhenFlushed(await runConvert(input, opts)));

program
  .command('explore')
  .description('Explore the state space (exhaustive breadth-first or random) and report hazards as minimal replayable counterexamples.')
  .option('--mode <mode>', 'bfs (exhaustive, bounded) or random (fast-check)', 'bfs')
  .option('--scheme <names...>', 'schemes whose properties are checked', ['proposal', 'proposal+vma-hooks'])
  .option('--depth <n>', 'depth bound (operations after setup)', '3')
  .option('--max-states <n>', 'stop after this many distinct states', '200000')
  .option('--runs <n>', 'random mode: number of sequences', '200')
  .option('--scope <name>', 'a named scope: default, merge, mremap, fork-many, double-map', 'default')
  .addOption(new Option('--kernel <generation>', 'MM behaviour to emulate').choices(['6.1', '6.12']).default('6.12'))
  .option('--no-readers', "do not ask the kernel's mapcount readers (COW reuse, unmap walks, smaps, pin checks...) at each decision")
  .option('--out <file>', 'write the first counterexample as a trace that `trollcount check` replays')
  .option('--json', 'print the report as JSON')
  .addHelpText('after', `
Examples:
  trollcount explore --depth 2
  trollcount explore --scheme proposal --scope fork-many --depth 4 --out many.jsonl
  trollcount explore --mode random --runs 500 --json`)
  .action(async (opts) => exitWhenFlushed(await runExplore(opts)));

program
  .command('doc')
  .description('Generate specs/semantics.md: diagrams and tables from the machines, worked examples and cost tables computed by the model.')
  .option('--check', 'exit 1 if the committed document is stale instead of writing it')
  .option('-o, --out <file>', 'where to write', 'specs/semantics.md')
  .addHelpText('after', `
Examples:
  trollcount doc
  trollcount doc --check`)
  .action(async (opts) => exitWhenFlushed(await runDoc(opts)));

program
  .command('capture')
  .description('Record a real kernel trace: boot a Debian kernel under qemu, run a workload with the rmap probes, write compressed ftrace text.')
  .addOption(new Option('--kernel <generation>', 'kernel to boot').choices(['6.1', '6.12']).makeOptionMandatory())
  .requiredOption('--workload <name>', 'workload to run (see traces/capture/README.md)')
  .requiredOption('-o, --out <file>', 'output .ftrace.gz (metadata goes beside it as .meta.json)')
  .option('--cache <dir>', 'download and build cache', '.capture-cache')
  .addHelpText('after', `
Example:
  trollcount capture --kernel 6.1 --workload thp-fork-cow -o /tmp/6.1-thp.ftrace.gz`)
  .action(async (opts) => exitWhenFlushed(await runCapture(opts)));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) await exitWhenFlushed(err.exitCode === 0 ? EXIT.ok : EXIT.badInput);
  if (err instanceof UsageError) {
    process.stderr.write(`trollcount: ${err.message}\n`);
    await exitWhenFlushed(EXIT.badInput);
  }
  await exitWhenFlushed(reportFailure(err));
}
