// ECLIPSE end to end at the smoke profile: sparse set, denoiser, purification, classifier;
// stage caching; bad input (t* range, sparse overlap, checkpoint mismatch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { F } from '../src/engine/index.js';
import { subset } from '../src/data/dataset.js';
import { createAttack } from '../src/attacks/index.js';
import { classifierProfile } from '../src/profiles.js';
import { eclipseProfile } from '../src/eclipse-settings.js';
import { defend } from '../src/pipeline/defend.js';
import { purifyDataset, purificationDiffusion } from '../src/defenses/purify.js';
import { enlarge, selectSparseSet } from '../src/defenses/sparse.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

F.setNumThreads(2);

test('defend runs every stage at smoke scale, then skips them all on a re-run', async () => {
  const clean = syntheticDataset({ classes: ['a', 'b'], perClass: 24, seed: 11 });
  const pool = syntheticDataset({ classes: ['a', 'b'], perClass: 6, seed: 12 });
  const poisoned = createAttack('ar').poison(clean, 0).dataset;
  const tmp = makeTempDir();
  const logs: string[] = [];
  const opts = {
    train: poisoned,
    trainKey: 'synthetic-ar',
    test: clean,
    sparsePool: pool,
    eclipse: eclipseProfile('smoke'),
    classifier: { ...classifierProfile('smoke'), width: 4, epochs: 1, batchSize: 16 },
    profile: 'smoke' as const,
    device: 'cpu' as const,
    seed: 0,
    outDir: tmp.dir,
    quiet: true,
    log: (m: string) => logs.push(m),
  };
  try {
    const first = await defend(opts);
    assert.ok(first.testAcc >= 0 && first.testAcc <= 1);
    for (const f of ['sparse-set.safetensors', 'purified.safetensors', 'denoiser/denoiser.safetensors', 'classifier-seed0/result.json'])
      assert.ok(existsSync(join(tmp.dir, f)), `${f} written`);
    assert.ok(readdirSync(join(tmp.dir, 'denoiser')).some((f) => f.startsWith('preview-') && f.endsWith('.png')), 'preview grid written');
    logs.length = 0;
    const again = await defend(opts);
    assert.equal(again.testAcc, first.testAcc);
    assert.equal(logs.filter((l) => l.includes('up to date, skipped')).length, 3, logs.join('\n'));
  } finally {
    tmp.cleanup();
  }
});

test('purification keeps the data shape and labels, is seeded, and refuses a bad t*', async () => {
  const ds = syntheticDataset({ classes: ['a', 'b'], perClass: 5, seed: 13 });
  const tmp = makeTempDir();
  try {
    const { trainDenoiser } = await import('../src/diffusion/train.js');
    const e = eclipseProfile('smoke');
    const den = await trainDenoiser(enlarge(ds, 2), { recipe: e.denoiser, seed: 0, outDir: tmp.dir, quiet: true });
    const small = subset(ds, Int32Array.from([0, 1, 2, 3]));
    const a = await purifyDataset(small, { recipe: { ...e.purify, shardSize: 3 }, checkpoint: den.checkpoint, seed: 1, out: join(tmp.dir, 'a.safetensors'), quiet: true });
    const b = await purifyDataset(small, { recipe: { ...e.purify, shardSize: 2 }, checkpoint: den.checkpoint, seed: 1, out: join(tmp.dir, 'b.safetensors'), quiet: true });
    assert.equal(a.n, 4);
    assert.deepEqual(Array.from(a.labels), Array.from(small.labels));
    assert.equal(a.meta.t_star, '100');
    const c = await purifyDataset(small, { recipe: { ...e.purify, shardSize: 3 }, checkpoint: den.checkpoint, seed: 1, out: join(tmp.dir, 'c.safetensors'), quiet: true });
    assert.deepEqual(c.images, a.images, 'same seed and shards, same result');
    assert.equal(b.n, 4);
    await assert.rejects(
      purifyDataset(small, { recipe: { ...e.purify, tStar: 150 }, checkpoint: den.checkpoint, seed: 1, out: join(tmp.dir, 'd.safetensors'), quiet: true }),
      /trained only on t <= 100/,
    );
    assert.throws(() => purificationDiffusion(4000, 0, 0), /t\* must be an integer in \[1, 4000\]/);
    assert.throws(() => purificationDiffusion(4000, 4001, 0), /t\* must be an integer in \[1, 4000\]/);
    assert.ok(!existsSync(join(tmp.dir, 'd.safetensors')), 'nothing written on refusal');
  } finally {
    tmp.cleanup();
  }
});

test('respaced purification ends at t* - 1 and keeps x_{t*} identical', () => {
  const full = purificationDiffusion(4000, 100, 0);
  const fast = purificationDiffusion(4000, 100, 10);
  assert.equal(full.reverseSteps, 100);
  assert.equal(fast.reverseSteps, 10);
  const last = fast.diffusion.timestepMap[fast.diffusion.timestepMap.length - 1];
  assert.equal(last, 99);
  assert.ok(Math.abs(fast.diffusion.schedule.alphasCumprod[9]! - full.diffusion.schedule.alphasCumprod[99]!) < 1e-12);
  full.diffusion.dispose();
  fast.diffusion.dispose();
});

test('the sparse set must be disjoint from the training set, non-empty and large enough', () => {
  const train = syntheticDataset({ classes: ['a', 'b'], perClass: 6, seed: 14 });
  assert.throws(() => selectSparseSet(train, { perClass: 2, seed: 0, trainSet: train }), /also in the training set.*--force/);
  assert.equal(selectSparseSet(train, { perClass: 2, seed: 0, trainSet: train, force: true }).n, 4);
  assert.throws(() => selectSparseSet(train, { perClass: 0, seed: 0 }), /at least 1 image per class/);
  assert.throws(() => selectSparseSet(train, { perClass: 7, seed: 0 }), /only 6 images in its smallest class/);
  assert.throws(() => enlarge(train, 0), /replication M must be an integer >= 1/);
});
