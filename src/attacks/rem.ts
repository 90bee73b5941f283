// REM, robust error-minimising noise (Fu et al., ICLR 2022, "Robust unlearnable examples:
// protecting data privacy against adversarial learning"; fshp971/robust-unlearnable-examples at
// adf2060: generate_robust_em.py, attacks/robust_workers.py (RobustMinimaxPGDDefender),
// attacks/pgd_attacker.py, scripts/cifar10/gen_rem.sh). The noise solves
//
//   min over delta (|delta| <= eps)  E_T [ max over delta_a (|delta_a| <= rho_a)  CE(f(T(x + delta) + delta_a), y) ]
//
// while the model f is trained adversarially on the noised data (attacks-facts.md §0, §1):
//
//   for step = 0 .. modelSteps-1        (shuffled full batches of trainBatch, as the release's drop_last loader)
//     lr = 0.1 * 0.1^floor(step / lrDecayEvery)      (SGD, momentum 0.9, wd 5e-4)
//     delta <- defensive noise of the batch (below), rounded to whole pixel units
//     one SGD step (train mode) on PGD adversarial examples (rho_a) of T(clamp(x + delta)), a fresh T
//   then the defensive noise of every image is computed once more with the final model: the output.
//
// The defensive noise of a batch (model in eval mode): uniform start in the eps ball, then
// defSteps signed descent steps of defStepFraction*eps; each step's gradient is summed over
// `samples` draws T of crop(pad 4) + horizontal flip; for each draw an inner PGD (advSteps
// signed ascent steps of advStepFraction*rho_a, uniform start, eval mode) finds delta_a at
// T(x + delta), and the gradient is that of CE(f(T(x + delta) + delta_a), y) with delta_a held
// fixed. The release takes g = dCE/d(adversarial image) and back-propagates <T(x + delta), g>
// to delta; since the adversarial image is T(x + delta) + delta_a exactly here (the inner PGD
// keeps it inside [0,1]), that is the same gradient.
//
// Deviations from the release, all small:
//  - images are in [0,1] (the release: [0,255], normalised as (x - 127.5)/255 by its transform);
//    signed steps do not see the scale;
//  - delta is projected after every step so that x + delta stays in [0,1] (the release clamps
//    delta to the ball only and clamps the image in the forward pass);
//  - the final pass covers every image in fixed batches; the release walks its shuffled
//    drop_last loader, so 50,000 mod 128 = 80 images keep the noise of their last training visit;
//  - the noise of a training step is regenerated for that step's batch only and is not part of
//    the resumable state: with the release's perturb_freq 1 every batch's noise is regenerated
//    before it is used, and the final pass overwrites all of it;
//  - the test-set evaluation of report_freq (logging only) is left out;
//  - every random draw comes from a Generator seeded by (seed, step) or (seed, final batch).
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { F, Generator, noGrad, tidy, type Device, type Tensor } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { loadCheckpoint, saveCheckpoint } from '../nn/checkpoint.js';
import { createClassifier } from '../nn/models/index.js';
import type { Module } from '../nn/module.js';
import { SGD } from '../nn/optim.js';
import { classifierProfile } from '../profiles.js';
import { Progress } from '../io/progress.js';
import { readStampedCheckpoint } from '../io/resume.js';
import { applyShiftFlip, drawShiftFlip } from './model/augment.js';
import { ModelAttack, type ModelAttackOptions } from './model/attack.js';
import { GenerationInterrupted, generatePerturbations } from './model/generate.js';
import { datasetDigest } from '../data/dataset.js';
import { untargetedCrossEntropy } from './model/losses.js';
import { pgd, project, randomStart } from '../training/pgd.js';
import type { SettingTable } from '../settings.js';
import type { AttackParamValue, PrepareContext } from './types.js';

