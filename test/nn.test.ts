// Models, optimizers, EMA, schedules and checkpoints against PyTorch's numbers
// (test/golden/models.json, written by test/golden/gen_models.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { F, Generator, Tensor, liveTensors, noGrad, tidy } from '../src/engine/index.js';
import { Module, Sequential } from '../src/nn/module.js';
import { BatchNorm2d, Conv2d, Linear } from '../src/nn/layers.js';
import { CLASSIFIERS, createClassifier, densenet121, isClassifierName, vgg16, type ClassifierName } from '../src/nn/models/index.js';
import { Adam, AdamW, SGD, type Optimizer } from '../src/nn/optim.js';
import { EMA } from '../src/nn/ema.js';
import { applyLr, constantLr, lrAt, makeSchedule, type ScheduleSpec } from '../src/nn/schedule.js';
import { loadCheckpoint, readCheckpointMetadata, saveCheckpoint } from '../src/nn/checkpoint.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { makeTempDir } from './helpers/tmp.js';

F.setNumThreads(2);

// ---------------------------------------------------------------------------
// The golden file and the deterministic weights it was computed with.

interface ModelGolden {
  width: number;
  params: [string, number[]][];
  buffers: [string, number[]][];
  paramCount: number;
  evalLogits: number[];
  trainLogits: number[];
}
interface Golden {
  models: Record<ClassifierName, ModelGolden>;
  counts64: Record<ClassifierName, number>;
  optim: Record<string, { weight: number[]; bias: number[] }[]>;
  schedules: Record<string, { spec: ScheduleSpec; lrs: number[] }>;
}
// dist/test/nn.test.js -> test/golden/models.json in the source tree
const GOLDEN = JSON.parse(readFileSync(new URL('../../test/golden/models.json', import.meta.url), 'utf8')) as Golden;

/** FNV-1a of an ASCII name (gen_models.py's fnv1a). */
function fnv1a(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
/** n numbers in [0, 1) from an integer hash of (index, key): gen_models.py's uniform(). */
function goldenUniform(n: number, key: number): Float64Array {
  const out = new Float64Array(n);
  const k = Math.imul(key, 0x85ebca77) >>> 0;
  for (let j = 0; j < n; j++) {
    let x = (Math.imul(j, 0x9e3779b1) + k + 0x165667b1) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x = (x ^ (x >>> 13)) >>> 0;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    out[j] = x / 4294967296;
  }
  return out;
}
/** gen_models.py's golden_values(): the value of every state-dict entry, or null to skip. */
function goldenValues(name: string, shape: number[]): Float32Array | null {
  if (name.endsWith('num_batches_tracked')) return null;
  const n = shape.reduce((a, b) => a * b, 1);
  const u = goldenUniform(n, fnv1a(name));
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const s = 2 * u[j]! - 1;
    if (name.endsWith('running_var')) out[j] = 0.5 + u[j]!;
    else if (name.endsWith('running_mean')) out[j] = 0.1 * s;
    else if (shape.length >= 2) out[j] = s * Math.sqrt(6 / (n / shape[0]!));
    else if (name.endsWith('weight')) out[j] = 1 + 0.2 * s;
    else out[j] = 0.1 * s;
  }
  return out;
}
function goldenFill(m: Module): void {
  noGrad(() => {
    for (const [name, t] of m.stateDict()) {
      const v = goldenValues(name, t.shape);
      if (v) tidy(() => void t.copy_(F.tensor(v, t.shape)));
    }
  });
}
function goldenInput(name: string, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return F.tensor(Float32Array.from(goldenUniform(n, fnv1a(name)), (u) => 2 * u - 1), shape);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!));
    if (Number.isNaN(d)) [worst, at] = [Infinity, i];
    else if (d > worst) [worst, at] = [d, i];
  }
  assert.ok(worst <= tol, `${what}: element ${at} is ${actual[at]} but PyTorch gives ${expected[at]} (relative error ${worst} > ${tol})`);
}

const shapesOf = (list: [string, Tensor][]): [string, number[]][] => list.map(([n, t]) => [n, t.shape]);

// ---------------------------------------------------------------------------
// Models

