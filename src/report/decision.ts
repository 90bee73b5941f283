// Issue 25's decision rule (docs/results.md, "the decision rule, fixed before the sweeps"),
// evaluated on the finished cells. Each purifier recipe is measured "the same way" as the
// profile's own: on the same (poison seed, defence seed) draws that the profile's recipe has per
// attack, classifier seed 0. A recipe clears when, on every non-adaptive attack, its mean is above
// the qualification line by at least one standard error, no attack's mean falls more than a point
// below the profile's recipe, and the clean twin loses at most a point. Among those that clear,
// the cheapest (denoiser training + one purification) wins.
import { fmt, DASH } from './format.js';
import type { ReportTable, TableCell } from './model.js';
import { AVG_ATTACKS, archLabel, attackLabel } from './paper.js';
import { stat, type ReportCell, type ResultSet, type Stat } from './results.js';
import { purifierVariants, stageMinutes, type PurifierVariant } from './diagnosis.js';
import { qualifiedLine } from './tables.js';

/** The rule's classifier seed: settings are compared on one victim recipe and seed. */
const CLASSIFIER_SEED = 0;
/** How far below the profile's recipe an attack's (or clean data's) mean may fall. */
const TOLERANCE = 1;

/** What fails an attack's (or clean data's) check. */
type Failure = 'at the line' | 'under the line' | 'pays';

export interface RuleCheck {
  attack: string;
  /** the recipe's cells on the reference draws */
  stat: Stat | null;
  /** how many draws the profile's recipe has on this attack (the rule's n) */
  need: number;
  /** the profile's recipe on the draws this recipe has run (all of them once it is complete) */
  reference: Stat | null;
  complete: boolean;
  /** null: not judged yet (no cell, or no line); [] holds; else why it fails */
  failures: Failure[] | null;
}

export interface RecipeDecision {
  label: string;
  checks: RuleCheck[];
  /** minutes of the recipe's own stages (median denoiser training + median purification) */
  cost: number | null;
  verdict: 'clears' | 'fails' | 'undecided';
  reasons: string[];
}

/** Minutes of a recipe's own stages: its median denoiser training plus its median purification. */
function ownStages(v: PurifierVariant): number | null {
  const den = stageMinutes(v, 'denoiser');
  const pur = stageMinutes(v, 'purify');
  return den !== null && pur !== null ? den + pur : null;
}

/** The standard error of a mean (0 for one cell). */
const seOf = (s: Stat): number => (s.n > 1 ? s.std / Math.sqrt(s.n) : 0);
const nameOf = (attack: string): string => (attack === 'clean' ? 'clean data' : attackLabel(attack));
const drawKey = (c: ReportCell): string => `${c.poisonSeed}/${c.defenseSeed}`;
const ofSeed = (cells: readonly ReportCell[], attack: string): ReportCell[] => cells.filter((c) => c.attack === attack && c.seed === CLASSIFIER_SEED);

function check(attack: string, v: PurifierVariant, ref: PurifierVariant, line: number | null): RuleCheck {
  const refCells = ofSeed(ref.cells, attack);
  const draws = new Set(refCells.map(drawKey));
  const mine = ofSeed(v.cells, attack).filter((c) => draws.has(drawKey(c)));
  const s = stat(mine);
  // paired: until every draw has run, the reference is its mean over the same draws
  const ran = new Set(mine.map(drawKey));
  const r = stat(refCells.filter((c) => ran.has(drawKey(c))));
  const complete = draws.size > 0 && ran.size === draws.size;
  let failures: Failure[] | null = null;
  if (s && r && (attack === 'clean' || line !== null)) {
    failures = [];
    if (attack !== 'clean' && s.mean - seOf(s) < line!) failures.push(s.mean >= line! ? 'at the line' : 'under the line');
    if (s.mean < r.mean - TOLERANCE) failures.push('pays');
  }
  return { attack, stat: s, need: draws.size, reference: r, complete, failures };
}

const failed = (k: RuleCheck): boolean => (k.failures?.length ?? 0) > 0;

function reasonsOf(k: RuleCheck, line: number | null): string[] {
  const name = nameOf(k.attack);
  return (k.failures ?? []).map((f) => (f === 'pays' ? `${name} pays ${fmt(k.reference!.mean - k.stat!.mean)} points` : `${name} ${f} (${fmt(k.stat!.mean)} against ${fmt(line ?? NaN)})`));
}

