// The benchmark matrix: a config file names groups of attacks x defences x architectures x seeds,
// with any option as a sweep axis; each cell resolves to the full recipe that runs it, and is
// identified by the hash of that resolved recipe (so two spellings of one cell are one cell).
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

import { ATTACKS, ATTACK_NAMES, type AttackName } from '../attacks/index.js';
import { DEFENSES, DEFENSE_NAMES, type DefenseName } from '../defenses/baselines/index.js';
import { CLASSIFIERS } from '../nn/models/index.js';
import { PROFILES, classifierProfile, type ClassifierRecipe, type ProfileName } from '../profiles.js';
import { ECLIPSE_MATRIX_KEYS, ECLIPSE_SETTINGS, eclipseMax, eclipseProfile, maxTStar, type EclipseProfile, type EclipseSettingSpec } from '../eclipse-settings.js';
import { checkSetting, resolveSettings, settingsParams, suggest, type SettingValue } from '../settings.js';
import type { Components } from '../defenses/eclipse.js';
import { keyHash } from '../io/stage.js';

export type OptionValue = number | string | boolean;

/** A cell before resolution: what the config names. */
export interface CellSpec {
  profile: ProfileName;
  /** a given poisoned training set instead of generating the attack's */
  poisonFile?: string;
  /** an attack name, or 'clean' for the unpoisoned training set */
  attack: string;
  /** a registered defence (defenses/registry.ts) */
  defense: string;
  architecture: string;
  /** the classifier's seed (its initialisation and batches) */
  seed: number;
  /** the poison's seed (the attack's generation run; default 0) */
  poisonSeed?: number;
  /** the defence's seed: everything random in a defence run outside the classifier's training
   * (ECLIPSE's sparse set, denoiser and chain noise; AVATAR's; OP's linear model); default 0 */
  defenseSeed?: number;
  /** the option values this cell sets (sweep axes and fixed options), by option name */
  options: Readonly<Record<string, OptionValue>>;
}

/** Everything that decides a cell's result; its hash identifies the cell. */
export interface ResolvedCell {
  spec: CellSpec;
  classifier: ClassifierRecipe;
  /** the attack's resolved settings (model-based attacks) or {} */
  attackParams: Record<string, SettingValue>;
  /** ECLIPSE's profile and components when defense is eclipse */
  eclipse: { profile: EclipseProfile; components: Components } | null;
  /** a baseline's resolved settings, and whether the compensation module runs on top */
  baseline: { params: Record<string, SettingValue>; overrides: Record<string, SettingValue>; compensation: { p: number; sigma: number } | null } | null;
  poisonSeed: number;
  /** absent in cells recorded before defence seeds: 0 */
  defenseSeed?: number;
  hash: string;
  /** "em / eclipse / resnet18 / seed 0 / tStar 50" */
  label: string;
}

/**
 * What names a cell wherever it is listed (the results database's cells table, the CSV export,
 * the report): its hash and label and the names it was made from; `options` as the config gave
 * them (JSON text in the database and the CSV).
 */
export interface CellIdentity {
  hash: string;
  label: string;
  attack: string;
  defense: string;
  architecture: string;
  seed: number;
}

/** A resolved cell's identity. */
export function cellIdentity(c: ResolvedCell): CellIdentity {
  return { hash: c.hash, label: c.label, attack: c.spec.attack, defense: c.spec.defense, architecture: c.spec.architecture, seed: c.spec.seed };
}

/** How one option changes a cell (declared once: name, help, allowed values, and what it sets). */
interface MatrixOption {
  help: string;
  kind: 'int' | 'number' | 'choice' | 'boolean';
  choices?: readonly string[];
  /** inclusive bounds of int and number options; a function where the profile decides */
  min?: number;
  max?: number | ((p: ProfileName, bounds: Bounds) => number);
  apply(c: Mutable, v: OptionValue): void;
}
/** The settings that bound other options, as a scope of the config sets them (t* is bounded by
 * the steps the denoiser learns: trainMaxT). */
