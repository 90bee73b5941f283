// D-VAE (Yu et al., ICML 2024), beyond the paper: its transposed convolutions against their
// definition, the smoke run on real CIFAR-10 images (shape, labels, a bounded change), determinism
// by seed, the stage cache and resume after an interruption, the one-line refusal of unlabelled
// or malformed input, and its place in the registry and in `eclipse train --help`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { balancedSubset, type ImageDataset } from '../src/data/dataset.js';
import { F, Generator, liveTensors, tidy } from '../src/engine/index.js';
import { ConvTranspose2d } from '../src/defenses/baselines/dvae-model.js';
import { DVAE_SETTINGS, DvaeDefense, checkDvaeInput } from '../src/defenses/baselines/dvae.js';
import type { DefenseContext } from '../src/defenses/baselines/types.js';
import { DEFENSES, DEFENSE_NAMES, createDefense } from '../src/defenses/registry.js';
import { classifierProfile } from '../src/profiles.js';
import { findCifar, makeTempDir, realCifarSubset } from './helpers/tmp.js';

F.setNumThreads(2);

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const tmp = makeTempDir('eclipse-dvae-');
test.after(() => tmp.cleanup());

/** 20 real test-split images per class, or null (the test skips, naming why). */
const realImages = (): Promise<ImageDataset | null> => realCifarSubset(20, 5);

let dirs = 0;
const ctxFor = (logs: string[], over: Partial<DefenseContext> = {}): DefenseContext => ({
  profile: 'smoke',
  seed: 1,
  device: 'cpu',
  recipe: classifierProfile('smoke'),
  workDir: join(tmp.dir, `work-${dirs++}`),
  quiet: true,
  log: (m) => logs.push(m),
  ...over,
});

/** out[o, Y, X] = b[o] + sum over i, y, x, h, w with Y = s y - p + h, X = s x - p + w of in[i, y, x] W[i, o, h, w]. */
function transposedByDefinition(x: Float32Array, [n, ci, H, Wd]: number[], w: Float32Array, b: Float32Array, co: number, k: number, s: number, p: number): Float64Array {
  const Ho = (H! - 1) * s - 2 * p + k;
  const Wo = (Wd! - 1) * s - 2 * p + k;
  const y = new Float64Array(n! * co * Ho * Wo);
  for (let m = 0; m < n!; m++)
    for (let o = 0; o < co; o++) for (let q = 0; q < Ho * Wo; q++) y[(m * co + o) * Ho * Wo + q] = b[o]!;
  for (let m = 0; m < n!; m++)
    for (let i = 0; i < ci!; i++)
      for (let yi = 0; yi < H!; yi++)
        for (let xi = 0; xi < Wd!; xi++) {
          const v = x[((m * ci! + i) * H! + yi) * Wd! + xi]!;
          for (let o = 0; o < co; o++)
            for (let h = 0; h < k; h++)
              for (let ww = 0; ww < k; ww++) {
                const Y = yi * s - p + h;
                const X = xi * s - p + ww;
                if (Y >= 0 && Y < Ho && X >= 0 && X < Wo) y[((m * co + o) * Ho + Y) * Wo + X]! += v * w[((i * co + o) * k + h) * k + ww]!;
              }
        }
  return y;
}

test('dvae: the decoders\' transposed convolutions (3x3 stride 1, 4x4 stride 2, padding 1) equal the definition, shapes included', () => {
  for (const [k, s] of [[3, 1], [4, 2]] as const) {
    const layer = new ConvTranspose2d(5, 3, k, { generator: new Generator(7) });
    const shape = [2, 5, 6, 7];
    const x = F.randn(shape, { generator: new Generator(8) });
    const before = liveTensors();
    const y = tidy(() => layer.forward(x));
    assert.equal(liveTensors(), before + 1, 'only the output is left');
    assert.deepEqual(y.shape, [2, 3, (6 - 1) * s - 2 + k, (7 - 1) * s - 2 + k]);
    const want = transposedByDefinition(x.data<'float32'>(), shape, layer.weight.data<'float32'>(), layer.bias.data<'float32'>(), 3, k, s, 1);
    const got = y.data<'float32'>();
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    assert.ok(worst < 1e-5, `k ${k} stride ${s}: off by ${worst}`);
    // PyTorch's ConvTranspose2d initialisation: U(+-1/sqrt(out * k * k)), weight [in, out, k, k]
    assert.deepEqual(layer.weight.shape, [5, 3, k, k]);
    const bound = 1 / Math.sqrt(3 * k * k);
    assert.ok(layer.weight.toArray().every((v) => Math.abs(v) <= bound));
    for (const t of [x, y]) t.dispose();
    layer.dispose();
  }
});

