// eclipse scan (issue 11): the probes, the verdict logic against a calibration, bad input, and
// real CIFAR-10 images: clean, a class-wise poison (URP) and a sample-wise one (AR).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Rng } from '../src/data/rng.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { balancedSubset } from '../src/data/dataset.js';
import { loadCifar10 } from '../src/data/cifar.js';
import { saveDataset } from '../src/data/store.js';
import { createAttack } from '../src/attacks/index.js';
import { features, linearProbe, PROBE_DEFAULTS, residualEnergy } from '../src/scan/probe.js';
import { Z_CLEAN, Z_POISONED, cleanZ, formatStat, scanDataset } from '../src/scan/scan.js';
import { pixelSpike } from '../src/scan/pixels.js';
import { smoothness } from '../src/scan/smoothness.js';
import type { Calibration } from '../src/scan/calibration.js';
import { CALIBRATION } from '../src/scan/calibration.js';
import { findCifar, makeTempDir } from './helpers/tmp.js';

const tmp = makeTempDir('eclipse-scan-');
test.after(() => tmp.cleanup());
const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const CIFAR_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Noise images; with `pattern`, each class gets its own fixed +-amp pattern (a class-wise poison). */
function dataset(perClass: number, o: { pattern?: number; seed?: number; classes?: string[] } = {}): ImageDataset {
  const classes = o.classes ?? CIFAR_CLASSES;
  const k = classes.length;
  const n = k * perClass;
  const D = 3 * 32 * 32;
  const rng = new Rng(o.seed ?? 1);
  const pats = Array.from({ length: k }, () => Int8Array.from({ length: D }, () => (rng.float() < 0.5 ? -1 : 1)));
  const images = new Uint8Array(n * D);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % k;
    for (let p = 0; p < D; p++) {
      const v = 128 + 40 * rng.normal() + (o.pattern ? o.pattern * pats[i % k]![p]! : 0);
      images[i * D + p] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { images, labels, n, channels: 3, height: 32, width: 32, classes, meta: {} };
}

const opts = { ...PROBE_DEFAULTS, seed: 0, device: 'cpu' as const };

test('features: raw pixels in [0,1]; the high-pass residual of a flat image is 0', () => {
  const ds = dataset(1, { classes: ['a', 'b'] });
  ds.images.fill(200, 0, 3072);
  const raw = features(ds, 'raw');
  const hp = features(ds, 'highpass');
  assert.ok(Math.abs(raw[5]! - 200 / 255) < 1e-6);
  assert.ok(hp.subarray(0, 3072).every((v) => Math.abs(v) < 1e-6), 'flat image: no high-pass content');
  assert.ok(hp.subarray(3072).some((v) => Math.abs(v) > 0.05), 'noise keeps high-pass content');
  // residual energy: a smooth image has little; +-8/255 noise on it raises it
  const smooth = dataset(20, { classes: ['a', 'b'] });
  for (let i = 0; i < smooth.images.length; i++) smooth.images[i] = 60 + ((i % 1024) >> 5) * 4;
  const noisy = { ...smooth, images: smooth.images.map((v, i) => v + (((i * 2654435761) >>> 16) & 1 ? 8 : -8)) };
  const e0 = residualEnergy(smooth).geomean;
  const e1 = residualEnergy(noisy).geomean;
  assert.ok(e0 < 0.005 && e1 > 4 * e0 && e1 < 0.05, `smooth ${e0}, with noise ${e1}`);
});

test('probe: a class-wise pattern is separable on held-out images, noise is not', () => {
  const poisoned = linearProbe(dataset(30, { pattern: 8 }), 'raw', opts);
  const noise = linearProbe(dataset(30), 'raw', opts);
  assert.ok(poisoned.acc > 0.9, `separable: held-out ${poisoned.acc}`);
  assert.ok(noise.acc < 0.25, `noise: held-out ${noise.acc} (chance 0.1)`);
  assert.ok(poisoned.pTrue.every((p) => p >= 0 && p <= 1));
  assert.equal(poisoned.classAcc.length, 10);
});

/** A calibration for the synthetic noise data (what clean = noise gives), to test the verdict logic. */
function noiseCalibration(): Calibration {
  const stat = (mean: number, std: number) => ({ mean, std });
  const energy = stat(residualEnergy(dataset(50, { seed: 99 })).geomean, 0.001);
  const point = (n: number) => ({ n, subsets: 5, stats: { raw_acc: stat(0.1, 0.02), highpass_acc: stat(0.1, 0.02), autocorr_acc: stat(0.1, 0.02), raw_confident: stat(0.0, 0.01), highpass_confident: stat(0.0, 0.01), autocorr_confident: stat(0.0, 0.01), any_confident: stat(0.0, 0.01), residual_energy: energy } });
  const cls = CIFAR_CLASSES.map(() => stat(0.1, 0.05));
  return { source: 'test noise calibration', height: 32, width: 32, classes: CIFAR_CLASSES, points: [point(100), point(1000)], classAcc: { raw: cls, highpass: cls, autocorr: cls }, stdFloor: 0.01 };
}

test('verdicts: poisoned, clean, unsure for too little data, a mismatched trusted set or uncalibrated data', () => {
  const calibration = noiseCalibration();
  const p = scanDataset(dataset(50, { pattern: 8 }), { calibration });
  assert.equal(p.verdict, 'poisoned', p.reasons.join('; '));
  assert.ok(p.poisonedShare.estimate > 0.8, `share ${p.poisonedShare.estimate}`);
  const c = scanDataset(dataset(50, { seed: 2 }), { calibration });
  assert.equal(c.verdict, 'clean', c.reasons.join('; '));
  const few = scanDataset(dataset(5, { seed: 3 }), { calibration });
  assert.equal(few.verdict, 'unsure');
  assert.match(few.reasons.join(' '), /at least 50 per class/);
  const one = scanDataset({ ...dataset(60, { seed: 4, classes: ['only'] }) }, { calibration });
  assert.equal(one.verdict, 'unsure');
  assert.match(one.reasons.join(' '), /only 1 class/);
  const other = scanDataset(dataset(60, { seed: 5, classes: CIFAR_CLASSES.map((x) => x.toUpperCase()) }), { calibration });
  assert.equal(other.verdict, 'unsure');
  assert.match(other.reasons.join(' '), /no calibration for this data .* give one \(--pool\)/);
  const wrongPool = scanDataset(dataset(50, { seed: 6 }), { calibration, trusted: dataset(10, { seed: 7, classes: ['a', 'b'] }) });
  assert.match(wrongPool.reasons.join(' '), /trusted set was not used: its classes/);
  assert.equal(wrongPool.verdict, 'unsure');
  // data unlike the calibration, judged by a trusted clean set alone
  const cls = ['x', 'y', 'z', 'w'];
  const withPool = scanDataset(dataset(60, { pattern: 8, classes: cls }), { calibration, trusted: dataset(30, { seed: 8, classes: cls }) });
  assert.equal(withPool.verdict, 'poisoned', withPool.reasons.join('; '));
  assert.ok(withPool.evidence.some((e) => e.stat === 'raw_gap' && e.z > 6));
  const cleanPool = scanDataset(dataset(60, { seed: 9, classes: cls }), { calibration, trusted: dataset(30, { seed: 10, classes: cls }) });
  assert.notEqual(cleanPool.verdict, 'poisoned', cleanPool.reasons.join('; '));
});

test('the smoothness joins the verdict when the calibration has it, printed as a log ratio; exclude leaves it out (as a poison\'s make-up does)', () => {
  const base = noiseCalibration();
  // noise images are rough (log ratio about -3); a calibration whose clean mean is -4 calls them blurred
  const calibration: Calibration = { ...base, points: base.points.map((p) => ({ ...p, stats: { ...p.stats, smoothness: { mean: -4, std: 0.01 } } })) };
  const ds = dataset(50, { seed: 2 });
  const withIt = scanDataset(ds, { calibration });
  assert.equal(withIt.verdict, 'poisoned', withIt.reasons.join('; '));
  const e = withIt.evidence.find((x) => x.stat === 'smoothness')!;
  assert.ok(e && e.z > 6 && Math.abs(e.value - smoothness(ds).value) < 1e-12);
  assert.match(withIt.reasons[0]!, /smoothness: .* is -?\d\.\d{3}, [\d.]+ standard deviations above clean data of this size \(-4\.000\)/);
  const without = scanDataset(ds, { calibration, exclude: ['smoothness'] });
  assert.equal(without.verdict, 'clean', without.reasons.join('; '));
  assert.ok(!without.evidence.some((x) => x.stat === 'smoothness'));
  assert.deepEqual(without.evidence.map((x) => x.stat), withIt.evidence.filter((x) => x.stat !== 'smoothness').map((x) => x.stat));
});

const skipLong = process.env.ECLIPSE_TEST_SKIP_LONG ? 'a long real-data test, run once per CI (step 1), not again under heap checks (ECLIPSE_TEST_SKIP_LONG)' : false;
test('real CIFAR-10: clean images are not flagged; URP (class-wise) and AR (sample-wise) are', { skip: CALIBRATION.points.length === 0 ? 'no calibration measured yet (scripts/scan-calibrate.mjs)' : skipLong }, async (t) => {
  const cifar = findCifar();
  if (cifar.source === null) return t.skip(cifar.why);
  const train = await loadCifar10(cifar.source, 'train');
  const clean = balancedSubset(train, 100, 4242);
  const c = scanDataset(clean);
  assert.notEqual(c.verdict, 'poisoned', `clean flagged: ${c.reasons.join('; ')}`);
  const urp = scanDataset(createAttack('urp', {}).poison(clean, 0).dataset);
  assert.equal(urp.verdict, 'poisoned', `urp: ${urp.reasons.join('; ')}`);
  assert.ok(urp.classes.filter((c) => c.flagged).length >= 8, 'a class-wise poison stands out in (nearly) every class');
  // AR through the CLI, which writes its JSON and page
  const file = join(tmp.dir, 'ar.safetensors');
  await saveDataset(createAttack('ar', {}).poison(clean, 0).dataset, file);
  const r = spawnSync(process.execPath, [bin, 'scan', file, '--threads', '2', '--quiet'], { encoding: 'utf8', env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^verdict: poisoned/m, r.stdout);
  const json = JSON.parse(readFileSync(join(tmp.dir, 'ar-scan', 'scan.json'), 'utf8')) as { verdict: string };
  assert.equal(json.verdict, 'poisoned');
  assert.match(readFileSync(join(tmp.dir, 'ar-scan', 'scan.html'), 'utf8'), /<svg/);
});

test('pixel spike: a colour that stands alone at one pixel in a share of a class is measured; colour runs (a white sky) are not', () => {
  // 2 classes x 40 images of noise; class 1's top rows are white in every image (a run: no spike)
  const H = 8;
  const W = 8;
  const n = 80;
  const rng = new Rng(5);
  const images = Uint8Array.from({ length: n * 3 * H * W }, () => Math.floor(rng.float() * 256));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  const ds: ImageDataset = { n, channels: 3, height: H, width: W, classes: ['a', 'b'], labels, images, meta: {} };
  for (let i = 1; i < n; i += 2) for (let c = 0; c < 3; c++) for (let p = 0; p < 2 * W; p++) images[i * 3 * H * W + c * H * W + p] = 255;
  const before = pixelSpike(ds);
  assert.ok(before.value < 0.1, `a run of white is no spike: ${JSON.stringify(before)}`);
  // a one-pixel shortcut in 10 of class 0's 40 images: (0, 255, 0) at (5, 3)
  let k = 0;
  for (let i = 0; i < n && k < 10; i += 2, k++) [0, 255, 0].forEach((v, c) => (images[i * 3 * H * W + c * H * W + 5 * W + 3] = v));
  const after = pixelSpike(ds);
  assert.deepEqual([after.cls, after.row, after.col, after.colour], [0, 5, 3, [0, 255, 0]]);
  assert.ok(Math.abs(after.value - 0.25) < 0.03, `10 of 40 images, less the chance of that exact colour nearby: ${after.value}`);
});

/** The pixel spike counted the direct way, image by image in maps (the first implementation): the reference. */
function pixelSpikeByMaps(ds: ImageDataset): ReturnType<typeof pixelSpike> {
  const { height: H, width: W, n } = ds;
  const P = H * W;
  const count = new Int32Array(ds.classes.length);
  for (let i = 0; i < n; i++) count[ds.labels[i]!]!++;
  const share = Array.from({ length: ds.classes.length }, () => Array.from({ length: P }, () => new Map<number, number>()));
  for (let i = 0; i < n; i++) {
    const c = ds.labels[i]!;
    for (let p = 0; p < P; p++) {
      const o = i * 3 * P;
      const k = (ds.images[o + p]! << 16) | (ds.images[o + P + p]! << 8) | ds.images[o + 2 * P + p]!;
      share[c]![p]!.set(k, (share[c]![p]!.get(k) ?? 0) + 1 / count[c]!);
    }
  }
  let best = { value: 0, cls: 0, row: 0, col: 0, colour: [0, 0, 0] as [number, number, number] };
  share.forEach((byPixel, c) =>
    byPixel.forEach((m, p) => {
      const [y, x] = [Math.floor(p / W), p % W];
      for (const [k, f] of m) {
        if (f < 0.02 || f <= best.value) continue;
        let around = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++)
            if ((dy || dx) && y + dy >= 0 && y + dy < H && x + dx >= 0 && x + dx < W) around = Math.max(around, byPixel[(y + dy) * W + x + dx]!.get(k) ?? 0);
        if (f - around > best.value) best = { value: f - around, cls: c, row: y, col: x, colour: [(k >> 16) & 255, (k >> 8) & 255, k & 255] };
      }
    }),
  );
  return best;
}

test('pixel spike: the same value, place and colour as counting image by image, ties included', () => {
  // class a has 39 images: 1/39 summed 8 times is not 8/39 in floating point
  const [H, W, n] = [6, 7, 90];
  for (const firstIsLarger of [true, false]) {
    const rng = new Rng(firstIsLarger ? 1 : 2);
    // 216 background colours (multiples of 40): some repeat at a pixel and next to it, none as often as the shortcut
    const images = Uint8Array.from({ length: n * 3 * H * W }, () => 40 * Math.floor(rng.float() * 6));
    const labels = Int32Array.from({ length: n }, (_, i) => (i % 3 === 0 || (i % 3 === 1 && i >= 61 && i <= 85) ? 0 : i < 60 ? 1 : 2));
    const ds: ImageDataset = { n, channels: 3, height: H, width: W, classes: ['a', 'b', 'c'], labels, images, meta: {} };
    const a = [...labels.keys()].filter((i) => labels[i] === 0);
    assert.equal(a.length, 39);
    // two colours at one pixel of class a, 8 images each, alternating: a tie, won by the colour of the earlier image
    const [first, second] = firstIsLarger ? [[9, 8, 7], [1, 1, 1]] : [[1, 1, 1], [9, 8, 7]];
    a.slice(0, 16).forEach((i, r) => (r % 2 ? second : first).forEach((v, ch) => (images[i * 3 * H * W + ch * H * W + 4 * W + 5] = v)));
    const got = pixelSpike(ds);
    assert.deepEqual(got, pixelSpikeByMaps(ds));
    assert.deepEqual([got.cls, got.row, got.col, got.colour], [0, 4, 5, first]);
  }
});

test('real CIFAR-10: OPS in 10% of a clean set raises the pixel spike far past clean data\'s (the scan calls it poisoned); the clean set stays clean on it', async (t) => {
  const cifar = findCifar();
  if (cifar.source === null) return t.skip(cifar.why);
  const clean = balancedSubset(await loadCifar10(cifar.source, 'train'), 200, 77);
  const ops = createAttack('ops', {}).poison(clean, 0).dataset;
  const mixed = { ...clean, images: clean.images.slice(), meta: { ...clean.meta } };
  const per = 3 * 32 * 32;
  for (let i = 0; i < clean.n; i += 10) mixed.images.set(ops.images.subarray(i * per, (i + 1) * per), i * per);
  const pts = CALIBRATION.points;
  const ref = pts[0]!.stats.pixel_spike!;
  const c = pixelSpike(clean).value;
  const p = pixelSpike(mixed).value;
  assert.ok(c < ref.mean + 4 * Math.max(ref.std, CALIBRATION.stdFloor), `clean: ${c} against calibration ${JSON.stringify(ref)}`);
  assert.ok(p > ref.mean + 6 * Math.max(ref.std, CALIBRATION.stdFloor), `OPS at 10%: ${p}`);
});

/** Smooth random images (a few sine waves plus fine noise), `perClass` per class, 16x16. */
function wavy(perClass: number, classes: number, seed: number): ImageDataset {
  const [H, W] = [16, 16];
  const n = perClass * classes;
  const rng = new Rng(seed);
  const images = new Uint8Array(n * 3 * H * W);
  for (let i = 0; i < n; i++) {
    const [fy, fx, ph] = [1 + 3 * rng.float(), 1 + 3 * rng.float(), 6 * rng.float()];
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) images[((i * 3 + c) * H + y) * W + x] = Math.round(128 + 80 * Math.sin((fy * y + fx * x) / 3 + ph + c) + 20 * (rng.float() - 0.5));
  }
  return { n, channels: 3, height: H, width: W, classes: Array.from({ length: classes }, (_, c) => `c${c}`), labels: Int32Array.from({ length: n }, (_, i) => i % classes), images, meta: {} };
}

