// LSP: linearly separable synthetic perturbations (Yu, Zhang, Chen, Yin, Liu, "Availability
// Attacks Create Shortcuts", KDD 2022).
//
// Recipe, from the original release dayu11/Availability-Attacks-Create-Shortcuts,
// synthetic_perturbations/cifar_train.py + util.py (defaults --patchsize 8 --eps 6), which draws
// the points with sklearn's make_classification(n_samples=N, n_features=48, n_informative=48,
// n_redundant=0, n_repeated=0, n_classes=10, n_clusters_per_class=1, class_sep=10, flip_y=0):
// 1. F = (32/8)^2 * 3 = 48 features (generally ceil(H/p) * ceil(W/p) * 3).
// 2. make_classification (sklearn/datasets/_samples_generator.py): one cluster per class; its
//    centroid is a distinct vertex of the hypercube {-class_sep, +class_sep}^F; a sample of class
//    k is z A_k + c_k with z ~ N(0, I_F) (row vector) and A_k a per-class F x F matrix with
//    i.i.d. U(-1, 1) entries ("random covariance"). shift 0, scale 1, no label flips.
// 3. Reshape each point to [H/p, W/p, 3] (HWC: feature f = (py * W/p + px) * 3 + channel) and
//    repeat every entry over a p x p patch (np.repeat along width then height), crop to H x W.
// 4. Scale each sample to L2 = sqrt(3*H*W) * 6/255 (comput_l2norm_lim + normalize_l2norm; 1.3041
//    for CIFAR) in [0,1] units; add to x/255, clip to [0,255] after *255, truncate to uint8
//    (`astype(np.uint8)`), hence quantization 'floor' by default.
// Differences that do not change the distribution: sklearn shuffles samples and permutes the 48
// features (a random permutation of i.i.d. coordinates of the centroids and of A's columns); the
// original assigns the first |class k| synthetic points of class k to the class-k images in order,
// we draw each image's point from its own seeded stream (same law, random access). sklearn draws
// distinct vertices by sampling without replacement on the last 30 bits; we redraw on a collision
// (any collision has probability ~K^2 / 2^48 anyway).