/**
 * REM's settings. paper: scripts/cifar10/gen_rem.sh (5000 steps of batch 128, lr x0.1 every
 * 2000, defender 10 x 1.6/255 with samp_num 5, inner and training PGD 10 x 0.8/255 within
 * 4/255). mini: the facts file's cheap variant (attacks-facts.md §2): rho_a stays 4/255, where
 * REM's robustness comes from; one crop+flip draw per defensive step (a fresh one every step);
 * 5 defensive steps of 3.2/255 and 4 adversarial steps of 2/255 (the paper's total travel, 2 eps
 * and 2 rho_a, in fewer steps); 400 model steps = 10.2 epochs of the 5,000 images (the paper
 * makes 12.8 over 50,000), lr decayed at 40% and 80% of them as the paper's 2000/4000 of 5000.
 *
 * Cost, counted in passes (forward + backward) of a batch of 128: a model step is
 * defSteps*samples*(advSteps+1) + advSteps + ~1.25 (the SGD step) = 30.3 at mini (paper 561);
 * the final pass 25 per image. Measured on the 2-core machine (2026-11-30, with three other jobs
 * running, so timed against a plain PGD pass of 128 interleaved with it): a mini model step took
 * 30.8 and 35.1 pass times (34-46 s at that load), a final batch of 250 images 25.5 and 78.6
 * (49 expected). At the quiet machine's 0.11-0.16 s per pass (798 img/s in the attack bench, ~1,000
 * in the mini EM run's first loops) a mini step is 3.5-5 s, and 400 steps + the final pass
 * (~12,600 + ~1,000 pass times) ~25-36 min.
 */
export const REM_SETTINGS = {
  modelSteps: { flag: 'model-steps', kind: 'int', min: 1, help: 'SGD steps of the adversarially trained model (batch train-batch)', profiles: { smoke: 4, mini: 400, paper: 5000 } },
  lrDecayEvery: { flag: 'lr-decay-every', kind: 'int', min: 1, help: 'lr x0.1 every this many model steps (lr 0.1)', profiles: { smoke: 2000, mini: 160, paper: 2000 } },
  defSteps: { flag: 'def-steps', kind: 'int', min: 1, help: 'signed steps of the defensive (error-minimising) noise', profiles: { smoke: 2, mini: 5, paper: 10 } },
  defStepFraction: { flag: 'def-step-fraction', kind: 'number', min: 0, max: 1, help: 'defensive step as a fraction of eps', profiles: { smoke: 0.4, mini: 0.4, paper: 0.2 } },
  samples: { flag: 'samples', kind: 'int', min: 1, help: 'crop+flip draws per defensive step (expectation over transformations)', profiles: { smoke: 1, mini: 1, paper: 5 } },
  advEps: { flag: 'adv-eps', kind: 'number', min: 0, max: 1, help: 'rho_a: L_inf radius of the adversarial perturbation ([0,1] units)', profiles: { smoke: 4 / 255, mini: 4 / 255, paper: 4 / 255 } },
  advSteps: { flag: 'adv-steps', kind: 'int', min: 1, help: 'PGD steps of the inner attack and of the adversarial training', profiles: { smoke: 2, mini: 4, paper: 10 } },
  advStepFraction: { flag: 'adv-step-fraction', kind: 'number', min: 0, max: 1, help: 'adversarial step as a fraction of adv-eps', profiles: { smoke: 0.5, mini: 0.5, paper: 0.2 } },
  trainBatch: { flag: 'train-batch', kind: 'int', min: 1, help: "the model's batch size", profiles: { smoke: 32, mini: 128, paper: 128 } },
  poisonBatch: { flag: 'poison-batch', kind: 'int', min: 1, help: 'images per batch of the final pass', profiles: { smoke: 64, mini: 250, paper: 512 } },
} as const satisfies SettingTable;

/** The model's optimiser (gen_rem.sh): SGD 0.1, momentum 0.9, wd 5e-4, lr x0.1 every lrDecayEvery steps. */
const LR = 0.1;
const MOMENTUM = 0.9;
const WEIGHT_DECAY = 5e-4;
const LR_DECAY = 0.1;
/** crop padding of the transformation T (RandomCrop(32, 4) on CIFAR) */
const PADDING = 4;

/** Random streams: the model's batch order, the per-step generators. */
const ORDER_STREAM = 0x4e1;
const STEP_STREAM = 0x4e2;

export interface RemOptions extends ModelAttackOptions {
  /** save the training state every this many model steps (default 20; also at the end and on a stop) */
  checkpointEvery?: number;
}

/** The classifier being trained and its logits (channels_last input, as EM). */
export interface RemNet {
  model: Module;
  logits(x: Tensor): Tensor;
}

/** Position in the endless shuffled pass over the data. */
interface Cursor {
  epoch: number;
  pos: number;
}

/** Per-interval record of the adversarial training (between two checkpoints). */
export interface RemRecord {
  /** model steps done at the end of the interval */
  step: number;
  /** mean adversarial training loss and accuracy over the interval */
  loss: number;
  acc: number;
  lr: number;
  seconds: number;
}

/** Seed of model step `step`'s Generator: a function of (seed, step) only. */
function stepSeed(seed: number, step: number): number {
  const r = new Rng(seed, STEP_STREAM, step);
  return (r.uint32() >>> 5) * 67108864 + (r.uint32() >>> 6);
}

