// Registry of the model-agnostic attacks and the one-call entry point poisonDataset().

import type { ImageDataset } from '../data/dataset.js';
import { ArAttack, type ArCoefficientChoice, type ArSearchOptions } from './ar.js';
import { LspAttack, lspDefaultL2 } from './lsp.js';
import type { Attack, PerturbationBound, PerturbationNorm, PoisonResult, PrepareContext, Quantization } from './types.js';
import { UrpAttack } from './urp.js';
import { OpsAttack } from './ops.js';
import { CudaAttack } from './cuda.js';
import { EM_SETTINGS, EmAttack } from './em.js';
import { suggest, type SettingOverrides, type SettingTable } from '../settings.js';
import type { ModelAttackOptions } from './model/attack.js';
import { TAP_SETTINGS, TapAttack } from './tap.js';
import { SEP_SETTINGS, SepAttack } from './sep.js';
import { EFP_SETTINGS, EfpAttack } from './efp.js';
import { REM_SETTINGS, RemAttack } from './rem.js';
import { ADP_SETTINGS, AdpAttack } from './adp.js';
import type { ProfileName, ClassifierRecipe } from '../profiles.js';

/** Options of poisonDataset(); attack-specific ones are rejected by the attacks they do not apply
 * to. The model-based attacks' own settings are declared once, in each attack's settings table,
 * and passed here as `settings` (validated against that table). */
export interface PoisonDatasetOptions {
  seed: number;
  /** the scale profile of the model-based attacks' settings (default 'paper') */
  profile?: ProfileName;
  /** model-based attacks: overrides of the attack's settings table by key (e.g. { steps: 20 }) */
  settings?: SettingOverrides;
  /** model-based attacks: a trained classifier checkpoint to use as the surrogate */
  surrogate?: string;
  /** tap: the recipe of the surrogate it trains when none is given */
  surrogateRecipe?: ClassifierRecipe;
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
  /** CUDA: upper end of the filters' uniform weights, in (0, 1] (default 0.3). */
  blurParameter?: number;
}

export interface AttackSpec {
  /** the registry key (the `--attack` name) */
  name: string;
  /** the short name in the report's tables, figures and notes (EM, TAP, ...) */
  label: string;
  /** One line for help texts. */
  title: string;
  norm: PerturbationNorm;
  /** Human-readable default epsilon. */
  defaultEpsilon: string;
  /** Needs a surrogate model and an async prepare() (TAP); the others poison synchronously. */
  modelBased: boolean;
  /** the model-based attack's settings table (flags, profile values, help) */
  settings?: SettingTable;
  /** the paper and the code the recipe follows */
  citation: string;
  /** what it costs: model-free / P per image at the published settings (P = one training pass of one image) */
  cost: string;
  /** Attack-specific option names of PoisonDatasetOptions it accepts. */
  options: readonly (keyof PoisonDatasetOptions)[];
  create(opts: Omit<PoisonDatasetOptions, 'seed'>): Attack;
}

/** create() of a model-based attack whose constructor takes the common ModelAttackOptions. */
const modelAttack =
  (C: new (o: ModelAttackOptions) => Attack) =>
  (o: Omit<PoisonDatasetOptions, 'seed'>): Attack =>
    new C({ epsilon: o.epsilon, quantization: o.quantization, profile: o.profile, settings: o.settings, surrogate: o.surrogate });

const COMMON_OPTIONS: readonly (keyof PoisonDatasetOptions)[] = ['seed', 'epsilon', 'quantization', 'bounds', 'allowRepoison', 'profile'];
const MODEL_OPTIONS: readonly (keyof PoisonDatasetOptions)[] = ['settings', 'surrogate'];

/** Every attack, one entry each: a new attack is its own file plus an entry here; the names, the
 * `AttackName` type and the labels derive from this table. */
