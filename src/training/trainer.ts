// The classifier trainer: the victim's training run of the paper (and of the baselines).
// Per epoch: seeded shuffle, crop/flip (+ any extra batch transform), SGD steps, metrics as
// JSON lines, an atomic checkpoint; evaluation every k epochs; resumable; NaN-safe.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { F, Generator, Tensor, manualSeed, noGrad, pickDevice, setNumThreads, tidy, type Device, type RunContext } from '../engine/index.js';
import { Module } from '../nn/module.js';
import { createClassifier } from '../nn/models/index.js';
import { SGD } from '../nn/optim.js';
import { lrAt } from '../nn/schedule.js';
import { loadCheckpoint, readCheckpointMetadata, saveCheckpoint } from '../nn/checkpoint.js';
import { cropFlipAugment } from '../data/augment.js';
import { iterateBatches, batchCount } from '../data/loader.js';
import { datasetDigest, type ImageDataset } from '../data/dataset.js';
import type { Rng } from '../data/rng.js';
import { atomicWriteFile, ensureWritableDir } from '../io/atomic.js';
import { JobInterrupted, decideResume, type ResumeMode } from '../io/resume.js';
import type { ClassifierRecipe } from '../profiles.js';
import { Progress } from '../io/progress.js';

/** A per-batch transform on uint8 CHW images after crop/flip (e.g. the compensation module). */
export interface BatchTransform {
  readonly name: string;
  apply(images: Uint8Array, count: number, shape: { channels: number; height: number; width: number }, rng: Rng): void;
}

/**
 * Adversarial training: replaces each training batch (after crop/flip and the transform, on the
 * device) with an adversarial one, e.g. PGD within an L_inf ball (an AT reference model, the AT
 * defence). Called with the model in train mode; it may switch modes but must restore them.
 */
export interface Adversary {
  readonly name: string;
  perturb(model: Module, x: Tensor, y: Tensor, gen: Generator): Tensor;
}

/**
 * The loss of one training batch, replacing plain cross-entropy (mixup, cutmix, UEraser's worst
 * of K augmented copies, OP's projection). `logits` are the model's outputs for the batch as
 * given (for the running training accuracy); the model is in train mode. `epoch` is the 0-based
 * epoch of the batch (UEraser changes K after its first epochs; a resumed run passes the same).
 */
export interface Objective {
  readonly name: string;
  loss(model: Module, x: Tensor, y: Tensor, gen: Generator, epoch: number): { loss: Tensor; logits: Tensor };
}

/** Changes the gradients after backward() and before the optimizer step (DP-SGD). */
export interface GradientHook {
  readonly name: string;
  apply(params: readonly Tensor[], gen: Generator): void;
}

/** Plain cross-entropy: the trainer's objective unless one is given. */
export const CROSS_ENTROPY: Objective = {
  name: 'cross-entropy',
  loss(model, x, y) {
    const logits = model.forward(x);
    return { loss: F.crossEntropy(logits, y), logits };
  },
};

export interface TrainOptions extends RunContext {
  recipe: ClassifierRecipe;
  seed: number;
  /** run folder: checkpoint.safetensors, metrics.jsonl, result.json */
  outDir: string;
  /**
   * A run already in outDir: true continues it (an error if its inputs differ); 'auto' continues
   * the same run and starts over otherwise (cached stages, whose folder is theirs). Without
   * either, a finished run of the same inputs is returned as it is and anything else is refused
   * (OutputExistsError), unless `overwrite`.
   */
  resume?: ResumeMode;
  /** replace whatever run is in outDir */
  overwrite?: boolean;
  threads?: number;
  /** channels-last activations and weights (faster convolutions; default true) */
  channelsLast?: boolean;
  transform?: BatchTransform;
  adversary?: Adversary;
  objective?: Objective;
  gradientHook?: GradientHook;
  /** provenance copied into the checkpoint and result (dataset names, attack, defence) */
  tags?: Record<string, string>;
  onEpoch?: (m: EpochMetrics) => void;
}

export interface EpochMetrics {
  epoch: number;
  lr: number;
  train_loss: number;
  train_acc: number;
  img_s: number;
  seconds: number;
  test_acc?: number;
  test_loss?: number;
}

