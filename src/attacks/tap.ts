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
import { join } from 'node:path';

import { noGrad, tidy, type Tensor } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { classifierProfile, type ClassifierRecipe, type ProfileName } from '../profiles.js';
import { randomShiftFlip } from './model/augment.js';
import { SignedStepAttack, type ModelAttackOptions } from './model/attack.js';
import { generatePerturbations, type PerturbBatch } from './model/generate.js';
import { shiftedTargets, targetedCrossEntropy } from './model/losses.js';
import { pgd } from '../training/pgd.js';
import { loadSurrogate, surrogateCheckpoint, surrogateRecipe, type Surrogate } from './model/surrogate.js';
import type { SettingTable } from '../settings.js';
import type { AttackParamValue, PrepareContext } from './types.js';

/** TAP's settings (attacks-facts.md: the release's defaults are paper; mini is the facts file's cheap variant). */
export const TAP_SETTINGS = {
  steps: { flag: 'steps', kind: 'int', min: 0, help: 'PGD steps per restart', profiles: { smoke: 10, mini: 50, paper: 250 } },
  restarts: { flag: 'restarts', kind: 'int', min: 1, help: 'random restarts; the lowest mean target loss is kept', profiles: { smoke: 1, mini: 1, paper: 8 } },
  stepFraction: { flag: 'step-fraction', kind: 'number', min: 0, max: 1, help: 'signed step as a fraction of eps', profiles: { smoke: 0.1, mini: 0.1, paper: 0.05 } },
  poisonBatch: { flag: 'poison-batch', kind: 'int', min: 1, help: 'images per generation batch', profiles: { smoke: 64, mini: 100, paper: 512 } },
} as const satisfies SettingTable;

export interface TapOptions extends ModelAttackOptions {
  /** the recipe of the surrogate trained when none is given (default: tapSurrogateRecipe(profile)) */
  surrogateRecipe?: ClassifierRecipe;
}

/**
 * The surrogate TAP trains when none is given: the profile's classifier, at paper TAP's own
 * recipe (ResNet-18, 40 epochs, SGD 0.1, wd 5e-4, batch 128, lr x0.1 at 14/25/35).
 */
export function tapSurrogateRecipe(name: ProfileName): ClassifierRecipe {
  return surrogateRecipe(name, name === 'paper' ? 40 : classifierProfile(name).epochs, { epochs: 40, milestones: [14, 25, 35] });
}

/** TAP's target permutation: (y + 1) mod K. */
const TARGET_SHIFT = 1;

export class TapAttack extends SignedStepAttack<typeof TAP_SETTINGS> {
  readonly name = 'tap';
  readonly recipe: string;
  readonly params: Readonly<Record<string, AttackParamValue>>;
  private readonly surrogateRecipe: ClassifierRecipe;

  constructor(o: TapOptions = {}) {
    super('tap', TAP_SETTINGS, o);
    const s = this.settings;
    this.surrogateRecipe = o.surrogateRecipe ?? tapSurrogateRecipe(this.profile);
    this.params = this.paramsWith({
      target: '(y+1) mod K',
      init: 'gaussian*eps, clipped',
      augment: 'shift<=4px (integer) + hflip, every step',
      restart_selection: 'per batch, lowest mean target loss',
    });
    this.recipe =
      `targeted L_inf PGD to (y+1) mod K on a surrogate, ${s.restarts} restart(s) x ${s.steps} signed steps of ${this.stepSize.toPrecision(3)}, ` +
      `Gaussian start, differentiable shift+flip (Fowl et al. 2021, lhfowl/adversarial_poisons)`;
  }

  async prepare(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void> {
    if (ds.classes.length < 2) throw new Error(`tap attack: the dataset has ${ds.classes.length} class; a targeted attack needs at least 2`);
    const sur = await surrogateCheckpoint(ds, seed, ctx, { given: this.surrogatePath, recipe: this.surrogateRecipe, purpose: 'tap surrogate' });
    const surrogate = await loadSurrogate(sur.path, { classes: ds.classes.length, device: ctx.device });
    try {
      const res = await generatePerturbations(ds, this.perturbBatch(surrogate), {
        key: { attack: this.name, params: this.params, surrogate: sur.sha256 },
        seed, batchSize: this.settings.poisonBatch, checkpoint: join(ctx.workDir, 'tap-perturbation.safetensors'),
        device: ctx.device, label: 'tap', quiet: ctx.quiet, signal: ctx.signal, log: ctx.log,
      });
      this.store(ds, seed, res.delta, { surrogate: sur.describe });
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
        for (let r = 0; r < this.settings.restarts; r++) {
          const delta = pgd(
            x,
            (p) => targetedCrossEntropy(surrogate.logits(randomShiftFlip(p, generator)), targets),
            { norm: 'linf', eps: this.bound.epsilon, stepSize: this.stepSize, steps: this.settings.steps, direction: 'descent', randomStart: 'gaussian', generator },
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
}
