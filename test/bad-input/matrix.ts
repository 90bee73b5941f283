// Bad input to `eclipse matrix run | export | merge`: a config that is missing, empty, not JSON,
// misspelt, out of range (every option, setting, seed and name), asks for what cannot run (a
// given poison that is not there, data that is not there, --only matching nothing); an export or
// merge given a missing or foreign database or CSV, or an --out that exists. Each fails when the
// config or the flags are read, before any training, and writes nothing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BadInputRow, RowContext } from './types.js';

/** A small valid config (smoke, one cell, no clean twin) with `patch` over it. */
function config(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 't', profile: 'smoke', cleanTwins: false, groups: [{ attacks: ['urp'], defenses: ['none'] }], ...patch };
}

/** Setup writing `text` (or a config object as JSON) to c.json in the row's folder. */
const writes =
  (body: string | Record<string, unknown>, file = 'c.json') =>
  ({ dir }: RowContext): void =>
    writeFileSync(join(dir, file), typeof body === 'string' ? body : JSON.stringify(body));

const run = (...more: string[]): string[] => ['matrix', 'run', 'c.json', ...more];

/** A SQLite database of another program (one table, foo); node:sqlite loaded here so this file imports on any Node. */
async function foreignDb(file: string): Promise<void> {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE foo (x INTEGER); INSERT INTO foo VALUES (1);');
  db.close();
}

/** The header of a CSV from eclipse matrix export, with no rows. */
const EXPORT_HEADER = 'hash,label,attack,defense,architecture,seed,options,test_acc,clean_acc,seconds,finished_at,inputs,versions,extra,config\n';

