// What the report reads from disk besides the database: a cell's training log in the artifacts,
// and the output folder, checked before anything is built.
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';

import type { CurvePoint, EpochMetrics } from '../training/trainer.js';
import type { ReportCell } from './results.js';

/**
 * A cell's training curve: its log in the artifacts (the last line per epoch, if a run resumed),
 * else the curve kept with its result (artifacts are local; results travel as CSV).
 */
export function readMetrics(artifactsDir: string, c: ReportCell): CurvePoint[] | null {
  const kept = c.extra.curve?.length ? c.extra.curve : null;
  const dir = join(artifactsDir, 'cells', c.hash);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return kept;
  }
  const pick = ['classifier', `classifier-seed${c.seed}`, ...names.filter((n) => n.startsWith('classifier')).sort()].find((n) => {
    try {
      return names.includes(n) && statSync(join(dir, n, 'metrics.jsonl')).isFile();
    } catch {
      return false;
    }
  });
  if (!pick) return kept;
  const byEpoch = new Map<number, EpochMetrics>();
  for (const line of readFileSync(join(dir, pick, 'metrics.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const m = JSON.parse(line) as EpochMetrics;
      if (Number.isFinite(m.epoch)) byEpoch.set(m.epoch, m);
    } catch {
      /* a torn last line of a killed run */
    }
  }
  return byEpoch.size ? [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch) : kept;
}

export class ReportError extends Error {}

export const REPORT_FILES = { html: 'report.html', md: 'report.md', csv: 'results.csv' } as const;

function statOrNull(path: string, what: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new ReportError(`cannot use ${what} ${path}: ${(e as Error).message}`);
  }
}

/**
 * Where the report goes, checked before the database is read: a file in the way is named at once,
 * not met as a raw EEXIST or EISDIR after the whole report was built. Creates nothing.
 */
export function checkReportOut(out: string, db: string): void {
  const what = "the report's output folder";
  const st = statOrNull(out, what);
  if (st && !st.isDirectory()) throw new ReportError(`${what} ${out} is a file: give a folder (the report writes ${Object.values(REPORT_FILES).join(', ')} into it)`);
  if (!st) {
    // the folder is made with its parents: the nearest one that exists must be a folder
    let p = dirname(out);
    let up = statOrNull(p, what);
    while (!up && dirname(p) !== p) up = statOrNull((p = dirname(p)), what);
    if (up && !up.isDirectory()) throw new ReportError(`cannot make ${what} ${out}: ${p} is a file: give a folder that is not under a file`);
    return;
  }
  const dbSt = statOrNull(db, 'the results database');
  for (const name of Object.values(REPORT_FILES)) {
    const f = statOrNull(join(out, name), what);
    if (f?.isDirectory()) throw new ReportError(`${join(out, name)} is a folder, where the report writes its ${name}: give another output folder`);
    if (f && dbSt && f.dev === dbSt.dev && f.ino === dbSt.ino) throw new ReportError(`the report's ${name} would overwrite the results database ${db} it reads: give another output folder`);
  }
}
