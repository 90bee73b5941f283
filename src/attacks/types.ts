// Common types of the model-agnostic poisoning attacks and the perturbation bound check.
//
// Units: a perturbation `delta` is given in [0,1] pixel units (as in the attacks' PyTorch code,
// where images are ToTensor()'d to [0,1]). The stored dataset is uint8, so the applied
// perturbation is Q(clamp(x + 255*delta, 0, 255)) - x with Q the attack's 8-bit quantisation.
// Statistics report L_inf in 1/255 steps (8 means 8/255) and L2 in [0,1] pixel units.

import type { ImageDataset } from '../data/dataset.js';
import type { PerturbationStats } from '../metrics/perturbation.js';
import type { Device, RunContext } from '../engine/index.js';

export type PerturbationNorm = 'linf' | 'l2';

/**
 * 8-bit quantisation after adding the perturbation and clamping to [0,255]:
 * - 'floor': truncation, as numpy's `.astype(np.uint8)` on the clipped float array (URP, LSP originals);
 * - 'round': round half up, as `x.mul(255).add_(0.5).clamp_(0,255).to(torch.uint8)` (AR original).
 */
export type Quantization = 'round' | 'floor';

/** A norm ball: ||delta||_norm <= epsilon, epsilon in [0,1] pixel units (8/255 = 0.0314 for L_inf). */
export interface PerturbationBound {
  norm: PerturbationNorm;
  epsilon: number;
}

/** What an attack needs to know about the dataset to build its perturbations. */
export type DatasetShape = Pick<ImageDataset, 'n' | 'channels' | 'height' | 'width' | 'classes' | 'labels'>;

/** Produces the continuous perturbation of each image (random access, deterministic for its seed). */
export interface PerturbationGenerator {
  /**
   * Write image `index`'s perturbation (its label is `label`) into `out` (length 3*H*W, CHW planar,
   * [0,1] pixel units), before clamping and quantisation. `image` is the clean image (CHW, bytes):
   * the attacks that set pixels or filter the image (OPS, CUDA) read it; additive noise does not.
   */
  perturbation(index: number, label: number, out: Float64Array, image: Uint8Array): void;
}

export type AttackParamValue = string | number | boolean;

export interface PoisonOptions {
  /** Extra bounds the applied (quantised, clamped) perturbation must satisfy; violated -> throw. */
  bounds?: readonly PerturbationBound[];
  /** Allow poisoning a dataset whose metadata already names an attack (default false: throw). */
  allowRepoison?: boolean;
}

export interface PoisonResult {
  /** The poisoned dataset: same labels and classes, metadata extended with the provenance keys. */
  dataset: ImageDataset;
  /** Applied perturbation (after clamping and 8-bit quantisation), L_inf in 1/255 steps, L2 in [0,1] units. */
  stats: PerturbationStats;
  /** The continuous perturbation the attack generated (before clamping and quantisation). */
  nominal: PerturbationStats;
  /** Fraction of pixels whose value was clamped to 0 or 255. */
  clampedFraction: number;
  /** Bounds checked on `stats` (the attack's own bound first, then the requested ones). */
  checkedBounds: PerturbationBound[];
}

/** What a model-based attack's prepare() may use: a work folder for its caches, progress, a stop signal. */
export interface PrepareContext extends RunContext {
  /** folder for the attack's resumable state (surrogate run, generation checkpoint) */
  workDir: string;
  device?: Device;
}

