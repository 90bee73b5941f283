// OP: orthogonal projection (Sandoval-Segura et al., "What Can We Learn from Unlearnable
// Datasets?", NeurIPS 2023; psandovalsegura/learn-from-unlearnable).
//
// 1. A bias-free linear model (C*H*W -> classes) learns the poisoned training set from raw pixels
//    in [0, 1] (flattened, no normalisation, no augmentation): SGD lr 0.1, no momentum, no weight
//    decay, batch 1024, 20 epochs, lr x0.1 at epochs 10 and 15, seeded shuffle. A class-wise
//    poison is linearly separable, so the model's weight rows point at the per-class patterns.
// 2. The rows, L2-normalised, are orthonormalised (QR in the original; here modified Gram-Schmidt,
//    run twice, in float64) to Q, and every training image is projected off them:
//    x <- x - sum_i (x . q_i) q_i. The test set is not projected.
// 3. The classifier is then trained by the caller with the victim's usual recipe. OP's own stage 3
//    trained with strong augmentation and CutMix; that is left to composing OP with the cutmix
//    defence, so every defence is compared on the same classifier training.
//
// Quantisation: the original keeps the projected images as floats and does not clamp them, but its
// classifier's augmentation (torchvision ColorJitter on tensors) clamps to [0, 1] anyway. Datasets
// here are uint8, so the projected images are clamped to [0, 1] and rounded to 8 bits (recorded in
// the plan's notes with the fraction of values the clamp changed).
//
// The projected set and Q are cached in ctx.workDir (keyed by the training set's digest, the
// settings and the seed), so a re-run does not train the linear model again.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { F, Generator, noGrad, tidy, type Device, type Tensor, type RunContext } from '../../engine/index.js';
import { datasetDigest, type ImageDataset } from '../../data/dataset.js';
import { iterateBatches } from '../../data/loader.js';
import { loadDataset, saveDataset } from '../../data/store.js';
import { readSafetensors, writeSafetensors } from '../../io/safetensors.js';
import { SGD } from '../../nn/optim.js';
import { stage } from '../../io/stage.js';
import type { SettingTable } from '../../settings.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import type { DefenseContext, DefensePlan } from './types.js';

export const OP_SETTINGS = {
  linearEpochs: { flag: 'linear-epochs', kind: 'int', min: 1, help: 'epochs of the bias-free linear model on the poisoned images (lr x0.1 at 1/2 and 3/4 of them)', profiles: { smoke: 2, mini: 20, paper: 20 } },
  linearLr: { flag: 'linear-lr', kind: 'number', min: 1e-6, help: "the linear model's SGD learning rate (no momentum, no weight decay)", profiles: { smoke: 0.1, mini: 0.1, paper: 0.1 } },
  linearBatch: { flag: 'linear-batch', kind: 'int', min: 1, help: "the linear model's batch size", profiles: { smoke: 1024, mini: 1024, paper: 1024 } },
} as const satisfies SettingTable;

export interface LinearModelOptions extends RunContext {
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  device: Device;
}

export interface LinearModel {
  /** classes x D weight rows (float64 copies of the float32 weights) */
  weights: Float64Array;
  classes: number;
  dim: number;
  /** accuracy of the final model on the set it was trained on */
  trainAcc: number;
}

/**
 * The learning rate of epoch `epoch` (0-based): x0.1 from epoch round(E/2) and again from
 * round(3E/4), i.e. MultiStepLR([10, 15], 0.1) at E = 20.
 */
export function linearLr(epoch: number, epochs: number, lr: number): number {
  const milestones = [Math.round(epochs / 2), Math.round((3 * epochs) / 4)];
  return lr * 0.1 ** milestones.filter((m) => epoch >= m).length;
}

/** [n, D] float32 in [0, 1] from uint8 CHW images: flattened, no normalisation. */
function pixels(images: Uint8Array, n: number, dim: number, device: Device): Tensor {
  return tidy(() => F.tensor(images.subarray(0, n * dim), [n, dim], { device }).to('float32').div(255));
}

