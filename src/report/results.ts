// The matrix results as the report reads them: one ReportCell per finished cell (its resolved
// recipe parsed), the sweep axes of each (architecture, defence, attack) group, which cells are
// the "main" ones (every swept option at its profile default) and means over seeds.
import { ECLIPSE_MATRIX_KEYS, ECLIPSE_SETTINGS, eclipseSettingsOf, type EclipseSettingKey } from '../eclipse-settings.js';
import { resolveCell, type CellIdentity, type OptionValue, type ResolvedCell } from '../matrix/config.js';
import type { ResultRow } from '../matrix/db.js';
import type { CurvePoint } from '../training/trainer.js';

export interface ReportCell extends CellIdentity {
  /** the poison's and the defence's seeds (0 in cells made before them) */
  poisonSeed: number;
  defenseSeed: number;
  /** the option values the config gave the cell */
  options: Record<string, OptionValue>;
  testAcc: number;
  cleanAcc: number | null;
  seconds: number;
  profile: string;
  /** the cell's resolved recipe (null if its JSON could not be read) */
  cell: ResolvedCell | null;
  /** `curve`: the classifier's training curve, kept with the result (older rows lack it);
   * `makeup`: the poison's make-up, in poisoned cells (older rows lack it; NaN reads as null);
   * `purified_makeup`: the purified set's, against the clean set (ECLIPSE cells since issue 25) */
  extra: { train?: string; purified?: string; clean_twin?: string | null; curve?: CurvePoint[]; makeup?: PoisonMakeupNumbers; purified_makeup?: PoisonMakeupNumbers };
  finishedAt: string;
}

/**
 * A poison's make-up as a cell's result keeps it: mean per-image L2 of the perturbation in [0,1]
 * units, the share of its energy above half the Nyquist frequency, its class-wise share, and the
 * poison scan's score (null where not computed: JSON has no NaN).
 */
export interface PoisonMakeupNumbers {
  l2: number | null;
  high_freq: number | null;
  classwise: number | null;
  scan_score: number | null;
}

function parseJson<T>(s: string | null | undefined, fallback: T): T {
  if (!s) return fallback;
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
}

export function toReportCells(rows: readonly ResultRow[]): ReportCell[] {
  return rows.map((r) => {
    const cell = parseJson<ResolvedCell | null>(r.config, null);
    return {
      hash: r.hash,
      label: r.label,
      attack: r.attack,
      defense: r.defense,
      architecture: r.architecture,
      seed: Number(r.seed),
      poisonSeed: Number(r.poison_seed),
      defenseSeed: Number(r.defense_seed),
      options: parseJson<Record<string, OptionValue>>(r.options, {}),
      testAcc: Number(r.test_acc),
      cleanAcc: r.clean_acc === null || r.clean_acc === undefined ? null : Number(r.clean_acc),
      seconds: Number(r.seconds),
      profile: cell?.spec?.profile ?? 'unknown',
      cell,
      extra: parseJson(r.extra, {}),
      finishedAt: r.finished_at,
    };
  });
}

/** Letters of an ECLIPSE cell's parts (A purification, B grayscale, C noise). */
export function ablationOf(c: ResolvedCell): string | undefined {
  if (!c.eclipse) return undefined;
  const k = c.eclipse.components;
  return `${k.purify ? 'A' : ''}${k.grayscale ? 'B' : ''}${k.noise ? 'C' : ''}` || '-';
}

/**
 * An option's value in a resolved recipe. Read from the recipe (not from the config's spelling):
 * a cell given an option at its default value is one cell with the cell not given it.
 */
export function optionValue(c: ResolvedCell, key: string): OptionValue | undefined {
  const e = c.eclipse?.profile;
  const own = e ? eclipseSettingsOf(e) : undefined;
  if (key.startsWith('attack.')) return c.attackParams?.[key.slice(7)] as OptionValue | undefined;
  if (key.startsWith('defense.')) return (own ? own[key.slice(8) as EclipseSettingKey] : c.baseline?.params?.[key.slice(8)]) as OptionValue | undefined;
  const setting = ECLIPSE_MATRIX_KEYS[key];
  if (setting) {
    // a baseline cell has the compensation module's p and sigma when it runs it
    if (own) return own[setting] as OptionValue;
    return ECLIPSE_SETTINGS[setting].part === 'compensation' ? c.baseline?.compensation?.[setting as 'p' | 'sigma'] : undefined;
  }
  switch (key) {
    case 'ablation': return ablationOf(c);
    case 'compensation': return c.baseline ? c.baseline.compensation !== null : undefined;
    case 'epochs': return c.classifier?.epochs;
    case 'lr': return c.classifier?.lr;
    case 'batchSize': return c.classifier?.batchSize;
    case 'width': return c.classifier?.width;
    case 'poisonSeed': return c.poisonSeed;
    default: return c.spec?.options?.[key];
  }
}

const vkey = (v: OptionValue | undefined): string => JSON.stringify(v ?? null);

/**
 * Options that are seeds, not settings: cells that differ only by them are runs of one variant
 * (averaged by `stat`), never a sweep (the poisonSeed option is the older spelling of the
 * config's poisonSeeds).
 */
export const SEED_OPTIONS: readonly string[] = ['poisonSeed', 'defenseSeed'];

/** An option with more than one value in a group of cells, and the value the main cells have. */
export interface Axis {
  key: string;
  values: OptionValue[];
  main: OptionValue | undefined;
}

/** The profile's value of an option for a cell (what the cell would have without it). */
export function defaultValue(c: ResolvedCell, key: string): OptionValue | undefined {
  try {
    const { [key]: _drop, ...rest } = c.spec.options;
    return optionValue(resolveCell({ ...c.spec, options: rest }), key);
  } catch {
    return undefined;
  }
}

