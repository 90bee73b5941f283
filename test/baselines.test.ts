// The baseline defences of issue 10 (cutout, mixup, cutmix, DP-SGD, ISS-G/J, AT), the registry,
// the trainer's objective and gradient hooks, and --defense on the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { F, Generator, liveTensors, noGrad, tidy, type Tensor } from '../src/engine/index.js';
import { Rng } from '../src/data/rng.js';
import { loadDataset, saveDataset } from '../src/data/store.js';
import { createClassifier } from '../src/nn/models/index.js';
import { classifierProfile } from '../src/profiles.js';
import { trainClassifier } from '../src/training/trainer.js';
import { batchRng, beta, cutmixBox, cutmixObjective, cutoutTransform, mixupObjective } from '../src/defenses/baselines/augment.js';
import { batchClipNoise } from '../src/defenses/baselines/dpsgd.js';
import { grayscaleImages, jpegImages, jpegRoundTrip } from '../src/defenses/baselines/iss.js';
import { BASELINE_NAMES, chainTransforms, createDefense, DEFENSES, DEFENSE_NAMES, planTrainOptions, type DefenseContext } from '../src/defenses/baselines/index.js';
import type { EclipseDefense } from '../src/defenses/eclipse.js';
import { ECLIPSE_SETTINGS, eclipseProfile } from '../src/eclipse-settings.js';
import { findCifar, makeTempDir, syntheticDataset } from './helpers/tmp.js';

const tmp = makeTempDir('eclipse-baselines-');
test.after(() => tmp.cleanup());
const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const shape = { channels: 3, height: 32, width: 32 };

function ctx(name: string): DefenseContext {
  return { profile: 'smoke', seed: 0, device: 'cpu', recipe: classifierProfile('smoke'), workDir: join(tmp.dir, name), quiet: true, log: () => undefined };
}

test('cutout: one square of side 16 set to 0 in every channel, clipped at the border', () => {
  const n = 64;
  const imgs = new Uint8Array(n * 3 * 32 * 32).fill(200);
  cutoutTransform(16).apply(imgs, n, shape, new Rng(1));
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    const planes = [0, 1, 2].map((c) => imgs.subarray((i * 3 + c) * 1024, (i * 3 + c + 1) * 1024));
    const zeros = planes.map((p) => p.filter((v) => v === 0).length);
    assert.ok(zeros[0] === zeros[1] && zeros[1] === zeros[2], 'the same square in every channel');
    assert.ok(zeros[0]! > 0 && zeros[0]! <= 256, `image ${i}: ${zeros[0]} zeroed pixels`);
    if (zeros[0]! < 256) clipped++;
    // the zeroed pixels form one axis-aligned rectangle
    const ys: number[] = [];
    const xs: number[] = [];
    planes[0]!.forEach((v, k) => v === 0 && (ys.push(Math.floor(k / 32)), xs.push(k % 32)));
    const h = Math.max(...ys) - Math.min(...ys) + 1;
    const w = Math.max(...xs) - Math.min(...xs) + 1;
    assert.equal(h * w, zeros[0], 'a rectangle');
    assert.ok(h <= 16 && w <= 16);
  }
  assert.ok(clipped > 0 && clipped < n, `some squares clipped at the border (${clipped} of ${n})`);
});

test('beta sampler: mean and variance of Beta(2, 5) and Beta(1, 1)', () => {
  const rng = new Rng(3);
  for (const [a, b] of [[2, 5], [1, 1], [0.4, 0.4]] as const) {
    const xs = Array.from({ length: 20000 }, () => beta(rng, a, b));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const v = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    const m0 = a / (a + b);
    const v0 = (a * b) / ((a + b) ** 2 * (a + b + 1));
    assert.ok(Math.abs(mean - m0) < 0.01, `Beta(${a},${b}) mean ${mean} vs ${m0}`);
    assert.ok(Math.abs(v - v0) < 0.01 * 2, `Beta(${a},${b}) var ${v} vs ${v0}`);
    assert.ok(xs.every((x) => x >= 0 && x <= 1));
  }
});

