// The baseline defences of the paper's Table 1, each a `--defense NAME` of eclipse train and
// eclipse defend: one row per defence with its citation, cost and settings table (declared once).
import type { ImageDataset } from '../../data/dataset.js';
import { suggest, type SettingTable } from '../../settings.js';
import type { BatchTransform, TrainOptions } from '../../training/trainer.js';
import { AA_SETTINGS, AaDefense } from './aa.js';
import { AT_SETTINGS, AtDefense } from './at.js';
import { CUTMIX_SETTINGS, CUTOUT_SETTINGS, CutmixDefense, CutoutDefense, MIXUP_SETTINGS, MixupDefense } from './augment.js';
import { AVATAR_SETTINGS, AvatarDefense } from './avatar.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import { DPSGD_SETTINGS, DpSgdDefense } from './dpsgd.js';
import { ISSJ_SETTINGS, IssGDefense, IssJDefense } from './iss.js';
import { OP_SETTINGS, OpDefense } from './op.js';
import type { Defense, DefenseContext, DefensePlan } from './types.js';

export type { Defense, DefenseContext, DefensePlan } from './types.js';
export type { DefenseOptions } from './base.js';

/** No defence: the victim's plain training run (the w/o column). */
export class NoDefense extends BaselineDefense<Record<string, never>> {
  constructor(o: DefenseOptions = {}) {
    super('none', {}, o);
  }
  async plan(train: ImageDataset, _ctx: DefenseContext): Promise<DefensePlan> {
    return { train, notes: {} };
  }
}

export interface DefenseSpec {
  /** the registry key (the `--defense` name) */
  name: string;
  /** the short name in the report's tables and notes (w/o, Cutout, ...) */
  label: string;
  title: string;
  /** the paper and the code the procedure follows */
  citation: string;
  /** what it costs next to a plain training run */
  cost: string;
  settings: SettingTable;
  create(o: DefenseOptions): Defense;
}

/** Every baseline defence, one entry each: a new baseline is its own file plus an entry here; the
 * names, the `DefenseName` type and the labels derive from this table. */
