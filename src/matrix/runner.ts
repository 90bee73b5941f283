// The matrix runner: registers a config's cells in the results database, then claims and runs
// them one at a time until none is left. Re-running skips finished cells and resumes the one an
// interrupted run left (its artifacts and checkpoints are where the cell's hash puts them);
// several runners on one database share the work, each cell claimed by one.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { Progress } from '../io/progress.js';
import type { Device, RunContext } from '../engine/index.js';
import { JobInterrupted } from '../io/resume.js';
import { cleanTwinHash, expandMatrix, type MatrixConfig, type ResolvedCell } from './config.js';
import { cellInputs, makeGivenPoison, runCell, sameInputs, type CellContext } from './cell.js';
import { ResultsDb } from './db.js';
import { CostModel, costSummary } from './cost.js';

export { CostModel, costSummary, estimateSeconds, type CellCost } from './cost.js';

export interface MatrixRunOptions extends RunContext {
  config: MatrixConfig;
  /** the results database (SQLite file) */
  db: string;
  artifactsDir: string;
  dataDir: string;
  source?: string;
  /** run only cells whose label contains every one of these words (e.g. ["em", "eclipse"]) */
  only?: string[];
  /**
   * Make a missing given poison file when the first unfinished cell on it comes up (as `eclipse
   * poison` makes it: makeGivenPoison), instead of leaving its cells out of the run.
   */
  makePoisons?: boolean;
  device: Device;
  log: (m: string) => void;
}

export interface PlannedCell {
  cell: ResolvedCell;
  /** the database's state, 'stopped' for a 'running' cell whose runner is gone */
  status: string;
  /** seconds, from a finished result or an estimate */
  seconds: number | null;
}

/**
 * Cells selected by --only: its words, read in runs, must be parts of the cell's label, each whole
 * or without its value ("em eclipse poison seed 1": attack em, defence eclipse, poison seed 1;
 * "poison seed": any poison seed). A part is matched as a whole, so "poison seed 1" is not
 * "defence seed 1". Seeds a label leaves out count as said: "poison seed 0", "defence seed 0".
 */
export function selectCells(cells: readonly ResolvedCell[], only?: readonly string[]): ResolvedCell[] {
  if (!only || only.length === 0) return [...cells];
  const words = only.flatMap((w) => w.split(/[\s,]+/)).filter(Boolean).map((w) => w.toLowerCase());
  return cells.filter((c) => {
    const parts = c.label.toLowerCase().split(' / ');
    if (c.spec.attack !== 'clean' && !parts.some((p) => p.startsWith('poison seed '))) parts.push(`poison seed ${c.poisonSeed}`);
    if (c.spec.defense !== 'none' && !parts.some((p) => p.startsWith('defence seed '))) parts.push(`defence seed ${c.defenseSeed ?? 0}`);
    const phrases = parts.map((p) => p.split(' ')).flatMap((p) => (p.length > 1 ? [p, p.slice(0, -1)] : [p]));
    return coveredBy(words, phrases);
  });
}

/** Whether `words` split into runs each equal to one of `phrases`. */
function coveredBy(words: readonly string[], phrases: readonly (readonly string[])[]): boolean {
  const reach = new Array<boolean>(words.length + 1).fill(false);
  reach[0] = true;
  for (let i = 0; i < words.length; i++) {
    if (!reach[i]) continue;
    for (const p of phrases) if (p.every((w, k) => words[i + k] === w)) reach[i + p.length] = true;
  }
  return reach[words.length]!;
}

/** The cells of a run with their state, registered in the database for the run. */
export function planMatrix(o: Pick<MatrixRunOptions, 'config' | 'only' | 'db'>): { cells: PlannedCell[]; db: ResultsDb } {
  const all = expandMatrix(o.config);
  const db = ResultsDb.open(o.db);
  db.addCells(all);
  return { cells: withStatus(selectCells(all, o.only), db), db };
}

