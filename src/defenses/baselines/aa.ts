// AA = UEraser (Qin et al., "Learning the Unlearnable: Adversarial Augmentations Suppress
// Unlearnable Example Attacks", 2023), as its reference code (lafeat/ueraser `ueraser.py`, also
// APBench's `defense/ueraser.py`) runs it: every image of a batch is repeated K times, each copy
// goes through the kornia policy below with its own random draws, and the loss is the mean over
// the images of the WORST (largest) cross-entropy among the K copies, so only the worst copy of
// each image gets gradient. After the first `repeatEpochs` epochs K = 1 (still augmented).
//
// The policy, per copy, in kornia's order (kornia.augmentation on float [0,1] images):
//  1. RandomPlasmaBrightness(roughness U[0.3,0.7], intensity U[0.5,1.0], p): x + intensity*(2m-1)
//  2. RandomPlasmaContrast(roughness U[0.3,0.7], p):                         (x-0.5)*4m + 0.5
//     m: one plasma fractal per channel (kornia.contrib.diamond_square, not normalised); both
//     results are clamped to [0,1].
//  3. RandomChannelShuffle(p): a uniformly random permutation of the channels.
//  4. kornia.augmentation.auto.TrivialAugment() with its default policy (12 ops; kornia's list
//     differs from torchvision's TrivialAugmentWide: no identity, no colour op). Kornia draws ONE
//     op per call, i.e. per training batch (all K copies of all images get that op), and each
//     image its own magnitude, uniform (not in 31 bins) over the range that the op's own sampler
//     has: kornia's policy wrapper is bypassed when the policy samples (kornia issue #4441), so
//     the symmetric ops never get a negative sign and shear is in degrees, not the x180 mapping.
//     TRIVIAL_OPS lists the ops and ranges as kornia actually samples them.
// The plasma and op kernels are in data/imageops.ts (ours, written from kornia's formulas and
// checked against kornia 0.9.0rc1 to float precision; its deviations are listed there).
import { F, tidy, type Device, type Generator, type Tensor } from '../../engine/index.js';
import type { ImageDataset } from '../../data/dataset.js';
import type { ImageShape } from '../../data/augment.js';
import { Rng } from '../../data/rng.js';
import { TRIVIAL_OPS, Workspace, applyTrivialOp, permuteChannels, plasmaBrightness, plasmaContrast, plasmaGeometry, plasmaMaps, sampleMagnitude, type TrivialOpName } from '../../data/imageops.js';
import type { Module } from '../../nn/module.js';
import type { SettingTable } from '../../settings.js';
import type { Objective } from '../../training/trainer.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import { batchRng } from './augment.js';
import type { DefenseContext, DefensePlan } from './types.js';

// paper = the official README (repeat 5, aa_epochs 60 of 200). mini's K = 2 and 15 repeat epochs
// are a cheaper named setting (K copies cost K forward/backward passes per batch; the measured
// cost is in docs).
export const AA_SETTINGS = {
  copies: { flag: 'copies', kind: 'int', min: 1, max: 16, help: 'K: augmented copies per image; the loss is the worst of them', profiles: { smoke: 2, mini: 2, paper: 5 } },
  repeatEpochs: { flag: 'repeat-epochs', kind: 'int', min: 0, help: 'epochs trained on the worst of K copies (then K = 1)', profiles: { smoke: 1, mini: 15, paper: 60 } },
  augP: { flag: 'aug-p', kind: 'number', min: 0, max: 1, help: 'probability of plasma brightness, plasma contrast and channel shuffle, each', profiles: { smoke: 0.5, mini: 0.5, paper: 0.5 } },
} as const satisfies SettingTable;

// ---------------------------------------------------------------------------------------------
// The policy on a batch, and the loss

/**
 * UEraser's policy on `count` float CHW images in [0,1], in place. Returns the TrivialAugment op
 * drawn for the call (`op` forces one, for tests).
 */
export function ueraserAugment(images: Float32Array, count: number, s: ImageShape, rng: Rng, p = 0.5, op?: TrivialOpName): TrivialOpName {
  const n = s.channels * s.height * s.width;
  if (images.length < count * n) throw new Error(`ueraser: ${images.length} values cannot hold ${count} images of ${s.channels}x${s.height}x${s.width}`);
  const ws = new Workspace(s);
  for (let i = 0; i < count; i++) {
    const base = i * n;
    if (rng.float() < p) {
      const roughness = 0.3 + 0.4 * rng.float();
      const intensity = 0.5 + 0.5 * rng.float();
      plasmaBrightness(images, base, plasmaMaps(roughness, rng, ws), intensity, n);
    }
    if (rng.float() < p) plasmaContrast(images, base, plasmaMaps(0.3 + 0.4 * rng.float(), rng, ws), n);
    if (rng.float() < p) permuteChannels(images, base, s, rng.permutation(s.channels), ws);
  }
  const chosen = op ?? TRIVIAL_OPS[rng.int(TRIVIAL_OPS.length)]!.name;
  for (let i = 0; i < count; i++) applyTrivialOp(chosen, images, i * n, s, sampleMagnitude(chosen, rng), ws);
  return chosen;
}

