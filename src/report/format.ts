// The report's shared pieces of a cell and of an order: numbers as the tables print them, a
// statistic's cell (ours, the paper's beside it, the hover text), the defences' and
// architectures' order, and the sentence naming the profiles behind a set of numbers.
import type { TableCell } from './model.js';
import { AVG_ATTACKS, PAPER_DEFENSES, type PaperValue } from './paper.js';
import type { ReportCell, Stat } from './results.js';

export const DASH = '–';
export const fmt = (x: number, d = 1): string => x.toFixed(d);
export const paperText = (p: PaperValue | null): string | undefined => (p ? `${fmt(p.value, 2)}${p.decoded ? '†' : ''}` : undefined);
/** The seed axes a statistic's cells vary over, each with its seeds. */
export function seedAxes(s: Pick<Stat, 'seeds' | 'poisonSeeds' | 'defenseSeeds'>): { axis: string; seeds: number[] }[] {
  return [
    { axis: 'classifier', seeds: s.seeds },
    { axis: 'poison', seeds: s.poisonSeeds },
    { axis: 'defence', seeds: s.defenseSeeds },
  ];
}

const listSeeds = (s: Pick<Stat, 'seeds' | 'poisonSeeds' | 'defenseSeeds'>): string =>
  seedAxes(s).map((a) => `${a.axis} seed${a.seeds.length > 1 ? 's' : ''} ${a.seeds.join(', ')}`).join('; ');

/** "58.4" for one cell; "58.4 ±2.1" (the sample standard deviation) for more. */
export const statText = (s: Stat): string => (s.n > 1 ? `${fmt(s.mean)} ±${fmt(s.std)}` : fmt(s.mean));

/** A plot point's spread in words: "one run", or the sample sd and the range over n runs. */
export const spreadText = (s: Stat): string => (s.n > 1 ? `sd ${fmt(s.std, 2)}, min-max ${fmt(s.min)}–${fmt(s.max)} over ${s.n} runs` : 'one run');

/**
 * The hover text of a statistic. One cell: as before (its poison and defence seeds named when not
 * 0); more: n, the mean, the sample sd, the range and the seeds per axis.
 */
export function statTitle(s: Stat): string {
  const tail = `profile ${s.profiles.join(', ')}; ${s.hashes.join(' ')}`;
  if (s.n === 1) {
    const other = [...(s.poisonSeeds[0] ? [`poison seed ${s.poisonSeeds[0]}`] : []), ...(s.defenseSeeds[0] ? [`defence seed ${s.defenseSeeds[0]}`] : [])];
    return `mean of 1 cell (seed ${s.seeds.join(', ')}${other.length ? `, ${other.join(', ')}` : ''}); ${tail}`;
  }
  return `n = ${s.n} cells: mean ${fmt(s.mean, 2)}, sd ${fmt(s.std, 2)} (sample), min-max ${fmt(s.min, 2)}–${fmt(s.max, 2)}; ${listSeeds(s)}; ${tail}`;
}

export function statCell(s: Stat | null, paper?: PaperValue | null, showPaper = true): TableCell {
  const p = showPaper ? paperText(paper ?? null) : undefined;
  return { ours: s ? statText(s) : DASH, ...(p !== undefined || showPaper ? { paper: p ?? DASH } : {}), ...(s ? { title: statTitle(s), has: true } : {}) };
}

/**
 * A row's AVG as the paper's tables take it: the mean over the attacks of `avgSet` (the paper's
 * non-adaptive attacks in the table) that the row has, partial (printed with *) where it misses
 * some. `over` names what the paper's number beside it averages: the row's attacks, or all of
 * `avgSet` (else the paper's eight) where the row has none yet.
 */
export interface RowAverage {
  avg: number | null;
  have: string[];
  over: readonly string[];
  partial: boolean;
}

export function rowAverage(avgSet: readonly string[], statOf: (attack: string) => Stat | null | undefined): RowAverage {
  const have = avgSet.filter((a) => statOf(a) != null);
  const avg = have.length ? have.reduce((t, a) => t + statOf(a)!.mean, 0) / have.length : null;
  const over = have.length ? have : avgSet.length ? avgSet : AVG_ATTACKS;
  return { avg, have, over, partial: have.length > 0 && have.length < avgSet.length };
}

/** "54.9", "54.9*" where partial, a dash where the row has no attack yet. */
export const avgText = (r: RowAverage): string => (r.avg === null ? DASH : `${fmt(r.avg)}${r.partial ? '*' : ''}`);

/**
 * Table 1's "seeds" cell for a row: how many runs its cells average ("1", "3", "1-3") and, where
 * some cell averages more than one, over which seed axes; the title lists the seeds per axis.
 */
export function runsCell(stats: readonly (Stat | null)[]): TableCell {
  const have = stats.filter((s): s is Stat => s !== null);
  if (have.length === 0) return { ours: DASH, title: 'no cells', has: false };
  const ns = have.map((s) => s.n);
  const lo = Math.min(...ns);
  const hi = Math.max(...ns);
  const runs = lo === hi ? String(lo) : `${lo}-${hi}`;
  // an axis counts where some cell averages runs of more than one of its seeds
  const axes = ['classifier', 'poison', 'defence'].filter((_, i) => have.some((s) => seedAxes(s)[i]!.seeds.length > 1));
  const all = {
    seeds: [...new Set(have.flatMap((s) => s.seeds))].sort((a, b) => a - b),
    poisonSeeds: [...new Set(have.flatMap((s) => s.poisonSeeds))].sort((a, b) => a - b),
    defenseSeeds: [...new Set(have.flatMap((s) => s.defenseSeeds))].sort((a, b) => a - b),
  };
  return {
    ours: axes.length ? `${runs} (${axes.join(', ')})` : runs,
    title: `each cell averages ${runs} run${hi > 1 ? 's' : ''}${axes.length ? ` over ${axes.join(', ')} seeds` : ''}; ${listSeeds(all)}`,
    has: true,
  };
}

/** Defences in the paper's order, then any other. */
export function defenseOrder(ds: Iterable<string>): string[] {
  const set = new Set(ds);
  return [...PAPER_DEFENSES.filter((d) => set.has(d)), ...[...set].filter((d) => !(PAPER_DEFENSES as readonly string[]).includes(d)).sort()];
}

export function archOrder(archs: Iterable<string>): string[] {
  const order = ['resnet18', 'resnet34', 'resnet50', 'vgg16', 'vgg19', 'densenet121'];
  return [...new Set(archs)].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b));
}

export function profileSentence(cells: readonly ReportCell[]): string {
  const by = new Map<string, number>();
  for (const c of cells) by.set(c.profile, (by.get(c.profile) ?? 0) + 1);
  if (by.size === 0) return 'No numbers of ours yet.';
  if (by.size === 1) return `Our numbers: the ${[...by.keys()][0]} profile.`;
  return `Our numbers come from MIXED profiles (${[...by].map(([p, n]) => `${p}: ${n} cells`).join(', ')}): rows are not comparable with one another.`;
}
