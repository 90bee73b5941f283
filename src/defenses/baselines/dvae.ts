// D-VAE (Yu et al., "Purify Unlearnable Examples via Rate-Constrained Variational Autoencoders",
// ICML 2024; yuyi-sd/D-VAE main_vae_disentangle.py, configs/cifar10/resnet18DVAE.yaml,
// some_scripts.sh): purify the poisoned training set with VAEs trained on it alone (no clean
// data). A VAE whose KL (rate) is held near a small target cannot carry the fine detail an
// availability poison lives in; a second, class-conditioned decoder learns that residual, so the
// perturbation is disentangled from the image. Beyond the paper (after COIN in the registry).
//
// Recipe (the release, CIFAR-10; network in dvae-model.ts):
// - Stage 1: a fresh D-VAE trains on the poisoned images (in [0, 1], no augmentation; shuffled,
//   last short batch dropped) for 60 epochs, Adam lr 0.005 (no weight decay) with a per-epoch
//   cosine decay to 0, batch 128, gradients clipped to norm 5, on
//     mse(rec, x) + mse(clamp(rec + p, 0, 1), x) + w max(KL, target_1)
//       + [epoch > 10] max(mse(p, 0), 0.002)
//   with target_1 = 1 and w = 0.01 (the release's weight for every KL target above 0.99). Then,
//   in eval mode (BN running statistics; z still sampled as the release's forward does), every
//   image becomes clamp(x - p, 0, 1), truncated to bytes (its numpy astype(uint8)).
// - Stage 2: another fresh D-VAE trains the same way on stage 1's images with target_2 = 3 (the
//   scripts' --kd 3.0). Every stage-1 image x1 becomes x' = clamp(x1 - p, 0, 1), then the
//   reconstruction of x' (z sampled), clamped and truncated to bytes: the purified set.
// The victim then trains on the purified set with its usual recipe (the release's victim run).
// The max(., floor) terms carry no gradient below their floor, as in the release. Labels are
// needed: the perturbation decoder is conditioned on the class.
//
// Profiles: paper = the release (width 64, latent 256, 60 epochs per stage, batch 128). mini
// (5,000 images, 2-core CPU, both stages within about 10 minutes) = width 16 (a quarter of the
// channels), latent 64, 20 epochs per stage, the perturbation penalty from epoch 4 (the release's
// 11 of 60, scaled); the rate targets, loss and optimiser are the release's. Measured on a loaded
// 2-core machine: a mini epoch (4,992 images) took 92.7 s while a ResNet-18 w16 training step ran
// at 48 img/s beside it, so a D-VAE step costs about 0.9 of a ResNet-18 w16 step; at that
// network's quiet-machine 638 img/s (docs/results.md) an epoch is about 7 s and the mini
// purification (40 epochs and the output passes) about 5 minutes. smoke (tests, seconds) = width
// 8, latent 16, 1 epoch, batch 32.
//
// Cache (resumable): stage 1 under ctx.workDir keyed by the training set's content, the recipe
// and the seed; stage 2 by stage 1's key. Each stage checkpoints its D-VAE and Adam state after
// every epoch, stamped with that key, so an interrupted run resumes where it stopped and a
// changed input starts over.
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { F, Generator, noGrad, tidy, type Device, type Tensor } from '../../engine/index.js';
import { datasetDigest, type ImageDataset } from '../../data/dataset.js';
import { iterateBatches } from '../../data/loader.js';
import { Rng } from '../../data/rng.js';
import { loadDataset, saveDataset } from '../../data/store.js';
import { JobInterrupted, readStampedCheckpoint } from '../../io/resume.js';
import { keyHash, stage } from '../../io/stage.js';
import { Progress } from '../../io/progress.js';
import { loadCheckpoint, saveCheckpoint } from '../../nn/checkpoint.js';
import { Adam, clipGradNorm } from '../../nn/optim.js';
import { cosineLr } from '../../nn/schedule.js';
import type { SettingTable } from '../../settings.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import { DvaeNet, dvaeKl } from './dvae-model.js';
import type { DefenseContext, DefensePlan } from './types.js';