test('createClassifier knows every classifier and rejects unknown names and widths', () => {
  assert.deepEqual([...CLASSIFIERS], ['resnet18', 'resnet34', 'resnet50', 'vgg16', 'vgg19', 'densenet121']);
  assert.ok(isClassifierName('vgg19') && !isClassifierName('vgg11'));
  assert.throws(() => createClassifier('vgg11'), /unknown classifier "vgg11" \(choose one of resnet18, .*densenet121; linear, mlp2 for detection\)/);
  assert.throws(() => createClassifier('vgg16', { width: 0 }), /width must be a positive integer/);
  for (const [c, k] of [[{ width: 8 }, 4], [{ width: 64 }, 32], [{ width: 8, growthRate: 6 }, 6]] as const) {
    const d = densenet121(c);
    assert.equal(d.growthRate, k);
    d.dispose();
  }
});

for (const name of CLASSIFIERS) {
  test(`${name}: PyTorch's names, shapes, parameter count and logits; finite gradients`, () => {
    const g = GOLDEN.models[name];
    const model = createClassifier(name, { width: g.width, generator: new Generator(1) });
    try {
      assert.deepEqual(shapesOf(model.namedParameters()), g.params);
      assert.deepEqual(shapesOf(model.namedBuffers()), g.buffers);
      assert.equal(model.parameterCount(), g.paramCount);

      goldenFill(model);
      const x = goldenInput('input', [2, 3, 32, 32]);
      model.eval();
      const live = liveTensors();
      const evalOut = noGrad(() => model.forward(x));
      assert.equal(liveTensors(), live + 1, 'forward leaves only its output alive');
      assert.deepEqual(evalOut.shape, [2, 10]);
      assertClose(evalOut.toArray(), g.evalLogits, 1e-4, `${name} eval logits`);
      evalOut.dispose();

      // Train mode (batch statistics), with gradients: logits as PyTorch's, then backward.
      model.train();
      tidy(() => {
        const logits = model.forward(x);
        assertClose(logits.toArray(), g.trainLogits, 1e-4, `${name} train logits`);
        F.crossEntropy(logits, F.tensor([3, 7], [2], { dtype: 'int64' })).backward();
      });
      for (const [n, p] of model.namedParameters()) {
        const grad = p.grad;
        assert.ok(grad !== null, `${n} has a gradient`);
        assert.ok(tidy(() => grad.isfinite().logicalNot().sum().item()) === 0, `${n}'s gradient is finite`);
        grad.dispose();
      }
      x.dispose();
    } finally {
      model.dispose();
    }
  });
}

test('parameter counts at the standard width 64 equal PyTorch', () => {
  for (const name of CLASSIFIERS) {
    const m = createClassifier(name, { generator: new Generator(0) });
    assert.equal(m.parameterCount(), GOLDEN.counts64[name], name);
    m.dispose();
  }
});

test('width and numClasses scale the classifiers', () => {
  const v = vgg16({ width: 16, numClasses: 100 });
  assert.deepEqual(v.classifier.weight.shape, [100, 128]);
  assert.deepEqual(v.stateDict().get('features.40.weight')?.shape, [128, 128, 3, 3]);
  v.dispose();
  const d = createClassifier('densenet121', { width: 4, numClasses: 7 });
  const y = noGrad(() => d.eval().forward(F.zeros([1, 3, 32, 32])));
  assert.deepEqual(y.shape, [1, 7]);
  y.dispose();
  d.dispose();
});

// ---------------------------------------------------------------------------
// Optimizers

function goldenLinear(): Linear {
  const lin = new Linear(5, 3, { generator: new Generator(0) });
  goldenFill(lin);
  return lin;
}
function trainSteps(lin: Linear, opt: Optimizer, steps: number, after?: (i: number) => void): void {
  const x = goldenInput('optim.x', [4, 5]);
  const y = F.tensor([0, 2, 1, 2], [4], { dtype: 'int64' });
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    tidy(() => F.crossEntropy(lin.forward(x), y).backward());
    opt.step();
    after?.(i);
  }
  x.dispose();
  y.dispose();
}

const OPTIMIZERS: Record<string, (p: Tensor[]) => Optimizer> = {
  sgd: (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }),
  adam: (p) => new Adam(p, { lr: 0.01 }),
  adam_l2: (p) => new Adam(p, { lr: 0.02, betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0.1 }),
  adamw: (p) => new AdamW(p, { lr: 0.01, weightDecay: 0.05 }),
  adamw_betas: (p) => new AdamW(p, { lr: 0.03, betas: [0.5, 0.9], eps: 1e-4, weightDecay: 0.2 }),
};

