// The report's content from a results database: Table 1 (test accuracy, attack x defence, per
// architecture), Table 3 (clean accuracy), Table 4 (ECLIPSE's parts), sweep plots, training
// curves, image figures and a per-variant CSV. Rendering to HTML/Markdown is in page.ts.
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { atomicWriteFile } from '../io/atomic.js';
import { ResultsDb, type ResultRow } from '../matrix/db.js';
import type { CurvePoint, EpochMetrics } from '../training/trainer.js';
import { attackOrder, findCleanTrain, imageFigures, type ImageFigure } from './figures.js';
import {
  ABLATION_ROWS, AVG_ATTACKS, PAPER_ATTACKS, PAPER_DEFENSES, PAPER_NOTES, PAPER_SWEEP_AVG,
  archLabel, attackLabel, defenseLabel, paperAblationAvg, paperAverage, paperCleanAcc, paperTable1Defenses, paperTestAcc, type PaperValue,
} from './paper.js';
import { ResultSet, ablationOf, defaultValue, optionValue, stat, toReportCells, type ReportCell, type Stat } from './results.js';
import type { Plot, ReportModel, ReportTable, Section, TableCell } from './model.js';
import { renderHtml, renderMarkdown } from './page.js';
import { renderVegaLite, type TopLevelSpec } from './vega.js';

// the model's types live in model.ts (page.ts reads them without importing this file); exported
// here as before
export type { Plot, ReportModel, ReportTable, Section, TableCell };

export interface BuildOptions {
  db: string;
  artifactsDir: string;
  /** the clean training set (file, folder or matrix config) for the figures */
  data?: string;
  /** false: leave out Fig. 1 and Fig. 4 (a report published where dataset images may not go) */
  images?: boolean;
  log?: (m: string) => void;
}

const DASH = '–';
const fmt = (x: number, d = 1): string => x.toFixed(d);
const paperText = (p: PaperValue | null): string | undefined => (p ? `${fmt(p.value, 2)}${p.decoded ? '†' : ''}` : undefined);
const seedText = (seeds: number[]): string => (seeds.length === 0 ? DASH : String(seeds.length));
const statTitle = (s: Stat): string =>
  `mean of ${s.n} cell${s.n > 1 ? 's' : ''} (seed${s.seeds.length > 1 ? 's' : ''} ${s.seeds.join(', ')})${s.n > 1 ? `, std ${fmt(s.std, 2)}` : ''}; profile ${s.profiles.join(', ')}; ${s.hashes.join(' ')}`;

function statCell(s: Stat | null, paper?: PaperValue | null, showPaper = true): TableCell {
  const p = showPaper ? paperText(paper ?? null) : undefined;
  return { ours: s ? fmt(s.mean) : DASH, ...(p !== undefined || showPaper ? { paper: p ?? DASH } : {}), ...(s ? { title: statTitle(s), has: true } : {}) };
}

/** Defences in the paper's order, then any other. */
function defenseOrder(ds: Iterable<string>): string[] {
  const set = new Set(ds);
  return [...PAPER_DEFENSES.filter((d) => set.has(d)), ...[...set].filter((d) => !(PAPER_DEFENSES as readonly string[]).includes(d)).sort()];
}

function archOrder(archs: Iterable<string>): string[] {
  const order = ['resnet18', 'resnet34', 'resnet50', 'vgg16', 'vgg19', 'densenet121'];
  return [...new Set(archs)].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b));
}

function profileSentence(cells: readonly ReportCell[]): string {
  const by = new Map<string, number>();
  for (const c of cells) by.set(c.profile, (by.get(c.profile) ?? 0) + 1);
  if (by.size === 0) return 'No numbers of ours yet.';
  if (by.size === 1) return `Our numbers: the ${[...by.keys()][0]} profile.`;
  return `Our numbers come from MIXED profiles (${[...by].map(([p, n]) => `${p}: ${n} cells`).join(', ')}): rows are not comparable with one another.`;
}