/** The rule, applied to every purifier recipe of an architecture other than the profile's own. */
export function decisions(rs: ResultSet, arch: string): { reference: PurifierVariant; line: number | null; attacks: string[]; rows: RecipeDecision[] } | null {
  const variants = purifierVariants(rs, arch);
  const reference = variants[0];
  if (!reference || Object.keys(reference.off).length > 0 || variants.length < 2) return null;
  const line = qualifiedLine(rs, arch)?.line ?? null;
  const attacks = ['clean', ...AVG_ATTACKS];
  const rows = variants.slice(1).map((v): RecipeDecision => {
    const checks = attacks.map((a) => check(a, v, reference, line));
    const cost = ownStages(v);
    // a failure on an attack whose draws all ran is final; one on part of them is provisional
    const final = checks.filter((k) => k.complete && failed(k));
    const open = checks.filter((k) => !k.complete || k.failures === null);
    const cellsRan = checks.reduce((t, k) => t + (k.stat?.n ?? 0), 0);
    const need = checks.reduce((t, k) => t + k.need, 0);
    const missingRef = checks.filter((k) => k.need === 0).map((k) => nameOf(k.attack));
    if (final.length) return { label: v.label, checks, cost, verdict: 'fails', reasons: final.flatMap((k) => reasonsOf(k, line)) };
    if (open.length === 0) return { label: v.label, checks, cost, verdict: 'clears', reasons: [] };
    const soFar = checks.filter((k) => !k.complete && failed(k)).flatMap((k) => reasonsOf(k, line));
    return {
      label: v.label, checks, cost, verdict: 'undecided',
      reasons: [
        `${cellsRan} of ${need} cells ran`,
        ...(missingRef.length ? [`${reference.label} has no cells on ${missingRef.join(', ')}`] : []),
        ...(line === null ? ['no qualification line (no clean cell without defence)'] : []),
        ...(soFar.length ? [`so far ${soFar.join(', ')}`] : []),
      ],
    };
  });
  return { reference, line, attacks, rows };
}

/** ✓ holds, ≈ above the line by less than a standard error (and nothing else wrong), ✗ under it or pays. */
const markOf = (f: readonly Failure[]): string => (f.length === 0 ? '✓' : f.length === 1 && f[0] === 'at the line' ? '≈' : '✗');

function checkCell(k: RuleCheck, line: number | null): TableCell {
  if (!k.stat) return { ours: k.need ? `${DASH} (0/${k.need})` : DASH, title: k.need ? `none of the ${k.need} draws has run` : "the profile's recipe has no cell here" };
  const s = k.stat;
  const title = [
    `mean ${fmt(s.mean, 2)}, sd ${fmt(s.std, 2)}, n ${s.n} of the ${k.need} draws (poison/defence seeds) the profile's recipe has`,
    `the profile's recipe on the same draws: ${fmt(k.reference!.mean, 2)} (n ${k.reference!.n})`,
    ...(k.attack !== 'clean' && line !== null ? [`mean − SE ${fmt(s.mean - seOf(s), 2)} against the line ${fmt(line, 2)}`] : []),
    ...(k.failures ? [k.failures.length ? k.failures.join(', ') : 'holds'] : []),
    ...(k.complete ? [] : ['not all draws yet: provisional']),
  ].join('; ');
  return { ours: `${fmt(s.mean)} (${s.n}/${k.need})`, has: true, title, ...(k.failures ? { mark: markOf(k.failures) } : {}) };
}

export function decisionTable(rs: ResultSet, arch: string): ReportTable | null {
  const d = decisions(rs, arch);
  if (!d) return null;
  const refCell = (a: string): TableCell => {
    const s = stat(ofSeed(d.reference.cells, a));
    return s ? { ours: `${fmt(s.mean)} (${s.n})`, has: true, title: `mean ${fmt(s.mean, 2)}, sd ${fmt(s.std, 2)}, n ${s.n}` } : { ours: DASH };
  };
  const refRow = { head: `${d.reference.label} (the reference)`, cells: [...d.attacks.map(refCell), costCell(ownStages(d.reference)), { ours: '' }] };
  const winners = d.rows.filter((r) => r.verdict === 'clears').sort((a, b) => (a.cost ?? Infinity) - (b.cost ?? Infinity));
  const decided = winners.length
    ? `Decision so far: ${winners[0]!.label} clears the rule and is the cheapest that does (${winners[0]!.cost === null ? 'cost not recorded' : `${fmt(winners[0]!.cost)} min`}).`
    : `Decision so far: no recipe clears the rule (${d.rows.filter((r) => r.verdict === 'fails').length} fail, ${d.rows.filter((r) => r.verdict === 'undecided').length} undecided).`;
  return {
    id: `decision-${arch}`,
    title: `Issue 25's decision rule (${archLabel(arch)}): each purifier recipe against the profile's`,
    columns: ['purifier', ...d.attacks.map((a) => (a === 'clean' ? 'clean' : attackLabel(a))), 'own stages (min)', 'verdict'],
    rows: [
      refRow,
      ...d.rows.map((r) => ({
        head: r.label,
        cells: [...r.checks.map((k) => checkCell(k, d.line)), costCell(r.cost), { ours: r.verdict + (r.reasons.length ? `: ${r.reasons.join('; ')}` : ''), has: true }],
      })),
    ],
    notes: [
      `The rule (docs/results.md, fixed before the sweeps ran): ECLIPSE's mean test accuracy over the same draws (poison seed × defence seed, classifier seed ${CLASSIFIER_SEED}) as the reference row has, "n/N" = draws run of those needed. A recipe clears when on each non-adaptive attack its mean minus one standard error is at or above the qualification line (${d.line === null ? 'not known: no clean cell without defence' : `${fmt(d.line)}%`}; ✓ above, ≈ above by less than a standard error, ✗ under), no attack's mean and not the clean twin's falls more than ${TOLERANCE} point below the reference's on the same draws (✗ pays), and every draw has run. A failure on an attack whose draws have all run is final; one on part of them is provisional. Among recipes that clear, the cheapest by its own stages (median denoiser training plus median purification, in minutes) wins.`,
      decided,
    ],
  };
}

const costCell = (m: number | null): TableCell => (m === null ? { ours: DASH } : { ours: fmt(m), has: true });
