// AA = UEraser: kornia's plasma fractal and TrivialAugment ops on known images, the worst-of-K
// loss against per-copy losses, gradient only through the worst copy, K = 1 after the repeat
// epochs, and a smoke training run through the trainer without leaked tensors.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { F, Generator, liveTensors, noGrad, tidy, type Tensor } from '../src/engine/index.js';
import { Rng } from '../src/data/rng.js';
import type { ImageShape } from '../src/data/augment.js';
import {
  TRIVIAL_OPS,
  Workspace,
  applyTrivialOp,
  plasmaBrightness,
  plasmaContrast,
  plasmaGeometry,
  plasmaMap,
  sampleMagnitude,
  type TrivialOpName,
} from '../src/data/imageops.js';
import { AaDefense, augmentedCopies, ueraserAugment, ueraserObjective, worstOfK } from '../src/defenses/baselines/aa.js';
import { createClassifier } from '../src/nn/models/index.js';
import type { Module } from '../src/nn/module.js';
import { classifierProfile } from '../src/profiles.js';
import { trainClassifier } from '../src/training/trainer.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

F.setNumThreads(1);

const close = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

/** One image of shape s with value f(c, y, x). */
function image(s: ImageShape, f: (c: number, y: number, x: number) => number): Float32Array {
  const out = new Float32Array(s.channels * s.height * s.width);
  for (let c = 0; c < s.channels; c++) for (let y = 0; y < s.height; y++) for (let x = 0; x < s.width; x++) out[(c * s.height + y) * s.width + x] = f(c, y, x);
  return out;
}
function op(name: TrivialOpName, img: Float32Array, s: ImageShape, magnitude: number): Float32Array {
  const out = img.slice();
  applyTrivialOp(name, out, 0, s, magnitude, new Workspace(s));
  return out;
}
const at = (img: Float32Array, s: ImageShape, c: number, y: number, x: number): number => img[(c * s.height + y) * s.width + x]!;

const s8: ImageShape = { channels: 3, height: 8, width: 8 };
const ramp = image(s8, (c, y, x) => (c * 64 + y * 8 + x + 1) / 200);

test('aa ops: each parametrised op at its neutral magnitude leaves the image unchanged', () => {
  const neutral: [TrivialOpName, number][] = [
    ['rotate', 0],
    ['shear_x', 0],
    ['shear_y', 0],
    ['translate_x', 0],
    ['translate_y', 0],
    ['brightness', 1],
    ['contrast', 1],
    ['sharpness', 1],
    ['posterize', 8],
    ['solarize', 1.01],
  ];
  for (const [name, m] of neutral) {
    const out = op(name, ramp, s8, m);
    for (let k = 0; k < out.length; k++) close(out[k]!, ramp[k]!, 1e-6, `${name}(${m}) value ${k}`);
  }
});

test('aa ops: posterize keeps the top bits of floor(255 x), solarize inverts at the threshold, brightness adds, contrast multiplies', () => {
  const s: ImageShape = { channels: 1, height: 1, width: 6 };
  const levels = [0, 37, 100, 128, 200, 255];
  const img = Float32Array.from(levels, (v) => v / 255);
  const p2 = op('posterize', img, s, 2);
  assert.deepEqual(Array.from(p2, (v) => Math.round(v * 255)), [0, 0, 64, 128, 192, 192]);
  const p5 = op('posterize', img, s, 5);
  assert.deepEqual(Array.from(p5, (v) => Math.round(v * 255)), levels.map((v) => v & 0xf8));
  assert.ok(op('posterize', img, s, 0).every((v) => v === 0), 'zero bits: black (kornia)');

  const sol = op('solarize', Float32Array.from([0.2, 0.5, 0.6, 0.9]), { channels: 1, height: 1, width: 4 }, 0.5);
  [0.2, 0.5, 0.4, 0.1].forEach((e, k) => close(sol[k]!, e, 1e-6, `solarize ${k}`));

  const b = op('brightness', Float32Array.from([0.1, 0.6, 0.9]), { channels: 1, height: 1, width: 3 }, 1.3);
  [0.4, 0.9, 1].forEach((e, k) => close(b[k]!, e, 1e-6, `brightness ${k}`));
  const c = op('contrast', Float32Array.from([0.1, 0.6, 0.9]), { channels: 1, height: 1, width: 3 }, 1.5);
  [0.15, 0.9, 1].forEach((e, k) => close(c[k]!, e, 1e-6, `contrast ${k}`));
});

