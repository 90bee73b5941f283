// AVATAR (Dolatabadi et al., "The Devil's Advocate: Shattering the Illusion of Unexploitable Data
// using Diffusion Models", SaTML 2024; hmdolatabadi/AVATAR): diffusion purification of the training
// set with a denoiser trained on the WHOLE clean training set (ECLIPSE's threat model allows only
// a sparse clean set; AVATAR assumes the defender has the clean distribution's data).
//
// AVATAR purifies at t* = 100 of its 1000-step linear VP schedule (betas linspace(1e-4, 0.02, 1000)):
// alpha_bar 0.8970, noise std sqrt(1 - alpha_bar) = 0.321 in [-1, 1] units. eclipse's denoiser
// runs the cosine schedule with T = 4000; the step with the same alpha_bar (tStarForNoiseLevel) is
// 807 of 4000, and purification runs there with the profile's purify recipe (respaced steps,
// batch, shards).
//
// Deviation: the paper uses a big pretrained score-SDE model (DiffPure's CIFAR-10 checkpoint);
// here the denoiser is eclipse's improved-DDPM U-Net at the profile's size (the ECLIPSE denoiser
// recipe), trained from scratch on the clean training set (replication 1) on timesteps covering
// t*. So AVATAR and ECLIPSE differ only in the data their denoiser learns from and in t*.
//
// Cache (resumable): the denoiser under ctx.workDir keyed by the clean set, recipe and seed only
// (it does not depend on the poisoned set); the purified set keyed by that and the poisoned set.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { datasetDigest, type ImageDataset } from '../../data/dataset.js';
import { loadDataset } from '../../data/store.js';
import { alphaBarAt, namedBetas, noiseSchedule, tStarForNoiseLevel } from '../../diffusion/schedule.js';
import { trainDenoiser } from '../../diffusion/train.js';
import { purifyDataset, type PurifyRecipe } from '../purify.js';
import { keyHash, stage } from '../../io/stage.js';
import { eclipseProfile } from '../../eclipse-settings.js';
import type { DenoiserRecipe } from '../../diffusion/recipe.js';
import type { SettingTable } from '../../settings.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import type { DefenseContext, DefensePlan } from './types.js';

export const AVATAR_SETTINGS = {
  vpTStar: { flag: 'vp-t-star', kind: 'int', min: 1, max: 999, help: "AVATAR's purification step of its 1000-step linear VP schedule (converted to the denoiser's schedule by noise level)", profiles: { smoke: 100, mini: 100, paper: 100 } },
  // mini: 2000 instead of the ECLIPSE mini denoiser's 1000: that one sees its 800 images 40 times;
  // AVATAR's denoiser learns 5000 images over t <= 807 (not t <= 100), so it gets twice the steps.
  denoiserIterations: {
    flag: 'avatar-iterations',
    kind: 'int',
    min: 0,
    help: "training iterations of AVATAR's denoiser (0 = the profile's ECLIPSE denoiser iterations)",
    profiles: { smoke: 0, mini: 2000, paper: 0 },
  },
  // AVATAR integrates its reverse SDE with torchsde's default dt = 1e-3 from t = t*/1000, i.e.
  // about t* = 100 solver steps: at paper scale we respace to that many (the full chain from
  // step 807 would cost 8x more). 0 keeps the profile's purification steps (mini: 10).
  reverseSteps: {
    flag: 'avatar-reverse-steps',
    kind: 'int',
    min: 0,
    help: "reverse steps of AVATAR's purification (0 = the profile's respaced steps)",
    profiles: { smoke: 0, mini: 0, paper: 100 },
  },
} as const satisfies SettingTable;

/** AVATAR's diffusion steps and beta range (the VP SDE of score-SDE / DiffPure, discretised). */
export const AVATAR_VP_STEPS = 1000;

export interface AvatarTStar {
  /** t* of the denoiser's cosine schedule with the same noise level */
  tStar: number;
  vpAlphaBar: number;
  /** the denoiser schedule's alpha_bar at tStar */
  alphaBar: number;
  /** sqrt(1 - alpha_bar) in [-1, 1] units: AVATAR's, and the converted t*'s */
  vpNoiseStd: number;
  noiseStd: number;
}

/** AVATAR's t* of its 1000-step linear VP schedule as a step of the cosine schedule with T steps. */
export function avatarTStar(vpTStar: number, T: number): AvatarTStar {
  if (!Number.isInteger(vpTStar) || vpTStar < 1 || vpTStar > AVATAR_VP_STEPS) throw new Error(`AVATAR's t* must be an integer in [1, ${AVATAR_VP_STEPS}], got ${vpTStar}`);
  // linearBetas(1000) is exactly linspace(1e-4, 0.02, 1000).
  const vpAlphaBar = alphaBarAt(noiseSchedule(namedBetas('linear', AVATAR_VP_STEPS)).alphasCumprod, vpTStar);
  const cosine = noiseSchedule(namedBetas('cosine', T));
  const tStar = tStarForNoiseLevel(vpAlphaBar, cosine);
  const alphaBar = alphaBarAt(cosine.alphasCumprod, tStar);
  return { tStar, vpAlphaBar, alphaBar, vpNoiseStd: Math.sqrt(1 - vpAlphaBar), noiseStd: Math.sqrt(1 - alphaBar) };
}