/** Stage 1: the bias-free linear model on the (poisoned) training images. */
export function trainLinearModel(ds: ImageDataset, o: LinearModelOptions): LinearModel {
  const dim = 3 * ds.height * ds.width;
  const k = ds.classes.length;
  // nn.Linear's default initialisation: U(-1/sqrt(D), 1/sqrt(D)).
  const bound = 1 / Math.sqrt(dim);
  const w = tidy(() => F.rand([k, dim], { device: o.device, generator: new Generator(o.seed) }).mul(2 * bound).sub(bound));
  w.requiresGrad_();
  const opt = new SGD([w], { lr: o.lr });
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      opt.lr = linearLr(epoch, o.epochs, o.lr);
      let lossSum = 0;
      let correct = 0;
      for (const b of iterateBatches(ds, { batchSize: o.batchSize, seed: o.seed, epoch })) {
        const [l, c] = tidy(() => {
          const x = pixels(b.images, b.size, dim, o.device);
          const y = F.tensor(b.labels.subarray(0, b.size), [b.size], { device: o.device }).to('int64');
          opt.zeroGrad();
          const logits = F.linear(x, w);
          const loss = F.crossEntropy(logits, y);
          loss.backward();
          opt.step();
          return [loss.item() * b.size, logits.detach().argmax(1).eq(y).sum().item()];
        });
        lossSum += l;
        correct += c;
      }
      o.log?.(`[op] linear model epoch ${epoch + 1}/${o.epochs}: lr ${opt.lr.toPrecision(3)}, loss ${(lossSum / ds.n).toFixed(4)}, running train acc ${((100 * correct) / ds.n).toFixed(2)}%`);
      if (o.signal?.aborted && epoch + 1 < o.epochs) throw new Error(`op defence: interrupted after linear model epoch ${epoch + 1}/${o.epochs}; run it again to start over`);
    }
    // The final model's accuracy on its training set (a high one: a linearly separable poison).
    let correct = 0;
    noGrad(() => {
      for (const b of iterateBatches(ds, { batchSize: o.batchSize, seed: o.seed, shuffle: false })) {
        correct += tidy(() => {
          const y = F.tensor(b.labels.subarray(0, b.size), [b.size], { device: o.device }).to('int64');
          return F.linear(pixels(b.images, b.size, dim, o.device), w).argmax(1).eq(y).sum().item();
        });
      }
    });
    const weights = Float64Array.from(tidy(() => w.detach().to('cpu').contiguous().data<'float32'>()));
    return { weights, classes: k, dim, trainAcc: correct / ds.n };
  } finally {
    opt.dispose();
    w.dispose();
  }
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/**
 * Stage 2a: the rows of `weights` (rows x cols, row-major), each L2-normalised, orthonormalised
 * in order by modified Gram-Schmidt, run twice for stability (Q of a QR of W^T, up to signs). A
 * row left with a norm below `tol` after removing the earlier ones adds no direction and is
 * dropped, so the basis has the rank of W (a torch QR would keep a meaningless column instead).
 */
export function orthonormalRows(weights: Float64Array, rows: number, cols: number, tol = 1e-6): Float64Array[] {
  if (weights.length !== rows * cols) throw new Error(`orthonormalRows: ${weights.length} values for ${rows} x ${cols}`);
  const basis: Float64Array[] = [];
  for (let r = 0; r < rows; r++) {
    const v = Float64Array.from(weights.subarray(r * cols, (r + 1) * cols));
    const n0 = Math.sqrt(dot(v, v));
    if (!(n0 > 0)) continue;
    for (let i = 0; i < cols; i++) v[i]! /= n0;
    for (let pass = 0; pass < 2; pass++) {
      for (const q of basis) {
        const c = dot(v, q);
        for (let i = 0; i < cols; i++) v[i]! -= c * q[i]!;
      }
    }
    const n = Math.sqrt(dot(v, v));
    if (n < tol) continue;
    for (let i = 0; i < cols; i++) v[i]! /= n;
    basis.push(v);
  }
  return basis;
}

/** Stage 2b, one image: x <- x - sum_i (x . q_i) q_i, in place (q orthonormal). No clamping. */
export function projectOut(x: Float64Array, basis: readonly Float64Array[]): void {
  // Coefficients from the original x: with an orthonormal basis this is (I - Q^T Q) x.
  const coef = basis.map((q) => dot(x, q));
  basis.forEach((q, j) => {
    const c = coef[j]!;
    for (let i = 0; i < x.length; i++) x[i]! -= c * q[i]!;
  });
}

export interface Projection {
  dataset: ImageDataset;
  /** mean L2 distance between an image and its projection as stored (uint8), in [0, 1] units */
  meanL2: number;
  /** fraction of the values the clamp to [0, 1] changed */
  clampedFraction: number;
}

