// ECLIPSE's settings, declared once: each knob's flag, its value at each profile, its help line,
// its matrix option and report name (where the benchmark may sweep it) and the part of ECLIPSE it
// sets. The profiles (`eclipseProfile`), the CLI flags and help (src/cli/eclipseflags.ts), the
// matrix options (src/matrix/config.ts), the report's option values and labels and the defence
// registry's ECLIPSE entry all read this table. It sits low (below the attacks too) because ADP
// builds its U-Net from the denoiser's sizes.
import type { ClassifierRecipe, ProfileName } from './profiles.js';
import { resolveSettings, type SettingOverrides, type SettingSpec, type SettingValue } from './settings.js';

export interface EclipseSettingSpec extends SettingSpec {
  /** the stage it sets: the sparse set, the denoiser, purification, the compensation module */
  readonly part: 'sparse' | 'denoiser' | 'purify' | 'compensation';
  /** its option name in a matrix config (set or swept per cell), where the benchmark may vary it */
  readonly matrix?: string;
  /** its name in the report's plots and tables (the paper's symbol) */
  readonly label?: string;
}

const EVERY = (v: SettingValue): Record<ProfileName, SettingValue> => ({ smoke: v, mini: v, paper: v });

/**
 * paper: 2000 test images (4% of N = 50,000), M = 4; the improved-DDPM CIFAR-10 U-Net, T = 4000,
 * 250K iterations; t* = 100 with the full reverse chain; p = 0.4, sigma = 0.05.
 * mini: sized for 2 CPU cores (docs/results.md has the measurements behind these numbers).
 */
