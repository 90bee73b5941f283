// Every resumable job is keyed by all of its inputs: an interrupted job whose data, recipe,
// seed (or denoiser) then changes starts over, and ends exactly where a fresh run of the new
// inputs ends; a finished output is never replaced unless asked (issue 23, cases 1 and 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { EmAttack } from '../src/attacks/em.js';
import { F } from '../src/engine/index.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { loadDataset, saveDataset } from '../src/data/store.js';
import { enlarge } from '../src/defenses/sparse.js';
import { compensation } from '../src/defenses/compensation.js';
import { purifyDataset, PurifyInterrupted } from '../src/defenses/purify.js';
import { DenoiserInterrupted, trainDenoiser } from '../src/diffusion/train.js';
import { OutputExistsError } from '../src/io/atomic.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { classifierStage } from '../src/pipeline/defend.js';
import { classifierProfile } from '../src/profiles.js';
import { eclipseProfile } from '../src/eclipse-settings.js';
import { trainClassifier, TrainingInterrupted, type TrainOptions } from '../src/training/trainer.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

F.setNumThreads(1);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'eclipse.js');

/** A copy of ds with one pixel (or one label) changed: the smallest change of its content. */
function nudged(ds: ImageDataset, what: 'pixel' | 'label'): ImageDataset {
  const images = ds.images.slice();
  const labels = ds.labels.slice();
  if (what === 'pixel') images[5] = (images[5]! + 1) % 256;
  else labels[0] = (labels[0]! + 1) % ds.classes.length;
  return { ...ds, images, labels, classes: ds.classes.slice(), meta: { ...ds.meta } };
}

/** The model tensors of a checkpoint, as one digest (optimizer state left out). */
function weightsDigest(file: string): string {
  const h = createHash('sha256');
  const { tensors } = readSafetensorsSync(file);
  for (const name of Object.keys(tensors).filter((n) => !n.startsWith('optim')).sort()) h.update(name).update(tensors[name]!);
  return h.digest('hex');
}
function readSafetensorsSync(file: string): { tensors: Record<string, Uint8Array> } {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets?: [number, number] }>;
  const tensors: Record<string, Uint8Array> = {};
  for (const [name, t] of Object.entries(header)) if (t.data_offsets) tensors[name] = buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
  return { tensors };
}

