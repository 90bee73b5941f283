// URP: class-wise uniform random perturbation (the "random noise" baseline of Huang et al. 2021,
// "Unlearnable Examples", used as URP by Tao et al. 2021 and the ECLIPSE paper).
//
// Recipe (original release, HanxunH/Unlearnable-Examples: perturbation.py with --attack_type random
// --perturb_type classwise --noise_shape 10 3 32 32 --epsilon 8; dataset.py PoisonCIFAR10):
// - one tensor [numClasses, 3, H, W] drawn i.i.d. from U(-eps, eps), eps = 8/255;
// - image of class y gets noise[y] added (x/255 + noise), clipped to [0,255] and truncated to
//   uint8 (`np.clip(...).astype(np.uint8)`), hence quantization 'floor' by default.
// The ECLIPSE paper's text calls it "random Gaussian noise"; the release and reference facts
// use the uniform draw, which we follow.

import { Rng } from '../data/rng.js';
import { BaseAttack, checkQuantization } from './base.js';
import type { DatasetShape, PerturbationBound, PerturbationGenerator, Quantization } from './types.js';

/** Rng stream id of URP ("URP" in ASCII), so other attacks with the same seed draw unrelated numbers. */
const STREAM_URP = 0x555250;

export interface UrpOptions {
  /** L_inf radius in [0,1] units (default 8/255). */
  epsilon?: number;
  /** Default 'floor' (the original's uint8 truncation). */
  quantization?: Quantization;
}

export class UrpAttack extends BaseAttack {
  readonly name = 'urp';
  readonly recipe = 'class-wise U(-eps, eps) noise [K,3,H,W] added by label (Huang et al. 2021 random class-wise noise)';
  readonly bound: PerturbationBound;
  readonly quantization: Quantization;
  readonly params: Readonly<Record<string, string | number>>;

  constructor(opts: UrpOptions = {}) {
    super();
    const eps = opts.epsilon ?? 8 / 255;
    if (!(Number.isFinite(eps) && eps > 0 && eps <= 1)) throw new Error(`urp: epsilon must be in (0, 1] ([0,1] pixel units), got ${eps}`);
    this.bound = { norm: 'linf', epsilon: eps };
    this.quantization = opts.quantization ?? 'floor';
    checkQuantization(this.quantization, 'urp');
    this.params = { epsilon: eps, distribution: 'uniform', quantization: this.quantization };
  }

  /** The class-wise noise, [K, 3, H, W] flattened, in [0,1] units. */
  classNoise(ds: Pick<DatasetShape, 'classes' | 'height' | 'width'>, seed: number): Float64Array {
    const per = 3 * ds.height * ds.width;
    const k = ds.classes.length;
    const eps = this.bound.epsilon;
    const rng = new Rng(seed, STREAM_URP);
    const noise = new Float64Array(k * per);
    for (let j = 0; j < noise.length; j++) noise[j] = (2 * rng.float() - 1) * eps;
    return noise;
  }

  generator(ds: DatasetShape, seed: number): PerturbationGenerator {
    const per = 3 * ds.height * ds.width;
    const noise = this.classNoise(ds, seed);
    return {
      perturbation(_index: number, label: number, out: Float64Array): void {
        out.set(noise.subarray(label * per, (label + 1) * per));
      },
    };
  }
}