test('aa ops: translate and rotate move pixels where kornia puts them, zeros come in', () => {
  // translate_x 0.25 of width 8 = 2 pixels to the right
  const tx = op('translate_x', ramp, s8, 0.25);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) close(at(tx, s8, c, y, x), x < 2 ? 0 : at(ramp, s8, c, y, x - 2), 1e-6, `translate_x (${c},${y},${x})`);
  const ty = op('translate_y', ramp, s8, 0.5);
  for (let y = 0; y < 8; y++) close(at(ty, s8, 1, y, 3), y < 4 ? 0 : at(ramp, s8, 1, y - 4, 3), 1e-6, `translate_y row ${y}`);

  // one bright pixel right of the centre of a 5x5 image, rotated 90 degrees counter-clockwise: above the centre
  const s5: ImageShape = { channels: 1, height: 5, width: 5 };
  const dot = image(s5, (_c, y, x) => (y === 2 && x === 4 ? 1 : 0));
  const r90 = op('rotate', dot, s5, 90);
  close(at(r90, s5, 0, 0, 2), 1, 1e-5, 'rotated pixel at (0, 2)');
  close(r90.reduce((a, v) => a + v, 0), 1, 1e-5, 'nothing else lit');
  // the whole 90-degree map on a ramp: out(y, x) = in(x, 4 - y)
  const ramp5 = image(s5, (_c, y, x) => (y * 5 + x + 1) / 25);
  const q = op('rotate', ramp5, s5, 90);
  for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) close(at(q, s5, 0, y, x), at(ramp5, s5, 0, x, 4 - y), 1e-5, `rotate 90 (${y},${x})`);
  const r180 = op('rotate', ramp, s8, 180);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) close(at(r180, s8, 2, y, x), at(ramp, s8, 2, 7 - y, 7 - x), 1e-5, `rotate 180 (${y},${x})`);

  // shear_x 45 degrees: row y reads the input at x + (y - cy); the rows around the centre shift by half a pixel
  const s4: ImageShape = { channels: 1, height: 3, width: 6 };
  const cols = image(s4, (_c, _y, x) => x / 10);
  const sh = op('shear_x', cols, s4, 45);
  for (let x = 0; x < 6; x++) close(at(sh, s4, 0, 1, x), x / 10, 1e-6, `shear centre row x=${x}`); // cy = 1: unchanged
  for (let x = 0; x < 5; x++) close(at(sh, s4, 0, 2, x), (x + 1) / 10, 1e-6, `shear row 2 x=${x}`);
  close(at(sh, s4, 0, 2, 5), 0, 1e-6, 'shear row 2 reads outside on the right');
});

test('aa ops: equalize spreads a narrow histogram over [0,1]; two levels become black and white', () => {
  const s: ImageShape = { channels: 1, height: 32, width: 32 };
  const two = image(s, (_c, y) => (y < 16 ? 0.2 : 0.6));
  const eq2 = op('equalize', two, s, 0);
  for (let k = 0; k < eq2.length; k++) assert.equal(eq2[k], k < 512 ? 0 : 1, `pixel ${k}`);

  // 64x64 (PIL's whole-number step saturates the top levels more on small planes)
  const big: ImageShape = { channels: 1, height: 64, width: 64 };
  const rng = new Rng(5);
  const narrow = image(big, () => 0.4 + 0.2 * rng.float());
  const eq = op('equalize', narrow, big, 0);
  const lo = Math.min(...eq);
  const hi = Math.max(...eq);
  const mean = eq.reduce((a, v) => a + v, 0) / eq.length;
  assert.ok(lo <= 0.02 && hi === 1, `equalized range [${lo}, ${hi}]`);
  close(mean, 0.5, 0.05, 'equalized mean');
  // roughly flat: each quarter of [0,1] holds about a quarter of the pixels
  for (let q = 0; q < 4; q++) {
    const share = eq.filter((v) => v >= q / 4 && (q === 3 ? v <= 1 : v < (q + 1) / 4)).length / eq.length;
    close(share, 0.25, 0.07, `quarter ${q} share`);
  }
  // a monotone map of the levels
  const order = [...narrow.keys()].sort((i, j) => narrow[i]! - narrow[j]!);
  for (let t = 1; t < order.length; t++) assert.ok(eq[order[t]!]! >= eq[order[t - 1]!]!, 'equalize keeps the order of the levels');
  // a flat image is left alone (PIL's step 0)
  assert.deepEqual(op('equalize', image(s, () => 0.3), s, 0), image(s, () => 0.3));
});