export const rows: BadInputRow[] = [
  // ------------------------------------------------------------------ the config file itself
  { name: 'run without a config', args: ['matrix', 'run'], error: /matrix run needs a CONFIG file/ },
  { name: 'config that does not exist', args: run(), error: /matrix config c\.json does not exist \(examples are in configs\/\)/ },
  { name: 'config is a folder', args: run(), setup: ({ dir }) => mkdirSync(join(dir, 'c.json')), error: /matrix config c\.json is a folder: give the config's JSON file/ },
  { name: 'config is an empty file', args: run(), setup: writes(''), error: /matrix config c\.json is empty: it must be a JSON object with "profile" and "groups"/ },
  { name: 'config is not JSON (trailing comma)', args: run(), setup: writes('{"profile": "smoke",\n"groups": [],\n}'), error: /c\.json is not valid JSON: / },
  { name: 'config is a JSON list', args: run(), setup: writes('[1, 2]'), error: /c\.json: must be a JSON object with "profile" and "groups"/ },
  { name: 'two config files', args: ['matrix', 'run', 'c.json', 'd.json'], setup: writes(config()), error: /matrix run takes one CONFIG file; "d\.json" is one too many/ },
  // ------------------------------------------------------------------ names
  { name: 'unknown top-level key (profle)', args: run(), setup: writes(config({ profle: 'smoke' })), error: /c\.json: unknown key "profle" \(did you mean profile\?\)/ },
  { name: 'unknown group key (defences)', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defences: ['none'] }] })), error: /c\.json group 1: unknown key "defences" \(did you mean defenses\?\)/ },
  { name: 'unknown profile (smok)', args: run(), setup: writes(config({ profile: 'smok' })), error: /c\.json: unknown profile "smok" \(did you mean smoke\?\)/ },
  { name: 'unknown attack (emm)', args: run(), setup: writes(config({ groups: [{ attacks: ['emm'], defenses: ['none'] }] })), error: /c\.json group 1: unknown attack "emm" \(did you mean em\?\)/ },
  { name: 'unknown defence (isg-g)', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['isg-g'] }] })), error: /c\.json group 1: unknown defense "isg-g" \(did you mean iss-g\?\)/ },
  { name: 'unknown architecture (resnet81)', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['none'], architectures: ['resnet81'] }] })), error: /unknown architecture "resnet81" \(did you mean resnet18\?\)/ },
  { name: 'unknown option (tstar)', args: run(), setup: writes(config({ options: { tstar: 50 } })), error: /c\.json options: unknown option "tstar" \(did you mean tStar\?\)/ },
  { name: 'poison given for an unknown attack', args: run(), setup: writes(config({ poisons: { emm: 'p.safetensors' } })), error: /c\.json poisons: unknown attack "emm" \(did you mean em\?\)/ },
  { name: 'name with ../ (database outside runs/)', args: run(), setup: writes(config({ name: '../escape' })), error: /c\.json: "name" must be 1 to 100 letters, digits, dots, dashes or underscores \(it names the folder runs\/matrix-<name>\/\), got "\.\.\/escape"/ },
  { name: 'absolute name', args: run(), setup: writes(config({ name: '/tmp/abs' })), error: /"name" must be 1 to 100 letters.*got "\/tmp\/abs"/ },
  { name: 'name with a slash', args: run('--dry-run'), setup: writes(config({ name: 'a/b' })), error: /"name" must be 1 to 100 letters.*got "a\/b"/ },
  // ------------------------------------------------------------------ values out of range
  { name: 'tStar -5', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['eclipse'], options: { tStar: -5 } }] })), error: /c\.json group 1 options: option tStar must be an integer in 1\.\.100 at the smoke profile, got -5/ },
  { name: 'tStar -5 with --dry-run', args: run('--dry-run'), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['eclipse'], options: { tStar: -5 } }] })), error: /option tStar must be an integer in 1\.\.100 at the smoke profile, got -5/ },
  { name: 'tStar beyond what the denoiser is trained on, in a sweep', args: run('--dry-run'), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['eclipse'], sweep: { tStar: [50, 500] } }] })), error: /c\.json group 1 sweep: option tStar must be an integer in 1\.\.100 at the smoke profile, got 500/ },
  { name: 'tStar a string', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['eclipse'], options: { tStar: '50' } }] })), error: /option tStar must be an integer in 1\.\.100 at the smoke profile, got "50"/ },
  { name: 'sigma above 1', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['eclipse'], options: { sigma: 5 } }] })), error: /option sigma must be a number in 0\.\.1, got 5/ },
  { name: 'p negative', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['eclipse'], options: { p: -0.4 } }] })), error: /option p must be a number in 0\.\.1, got -0\.4/ },
  { name: 'M 0', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['eclipse'], options: { M: 0 } }] })), error: /option M must be an integer >= 1, got 0/ },
  { name: 'lr negative', args: run(), setup: writes(config({ options: { lr: -0.1 } })), error: /c\.json options: option lr must be a number in 0\.000001\.\.10, got -0\.1/ },
  { name: 'epochs 0', args: run(), setup: writes(config({ options: { epochs: 0 } })), error: /option epochs must be an integer >= 1, got 0/ },
  { name: 'batchSize 2.5', args: run(), setup: writes(config({ options: { batchSize: 2.5 } })), error: /option batchSize must be an integer >= 1, got 2\.5/ },
  { name: 'poisonSeed negative', args: run(), setup: writes(config({ options: { poisonSeed: -1 } })), error: /option poisonSeed must be an integer >= 0, got -1/ },
  { name: 'negative seed', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['none'], seeds: [0, -1] }] })), error: /c\.json group 1: every seed in "seeds" must be an integer >= 0, got -1/ },
  { name: 'seed not an integer', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['none'], seeds: ['0'] }] })), error: /every seed in "seeds" must be an integer >= 0, got "0"/ },
  { name: 'no seeds', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['none'], seeds: [] }] })), error: /c\.json group 1: "seeds" must be a non-empty list of integers >= 0, got \[\]/ },
  { name: 'no groups', args: run(), setup: writes(config({ groups: [] })), error: /"groups" must be a non-empty list/ },
  { name: 'cleanTwins a string', args: run(), setup: writes(config({ cleanTwins: 'no' })), error: /"cleanTwins" must be true or false, got "no"/ },
  { name: 'attack setting out of range (attack.steps 0)', args: run(), setup: writes(config({ groups: [{ attacks: ['em'], defenses: ['none'], options: { 'attack.steps': 0 } }] })), error: /c\.json group 1: attack\.steps for the em attack must be an integer >= 1, got 0/ },
  { name: 'attack setting misspelt (attack.stpes)', args: run(), setup: writes(config({ groups: [{ attacks: ['em'], defenses: ['none'], options: { 'attack.stpes': 2 } }] })), error: /the em attack has no setting "stpes" \(did you mean steps\?\)/ },
  { name: 'attack setting on an attack without settings', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['none'], options: { 'attack.steps': 2 } }] })), error: /attack\.steps is set, but the urp attack has no settings/ },
  { name: 'defence setting out of range (defense.eps 8)', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['at'], options: { 'defense.eps': 8 } }] })), error: /c\.json group 1: defense\.eps for the at defence must be a number in 0\.\.1, got 8/ },
  { name: 'defence setting misspelt (defense.stpes)', args: run(), setup: writes(config({ groups: [{ attacks: ['urp'], defenses: ['at'], options: { 'defense.stpes': 2 } }] })), error: /the at defence has no setting "stpes" \(did you mean steps\?\)/ },
  { name: 'ECLIPSE option on a baseline cell', args: run(), setup: writes(config({ options: { tStar: 50 } })), error: /c\.json group 1, cell urp\/none\/resnet18\/seed 0: tStar is an ECLIPSE option; give it only to eclipse cells/ },
  // ------------------------------------------------------------------ what cannot run
  {
    name: 'given poison that does not exist',
    args: run(),
    setup: writes(config({ poisons: { urp: 'missing.safetensors' } })),
    error: /matrix t: none of its 1 cell\(s\) can run: the given poison file .*missing\.safetensors \(1 cell\(s\)\) is missing: make it with eclipse poison/,
  },
  {
    name: 'data files that do not exist',
    args: run(),
    setup: writes(config({ data: { train: 'train.safetensors', test: 'test.safetensors', pool: 'pool.safetensors' } })),
    error: /matrix t: its data file "train" .*train\.safetensors does not exist/,
  },
  { name: '--only matching no cell', args: run('--only', 'emm'), setup: writes(config()), error: /--only "emm" matches none of the 1 cells: its words must be parts of a cell's label/ },
  { name: '--store without --queue', args: run('--store', 'store'), setup: writes(config()), error: /--store is the shared artifact store of a --queue run/ },
  { name: '--queue not a Redis URL', args: run('--queue', 'http://localhost:6379', '--store', 'store'), setup: writes(config()), error: /--queue must be a Redis URL starting with redis:\/\/ or rediss:\/\// },
  { name: '--queue without --store', args: run('--queue', 'redis://127.0.0.1:1'), setup: writes(config()), error: /--store is required: the shared artifact store every worker mounts/ },
  { name: 'unknown matrix command (rn)', args: ['matrix', 'rn', 'c.json'], error: /unknown matrix command "rn" \(did you mean run\?\)/ },
  // ------------------------------------------------------------------ export
  { name: 'export without --db', args: ['matrix', 'export'], error: /--db is required: the results database to export/ },
  { name: 'export with the database as an argument', args: ['matrix', 'export', 'results.sqlite'], error: /matrix export takes no file argument; "results\.sqlite" is one too many \(the database is --db FILE\)/ },
  { name: 'export a database that does not exist', args: ['matrix', 'export', '--db', 'results.sqlite'], error: /no results database at results\.sqlite/ },
  { name: 'export a text file as the database', args: ['matrix', 'export', '--db', 'results.sqlite'], setup: writes('hash,label\n', 'results.sqlite'), error: /results\.sqlite is not an eclipse results database \(not a SQLite file\)/ },
  { name: 'export over an --out that exists', args: ['matrix', 'export', '--db', 'results.sqlite', '--out', 'out.csv'], setup: writes('kept\n', 'out.csv'), error: /--out out\.csv exists: give another --out, or --overwrite to replace it/ },
  { name: 'export --out a folder', args: ['matrix', 'export', '--db', 'results.sqlite', '--out', 'out'], setup: ({ dir }) => mkdirSync(join(dir, 'out')), error: /--out out is a folder: give the CSV file to write/ },
  // ------------------------------------------------------------------ merge
  { name: 'merge without a CSV', args: ['matrix', 'merge', '--db', 'results.sqlite'], error: /matrix merge needs the CSV file to merge/ },
  { name: 'merge without --db', args: ['matrix', 'merge', 'in.csv'], setup: writes(EXPORT_HEADER, 'in.csv'), error: /--db is required: the results database to merge into/ },
  { name: 'merge a CSV that does not exist', args: ['matrix', 'merge', 'in.csv', '--db', 'results.sqlite'], error: /in\.csv does not exist: give a CSV file written by eclipse matrix export/ },
  { name: 'merge an empty CSV', args: ['matrix', 'merge', 'in.csv', '--db', 'results.sqlite'], setup: writes('', 'in.csv'), error: /in\.csv is not a CSV written by eclipse matrix export \(it is empty\)/ },
  { name: 'merge a CSV of something else', args: ['matrix', 'merge', 'in.csv', '--db', 'results.sqlite'], setup: writes('a,b,c\n1,2,3\n', 'in.csv'), error: /in\.csv is not a CSV written by eclipse matrix export \(no column hash, label, attack, \.\.\.\)/ },
  {
    name: 'merge a damaged export row',
    args: ['matrix', 'merge', 'in.csv', '--db', 'results.sqlite'],
    setup: writes(`${EXPORT_HEADER}0123456789abcdef,x,urp,none,resnet18,0,{},seventy,,1,,{},{},{},{}\n`, 'in.csv'),
    error: /in\.csv row 1 \(0123456789abcdef\) is damaged .*nothing was merged/,
  },
  {
    name: "merge into another program's SQLite database",
    args: ['matrix', 'merge', 'in.csv', '--db', 'other.db'],
    setup: async ({ dir }) => {
      writes(EXPORT_HEADER, 'in.csv')({ dir });
      await foreignDb(join(dir, 'other.db'));
    },
    error: /other\.db is another program's SQLite database \(its tables: foo\), not an eclipse results database: it was left as it is/,
  },
  {
    name: "run with --db another program's SQLite database",
    args: run('--db', 'other.db'),
    setup: async ({ dir }) => {
      writes(config())({ dir });
      await foreignDb(join(dir, 'other.db'));
    },
    error: /other\.db is another program's SQLite database \(its tables: foo\)/,
  },
  { name: 'merge into a text file', args: ['matrix', 'merge', 'in.csv', '--db', 'results.sqlite'], setup: ({ dir }) => (writes(EXPORT_HEADER, 'in.csv')({ dir }), writes('not a database\n', 'results.sqlite')({ dir })), error: /results\.sqlite is not (a SQLite database|an eclipse results database)/ },
];
