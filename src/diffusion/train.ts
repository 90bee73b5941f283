// Training the denoiser from scratch on the enlarged sparse set D_A (Algorithm 1, lines 1-10):
// hybrid loss, AdamW (wd 0), EMA, periodic atomic checkpoints, resume, progress with ETA, and a
// preview grid (clean / noised to t* / denoised) so a person can watch it learn.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { F, Generator, Tensor, manualSeed, noGrad, pickDevice, tidy, type Device, type RunContext } from '../engine/index.js';
import { AdamW } from '../nn/optim.js';
import { EMA } from '../nn/ema.js';
import { loadCheckpoint, readCheckpointMetadata, saveCheckpoint } from '../nn/checkpoint.js';
import { iterateBatches } from '../data/loader.js';
import { datasetDigest, type ImageDataset } from '../data/dataset.js';
import { ensureWritableDir } from '../io/atomic.js';
import { JobInterrupted, decideResume, type ResumeMode } from '../io/resume.js';
import { writeGridPng } from '../io/grid.js';
import { Progress } from '../io/progress.js';
import type { DenoiserRecipe } from './recipe.js';
export type { DenoiserRecipe, UNetSizes } from './recipe.js';
import { GaussianDiffusion } from './gaussian.js';
import { UniformSampler } from './resample.js';
import { tStarIndex } from './schedule.js';
import { UNet, type UNetConfig } from './unet.js';

export interface DenoiserTrainOptions extends RunContext {
  recipe: DenoiserRecipe;
  seed: number;
  /** folder: denoiser.safetensors (checkpoint), preview-<iter>.png */
  outDir: string;
  /**
   * A checkpoint already in outDir: true continues it (an error if its inputs differ); 'auto'
   * continues the same run and starts over otherwise (cached stages). Without either, a finished
   * run of the same inputs is returned as it is and anything else is refused (OutputExistsError),
   * unless `overwrite`.
   */
  resume?: ResumeMode;
  /** replace whatever run is in outDir */
  overwrite?: boolean;
  /** t* used for the preview grid */
  previewTStar?: number;
  /** provenance for the checkpoint (sparse set, profile ...) */
  tags?: Record<string, string>;
}

export interface DenoiserTrainResult {
  checkpoint: string;
  iterations: number;
  finalLoss: number;
  seconds: number;
}

export class DenoiserInterrupted extends JobInterrupted {}

export function unetConfig(r: DenoiserRecipe): UNetConfig {
  return { imageSize: 32, inChannels: 3, outChannels: 6, useScaleShiftNorm: true, numHeadsUpsample: r.unet.numHeads, ...r.unet };
}

/** uint8 CHW images -> float [-1, 1] (the diffusion model's scale). */
export function toModelScale(images: Uint8Array, count: number, h: number, w: number, device: Device): Tensor {
  return tidy(() => F.tensor(images.subarray(0, count * 3 * h * w), [count, 3, h, w], { device }).to('float32').div(127.5).sub(1));
}

/** float [-1, 1] -> uint8 CHW, rounded as an 8-bit image file would be. */
export function fromModelScale(x: Tensor): Uint8Array {
  return tidy(() => x.add(1).mul(127.5).round().clamp(0, 255).to('uint8')).data<'uint8'>();
}

/** The checkpoint's metadata describes the network; this rebuilds it (for purify). */
export function denoiserFromMetadata(meta: Record<string, string>, device: Device): { unet: UNet; steps: number } {
  if (meta.kind !== 'denoiser') throw new Error(`not a denoiser checkpoint (kind "${meta.kind ?? 'none'}"): pass the denoiser.safetensors written by eclipse denoiser train`);
  const cfg = JSON.parse(meta.unet ?? '{}') as UNetConfig;
  return { unet: new UNet({ ...cfg, device }), steps: Number(meta.steps) };
}

async function preview(path: string, unet: UNet, diffusion: GaussianDiffusion, images: Uint8Array, n: number, tStar: number, device: Device, seed: number): Promise<void> {
  const rows = noGrad(() =>
    tidy(() => {
      const x0 = toModelScale(images, n, 32, 32, device);
      const gen = new Generator(seed);
      const noise = F.randn(x0.shape, { device, generator: gen });
      const xt = diffusion.qSample(x0, diffusion.timesteps(tStarIndex(tStar, diffusion.numTimesteps), n, device), noise);
      const den = diffusion.purify(unet, x0, tStar, { noise, generator: gen });
      return [x0, xt, den].map((t) => fromModelScale(t));
    }),
  );
  const per = 3 * 32 * 32;
  const split = (u: Uint8Array): Uint8Array[] => Array.from({ length: n }, (_, i) => u.subarray(i * per, (i + 1) * per));
  await writeGridPng(path, rows.map(split), 32, 32);
}

