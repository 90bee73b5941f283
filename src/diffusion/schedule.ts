// Noise schedules and the constants derived from them, in float64 on the JS side.
//
// Index convention (the one of improved-DDPM's code, used everywhere in src/diffusion):
// arrays are indexed by t = 0 .. T-1, and index t is the paper's step t+1. So
//   alphasCumprod[t] = alpha_bar((t+1)/T),  q(x_t | x_0) = N(sqrt(alphasCumprod[t]) x_0, 1 - alphasCumprod[t]),
// and the paper's "alpha_bar at t* = 100" is alphasCumprod[99] (0.99751 for cosine, T = 4000).
// Index 0 is the last reverse step (the one that adds no noise).
import { Rng } from '../data/rng.js';

export type NoiseScheduleName = 'cosine' | 'linear';

/** alpha_bar of the cosine schedule at continuous time u in [0, 1] (not normalised by f(0)). */
const cosineF = (u: number, s: number): number => Math.cos(((u + s) / (1 + s)) * (Math.PI / 2)) ** 2;

/**
 * Nichol & Dhariwal's cosine schedule: alpha_bar(u) = f(u)/f(0), f(u) = cos^2((u+s)/(1+s) * pi/2),
 * beta_t = min(1 - alpha_bar((t+1)/T) / alpha_bar(t/T), maxBeta).
 */
export function cosineBetas(T: number, s = 0.008, maxBeta = 0.999): Float64Array {
  const betas = new Float64Array(T);
  for (let t = 0; t < T; t++) betas[t] = Math.min(1 - cosineF((t + 1) / T, s) / cosineF(t / T, s), maxBeta);
  return betas;
}

/** Ho et al.'s linear schedule, scaled as improved-DDPM so any T spans the same noise: 1e-4 .. 0.02 at T = 1000. */
export function linearBetas(T: number): Float64Array {
  const scale = 1000 / T;
  const lo = scale * 1e-4;
  const hi = scale * 0.02;
  const betas = new Float64Array(T);
  for (let t = 0; t < T; t++) betas[t] = T === 1 ? lo : lo + ((hi - lo) * t) / (T - 1);
  return betas;
}

export function namedBetas(name: NoiseScheduleName, T: number): Float64Array {
  if (!Number.isInteger(T) || T < 1) throw new Error(`diffusion steps must be a positive integer, got ${T}`);
  switch (name) {
    case 'cosine':
      return cosineBetas(T);
    case 'linear':
      return linearBetas(T);
    default:
      throw new Error(`unknown noise schedule "${name as string}" (cosine, linear)`);
  }
}

/** Everything the forward process, the posterior and the reverse step need, per index t. */
export interface NoiseSchedule {
  readonly numTimesteps: number;
  readonly betas: Float64Array;
  /** alpha_bar_t = prod_{s<=t} (1 - beta_s) */
  readonly alphasCumprod: Float64Array;
  /** alpha_bar_{t-1}, with alpha_bar_{-1} = 1 */
  readonly alphasCumprodPrev: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  readonly logOneMinusAlphasCumprod: Float64Array;
  /** sqrt(1/alpha_bar_t) */
  readonly sqrtRecipAlphasCumprod: Float64Array;
  /** sqrt(1/alpha_bar_t - 1) */
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t); 0 at t = 0 */
  readonly posteriorVariance: Float64Array;
  /** log beta_tilde_t with beta_tilde_0 replaced by beta_tilde_1 (the log of 0 is not usable) */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** posterior mean = coef1 * x_0 + coef2 * x_t */
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
  /** log beta_t (the upper end of the learned variance range) */
  readonly logBetas: Float64Array;
}

