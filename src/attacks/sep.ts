// SEP, self-ensemble protection (Chen et al., ICLR 2023, "Self-ensemble protection: training
// checkpoints are good data protectors"; Sizhe-Chen/SEP at 02519d8, vanilla.py, ens.py,
// ens_feature.py). One surrogate training run on the clean data keeps K checkpoints; every
// image is then pushed by signed PGD towards class (y+5) mod K with the gradient averaged over
// the K checkpoints: cross-entropy to the target (SEP, ens.py) or, with variant "fa", the
// squared distance of the penultimate features to the target class's mean feature, the means
// computed per checkpoint on the clean set in eval mode (SEP-FA, ens_feature.py).
//
// Choices: eps 8/255 as in ECLIPSE's and ISS's tables (SEP's own headline is 2/255: pass
// epsilon 2/255 for it); the step is 1/255 as in the release (0.125 eps at 8/255); zero start,
// no augmentation (as the release). The release keeps a checkpoint only when test accuracy
// improves and takes every k-th of those; here the K checkpoints are evenly spaced epochs
// (E/K, 2E/K, ..., E) of one run, since the attacker holds no test set.
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { noGrad, tidy, type Tensor } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { classifierProfile, type ClassifierRecipe, type ProfileName } from '../profiles.js';
import { SignedStepAttack, type ModelAttackOptions } from './model/attack.js';
import { generatePerturbations, type PerturbBatch } from './model/generate.js';
import { featureMse, penultimateFeatures, shiftedTargets, targetedCrossEntropy } from './model/losses.js';
import { pgd } from '../training/pgd.js';
import { classFeatureMeans, loadSurrogate, surrogateCheckpoint, surrogateRecipe, type Surrogate } from './model/surrogate.js';
import type { SettingTable } from '../settings.js';
import type { AttackParamValue, PrepareContext } from './types.js';

export const SEP_SETTINGS = {
  variant: { flag: 'variant', kind: 'choice', choices: ['ce', 'fa'], help: 'ce: cross-entropy to (y+5) mod K (SEP); fa: feature alignment to the target class mean (SEP-FA)', profiles: { smoke: 'ce', mini: 'ce', paper: 'ce' } },
  checkpoints: { flag: 'checkpoints', kind: 'int', min: 1, help: 'K, surrogate checkpoints averaged (evenly spaced epochs of one run)', profiles: { smoke: 2, mini: 5, paper: 30 } },
  steps: { flag: 'steps', kind: 'int', min: 1, help: 'signed PGD steps', profiles: { smoke: 4, mini: 15, paper: 30 } },
  stepFraction: { flag: 'step-fraction', kind: 'number', min: 0, max: 1, help: 'signed step as a fraction of eps (0.125 = 1/255 at 8/255, the release)', profiles: { smoke: 0.25, mini: 0.125, paper: 0.125 } },
  surrogateEpochs: { flag: 'surrogate-epochs', kind: 'int', min: 1, help: "the surrogate's training epochs", profiles: { smoke: 2, mini: 30, paper: 120 } },
  poisonBatch: { flag: 'poison-batch', kind: 'int', min: 1, help: 'images per generation batch', profiles: { smoke: 64, mini: 250, paper: 512 } },
} as const satisfies SettingTable;

/** SEP's target permutation: (y + 5) mod K. */
const TARGET_SHIFT = 5;

/** The surrogate run: the profile's classifier; paper: SEP's 120 epochs, lr x0.1 at 75 and 90, wd 5e-4. */
export function sepSurrogateRecipe(profile: ProfileName, epochs: number): ClassifierRecipe {
  return surrogateRecipe(profile, epochs, { epochs: 120, milestones: [75, 90] });
}

/** Epochs whose checkpoints are kept: round(k E / K) for k = 1..K, distinct. */
export function checkpointEpochs(epochs: number, k: number): number[] {
  if (k > epochs) throw new Error(`sep attack: ${k} checkpoints need at least ${k} surrogate epochs (got ${epochs})`);
  return Array.from({ length: k }, (_, i) => Math.round(((i + 1) * epochs) / k));
}

export class SepAttack extends SignedStepAttack<typeof SEP_SETTINGS> {
  readonly name = 'sep';
  readonly recipe: string;
  readonly params: Readonly<Record<string, AttackParamValue>>;
  readonly epochs: number[];

  constructor(o: ModelAttackOptions = {}) {
    super('sep', SEP_SETTINGS, o);
    const s = this.settings;
    this.epochs = checkpointEpochs(s.surrogateEpochs, s.checkpoints);
    this.params = this.paramsWith({
      target: '(y+5) mod K',
      checkpoint_epochs: this.epochs.join(','),
      init: 'zero',
      augment: 'none',
    });
    this.recipe =
      `self-ensemble protection${s.variant === 'fa' ? ' (feature alignment)' : ''}: ${s.steps} signed steps of ${this.stepSize.toPrecision(3)} to (y+5) mod K, ` +
      `gradients averaged over ${s.checkpoints} checkpoints of one surrogate run (Chen et al. 2023, Sizhe-Chen/SEP)`;
  }