/** The swept options of a defence's cells and the values its main cells have. */
function variantNote(rs: ResultSet, arch: string, defenses: readonly string[], attacks: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of defenses) {
    const axes = new Map<string, Set<string>>();
    const offDefault = new Set<string>();
    for (const a of attacks) {
      const probe = (rs.groups.get(`${arch}|${d}|${a}`) ?? []).find((c) => c.cell)?.cell;
      for (const ax of rs.axesFor(arch, d, a)) {
        const s = axes.get(ax.key) ?? new Set<string>();
        s.add(String(ax.main));
        axes.set(ax.key, s);
        if (probe && JSON.stringify(defaultValue(probe, ax.key) ?? null) !== JSON.stringify(ax.main ?? null)) offDefault.add(ax.key);
      }
    }
    if (axes.size === 0) continue;
    out.push(
      `${defenseLabel(d)}: swept options at ${[...axes].map(([k, v]) => `${k} = ${[...v].join('/')}`).join(', ')}` +
        (offDefault.size ? ` (${[...offDefault].join(', ')} not at the profile's value: the variant nearest to it that ran)` : " (the profile's values)") +
        `; the other values are in ${d === 'eclipse' ? 'the sweep plots and Table 4' : 'results.csv and the cell list'}.`,
    );
  }
  return out;
}

// ------------------------------------------------------------------------------------------ Table 1

/**
 * The paper's qualified defences (Table 1): a defence under 50% test accuracy on any attack is
 * "unqualified". A smaller profile trains weaker victims, so the line is rescaled by our clean
 * accuracy over the paper's (both without defence): it keeps its meaning, about half of what
 * clean training gives. Null without a clean no-defence cell or a paper number to scale by.
 */
function qualifiedLine(rs: ResultSet, arch: string): { line: number; clean: number; paperClean: number } | null {
  const clean = stat(rs.main(arch, 'none', 'clean'));
  const paper = paperCleanAcc(arch, 'none');
  return clean && paper ? { line: (50 * clean.mean) / paper.value, clean: clean.mean, paperClean: paper.value } : null;
}