/** The next full batch of the shuffled pass (the rest of an epoch shorter than a batch is dropped). */
function nextBatch(cursor: Cursor, seed: number, n: number, batch: number): Int32Array {
  const b = Math.min(batch, n);
  if (cursor.pos + b > n) {
    cursor.epoch++;
    cursor.pos = 0;
  }
  const order = new Rng(seed, ORDER_STREAM, cursor.epoch).permutation(n);
  const idx = Int32Array.from(order.subarray(cursor.pos, cursor.pos + b));
  cursor.pos += b;
  return idx;
}

/** sha256 over the model's state dict (names and bytes): the final pass's key. */
function modelDigest(model: Module): string {
  const h = createHash('sha256');
  for (const [name, t] of model.stateDict()) {
    h.update(name);
    const a = tidy(() => t.to('cpu').contiguous().data());
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}

export class RemAttack extends ModelAttack<typeof REM_SETTINGS> {
  readonly name = 'rem';
  readonly recipe: string;
  readonly params: Readonly<Record<string, AttackParamValue>>;
  /** defensive step ([0,1] units) */
  readonly defStepSize: number;
  /** adversarial step ([0,1] units) */
  readonly advStepSize: number;
  readonly checkpointEvery: number;

  constructor(o: RemOptions = {}) {
    super('rem', REM_SETTINGS, o, { noSurrogate: 'the model is trained adversarially with the noise from a fresh initialisation' });
    const s = this.settings;
    if (!(s.advEps > 0)) throw new Error(`rem attack: adv-eps (rho_a, the adversarial training radius) must be > 0, got ${s.advEps}; REM's robustness comes from it (paper 4/255)`);
    if (!(s.defStepFraction > 0)) throw new Error(`rem attack: def-step-fraction must be > 0, got ${s.defStepFraction}`);
    if (!(s.advStepFraction > 0)) throw new Error(`rem attack: adv-step-fraction must be > 0, got ${s.advStepFraction}`);
    this.checkpointEvery = o.checkpointEvery ?? 20;
    if (!Number.isInteger(this.checkpointEvery) || this.checkpointEvery < 1) throw new Error(`rem attack: checkpointEvery must be a positive integer, got ${o.checkpointEvery}`);
    this.defStepSize = s.defStepFraction * this.bound.epsilon;
    this.advStepSize = s.advStepFraction * s.advEps;
    const c = classifierProfile(this.profile);
    this.params = this.paramsWith({
      def_step_size: this.defStepSize,
      adv_step_size: this.advStepSize,
      model: `${c.model} width ${c.width}, fresh, PGD adversarial training, SGD ${LR} m${MOMENTUM} wd ${WEIGHT_DECAY}, lr x${LR_DECAY} every lr_decay_every steps`,
      augment: `crop (pad ${PADDING}) + hflip, summed over samples draws per defensive step`,
      pgd: 'eval mode; defensive: uniform start, descent; adversarial: uniform start, ascent; noise rounded to whole pixel units',
    });
    this.recipe =
      `robust error-minimising noise: ${s.modelSteps} adversarial-training steps of batch ${s.trainBatch}, each regenerating its batch's noise ` +
      `(${s.defSteps} signed steps of ${(255 * this.defStepSize).toPrecision(3)}/255 over ${s.samples} crop+flip draw(s), ` +
      `each against a ${s.advSteps}-step PGD of ${(255 * this.advStepSize).toPrecision(3)}/255 within rho_a ${(255 * s.advEps).toPrecision(3)}/255), ` +
      `then the noise of every image from the final model (Fu et al., ICLR 2022, fshp971/robust-unlearnable-examples)`;
  }

  /** What decides the trained model (the final pass's batch size does not). */
  private trainingKey(ds: ImageDataset, seed: number): string {
    const s = this.settings;
    const c = classifierProfile(this.profile);
    return JSON.stringify({
      attack: this.name, eps: this.bound.epsilon, model: c.model, width: c.width, classes: ds.classes.length, seed, data: datasetDigest(ds),
      modelSteps: s.modelSteps, lrDecayEvery: s.lrDecayEvery, defSteps: s.defSteps, defStepSize: this.defStepSize, samples: s.samples,
      advEps: s.advEps, advSteps: s.advSteps, advStepSize: this.advStepSize, trainBatch: s.trainBatch,
      optimiser: { lr: LR, momentum: MOMENTUM, weightDecay: WEIGHT_DECAY, decay: LR_DECAY }, padding: PADDING,
    });
  }

  /** Inner maximisation (eval mode): delta_a within rho_a at the images xt, uniform start. */
  private adversarial(net: RemNet, xt: Tensor, y: Tensor, gen: Generator): Tensor {
    const s = this.settings;
    return pgd(xt, (p) => untargetedCrossEntropy(net.logits(p), y), {
      norm: 'linf', eps: s.advEps, stepSize: this.advStepSize, steps: s.advSteps, direction: 'ascent', randomStart: 'uniform', generator: gen,
    });
  }

  /**
   * The defensive noise of a batch x (in [0,1]) with the model in eval mode, rounded to whole
   * pixel units as the release stores it (int8). Returns a fresh tensor; nothing else stays alive.
   */
  defensiveNoise(net: RemNet, x: Tensor, y: Tensor, gen: Generator): Tensor {
    const s = this.settings;
    const eps = this.bound.epsilon;
    const n = x.shape[0]!;
    net.model.eval();
    let delta = randomStart(x, { norm: 'linf', eps, randomStart: 'uniform', generator: gen });
    try {
      for (let k = 0; k < s.defSteps; k++) {
        const current = delta;
        const next = tidy(() => {
          // the gradients of the draws are summed (the release accumulates them in delta.grad)
          const grads: Tensor[] = [];
          for (let j = 0; j < s.samples; j++) {
            const draw = drawShiftFlip(n, gen, { padding: PADDING });
            const xt = noGrad(() => applyShiftFlip(x.add(current), draw));
            const da = this.adversarial(net, xt, y, gen);
            const d = current.detach().requiresGrad_(true);
            const loss = untargetedCrossEntropy(net.logits(applyShiftFlip(x.add(d), draw).add(da)), y);
            const [g] = F.grad(loss, d);
            if (g === null || g === undefined) throw new Error('rem: the loss does not depend on the noise');
            grads.push(g);
          }
          return noGrad(() => {
            const sum = grads.reduce((a, b) => a.add(b));
            return project(x, current.sub(sum.sign().mul(this.defStepSize)), 'linf', eps);
          });
        });
        delta.dispose();
        delta = next;
      }
      // whole pixel units, within eps and keeping x + delta in [0,1]
      const units = Math.floor(255 * eps + 1e-6);
      return tidy(() => noGrad(() => {
        const q = delta.mul(255).round().clamp(-units, units).div(255);
        return x.add(q).clamp(0, 1).sub(x);
      }));
    } finally {
      delta.dispose();
    }
  }

  async prepare(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void> {
    if (ds.classes.length < 2) throw new Error(`rem attack: the dataset has ${ds.classes.length} class; error-minimising noise needs at least 2`);
    const c = classifierProfile(this.profile);
    const device: Device = ctx.device ?? 'cpu';
    const model = createClassifier(c.model, { width: c.width, numClasses: ds.classes.length, generator: new Generator(seed), device });
    model.to(undefined, 'channels_last');
    const net: RemNet = { model, logits: (x: Tensor) => model.forward(x.contiguous('channels_last')) };
    try {
      const trained = await this.trainModel(ds, seed, net, ctx, device);
      const digest = modelDigest(model);
      const res = await generatePerturbations(
        ds,
        ({ x, labels, generator }) => ({ delta: this.defensiveNoise(net, x, labels, generator) }),
        {
          key: { attack: this.name, params: this.params, training: this.trainingKey(ds, seed), model: digest },
          seed, batchSize: this.settings.poisonBatch, checkpoint: join(ctx.workDir, 'rem-perturbation.safetensors'),
          device, label: 'rem noise', quiet: ctx.quiet, signal: ctx.signal, log: ctx.log,
        },
      );
      const last = trained[trained.length - 1];
      this.store(ds, seed, res.delta, {
        model_steps: String(last?.step ?? 0),
        final_adv_train_loss: String(last?.loss ?? NaN),
        final_adv_train_acc: String(last?.acc ?? NaN),
        model_sha256: digest,
      });
    } finally {
      model.dispose();
    }
  }

  /**
   * The adversarial training with per-step noise regeneration, resumed from
   * workDir/rem-state.safetensors when it holds this very run. Leaves the trained model in net.
   */
  private async trainModel(ds: ImageDataset, seed: number, net: RemNet, ctx: PrepareContext, device: Device): Promise<RemRecord[]> {
    const s = this.settings;
    const log = ctx.log ?? (() => undefined);
    const file = join(ctx.workDir, 'rem-state.safetensors');
    const key = this.trainingKey(ds, seed);
    const model = net.model;
    const opt = new SGD(model.parameters(), { lr: LR, momentum: MOMENTUM, weightDecay: WEIGHT_DECAY });
    const shape = [ds.n, 3, ds.height, ds.width];
    const x = tidy(() => F.tensor(ds.images, shape, { device }).to('float32').div(255)).keep();
    const labels = tidy(() => F.tensor(ds.labels, [ds.n], { device }).to('int64')).keep();
    const cursor: Cursor = { epoch: 0, pos: 0 };
    let history: RemRecord[] = [];
    let done = 0;
    try {
      await mkdir(dirname(file), { recursive: true });
      // The key is read first: a foreign or stale file never touches the fresh model.
      const stamp = (await readStampedCheckpoint(file, key, log))?.metadata;
      if (stamp !== undefined) {
        await loadCheckpoint(file, { model, optimizer: opt }).catch((e: Error) => {
          throw new Error(`${file}: cannot resume from this checkpoint (${e.message}); delete it to start over`);
        });
        done = Number(stamp.steps_done);
        cursor.epoch = Number(stamp.cursor_epoch);
        cursor.pos = Number(stamp.cursor_pos);
        history = JSON.parse(stamp.history ?? '[]') as RemRecord[];
        if (!Number.isInteger(done) || done < 1 || done > s.modelSteps) throw new Error(`${file}: inconsistent checkpoint (steps_done ${stamp.steps_done}); delete it to start over`);
        log(`resuming after model step ${done}/${s.modelSteps} from ${file}`);
      }

      const progress = new Progress({ label: 'rem model', total: s.modelSteps, unit: 'step', quiet: ctx.quiet || done >= s.modelSteps });
      progress.skip(done);
      let lossSum = 0;
      let accSum = 0;
      let count = 0;
      let t0 = performance.now();
      for (let step = done; step < s.modelSteps; step++) {
        const lr = LR * LR_DECAY ** Math.floor(step / s.lrDecayEvery);
        opt.lr = lr;
        const idx = nextBatch(cursor, seed, ds.n, s.trainBatch);
        const gen = new Generator(stepSeed(seed, step));
        const [loss, acc] = tidy(() => {
          const i = F.tensor(idx, [idx.length], { device }).to('int64');
          const xb = noGrad(() => x.indexSelect(0, i));
          const yb = labels.indexSelect(0, i);
          // 1. this batch's defensive noise against the current model (eval mode)
          const delta = this.defensiveNoise(net, xb, yb, gen);
          // 2. adversarial training on T(x + delta), a fresh draw (eval-mode attack, train-mode step)
          const xt = noGrad(() => applyShiftFlip(xb.add(delta).clamp(0, 1), drawShiftFlip(idx.length, gen, { padding: PADDING })));
          model.eval();
          const da = this.adversarial(net, xt, yb, gen);
          const adv = noGrad(() => xt.add(da));
          model.train();
          opt.zeroGrad();
          const logits = net.logits(adv);
          const l = untargetedCrossEntropy(logits, yb);
          const v = l.item();
          if (!Number.isFinite(v)) throw new Error(`rem: the model's loss became ${v} at step ${step + 1}; lower the learning rate`);
          l.backward();
          opt.step();
          const a = noGrad(() => logits.argmax(1).eq(yb).to('float32').mean().item());
          return [v, a] as const;
        });
        gen.dispose();
        lossSum += loss;
        accSum += acc;
        count++;
        const finished = step + 1;
        const stop = ctx.signal?.aborted === true;
        if (finished % this.checkpointEvery === 0 || finished === s.modelSteps || stop) {
          history.push({ step: finished, loss: lossSum / count, acc: accSum / count, lr, seconds: (performance.now() - t0) / 1000 });
          await saveCheckpoint(file, {
            model, optimizer: opt,
            metadata: { run_key: key, steps_done: finished, cursor_epoch: cursor.epoch, cursor_pos: cursor.pos, history: JSON.stringify(history) },
          });
          lossSum = accSum = count = 0;
          t0 = performance.now();
        }
        progress.tick(1, { 'adv loss': loss.toFixed(3), 'adv acc': `${(100 * acc).toFixed(1)}%`, lr: lr.toPrecision(2) });
        if (stop && finished < s.modelSteps) {
          progress.log(`stopped after model step ${finished}/${s.modelSteps}; run the same command again to resume`);
          throw new GenerationInterrupted(`generation interrupted after model step ${finished}/${s.modelSteps} (checkpoint ${file})`);
        }
      }
      progress.finish();
      model.eval();
      return history;
    } finally {
      opt.dispose();
      x.dispose();
      labels.dispose();
    }
  }
}
