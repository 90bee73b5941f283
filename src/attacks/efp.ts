// EFP, EntF-push (Wen et al., ICLR 2023, "Is adversarial training really a silver bullet for
// mitigating data poisoning?"; WenRuiUSTC/EntF at f2230b5: train_reference_model.py,
// get_centroid.py, poison_generate.py, village/shop/forgemaster_push.py). A reference model is
// trained adversarially (PGD, 4/255, uniform start) on the clean data; the class centroids are
// the mean penultimate features of each class on the clean set (eval mode, no augmentation);
// every image is then pushed away from its own class centroid: signed PGD ascending
// MSE(features(x + delta), centroid[y]) with TAP's forge settings (step 0.05 eps, Gaussian
// start, differentiable shift+flip on every step). EntF targets adversarially trained victims:
// against standard training it is weak by design (ECLIPSE's table: 86.64% without defence).
import { join } from 'node:path';

import { noGrad, tidy, type Tensor } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import type { ClassifierRecipe, ProfileName } from '../profiles.js';
import { pgdAdversary } from '../training/adversarial.js';
import { randomShiftFlip } from './model/augment.js';
import { SignedStepAttack, type ModelAttackOptions } from './model/attack.js';
import { generatePerturbations, type PerturbBatch } from './model/generate.js';
import { centroidPushLoss, penultimateFeatures } from './model/losses.js';
import { pgd } from '../training/pgd.js';
import { classFeatureMeans, loadSurrogate, surrogateCheckpoint, surrogateRecipe, type Surrogate } from './model/surrogate.js';
import type { SettingTable } from '../settings.js';
import type { AttackParamValue, PrepareContext } from './types.js';

export const EFP_SETTINGS = {
  steps: { flag: 'steps', kind: 'int', min: 1, help: 'push steps (signed PGD)', profiles: { smoke: 4, mini: 60, paper: 300 } },
  stepFraction: { flag: 'step-fraction', kind: 'number', min: 0, max: 1, help: 'signed step as a fraction of eps', profiles: { smoke: 0.25, mini: 0.15, paper: 0.05 } },
  poisonBatch: { flag: 'poison-batch', kind: 'int', min: 1, help: 'images per generation batch', profiles: { smoke: 64, mini: 100, paper: 512 } },
  refEpochs: { flag: 'ref-epochs', kind: 'int', min: 1, help: "the adversarially trained reference model's epochs", profiles: { smoke: 2, mini: 30, paper: 100 } },
  refAdvEps: { flag: 'ref-adv-eps', kind: 'number', min: 0, max: 1, help: "the reference model's adversarial training radius ([0,1] units; 4/255)", profiles: { smoke: 4 / 255, mini: 4 / 255, paper: 4 / 255 } },
  refAdvSteps: { flag: 'ref-adv-steps', kind: 'int', min: 1, help: "the reference model's PGD steps per batch", profiles: { smoke: 1, mini: 2, paper: 10 } },
  refAdvStepFraction: { flag: 'ref-adv-step-fraction', kind: 'number', min: 0, max: 1, help: "the reference model's PGD step as a fraction of its radius (2/255 at 4/255)", profiles: { smoke: 0.5, mini: 0.5, paper: 0.5 } },
} as const satisfies SettingTable;

/** The reference model's run: the profile's classifier; paper: EntF's 100 epochs, lr x0.1 at 75 and 90, wd 5e-4. */
export function efpReferenceRecipe(profile: ProfileName, epochs: number): ClassifierRecipe {
  return surrogateRecipe(profile, epochs, { epochs: 100, milestones: [75, 90] });
}

export class EfpAttack extends SignedStepAttack<typeof EFP_SETTINGS> {
  readonly name = 'efp';
  readonly recipe: string;
  readonly params: Readonly<Record<string, AttackParamValue>>;

  constructor(o: ModelAttackOptions = {}) {
    super('efp', EFP_SETTINGS, o);
    const s = this.settings;
    if (!(s.refAdvEps > 0)) throw new Error(`efp attack: setting refAdvEps must be > 0 (the reference model is adversarially trained), got ${s.refAdvEps}`);
    this.params = this.paramsWith({
      objective: 'ascend MSE(features(x+delta), centroid[y]) (EntF-push)',
      init: 'gaussian*eps, clipped',
      augment: 'shift<=4px (integer) + hflip, every step',
      reference: `PGD adversarial training, ${s.refAdvSteps} steps of ${(s.refAdvStepFraction * s.refAdvEps * 255).toFixed(2)}/255 within ${(s.refAdvEps * 255).toFixed(2)}/255, uniform start, ${s.refEpochs} epochs`,
    });
    this.recipe =
      `EntF-push: ${s.steps} signed steps of ${this.stepSize.toPrecision(3)} pushing penultimate features away from their class centroid ` +
      `of an adversarially trained reference model, differentiable shift+flip (Wen et al. 2023, WenRuiUSTC/EntF)`;
  }

  async prepare(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void> {
    const s = this.settings;
    const ref = await surrogateCheckpoint(ds, seed, ctx, {
      given: this.surrogatePath, recipe: efpReferenceRecipe(this.profile, s.refEpochs), purpose: 'efp reference model (adversarial training)', dir: 'efp-reference',
      train: { adversary: pgdAdversary({ eps: s.refAdvEps, stepSize: s.refAdvStepFraction * s.refAdvEps, steps: s.refAdvSteps, randomStart: 'uniform' }) },
    });
    const model = await loadSurrogate(ref.path, { classes: ds.classes.length, device: ctx.device });
    let centroids: Tensor | null = null;
    try {
      centroids = classFeatureMeans(model, ds, ctx.device).keep();
      const res = await generatePerturbations(ds, this.perturbBatch(model, centroids), {
        key: { attack: this.name, params: this.params, reference: ref.sha256 },
        seed, batchSize: s.poisonBatch, checkpoint: join(ctx.workDir, 'efp-perturbation.safetensors'),
        device: ctx.device, label: 'efp', quiet: ctx.quiet, signal: ctx.signal, log: ctx.log,
      });
      this.store(ds, seed, res.delta, { reference: ref.describe });
    } finally {
      model.dispose();
      centroids?.dispose();
    }
  }

  /** One batch: descend minus the squared distance to the own-class centroid. */
  perturbBatch(model: Surrogate, centroids: Tensor): PerturbBatch {
    return ({ x, labels, generator }) => {
      const delta = pgd(
        x,
        (p) => centroidPushLoss(penultimateFeatures(model.model, randomShiftFlip(p, generator)), centroids, labels),
        { norm: 'linf', eps: this.bound.epsilon, stepSize: this.stepSize, steps: this.settings.steps, direction: 'descent', randomStart: 'gaussian', generator },
      );
      const dist = tidy(() => noGrad(() => -centroidPushLoss(penultimateFeatures(model.model, x.add(delta)), centroids, labels).item()));
      return { delta, fields: { 'centroid dist': dist.toFixed(3) } };
    };
  }
}