/** log(var / Laplacian energy) of one image, written out directly: the reference. */
function logRatioDirect(ds: ImageDataset, i: number): number {
  const { height: H, width: W } = ds;
  const g = (y: number, x: number): number => [0, 1, 2].reduce((a, c) => a + ds.images[((i * 3 + c) * H + y) * W + x]!, 0) / (3 * 255);
  const px = Array.from({ length: H * W }, (_, p) => g(Math.floor(p / W), p % W));
  const m = px.reduce((a, b) => a + b, 0) / px.length;
  const v = px.reduce((a, b) => a + (b - m) ** 2, 0) / px.length;
  let e = 0;
  for (let y = 1; y < H - 1; y++) for (let x = 1; x < W - 1; x++) e += (4 * g(y, x) - g(y - 1, x) - g(y + 1, x) - g(y, x - 1) - g(y, x + 1)) ** 2;
  return Math.log((v + 1e-8) / (e / ((H - 2) * (W - 2)) + 1e-8));
}

test('smoothness: the class-balanced mean of each image\'s log(variance / Laplacian energy), its standard error, and which way a blur and noise move it', () => {
  const ds = wavy(12, 3, 4);
  const s = smoothness(ds);
  const per = [0, 1, 2].map((c) => [...ds.labels.keys()].filter((i) => ds.labels[i] === c).map((i) => logRatioDirect(ds, i)));
  const means = per.map((r) => r.reduce((a, b) => a + b, 0) / r.length);
  means.forEach((m, c) => assert.ok(Math.abs(s.perClass[c]! - m) < 1e-9, `class ${c}: ${s.perClass[c]} against ${m}`));
  assert.ok(Math.abs(s.value - (means[0]! + means[1]! + means[2]!) / 3) < 1e-9);
  const se = Math.sqrt(per.reduce((a, r, c) => a + r.reduce((b, v) => b + (v - means[c]!) ** 2, 0) / (r.length - 1) / r.length, 0)) / 3;
  assert.ok(Math.abs(s.stdError - se) < 1e-9, `standard error ${s.stdError} against ${se}`);
  // class mix: twice as many images of class 0 (copies) leaves the value where it was
  const n2 = ds.n + 12;
  const idx = [...Array(ds.n).keys(), ...[...ds.labels.keys()].filter((i) => ds.labels[i] === 0)];
  const images = new Uint8Array(n2 * 768);
  idx.forEach((i, j) => images.set(ds.images.subarray(i * 768, (i + 1) * 768), j * 768));
  const mixed = smoothness({ ...ds, n: n2, images, labels: Int32Array.from(idx, (i) => ds.labels[i]!) });
  assert.ok(Math.abs(mixed.value - s.value) < 1e-9, `class mix moved it: ${mixed.value} against ${s.value}`);
  // a 3x3 box blur raises it; added noise lowers it
  const blurred = { ...ds, images: ds.images.slice() };
  const noisy = { ...ds, images: ds.images.slice() };
  const rng = new Rng(9);
  for (let i = 0; i < ds.n; i++)
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 16; y++)
        for (let x = 0; x < 16; x++) {
          let a = 0;
          let k = 0;
          for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (y + dy >= 0 && y + dy < 16 && x + dx >= 0 && x + dx < 16) (a += ds.images[((i * 3 + c) * 16 + y + dy) * 16 + x + dx]!), k++;
          const o = ((i * 3 + c) * 16 + y) * 16 + x;
          blurred.images[o] = Math.round(a / k);
          noisy.images[o] = Math.min(255, Math.max(0, ds.images[o]! + Math.round(48 * (rng.float() - 0.5))));
        }
  assert.ok(smoothness(blurred).value > s.value + 0.2, `blur: ${smoothness(blurred).value} against ${s.value}`);
  assert.ok(smoothness(noisy).value < s.value - 0.1, `noise: ${smoothness(noisy).value} against ${s.value}`);
  assert.equal(formatStat('smoothness', 0.1234), '0.123');
  assert.equal(formatStat('raw_acc', 0.1234), '12.3%');
  assert.throws(() => smoothness({ ...ds, height: 2, width: 2, images: new Uint8Array(ds.n * 12) }), /at least 3x3/);
});