export const DVAE_SETTINGS = {
  epochs: {
    flag: 'dvae-epochs', kind: 'int', min: 1,
    help: "D-VAE: training epochs of each stage's VAE (the release: 60; mini: 20, with width 16, to fit a 2-core CPU)",
    profiles: { smoke: 1, mini: 20, paper: 60 },
  },
  lr: { flag: 'dvae-lr', kind: 'number', above: 0, help: "D-VAE: Adam's learning rate (no weight decay), cosine-decayed to 0 over the epochs", profiles: { smoke: 0.005, mini: 0.005, paper: 0.005 } },
  batch: { flag: 'dvae-batch', kind: 'int', min: 1, help: "D-VAE: the VAEs' batch size (the last short batch is dropped; at most the set's size)", profiles: { smoke: 32, mini: 128, paper: 128 } },
  channels: {
    flag: 'dvae-width', kind: 'int', min: 2,
    help: "D-VAE: the encoder's first width c, even (stem c -> 2c, decoders 2c -> c -> c/2 -> 3; the release: 64; mini: 16)",
    profiles: { smoke: 8, mini: 16, paper: 64 },
  },
  latent: { flag: 'dvae-latent', kind: 'int', min: 1, help: 'D-VAE: latent channels per position of the half-size grid (the release: 256; mini: 64)', profiles: { smoke: 16, mini: 64, paper: 256 } },
  klTarget1: { flag: 'dvae-kl-target-1', kind: 'number', min: 0, help: "D-VAE: stage 1's rate constraint, the KL (nats per latent position) below which it is not penalised", profiles: { smoke: 1, mini: 1, paper: 1 } },
  klTarget2: { flag: 'dvae-kl-target-2', kind: 'number', min: 0, help: "D-VAE: stage 2's rate constraint (the release's --kd, 3.0 in its scripts)", profiles: { smoke: 3, mini: 3, paper: 3 } },
  klWeight: { flag: 'dvae-kl-weight', kind: 'number', min: 0, help: 'D-VAE: weight of max(KL, target) in the loss (the release: 0.01 for any target above 0.99)', profiles: { smoke: 0.01, mini: 0.01, paper: 0.01 } },
  pFloor: { flag: 'dvae-p-floor', kind: 'number', min: 0, help: "D-VAE: the perturbation's mean square is penalised only above this floor", profiles: { smoke: 0.002, mini: 0.002, paper: 0.002 } },
  pFrom: {
    flag: 'dvae-p-from', kind: 'int', min: 0,
    help: "D-VAE: first epoch (0-based) with the perturbation penalty (the release: 11 of 60; mini: 4 of 20)",
    profiles: { smoke: 0, mini: 4, paper: 11 },
  },
  gradClip: { flag: 'dvae-grad-clip', kind: 'number', above: 0, help: "D-VAE: the VAEs' gradient norm clip", profiles: { smoke: 5, mini: 5, paper: 5 } },
} as const satisfies SettingTable;

/** One stage's training recipe (the settings with that stage's KL target). */
export interface DvaeStageRecipe {
  epochs: number;
  lr: number;
  batch: number;
  channels: number;
  latent: number;
  klTarget: number;
  klWeight: number;
  pFloor: number;
  pFrom: number;
  gradClip: number;
}

export interface DvaeStageOptions {
  recipe: DvaeStageRecipe;
  /** 1 or 2: picks the random streams and what the stage writes */
  stage: 1 | 2;
  seed: number;
  device: Device;
  /** the per-epoch checkpoint (model + Adam), stamped with `key` */
  checkpoint: string;
  key: string;
  log: (message: string) => void;
  quiet?: boolean;
  signal?: AbortSignal;
}

/** Random streams of a stage: the initialisation, the batch order, the training draws of z, the output pass. */
const STREAM = { init: 1, order: 2, train: 3, apply: 4 } as const;