const REGISTRY = {
  urp: {
    name: 'urp',
    label: 'URP',
    title: 'class-wise uniform random noise U(-eps, eps) (Huang et al. 2021)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    modelBased: false,
    citation: 'Huang et al., ICLR 2021 (HanxunH/Unlearnable-Examples, random noise baseline)',
    cost: 'model-free, seconds',
    options: [],
    create: (o) => new UrpAttack({ epsilon: o.epsilon, quantization: o.quantization }),
  },
  lsp: {
    name: 'lsp',
    label: 'LSP',
    title: 'linearly separable synthetic patch noise (Yu et al. 2022)',
    norm: 'l2',
    defaultEpsilon: `sqrt(3HW)*6/255 (L2; ${lspDefaultL2(32, 32).toFixed(4)} for 32x32)`,
    modelBased: false,
    citation: 'Yu et al., KDD 2022 (dayu11/Availability-Attacks-Create-Shortcuts)',
    cost: 'model-free, seconds',
    options: ['patchSize', 'classSep'],
    create: (o) => new LspAttack({ epsilon: o.epsilon, quantization: o.quantization, patchSize: o.patchSize, classSep: o.classSep }),
  },
  ar: {
    name: 'ar',
    label: 'AR',
    title: 'class-wise autoregressive noise (Sandoval-Segura et al. 2022)',
    norm: 'l2',
    defaultEpsilon: '1.0 (L2)',
    modelBased: false,
    citation: 'Sandoval-Segura et al., NeurIPS 2022 (psandovalsegura/autoregressive-poisoning)',
    cost: 'model-free, seconds',
    options: ['crop', 'coefficients', 'search'],
    create: (o) => new ArAttack({ epsilon: o.epsilon, quantization: o.quantization, crop: o.crop, coefficients: o.coefficients, search: o.search }),
  },
  em: {
    name: 'em',
    label: 'EM',
    title: 'sample-wise error-minimising noise, min-min with a fresh surrogate (Huang et al. 2021)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    modelBased: true,
    settings: EM_SETTINGS,
    citation: 'Huang et al., ICLR 2021 (HanxunH/Unlearnable-Examples)',
    cost: '~200 P/img at paper settings (about 10 loops), ~50 at mini',
    options: ['settings'],
    create: modelAttack(EmAttack),
  },
  tap: {
    name: 'tap',
    label: 'TAP',
    title: 'targeted adversarial poisoning, PGD to (y+1) mod K on a surrogate (Fowl et al. 2021)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    modelBased: true,
    settings: TAP_SETTINGS,
    citation: 'Fowl et al., NeurIPS 2021 (lhfowl/adversarial_poisons)',
    cost: '~2,040 P/img at paper settings (8 restarts), ~70 at mini',
    options: ['settings', 'surrogate', 'surrogateRecipe'],
    create: (o) =>
      new TapAttack({
        epsilon: o.epsilon, quantization: o.quantization, profile: o.profile, settings: o.settings, surrogate: o.surrogate, surrogateRecipe: o.surrogateRecipe,
      }),
  },
  rem: {
    name: 'rem',
    label: 'REM',
    title: 'robust error-minimising noise, min-min-max with an adversarially trained surrogate (Fu et al. 2022)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    modelBased: true,
    settings: REM_SETTINGS,
    citation: 'Fu et al., ICLR 2022 (fshp971/robust-unlearnable-examples)',
    cost: '~7,700 P/img at paper settings (5,000 adversarial-training steps with per-batch min-max noise, then a final pass), ~250 at mini',
    options: ['settings'],
    create: modelAttack(RemAttack),
  },
  sep: {
    name: 'sep',
    label: 'SEP',
    title: 'self-ensemble protection, targeted PGD to (y+5) mod K over K checkpoints of one surrogate run (Chen et al. 2023)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf; SEP itself uses 2/255)',
    modelBased: true,
    settings: SEP_SETTINGS,
    citation: 'Chen et al., ICLR 2023 (Sizhe-Chen/SEP)',
    cost: '~1,030 P/img at paper settings (120-epoch surrogate, 30 checkpoints x 30 steps), ~100 at mini',
    options: ['settings', 'surrogate'],
    create: modelAttack(SepAttack),
  },
  efp: {
    name: 'efp',
    label: 'EFP',
    title: 'EntF-push: features pushed from their class centroid of an adversarially trained model (Wen et al. 2023)',
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    modelBased: true,
    settings: EFP_SETTINGS,
    citation: 'Wen et al., ICLR 2023 (WenRuiUSTC/EntF)',
    cost: '~1,400 P/img at paper settings (100-epoch PGD-10 reference model, 300 steps), ~110 at mini',
    options: ['settings', 'surrogate'],
    create: modelAttack(EfpAttack),
  },
  adp: {
    name: 'adp',
    label: 'ADP',
    title: "adaptive poisoning against ECLIPSE: error-minimising noise through the compensation module on a U-Net classifier (the paper's section 4.4)",
    norm: 'linf',
    defaultEpsilon: '8/255 (L_inf)',
    modelBased: true,
    settings: ADP_SETTINGS,
    citation: 'ECLIPSE paper, Wang et al., ESORICS 2024, section 4.4 (no public code; choices in src/attacks/README.md)',
    cost: 'EM-like loops (~200 passes per image) of the denoiser-size U-Net at paper settings, each pass about 10x a ResNet-18 pass; ~130 P/img at mini (16-channel U-Net, ~2.7 ResNet-18 w16 passes)',
    options: ['settings'],
    create: modelAttack(AdpAttack),
  },
  // beyond the paper (issue 29): newer attacks a 2026 reviewer asks about
  ops: {
    name: 'ops',
    label: 'OPS',
    title: 'one-pixel shortcut: per class one pixel and one colour, searched on the clean images (Wu et al. 2023; beyond the paper)',
    norm: 'linf',
    defaultEpsilon: 'none (one pixel per image set to a colour: L0 = 1 pixel)',
    modelBased: false,
    citation: 'Wu et al., ICLR 2023 (cychomatica/One-Pixel-Shotcut)',
    cost: 'model-free, seconds (a search over every pixel and 8 colours per class)',
    options: [],
    create: (o) => {
      if (o.epsilon !== undefined) throw new Error('ops: has no epsilon (it sets one pixel per image to a colour; the pixels chosen are in the output metadata)');
      if (o.quantization !== undefined && o.quantization !== 'round') throw new Error('ops: the pixels it sets are exactly 0 or 255; it takes no quantization');
      return new OpsAttack();
    },
  },
  cuda: {
    name: 'cuda',
    label: 'CUDA',
    title: 'convolution-based unlearnable data: a class-wise 3x3 blur from a private key (Sadasivan et al. 2023; beyond the paper)',
    norm: 'linf',
    defaultEpsilon: 'none (a blur, not an L_p perturbation: its filters, PSNR and SSIM are in the output metadata)',
    modelBased: false,
    citation: 'Sadasivan et al., CVPR 2023 (vinusankars/Convolution-based-Unlearnability)',
    cost: 'model-free, seconds',
    options: ['blurParameter'],
    create: (o) => {
      if (o.epsilon !== undefined) throw new Error('cuda: has no epsilon (a blur is not an L_p perturbation); its strength is the blur parameter');
      return new CudaAttack({ blurParameter: o.blurParameter, quantization: o.quantization });
    },
  },
} as const satisfies Record<string, AttackSpec>;

