// ADP, the ECLIPSE paper's adaptive poisoning (Wang et al., ESORICS 2024, section 4.4; no public
// code). The paper gives only the objective
//
//   argmin_{||delta||_inf <= eps}  E_{(x,y)}  min_theta  CE( U(C(x + delta); theta), y )
//
// with U "the U-Net that forms the diffusion model, slightly modified into a classification
// network (the final layer is replaced by a convolutional layer with global average pooling)" and
// C the compensation module (random grayscale with probability p = 0.4, Gaussian noise
// sigma = 0.05). It is EM (em.ts, Huang et al. 2021) with another learner: the same min-min
// alternation (model/minmin.ts) whose surrogate is U and which sees every image through C.
// Everything else is unspecified; the choices made here, and why:
//
// - Optimisation: EM's sample-wise min-min exactly (the objective is EM's with U o C in place of
//   the classifier): trainSteps surrogate SGD steps, then signed PGD descent on CE from the stored
//   noise, until the surrogate fits stopAccuracy of C(x + delta); EM's settings at paper scale.
// - U: the denoiser's own U-Net class (diffusion/unet.ts) built with outChannels = K, so its last
//   layer out.2 (3x3 conv, ch -> 6 in the denoiser) becomes a 3x3 conv ch -> K, followed by the
//   mean over the pixels (global average pooling) = the logits. That conv gets a default fan-in
//   initialisation (the denoiser zero-initialises it, which would make every input gradient zero
//   at the start). The GroupNorm-SiLU before it is kept (it is not the "final layer").
// - Sizes: paper = the paper denoiser's configuration (eclipseProfile('paper').denoiser.unet:
//   128 channels, 3 blocks, 4 levels, attention at 16 and 8, 4 heads, dropout 0.3); mini = a tiny
//   U-Net (16 channels, 1 block, 3 levels, no level attention, no dropout) for the 2-core CPU: a
//   pass costs ~2.7 ResNet-18 w16 passes here (32 channels: ~7.6; measurements at ADP_SETTINGS).
//   The middle block's attention is part of the U-Net's fixed layout and always present.
// - Weights: fresh (seeded), trained by the min-min. The attacker knows the structure of the
//   defence (paper 4.4), not the defender's denoiser, which is trained on a private sparse set;
//   EM's surrogate is also trained from scratch. Names equal the denoiser's (input_blocks...,
//   out.2.weight), so a denoiser checkpoint's trunk would load into it (out.2 aside).
// - Timestep: a fixed t = 0 for every image. The classifier sees clean (not diffused) images,
//   which is what t = 0 means to the U-Net; with a constant t the timestep embedding is a learned
//   constant (per-block FiLM bias), so any other constant is equivalent up to training.
// - Input scale: [0,1] images are mapped to [-1,1] (2x - 1) before U, as the diffusion feeds it.
// - C on tensors (defenses/compensation.ts is the victim's, on uint8): per image, with
//   probability p, x <- luma(x) on all 3 channels (ITU-R 601-2 weights, data/color.ts's LUMA),
//   written as (1 - m) x + m luma(x) with m in {0,1}: linear in x; then + N(0, sigma^2) per pixel
//   and clamp to [0,1]. Both draws come from the loop's seeded Generator, one fresh draw per call
//   (per surrogate step, per PGD step, per accuracy batch): a one-sample expectation over C.
//   Difference from the victim: no 8-bit rounding (the victim rounds the luma and the noisy
//   pixel; together at most 1/255 per pixel, checked in test/adp.test.ts against the victim
//   replaying the same draws); the victim applies C after its crop/flip, which ADP, like EM, does
//   not model. Gradients flow through the luma and the noise; the clamp stops them only at
//   saturated pixels, where the victim's image does not move either.
// - The stop test (accuracy > stopAccuracy) is measured through C as well (one draw), since C is
//   part of the learner the noise must make fit.
// - Dropout (paper configuration 0.3) is on in the surrogate steps only (PGD and the stop test
//   run in eval mode, as EM's); its global generator is reseeded from the loop's Generator before
//   each training forward, so runs and resumed runs are reproducible.
// - Surrogate optimiser: EM's (SGD 0.1, momentum 0.9, wd 5e-4, gradient-norm clip 5, no
//   augmentation, no schedule); the U-Net (GroupNorm, zero-initialised residual branches) trains
//   at lr 0.1 with the clip. `--lr` is a setting in case a larger U-Net diverges.

import { F, Generator, Tensor, noGrad, tidy, type Device } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { LUMA } from '../data/color.js';
import { UNet } from '../diffusion/unet.js';
import { Module } from '../nn/module.js';
import { Conv2d } from '../nn/layers.js';
import { eclipseProfile } from '../eclipse-settings.js';
import type { ProfileName } from '../profiles.js';
import { SignedStepAttack, type ModelAttackOptions } from './model/attack.js';
import { minMinRecipeOf, type Learner, type MinMinRecipe } from './model/minmin.js';
import type { SettingTable } from '../settings.js';
import type { AttackParamValue, PrepareContext } from './types.js';