type Bounds = { trainMaxT?: number };
interface Mutable {
  classifier: ClassifierRecipe;
  /** ECLIPSE's settings the cell overrides, by setting key */
  eclipse: Record<string, SettingValue>;
  components: Components;
  compensation: boolean;
  poisonSeed: number;
}

const ABLATIONS = ['A', 'B', 'C', 'AB', 'AC', 'BC', 'ABC'] as const;

/** ECLIPSE's settings the matrix may set or sweep, under their matrix names (tStar, M, B, ...):
 * their help and bounds come from ECLIPSE's settings table, the profile's recipe adding its own
 * (t* no larger than the steps the denoiser learns). */
const ECLIPSE_OPTIONS: Record<string, MatrixOption> = Object.fromEntries(
  Object.entries(ECLIPSE_MATRIX_KEYS).map(([option, key]) => {
    const s: EclipseSettingSpec = ECLIPSE_SETTINGS[key];
    const max = eclipseMax(key, 'paper') === undefined ? s.max : (p: ProfileName, b: Bounds) => eclipseMax(key, p, b)!;
    const kind = s.kind === 'int' ? 'int' : 'number';
    const help = `${s.part === 'compensation' ? '' : 'ECLIPSE: '}${s.help}`;
    return [option, { help, kind, min: s.min, max, apply: (c, v) => void (c.eclipse[key] = v as number) } satisfies MatrixOption];
  }),
);

/** The options a config may set or sweep (besides attack.<setting> and defense.<setting>). */
export const MATRIX_OPTIONS: Readonly<Record<string, MatrixOption>> = {
  ...ECLIPSE_OPTIONS,
  ablation: {
    help: "ECLIPSE's parts (the paper's Table 4): A purification, B grayscale, C noise",
    kind: 'choice',
    choices: ABLATIONS,
    apply: (c, v) => void (c.components = { purify: String(v).includes('A'), grayscale: String(v).includes('B'), noise: String(v).includes('C') }),
  },
  compensation: { help: 'baselines: add the compensation module on top', kind: 'boolean', apply: (c, v) => void (c.compensation = v as boolean) },
  epochs: { help: 'classifier: epochs', kind: 'int', min: 1, apply: (c, v) => void (c.classifier.epochs = v as number) },
  // the bounds of the attacks' own learning-rate settings
  lr: { help: 'classifier: learning rate', kind: 'number', min: 1e-6, max: 10, apply: (c, v) => void (c.classifier.lr = v as number) },
  batchSize: { help: 'classifier: batch size', kind: 'int', min: 1, apply: (c, v) => void (c.classifier.batchSize = v as number) },
  width: { help: 'classifier: width', kind: 'int', min: 1, apply: (c, v) => void (c.classifier.width = v as number) },
  poisonSeed: { help: 'seed of the poison (default 0: one poison shared by the classifier seeds)', kind: 'int', min: 0, apply: (c, v) => void (c.poisonSeed = v as number) },
};

export interface MatrixGroup {
  attacks: string[];
  defenses: string[];
  architectures?: string[];
  /** classifier seeds (default [0]) */
  seeds?: number[];
  /** poison seeds: one poison per seed and attack (default [0]) */
  poisonSeeds?: number[];
  /** defence seeds (default [0]) */
  defenseSeeds?: number[];
  /** fixed option values for the group's cells */
  options?: Record<string, OptionValue>;
  /** option -> values: one cell per combination */
  sweep?: Record<string, OptionValue[]>;
}

export interface MatrixConfig {
  name: string;
  profile: ProfileName;
  /** fixed options for every cell (a group's options win) */
  options?: Record<string, OptionValue>;
  groups: MatrixGroup[];
  /** add, for every cell, the same defence on clean data (the paper's Table 3); default true */
  cleanTwins?: boolean;
  /** the user's own data (paths relative to the config file); default: the profile's CIFAR-10 import */
  data?: { train: string; test: string; pool: string };
  /** poisoned training sets made elsewhere (eclipse poison, eclipse data import), by attack name
   * and poison seed (a plain path in the config file is poison seed 0) */
  poisons?: Record<string, Record<string, string>>;
}

export class MatrixConfigError extends Error {}

