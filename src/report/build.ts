// The report's content from a results database: the tables (tables.ts), the plots (plots.ts;
// makeup.ts: ECLIPSE's accuracy against the poison's make-up), the image figures (figures.ts)
// and a per-variant CSV, assembled into the model (model.ts).
// Rendering to HTML/Markdown is in page.ts; what is read from disk besides the database, in load.ts.
import { ECLIPSE } from '../defenses/registry.js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { atomicWriteFile } from '../io/atomic.js';
import { ResultsDb, type ResultRow } from '../matrix/db.js';
import { attackOrder, findCleanTrain, imageFigures, type ImageFigure } from './figures.js';
import { archOrder, defenseOrder, profileSentence } from './format.js';
import { REPORT_FILES, checkReportOut } from './load.js';
import { PAPER_NOTES, archLabel, attackLabel, defenseLabel } from './paper.js';
import { decisionTable } from './decision.js';
import { diagnosisPlots, diagnosisTables } from './diagnosis.js';
import { makeupPlots } from './makeup.js';
import { curvePlots, sweepPlots } from './plots.js';
import { ResultSet, toReportCells } from './results.js';
import { studyTables } from './study.js';
import { cellTable, summaryCsv, table1, table3, table4 } from './tables.js';
import type { Plot, ReportModel, ReportTable, Section, TableCell } from './model.js';
import { renderHtml, renderMarkdown } from './page.js';

// the model's types live in model.ts (page.ts reads them without importing this file), the disk
// reads in load.ts; exported here as before
export type { Plot, ReportModel, ReportTable, Section, TableCell };
export { ReportError, checkReportOut, readMetrics } from './load.js';

export interface BuildOptions {
  db: string;
  artifactsDir: string;
  /** the clean training set (file, folder or matrix config) for the figures */
  data?: string;
  /** false: leave out Fig. 1 and Fig. 4 (a report published where dataset images may not go) */
  images?: boolean;
  log?: (m: string) => void;
}

/** Cells by status in the database's cells table, as ResultsDb.statusCounts gives them. */
export type CellStatus = ReturnType<ResultsDb['statusCounts']>;

