// Two baseline defences: OP (orthogonal projection off a linear model's weights) on a synthetic
// class-wise linearly separable poison, and AVATAR (diffusion purification with a denoiser trained
// on the clean set) at the smoke profile; the t* conversion between noise schedules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { F, liveTensors } from '../src/engine/index.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';
import { namedBetas, noiseSchedule, tStarForNoiseLevel } from '../src/diffusion/schedule.js';
import { OpDefense, orthonormalRows, projectDataset, projectOut, trainLinearModel, linearLr } from '../src/defenses/baselines/op.js';
import { AvatarDefense, avatarTStar, avatarDenoiserRecipe } from '../src/defenses/baselines/avatar.js';
import type { DefenseContext } from '../src/defenses/baselines/types.js';
import { classifierProfile } from '../src/profiles.js';
import { eclipseProfile } from '../src/eclipse-settings.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

F.setNumThreads(2);

const tmp = makeTempDir('eclipse-op-avatar-');
test.after(() => tmp.cleanup());

const D = 3 * 32 * 32;
const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/** Mid-grey noise images plus a fixed +-24/255 pattern per class (a class-wise, linearly separable poison). */
function classwisePoison(perClass: number, seed: number): { ds: ImageDataset; patterns: Float64Array[] } {
  const classes = ['a', 'b', 'c', 'd'];
  const rng = new Rng(seed);
  const patterns = classes.map(() => Float64Array.from({ length: D }, () => (rng.uint32() & 1 ? 24 : -24) / 255));
  const n = classes.length * perClass;
  const images = new Uint8Array(n * D);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = i % classes.length;
    labels[i] = y;
    for (let p = 0; p < D; p++) images[i * D + p] = 64 + (rng.uint32() % 128) + Math.round(patterns[y]![p]! * 255);
  }
  return { ds: { images, labels, n, channels: 3, height: 32, width: 32, classes, meta: { source: 'synthetic', attack: 'classwise' } }, patterns };
}

const ctxFor = (workDir: string, logs: string[], over: Partial<DefenseContext> = {}): DefenseContext => ({
  profile: 'smoke',
  seed: 3,
  device: 'cpu',
  recipe: classifierProfile('smoke'),
  workDir,
  log: (m) => logs.push(m),
  ...over,
});

test('op: orthonormalRows gives an orthonormal basis (Q Q^T = I), drops dependent rows; projectOut zeroes the Q components and keeps the rest', () => {
  const rng = new Rng(1);
  const K = 10;
  const w = Float64Array.from({ length: K * D }, () => rng.normal() * (1 + rng.float()));
  const q = orthonormalRows(w, K, D);
  assert.equal(q.length, K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) assert.ok(Math.abs(dot(q[i]!, q[j]!) - (i === j ? 1 : 0)) < 1e-5, `(Q Q^T)[${i},${j}] = ${dot(q[i]!, q[j]!)}`);
  // Each row of W lies in span(Q): the basis is W's row space, not just any orthonormal set.
  for (let r = 0; r < K; r++) {
    const row = Float64Array.from(w.subarray(r * D, (r + 1) * D));
    projectOut(row, q);
    assert.ok(Math.sqrt(dot(row, row)) < 1e-8 * Math.sqrt(dot(w.subarray(r * D, (r + 1) * D), w.subarray(r * D, (r + 1) * D))), `row ${r} not in span(Q)`);
  }

  const x = Float64Array.from({ length: D }, () => rng.float());
  const y = x.slice();
  projectOut(y, q);
  for (const v of q) assert.ok(Math.abs(dot(y, v)) < 1e-10, `component along Q left: ${dot(y, v)}`);
  // x - y lies in span(Q): y equals the part of x orthogonal to Q, computed independently.
  const expected = x.slice();
  for (const v of q) {
    const c = dot(x, v);
    for (let p = 0; p < D; p++) expected[p]! -= c * v[p]!;
  }
  let err = 0;
  for (let p = 0; p < D; p++) err = Math.max(err, Math.abs(y[p]! - expected[p]!));
  assert.ok(err < 1e-12, `max deviation ${err}`);
  // Content already orthogonal to Q is unchanged.
  const z = expected.slice();
  projectOut(z, q);
  for (let p = 0; p < D; p++) assert.ok(Math.abs(z[p]! - expected[p]!) < 1e-12);

  // A repeated row and a combination of rows add no direction.
  const dep = new Float64Array(4 * D);
  dep.set(w.subarray(0, D), 0);
  dep.set(w.subarray(D, 2 * D), D);
  dep.set(w.subarray(0, D), 2 * D);
  for (let p = 0; p < D; p++) dep[3 * D + p] = 2 * w[p]! - 3 * w[D + p]!;
  assert.equal(orthonormalRows(dep, 4, D).length, 2);
});