test('aa ops: auto-contrast stretches each channel to [0,1]; sharpness 0 is the 3x3 smoothing inside, borders kept', () => {
  const s: ImageShape = { channels: 2, height: 2, width: 2 };
  const img = Float32Array.from([0.25, 0.5, 0.5, 0.75, 0.3, 0.3, 0.3, 0.3]);
  const ac = op('auto_contrast', img, s, 0);
  [0, 0.5, 0.5, 1].forEach((e, k) => close(ac[k]!, e, 1e-5, `auto-contrast ${k}`));
  [4, 5, 6, 7].forEach((k) => close(ac[k]!, 0, 1e-6, `flat channel ${k} -> 0 (kornia)`));

  const s5: ImageShape = { channels: 1, height: 5, width: 5 };
  const dot = image(s5, (_c, y, x) => (y === 2 && x === 2 ? 1 : 0));
  const smooth = op('sharpness', dot, s5, 0);
  close(at(smooth, s5, 0, 2, 2), 5 / 13, 1e-6, 'centre');
  close(at(smooth, s5, 0, 1, 1), 1 / 13, 1e-6, 'diagonal neighbour');
  const sharp = op('sharpness', dot, s5, 1.5);
  close(at(sharp, s5, 0, 2, 2), 1, 1e-6, 'sharpened centre clamps at 1');
  close(at(sharp, s5, 0, 1, 2), 0, 1e-6, 'sharpened neighbour clamps at 0');
  const edge = image(s5, (_c, y, x) => (y === 0 ? 0.8 : x / 10));
  const e0 = op('sharpness', edge, s5, 0);
  for (let x = 0; x < 5; x++) close(at(e0, s5, 0, 0, x), 0.8, 1e-6, `border pixel (0,${x}) kept`);
});

test('aa ops: magnitudes are drawn from kornia\'s sampled ranges', () => {
  const rng = new Rng(11);
  for (const o of TRIVIAL_OPS)
    for (let i = 0; i < 200; i++) {
      const m = sampleMagnitude(o.name, rng);
      assert.ok(m >= o.low && m <= o.high, `${o.name} magnitude ${m}`);
      if (o.name === 'posterize') assert.ok(Number.isInteger(m), 'posterize draws whole bits');
    }
  assert.equal(TRIVIAL_OPS.length, 12);
});