/** "an integer in 1..100", "a number >= 0", "one of A, B": the values a setting or option takes. */
export function allowedText(kind: string, o: { min?: number; max?: number; choices?: readonly string[] }): string {
  if (kind === 'choice') return `one of ${(o.choices ?? []).join(', ')}`;
  if (kind === 'boolean') return 'true or false';
  const what = kind === 'int' ? 'an integer' : 'a number';
  if (o.min !== undefined && o.max !== undefined) return `${what} in ${o.min}..${o.max}`;
  if (o.min !== undefined) return `${what} >= ${o.min}`;
  if (o.max !== undefined) return `${what} <= ${o.max}`;
  return what;
}

/** Whether `v` is a finite number in the bounds (an exact integer for int). */
function inRange(kind: string, v: unknown, min?: number, max?: number): boolean {
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (kind === 'int' && !Number.isSafeInteger(v)) return false;
  return (min === undefined || v >= min) && (max === undefined || v <= max);
}

function checkOption(name: string, v: unknown, where: string, profile: ProfileName, bounds: Bounds = {}): OptionValue {
  const [scope, key] = name.includes('.') ? (name.split('.', 2) as [string, string]) : ['', name];
  if (scope === 'attack' || scope === 'defense') {
    if (typeof v !== 'number' && typeof v !== 'string') throw new MatrixConfigError(`${where}: ${name} must be a number or a string (got ${JSON.stringify(v)})`);
    if (key.length === 0) throw new MatrixConfigError(`${where}: "${name}" needs a setting name after the dot`);
    return v;
  }
  if (scope !== '') throw new MatrixConfigError(`${where}: unknown option "${name}" (options are ${Object.keys(MATRIX_OPTIONS).join(', ')}, attack.<setting>, defense.<setting>)`);
  const spec = MATRIX_OPTIONS[name];
  if (!spec) throw new MatrixConfigError(`${where}: unknown option "${name}"${suggest(name, Object.keys(MATRIX_OPTIONS))}; options are ${Object.keys(MATRIX_OPTIONS).join(', ')}, attack.<setting>, defense.<setting>`);
  const max = typeof spec.max === 'function' ? spec.max(profile, bounds) : spec.max;
  const ok =
    spec.kind === 'boolean' ? typeof v === 'boolean'
    : spec.kind === 'choice' ? typeof v === 'string' && spec.choices!.includes(v)
    : inRange(spec.kind, v, spec.min, max);
  if (!ok) {
    // a bound the profile sets is said with the profile, so a paper value refused at smoke reads as such
    const at = typeof spec.max === 'function' ? ` at the ${profile} profile${bounds.trainMaxT !== undefined ? ` with trainMaxT ${bounds.trainMaxT}` : ''}` : '';
    throw new MatrixConfigError(`${where}: option ${name} must be ${allowedText(spec.kind, { min: spec.min, max, choices: spec.choices })}${at}, got ${JSON.stringify(v) ?? String(v)}`);
  }
  return v as OptionValue;
}

function checkName(kind: string, name: unknown, known: readonly string[], where: string): string {
  if (typeof name !== 'string' || !known.includes(name))
    throw new MatrixConfigError(`${where}: unknown ${kind} ${JSON.stringify(name)}${typeof name === 'string' ? suggest(name, known) : ''}; known: ${known.join(', ')}`);
  return name;
}