/** A model whose logits are a fixed linear map of the mean pixel per channel (easy to check by hand). */
function probeModel(): { forward: (x: Tensor) => Tensor; seen: Tensor[] } {
  const seen: Tensor[] = [];
  const w = F.tensor([1, -2, 0.5, 3, 0, -1, 0.2, 1, 2], [3, 3]);
  return {
    seen,
    forward(x: Tensor) {
      seen.push(noGrad(() => x.clone()));
      return x.mean([2, 3]).matmul(w);
    },
  };
}

test('mixup: the loss is lambda CE(y) + (1 - lambda) CE(y[perm]) on lambda x + (1 - lambda) x[perm]', () => {
  const x = F.rand([6, 3, 4, 4], { generator: new Generator(1) });
  const y = F.tensor([0, 1, 2, 0, 1, 2], [6]).to('int64');
  const m = probeModel();
  const { loss } = mixupObjective(1).loss(m as never, x, y, new Generator(5), 0);
  const mixed = m.seen[0]!;
  // the same draws as the objective's (one generator, same order): lambda, then the partner permutation
  const gen = new Generator(5);
  const lam = beta(batchRng(gen), 1, 1);
  const perm = F.randperm(6, { generator: gen }).toArray();
  assert.ok(lam > 0 && lam < 1);
  const xs = x.data() as Float32Array;
  const ms = mixed.data() as Float32Array;
  const per = 48;
  for (let i = 0; i < 6; i++)
    for (let k = 0; k < per; k++) assert.ok(Math.abs(lam * xs[i * per + k]! + (1 - lam) * xs[perm[i]! * per + k]! - ms[i * per + k]!) < 1e-5, `image ${i} pixel ${k}`);
  const found = { lam, perm };
  const logits = m.forward(mixed);
  const yp = F.tensor(found.perm, [6]).to('int64');
  const want = F.crossEntropy(logits, y).item() * found.lam + F.crossEntropy(logits, y.indexSelect(0, yp)).item() * (1 - found.lam);
  assert.ok(Math.abs(loss.item() - want) < 1e-4, `${loss.item()} vs ${want}`);
});

test('cutmix: box area sets lambda; prob 0 is plain cross-entropy; the box comes from the partner', () => {
  const rng = new Rng(9);
  for (let k = 0; k < 200; k++) {
    const lam = rng.float();
    const b = cutmixBox(rng, lam, 32, 32);
    assert.ok(b.y0 >= 0 && b.y1 <= 32 && b.x0 >= 0 && b.x1 <= 32 && b.y0 <= b.y1 && b.x0 <= b.x1);
    const side = Math.floor(32 * Math.sqrt(1 - lam));
    assert.ok(b.y1 - b.y0 <= side && b.x1 - b.x0 <= side);
  }
  const x = F.rand([4, 3, 8, 8], { generator: new Generator(2) });
  const y = F.tensor([0, 1, 2, 0], [4]).to('int64');
  const m0 = probeModel();
  const plain = cutmixObjective(1, 0).loss(m0 as never, x, y, new Generator(1), 0);
  assert.ok(Math.abs(plain.loss.item() - F.crossEntropy(m0.forward(x), y).item()) < 1e-6);
  assert.equal(m0.seen[0]!.sub(x).abs().amax().item(), 0, 'prob 0 leaves the batch alone');
  const m1 = probeModel();
  cutmixObjective(1, 1).loss(m1 as never, x, y, new Generator(4), 0);
  const mixed = m1.seen[0]!.data() as Float32Array;
  const xs = x.data() as Float32Array;
  // each pixel of a mixed image equals the same pixel of itself or of one partner image
  let fromSelf = 0;
  for (let p = 0; p < mixed.length; p++) if (mixed[p] === xs[p]) fromSelf++;
  assert.ok(fromSelf < mixed.length, 'some pixels were replaced');
});

test('dp-sgd stand-in: batch gradient clipped to the norm, then noise of std clip x noise', () => {
  const p = F.zeros([20000]).requiresGrad_();
  tidy(() => p.mul(F.full([20000], 3)).sum().backward());
  batchClipNoise(1, 0).apply([p], new Generator(1));
  const clippedNorm = p.grad!.norm(2).item();
  assert.ok(Math.abs(clippedNorm - 1) < 1e-4, `clipped norm ${clippedNorm}`);
  const before = p.grad!.clone();
  batchClipNoise(2, 0.5).apply([p], new Generator(1));
  // the norm was already <= 2, so only noise of std 1 was added
  const noise = p.grad!.sub(before);
  const std = noise.std().item();
  assert.ok(Math.abs(std - 1) < 0.03, `noise std ${std}`);
});

