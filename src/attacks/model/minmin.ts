// The sample-wise min-min alternation of error-minimising noise (Huang et al. 2021, "Unlearnable
// examples"; HanxunH/Unlearnable-Examples perturbation.py / toolbox.py), shared by EM and ADP:
//
//   repeat
//     trainSteps SGD steps of the surrogate on batches of clamp(x + delta)   (no augmentation)
//     for every batch: delta <- PGD minimising CE(f(x + delta), y)           (eval mode, warm start)
//   until the surrogate's accuracy on clamp(x + delta) (eval mode) exceeds stopAccuracy
//
// The whole state (noise of every image, surrogate, optimiser, data-iterator position, history)
// is checkpointed atomically after every loop; a re-run with the same key resumes after the last
// finished loop. The images are clamped to [0,1] in the surrogate's steps too (the release adds
// the noise unclamped there, issue #13 of its repository): the surrogate sees what a victim sees.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

import { F, Generator, Tensor, noGrad, tidy, type Device, type RunContext } from '../../engine/index.js';
import type { ImageDataset } from '../../data/dataset.js';
import { Rng } from '../../data/rng.js';
import { loadCheckpoint, saveCheckpoint } from '../../nn/checkpoint.js';
import type { Module } from '../../nn/module.js';
import { SGD, clipGradNorm } from '../../nn/optim.js';
import { Progress } from '../../io/progress.js';
import { readStampedCheckpoint } from '../../io/resume.js';
import type { Tensor as StTensor } from '../../io/safetensors.js';
import { GenerationInterrupted, batchSeed } from './generate.js';
import { datasetDigest } from '../../data/dataset.js';
import { untargetedCrossEntropy } from './losses.js';
import { pgd } from '../../training/pgd.js';

/** The classifier whose error the noise minimises; logits may draw randomness from gen (ADP's C). */
export interface Learner {
  readonly model: Module;
  logits(x: Tensor, gen: Generator): Tensor;
}

/** The settings every min-min attack's table carries (EM, ADP). */
export interface MinMinSettings {
  /** PGD steps per image per loop */
  steps: number;
  /** surrogate SGD steps per loop */
  trainSteps: number;
  trainBatch: number;
  /** images per PGD batch (eval mode: only speed depends on it) */
  poisonBatch: number;
  /** stop when the surrogate's accuracy on the noised set exceeds this (0.99) */
  stopAccuracy: number;
  /** give up after this many loops (the last noise is kept) */
  maxLoops: number;
}

export interface MinMinRecipe extends MinMinSettings {
  eps: number;
  /** signed PGD step ([0,1] units) */
  stepSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  gradClip: number;
}

/** A min-min recipe from an attack's settings; the surrogate's optimiser is EM's release (SGD m0.9, wd 5e-4, clip 5). */
export function minMinRecipeOf(s: MinMinSettings, eps: number, stepSize: number, lr = 0.1): MinMinRecipe {
  return {
    eps, stepSize, steps: s.steps, trainSteps: s.trainSteps, trainBatch: s.trainBatch, poisonBatch: s.poisonBatch,
    stopAccuracy: s.stopAccuracy, maxLoops: s.maxLoops, lr, momentum: 0.9, weightDecay: 5e-4, gradClip: 5,
  };
}

export interface MinMinOptions extends RunContext {
  /** everything besides data and seed that decides the output */
  key: unknown;
  seed: number;
  checkpoint: string;
  device?: Device;
  label?: string;
}

export interface LoopRecord {
  loop: number;
  /** surrogate accuracy on the noised set, eval mode, after the loop's PGD */
  acc: number;
  /** mean training loss of the loop's surrogate steps */
  trainLoss: number;
  seconds: number;
}

export interface MinMinResult {
  delta: Float32Array;
  history: LoopRecord[];
  converged: boolean;
  /** seconds this run spent (resumed loops excluded) */
  seconds: number;
  resumedLoops: number;
}

/** Random streams of the surrogate's batch order and of the per-loop generators. */
const ORDER_STREAM = 0x3e1;

