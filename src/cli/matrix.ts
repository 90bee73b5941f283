// eclipse matrix run | export | merge: the attack x defence benchmark over a results database.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { atomicWriteFile } from '../io/atomic.js';
import { formatDuration } from '../io/progress.js';
import { MATRIX_OPTIONS, expandMatrix, readMatrixConfig } from '../matrix/config.js';
import { CSV_COLUMNS, CSV_DERIVED_COLUMNS, ResultsDb, parseCsv, toCsv, type ResultRow } from '../matrix/db.js';
import { costSummary, defaultArtifacts, missingPoison, missingText, previewMatrix, runMatrix, selectCells, type CellCost } from '../matrix/runner.js';
import { suggest } from '../settings.js';
import { COMMON_HELP, UsageError, interruptible, parse, required, str } from './args.js';
import { queueFlag } from './queue.js';
import { defaultDataDir } from './data.js';
import { runtimeFrom } from './train.js';

export const MATRIX_HELP = `eclipse matrix run CONFIG [--db FILE] [--only WORDS] [--make-poisons] [--dry-run] [--queue URL --store DIR]
eclipse matrix export [--db FILE] [--out FILE.csv [--overwrite]]
eclipse matrix merge --db FILE FROM.csv

The benchmark of attacks x defences x architectures x seeds x any option, from a JSON config
(examples in configs/). Each cell is identified by the hash of its resolved recipe; results go
to one SQLite file (Node.js 22/24). Re-running skips finished cells and resumes an interrupted
one; several runners may share one database (each cell runs once). Poisons, denoisers and
purified sets are shared between cells by their own hashes (ARTIFACTS/).
  --db FILE          results database (default runs/matrix-<config name>/results.sqlite)
  --artifacts DIR    shared artifacts (default: beside the database)
  --only WORDS       only cells whose label has these parts, each whole or without its value:
                     "em eclipse", "sep eclipse poison seed 1" (not defence seed 1), "tStar"
  --make-poisons     make a given poison file that is missing (as eclipse poison --attack A
                     --profile P --seed S makes it, from the matrix's training set) when the first
                     unfinished cell on it comes up, instead of leaving its cells out
  --dry-run          list the cells, their state and time; run nothing. States: done, pending,
                     running, stopped (its runner is gone: the next run resumes it), failed. A
                     cell not done is timed by the median of finished cells of its recipe in
                     the database; an ECLIPSE sweep point stage by stage (a denoiser or purified
                     set that a finished or earlier cell built is free; a new one is the median
                     of its recipe's builds, else scaled from a measured one, marked *)
  --queue URL        run the cells on workers (eclipse worker) through Redis, redis://HOST:PORT;
                     this process owns the database and waits for them (docs/queue.md)
  --store DIR        with --queue: the artifact store every worker mounts (a shared path)
  --data DIR         the profile's CIFAR-10 import (default data/cifar10-<profile>)
  --source PATH      CIFAR-10 binary release to import from (default $ECLIPSE_CIFAR10)
  --out FILE         (export) CSV file (default: stdout); an existing file is kept
  --overwrite        (export) replace an existing --out file
Config: {"name", "profile", "options", "cleanTwins", "data", "poisons", "groups": [{"attacks",
"defenses", "architectures", "seeds", "poisonSeeds", "defenseSeeds", "options", "sweep"}]};
attack "clean" is the unpoisoned set, defence "eclipse" is ECLIPSE. Three seeds per cell, each a
list (default [0]): "seeds" the classifier's, "poisonSeeds" the attack's generation run,
"defenseSeeds" the defence's own run (ECLIPSE's sparse set, denoiser and chain noise; AVATAR; OP).
"poisons": {"em": FILE} gives poison seed 0's file, {"em": {"0": FILE, "1": FILE}} one per seed.
Options (fixed or swept): ${Object.keys(MATRIX_OPTIONS).join(', ')},
attack.<setting>, defense.<setting> (the flags' settings of eclipse poison / train).
${COMMON_HELP}`;

const defaultDb = (name: string): string => join('runs', `matrix-${name}`, 'results.sqlite');