/** A 53-bit seed for (seed, stage, stream, index): the same inputs give the same draws on resume. */
export function dvaeSeed(seed: number, stage: number, stream: number, index = 0): number {
  const r = new Rng(seed, 0xd7ae, stage, stream, index);
  return (r.uint32() >>> 5) * 67108864 + (r.uint32() >>> 6);
}

/** The one-line refusal of a set D-VAE cannot use: labels missing or wrong, no images, odd size. */
export function checkDvaeInput(ds: ImageDataset): void {
  const fail = (why: string): never => {
    throw new Error(`dvae defence: cannot purify this training set: ${why}`);
  };
  const noLabels = (why: string): never => {
    throw new Error(`dvae defence: D-VAE needs the training set's labels (its perturbation decoder is conditioned on the class): ${why}`);
  };
  if (typeof ds !== 'object' || ds === null) fail('no dataset given');
  if (!Number.isInteger(ds.n) || ds.n < 1) fail(`it has no images (n = ${String(ds.n)})`);
  if (!(ds.labels instanceof Int32Array)) noLabels('it has none (an Int32Array of class indices)');
  if (ds.labels.length !== ds.n) noLabels(`it has ${ds.labels.length} labels for ${ds.n} images`);
  const k = Array.isArray(ds.classes) ? ds.classes.length : 0;
  if (k < 1) noLabels('it names no classes');
  for (let i = 0; i < ds.n; i++) {
    const y = ds.labels[i]!;
    if (y < 0 || y >= k) noLabels(`label ${y} of image ${i} is outside [0, ${k})`);
  }
  if (!(ds.images instanceof Uint8Array) || ds.images.length !== ds.n * 3 * ds.height * ds.width) fail(`its images do not hold n x 3 x H x W = ${ds.n} x 3 x ${ds.height} x ${ds.width} bytes`);
  if (ds.height % 2 !== 0 || ds.width % 2 !== 0) fail(`its images are ${ds.height}x${ds.width}; the encoder halves them, so both sides must be even`);
}

/** A batch's images in [0, 1] and labels as tensors. */
function batchTensors(images: Uint8Array, labels: Int32Array, size: number, ds: ImageDataset, device: Device): [Tensor, Tensor] {
  const x = F.tensor(images.subarray(0, size * 3 * ds.height * ds.width), [size, 3, ds.height, ds.width], { device }).to('float32').div(255);
  const y = F.tensor(labels.subarray(0, size), [size], { device }).to('int64');
  return [x, y];
}