test('real CIFAR-10: CUDA in 25% of a clean set raises the smoothness past clean data\'s (poisoned), in 10% out of the clean range; the clean set stays clean on it', async (t) => {
  const cifar = findCifar();
  if (cifar.source === null) return t.skip(cifar.why);
  const clean = balancedSubset(await loadCifar10(cifar.source, 'train'), 500, 77);
  const cuda = createAttack('cuda', {}).poison(clean, 0).dataset;
  const per = 3 * 32 * 32;
  const mix = (every: number): ImageDataset => {
    const images = clean.images.slice();
    for (let i = 0; i < clean.n; i += every) images.set(cuda.images.subarray(i * per, (i + 1) * per), i * per);
    return { ...clean, images, meta: { ...clean.meta } };
  };
  // z as the scan takes it: against the calibration, floored at the set's own standard error
  const z = (ds: ImageDataset): number => {
    const s = smoothness(ds);
    return cleanZ(CALIBRATION, 'smoothness', s.value, ds.n, s.stdError).z;
  };
  // this clean subset is one of the smoothest measured (z -2.6): 10% lands at 5.1, between the thresholds
  const [zc, z10, z25] = [z(clean), z(mix(10)), z(mix(4))];
  assert.ok(zc < Z_CLEAN, `clean: z ${zc}`);
  assert.ok(z10 >= Z_CLEAN && z10 > zc + 6, `CUDA at 10%: z ${z10} (clean ${zc})`);
  assert.ok(z25 >= Z_POISONED, `CUDA at 25%: z ${z25}`);
});