/** Stage 2b, the whole set: project every image, clamp to [0, 1], round to 8 bits. */
export function projectDataset(ds: ImageDataset, basis: readonly Float64Array[]): Projection {
  const dim = 3 * ds.height * ds.width;
  for (const q of basis) if (q.length !== dim) throw new Error(`op: basis vectors have ${q.length} values, the images ${dim}`);
  const out = new Uint8Array(ds.images.length);
  const x = new Float64Array(dim);
  let l2Sum = 0;
  let clamped = 0;
  for (let i = 0; i < ds.n; i++) {
    const src = ds.images.subarray(i * dim, (i + 1) * dim);
    for (let p = 0; p < dim; p++) x[p] = src[p]! / 255;
    projectOut(x, basis);
    let d2 = 0;
    for (let p = 0; p < dim; p++) {
      let v = x[p]!;
      if (v < 0 || v > 1) {
        clamped++;
        v = v < 0 ? 0 : 1;
      }
      const b = Math.round(v * 255);
      out[i * dim + p] = b;
      d2 += ((b - src[p]!) / 255) ** 2;
    }
    l2Sum += Math.sqrt(d2);
  }
  const dataset: ImageDataset = { ...ds, images: out, labels: ds.labels.slice(), classes: ds.classes.slice(), meta: { ...ds.meta } };
  return { dataset, meanL2: ds.n ? l2Sum / ds.n : 0, clampedFraction: ds.images.length ? clamped / ds.images.length : 0 };
}

export class OpDefense extends BaselineDefense<typeof OP_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('op', OP_SETTINGS, o);
  }

  async plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan> {
    const s = this.settings;
    const digest = datasetDigest(train);
    const name = `op-${digest.slice(0, 16)}`;
    const dir = join(ctx.workDir, name);
    const projectedPath = join(dir, 'projected.safetensors');
    const basisPath = join(dir, 'basis.safetensors');
    await mkdir(dir, { recursive: true });
    const key = { defense: 'op', data: digest, settings: this.params, seed: ctx.seed };
    const ran = await stage(
      ctx.workDir,
      name,
      key,
      async () => {
        const dim = 3 * train.height * train.width;
        ctx.log(`[op] training a bias-free linear model (${dim} -> ${train.classes.length}) on ${train.n} images: ${s.linearEpochs} epochs, SGD lr ${s.linearLr}, batch ${s.linearBatch}`);
        const lin = trainLinearModel(train, {
          epochs: s.linearEpochs,
          lr: s.linearLr,
          batchSize: s.linearBatch,
          seed: ctx.seed,
          device: ctx.device,
          log: ctx.quiet ? undefined : ctx.log,
          signal: ctx.signal,
        });
        const basis = orthonormalRows(lin.weights, lin.classes, lin.dim);
        const p = projectDataset(train, basis);
        const q = new Float64Array(basis.length * dim);
        basis.forEach((v, i) => q.set(v, i * dim));
        await saveDataset(p.dataset, projectedPath);
        await writeSafetensors(basisPath, { q: { dtype: 'F64', shape: [basis.length, dim], data: q } }, {
          linear_train_acc: String(lin.trainAcc),
          q_rank: String(basis.length),
          mean_l2_change: String(p.meanL2),
          clamped_fraction: String(p.clampedFraction),
        });
      },
      ctx.log,
    );
    const { tensors, metadata } = await readSafetensors(basisPath);
    const projected = await loadDataset(projectedPath);
    const acc = Number(metadata.linear_train_acc);
    const rank = Number(metadata.q_rank);
    const meanL2 = Number(metadata.mean_l2_change);
    const clampedFraction = Number(metadata.clamped_fraction);
    if (!tensors.q || tensors.q.shape[0] !== rank) throw new Error(`${basisPath}: basis q is missing or its rank disagrees with q_rank ${rank}`);
    ctx.log(
      `[op] linear model train acc ${(100 * acc).toFixed(2)}%${acc > 0.9 ? ' (linearly separable: a class-wise poison)' : ''}; ` +
        `Q rank ${rank}; mean L2 change ${meanL2.toFixed(4)} per image${ran ? '' : ' (cached)'}`,
    );
    projected.meta = { ...train.meta, defense: 'op' };
    return {
      train: projected,
      notes: {
        linear_train_acc: acc.toFixed(4),
        q_rank: String(rank),
        mean_l2_change: meanL2.toFixed(4),
        clamped_fraction: clampedFraction.toFixed(6),
        quantisation: 'projected images clamped to [0,1] and rounded to 8 bits (the original keeps floats; its ColorJitter clamps to [0,1])',
        test_set: 'not projected',
        classifier: "the victim's recipe; OP's own stage 3 (strong augmentation + CutMix) is not applied (compose with the cutmix defence)",
        cache: `${dir}${ran ? '' : ' (reused)'}`,
      },
    };
  }
}