export async function buildReport(rows: readonly ResultRow[], o: BuildOptions, status: CellStatus | null = null): Promise<ReportModel> {
  const log = o.log ?? (() => undefined);
  const rs = new ResultSet(toReportCells(rows));
  const archs = archOrder(rs.architectures.length ? rs.architectures : ['resnet18']);
  const summary: string[] = [];
  summary.push(
    `Results database ${o.db}: ${rs.cells.length} finished cell${rs.cells.length === 1 ? '' : 's'}` +
      (status ? ` (cells registered: ${Object.entries(status.counts).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'})` : '') + `; artifacts ${o.artifactsDir}.`,
  );
  if (rs.cells.length === 0) summary.push('The database has no finished cell yet: the tables show "–" beside the paper\'s numbers, and there are no plots or images.');
  else {
    summary.push(profileSentence(rs.cells));
    summary.push(
      `Architectures: ${archOrder(rs.architectures).map(archLabel).join(', ')}. Attacks: ${attackOrder(rs.cells.map((c) => c.attack)).map(attackLabel).join(', ')}. Defences: ${defenseOrder(rs.cells.map((c) => c.defense)).map(defenseLabel).join(', ')}.`,
    );
  }
  const pending = (status?.counts.pending ?? 0) + (status?.counts.running ?? 0);
  if (pending) summary.push(`${pending} cell${pending > 1 ? 's are' : ' is'} not finished yet (pending or running): this report is partial.`);
  for (const f of status?.failed ?? []) summary.push(`Failed: ${f.label}: ${f.error}`);

  log('report: tables');
  const sections: Section[] = [];
  sections.push({ id: 'table1', title: 'Table 1: test accuracy', intro: [], tables: archs.map((a) => table1(rs, a)), plots: [], figures: [] });
  sections.push({ id: 'table3', title: 'Table 3: clean accuracy', intro: [], tables: [table3(rs)], plots: [], figures: [] });
  const eclArchs = archOrder(rs.cells.filter((c) => c.defense === ECLIPSE).map((c) => c.architecture));
  sections.push({ id: 'table4', title: "Table 4: ECLIPSE's parts", intro: [], tables: (eclArchs.length ? eclArchs : ['resnet18']).map((a) => table4(rs, a)), plots: [], figures: [] });

  // issue 25: the paper's sensitivity study (Tables 5-7, Fig. 5) as numbers, beside the paper's
  const studies = (eclArchs.length ? eclArchs : ['resnet18']).map((a) => ({ arch: a, ...studyTables(rs, a) }));
  sections.push({
    id: 'study',
    title: "The paper's sensitivity study: Tables 5-7 and Fig. 5",
    intro: studies
      .filter((s) => s.missing.length)
      .map((s) => `${archLabel(s.arch)}: no sweep yet (only one value among the finished ECLIPSE cells) for ${s.missing.join(', ')}.`),
    tables: studies.flatMap((s) => s.tables), plots: [], figures: [],
  });

  log('report: plots');
  const sweeps = (await Promise.all(archs.map((a) => sweepPlots(rs, a)))).flat();
  sections.push({
    id: 'sweeps',
    title: 'Sweeps',
    intro: sweeps.length ? [] : ['No ECLIPSE option has more than one value among the finished cells (add a "sweep" to a matrix group, e.g. {"tStar": [50, 100, 150]}).'],
    tables: [], plots: sweeps, figures: [],
  });
  // issue 25: ECLIPSE's purifier recipes side by side, with what each left of the poison
  const diagArchs = eclArchs.length ? eclArchs : ['resnet18'];
  const diagTables = diagArchs.flatMap((a) => [...diagnosisTables(rs, a), ...[decisionTable(rs, a)].filter((t) => t !== null)]);
  const diagPlots = (await Promise.all(diagArchs.map((a) => diagnosisPlots(rs, a)))).flat();
  sections.push({
    id: 'purifier',
    title: "ECLIPSE's purifier recipes: accuracy and the poison left",
    intro: diagTables.length ? [] : ['Only one purifier recipe (sparse set, denoiser, purification) has finished ECLIPSE cells: nothing to compare yet.'],
    tables: diagTables, plots: diagPlots, figures: [],
  });
  // the poison's make-up (issue 28), then what ECLIPSE's purification left of it (issue 25)
  const makeup = await Promise.all((eclArchs.length ? eclArchs : ['resnet18']).flatMap((a) => [makeupPlots(rs, a, 'poison'), makeupPlots(rs, a, 'purified')]));
  sections.push({
    id: 'makeup',
    title: 'Poison make-up, and what purification left',
    intro: makeup.flatMap((m) => m.notes),
    tables: [], plots: makeup.flatMap((m) => m.plots), figures: [],
  });
  const curves = (await Promise.all(archs.map((a) => curvePlots(rs, a, o.artifactsDir)))).flat();
  sections.push({
    id: 'curves',
    title: 'Training curves',
    intro: curves.length ? [] : [`No training curve: the results keep none (rows from before eclipse recorded curves) and no training log (ARTIFACTS/cells/<hash>/classifier*/metrics.jsonl) was found under ${o.artifactsDir}.`],
    tables: [], plots: curves, figures: [],
  });

  log('report: images');
  let figs: { figures: ImageFigure[]; notes: string[] } = { figures: [], notes: ['No finished cell: no images.'] };
  if (o.images === false) figs = { figures: [], notes: ["Images left out when this report was made (its dataset's images are not published with it): without that choice the report draws Fig. 1 and Fig. 4."] };
  else if (rs.cells.length) {
    const clean = await findCleanTrain(o.data, rs.cells);
    figs = await imageFigures(rs, o.artifactsDir, clean.file, clean.why);
  }
  sections.push({ id: 'images', title: 'Images', intro: figs.notes, tables: [], plots: [], figures: figs.figures });
  if (rs.cells.length) sections.push({ id: 'cells', title: 'Cells', intro: [], tables: [cellTable(rs)], plots: [], figures: [] });

  return {
    title: 'ECLIPSE benchmark report',
    summary,
    sections,
    footnotes: [
      "The paper: ECLIPSE (ESORICS 2024), CIFAR-10, ResNet-18 unless stated; its numbers are stored in src/report/paper.ts with their sources (the project's reference-facts.md and baselines-facts.md; Table 3's other architectures from the paper's text).",
      ...PAPER_NOTES,
    ],
    csv: summaryCsv(rs),
  };
}

export interface WriteReportOptions extends BuildOptions {
  /** output folder: report.html, report.md, results.csv */
  out: string;
}

/**
 * Check the output folder, read the database (read-only: nothing is written to it or beside it),
 * build the report and write its three files atomically.
 */
export async function writeReport(o: WriteReportOptions): Promise<{ html: string; md: string; csv: string; model: ReportModel }> {
  checkReportOut(o.out, o.db);
  const { rows, status } = ResultsDb.read(o.db, (db) => ({ rows: db.results(), status: db.statusCounts() }));
  const model = await buildReport(rows, o, status);
  const generated = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  await mkdir(o.out, { recursive: true });
  const files = { html: join(o.out, REPORT_FILES.html), md: join(o.out, REPORT_FILES.md), csv: join(o.out, REPORT_FILES.csv) };
  const hint = { hint: 'write the report to another folder' };
  await atomicWriteFile(files.html, renderHtml(model, generated), hint);
  await atomicWriteFile(files.md, renderMarkdown(model, generated), hint);
  await atomicWriteFile(files.csv, model.csv, hint);
  return { ...files, model };
}