/** The same for --dry-run: reads the database if there is one and writes nothing. */
export function previewMatrix(o: Pick<MatrixRunOptions, 'config' | 'only' | 'db'>): { cells: PlannedCell[]; costs: CostModel } {
  // listed in the order they run
  const cells = twinsFirst(selectCells(expandMatrix(o.config), o.only), (c) => c);
  if (!existsSync(o.db)) return { cells: withStatus(cells, null), costs: CostModel.of(null) };
  const db = ResultsDb.open(o.db, { create: false });
  try {
    return { cells: withStatus(cells, db), costs: CostModel.of(db) };
  } finally {
    db.close();
  }
}

function withStatus(cells: readonly ResolvedCell[], db: ResultsDb | null): PlannedCell[] {
  const st = db?.status(cells.map((c) => c.hash));
  // a cell left 'running' by a runner that is gone shows as stopped: the next run resumes it
  return cells.map((cell) => {
    const s = st?.get(cell.hash);
    return { cell, status: s?.abandoned ? 'stopped' : (s?.status ?? 'pending'), seconds: s?.seconds ?? null };
  });
}

/**
 * The cells of a run in the order they run, after sending back to pending those whose result
 * came from other data or another eclipse version (old rows kept as history): the config's order,
 * each clean twin just before the first cell that needs it. Cells on a given poison file that is not
 * there are left out (their finished results stand: a missing file is not a changed one), with
 * one line naming the file; with `makePoisons` they keep their place, and the runner makes the file
 * when the first of them comes up. Shared by the local and the queue runner.
 */
export async function runOrder(cells: readonly PlannedCell[], db: ResultsDb, ctx: CellContext, log: (m: string) => void, makePoisons = false): Promise<PlannedCell[]> {
  const missing = new Set(cells.map((c) => c.cell.spec.poisonFile).filter((f): f is string => f !== undefined && !existsSync(f)));
  const lacking = (c: PlannedCell): boolean => c.cell.spec.poisonFile !== undefined && missing.has(c.cell.spec.poisonFile);
  const usable = cells.filter((c) => !lacking(c));
  await syncInputs(usable.map((c) => c.cell), db, ctx, log);
  if (missing.size > 0) {
    const st = db.status(cells.filter(lacking).map((c) => c.cell.hash));
    for (const f of missing) {
      const waiting = cells.filter((c) => c.cell.spec.poisonFile === f && st.get(c.cell.hash)?.status !== 'done').length;
      if (makePoisons) {
        if (waiting > 0) log(`matrix: the given poison file ${f} is missing: it is made when the first of the ${waiting} unfinished cell(s) on it comes up (finished ones stand if the new file has their poison's content)`);
      } else log(`matrix: the given poison file ${f} is missing: ${waiting} unfinished cell(s) on it are left out of this run (finished ones stand); make it with eclipse poison from this matrix's training set, or drop it from the config's poisons to generate the attack here`);
    }
  }
  return twinsFirst(makePoisons ? cells : usable, (c) => c.cell);
}

/**
 * Send back to pending the finished cells whose result came from other inputs (data, given
 * poison content, eclipse version), and restore the pending ones whose inputs are back.
 */
async function syncInputs(cells: readonly ResolvedCell[], db: ResultsDb, ctx: CellContext, log: (m: string) => void): Promise<void> {
  if (cells.length === 0) return;
  const inputs = new Map<string, string>();
  for (const c of cells) inputs.set(c.hash, await cellInputs(c, ctx));
  const { changed, restored } = db.syncInputs(cells.map((c) => c.hash), (h, stored) => sameInputs(stored, inputs.get(h)!));
  if (changed > 0) log(`matrix: ${changed} finished cell(s) came from other inputs (data, given poison or eclipse version): recomputing them, old results kept as history`);
  if (restored > 0) log(`matrix: ${restored} cell(s) waiting to be recomputed have their results' inputs again: those results stand`);
}