export async function matrixCommand(argv: string[]): Promise<void> {
  const { flags, positionals } = parse(argv, {
    db: { type: 'string' }, artifacts: { type: 'string' }, only: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'make-poisons': { type: 'boolean' },
    data: { type: 'string' }, source: { type: 'string' }, out: { type: 'string' }, queue: { type: 'string' }, store: { type: 'string' }, overwrite: { type: 'boolean' },
  });
  const [sub, arg] = positionals;
  if (flags.help || sub === undefined) return console.log(MATRIX_HELP);
  // a second file is a slip (two configs, or the database given without --db): never ignored
  const extra = (n: number, what: string): void => {
    if (positionals.length > n + 1) throw new UsageError(`matrix ${sub} takes ${what}; "${positionals[n + 1]}" is one too many${sub === 'export' ? ' (the database is --db FILE)' : ''}`);
  };
  if (sub === 'run') {
    extra(1, 'one CONFIG file');
    if (arg === undefined) throw new UsageError('matrix run needs a CONFIG file (e.g. configs/mini-matrix.json)');
    const queue = flags.queue === undefined ? undefined : queueFlag(flags);
    if (str(flags, 'store') !== undefined && !queue) throw new UsageError('--store is the shared artifact store of a --queue run (without a queue, --artifacts sets where artifacts go)');
    const makePoisons = flags['make-poisons'] === true;
    if (queue && makePoisons) throw new UsageError('--make-poisons is for a run without --queue: make the given poisons first (eclipse poison), then queue the matrix');
    if (queue && str(flags, 'artifacts') !== undefined) throw new UsageError('--artifacts is for a run without --queue: a --queue run keeps its artifacts in --store');
    const config = await readMatrixConfig(arg);
    const db = str(flags, 'db') ?? defaultDb(config.name);
    const only = str(flags, 'only') !== undefined ? [str(flags, 'only')!] : undefined;
    if (only) {
      const all = expandMatrix(config);
      if (selectCells(all, only).length === 0)
        throw new UsageError(`--only "${only[0]}" matches none of the ${all.length} cells: its words must be parts of a cell's label (a part without its value, "poison seed", is any poison seed), e.g. "${all[0]!.label}" (--dry-run lists them)`);
    }
    if (flags['dry-run']) {
      const { cells, costs } = previewMatrix({ config, only, db });
      // in the runner's order: it leaves out cells whose poison is missing (unless it makes it), so
      // those come last and build no shared stage (a denoiser, a purified set) for the cells that can run now
      const open = cells.filter((c) => c.status !== 'done');
      const missingOf = new Map(open.map((c) => [c.cell.hash, missingPoison(c.cell)]));
      const canRun = (c: (typeof open)[number]): boolean => makePoisons || missingOf.get(c.cell.hash) === null;
      const blocked = open.filter((c) => !canRun(c));
      const estimates = costs.plan([...open.filter(canRun), ...blocked].map((c) => c.cell));
      const pending: CellCost[] = [...estimates.values()];
      for (const c of cells) {
        const est = estimates.get(c.cell.hash) ?? { seconds: 0, measured: 0 };
        const missing = missingOf.get(c.cell.hash) ?? null;
        const time = c.status === 'done' ? formatDuration(c.seconds ?? 0) : `~${formatDuration(est.seconds)}${est.measured ? '' : '*'}`;
        const note = missing === null ? '' : makePoisons ? `  [its given poison ${missing} is made first; its time is not counted]` : `  [cannot run: given poison ${missing} is missing]`;
        console.log(`${c.cell.hash}  ${c.status.padEnd(7)}  ${time.padEnd(9)}  ${c.cell.label}${note}`);
      }
      console.log(`${cells.length} cells, ${cells.filter((c) => c.status === 'done').length} finished; ${costSummary(pending, config.profile, ' (marked *)')}`);
      if (blocked.length) console.log(`${blocked.length} of the unfinished cells cannot run until their given poison is there: ${missingText(blocked.map((c) => c.cell))}`);
      return;
    }
    const store = queue ? required(flags, 'store', 'the shared artifact store every worker mounts') : undefined;
    const stop = interruptible();
    const common = { config, db, only, source: str(flags, 'source'), quiet: flags.quiet === true, log: (m: string) => console.error(m), signal: stop.signal };
    const r = queue && store
      ? await (await import('../queue/coordinator.js')).runMatrixOnQueue({
          ...common, queue, store, device: 'cpu',
          backoffMs: process.env.ECLIPSE_QUEUE_BACKOFF_MS ? Number(process.env.ECLIPSE_QUEUE_BACKOFF_MS) : undefined,
        })
      : await runMatrix({ ...common, makePoisons, artifactsDir: str(flags, 'artifacts') ?? defaultArtifacts(db), dataDir: str(flags, 'data') ?? defaultDataDir(config.profile), device: runtimeFrom(flags).device });
    stop.done();
    const left = r.left ?? 0;
    console.log(`matrix ${config.name}: ran ${r.ran}, already finished ${r.skipped}, failed ${r.failed}${r.others ? `, finished by another runner ${r.others}` : ''}${left ? `, left out ${left} (given poison missing)` : ''}; results in ${db}`);
    // cells asked for that did not run make the run fail, whatever the reason
    const why = [
      ...(r.failed > 0 ? [`${r.failed} cell(s) failed (the errors are above and in ${db}; re-running retries each once)`] : []),
      ...(left > 0 ? [`${left} cell(s) could not run: their given poison file is missing (named above)`] : []),
    ];
    if (why.length) throw new Error(why.join('; '));
    return;
  }
  if (sub === 'export') {
    extra(0, 'no file argument');
    const dbFile = required(flags, 'db', 'the results database to export');
    const out = str(flags, 'out');
    // the output is checked before the database is read: nothing is replaced without being asked
    if (out !== undefined) {
      const st = await stat(out).catch(() => null);
      if (st?.isDirectory()) throw new UsageError(`--out ${out} is a folder: give the CSV file to write`);
      if (st && flags.overwrite !== true) throw new UsageError(`--out ${out} exists: give another --out, or --overwrite to replace it`);
    } else if (flags.overwrite) throw new UsageError('--overwrite replaces an existing --out file: give --out');
    // read-only: an export never writes into (or beside) the database it reads
    const csv = ResultsDb.read(dbFile, (db) => toCsv(db.results()));
    if (out) await atomicWriteFile(out, csv);
    else process.stdout.write(csv);
    return;
  }
  if (sub === 'merge') {
    extra(1, 'one CSV file');
    if (!arg) throw new UsageError('matrix merge needs the CSV file to merge (from eclipse matrix export)');
    const dbFile = required(flags, 'db', 'the results database to merge into');
    const rows = await readExport(arg);
    const db = ResultsDb.open(dbFile);
    const n = db.merge(rows);
    db.close();
    console.log(`merged ${n} result(s) from ${arg} (${rows.length - n} already finished here)`);
    return;
  }
  throw new UsageError(`unknown matrix command "${sub}"${suggest(sub, ['run', 'export', 'merge'])}: run, export or merge`);
}