/** What a config's "name" may hold: it names the default database folder runs/matrix-<name>/. */
const NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** Parse and check a config object: every name is known (the nearest suggested), every value typed and in range. */
export function parseMatrixConfig(raw: unknown, where = 'matrix config'): MatrixConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MatrixConfigError(`${where}: must be a JSON object with "profile" and "groups"`);
  const r = raw as Record<string, unknown>;
  const KEYS = ['name', 'profile', 'options', 'groups', 'cleanTwins', 'data', 'poisons', 'comment'];
  for (const k of Object.keys(r)) if (!KEYS.includes(k)) throw new MatrixConfigError(`${where}: unknown key "${k}"${suggest(k, KEYS)}; keys are ${KEYS.join(', ')}`);
  if (r.name !== undefined && (typeof r.name !== 'string' || !NAME.test(r.name)))
    throw new MatrixConfigError(`${where}: "name" must be 1 to 100 letters, digits, dots, dashes or underscores (it names the folder runs/matrix-<name>/), got ${JSON.stringify(r.name)}`);
  if (r.cleanTwins !== undefined && typeof r.cleanTwins !== 'boolean') throw new MatrixConfigError(`${where}: "cleanTwins" must be true or false, got ${JSON.stringify(r.cleanTwins)}`);
  let data: MatrixConfig['data'];
  if (r.data !== undefined) {
    const d = r.data as Record<string, unknown>;
    if (typeof d !== 'object' || d === null || Array.isArray(d) || !['train', 'test', 'pool'].every((k) => typeof d[k] === 'string' && d[k] !== ''))
      throw new MatrixConfigError(`${where}: "data" must give the files {"train", "test", "pool"} (.safetensors from eclipse data import; pool = the defender's clean images)`);
    data = { train: d.train as string, test: d.test as string, pool: d.pool as string };
  }
  let poisons: Record<string, Record<string, string>> | undefined;
  if (r.poisons !== undefined) {
    if (typeof r.poisons !== 'object' || r.poisons === null || Array.isArray(r.poisons)) throw new MatrixConfigError(`${where}: "poisons" must map attack names to poisoned .safetensors files`);
    poisons = {};
    for (const [k, v] of Object.entries(r.poisons as Record<string, unknown>)) {
      checkName('attack', k, ATTACK_NAMES, `${where} poisons`);
      // a path is poison seed 0's file; {"0": path, "1": path} gives one per poison seed
      const bySeed = typeof v === 'string' ? { 0: v } : v;
      if (typeof bySeed !== 'object' || bySeed === null || Array.isArray(bySeed) || Object.keys(bySeed).length === 0)
        throw new MatrixConfigError(`${where}: poisons.${k} must be a file path or {"<poison seed>": path}, got ${JSON.stringify(v)}`);
      poisons[k] = {};
      for (const [seed, file] of Object.entries(bySeed as Record<string, unknown>)) {
        if (!/^(0|[1-9][0-9]*)$/.test(seed)) throw new MatrixConfigError(`${where}: poisons.${k}: "${seed}" is not a poison seed (an integer >= 0)`);
        if (typeof file !== 'string' || file === '') throw new MatrixConfigError(`${where}: poisons.${k}.${seed} must be a file path, got ${JSON.stringify(file)}`);
        poisons[k]![seed] = file;
      }
    }
  }
  const profile = checkName('profile', r.profile ?? 'mini', PROFILES, where) as ProfileName;
  if (!Array.isArray(r.groups) || r.groups.length === 0) throw new MatrixConfigError(`${where}: "groups" must be a non-empty list of {attacks, defenses, architectures, seeds, options, sweep}`);
  const everyScope = Array.isArray(r.groups) ? r.groups.flatMap((g) => (typeof g === 'object' && g !== null ? [(g as Record<string, unknown>).options, (g as Record<string, unknown>).sweep] : [])) : [];
  const options = checkOptions(r.options, `${where} options`, profile, boundsOf([r.options, ...everyScope]));
  const groups = r.groups.map((g, i): MatrixGroup => {
    const at = `${where} group ${i + 1}`;
    if (typeof g !== 'object' || g === null || Array.isArray(g)) throw new MatrixConfigError(`${at}: must be an object`);
    const o = g as Record<string, unknown>;
    const GROUP_KEYS = ['attacks', 'defenses', 'architectures', 'seeds', 'poisonSeeds', 'defenseSeeds', 'options', 'sweep', 'comment'];
    for (const k of Object.keys(o)) if (!GROUP_KEYS.includes(k)) throw new MatrixConfigError(`${at}: unknown key "${k}"${suggest(k, GROUP_KEYS)}; keys are ${GROUP_KEYS.join(', ')}`);
    const list = (k: string, known: readonly string[], fallback?: string[]): string[] => {
      const v = o[k] ?? fallback;
      if (!Array.isArray(v) || v.length === 0) throw new MatrixConfigError(`${at}: "${k}" must be a non-empty list`);
      return v.map((x) => checkName(k.replace(/s$/, '').replace(/ie$/, 'y'), x, known, at));
    };
    // seeds feed the random generators as exact integers
    const seedList = (key: 'seeds' | 'poisonSeeds' | 'defenseSeeds'): number[] => {
      const seeds = o[key] ?? [0];
      if (!Array.isArray(seeds) || seeds.length === 0) throw new MatrixConfigError(`${at}: "${key}" must be a non-empty list of integers >= 0, got ${JSON.stringify(seeds)}`);
      const bad = (seeds as unknown[]).find((x) => !inRange('int', x, 0));
      if (bad !== undefined) throw new MatrixConfigError(`${at}: every seed in "${key}" must be an integer >= 0, got ${JSON.stringify(bad) ?? String(bad)}`);
      return seeds as number[];
    };
    const seeds = seedList('seeds');
    const poisonSeeds = seedList('poisonSeeds');
    const defenseSeeds = seedList('defenseSeeds');
    if (o.poisonSeeds !== undefined && [r.options, o.options, o.sweep].some((x) => typeof x === 'object' && x !== null && 'poisonSeed' in x))
      throw new MatrixConfigError(`${at}: give the poison seeds once: "poisonSeeds" or the poisonSeed option, not both`);
    const sweep: Record<string, OptionValue[]> = {};
    // bounds at their widest in this group (each cell is checked exactly when it is resolved)
    const bounds = boundsOf([r.options, o.options, o.sweep]);
    if (o.sweep !== undefined) {
      if (typeof o.sweep !== 'object' || o.sweep === null || Array.isArray(o.sweep)) throw new MatrixConfigError(`${at}: "sweep" must map options to lists of values`);
      for (const [k, vs] of Object.entries(o.sweep as Record<string, unknown>)) {
        if (!Array.isArray(vs) || vs.length === 0) throw new MatrixConfigError(`${at}: sweep ${k} must be a non-empty list`);
        sweep[k] = vs.map((v) => checkOption(k, v, `${at} sweep`, profile, bounds));
      }
    }
    const group: MatrixGroup = {
      attacks: list('attacks', ['clean', ...ATTACK_NAMES]),
      defenses: list('defenses', DEFENSE_NAMES),
      architectures: list('architectures', CLASSIFIERS, ['resnet18']),
      seeds,
      ...(o.poisonSeeds !== undefined ? { poisonSeeds } : {}),
      ...(o.defenseSeeds !== undefined ? { defenseSeeds } : {}),
      options: checkOptions(o.options, `${at} options`, profile, bounds),
      sweep,
    };
    checkGroupSettings(group, options, at);
    return group;
  });
  const config: MatrixConfig = { name: typeof r.name === 'string' ? r.name : 'matrix', profile, options, groups, cleanTwins: r.cleanTwins !== false, ...(data ? { data } : {}), ...(poisons ? { poisons } : {}) };
  // What only a whole cell shows (an ECLIPSE option on a baseline cell, attack settings on clean
  // cells) is found here too, when the config loads, not when a run reaches the cell.
  groups.forEach((g, i) => {
    try {
      expandMatrix({ ...config, groups: [g] });
    } catch (e) {
      throw new MatrixConfigError(`${where} group ${i + 1}, ${(e as Error).message}`);
    }
  });
  return config;
}