/**
 * The config's order, each clean twin moved just before the first cell that needs it: a
 * poisoned cell's row carries its clean accuracy, and a long config yields its groups' results in
 * its order (all twins first would build every group's denoisers before any poisoned cell ran).
 */
export function twinsFirst<C>(cells: readonly C[], cellOf: (c: C) => ResolvedCell): C[] {
  const byHash = new Map(cells.map((c) => [cellOf(c).hash, c]));
  const order: C[] = [];
  const placed = new Set<string>();
  const place = (c: C | undefined): void => {
    if (c === undefined || placed.has(cellOf(c).hash)) return;
    placed.add(cellOf(c).hash);
    order.push(c);
  };
  for (const c of cells) {
    if (cellOf(c).spec.attack !== 'clean') place(byHash.get(cleanTwinHash(cellOf(c))));
    place(c);
  }
  return order;
}

export interface MatrixRunResult {
  ran: number;
  skipped: number;
  failed: number;
  /** finished by another runner meanwhile */
  others: number;
  /** unfinished cells left out of the run: the given poison file they are on is missing */
  left?: number;
}

export class MatrixRunError extends Error {}

/** The given poison file a cell is on, when that file is not there; else null. */
export function missingPoison(cell: ResolvedCell): string | null {
  const f = cell.spec.poisonFile;
  return f !== undefined && !existsSync(f) ? f : null;
}

/** "the given poison file F is missing (n cells on it)", for each missing file among `cells`. */
export function missingText(cells: readonly ResolvedCell[]): string {
  const by = new Map<string, number>();
  for (const c of cells) {
    const f = missingPoison(c);
    if (f !== null) by.set(f, (by.get(f) ?? 0) + 1);
  }
  const files = [...by].map(([f, n]) => `${f} (${n} cell(s))`).join(', ');
  return `the given poison file${by.size > 1 ? 's' : ''} ${files} ${by.size > 1 ? 'are' : 'is'} missing: make ${by.size > 1 ? 'them' : 'it'} with eclipse poison from this matrix's training set, or drop ${by.size > 1 ? 'them' : 'it'} from the config's poisons to generate the attack here`;
}

/**
 * What a run needs before it writes anything: the config's data files, and at least one cell
 * that can run when no database holds any yet (a run on missing poisons alone would only
 * make an empty database).
 */
function checkRunnable(o: MatrixRunOptions): void {
  const d = o.config.data;
  if (d)
    for (const [k, f] of Object.entries(d))
      if (!existsSync(f)) throw new MatrixRunError(`matrix ${o.config.name}: its data file "${k}" ${f} does not exist (the config's "data" names files of eclipse data import, relative to the config file)`);
  if (existsSync(o.db) || o.makePoisons) return;
  const cells = selectCells(expandMatrix(o.config), o.only);
  const blocked = cells.filter((c) => missingPoison(c) !== null);
  if (cells.length > 0 && blocked.length === cells.length)
    throw new MatrixRunError(`matrix ${o.config.name}: none of its ${cells.length} cell(s) can run: ${missingText(blocked)}`);
}

