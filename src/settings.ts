// Settings declared once per attack or defence in one table: its CLI flag, its value at each
// profile, its help line and (by its key) the name recorded with the result (a poisoned file's
// attack_params, a classifier run's defense_params). The owner resolves the table against its
// profile and the caller's overrides; the CLI builds its flags and `--help` from the same tables.
import type { ProfileName } from './profiles.js';

/** A setting's value: a number, a choice, or a list of integers (the U-Net's levels). */
export type SettingValue = number | string | readonly number[];

export interface SettingSpec {
  /** CLI flag, without the dashes */
  readonly flag: string;
  /** int and number are validated against min/max (and above/below, exclusive), choice against
   * choices, ints (a list of integers) each against min/max */
  readonly kind: 'int' | 'number' | 'choice' | 'ints';
  readonly min?: number;
  readonly max?: number;
  readonly above?: number;
  readonly below?: number;
  /** ints: the empty list is allowed */
  readonly empty?: boolean;
  readonly choices?: readonly string[];
  readonly help: string;
  /** the value at each profile (paper = the published recipe) */
  readonly profiles: Readonly<Record<ProfileName, SettingValue>>;
}

export type SettingTable = Readonly<Record<string, SettingSpec>>;

/** The resolved values of a table: numbers for int/number settings, strings for choices. */
export type Settings<T extends SettingTable> = { readonly [K in keyof T]: T[K]['kind'] extends 'choice' ? string : T[K]['kind'] extends 'ints' ? readonly number[] : number };

/** Overrides a caller may pass (validated against the table at run time). */
export type SettingOverrides = Readonly<Record<string, SettingValue | undefined>>;

export interface ResolvedSettings<T extends SettingTable> {
  values: Settings<T>;
  /** keys whose value differs from the profile's */
  overridden: string[];
  /** "mini" or "mini with overrides: steps 3, ..." (recorded as attack_setting / defense_setting) */
  setting: string;
}