function table1(rs: ResultSet, arch: string): ReportTable {
  const cellsOfArch = rs.cells.filter((c) => c.architecture === arch && c.attack !== 'clean');
  const attacksHere = new Set(cellsOfArch.map((c) => c.attack));
  const attackCols = [...PAPER_ATTACKS, ...attackOrder(attacksHere).filter((a) => !(PAPER_ATTACKS as readonly string[]).includes(a))];
  const avgSet = AVG_ATTACKS.filter((a) => attacksHere.has(a));
  const paperRows = paperTable1Defenses(arch);
  const paperCol = paperRows.length > 0;
  const defenses = defenseOrder([...paperRows, ...cellsOfArch.map((c) => c.defense)]);
  const used: ReportCell[] = [];
  const statsOf = new Map(
    defenses.map((d) => [
      d,
      attackCols.map((a) => {
        const cells = rs.main(arch, d, a);
        used.push(...cells);
        return stat(cells);
      }),
    ]),
  );
  // Qualified (see qualifiedLine) among the defences with numbers; the best of them per attack is bold, as in the paper.
  const q = qualifiedLine(rs, arch);
  const meanOf = (d: string, i: number): number | null => statsOf.get(d)![i]?.mean ?? null;
  const withNumbers = defenses.filter((d) => d !== 'none' && statsOf.get(d)!.some((x) => x !== null));
  // the attacks (column indices) that take each defence under the line
  const failing = new Map(withNumbers.map((d) => [d, q ? attackCols.map((_, i) => i).filter((i) => (meanOf(d, i) ?? Infinity) < q.line) : []]));
  const qualified = q ? withNumbers.filter((d) => failing.get(d)!.length === 0) : [];
  const bestOf = attackCols.map((_, i) => {
    const ranked = qualified.filter((d) => meanOf(d, i) !== null).sort((a, b) => meanOf(b, i)! - meanOf(a, i)!);
    return ranked[0] ?? null;
  });
  let partial = false;
  const rows = defenses.map((d) => {
    const stats = statsOf.get(d)!;
    const seeds = [...new Set(stats.flatMap((s) => s?.seeds ?? []))];
    const cells = attackCols.map((a, i) => ({ ...statCell(stats[i]!, paperTestAcc(arch, d, a), paperCol), ...(bestOf[i] === d ? { best: true } : {}) }));
    // AVG: over the non-adaptive attacks present in this table; * = the row has fewer of them
    const have = avgSet.filter((a) => stats[attackCols.indexOf(a)] !== null);
    const over = have.length > 0 ? have : avgSet.length > 0 ? avgSet : AVG_ATTACKS;
    const ours = have.length > 0 ? have.reduce((s, a) => s + stats[attackCols.indexOf(a)]!.mean, 0) / have.length : null;
    const rowPartial = have.length > 0 && have.length < avgSet.length;
    partial ||= rowPartial;
    const pAvg = paperCol ? paperAverage(over.map((a) => paperTestAcc(arch, d, a))) : null;
    cells.push({
      ours: ours === null ? DASH : `${fmt(ours)}${rowPartial ? '*' : ''}`,
      ...(paperCol ? { paper: paperText(pAvg) ?? DASH } : {}),
      title: `average over ${over.map(attackLabel).join(', ')}`,
      ...(ours !== null ? { has: true } : {}),
    });
    return { head: defenseLabel(d), cells: [{ ours: seedText(seeds), title: seeds.length ? `seeds ${seeds.join(', ')}` : 'no cells', has: seeds.length > 0 }, ...cells] };
  });
  const standing: string[] = [];
  if (q && withNumbers.length) {
    const unq = withNumbers.filter((d) => !qualified.includes(d));
    standing.push(
      `Qualified defences, by the paper's rule (under 50% on any attack is unqualified) with the line rescaled to this profile: ${fmt(q.line)}% = 50 x ${fmt(q.clean)} / ${fmt(q.paperClean, 2)} (clean accuracy without defence, ours / the paper's): ` +
        `${qualified.length ? qualified.map(defenseLabel).join(', ') : 'none'}` +
        (unq.length ? `; not qualified: ${unq.map((d) => `${defenseLabel(d)} (${failing.get(d)!.map((i) => `${attackLabel(attackCols[i]!)} ${fmt(meanOf(d, i)!)}`).join(', ')})`).join(', ')}` : '') +
        '. A row missing attacks is judged on those it has.',
    );
    const judged = attackCols.map((_, i) => i).filter((i) => bestOf[i] !== null);
    if (judged.length) {
      const eclWins = judged.filter((i) => bestOf[i] === 'eclipse').map((i) => attackLabel(attackCols[i]!));
      let eclipse = '';
      if (qualified.includes('eclipse')) eclipse = `ECLIPSE is the best qualified defence on ${eclWins.length} of ${judged.length} attacks${eclWins.length ? ` (${eclWins.join(', ')})` : ''}.`;
      else if (withNumbers.includes('eclipse')) eclipse = 'ECLIPSE itself is not qualified here.';
      standing.push(`Best qualified defence per attack (bold): ${judged.map((i) => `${attackLabel(attackCols[i]!)} ${defenseLabel(bestOf[i]!)} ${fmt(meanOf(bestOf[i]!, i)!)}`).join('; ')}. ${eclipse}`);
    }
  }
  const missingAttacks = AVG_ATTACKS.concat('adp').filter((a) => !attacksHere.has(a));
  const missingDefenses = paperRows.filter((d) => !cellsOfArch.some((c) => c.defense === d));
  const notes = [
    profileSentence(used),
    `Mean test accuracy (%) over seeds${paperCol ? `; in brackets the paper's number (${archLabel(arch)}, Table 1)` : ''}. "seeds": how many seeds the row's numbers average.`,
    `AVG: the mean over the non-adaptive attacks present in this table (${avgSet.length ? avgSet.map(attackLabel).join(', ') : 'none yet'}), ADP excluded as in the paper's 8-attack average${partial ? '; * = over fewer attacks (the row misses some)' : ''}.`,
    ...standing,
    ...variantNote(rs, arch, defenses, [...attacksHere]),
  ];
  if (missingAttacks.length || missingDefenses.length)
    notes.push(
      `Missing (no finished cell): ${[missingAttacks.length ? `attacks ${missingAttacks.map(attackLabel).join(', ')}` : '', missingDefenses.length ? `defences ${missingDefenses.map(defenseLabel).join(', ')}` : ''].filter(Boolean).join('; ')}.`,
    );
  return {
    id: `table1-${arch}`,
    title: `Table 1 (${archLabel(arch)}): test accuracy (%) per attack and defence`,
    columns: ['defence', 'seeds', ...attackCols.map(attackLabel), 'AVG'],
    rows,
    notes,
  };
}