test('op: the lr steps x0.1 at epochs 10 and 15 of 20', () => {
  assert.deepEqual([0, 9, 10, 14, 15, 19].map((e) => +linearLr(e, 20, 0.1).toPrecision(6)), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]);
});

test('op: the linear model separates a class-wise poison, the projection removes most of its patterns, a re-run uses the cache', async () => {
  const { ds, patterns } = classwisePoison(32, 5);
  const live = liveTensors();
  const lin = trainLinearModel(ds, { epochs: 20, lr: 0.1, batchSize: 32, seed: 3, device: 'cpu' });
  assert.equal(liveTensors(), live, 'the linear model left tensors behind');
  assert.ok(lin.trainAcc >= 0.95, `linear train acc ${lin.trainAcc}`);
  const q = orthonormalRows(lin.weights, lin.classes, lin.dim);
  assert.equal(q.length, 4);
  for (let i = 0; i < q.length; i++) for (let j = 0; j < q.length; j++) assert.ok(Math.abs(dot(q[i]!, q[j]!) - (i === j ? 1 : 0)) < 1e-5);
  // The class-discriminative part of the patterns (each minus their mean) is mostly in span(Q).
  const mean = new Float64Array(D);
  for (const p of patterns) for (let i = 0; i < D; i++) mean[i]! += p[i]! / patterns.length;
  for (const [c, p] of patterns.entries()) {
    const centred = Float64Array.from(p, (v, i) => v - mean[i]!);
    const left = centred.slice();
    projectOut(left, q);
    const ratio = Math.sqrt(dot(left, left) / dot(centred, centred));
    assert.ok(ratio < 0.6, `class ${c}: ${(100 * ratio).toFixed(1)}% of its pattern survives the projection`);
  }
  // projectDataset: same labels and shape; the stored (clamped, rounded) images' Q components
  // are small (only quantisation and clamping are left).
  const pr = projectDataset(ds, q);
  assert.deepEqual(pr.dataset.labels, ds.labels);
  assert.equal(pr.dataset.images.length, ds.images.length);
  assert.ok(pr.meanL2 > 0.5, `mean L2 change ${pr.meanL2}`);
  const x = Float64Array.from(pr.dataset.images.subarray(0, D), (v) => v / 255);
  const before = Float64Array.from(ds.images.subarray(0, D), (v) => v / 255);
  for (const v of q) assert.ok(Math.abs(dot(x, v)) < 0.05 * Math.abs(dot(before, v)) + 0.05, `stored image's component ${dot(x, v)} (before ${dot(before, v)})`);

  // The defence: same numbers through plan(), with notes; a re-run loads the cache.
  const op = new OpDefense({ profile: 'smoke', settings: { linearEpochs: 20, linearBatch: 32 } });
  const dir = join(tmp.dir, 'op');
  const logs1: string[] = [];
  const a = await op.plan(ds, ctxFor(dir, logs1));
  assert.ok(logs1.some((l) => /linear model epoch 20\/20/.test(l)), logs1.join('\n'));
  assert.deepEqual(a.train.images, pr.dataset.images, 'plan() matches trainLinearModel + projectDataset with the same seed');
  assert.deepEqual(a.train.labels, ds.labels);
  assert.equal(a.train.meta.defense, 'op');
  assert.equal(a.notes.q_rank, '4');
  assert.ok(Number(a.notes.linear_train_acc) >= 0.95, a.notes.linear_train_acc);
  assert.ok(Math.abs(Number(a.notes.mean_l2_change) - pr.meanL2) < 1e-4);
  assert.match(a.notes.quantisation!, /clamped to \[0,1\] and rounded to 8 bits/);
  const logs2: string[] = [];
  const b = await new OpDefense({ profile: 'smoke', settings: { linearEpochs: 20, linearBatch: 32 } }).plan(ds, ctxFor(dir, logs2));
  assert.ok(logs2.some((l) => /up to date, skipped/.test(l)), logs2.join('\n'));
  assert.ok(!logs2.some((l) => /linear model epoch|training a bias-free/.test(l)), `the re-run trained again:\n${logs2.join('\n')}`);
  assert.deepEqual(b.train.images, a.train.images);
  assert.deepEqual(b.notes, { ...a.notes, cache: `${a.notes.cache} (reused)` });
});