test('classifier: an interrupted run whose data, labels, test set, recipe, seed or transform changed starts over', async () => {
  const train = syntheticDataset({ perClass: 8, seed: 3 });
  const testSet = syntheticDataset({ perClass: 4, seed: 4 });
  const recipe = { ...classifierProfile('smoke'), width: 2, epochs: 2, batchSize: 12, evalEvery: 1 };
  const base: Omit<TrainOptions, 'outDir'> = { recipe, seed: 5, quiet: true, device: 'cpu', resume: 'auto' };
  const changes: { name: string; train: ImageDataset; test: ImageDataset; o: Omit<TrainOptions, 'outDir'> }[] = [
    { name: 'a training pixel', train: nudged(train, 'pixel'), test: testSet, o: base },
    { name: 'a training label', train: nudged(train, 'label'), test: testSet, o: base },
    { name: 'a test pixel', train, test: nudged(testSet, 'pixel'), o: base },
    { name: 'the learning rate', train, test: testSet, o: { ...base, recipe: { ...recipe, lr: recipe.lr / 2 } } },
    { name: 'the seed', train, test: testSet, o: { ...base, seed: 6 } },
    { name: 'the batch transform', train, test: testSet, o: { ...base, transform: compensation({ p: 0.5, sigma: 0.1 }) } },
  ];
  const tmp = makeTempDir();
  try {
    for (const [i, c] of changes.entries()) {
      const dir = join(tmp.dir, `run-${i}`);
      // the old inputs, stopped after epoch 1 of 2 (a checkpoint at epoch 1 is left)
      const stop = new AbortController();
      await assert.rejects(trainClassifier(train, testSet, { ...base, outDir: dir, signal: stop.signal, onEpoch: () => stop.abort() }), TrainingInterrupted);
      const epochsRun: number[] = [];
      const again = await trainClassifier(c.train, c.test, { ...c.o, outDir: dir, onEpoch: (m) => epochsRun.push(m.epoch) });
      assert.deepEqual(epochsRun, [1, 2], `${c.name} changed: both epochs run again, none resumed`);
      const fresh = await trainClassifier(c.train, c.test, { ...c.o, outDir: join(tmp.dir, `fresh-${i}`) });
      assert.equal(again.testAcc, fresh.testAcc, `${c.name}: the restarted run is the fresh run`);
      assert.deepEqual(again.epochs.map((m) => m.train_loss), fresh.epochs.map((m) => m.train_loss), `${c.name}: same curve as a fresh run`);
      assert.equal(weightsDigest(join(dir, 'checkpoint.safetensors')), weightsDigest(join(tmp.dir, `fresh-${i}`, 'checkpoint.safetensors')), `${c.name}: same weights as a fresh run`);
    }
    // and the same inputs do resume (the control): only epoch 2 runs
    const dir = join(tmp.dir, 'same');
    const stop = new AbortController();
    await assert.rejects(trainClassifier(train, testSet, { ...base, outDir: dir, signal: stop.signal, onEpoch: () => stop.abort() }), TrainingInterrupted);
    const epochsRun: number[] = [];
    await trainClassifier(train, testSet, { ...base, outDir: dir, onEpoch: (m) => epochsRun.push(m.epoch) });
    assert.deepEqual(epochsRun, [2], 'the same inputs resume at epoch 2');
  } finally {
    tmp.cleanup();
  }
});

test('classifier: a finished run is kept: the same inputs are done already, other inputs are refused unless overwrite', async () => {
  const train = syntheticDataset({ perClass: 4, seed: 3 });
  const recipe = { ...classifierProfile('smoke'), width: 2, epochs: 1, batchSize: 12 };
  const tmp = makeTempDir();
  try {
    const o: TrainOptions = { recipe, seed: 1, quiet: true, device: 'cpu', outDir: tmp.dir };
    const first = await trainClassifier(train, train, o);
    const before = readFileSync(join(tmp.dir, 'checkpoint.safetensors'));
    const epochsRun: number[] = [];
    const again = await trainClassifier(train, train, { ...o, onEpoch: (m) => epochsRun.push(m.epoch) });
    assert.deepEqual(epochsRun, [], 'the same finished run is not trained again');
    assert.equal(again.testAcc, first.testAcc);
    await assert.rejects(trainClassifier(nudged(train, 'pixel'), train, o), (e: unknown) => e instanceof OutputExistsError && /finished run of other inputs/.test(e.message));
    await assert.rejects(trainClassifier(train, train, { ...o, seed: 2 }), OutputExistsError);
    assert.deepEqual(readFileSync(join(tmp.dir, 'checkpoint.safetensors')), before, 'the refused runs changed nothing');
    const overwritten: number[] = [];
    await trainClassifier(train, train, { ...o, seed: 2, overwrite: true, onEpoch: (m) => overwritten.push(m.epoch) });
    assert.deepEqual(overwritten, [1], 'overwrite trains the new run');
    // an unfinished run of the same inputs: resume it or overwrite it, never silently restart
    const dir = join(tmp.dir, 'unfinished');
    const stop = new AbortController();
    await assert.rejects(trainClassifier(train, train, { ...o, recipe: { ...recipe, epochs: 2 }, outDir: dir, signal: stop.signal, onEpoch: () => stop.abort() }), TrainingInterrupted);
    await assert.rejects(trainClassifier(train, train, { ...o, recipe: { ...recipe, epochs: 2 }, outDir: dir }), (e: unknown) => e instanceof OutputExistsError && e.unfinished);
  } finally {
    tmp.cleanup();
  }
});