test('iss-g: PIL grayscale arithmetic, copied to 3 channels; iss-j: a real JPEG round trip, cached', async () => {
  const ds = syntheticDataset({ classes: ['a', 'b'], perClass: 3, seed: 2 });
  ds.images.set([255, 0, 0], 0); // three pixels of image 0's red plane
  ds.images[1024] = 0;
  ds.images[2048] = 0;
  ds.images[1] = 0;
  ds.images[1025] = 255;
  ds.images[2049] = 0;
  ds.images[2] = 0;
  ds.images[1026] = 0;
  ds.images[2050] = 255;
  const g = grayscaleImages(ds);
  assert.deepEqual([g.images[0], g.images[1], g.images[2]], [76, 150, 29], 'PIL L of pure red, green, blue');
  assert.deepEqual([...g.images.subarray(0, 1024)], [...g.images.subarray(1024, 2048)]);
  // JPEG on a smooth image: deterministic, far lossier at quality 10 than at 95
  const img = new Uint8Array(3072);
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) img[c * 1024 + y * 32 + x] = Math.round(128 + 90 * Math.sin(x / 4 + c) * Math.cos(y / 6));
  const q10 = await jpegRoundTrip(img, 32, 32, 10);
  const again = await jpegRoundTrip(img, 32, 32, 10);
  const q95 = await jpegRoundTrip(img, 32, 32, 95);
  assert.deepEqual([...q10], [...again]);
  const mse = (a: Uint8Array) => a.reduce((s, v, i) => s + (v - img[i]!) ** 2, 0) / a.length;
  assert.ok(mse(q10) > 4 * mse(q95), `quality 10 mse ${mse(q10)} vs quality 95 ${mse(q95)}`);
  const d = createDefense('iss-j', { profile: 'smoke' });
  const logs: string[] = [];
  const c = { ...ctx('issj'), log: (m: string) => logs.push(m) };
  const plan = await d.plan(ds, c);
  assert.deepEqual([...plan.train.images.subarray(0, 3072)], [...(await jpegRoundTrip(ds.images.subarray(0, 3072), 32, 32, 10))]);
  assert.deepEqual([...plan.train.labels], [...ds.labels]);
  await d.plan(ds, c);
  assert.ok(logs.some((l) => /\[iss-j-[0-9a-f]{16}\] up to date, skipped/.test(l)), 'the second plan reads the cache');
  const direct = await jpegImages(ds, 10);
  assert.deepEqual([...direct.images], [...plan.train.images]);
});

test('registry: every defence has a citation; unknown names and bad settings are clear errors', () => {
  assert.deepEqual(DEFENSE_NAMES, ['none', 'cutout', 'mixup', 'cutmix', 'dp-sgd', 'iss-g', 'iss-j', 'aa', 'op', 'at', 'avatar', 'eclipse', 'coin', 'dvae']);
  // ECLIPSE is registered beside the baselines; it runs its own stages, they are plans
  assert.deepEqual(BASELINE_NAMES, DEFENSE_NAMES.filter((d) => d !== 'eclipse'));
  assert.equal(DEFENSES.eclipse.runs, 'stages');
  assert.equal(DEFENSES.eclipse.settings, ECLIPSE_SETTINGS);
  const ecl = createDefense('eclipse', { profile: 'mini', settings: { tStar: 50 } }) as EclipseDefense;
  assert.deepEqual(ecl.recipe, eclipseProfile('mini', { tStar: 50 }));
  assert.equal(ecl.params.t_star, 50);
  assert.equal(ecl.setting, 'mini with overrides: t_star 50');
  assert.throws(() => createDefense('eclipse', { settings: { tStar: 0 } }), /eclipse defence: setting tStar must be >= 1/);
  assert.throws(() => createDefense('eclipes'), /unknown defence "eclipes" \(did you mean eclipse\?\)/);
  for (const n of DEFENSE_NAMES) assert.ok(DEFENSES[n].citation.length > 0 && DEFENSES[n].title.length > 0);
  assert.throws(() => createDefense('cutuot'), /unknown defence "cutuot" \(did you mean cutout\?\)/);
  assert.throws(() => createDefense('at', { settings: { steps: 0 } }), /at defence: setting steps must be >= 1/);
  assert.throws(() => createDefense('at', { settings: { stpes: 3 } }), /at defence has no setting "stpes" \(did you mean steps\?\)/);
  const at = createDefense('at', { profile: 'mini' });
  assert.equal(at.setting, 'mini');
  assert.deepEqual(at.params, { eps: 8 / 255, steps: 2, step_size: 4 / 255 });
  const cut = createDefense('cutout', { profile: 'paper', settings: { length: 8 } });
  assert.equal(cut.setting, 'paper with overrides: length 8');
});

