// Augmentation baselines: Cutout (DeVries & Taylor 2017), mixup (Zhang et al. 2018) and CutMix
// (Yun et al. 2019), as APBench and ISS run them against availability poisons.
import { F, Tensor, noGrad, tidy, type Device, type Generator } from '../../engine/index.js';
import type { ImageDataset } from '../../data/dataset.js';
import { Rng } from '../../data/rng.js';
import type { SettingTable } from '../../settings.js';
import type { Module } from '../../nn/module.js';
import type { BatchTransform, Objective } from '../../training/trainer.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import type { DefenseContext, DefensePlan } from './types.js';

/** A JS Rng for one batch, seeded from the trainer's per-epoch generator (so a resumed run draws the same). */
export function batchRng(gen: Generator): Rng {
  const seed = tidy(() => F.randint(0, 2 ** 31 - 1, [2], { generator: gen }).toArray());
  return new Rng(seed[0]!, seed[1]!);
}

/** A sample of Gamma(a, 1) (Marsaglia & Tsang; a < 1 by the boost a+1 then u^(1/a)). */
function gamma(rng: Rng, a: number): number {
  if (a < 1) return gamma(rng, a + 1) * Math.pow(1 - rng.float(), 1 / a);
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.float();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A sample of Beta(a, b). */
export function beta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  const y = gamma(rng, b);
  return x / (x + y);
}

// ---------------------------------------------------------------------------------------------

export const CUTOUT_SETTINGS = {
  length: { flag: 'cutout-length', kind: 'int', min: 1, help: 'side of the zeroed square (pixels)', profiles: { smoke: 16, mini: 16, paper: 16 } },
} as const satisfies SettingTable;

/**
 * Cutout as in DeVries & Taylor's code (and APBench, after ToTensor): one square of side `length`
 * centred on a uniformly drawn pixel, clipped at the border, set to 0 in every channel.
 */
export function cutoutTransform(length: number): BatchTransform {
  return {
    name: `cutout(${length})`,
    apply(images, count, shape, rng) {
      const { channels: C, height: H, width: W } = shape;
      const half = Math.floor(length / 2);
      for (let i = 0; i < count; i++) {
        const cy = rng.int(H);
        const cx = rng.int(W);
        const y0 = Math.max(0, cy - half);
        const y1 = Math.min(H, cy + half + (length % 2));
        const x0 = Math.max(0, cx - half);
        const x1 = Math.min(W, cx + half + (length % 2));
        for (let c = 0; c < C; c++) {
          const plane = (i * C + c) * H * W;
          for (let y = y0; y < y1; y++) images.fill(0, plane + y * W + x0, plane + y * W + x1);
        }
      }
    },
  };
}

export class CutoutDefense extends BaselineDefense<typeof CUTOUT_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('cutout', CUTOUT_SETTINGS, o);
  }
  async plan(train: ImageDataset, _ctx: DefenseContext): Promise<DefensePlan> {
    return { train, transform: cutoutTransform(this.settings.length), notes: {} };
  }
}

// ---------------------------------------------------------------------------------------------

/** lam * CE(logits, y) + (1 - lam) * CE(logits, y[perm]): the loss of a mixed batch. */
function mixedLoss(logits: Tensor, y: Tensor, perm: Tensor, lam: number): Tensor {
  return F.crossEntropy(logits, y).mul(lam).add(F.crossEntropy(logits, y.indexSelect(0, perm)).mul(1 - lam));
}

export const MIXUP_SETTINGS = {
  alpha: { flag: 'mixup-alpha', kind: 'number', min: 0.01, help: 'lambda ~ Beta(alpha, alpha) per batch', profiles: { smoke: 1, mini: 1, paper: 1 } },
} as const satisfies SettingTable;

/**
 * mixup (Zhang et al.'s reference code): one lambda ~ Beta(alpha, alpha) per batch, each image
 * mixed with a random partner of the same batch, and the two labels' losses mixed by lambda.
 */