/** Position in the surrogate's endless shuffled pass over the data. */
interface Cursor {
  epoch: number;
  pos: number;
}

/** The next training batch's indices: the rest of this epoch's order (a short batch at the end), then a new epoch. */
function nextIndices(cursor: Cursor, seed: number, n: number, batch: number): Int32Array {
  if (cursor.pos >= n) {
    cursor.epoch++;
    cursor.pos = 0;
  }
  const order = new Rng(seed, ORDER_STREAM, cursor.epoch).permutation(n);
  const idx = order.subarray(cursor.pos, Math.min(n, cursor.pos + batch));
  cursor.pos += idx.length;
  return Int32Array.from(idx);
}

/** Accuracy of the learner on clamp(x + delta), eval mode. */
function noisedAccuracy(learner: Learner, x: Tensor, delta: Tensor, labels: Tensor, batch: number, gen: Generator): number {
  const n = x.shape[0]!;
  let correct = 0;
  noGrad(() => {
    for (let s = 0; s < n; s += batch) {
      const c = Math.min(batch, n - s);
      correct += tidy(() => {
        const xb = x.narrow(0, s, c).add(delta.narrow(0, s, c)).clamp(0, 1);
        return learner.logits(xb, gen).argmax(1).eq(labels.narrow(0, s, c)).sum().item();
      });
    }
  });
  return correct / n;
}

