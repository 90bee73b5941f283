// Every defence, ECLIPSE and the paper's baselines (Table 1), one entry each: its name (the
// `--defense NAME` of eclipse train and eclipse defend, a matrix config's defence), report label,
// citation, cost, settings table (declared once) and how it runs.
import { ECLIPSE_SETTINGS } from '../eclipse-settings.js';
import { suggest, type SettingTable } from '../settings.js';
import { AA_SETTINGS, AaDefense } from './baselines/aa.js';
import { AT_SETTINGS, AtDefense } from './baselines/at.js';
import { CUTMIX_SETTINGS, CUTOUT_SETTINGS, CutmixDefense, CutoutDefense, MIXUP_SETTINGS, MixupDefense } from './baselines/augment.js';
import { AVATAR_SETTINGS, AvatarDefense } from './baselines/avatar.js';
import { COIN_SETTINGS, CoinDefense } from './baselines/coin.js';
import type { DefenseOptions } from './baselines/base.js';
import { DPSGD_SETTINGS, DpSgdDefense } from './baselines/dpsgd.js';
import { DVAE_SETTINGS, DvaeDefense } from './baselines/dvae.js';
import { ISSJ_SETTINGS, IssGDefense, IssJDefense } from './baselines/iss.js';
import { NoDefense } from './baselines/none.js';
import { OP_SETTINGS, OpDefense } from './baselines/op.js';
import type { Defense } from './baselines/types.js';
import { EclipseDefense } from './eclipse.js';

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
  /**
   * How it runs. 'plan': a plan for the victim's training run (a derived training set and/or
   * trainer hooks; the baselines), to which the compensation module may be added. 'stages':
   * its own cached stages on the defender's clean pool before the classifier (ECLIPSE: sparse
   * set, denoiser, purification), with its compensation module built in and its parts switched
   * by the ablation (matrix option `ablation`); the report draws its sweeps and ablation table.
   */
  runs: 'plan' | 'stages';
  /**
   * Where its randomness comes from: 'none' (deterministic), 'defense' (its own run, driven by
   * the defence seed: a matrix cell's defenseSeed, the seed of eclipse defend / train), or
   * 'training' (drawn per batch inside the classifier's run, so by the classifier seed).
   */
  randomness: 'none' | 'defense' | 'training';
  create(o: DefenseOptions): Defense;
}

/** Every defence, one entry each: a new defence is its own file plus an entry here; the names,
 * the `DefenseName` type, the CLI's and the matrix's choices and the report's labels derive from
 * this table. */
