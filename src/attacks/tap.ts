// TAP, targeted adversarial poisoning (Fowl et al. 2021, "Adversarial examples make strong
// poisons"; lhfowl/adversarial_poisons): every training image is pushed by targeted L_inf PGD
// towards class (y+1) mod K of a surrogate trained on the clean data. Recipe (attacks-facts.md):
// eps 8/255, signed steps of 0.05 eps, Gaussian*eps start clipped to the ball, differentiable
// shift+flip on every step, surrogate in eval mode, several restarts keeping the one with the
// lowest mean target loss.
//
// Deviation: the release keeps the best restart for the whole set; here it is chosen per
// generation batch, because batches are checkpointed one by one (keeping all restarts of the
// whole set until the end would multiply the resumable state by the restart count).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { noGrad, tidy, type Tensor } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { tapProfile, tapSurrogateRecipe, type ClassifierRecipe, type ProfileName } from '../profiles.js';
import { trainClassifier } from '../training/trainer.js';
import { BaseAttack, checkQuantization } from './base.js';
import { randomShiftFlip } from './model/augment.js';
import { datasetDigest, generatePerturbations, type PerturbBatch } from './model/generate.js';
import { shiftedTargets, targetedCrossEntropy } from './model/losses.js';
import { pgd } from './model/pgd.js';
import { loadSurrogate, type Surrogate } from './model/surrogate.js';
import {
  type AttackParamValue, type DatasetShape, type PerturbationBound, type PerturbationGenerator, type PrepareContext, type Quantization,
} from './types.js';

export interface TapOptions {
  /** L_inf radius in [0,1] units (default 8/255) */
  epsilon?: number;
  /** default 'round' (half up) */
  quantization?: Quantization;
  /** the scale setting the defaults below come from (default 'paper') */
  profile?: ProfileName;
  steps?: number;
  restarts?: number;
  /** images per generation batch */
  poisonBatch?: number;
  /** a trained classifier checkpoint; without one a surrogate is trained on the clean data */
  surrogate?: string;
  /** the recipe of that trained surrogate (default: tapSurrogateRecipe(profile)) */
  surrogateRecipe?: ClassifierRecipe;
}

/** Result of prepare(): the perturbation of one dataset and seed. */
interface Prepared {
  digest: string;
  seed: number;
  delta: Float32Array;
  surrogate: string;
}

/** TAP's target permutation: (y + 1) mod K. */
const TARGET_SHIFT = 1;

export class TapAttack extends BaseAttack {
  readonly name = 'tap';
  readonly recipe: string;
  readonly bound: PerturbationBound;
  readonly quantization: Quantization;
  readonly params: Readonly<Record<string, AttackParamValue>>;
  readonly steps: number;
  readonly restarts: number;
  readonly stepSize: number;
  readonly poisonBatch: number;
  readonly setting: string;
  private readonly surrogatePath: string | undefined;
  private readonly surrogateRecipe: ClassifierRecipe;
  private prepared: Prepared | null = null;

  constructor(o: TapOptions = {}) {
    super();
    const profile = o.profile ?? 'paper';
    const base = tapProfile(profile);
    const eps = o.epsilon ?? 8 / 255;
    this.steps = o.steps ?? base.steps;
    this.restarts = o.restarts ?? base.restarts;
    this.poisonBatch = o.poisonBatch ?? base.batchSize;
    for (const [k, v, min] of [['steps', this.steps, 0], ['restarts', this.restarts, 1], ['poison batch', this.poisonBatch, 1]] as const)
      if (!Number.isInteger(v) || v < min) throw new Error(`tap attack: ${k} must be an integer >= ${min}, got ${v}`);
    this.stepSize = base.stepFraction * eps;
    this.bound = { norm: 'linf', epsilon: eps };
    this.quantization = o.quantization ?? 'round';
    checkQuantization(this.quantization, 'tap attack');
    const overridden = o.steps !== undefined || o.restarts !== undefined || o.poisonBatch !== undefined;
    this.setting = overridden ? `${profile} with overrides: ${this.restarts} restarts x ${this.steps} steps, batch ${this.poisonBatch}` : base.setting;
    this.surrogatePath = o.surrogate;
    this.surrogateRecipe = o.surrogateRecipe ?? tapSurrogateRecipe(profile);
    this.params = {
      epsilon: eps,
      steps: this.steps,
      restarts: this.restarts,
      step_size: this.stepSize,
      poison_batch: this.poisonBatch,
      target: '(y+1) mod K',
      init: 'gaussian*eps, clipped',
      augment: 'shift<=4px (integer) + hflip, every step',
      restart_selection: 'per batch, lowest mean target loss',
      setting: this.setting,
    };
    this.recipe =
      `targeted L_inf PGD to (y+1) mod K on a surrogate, ${this.restarts} restart(s) x ${this.steps} signed steps of ${this.stepSize.toPrecision(3)}, ` +
      `Gaussian start, differentiable shift+flip (Fowl et al. 2021, lhfowl/adversarial_poisons)`;
  }