import type { ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { BaseAttack, checkQuantization, scaleToL2 } from './base.js';
import type {
  DatasetShape, PerturbationBound, PerturbationGenerator, PoisonOptions, PoisonResult, Quantization,
} from './types.js';

/** Rng stream id of LSP ("LSP" in ASCII). */
const STREAM_LSP = 0x4c5350;

export interface LspOptions {
  /** Per-sample L2 norm in [0,1] units (default sqrt(3*H*W) * 6/255, 1.3041 for 32x32). */
  epsilon?: number;
  /** Side of the constant patches (default 8). */
  patchSize?: number;
  /** make_classification's class_sep: centroids at +-classSep (default 10). */
  classSep?: number;
  /** Default 'floor' (the original's uint8 truncation). */
  quantization?: Quantization;
}

/** The L2 norm LSP uses for an image of 3*H*W pixels: sqrt(3HW) * 6/255. */
export function lspDefaultL2(height: number, width: number): number {
  return Math.sqrt(3 * height * width) * (6 / 255);
}

/** The Gaussian-mixture parameters of LSP for K classes in F dims. */
export interface LspMixture {
  features: number;
  /** K x F centroids (+-classSep). */
  centroids: Float64Array;
  /** K x F x F mixing matrices, row-major per class (sample = z A_k + c_k). */
  mixing: Float64Array;
}

export class LspAttack extends BaseAttack {
  readonly name = 'lsp';
  readonly recipe =
    'Yu et al. 2022 synthetic noise: per-class make_classification cluster (F=3*(H/p)*(W/p), class_sep 10), p x p patches, per-sample L2 scaling';
  readonly bound: PerturbationBound;
  readonly quantization: Quantization;
  readonly params: Readonly<Record<string, string | number>>;
  readonly patchSize: number;
  readonly classSep: number;
  private readonly epsilonOpt: number | undefined;

  constructor(opts: LspOptions = {}) {
    super();
    this.patchSize = opts.patchSize ?? 8;
    this.classSep = opts.classSep ?? 10;
    if (!Number.isInteger(this.patchSize) || this.patchSize < 1) throw new Error(`lsp: patchSize must be a positive integer, got ${this.patchSize}`);
    if (!(Number.isFinite(this.classSep) && this.classSep > 0)) throw new Error(`lsp: classSep must be positive, got ${this.classSep}`);
    if (opts.epsilon !== undefined && !(Number.isFinite(opts.epsilon) && opts.epsilon > 0)) {
      throw new Error(`lsp: epsilon (per-sample L2, [0,1] units) must be positive, got ${opts.epsilon}`);
    }
    this.epsilonOpt = opts.epsilon;
    // The default L2 depends on the image size; 32x32 is recorded here and corrected by forShape().
    this.bound = { norm: 'l2', epsilon: opts.epsilon ?? lspDefaultL2(32, 32) };
    this.quantization = opts.quantization ?? 'floor';
    checkQuantization(this.quantization, 'lsp');
    this.params = {
      epsilon: this.bound.epsilon, patch_size: this.patchSize, class_sep: this.classSep, quantization: this.quantization,
    };
  }

  /** This attack with the default L2 adapted to H x W images (a no-op for 32x32 or an explicit epsilon). */
  forShape(height: number, width: number): LspAttack {
    if (this.epsilonOpt !== undefined || (height === 32 && width === 32)) return this;
    return new LspAttack({
      epsilon: lspDefaultL2(height, width), patchSize: this.patchSize, classSep: this.classSep, quantization: this.quantization,
    });
  }

  /** Patches per side and feature count for an H x W image. */
  layout(height: number, width: number): { ph: number; pw: number; features: number } {
    const ph = Math.ceil(height / this.patchSize);
    const pw = Math.ceil(width / this.patchSize);
    return { ph, pw, features: ph * pw * 3 };
  }

  /** Draw the class centroids and mixing matrices (deterministic for the seed). */
  mixture(numClasses: number, features: number, seed: number): LspMixture {
    if (features < 31 && numClasses > 2 ** features) {
      throw new Error(`lsp: ${numClasses} classes need distinct hypercube vertices but ${features} features give only ${2 ** features}`);
    }
    const rng = new Rng(seed, STREAM_LSP);
    const centroids = new Float64Array(numClasses * features);
    const seen = new Set<string>();
    for (let k = 0; k < numClasses; k++) {
      for (;;) {
        let key = '';
        for (let f = 0; f < features; f++) {
          const bit = rng.uint32() >>> 31;
          centroids[k * features + f] = bit ? this.classSep : -this.classSep;
          key += bit;
        }
        if (!seen.has(key)) {
          seen.add(key);
          break;
        }
      }
    }
    const mixing = new Float64Array(numClasses * features * features);
    for (let j = 0; j < mixing.length; j++) mixing[j] = 2 * rng.float() - 1;
    return { features, centroids, mixing };
  }

  /** The 48-dim (generally F-dim) mixture point of image `index` of class `label`, before reshaping. */
  point(mix: LspMixture, seed: number, index: number, label: number, out: Float64Array = new Float64Array(mix.features)): Float64Array {
    const F = mix.features;
    const rng = new Rng(seed, STREAM_LSP, 1, index);
    const z = new Float64Array(F);
    for (let i = 0; i < F; i++) z[i] = rng.normal();
    const a0 = label * F * F;
    for (let j = 0; j < F; j++) out[j] = mix.centroids[label * F + j];
    for (let i = 0; i < F; i++) {
      const zi = z[i];
      const row = a0 + i * F;
      for (let j = 0; j < F; j++) out[j] += zi * mix.mixing[row + j];
    }
    return out;
  }

  generator(ds: DatasetShape, seed: number): PerturbationGenerator {
    const self = this.forShape(ds.height, ds.width);
    const { pw, features } = self.layout(ds.height, ds.width);
    const mix = self.mixture(ds.classes.length, features, seed);
    const H = ds.height;
    const W = ds.width;
    const p = self.patchSize;
    const l2 = self.bound.epsilon;
    const x = new Float64Array(features);
    return {
      perturbation: (index: number, label: number, out: Float64Array): void => {
        self.point(mix, seed, index, label, x);
        for (let c = 0; c < 3; c++) {
          for (let r = 0; r < H; r++) {
            const rowBase = Math.floor(r / p) * pw;
            const o = (c * H + r) * W;
            for (let col = 0; col < W; col++) out[o + col] = x[(rowBase + Math.floor(col / p)) * 3 + c];
          }
        }
        scaleToL2(out, l2, 'lsp');
      },
    };
  }

  override poison(ds: ImageDataset, seed: number, opts?: PoisonOptions): PoisonResult {
    const self = this.forShape(ds.height, ds.width);
    return self === this ? super.poison(ds, seed, opts) : self.poison(ds, seed, opts);
  }
}
