// Purification (Algorithm 1, lines 12-22): scale to [-1,1], diffuse every image to t* in one
// step, run the reverse chain with the learned variance, clip x0, no noise at the last step.
// Batched and seeded; written shard by shard so an interrupted run resumes where it stopped.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { Generator, pickDevice, tidy, type Device, type RunContext } from '../engine/index.js';
import { loadCheckpoint, readCheckpointMetadata } from '../nn/checkpoint.js';
import { concat, datasetDigest, subset, type ImageDataset } from '../data/dataset.js';
import { loadDataset, saveDataset } from '../data/store.js';
import { GaussianDiffusion } from '../diffusion/gaussian.js';
import { namedBetas, noiseSchedule } from '../diffusion/schedule.js';
import { respace, spacedTimesteps } from '../diffusion/respace.js';
import { denoiserFromMetadata, fromModelScale, toModelScale } from '../diffusion/train.js';
import { EMA } from '../nn/ema.js';
import type { UNet } from '../diffusion/unet.js';
import { Progress } from '../io/progress.js';
import { OutputExistsError, atomicWriteFile } from '../io/atomic.js';
import { fileSha256 } from '../io/hash.js';
import { readSafetensors } from '../io/safetensors.js';
import { JobInterrupted } from '../io/resume.js';

/** How purification runs (its values per profile are in src/eclipse-settings.ts). */
export interface PurifyRecipe {
  /** t*: the diffusion step purification noises to (of T) */
  tStar: number;
  /** reverse steps actually run (0 = the full chain t*-1..0, as the paper) */
  respacedSteps: number;
  batchSize: number;
  /** images per resumable shard */
  shardSize: number;
}

export interface PurifyOptions extends RunContext {
  recipe: PurifyRecipe;
  /** denoiser.safetensors from trainDenoiser */
  checkpoint: string;
  seed: number;
  /** the purified dataset file to write (.safetensors) */
  out: string;
  /** replace a purified file of other inputs at `out` (default: refuse; the same inputs: reuse it) */
  overwrite?: boolean;
}

export class PurifyInterrupted extends JobInterrupted {}

/**
 * Everything a purified set depends on: the images and labels, the denoiser's bytes, the recipe
 * and the seed. Recorded in the output (`purify_key`) and in the shards' stamp.
 */
export function purificationKey(ds: ImageDataset, checkpointSha256: string, recipe: PurifyRecipe, seed: number): string {
  return JSON.stringify({ data: datasetDigest(ds), denoiser: checkpointSha256, recipe, seed });
}

/**
 * What is at `out` before a purification writes there: null when nothing, the finished set when
 * it holds this very purification (same key), else OutputExistsError unless `overwrite`.
 */
export async function existingPurification(out: string, key: string, overwrite: boolean): Promise<ImageDataset | null> {
  if (!existsSync(out) || overwrite) return null;
  const meta = await readSafetensors(out).then((c) => c.metadata, () => null);
  if (meta?.purify_key === key) return loadDataset(out);
  const what = meta?.defense === 'eclipse-purification' ? 'a purified set of other inputs (data, denoiser, recipe or seed differ)' : 'a file that is not this purification';
  throw new OutputExistsError(out, `${out} already holds ${what}`, false);
}

/**
 * The diffusion purification runs: the full chain t*-1..0 (respacedSteps 0, the paper), or
 * `respacedSteps` evenly spaced steps of it, ending at t* - 1 so x_{t*} is the same either way.
 */
export function purificationDiffusion(T: number, tStar: number, respacedSteps: number): { diffusion: GaussianDiffusion; reverseSteps: number } {
  if (!Number.isInteger(tStar) || tStar < 1 || tStar > T) throw new Error(`t* must be an integer in [1, ${T}] (the denoiser's T), got ${tStar}`);
  const base = noiseSchedule(namedBetas('cosine', T));
  if (respacedSteps === 0 || respacedSteps >= tStar) return { diffusion: new GaussianDiffusion({ betas: base.betas, rescaleTimesteps: true }), reverseSteps: tStar };
  // Respace the first t* steps only: the kept set always contains 0 and t* - 1.
  const kept = spacedTimesteps(tStar, String(respacedSteps));
  const r = respace(noiseSchedule(base.betas.subarray(0, tStar)), kept);
  return {
    diffusion: new GaussianDiffusion({ betas: r.betas, timestepMap: r.timestepMap, originalNumTimesteps: T, rescaleTimesteps: true }),
    reverseSteps: kept.length,
  };
}

