// A poison's make-up (issue 28, src/attacks/makeup.ts): L2, the share of perturbation energy
// above half the Nyquist frequency and the class-wise share on constructed perturbations with
// known answers, the scan's score, and the metadata `eclipse poison` writes (pixels unchanged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { createAttack } from '../src/attacks/index.js';
import { MAKEUP_META_KEYS, perturbationMakeup, poisonMakeup, stampMakeup } from '../src/attacks/makeup.js';
import { datasetDigest, type ImageDataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';
import { loadDataset, saveDataset } from '../src/data/store.js';
import { getNumThreads } from '../src/engine/index.js';
import { makeTempDir } from './helpers/tmp.js';

const tmp = makeTempDir('eclipse-makeup-');
test.after(() => tmp.cleanup());
const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const CIFAR_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Mid-grey-ish clean images (100..155: no perturbation below gets clamped), labels i % K. */
function cleanSet(o: { perClass: number; classes?: string[]; size?: number; seed?: number }): ImageDataset {
  const classes = o.classes ?? ['a', 'b', 'c', 'd'];
  const size = o.size ?? 32;
  const n = classes.length * o.perClass;
  const rng = new Rng(o.seed ?? 3);
  const images = new Uint8Array(n * 3 * size * size);
  for (let i = 0; i < images.length; i++) images[i] = 100 + rng.int(56);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes.length);
  return { images, labels, n, channels: 3, height: size, width: size, classes, meta: { source: 'makeup-test' } };
}

/** The clean set plus delta(i, c, y, x) pixel steps (integers, so no rounding changes the answer). */
function perturbed(clean: ImageDataset, delta: (i: number, c: number, y: number, x: number) => number): ImageDataset {
  const { n, height: H, width: W } = clean;
  const images = new Uint8Array(clean.images);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const p = ((i * 3 + c) * H + y) * W + x;
          const v = clean.images[p]! + delta(i, c, y, x);
          assert.ok(v >= 0 && v <= 255 && Number.isInteger(v));
          images[p] = v;
        }
  return { ...clean, images, labels: clean.labels.slice(), meta: { ...clean.meta, attack: 'constructed' } };
}