test('aa plasma: kornia geometry, range, spatial correlation, seeded', () => {
  assert.deepEqual(plasmaGeometry(32, 32), { depth: 4, seedH: 3, seedW: 3, gridH: 33, gridW: 33 });
  assert.deepEqual(plasmaGeometry(32, 64), { depth: 4, seedH: 3, seedW: 5, gridH: 33, gridW: 65 });
  assert.deepEqual(plasmaGeometry(28, 28), { depth: 4, seedH: 3, seedW: 3, gridH: 33, gridW: 33 });
  assert.throws(() => plasmaGeometry(2, 32), /at least 3x3/);

  const s: ImageShape = { channels: 1, height: 32, width: 32 };
  const ws = new Workspace(s);
  const map = (seed: number, roughness: number): Float32Array => {
    const out = new Float32Array(32 * 32);
    plasmaMap(out, 0, roughness, new Rng(seed), ws);
    return out;
  };
  const bound = (4 / 3) ** 4;
  let meanSum = 0;
  for (let seed = 0; seed < 20; seed++) {
    const m = map(seed, 0.5);
    for (const v of m) assert.ok(v >= 0 && v <= bound && Number.isFinite(v), `plasma value ${v}`);
    const mean = m.reduce((a, v) => a + v, 0) / m.length;
    const sd = Math.sqrt(m.reduce((a, v) => a + (v - mean) ** 2, 0) / m.length);
    assert.ok(sd > 0.01, `seed ${seed}: a flat map (sd ${sd})`);
    meanSum += mean;
    // a fractal, not noise: neighbours are much closer than random pairs
    let near = 0;
    let far = 0;
    const rng = new Rng(seed, 99);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 31; x++) {
        near += Math.abs(m[y * 32 + x]! - m[y * 32 + x + 1]!);
        far += Math.abs(m[y * 32 + x]! - m[rng.int(1024)]!);
      }
    assert.ok(near < 0.6 * far, `seed ${seed}: neighbour diff ${near} vs random-pair diff ${far}`);
  }
  const avg = meanSum / 20;
  assert.ok(avg > 0.15 && avg < 0.85, `mean plasma value ${avg}`);
  assert.deepEqual(map(3, 0.5), map(3, 0.5), 'same seed, same map');
  assert.notDeepEqual(map(3, 0.5), map(4, 0.5), 'another seed, another map');

  // kornia 0.9's diamond_square (float64) fed the same uniforms, each cell's draw at its cell:
  // seed row-major (3 x L before the transpose), then per level the diamond cells, then the edge cells
  const s8p: ImageShape = { channels: 1, height: 8, width: 8 };
  const m8 = new Float32Array(64);
  plasmaMap(m8, 0, 0.3, new Rng(3), new Workspace(s8p));
  const golden: [number, number, number][] = [
    [0, 0, 0.3097477151701848],
    [0, 1, 0.626821478136997],
    [1, 0, 0.6722674982092195],
    [1, 1, 0.48920796231671715],
    [0, 7, 0.5427628528668422],
    [4, 0, 0.6746125003749815],
    [3, 4, 0.3276321907077552],
    [7, 7, 0.19808345995381604],
    [7, 3, 0.37050140373984297],
  ];
  for (const [y, x, v] of golden) close(m8[y * 8 + x]!, v, 1e-6, `kornia plasma (${y},${x})`);
  close(m8.reduce((a, v) => a + v, 0), 28.156271661965143, 1e-5, 'kornia plasma sum');

  // at 3x3 there is no recursion: kornia's seed, whose centre is the mean of its four corners (all /3)
  const s3: ImageShape = { channels: 1, height: 3, width: 3 };
  const w3 = new Workspace(s3);
  const m3 = new Float32Array(9);
  plasmaMap(m3, 0, 0.5, new Rng(7), w3);
  for (const k of [0, 2, 6, 8]) assert.ok(m3[k]! < 1 / 3, `corner ${k} = ${m3[k]} < 1/3`);
  close(m3[4]!, (m3[0]! + m3[2]! + m3[6]! + m3[8]!) / 4, 1e-6, 'seed centre');
});

test('aa plasma brightness and contrast follow kornia\'s formulas', () => {
  const img = Float32Array.from([0, 0.3, 0.5, 0.9]);
  const half = new Float32Array(4).fill(0.5);
  const b = img.slice();
  plasmaBrightness(b, 0, half, 0.8, 4);
  assert.deepEqual(b, img, 'map 0.5: no brightness change');
  const ones = new Float32Array(4).fill(1);
  plasmaBrightness(b, 0, ones, 0.25, 4);
  [0.25, 0.55, 0.75, 1].forEach((e, k) => close(b[k]!, e, 1e-6, `brightness ${k}`));
  const c = img.slice();
  plasmaContrast(c, 0, new Float32Array(4).fill(0.25), 4);
  c.forEach((v, k) => close(v, img[k]!, 1e-6, `map 1/4: contrast factor 1 at ${k}`));
  plasmaContrast(c, 0, new Float32Array(4).fill(0), 4);
  assert.ok(c.every((v) => v === 0.5), 'map 0: everything grey');
  const d = img.slice();
  plasmaContrast(d, 0, ones, 4);
  [0, 0, 0.5, 1].forEach((e, k) => close(d[k]!, e, 1e-6, `contrast x4 at ${k}`));
});

