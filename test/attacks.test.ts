import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import * as path from 'node:path';

import { makeDataset, type ImageDataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';
import { loadDataset, saveDataset } from '../src/data/store.js';
import {
  AR_PAPER_COEFFICIENTS, ATTACKS, ArAttack, BaseAttack, LspAttack, UrpAttack, arPattern, arResponse, checkBound,
  createAttack, findArCoefficients, lspDefaultL2, parseBound, parseEpsilon, poisonDataset, poisonDatasetWithStats,
  poisonFile, quantizedAllowance,
  type DatasetShape, type PerturbationBound, type PerturbationGenerator,
} from '../src/attacks/index.js';
import { perturbationStats, psnr, purificationReport } from '../src/metrics/psnr.js';
import { makeTempDir } from './helpers/tmp.js';

const PIX = 3 * 32 * 32;

/** Mid-range images (60..195) so that perturbations up to 60/255 are never clamped. */
function midDataset(k = 10, perClass = 4, seed = 1, h = 32, w = 32): ImageDataset {
  const n = k * perClass;
  const rng = new Rng(seed);
  const images = new Uint8Array(n * 3 * h * w);
  for (let i = 0; i < images.length; i++) images[i] = 60 + rng.int(136);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = (i * 7) % k; // classes interleaved, not sorted
  return makeDataset({ images, labels, height: h, width: w, classes: Array.from({ length: k }, (_, c) => `class${c}`), meta: { source: 'test-mid' } });
}

/** Uniform 0..255 images: many pixels get clamped. */
function fullRangeDataset(k = 10, perClass = 3, seed = 2): ImageDataset {
  const n = k * perClass;
  const rng = new Rng(seed);
  const images = new Uint8Array(n * PIX);
  for (let i = 0; i < images.length; i++) images[i] = rng.uint32() & 0xff;
  const labels = Int32Array.from({ length: n }, (_, i) => i % k);
  return makeDataset({ images, labels, height: 32, width: 32, classes: Array.from({ length: k }, (_, c) => `k${c}`), meta: { source: 'test-full', seed: '5' } });
}

function shapeOf(k: number, n: number, h = 32, w = 32): DatasetShape {
  return { n, channels: 3, height: h, width: w, classes: Array.from({ length: k }, (_, c) => `c${c}`), labels: Int32Array.from({ length: n }, (_, i) => i % k) };
}

function gen(g: PerturbationGenerator, i: number, y: number, per = PIX): Float64Array {
  const out = new Float64Array(per);
  // additive noise does not read the clean image
  g.perturbation(i, y, out, new Uint8Array(per));
  return out;
}

function l2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

function appliedDelta(clean: ImageDataset, poisoned: ImageDataset, i: number): Int16Array {
  const d = new Int16Array(PIX);
  for (let p = 0; p < PIX; p++) d[p] = poisoned.images[i * PIX + p] - clean.images[i * PIX + p];
  return d;
}

// ---------- URP ----------

test('urp: one U(-8/255, 8/255) noise per class, added by label, floor-quantised, |delta| <= 8/255', () => {
  const ds = midDataset(10, 4);
  const urp = new UrpAttack();
  const noise = urp.classNoise(ds, 3);
  assert.equal(noise.length, 10 * PIX);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of noise) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.ok(lo >= -8 / 255 && hi < 8 / 255 && lo < -7.9 / 255 && hi > 7.9 / 255, `range ${lo * 255}..${hi * 255}`);
  const r = urp.poison(ds, 3);
  const out = r.dataset;
  // Identical within a class, different across classes (the applied uint8 perturbation).
  const first = new Map<number, Int16Array>();
  for (let i = 0; i < ds.n; i++) {
    const d = appliedDelta(ds, out, i);
    const y = ds.labels[i];
    for (let p = 0; p < PIX; p++) {
      assert.ok(Math.abs(d[p]) <= 8);
      // floor quantisation of the class noise (no pixel of midDataset is clamped)
      assert.equal(d[p], Math.floor(255 * noise[y * PIX + p] + 1e-12), `image ${i} pixel ${p}`);
    }
    const f = first.get(y);
    if (f) assert.deepEqual(d, f, `class ${y} images differ`);
    else first.set(y, d);
  }
  const deltas = [...first.values()];
  for (let a = 0; a < deltas.length; a++) for (let b = a + 1; b < deltas.length; b++) assert.notDeepEqual(deltas[a], deltas[b]);
  assert.equal(r.stats.linfMax, 8);
  assert.equal(r.clampedFraction, 0);
  assert.equal(out.meta.linf_max, '8');
  assert.equal(out.meta.norm, 'linf');
  assert.equal(Number(out.meta.epsilon), 8 / 255);
});