const close = (got: number, want: number, tol: number, what: string): void => assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} (+-${tol})`);

test('L2: the mean per-image L2 norm of (poisoned - clean)/255', () => {
  const clean = cleanSet({ perClass: 3 });
  // image i moved by (i % 3 + 1) steps at every pixel: L2 = (i % 3 + 1) * sqrt(3*32*32) / 255
  const m = perturbationMakeup(clean, perturbed(clean, (i) => (i % 3) + 1));
  close(m.l2, (2 * Math.sqrt(3 * 32 * 32)) / 255, 1e-12, 'L2');
  const zero = perturbationMakeup(clean, clean);
  assert.equal(zero.l2, 0);
  assert.ok(Number.isNaN(zero.highFreq) && Number.isNaN(zero.classwise), 'shares of a zero perturbation are undefined');
});

test('high-frequency share: a constant delta gives 0, a pixel-wise checkerboard 1, their sum its energy share', () => {
  const clean = cleanSet({ perClass: 2 });
  close(perturbationMakeup(clean, perturbed(clean, (i, c) => (c === 1 ? -5 : 3 + (i % 2)))).highFreq, 0, 1e-12, 'constant');
  const checker = (y: number, x: number): number => ((x + y) % 2 === 0 ? 1 : -1);
  close(perturbationMakeup(clean, perturbed(clean, (i, _c, y, x) => (i % 3 + 1) * checker(y, x))).highFreq, 1, 1e-12, 'checkerboard');
  // constant 4 plus checkerboard 3: orthogonal, energies 16 and 9 per pixel -> 9/25 above half Nyquist
  close(perturbationMakeup(clean, perturbed(clean, (_i, _c, y, x) => 4 + 3 * checker(y, x))).highFreq, 9 / 25, 1e-12, 'constant + checkerboard');
  // stripes along one axis only: max(|fx|, |fy|) is what counts
  close(perturbationMakeup(clean, perturbed(clean, (_i, _c, y) => (y % 2 === 0 ? 6 : -6))).highFreq, 1, 1e-12, 'horizontal stripes at Nyquist');
});

test('high-frequency share: exactly 1/4 cycles/pixel is low, 1/3 is high (24x24: both are DFT bins)', () => {
  const clean = cleanSet({ perClass: 2, size: 24 });
  const period4 = [2, 0, -2, 0]; // cos(2 pi x / 4): |f| = 1/4, not above half Nyquist
  const period3 = [2, -1, -1]; // cos(2 pi x / 3) * 2: |f| = 1/3
  close(perturbationMakeup(clean, perturbed(clean, (_i, _c, _y, x) => period4[x % 4]!)).highFreq, 0, 1e-12, 'f = 1/4 along x');
  close(perturbationMakeup(clean, perturbed(clean, (_i, _c, y) => period4[y % 4]!)).highFreq, 0, 1e-12, 'f = 1/4 along y');
  close(perturbationMakeup(clean, perturbed(clean, (_i, _c, _y, x) => period3[x % 3]!)).highFreq, 1, 1e-12, 'f = 1/3 along x');
  close(perturbationMakeup(clean, perturbed(clean, (_i, _c, y, x) => period4[x % 4]! + period3[y % 3]!)).highFreq, 1 / 2, 1e-12, '1/4 along x plus 1/3 along y (energy 2 each)');
});

test('high-frequency share: random perturbations agree with a full 2D DFT done the slow way (32x32 and 12x20)', () => {
  for (const [h, w] of [[32, 32], [12, 20]] as const) {
    const rng = new Rng(h + w);
    const n = 3;
    const images = new Uint8Array(n * 3 * h * w).map(() => 100 + rng.int(56));
    const clean: ImageDataset = { images, labels: Int32Array.from([0, 1, 0]), n, channels: 3, height: h, width: w, classes: ['a', 'b'], meta: {} };
    const poisoned = { ...clean, images: images.map((v) => v + rng.int(17) - 8) };
    let high = 0;
    let all = 0;
    for (let pl = 0; pl < n * 3; pl++)
      for (let k = 0; k < h; k++)
        for (let l = 0; l < w; l++) {
          let re = 0;
          let im = 0;
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++) {
              const p = (pl * h + y) * w + x;
              const d = (poisoned.images[p]! - images[p]!) / 255;
              const a = 2 * Math.PI * (k * y / h + l * x / w);
              re += d * Math.cos(a);
              im -= d * Math.sin(a);
            }
          const e = re * re + im * im;
          all += e;
          if (Math.max(Math.min(k, h - k) / h, Math.min(l, w - l) / w) > 1 / 4) high += e;
        }
    close(perturbationMakeup(clean, poisoned).highFreq, high / all, 1e-9, `${h}x${w}`);
  }
});

test('class-wise share: 1 for a class-wise poison, 0 for one whose class means vanish, ~K/n for i.i.d. noise', () => {
  const clean = cleanSet({ perClass: 50 });
  const rng = new Rng(11);
  const D = 3 * 32 * 32;
  const classPattern = Array.from({ length: 4 }, () => Int8Array.from({ length: D }, () => rng.int(17) - 8));
  const at = (c: number, y: number, x: number): number => (c * 32 + y) * 32 + x;
  const urpLike = perturbationMakeup(clean, perturbed(clean, (i, c, y, x) => classPattern[i % 4]![at(c, y, x)]!));
  close(urpLike.classwise, 1, 1e-12, 'class-wise pattern');
  // +pattern on the first half of each class, -pattern on the second: every class mean is zero
  const signed = perturbationMakeup(clean, perturbed(clean, (i, c, y, x) => (i < 100 ? 1 : -1) * classPattern[0]![at(c, y, x)]!));
  close(signed.classwise, 0, 1e-12, 'class means zero');
  // class pattern (energy 4 per pixel) plus a zero-class-mean part (energy 1 per pixel): 4/5
  const mixed = perturbationMakeup(clean, perturbed(clean, (i, c, y, x) => (i % 4 === 0 ? 2 : -2) + (i < 100 ? 1 : -1) * ((x + y + c) % 2 === 0 ? 1 : -1)));
  close(mixed.classwise, 4 / 5, 1e-12, 'class-wise 4 + sample-wise 1');
  const iid = perturbationMakeup(clean, perturbed(clean, () => rng.int(17) - 8));
  // E[share] = K/n = 4/200 for i.i.d. zero-mean noise
  assert.ok(iid.classwise > 0.01 && iid.classwise < 0.03, `i.i.d. noise: class-wise share ${iid.classwise}, expected about 0.02`);
});

test('a poisoned set that is not a copy of the clean set is refused', () => {
  const clean = cleanSet({ perClass: 2 });
  const other = { ...clean, labels: clean.labels.map((l) => (l + 1) % 4) };
  assert.throws(() => perturbationMakeup(clean, other), /not a copy of the clean set/);
  assert.throws(() => perturbationMakeup(clean, cleanSet({ perClass: 3 })), /not a copy of the clean set/);
});

test("the scan's score: finite where the calibration applies (CIFAR-10 classes, 32x32), NaN otherwise; skipped on request", () => {
  const clean = cleanSet({ perClass: 6, classes: CIFAR_CLASSES });
  const rng = new Rng(5);
  const D = 3 * 32 * 32;
  const patterns = Array.from({ length: 10 }, () => Int8Array.from({ length: D }, () => (rng.float() < 0.5 ? -8 : 8)));
  const poisoned = perturbed(clean, (i, c, y, x) => patterns[i % 10]![(c * 32 + y) * 32 + x]!);
  const m = poisonMakeup(clean, poisoned, { seed: 0, device: 'cpu' });
  assert.ok(Number.isFinite(m.scanScore), `scan score ${m.scanScore}`);
  assert.ok(['poisoned', 'clean', 'unsure'].includes(m.scanVerdict));
  close(m.classwise, 1, 1e-12, 'class-wise');
  // seeded: the same score again
  assert.equal(poisonMakeup(clean, poisoned, { seed: 0, device: 'cpu' }).scanScore, m.scanScore);
  const noCal = cleanSet({ perClass: 2 });
  const n = poisonMakeup(noCal, perturbed(noCal, () => 1));
  assert.ok(Number.isNaN(n.scanScore));
  assert.equal(n.scanVerdict, 'unsure');
  const skipped = poisonMakeup(clean, poisoned, { scan: false });
  assert.ok(Number.isNaN(skipped.scanScore));
  assert.equal(skipped.scanVerdict, 'not run');
  assert.equal(skipped.l2, m.l2);
});

test('stampMakeup writes the make-up into the metadata only: same pixels, labels and datasetDigest', () => {
  const clean = cleanSet({ perClass: 3 });
  const poisoned = perturbed(clean, (i, c) => (i % 4) - c);
  const before = new Uint8Array(poisoned.images);
  const { dataset, makeup } = stampMakeup(clean, poisoned, { scan: false });
  assert.deepEqual(dataset.images, before);
  assert.deepEqual(poisoned.images, before, 'the input is not changed either');
  assert.deepEqual(dataset.labels, poisoned.labels);
  assert.equal(datasetDigest(dataset), datasetDigest(poisoned));
  for (const k of MAKEUP_META_KEYS) assert.equal(typeof dataset.meta[k], 'string', `meta ${k}`);
  assert.equal(dataset.meta.threads, String(getNumThreads()));
  assert.equal(Number(dataset.meta.makeup_l2), Number(makeup.l2.toPrecision(7)));
  assert.equal(dataset.meta.makeup_scan_score, 'NaN');
  assert.equal(dataset.meta.attack, 'constructed', 'the other metadata stays');
  assert.equal(stampMakeup(clean, poisoned, { scan: false, threads: 7 }).dataset.meta.threads, '7');
});

test('eclipse poison stamps the make-up into the file it writes; the pixels are the attack\'s', async () => {
  const clean = cleanSet({ perClass: 6, classes: CIFAR_CLASSES, seed: 9 });
  const input = join(tmp.dir, 'clean.safetensors');
  const output = join(tmp.dir, 'urp.safetensors');
  await saveDataset(clean, input);
  const r = spawnSync(process.execPath, [bin, 'poison', '--attack', 'urp', '--in', input, '--out', output, '--seed', '2', '--threads', '1', '--device', 'cpu'], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, ECLIPSE_CIFAR10: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /make-up: L2 mean [0-9.]+, [0-9.]+% of the energy above half Nyquist, [0-9.]+% class-wise; scan score/);
  const back = await loadDataset(output);
  for (const k of MAKEUP_META_KEYS) assert.ok(back.meta[k] !== undefined, `meta ${k} missing`);
  assert.equal(back.meta.threads, '1');
  assert.equal(back.meta.makeup_scan_seed, '0');
  assert.ok(Number.isFinite(Number(back.meta.makeup_scan_score)), `scan score ${back.meta.makeup_scan_score}`);
  // the pixels are exactly what the attack makes without any stamping
  const direct = createAttack('urp', {}).poison(clean, 2).dataset;
  assert.deepEqual(back.images, direct.images);
  assert.equal(datasetDigest(back), datasetDigest(direct));
  // and the stamped numbers are the make-up of those pixels (URP: one pattern per class, no clamping here)
  const m = perturbationMakeup(clean, back);
  assert.equal(Number(back.meta.makeup_l2), Number(m.l2.toPrecision(7)));
  assert.equal(Number(back.meta.makeup_high_freq), Number(m.highFreq.toPrecision(7)));
  assert.equal(Number(back.meta.makeup_classwise), Number(m.classwise.toPrecision(7)));
  assert.ok(m.classwise > 0.999, `URP class-wise share ${m.classwise}`);
  for (const k of Object.keys(direct.meta)) assert.equal(back.meta[k], direct.meta[k], `meta ${k}`);
});
