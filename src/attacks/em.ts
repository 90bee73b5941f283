// EM, sample-wise error-minimising noise (Huang et al. 2021, "Unlearnable examples: making
// personal data unexploitable"; HanxunH/Unlearnable-Examples, perturbation.py and toolbox.py at
// f347155). A fresh surrogate and the noise are optimised in turn: 10 SGD steps of the surrogate
// on the noised images, then signed PGD steps minimising the cross-entropy of every image (eval
// mode, warm-started from its stored noise), until the surrogate classifies more than 99% of the
// noised set correctly. The full noise is added and the image clamped (the release's loaders
// clamp the noise itself to [0, 255] and lose its negative half, issue #13: not done here).

import { Generator, type Tensor } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { createClassifier } from '../nn/models/index.js';
import { classifierProfile } from '../profiles.js';
import { SignedStepAttack, type ModelAttackOptions } from './model/attack.js';
import { minMinRecipeOf, type Learner, type MinMinRecipe } from './model/minmin.js';
import type { SettingTable } from '../settings.js';
import type { AttackParamValue, PrepareContext } from './types.js';

/**
 * EM's settings. paper: the release's sample-wise CIFAR-10 run (20 steps of 0.8/255, surrogate
 * batch 512); mini: APBench's EM (5 steps of 1.6/255, batch 128), with a cap on the loops.
 */
export const EM_SETTINGS = {
  steps: { flag: 'steps', kind: 'int', min: 1, help: 'PGD steps per image per loop', profiles: { smoke: 2, mini: 5, paper: 20 } },
  stepFraction: { flag: 'step-fraction', kind: 'number', min: 0, max: 1, help: 'signed step as a fraction of eps', profiles: { smoke: 0.2, mini: 0.2, paper: 0.1 } },
  trainSteps: { flag: 'train-steps', kind: 'int', min: 1, help: 'surrogate SGD steps per loop', profiles: { smoke: 10, mini: 10, paper: 10 } },
  trainBatch: { flag: 'train-batch', kind: 'int', min: 1, help: "surrogate's batch size", profiles: { smoke: 32, mini: 128, paper: 512 } },
  stopAccuracy: { flag: 'stop-accuracy', kind: 'number', min: 0, max: 1, help: "stop when the surrogate's accuracy on the noised set exceeds this", profiles: { smoke: 0.99, mini: 0.99, paper: 0.99 } },
  maxLoops: { flag: 'max-loops', kind: 'int', min: 1, help: 'give up after this many loops (the last noise is used)', profiles: { smoke: 3, mini: 20, paper: 100 } },
  poisonBatch: { flag: 'poison-batch', kind: 'int', min: 1, help: 'images per PGD batch (speed only)', profiles: { smoke: 64, mini: 500, paper: 512 } },
} as const satisfies SettingTable;

export class EmAttack extends SignedStepAttack<typeof EM_SETTINGS> {
  readonly name = 'em';
  readonly recipe: string;
  readonly params: Readonly<Record<string, AttackParamValue>>;

  constructor(o: ModelAttackOptions = {}) {
    super('em', EM_SETTINGS, o, { noSurrogate: 'the surrogate is trained with the noise from a fresh initialisation' });
    const s = this.settings;
    this.params = this.paramsWith({
      surrogate: `${classifierProfile(this.profile).model} width ${classifierProfile(this.profile).width}, fresh, SGD 0.1 m0.9 wd 5e-4, clip 5, no augmentation`,
      pgd: 'eval mode, zero start then warm start, descent on CE',
    });
    this.recipe =
      `sample-wise error-minimising noise: ${s.trainSteps} surrogate steps then ${s.steps} signed steps of ${this.stepSize.toPrecision(3)} per loop, ` +
      `until the surrogate fits ${100 * s.stopAccuracy}% of the noised set (Huang et al. 2021, HanxunH/Unlearnable-Examples)`;
  }

  /** The min-min recipe of these settings (the surrogate's optimiser as in the release). */
  minMinRecipe(): MinMinRecipe {
    return minMinRecipeOf(this.settings, this.bound.epsilon, this.stepSize);
  }

  async prepare(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void> {
    if (ds.classes.length < 2) throw new Error(`em attack: the dataset has ${ds.classes.length} class; error-minimising noise needs at least 2`);
    const c = classifierProfile(this.profile);
    const model = createClassifier(c.model, { width: c.width, numClasses: ds.classes.length, generator: new Generator(seed), device: ctx.device });
    model.to(undefined, 'channels_last');
    const learner: Learner = { model, logits: (x: Tensor) => model.forward(x.contiguous('channels_last')) };
    try {
      await this.minMin(ds, seed, ctx, learner, this.minMinRecipe());
    } finally {
      model.dispose();
    }
  }
}