/** The derived constants of a beta sequence (each beta in (0, 1]). */
export function noiseSchedule(betas: Float64Array | readonly number[]): NoiseSchedule {
  const T = betas.length;
  if (T < 1) throw new Error('a noise schedule needs at least one step');
  const b = Float64Array.from(betas);
  for (const v of b) if (!(v > 0 && v <= 1)) throw new Error(`betas must lie in (0, 1], got ${v}`);
  const map = (f: (t: number) => number): Float64Array => Float64Array.from({ length: T }, (_, t) => f(t));

  const alphasCumprod = new Float64Array(T);
  let prod = 1;
  for (let t = 0; t < T; t++) alphasCumprod[t] = prod *= 1 - b[t]!;
  const abar = (t: number): number => alphasCumprod[t]!;
  const abarPrev = (t: number): number => (t === 0 ? 1 : alphasCumprod[t - 1]!);

  const posteriorVariance = map((t) => (b[t]! * (1 - abarPrev(t))) / (1 - abar(t)));
  return {
    numTimesteps: T,
    betas: b,
    alphasCumprod,
    alphasCumprodPrev: map(abarPrev),
    sqrtAlphasCumprod: map((t) => Math.sqrt(abar(t))),
    sqrtOneMinusAlphasCumprod: map((t) => Math.sqrt(1 - abar(t))),
    logOneMinusAlphasCumprod: map((t) => Math.log(1 - abar(t))),
    sqrtRecipAlphasCumprod: map((t) => Math.sqrt(1 / abar(t))),
    sqrtRecipm1AlphasCumprod: map((t) => Math.sqrt(1 / abar(t) - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped: map((t) => Math.log(posteriorVariance[T > 1 && t === 0 ? 1 : t]!)),
    posteriorMeanCoef1: map((t) => (b[t]! * Math.sqrt(abarPrev(t))) / (1 - abar(t))),
    posteriorMeanCoef2: map((t) => ((1 - abarPrev(t)) * Math.sqrt(1 - b[t]!)) / (1 - abar(t))),
    logBetas: map((t) => Math.log(b[t]!)),
  };
}

/**
 * The 0-based timestep index of the paper's 1-based step t* (1..T): t* - 1. x_{t*} is
 * N(sqrt(alphasCumprod[t*-1]) x_0, 1 - alphasCumprod[t*-1]); this is the one place t* becomes an index.
 */
export function tStarIndex(tStar: number, T: number): number {
  if (!Number.isInteger(tStar) || tStar < 1 || tStar > T) throw new Error(`t* must be an integer in [1, ${T}], got ${tStar}`);
  return tStar - 1;
}

/** alpha_bar of paper step t (1 at t = 0, alphasCumprod[t-1] otherwise). */
export function alphaBarAt(alphasCumprod: Float64Array, t: number): number {
  const T = alphasCumprod.length;
  if (!Number.isInteger(t) || t < 0 || t > T) throw new Error(`step t must be an integer in [0, ${T}], got ${t}`);
  return t === 0 ? 1 : alphasCumprod[t - 1]!;
}

/**
 * The step t* (the paper's 1-based numbering: x_{t*} ~ N(sqrt(alphasCumprod[t*-1]) x_0, 1 - alphasCumprod[t*-1]))
 * of `schedule` whose alpha_bar is nearest to `alphaBar`: the step at which this schedule's forward
 * process has added the same amount of noise. This is how a purification level is carried from one
 * schedule to another (AVATAR's t* = 100 of the 1000-step linear VP schedule, alpha_bar 0.8970 and
 * noise std 0.321, is step 807 of the cosine schedule with T = 4000).
 */
export function tStarForNoiseLevel(alphaBar: number, schedule: NoiseSchedule): number {
  if (!(alphaBar > 0 && alphaBar < 1)) throw new Error(`alpha_bar must lie in (0, 1), got ${alphaBar}`);
  const a = schedule.alphasCumprod;
  // alpha_bar decreases with t: find the first index at or below the target, then take the nearer neighbour.
  let lo = 0;
  let hi = a.length - 1;
  if (alphaBar >= a[0]!) return 1;
  if (alphaBar <= a[hi]!) return a.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! > alphaBar) lo = mid;
    else hi = mid;
  }
  return (Math.abs(a[lo]! - alphaBar) <= Math.abs(a[hi]! - alphaBar) ? lo : hi) + 1;
}

/**
 * An 8-bit image noised to step t* of the cosine schedule with T steps in one draw,
 * x_t* = sqrt(alpha_bar) x + sqrt(1 - alpha_bar) eps in [-1, 1] units (seeded): what purification
 * starts from, shown in the demo's grid and the report's Fig. 4.
 */
export function noisedImage(image: Uint8Array, T: number, tStar: number, seed: number): Uint8Array {
  const abar = alphaBarAt(noiseSchedule(namedBetas('cosine', T)).alphasCumprod, tStar);
  const rng = new Rng(seed);
  const a = Math.sqrt(abar);
  const s = Math.sqrt(1 - abar);
  return image.map((v) => {
    const x = a * (v / 127.5 - 1) + s * rng.normal();
    return Math.min(255, Math.max(0, Math.round((x + 1) * 127.5)));
  });
}
