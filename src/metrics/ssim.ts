// SSIM between two image datasets holding the same images (Wang et al. 2004, "Image quality
// assessment: from error visibility to structural similarity").
//
// Per image and channel, on 0..255 values: local means, variances and covariance under an 11x11
// Gaussian window (sigma 1.5, normalised to sum 1), over the positions where the window fits
// inside the image (no padding), and
//   SSIM = mean over positions of (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))
// with C1 = (0.01 * 255)^2 and C2 = (0.03 * 255)^2 (the paper's constants; skimage's
// structural_similarity with gaussian_weights=True, sigma=1.5, use_sample_covariance=False and
// data_range=255 computes the same on the valid region). An image's SSIM is the mean of its three
// channels'; `mean` averages the images'. Images smaller than the window use the whole image as one
// window (uniform weights).

import { imageSize, type ImageDataset } from '../data/dataset.js';
import { assertComparable } from './perturbation.js';

const WINDOW = 11;
const SIGMA = 1.5;
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

/** The 1D Gaussian of the window, normalised (the 2D window is its outer product). */
function gaussian1d(size: number, sigma: number): Float64Array {
  const g = new Float64Array(size);
  const mid = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) s += g[i] = Math.exp(-((i - mid) ** 2) / (2 * sigma * sigma));
  for (let i = 0; i < size; i++) g[i]! /= s;
  return g;
}

/** SSIM of one channel plane (h x w, values at a[ao + y*w + x]) against the other. */
export function ssimPlane(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, h: number, w: number): number {
  const k = Math.min(WINDOW, h, w);
  const g = k === WINDOW ? gaussian1d(WINDOW, SIGMA) : new Float64Array(k).fill(1 / k);
  let total = 0;
  let count = 0;
  for (let y0 = 0; y0 + k <= h; y0++)
    for (let x0 = 0; x0 + k <= w; x0++) {
      let ma = 0;
      let mb = 0;
      let saa = 0;
      let sbb = 0;
      let sab = 0;
      for (let dy = 0; dy < k; dy++)
        for (let dx = 0; dx < k; dx++) {
          const wt = g[dy]! * g[dx]!;
          const va = a[ao + (y0 + dy) * w + x0 + dx]!;
          const vb = b[bo + (y0 + dy) * w + x0 + dx]!;
          ma += wt * va;
          mb += wt * vb;
          saa += wt * va * va;
          sbb += wt * vb * vb;
          sab += wt * va * vb;
        }
      const va = saa - ma * ma;
      const vb = sbb - mb * mb;
      const cov = sab - ma * mb;
      total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      count++;
    }
  return total / count;
}

export interface SsimReport {
  /** mean over images of the per-image SSIM (1 for identical images) */
  mean: number;
  perImage: Float64Array;
}

/** SSIM of `b` against reference `a` (same images, same labels). */
export function ssim(a: ImageDataset, b: ImageDataset): SsimReport {
  assertComparable(a, b, 'ssim');
  const per = imageSize(a);
  const plane = a.height * a.width;
  const perImage = new Float64Array(a.n);
  let sum = 0;
  for (let i = 0; i < a.n; i++) {
    let s = 0;
    for (let c = 0; c < a.channels; c++) s += ssimPlane(a.images, i * per + c * plane, b.images, i * per + c * plane, a.height, a.width);
    perImage[i] = s / a.channels;
    sum += perImage[i]!;
  }
  return { mean: a.n ? sum / a.n : NaN, perImage };
}