/**
 * The worst-of-K loss of K copies stacked copy-major (copy r of image i at row r*N + i, as
 * torch's tile): per-sample cross-entropy, the largest of each image's K (the gradient goes to
 * that copy only, as torch.max(dim).values), averaged over the N images. `logits` are the first
 * copy's [N, classes].
 */
export function worstOfK(model: Pick<Module, 'forward'>, copies: Tensor, y: Tensor, k: number): { loss: Tensor; logits: Tensor } {
  const kn = copies.shape[0]!;
  if (kn % k !== 0) throw new Error(`worstOfK: ${kn} rows are not ${k} copies of a batch`);
  const n = kn / k;
  const logits = model.forward(copies);
  if (k === 1) return { loss: F.crossEntropy(logits, y), logits };
  const table = F.crossEntropy(logits, y.repeat(k), 'none').view(k, n);
  const worst = table.gather(0, table.argmax(0, true));
  return { loss: worst.mean(), logits: logits.narrow(0, 0, n) };
}

export interface UeraserOptions {
  copies: number;
  repeatEpochs: number;
  /** probability of each of plasma brightness, plasma contrast and channel shuffle */
  p: number;
}

/** The K copies of a float NCHW batch, augmented, as one [K*N, C, H, W] tensor on x's device and memory format. */
export function augmentedCopies(x: Tensor, k: number, rng: Rng, p: number): Tensor {
  if (x.dtype !== 'float32' || x.ndim !== 4) throw new Error(`ueraser: expected a float32 NCHW batch, got ${x.dtype} [${x.shape.join(', ')}]`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const channelsLast = !x.isContiguous() && x.isContiguous('channels_last');
  const src = x.data<'float32'>();
  const buf = new Float32Array(k * src.length);
  for (let r = 0; r < k; r++) buf.set(src, r * src.length);
  ueraserAugment(buf, k * n, { channels: c, height: h, width: w }, rng, p);
  return tidy(() => {
    const t = F.tensor(buf, [k * n, c, h, w], { device: x.device as Device });
    return channelsLast ? t.contiguous('channels_last') : t;
  });
}

/** UEraser's objective: K = copies while epoch < repeatEpochs, then K = 1 (UEraser-Lite). */
export function ueraserObjective(o: UeraserOptions): Objective {
  if (!(Number.isInteger(o.copies) && o.copies >= 1)) throw new Error(`ueraser copies must be an integer >= 1, got ${o.copies}`);
  if (!(Number.isInteger(o.repeatEpochs) && o.repeatEpochs >= 0)) throw new Error(`ueraser repeatEpochs must be an integer >= 0, got ${o.repeatEpochs}`);
  if (!(o.p >= 0 && o.p <= 1)) throw new Error(`ueraser p must be in [0, 1], got ${o.p}`);
  return {
    name: `ueraser(copies=${o.copies},repeat_epochs=${o.repeatEpochs},p=${o.p})`,
    loss(model: Module, x: Tensor, y: Tensor, gen: Generator, epoch: number) {
      const k = epoch < o.repeatEpochs ? o.copies : 1;
      return tidy(() => worstOfK(model, augmentedCopies(x, k, batchRng(gen), o.p), y, k));
    },
  };
}

export class AaDefense extends BaselineDefense<typeof AA_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('aa', AA_SETTINGS, o);
  }
  async plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan> {
    plasmaGeometry(train.height, train.width); // refuses images under 3x3 before training starts
    const { copies, repeatEpochs, augP } = this.settings;
    const k = Math.min(repeatEpochs, ctx.recipe.epochs);
    if (!ctx.quiet) ctx.log(`ueraser: worst of ${copies} augmented copies for ${k} of ${ctx.recipe.epochs} epochs, then 1 copy`);
    return {
      train,
      objective: ueraserObjective({ copies, repeatEpochs, p: augP }),
      notes: { policy: `plasma brightness, plasma contrast, channel shuffle (p ${augP} each), kornia TrivialAugment (one op per batch)`, worst_of_k_epochs: String(k) },
    };
  }
}