test("avatar: t* = 100 of the 1000-step linear VP schedule is t* ~ 807 of the cosine T = 4000, at AVATAR's noise level", () => {
  // AVATAR's alpha_bar at t* = 100 from betas linspace(1e-4, 0.02, 1000), independently of linearBetas.
  let vp = 1;
  for (let i = 0; i < 100; i++) vp *= 1 - (1e-4 + ((0.02 - 1e-4) * i) / 999);
  const std = Math.sqrt(1 - vp);
  assert.ok(Math.abs(std - 0.321) < 0.001, `AVATAR noise std ${std}`);
  const cosine = noiseSchedule(namedBetas('cosine', 4000));
  const t = tStarForNoiseLevel(vp, cosine);
  assert.ok(t > 700 && t < 900, `t* ${t}`);
  const matched = Math.sqrt(1 - cosine.alphasCumprod[t - 1]!);
  assert.ok(Math.abs(matched / std - 1) < 0.01, `noise std ${matched} vs ${std}`);
  // Nearest: its neighbours are no closer; a schedule's own alpha_bar maps back to its step.
  for (const u of [t - 1, t + 1]) assert.ok(Math.abs(cosine.alphasCumprod[u - 1]! - vp) >= Math.abs(cosine.alphasCumprod[t - 1]! - vp));
  assert.equal(tStarForNoiseLevel(cosine.alphasCumprod[99]!, cosine), 100);
  const c = avatarTStar(100, 4000);
  assert.equal(c.tStar, t);
  assert.ok(Math.abs(c.vpNoiseStd - std) < 1e-12 && Math.abs(c.noiseStd - matched) < 1e-12);
  // The mini recipe (t <= 100 only) is widened to cover t*; the paper's (all t) stays all.
  assert.equal(avatarDenoiserRecipe(eclipseProfile('mini').denoiser, t, 0).trainMaxT, t);
  assert.equal(avatarDenoiserRecipe(eclipseProfile('paper').denoiser, t, 0).trainMaxT, 0);
  assert.equal(avatarDenoiserRecipe(eclipseProfile('mini').denoiser, t, 0).iterations, eclipseProfile('mini').denoiser.iterations);
  assert.equal(new AvatarDefense({ profile: 'mini' }).settings.denoiserIterations, 2000);
});

test('avatar: smoke profile end to end (denoiser on the clean set, purification at t*), cached re-run; a clear error without cleanTrain', async () => {
  const clean = syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 4, seed: 21 });
  const poisoned = classwisePoison(3, 22).ds; // 4 classes x 3: a different set than the clean one
  const dir = join(tmp.dir, 'avatar');
  const av = new AvatarDefense({ profile: 'smoke' });
  await assert.rejects(av.plan(poisoned, ctxFor(dir, [], { quiet: true })), /AVATAR needs the clean training set its denoiser learns from \(cleanTrain\)/);

  const logs: string[] = [];
  const plan = await av.plan(poisoned, ctxFor(dir, logs, { quiet: true, cleanTrain: clean }));
  const out = plan.train;
  assert.equal(out.n, poisoned.n);
  assert.equal(out.height, 32);
  assert.equal(out.width, 32);
  assert.deepEqual(out.labels, poisoned.labels);
  assert.deepEqual(out.classes, poisoned.classes);
  assert.equal(out.images.length, poisoned.images.length);
  let diff = 0;
  for (let i = 0; i < out.images.length; i++) diff += Math.abs(out.images[i]! - poisoned.images[i]!);
  assert.ok(diff / out.images.length > 5, `purification at noise std 0.32 changed the images by only ${diff / out.images.length}/255 on average`);
  assert.equal(out.meta.defense, 'avatar');
  assert.equal(plan.notes.t_star, String(avatarTStar(100, 4000).tStar));
  assert.equal(plan.notes.noise_std, avatarTStar(100, 4000).noiseStd.toFixed(4));
  assert.equal(plan.notes.denoiser_images, String(clean.n));
  assert.equal(plan.notes.denoiser_iterations, String(eclipseProfile('smoke').denoiser.iterations));
  assert.equal(plan.notes.denoiser_train_max_t, plan.notes.t_star);
  assert.ok(existsSync(plan.notes.denoiser_checkpoint!));
  assert.ok(logs.some((l) => /training the denoiser on all 12 clean training images/.test(l)), logs.join('\n'));

  // Re-run: both stages skipped, same images. Another poisoned set reuses the denoiser.
  const logs2: string[] = [];
  const again = await av.plan(poisoned, ctxFor(dir, logs2, { quiet: true, cleanTrain: clean }));
  assert.equal(logs2.filter((l) => /up to date, skipped/.test(l)).length, 2, logs2.join('\n'));
  assert.deepEqual(again.train.images, out.images);
  const logs3: string[] = [];
  const other = classwisePoison(3, 23).ds;
  await av.plan(other, ctxFor(dir, logs3, { quiet: true, cleanTrain: clean }));
  assert.ok(logs3.some((l) => /\[avatar-denoiser-[0-9a-f]+\] up to date, skipped/.test(l)), logs3.join('\n'));
  assert.ok(logs3.some((l) => /\[avatar-purified-[0-9a-f]+\] running/.test(l)), logs3.join('\n'));
});
