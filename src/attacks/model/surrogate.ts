// A surrogate classifier for model-based attacks: any `eclipse train` checkpoint, rebuilt from
// its metadata (model, width), checked against the dataset's class count, frozen (parameters
// do not require grad, so a backward pass computes the input gradient only) and in eval mode
// (the recipes run their PGD with frozen BatchNorm statistics).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { F, Tensor, noGrad, tidy, type Device } from '../../engine/index.js';
import type { ImageDataset } from '../../data/dataset.js';
import { classifierProfile, type ClassifierRecipe, type ProfileName } from '../../profiles.js';
import { trainClassifier, type TrainOptions } from '../../training/trainer.js';
import type { PrepareContext } from '../types.js';
import { datasetDigest } from '../../data/dataset.js';
import { classCentroids, penultimateFeatures } from './losses.js';
import { loadCheckpoint } from '../../nn/checkpoint.js';
import { createClassifier, isClassifierName, CLASSIFIERS, type ClassifierName } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import { readSafetensors } from '../../io/safetensors.js';

export interface Surrogate {
  readonly path: string;
  readonly model: Module;
  readonly architecture: ClassifierName;
  readonly width: number;
  readonly classes: number;
  /** logits of x [N, C, H, W] */
  logits(x: Tensor): Tensor;
  /** frees the model's tensors */
  dispose(): void;
}

export interface SurrogateOptions {
  /** the dataset's class count: the checkpoint must classify exactly this many */
  classes: number;
  device?: Device;
}

/** The output count of the classifier head: the first dimension of the last 2-D parameter. */
function headName(model: Module): string {
  const linear = model.namedParameters().filter(([, t]) => t.ndim === 2);
  const last = linear[linear.length - 1];
  if (last === undefined) throw new Error(`${model.constructor.name} has no linear classifier head`);
  return last[0];
}

/** Load a trained classifier checkpoint as a frozen, eval-mode surrogate. */
export async function loadSurrogate(path: string, o: SurrogateOptions): Promise<Surrogate> {
  const { tensors, metadata } = await readSafetensors(path);
  const arch = metadata.model;
  if (arch === undefined || !isClassifierName(arch))
    throw new Error(`${path}: not a classifier checkpoint from \`eclipse train\` (metadata "model" is ${arch === undefined ? 'missing' : `"${arch}"`}; expected one of ${CLASSIFIERS.join(', ')})`);
  const width = Number(metadata.width ?? '64');
  if (!Number.isInteger(width) || width < 1) throw new Error(`${path}: metadata "width" is not a positive integer (${metadata.width})`);
  // Build on the CPU with the dataset's class count, compare the head before loading, so that
  // a checkpoint for another dataset fails with the counts rather than a shape list.
  const model = createClassifier(arch, { width, numClasses: o.classes });
  try {
    const head = headName(model);
    const stored = tensors[head];
    if (stored !== undefined && stored.shape[0] !== o.classes)
      throw new Error(`${path}: the surrogate classifies ${stored.shape[0]} classes but the dataset has ${o.classes} (${arch} width ${width}, head "${head}")`);
    await loadCheckpoint(path, { model });
    if (o.device !== undefined && o.device !== 'cpu') model.to(o.device);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  for (const p of model.parameters()) p.requiresGrad_(false);
  return {
    path,
    model,
    architecture: arch,
    width,
    classes: o.classes,
    logits: (x: Tensor): Tensor => model.forward(x),
    dispose: (): void => model.dispose(),
  };
}

export interface SurrogateFile {
  path: string;
  /** sha256 of the checkpoint's bytes: another model means another generation */
  sha256: string;
  /** "path (sha256 0123...)" for the metadata */
  describe: string;
}

export interface SurrogateTraining {
  /** a checkpoint the user gave: used as it is */
  given?: string;
  /** the recipe to train one with when none is given */
  recipe: ClassifierRecipe;
  /** what it is for (logged and recorded in its checkpoint) */
  purpose: string;
  /** its run folder under ctx.workDir (default "surrogate") */
  dir?: string;
  /** extra trainer options (adversarial training, per-epoch hooks) */
  train?: Pick<TrainOptions, 'adversary' | 'onEpoch'>;
  /** recorded in the run key: a changed value retrains */
  tags?: Record<string, string>;
}

/**
 * The surrogate's checkpoint: the given file, or one trained on the clean data with the
 * trainer (resumable by epoch, cached in ctx.workDir/<dir>: a finished run is reused).
 */
export async function surrogateCheckpoint(ds: ImageDataset, seed: number, ctx: PrepareContext, o: SurrogateTraining): Promise<SurrogateFile> {
  let path = o.given;
  if (path === undefined) {
    const outDir = join(ctx.workDir, o.dir ?? 'surrogate');
    const r = o.recipe;
    ctx.log?.(`${o.purpose}: training (${r.model} width ${r.width}, ${r.epochs} epochs) in ${outDir}`);
    // The clean set doubles as the evaluation set: the attacker has no other labelled data here,
    // and the reported accuracy is only a sanity check of the surrogate.
    await trainClassifier(ds, ds, {
      recipe: r, seed, outDir, resume: 'auto', device: ctx.device, quiet: ctx.quiet, signal: ctx.signal,
      tags: { purpose: o.purpose, data: datasetDigest(ds), ...(o.tags ?? {}) }, ...(o.train ?? {}),
    });
    path = join(outDir, 'checkpoint.safetensors');
  }
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`surrogate ${path}: ${e.code === 'ENOENT' ? 'no such file (pass a checkpoint written by eclipse train)' : e.message}`);
  });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { path, sha256, describe: `${path} (sha256 ${sha256.slice(0, 16)})` };
}

/**
 * Mean penultimate feature of each class of ds under the (eval-mode) surrogate, [K, D]: SEP-FA's
 * class means and EntF's centroids. A class without images is an error.
 */
export function classFeatureMeans(m: Surrogate, ds: ImageDataset, device: Device = 'cpu'): Tensor {
  if (ds.classes.length < 2) throw new Error(`class feature means need at least 2 classes (the dataset has ${ds.classes.length})`);
  const per = 3 * ds.height * ds.width;
  const feats: Tensor[] = [];
  try {
    noGrad(() => {
      for (let s = 0; s < ds.n; s += 500) {
        const c = Math.min(500, ds.n - s);
        const x = (): Tensor => F.tensor(ds.images.subarray(s * per, (s + c) * per), [c, 3, ds.height, ds.width], { device }).to('float32').div(255);
        feats.push(tidy(() => penultimateFeatures(m.model, x())));
      }
    });
    return tidy(() => classCentroids(F.cat(feats, 0), F.tensor(ds.labels, [ds.n], { device }).to('int64'), ds.classes.length));
  } finally {
    for (const f of feats) f.dispose();
  }
}

/**
 * A surrogate's training recipe: the profile's classifier for `epochs`; at paper, the release's
 * schedule (SGD 0.1, wd 5e-4, lr x0.1 at `release.milestones`, given for a run of
 * `release.epochs` and scaled to `epochs`).
 */
export function surrogateRecipe(profile: ProfileName, epochs: number, release: { epochs: number; milestones: readonly number[] }): ClassifierRecipe {
  const r = classifierProfile(profile);
  if (profile !== 'paper') return { ...r, epochs };
  const milestones = release.milestones.map((e) => Math.round((e * epochs) / release.epochs));
  return { ...r, epochs, weightDecay: 5e-4, schedule: 'multistep', milestones, gamma: 0.1 };
}
