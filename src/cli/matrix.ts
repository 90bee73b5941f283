// eclipse matrix run | export | merge: the attack x defence benchmark over a results database.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { atomicWriteFile } from '../io/atomic.js';
import { MATRIX_OPTIONS, readMatrixConfig } from '../matrix/config.js';
import { ResultsDb, parseCsv, toCsv, type ResultRow } from '../matrix/db.js';
import { defaultArtifacts, estimateSeconds, previewMatrix, runMatrix } from '../matrix/runner.js';
import { COMMON_HELP, UsageError, interruptible, parse, required, str } from './args.js';
import { defaultDataDir } from './data.js';
import { runtimeFrom } from './train.js';

export const MATRIX_HELP = `eclipse matrix run CONFIG [--db FILE] [--only WORDS] [--dry-run] [--queue URL --store DIR]
eclipse matrix export [--db FILE] [--out FILE.csv]
eclipse matrix merge --db FILE FROM.csv

The benchmark of attacks x defences x architectures x seeds x any option, from a JSON config
(examples in configs/). Each cell is identified by the hash of its resolved recipe; results go
to one SQLite file (Node.js 22/24). Re-running skips finished cells and resumes an interrupted
one; several runners may share one database (each cell runs once). Poisons, denoisers and
purified sets are shared between cells by their own hashes (ARTIFACTS/).
  --db FILE          results database (default runs/matrix-<config name>/results.sqlite)
  --artifacts DIR    shared artifacts (default: beside the database)
  --only WORDS       only cells whose label has every word, e.g. --only "em eclipse"
  --dry-run          list the cells, their state and a cost estimate; run nothing
  --queue URL        run the cells on workers (eclipse worker) through Redis, redis://HOST:PORT;
                     this process owns the database and waits for them (docs/queue.md)
  --store DIR        with --queue: the artifact store every worker mounts (a shared path)
  --data DIR         the profile's CIFAR-10 import (default data/cifar10-<profile>)
  --source PATH      CIFAR-10 binary release to import from (default $ECLIPSE_CIFAR10)
  --out FILE         (export) CSV file (default: stdout)
Config: {"name", "profile", "options", "cleanTwins", "groups": [{"attacks", "defenses",
"architectures", "seeds", "options", "sweep"}]}; attack "clean" is the unpoisoned set, defence
"eclipse" is ECLIPSE. Options (fixed or swept): ${Object.keys(MATRIX_OPTIONS).join(', ')},
attack.<setting>, defense.<setting> (the flags' settings of eclipse poison / train).
${COMMON_HELP}`;

const defaultDb = (name: string): string => join('runs', `matrix-${name}`, 'results.sqlite');

export async function matrixCommand(argv: string[]): Promise<void> {
  const { flags, positionals } = parse(argv, {
    db: { type: 'string' }, artifacts: { type: 'string' }, only: { type: 'string' }, 'dry-run': { type: 'boolean' },
    data: { type: 'string' }, source: { type: 'string' }, out: { type: 'string' }, queue: { type: 'string' }, store: { type: 'string' },
  });
  const [sub, arg] = positionals;
  if (flags.help || sub === undefined) return console.log(MATRIX_HELP);
  if (sub === 'run') {
    const config = await readMatrixConfig(arg ?? (() => { throw new UsageError('matrix run needs a CONFIG file (e.g. configs/mini-matrix.json)'); })());
    const db = str(flags, 'db') ?? defaultDb(config.name);
    const only = str(flags, 'only') ? [str(flags, 'only')!] : undefined;
    if (flags['dry-run']) {
      const cells = previewMatrix({ config, only, db });
      let left = 0;
      for (const c of cells) {
        const est = estimateSeconds(c.cell);
        if (c.status !== 'done') left += est;
        console.log(`${c.cell.hash}  ${c.status.padEnd(7)}  ${c.status === 'done' ? `${((c.seconds ?? 0) / 60).toFixed(1)} min` : `~${(est / 60).toFixed(1)} min`}  ${c.cell.label}`);
      }
      console.log(`${cells.length} cells, ${cells.filter((c) => c.status === 'done').length} finished; about ${(left / 3600).toFixed(1)} h of classifier training left at the ${config.profile} profile's rate (poisons and denoisers not yet made come on top)`);
      return;
    }
    const stop = interruptible();
    const queue = str(flags, 'queue');
    if (str(flags, 'store') && !queue) throw new UsageError('--store is the shared artifact store of a --queue run (without a queue, --artifacts sets where artifacts go)');
    const common = { config, db, only, source: str(flags, 'source'), quiet: flags.quiet === true, log: (m: string) => console.error(m), signal: stop.signal };
    const r = queue
      ? await (await import('../queue/coordinator.js')).runMatrixOnQueue({
          ...common, queue, store: required(flags, 'store', 'the shared artifact store every worker mounts'), device: 'cpu',
          backoffMs: process.env.ECLIPSE_QUEUE_BACKOFF_MS ? Number(process.env.ECLIPSE_QUEUE_BACKOFF_MS) : undefined,
        })
      : await runMatrix({ ...common, artifactsDir: str(flags, 'artifacts') ?? defaultArtifacts(db), dataDir: str(flags, 'data') ?? defaultDataDir(config.profile), device: runtimeFrom(flags).device });
    stop.done();
    console.log(`matrix ${config.name}: ran ${r.ran}, already finished ${r.skipped}, failed ${r.failed}${r.others ? `, finished by another runner ${r.others}` : ''}; results in ${db}`);
    if (r.failed > 0) throw new Error(`${r.failed} cell(s) failed (the errors are above and in ${db}); re-running retries each once`);
    return;
  }
  if (sub === 'export') {
    const db = ResultsDb.open(required(flags, 'db', 'the results database to export'), { create: false });
    const csv = toCsv(db.results());
    db.close();
    const out = str(flags, 'out');
    if (out) await atomicWriteFile(out, csv);
    else process.stdout.write(csv);
    return;
  }
  if (sub === 'merge') {
    if (!arg) throw new UsageError('matrix merge needs the CSV file to merge (from eclipse matrix export)');
    const rows = parseCsv(await readFile(arg, 'utf8')).map((r) => ({ ...r, test_acc: Number(r.test_acc), seconds: Number(r.seconds) })) as unknown as ResultRow[];
    const db = ResultsDb.open(required(flags, 'db', 'the results database to merge into'));
    const n = db.merge(rows);
    db.close();
    console.log(`merged ${n} result(s) from ${arg} (${rows.length - n} already finished here)`);
    return;
  }
  throw new UsageError(`unknown matrix command "${sub}": run, export or merge`);
}
