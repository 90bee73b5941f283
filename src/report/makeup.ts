// What makes a poison hard to purify (issue 28): ECLIPSE's test accuracy against each measure of
// the poison's make-up, one point per poison draw (attack x poison seed), with Pearson's r and
// Spearman's rho per measure and the sentence naming the measure that predicts accuracy best.
// The same plot of what purification left (issue 25): the purified set measured against the clean
// one, one point per purified set (attack x poison seed x defence seed; the clean twin included).
import { ECLIPSE } from '../defenses/registry.js';
import { attackOrder } from './figures.js';
import { fmt, profileSentence, spreadText } from './format.js';
import type { Plot } from './model.js';
import { archLabel, attackLabel } from './paper.js';
import { stat, type PoisonMakeupNumbers, type ReportCell, type ResultSet } from './results.js';
import { renderVegaLite, type TopLevelSpec } from './vega.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** The make-up's measures as the report names them. */
export const MAKEUP_MEASURES: readonly { key: keyof PoisonMakeupNumbers; label: string }[] = [
  { key: 'l2', label: 'L2 (mean per image, [0,1] units)' },
  { key: 'high_freq', label: 'energy share above half Nyquist' },
  { key: 'classwise', label: 'class-wise energy share' },
  { key: 'scan_score', label: "poison scan's score" },
];

/** Fewer poison draws with make-up numbers than this: no plot, a note. */
export const MIN_DRAWS = 3;

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Pearson's correlation coefficient; null for fewer than 2 pairs or a constant side. */
export function pearson(xs: readonly number[], ys: readonly number[]): number | null {
  if (xs.length !== ys.length) throw new Error(`pearson: ${xs.length} x values but ${ys.length} y values`);
  if (xs.length < 2) return null;
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < xs.length; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  // rounding can put a perfect relation a hair outside [-1, 1]
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Ranks from 1, ties given the mean of the ranks they share. */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => ({ x, i })).sort((a, b) => a.x - b.x);
  const out = new Array<number>(xs.length).fill(0);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]!.x === order[start]!.x) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) out[order[k]!.i] = rank;
    start = end + 1;
  }
  return out;
}

/** Spearman's rank correlation (Pearson's r of the ranks, ties averaged); null as pearson. */
export function spearman(xs: readonly number[], ys: readonly number[]): number | null {
  if (xs.length !== ys.length) throw new Error(`spearman: ${xs.length} x values but ${ys.length} y values`);
  return pearson(ranks(xs), ranks(ys));
}

/** What a plot's points are: the poisons ECLIPSE was given, or the sets its purification made. */
export type MakeupOf = 'poison' | 'purified';

/** One poison draw (or purified set): its make-up and ECLIPSE's accuracy over its main cells. */
export interface PoisonDraw {
  attack: string;
  poisonSeed: number;
  /** the defence seed of a purified set (null for a poison draw, which ECLIPSE's seeds share) */
  defenseSeed: number | null;
  makeup: PoisonMakeupNumbers;
  /** mean test accuracy (%) of the draw's ECLIPSE cells, with their n and range */
  acc: number;
  n: number;
  min: number;
  max: number;
  /** the spread in words (format.ts spreadText) */
  spread: string;
  cells: ReportCell[];
}

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
const hasMakeup = (m: PoisonMakeupNumbers | undefined): m is PoisonMakeupNumbers => m !== undefined && m !== null && MAKEUP_MEASURES.some((x) => finite(m[x.key]));

/**
 * The poison draws (of: 'poison') or purified sets (of: 'purified', the clean twin's included) of
 * an architecture's ECLIPSE cells at the main settings that have a make-up.
 */