/** The rows of a CSV made by eclipse matrix export, checked before any database is touched. */
async function readExport(file: string): Promise<ResultRow[]> {
  const st = await stat(file).catch(() => null);
  if (!st) throw new Error(`${file} does not exist: give a CSV file written by eclipse matrix export`);
  if (st.isDirectory()) throw new Error(`${file} is a folder: give a CSV file written by eclipse matrix export`);
  const text = await readFile(file, 'utf8');
  const head = text.split(/\r?\n/, 1)[0]!.split(',');
  const lacking = CSV_COLUMNS.filter((c) => !head.includes(c) && !CSV_DERIVED_COLUMNS.includes(c));
  if (text.trim() === '' || lacking.length > 0)
    throw new Error(`${file} is not a CSV written by eclipse matrix export (${text.trim() === '' ? 'it is empty' : `no column ${lacking.slice(0, 3).join(', ')}${lacking.length > 3 ? ', ...' : ''}`}): give the file matrix export wrote`);
  return parseCsv(text).map((r, i) => {
    const row = { ...r, test_acc: Number(r.test_acc), seconds: Number(r.seconds) } as unknown as ResultRow;
    let config: unknown;
    try {
      config = JSON.parse(r.config ?? '');
    } catch {
      config = null;
    }
    if (!Number.isFinite(row.test_acc) || row.test_acc < 0 || row.test_acc > 1 || !Number.isFinite(row.seconds) || typeof config !== 'object' || config === null)
      throw new Error(`${file} row ${i + 1} (${r.hash || 'no hash'}) is damaged (test_acc ${JSON.stringify(r.test_acc)}, seconds ${JSON.stringify(r.seconds)}, or its config): nothing was merged; export it again`);
    return row;
  });
}