/**
 * ADP's settings: the classifier U-Net's size, C's parameters and the min-min's knobs.
 * paper: the paper's denoiser U-Net (eclipseProfile('paper').denoiser.unet) and EM's published
 * recipe (Huang et al.: 20 steps of eps/10, batch 512, 10 surrogate steps per loop, stop at 99 %).
 * mini: a tiny U-Net (16 ch, 1 block, 3 levels, no level attention: 288,666 parameters with
 * K = 10) with EM's mini schedule (APBench: 5 steps of eps/5, batch 128) and a cap of 30 loops
 * (EM's is 20: the surrogate must also fit through C, so more loops are allowed).
 *
 * Measured on the 2-core development machine (batch 128, 32x32, K = 10, single thread, U-Net and
 * ResNet interleaved, minimum of 4 rounds; the machine was shared with other jobs, so only the
 * ratios are kept):
 *   seconds / batch        input-grad F+B (PGD)   train F+B   forward
 *   U-Net 16 ch (mini)     0.88                   1.19        0.44
 *   U-Net 32 ch            2.48                   3.61        1.21
 *   ResNet-18 w16          0.33                   0.47        0.145
 * so a mini U-Net pass costs ~2.7 ResNet-18 w16 passes (32 ch: ~7.6). One min-min loop on 1,000
 * mini images, 2 threads, alternated with EM's: ADP/EM = 2.1 and 3.4. EM's mini loop on the 5,000
 * images took 26.7 s (its uncontended loops), so an ADP mini loop is ~2.7 x 26.7 = ~72 s and the
 * 30-loop cap ~36 min (45 min if a loop is 25 % slower); it stops earlier once the surrogate fits
 * 99 % of C(x + delta). On 300 images (1 thread, batch 64) 8 loops took the surrogate's accuracy
 * on C(x + delta) from 14 % to 91 % at lr 0.1, with no divergence.
 */
export const ADP_SETTINGS = {
  channels: { flag: 'unet-channels', kind: 'int', min: 1, help: "the classifier U-Net's base width (model channels)", profiles: { smoke: 8, mini: 16, paper: 128 } },
  resBlocks: { flag: 'unet-res-blocks', kind: 'int', min: 1, help: 'residual blocks per resolution level', profiles: { smoke: 1, mini: 1, paper: 3 } },
  levels: { flag: 'unet-levels', kind: 'int', min: 1, max: 5, help: 'resolution levels (width multipliers 1, 2, 2, ...)', profiles: { smoke: 2, mini: 3, paper: 4 } },
  attention: {
    flag: 'unet-attention', kind: 'choice', choices: ['on', 'off'],
    help: "self-attention at the profile denoiser's resolutions (paper 16 and 8); the middle block always attends",
    profiles: { smoke: 'off', mini: 'off', paper: 'on' },
  },
  dropout: { flag: 'unet-dropout', kind: 'number', min: 0, max: 0.95, help: "dropout in the U-Net's residual blocks (surrogate steps only)", profiles: { smoke: 0, mini: 0, paper: 0.3 } },
  grayP: { flag: 'gray-p', kind: 'number', min: 0, max: 1, help: "C's grayscale probability p", profiles: { smoke: 0.4, mini: 0.4, paper: 0.4 } },
  sigma: { flag: 'sigma', kind: 'number', min: 0, help: "C's Gaussian noise std ([0,1] pixels)", profiles: { smoke: 0.05, mini: 0.05, paper: 0.05 } },
  steps: { flag: 'steps', kind: 'int', min: 1, help: 'PGD steps per image per loop', profiles: { smoke: 2, mini: 5, paper: 20 } },
  stepFraction: { flag: 'step-fraction', kind: 'number', min: 0, max: 1, help: 'signed step as a fraction of eps', profiles: { smoke: 0.2, mini: 0.2, paper: 0.1 } },
  trainSteps: { flag: 'train-steps', kind: 'int', min: 1, help: 'surrogate SGD steps per loop', profiles: { smoke: 10, mini: 10, paper: 10 } },
  trainBatch: { flag: 'train-batch', kind: 'int', min: 1, help: "surrogate's batch size", profiles: { smoke: 32, mini: 128, paper: 512 } },
  stopAccuracy: { flag: 'stop-accuracy', kind: 'number', min: 0, max: 1, help: "stop when the surrogate's accuracy on C(noised set) exceeds this", profiles: { smoke: 0.99, mini: 0.99, paper: 0.99 } },
  maxLoops: { flag: 'max-loops', kind: 'int', min: 1, help: 'give up after this many loops (the last noise is used)', profiles: { smoke: 3, mini: 30, paper: 100 } },
  poisonBatch: { flag: 'poison-batch', kind: 'int', min: 1, help: 'images per PGD batch (speed only)', profiles: { smoke: 64, mini: 500, paper: 512 } },
  lr: { flag: 'lr', kind: 'number', min: 1e-6, max: 10, help: "surrogate's SGD learning rate (EM's 0.1)", profiles: { smoke: 0.1, mini: 0.1, paper: 0.1 } },
} as const satisfies SettingTable;