  /** The surrogate checkpoint: the given file, or one trained (and cached) under workDir. */
  private async surrogateFile(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<string> {
    if (this.surrogatePath !== undefined) return this.surrogatePath;
    const outDir = join(ctx.workDir, 'surrogate');
    ctx.log?.(`tap: training a surrogate (${this.surrogateRecipe.model} width ${this.surrogateRecipe.width}, ${this.surrogateRecipe.epochs} epochs) in ${outDir}`);
    // The clean set doubles as the evaluation set: the attacker has no other labelled data here,
    // and the reported accuracy is only a sanity check of the surrogate.
    await trainClassifier(ds, ds, {
      recipe: this.surrogateRecipe, seed, outDir, resume: 'auto', device: ctx.device, quiet: ctx.quiet, signal: ctx.signal,
      tags: { purpose: 'tap surrogate', data: datasetDigest(ds) },
    });
    return join(outDir, 'checkpoint.safetensors');
  }

  async prepare(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void> {
    const file = await this.surrogateFile(ds, seed, ctx);
    // The checkpoint's bytes identify the surrogate: another model means another generation.
    const surrogateSha = createHash('sha256').update(await readFile(file)).digest('hex');
    const surrogate = await loadSurrogate(file, { classes: ds.classes.length, device: ctx.device });
    try {
      const res = await generatePerturbations(ds, this.perturbBatch(surrogate), {
        key: { attack: this.name, params: this.params, surrogate: surrogateSha },
        seed, batchSize: this.poisonBatch, checkpoint: join(ctx.workDir, 'tap-perturbation.safetensors'),
        device: ctx.device, label: 'tap', quiet: ctx.quiet, signal: ctx.signal, log: ctx.log,
      });
      this.prepared = { digest: datasetDigest(ds), seed, delta: res.delta, surrogate: `${file} (sha256 ${surrogateSha.slice(0, 16)})` };
    } finally {
      surrogate.dispose();
    }
  }

  /** One batch: `restarts` targeted PGD runs, the one with the lowest mean target loss kept. */
  perturbBatch(surrogate: Surrogate): PerturbBatch {
    return ({ x, labels, generator }) => {
      const targets = shiftedTargets(labels, surrogate.classes, TARGET_SHIFT);
      let best: Tensor | null = null;
      let bestLoss = Infinity;
      try {
        for (let r = 0; r < this.restarts; r++) {
          const delta = pgd(
            x,
            (p) => targetedCrossEntropy(surrogate.logits(randomShiftFlip(p, generator)), targets),
            { norm: 'linf', eps: this.bound.epsilon, stepSize: this.stepSize, steps: this.steps, direction: 'descent', randomStart: 'gaussian', generator },
          );
          // Restarts are compared on the unaugmented images, as the release's target loss.
          const loss = tidy(() => noGrad(() => targetedCrossEntropy(surrogate.logits(x.add(delta)), targets).item()));
          if (loss < bestLoss || best === null) {
            best?.dispose();
            best = delta;
            bestLoss = loss;
          } else delta.dispose();
        }
      } finally {
        targets.dispose();
      }
      return { delta: best!, fields: { 'target loss': bestLoss.toFixed(3) } };
    };
  }

  generator(ds: DatasetShape, seed: number): PerturbationGenerator {
    const p = this.prepared;
    if (p === null || p.seed !== seed || p.delta.length !== ds.n * 3 * ds.height * ds.width)
      throw new Error('tap attack: the perturbations of this dataset and seed are not computed yet (await prepare(ds, seed, ...) first)');
    if ('images' in ds && p.digest !== datasetDigest(ds as ImageDataset))
      throw new Error('tap attack: prepare() ran on a different dataset');
    const per = 3 * ds.height * ds.width;
    const eps = this.bound.epsilon;
    return {
      perturbation(i: number, _label: number, out: Float64Array): void {
        const o = i * per;
        // float32 storage can put a value one ulp beyond eps (eps itself is not a float32): clip.
        for (let q = 0; q < per; q++) {
          const v = p.delta[o + q]!;
          out[q] = v > eps ? eps : v < -eps ? -eps : v;
        }
      },
    };
  }

  protected override extraMeta(): Record<string, string> {
    return { tap_setting: this.setting, tap_surrogate: this.prepared?.surrogate ?? 'unknown' };
  }
}