test('dvae: the paper profile is the release\'s recipe; mini and smoke are named cheaper variants', () => {
  const paper = createDefense('dvae', { profile: 'paper' });
  assert.deepEqual(paper.params, { epochs: 60, lr: 0.005, batch: 128, channels: 64, latent: 256, kl_target1: 1, kl_target2: 3, kl_weight: 0.01, p_floor: 0.002, p_from: 11, grad_clip: 5 });
  const mini = createDefense('dvae', { profile: 'mini' });
  assert.equal(mini.setting, 'mini');
  assert.equal(mini.params.channels, 16);
  assert.ok((mini.params.epochs as number) < 60);
  assert.match(DVAE_SETTINGS.channels.help, /mini: 16/);
  assert.match(DVAE_SETTINGS.epochs.help, /mini/);
  assert.throws(() => createDefense('dvae', { settings: { channels: 7 } }), /--dvae-width\) must be even, got 7/);
  assert.throws(() => createDefense('dvae', { settings: { epochs: 0 } }), /dvae defence: setting epochs must be >= 1/);
});

test('dvae: the smoke run on real CIFAR-10 images keeps shape and labels, changes the images by a bounded amount, and caches its stages', async (t) => {
  const clean = await realImages();
  if (!clean) return t.skip(findCifar().why);
  const logs: string[] = [];
  const ctx = ctxFor(logs);
  const before = liveTensors();
  const plan = await createDefense('dvae', { profile: 'smoke' }).plan(clean, ctx);
  assert.equal(liveTensors(), before, 'every tensor disposed');
  const out = plan.train;
  assert.equal(out.n, clean.n);
  assert.deepEqual([out.channels, out.height, out.width], [clean.channels, clean.height, clean.width]);
  assert.deepEqual(out.labels, clean.labels);
  assert.deepEqual(out.classes, clean.classes);
  assert.equal(out.images.length, clean.images.length);
  assert.equal(out.meta.defense, 'dvae');
  assert.equal(plan.transform, undefined, 'the victim trains on the purified set with its usual recipe');
  let changed = 0;
  let sq = 0;
  for (let i = 0; i < out.images.length; i++) {
    const d = out.images[i]! - clean.images[i]!;
    if (d !== 0) changed++;
    sq += d * d;
  }
  const rmse = Math.sqrt(sq / out.images.length);
  assert.ok(Number.isFinite(rmse));
  assert.ok(changed > out.images.length / 2, `only ${changed} of ${out.images.length} values changed`);
  // bounded: finite and well below what unrelated images would give (a smoke D-VAE sees 6 batches; it lands near 70)
  assert.ok(rmse > 0 && rmse < 90, `rmse ${rmse.toFixed(1)} of 255`);
  assert.match(plan.notes.kl_targets ?? '', /^1, 3$/);
  for (const name of (plan.notes.stage_files ?? '').split(', ')) assert.ok(existsSync(join(ctx.workDir, `${name}.safetensors`)), name);
  // the same inputs again: both stages read from the cache
  const again = await createDefense('dvae', { profile: 'smoke' }).plan(clean, { ...ctx, log: (m) => logs.push(m) });
  assert.equal(logs.filter((l) => /\[dvae-stage[12]-[0-9a-f]{16}\] up to date, skipped/.test(l)).length, 2, logs.join('\n'));
  assert.deepEqual(again.train.images, out.images);
});