test('aa policy: stays in [0,1], changes the images, reproducible per seed, one TrivialAugment op per call', () => {
  const s: ImageShape = { channels: 3, height: 16, width: 16 };
  const n = 24;
  const per = 3 * 256;
  const src = new Float32Array(n * per);
  const r0 = new Rng(1);
  for (let k = 0; k < src.length; k++) src[k] = r0.float();
  const run = (seed: number, p: number, forced?: TrivialOpName): { out: Float32Array; op: TrivialOpName } => {
    const out = src.slice();
    const o = ueraserAugment(out, n, s, new Rng(seed), p, forced);
    return { out, op: o };
  };
  const a = run(2, 1);
  assert.ok(a.out.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)));
  assert.ok(TRIVIAL_OPS.some((o) => o.name === a.op));
  assert.deepEqual(run(2, 1).out, a.out, 'same seed, same augmentation');
  assert.notDeepEqual(run(3, 1).out, a.out);
  // p 1: every image gets plasma brightness and contrast, so each image changes
  for (let i = 0; i < n; i++) assert.notDeepEqual(a.out.subarray(i * per, (i + 1) * per), src.subarray(i * per, (i + 1) * per), `image ${i} unchanged`);
  // the op is drawn per call, uniformly over the 12
  const ops = new Set<string>();
  for (let seed = 0; seed < 60; seed++) ops.add(run(seed, 0).op);
  assert.ok(ops.size >= 8, `ops drawn over 60 calls: ${[...ops].join(', ')}`);
  // forced equalize with p 0: each image is exactly its own equalization (the same op for all)
  const eq = run(4, 0, 'equalize').out;
  const ws = new Workspace(s);
  for (let i = 0; i < n; i++) {
    const one = src.slice(i * per, (i + 1) * per);
    applyTrivialOp('equalize', one, 0, s, 0, ws);
    assert.deepEqual(eq.subarray(i * per, (i + 1) * per), one, `image ${i}`);
  }
});

test('aa loss: worst of K equals the max of per-copy losses; gradient reaches only the worst copy', () => {
  const before = liveTensors();
  tidy(() => {
    const model = createClassifier('resnet18', { width: 4, numClasses: 3, generator: new Generator(1) });
    model.eval(); // per-sample losses independent of the batch (no batch statistics)
    const k = 3;
    const n = 4;
    const copies = F.rand([k * n, 3, 16, 16], { generator: new Generator(2) }).requiresGrad_();
    const y = F.tensor([0, 1, 2, 1], [4], { dtype: 'int64' });
    const { loss, logits } = worstOfK(model, copies, y, k);
    assert.deepEqual(logits.shape, [n, 3]);
    const per = noGrad(() => {
      const rows: number[][] = [];
      for (let r = 0; r < k; r++) rows.push(F.crossEntropy(model.forward(copies.narrow(0, r * n, n)), y, 'none').toArray());
      return rows;
    });
    const worstRow = Array.from({ length: n }, (_, i) => [0, 1, 2].reduce((b, r) => (per[r]![i]! > per[b]![i]! ? r : b), 0));
    const expected = worstRow.reduce((a, r, i) => a + per[r]![i]!, 0) / n;
    close(loss.item(), expected, 1e-5, 'worst-of-K loss');
    // the mean over all copies is lower: the max is really taken
    const meanAll = per.flat().reduce((a, v) => a + v, 0) / (k * n);
    assert.ok(loss.item() > meanAll, 'worst-of-K above the mean of the copies');
    // logits of the first copy
    const first = noGrad(() => model.forward(copies.narrow(0, 0, n)));
    assert.ok(logits.allclose(first, 1e-5, 1e-6));

    loss.backward();
    const g = copies.grad!;
    const norms = noGrad(() => g.reshape(k * n, -1).abs().sum(1).toArray());
    for (let r = 0; r < k; r++)
      for (let i = 0; i < n; i++) {
        const v = norms[r * n + i]!;
        if (worstRow[i] === r) assert.ok(v > 0, `worst copy ${r} of image ${i} has no gradient`);
        else assert.equal(v, 0, `copy ${r} of image ${i} is not the worst but has gradient ${v}`);
      }
    model.dispose();
  });
  assert.equal(liveTensors(), before, 'worstOfK leaked tensors');
});

