// Registry of the model-agnostic attacks and the one-call entry point poisonDataset().

import type { ImageDataset } from '../data/dataset.js';
import { ArAttack, type ArCoefficientChoice, type ArSearchOptions } from './ar.js';
import { LspAttack, lspDefaultL2 } from './lsp.js';
import type { Attack, AttackName, PerturbationBound, PerturbationNorm, PoisonResult, Quantization } from './types.js';
import { UrpAttack } from './urp.js';

/** Options of poisonDataset(); attack-specific ones are rejected by the attacks they do not apply to. */
export interface PoisonDatasetOptions {
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
  /** Attack-specific option names of PoisonDatasetOptions it accepts. */
  options: readonly (keyof PoisonDatasetOptions)[];
  create(opts: Omit<PoisonDatasetOptions, 'seed'>): Attack;
}

const COMMON_OPTIONS: readonly (keyof PoisonDatasetOptions)[] = ['seed', 'epsilon', 'quantization', 'bounds', 'allowRepoison'];

export const ATTACKS: Readonly<Record<AttackName, AttackSpec>> = {
  urp: {
    name: 'urp',
    title: 'class-wise uniform random noise U(-eps, eps) (Huang et al. 2021)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    options: [],
    create: (o) => new UrpAttack({ epsilon: o.epsilon, quantization: o.quantization }),
  },
  lsp: {
    name: 'lsp',
    title: 'linearly separable synthetic patch noise (Yu et al. 2022)',
    norm: 'l2',
    defaultEpsilon: `sqrt(3HW)*6/255 (L2; ${lspDefaultL2(32, 32).toFixed(4)} for 32x32)`,
    options: ['patchSize', 'classSep'],
    create: (o) => new LspAttack({ epsilon: o.epsilon, quantization: o.quantization, patchSize: o.patchSize, classSep: o.classSep }),
  },
  ar: {
    name: 'ar',
    title: 'class-wise autoregressive noise (Sandoval-Segura et al. 2022)',
    norm: 'l2',
    defaultEpsilon: '1.0 (L2)',
    options: ['crop', 'coefficients', 'search'],
    create: (o) => new ArAttack({ epsilon: o.epsilon, quantization: o.quantization, crop: o.crop, coefficients: o.coefficients, search: o.search }),
  },
};

export const ATTACK_NAMES = Object.keys(ATTACKS) as AttackName[];

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

/** Poison `ds` with the named attack; the result carries the perturbation statistics. */
export function poisonDatasetWithStats(ds: ImageDataset, name: string, opts: PoisonDatasetOptions): PoisonResult {
  const { seed, bounds, allowRepoison, ...rest } = opts;
  return createAttack(name, rest).poison(ds, seed, { bounds, allowRepoison });
}

/** Poison `ds` with the named attack; provenance (attack, epsilon, norm, seed, linf_max, l2_mean, ...) goes in meta. */
export function poisonDataset(ds: ImageDataset, name: string, opts: PoisonDatasetOptions): ImageDataset {
  return poisonDatasetWithStats(ds, name, opts).dataset;
}