/**
 * The widest trainMaxT that the given scopes (options objects, or a sweep's lists) set, if any:
 * 0 (every step) is the widest. Values of the wrong type are left to checkOption to refuse.
 */
function boundsOf(scopes: unknown[]): Bounds {
  const values = scopes.flatMap((x) => (typeof x === 'object' && x !== null && 'trainMaxT' in x ? [(x as Record<string, unknown>).trainMaxT].flat() : []));
  const ok = values.filter((v): v is number => inRange('int', v, 0));
  if (ok.length === 0) return {};
  return { trainMaxT: ok.includes(0) ? 0 : Math.max(...ok) };
}

function checkOptions(v: unknown, where: string, profile: ProfileName, bounds: Bounds = {}): Record<string, OptionValue> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MatrixConfigError(`${where}: must map option names to values`);
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, checkOption(k, x, where, profile, bounds)]));
}

/**
 * Every attack.<setting> and defense.<setting> a group's cells get (the config's options, the
 * group's, its sweep's values) against the setting tables of the group's attacks and defences:
 * a known setting, in the range its table declares.
 */
function checkGroupSettings(g: MatrixGroup, global: Readonly<Record<string, OptionValue>>, at: string): void {
  const given = new Map<string, OptionValue[]>();
  const add = (k: string, v: OptionValue): void => void given.set(k, [...(given.get(k) ?? []), v]);
  for (const [k, v] of Object.entries({ ...global, ...g.options })) add(k, v);
  for (const [k, vs] of Object.entries(g.sweep ?? {})) for (const v of vs) add(k, v);
  for (const [name, values] of given) {
    const scope = name.startsWith('attack.') ? 'attack' : name.startsWith('defense.') ? 'defense' : null;
    if (scope === null) continue;
    const key = name.slice(scope.length + 1);
    const owners = scope === 'attack' ? g.attacks.filter((a) => a !== 'clean') : g.defenses;
    for (const owner of owners) {
      const table = scope === 'attack' ? ATTACKS[owner as AttackName].settings : DEFENSES[owner as DefenseName].settings;
      const who = `the ${owner} ${scope === 'attack' ? 'attack' : 'defence'}`;
      const keys = Object.keys(table ?? {});
      if (!table || keys.length === 0) throw new MatrixConfigError(`${at}: ${name} is set, but ${who} has no settings: give ${name} only to groups whose ${scope === 'attack' ? 'attacks' : 'defences'} have it`);
      const spec = table[key];
      if (!spec) throw new MatrixConfigError(`${at}: ${who} has no setting "${key}"${suggest(key, keys)}; its settings are ${keys.join(', ')}`);
      for (const v of values) {
        const ok = spec.kind === 'choice' ? typeof v === 'string' && (spec.choices ?? []).includes(v) : inRange(spec.kind, v, spec.min, spec.max);
        if (!ok) throw new MatrixConfigError(`${at}: ${name} for ${who} must be ${allowedText(spec.kind, spec)}, got ${JSON.stringify(v)}`);
      }
    }
  }
}