// ------------------------------------------------------------------------------------------ Table 3

function table3(rs: ResultSet): ReportTable {
  const clean = rs.cells.filter((c) => c.attack === 'clean');
  const archs = archOrder(clean.length ? clean.map((c) => c.architecture) : ['resnet18']);
  const defenses = defenseOrder([...clean.map((c) => c.defense), 'none', 'at', 'iss-j', 'eclipse']);
  const used: ReportCell[] = [];
  const rows = defenses.map((d) => ({
    head: defenseLabel(d),
    cells: archs.map((a) => {
      const cells = rs.main(a, d, 'clean');
      used.push(...cells);
      return statCell(stat(cells), paperCleanAcc(a, d));
    }),
  }));
  const notes = [
    profileSentence(used),
    'Clean accuracy: the defence applied to the unpoisoned training set (the matrix\'s "clean" cells), mean over seeds; in brackets the paper\'s Table 3.',
    ...variantNote(rs, archs[0]!, defenses, ['clean']),
  ];
  if (clean.length === 0) notes.push('Missing: no clean cell has finished (the matrix adds them unless cleanTwins is false).');
  return { id: 'table3', title: 'Table 3: clean accuracy (%) per architecture and defence', columns: ['defence', ...archs.map(archLabel)], rows, notes };
}

// ------------------------------------------------------------------------------------------ Table 4

function table4(rs: ResultSet, arch: string): ReportTable {
  const ecl = rs.cells.filter((c) => c.architecture === arch && c.defense === 'eclipse' && c.attack !== 'clean' && c.attack !== 'adp');
  const attacks = attackOrder(ecl.map((c) => c.attack));
  const paperCol = arch === 'resnet18';
  let partial = false;
  const used: ReportCell[] = [];
  const rows = ABLATION_ROWS.map((ab) => {
    const stats = attacks.map((a) => {
      const cells = rs.main(arch, 'eclipse', a, ['ablation']).filter((c) => c.cell && ablationOf(c.cell) === ab);
      used.push(...cells);
      return stat(cells);
    });
    const have = stats.filter((s): s is Stat => s !== null);
    const rowPartial = have.length > 0 && have.length < attacks.length;
    partial ||= rowPartial;
    const avg = have.length ? have.reduce((s, x) => s + x.mean, 0) / have.length : null;
    return {
      head: ab.split('').join('+'),
      cells: [
        ...stats.map((s) => statCell(s, null, false)),
        { ours: avg === null ? DASH : `${fmt(avg)}${rowPartial ? '*' : ''}`, ...(paperCol ? { paper: paperText(paperAblationAvg(ab)) ?? DASH } : {}), ...(avg !== null ? { has: true } : {}) },
      ],
    };
  });
  const notes = [
    profileSentence(used),
    'ECLIPSE with some of its parts: A diffusion purification, B random grayscale, C Gaussian noise (option "ablation"; A+B+C is the full defence), other options at their main values; AVG over the non-adaptive attacks of the row' +
      (paperCol ? ", beside it the paper's Table 4 average over its eight attacks" : '') + (partial ? '; * = the row misses some attacks.' : '.'),
  ];
  const missing = ABLATION_ROWS.filter((_, i) => !rows[i]!.cells.some((c) => c.has));
  if (missing.length) notes.push(`Missing: ${missing.map((m) => m.split('').join('+')).join(', ')} (no finished ECLIPSE cell with that ablation).`);
  return { id: `table4-${arch}`, title: `Table 4 (${archLabel(arch)}): ECLIPSE's parts, test accuracy (%)`, columns: ['parts', ...attacks.map(attackLabel), 'AVG'], rows, notes };
}