/** Train one stage's D-VAE on `ds` (resuming its own checkpoint); the caller disposes the model. */
export async function trainDvae(ds: ImageDataset, o: DvaeStageOptions): Promise<DvaeNet> {
  const r = o.recipe;
  const model = new DvaeNet({ channels: r.channels, latent: r.latent, classes: ds.classes.length, height: ds.height, width: ds.width, device: o.device, generator: new Generator(dvaeSeed(o.seed, o.stage, STREAM.init)) });
  const params = model.parameters();
  const opt = new Adam(params, { lr: r.lr });
  const schedule = cosineLr(r.lr, r.epochs);
  // drop_last as the release, but never all of a set smaller than one batch
  const batch = Math.min(r.batch, ds.n);
  try {
    await mkdir(dirname(o.checkpoint), { recursive: true });
    let start = 0;
    const stamp = (await readStampedCheckpoint(o.checkpoint, o.key, o.log))?.metadata;
    if (stamp !== undefined) {
      await loadCheckpoint(o.checkpoint, { model, optimizer: opt }).catch((e: Error) => {
        throw new Error(`${o.checkpoint}: cannot resume from this checkpoint (${e.message}); delete it to start over`);
      });
      start = Number(stamp.epoch);
      if (!Number.isInteger(start) || start < 0 || start > r.epochs) throw new Error(`${o.checkpoint}: its epoch "${stamp.epoch}" is not one of 0..${r.epochs}; delete it to start over`);
      o.log(`[dvae] stage ${o.stage}: resuming after epoch ${start}/${r.epochs} from ${o.checkpoint}`);
    }
    const perEpoch = Math.floor(ds.n / batch) * batch;
    const progress = new Progress({ label: `dvae stage ${o.stage}`, total: r.epochs * perEpoch, unit: 'img', quiet: o.quiet || start >= r.epochs });
    progress.skip(start * perEpoch);
    for (let epoch = start; epoch < r.epochs; epoch++) {
      model.train();
      opt.lr = schedule(epoch);
      const gen = new Generator(dvaeSeed(o.seed, o.stage, STREAM.train, epoch));
      const sums = { loss: 0, rec: 0, kl: 0, p: 0, n: 0 };
      try {
        for (const b of iterateBatches(ds, { batchSize: batch, seed: dvaeSeed(o.seed, o.stage, STREAM.order), epoch, dropLast: true })) {
          const s = tidy(() => {
            const [x, y] = batchTensors(b.images, b.labels, b.size, ds, o.device);
            opt.zeroGrad();
            const out = model.run(x, y, gen);
            const lossRec = F.mseLoss(out.rec, x);
            const lossRecP = F.mseLoss(out.rec.add(out.p).clamp(0, 1), x);
            const kl = dvaeKl(out.mu, out.logVar);
            const pSq = out.p.square().mean();
            const [klv, pv] = [kl.item(), pSq.item()];
            // max(term, floor): the term (with its gradient) only at or above its floor
            let loss = lossRec.add(lossRecP);
            if (klv >= r.klTarget) loss = loss.add(kl.mul(r.klWeight));
            const pOn = epoch >= r.pFrom;
            if (pOn && pv >= r.pFloor) loss = loss.add(pSq);
            const value = lossRec.item() + lossRecP.item() + r.klWeight * Math.max(klv, r.klTarget) + (pOn ? Math.max(pv, r.pFloor) : 0);
            if (!Number.isFinite(value)) throw new Error(`dvae defence: stage ${o.stage}'s loss became ${value} in epoch ${epoch + 1}; lower --dvae-lr`);
            loss.backward();
            clipGradNorm(params, r.gradClip);
            opt.step();
            return { loss: value, rec: lossRec.item(), kl: klv, p: pv };
          });
          sums.loss += s.loss * b.size;
          sums.rec += s.rec * b.size;
          sums.kl += s.kl * b.size;
          sums.p += s.p * b.size;
          sums.n += b.size;
          progress.tick(b.size, { epoch: `${epoch + 1}/${r.epochs}`, kl: s.kl.toFixed(2) });
        }
      } finally {
        gen.dispose();
      }
      const m = (v: number): string => (v / Math.max(1, sums.n)).toFixed(4);
      const psnr = -10 * Math.log10(sums.rec / Math.max(1, sums.n));
      o.log(`[dvae] stage ${o.stage} epoch ${epoch + 1}/${r.epochs}: lr ${opt.lr.toPrecision(3)}, loss ${m(sums.loss)}, reconstruction PSNR ${psnr.toFixed(2)} dB, KL ${m(sums.kl)} (target ${r.klTarget}), mean p^2 ${m(sums.p)}`);
      await saveCheckpoint(o.checkpoint, { model, optimizer: opt, metadata: { run_key: o.key, epoch: String(epoch + 1), stage: String(o.stage), model: 'dvae', width: String(r.channels) } });
      if (o.signal?.aborted && epoch + 1 < r.epochs) throw new JobInterrupted(`dvae defence: interrupted after stage ${o.stage} epoch ${epoch + 1}/${r.epochs} (its checkpoint is kept)`);
    }
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    opt.dispose();
  }
}

/**
 * A stage's output, in eval mode and with z sampled (the release's forward): stage 1 gives
 * clamp(x - p, 0, 1); stage 2 the reconstruction of clamp(x - p, 0, 1). Truncated to bytes.
 */