/** A config is a page of JSON; anything far larger is the wrong file. */
const MAX_CONFIG_BYTES = 4 << 20;

export async function readMatrixConfig(file: string): Promise<MatrixConfig> {
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new MatrixConfigError(e.code === 'ENOENT' ? `matrix config ${file} does not exist (examples are in configs/)` : `cannot read matrix config ${file}: ${e.message}`);
  });
  if (st.isDirectory()) throw new MatrixConfigError(`matrix config ${file} is a folder: give the config's JSON file (examples are in configs/)`);
  if (st.size > MAX_CONFIG_BYTES) throw new MatrixConfigError(`matrix config ${file} is ${(st.size / 2 ** 20).toFixed(0)} MiB: a config is a small JSON file (examples are in configs/), not this one`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new MatrixConfigError(`cannot read matrix config ${file}: ${(e as Error).message}`);
  }
  if (text.trim() === '') throw new MatrixConfigError(`matrix config ${file} is empty: it must be a JSON object with "profile" and "groups" (examples are in configs/)`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // V8 quotes the text around the fault, newlines included: keep the error on one line
    throw new MatrixConfigError(`${file} is not valid JSON: ${(e as Error).message.replace(/\s+/g, ' ')}`);
  }
  const c = parseMatrixConfig(raw, file);
  const base = dirname(resolve(file));
  if (c.data) c.data = { train: resolve(base, c.data.train), test: resolve(base, c.data.test), pool: resolve(base, c.data.pool) };
  if (c.poisons) c.poisons = Object.fromEntries(Object.entries(c.poisons).map(([k, bySeed]) => [k, Object.fromEntries(Object.entries(bySeed).map(([s, f]) => [s, resolve(base, f)]))]));
  return c;
}

/** Every combination of the sweep's values (one empty combination without a sweep). */
function combinations(sweep: Record<string, OptionValue[]>): Record<string, OptionValue>[] {
  let out: Record<string, OptionValue>[] = [{}];
  for (const [k, vs] of Object.entries(sweep)) out = out.flatMap((c) => vs.map((v) => ({ ...c, [k]: v })));
  return out;
}