/** A denoiser checkpoint's metadata; anything else (missing, not safetensors, a classifier) is refused with the fix. */
export async function readDenoiserMetadata(checkpoint: string): Promise<Record<string, string>> {
  const fix = 'give the denoiser.safetensors that eclipse denoiser train wrote';
  if (!existsSync(checkpoint)) throw new Error(`denoiser checkpoint ${checkpoint} not found: train one with eclipse denoiser train`);
  const meta = await readCheckpointMetadata(checkpoint).catch((e: Error) => {
    throw new Error(`${checkpoint} is not a denoiser checkpoint (${e.message.replace(/^.*?: /, '')}): ${fix}`);
  });
  if (meta.kind !== 'denoiser') throw new Error(`${checkpoint} is not a denoiser checkpoint (kind "${meta.kind ?? 'none'}"${meta.model ? `, a ${meta.model} classifier` : ''}): ${fix}`);
  return meta;
}

/** A trained denoiser with its EMA weights loaded, in eval mode: the network purification runs. */
export async function loadDenoiser(checkpoint: string, device: Device): Promise<{ unet: UNet; steps: number; meta: Record<string, string> }> {
  const meta = await readDenoiserMetadata(checkpoint);
  const { unet, steps } = denoiserFromMetadata(meta, device);
  const ema = new EMA(unet, { decay: Number(meta.ema_decay ?? 0.9999) });
  await loadCheckpoint(checkpoint, { model: unet, ema });
  ema.copyTo(unet);
  ema.dispose();
  unet.eval();
  return { unet, steps, meta };
}

/** A loaded denoiser and the purification chain of one recipe (dispose when done). */
export interface Purifier {
  unet: UNet;
  diffusion: GaussianDiffusion;
  reverseSteps: number;
  /** the denoiser's T */
  steps: number;
  meta: Record<string, string>;
  device: Device;
  dispose(): void;
}

export async function loadPurifier(checkpoint: string, recipe: PurifyRecipe, device: Device): Promise<Purifier> {
  const { unet, steps, meta } = await loadDenoiser(checkpoint, device);
  const trainMaxT = Number(meta.train_max_t ?? 0);
  if (trainMaxT > 0 && recipe.tStar > trainMaxT) {
    unet.dispose();
    throw new Error(`this denoiser was trained only on t <= ${trainMaxT}; purifying at t* = ${recipe.tStar} would use steps it never learned (use --t-star <= ${trainMaxT} or retrain)`);
  }
  const { diffusion, reverseSteps } = purificationDiffusion(steps, recipe.tStar, recipe.respacedSteps);
  return { unet, diffusion, reverseSteps, steps, meta, device, dispose: () => (unet.dispose(), diffusion.dispose()) };
}

export function shardCount(n: number, recipe: PurifyRecipe): number {
  return Math.ceil(n / recipe.shardSize);
}

/** The images [lo, hi) of shard `s` of an n-image set. */
export function shardBounds(n: number, s: number, recipe: PurifyRecipe): { lo: number; hi: number } {
  const lo = s * recipe.shardSize;
  return { lo, hi: Math.min(n, lo + recipe.shardSize) };
}

/**
 * Purify shard `s` (images s*shardSize ..) of `ds`. One generator per shard, seeded by the seed
 * and the shard's position: a shard's bytes do not depend on where a run resumed or which
 * machine ran it.
 */
export function purifyShard(ds: ImageDataset, s: number, p: Purifier, recipe: PurifyRecipe, seed: number, onBatch?: (n: number) => void): ImageDataset {
  const { lo, hi } = shardBounds(ds.n, s, recipe);
  if (!Number.isInteger(s) || s < 0 || lo >= ds.n) throw new Error(`shard ${s} is outside this ${ds.n}-image set (${shardCount(ds.n, recipe)} shards of ${recipe.shardSize})`);
  const per = 3 * ds.height * ds.width;
  const out = new Uint8Array((hi - lo) * per);
  const gen = new Generator(seed * 100_003 + s);
  for (let b = lo; b < hi; b += recipe.batchSize) {
    const n = Math.min(recipe.batchSize, hi - b);
    const purified = tidy(() => {
      const x0 = toModelScale(ds.images.subarray(b * per, (b + n) * per), n, ds.height, ds.width, p.device);
      return fromModelScale(p.diffusion.purify(p.unet, x0, p.reverseSteps, { generator: gen }));
    });
    out.set(purified, (b - lo) * per);
    onBatch?.(n);
  }
  const part = subset(ds, Int32Array.from({ length: hi - lo }, (_, i) => lo + i));
  part.images = out;
  return part;
}