// ------------------------------------------------------------------------------------------ plots

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

async function sweepPlots(rs: ResultSet, arch: string): Promise<Plot[]> {
  const attacks = attackOrder(rs.cells.filter((c) => c.architecture === arch && c.defense === 'eclipse').map((c) => c.attack));
  const keys = [...new Set(attacks.flatMap((a) => rs.axesFor(arch, 'eclipse', a).map((x) => x.key)))].filter((k) => k !== 'ablation').sort();
  const plots: Plot[] = [];
  for (const key of keys) {
    type Point = { series: string; kind: string; x: number | string; acc: number; n: number };
    // the other swept options at the main cells' values, or (when that gives fewer points, e.g.
    // one option swept at another's non-default value) at the profile's values
    const collect = (others: (c: ReportCell) => boolean): { points: Point[]; used: ReportCell[]; byAttack: Map<string, Map<string, number>>; numeric: boolean } => {
      const points: Point[] = [];
      const used: ReportCell[] = [];
      const byAttack = new Map<string, Map<string, number>>();
      let numeric = true;
      for (const a of attacks) {
        const axis = rs.axesFor(arch, 'eclipse', a).find((x) => x.key === key);
        if (!axis) continue;
        const m = new Map<string, number>();
        for (const v of axis.values) {
          const cells = (rs.groups.get(`${arch}|eclipse|${a}`) ?? []).filter((c) => c.cell && optionValue(c.cell, key) === v && others(c));
          const s = stat(cells);
          if (!s) continue;
          used.push(...cells);
          if (typeof v !== 'number') numeric = false;
          points.push({ series: attackLabel(a), kind: a === 'clean' ? 'clean data' : 'attack', x: typeof v === 'number' ? v : String(v), acc: s.mean, n: s.n });
          m.set(String(v), s.mean);
        }
        byAttack.set(a, m);
      }
      return { points, used, byAttack, numeric };
    };
    const atMain = collect((c) => rs.isMain(c, [key]));
    const atDefault = collect((c) => rs.isDefault(c, [key]));
    const byDefault = atDefault.points.length > atMain.points.length;
    const { points, used, byAttack, numeric } = byDefault ? atDefault : atMain;
    // the average over the non-adaptive attacks that have every value
    const xs = [...new Set(points.map((p) => String(p.x)))];
    const full = [...byAttack].filter(([a, m]) => AVG_ATTACKS.includes(a) && xs.every((x) => m.has(x)));
    if (full.length >= 2)
      for (const x of xs) points.push({ series: 'AVG', kind: 'average', x: numeric ? Number(x) : x, acc: full.reduce((s, [, m]) => s + m.get(x)!, 0) / full.length, n: full.length });
    const paper = arch === 'resnet18' && numeric ? PAPER_SWEEP_AVG[key] : undefined;
    if (paper) for (const [x, acc] of paper) points.push({ series: 'paper AVG', kind: 'paper', x, acc, n: 8 });
    if (points.length === 0) continue;
    const series = [...attacks.map(attackLabel), 'AVG', 'paper AVG'].filter((s) => points.some((p) => p.series === s));
    const spec: TopLevelSpec = {
      $schema: SCHEMA,
      title: `${archLabel(arch)}, ECLIPSE: test accuracy vs ${key}`,
      width: 420,
      height: 240,
      data: { values: points },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'x', type: numeric ? 'quantitative' : 'ordinal', title: key, ...(numeric ? { scale: { zero: false } } : {}) },
        y: { field: 'acc', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } },
        color: { field: 'series', type: 'nominal', title: 'attack', sort: series },
        strokeDash: { field: 'kind', type: 'nominal', sort: ['attack', 'clean data', 'average', 'paper'], legend: null },
        tooltip: [{ field: 'series' }, { field: 'x', title: key }, { field: 'acc', format: '.1f' }, { field: 'n', title: 'cells' }],
      },
    } as TopLevelSpec;
    plots.push({
      id: `sweep-${arch}-${key}`,
      title: `ECLIPSE sweep of ${key} (${archLabel(arch)})`,
      caption:
        `Test accuracy (%) of ECLIPSE cells against ${key}, the other swept options at ${byDefault ? "the profile's values" : "the values of Table 1's cells"}, mean over seeds; one line per attack (clean = the clean-data cells)` +
        (full.length >= 2 ? `, AVG over ${full.map(([a]) => attackLabel(a)).join(', ')}` : '') +
        (paper ? "; dashed: the paper's average over its eight attacks (ResNet-18, paper profile)" : '') + '. ' + profileSentence(used),
      svg: await renderVegaLite(spec),
    });
  }
  return plots;
}

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