test('chained transforms run in order; plan options carry the defence into the run tags', async () => {
  const order: string[] = [];
  const a = { name: 'a', apply: () => void order.push('a') };
  const b = { name: 'b', apply: () => void order.push('b') };
  chainTransforms(a, b)!.apply(new Uint8Array(0), 0, shape, new Rng(1));
  assert.deepEqual(order, ['a', 'b']);
  assert.equal(chainTransforms(undefined, b), b);
  const d = createDefense('cutout', { profile: 'smoke' });
  const o = planTrainOptions(d, await d.plan(syntheticDataset(), ctx('tags')), b);
  assert.equal(o.transform!.name, 'cutout(16)+b');
  assert.equal(o.tags!.defense, 'cutout');
  assert.equal(o.tags!.defense_params, '{"length":16}');
});

test('AT: the adversarial batch stays within eps of the clean one and in [0,1]', async () => {
  const d = createDefense('at', { profile: 'paper', settings: { steps: 3 } });
  const plan = await d.plan(syntheticDataset(), ctx('at'));
  const model = createClassifier('resnet18', { width: 4, numClasses: 3, generator: new Generator(0) });
  model.train();
  const x = F.rand([4, 3, 32, 32], { generator: new Generator(3) });
  const y = F.tensor([0, 1, 2, 0], [4]).to('int64');
  const adv = plan.adversary!.perturb(model, x, y, new Generator(7));
  const dmax = adv.sub(x).abs().amax().item();
  assert.ok(dmax <= 8 / 255 + 1e-6 && dmax > 4 / 255, `max |delta| ${dmax * 255}/255`);
  assert.ok(adv.amin().item() >= 0 && adv.amax().item() <= 1);
  assert.equal(model.training, true, 'the model is back in train mode');
  model.dispose();
});

test('trainer with an objective and a gradient hook: trains, resumes to the same result, frees its tensors', async () => {
  const ds = syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 8, seed: 4 });
  const recipe = { ...classifierProfile('smoke'), width: 4, epochs: 2, batchSize: 8 };
  const live0 = liveTensors();
  const hooks = { objective: cutmixObjective(1, 1), gradientHook: batchClipNoise(1, 0.01) };
  const full = await trainClassifier(ds, ds, { recipe, seed: 1, outDir: join(tmp.dir, 'hooks-full'), quiet: true, device: 'cpu', ...hooks });
  assert.ok(Number.isFinite(full.epochs[1]!.train_loss));
  // the same run stopped after epoch 1 and resumed gives the same weights' accuracy and loss
  const stop = new AbortController();
  stop.abort();
  await assert.rejects(trainClassifier(ds, ds, { recipe, seed: 1, outDir: join(tmp.dir, 'hooks-resume'), quiet: true, device: 'cpu', signal: stop.signal, ...hooks }));
  const resumed = await trainClassifier(ds, ds, { recipe, seed: 1, outDir: join(tmp.dir, 'hooks-resume'), quiet: true, device: 'cpu', resume: true, ...hooks });
  assert.equal(resumed.testLoss, full.testLoss);
  assert.equal(resumed.epochs[1]!.train_loss, full.epochs[1]!.train_loss);
  assert.equal(liveTensors(), live0, 'no tensor left behind');
});