for (const [key, make] of Object.entries(OPTIMIZERS)) {
  test(`optimizer ${key}: 3 steps equal torch.optim`, () => {
    const lin = goldenLinear();
    const opt = make(lin.parameters());
    trainSteps(lin, opt, 3, (i) => {
      const want = GOLDEN.optim[key]![i]!;
      assertClose(lin.weight.toArray(), want.weight, 2e-6, `${key} step ${i + 1} weight`);
      assertClose(lin.bias!.toArray(), want.bias, 2e-6, `${key} step ${i + 1} bias`);
    });
    assert.equal(opt.stepCount(), 3);
    opt.dispose();
    lin.dispose();
  });
}

test('AdamW defaults to weight decay 0.01 and Adam to 0; Adam state names and step counts', () => {
  const lin = goldenLinear();
  const a = new Adam(lin.parameters(), { lr: 1e-3 });
  const w = new AdamW(lin.parameters(), { lr: 1e-3 });
  assert.equal(a.weightDecay, 0);
  assert.equal(w.weightDecay, 0.01);
  assert.deepEqual([...a.state().keys()], ['exp_avg.0', 'exp_avg.1', 'exp_avg_sq.0', 'exp_avg_sq.1', 'step']);
  trainSteps(lin, a, 2);
  assert.deepEqual(a.state().get('step')!.toArray(), [2, 2]);
  assert.throws(() => new Adam(lin.parameters(), { lr: 1, betas: [1, 0.9] }), /beta1 must be in \[0, 1\)/);
  a.dispose();
  w.dispose();
  lin.dispose();
});

test('Adam resumes exactly from state() and stepCount()', () => {
  const run = (split: boolean): number[] => {
    const lin = goldenLinear();
    let opt = new Adam(lin.parameters(), { lr: 0.05, weightDecay: 0.01 });
    trainSteps(lin, opt, 2);
    if (split) {
      const saved = new Map([...opt.state()].map(([k, t]) => [k, t.clone().keep()]));
      const steps = opt.stepCount();
      opt.dispose();
      opt = new Adam(lin.parameters(), { lr: 0.05, weightDecay: 0.01 });
      opt.loadState(saved);
      opt.loadStepCount(steps);
      for (const t of saved.values()) t.dispose();
      assert.equal(opt.stepCount(), 2);
    }
    trainSteps(lin, opt, 2);
    const out = [...lin.weight.toArray(), ...lin.bias!.toArray()];
    opt.dispose();
    lin.dispose();
    return out;
  };
  assert.deepEqual(run(true), run(false));
});

// ---------------------------------------------------------------------------
// EMA

test('EMA: shadow = d*shadow + (1-d)*param, buffers copied, copyTo loads the average', () => {
  const make = (): Sequential => new Sequential(new Conv2d(1, 2, 1, { generator: new Generator(3) }), new BatchNorm2d(2));
  const model = make();
  const ema = new EMA(model, { decay: 0.9 });
  const byDefault = new EMA(model);
  assert.equal(byDefault.decay, 0.9999);
  byDefault.dispose();
  const w0 = model.namedParameters()[0]![1].toArray();
  const step = (delta: number): void =>
    noGrad(() => {
      for (const p of model.parameters()) p.add_(delta);
    });
  step(1);
  tidy(() => void model.forward(F.randn([4, 1, 3, 3], { generator: new Generator(5) }))); // moves the BN statistics
  ema.update();
  step(1);
  ema.update(0.5);
  // after two updates: s = 0.5*(0.9*w0 + 0.1*(w0+1)) + 0.5*(w0+2) = w0 + 1.05
  assertClose(ema.stateDict().get('0.weight')!.toArray(), w0.map((v) => v + 1.05), 1e-6, 'ema weight');
  assert.deepEqual(ema.stateDict().get('1.running_mean')!.toArray(), model.stateDict().get('1.running_mean')!.toArray());
  assert.equal(ema.stateDict().get('1.num_batches_tracked')!.item(), 1);
  assert.equal(ema.updateCount(), 2);

  const other = make();
  ema.copyTo(other);
  for (const [n, t] of other.stateDict()) assert.deepEqual(t.toArray(), ema.stateDict().get(n)!.toArray(), n);
  assert.throws(() => ema.update(1.5), /decay must be in \[0, 1\]/);
  for (const m of [ema, model, other]) m.dispose();
});

