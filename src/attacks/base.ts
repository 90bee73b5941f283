// The shared part of every attack: add each image's perturbation, clamp, quantise to 8 bits,
// measure the applied perturbation, check the bounds and record provenance in the metadata.

import { imageSize, validateDataset, type ImageDataset } from '../data/dataset.js';
import { StatsAccumulator } from '../metrics/perturbation.js';
import {
  checkBound, describeBound, fmt, validateBound,
  type Attack, type AttackParamValue, type DatasetShape, type PerturbationBound, type PerturbationGenerator,
  type PoisonOptions, type PoisonResult, type Quantization,
} from './types.js';

/** Metadata keys poison() may write (source_seed only when the clean set had a seed, ar_coefficients only for AR, attack_setting/attack_notes only for model-based attacks, l0_pixels/ops_pixels for OPS, cuda_filters/psnr_mean/ssim_mean for CUDA). */
export const POISON_META_KEYS = [
  'attack', 'attack_params', 'attack_recipe', 'norm', 'epsilon', 'seed', 'quantization',
  'linf_max', 'linf_mean', 'l2_max', 'l2_mean', 'l2_nominal_mean', 'linf_nominal_max',
  'clamped_fraction', 'bounds_checked', 'stats_units', 'source', 'source_seed', 'ar_coefficients', 'attack_setting', 'attack_notes',
  'l0_pixels', 'ops_pixels', 'cuda_filters', 'psnr_mean', 'ssim_mean',
] as const;

export function checkSeed(seed: number, what: string): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`${what}: seed must be a non-negative integer, got ${seed}`);
}

export function checkQuantization(q: Quantization, what: string): void {
  if (q !== 'round' && q !== 'floor') throw new Error(`${what}: quantization must be "round" or "floor", got ${JSON.stringify(q)}`);
}

/** Round x (already clamped to [0,255]) to a byte. Values within 1e-9 of an integer snap to it first. */
function quantize(v: number, q: Quantization): number {
  const r = Math.round(v);
  if (Math.abs(v - r) < 1e-9) return r;
  return q === 'round' ? Math.floor(v + 0.5) : Math.floor(v);
}

export abstract class BaseAttack implements Attack {
  abstract readonly name: string;
  abstract readonly recipe: string;
  abstract readonly bound: PerturbationBound;
  abstract readonly quantization: Quantization;
  abstract readonly params: Readonly<Record<string, AttackParamValue>>;

  abstract generator(ds: DatasetShape, seed: number): PerturbationGenerator;

  /** Attack-specific provenance added to the poisoned dataset's metadata. */
  protected extraMeta(_ds: DatasetShape, _seed: number): Record<string, string> {
    return {};
  }

  apply(ds: ImageDataset, seed: number, opts?: PoisonOptions): ImageDataset {
    return this.poison(ds, seed, opts).dataset;
  }

  poison(ds: ImageDataset, seed: number, opts: PoisonOptions = {}): PoisonResult {
    const what = `${this.name} attack`;
    checkSeed(seed, what);
    validateDataset(ds, what);
    validateBound(this.bound, what);
    for (const b of opts.bounds ?? []) validateBound(b, `${what}: requested bound`);
    if (ds.meta.attack !== undefined && !opts.allowRepoison) {
      throw new Error(`${what}: the dataset is already poisoned (metadata attack=${ds.meta.attack}); poison the clean set instead`);
    }
    const per = imageSize(ds);
    const gen = this.generator(ds, seed);
    const images = new Uint8Array(ds.images.length);
    const delta = new Float64Array(per);
    const nominal = new StatsAccumulator();
    const applied = new StatsAccumulator();
    const q = this.quantization;
    let clamped = 0;
    for (let i = 0; i < ds.n; i++) {
      delta.fill(0);
      const o = i * per;
      gen.perturbation(i, ds.labels[i], delta, ds.images.subarray(o, o + per));
      nominal.addUnit(delta);
      let linf = 0;
      let ss = 0;
      for (let p = 0; p < per; p++) {
        const x = ds.images[o + p];
        let v = x + 255 * delta[p];
        if (!(v > 0)) {
          if (Number.isNaN(v)) throw new Error(`${what}: perturbation of image ${i} is NaN at element ${p}`);
          if (v < 0) clamped++;
          v = 0;
        } else if (v > 255) {
          clamped++;
          v = 255;
        }
        const y = quantize(v, q);
        images[o + p] = y;
        const d = y - x;
        const a = d < 0 ? -d : d;
        if (a > linf) linf = a;
        ss += d * d;
      }
      applied.add(linf, Math.sqrt(ss) / 255);
    }
    const nominalStats = nominal.result();
    const stats = applied.result();
    // The generator must honour the attack's own bound (a bug otherwise) ...
    checkBound(nominalStats, this.bound, null, per, what);
    // ... and the applied perturbation that bound up to quantisation, plus every requested bound.
    const checkedBounds = [this.bound, ...(opts.bounds ?? [])];
    for (const b of checkedBounds) checkBound(stats, b, q, per, what);
    const clampedFraction = ds.n ? clamped / (ds.n * per) : 0;
    const meta: Record<string, string> = {
      ...ds.meta,
      attack: this.name,
      attack_params: JSON.stringify(this.params),
      attack_recipe: this.recipe,
      norm: this.bound.norm,
      epsilon: String(this.bound.epsilon),
      seed: String(seed),
      quantization: q,
      linf_max: fmt(stats.linfMax),
      linf_mean: fmt(stats.linfMean),
      l2_max: fmt(stats.l2Max),
      l2_mean: fmt(stats.l2Mean),
      l2_nominal_mean: fmt(nominalStats.l2Mean),
      linf_nominal_max: fmt(nominalStats.linfMax),
      clamped_fraction: fmt(clampedFraction),
      bounds_checked: checkedBounds.map(describeBound).join('; '),
      stats_units: 'linf_* in 1/255 steps; l2_* and epsilon in [0,1] pixel units; stats of the applied uint8 perturbation unless *_nominal_*',
      source: ds.meta.source ?? 'unknown',
      ...this.extraMeta(ds, seed),
    };
    // `seed` now names the attack's seed; keep the clean set's own seed (e.g. its split seed).
    if (ds.meta.seed !== undefined) meta.source_seed = ds.meta.seed;
    const dataset: ImageDataset = {
      images, labels: ds.labels.slice(), n: ds.n, channels: 3, height: ds.height, width: ds.width,
      classes: ds.classes.slice(), meta,
    };
    return { dataset, stats, nominal: nominalStats, clampedFraction, checkedBounds };
  }
}

/** Scale `v` in place to L2 norm `target`; returns the norm it had. Throws on a zero or non-finite norm. */
export function scaleToL2(v: Float64Array, target: number, what: string): number {
  let ss = 0;
  for (let p = 0; p < v.length; p++) ss += v[p] * v[p];
  const norm = Math.sqrt(ss);
  if (!(norm > 0 && Number.isFinite(norm))) throw new Error(`${what}: cannot scale a perturbation of norm ${norm} to L2 ${target}`);
  const s = target / norm;
  for (let p = 0; p < v.length; p++) v[p] *= s;
  return norm;
}