export interface Attack {
  readonly name: string;
  /** One line: the recipe and where it comes from. */
  readonly recipe: string;
  /** The attack's own bound: the continuous perturbation satisfies it (L2 attacks: equals it). */
  readonly bound: PerturbationBound;
  readonly quantization: Quantization;
  /** Every setting that determines the output (besides the seed), for provenance metadata. */
  readonly params: Readonly<Record<string, AttackParamValue>>;
  /**
   * Model-based attacks only: compute (or resume) the perturbations of `ds` for `seed` before
   * generator()/poison() are called with the same dataset and seed.
   */
  prepare?(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void>;
  /** Build the per-image perturbation generator for this dataset and seed. */
  generator(ds: DatasetShape, seed: number): PerturbationGenerator;
  /** Poison `ds` (a new dataset is returned; `ds` is not modified) and report the perturbation. */
  poison(ds: ImageDataset, seed: number, opts?: PoisonOptions): PoisonResult;
  /** `poison(...).dataset`. */
  apply(ds: ImageDataset, seed: number, opts?: PoisonOptions): ImageDataset;
}

/** "8/255" style text for an epsilon in [0,1] units when it is a whole number of 1/255 steps. */
export function describeEpsilon(eps: number): string {
  const s = eps * 255;
  const r = Math.round(s);
  return Math.abs(s - r) < 1e-9 ? `${r}/255` : String(eps);
}

/** "L_inf <= 8/255" or "L2 <= 1.304132" ([0,1] pixel units). */
export function describeBound(b: PerturbationBound): string {
  return b.norm === 'linf' ? `L_inf <= ${describeEpsilon(b.epsilon)}` : `L2 <= ${fmt(b.epsilon)}`;
}

/** Parse "8/255", "0.0314" or "8/255"-like fractions into a number in [0,1] units. */
export function parseEpsilon(text: string): number {
  const t = text.trim();
  const m = /^([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*(?:\/\s*([0-9]*\.?[0-9]+))?$/i.exec(t);
  if (!m) throw new Error(`cannot read epsilon "${text}": expected a number such as 0.0314 or a fraction such as 8/255`);
  const v = m[2] === undefined ? Number(m[1]) : Number(m[1]) / Number(m[2]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`epsilon must be a positive finite number, got "${text}"`);
  return v;
}

/** Parse "linf:8/255" or "l2:1.0" into a bound. */
export function parseBound(text: string): PerturbationBound {
  const m = /^\s*(linf|l2)\s*[:=]\s*(.+)$/i.exec(text);
  if (!m) throw new Error(`cannot read bound "${text}": expected linf:EPS or l2:EPS, e.g. linf:8/255`);
  return { norm: m[1].toLowerCase() as PerturbationNorm, epsilon: parseEpsilon(m[2]) };
}

export function validateBound(b: PerturbationBound, what: string): void {
  if (b.norm !== 'linf' && b.norm !== 'l2') throw new Error(`${what}: norm must be "linf" or "l2", got ${JSON.stringify(b.norm)}`);
  if (!(Number.isFinite(b.epsilon) && b.epsilon > 0)) throw new Error(`${what}: epsilon must be a positive finite number, got ${b.epsilon}`);
}

/**
 * Largest value the applied perturbation may reach when the continuous one satisfies `bound`.
 * Clamping to [0,255] never increases |delta|; quantisation can:
 * - L_inf (in 1/255 steps, exact integers): round -> floor(255*eps + 1/2); floor -> ceil(255*eps).
 *   For eps = 8/255 both give 8: the 8/255 bound holds exactly after quantisation.
 * - L2 ([0,1] units): eps + s*sqrt(pixels)/255 with s = 1/2 (round) or 1 (floor), the worst-case
 *   L2 of the quantisation error (e.g. +0.108 / +0.217 for 3x32x32).
 */
export function quantizedAllowance(bound: PerturbationBound, quantization: Quantization, pixelsPerImage: number): number {
  const e255 = bound.epsilon * 255;
  if (bound.norm === 'linf') {
    // The 1e-6 absorbs float error in eps*255 (8/255*255 is not exactly 8 in binary).
    return quantization === 'round' ? Math.floor(e255 + 0.5 + 1e-6) : Math.ceil(e255 - 1e-6);
  }
  const s = quantization === 'round' ? 0.5 : 1;
  return bound.epsilon + (s * Math.sqrt(pixelsPerImage)) / 255 + 1e-9;
}

/**
 * Throw if `stats` exceed `bound`. `quantization` null: `stats` describe the continuous perturbation
 * (checked against epsilon itself, relative tolerance 1e-9); otherwise the applied uint8 one
 * (checked against quantizedAllowance).
 */
export function checkBound(
  stats: PerturbationStats,
  bound: PerturbationBound,
  quantization: Quantization | null,
  pixelsPerImage: number,
  what: string,
): void {
  validateBound(bound, what);
  const kind = quantization === null ? 'generated (continuous)' : `applied (clamped, 8-bit ${quantization})`;
  if (bound.norm === 'linf') {
    const limit = quantization === null ? bound.epsilon * 255 * (1 + 1e-9) : quantizedAllowance(bound, quantization, pixelsPerImage);
    if (!(stats.linfMax <= limit)) {
      throw new Error(
        `${what}: ${kind} perturbation exceeds the requested bound ${describeBound(bound)}: ` +
          `max L_inf is ${fmt(stats.linfMax)}/255 (allowed ${fmt(limit)}/255) over ${stats.n} images`,
      );
    }
  } else {
    const limit = quantization === null ? bound.epsilon * (1 + 1e-9) : quantizedAllowance(bound, quantization, pixelsPerImage);
    if (!(stats.l2Max <= limit)) {
      throw new Error(
        `${what}: ${kind} perturbation exceeds the requested bound ${describeBound(bound)}: ` +
          `max L2 is ${fmt(stats.l2Max)} (allowed ${fmt(limit)}) over ${stats.n} images`,
      );
    }
  }
}

/** Compact number text for metadata and messages (7 significant digits). */
export function fmt(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(7))) : String(x);
}