/** camelCase -> snake_case, the metadata spelling of a setting key. */
export function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Edit distance, to suggest the nearest name for a misspelt one. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** " (did you mean X?)" for the closest candidate within a small distance, else "";
 * `prefix` is written before the name (a flag's "--"). */
export function suggest(name: string, candidates: readonly string[], prefix = ''): string {
  let best = '';
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(name.toLowerCase(), c.toLowerCase());
    if (dd < bestD) [best, bestD] = [c, dd];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? ` (did you mean ${prefix}${best}?)` : '';
}

/** A number from text, also as a fraction ("4/255"); NaN for anything else ("", "1,2", "Infinity"). */
export function parseNumber(text: string): number {
  const m = /^\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*(?:\/\s*([0-9]*\.?[0-9]+))?\s*$/i.exec(text);
  return m ? (m[2] === undefined ? Number(m[1]) : Number(m[1]) / Number(m[2])) : NaN;
}

/** A setting's value from text: choices as they are, numbers also as fractions ("4/255"). */
export function parseSettingValue(spec: SettingSpec, text: string): SettingValue {
  if (spec.kind === 'ints') return text.split(',').map((t) => t.trim()).filter((t) => t !== '').map(parseNumber);
  return spec.kind === 'choice' ? text : parseNumber(text);
}

/** A numeric setting's values as a flag's range (checked as the flags are parsed). */
export function settingRange(spec: SettingSpec): NumberRange | null {
  if (spec.kind === 'choice') return null;
  const r = { kind: spec.kind === 'number' ? 'number' : 'int', min: spec.min, max: spec.max, above: spec.above, below: spec.below, ...(spec.kind === 'ints' ? { list: spec.empty ? 'or-empty' : true } : {}) } as const;
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as NumberRange;
}

/** The values a number may take: min/max inclusive, above/below exclusive (a learning rate is
 * above 0, a probability between 0 and 1). */
export interface NumberRange {
  readonly kind: 'int' | 'number';
  readonly min?: number;
  readonly max?: number;
  readonly above?: number;
  readonly below?: number;
  /** comma-separated values, each in range; at least one unless 'or-empty' */
  readonly list?: true | 'or-empty';
}

/** The range in words: "at least 1", "positive", "between 0 and 1", "at least 0 and below 1". */
export function rangeWords(r: NumberRange): string {
  if (r.min !== undefined && r.max !== undefined) return `between ${r.min} and ${r.max}`;
  const low = r.above === 0 ? 'positive' : r.above !== undefined ? `above ${r.above}` : r.min !== undefined ? `at least ${r.min}` : '';
  const high = r.below !== undefined ? `below ${r.below}` : r.max !== undefined ? `at most ${r.max}` : '';
  return [low, high].filter(Boolean).join(' and ');
}

function inRange(r: NumberRange, v: number): boolean {
  return Number.isFinite(v) && (r.kind === 'number' || Number.isInteger(v))
    && (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max)
    && (r.above === undefined || v > r.above) && (r.below === undefined || v < r.below);
}

/** The number (or list) `text` holds, or why it is not one in range: "must be at least 1 (got -1)". */
export function readNumbers(r: NumberRange, text: string): { values: number[] } | { error: string } {
  const what = r.kind === 'int' ? 'whole number' : 'number';
  const words = rangeWords(r);
  if (r.list) {
    const values = text.split(',').map((t) => t.trim()).filter((t) => t !== '').map(parseNumber);
    if ((values.length > 0 || r.list === 'or-empty') && values.every((v) => inRange(r, v))) return { values };
    return { error: `must be comma-separated ${what}s${words ? `, each ${words}` : ''} (got "${text}")` };
  }
  const v = parseNumber(text);
  if (inRange(r, v)) return { values: [v] };
  if (!Number.isFinite(v)) return { error: `must be a ${what}${words ? `, ${words}` : ''} (got "${text}")` };
  if (r.kind === 'int' && !Number.isInteger(v)) return { error: `must be a whole number (got ${v})` };
  return { error: `must be ${words} (got ${v})` };
}

const COUNT: NumberRange = { kind: 'int', min: 1 };
const NON_NEGATIVE_INT: NumberRange = { kind: 'int', min: 0 };
const POSITIVE: NumberRange = { kind: 'number', above: 0 };

/**
 * The command line's own numbers, by flag (the attacks' and defences' settings are in their
 * tables): each range is declared once here and checked when a command's flags are parsed
 * (src/cli/args.ts), before any work. A matrix option that sets the same quantity takes the
 * same range. Checks that need another value (t* <= T) stay with the command.
 */
export const FLAG_RANGES: Readonly<Record<string, NumberRange>> = {
  // every command
  seed: NON_NEGATIVE_INT,
  threads: COUNT,
  // the classifier recipe (train, defend, demo)
  width: COUNT,
  epochs: COUNT,
  'batch-size': COUNT,
  lr: POSITIVE,
  momentum: { kind: 'number', min: 0, below: 1 },
  'weight-decay': { kind: 'number', min: 0 },
  milestones: { kind: 'int', min: 1, list: true },
  gamma: { kind: 'number', above: 0, max: 1 },
  'eval-every': NON_NEGATIVE_INT, // 0: after the last epoch only
  // poison
  epsilon: POSITIVE,
  'patch-size': COUNT,
  'class-sep': POSITIVE,
  crop: NON_NEGATIVE_INT,
  'blur-parameter': { kind: 'number', above: 0, max: 1 },
  // ECLIPSE's own flags (the sparse set, the denoiser, purification, the compensation module)
  // take their ranges from its settings table (src/eclipse-settings.ts)
  'classifier-seed': NON_NEGATIVE_INT,
  seeds: { kind: 'int', min: 0, list: true },
  // analyze
  images: { kind: 'int', min: 2 },
  'diffusion-steps': COUNT,
  't-star': COUNT, // and at most T: checked where T is known
  steps: { kind: 'int', min: 0, list: true },
  // data, scan
  'train-per-class': NON_NEGATIVE_INT, // 0: all
  'test-per-class': NON_NEGATIVE_INT, // 0: all but the sparse pool
  resize: COUNT,
  eps: POSITIVE,
  // worker
  'lock-seconds': COUNT,
};

/** Check one value against its spec; returns the error text or null. */
export function checkSetting(spec: SettingSpec, v: SettingValue): string | null {
  if (spec.kind === 'ints') {
    if (!Array.isArray(v) || (v.length === 0 && !spec.empty)) return `must be a list of integers${spec.empty ? '' : ' (at least one)'}, got ${JSON.stringify(v)}`;
    for (const x of v as readonly number[]) {
      const bad = checkSetting({ ...spec, kind: 'int' }, x);
      if (bad !== null) return `each ${bad}`;
    }
    return null;
  }
  if (Array.isArray(v)) return `must be one value, got a list ${JSON.stringify(v)}`;
  if (spec.kind === 'choice') return typeof v === 'string' && spec.choices?.includes(v) ? null : `must be one of ${spec.choices?.join(', ')}, got ${JSON.stringify(v)}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a number such as 0.5 or 4/255, got ${typeof v === 'number' ? v : JSON.stringify(v)}`;
  if (spec.kind === 'int' && !Number.isInteger(v)) return `must be an integer, got ${v}`;
  if (spec.min !== undefined && v < spec.min) return `must be >= ${spec.min}, got ${v}`;
  if (spec.max !== undefined && v > spec.max) return `must be <= ${spec.max}, got ${v}`;
  if (spec.above !== undefined && !(v > spec.above)) return `must be > ${spec.above}, got ${v}`;
  if (spec.below !== undefined && !(v < spec.below)) return `must be < ${spec.below}, got ${v}`;
  return null;
}

/** The profile's values with the overrides applied, every value checked. `owner` names the
 * table's owner in errors ("em attack", "ueraser defence"); a bare name reads as an attack. */
export function resolveSettings<T extends SettingTable>(owner: string, table: T, profile: ProfileName, overrides: SettingOverrides = {}): ResolvedSettings<T> {
  const who = owner.includes(' ') ? owner : `${owner} attack`;
  const keys = Object.keys(table);
  for (const k of Object.keys(overrides))
    if (overrides[k] !== undefined && !keys.includes(k)) throw new Error(`${who} has no setting "${k}"${suggest(k, keys)}; its settings are ${keys.join(', ')}`);
  const values: Record<string, SettingValue> = {};
  const overridden: string[] = [];
  for (const k of keys) {
    const spec = table[k]!;
    const base = spec.profiles[profile];
    const v = overrides[k] ?? base;
    const bad = checkSetting(spec, v);
    if (bad !== null) throw new Error(`${who}: setting ${k} ${bad}`);
    values[k] = v;
    if (JSON.stringify(v) !== JSON.stringify(base)) overridden.push(k);
  }
  const setting = overridden.length === 0 ? profile : `${profile} with overrides: ${overridden.map((k) => `${snake(k)} ${values[k]}`).join(', ')}`;
  return { values: values as Settings<T>, overridden, setting };
}

/** The resolved values under their metadata names (snake_case), for attack_params / defense_params. */
export function settingsParams(values: Readonly<Record<string, SettingValue>>): Record<string, SettingValue> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [snake(k), v]));
}

/** Help lines of one table: "--flag N   help (smoke a, mini b, paper c)". */
export function settingsHelp(table: SettingTable, indent = '  '): string[] {
  return Object.values(table).map((s) => {
    const arg = s.kind === 'choice' ? (s.choices ?? []).join('|') : s.kind === 'int' ? 'N' : s.kind === 'ints' ? 'N,N' : 'X';
    const head = `--${s.flag} ${arg}`;
    const p = s.profiles;
    const v = (x: SettingValue): string => (Array.isArray(x) ? (x.length ? x.join(',') : 'none') : String(x));
    return `${indent}${head.padEnd(26)} ${s.help} [smoke ${v(p.smoke)}, mini ${v(p.mini)}, paper ${v(p.paper)}]`;
  });
}