const compareValues = (a: OptionValue | undefined, b: OptionValue | undefined): number =>
  typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b));
const sortValues = (vs: OptionValue[]): OptionValue[] => [...vs].sort(compareValues);

/**
 * The swept options of one group of cells (same architecture, defence and attack) and its main
 * variant: of the combinations of their values that ran, the one with the fewest options off
 * the profile's value (then the one with most cells, then the first in value order). The main
 * variant always exists, so every group has main cells, and groups swept alike pick alike.
 */
export function axesOf(cells: readonly ReportCell[]): Axis[] {
  const withCell = cells.filter((c): c is ReportCell & { cell: ResolvedCell } => c.cell !== null);
  const keys = [...new Set(cells.flatMap((c) => Object.keys(c.options)))].filter((k) => !SEED_OPTIONS.includes(k)).sort();
  const swept = keys
    .map((key) => ({ key, values: new Map(withCell.map((c) => [vkey(optionValue(c.cell, key)), optionValue(c.cell, key)])) }))
    .filter((a) => a.values.size > 1);
  if (swept.length === 0) return [];
  const variants = new Map<string, { vals: (OptionValue | undefined)[]; n: number; dev: number }>();
  for (const c of withCell) {
    const vals = swept.map((a) => optionValue(c.cell, a.key));
    const k = JSON.stringify(vals.map((v) => v ?? null));
    const e = variants.get(k);
    if (e) e.n++;
    else variants.set(k, { vals, n: 1, dev: swept.filter((a, i) => vkey(vals[i]) !== vkey(defaultValue(c.cell, a.key))).length });
  }
  const cmpVals = (a: (OptionValue | undefined)[], b: (OptionValue | undefined)[]): number => {
    for (let i = 0; i < a.length; i++) {
      const d = compareValues(a[i], b[i]);
      if (d !== 0) return d;
    }
    return 0;
  };
  const main = [...variants.values()].sort((a, b) => a.dev - b.dev || b.n - a.n || cmpVals(a.vals, b.vals))[0]!.vals;
  return swept.map((a, i) => ({
    key: a.key,
    values: sortValues([...a.values.values()].filter((v): v is OptionValue => v !== undefined)),
    main: main[i],
  }));
}

export const groupKey = (c: Pick<ReportCell, 'architecture' | 'defense' | 'attack'>): string => `${c.architecture}|${c.defense}|${c.attack}`;

/** Everything the report derives from the results. */
export class ResultSet {
  readonly groups = new Map<string, ReportCell[]>();
  readonly axes = new Map<string, Axis[]>();

  constructor(readonly cells: readonly ReportCell[]) {
    for (const c of cells) {
      const k = groupKey(c);
      const g = this.groups.get(k) ?? [];
      g.push(c);
      this.groups.set(k, g);
    }
    for (const [k, g] of this.groups) this.axes.set(k, axesOf(g));
  }

  get architectures(): string[] {
    return [...new Set(this.cells.map((c) => c.architecture))];
  }

  /** Whether every swept option of the cell's group, except `free`, is at its main value. */
  isMain(c: ReportCell, free: readonly string[] = []): boolean {
    if (!c.cell) return (this.axes.get(groupKey(c)) ?? []).length === 0;
    for (const a of this.axes.get(groupKey(c)) ?? []) {
      if (free.includes(a.key)) continue;
      if (vkey(optionValue(c.cell, a.key)) !== vkey(a.main)) return false;
    }
    return true;
  }

  /** Whether every swept option of the cell's group, except `free`, is at the profile's value. */
  isDefault(c: ReportCell, free: readonly string[] = []): boolean {
    if (!c.cell) return false;
    for (const a of this.axes.get(groupKey(c)) ?? []) {
      if (free.includes(a.key)) continue;
      if (vkey(optionValue(c.cell, a.key)) !== vkey(defaultValue(c.cell, a.key))) return false;
    }
    return true;
  }

  /** The main cells of a group (its swept options at their main values). */
  main(architecture: string, defense: string, attack: string, free: readonly string[] = []): ReportCell[] {
    return (this.groups.get(groupKey({ architecture, defense, attack })) ?? []).filter((c) => this.isMain(c, free));
  }

  /** The swept options of a group that are not at their main value in some cell. */
  axesFor(architecture: string, defense: string, attack: string): Axis[] {
    return this.axes.get(groupKey({ architecture, defense, attack })) ?? [];
  }
}

/** Mean and spread of some cells' accuracies (in %), with the seeds they come from per axis. */
export interface Stat {
  mean: number;
  /** the sample standard deviation (n - 1); 0 for one cell */
  std: number;
  min: number;
  max: number;
  n: number;
  /** the classifier seeds */
  seeds: number[];
  poisonSeeds: number[];
  defenseSeeds: number[];
  profiles: string[];
  hashes: string[];
}

const sortedSet = (xs: readonly number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);

export function stat(cells: readonly ReportCell[], acc: (c: ReportCell) => number | null = (c) => c.testAcc): Stat | null {
  const used = cells.filter((c) => acc(c) !== null && Number.isFinite(acc(c)!));
  if (used.length === 0) return null;
  const xs = used.map((c) => 100 * acc(c)!);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return {
    mean, std, min: Math.min(...xs), max: Math.max(...xs), n: used.length,
    seeds: sortedSet(used.map((c) => c.seed)),
    poisonSeeds: sortedSet(used.map((c) => c.poisonSeed)),
    defenseSeeds: sortedSet(used.map((c) => c.defenseSeed)),
    profiles: [...new Set(used.map((c) => c.profile))],
    hashes: used.map((c) => c.hash),
  };
}
