// Registry of the model-agnostic attacks and the one-call entry point poisonDataset().

import type { ImageDataset } from '../data/dataset.js';
import { ArAttack, type ArCoefficientChoice, type ArSearchOptions } from './ar.js';
import { LspAttack, lspDefaultL2 } from './lsp.js';
import type { Attack, AttackName, PerturbationBound, PerturbationNorm, PoisonResult, PrepareContext, Quantization } from './types.js';
import { UrpAttack } from './urp.js';
import { TapAttack, type TapOptions } from './tap.js';

/** Options of poisonDataset(); attack-specific ones are rejected by the attacks they do not apply
 * to. TAP's (profile, steps, restarts, poisonBatch, surrogate, surrogateRecipe) are declared once,
 * in tap.ts. */
export interface PoisonDatasetOptions extends Omit<TapOptions, 'epsilon' | 'quantization'> {
  seed: number;
  /** URP: L_inf radius (default 8/255); LSP: per-sample L2 (default sqrt(3HW)*6/255); AR: per-image L2 (default 1.0). [0,1] units. */
  epsilon?: number;
  /** Override the attack's 8-bit quantisation (defaults: urp floor, lsp floor, ar round, as in the originals). */
  quantization?: Quantization;
  /** Extra bounds the applied perturbation must satisfy (throw otherwise), e.g. {norm:'linf', epsilon:8/255}. */
  bounds?: readonly PerturbationBound[];
  /** Allow poisoning a dataset whose metadata already names an attack. */
  allowRepoison?: boolean;
  /** LSP: patch side (default 8). */
  patchSize?: number;
  /** LSP: class separation (default 10). */
  classSep?: number;
  /** AR: start-noise border cropped away (default 4). */
  crop?: number;
  /** AR: coefficient source (default auto: the paper's ten sets for <= 10 classes, else search). */
  coefficients?: ArCoefficientChoice;
  /** AR: search settings when the search runs. */
  search?: ArSearchOptions;
}

export interface AttackSpec {
  name: AttackName;
  /** One line for help texts. */
  title: string;
  norm: PerturbationNorm;
  /** Human-readable default epsilon. */
  defaultEpsilon: string;
  /** Needs a surrogate model and an async prepare() (TAP); the others poison synchronously. */
  modelBased: boolean;
  /** Attack-specific option names of PoisonDatasetOptions it accepts. */
  options: readonly (keyof PoisonDatasetOptions)[];
  create(opts: Omit<PoisonDatasetOptions, 'seed'>): Attack;
}

const COMMON_OPTIONS: readonly (keyof PoisonDatasetOptions)[] = ['seed', 'epsilon', 'quantization', 'bounds', 'allowRepoison', 'profile'];

export const ATTACKS: Readonly<Record<AttackName, AttackSpec>> = {
  urp: {
    name: 'urp',
    title: 'class-wise uniform random noise U(-eps, eps) (Huang et al. 2021)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    modelBased: false,
    options: [],
    create: (o) => new UrpAttack({ epsilon: o.epsilon, quantization: o.quantization }),
  },
  lsp: {
    name: 'lsp',
    title: 'linearly separable synthetic patch noise (Yu et al. 2022)',
    norm: 'l2',
    defaultEpsilon: `sqrt(3HW)*6/255 (L2; ${lspDefaultL2(32, 32).toFixed(4)} for 32x32)`,
    modelBased: false,
    options: ['patchSize', 'classSep'],
    create: (o) => new LspAttack({ epsilon: o.epsilon, quantization: o.quantization, patchSize: o.patchSize, classSep: o.classSep }),
  },
  ar: {
    name: 'ar',
    title: 'class-wise autoregressive noise (Sandoval-Segura et al. 2022)',
    norm: 'l2',
    defaultEpsilon: '1.0 (L2)',
    modelBased: false,
    options: ['crop', 'coefficients', 'search'],
    create: (o) => new ArAttack({ epsilon: o.epsilon, quantization: o.quantization, crop: o.crop, coefficients: o.coefficients, search: o.search }),
  },
  tap: {
    name: 'tap',
    title: 'targeted adversarial poisoning, PGD to (y+1) mod K on a surrogate (Fowl et al. 2021)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    modelBased: true,
    options: ['steps', 'restarts', 'poisonBatch', 'surrogate', 'surrogateRecipe'],
    create: (o) =>
      new TapAttack({
        epsilon: o.epsilon, quantization: o.quantization, profile: o.profile, steps: o.steps, restarts: o.restarts,
        poisonBatch: o.poisonBatch, surrogate: o.surrogate, surrogateRecipe: o.surrogateRecipe,
      }),
  },
};

export const ATTACK_NAMES = Object.keys(ATTACKS) as AttackName[];

/** The attacks that poison synchronously without a model (URP, LSP, AR). */
export const MODEL_AGNOSTIC_ATTACKS: readonly AttackName[] = ATTACK_NAMES.filter((a) => !ATTACKS[a].modelBased);

export function isAttackName(s: string): s is AttackName {
  return Object.prototype.hasOwnProperty.call(ATTACKS, s);
}

/** Build a configured attack by name; throws on an unknown name or an option the attack does not take. */
export function createAttack(name: string, opts: Omit<PoisonDatasetOptions, 'seed'> = {}): Attack {
  if (!isAttackName(name)) throw new Error(`unknown attack "${name}" (choose one of ${ATTACK_NAMES.join(', ')})`);
  const spec = ATTACKS[name];
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    const key = k as keyof PoisonDatasetOptions;
    if (!COMMON_OPTIONS.includes(key) && !spec.options.includes(key)) {
      const owners = ATTACK_NAMES.filter((a) => ATTACKS[a].options.includes(key));
      throw new Error(`option "${k}" does not apply to ${name}${owners.length ? ` (only to ${owners.join(', ')})` : ''}`);
    }
  }
  return spec.create(opts);
}

/**
 * Poison `ds` with the named attack; the result carries the perturbation statistics.
 * Model-agnostic attacks only (synchronous): a model-based one needs poisonDatasetAsync.
 */
export function poisonDatasetWithStats(ds: ImageDataset, name: string, opts: PoisonDatasetOptions): PoisonResult {
  const { seed, bounds, allowRepoison, ...rest } = opts;
  const attack = createAttack(name, rest);
  if (attack.prepare !== undefined) throw new Error(`${name} is a model-based attack: use poisonDatasetAsync (it needs a work folder)`);
  return attack.poison(ds, seed, { bounds, allowRepoison });
}

/** Any attack: model-based ones first compute (or resume) their perturbations in ctx.workDir. */
export async function poisonDatasetAsync(ds: ImageDataset, name: string, opts: PoisonDatasetOptions, ctx: PrepareContext): Promise<PoisonResult> {
  const { seed, bounds, allowRepoison, ...rest } = opts;
  const attack = createAttack(name, rest);
  await attack.prepare?.(ds, seed, ctx);
  return attack.poison(ds, seed, { bounds, allowRepoison });
}

/** Poison `ds` with the named attack; provenance (attack, epsilon, norm, seed, linf_max, l2_mean, ...) goes in meta. */
export function poisonDataset(ds: ImageDataset, name: string, opts: PoisonDatasetOptions): ImageDataset {
  return poisonDatasetWithStats(ds, name, opts).dataset;
}
