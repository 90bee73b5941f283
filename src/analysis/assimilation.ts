// How Gaussian noise assimilates poisons (the paper's Sec. 3.3, Fig. 2a and Theorem 1).
//
// Take n clean images x (in [-1, 1]), poison them with each attack (x_p = x + delta), and push
// both sets through the diffusion's forward process
//   x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps        (paper step t; t = 0 means no noise)
// with independent noise for the clean and the poisoned set. At each t we measure how far apart
// the two noised distributions are:
//   - squared MMD with a Gaussian kernel (bandwidth from the median heuristic on the noiseless
//     clean images, fixed across t), the unbiased paired U-statistic of ./mmd.ts. Reported twice:
//     plain (noised clean vs noised poisoned), and with a control variate: minus the same
//     statistic for noised clean vs the clean images noised with the poisoned set's noise draw.
//     That null statistic has expectation 0 (same distribution, independent noise), so the
//     difference stays unbiased, while the sampling error the two share (the finite noise draws
//     themselves, which grows with the noise level) cancels;
//   - the closed form behind Theorem 1 for one image pair,
//       KL(N(sqrt(abar) x_p, (1-abar) I) || N(sqrt(abar) x_c, (1-abar) I)) = abar ||x_p - x_c||^2 / (2 (1-abar)),
//     averaged over the images (nats; infinite at t = 0, so reported only for t > 0). By joint
//     convexity it bounds the KL between the two noised image distributions from above;
//   - the poison-to-noise ratio ||delta||_2 / (sqrt(1 - abar) sqrt(D)), averaged over images.
// The clean-vs-clean MMD (same images, independent noise) is reported too: the plain
// estimator's noise floor.
//
// Noise draws are the same at every level (common random numbers), so the curves are smooth in t.

