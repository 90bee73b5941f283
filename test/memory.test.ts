// Memory: training and attack-style loops inside tidy() keep the live-tensor count constant
// and the process's resident memory flat. (The long version is test/helpers/rss-soak.ts.)
//
// Tensors live in the addon's slot table and are freed at dispose(), with no JS finalizer, so
// a synchronous loop (one epoch of the trainer) stays as flat as one that yields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { F, Generator, liveGenerators, liveTensors, noGrad, tidy } from '../src/engine/index.js';
import { resnet18 } from '../src/nn/models/resnet.js';
import { SGD } from '../src/nn/optim.js';

F.setNumThreads(2);

// 8x8 images keep 300 steps of ResNet-18 (width 8, batch 16) inside the time budget on a
// 2-core machine; the graph, the kernels and the allocations per step are the same as at 32x32.
const SIZE = 8;
const BATCH = 16;
const STEPS = 300;
const EARLY = 50;

const MiB = (b: number): string => (b / 2 ** 20).toFixed(1);
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Train for STEPS steps; returns RSS at step EARLY and at the end. Checks that every step
 * leaves the live-tensor count where the first one did.
 */
async function trainAndMeasure(yieldEvery: number): Promise<{ rssEarly: number; rssEnd: number }> {
  const initial = liveTensors();
  const gen = new Generator(0);
  const model = resnet18({ width: 8, generator: gen });
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const step = (): number =>
    tidy(() => {
      opt.zeroGrad();
      const x = F.randn([BATCH, 3, SIZE, SIZE], { generator: gen });
      const y = F.randint(0, 10, [BATCH], { generator: gen });
      const loss = F.crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss.item();
    });

  const before = liveTensors();
  step();
  const live = liveTensors();
  assert.equal(live, before, 'a training step leaves no tensors behind');
  let lo = live;
  let hi = live;
  let rssEarly = 0;
  let loss = NaN;
  for (let i = 2; i <= STEPS; i++) {
    loss = step();
    lo = Math.min(lo, liveTensors());
    hi = Math.max(hi, liveTensors());
    if (yieldEvery > 0 && i % yieldEvery === 0) await nextTurn();
    if (i === EARLY) rssEarly = process.memoryUsage().rss;
  }
  const rssEnd = process.memoryUsage().rss;
  assert.ok(Number.isFinite(loss), `loss is finite (${loss})`);
  assert.ok(lo === live && hi === live, `live tensors stayed at ${live} (saw ${lo}..${hi})`);
  opt.dispose();
  model.dispose();
  assert.equal(liveTensors(), initial, 'model and optimiser disposed');
  return { rssEarly, rssEnd };
}

test(`ResNet-18 (width 8) SGD training, yielding to the event loop each step: RSS after ${STEPS} steps within 10% of RSS after ${EARLY}`, async () => {
  const { rssEarly, rssEnd } = await trainAndMeasure(1);
  const ratio = rssEnd / rssEarly;
  assert.ok(ratio <= 1.1, `RSS grew from ${MiB(rssEarly)} MiB at step ${EARLY} to ${MiB(rssEnd)} MiB at step ${STEPS} (x${ratio.toFixed(3)})`);
});

test(
  `ResNet-18 (width 8) SGD training in a synchronous loop: RSS after ${STEPS} steps within 10% of RSS after ${EARLY}`,
  async () => {
    const { rssEarly, rssEnd } = await trainAndMeasure(0);
    const ratio = rssEnd / rssEarly;
    assert.ok(ratio <= 1.1, `RSS grew from ${MiB(rssEarly)} MiB at step ${EARLY} to ${MiB(rssEnd)} MiB at step ${STEPS} (x${ratio.toFixed(3)})`);
  },
);

test('attack-style loop (F.grad w.r.t. the input in eval mode, channels_last) leaks no tensors', () => {
  const gen = new Generator(1);
  const model = resnet18({ width: 8, generator: gen }).eval();
  model.to(undefined, 'channels_last');
  const start = liveTensors();
  const x0 = tidy(() => F.rand([4, 3, SIZE, SIZE], { generator: gen }).contiguous('channels_last'));
  const y = F.randint(0, 10, [4], { generator: gen });
  let delta = F.zeros([4, 3, SIZE, SIZE]);
  const afterSetup = liveTensors();
  const eps = 8 / 255;
  for (let i = 0; i < 40; i++) {
    const next = tidy(() => {
      const d = delta.clone().requiresGrad_(true);
      const loss = F.crossEntropy(model.forward(x0.add(d).clamp(0, 1)), y);
      const [g] = F.grad(loss, d);
      return noGrad(() => d.add(g!.sign().mul(2 / 255)).clamp(-eps, eps));
    });
    delta.dispose();
    delta = next;
    assert.equal(liveTensors(), afterSetup, `step ${i}: live tensors constant`);
  }
  assert.ok(tidy(() => delta.abs().amax().item()) <= eps + 1e-6);
  for (const p of model.parameters()) assert.equal(p.grad, null, 'F.grad leaves parameter .grad alone');
  delta.dispose();
  x0.dispose();
  y.dispose();
  assert.equal(liveTensors(), start);
  model.dispose();
});

test('generators: dispose() frees one at once, a dropped one is freed after collection, a disposed one says so', async () => {
  const before = liveGenerators();
  // a generator per step, disposed, keeps the count flat in a synchronous loop
  for (let i = 0; i < 1000; i++) {
    const g = new Generator(i);
    tidy(() => F.rand([2], { generator: g }));
    g.dispose();
    g.dispose(); // a second dispose does nothing
  }
  assert.equal(liveGenerators(), before);
  const g = new Generator(7);
  g.dispose();
  assert.throws(() => F.rand([2], { generator: g }), /generator \(seed 7\) was disposed/);
  // dropped generators: the FinalizationRegistry frees them once the collector has run
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  (() => {
    for (let i = 0; i < 200; i++) new Generator(i);
  })();
  assert.ok(liveGenerators() >= before + 200);
  for (let i = 0; i < 20 && liveGenerators() > before; i++) {
    gc();
    await nextTurn();
  }
  // (earlier tests' dropped generators may go too)
  assert.ok(liveGenerators() <= before, `every dropped generator is freed after collection (${liveGenerators()} alive, ${before} before)`);
});