export function poisonDraws(rs: ResultSet, arch: string, of: MakeupOf = 'poison'): PoisonDraw[] {
  const attacks = attackOrder(rs.cells.filter((c) => c.architecture === arch && c.defense === ECLIPSE && (of === 'purified' || c.attack !== 'clean')).map((c) => c.attack));
  const out: PoisonDraw[] = [];
  for (const attack of attacks) {
    // a poison is shared by ECLIPSE's defence seeds; a purified set by the classifier seeds only
    const groups = new Map<string, ReportCell[]>();
    for (const c of rs.main(arch, ECLIPSE, attack)) {
      const k = of === 'poison' ? `${c.poisonSeed}` : `${c.poisonSeed}/${c.defenseSeed}`;
      groups.set(k, [...(groups.get(k) ?? []), c]);
    }
    const sorted = [...groups.values()].sort((a, b) => a[0]!.poisonSeed - b[0]!.poisonSeed || a[0]!.defenseSeed - b[0]!.defenseSeed);
    for (const cells of sorted) {
      // every cell of one set carries its make-up; the first that has one speaks for it
      const makeup = cells.map((c) => (of === 'poison' ? c.extra.makeup : c.extra.purified_makeup)).find(hasMakeup);
      const s = stat(cells);
      if (!makeup || !s) continue;
      const first = cells[0]!;
      out.push({ attack, poisonSeed: first.poisonSeed, defenseSeed: of === 'poison' ? null : first.defenseSeed, makeup, acc: s.mean, n: s.n, min: s.min, max: s.max, spread: spreadText(s), cells });
    }
  }
  return out;
}

/** A measure's correlation with ECLIPSE's accuracy over the draws that have it. */
export interface MeasureFit {
  key: keyof PoisonMakeupNumbers;
  label: string;
  n: number;
  r: number | null;
  rho: number | null;
}

export function makeupFits(draws: readonly PoisonDraw[]): MeasureFit[] {
  return MAKEUP_MEASURES.map(({ key, label }) => {
    const have = draws.filter((d) => finite(d.makeup[key]));
    const xs = have.map((d) => d.makeup[key] as number);
    const ys = have.map((d) => d.acc);
    const enough = have.length >= MIN_DRAWS;
    return { key, label, n: have.length, r: enough ? pearson(xs, ys) : null, rho: enough ? spearman(xs, ys) : null };
  });
}

const corr = (v: number | null): string => (v === null ? 'undefined' : fmt(v, 2));

/** "r = 0.93, ρ = 0.90, n = 12" (or why there is no number). */
export function fitText(f: MeasureFit): string {
  if (f.n < MIN_DRAWS) return `n = ${f.n}: too few draws for a correlation`;
  if (f.r === null) return `n = ${f.n}: no correlation (the measure or the accuracy does not vary)`;
  return `r = ${corr(f.r)}, ρ = ${corr(f.rho)}, n = ${f.n}`;
}

/** The plain sentence: which measure predicts ECLIPSE's accuracy best, and how well. */
export function bestMeasureSentence(fits: readonly MeasureFit[], of: MakeupOf = 'poison'): string {
  const scored = fits.filter((f): f is MeasureFit & { r: number } => f.r !== null);
  const points = of === 'poison' ? 'draws' : 'purified sets';
  if (scored.length === 0) return `No measure has enough ${points} (or spread) for a correlation with ECLIPSE's accuracy.`;
  const byR = [...scored].sort((a, b) => Math.abs(b.r) - Math.abs(a.r) || Math.abs(b.rho ?? 0) - Math.abs(a.rho ?? 0));
  const best = byR[0]!;
  const strength = Math.abs(best.r) >= 0.7 ? 'strongly' : Math.abs(best.r) >= 0.4 ? 'moderately' : 'weakly';
  const direction = best.r > 0 ? 'the higher it is, the higher ECLIPSE\'s accuracy' : 'the higher it is, the lower ECLIPSE\'s accuracy';
  const byRho = [...scored].filter((f) => f.rho !== null).sort((a, b) => Math.abs(b.rho!) - Math.abs(a.rho!))[0];
  const rankNote = byRho && byRho.key !== best.key ? ` By rank (Spearman), ${byRho.label} does best (ρ = ${corr(byRho.rho)}).` : '';
  const few = best.n < 10 ? ` Over ${best.n} ${points} this is a hint, not a finding.` : '';
  return `Of the ${of === 'poison' ? "poison's" : "purified set's"} make-up measures, ${best.label} predicts ECLIPSE's accuracy best (${fitText(best)}; r² = ${fmt(best.r * best.r, 2)}): ${strength}, and ${direction}.${rankNote}${few}`;
}

/**
 * The make-up plot of an architecture (one panel per measure, colour by attack, min-max error
 * bars where a draw averages more than one ECLIPSE cell) and its notes; no plot, a note, where
 * fewer than MIN_DRAWS poison draws have make-up numbers.
 */
