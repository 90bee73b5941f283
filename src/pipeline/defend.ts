// The whole defence (Algorithm 1): ECLIPSE's stages (sparse set -> denoiser -> purification,
// defenses/eclipse.ts) -> classifier with the compensation module -> evaluation; or a baseline's
// plan -> classifier. Each stage is cached by its inputs, so a re-run skips what is done and an
// interrupted stage resumes from its own checkpoints.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { Device, RunContext } from '../engine/index.js';
import { datasetDigest, type ImageDataset } from '../data/dataset.js';
import { compensation } from '../defenses/compensation.js';
import { EclipseDefense, type Components } from '../defenses/eclipse.js';
import type { ClassifierRecipe, ProfileName } from '../profiles.js';
import type { EclipseProfile } from '../eclipse-settings.js';
import { readResult, trainClassifier, type TrainResult } from '../training/trainer.js';
import { stage, type StageLog } from '../io/stage.js';
import { planTrainOptions, type Defense, type DefensePlan } from '../defenses/baselines/index.js';

// ECLIPSE's stages live with ECLIPSE (defenses/eclipse.ts); exported here as before
export { FULL, denoiserStage, purifyStage, type Components, type DenoiserStage } from '../defenses/eclipse.js';

export interface DefendOptions extends RunContext {
  /** the (possibly poisoned) training set, and a string naming it for the cache keys */
  train: ImageDataset;
  trainKey: string;
  test: ImageDataset;
  /** clean images the defender holds (disjoint from train and test) */
  sparsePool: ImageDataset;
  eclipse: EclipseProfile;
  classifier: ClassifierRecipe;
  /** the profile the recipe came from (recorded with ECLIPSE's settings) */
  profile: ProfileName;
  /** seed of the denoiser and purification */
  seed: number;
  /** seed of the classifier run */
  classifierSeed?: number;
  outDir: string;
  components?: Components;
  device: Device;
  force?: boolean;
  log: StageLog;
}

/** What a classifier run adds to plain training: the compensation module and a baseline's plan. */
export interface ClassifierExtras {
  comp: { p: number; sigma: number } | null;
  defense?: { defense: Defense; plan: DefensePlan };
}

/** Stage 4: train and evaluate the classifier (cached by recipe, seed, data and defence). */
export async function classifierStage(
  train: ImageDataset,
  trainKey: unknown,
  test: ImageDataset,
  recipe: ClassifierRecipe,
  extras: ClassifierExtras,
  seed: number,
  dir: string,
  o: RunContext & { device?: Device; log: StageLog },
): Promise<TrainResult> {
  const { comp, defense } = extras;
  const hooks = defense ? planTrainOptions(defense.defense, defense.plan, comp ? compensation(comp) : undefined) : { transform: comp ? compensation(comp) : undefined, tags: {} };
  // The data's content, whatever the caller's trainKey says: a stage never skips on a name alone.
  const key = { trainKey, recipe, comp, seed, data: datasetDigest(train), test: datasetDigest(test), ...(defense ? { defense: hooks.tags } : {}) };
  const parent = join(dir, '..');
  const name = dir.split('/').pop()!;
  await stage(
    parent,
    name,
    key,
    async () => {
      await trainClassifier(train, test, {
        recipe,
        seed,
        outDir: dir,
        resume: 'auto',
        device: o.device,
        quiet: o.quiet,
        ...hooks,
        signal: o.signal,
        tags: { compensation: comp ? `p=${comp.p},sigma=${comp.sigma}` : 'none', attack: train.meta.attack ?? 'none', defense: train.meta.defense ?? 'none', ...hooks.tags },
      });
    },
    o.log,
    [join(dir, 'result.json')],
  );
  const r = await readResult(dir);
  if (!r) throw new Error(`classifier run in ${dir} has no result.json`);
  return r;
}

export interface DefendResult {
  testAcc: number;
  purifiedPath: string | null;
  classifier: TrainResult;
}

/** All four stages; components switch parts off for ablations. */
export async function defend(o: DefendOptions): Promise<DefendResult> {
  await mkdir(o.outDir, { recursive: true });
  const eclipse = new EclipseDefense({ profile: o.profile, recipe: o.eclipse, components: o.components, force: o.force });
  const plan = await eclipse.plan(o.train, {
    profile: o.profile, seed: o.seed, device: o.device, recipe: o.classifier, workDir: o.outDir, pool: o.sparsePool, trainKey: o.trainKey,
    quiet: o.quiet, log: o.log, signal: o.signal,
  });
  const seed = o.classifierSeed ?? o.seed;
  // ECLIPSE's classifier is keyed by its purified set and its compensation module (its own parts, not a plan's hooks)
  const res = await classifierStage(plan.train, plan.trainKey, o.test, o.classifier, { comp: eclipse.compensation }, seed, join(o.outDir, `classifier-seed${seed}`), o);
  o.log(`test accuracy ${(100 * res.testAcc).toFixed(2)}% (${o.test.n} clean test images)`);
  return { testAcc: res.testAcc, purifiedPath: plan.notes.purified ?? null, classifier: res };
}

export interface BaselineOptions {
  train: ImageDataset;
  trainKey: string;
  test: ImageDataset;
  defense: Defense;
  /** the clean training set, for defences that assume one (AVATAR) */
  cleanTrain?: ImageDataset;
  /** ECLIPSE's compensation module on top of the baseline (null: off) */
  compensation: { p: number; sigma: number } | null;
  classifier: ClassifierRecipe;
  profile: ProfileName;
  seed: number;
  classifierSeed?: number;
  outDir: string;
  /** the defence's cached work (default OUT/defense-work; the matrix shares one per defence) */
  workDir?: string;
  device: Device;
  quiet?: boolean;
  log: StageLog;
  signal?: AbortSignal;
}

/** A baseline defence instead of ECLIPSE: its plan (cached work in OUT/defense-work), then the classifier. */
export async function defendWithBaseline(o: BaselineOptions): Promise<DefendResult> {
  await mkdir(o.outDir, { recursive: true });
  const seed = o.classifierSeed ?? o.seed;
  const plan = await o.defense.plan(o.train, {
    profile: o.profile, seed: o.seed, device: o.device, recipe: o.classifier, workDir: o.workDir ?? join(o.outDir, 'defense-work'),
    cleanTrain: o.cleanTrain, quiet: o.quiet, log: o.log, signal: o.signal,
  });
  const trainKey = { train: o.trainKey, plan: plan.train === o.train ? 'same' : datasetDigest(plan.train) };
  const res = await classifierStage(plan.train, trainKey, o.test, o.classifier, { comp: o.compensation, defense: { defense: o.defense, plan } }, seed, join(o.outDir, `classifier-seed${seed}`), o);
  o.log(`test accuracy ${(100 * res.testAcc).toFixed(2)}% (${o.test.n} clean test images)`);
  return { testAcc: res.testAcc, purifiedPath: null, classifier: res };
}