// ---------------------------------------------------------------------------
// Schedules

test('schedules equal PyTorch CosineAnnealingLR, MultiStepLR and warmup+cosine', () => {
  for (const [key, c] of Object.entries(GOLDEN.schedules)) {
    const s = makeSchedule(c.spec);
    c.lrs.forEach((want, t) => assert.ok(Math.abs(s(t) - want) < 1e-12, `${key} at ${t}: ${s(t)} vs ${want}`));
  }
  assert.equal(makeSchedule({ kind: 'cosine', lr: 0.1, total: 10 })(25), 0, 'cosine stays at its minimum after total');
  assert.equal(makeSchedule({ kind: 'constant', lr: 0.3 })(1000), 0.3);
  assert.equal(makeSchedule({ kind: 'constant', lr: 0.3, warmup: 2 })(0), 0.15);
  assert.equal(makeSchedule({ kind: 'multistep', lr: 1, milestones: [2], gamma: 0.5, warmup: 4 })(3), 1, 'warmup reaches the base rate');
  assert.equal(makeSchedule({ kind: 'multistep', lr: 1, milestones: [2], gamma: 0.5, warmup: 4 })(4), 0.5);
  assert.equal(constantLr(0.2)(7), 0.2);
  assert.throws(() => makeSchedule({ kind: 'cosine', lr: 0.1 }), /needs `total`/);
  assert.throws(() => makeSchedule({ kind: 'cosine', lr: 0.1, total: 3, warmup: 3 }), /shorter than/);

  const recipe = { schedule: 'cosine' as const, lr: 0.1, epochs: 10, milestones: [], gamma: 0.1 };
  assert.ok(Math.abs(lrAt(recipe, 5) - GOLDEN.schedules.cosine!.lrs[5]!) < 1e-12);
  const lin = new Linear(2, 2);
  const opt = new SGD(lin.parameters(), { lr: 1 });
  assert.equal(applyLr(opt, 0.25), 0.25);
  assert.equal(opt.lr, 0.25);
  assert.throws(() => applyLr(opt, Number.NaN), /finite/);
  lin.dispose();
});

// ---------------------------------------------------------------------------
// Checkpoints

function sameTensors(a: Map<string, Tensor>, b: Map<string, Tensor>, what: string): void {
  assert.deepEqual([...a.keys()], [...b.keys()], what);
  for (const [n, t] of a) assert.deepEqual(b.get(n)!.toArray(), t.toArray(), `${what} ${n}`);
}