test('classifier stage: a changed training set reruns the stage even under the same trainKey name', async () => {
  const train = syntheticDataset({ perClass: 4, seed: 3 });
  const recipe = { ...classifierProfile('smoke'), width: 2, epochs: 1, batchSize: 12 };
  const tmp = makeTempDir();
  const logs: string[] = [];
  const o = { device: 'cpu' as const, quiet: true, log: (m: string) => logs.push(m) };
  try {
    const a = await classifierStage(train, 'poison:same-name', train, recipe, { comp: null }, 0, join(tmp.dir, 'classifier'), o);
    const b = await classifierStage(nudged(train, 'label'), 'poison:same-name', train, recipe, { comp: null }, 0, join(tmp.dir, 'classifier'), o);
    assert.equal(logs.filter((l) => /up to date, skipped/.test(l)).length, 0, logs.join('\n'));
    assert.equal(logs.filter((l) => /running/.test(l)).length, 2, 'both stages ran');
    assert.notDeepEqual(a.epochs.map((m) => m.train_loss), b.epochs.map((m) => m.train_loss));
  } finally {
    tmp.cleanup();
  }
});

test('denoiser: an interrupted run whose sparse set, recipe or seed changed starts over; a finished one is not replaced', async () => {
  const smoke = eclipseProfile('smoke');
  // two iterations, a checkpoint after each, the preview grid only at the end: seconds, not minutes
  const e = { ...smoke, denoiser: { ...smoke.denoiser, iterations: 2, checkpointEvery: 1, previewEvery: 1000 } };
  const sparse = enlarge(syntheticDataset({ perClass: 2, seed: 9 }), 2);
  const changes: { name: string; data: ImageDataset; recipe: typeof e.denoiser; seed: number }[] = [
    { name: 'a sparse-set pixel', data: nudged(sparse, 'pixel'), recipe: e.denoiser, seed: 0 },
    { name: 'the learning rate', data: sparse, recipe: { ...e.denoiser, lr: e.denoiser.lr * 2 }, seed: 0 },
    { name: 'the seed', data: sparse, recipe: e.denoiser, seed: 1 },
  ];
  const tmp = makeTempDir();
  try {
    for (const [i, c] of changes.entries()) {
      const dir = join(tmp.dir, `den-${i}`);
      const stop = new AbortController();
      stop.abort(); // stops after the first iteration, leaving its checkpoint
      await assert.rejects(trainDenoiser(sparse, { recipe: e.denoiser, seed: 0, outDir: dir, quiet: true, signal: stop.signal, resume: 'auto' }), DenoiserInterrupted);
      await trainDenoiser(c.data, { recipe: c.recipe, seed: c.seed, outDir: dir, quiet: true, resume: 'auto' });
      await trainDenoiser(c.data, { recipe: c.recipe, seed: c.seed, outDir: join(tmp.dir, `fresh-${i}`), quiet: true });
      assert.equal(weightsDigest(join(dir, 'denoiser.safetensors')), weightsDigest(join(tmp.dir, `fresh-${i}`, 'denoiser.safetensors')), `${c.name} changed: the restarted denoiser is the fresh one`);
    }
    const dir = join(tmp.dir, 'den-0');
    const before = readFileSync(join(dir, 'denoiser.safetensors'));
    const done = await trainDenoiser(changes[0]!.data, { recipe: e.denoiser, seed: 0, outDir: dir, quiet: true });
    assert.equal(done.seconds, 0, 'the same finished denoiser is done already');
    await assert.rejects(trainDenoiser(sparse, { recipe: e.denoiser, seed: 0, outDir: dir, quiet: true }), OutputExistsError);
    assert.deepEqual(readFileSync(join(dir, 'denoiser.safetensors')), before, 'nothing replaced');
  } finally {
    tmp.cleanup();
  }
});