test('dvae: the same seed gives the same bytes (fresh work folders), another seed other bytes', async (t) => {
  const clean = await realImages();
  if (!clean) return t.skip(findCifar().why);
  const small = balancedSubset(clean, 6, 2);
  const run = async (seed: number): Promise<Uint8Array> => (await createDefense('dvae', { profile: 'smoke' }).plan(small, ctxFor([], { seed }))).train.images;
  const a = await run(4);
  const b = await run(4);
  const c = await run(5);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('dvae: an interrupted stage resumes from its checkpoint and ends with the bytes of an uninterrupted run', async (t) => {
  const clean = await realImages();
  if (!clean) return t.skip(findCifar().why);
  const small = balancedSubset(clean, 4, 3);
  const d = new DvaeDefense({ profile: 'smoke', settings: { epochs: 2, batch: 16 } });
  const whole = (await d.plan(small, ctxFor([]))).train.images;
  const stop = new AbortController();
  stop.abort();
  const logs: string[] = [];
  const ctx = ctxFor(logs, { signal: stop.signal });
  await assert.rejects(d.plan(small, ctx), /dvae defence: interrupted after stage 1 epoch 1\/2 \(its checkpoint is kept\)/);
  const resumed = (await d.plan(small, { ...ctx, signal: undefined })).train.images;
  assert.ok(logs.some((l) => /stage 1: resuming after epoch 1\/2/.test(l)), logs.join('\n'));
  assert.deepEqual(resumed, whole);
});

test('dvae: a set without labels, with labels out of range or too few, or of odd size is one clear line', async () => {
  const n = 4;
  const good: ImageDataset = { images: new Uint8Array(n * 3 * 8 * 8).fill(100), labels: Int32Array.from([0, 1, 0, 1]), n, channels: 3, height: 8, width: 8, classes: ['a', 'b'], meta: {} };
  assert.doesNotThrow(() => checkDvaeInput(good));
  const labels = /^dvae defence: D-VAE needs the training set's labels \(its perturbation decoder is conditioned on the class\): /;
  const input = /^dvae defence: cannot purify this training set: /;
  const cases: [string, ImageDataset, RegExp, RegExp][] = [
    ['no labels', { ...good, labels: undefined as unknown as Int32Array }, labels, /: it has none/],
    ['labels as a plain array', { ...good, labels: [0, 1, 0, 1] as unknown as Int32Array }, labels, /: it has none/],
    ['too few labels', { ...good, labels: Int32Array.from([0, 1]) }, labels, /it has 2 labels for 4 images/],
    ['a label out of range', { ...good, labels: Int32Array.from([0, 1, 2, 1]) }, labels, /label 2 of image 2 is outside \[0, 2\)/],
    ['a negative label', { ...good, labels: Int32Array.from([0, -1, 0, 1]) }, labels, /label -1 of image 1 is outside/],
    ['no classes', { ...good, classes: [] }, labels, /it names no classes/],
    ['no images', { ...good, n: 0, images: new Uint8Array(0), labels: new Int32Array(0) }, input, /it has no images/],
    ['short image data', { ...good, images: new Uint8Array(10) }, input, /its images do not hold/],
    ['an odd size', { ...good, height: 7, width: 7, images: new Uint8Array(n * 3 * 49) }, input, /both sides must be even/],
  ];
  for (const [what, ds, head, why] of cases) {
    const err = await createDefense('dvae', { profile: 'smoke' }).plan(ds, ctxFor([])).then(
      () => assert.fail(`${what}: accepted`),
      (e: Error) => e,
    );
    assert.match(err.message, head, what);
    assert.match(err.message, why, what);
    assert.ok(!err.message.includes('\n'), `${what}: one line`);
  }
});

test('dvae: registered after COIN (beyond the paper) and listed by eclipse train --help with its flags', () => {
  assert.ok(DEFENSE_NAMES.includes('dvae'));
  assert.equal(DEFENSE_NAMES.indexOf('dvae'), DEFENSE_NAMES.indexOf('coin') + 1);
  assert.equal(DEFENSES.dvae.label, 'D-VAE');
  assert.equal(DEFENSES.dvae.runs, 'plan');
  assert.equal(DEFENSES.dvae.randomness, 'defense');
  assert.match(DEFENSES.dvae.citation, /ICML 2024.*yuyi-sd\/D-VAE/);
  const help = spawnSync(process.execPath, [bin, 'train', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /--defense NAME\s+\S*\|coin\|dvae\b/);
  assert.match(help.stdout, /^\s*dvae\s+D-VAE: /m);
  assert.match(help.stdout, /--dvae-epochs N\s+D-VAE: .*\[smoke 1, mini \d+, paper 60\]/);
  const bad = spawnSync(process.execPath, [bin, 'train', '--defense', 'dvae', '--dvae-width', '0'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--dvae-width/);
});