  /** The K checkpoint files: the given ones (comma-separated --surrogate), or one run's epochs. */
  private async checkpointFiles(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<string[]> {
    if (this.surrogatePath !== undefined) {
      const files = this.surrogatePath.split(',').map((f) => f.trim()).filter(Boolean);
      if (files.length !== this.settings.checkpoints)
        throw new Error(`sep attack: ${files.length} surrogate checkpoint(s) given but the checkpoints setting is ${this.settings.checkpoints}: pass that many, comma-separated`);
      return files;
    }
    const dir = join(ctx.workDir, 'sep-surrogate');
    const keep = new Set(this.epochs);
    const file = (e: number): string => join(dir, `checkpoint-epoch${e}.safetensors`);
    if (this.epochs.every((e) => existsSync(file(e))) && existsSync(join(dir, 'result.json'))) return this.epochs.map(file);
    await mkdir(dir, { recursive: true });
    const copies: Promise<void>[] = [];
    await surrogateCheckpoint(ds, seed, ctx, {
      recipe: sepSurrogateRecipe(this.profile, this.settings.surrogateEpochs), purpose: 'sep surrogate', dir: 'sep-surrogate',
      // The trainer writes its checkpoint before onEpoch: copy the epochs SEP keeps.
      train: { onEpoch: (m) => void (keep.has(m.epoch) && copies.push(copyFile(join(dir, 'checkpoint.safetensors'), file(m.epoch)))) },
    });
    await Promise.all(copies);
    const missing = this.epochs.filter((e) => !existsSync(file(e)));
    if (missing.length)
      throw new Error(`sep attack: the surrogate run in ${dir} was finished before without keeping epochs ${missing.join(', ')}; delete that folder to retrain`);
    return this.epochs.map(file);
  }

  async prepare(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void> {
    if (ds.classes.length < 2) throw new Error(`sep attack: the dataset has ${ds.classes.length} class; a targeted attack needs at least 2`);
    const files = await this.checkpointFiles(ds, seed, ctx);
    const shas: string[] = [];
    const models: Surrogate[] = [];
    const centroids: Tensor[] = [];
    try {
      for (const f of files) {
        const sur = await surrogateCheckpoint(ds, seed, ctx, { given: f, recipe: classifierProfile(this.profile), purpose: 'sep' });
        shas.push(sur.sha256);
        models.push(await loadSurrogate(f, { classes: ds.classes.length, device: ctx.device }));
      }
      if (this.settings.variant === 'fa') for (const m of models) centroids.push(classFeatureMeans(m, ds, ctx.device).keep());
      const res = await generatePerturbations(ds, this.perturbBatch(models, centroids), {
        key: { attack: this.name, params: this.params, surrogates: shas },
        seed, batchSize: this.settings.poisonBatch, checkpoint: join(ctx.workDir, 'sep-perturbation.safetensors'),
        device: ctx.device, label: 'sep', quiet: ctx.quiet, signal: ctx.signal, log: ctx.log,
      });
      this.store(ds, seed, res.delta, { checkpoints: files.map((f, i) => `${f} (sha256 ${shas[i]!.slice(0, 16)})`).join('; ') });
    } finally {
      for (const m of models) m.dispose();
      for (const c of centroids) c.dispose();
    }
  }

  /** One batch: signed PGD to the targets, the loss averaged over the checkpoints. */
  perturbBatch(models: readonly Surrogate[], centroids: readonly Tensor[]): PerturbBatch {
    return ({ x, labels }) => {
      const targets = shiftedTargets(labels, models[0]!.classes, TARGET_SHIFT);
      try {
        const loss = (p: Tensor, m: Surrogate, k: number): Tensor =>
          this.settings.variant === 'fa'
            ? featureMse(penultimateFeatures(m.model, p), centroids[k]!.indexSelect(0, targets))
            : targetedCrossEntropy(m.logits(p), targets);
        const delta = pgd(
          x,
          (p) => models.map((m, k) => loss(p, m, k)).reduce((a, b) => a.add(b)).div(models.length),
          { norm: 'linf', eps: this.bound.epsilon, stepSize: this.stepSize, steps: this.settings.steps, direction: 'descent', randomStart: 'zero' },
        );
        const final = tidy(() => noGrad(() => models.map((m, k) => loss(x.add(delta), m, k).item()).reduce((a, b) => a + b) / models.length));
        return { delta, fields: { 'target loss': final.toFixed(3) } };
      } finally {
        targets.dispose();
      }
    };
  }
}
