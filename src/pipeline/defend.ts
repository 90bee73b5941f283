// The whole defence (Algorithm 1): sparse set -> denoiser -> purification -> classifier with
// the compensation module -> evaluation. Each stage is cached by its inputs, so a re-run skips
// what is done and an interrupted stage resumes from its own checkpoints.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { Device } from '../engine/index.js';
import { datasetDigest, type ImageDataset } from '../data/dataset.js';
import { loadDataset, saveDataset } from '../data/store.js';
import { trainDenoiser } from '../diffusion/train.js';
import { compensation } from '../defenses/compensation.js';
import { purifyDataset } from '../defenses/purify.js';
import { enlarge, selectSparseSet } from '../defenses/sparse.js';
import type { ClassifierRecipe, EclipseProfile, ProfileName } from '../profiles.js';
import { readResult, trainClassifier, type TrainResult } from '../training/trainer.js';
import { stage, type StageLog } from '../io/stage.js';
import { planTrainOptions, type Defense, type DefensePlan } from '../defenses/baselines/index.js';

/** Which of ECLIPSE's parts run (the paper's ablation: A purification, B grayscale, C noise). */
export interface Components {
  purify: boolean;
  grayscale: boolean;
  noise: boolean;
}
export const FULL: Components = { purify: true, grayscale: true, noise: true };

export interface DefendOptions {
  /** the (possibly poisoned) training set, and a string naming it for the cache keys */
  train: ImageDataset;
  trainKey: string;
  test: ImageDataset;
  /** clean images the defender holds (disjoint from train and test) */
  sparsePool: ImageDataset;
  eclipse: EclipseProfile;
  classifier: ClassifierRecipe;
  /** seed of the denoiser and purification */
  seed: number;
  /** seed of the classifier run */
  classifierSeed?: number;
  outDir: string;
  components?: Components;
  device?: Device;
  quiet?: boolean;
  force?: boolean;
  log: StageLog;
  signal?: AbortSignal;
}

export interface DenoiserStage {
  checkpoint: string;
  key: unknown;
}

/** Stages 1-2: choose the sparse set, enlarge it M times, train the denoiser. */
export async function denoiserStage(o: Omit<DefendOptions, 'classifier' | 'test'>): Promise<DenoiserStage> {
  const dir = join(o.outDir, 'denoiser');
  await mkdir(dir, { recursive: true });
  const e = o.eclipse;
  // the pool's images, not its count or provenance: another pool is another denoiser
  const key = { sparse: e.sparse, denoiser: e.denoiser, seed: o.seed, pool: datasetDigest(o.sparsePool) };
  await stage(
    o.outDir,
    'denoiser',
    key,
    async () => {
      const sparse = selectSparseSet(o.sparsePool, { perClass: e.sparse.perClass, seed: o.seed, trainSet: o.train, force: o.force });
      await saveDataset(sparse, join(o.outDir, 'sparse-set.safetensors'));
      o.log(`sparse set: ${sparse.n} clean images (B/N = ${((100 * sparse.n) / o.train.n).toFixed(1)}%), replicated M = ${e.sparse.replication} times`);
      await trainDenoiser(enlarge(sparse, e.sparse.replication), {
        recipe: e.denoiser,
        seed: o.seed,
        outDir: dir,
        resume: 'auto',
        device: o.device,
        quiet: o.quiet,
        previewTStar: e.purify.tStar,
        signal: o.signal,
        tags: { sparse_images: String(sparse.n), replication: String(e.sparse.replication) },
      });
    },
    o.log,
    [join(dir, 'denoiser.safetensors')],
  );
  return { checkpoint: join(dir, 'denoiser.safetensors'), key };
}

/** Stage 3: purify the training set with the denoiser. */
export async function purifyStage(o: Omit<DefendOptions, 'classifier' | 'test'>, den: DenoiserStage): Promise<{ purified: ImageDataset; path: string; key: unknown }> {
  const path = join(o.outDir, 'purified.safetensors');
  const key = { den: den.key, purify: o.eclipse.purify, train: o.trainKey, data: datasetDigest(o.train), seed: o.seed };
  await stage(
    o.outDir,
    'purify',
    key,
    async () => {
      await purifyDataset(o.train, { recipe: o.eclipse.purify, checkpoint: den.checkpoint, seed: o.seed, out: path, overwrite: true, device: o.device, quiet: o.quiet, signal: o.signal });
    },
    o.log,
    [path],
  );
  return { purified: await loadDataset(path), path, key };
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
  o: { device?: Device; quiet?: boolean; log: StageLog; signal?: AbortSignal },
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
  const c = o.components ?? FULL;
  await mkdir(o.outDir, { recursive: true });
  let train = o.train;
  let trainKey: unknown = o.trainKey;
  let purifiedPath: string | null = null;
  if (c.purify) {
    const den = await denoiserStage(o);
    const p = await purifyStage(o, den);
    train = p.purified;
    trainKey = p.key;
    purifiedPath = p.path;
  }
  const comp = c.grayscale || c.noise ? { p: c.grayscale ? o.eclipse.compensation.p : 0, sigma: c.noise ? o.eclipse.compensation.sigma : 0 } : null;
  const seed = o.classifierSeed ?? o.seed;
  const res = await classifierStage(train, trainKey, o.test, o.classifier, { comp }, seed, join(o.outDir, `classifier-seed${seed}`), o);
  o.log(`test accuracy ${(100 * res.testAcc).toFixed(2)}% (${o.test.n} clean test images)`);
  return { testAcc: res.testAcc, purifiedPath, classifier: res };
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