test('urp: clamping to [0,255] keeps the bound on full-range images', () => {
  const ds = fullRangeDataset();
  const r = new UrpAttack().poison(ds, 0);
  assert.ok(r.clampedFraction > 0.005, `clamped ${r.clampedFraction}`);
  assert.ok(r.stats.linfMax <= 8);
  for (let p = 0; p < r.dataset.images.length; p++) assert.ok(Math.abs(r.dataset.images[p] - ds.images[p]) <= 8);
});

// ---------- LSP ----------

test('lsp: per-sample L2 = sqrt(3072)*6/255 before quantisation, constant 8x8 patches, 48 features', () => {
  const lsp = new LspAttack();
  assert.ok(Math.abs(lsp.bound.epsilon - 1.3041323727577) < 1e-9);
  assert.deepEqual(lsp.layout(32, 32), { ph: 4, pw: 4, features: 48 });
  const shape = shapeOf(10, 40);
  const g = lsp.generator(shape, 11);
  for (let i = 0; i < 40; i++) {
    const d = gen(g, i, shape.labels[i]);
    assert.ok(Math.abs(l2(d) - 1.3041323727577) < 1e-9, `L2 ${l2(d)}`);
    const distinct = new Set<number>();
    for (let c = 0; c < 3; c++) {
      for (let py = 0; py < 4; py++) {
        for (let px = 0; px < 4; px++) {
          const v = d[(c * 32 + py * 8) * 32 + px * 8];
          distinct.add(v);
          for (let r = 0; r < 8; r++) for (let q = 0; q < 8; q++) assert.equal(d[(c * 32 + py * 8 + r) * 32 + px * 8 + q], v);
        }
      }
    }
    assert.equal(distinct.size, 48);
  }
});

test('lsp: mixture follows make_classification (distinct +-10 vertices, z A + c points)', () => {
  const lsp = new LspAttack();
  const mix = lsp.mixture(10, 48, 4);
  const keys = new Set<string>();
  for (let k = 0; k < 10; k++) {
    const c = Array.from(mix.centroids.subarray(k * 48, (k + 1) * 48));
    assert.ok(c.every((v) => v === 10 || v === -10));
    keys.add(c.join(','));
  }
  assert.equal(keys.size, 10);
  for (const a of mix.mixing) assert.ok(a >= -1 && a < 1);
  // The mean of many class-3 points is close to its centroid (per-coordinate std ~ 4 / sqrt(n)).
  const n = 400;
  const mean = new Float64Array(48);
  for (let i = 0; i < n; i++) {
    const x = lsp.point(mix, 4, i, 3);
    for (let f = 0; f < 48; f++) mean[f] += x[f] / n;
  }
  for (let f = 0; f < 48; f++) assert.ok(Math.abs(mean[f] - mix.centroids[3 * 48 + f]) < 1.5, `feature ${f}: ${mean[f]}`);
});

test('lsp: other image sizes get ceil(H/p) patches and their own default L2', () => {
  const ds = midDataset(3, 2, 5, 20, 24);
  const r = poisonDatasetWithStats(ds, 'lsp', { seed: 1 });
  assert.ok(Math.abs(r.nominal.l2Mean - lspDefaultL2(20, 24)) < 1e-9);
  assert.equal(Number(r.dataset.meta.epsilon), lspDefaultL2(20, 24));
  assert.deepEqual(new LspAttack().layout(20, 24), { ph: 3, pw: 3, features: 27 });
});

// ---------- AR ----------

test('ar: paper coefficients transcribed (10 sets, causal, each channel sums to 1)', () => {
  assert.equal(AR_PAPER_COEFFICIENTS.length, 10);
  for (const b of AR_PAPER_COEFFICIENTS) {
    assert.equal(b.length, 27);
    for (const c of [0, 1, 2]) {
      assert.equal(b[c * 9 + 8], 0);
      const s = b.slice(c * 9, c * 9 + 8).reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(s - 1) < 5e-4, `sum ${s}`);
    }
  }
  assert.equal(AR_PAPER_COEFFICIENTS[0][0], 0.1561);
  assert.equal(AR_PAPER_COEFFICIENTS[9][25], 0.0321);
});