test('purification: interrupted shards of other data, another denoiser, recipe or seed are not reused; a finished file is not replaced', async () => {
  const e = eclipseProfile('smoke');
  const tmp = makeTempDir();
  try {
    const pool = enlarge(syntheticDataset({ perClass: 2, seed: 9 }), 2);
    const den0 = (await trainDenoiser(pool, { recipe: e.denoiser, seed: 0, outDir: join(tmp.dir, 'den0'), quiet: true })).checkpoint;
    const den1 = (await trainDenoiser(pool, { recipe: e.denoiser, seed: 1, outDir: join(tmp.dir, 'den1'), quiet: true })).checkpoint;
    const ds = syntheticDataset({ perClass: 2, seed: 11 });
    const recipe = { ...e.purify, shardSize: 3 };
    const changes = [
      { name: 'an image pixel', ds: nudged(ds, 'pixel'), checkpoint: den0, recipe, seed: 0 },
      { name: 'the denoiser', ds, checkpoint: den1, recipe, seed: 0 },
      { name: 't*', ds, checkpoint: den0, recipe: { ...recipe, tStar: 50 }, seed: 0 },
      { name: 'the seed', ds, checkpoint: den0, recipe, seed: 1 },
    ];
    for (const [i, c] of changes.entries()) {
      const out = join(tmp.dir, `p-${i}.safetensors`);
      const stop = new AbortController();
      stop.abort(); // stops after the first of two shards
      await assert.rejects(purifyDataset(ds, { recipe, checkpoint: den0, seed: 0, out, quiet: true, signal: stop.signal }), PurifyInterrupted);
      assert.equal(readdirSync(`${out}.parts`).filter((f) => f.startsWith('shard-')).length, 1);
      const again = await purifyDataset(c.ds, { recipe: c.recipe, checkpoint: c.checkpoint, seed: c.seed, out, quiet: true });
      const fresh = await purifyDataset(c.ds, { recipe: c.recipe, checkpoint: c.checkpoint, seed: c.seed, out: join(tmp.dir, `fresh-${i}.safetensors`), quiet: true });
      assert.deepEqual(again.images, fresh.images, `${c.name} changed: no old shard was reused`);
    }
    // a finished output: the same inputs are done already; other inputs are refused, then overwritten when asked
    const out = join(tmp.dir, 'p-0.safetensors');
    const before = readFileSync(out);
    const same = await purifyDataset(changes[0]!.ds, { recipe, checkpoint: den0, seed: 0, out, quiet: true });
    assert.deepEqual(same.images, (await loadDataset(out)).images);
    await assert.rejects(purifyDataset(changes[0]!.ds, { recipe: { ...recipe, tStar: 50 }, checkpoint: den0, seed: 0, out, quiet: true }), /already holds a purified set of other inputs/);
    assert.deepEqual(readFileSync(out), before, 'nothing replaced');
    await purifyDataset(changes[0]!.ds, { recipe: { ...recipe, tStar: 50 }, checkpoint: den0, seed: 0, out, quiet: true, overwrite: true });
    assert.equal((await readSafetensors(out)).metadata.t_star, '50');
  } finally {
    tmp.cleanup();
  }
});