/** An attack's registry name. */
export type AttackName = keyof typeof REGISTRY;

export const ATTACKS: Readonly<Record<AttackName, AttackSpec>> = REGISTRY;

export const ATTACK_NAMES = Object.keys(ATTACKS) as AttackName[];

/** The attacks that poison synchronously without a model (URP, LSP, AR, OPS, CUDA). */
export const MODEL_AGNOSTIC_ATTACKS: readonly AttackName[] = ATTACK_NAMES.filter((a) => !ATTACKS[a].modelBased);

export function isAttackName(s: string): s is AttackName {
  return Object.prototype.hasOwnProperty.call(ATTACKS, s);
}

/** Build a configured attack by name; throws on an unknown name or an option the attack does not take. */
export function createAttack(name: string, opts: Omit<PoisonDatasetOptions, 'seed'> = {}): Attack {
  if (!isAttackName(name)) throw new Error(`unknown attack "${name}"${suggest(name, ATTACK_NAMES)} (choose one of ${ATTACK_NAMES.join(', ')})`);
  const spec = ATTACKS[name];
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    const key = k as keyof PoisonDatasetOptions;
    if (!COMMON_OPTIONS.includes(key) && !spec.options.includes(key) && !(spec.modelBased && MODEL_OPTIONS.includes(key))) {
      const owners = ATTACK_NAMES.filter((a) => ATTACKS[a].options.includes(key) || (ATTACKS[a].modelBased && MODEL_OPTIONS.includes(key)));
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