/** Run every selected cell not yet finished (and any a dead runner left). */
export async function runMatrix(o: MatrixRunOptions): Promise<MatrixRunResult> {
  checkRunnable(o);
  const { cells, db } = planMatrix(o);
  try {
    const ctx: CellContext = { dataDir: o.dataDir, data: o.config.data, source: o.source, artifactsDir: o.artifactsDir, device: o.device, quiet: o.quiet, log: o.log, signal: o.signal };
    const order = await runOrder(cells, db, ctx, o.log, o.makePoisons);
    const hashes = order.map((c) => c.cell.hash);
    const byHash = new Map(order.map((c) => [c.cell.hash, c.cell]));
    const st = db.status(hashes); // after the invalidation above
    const isDone = (c: PlannedCell): boolean => st.get(c.cell.hash)?.status === 'done';
    const done0 = order.filter(isDone).length;
    // cells runOrder left out (their given poison is missing) that have no result: asked for, not run
    const inOrder = new Set(hashes);
    const outside = cells.filter((c) => !inOrder.has(c.cell.hash));
    const outsideSt = db.status(outside.map((c) => c.cell.hash));
    const left = outside.filter((c) => outsideSt.get(c.cell.hash)?.status !== 'done').length;
    const model = CostModel.of(db);
    // in run order: the first cell to need a shared stage (a denoiser, a purified set) pays for it
    const cost = model.plan(order.filter((c) => !isDone(c)).map((c) => c.cell));
    const pending = [...cost.values()];
    const total = pending.reduce((s, c) => s + c.seconds, 0);
    o.log(`matrix ${o.config.name}: ${order.length} cells (${done0} finished, ${order.length - done0} to run, ${costSummary(pending, o.config.profile)})${left ? `, ${left} left out` : ''} -> ${o.db}`);
    const progress = new Progress({ label: 'matrix', total: Math.max(1, total), showRate: false, quiet: o.quiet });
    const res: MatrixRunResult = { ran: 0, skipped: done0, failed: 0, others: 0, left };
    // Each cell is tried once per run: a failed one is not claimed again in this run (it failed
    // again and counted twice), and every later run tries it once more, however often it failed
    // before (a cell past a retry limit would be asked for, never run, and never counted).
    const tried = new Set<string>();
    for (;;) {
      if (o.signal?.aborted) break;
      const hash = db.claim(hashes.filter((h) => !tried.has(h)), Infinity);
      if (hash === null) break;
      tried.add(hash);
      const cell = byHash.get(hash)!;
      o.log(`matrix: cell ${hash} ${cell.label}`);
      const timer = setInterval(() => db.renew(hash), 60_000);
      try {
        const lacks = o.makePoisons ? missingPoison(cell) : null;
        if (lacks !== null) {
          o.log(`matrix: making the given poison ${lacks} (${cell.spec.attack}, poison seed ${cell.poisonSeed}) for ${cell.label}`);
          await makeGivenPoison(cell, ctx);
          // the other cells on it: those finished before stand only if it has their poison's content
          await syncInputs(order.filter((c) => c.cell.spec.poisonFile === lacks && c.cell.hash !== hash).map((c) => c.cell), db, ctx, o.log);
        }
        const r = await runCell(cell, { ...ctx, heartbeat: () => db.renew(hash) }, cell.spec.attack === 'clean' ? null : cleanTwinHash(cell));
        if (db.finish(hash, r)) {
          res.ran++;
          o.log(`matrix: ${cell.label}: test accuracy ${(100 * r.testAcc).toFixed(2)}% (${(r.seconds / 60).toFixed(1)} min)`);
        } else {
          res.others++;
          o.log(`matrix: ${cell.label} was taken over by another runner (its lease lapsed); its result stands, this one is dropped`);
        }
      } catch (e) {
        if (e instanceof JobInterrupted || o.signal?.aborted) {
          db.release(hash);
          o.log(`matrix: stopped in ${cell.label}; run the same command to resume it`);
          break;
        }
        res.failed++;
        db.fail(hash, (e as Error).stack ?? String(e));
        o.log(`matrix: ${cell.label} FAILED: ${(e as Error).message} (the next run retries it; the error is in the database)`);
      } finally {
        clearInterval(timer);
      }
      progress.tick(cost.get(hash)?.seconds ?? 0, { cells: `${res.ran + res.skipped + res.failed}/${order.length}` });
    }
    progress.finish({ ran: String(res.ran), failed: String(res.failed) });
    return res;
  } finally {
    db.close();
  }
}

/** Where a config's shared artifacts go by default: beside the database. */
export function defaultArtifacts(dbFile: string): string {
  return join(dbFile.replace(/\.(sqlite|db)$/, ''), '..', 'artifacts');
}