/** Resolve one cell: the profile's recipes with its options applied; settings checked. */
export function resolveCell(spec: CellSpec): ResolvedCell {
  const where = `cell ${spec.attack}/${spec.defense}/${spec.architecture}/seed ${spec.seed}`;
  const m: Mutable = {
    classifier: { ...classifierProfile(spec.profile), ...eclipseProfile(spec.profile).demoClassifier, model: spec.architecture },
    eclipse: {},
    components: { purify: true, grayscale: true, noise: true },
    compensation: false,
    poisonSeed: spec.poisonSeed ?? 0,
  };
  const attackOverrides: Record<string, SettingValue> = {};
  const defenseOverrides: Record<string, SettingValue> = {};
  for (const [k, v] of Object.entries(spec.options)) {
    if (k.startsWith('attack.')) attackOverrides[k.slice(7)] = v as SettingValue;
    else if (k.startsWith('defense.')) defenseOverrides[k.slice(8)] = v as SettingValue;
    else MATRIX_OPTIONS[k]!.apply(m, v);
  }
  const defense = DEFENSES[spec.defense as DefenseName];
  // A defence with its own stages (ECLIPSE) takes its settings as matrix options too (tStar, M,
  // ...) and the ablation; the compensation module is its own. A baseline takes none of those
  // but p and sigma, for the compensation module added on top.
  const ownStages = defense.runs === 'stages';
  const stageOnly = Object.keys(spec.options).filter((k) => k === 'ablation' || (k in ECLIPSE_MATRIX_KEYS && ECLIPSE_SETTINGS[ECLIPSE_MATRIX_KEYS[k]!].part !== 'compensation'));
  if (!ownStages && stageOnly.length) throw new MatrixConfigError(`${where}: ${stageOnly.join(', ')} ${stageOnly.length > 1 ? 'are' : 'is an'} ECLIPSE option${stageOnly.length > 1 ? 's' : ''}; give it only to eclipse cells`);
  if (ownStages && 'compensation' in spec.options) throw new MatrixConfigError(`${where}: compensation is for baselines (${defense.label}'s own parts are set with ablation)`);
  let attackParams: Record<string, SettingValue> = {};
  if (spec.attack !== 'clean') {
    const table = ATTACKS[spec.attack as AttackName].settings;
    if (table) attackParams = settingsParams(resolveSettings(`${spec.attack} attack`, table, spec.profile, attackOverrides).values);
    else if (Object.keys(attackOverrides).length) throw new MatrixConfigError(`${where}: ${spec.attack} has no settings (${Object.keys(attackOverrides).join(', ')})`);
  } else if (Object.keys(attackOverrides).length) throw new MatrixConfigError(`${where}: clean cells take no attack settings`);
  for (const [k, v] of Object.entries(defenseOverrides)) {
    const s = defense.settings[k];
    if (!s) throw new MatrixConfigError(`${where}: ${spec.defense} defence has no setting "${k}"${suggest(k, Object.keys(defense.settings))}`);
    const bad = checkSetting(s, v);
    if (bad) throw new MatrixConfigError(`${where}: defense.${k} ${bad}`);
  }
  let recipe: EclipseProfile;
  try {
    recipe = eclipseProfile(spec.profile, ownStages ? { ...defenseOverrides, ...m.eclipse } : m.eclipse);
  } catch (e) {
    throw new MatrixConfigError(`${where}: ${(e as Error).message}`);
  }
  // the exact bound of this cell (the config's check took each scope at its widest)
  if (ownStages && recipe.purify.tStar > maxTStar(recipe))
    throw new MatrixConfigError(`${where}: tStar ${recipe.purify.tStar} is past the ${maxTStar(recipe)} steps its denoiser learns (trainMaxT ${recipe.denoiser.trainMaxT}): raise trainMaxT to at least ${recipe.purify.tStar}, or 0 for every step`);
  let baseline: ResolvedCell['baseline'] = null;
  if (!ownStages) {
    const r = resolveSettings(`${spec.defense} defence`, defense.settings, spec.profile, defenseOverrides);
    baseline = { params: settingsParams(r.values), overrides: defenseOverrides, compensation: m.compensation ? { ...recipe.compensation } : null };
  }
  const classifier = { ...m.classifier, trainPerClass: classifierProfile(spec.profile).trainPerClass, testPerClass: classifierProfile(spec.profile).testPerClass };
  const eclipse = ownStages ? { profile: recipe, components: m.components } : null;
  // The hash covers what decides the result, not how the config spelt it nor where its files
  // are: a given poison counts as given (its bytes are in the cell's inputs key, like the data's,
  // so a changed file recomputes the cell), so a moved checkout or a merged CSV keeps its cells.
  // A defence seed enters the hash only when it is not 0, so the cells made before it existed
  // (all at defence seed 0) keep their hashes.
  const defenseSeed = spec.defenseSeed ?? 0;
  const hash = keyHash({
    v: 1, profile: spec.profile, attack: spec.attack, attackParams, poisonSeed: m.poisonSeed, ...(spec.poisonFile ? { poison: 'given' } : {}), defense: spec.defense, eclipse,
    baseline: baseline && { params: baseline.params, compensation: baseline.compensation }, classifier, seed: spec.seed, ...(defenseSeed ? { defenseSeed } : {}),
  });
  const opts = Object.entries(spec.options).map(([k, v]) => `${k} ${v}`);
  const seeds = [...(spec.poisonSeed ? [`poison seed ${spec.poisonSeed}`] : []), ...(defenseSeed ? [`defence seed ${defenseSeed}`] : [])];
  const label = [spec.attack, spec.defense, spec.architecture, `seed ${spec.seed}`, ...seeds, ...opts].join(' / ');
  return { spec, classifier, attackParams, eclipse, baseline, poisonSeed: m.poisonSeed, defenseSeed, hash, label };
}