test('checkpoint: round trip restores outputs, optimizer, EMA and metadata; resume is exact', async () => {
  const { dir, cleanup } = makeTempDir('eclipse-nn-');
  const path = join(dir, 'ckpt.safetensors');
  const x = F.randn([2, 3, 32, 32], { generator: new Generator(9) });
  const y = F.tensor([1, 4], [2], { dtype: 'int64' });
  const build = (seed: number): { model: Module; opt: AdamW; ema: EMA } => {
    const model = vgg16({ width: 8, generator: new Generator(seed) });
    return { model, opt: new AdamW(model.parameters(), { lr: 1e-3 }), ema: new EMA(model, { decay: 0.9 }) };
  };
  const trainStep = (s: { model: Module; opt: AdamW; ema: EMA }): void => {
    s.model.train();
    s.opt.zeroGrad();
    tidy(() => F.crossEntropy(s.model.forward(x), y).backward());
    s.opt.step();
    s.ema.update();
  };
  try {
    const a = build(1);
    trainStep(a);
    trainStep(a);
    a.opt.lr = 5e-4;
    await saveCheckpoint(path, { model: a.model, optimizer: a.opt, ema: a.ema, metadata: { epoch: 2, model: 'vgg16', width: 8, seed: 1, note: { a: [1, 2] } } });

    // The model part uses PyTorch's state-dict names.
    const file = await readSafetensors(path);
    const g = GOLDEN.models.vgg16;
    const torchNames = [...g.params, ...g.buffers].map(([n]) => n).sort();
    assert.deepEqual(Object.keys(file.tensors).filter((k) => !k.startsWith('optim.') && !k.startsWith('ema.')).sort(), torchNames);
    assert.equal(file.tensors['features.1.num_batches_tracked']?.dtype, 'I64');

    const b = build(2);
    const meta = await loadCheckpoint(path, { model: b.model, optimizer: b.opt, ema: b.ema });
    assert.equal(meta.epoch, '2');
    assert.equal(meta.model, 'vgg16');
    assert.deepEqual(JSON.parse(meta.note!), { a: [1, 2] });
    assert.equal(meta['optim.kind'], 'AdamW');
    assert.deepEqual(await readCheckpointMetadata(path), meta);
    sameTensors(a.model.stateDict(), b.model.stateDict(), 'model');
    sameTensors(a.opt.state(), b.opt.state(), 'optimizer');
    sameTensors(a.ema.stateDict(), b.ema.stateDict(), 'ema');
    assert.equal(b.opt.stepCount(), 2);
    assert.equal(b.opt.lr, 5e-4);
    assert.equal(b.ema.updateCount(), 2);
    // The file is layout-free: it loads into a channels-last model too.
    const c = vgg16({ width: 8 }).to(undefined, 'channels_last');
    await loadCheckpoint(path, { model: c });
    const outs = [a, b, c].map((s) => noGrad(() => ('model' in s ? s.model : s).eval().forward(x)));
    assert.deepEqual(outs[1]!.toArray(), outs[0]!.toArray());
    assertClose(outs[2]!.toArray(), outs[0]!.toArray(), 1e-5, 'channels-last copy');
    for (const o of outs) o.dispose();
    c.dispose();

    // One more step on each: the resumed run continues exactly.
    trainStep(a);
    trainStep(b);
    sameTensors(a.model.stateDict(), b.model.stateDict(), 'after resuming');
    sameTensors(a.ema.stateDict(), b.ema.stateDict(), 'ema after resuming');
    for (const s of [a, b]) {
      s.opt.dispose();
      s.ema.dispose();
      s.model.dispose();
    }
  } finally {
    x.dispose();
    y.dispose();
    cleanup();
  }
});

test('checkpoint: a different model, optimizer or missing part is an error naming the file', async () => {
  const { dir, cleanup } = makeTempDir('eclipse-nn-');
  const path = join(dir, 'small.safetensors');
  try {
    const model = vgg16({ width: 8 });
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    await saveCheckpoint(path, { model, optimizer: opt, metadata: { model: 'vgg16', width: 8 } });
    await assert.rejects(saveCheckpoint(path, { model, metadata: { format: 'x' } }), /"format" is reserved/);

    const wide = vgg16({ width: 16 });
    await assert.rejects(loadCheckpoint(path, { model: wide }), (e: Error) => {
      assert.ok(e.message.startsWith(`${path}: checkpoint does not match the model (the checkpoint was saved from model vgg16, width 8)`), e.message);
      assert.match(e.message, /shape mismatch: features\.0\.weight is \[8, 3, 3, 3\] in the file but \[16, 3, 3, 3\] here/);
      return true;
    });
    const other = densenet121({ width: 8 });
    await assert.rejects(loadCheckpoint(path, { model: other }), (e: Error) => e.message.includes(path) && /missing conv1\.weight/.test(e.message) && /unexpected features\./.test(e.message));
    const same = vgg16({ width: 8 });
    const adam = new Adam(same.parameters(), { lr: 0.1 });
    await assert.rejects(loadCheckpoint(path, { model: same, optimizer: adam }), (e: Error) => e.message === `${path}: checkpoint holds SGD state but the optimizer is Adam`);
    const ema = new EMA(same);
    await assert.rejects(loadCheckpoint(path, { model: same, ema }), /has no EMA weights/);
    ema.dispose();
    await assert.rejects(loadCheckpoint(join(dir, 'nope.safetensors'), { model: same }), /nope\.safetensors: file not found/);
    // SGD momentum round-trips; the model alone loads too.
    const sgd = new SGD(same.parameters(), { lr: 0.5, momentum: 0.9 });
    await loadCheckpoint(path, { model: same, optimizer: sgd });
    assert.equal(sgd.lr, 0.1);
    await loadCheckpoint(path, { model: same });
    for (const m of [model, wide, other, same]) m.dispose();
    for (const o of [opt, adam, sgd]) o.dispose();
  } finally {
    cleanup();
  }
});
