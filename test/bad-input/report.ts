// Bad input to `eclipse report`: a --db that is missing, empty, not SQLite, another program's
// database, damaged, of another schema, or a folder; an output folder that is a file, under a
// file, or would overwrite the database; explicit inputs that do not exist; bad flags. A report
// only reads: none of these may create or change a file (the harness checks the row's folder).
import { truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { BadInputRow } from './types.js';

/** A SQLite database made by another program (node:sqlite, as eclipse uses; loaded here so this file imports on any Node). */
async function sqliteFile(file: string, sql: string): Promise<void> {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(file);
  db.exec(sql);
  db.close();
}

/** A real, empty eclipse results database (as eclipse matrix run leaves it). */
async function eclipseDb(file: string): Promise<void> {
  const { ResultsDb } = await import('../../src/matrix/db.js');
  ResultsDb.open(file).close();
}

const NOT_ECLIPSE = /is not an eclipse results database .*give the results database that eclipse matrix run wrote/;

export const rows: BadInputRow[] = [
  {
    name: '--db a file that does not exist',
    args: ['report', '--db', 'results.sqlite'],
    error: /no results database at results\.sqlite: give the results database that eclipse matrix run wrote/,
  },
  {
    name: '--db in a folder that does not exist, with --out',
    args: ['report', '--db', join('runs', 'matrix-x', 'results.sqlite'), '--out', 'out'],
    error: /no results database at .*results\.sqlite/,
  },
  {
    name: '--db a 0-byte file',
    args: ['report', '--db', 'results.sqlite'],
    setup: ({ dir }) => writeFileSync(join(dir, 'results.sqlite'), ''),
    error: /results\.sqlite is empty \(0 bytes\), not an eclipse results database: give the results database/,
  },
  {
    name: '--db a text file',
    args: ['report', '--db', 'results.sqlite'],
    setup: ({ dir }) => writeFileSync(join(dir, 'results.sqlite'), 'hash,label\n'),
    error: /not an eclipse results database \(not a SQLite file\)/,
  },
  {
    name: '--db an empty SQLite database (no tables)',
    args: ['report', '--db', 'empty.sqlite'],
    setup: ({ dir }) => sqliteFile(join(dir, 'empty.sqlite'), 'PRAGMA user_version = 7'),
    error: /empty\.sqlite is not an eclipse results database \(no results table; it has no tables\)/,
  },
  {
    name: "--db another program's SQLite database (a foo table)",
    args: ['report', '--db', 'other.db'],
    setup: ({ dir }) => sqliteFile(join(dir, 'other.db'), "CREATE TABLE foo (x TEXT); INSERT INTO foo VALUES ('kept')"),
    error: /other\.db is not an eclipse results database \(no results table; its tables: foo\)/,
  },
  {
    name: '--db a SQLite database with a results table but none of eclipse\'s others',
    args: ['report', '--db', 'other.db'],
    setup: ({ dir }) => sqliteFile(join(dir, 'other.db'), 'CREATE TABLE results (score REAL)'),
    error: NOT_ECLIPSE,
  },
  {
    name: '--db an eclipse results database cut short',
    args: ['report', '--db', 'results.sqlite'],
    setup: async ({ dir }) => {
      await eclipseDb(join(dir, 'results.sqlite'));
      truncateSync(join(dir, 'results.sqlite'), 8192);
    },
    error: /results database results\.sqlite is damaged \(.*\): restore it from a copy or an exported CSV/,
  },
  {
    name: '--db an eclipse results database of another schema',
    args: ['report', '--db', 'results.sqlite'],
    setup: async ({ dir }) => {
      await eclipseDb(join(dir, 'results.sqlite'));
      await sqliteFile(join(dir, 'results.sqlite'), "UPDATE meta SET value = '9' WHERE key = 'schema'");
    },
    error: /results\.sqlite has results schema 9; this eclipse reads schema 1/,
  },
  {
    name: '--db a folder',
    args: ['report', '--db', 'runs'],
    setup: ({ dir }) => mkdirSync(join(dir, 'runs')),
    error: /runs is a folder, not a results database: give the database file in it/,
  },
  {
    name: '--out an existing file',
    args: ['report', '--db', 'results.sqlite', '--out', 'report.html'],
    setup: async ({ dir }) => {
      await eclipseDb(join(dir, 'results.sqlite'));
      writeFileSync(join(dir, 'report.html'), '<p>an older report</p>');
    },
    error: /the report's output folder report\.html is a file: give a folder/,
  },
  {
    name: '--out an existing file, checked before the database',
    args: ['report', '--db', 'missing.sqlite', '--out', 'notes.txt'],
    setup: ({ dir }) => writeFileSync(join(dir, 'notes.txt'), 'mine'),
    error: /output folder notes\.txt is a file/,
  },
  {
    name: '--out a folder under a file',
    args: ['report', '--db', 'results.sqlite', '--out', join('notes.txt', 'report')],
    setup: async ({ dir }) => {
      await eclipseDb(join(dir, 'results.sqlite'));
      writeFileSync(join(dir, 'notes.txt'), 'mine');
    },
    error: /cannot make the report's output folder notes\.txt\/report: notes\.txt is a file: give a folder that is not under a file/,
  },
  {
    name: '--out the folder of a database named results.csv (the report would overwrite it)',
    args: ['report', '--db', 'results.csv', '--out', '.'],
    setup: ({ dir }) => eclipseDb(join(dir, 'results.csv')),
    error: /results\.csv would overwrite the results database results\.csv it reads: give another output folder/,
  },
  {
    name: '--out a folder whose report.md is a folder',
    args: ['report', '--db', 'results.sqlite', '--out', 'out'],
    setup: async ({ dir }) => {
      await eclipseDb(join(dir, 'results.sqlite'));
      mkdirSync(join(dir, 'out', 'report.md'), { recursive: true });
    },
    error: /report\.md is a folder, where the report writes its report\.md: give another output folder/,
  },
  {
    name: '--artifacts a folder that does not exist',
    args: ['report', '--db', 'results.sqlite', '--artifacts', 'artefacts'],
    setup: ({ dir }) => eclipseDb(join(dir, 'results.sqlite')),
    error: /--artifacts artefacts does not exist: give the matrix's artifacts folder, or leave --artifacts out/,
  },
  {
    name: '--artifacts a file',
    args: ['report', '--db', 'results.sqlite', '--artifacts', 'results.sqlite'],
    setup: ({ dir }) => eclipseDb(join(dir, 'results.sqlite')),
    error: /--artifacts results\.sqlite is a file, not a folder/,
  },
  {
    name: '--data a file that does not exist',
    args: ['report', '--db', 'results.sqlite', '--data', 'train.safetensors'],
    setup: ({ dir }) => eclipseDb(join(dir, 'results.sqlite')),
    error: /--data train\.safetensors does not exist: give the clean training set/,
  },
  {
    name: '--db empty (an unset shell variable)',
    args: ['report', '--db', ''],
    error: /--db is empty: give a path/,
  },
  {
    name: '--out empty',
    args: ['report', '--db', 'results.sqlite', '--out', ''],
    setup: ({ dir }) => eclipseDb(join(dir, 'results.sqlite')),
    error: /--out is empty: give a path/,
  },
  {
    name: 'no --db',
    args: ['report'],
    error: /--db is required/,
  },
  {
    name: 'the database as a positional argument',
    args: ['report', 'results.sqlite'],
    setup: ({ dir }) => eclipseDb(join(dir, 'results.sqlite')),
    error: /no positional argument \(got "results\.sqlite"\): give the results database as --db results\.sqlite/,
  },
  {
    name: '--db without its value',
    args: ['report', '--db'],
    error: /--db/,
  },
  {
    name: 'an unknown flag (--dbb)',
    args: ['report', '--dbb', 'results.sqlite'],
    error: /--dbb/,
  },
];