test('aa objective: K copies before repeatEpochs, then 1; logits [N, classes]; seeded by the generator; no leaks', () => {
  const model = createClassifier('resnet18', { width: 4, numClasses: 3, generator: new Generator(3) });
  model.eval();
  const seen: number[] = [];
  const spy = { forward: (x: Tensor) => (seen.push(x.shape[0]!), model.forward(x)) } as unknown as Module;
  const objective = ueraserObjective({ copies: 3, repeatEpochs: 2, p: 0.5 });
  const x = F.rand([5, 3, 16, 16], { generator: new Generator(4) });
  const xcl = x.contiguous('channels_last');
  const y = F.tensor([0, 1, 2, 0, 1], [5], { dtype: 'int64' });
  const before = liveTensors();
  const lossAt = (epoch: number, seed: number, input: Tensor = x): number =>
    tidy(() => {
      const { loss, logits } = objective.loss(spy, input, y, new Generator(seed), epoch);
      assert.deepEqual(logits.shape, [5, 3]);
      assert.ok(Number.isFinite(loss.item()));
      loss.backward();
      return loss.item();
    });
  const e0 = lossAt(0, 10);
  lossAt(1, 10);
  lossAt(2, 10);
  lossAt(7, 10);
  assert.deepEqual(seen, [15, 15, 5, 5], 'batch sizes seen by the model');
  assert.equal(lossAt(0, 10), e0, 'same generator seed, same augmentation and loss');
  assert.notEqual(lossAt(0, 11), e0, 'another seed, other augmentations');
  assert.equal(lossAt(0, 10, xcl), e0, 'a channels-last batch gives the same loss');
  assert.equal(liveTensors(), before, 'the objective leaked tensors');

  // the copies keep the batch's device and memory format, and equal the JS policy on the data
  tidy(() => {
    const cl = augmentedCopies(xcl, 2, new Rng(5), 0.5);
    assert.ok(cl.isContiguous('channels_last') && !cl.isContiguous());
    const plain = augmentedCopies(x, 2, new Rng(5), 0.5);
    assert.ok(plain.isContiguous());
    assert.deepEqual(cl.data(), plain.data());
    const ref = new Float32Array(2 * 5 * 768);
    ref.set(x.data<'float32'>(), 0);
    ref.set(x.data<'float32'>(), 5 * 768);
    ueraserAugment(ref, 10, { channels: 3, height: 16, width: 16 }, new Rng(5), 0.5);
    assert.deepEqual(plain.data(), ref);
  });
  x.dispose();
  xcl.dispose();
  y.dispose();
  model.dispose();
});

test('aa defence: settings per profile; the plan trains a smoke classifier for 2 epochs without leaks', async () => {
  const paper = new AaDefense();
  assert.deepEqual(paper.params, { copies: 5, repeat_epochs: 60, aug_p: 0.5 });
  assert.equal(paper.setting, 'paper');
  const mini = new AaDefense({ profile: 'mini', settings: { copies: 3 } });
  assert.deepEqual(mini.params, { copies: 3, repeat_epochs: 15, aug_p: 0.5 });
  assert.equal(mini.setting, 'mini with overrides: copies 3');
  assert.throws(() => new AaDefense({ settings: { copies: 0 } }), /copies must be >= 1/);

  const ds = syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 8, seed: 5 });
  const recipe = { ...classifierProfile('smoke'), width: 4, batchSize: 12, evalEvery: 0 };
  const tmp = makeTempDir('eclipse-aa-');
  const logs: string[] = [];
  try {
    const before = liveTensors();
    const plan = await new AaDefense({ profile: 'smoke' }).plan(ds, { profile: 'smoke', seed: 1, device: 'cpu', recipe, workDir: tmp.dir, log: (l) => logs.push(l) });
    assert.equal(plan.train, ds);
    assert.match(plan.objective!.name, /^ueraser\(copies=2,repeat_epochs=1,p=0\.5\)$/);
    assert.equal(plan.notes.worst_of_k_epochs, '1');
    assert.ok(logs.some((l) => /worst of 2 augmented copies for 1 of 2 epochs/.test(l)), logs.join('\n'));
    const res = await trainClassifier(plan.train, ds, { recipe, seed: 2, outDir: tmp.dir, quiet: true, objective: plan.objective, threads: 1 });
    assert.equal(res.epochs.length, 2);
    for (const e of res.epochs) assert.ok(Number.isFinite(e.train_loss) && e.train_loss > 0, `epoch ${e.epoch} loss ${e.train_loss}`);
    assert.ok(Number.isFinite(res.testLoss));
    assert.equal(liveTensors(), before, 'training with the AA objective leaked tensors');
  } finally {
    tmp.cleanup();
  }
});