// ---------------------------------------------------------------------------
// The U-Net classifier U

export interface UNetClassifierConfig {
  classes: number;
  /** image side (square images; divisible by 2^(levels-1)) */
  imageSize: number;
  modelChannels: number;
  numResBlocks: number;
  channelMult: readonly number[];
  attentionResolutions: readonly number[];
  numHeads: number;
  dropout: number;
  generator?: Generator;
  device?: Device;
}

/** The denoiser's U-Net with its last conv replaced by a fresh conv ch -> K, then global average pooling. */
export class UNetClassifier extends Module {
  readonly unet: UNet;

  constructor(c: UNetClassifierConfig) {
    super();
    if (c.classes < 2) throw new Error(`U-Net classifier: needs at least 2 classes (got ${c.classes})`);
    const down = 2 ** (c.channelMult.length - 1);
    if (!Number.isInteger(c.imageSize / down)) throw new Error(`U-Net classifier: ${c.channelMult.length} levels halve the image ${c.channelMult.length - 1} times; a side of ${c.imageSize} does not divide by ${down}`);
    this.unet = new UNet({
      imageSize: c.imageSize, inChannels: 3, outChannels: c.classes, modelChannels: c.modelChannels, numResBlocks: c.numResBlocks,
      channelMult: c.channelMult, attentionResolutions: c.attentionResolutions, numHeads: c.numHeads, numHeadsUpsample: c.numHeads,
      dropout: c.dropout, useScaleShiftNorm: true, generator: c.generator, device: c.device,
    });
    // out.2 is zero-initialised in the denoiser; the classifier's replacement conv starts at the
    // default fan-in initialisation, like any new layer.
    const head = this.unet.out.layers[2] as Conv2d;
    const fresh = new Conv2d(head.inChannels, c.classes, 3, { padding: 1, generator: c.generator, device: c.device });
    noGrad(() => {
      head.weight.copy_(fresh.weight);
      head.bias!.copy_(fresh.bias!);
    });
    fresh.dispose();
    // The U-Net's parts are this module's children under their own names, so the parameter names
    // equal the denoiser's (improved-diffusion's state dict).
    this.child('time_embed', this.unet.time_embed);
    this.child('input_blocks', this.unet.input_blocks);
    this.child('middle_block', this.unet.middle_block);
    this.child('output_blocks', this.unet.output_blocks);
    this.child('out', this.unet.out);
  }

  /** x [B, 3, H, W] in [0,1] -> logits [B, K]: U at t = 0 on 2x - 1, averaged over the pixels. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const t = F.zeros([x.shape[0]!], { device: x.device as Device });
      return this.unet.forward(x.mul(2).sub(1), t).mean([2, 3]);
    });
  }
}

// ---------------------------------------------------------------------------
// The compensation function C on tensors

export interface CompensationDraw {
  /** [B, 1, 1, 1]: 1 where the image becomes grayscale; null when p = 0 */
  gray: Tensor | null;
  /** [B, 3, H, W] N(0, sigma^2) noise; null when sigma = 0 */
  noise: Tensor | null;
}

/** Draw C's randomness for images of `shape` (the grayscale coins first, then the noise). */
export function drawCompensation(shape: readonly number[], p: number, sigma: number, gen: Generator, device?: Device): CompensationDraw {
  return tidy(() => {
    const b = shape[0]!;
    const gray = p <= 0 ? null : p >= 1 ? F.ones([b, 1, 1, 1], { device }) : F.rand([b], { device, generator: gen }).lt(p).float().reshape(b, 1, 1, 1);
    const noise = sigma > 0 ? F.randn(shape, { device, generator: gen }).mul(sigma) : null;
    return { gray, noise };
  });
}

/** C with fixed draws: (1 - m) x + m luma(x), + noise, clamped to [0,1]; differentiable in x. */
export function applyCompensation(x: Tensor, d: CompensationDraw): Tensor {
  return tidy(() => {
    if (x.shape[1] !== 3) throw new Error(`compensation: expects 3-channel images, got ${x.shape[1]}`);
    let y = x;
    if (d.gray !== null) {
      const w = F.tensor([...LUMA], [1, 3, 1, 1], { device: x.device as Device });
      const luma = x.mul(w).sum(1, true);
      y = x.mul(d.gray.neg().add(1)).add(luma.mul(d.gray)); // (1 - m) x + m luma: exactly luma where m = 1
    }
    if (d.noise !== null) y = y.add(d.noise);
    return y.clamp(0, 1);
  });
}

