// eclipse report: the benchmark's results as the page people read (tables beside the paper's
// numbers, sweep plots, training curves, image figures), from a matrix results database.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { defaultArtifacts } from '../matrix/runner.js';
import { UsageError, parse, required, str, type Flags } from './args.js';

export const REPORT_HELP = `eclipse report --db FILE [--artifacts DIR] [--out DIR] [--data PATH]

Writes, from a matrix results database (eclipse matrix run), a self-contained report.html
(no network: inline CSS, SVG plots, images as data: URIs), report.md and results.csv:
  - Table 1: test accuracy per attack x defence, one table per architecture, mean over seeds,
    the paper's ResNet-18 number beside ours; AVG over the non-adaptive attacks present;
    the best qualified defence per attack in bold (the paper's rule: under 50% on any attack
    is unqualified, the line rescaled by our clean accuracy over the paper's)
  - Table 3: clean accuracy per architecture x defence (the "clean" cells)
  - Table 4: ECLIPSE's parts (cells with option ablation)
  - sweeps: accuracy against every ECLIPSE option with several values (Vega-Lite plots)
  - training curves: train loss and test accuracy per epoch, one plot per defence (from the
    artifacts' logs, else the curve each result keeps, so merged results still have them)
  - Fig. 1 (clean, poisoned, amplified perturbation) and Fig. 4 (clean, poisoned, noised,
    purified) from the poisons and purified sets under ARTIFACTS
  - results.csv: one line per architecture x defence x attack x swept-option values
Empty or partial databases give a report that says what is missing. The database and the
artifacts are only read: nothing is written to them or beside them.
  --db FILE          results database
  --artifacts DIR    the matrix's shared artifacts (default: beside the database)
  --out DIR          output folder (default: report/ beside the database)
  --data PATH        the clean training set for the figures: a .safetensors file, its data
                     folder, or the matrix config naming it (default data/cifar10-<profile>/)
  --no-images        leave out Fig. 1 and Fig. 4 (for a report published where the dataset's
                     images may not go, e.g. committed to a repository)
  --quiet            no progress output
  -h, --help         this help`;

/** A path flag's value; an empty one is a mistake (a shell variable that was not set), not ".". */
function path(flags: Flags, name: string): string | undefined {
  const v = str(flags, name);
  if (v === '') throw new UsageError(`--${name} is empty: give a path`);
  return v;
}

/** An input given explicitly must exist: a mistyped one would give a report silently missing its curves or figures. */
function input(flags: Flags, name: string, kind: 'folder' | 'path', fix: string): string | undefined {
  const v = path(flags, name);
  if (v === undefined) return undefined;
  let dir: boolean;
  try {
    dir = statSync(v).isDirectory();
  } catch {
    throw new Error(`--${name} ${v} does not exist: ${fix}`);
  }
  if (kind === 'folder' && !dir) throw new Error(`--${name} ${v} is a file, not a folder: ${fix}`);
  return v;
}

export async function reportCommand(argv: string[]): Promise<void> {
  const { flags, positionals } = parse(argv, { db: { type: 'string' }, artifacts: { type: 'string' }, out: { type: 'string' }, data: { type: 'string' }, 'no-images': { type: 'boolean' } });
  if (flags.help) return console.log(REPORT_HELP);
  if (positionals.length > 0) throw new UsageError(`takes no positional argument (got "${positionals[0]}"): give the results database as --db ${positionals[0]}`);
  const db = path(flags, 'db') ?? required(flags, 'db', 'the results database (from eclipse matrix run)');
  const out = path(flags, 'out') ?? join(dirname(db), 'report');
  const artifacts = input(flags, 'artifacts', 'folder', "give the matrix's artifacts folder, or leave --artifacts out (default: artifacts/ beside the database)");
  const data = input(flags, 'data', 'path', 'give the clean training set (a .safetensors file, its data folder or the matrix config), or leave --data out');
  const quiet = flags.quiet === true;
  // loaded here: vega and vega-lite are not needed by the other commands
  const { writeReport } = await import('../report/build.js');
  const r = await writeReport({
    db, out, artifactsDir: artifacts ?? defaultArtifacts(db), data, images: flags['no-images'] !== true,
    log: (m) => quiet || console.error(m),
  });
  console.log(`report: ${r.html} (also ${r.md}, ${r.csv})`);
}
