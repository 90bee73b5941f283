// REM (Fu et al., ICLR 2022) at a tiny scale: 20 synthetic 32x32 images, the smoke profile's
// ResNet-18 (width 8) trained adversarially for 3 steps of 8 images while the noise is made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { F, Generator, liveTensors, noGrad, tidy, type Tensor } from '../src/engine/index.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { RemAttack, REM_SETTINGS } from '../src/attacks/rem.js';
import { GenerationInterrupted } from '../src/attacks/model/index.js';
import { createClassifier } from '../src/nn/models/index.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

const ds: ImageDataset = syntheticDataset({ classes: ['a', 'b', 'c', 'd'], perClass: 5, seed: 3 });
const tmp = makeTempDir('eclipse-rem-');
test.after(() => tmp.cleanup());

/** REM at test scale: 3 model steps of 8 images, then the final pass in 3 batches (8, 8, 4). */
const tiny = (over: Record<string, number> = {}): RemAttack =>
  new RemAttack({ profile: 'smoke', settings: { modelSteps: 3, trainBatch: 8, poisonBatch: 8, defSteps: 2, advSteps: 2, ...over } });

test('rem: poison within L_inf 8/255 on the uint8 images, not zero, metadata recorded', async () => {
  const attack = tiny();
  await attack.prepare(ds, 5, { workDir: join(tmp.dir, 'w-bound'), quiet: true });
  const res = attack.poison(ds, 5);
  let linf = 0;
  let changed = 0;
  for (let p = 0; p < ds.images.length; p++) {
    const d = Math.abs(res.dataset.images[p]! - ds.images[p]!);
    linf = Math.max(linf, d);
    if (d > 0) changed++;
  }
  assert.ok(linf <= 8, `max |delta| ${linf}/255`);
  assert.ok(linf >= 7, `REM's signed steps should reach the budget (max ${linf}/255)`);
  assert.ok(changed > ds.images.length / 4, `only ${changed} of ${ds.images.length} values changed`);
  const m = res.dataset.meta;
  assert.equal(m.attack, 'rem');
  assert.equal(m.norm, 'linf');
  assert.match(m.attack_setting!, /^smoke with overrides: model_steps 3, train_batch 8, poison_batch 8/);
  const params = JSON.parse(m.attack_params!);
  assert.equal(params.adv_steps, 2);
  assert.ok(Math.abs(params.adv_eps - 4 / 255) < 1e-12);
  const notes = JSON.parse(m.attack_notes!);
  assert.equal(notes.model_steps, '3');
  assert.match(notes.model_sha256, /^[0-9a-f]{64}$/);
});

test('rem: an interrupted run resumes (model steps, then final batches) and equals an uninterrupted one; a changed setting starts over', async () => {
  const whole = tiny();
  await whole.prepare(ds, 1, { workDir: join(tmp.dir, 'w-whole'), quiet: true });
  const a = whole.poison(ds, 1).dataset;

  const dir = join(tmp.dir, 'w-split');
  const stop = new AbortController();
  stop.abort(); // checked after every model step and every final batch: one of them per run
  await assert.rejects(tiny().prepare(ds, 1, { workDir: dir, quiet: true, signal: stop.signal }), /after model step 1\/3/);
  const second: string[] = [];
  await assert.rejects(tiny().prepare(ds, 1, { workDir: dir, quiet: true, signal: stop.signal, log: (l) => second.push(l) }), GenerationInterrupted);
  assert.ok(second.some((l) => /resuming after model step 1\/3/.test(l)), second.join('\n'));
  // the third run finishes the model steps and stops after the first final batch
  await assert.rejects(tiny().prepare(ds, 1, { workDir: dir, quiet: true, signal: stop.signal }), /after batch 1\/3/);
  const logs: string[] = [];
  const resumed = tiny();
  await resumed.prepare(ds, 1, { workDir: dir, quiet: true, log: (l) => logs.push(l) });
  assert.ok(logs.some((l) => /resuming after model step 3\/3/.test(l)), logs.join('\n'));
  assert.ok(logs.some((l) => /resuming after batch 1\/3/.test(l)), logs.join('\n'));
  const b = resumed.poison(ds, 1).dataset;
  assert.deepEqual(Buffer.from(b.images), Buffer.from(a.images));
  // the float perturbations themselves are identical, and so is the trained model
  assert.deepEqual(readFileSync(join(dir, 'rem-perturbation.safetensors')), readFileSync(join(tmp.dir, 'w-whole', 'rem-perturbation.safetensors')));
  assert.equal(JSON.parse(b.meta.attack_notes!).model_sha256, JSON.parse(a.meta.attack_notes!).model_sha256);

  // A changed setting of the training starts over; a changed final batch keeps the model.
  const changed: string[] = [];
  await tiny({ advSteps: 1 }).prepare(ds, 1, { workDir: dir, quiet: true, log: (l) => changed.push(l) });
  assert.ok(changed.some((l) => /rem-state.safetensors belongs to another generation/.test(l)), changed.join('\n'));
  const rebatched: string[] = [];
  await tiny({ advSteps: 1, poisonBatch: 10 }).prepare(ds, 1, { workDir: dir, quiet: true, log: (l) => rebatched.push(l) });
  assert.ok(rebatched.some((l) => /resuming after model step 3\/3/.test(l)), rebatched.join('\n'));
  assert.ok(rebatched.some((l) => /rem-perturbation.safetensors belongs to another generation/.test(l)), rebatched.join('\n'));
});