/** The ECLIPSE denoiser recipe of the profile, made to cover t* (and with the iterations override). */
export function avatarDenoiserRecipe(base: DenoiserRecipe, tStar: number, iterations: number): DenoiserRecipe {
  // A recipe that trains all timesteps (trainMaxT 0) stays so; one limited to small t (mini, smoke:
  // t <= 100) is widened to t <= t*, the steps purification uses.
  const trainMaxT = base.trainMaxT === 0 ? 0 : Math.max(base.trainMaxT, tStar);
  return { ...base, trainMaxT, iterations: iterations > 0 ? iterations : base.iterations };
}


export class AvatarDefense extends BaselineDefense<typeof AVATAR_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('avatar', AVATAR_SETTINGS, o);
  }

  async plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan> {
    const clean = ctx.cleanTrain;
    if (!clean) throw new Error('AVATAR needs the clean training set its denoiser learns from (cleanTrain): pass the clean training set in the defence context');
    const s = this.settings;
    const eclipse = eclipseProfile(ctx.profile);
    const conv = avatarTStar(s.vpTStar, eclipse.denoiser.steps);
    const recipe = avatarDenoiserRecipe(eclipse.denoiser, conv.tStar, s.denoiserIterations);
    const purify: PurifyRecipe = { ...eclipse.purify, tStar: conv.tStar, ...(s.reverseSteps > 0 ? { respacedSteps: Math.min(s.reverseSteps, conv.tStar) } : {}) };

    // Stage 1: the denoiser, on the whole clean training set (keyed without the poisoned set).
    const cleanDigest = datasetDigest(clean);
    const denKey = { defense: 'avatar', clean: cleanDigest, recipe, seed: ctx.seed };
    const denName = `avatar-denoiser-${keyHash(denKey)}`;
    const denDir = join(ctx.workDir, denName);
    const checkpoint = join(denDir, 'denoiser.safetensors');
    ctx.log(
      `[avatar] t* = ${s.vpTStar} of the ${AVATAR_VP_STEPS}-step linear VP schedule (noise std ${conv.vpNoiseStd.toFixed(4)}) ` +
        `-> t* = ${conv.tStar} of the cosine schedule with T = ${eclipse.denoiser.steps} (noise std ${conv.noiseStd.toFixed(4)})`,
    );
    await stage(
      ctx.workDir,
      denName,
      denKey,
      async () => {
        ctx.log(`[avatar] training the denoiser on all ${clean.n} clean training images (replication 1), ${recipe.iterations} iterations, t <= ${recipe.trainMaxT || recipe.steps}`);
        await trainDenoiser(clean, {
          recipe,
          seed: ctx.seed,
          outDir: denDir,
          resume: 'auto',
          device: ctx.device,
          quiet: ctx.quiet,
          // The preview grid runs the whole reverse chain from its t (not respaced): from t* ~ 800
          // that is ~800 U-Net passes per preview, so it shows t = ECLIPSE's t* (100) instead.
          previewTStar: Math.min(conv.tStar, eclipse.purify.tStar),
          signal: ctx.signal,
          tags: { defense: 'avatar', clean_images: String(clean.n), clean_digest: cleanDigest, replication: '1' },
        });
      },
      ctx.log,
    );
    if (!existsSync(checkpoint)) throw new Error(`[avatar] ${checkpoint} is missing although its stage is marked done: delete ${join(ctx.workDir, `.stage-${denName}.json`)} to train it again`);

    // Stage 2: purify the (poisoned) training set at the converted t*.
    const purKey = { den: denKey, purify, data: datasetDigest(train), seed: ctx.seed };
    const purName = `avatar-purified-${keyHash(purKey)}`;
    const out = join(ctx.workDir, `${purName}.safetensors`);
    await stage(
      ctx.workDir,
      purName,
      purKey,
      async () => {
        await purifyDataset(train, { recipe: purify, checkpoint, seed: ctx.seed, out, overwrite: true, device: ctx.device, quiet: ctx.quiet, signal: ctx.signal });
      },
      ctx.log,
    );
    const purified = await loadDataset(out);
    const reverseSteps = purified.meta.reverse_steps ?? '';
    purified.meta = { ...train.meta, defense: 'avatar', t_star: String(conv.tStar), reverse_steps: reverseSteps, purify_seed: String(ctx.seed) };
    return {
      train: purified,
      notes: {
        vp_t_star: String(s.vpTStar),
        t_star: String(conv.tStar),
        t_star_schedule: `cosine, T = ${eclipse.denoiser.steps}`,
        noise_std: conv.noiseStd.toFixed(4),
        vp_noise_std: conv.vpNoiseStd.toFixed(4),
        reverse_steps: reverseSteps,
        denoiser_iterations: String(recipe.iterations),
        denoiser_train_max_t: String(recipe.trainMaxT),
        denoiser_images: String(clean.n),
        purified_images: String(purified.n),
        denoiser: "eclipse's U-Net at the profile's size, trained on the clean training set (the paper: a pretrained score-SDE model)",
        denoiser_checkpoint: checkpoint,
      },
    };
  }
}