/** All cells of a config (deduplicated by hash), with the clean twins when asked. */
export function expandMatrix(c: MatrixConfig): ResolvedCell[] {
  const cells = new Map<string, ResolvedCell>();
  for (const g of c.groups)
    for (const combo of combinations(g.sweep ?? {}))
      for (const attack of g.attacks)
        for (const defense of g.defenses)
          for (const architecture of g.architectures ?? ['resnet18'])
            for (const seed of g.seeds ?? [0])
              for (const poisonSeed of attack === 'clean' ? [0] : (g.poisonSeeds ?? [0]))
                for (const defenseSeed of g.defenseSeeds ?? [0]) {
                  const options = { ...(c.options ?? {}), ...(g.options ?? {}), ...combo };
                  // a given poison file is the one of its poison seed (the poisonSeed option, else the group's)
                  const effective = typeof options.poisonSeed === 'number' ? options.poisonSeed : poisonSeed;
                  const poisonFile = attack === 'clean' ? undefined : c.poisons?.[attack]?.[String(effective)];
                  const spec: CellSpec = {
                    profile: c.profile, attack, defense, architecture, seed, ...(poisonSeed ? { poisonSeed } : {}), ...(defenseSeed ? { defenseSeed } : {}), options,
                    ...(poisonFile ? { poisonFile } : {}),
                  };
                  const cell = resolveCell(spec);
                  cells.set(cell.hash, cell);
                  if (c.cleanTwins !== false && attack !== 'clean') {
                    const twin = cleanTwin(cell);
                    cells.set(twin.hash, twin);
                  }
                }
  return [...cells.values()];
}

/** A cell's clean twin: the same defence and classifier on clean data (no attack options). */
function cleanTwin(cell: ResolvedCell): ResolvedCell {
  const options = Object.fromEntries(Object.entries(cell.spec.options).filter(([k]) => !k.startsWith('attack.') && k !== 'poisonSeed'));
  const { poisonFile: _p, poisonSeed: _s, ...spec } = cell.spec;
  return resolveCell({ ...spec, attack: 'clean', options });
}

/** The clean twin's hash of a cell. */
export function cleanTwinHash(cell: ResolvedCell): string {
  return cleanTwin(cell).hash;
}