export function mixupObjective(alpha: number): Objective {
  return {
    name: `mixup(alpha=${alpha})`,
    loss(model: Module, x: Tensor, y: Tensor, gen: Generator) {
      const lam = beta(batchRng(gen), alpha, alpha);
      const perm = F.randperm(x.shape[0]!, { generator: gen, device: x.device as Device });
      const mixed = noGrad(() => x.mul(lam).add(x.indexSelect(0, perm).mul(1 - lam)));
      const logits = model.forward(mixed);
      return { loss: mixedLoss(logits, y, perm, lam), logits };
    },
  };
}

export class MixupDefense extends BaselineDefense<typeof MIXUP_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('mixup', MIXUP_SETTINGS, o);
  }
  async plan(train: ImageDataset, _ctx: DefenseContext): Promise<DefensePlan> {
    return { train, objective: mixupObjective(this.settings.alpha), notes: {} };
  }
}

// ---------------------------------------------------------------------------------------------

export const CUTMIX_SETTINGS = {
  beta: { flag: 'cutmix-beta', kind: 'number', min: 0.01, help: 'lambda ~ Beta(beta, beta) per batch', profiles: { smoke: 1, mini: 1, paper: 1 } },
  prob: { flag: 'cutmix-prob', kind: 'number', min: 0, max: 1, help: 'probability that a batch is cut-mixed', profiles: { smoke: 0.5, mini: 0.5, paper: 0.5 } },
} as const satisfies SettingTable;

/** The CutMix box for lambda on an H x W image: side ratio sqrt(1 - lambda), centre uniform, clipped. */
export function cutmixBox(rng: Rng, lam: number, H: number, W: number): { y0: number; y1: number; x0: number; x1: number } {
  const r = Math.sqrt(1 - lam);
  const ch = Math.floor(H * r);
  const cw = Math.floor(W * r);
  const cy = rng.int(H);
  const cx = rng.int(W);
  return {
    y0: Math.min(Math.max(cy - Math.floor(ch / 2), 0), H),
    y1: Math.min(Math.max(cy + Math.floor(ch / 2), 0), H),
    x0: Math.min(Math.max(cx - Math.floor(cw / 2), 0), W),
    x1: Math.min(Math.max(cx + Math.floor(cw / 2), 0), W),
  };
}

/**
 * CutMix (Yun et al.'s reference code, as ISS and OP run it): with probability `prob` a batch
 * gets one box from a random partner image; lambda becomes the kept area's share.
 */
export function cutmixObjective(b: number, prob: number): Objective {
  return {
    name: `cutmix(beta=${b},prob=${prob})`,
    loss(model: Module, x: Tensor, y: Tensor, gen: Generator) {
      const rng = batchRng(gen);
      if (!(rng.float() < prob)) {
        const logits = model.forward(x);
        return { loss: F.crossEntropy(logits, y), logits };
      }
      const [, , H, W] = x.shape as [number, number, number, number];
      const box = cutmixBox(rng, beta(rng, b, b), H, W);
      const lam = 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / (H * W);
      const perm = F.randperm(x.shape[0]!, { generator: gen, device: x.device as Device });
      const mixed = noGrad(() => {
        // mask is 1 inside the box: x * (1 - mask) + x[perm] * mask
        const rows = F.arange(0, H, 1, { device: x.device as Device }).ge(box.y0).logicalAnd(F.arange(0, H, 1, { device: x.device as Device }).lt(box.y1));
        const cols = F.arange(0, W, 1, { device: x.device as Device }).ge(box.x0).logicalAnd(F.arange(0, W, 1, { device: x.device as Device }).lt(box.x1));
        const mask = rows.reshape(H, 1).logicalAnd(cols.reshape(1, W)).to('float32');
        return x.mul(mask.neg().add(1)).add(x.indexSelect(0, perm).mul(mask));
      });
      const logits = model.forward(mixed);
      return { loss: mixedLoss(logits, y, perm, lam), logits };
    },
  };
}

export class CutmixDefense extends BaselineDefense<typeof CUTMIX_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('cutmix', CUTMIX_SETTINGS, o);
  }
  async plan(train: ImageDataset, _ctx: DefenseContext): Promise<DefensePlan> {
    return { train, objective: cutmixObjective(this.settings.beta, this.settings.prob), notes: {} };
  }
}