export const ECLIPSE_SETTINGS = {
  sparsePerClass: { part: 'sparse', flag: 'sparse-per-class', matrix: 'B', label: 'B (sparse images per class)', kind: 'int', min: 1, help: 'sparse images per class (B/N = 10 B / N)', profiles: { smoke: 2, mini: 20, paper: 200 } },
  replication: { part: 'sparse', flag: 'replication', matrix: 'M', label: 'M (replication)', kind: 'int', min: 1, help: 'replication M of the sparse set (plain copies)', profiles: { smoke: 2, mini: 4, paper: 4 } },
  diffusionSteps: { part: 'denoiser', flag: 'diffusion-steps', kind: 'int', min: 1, help: 'diffusion steps T (cosine schedule)', profiles: EVERY(4000) },
  channels: { part: 'denoiser', flag: 'channels', kind: 'int', min: 1, help: "U-Net base channels", profiles: { smoke: 8, mini: 32, paper: 128 } },
  resBlocks: { part: 'denoiser', flag: 'res-blocks', kind: 'int', min: 1, help: 'U-Net residual blocks per level', profiles: { smoke: 1, mini: 1, paper: 3 } },
  attentionResolutions: { part: 'denoiser', flag: 'attention-resolutions', kind: 'ints', min: 1, empty: true, help: 'U-Net attention at these resolutions (empty: none)', profiles: { smoke: [8], mini: [8], paper: [16, 8] } },
  channelMult: { part: 'denoiser', flag: 'channel-mult', kind: 'ints', min: 1, help: 'U-Net channel multiplier per level', profiles: { smoke: [1, 2], mini: [1, 2, 2], paper: [1, 2, 2, 2] } },
  heads: { part: 'denoiser', flag: 'heads', kind: 'int', min: 1, help: 'U-Net attention heads', profiles: { smoke: 1, mini: 1, paper: 4 } },
  dropout: { part: 'denoiser', flag: 'dropout', kind: 'number', min: 0, below: 1, help: 'U-Net dropout', profiles: { smoke: 0, mini: 0.1, paper: 0.3 } },
  iterations: { part: 'denoiser', flag: 'iterations', matrix: 'iterations', label: 'denoiser iterations', kind: 'int', min: 1, help: 'denoiser training iterations', profiles: { smoke: 4, mini: 1000, paper: 250_000 } },
  denoiserBatchSize: { part: 'denoiser', flag: 'denoiser-batch-size', kind: 'int', min: 1, help: 'denoiser batch size', profiles: { smoke: 4, mini: 32, paper: 128 } },
  denoiserLr: { part: 'denoiser', flag: 'denoiser-lr', kind: 'number', above: 0, help: 'denoiser learning rate (AdamW, no weight decay)', profiles: { smoke: 1e-3, mini: 1e-3, paper: 1e-4 } },
  emaDecay: { part: 'denoiser', flag: 'ema-decay', kind: 'number', min: 0, max: 1, help: 'EMA decay of the denoiser weights', profiles: { smoke: 0.995, mini: 0.995, paper: 0.9999 } },
  // purification never uses t > t*: training only there is a speed option (off in the paper)
  trainMaxT: { part: 'denoiser', flag: 'train-max-t', matrix: 'trainMaxT', label: 'denoiser trained on t <=', kind: 'int', min: 0, help: 'train the denoiser only on t <= this (speed option; 0 = every step, as the paper)', profiles: { smoke: 100, mini: 100, paper: 0 } },
  checkpointEvery: { part: 'denoiser', flag: 'checkpoint-every', kind: 'int', min: 1, help: 'denoiser checkpoint every N iterations', profiles: { smoke: 2, mini: 250, paper: 5000 } },
  previewEvery: { part: 'denoiser', flag: 'preview-every', kind: 'int', min: 1, help: 'denoiser preview grid every N iterations', profiles: { smoke: 2, mini: 500, paper: 10_000 } },
  tStar: { part: 'purify', flag: 't-star', matrix: 'tStar', label: 't*', kind: 'int', min: 1, help: 'purification step t* (of T)', profiles: EVERY(100) },
  respacedSteps: { part: 'purify', flag: 'respaced-steps', matrix: 'respacedSteps', label: 'reverse steps', kind: 'int', min: 0, help: 'run this many evenly spaced reverse steps instead of all t* (speed option; 0 = the full chain, as the paper)', profiles: { smoke: 2, mini: 10, paper: 0 } },
  purifyBatchSize: { part: 'purify', flag: 'purify-batch-size', kind: 'int', min: 1, help: 'purification batch size', profiles: { smoke: 16, mini: 100, paper: 256 } },
  shardSize: { part: 'purify', flag: 'shard-size', kind: 'int', min: 1, help: 'images per resumable purification shard', profiles: { smoke: 32, mini: 1000, paper: 5000 } },
  p: { part: 'compensation', flag: 'p', matrix: 'p', label: 'p (grayscale)', kind: 'number', min: 0, max: 1, help: 'compensation module: grayscale probability', profiles: EVERY(0.4) },
  // images are in [0, 1]: a noise std above 1 drowns them
  sigma: { part: 'compensation', flag: 'sigma', matrix: 'sigma', label: 'sigma (noise)', kind: 'number', min: 0, max: 1, help: 'compensation module: Gaussian noise std on [0, 1] pixels', profiles: EVERY(0.05) },
} as const satisfies Readonly<Record<string, EclipseSettingSpec>>;

export type EclipseSettingKey = keyof typeof ECLIPSE_SETTINGS;

/** Every setting's value, by key. */
export type EclipseSettings = { -readonly [K in EclipseSettingKey]: (typeof ECLIPSE_SETTINGS)[K]['kind'] extends 'ints' ? number[] : number };

/**
 * What the demo and the matrix change in the profile's classifier recipe for ECLIPSE (flags
 * still win). mini trains at batch 64: at batch 128 whether the network takes the AR shortcut at
 * all depends on the seed (docs/results.md, "Re-tuning mini"). Part of the profile object, so a
 * matrix cell's identity keeps it.
 */
const DEMO_CLASSIFIER: Readonly<Record<ProfileName, Partial<ClassifierRecipe>>> = { smoke: {}, mini: { batchSize: 64 }, paper: {} };

/**
 * ECLIPSE's recipe, stage by stage, from the flat settings. The field order is part of the
 * recipe's identity (matrix cells and stages hash it as JSON): keep it.
 */
