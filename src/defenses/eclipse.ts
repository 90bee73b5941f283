// ECLIPSE (Algorithm 1) as a defence: the sparse set D_s from the defender's clean pool, enlarged
// M times, the denoiser trained on it, the training set purified at t*, and the corruption
// compensation module on the classifier's batches. Its settings are ECLIPSE_SETTINGS
// (src/eclipse-settings.ts); its registry entry is in defenses/registry.ts. Each stage is cached by
// its inputs (io/stage.ts), so a re-run skips what is done and an interrupted one resumes.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { Device, RunContext } from '../engine/index.js';
import { datasetDigest, type ImageDataset } from '../data/dataset.js';
import { loadDataset, saveDataset } from '../data/store.js';
import { trainDenoiser } from '../diffusion/train.js';
import { eclipseSettingsOf, resolveEclipse, type EclipseProfile } from '../eclipse-settings.js';
import { stage, type StageLog } from '../io/stage.js';
import { settingsParams, type SettingValue } from '../settings.js';
import type { DefenseOptions } from './baselines/base.js';
import type { Defense, DefenseContext, DefensePlan } from './baselines/types.js';
import { compensation } from './compensation.js';
import { purifyDataset } from './purify.js';
import { enlarge, selectSparseSet } from './sparse.js';

/** What ECLIPSE's stages read: the training set, the defender's pool, the recipe, a folder. */
export interface EclipseStageOptions extends RunContext {
  /** the (possibly poisoned) training set, and what names it in the cache keys */
  train: ImageDataset;
  trainKey: unknown;
  /** clean images the defender holds (disjoint from train and test) */
  sparsePool: ImageDataset;
  eclipse: EclipseProfile;
  /** seed of the sparse set, the denoiser and purification */
  seed: number;
  /** the stages' folder: denoiser/, sparse-set.safetensors, purified.safetensors */
  outDir: string;
  /** use a sparse set even if it overlaps the training set */
  force?: boolean;
  device?: Device;
  log: StageLog;
}

/** Which of ECLIPSE's parts run (the paper's ablation: A purification, B grayscale, C noise). */
export interface Components {
  purify: boolean;
  grayscale: boolean;
  noise: boolean;
}
export const FULL: Components = { purify: true, grayscale: true, noise: true };

export interface DenoiserStage {
  checkpoint: string;
  key: unknown;
}

/** Stages 1-2: choose the sparse set, enlarge it M times, train the denoiser. */
export async function denoiserStage(o: EclipseStageOptions): Promise<DenoiserStage> {
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
export async function purifyStage(o: EclipseStageOptions, den: DenoiserStage): Promise<{ purified: ImageDataset; path: string; key: unknown }> {
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

/** The compensation module's p and sigma with the ablation's parts switched off (null: neither runs). */
export function compensationOf(e: EclipseProfile, c: Components): { p: number; sigma: number } | null {
  return c.grayscale || c.noise ? { p: c.grayscale ? e.compensation.p : 0, sigma: c.noise ? e.compensation.sigma : 0 } : null;
}

export interface EclipseDefenseOptions extends DefenseOptions {
  /** a recipe already resolved (the CLI's flags, a matrix cell) instead of profile and settings */
  recipe?: EclipseProfile;
  /** which parts run (default all: the paper's ablation switches them) */
  components?: Components;
  /** use a sparse set even if it overlaps the training set */
  force?: boolean;
}

/**
 * ECLIPSE behind the registry's Defense interface: plan() runs stages 1-3 in ctx.workDir on the
 * defender's clean pool (ctx.pool) and gives the purified set, the compensation module as the
 * batch transform, and the purified set's key (`trainKey`, for the classifier's cache key).
 */
export class EclipseDefense implements Defense {
  readonly name = 'eclipse';
  readonly recipe: EclipseProfile;
  readonly components: Components;
  readonly params: Readonly<Record<string, SettingValue>>;
  readonly setting: string;
  readonly force: boolean;

  constructor(o: EclipseDefenseOptions = {}) {
    const profile = o.profile ?? 'paper';
    if (o.recipe) {
      this.recipe = o.recipe;
      this.setting = `${profile}, recipe given`;
    } else {
      ({ recipe: this.recipe, setting: this.setting } = resolveEclipse(profile, o.settings));
    }
    this.components = o.components ?? FULL;
    this.params = settingsParams(eclipseSettingsOf(this.recipe));
    this.force = o.force === true;
  }

  /** p and sigma of the compensation module as this defence runs it (null: off). */
  get compensation(): { p: number; sigma: number } | null {
    return compensationOf(this.recipe, this.components);
  }

  async plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan> {
    const pool = ctx.pool;
    if (!pool) throw new Error("ECLIPSE needs the defender's clean images for its sparse set (pool): pass them in the defence context");
    const o: EclipseStageOptions = {
      train, trainKey: ctx.trainKey ?? datasetDigest(train), sparsePool: pool, eclipse: this.recipe, seed: ctx.seed, outDir: ctx.workDir, force: this.force,
      device: ctx.device, quiet: ctx.quiet, log: ctx.log, signal: ctx.signal,
    };
    let planned = train;
    let trainKey: unknown = o.trainKey;
    const notes: Record<string, string> = {};
    if (this.components.purify) {
      const p = await purifyStage(o, await denoiserStage(o));
      planned = p.purified;
      trainKey = p.key;
      notes.purified = p.path;
    }
    const comp = this.compensation;
    return { train: planned, trainKey, ...(comp ? { transform: compensation(comp) } : {}), notes };
  }
}
