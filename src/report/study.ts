// The paper's sensitivity study as numbers (issue 25): Tables 5 (replication M), 6 (the sparse
// share B/N) and 7 (t*) beside the paper's, and Fig. 5's three sweeps (denoiser iterations I,
// grayscale p, noise sigma), which the paper only plots, as tables of ours. One row per value of
// the studied option; every other ECLIPSE option at the value of Table 1's cells.
import { ECLIPSE } from '../defenses/registry.js';
import type { ResolvedCell } from '../matrix/config.js';
import { attackOrder } from './figures.js';
import { DASH, avgText, fmt, paperText, profileSentence, rowAverage, statCell } from './format.js';
import type { ReportTable, TableCell } from './model.js';
import {
  AVG_ATTACKS, BEYOND_NOTE, PAPER_STUDY, archLabel, attackHead, attackLabel, isBeyondAttack, optionLabel, paperAverage, paperStudyAcc, type PaperStudyRow,
} from './paper.js';
import { defaultValue, optionValue, stat, type ReportCell, type ResultSet } from './results.js';

/** CIFAR-10's training split per class: a classifier recipe's trainPerClass 0 means all of it. */
const CIFAR10_TRAIN_PER_CLASS = 5000;

interface Study {
  id: string;
  /** the paper's name for it */
  name: string;
  /** the matrix option it varies */
  key: string;
  /** options that change with it and name the row too (Table 7: the denoiser's range of t) */
  with: readonly string[];
  /** the paper's row for a cell's value (absent: the paper prints no numbers for it) */
  paper?: (c: ResolvedCell) => PaperStudyRow | undefined;
  /** a row's name beyond "option value" (e.g. the share B/N) */
  extra?: (c: ResolvedCell) => string;
  note: string;
}

const num = (c: ResolvedCell, key: string): number => Number(optionValue(c, key));
/** The sparse set's share of the training set, in % (the paper's B/N). */
const sparseShare = (c: ResolvedCell): number => (100 * num(c, 'B')) / (c.classifier.trainPerClass || CIFAR10_TRAIN_PER_CLASS);

const STUDIES: readonly Study[] = [
  {
    id: 'table5', name: 'Table 5', key: 'M', with: [],
    // M counts the copies (|D_A| = M B): the paper's "M 0", no enlargement, is one copy
    paper: (c) => PAPER_STUDY.M[num(c, 'M') === 1 ? 0 : num(c, 'M')],
    extra: (c) => (num(c, 'M') === 1 ? "the paper's M 0: no enlargement" : ''),
    note: "M counts the copies of the sparse set (|D_A| = M x B), so the paper's M 0 (no enlargement) is M 1 here.",
  },
  {
    id: 'table6', name: 'Table 6', key: 'B', with: [],
    paper: (c) => PAPER_STUDY.B[Math.round(sparseShare(c) * 100) / 100],
    extra: (c) => `B/N ${fmt(sparseShare(c), 0)}%`,
    note: "B is the sparse set's images per class; its share of the training set (B/N) is the paper's row.",
  },
  {
    id: 'table7', name: 'Table 7', key: 'tStar', with: ['trainMaxT'],
    paper: (c) => PAPER_STUDY.tStar[num(c, 'tStar')],
    note: "The paper's denoiser is trained on every t; each row here names the range its denoiser was trained on (mini's rule is t <= t*; the config's Table 7 group trains one denoiser on t <= 150 for all three t*). Rows past the paper's t* (200, 300) are issue 25's screening.",
  },
  {
    id: 'fig5a', name: 'Fig. 5a', key: 'iterations', with: [],
    note: "The paper's Fig. 5a (I from 100K to 250K, p 0.4, sigma 0.05, on SEP, LSP and AR) is a plot without readable numbers: ours only.",
  },
  {
    id: 'fig5b', name: 'Fig. 5b', key: 'p', with: [],
    note: "The paper's Fig. 5b (sigma 0.1, I 200K, on SEP, LSP and AR) is a plot without readable numbers: ours only, at the profile's sigma and I.",
  },
  {
    id: 'fig5c', name: 'Fig. 5c', key: 'sigma', with: [],
    note: "The paper's Fig. 5c (p 0.4, I 200K, on SEP, LSP and AR) is a plot without readable numbers: ours only, at the profile's p and I.",
  },
];

/** A row's option values as one key ("[100,150]"), and how they read. */
const rowKey = (c: ResolvedCell, keys: readonly string[]): string => JSON.stringify(keys.map((k) => optionValue(c, k) ?? null));
// a row names the value by the option's symbol ("M 6", not "M (replication) 6")
const valueText = (key: string, v: unknown): string =>
  key === 'trainMaxT' && v === 0 ? 'denoiser trained on every t' : `${optionLabel(key).replace(/ \(.*\)$/, '')} ${String(v)}`;