const REGISTRY = {
  none: { name: 'none', label: 'w/o', title: 'no defence', citation: '-', cost: '1x', settings: {}, create: (o) => new NoDefense(o) },
  cutout: {
    name: 'cutout', label: 'Cutout', title: 'Cutout: one zeroed 16x16 square per image', citation: 'DeVries & Taylor 2017, arXiv:1708.04552 (uoguelph-mlrg/Cutout; APBench)',
    cost: '1x', settings: CUTOUT_SETTINGS, create: (o) => new CutoutDefense(o),
  },
  mixup: {
    name: 'mixup', label: 'Mixup', title: 'mixup: convex pairs of images and labels', citation: 'Zhang et al., ICLR 2018 (facebookresearch/mixup-cifar10)',
    cost: '1x', settings: MIXUP_SETTINGS, create: (o) => new MixupDefense(o),
  },
  cutmix: {
    name: 'cutmix', label: 'Cutmix', title: "CutMix: a box pasted from a partner image, labels mixed by area", citation: 'Yun et al., ICCV 2019 (clovaai/CutMix-PyTorch)',
    cost: '1x', settings: CUTMIX_SETTINGS, create: (o) => new CutmixDefense(o),
  },
  'dp-sgd': {
    name: 'dp-sgd', label: 'DP-SGD', title: "DP-SGD, batch-level stand-in: clip the batch gradient, add Gaussian noise (not per-sample DP)",
    citation: 'Abadi et al., CCS 2016; the stand-in of Geiping et al., ICLR 2021 (JonasGeiping/poisoning-gradient-matching, "private")',
    cost: '1x', settings: DPSGD_SETTINGS, create: (o) => new DpSgdDefense(o),
  },
  'iss-g': {
    name: 'iss-g', label: 'ISS-G', title: 'ISS-G: grayscale training images', citation: 'Liu et al., ICML 2023 (liuzrcc/ImageShortcutSqueezing)',
    cost: '1x', settings: {}, create: (o) => new IssGDefense(o),
  },
  'iss-j': {
    name: 'iss-j', label: 'ISS-J', title: 'ISS-J: JPEG quality 10 training images', citation: 'Liu et al., ICML 2023 (liuzrcc/ImageShortcutSqueezing)',
    cost: '1x + one JPEG round trip per image', settings: ISSJ_SETTINGS, create: (o) => new IssJDefense(o),
  },
  aa: {
    name: 'aa', label: 'AA', title: 'AA (UEraser): plasma, channel shuffle, TrivialAugment; worst of K copies', citation: 'Qin et al., arXiv:2303.15127 (lafeat/ueraser; APBench)',
    cost: 'K x for the repeat epochs', settings: AA_SETTINGS, create: (o) => new AaDefense(o),
  },
  op: {
    name: 'op', label: 'OP', title: 'OP: project out the weights of a linear model trained on the poisoned set', citation: 'Sandoval-Segura et al., ICLR 2024 (psandovalsegura/learn-from-unlearnable)',
    cost: '1x + a linear model', settings: OP_SETTINGS, create: (o) => new OpDefense(o),
  },
  at: {
    name: 'at', label: 'AT', title: 'AT: PGD adversarial training, L_inf 8/255', citation: 'Madry et al., ICLR 2018 (HanxunH/Unlearnable-Examples madrys.py; APBench)',
    cost: '(steps + 1) x', settings: AT_SETTINGS, create: (o) => new AtDefense(o),
  },
  avatar: {
    name: 'avatar', label: 'AVATAR', title: "AVATAR: diffusion purification, denoiser trained on the whole clean training set", citation: 'Dolatabadi et al., 2024 (hmdolatabadi/AVATAR)',
    cost: 'a denoiser on the clean set + purification at a high noise level', settings: AVATAR_SETTINGS, create: (o) => new AvatarDefense(o),
  },
} as const satisfies Record<string, DefenseSpec>;

/** A baseline defence's registry name. */
export type DefenseName = keyof typeof REGISTRY;

export const DEFENSES: Readonly<Record<DefenseName, DefenseSpec>> = REGISTRY;

export const DEFENSE_NAMES = Object.keys(DEFENSES) as DefenseName[];

/** A baseline defence by name (the nearest name suggested for a misspelt one). */
export function createDefense(name: string, o: DefenseOptions = {}): Defense {
  const spec = DEFENSES[name as DefenseName];
  if (!spec) throw new Error(`unknown defence "${name}"${suggest(name, [...DEFENSE_NAMES, 'eclipse'])}; the baselines are ${DEFENSE_NAMES.join(', ')} (and eclipse itself)`);
  return spec.create(o);
}

/** One transform after another (a defence's, then the compensation module's). */
export function chainTransforms(first: BatchTransform | undefined, second: BatchTransform | undefined): BatchTransform | undefined {
  if (!first || !second) return first ?? second;
  return {
    name: `${first.name}+${second.name}`,
    apply(images, count, shape, rng) {
      first.apply(images, count, shape, rng);
      second.apply(images, count, shape, rng);
    },
  };
}

/** The trainer's options for a defence's plan, with the compensation module after its transform. */
export function planTrainOptions(d: Defense, plan: DefensePlan, compensation?: BatchTransform): Pick<TrainOptions, 'transform' | 'objective' | 'adversary' | 'gradientHook' | 'tags'> {
  return {
    transform: chainTransforms(plan.transform, compensation),
    objective: plan.objective,
    adversary: plan.adversary,
    gradientHook: plan.gradientHook,
    tags: {
      defense: d.name,
      defense_params: JSON.stringify(d.params),
      defense_setting: d.setting,
      ...(Object.keys(plan.notes).length ? { defense_notes: JSON.stringify(plan.notes) } : {}),
    },
  };
}