test('poison generation (EM min-min): an interrupted generation on other data starts over and ends as a fresh one', async () => {
  const em = (): EmAttack => new EmAttack({ profile: 'smoke', settings: { maxLoops: 2, steps: 1, trainBatch: 8, poisonBatch: 8, stopAccuracy: 0.99 } });
  const ds = syntheticDataset({ perClass: 4, seed: 21 });
  const other = nudged(ds, 'pixel');
  const tmp = makeTempDir();
  try {
    const ctx = (dir: string, log?: (l: string) => void) => ({ workDir: join(tmp.dir, dir), quiet: true, device: 'cpu' as const, log });
    const stop = new AbortController();
    stop.abort(); // stops after the first loop, leaving its checkpoint
    await assert.rejects(em().prepare(ds, 0, { ...ctx('work'), signal: stop.signal }));
    const lines: string[] = [];
    const again = em();
    await again.prepare(other, 0, ctx('work', (l) => lines.push(l)));
    assert.ok(lines.some((l) => /another generation/.test(l)), `a pixel changed: the generation starts over\n${lines.join('\n')}`);
    assert.ok(!lines.some((l) => /resuming/.test(l)), lines.join('\n'));
    const fresh = em();
    await fresh.prepare(other, 0, ctx('fresh'));
    assert.deepEqual(again.poison(other, 0).dataset.images, fresh.poison(other, 0).dataset.images, 'the same poison as a fresh generation');
  } finally {
    tmp.cleanup();
  }
});

const env = { ...process.env, ECLIPSE_CIFAR10: '', ECLIPSE_QUIET_NODE_WARNING: '1' };
const eclipse = (args: string[], cwd: string): { code: number; out: string; err: string } => {
  const r = spawnSync(process.execPath, [bin, ...args, '--threads', '1', '--device', 'cpu'], { cwd, encoding: 'utf8', env });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
};
const digestOf = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

test('eclipse train / purify: a finished output of other inputs is refused (nothing changed), the same inputs are done, --overwrite replaces', async () => {
  const tmp = makeTempDir();
  try {
    const classes = ['a', 'b', 'c'];
    await saveDataset(syntheticDataset({ classes, perClass: 4, seed: 1 }), join(tmp.dir, 'train.safetensors'));
    await saveDataset(syntheticDataset({ classes, perClass: 4, seed: 2 }), join(tmp.dir, 'other.safetensors'));
    await saveDataset(syntheticDataset({ classes, perClass: 2, seed: 3 }), join(tmp.dir, 'test.safetensors'));
    const train = (data: string, ...extra: string[]): { code: number; out: string; err: string } =>
      eclipse(['train', '--profile', 'smoke', '--train', data, '--test', 'test.safetensors', '--width', '2', '--epochs', '1', '--out', 'run', ...extra], tmp.dir);
    const first = train('train.safetensors');
    assert.equal(first.code, 0, first.err);
    const ckpt = join(tmp.dir, 'run', 'checkpoint.safetensors');
    const before = digestOf(ckpt);
    const other = train('other.safetensors');
    assert.equal(other.code, 2, other.err);
    assert.match(other.err, /^eclipse train: run holds a finished run of other inputs .*: use another --out, or --overwrite to replace it$/m);
    assert.equal(digestOf(ckpt), before, 'the finished run is untouched');
    const same = train('train.safetensors');
    assert.equal(same.code, 0, same.err);
    assert.match(same.err, /already holds this run, finished/);
    assert.equal(digestOf(ckpt), before);
    const over = train('other.safetensors', '--overwrite');
    assert.equal(over.code, 0, over.err);
    assert.notEqual(digestOf(ckpt), before, '--overwrite trained the new run');

    const den = eclipse(['denoiser', 'train', '--profile', 'smoke', '--pool', 'test.safetensors', '--train', 'train.safetensors', '--sparse-per-class', '1', '--out', 'den'], tmp.dir);
    assert.equal(den.code, 0, den.err);
    const denAgain = eclipse(['denoiser', 'train', '--profile', 'smoke', '--pool', 'test.safetensors', '--train', 'train.safetensors', '--sparse-per-class', '1', '--out', 'den', '--seed', '3'], tmp.dir);
    assert.equal(denAgain.code, 2, denAgain.err);
    assert.match(denAgain.err, /holds a finished denoiser of other inputs/);
    const purify = (...extra: string[]): { code: number; out: string; err: string } =>
      eclipse(['purify', '--profile', 'smoke', '--checkpoint', join('den', 'denoiser.safetensors'), '--in', 'train.safetensors', '--out', 'purified.safetensors', ...extra], tmp.dir);
    assert.equal(purify().code, 0);
    const purified = join(tmp.dir, 'purified.safetensors');
    const p0 = digestOf(purified);
    const otherT = purify('--t-star', '50');
    assert.equal(otherT.code, 2, otherT.err);
    assert.match(otherT.err, /^eclipse purify: purified\.safetensors already holds a purified set of other inputs .*--overwrite/m);
    assert.equal(digestOf(purified), p0, 'the finished purification is untouched');
    const sameP = purify();
    assert.equal(sameP.code, 0, sameP.err);
    assert.match(sameP.err, /already holds this purification/);
    assert.equal(purify('--t-star', '50', '--overwrite').code, 0);
    assert.notEqual(digestOf(purified), p0);
  } finally {
    tmp.cleanup();
  }
});

