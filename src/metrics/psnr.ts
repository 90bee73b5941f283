// PSNR between two image datasets holding the same images (clean vs poisoned, clean vs purified).
//
// Per image: MSE over all 3*H*W bytes in 0..255 units, PSNR = 10 log10(255^2 / MSE) dB.
// Identical images have MSE 0 and PSNR = +Infinity unless `cap` is given (then min(PSNR, cap)).
// `mean` averages the per-image PSNRs (so it is +Infinity as soon as one image is identical and
// no cap is set); `pooled` is the PSNR of the MSE pooled over every pixel of every image, which is
// finite unless the datasets are identical.

import { imageSize, type ImageDataset } from '../data/dataset.js';
import { assertComparable, perturbationStats, type PerturbationReport } from './perturbation.js';

export { assertComparable, perturbationStats, StatsAccumulator } from './perturbation.js';
export type { PerturbationReport, PerturbationStats } from './perturbation.js';

export interface PsnrOptions {
  /** Upper limit for a per-image PSNR in dB (e.g. 100); default none (identical images give Infinity). */
  cap?: number;
}

export interface PsnrReport {
  /** Mean over images of the per-image PSNR (dB). */
  mean: number;
  /** PSNR of the MSE pooled over all images (dB). */
  pooled: number;
  /** Mean per-image PSNR of each class (index = class); NaN for a class with no images. */
  perClass: number[];
  /** Per-image PSNR (dB). */
  perImage: Float64Array;
  /** Mean squared error over all pixels, in 0..255 units squared. */
  mse: number;
  n: number;
}

const PEAK2 = 255 * 255;

function toPsnr(mse: number, cap: number | undefined): number {
  const v = mse === 0 ? Infinity : 10 * Math.log10(PEAK2 / mse);
  return cap === undefined ? v : Math.min(v, cap);
}

/** PSNR of `b` against reference `a` (same images, same labels). */
export function psnr(a: ImageDataset, b: ImageDataset, opts: PsnrOptions = {}): PsnrReport {
  assertComparable(a, b, 'psnr');
  if (opts.cap !== undefined && !(opts.cap > 0)) throw new Error(`psnr: cap must be a positive number of dB, got ${opts.cap}`);
  const per = imageSize(a);
  const perImage = new Float64Array(a.n);
  const k = a.classes.length;
  const classSum = new Float64Array(k);
  const classCount = new Int32Array(k);
  let total = 0;
  let sum = 0;
  for (let i = 0; i < a.n; i++) {
    const o = i * per;
    let ss = 0;
    for (let p = 0; p < per; p++) {
      const d = a.images[o + p] - b.images[o + p];
      ss += d * d;
    }
    total += ss;
    const v = toPsnr(ss / per, opts.cap);
    perImage[i] = v;
    sum += v;
    classSum[a.labels[i]] += v;
    classCount[a.labels[i]]++;
  }
  const mse = a.n ? total / (a.n * per) : 0;
  return {
    mean: a.n ? sum / a.n : NaN,
    pooled: a.n ? toPsnr(mse, opts.cap) : NaN,
    perClass: Array.from(classSum, (s, c) => (classCount[c] ? s / classCount[c] : NaN)),
    perImage,
    mse,
    n: a.n,
  };
}

export interface PurificationReport {
  /** PSNR of the poisoned set against the clean set. */
  poisoned: PsnrReport;
  /** PSNR of the purified set against the clean set. */
  purified: PsnrReport;
  /** Perturbation left in the poisoned / purified sets, relative to clean. */
  poisonedPerturbation: PerturbationReport;
  purifiedPerturbation: PerturbationReport;
  /** True when the purified set is closer to clean than the poisoned set (pooled PSNR higher). */
  purifiedCloser: boolean;
  /** Fraction of images whose purified PSNR exceeds their poisoned PSNR. */
  fractionImagesCloser: number;
}

/** Is the purified set closer to the clean set than the poisoned one? (clean, poisoned, purified hold the same images) */
export function purificationReport(
  clean: ImageDataset,
  poisoned: ImageDataset,
  purified: ImageDataset,
  opts: PsnrOptions = {},
): PurificationReport {
  const p0 = psnr(clean, poisoned, opts);
  const p1 = psnr(clean, purified, opts);
  let closer = 0;
  for (let i = 0; i < clean.n; i++) if (p1.perImage[i] > p0.perImage[i]) closer++;
  return {
    poisoned: p0,
    purified: p1,
    poisonedPerturbation: perturbationStats(clean, poisoned),
    purifiedPerturbation: perturbationStats(clean, purified),
    purifiedCloser: p1.pooled > p0.pooled,
    fractionImagesCloser: clean.n ? closer / clean.n : 0,
  };
}
