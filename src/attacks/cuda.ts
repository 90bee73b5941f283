// CUDA, convolution-based unlearnable data (Sadasivan et al., CVPR 2023, "CUDA: Convolution-based
// Unlearnable Datasets"; vinusankars/Convolution-based-Unlearnability,
// final_filter_unlearnable.py get_filter_unlearnable).
//
// Recipe, from a private key (the seed):
// - per class y a 3x3 filter: nine weights drawn from U(0, b), b the blur parameter (0.3 for
//   CIFAR-10 in the release), then one position of it, drawn uniformly, set to 1 (the centre
//   parameter); the same filter for the three channels (a depthwise convolution), no bias;
// - each image x of class y (in [0,1]) becomes conv(x) / max(conv(x)): the filter slid over each
//   channel (cross-correlation, as torch's Conv2d, zero padding 1), divided by the largest value
//   of the filtered image; then x 255, clipped and truncated to bytes (the release's uint8 cast).
// A multiplicative poison: no L_p ball describes it, so the bound recorded is the trivial
// L_inf <= 255/255 and the metadata carries what does: the filters, PSNR and SSIM against the
// clean images. An all-black image stays black (0 / 0 is taken as 0).

import type { ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { psnr } from '../metrics/psnr.js';
import { ssim } from '../metrics/ssim.js';
import { BaseAttack, checkQuantization } from './base.js';
import { fmt, type DatasetShape, type PerturbationBound, type PerturbationGenerator, type PoisonOptions, type PoisonResult, type Quantization } from './types.js';

/** Rng stream id of CUDA ("CUD" in ASCII), so other attacks with the same seed draw unrelated numbers. */
const STREAM_CUDA = 0x435544;
const K = 3;

export interface CudaOptions {
  /** upper end of the filters' uniform weights, in (0, 1] (default 0.3, the release's CIFAR-10 value) */
  blurParameter?: number;
  /** default 'floor' (the release's uint8 truncation) */
  quantization?: Quantization;
}

/** The class-wise 3x3 filters, [K][9] row-major, from the key. */
export function cudaFilters(classes: number, blur: number, seed: number): Float64Array[] {
  const rng = new Rng(seed, STREAM_CUDA);
  return Array.from({ length: classes }, () => {
    const f = Float64Array.from({ length: K * K }, () => rng.float() * blur);
    f[rng.int(K) * K + rng.int(K)] = 1;
    return f;
  });
}

export class CudaAttack extends BaseAttack {
  readonly name = 'cuda';
  readonly recipe: string;
  readonly bound: PerturbationBound = { norm: 'linf', epsilon: 1 };
  readonly quantization: Quantization;
  readonly params: Readonly<Record<string, string | number>>;
  private readonly blur: number;

  constructor(opts: CudaOptions = {}) {
    super();
    const b = opts.blurParameter ?? 0.3;
    if (!(Number.isFinite(b) && b > 0 && b <= 1)) throw new Error(`cuda: the blur parameter must be in (0, 1] (the filters' weights are drawn from U(0, b)), got ${b}`);
    this.blur = b;
    this.quantization = opts.quantization ?? 'floor';
    checkQuantization(this.quantization, 'cuda');
    this.recipe = `class-wise 3x3 depthwise filter, weights U(0, ${b}) and one set to 1, each image filtered and divided by its maximum (Sadasivan et al. 2023, vinusankars/Convolution-based-Unlearnability)`;
    this.params = { blur_parameter: b, kernel: K, centre: 1, quantization: this.quantization };
  }

  generator(ds: DatasetShape, seed: number): PerturbationGenerator {
    const filters = cudaFilters(ds.classes.length, this.blur, seed);
    const { height: H, width: W } = ds;
    const P = H * W;
    const filtered = new Float64Array(3 * P);
    return {
      perturbation(_index: number, label: number, out: Float64Array, image: Uint8Array): void {
        const f = filters[label]!;
        let max = 0;
        for (let c = 0; c < 3; c++)
          for (let y = 0; y < H; y++)
            for (let x = 0; x < W; x++) {
              let s = 0;
              for (let dy = -1; dy <= 1; dy++) {
                const yy = y + dy;
                if (yy < 0 || yy >= H) continue;
                for (let dx = -1; dx <= 1; dx++) {
                  const xx = x + dx;
                  if (xx < 0 || xx >= W) continue;
                  s += f[(dy + 1) * K + dx + 1]! * image[c * P + yy * W + xx]!;
                }
              }
              filtered[c * P + y * W + x] = s;
              if (s > max) max = s;
            }
        for (let j = 0; j < 3 * P; j++) out[j] = (max > 0 ? filtered[j]! / max : 0) - image[j]! / 255;
      },
    };
  }

  protected override extraMeta(ds: DatasetShape, seed: number): Record<string, string> {
    const filters = cudaFilters(ds.classes.length, this.blur, seed);
    return { cuda_filters: JSON.stringify(filters.map((f) => Array.from(f, (v) => Number(v.toFixed(6))))) };
  }

  /** As every attack, plus what describes a blur: PSNR and SSIM against the clean images. */
  override poison(ds: ImageDataset, seed: number, opts: PoisonOptions = {}): PoisonResult {
    const r = super.poison(ds, seed, opts);
    const p = psnr(ds, r.dataset);
    r.dataset.meta.psnr_mean = fmt(p.mean);
    r.dataset.meta.ssim_mean = fmt(ssim(ds, r.dataset).mean);
    return r;
  }
}
