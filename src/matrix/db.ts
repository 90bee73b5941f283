// The matrix's results: one SQLite file (Node's built-in node:sqlite, WAL journal). Cells are
// claimed in a transaction with a lease, so several runners on one file never run a cell twice;
// a result is written in the same transaction that marks its cell done, so a crash loses at most
// the cell in flight. Old results stay as history when a cell is recomputed.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import { alive } from '../io/lock.js';

import { cellIdentity, type CellIdentity, type ResolvedCell } from './config.js';

export class MatrixDbError extends Error {}

const SCHEMA_VERSION = '1';
/** A running cell's lease; renewed while it runs, taken over by another runner when it lapses. */
export const LEASE_SECONDS = 600;

export interface ResultRow extends CellIdentity {
  /** the poison's and the defence's seeds (from the cell's recipe; 0 in cells made before them) */
  poison_seed: number;
  defense_seed: number;
  /** the poison's make-up (extra.makeup; empty for clean cells and cells recorded before it) */
  makeup_l2: number | null;
  makeup_high_freq: number | null;
  makeup_classwise: number | null;
  makeup_scan_score: number | null;
  /** what purification left (ECLIPSE cells: extra.purified_makeup, the purified set measured
   * against the clean one as a poison's make-up; empty elsewhere and in cells recorded before it) */
  purified_l2: number | null;
  purified_high_freq: number | null;
  purified_classwise: number | null;
  purified_scan_score: number | null;
  /** the config's option values, as JSON */
  options: string;
  test_acc: number;
  clean_acc: number | null;
  seconds: number;
  inputs: string;
  versions: string;
  finished_at: string;
  config: string;
  extra: string;
}

function sqliteModule(): typeof import('node:sqlite') {
  // Node 22 warns on stderr that SQLite is experimental when the module loads: eclipse chose it
  // knowingly, and the warning would be a second stderr line a user can do nothing about.
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (!/SQLite is an experimental feature/.test(typeof warning === 'string' ? warning : warning.message)) (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    // node:sqlite is built into Node.js 22.5+ (no flag from 22.13); older Node has no module.
    return createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite');
  } catch {
    throw new MatrixDbError(`the results database needs Node.js 22 or 24 (node:sqlite); this is ${process.version}: run with Node 22/24, e.g. npx -p node@24 node bin/eclipse.js matrix ...`);
  } finally {
    process.emitWarning = emit;
  }
}

function openSqlite(file: string): DatabaseSync {
  return new (sqliteModule().DatabaseSync)(file);
}

/**
 * Open read-only, creating nothing. `immutable`: no runner has the file open (no WAL file beside
 * it), so SQLite may skip its shared-memory file, which a read-only open would otherwise create
 * and leave beside the database. The URI's mode=ro and the readOnly option both keep a Node
 * that ignored either one from creating a file.
 */
function openSqliteReadOnly(file: string, immutable: boolean): DatabaseSync {
  const url = pathToFileURL(resolve(file));
  url.searchParams.set('mode', 'ro');
  if (immutable) url.searchParams.set('immutable', '1');
  return new (sqliteModule().DatabaseSync)(url.href, { readOnly: true });
}

const FIX_DB = 'give the results database that eclipse matrix run wrote';

/** Refuse, from its first bytes, a file that cannot be a results database; reads nothing else. */
function checkResultsFile(file: string): void {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new MatrixDbError(`no results database at ${file}: ${FIX_DB}`);
    throw new MatrixDbError(`cannot read results database ${file}: ${(e as Error).message}`);
  }
  if (st.isDirectory()) throw new MatrixDbError(`${file} is a folder, not a results database: give the database file in it (eclipse matrix run writes results.sqlite)`);
  if (!st.isFile()) throw new MatrixDbError(`${file} is not a regular file, so not an eclipse results database: ${FIX_DB}`);
  if (st.size === 0) throw new MatrixDbError(`${file} is empty (0 bytes), not an eclipse results database: ${FIX_DB}`);
  const head = Buffer.alloc(16);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1') !== 'SQLite format 3\u0000') throw new MatrixDbError(`${file} is not an eclipse results database (not a SQLite file): ${FIX_DB}`);
}