/** One epoch of a training curve as results keep it (reports draw it without the run folder). */
export type CurvePoint = Pick<EpochMetrics, 'epoch' | 'train_loss' | 'train_acc' | 'test_acc'>;

/** A run's curve, rounded to what a plot can show (a few hundred bytes in a results row). */
export function trainingCurve(epochs: readonly EpochMetrics[]): CurvePoint[] {
  const r = (v: number): number => Math.round(v * 1e4) / 1e4;
  return epochs.map((m) => ({ epoch: m.epoch, train_loss: r(m.train_loss), train_acc: r(m.train_acc), ...(m.test_acc === undefined ? {} : { test_acc: r(m.test_acc) }) }));
}

export interface TrainResult {
  testAcc: number;
  testLoss: number;
  epochs: EpochMetrics[];
  seconds: number;
  outDir: string;
}

export class NonFiniteLossError extends Error {}
/** Raised when a run was stopped by its signal; a resumed run continues from its checkpoint. */
export class TrainingInterrupted extends JobInterrupted {}

/** uint8 CHW batch -> float tensor in [0,1] on the device, in the model's memory format. */
export function batchToTensor(images: Uint8Array, count: number, ds: Pick<ImageDataset, 'height' | 'width'>, device: Device, channelsLast: boolean): Tensor {
  return tidy(() => {
    const u8 = F.tensor(images.subarray(0, count * 3 * ds.height * ds.width), [count, 3, ds.height, ds.width], { device });
    const x = u8.to('float32').div(255);
    return channelsLast ? x.contiguous('channels_last') : x;
  });
}

function labelsToTensor(labels: Int32Array, count: number, device: Device): Tensor {
  return tidy(() => F.tensor(labels.subarray(0, count), [count], { device }).to('int64'));
}

/** Accuracy and mean loss of a model on a dataset (eval mode, no gradients). */
export function evaluate(model: Module, ds: ImageDataset, o: { device: Device; channelsLast: boolean; batchSize?: number }): { acc: number; loss: number } {
  const wasTraining = model.training;
  model.eval();
  let correct = 0;
  let lossSum = 0;
  noGrad(() => {
    for (const b of iterateBatches(ds, { batchSize: o.batchSize ?? 500, seed: 0, shuffle: false })) {
      tidy(() => {
        const x = batchToTensor(b.images, b.size, ds, o.device, o.channelsLast);
        const y = labelsToTensor(b.labels, b.size, o.device);
        const logits = model.forward(x);
        lossSum += F.crossEntropy(logits, y, 'sum').item();
        correct += logits.argmax(1).eq(y).sum().item();
      });
    }
  });
  model.train(wasTraining);
  return { acc: correct / ds.n, loss: lossSum / ds.n };
}

function describeRecipe(r: ClassifierRecipe): string {
  return `${r.model} width ${r.width}, ${r.epochs} epochs, batch ${r.batchSize}, lr ${r.lr} (${r.schedule}), wd ${r.weightDecay}`;
}