/** Train the improved-DDPM denoiser on D_A (already enlarged). */
export async function trainDenoiser(enlarged: ImageDataset, o: DenoiserTrainOptions): Promise<DenoiserTrainResult> {
  const r = o.recipe;
  const device = pickDevice(o.device ?? 'auto');
  if (enlarged.height !== 32 || enlarged.width !== 32) throw new Error(`the denoiser is built for 32x32 images; this set is ${enlarged.height}x${enlarged.width}`);
  if (enlarged.n < 2) throw new Error(`the sparse set is too small to train a denoiser (${enlarged.n} images): raise --sparse-per-class`);
  await mkdir(o.outDir, { recursive: true }).catch(() => undefined);
  await ensureWritableDir(o.outDir);
  const ckpt = join(o.outDir, 'denoiser.safetensors');
  const cfg = unetConfig(r);
  // The images themselves, not only their count: another sparse set is another run.
  const runKey = JSON.stringify({ recipe: r, seed: o.seed, data: datasetDigest(enlarged), tags: o.tags ?? {} });
  if (existsSync(ckpt)) {
    const meta = await readCheckpointMetadata(ckpt);
    const finished = Number(meta.iteration) >= r.iterations;
    // a checkpoint without a key ('') is never this run's: runKey is never empty
    const next = decideResume({ stored: meta.run_key ?? '', current: runKey, finished, resume: o.resume, overwrite: o.overwrite }, {
      path: ckpt,
      different: `${ckpt} belongs to a different denoiser run (recipe, seed or sparse set changed): use a new output folder, or start over without resuming`,
      other: `${ckpt} holds a ${finished ? 'finished' : 'unfinished'} denoiser of other inputs (recipe, seed or sparse set differ)`,
      unfinished: `${ckpt} holds an unfinished denoiser of these inputs (iteration ${meta.iteration}/${r.iterations})`,
    });
    if (next === 'restart') await rm(ckpt);
    else if (next === 'done') {
      if (!o.quiet) console.error(`${ckpt} already holds this denoiser, finished (same sparse set, recipe and seed)`);
      return { checkpoint: ckpt, iterations: Number(meta.iteration), finalLoss: Number(meta.loss), seconds: 0 };
    }
  }

  manualSeed(o.seed);
  const unet = new UNet({ ...cfg, generator: new Generator(o.seed), device });
  const diffusion = GaussianDiffusion.create({ steps: r.steps, noiseSchedule: 'cosine', rescaleTimesteps: true });
  const sampler = new UniformSampler(r.steps, { trainMaxT: r.trainMaxT > 0 ? r.trainMaxT : undefined });
  const opt = new AdamW(unet.parameters(), { lr: r.lr, weightDecay: 0 });
  const ema = new EMA(unet, { decay: r.emaDecay });

  let iter = 0;
  if (existsSync(ckpt)) iter = Number((await loadCheckpoint(ckpt, { model: unet, optimizer: opt, ema })).iteration);
  const metadata = (i: number, loss: number): Record<string, string> => ({
    ...(o.tags ?? {}),
    kind: 'denoiser',
    run_key: runKey,
    iteration: String(i),
    loss: String(loss),
    steps: String(r.steps),
    unet: JSON.stringify({ ...cfg }),
    train_max_t: String(r.trainMaxT),
    ema_decay: String(r.emaDecay),
    seed: String(o.seed),
    weights: 'model tensors are the raw weights; ema.* are the EMA weights used for purification',
  });

  const progress = new Progress({ label: 'denoiser', total: r.iterations, unit: 'it', quiet: o.quiet });
  progress.skip(iter);
  progress.log(
    iter > 0
      ? `resuming denoiser training at iteration ${iter}/${r.iterations}`
      : `training the denoiser (U-Net ${cfg.modelChannels}ch x${cfg.numResBlocks} blocks, ${unet.parameterCount().toLocaleString()} params, T=${r.steps}` +
          `${r.trainMaxT > 0 ? `, t <= ${r.trainMaxT} only` : ''}) on ${enlarged.n} images (${device})`,
  );
  const started = performance.now();
  let smooth = NaN;
  let epoch = Math.floor((iter * r.batchSize) / enlarged.n);
  const gen = new Generator(o.seed * 7919 + iter);
  while (iter < r.iterations) {
    for (const b of iterateBatches(enlarged, { batchSize: r.batchSize, seed: o.seed, epoch, dropLast: enlarged.n >= r.batchSize })) {
      if (iter >= r.iterations) break;
      const loss = tidy(() => {
        const x0 = toModelScale(b.images, b.size, 32, 32, device);
        const t = sampler.sample(b.size, { device, generator: gen });
        opt.zeroGrad();
        const l = diffusion.trainingLosses(unet, x0, t, { generator: gen }).loss.mean();
        const v = l.item();
        if (!Number.isFinite(v))
          throw new Error(`denoiser loss became ${v} at iteration ${iter + 1}: lower --lr; the last good checkpoint (${existsSync(ckpt) ? ckpt : 'none yet'}) was kept`);
        l.backward();
        opt.step();
        return v;
      });
      ema.update();
      iter++;
      smooth = Number.isNaN(smooth) ? loss : 0.98 * smooth + 0.02 * loss;
      progress.tick(1, { iter: `${iter}/${r.iterations}`, loss: smooth.toFixed(4) });
      const last = iter === r.iterations;
      if (last || iter % r.checkpointEvery === 0) await saveCheckpoint(ckpt, { model: unet, optimizer: opt, ema, metadata: metadata(iter, smooth) });
      if (last || iter % r.previewEvery === 0) {
        // Preview with the EMA weights, as purification uses them.
        const shadow = new UNet({ ...cfg, device });
        ema.copyTo(shadow);
        shadow.eval();
        await preview(join(o.outDir, `preview-${String(iter).padStart(7, '0')}.png`), shadow, diffusion, b.images, Math.min(8, b.size), o.previewTStar ?? 100, device, o.seed);
        shadow.dispose();
      }
      if (o.signal?.aborted && !last) {
        await saveCheckpoint(ckpt, { model: unet, optimizer: opt, ema, metadata: metadata(iter, smooth) });
        progress.log(`stopped at iteration ${iter}, checkpoint saved`);
        throw new DenoiserInterrupted(`denoiser training interrupted at iteration ${iter}/${r.iterations} (checkpoint ${ckpt})`);
      }
    }
    epoch++;
  }
  progress.finish({ loss: smooth.toFixed(4) });
  opt.dispose();
  ema.dispose();
  unet.dispose();
  diffusion.dispose();
  return { checkpoint: ckpt, iterations: iter, finalLoss: smooth, seconds: (performance.now() - started) / 1000 };
}