function studyTable(rs: ResultSet, arch: string, s: Study): ReportTable | null {
  const keys = [s.key, ...s.with];
  // every ECLIPSE cell of this architecture whose other options are at their main values
  const cells = rs.cells.filter((c): c is ReportCell & { cell: ResolvedCell } => c.architecture === arch && c.defense === ECLIPSE && c.cell !== null && c.attack !== 'adp' && rs.isMain(c, keys));
  const rowsByKey = new Map<string, ResolvedCell>();
  for (const c of cells) if (!rowsByKey.has(rowKey(c.cell, keys))) rowsByKey.set(rowKey(c.cell, keys), c.cell);
  if (rowsByKey.size < 2) return null;
  const order = [...rowsByKey.entries()].sort(([, a], [, b]) => {
    for (const k of keys) {
      const d = num(a, k) - num(b, k);
      if (d !== 0) return d;
    }
    return 0;
  });
  // per attack, only the poison draws that every row of it has run: a draw moves a result as much
  // as a setting does (issue 28), so a column compares like with like
  const draws = new Map<string, Set<number>>();
  for (const a of new Set(cells.map((c) => c.attack))) {
    const perRow = [...rowsByKey.keys()]
      .map((k) => new Set(cells.filter((c) => c.attack === a && rowKey(c.cell, keys) === k).map((c) => c.poisonSeed)))
      .filter((seeds) => seeds.size > 0);
    draws.set(a, new Set([...perRow[0]!].filter((p) => perRow.every((seeds) => seeds.has(p)))));
  }
  const rowsOf = (a: string): number => new Set(cells.filter((c) => c.attack === a).map((c) => rowKey(c.cell, keys))).size;
  // the paper's attacks, and a later one only where it was run at more than one value
  const attacks = attackOrder(cells.filter((c) => c.attack !== 'clean' && (!isBeyondAttack(c.attack) || rowsOf(c.attack) > 1)).map((c) => c.attack));
  const avgSet = attacks.filter((a) => AVG_ATTACKS.includes(a));
  const hasClean = cells.some((c) => c.attack === 'clean');
  const showPaper = s.paper !== undefined && arch === 'resnet18';
  let partial = false;
  const rows = order.map(([k, example]) => {
    const of = (a: string): ReportCell[] => cells.filter((c) => c.attack === a && rowKey(c.cell, keys) === k && draws.get(a)!.has(c.poisonSeed));
    const paperRow = showPaper ? s.paper!(example) : undefined;
    const stats = attacks.map((a) => stat(of(a)));
    const out: TableCell[] = stats.map((st, i) => statCell(st, paperStudyAcc(paperRow, attacks[i]!), showPaper));
    const r = rowAverage(avgSet, (a) => stats[attacks.indexOf(a)]);
    partial ||= r.partial;
    out.push({
      ours: avgText(r),
      ...(showPaper ? { paper: paperText(paperAverage(r.over.map((a) => paperStudyAcc(paperRow, a)))) ?? DASH } : {}),
      ...(r.avg !== null ? { has: true, title: `average over ${r.have.map(attackLabel).join(', ')}` } : {}),
    });
    if (hasClean) out.push(statCell(stat(of('clean')), null, false));
    const isProfile = keys.every((key) => JSON.stringify(optionValue(example, key)) === JSON.stringify(defaultValue(example, key)));
    const words = [...keys.map((key) => valueText(key, optionValue(example, key))), s.extra?.(example) ?? ''].filter(Boolean);
    return { head: `${words.join(', ')}${isProfile ? ` (${example.spec.profile}'s)` : ''}`, cells: out };
  });
  const used = cells.filter((c) => draws.get(c.attack)!.has(c.poisonSeed));
  return {
    id: `${s.id}-${arch}`,
    title: `${s.name} (${archLabel(arch)}): ECLIPSE's test accuracy (%) against ${optionLabel(s.key)}`,
    columns: [optionLabel(s.key), ...attacks.map(attackHead), 'AVG', ...(hasClean ? ['clean'] : [])],
    rows,
    notes: [
      profileSentence(used),
      `ECLIPSE (A+B+C) with ${optionLabel(s.key)} varied, every other option at the value of Table 1's cells; mean over runs ("mean ±sd" where n > 1; the hover text names the seeds), on each attack only the poison draws that all its rows have run; AVG over the paper's non-adaptive attacks of the row` +
        (showPaper ? `, beside each number the paper's ${s.name} (ResNet-18, the paper's profile; its AVG over the same attacks)` : '') +
        (partial ? '; * = the row misses some attacks' : '') + (hasClean ? '; clean: the clean-data twin of the row' : '') + '.',
      s.note,
      ...(attacks.some(isBeyondAttack) ? [BEYOND_NOTE] : []),
    ],
  };
}

/** Tables 5-7 and Fig. 5 as tables, for the studies with more than one value among the finished cells. */
export function studyTables(rs: ResultSet, arch: string): { tables: ReportTable[]; missing: string[] } {
  const tables: ReportTable[] = [];
  const missing: string[] = [];
  for (const s of STUDIES) {
    const t = studyTable(rs, arch, s);
    if (t) tables.push(t);
    else missing.push(`${s.name} (${optionLabel(s.key)})`);
  }
  return { tables, missing };
}