export function applyDvae(model: DvaeNet, ds: ImageDataset, stageNo: 1 | 2, seed: number, device: Device, batchSize = 256): ImageDataset {
  model.eval();
  const per = 3 * ds.height * ds.width;
  const images = new Uint8Array(ds.n * per);
  const gen = new Generator(dvaeSeed(seed, stageNo, STREAM.apply));
  try {
    noGrad(() => {
      let at = 0;
      for (const b of iterateBatches(ds, { batchSize, seed: 0, shuffle: false })) {
        const bytes = tidy(() => {
          const [x, y] = batchTensors(b.images, b.labels, b.size, ds, device);
          const first = model.run(x, y, gen);
          let out = x.sub(first.p).clamp(0, 1);
          if (stageNo === 2) out = model.run(out, y, gen).rec.clamp(0, 1);
          return out.mul(255).floor().to('uint8').to('cpu').contiguous().data<'uint8'>();
        });
        images.set(bytes, at * per);
        at += b.size;
      }
    });
  } finally {
    gen.dispose();
  }
  return { ...ds, images, labels: ds.labels.slice(), classes: [...ds.classes], meta: { ...ds.meta } };
}

/** Both stages' recipes from the settings. */
export function dvaeRecipes(s: { readonly [K in keyof typeof DVAE_SETTINGS]: number }): [DvaeStageRecipe, DvaeStageRecipe] {
  const base = { epochs: s.epochs, lr: s.lr, batch: s.batch, channels: s.channels, latent: s.latent, klWeight: s.klWeight, pFloor: s.pFloor, pFrom: s.pFrom, gradClip: s.gradClip };
  return [{ ...base, klTarget: s.klTarget1 }, { ...base, klTarget: s.klTarget2 }];
}

export class DvaeDefense extends BaselineDefense<typeof DVAE_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('dvae', DVAE_SETTINGS, o);
    if (this.settings.channels % 2 !== 0) throw new Error(`dvae defence: setting channels (--dvae-width) must be even, got ${this.settings.channels}`);
  }

  async plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan> {
    checkDvaeInput(train);
    const [r1, r2] = dvaeRecipes(this.settings);
    const data = datasetDigest(train);
    let current = train;
    let prevKey: unknown = { data };
    const names: string[] = [];
    for (const [stageNo, recipe] of [[1, r1], [2, r2]] as const) {
      const key = { defense: 'dvae', stage: stageNo, input: prevKey, recipe, seed: ctx.seed };
      const name = `dvae-stage${stageNo}-${keyHash(key)}`;
      const out = join(ctx.workDir, `${name}.safetensors`);
      const input = current;
      await stage(
        ctx.workDir,
        name,
        key,
        async () => {
          ctx.log(`[dvae] stage ${stageNo}: a D-VAE (width ${recipe.channels}, latent ${recipe.latent}, KL target ${recipe.klTarget}) on ${input.n} images, ${recipe.epochs} epochs`);
          const model = await trainDvae(input, {
            recipe, stage: stageNo, seed: ctx.seed, device: ctx.device, checkpoint: join(ctx.workDir, name, 'dvae.safetensors'), key: JSON.stringify(key),
            log: ctx.log, quiet: ctx.quiet, signal: ctx.signal,
          });
          try {
            await saveDataset(applyDvae(model, input, stageNo, ctx.seed, ctx.device), out);
          } finally {
            model.dispose();
          }
        },
        ctx.log,
        [out],
      );
      current = await loadDataset(out);
      prevKey = key;
      names.push(name);
    }
    const purified = current;
    purified.meta = { ...train.meta, defense: 'dvae', purify_seed: String(ctx.seed) };
    return {
      train: purified,
      notes: {
        stages: `stage 1: clamp(x - p) under KL target ${r1.klTarget}; stage 2: a fresh D-VAE's reconstruction of clamp(x1 - p) under KL target ${r2.klTarget}`,
        kl_targets: `${r1.klTarget}, ${r2.klTarget}`,
        epochs_per_stage: String(r1.epochs),
        width: String(r1.channels),
        latent: String(r1.latent),
        purified_images: String(purified.n),
        stage_files: names.join(', '),
      },
    };
  }
}