test('ar: perturbation follows its class recurrence, L2 = 1, matched filters classify perfectly', () => {
  const ar = new ArAttack();
  const shape = shapeOf(10, 60);
  const g = ar.generator(shape, 8);
  let correct = 0;
  for (let i = 0; i < 60; i++) {
    const y = shape.labels[i];
    const b = AR_PAPER_COEFFICIENTS[y];
    const d = gen(g, i, y);
    assert.ok(Math.abs(l2(d) - 1) < 1e-12);
    // Each pixel with its whole 3x3 causal window inside the crop equals the filter applied to it.
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      for (let r = 2; r < 32; r++) {
        for (let q = 2; q < 32; q++) {
          let v = 0;
          for (let a = 0; a < 3; a++) for (let e = 0; e < 3; e++) if (a * 3 + e < 8) v += b[c * 9 + a * 3 + e] * d[(c * 32 + r - 2 + a) * 32 + q - 2 + e];
          worst = Math.max(worst, Math.abs(v - d[(c * 32 + r) * 32 + q]));
        }
      }
    }
    assert.ok(worst < 1e-12, `recurrence residual ${worst}`);
    assert.ok(arResponse(b, d, 32, 32) < 1e-9, 'matching filter responds 0');
    const resp = AR_PAPER_COEFFICIENTS.map((f) => arResponse(f, d, 32, 32));
    if (resp.indexOf(Math.min(...resp)) === y) correct++;
  }
  assert.equal(correct, 60);
});

test('ar: 36x36 N(0,1) start, first two rows/cols untouched, crop keeps the last 32x32', () => {
  const b = AR_PAPER_COEFFICIENTS[4];
  const full = arPattern(b, 36, 36, 0, new Rng(77));
  const noise = new Rng(77);
  const start = Float64Array.from({ length: 3 * 36 * 36 }, () => noise.normal());
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < 36; r++) {
      for (let q = 0; q < 36; q++) {
        const j = (c * 36 + r) * 36 + q;
        if (r < 2 || q < 2) assert.equal(full[j], start[j]);
        else assert.notEqual(full[j], start[j]);
      }
    }
  }
  const cropped = arPattern(b, 32, 32, 4, new Rng(77));
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < 32; r++) for (let q = 0; q < 32; q++) assert.equal(cropped[(c * 32 + r) * 32 + q], full[(c * 36 + r + 4) * 36 + q + 4]);
  }
});

test('ar: poison rounds half up, L2 ~ 1 after quantisation; >10 classes use the seeded search', () => {
  const ds = midDataset(10, 3);
  const r = new ArAttack().poison(ds, 2);
  assert.equal(r.dataset.meta.quantization, 'round');
  assert.match(r.dataset.meta.ar_coefficients, /RANDOM_3C_AR_PARAMS_RNMR_10/);
  const g = new ArAttack().generator(ds, 2);
  for (let i = 0; i < ds.n; i++) {
    const d = gen(g, i, ds.labels[i]);
    const a = appliedDelta(ds, r.dataset, i);
    for (let p = 0; p < PIX; p++) assert.equal(a[p], Math.floor(255 * d[p] + 0.5));
  }
  assert.ok(Math.abs(r.stats.l2Mean - 1) < 0.02, `applied L2 ${r.stats.l2Mean}`);

  const sets = findArCoefficients(12, new Rng(9));
  assert.equal(sets.length, 12);
  assert.deepEqual(findArCoefficients(12, new Rng(9)), sets);
  for (const s of sets) for (const c of [0, 1, 2]) assert.equal(s[c * 9 + 8], 0);
  const big = midDataset(12, 1);
  const rb = poisonDatasetWithStats(big, 'ar', { seed: 1 });
  assert.match(rb.dataset.meta.ar_coefficients, /searched/);
  assert.throws(() => poisonDataset(big, 'ar', { seed: 1, coefficients: 'paper' }), /cover 10 classes/);
});

// ---------- all attacks ----------