async function curvePlots(rs: ResultSet, arch: string, artifactsDir: string): Promise<Plot[]> {
  const plots: Plot[] = [];
  const defenses = defenseOrder(rs.cells.filter((c) => c.architecture === arch).map((c) => c.defense));
  for (const d of defenses) {
    const attacks = attackOrder(rs.cells.filter((c) => c.architecture === arch && c.defense === d).map((c) => c.attack));
    const values: { attack: string; seed: number; epoch: number; train_loss: number | null; test_acc: number | null }[] = [];
    for (const a of attacks)
      for (const c of rs.main(arch, d, a)) {
        const ms = readMetrics(artifactsDir, c);
        for (const m of ms ?? [])
          values.push({ attack: attackLabel(a), seed: c.seed, epoch: m.epoch, train_loss: Number.isFinite(m.train_loss) ? m.train_loss : null, test_acc: m.test_acc === undefined ? null : 100 * m.test_acc });
      }
    if (values.length === 0) continue;
    const order = attacks.map(attackLabel);
    const multiSeed = new Set(values.map((v) => v.seed)).size > 1;
    const layer = (field: string, title: string, extra: object = {}): object => ({
      width: 300,
      height: 200,
      transform: [{ filter: `isValid(datum.${field})` }],
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
        y: { field, type: 'quantitative', title, ...extra },
        color: { field: 'attack', type: 'nominal', title: 'attack', sort: order },
        ...(multiSeed ? { detail: { field: 'seed', type: 'nominal' } } : {}),
        tooltip: [{ field: 'attack' }, { field: 'seed' }, { field: 'epoch' }, { field, format: '.3f' }],
      },
    });
    const spec = {
      $schema: SCHEMA,
      title: `${archLabel(arch)}, ${defenseLabel(d)}: training curves`,
      data: { values },
      hconcat: [layer('train_loss', 'train loss'), layer('test_acc', 'test accuracy (%)', { scale: { domain: [0, 100] } })],
    } as unknown as TopLevelSpec;
    plots.push({
      id: `curves-${arch}-${d}`,
      title: `Training curves: ${defenseLabel(d)} (${archLabel(arch)})`,
      caption: `Train loss and test accuracy per epoch (each main cell's classifier: its metrics.jsonl, else the curve kept with its result), one line per attack${multiSeed ? ' and seed' : ''}; test accuracy where the recipe evaluated.`,
      svg: await renderVegaLite(spec),
    });
  }
  return plots;
}

// ------------------------------------------------------------------------------------------ CSV