test('cli: eclipse train --defense and eclipse defend --defense on a smoke set; flag errors', async () => {
  const ds = syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 6, seed: 5 });
  const train = join(tmp.dir, 'cli-train.safetensors');
  await saveDataset(ds, train);
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args, '--threads', '1', '--device', 'cpu'], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
  const out = join(tmp.dir, 'cli-mixup');
  const r = run(['train', '--profile', 'smoke', '--train', train, '--test', train, '--defense', 'mixup', '--mixup-alpha', '0.4', '--epochs', '1', '--width', '4', '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^mixup: test accuracy/m);
  const res = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { tags: Record<string, string> };
  assert.equal(res.tags.defense, 'mixup');
  assert.equal(res.tags.defense_params, '{"alpha":0.4}');
  assert.equal(res.tags.defense_setting, 'smoke with overrides: alpha 0.4');
  const wrong = run(['train', '--profile', 'smoke', '--train', train, '--test', train, '--defense', 'cutout', '--mixup-alpha', '0.4']);
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /--mixup-alpha does not apply to cutout \(only to mixup\)/);
  const ecl = run(['train', '--profile', 'smoke', '--train', train, '--test', train, '--defense', 'eclipse']);
  assert.match(ecl.stderr, /run eclipse defend/);
  const typo = run(['train', '--profile', 'smoke', '--train', train, '--test', train, '--defense', 'isj']);
  assert.match(typo.stderr, /unknown defence "isj" \(did you mean iss-j\?\)/);
  const dout = join(tmp.dir, 'cli-defend-issg');
  const d = run(['defend', '--profile', 'smoke', '--train', train, '--test', train, '--defense', 'iss-g', '--compensation', '--epochs', '1', '--width', '4', '--out', dout, '--quiet']);
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stdout, /iss-g \+ compensation \(smoke\): test accuracy/);
  const cached = readdirSync(join(dout, 'defense-work')).filter((f) => /^iss-g-[0-9a-f]{16}\.safetensors$/.test(f));
  assert.equal(cached.length, 1, 'the grayscale set is cached in the defence work folder');
  const squeezed = await loadDataset(join(dout, 'defense-work', cached[0]!));
  assert.deepEqual([...squeezed.images.subarray(0, 1024)], [...squeezed.images.subarray(1024, 2048)], 'grayscale');
  const ab = run(['defend', '--profile', 'smoke', '--train', train, '--defense', 'at', '--no-purify']);
  assert.match(ab.stderr, /--no-purify is an ECLIPSE ablation/);
});

test('every baseline through eclipse defend on real CIFAR-10 (smoke profile)', async (t) => {
  const cifar = findCifar();
  if (cifar.source === null) return t.skip(cifar.why);
  const dir = join(tmp.dir, 'cifar');
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args, '--threads', '2', '--device', 'cpu'], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
  const imp = run(['data', 'import', '--profile', 'smoke', '--out', join(dir, 'data')]);
  assert.equal(imp.status, 0, imp.stderr);
  const train = join(dir, 'data', 'train.safetensors');
  const poisoned = join(dir, 'urp.safetensors');
  const p = run(['poison', '--attack', 'urp', '--in', train, '--out', poisoned]);
  assert.equal(p.status, 0, p.stderr);
  for (const d of BASELINE_NAMES) {
    const out = join(dir, `defend-${d}`);
    const r = run(['defend', '--profile', 'smoke', '--train', poisoned, '--test', join(dir, 'data', 'test.safetensors'), '--clean-train', train, '--defense', d, '--epochs', '1', '--out', out, '--quiet'].filter((a, i, all) => d === 'avatar' || (a !== '--clean-train' && all[i - 1] !== '--clean-train')));
    assert.equal(r.status, 0, `${d}: ${r.stderr}`);
    const acc = Number(new RegExp(`^${d} \\(smoke\\): test accuracy ([0-9.]+)%`, 'm').exec(r.stdout)?.[1]);
    assert.ok(acc >= 0 && acc <= 100, `${d}: ${r.stdout}`);
    const res = JSON.parse(readFileSync(join(out, 'classifier-seed0', 'result.json'), 'utf8')) as { tags: Record<string, string> };
    assert.equal(res.tags.defense, d);
    assert.equal(res.tags.attack, d === 'iss-g' || d === 'iss-j' || d === 'op' || d === 'avatar' ? res.tags.attack : 'urp');
  }
});
