// The report's shared pieces of a cell and of an order: numbers as the tables print them, a
// statistic's cell (ours, the paper's beside it, the hover text), the defences' and
// architectures' order, and the sentence naming the profiles behind a set of numbers.
import type { TableCell } from './model.js';
import { PAPER_DEFENSES, type PaperValue } from './paper.js';
import type { ReportCell, Stat } from './results.js';

export const DASH = '–';
export const fmt = (x: number, d = 1): string => x.toFixed(d);
export const paperText = (p: PaperValue | null): string | undefined => (p ? `${fmt(p.value, 2)}${p.decoded ? '†' : ''}` : undefined);
export const seedText = (seeds: number[]): string => (seeds.length === 0 ? DASH : String(seeds.length));
export const statTitle = (s: Stat): string =>
  `mean of ${s.n} cell${s.n > 1 ? 's' : ''} (seed${s.seeds.length > 1 ? 's' : ''} ${s.seeds.join(', ')})${s.n > 1 ? `, std ${fmt(s.std, 2)}` : ''}; profile ${s.profiles.join(', ')}; ${s.hashes.join(' ')}`;

export function statCell(s: Stat | null, paper?: PaperValue | null, showPaper = true): TableCell {
  const p = showPaper ? paperText(paper ?? null) : undefined;
  return { ours: s ? fmt(s.mean) : DASH, ...(p !== undefined || showPaper ? { paper: p ?? DASH } : {}), ...(s ? { title: statTitle(s), has: true } : {}) };
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