for (const name of ['urp', 'lsp', 'ar'] as const) {
  test(`${name}: deterministic by seed, labels and input unchanged, provenance recorded`, () => {
    const ds = fullRangeDataset(10, 2);
    const before = ds.images.slice();
    const a = poisonDataset(ds, name, { seed: 5 });
    const b = poisonDataset(ds, name, { seed: 5 });
    const c = poisonDataset(ds, name, { seed: 6 });
    assert.deepEqual(a.images, b.images);
    assert.notDeepEqual(a.images, c.images);
    assert.deepEqual(ds.images, before, 'input images untouched');
    assert.deepEqual(a.labels, ds.labels);
    assert.notEqual(a.labels, ds.labels, 'labels copied');
    assert.deepEqual(a.classes, ds.classes);
    for (const k of ['attack', 'epsilon', 'norm', 'seed', 'linf_max', 'l2_mean', 'source', 'quantization', 'attack_params', 'bounds_checked']) {
      assert.ok(a.meta[k] !== undefined, `meta ${k}`);
    }
    assert.equal(a.meta.attack, name);
    assert.equal(a.meta.seed, '5');
    assert.equal(a.meta.source, 'test-full');
    assert.equal(a.meta.source_seed, '5');
    const st = perturbationStats(ds, a);
    assert.equal(String(st.linfMax), a.meta.linf_max);
    assert.ok(Math.abs(st.l2Mean - Number(a.meta.l2_mean)) < 1e-6);
    assert.throws(() => poisonDataset(a, name, { seed: 1 }), /already poisoned/);
    assert.doesNotThrow(() => poisonDataset(a, name, { seed: 1, allowRepoison: true }));
  });
}

test('bound check: requested bounds are enforced on the applied perturbation', () => {
  const ds = midDataset(10, 2);
  const linf8: PerturbationBound = { norm: 'linf', epsilon: 8 / 255 };
  assert.doesNotThrow(() => poisonDataset(ds, 'urp', { seed: 0, bounds: [linf8] }));
  assert.throws(() => poisonDataset(ds, 'urp', { seed: 0, bounds: [{ norm: 'linf', epsilon: 6 / 255 }] }), /exceeds the requested bound L_inf <= 6\/255/);
  assert.throws(() => poisonDataset(ds, 'lsp', { seed: 0, bounds: [linf8] }), /L_inf <= 8\/255/);
  assert.throws(() => poisonDataset(ds, 'ar', { seed: 0, bounds: [{ norm: 'l2', epsilon: 0.5 }] }), /L2 <= 0.5/);
  // A generator that breaks its own bound is caught before anything is returned.
  class Rogue extends BaseAttack {
    readonly name = 'rogue';
    readonly recipe = 'test';
    readonly bound: PerturbationBound = { norm: 'linf', epsilon: 4 / 255 };
    readonly quantization = 'round' as const;
    readonly params = {};
    generator(): PerturbationGenerator {
      return { perturbation: (_i, _y, out) => out.fill(5 / 255) };
    }
  }
  assert.throws(() => new Rogue().poison(ds, 0), /rogue attack: generated \(continuous\) perturbation exceeds the requested bound L_inf <= 4\/255/);
});

test('bound check: quantisation allowances', () => {
  assert.equal(quantizedAllowance({ norm: 'linf', epsilon: 8 / 255 }, 'floor', PIX), 8);
  assert.equal(quantizedAllowance({ norm: 'linf', epsilon: 8 / 255 }, 'round', PIX), 8);
  assert.equal(quantizedAllowance({ norm: 'linf', epsilon: 7.5 / 255 }, 'round', PIX), 8);
  assert.equal(quantizedAllowance({ norm: 'linf', epsilon: 7.5 / 255 }, 'floor', PIX), 8);
  assert.equal(quantizedAllowance({ norm: 'linf', epsilon: 7.4 / 255 }, 'round', PIX), 7);
  assert.ok(Math.abs(quantizedAllowance({ norm: 'l2', epsilon: 1 }, 'round', PIX) - (1 + (0.5 * Math.sqrt(PIX)) / 255)) < 1e-6);
  const st = { n: 1, linfMax: 9, linfMean: 9, l2Max: 1, l2Mean: 1, l2Min: 1 };
  assert.throws(() => checkBound(st, { norm: 'linf', epsilon: 8 / 255 }, 'floor', PIX, 'x'), /max L_inf is 9\/255/);
  assert.doesNotThrow(() => checkBound(st, { norm: 'l2', epsilon: 1 }, null, PIX, 'x'));
  assert.throws(() => checkBound({ ...st, l2Max: 1.001 }, { norm: 'l2', epsilon: 1 }, null, PIX, 'x'), /max L2/);
  // URP at 7.5/255: U[-7.5, 7.5) rounds half up to [-7, 7] and truncates to [-8, 7], within the allowance 8.
  const ds = midDataset(10, 1);
  assert.equal(createAttack('urp', { epsilon: 7.5 / 255, quantization: 'round' }).poison(ds, 0).stats.linfMax, 7);
  assert.equal(createAttack('urp', { epsilon: 7.5 / 255 }).poison(ds, 0).stats.linfMax, 8);
});