/** C(x) with a fresh draw from gen (ADP's expectation over C, one sample per call). */
export function compensateTensor(x: Tensor, p: number, sigma: number, gen: Generator): Tensor {
  const d = drawCompensation(x.shape, p, sigma, gen, x.device as Device);
  try {
    return applyCompensation(x, d);
  } finally {
    d.gray?.dispose();
    d.noise?.dispose();
  }
}

// ---------------------------------------------------------------------------
// The attack

/** The classifier U-Net's configuration for a profile's ADP settings. */
export function adpUNetConfig(profile: ProfileName, s: { channels: number; resBlocks: number; levels: number; attention: string; dropout: number }, classes: number, imageSize: number): UNetClassifierConfig {
  const den = eclipseProfile(profile).denoiser.unet;
  return {
    classes, imageSize, modelChannels: s.channels, numResBlocks: s.resBlocks,
    channelMult: Array.from({ length: s.levels }, (_, i) => (i === 0 ? 1 : 2)),
    attentionResolutions: s.attention === 'on' ? den.attentionResolutions : [],
    numHeads: den.numHeads, dropout: s.dropout,
  };
}

export class AdpAttack extends SignedStepAttack<typeof ADP_SETTINGS> {
  readonly name = 'adp';
  readonly recipe: string;
  readonly params: Readonly<Record<string, AttackParamValue>>;

  constructor(o: ModelAttackOptions = {}) {
    super('adp', ADP_SETTINGS, o, { noSurrogate: 'its U-Net classifier is trained with the noise from a fresh initialisation' });
    const s = this.settings;
    const heads = eclipseProfile(this.profile).denoiser.unet.numHeads;
    this.params = this.paramsWith({
      surrogate:
        `U-Net classifier: the denoiser's U-Net (${s.channels} ch, ${s.resBlocks} blocks, ${s.levels} levels, attention ${s.attention}, ${heads} heads) ` +
        `with out.2 -> fresh 3x3 conv to K + global average pooling, t = 0, input 2x-1; fresh, SGD ${s.lr} m0.9 wd 5e-4, clip 5, no augmentation`,
      compensation: `differentiable C: grayscale (ITU-R 601-2) with prob gray_p, + N(0, sigma^2), clamp [0,1], no 8-bit rounding; a fresh draw per step`,
      pgd: 'eval mode, zero start then warm start, descent on CE through C',
    });
    this.recipe =
      `adaptive error-minimising noise through the compensation module (gray p ${s.grayP}, sigma ${s.sigma}) on a U-Net classifier: ` +
      `${s.trainSteps} surrogate steps then ${s.steps} signed steps of ${this.stepSize.toPrecision(3)} per loop, until it fits ${100 * s.stopAccuracy}% ` +
      `(ECLIPSE paper, Wang et al. 2024, section 4.4; EM's min-min, Huang et al. 2021)`;
  }

  minMinRecipe(): MinMinRecipe {
    return minMinRecipeOf(this.settings, this.bound.epsilon, this.stepSize, this.settings.lr);
  }

  /** The classifier U for a dataset (fresh weights from the seed). */
  createClassifier(ds: Pick<ImageDataset, 'classes' | 'height' | 'width'>, seed: number, device?: Device): UNetClassifier {
    if (ds.height !== ds.width) throw new Error(`adp attack: the U-Net classifier needs square images (got ${ds.height}x${ds.width})`);
    return new UNetClassifier({ ...adpUNetConfig(this.profile, this.settings, ds.classes.length, ds.height), generator: new Generator(seed), device });
  }

  async prepare(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void> {
    if (ds.classes.length < 2) throw new Error(`adp attack: the dataset has ${ds.classes.length} class; error-minimising noise needs at least 2`);
    if (ds.channels !== 3) throw new Error(`adp attack: the compensation module's grayscale needs 3-channel images (got ${ds.channels})`);
    const s = this.settings;
    const model = this.createClassifier(ds, seed, ctx.device);
    const learner: Learner = {
      model,
      logits: (x: Tensor, gen: Generator) => {
        // Dropout draws from the global generator: seed it from the loop's generator, so the
        // surrogate steps (and a resumed run) are reproducible.
        if (model.training && s.dropout > 0) F.manualSeed(tidy(() => F.randint(0, 2 ** 31 - 1, [1], { generator: gen }).item()));
        return tidy(() => model.forward(compensateTensor(x, s.grayP, s.sigma, gen)));
      },
    };
    try {
      await this.minMin(ds, seed, ctx, learner, this.minMinRecipe());
    } finally {
      model.dispose();
    }
  }
}
