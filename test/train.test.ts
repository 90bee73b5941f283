// Trainer integration: real CIFAR-10 images, checkpoints, resume, NaN handling, progress files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { F } from '../src/engine/index.js';
import { loadCifar10 } from '../src/data/cifar.js';
import { balancedSubset } from '../src/data/dataset.js';
import { classifierProfile } from '../src/profiles.js';
import { trainClassifier, NonFiniteLossError, TrainingInterrupted } from '../src/training/trainer.js';
import { findCifar, makeTempDir, syntheticDataset } from './helpers/tmp.js';

F.setNumThreads(2);
const { source, why } = findCifar();

test('trains on a few hundred real CIFAR-10 images and beats chance', { skip: source === null ? why : false }, async () => {
  if (source === null) return;
  const train = balancedSubset(await loadCifar10(source, 'train'), 40, 1);
  const test = balancedSubset(await loadCifar10(source, 'test'), 20, 2);
  const recipe = { ...classifierProfile('smoke'), width: 8, epochs: 8, batchSize: 32, lr: 0.05, evalEvery: 0 };
  const tmp = makeTempDir();
  try {
    const res = await trainClassifier(train, test, { recipe, seed: 0, outDir: tmp.dir, quiet: true });
    // 10 classes: chance is 10%; 400 images x 8 epochs reliably learns colour/shape cues.
    assert.ok(res.testAcc > 0.17, `test accuracy ${res.testAcc} should beat chance (0.10) clearly`);
    assert.ok(res.epochs[res.epochs.length - 1]!.train_loss < res.epochs[0]!.train_loss, 'training loss falls');
    const lines = readFileSync(join(tmp.dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 8);
    assert.ok(existsSync(join(tmp.dir, 'checkpoint.safetensors')));
  } finally {
    tmp.cleanup();
  }
});

test('resume continues from the checkpoint and matches an uninterrupted run', async () => {
  const ds = syntheticDataset({ perClass: 16, seed: 3 });
  const recipe = { ...classifierProfile('smoke'), width: 4, epochs: 3, batchSize: 16, evalEvery: 0 };
  const a = makeTempDir();
  const b = makeTempDir();
  try {
    const full = await trainClassifier(ds, ds, { recipe, seed: 5, outDir: a.dir, quiet: true });
    // Interrupt after epoch 2 (as Ctrl-C does), then resume to the end.
    const stop = new AbortController();
    await assert.rejects(
      trainClassifier(ds, ds, { recipe, seed: 5, outDir: b.dir, quiet: true, signal: stop.signal, onEpoch: (m) => m.epoch === 2 && stop.abort() }),
      TrainingInterrupted,
    );
    const resumed = await trainClassifier(ds, ds, { recipe, seed: 5, outDir: b.dir, quiet: true, resume: true });
    assert.equal(resumed.epochs.length, 3);
    assert.ok(Math.abs(resumed.testLoss - full.testLoss) < 1e-4, `resumed loss ${resumed.testLoss} vs uninterrupted ${full.testLoss}`);
    await assert.rejects(
      trainClassifier(ds, ds, { recipe: { ...recipe, lr: 0.01 }, seed: 5, outDir: b.dir, quiet: true, resume: true }),
      /different run/,
      'a changed recipe is refused on resume',
    );
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test('a NaN loss stops training with a clear error', async () => {
  const ds = syntheticDataset({ perClass: 8, seed: 4 });
  const recipe = { ...classifierProfile('smoke'), width: 4, epochs: 2, batchSize: 8, lr: 1e30, evalEvery: 0 };
  const tmp = makeTempDir();
  try {
    await assert.rejects(trainClassifier(ds, ds, { recipe, seed: 0, outDir: tmp.dir, quiet: true }), (e: unknown) => {
      assert.ok(e instanceof NonFiniteLossError);
      assert.match((e as Error).message, /loss became (NaN|Infinity|-Infinity) at epoch \d+, step \d+/);
      assert.match((e as Error).message, /lower --lr/);
      return true;
    });
  } finally {
    tmp.cleanup();
  }
});