test('registry, option checks and parsers', () => {
  assert.deepEqual(Object.keys(ATTACKS), ['urp', 'lsp', 'ar', 'em', 'tap', 'rem', 'sep', 'efp', 'adp', 'ops', 'cuda']);
  assert.throws(() => createAttack('cuda', { blurParameter: 4 }), /cuda: the blur parameter must be in \(0, 1\]/);
  assert.throws(() => createAttack('ops', { epsilon: 8 / 255 }), /ops: has no epsilon/);
  assert.throws(() => createAttack('urp', { blurParameter: 0.3 }), /"blurParameter" does not apply to urp \(only to cuda\)/);
  assert.throws(() => createAttack('emm'), /unknown attack "emm" \(did you mean em\?\)/);
  assert.throws(() => createAttack('urp', { patchSize: 4 }), /"patchSize" does not apply to urp \(only to lsp\)/);
  assert.throws(() => createAttack('lsp', { crop: 2 }), /only to ar/);
  assert.equal(createAttack('lsp', { patchSize: 4 }).params.patch_size, 4);
  assert.equal(parseEpsilon('8/255'), 8 / 255);
  assert.equal(parseEpsilon('0.5'), 0.5);
  assert.throws(() => parseEpsilon('eight'), /cannot read epsilon/);
  assert.deepEqual(parseBound('linf:8/255'), { norm: 'linf', epsilon: 8 / 255 });
  assert.deepEqual(parseBound('L2=1'), { norm: 'l2', epsilon: 1 });
  assert.throws(() => poisonDataset(midDataset(2, 1), 'urp', { seed: -1 }), /seed must be a non-negative integer/);
});

// ---------- linear separability of the perturbations alone ----------

/** Held-out accuracy of a ridge least-squares linear classifier (dual form) trained on `train`. */
function ridgeAccuracy(X: Float64Array[], y: Int32Array, nTrain: number, k: number): number {
  const dot = (a: Float64Array, b: Float64Array): number => {
    let s = 0;
    for (let p = 0; p < a.length; p++) s += a[p] * b[p];
    return s;
  };
  const n = nTrain;
  const m = n + k;
  // Solve (G + lambda I) alpha = Y by Gauss-Jordan on [G | Y].
  const M = Array.from({ length: n }, (_, i) => {
    const row = new Float64Array(m);
    for (let j = 0; j < n; j++) row[j] = dot(X[i], X[j]) + (i === j ? 1e-3 : 0);
    row[n + y[i]] = 1;
    return row;
  });
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[piv][c])) piv = r;
    [M[c], M[piv]] = [M[piv], M[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c] / M[c][c];
      if (f !== 0) for (let j = c; j < m; j++) M[r][j] -= f * M[c][j];
    }
  }
  let ok = 0;
  for (let t = nTrain; t < X.length; t++) {
    const s = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const kv = dot(X[i], X[t]) / M[i][i];
      for (let c = 0; c < k; c++) s[c] += kv * M[i][n + c];
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (s[c] > s[best]) best = c;
    if (best === y[t]) ok++;
  }
  return ok / (X.length - nTrain);
}

test('perturbations alone are linearly separable far above chance (200 train / 200 held out)', () => {
  const shape = shapeOf(10, 400);
  const acc: Record<string, number> = {};
  for (const name of ['urp', 'lsp', 'ar'] as const) {
    const g = createAttack(name).generator(shape, 3);
    const X = Array.from({ length: 400 }, (_, i) => gen(g, i, shape.labels[i]));
    acc[name] = ridgeAccuracy(X, shape.labels, 200, 10);
  }
  // Chance is 0.1. URP and LSP are separable outright; AR is separable by its matched filters
  // (tested above) and still well above chance for a linear model on raw pixels (about 0.4).
  assert.ok(acc.urp >= 0.99, `urp ${acc.urp}`);
  assert.ok(acc.lsp >= 0.95, `lsp ${acc.lsp}`);
  assert.ok(acc.ar >= 0.25, `ar ${acc.ar}`);
});