/** Run (or resume) the min-min alternation on ds; returns the noise of every image. */
export async function minMinNoise(ds: ImageDataset, learner: Learner, r: MinMinRecipe, o: MinMinOptions): Promise<MinMinResult> {
  const device: Device = o.device ?? 'cpu';
  const log = o.log ?? (() => undefined);
  const per = 3 * ds.height * ds.width;
  const key = JSON.stringify({ key: o.key, seed: o.seed, recipe: r, data: datasetDigest(ds) });
  const model = learner.model;
  const opt = new SGD(model.parameters(), { lr: r.lr, momentum: r.momentum, weightDecay: r.weightDecay });
  const shape = [ds.n, 3, ds.height, ds.width];
  const x = tidy(() => F.tensor(ds.images, shape, { device }).to('float32').div(255)).keep();
  const labels = tidy(() => F.tensor(ds.labels, [ds.n], { device }).to('int64')).keep();
  let delta = tidy(() => F.zeros(shape, { device })).keep();
  const cursor: Cursor = { epoch: 0, pos: 0 };
  let history: LoopRecord[] = [];
  const dispose = (): void => {
    opt.dispose();
    x.dispose();
    labels.dispose();
    delta.dispose();
  };
  try {
    await mkdir(dirname(o.checkpoint), { recursive: true });
    // Only a checkpoint of this very run is loaded (its key is read first), so a foreign or
    // stale file never touches the fresh surrogate.
    const stamp = (await readStampedCheckpoint(o.checkpoint, key, log))?.metadata;
    if (stamp !== undefined) {
      const extras = new Map<string, StTensor>();
      await loadCheckpoint(o.checkpoint, { model, optimizer: opt, extras }).catch((e: Error) => {
        throw new Error(`${o.checkpoint}: cannot resume from this checkpoint (${e.message}); delete it to start over`);
      });
      const noise = extras.get('delta');
      if (noise === undefined || noise.dtype !== 'F32' || noise.data.length !== ds.n * per)
        throw new Error(`${o.checkpoint}: the checkpoint's noise is missing or has the wrong size; delete it to start over`);
      delta.dispose();
      delta = tidy(() => F.tensor(noise.data, shape, { device })).keep();
      cursor.epoch = Number(stamp.cursor_epoch);
      cursor.pos = Number(stamp.cursor_pos);
      history = JSON.parse(stamp.history ?? '[]') as LoopRecord[];
      log(`resuming after loop ${history.length} from ${o.checkpoint}`);
    }
  } catch (e) {
    dispose();
    throw e;
  }

  const last = history[history.length - 1];
  const done = last !== undefined && (last.acc > r.stopAccuracy || history.length >= r.maxLoops);
  const progress = new Progress({ label: o.label ?? 'min-min', total: r.maxLoops, unit: 'loop', quiet: o.quiet || done });
  progress.skip(history.length);
  const resumedLoops = history.length;
  const t0 = performance.now();
  try {
    for (let loop = history.length; !done && loop < r.maxLoops; loop++) {
      const tl = performance.now();
      const gen = new Generator(batchSeed(o.seed, loop));
      // 1. surrogate steps on the noised data
      model.train();
      let lossSum = 0;
      for (let s = 0; s < r.trainSteps; s++) {
        const idx = nextIndices(cursor, o.seed, ds.n, r.trainBatch);
        lossSum += tidy(() => {
          const i = F.tensor(idx, [idx.length], { device }).to('int64');
          const xb = noGrad(() => x.indexSelect(0, i).add(delta.indexSelect(0, i)).clamp(0, 1));
          opt.zeroGrad();
          const loss = untargetedCrossEntropy(learner.logits(xb, gen), labels.indexSelect(0, i));
          const v = loss.item();
          if (!Number.isFinite(v)) throw new Error(`min-min: the surrogate's loss became ${v} at loop ${loop + 1}; lower the learning rate`);
          loss.backward();
          clipGradNorm(model.parameters(), r.gradClip);
          opt.step();
          return v;
        });
      }
      // 2. error-minimising PGD on every image, warm-started from its stored noise
      model.eval();
      for (let s = 0; s < ds.n; s += r.poisonBatch) {
        const c = Math.min(r.poisonBatch, ds.n - s);
        tidy(() => {
          const xb = x.narrow(0, s, c);
          const yb = labels.narrow(0, s, c);
          const init = delta.narrow(0, s, c);
          const d = pgd(xb, (p) => untargetedCrossEntropy(learner.logits(p, gen), yb), {
            norm: 'linf', eps: r.eps, stepSize: r.stepSize, steps: r.steps, direction: 'descent',
          }, init);
          noGrad(() => init.copy_(d));
        });
      }
      // 3. stop test
      const acc = noisedAccuracy(learner, x, delta, labels, r.poisonBatch, gen);
      gen.dispose();
      history.push({ loop: loop + 1, acc, trainLoss: lossSum / r.trainSteps, seconds: (performance.now() - tl) / 1000 });
      const noise = tidy(() => delta.to('cpu').contiguous().data() as Float32Array);
      await saveCheckpoint(o.checkpoint, {
        model, optimizer: opt,
        extras: new Map([['delta', { dtype: 'F32', shape, data: noise }]]),
        metadata: { run_key: key, loops_done: history.length, cursor_epoch: cursor.epoch, cursor_pos: cursor.pos, history: JSON.stringify(history) },
      });
      progress.tick(1, { 'noised acc': `${(100 * acc).toFixed(1)}%`, 'train loss': (lossSum / r.trainSteps).toFixed(3) });
      if (acc > r.stopAccuracy) break;
      if (o.signal?.aborted && loop + 1 < r.maxLoops) {
        progress.log(`stopped after loop ${loop + 1}; run the same command again to resume`);
        throw new GenerationInterrupted(`generation interrupted after loop ${loop + 1} (checkpoint ${o.checkpoint})`);
      }
    }
    progress.finish();
    const final = history[history.length - 1];
    const converged = final !== undefined && final.acc > r.stopAccuracy;
    if (converged) log(`min-min: converged after ${history.length} loops (surrogate accuracy on the noised set ${(100 * final.acc).toFixed(1)}%)`);
    else log(`min-min: stopped at the loop cap (${r.maxLoops}) before the surrogate reached ${100 * r.stopAccuracy}% on the noised set; the last noise is used`);
    const out = tidy(() => new Float32Array(delta.to('cpu').contiguous().data() as Float32Array));
    return { delta: out, history, converged, seconds: (performance.now() - t0) / 1000, resumedLoops };
  } finally {
    dispose();
  }
}