/** Train a classifier on `train`, evaluate on `test`. Resumes from outDir when asked. */
export async function trainClassifier(train: ImageDataset, test: ImageDataset, o: TrainOptions): Promise<TrainResult> {
  const r = o.recipe;
  const device = pickDevice(o.device ?? 'auto');
  if (o.threads) setNumThreads(o.threads);
  const channelsLast = o.channelsLast ?? true;
  if (train.classes.length !== test.classes.length || train.classes.some((c, i) => c !== test.classes[i]))
    throw new Error(`train and test sets have different classes: [${train.classes.join(', ')}] vs [${test.classes.join(', ')}]`);

  await mkdir(o.outDir, { recursive: true }).catch(() => undefined);
  await ensureWritableDir(o.outDir);
  const ckptPath = join(o.outDir, 'checkpoint.safetensors');
  const metricsPath = join(o.outDir, 'metrics.jsonl');
  const resultPath = join(o.outDir, 'result.json');
  // Everything the run's numbers depend on: a change in any of them is another run.
  const runKey = JSON.stringify({
    recipe: r, seed: o.seed, train: datasetDigest(train), test: datasetDigest(test), transform: o.transform?.name ?? 'none',
    ...(o.adversary ? { adversary: o.adversary.name } : {}), ...(o.objective ? { objective: o.objective.name } : {}),
    ...(o.gradientHook ? { gradient: o.gradientHook.name } : {}), tags: o.tags ?? {},
  });

  const stored = await storedRunKey(o.outDir);
  if (stored !== null) {
    const finished = existsSync(resultPath);
    const next = decideResume({ stored, current: runKey, finished, resume: o.resume, overwrite: o.overwrite }, {
      path: o.outDir,
      different: `${o.outDir} holds a different run (recipe, seed or data changed): use a new output folder, or start over without resuming`,
      other: `${o.outDir} holds a ${finished ? 'finished' : 'unfinished'} run of other inputs (recipe, seed or data differ)`,
      unfinished: `${o.outDir} holds an unfinished run of these inputs`,
    });
    if (next === 'restart') {
      await Promise.all([ckptPath, resultPath].map((f) => rm(f, { force: true })));
    } else if (next === 'done') {
      const done = (await readResult(o.outDir))!;
      if (!o.quiet) console.error(`${o.outDir} already holds this run, finished (same data, recipe and seed): test accuracy ${(100 * done.testAcc).toFixed(2)}%`);
      return { testAcc: done.testAcc, testLoss: done.testLoss, epochs: done.epochs, seconds: done.seconds, outDir: o.outDir };
    }
  }

  manualSeed(o.seed);
  const model = createClassifier(r.model, { width: r.width, numClasses: train.classes.length, generator: new Generator(o.seed), device, imageShape: [train.channels, train.height, train.width] });
  if (channelsLast) model.to(undefined, 'channels_last');
  const opt = new SGD(model.parameters(), { lr: r.lr, momentum: r.momentum, nesterov: r.nesterov, weightDecay: r.weightDecay });

  let startEpoch = 0;
  let history: EpochMetrics[] = [];
  if (existsSync(ckptPath)) {
    const meta = await loadCheckpoint(ckptPath, { model, optimizer: opt });
    startEpoch = Number(meta.epoch);
    history = JSON.parse(meta.history ?? '[]') as EpochMetrics[];
  }
  if (startEpoch === 0) await atomicWriteFile(metricsPath, '');

  const stepsPerEpoch = batchCount(train.n, r.batchSize);
  const progress = new Progress({ label: 'train', total: r.epochs * train.n, unit: 'img', quiet: o.quiet });
  progress.skip(startEpoch * train.n);
  if (startEpoch > 0) progress.log(`resuming at epoch ${startEpoch + 1}/${r.epochs} from ${ckptPath}`);
  else progress.log(`training ${describeRecipe(r)} on ${train.n} images (${device}, ${channelsLast ? 'channels-last' : 'NCHW'})`);
  const augment = r.crop || r.flip ? cropFlipAugment({ padding: r.crop ? 4 : 0, flipProb: r.flip ? 0.5 : 0 }) : undefined;
  const shape = { channels: 3, height: train.height, width: train.width };
  const started = performance.now();

  let last: { acc: number; loss: number } | null = null;
  for (let epoch = startEpoch; epoch < r.epochs; epoch++) {
    const t0 = performance.now();
    const lr = lrAt(r, epoch);
    opt.lr = lr;
    manualSeed(o.seed * 1000 + epoch);
    model.train();
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let step = 0;
    const transform = o.transform;
    const advGen = o.adversary ? new Generator(o.seed * 1000 + epoch + 7) : null;
    // One generator per epoch for the objective and gradient hook: a resumed run draws the same.
    const hookGen = new Generator(o.seed * 1000 + epoch + 13);
    const objective = o.objective ?? CROSS_ENTROPY;
    const params = model.parameters();
    const hook = transform
      ? (src: Uint8Array, dst: Uint8Array, count: number, s: typeof shape, rng: Rng): void => {
          if (augment) augment(src, dst, count, s, rng);
          else dst.set(src.subarray(0, count * 3 * s.height * s.width));
          transform.apply(dst, count, s, rng);
        }
      : augment;
    for (const b of iterateBatches(train, { batchSize: r.batchSize, seed: o.seed, epoch, augment: hook })) {
      const stats = tidy(() => {
        const clean = batchToTensor(b.images, b.size, shape, device, channelsLast);
        const y = labelsToTensor(b.labels, b.size, device);
        const x = o.adversary ? o.adversary.perturb(model, clean, y, advGen!) : clean;
        opt.zeroGrad();
        const { loss, logits } = objective.loss(model, x, y, hookGen, epoch);
        const lossValue = loss.item();
        if (!Number.isFinite(lossValue))
          throw new NonFiniteLossError(
            `training loss became ${lossValue} at epoch ${epoch + 1}, step ${step + 1}/${stepsPerEpoch} (lr ${lr}): ` +
              `lower --lr or check the data; the last good checkpoint (${existsSync(ckptPath) ? ckptPath : 'none yet'}) was kept`,
          );
        loss.backward();
        o.gradientHook?.apply(params, hookGen);
        opt.step();
        return [lossValue, noGrad(() => logits.argmax(1).eq(y).sum().item())] as [number, number];
      });
      lossSum += stats[0] * b.size;
      correct += stats[1];
      seen += b.size;
      step++;
      progress.tick(b.size, { epoch: `${epoch + 1}/${r.epochs}`, loss: (lossSum / seen).toFixed(3), acc: `${((100 * correct) / seen).toFixed(1)}%` });
    }
    const m: EpochMetrics = {
      epoch: epoch + 1,
      lr,
      train_loss: lossSum / seen,
      train_acc: correct / seen,
      img_s: seen / ((performance.now() - t0) / 1000),
      seconds: (performance.now() - t0) / 1000,
    };
    const isLast = epoch + 1 === r.epochs;
    if (isLast || (r.evalEvery > 0 && (epoch + 1) % r.evalEvery === 0)) {
      last = evaluate(model, test, { device, channelsLast });
      m.test_acc = last.acc;
      m.test_loss = last.loss;
      progress.log(`epoch ${epoch + 1}/${r.epochs}: train loss ${m.train_loss.toFixed(3)} acc ${(100 * m.train_acc).toFixed(1)}% | test acc ${(100 * last.acc).toFixed(2)}%`);
    }
    history.push(m);
    await atomicWriteFile(metricsPath, history.map((h) => JSON.stringify(h)).join('\n') + '\n');
    await saveCheckpoint(ckptPath, {
      model,
      optimizer: opt,
      metadata: { ...(o.tags ?? {}), run_key: runKey, epoch: String(epoch + 1), history: JSON.stringify(history), model: r.model, width: String(r.width), seed: String(o.seed) },
    });
    o.onEpoch?.(m);
    if (o.signal?.aborted && epoch + 1 < r.epochs) {
      opt.dispose();
      model.dispose();
      progress.log(`stopped after epoch ${epoch + 1}/${r.epochs}, checkpoint saved`);
      throw new TrainingInterrupted(`training interrupted after epoch ${epoch + 1}/${r.epochs} (checkpoint ${ckptPath})`);
    }
  }
  if (last === null) last = evaluate(model, test, { device, channelsLast });
  progress.finish({ 'test acc': `${(100 * last.acc).toFixed(2)}%` });
  const result: TrainResult = { testAcc: last.acc, testLoss: last.loss, epochs: history, seconds: (performance.now() - started) / 1000, outDir: o.outDir };
  await atomicWriteFile(resultPath, JSON.stringify({ ...result, recipe: r, seed: o.seed, tags: o.tags ?? {}, run_key: runKey }, null, 2) + '\n');
  opt.dispose();
  model.dispose();
  return result;
}

/** The run key of whatever run is in outDir (its result, else its checkpoint); null when there is none. */
async function storedRunKey(outDir: string): Promise<string | null> {
  const result = await readResult(outDir);
  if (result?.run_key !== undefined) return result.run_key;
  const ckpt = join(outDir, 'checkpoint.safetensors');
  if (existsSync(ckpt)) return (await readCheckpointMetadata(ckpt)).run_key ?? '';
  // a result written before results recorded their key: not provably the same run
  return result ? '' : null;
}

/** Read a finished run's result.json (for caching and reports). */
export async function readResult(outDir: string): Promise<(TrainResult & { recipe: ClassifierRecipe; seed: number; run_key?: string }) | null> {
  const p = join(outDir, 'result.json');
  if (!existsSync(p)) return null;
  return JSON.parse(await readFile(p, 'utf8')) as TrainResult & { recipe: ClassifierRecipe; seed: number; run_key?: string };
}