export async function makeupPlots(rs: ResultSet, arch: string, of: MakeupOf = 'poison'): Promise<{ plots: Plot[]; notes: string[] }> {
  const draws = poisonDraws(rs, arch, of);
  const what = of === 'poison' ? { one: 'poison draw', many: 'poison draws', since: 'issue 28', of: "the poison's make-up" } : { one: 'purified set', many: 'purified sets', since: 'issue 25', of: 'what purification left (the purified set against the clean one)' };
  if (draws.length < MIN_DRAWS)
    return {
      plots: [],
      notes: [
        `${archLabel(arch)}: no plot of ECLIPSE's accuracy against ${what.of}: ${draws.length} ${draws.length === 1 ? `${what.one} has` : `${what.many} have`} make-up numbers among ECLIPSE's main cells (at least ${MIN_DRAWS} needed; cells from before ${what.since} keep none).`,
      ],
    };
  const fits = makeupFits(draws);
  const panel = (f: MeasureFit): string => `${f.label} (${fitText(f)})`;
  const values = draws.flatMap((d) =>
    fits
      .filter((f) => finite(d.makeup[f.key]))
      .map((f) => ({
        measure: panel(f), attack: attackLabel(d.attack), poisonSeed: d.poisonSeed, defenseSeed: d.defenseSeed, value: d.makeup[f.key] as number, acc: d.acc, n: d.n,
        spread: d.spread, lo: d.n > 1 ? d.min : null, hi: d.n > 1 ? d.max : null,
      })),
  );
  const attacks = [...new Set(draws.map((d) => attackLabel(d.attack)))];
  const x = { field: 'value', type: 'quantitative', title: 'measure', scale: { zero: false } };
  const color = { field: 'attack', type: 'nominal', title: 'attack', sort: attacks };
  const spread = values.some((v) => v.lo !== null);
  const spec = {
    $schema: SCHEMA,
    title: `${archLabel(arch)}, ECLIPSE: test accuracy vs ${of === 'poison' ? "the poison's make-up" : 'what purification left'}`,
    data: { values },
    facet: { field: 'measure', type: 'nominal', title: null, sort: fits.map(panel) },
    columns: 2,
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 260,
      height: 180,
      layer: [
        {
          mark: { type: 'point', filled: true, size: 60 },
          encoding: {
            x, color,
            y: { field: 'acc', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } },
            tooltip: [
              { field: 'attack' }, { field: 'poisonSeed', title: 'poison seed' }, ...(of === 'purified' ? [{ field: 'defenseSeed', title: 'defence seed' }] : []),
              { field: 'value', title: 'measure', format: '.4f' },
              { field: 'acc', title: 'mean acc.', format: '.1f' }, { field: 'n', title: 'n (cells)' }, { field: 'spread' },
            ],
          },
        },
        ...(spread
          ? [{
              transform: [{ filter: 'isValid(datum.lo)' }],
              mark: { type: 'errorbar', ticks: true },
              encoding: { x, color, y: { field: 'lo', type: 'quantitative', title: 'test accuracy (%)' }, y2: { field: 'hi' } },
            }]
          : []),
      ],
    },
  } as unknown as TopLevelSpec;
  const used = draws.flatMap((d) => d.cells);
  const perMeasure = fits.map((f) => `${f.label}: ${fitText(f)}`);
  const sentence = bestMeasureSentence(fits, of);
  const points =
    of === 'poison'
      ? `One point per poison draw (attack x poison seed, ${draws.length} draws): ECLIPSE's test accuracy (%), the mean over that poison's ECLIPSE cells at Table 1's settings ` +
        "(defence and classifier seeds), against each measure of the poison's make-up"
      : `One point per purified set (attack x poison seed x defence seed, ${draws.length} sets; "Clean" is the clean twin: the purification's own distortion): ECLIPSE's test accuracy (%), the mean over the classifier seeds trained on it, ` +
        'against each measure of the purified training set taken as a poison of the clean one (what is left of the poison, plus what purification changes)';
  return {
    plots: [
      {
        id: of === 'poison' ? `makeup-${arch}` : `purified-makeup-${arch}`,
        title: `ECLIPSE's accuracy vs ${of === 'poison' ? "the poison's make-up" : 'what purification left'} (${archLabel(arch)})`,
        caption:
          `${points}; colour: attack${spread ? '; error bars: min-max over the cells of a draw that averages more than one (n in the tooltip)' : ''}. ` +
          `Pearson r and Spearman ρ per measure: ${perMeasure.join('; ')}. ${sentence} ${profileSentence(used)}`,
        svg: await renderVegaLite(spec),
      },
    ],
    notes: [`${archLabel(arch)}: ${sentence}`],
  };
}