test('rem: bad settings fail with clear errors; paper values are the release script', () => {
  assert.throws(() => tiny({ advEps: 0 }), /adv-eps \(rho_a.*must be > 0, got 0/);
  assert.throws(() => tiny({ advEps: -1 / 255 }), /setting advEps must be >= 0/);
  assert.throws(() => tiny({ samples: 0 }), /setting samples must be >= 1, got 0/);
  assert.throws(() => tiny({ defStepFraction: 0 }), /def-step-fraction must be > 0/);
  assert.throws(() => tiny({ modelSteps: 2.5 }), /modelSteps must be an integer/);
  assert.throws(() => new RemAttack({ settings: { sample: 2 } }), /no setting "sample" \(did you mean samples\?\)/);
  assert.throws(() => new RemAttack({ surrogate: 'x.safetensors' }), /takes no surrogate file/);
  assert.throws(() => new RemAttack({ checkpointEvery: 0 }), /checkpointEvery must be a positive integer/);
  const paper = new RemAttack();
  assert.equal(paper.settings.modelSteps, 5000);
  assert.equal(paper.settings.lrDecayEvery, 2000);
  assert.equal(paper.settings.samples, 5);
  assert.equal(paper.settings.defSteps, 10);
  assert.equal(paper.settings.advSteps, 10);
  assert.ok(Math.abs(paper.defStepSize - 1.6 / 255) < 1e-12);
  assert.ok(Math.abs(paper.advStepSize - 0.8 / 255) < 1e-12);
  assert.equal(REM_SETTINGS.advEps.profiles.mini, 4 / 255);
  assert.match(paper.recipe, /5000 adversarial-training steps/);
});

test('rem: the defensive noise is whole pixel units within eps and lowers the loss of the model', () => {
  const model = createClassifier('resnet18', { width: 8, numClasses: 4, generator: new Generator(2) });
  const net = { model, logits: (x: Tensor) => model.forward(x) };
  const attack = tiny({ defSteps: 5 });
  tidy(() => {
    const x = F.tensor(ds.images, [ds.n, 3, 32, 32]).to('float32').div(255);
    const y = F.tensor(ds.labels, [ds.n]).to('int64');
    const d = attack.defensiveNoise(net, x, y, new Generator(4));
    noGrad(() => {
      assert.ok(d.abs().amax().item() <= 8 / 255 + 1e-7);
      assert.ok(d.mul(255).sub(d.mul(255).round()).abs().amax().item() < 1e-4, 'noise not in whole pixel units');
      const xd = x.add(d);
      assert.ok(xd.amin().item() >= 0 && xd.amax().item() <= 1);
      model.eval();
      const clean = F.crossEntropy(net.logits(x), y).item();
      const noised = F.crossEntropy(net.logits(xd), y).item();
      assert.ok(noised < clean, `error-minimising noise should lower the loss: ${noised} vs clean ${clean}`);
    });
  });
  model.dispose();
});

test('memory: rem prepare leaves liveTensors unchanged', async () => {
  const attack = tiny({ modelSteps: 2 });
  const before = liveTensors();
  await attack.prepare(ds, 9, { workDir: join(tmp.dir, 'w-mem'), quiet: true });
  assert.equal(liveTensors(), before, 'rem prepare leaked tensors');
  // an interrupted run frees everything too
  const stop = new AbortController();
  stop.abort();
  await assert.rejects(attack.prepare(ds, 10, { workDir: join(tmp.dir, 'w-mem2'), quiet: true, signal: stop.signal }), GenerationInterrupted);
  assert.equal(liveTensors(), before, 'an interrupted rem prepare leaked tensors');
});