/** Refuse an intact SQLite file that is not an eclipse results database of this schema. */
function checkResultsTables(file: string, db: DatabaseSync): void {
  let tables: string[];
  try {
    const check = db.prepare('PRAGMA quick_check').get() as { quick_check: string } | undefined;
    if (check && check.quick_check !== 'ok') throw new Error(check.quick_check);
    tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  } catch (e) {
    throw new MatrixDbError(`results database ${file} is damaged (${(e as Error).message.split('\n')[0]}): restore it from a copy or an exported CSV (eclipse matrix merge)`);
  }
  const missing = ['results', 'cells', 'meta'].find((t) => !tables.includes(t));
  if (missing) {
    const has = tables.filter((t) => !t.startsWith('sqlite_'));
    throw new MatrixDbError(`${file} is not an eclipse results database (no ${missing} table; ${has.length ? `its tables: ${has.join(', ')}` : 'it has no tables'}): ${FIX_DB}`);
  }
  const v = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
  if (v && v.value !== SCHEMA_VERSION) throw new MatrixDbError(`${file} has results schema ${v.value}; this eclipse reads schema ${SCHEMA_VERSION}: read it with the eclipse that wrote it`);
}

/**
 * Run `fn`, retrying while SQLite reports the database locked. Two runners opening a new file at
 * once race to create it and switch it to WAL; some of those steps answer SQLITE_BUSY without
 * waiting on the busy timeout.
 */
function whileBusy<T>(fn: () => T, timeoutMs = 30_000): T {
  const until = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(500, wait * 2)) {
    try {
      return fn();
    } catch (e) {
      if (!/database is locked|SQLITE_BUSY/i.test((e as Error).message) || Date.now() > until) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait + Math.random() * wait);
    }
  }
}

/** A cell's state as the runners see it. */
export interface CellStatus {
  status: string;
  attempts: number;
  error: string | null;
  seconds: number | null;
  /** 'running' but its runner is gone (lease lapsed, or its process on this host has ended): the next run takes it over */
  abandoned: boolean;
}

interface Lease {
  host: string | null;
  pid: number | null;
  lease_until: number | null;
}

/** A running cell whose lease lapsed, or whose runner on this host is no longer alive. */
function abandoned(c: Lease, now: number, me: string): boolean {
  return (c.lease_until ?? 0) < now || (c.host === me && c.pid !== null && c.pid !== process.pid && !alive(c.pid));
}

export class ResultsDb {
  readonly runner = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  /** the cells table's insert, prepared on first use (registerCell runs once per cell of a config) */
  private cellInsert: StatementSync | undefined;
  private constructor(readonly file: string, private readonly db: DatabaseSync) {}