test('matrix: a cell recomputed after its given poison changed is retrained from scratch (issue 23, case 1)', async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const tmp = makeTempDir();
  try {
    const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    const data = { train: join(tmp.dir, 'train.safetensors'), test: join(tmp.dir, 'test.safetensors'), pool: join(tmp.dir, 'pool.safetensors') };
    const clean = syntheticDataset({ classes, perClass: 6, seed: 1 });
    await saveDataset(clean, data.train);
    await saveDataset(syntheticDataset({ classes, perClass: 2, seed: 2 }), data.test);
    await saveDataset(syntheticDataset({ classes, perClass: 3, seed: 3 }), data.pool);
    const poison = (k: number): ImageDataset => ({ ...clean, images: clean.images.map((v, i) => (i % k === 0 ? 255 - v : v)), meta: { ...clean.meta, attack: 'em' } });
    const config = (name: string, file: string): string => {
      const path = join(tmp.dir, `${name}.json`);
      writeFileSync(path, JSON.stringify({ name, profile: 'smoke', data, poisons: { em: file }, options: { epochs: 2, width: 4 }, groups: [{ attacks: ['em'], defenses: ['none'] }] }));
      return path;
    };
    const run = (cfg: string): { code: number; out: string; err: string } => eclipse(['matrix', 'run', cfg, '--db', `${cfg}.sqlite`, '--artifacts', `${cfg}.artifacts`], tmp.dir);
    const curveOf = (db: string): { acc: number; curve: unknown } => {
      const h = ResultsDb.open(db);
      const row = h.results().find((r) => r.attack === 'em')!;
      h.close();
      return { acc: row.test_acc, curve: (JSON.parse(row.extra) as { curve: unknown }).curve };
    };
    const file = join(tmp.dir, 'em.safetensors');
    await saveDataset(poison(7), file);
    const cfg = config('case1', file);
    const a = run(cfg);
    assert.equal(a.code, 0, a.err);
    const before = curveOf(`${cfg}.sqlite`);
    renameSync(file, `${file}.a`);
    await saveDataset(poison(3), file); // poison B in the same place
    const b = run(cfg);
    assert.equal(b.code, 0, b.err);
    assert.doesNotMatch(b.err + b.out, /resuming/, 'the classifier does not resume the old poison\'s run');
    const after = curveOf(`${cfg}.sqlite`);
    assert.notDeepEqual(after.curve, before.curve, 'a new training curve');
    // and it is exactly what a fresh matrix on poison B records
    const freshFile = join(tmp.dir, 'em-b.safetensors');
    await saveDataset(poison(3), freshFile);
    const fresh = run(config('fresh', freshFile));
    assert.equal(fresh.code, 0, fresh.err);
    const f = curveOf(join(tmp.dir, 'fresh.json.sqlite'));
    assert.equal(after.acc, f.acc);
    assert.deepEqual(after.curve, f.curve);
    assert.ok(existsSync(`${file}.a`));
  } finally {
    tmp.cleanup();
  }
});