/** The purified set from its shards (in order), with its provenance. */
export function assemblePurified(ds: ImageDataset, parts: ImageDataset[], o: { checkpoint: string; iteration: string; reverseSteps: number; recipe: PurifyRecipe; seed: number; key: string }): ImageDataset {
  const purified = concat(parts);
  if (purified.n !== ds.n) throw new Error(`purified shards hold ${purified.n} images, the set has ${ds.n}`);
  purified.meta = {
    ...ds.meta,
    defense: 'eclipse-purification',
    denoiser_checkpoint: o.checkpoint,
    denoiser_iteration: o.iteration,
    t_star: String(o.recipe.tStar),
    reverse_steps: String(o.reverseSteps),
    respaced: String(o.reverseSteps < o.recipe.tStar),
    purify_seed: String(o.seed),
    purify_key: o.key,
  };
  return purified;
}

/** Purify `ds` with the denoiser's EMA weights; returns the purified dataset (also saved to o.out). */
export async function purifyDataset(ds: ImageDataset, o: PurifyOptions): Promise<ImageDataset> {
  const r = o.recipe;
  const device = pickDevice(o.device ?? 'auto');
  await readDenoiserMetadata(o.checkpoint);
  const key = purificationKey(ds, await fileSha256(o.checkpoint), r, o.seed);
  const done = await existingPurification(o.out, key, o.overwrite === true);
  if (done) {
    if (!o.quiet) console.error(`${o.out} already holds this purification (same data, denoiser, recipe and seed)`);
    return done;
  }
  const p = await loadPurifier(o.checkpoint, r, device);
  const { meta, reverseSteps, steps } = p;

  // Shards live beside the output until the whole set is done.
  const partsDir = `${o.out}.parts`;
  await mkdir(partsDir, { recursive: true });
  const stamp = join(partsDir, 'key.json');
  // Shards from other data, another denoiser, recipe or seed are not reused.
  if (!existsSync(stamp) || (await readFile(stamp, 'utf8')) !== key) {
    await rm(partsDir, { recursive: true, force: true });
    await mkdir(partsDir, { recursive: true });
    await atomicWriteFile(stamp, key);
  }
  const shards = shardCount(ds.n, r);
  const shardPath = (s: number): string => join(partsDir, `shard-${String(s).padStart(5, '0')}.safetensors`);
  const finished = new Set((await readdir(partsDir)).filter((f) => f.startsWith('shard-')).map((f) => Number(f.slice(6, 11))));

  const progress = new Progress({ label: 'purify', total: ds.n, unit: 'img', quiet: o.quiet });
  progress.log(
    `purifying ${ds.n} images: t* = ${r.tStar} of T = ${steps}, ${reverseSteps} reverse steps${reverseSteps < r.tStar ? ` (respaced from ${r.tStar})` : ''}, ${device}` +
      (finished.size ? `; ${finished.size}/${shards} shards already done` : ''),
  );
  for (let s = 0; s < shards; s++) {
    if (finished.has(s)) {
      const { lo, hi } = shardBounds(ds.n, s, r);
      progress.skip(hi - lo);
      continue;
    }
    await saveDataset(purifyShard(ds, s, p, r, o.seed, (n) => progress.tick(n, { shard: `${s + 1}/${shards}` })), shardPath(s));
    if (o.signal?.aborted && s + 1 < shards) {
      p.dispose();
      throw new PurifyInterrupted(`purification interrupted after shard ${s + 1}/${shards} (the finished shards are kept)`);
    }
  }
  p.dispose();

  const parts: ImageDataset[] = [];
  for (let s = 0; s < shards; s++) parts.push(await loadDataset(shardPath(s)));
  const purified = assemblePurified(ds, parts, { checkpoint: o.checkpoint, iteration: meta.iteration ?? '', reverseSteps, recipe: r, seed: o.seed, key });
  await saveDataset(purified, o.out);
  await rm(partsDir, { recursive: true, force: true });
  progress.finish();
  return purified;
}