export function eclipseRecipe(v: EclipseSettings, profile: ProfileName) {
  return {
    sparse: { perClass: v.sparsePerClass, replication: v.replication },
    denoiser: {
      steps: v.diffusionSteps,
      unet: { modelChannels: v.channels, numResBlocks: v.resBlocks, attentionResolutions: [...v.attentionResolutions], channelMult: [...v.channelMult], numHeads: v.heads, dropout: v.dropout },
      iterations: v.iterations,
      batchSize: v.denoiserBatchSize,
      lr: v.denoiserLr,
      emaDecay: v.emaDecay,
      trainMaxT: v.trainMaxT,
      checkpointEvery: v.checkpointEvery,
      previewEvery: v.previewEvery,
    },
    purify: { tStar: v.tStar, respacedSteps: v.respacedSteps, batchSize: v.purifyBatchSize, shardSize: v.shardSize },
    compensation: { p: v.p, sigma: v.sigma },
    demoClassifier: { ...DEMO_CLASSIFIER[profile] },
  };
}

/** ECLIPSE's whole recipe: the sparse set, the denoiser, purification and the compensation module. */
export type EclipseProfile = ReturnType<typeof eclipseRecipe>;

/** The flat settings of a recipe (the inverse of eclipseRecipe). */
export function eclipseSettingsOf(e: EclipseProfile): EclipseSettings {
  const d = e.denoiser;
  return {
    sparsePerClass: e.sparse.perClass, replication: e.sparse.replication,
    diffusionSteps: d.steps, channels: d.unet.modelChannels, resBlocks: d.unet.numResBlocks,
    attentionResolutions: [...d.unet.attentionResolutions], channelMult: [...d.unet.channelMult], heads: d.unet.numHeads, dropout: d.unet.dropout,
    iterations: d.iterations, denoiserBatchSize: d.batchSize, denoiserLr: d.lr, emaDecay: d.emaDecay, trainMaxT: d.trainMaxT,
    checkpointEvery: d.checkpointEvery, previewEvery: d.previewEvery,
    tStar: e.purify.tStar, respacedSteps: e.purify.respacedSteps, purifyBatchSize: e.purify.batchSize, shardSize: e.purify.shardSize,
    p: e.compensation.p, sigma: e.compensation.sigma,
  };
}

/** The profile's ECLIPSE recipe with `overrides` (by setting key) applied, each value checked. */
export function eclipseProfile(profile: ProfileName, overrides: SettingOverrides = {}): EclipseProfile {
  return resolveEclipse(profile, overrides).recipe;
}

/** The recipe and its setting text ("mini" or "mini with overrides: t_star 50", as recorded). */
export function resolveEclipse(profile: ProfileName, overrides: SettingOverrides = {}): { recipe: EclipseProfile; setting: string } {
  const r = resolveSettings('eclipse defence', ECLIPSE_SETTINGS, profile, overrides);
  return { recipe: eclipseRecipe(r.values as unknown as EclipseSettings, profile), setting: r.setting };
}

/**
 * The largest t* the recipe's denoiser can purify from: the steps it was trained on (trainMaxT)
 * where it is trained on the first steps only, else all T steps.
 */
export function maxTStar(e: EclipseProfile): number {
  const d = e.denoiser;
  return d.trainMaxT > 0 ? Math.min(d.trainMaxT, d.steps) : d.steps;
}

/** The largest value a setting may take in the profile's recipe with `overrides`, where the recipe
 * bounds it: t* by the steps the denoiser learns, the reverse steps by T. */
export function eclipseMax(key: EclipseSettingKey, profile: ProfileName, overrides: SettingOverrides = {}): number | undefined {
  const e = eclipseProfile(profile, overrides);
  if (key === 'tStar') return maxTStar(e);
  if (key === 'respacedSteps') return e.denoiser.steps;
  return undefined;
}

/** The settings the matrix may set or sweep, by matrix option name. */
export const ECLIPSE_MATRIX_KEYS: Readonly<Record<string, EclipseSettingKey>> = Object.fromEntries(
  (Object.entries(ECLIPSE_SETTINGS) as [EclipseSettingKey, EclipseSettingSpec][]).filter(([, s]) => s.matrix !== undefined).map(([k, s]) => [s.matrix!, k]),
);