  /** Open (or create) the database; a damaged file is reported and left untouched. */
  static open(file: string, o: { create?: boolean } = {}): ResultsDb {
    if (!existsSync(file)) {
      if (o.create === false) throw new MatrixDbError(`no results database at ${file}: run eclipse matrix run first, or give the right --db`);
      mkdirSync(dirname(file), { recursive: true });
    } else {
      const head = readFileSync(file).subarray(0, 16).toString('latin1');
      if (head.length > 0 && head !== 'SQLite format 3\u0000')
        throw new MatrixDbError(`${file} is not a SQLite database (damaged or another file): it was left as it is; give another --db, or restore it (eclipse matrix merge can rebuild one from exported CSV)`);
    }
    let db: DatabaseSync;
    try {
      db = openSqlite(file);
      db.exec('PRAGMA busy_timeout = 30000');
      const check = whileBusy(() => db.prepare('PRAGMA quick_check').get()) as { quick_check: string } | undefined;
      if (check && check.quick_check !== 'ok') throw new Error(check.quick_check);
    } catch (e) {
      if (e instanceof MatrixDbError) throw e;
      throw new MatrixDbError(`results database ${file} is damaged (${(e as Error).message}): it was left as it is; give another --db, or restore it from a copy or an exported CSV (eclipse matrix merge)`);
    }
    // Another program's database is not ours to add tables to (an empty one becomes ours).
    const tables = (whileBusy(() => db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all()) as { name: string }[]).map((t) => t.name);
    if (tables.length > 0 && !['meta', 'cells', 'results'].every((t) => tables.includes(t))) {
      db.close();
      throw new MatrixDbError(`${file} is another program's SQLite database (its tables: ${tables.slice(0, 5).join(', ')}), not an eclipse results database: it was left as it is; give a new file for the results`);
    }
    whileBusy(() => db.exec('PRAGMA journal_mode = WAL'));
    // The tables and the schema row in one transaction: a second runner opening the same new
    // file sees all of them or none (between single statements it saw "meta" alone and took the
    // file for another program's).
    const results = new ResultsDb(file, db);
    try {
      results.tx(() => {
        db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS cells (
          hash TEXT PRIMARY KEY, label TEXT NOT NULL, attack TEXT NOT NULL, defense TEXT NOT NULL,
          architecture TEXT NOT NULL, seed INTEGER NOT NULL, options TEXT NOT NULL, config TEXT NOT NULL,
          status TEXT NOT NULL DEFAULT 'pending', runner TEXT, host TEXT, pid INTEGER, lease_until REAL,
          attempts INTEGER NOT NULL DEFAULT 0, error TEXT, updated_at TEXT);
        CREATE TABLE IF NOT EXISTS results (
          id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL, test_acc REAL NOT NULL, seconds REAL NOT NULL,
          inputs TEXT NOT NULL, versions TEXT NOT NULL, extra TEXT NOT NULL, finished_at TEXT NOT NULL,
          current INTEGER NOT NULL DEFAULT 1, runner TEXT);
        CREATE INDEX IF NOT EXISTS results_hash ON results (hash, current);
      `);
        const v = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
        if (!v) db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', SCHEMA_VERSION);
        else if (v.value !== SCHEMA_VERSION) throw new MatrixDbError(`${file} has results schema ${v.value}; this eclipse writes schema ${SCHEMA_VERSION}: use another --db`);
      });
    } catch (e) {
      db.close();
      throw e;
    }
    return results;
  }

  /**
   * Read a results database without writing to it or beside it (eclipse report): a file
   * that is not an eclipse results database is refused in one line, and nothing is created.
   */
  static read<T>(file: string, fn: (db: ResultsDb) => T): T {
    checkResultsFile(file);
    for (let attempt = 0; ; attempt++) {
      const live = existsSync(`${file}-wal`);
      let db: DatabaseSync;
      try {
        db = openSqliteReadOnly(file, !live);
      } catch (e) {
        if (e instanceof MatrixDbError) throw e;
        throw new MatrixDbError(`cannot open results database ${file} (${(e as Error).message}): ${FIX_DB}`);
      }
      let out: T;
      try {
        if (live) db.exec('PRAGMA busy_timeout = 30000');
        checkResultsTables(file, db);
        out = whileBusy(() => fn(new ResultsDb(file, db)));
      } finally {
        db.close();
      }
      // A runner that opened the file during an immutable read may have checkpointed pages under
      // it: read once more, through the runner's WAL.
      if (live || attempt > 0 || !existsSync(`${file}-wal`)) return out;
    }
  }

  close(): void {
    this.db.close();
  }

  /** Run fn in a write transaction (BEGIN IMMEDIATE: one writer at a time across processes). */
  private tx<T>(fn: () => T): T {
    whileBusy(() => this.db.exec('BEGIN IMMEDIATE'));
    try {
      const r = fn();
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  /** Register cells (new ones pending; known ones untouched). */
  addCells(cells: readonly ResolvedCell[]): void {
    this.tx(() => {
      for (const c of cells) this.registerCell(c, JSON.stringify(c));
    });
  }

  /** One cell's row (its identity, options and resolved recipe as `config`), unless it is there. */
  private registerCell(c: ResolvedCell, config: string): void {
    const id = cellIdentity(c);
    this.cellInsert ??= this.db.prepare('INSERT OR IGNORE INTO cells (hash, label, attack, defense, architecture, seed, options, config, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.cellInsert.run(id.hash, id.label, id.attack, id.defense, id.architecture, id.seed, JSON.stringify(c.spec.options), config, new Date().toISOString());
  }

  /**
   * Cells whose current result did not come from their current inputs (`same` says, given the
   * stored inputs and extra) go back to pending; their old rows stay as history. Pending cells
   * whose current result matches again (a changed file put back before the cell reran) are done
   * again. Returns how many of each.
   */
  syncInputs(hashes: readonly string[], same: (hash: string, stored: { inputs: string; extra: string }) => boolean): { changed: number; restored: number } {
    const sel = this.db.prepare('SELECT r.inputs, r.extra, c.status FROM results r JOIN cells c ON c.hash = r.hash WHERE r.hash = ? AND r.current = 1');
    const set = this.db.prepare('UPDATE cells SET status = ?, updated_at = ? WHERE hash = ? AND status = ?');
    const out = { changed: 0, restored: 0 };
    this.tx(() => {
      for (const h of hashes) {
        const r = sel.get(h) as { inputs: string; extra: string; status: string } | undefined;
        if (!r || (r.status !== 'done' && r.status !== 'pending')) continue;
        const ok = same(h, r);
        if (r.status === 'done' && !ok) {
          set.run('pending', new Date().toISOString(), h, 'done');
          out.changed++;
        } else if (r.status === 'pending' && ok) {
          set.run('done', new Date().toISOString(), h, 'pending');
          out.restored++;
        }
      }
    });
    return out;
  }

  /** Claim the next runnable cell among `hashes` (in that order): pending, failed (retries left), or a lapsed/dead runner's. */
  claim(hashes: readonly string[], maxAttempts = 2): string | null {
    const now = Date.now() / 1000;
    const me = hostname();
    const get = this.db.prepare('SELECT status, host, pid, lease_until, attempts FROM cells WHERE hash = ?');
    const take = this.db.prepare("UPDATE cells SET status = 'running', runner = ?, host = ?, pid = ?, lease_until = ?, attempts = attempts + 1, updated_at = ? WHERE hash = ?");
    return this.tx(() => {
      for (const h of hashes) {
        const c = get.get(h) as { status: string; host: string | null; pid: number | null; lease_until: number | null; attempts: number } | undefined;
        if (!c) continue;
        const runnable = c.status === 'pending' || (c.status === 'failed' && c.attempts < maxAttempts) || (c.status === 'running' && abandoned(c, now, me));
        if (!runnable) continue;
        take.run(this.runner, me, process.pid, now + LEASE_SECONDS, new Date().toISOString(), h);
        return h;
      }
      return null;
    });
  }

  /** Extend this runner's lease on a cell (false when another runner has taken it over). */
  renew(hash: string): boolean {
    const r = whileBusy(() => this.db.prepare("UPDATE cells SET lease_until = ? WHERE hash = ? AND runner = ? AND status = 'running'").run(Date.now() / 1000 + LEASE_SECONDS, hash, this.runner));
    return Number(r.changes) === 1;
  }

  /** Record a finished cell: once, and only by the runner holding it. */
  finish(hash: string, r: { testAcc: number; seconds: number; inputs: string; versions: Record<string, string>; extra: Record<string, unknown> }): boolean {
    return this.tx(() => {
      const own = this.db.prepare("SELECT 1 AS ok FROM cells WHERE hash = ? AND runner = ? AND status = 'running'").get(hash, this.runner);
      if (!own) return false;
      this.db.prepare('UPDATE results SET current = 0 WHERE hash = ?').run(hash);
      this.db
        .prepare('INSERT INTO results (hash, test_acc, seconds, inputs, versions, extra, finished_at, runner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(hash, r.testAcc, r.seconds, r.inputs, JSON.stringify(r.versions), JSON.stringify(r.extra), new Date().toISOString(), this.runner);
      this.db.prepare("UPDATE cells SET status = 'done', error = NULL, lease_until = NULL, updated_at = ? WHERE hash = ?").run(new Date().toISOString(), hash);
      return true;
    });
  }

  fail(hash: string, error: string): void {
    whileBusy(() => this.db.prepare("UPDATE cells SET status = 'failed', error = ?, lease_until = NULL, updated_at = ? WHERE hash = ? AND runner = ?").run(error.slice(0, 2000), new Date().toISOString(), hash, this.runner));
  }

  /** Give a cell back (stopped by the user): the next run resumes it. */
  release(hash: string): void {
    whileBusy(() => this.db.prepare("UPDATE cells SET status = 'pending', lease_until = NULL, updated_at = ? WHERE hash = ? AND runner = ?").run(new Date().toISOString(), hash, this.runner));
  }

  status(hashes: readonly string[]): Map<string, CellStatus> {
    const get = this.db.prepare('SELECT c.status, c.attempts, c.error, c.host, c.pid, c.lease_until, r.seconds FROM cells c LEFT JOIN results r ON r.hash = c.hash AND r.current = 1 WHERE c.hash = ?');
    const out = new Map<string, CellStatus>();
    const now = Date.now() / 1000;
    const me = hostname();
    for (const h of hashes) {
      const r = get.get(h) as (Lease & { status: string; attempts: number; error: string | null; seconds: number | null }) | undefined;
      if (r) out.set(h, { status: r.status, attempts: r.attempts, error: r.error, seconds: r.seconds, abandoned: r.status === 'running' && abandoned(r, now, me) });
    }
    return out;
  }

  /** Every finished cell's recipe and run time (for the time estimates of cells like it). */
  finishedRuns(): { cell: ResolvedCell; seconds: number; stages: Record<string, number | null> | null; purified: string | null }[] {
    const rows = this.db.prepare("SELECT c.config, r.seconds, r.extra FROM results r JOIN cells c ON c.hash = r.hash WHERE r.current = 1 AND c.status = 'done'").all() as { config: string; seconds: number; extra: string }[];
    return rows.map((r) => {
      const extra = JSON.parse(r.extra) as { stage_seconds?: Record<string, number | null>; purified?: string };
      return { cell: JSON.parse(r.config) as ResolvedCell, seconds: r.seconds, stages: extra.stage_seconds ?? null, purified: extra.purified ?? null };
    });
  }

  /** Every current result, with the clean twin's accuracy where it has run. */
  results(): ResultRow[] {
    const rows = this.db
      .prepare(
        `SELECT c.hash, c.label, c.attack, c.defense, c.architecture, c.seed, c.options, c.config,
                r.test_acc, r.seconds, r.inputs, r.versions, r.extra, r.finished_at
         FROM results r JOIN cells c ON c.hash = r.hash WHERE r.current = 1 ORDER BY c.rowid`,
      )
      .all() as unknown as Omit<ResultRow, 'clean_acc' | 'poison_seed' | 'defense_seed' | `makeup_${string}` | `purified_${string}`>[];
    const byHash = new Map(rows.map((r) => [r.hash, r]));
    return rows.map((r) => {
      const extra = JSON.parse(r.extra) as { clean_twin?: string; makeup?: Record<string, number | null>; purified_makeup?: Record<string, number | null> };
      const twin = extra.clean_twin;
      const cell = JSON.parse(r.config) as Partial<ResolvedCell>;
      const m = (k: string): number | null => extra.makeup?.[k] ?? null;
      const p = (k: string): number | null => extra.purified_makeup?.[k] ?? null;
      return {
        ...r, poison_seed: cell.poisonSeed ?? 0, defense_seed: cell.defenseSeed ?? 0,
        makeup_l2: m('l2'), makeup_high_freq: m('high_freq'), makeup_classwise: m('classwise'), makeup_scan_score: m('scan_score'),
        purified_l2: p('l2'), purified_high_freq: p('high_freq'), purified_classwise: p('classwise'), purified_scan_score: p('scan_score'),
        clean_acc: twin ? (byHash.get(twin)?.test_acc ?? null) : null,
      };
    });
  }

  /** Cells by status, and the first failed ones with the first line of their error. */
  statusCounts(): { counts: Record<string, number>; failed: { label: string; error: string }[] } {
    const counts = Object.fromEntries(
      (this.db.prepare('SELECT status, COUNT(*) AS n FROM cells GROUP BY status').all() as { status: string; n: number }[]).map((r) => [r.status, Number(r.n)]),
    );
    const failed = (this.db.prepare("SELECT label, error FROM cells WHERE status = 'failed' ORDER BY rowid LIMIT 20").all() as { label: string; error: string | null }[]).map((r) => ({
      label: r.label,
      error: (r.error ?? '').split('\n')[0]!.slice(0, 200),
    }));
    return { counts, failed };
  }

  /** The number of result rows for a cell, history included (for tests and audits). */
  resultCount(hash: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM results WHERE hash = ?').get(hash) as { n: number }).n;
  }

  /**
   * Merge results exported elsewhere (CSV rows of `eclipse matrix export`): a cell this database
   * has not finished takes the row; finished cells keep theirs. Returns how many were taken.
   */
  merge(rows: readonly Pick<ResultRow, 'hash' | 'test_acc' | 'seconds' | 'inputs' | 'versions' | 'extra' | 'finished_at' | 'config'>[]): number {
    let n = 0;
    this.tx(() => {
      for (const r of rows) {
        const cell = JSON.parse(r.config) as ResolvedCell;
        if (cell.hash !== r.hash) throw new MatrixDbError(`merge: row ${r.hash} does not match its config (hash ${cell.hash}): the file was edited`);
        this.registerCell(cell, r.config);
        const st = this.db.prepare('SELECT status FROM cells WHERE hash = ?').get(r.hash) as { status: string };
        if (st.status === 'done') continue;
        this.db.prepare('INSERT INTO results (hash, test_acc, seconds, inputs, versions, extra, finished_at, runner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(r.hash, r.test_acc, r.seconds, r.inputs, r.versions, r.extra, r.finished_at, 'merge');
        this.db.prepare("UPDATE cells SET status = 'done', updated_at = ? WHERE hash = ?").run(new Date().toISOString(), r.hash);
        n++;
      }
    });
    return n;
  }
}

// ---------------------------------------------------------------------------------------------- CSV

export const CSV_COLUMNS = [
  'hash', 'label', 'attack', 'defense', 'architecture', 'seed', 'poison_seed', 'defense_seed', 'options', 'test_acc', 'clean_acc', 'seconds', 'finished_at',
  'makeup_l2', 'makeup_high_freq', 'makeup_classwise', 'makeup_scan_score',
  'purified_l2', 'purified_high_freq', 'purified_classwise', 'purified_scan_score', 'inputs', 'versions', 'extra', 'config',
] as const;
/** Columns an export may lack: written from the cell's recipe and extra since issues 28 and 25 (older CSVs lack them). */
export const CSV_DERIVED_COLUMNS: readonly string[] = [
  'poison_seed', 'defense_seed', 'makeup_l2', 'makeup_high_freq', 'makeup_classwise', 'makeup_scan_score',
  'purified_l2', 'purified_high_freq', 'purified_classwise', 'purified_scan_score',
];

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly ResultRow[]): string {
  return [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => csvField(r[c])).join(','))].join('\n') + '\n';
}

/** Parse RFC 4180 CSV (quoted fields may hold commas, quotes and newlines). */
export function parseCsv(text: string): Record<string, string>[] {
  const records: string[][] = [];
  let field = '';
  let row: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(field), (field = '');
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      records.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field.length > 0 || row.length > 0) row.push(field), records.push(row);
  const [head, ...body] = records;
  if (!head) return [];
  return body.filter((r) => r.length > 1 || r[0] !== '').map((r) => Object.fromEntries(head.map((h, i) => [h, r[i] ?? ''])));
}