const csvField = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One line per architecture x defence x attack x variant (the swept options' values). */
function summaryCsv(rs: ResultSet): string {
  const cols = ['architecture', 'defense', 'attack', 'variant', 'main', 'profile', 'n', 'seeds', 'test_acc_mean', 'test_acc_std', 'clean_acc_mean', 'paper_test_acc', 'paper_decoded', 'hashes'];
  const lines = [cols.join(',')];
  for (const [k, cells] of rs.groups) {
    const [arch, d, a] = k.split('|') as [string, string, string];
    const axes = rs.axes.get(k) ?? [];
    const variants = new Map<string, ReportCell[]>();
    for (const c of cells) {
      const v = axes.map((x) => `${x.key}=${c.cell ? String(optionValue(c.cell, x.key)) : '?'}`).join(' ');
      variants.set(v, [...(variants.get(v) ?? []), c]);
    }
    for (const [v, vc] of variants) {
      const s = stat(vc);
      if (!s) continue;
      const cl = stat(vc, (c) => c.cleanAcc);
      const p = a === 'clean' ? paperCleanAcc(arch, d) : paperTestAcc(arch, d, a);
      const main = vc.every((c) => rs.isMain(c));
      lines.push(
        [arch, d, a, v, main ? 1 : 0, s.profiles.join(' '), s.n, s.seeds.join(' '), fmt(s.mean, 2), fmt(s.std, 2), cl ? fmt(cl.mean, 2) : '', main && p ? p.value : '', main && p ? Number(p.decoded) : '', s.hashes.join(' ')]
          .map(csvField)
          .join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------------ all

function cellTable(rs: ResultSet): ReportTable {
  const rank = (order: readonly string[], x: string): number => (order.indexOf(x) + 1 || order.length + 1);
  const archs = archOrder(rs.architectures);
  const defs = defenseOrder(rs.cells.map((c) => c.defense));
  const atts = ['clean', ...attackOrder(rs.cells.map((c) => c.attack))];
  const cells = [...rs.cells].sort(
    (a, b) =>
      rank(archs, a.architecture) - rank(archs, b.architecture) || rank(defs, a.defense) - rank(defs, b.defense) || rank(atts, a.attack) - rank(atts, b.attack) || a.label.localeCompare(b.label),
  );
  return {
    id: 'cells-table',
    title: 'Every finished cell',
    columns: ['cell', 'test acc. (%)', 'clean acc. (%)', 'minutes', 'main', 'hash'],
    rows: cells.map((c) => ({
      head: c.label,
      cells: [
        { ours: fmt(100 * c.testAcc, 2), has: true },
        { ours: c.attack === 'clean' ? '(clean)' : c.cleanAcc === null ? DASH : fmt(100 * c.cleanAcc, 2), has: c.cleanAcc !== null },
        { ours: fmt(c.seconds / 60, 1), has: true },
        { ours: rs.isMain(c) ? 'yes' : 'sweep', has: true },
        { ours: c.hash, has: true },
      ],
    })),
    notes: ['"main": the cell counts in Tables 1 and 3 (every swept option at its main value); the others appear in the sweep plots and Table 4.'],
  };
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
  const eclArchs = archOrder(rs.cells.filter((c) => c.defense === 'eclipse').map((c) => c.architecture));
  sections.push({ id: 'table4', title: "Table 4: ECLIPSE's parts", intro: [], tables: (eclArchs.length ? eclArchs : ['resnet18']).map((a) => table4(rs, a)), plots: [], figures: [] });

  log('report: plots');
  const sweeps = (await Promise.all(archs.map((a) => sweepPlots(rs, a)))).flat();
  sections.push({
    id: 'sweeps',
    title: 'Sweeps',
    intro: sweeps.length ? [] : ['No ECLIPSE option has more than one value among the finished cells (add a "sweep" to a matrix group, e.g. {"tStar": [50, 100, 150]}).'],
    tables: [], plots: sweeps, figures: [],
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

export class ReportError extends Error {}

const REPORT_FILES = { html: 'report.html', md: 'report.md', csv: 'results.csv' } as const;

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