import { imageSize, subset, type ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { createAttack } from '../attacks/registry.js';
import type { PerturbationStats } from '../metrics/perturbation.js';
import { alphaBarAt, namedBetas, noiseSchedule, type NoiseScheduleName } from '../diffusion/schedule.js';
import { medianPairwiseSqDist, noisedMmd2, uStatisticSe, zeroMatrix, type Matrix, type NoisedSet } from './mmd.js';

/** alpha_bar of paper step t: diffusion/schedule.ts's, re-exported where the analysis has always offered it. */
export { alphaBarAt };

export const ASSIMILATION_FORMAT = 'eclipse-assimilation-v1';

/** The default grid of forward-process steps (of T = 4000), around the paper's t* = 100. */
export const DEFAULT_STEPS: readonly number[] = [0, 10, 25, 50, 100, 150, 200, 300, 400];

export type AssimilationPhase = 'select' | 'poison' | 'noise' | 'bandwidth' | 'mmd';

export interface AssimilationProgress {
  phase: AssimilationPhase;
  /** Fraction of the phase done, in [0, 1]. */
  fraction: number;
  /** The attack being applied (phase 'poison'). */
  attack?: string;
}

export interface AssimilationOptions {
  /** Forward-process steps t in [0, T] (paper convention: step t uses alpha_bar[t-1]; 0 = no noise). Sorted and de-duplicated; tStar is added. */
  steps: readonly number[];
  /** Images drawn (seeded, without replacement) from the clean set. */
  n: number;
  seed: number;
  /** Diffusion steps T (default 4000). */
  T?: number;
  /** Noise schedule (default cosine). */
  schedule?: NoiseScheduleName;
  /** The purification step to mark (default 100, the paper's t*). */
  tStar?: number;
  onProgress?: (p: AssimilationProgress) => void;
}

export interface AssimilationLevel {
  /** Forward-process step (0 = no noise). */
  t: number;
  alphaBar: number;
  /** sqrt(1 - alpha_bar) in [-1, 1] image units. */
  noiseStd: number;
}

export interface AttackAssimilation {
  attack: string;
  /** Applied perturbation delta = x_p - x_c in [-1, 1] units (twice the [0,1]-unit values), over the n images. */
  delta: { l2Mean: number; l2Rms: number; linfMax: number };
  /** The attack's own statistics of the applied perturbation (L_inf in 1/255 steps, L2 in [0,1] units). */
  stats: PerturbationStats;
  /** Squared MMD per level (same order as `levels`), control-variate estimate (unbiased). */
  mmd2: number[];
  /** Its first-order standard error. */
  mmd2Se: number[];
  /** The plain unbiased U-statistic between the noised clean and noised poisoned sets, and its standard error. */
  mmd2Plain: number[];
  mmd2PlainSe: number[];
  /** Mean paired KL in nats; null at t = 0 (infinite). */
  kl: (number | null)[];
  /** Mean ||delta||_2 / (sqrt(1 - abar) sqrt(D)); null at t = 0. */
  pnr: (number | null)[];
}

export interface AssimilationResult {
  format: typeof ASSIMILATION_FORMAT;
  n: number;
  seed: number;
  /** Values per image, 3*H*W. */
  dims: number;
  height: number;
  width: number;
  /** Metadata of the clean set the images came from. */
  source: Record<string, string>;
  /** The images used (indices into the clean set, ascending). */
  indices: number[];
  schedule: { name: NoiseScheduleName; T: number };
  tStar: number;
  kernel: {
    name: 'gaussian';
    /** k(u, v) = exp(-||u - v||^2 / (2 sigma2)); sigma2 = median pairwise squared distance of the noiseless clean images. */
    sigma2: number;
    /** How mmd2 is estimated (a sentence). */
    estimator: string;
  };
  levels: AssimilationLevel[];
  attacks: AttackAssimilation[];
  /** Clean vs clean (same images, independent noise draws): the plain estimator's noise floor (expected value 0). */
  nullMmd2: number[];
  nullMmd2Se: number[];
  seconds: number;
}

/**
 * KL(N(sqrt(abar) xp, (1-abar) I) || N(sqrt(abar) xc, (1-abar) I)) = abar ||xp - xc||^2 / (2 (1 - abar)), in nats.
 * Infinite for abar = 1 when xp != xc (no noise), 0 when they are equal.
 */
export function pairedGaussianKl(xp: ArrayLike<number>, xc: ArrayLike<number>, alphaBar: number): number {
  if (xp.length !== xc.length) throw new Error(`pairedGaussianKl: ${xp.length} vs ${xc.length} values`);
  if (!(alphaBar >= 0 && alphaBar <= 1)) throw new Error(`pairedGaussianKl: alpha_bar must lie in [0, 1], got ${alphaBar}`);
  let d2 = 0;
  for (let k = 0; k < xp.length; k++) d2 += (xp[k]! - xc[k]!) ** 2;
  if (d2 === 0) return 0;
  return (alphaBar * d2) / (2 * (1 - alphaBar));
}

/** uint8 images -> float32 matrix in [-1, 1]. */
function toMatrix(ds: ImageDataset): Matrix {
  const D = imageSize(ds);
  const m = zeroMatrix(ds.n, D);
  for (let i = 0; i < ds.images.length; i++) m.data[i] = ds.images[i]! / 127.5 - 1;
  return m;
}

function gaussianMatrix(rows: number, cols: number, rng: Rng): Matrix {
  const m = zeroMatrix(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = rng.normal();
  return m;
}

/** The steps actually measured: validated, with tStar, sorted and de-duplicated. */
export function assimilationSteps(steps: readonly number[], T: number, tStar: number): number[] {
  for (const t of [...steps, tStar]) {
    if (!Number.isInteger(t) || t < 0 || t > T) throw new Error(`steps must be integers in [0, ${T}] (T = diffusion steps), got ${t}`);
  }
  return [...new Set([...steps, tStar])].sort((a, b) => a - b);
}

/** Measure how the forward process assimilates each attack's poison on n clean images. */
export function assimilation(clean: ImageDataset, attacks: readonly string[], o: AssimilationOptions): AssimilationResult {
  const started = performance.now();
  const T = o.T ?? 4000;
  const scheduleName = o.schedule ?? 'cosine';
  const tStar = o.tStar ?? 100;
  const progress = o.onProgress ?? ((): void => undefined);
  if (attacks.length === 0) throw new Error('assimilation: name at least one attack');
  if (new Set(attacks).size !== attacks.length) throw new Error(`assimilation: attack listed twice in ${attacks.join(',')}`);
  if (!Number.isInteger(o.n) || o.n < 2) throw new Error(`assimilation: n must be an integer >= 2, got ${o.n}`);
  if (o.n > clean.n) throw new Error(`assimilation: asked for ${o.n} images but the clean set has only ${clean.n}`);
  if (clean.meta.attack) throw new Error(`assimilation: the clean set is already poisoned (meta attack=${clean.meta.attack}); pass clean images`);
  const steps = assimilationSteps(o.steps, T, tStar);
  const abarAll = noiseSchedule(namedBetas(scheduleName, T)).alphasCumprod;
  const levels: AssimilationLevel[] = steps.map((t) => {
    const alphaBar = alphaBarAt(abarAll, t);
    return { t, alphaBar, noiseStd: Math.sqrt(1 - alphaBar) };
  });

  // Seeded subset, ascending indices.
  progress({ phase: 'select', fraction: 0 });
  const indices = Array.from(new Rng(o.seed, 1000).permutation(clean.n).subarray(0, o.n)).sort((a, b) => a - b);
  const sub = subset(clean, indices);
  const D = imageSize(sub);
  const X = toMatrix(sub);

  // Poison the same images with every attack.
  const poisoned = attacks.map((name, k) => {
    progress({ phase: 'poison', fraction: k / attacks.length, attack: name });
    const res = createAttack(name).poison(sub, o.seed);
    const Y = toMatrix(res.dataset);
    // Per-image ||delta||^2 in [-1,1] units, exactly from the bytes.
    const d2 = new Float64Array(o.n);
    let linf = 0;
    for (let i = 0; i < o.n; i++) {
      let s = 0;
      for (let k2 = i * D; k2 < (i + 1) * D; k2++) {
        const d = (res.dataset.images[k2]! - sub.images[k2]!) / 127.5;
        s += d * d;
        if (Math.abs(d) > linf) linf = Math.abs(d);
      }
      d2[i] = s;
    }
    return { name, Y, d2, linf, stats: res.stats };
  });
  progress({ phase: 'poison', fraction: 1 });

  // Two independent noise draws: one for the clean set, one for the poisoned sets (shared by the
  // attacks) and for the clean-vs-clean null.
  progress({ phase: 'noise', fraction: 0 });
  const Ec = gaussianMatrix(o.n, D, new Rng(o.seed, 1001));
  const Ep = gaussianMatrix(o.n, D, new Rng(o.seed, 1002));

  progress({ phase: 'bandwidth', fraction: 0 });
  const sigma2 = medianPairwiseSqDist(X);
  if (!(sigma2 > 0)) throw new Error('assimilation: the clean images are all identical (median distance 0); no kernel bandwidth');

  const c: NoisedSet = { image: X, noise: Ec };
  const pairs: (readonly [NoisedSet, NoisedSet])[] = poisoned.map((p) => [c, { image: p.Y, noise: Ep }] as const);
  pairs.push([c, { image: X, noise: Ep }]);
  const mmd = noisedMmd2(pairs, levels.map((l) => l.alphaBar), sigma2, { onProgress: (f) => progress({ phase: 'mmd', fraction: f }) });
  const nullK = poisoned.length;

  const results: AttackAssimilation[] = poisoned.map((p, k) => {
    const l2 = Array.from(p.d2, Math.sqrt);
    const l2Mean = l2.reduce((a, b) => a + b, 0) / o.n;
    const d2Mean = p.d2.reduce((a, b) => a + b, 0) / o.n;
    return {
      attack: p.name,
      delta: { l2Mean, l2Rms: Math.sqrt(d2Mean), linfMax: p.linf },
      stats: p.stats,
      mmd2: levels.map((_, l) => mmd.mmd2[k]![l]! - mmd.mmd2[nullK]![l]!),
      mmd2Se: levels.map((_, l) => uStatisticSe(mmd.rowMeans[k]![l]!.map((v, i) => v - mmd.rowMeans[nullK]![l]![i]!))),
      mmd2Plain: mmd.mmd2[k]!,
      mmd2PlainSe: mmd.se[k]!,
      kl: levels.map(({ t, alphaBar }) => (t === 0 || alphaBar >= 1 ? null : (alphaBar * d2Mean) / (2 * (1 - alphaBar)))),
      pnr: levels.map(({ t, noiseStd }) => (t === 0 || noiseStd <= 0 ? null : l2Mean / (noiseStd * Math.sqrt(D)))),
    };
  });

  return {
    format: ASSIMILATION_FORMAT,
    n: o.n,
    seed: o.seed,
    dims: D,
    height: sub.height,
    width: sub.width,
    source: { ...clean.meta },
    indices,
    schedule: { name: scheduleName, T },
    tStar,
    kernel: {
      name: 'gaussian',
      sigma2,
      estimator: 'unbiased paired U-statistic; mmd2 = plain statistic minus the clean-vs-clean one with the same noise draws (control variate)',
    },
    levels,
    attacks: results,
    nullMmd2: mmd.mmd2[nullK]!,
    nullMmd2Se: mmd.se[nullK]!,
    seconds: (performance.now() - started) / 1000,
  };
}