// ---------- metrics ----------

test('psnr: identical = Infinity (or the cap), constant shift = 20 log10(255/d), per class', () => {
  const a = midDataset(3, 4);
  const same = psnr(a, a);
  assert.equal(same.mean, Infinity);
  assert.equal(same.pooled, Infinity);
  assert.equal(same.mse, 0);
  assert.equal(psnr(a, a, { cap: 100 }).mean, 100);
  const shifted = { ...a, images: a.images.map((v) => v + 2) };
  const r = psnr(a, shifted);
  const want = 20 * Math.log10(255 / 2);
  assert.ok(Math.abs(r.mean - want) < 1e-9 && Math.abs(r.pooled - want) < 1e-9, `${r.mean} vs ${want}`);
  assert.ok(Math.abs(want - 42.1102) < 1e-4);
  for (const v of r.perClass) assert.ok(Math.abs(v - want) < 1e-9);
  // Shift only class 1 by 1: its PSNR is 48.13 dB, the others are identical.
  const one = { ...a, images: a.images.slice() };
  for (let i = 0; i < a.n; i++) if (a.labels[i] === 1) for (let p = 0; p < PIX; p++) one.images[i * PIX + p] += 1;
  const pc = psnr(a, one, { cap: 99 }).perClass;
  assert.ok(Math.abs(pc[1] - 20 * Math.log10(255)) < 1e-9);
  assert.equal(pc[0], 99);
  const st = perturbationStats(a, shifted);
  assert.equal(st.linfMax, 2);
  assert.ok(Math.abs(st.l2Mean - (2 * Math.sqrt(PIX)) / 255) < 1e-12);
  assert.throws(() => psnr(a, midDataset(3, 3)), /differ in shape/);
});

test('purificationReport: a set closer to clean than the poisoned one is reported as such', () => {
  const clean = midDataset(10, 2);
  const poisoned = poisonDataset(clean, 'urp', { seed: 1 });
  // "Purified": halfway back to clean.
  const purified = { ...poisoned, images: poisoned.images.map((v, p) => Math.round((v + clean.images[p]) / 2)) };
  const rep = purificationReport(clean, poisoned, purified);
  assert.ok(rep.purifiedCloser);
  assert.ok(rep.purified.pooled > rep.poisoned.pooled);
  assert.equal(rep.fractionImagesCloser, 1);
  assert.ok(rep.purifiedPerturbation.linfMax <= 4);
});

// ---------- library side of `eclipse poison` ----------

test('poisonFile: reads, poisons, writes atomically with metadata; refuses to overwrite', async () => {
  const { dir, cleanup } = makeTempDir('eclipse-attacks-');
  try {
    const input = path.join(dir, 'clean.safetensors');
    const output = path.join(dir, 'lsp.safetensors');
    await saveDataset(midDataset(10, 2), input);
    const lines: string[] = [];
    const res = await poisonFile({ attack: 'lsp', input, output, seed: 4, log: (l) => lines.push(l) });
    assert.ok(existsSync(output));
    const back = await loadDataset(output);
    assert.deepEqual(back.images, res.result.dataset.images);
    assert.equal(back.meta.attack, 'lsp');
    assert.equal(back.meta.seed, '4');
    assert.equal(back.meta.source, 'test-mid');
    assert.match(res.summary, /poisoned 20 images with lsp/);
    assert.ok(lines.length >= 2);
    await assert.rejects(poisonFile({ attack: 'lsp', input, output, seed: 4 }), /already exists/);
    await poisonFile({ attack: 'urp', input, output, seed: 4, overwrite: true });
    assert.equal((await loadDataset(output)).meta.attack, 'urp');
    await assert.rejects(poisonFile({ attack: 'urp', input, output: input, seed: 4 }), /must differ/);
    await assert.rejects(poisonFile({ attack: 'urp', input, output: path.join(dir, 'x.safetensors'), seed: 4, patchSize: 3 }), /does not apply/);
    assert.ok(!existsSync(path.join(dir, 'x.safetensors')));
  } finally {
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