const REGISTRY = {
  none: { name: 'none', label: 'w/o', title: 'no defence', citation: '-', cost: '1x', settings: {}, runs: 'plan', randomness: 'none', create: (o) => new NoDefense(o) },
  cutout: {
    name: 'cutout', label: 'Cutout', title: 'Cutout: one zeroed 16x16 square per image', citation: 'DeVries & Taylor 2017, arXiv:1708.04552 (uoguelph-mlrg/Cutout; APBench)',
    cost: '1x', settings: CUTOUT_SETTINGS, runs: 'plan', randomness: 'training', create: (o) => new CutoutDefense(o),
  },
  mixup: {
    name: 'mixup', label: 'Mixup', title: 'mixup: convex pairs of images and labels', citation: 'Zhang et al., ICLR 2018 (facebookresearch/mixup-cifar10)',
    cost: '1x', settings: MIXUP_SETTINGS, runs: 'plan', randomness: 'training', create: (o) => new MixupDefense(o),
  },
  cutmix: {
    name: 'cutmix', label: 'Cutmix', title: "CutMix: a box pasted from a partner image, labels mixed by area", citation: 'Yun et al., ICCV 2019 (clovaai/CutMix-PyTorch)',
    cost: '1x', settings: CUTMIX_SETTINGS, runs: 'plan', randomness: 'training', create: (o) => new CutmixDefense(o),
  },
  'dp-sgd': {
    name: 'dp-sgd', label: 'DP-SGD', title: "DP-SGD, batch-level stand-in: clip the batch gradient, add Gaussian noise (not per-sample DP)",
    citation: 'Abadi et al., CCS 2016; the stand-in of Geiping et al., ICLR 2021 (JonasGeiping/poisoning-gradient-matching, "private")',
    cost: '1x', settings: DPSGD_SETTINGS, runs: 'plan', randomness: 'training', create: (o) => new DpSgdDefense(o),
  },
  'iss-g': {
    name: 'iss-g', label: 'ISS-G', title: 'ISS-G: grayscale training images', citation: 'Liu et al., ICML 2023 (liuzrcc/ImageShortcutSqueezing)',
    cost: '1x', settings: {}, runs: 'plan', randomness: 'none', create: (o) => new IssGDefense(o),
  },
  'iss-j': {
    name: 'iss-j', label: 'ISS-J', title: 'ISS-J: JPEG quality 10 training images', citation: 'Liu et al., ICML 2023 (liuzrcc/ImageShortcutSqueezing)',
    cost: '1x + one JPEG round trip per image', settings: ISSJ_SETTINGS, runs: 'plan', randomness: 'none', create: (o) => new IssJDefense(o),
  },
  aa: {
    name: 'aa', label: 'AA', title: 'AA (UEraser): plasma, channel shuffle, TrivialAugment; worst of K copies', citation: 'Qin et al., arXiv:2303.15127 (lafeat/ueraser; APBench)',
    cost: 'K x for the repeat epochs', settings: AA_SETTINGS, runs: 'plan', randomness: 'training', create: (o) => new AaDefense(o),
  },
  op: {
    name: 'op', label: 'OP', title: 'OP: project out the weights of a linear model trained on the poisoned set', citation: 'Sandoval-Segura et al., ICLR 2024 (psandovalsegura/learn-from-unlearnable)',
    cost: '1x + a linear model', settings: OP_SETTINGS, runs: 'plan', randomness: 'defense', create: (o) => new OpDefense(o),
  },
  at: {
    name: 'at', label: 'AT', title: 'AT: PGD adversarial training, L_inf 8/255', citation: 'Madry et al., ICLR 2018 (HanxunH/Unlearnable-Examples madrys.py; APBench)',
    cost: '(steps + 1) x', settings: AT_SETTINGS, runs: 'plan', randomness: 'training', create: (o) => new AtDefense(o),
  },
  avatar: {
    name: 'avatar', label: 'AVATAR', title: "AVATAR: diffusion purification, denoiser trained on the whole clean training set", citation: 'Dolatabadi et al., 2024 (hmdolatabadi/AVATAR)',
    cost: 'a denoiser on the clean set + purification at a high noise level', settings: AVATAR_SETTINGS, runs: 'plan', randomness: 'defense', create: (o) => new AvatarDefense(o),
  },
  eclipse: {
    name: 'eclipse', label: 'ECLIPSE', title: "ECLIPSE: a denoiser learnt from a sparse clean set purifies the training set; grayscale and noise compensate in training",
    citation: 'ESORICS 2024 (CGCL-codes/ECLIPSE; this package: Algorithm 1)',
    cost: 'a denoiser on the sparse set + purification at t* + 1x', settings: ECLIPSE_SETTINGS, runs: 'stages', randomness: 'defense', create: (o) => new EclipseDefense(o),
  },
  // beyond the paper (issue 29)
  coin: {
    name: 'coin', label: 'COIN', title: 'COIN: a random per-pixel displacement (bilinear, up to alpha pixels) in every training image (beyond the paper)',
    citation: 'Li et al., AAAI 2025 (wxldragon/COIN)', cost: '1x', settings: COIN_SETTINGS, runs: 'plan', randomness: 'training', create: (o) => new CoinDefense(o),
  },
  dvae: {
    name: 'dvae', label: 'D-VAE', title: 'D-VAE: two rate-constrained VAEs trained on the poisoned set subtract a learned class-conditioned perturbation, then reconstruct (beyond the paper)',
    citation: 'Yu et al., ICML 2024 (yuyi-sd/D-VAE)', cost: '1x + two VAEs trained on the poisoned set', settings: DVAE_SETTINGS, runs: 'plan', randomness: 'defense', create: (o) => new DvaeDefense(o),
  },
} as const satisfies Record<string, DefenseSpec>;

/** A defence's registry name. */
export type DefenseName = keyof typeof REGISTRY;

export const DEFENSES: Readonly<Record<DefenseName, DefenseSpec>> = REGISTRY;

export const DEFENSE_NAMES = Object.keys(DEFENSES) as DefenseName[];

/** The defences that are a plan for the victim's run (the baselines and none). */
export const BASELINE_NAMES = DEFENSE_NAMES.filter((d) => DEFENSES[d].runs === 'plan');

/** The defence this package is about (the CLI's default, the report's headline). */
export const ECLIPSE = 'eclipse' satisfies DefenseName;

/** Whether `name` is a registered defence. */
export function isDefenseName(name: string): name is DefenseName {
  return Object.hasOwn(DEFENSES, name);
}

/** A defence by name (the nearest name suggested for a misspelt one). */
export function createDefense(name: string, o: DefenseOptions = {}): Defense {
  if (!isDefenseName(name)) throw new Error(`unknown defence "${name}"${suggest(name, DEFENSE_NAMES)}; the defences are ${DEFENSE_NAMES.join(', ')}`);
  return DEFENSES[name].create(o);
}

