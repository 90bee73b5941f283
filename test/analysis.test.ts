// The assimilation analysis: MMD estimator, the paired-Gaussian KL of Theorem 1, the curves'
// monotone decrease with the noise level, the SVG figure and the files of the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

import {
  alphaBarAt, assimilation, assimilationCsv, assimilationTable, medianPairwiseSqDist, mmd2Unbiased, noisedMmd2,
  pairedGaussianKl, plotAssimilation, zeroMatrix, type Matrix, type MatrixLike, type NoisedSet,
} from '../src/analysis/index.js';
import { createAttack } from '../src/attacks/registry.js';
import { subset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';
import { saveDataset } from '../src/data/store.js';
import { namedBetas, noiseSchedule } from '../src/diffusion/schedule.js';
import { analyzeCommand } from '../src/cli/analyze.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

function randMatrix(rows: number, cols: number, rng: Rng, f: () => number = () => rng.normal()): Matrix {
  const m = zeroMatrix(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = f();
  return m;
}

/** sqrt(abar) * image + sqrt(1 - abar) * noise, in float64 (explicitly, for the direct estimator). */
function noised(s: NoisedSet, abar: number): MatrixLike {
  const a = Math.sqrt(abar);
  const b = Math.sqrt(1 - abar);
  return { rows: s.image.rows, cols: s.image.cols, data: Float64Array.from(s.image.data, (v, i) => a * v + b * s.noise.data[i]!) };
}

test('MMD^2 of a set with itself under independent noise is ~0; of clearly different sets it is > 0', () => {
  const rng = new Rng(3);
  const n = 60;
  const D = 48;
  const X = randMatrix(n, D, rng, () => 2 * rng.float() - 1);
  const shifted = zeroMatrix(n, D);
  shifted.data.set(X.data.map((v) => v + 0.6));
  const e1 = randMatrix(n, D, rng);
  const e2 = randMatrix(n, D, rng);
  const sigma2 = medianPairwiseSqDist(X);
  const abar = 0.99; // noise std 0.1
  const same = mmd2Unbiased(noised({ image: X, noise: e1 }, abar), noised({ image: X, noise: e2 }, abar), sigma2);
  const diff = mmd2Unbiased(noised({ image: X, noise: e1 }, abar), noised({ image: shifted, noise: e2 }, abar), sigma2);
  assert.ok(diff > 0.05, `different sets: MMD^2 = ${diff}`);
  assert.ok(Math.abs(same) < diff / 50, `same set, independent noise: MMD^2 = ${same} (different: ${diff})`);
  // Without noise a set has MMD^2 exactly 0 with itself.
  assert.equal(mmd2Unbiased(X, X, sigma2), 0);
  // The tiled estimator agrees and its standard error separates the two.
  const tiled = noisedMmd2([[{ image: X, noise: e1 }, { image: X, noise: e2 }], [{ image: X, noise: e1 }, { image: shifted, noise: e2 }]], [abar], sigma2);
  assert.ok(Math.abs(tiled.mmd2[0]![0]!) < 3 * tiled.se[1]![0]!);
  assert.ok(tiled.mmd2[1]![0]! > 10 * tiled.se[1]![0]!);
});

test('the tiled, level-independent MMD^2 equals the direct estimator on explicitly noised sets', () => {
  const rng = new Rng(11);
  const n = 23; // not a multiple of the tile size: edge tiles and odd rows
  const D = 31;
  const X = randMatrix(n, D, rng, () => 2 * rng.float() - 1);
  const Y1 = zeroMatrix(n, D);
  Y1.data.set(X.data.map((v) => v + 0.05 * (rng.float() - 0.5)));
  const Y2 = randMatrix(n, D, rng, () => 2 * rng.float() - 1);
  const [Ec, Ep, En] = [0, 1, 2].map(() => randMatrix(n, D, rng));
  const c: NoisedSet = { image: X, noise: Ec! };
  const pairs: [NoisedSet, NoisedSet][] = [[c, { image: Y1, noise: Ep! }], [c, { image: Y2, noise: Ep! }], [c, { image: X, noise: En! }]];
  const abars = [1, 0.999, 0.95, 0.5, 0.01];
  const sigma2 = medianPairwiseSqDist(X);
  for (const tile of [7, 64]) {
    const r = noisedMmd2(pairs, abars, sigma2, { tile });
    pairs.forEach(([u, v], p) =>
      abars.forEach((ab, l) => {
        const direct = mmd2Unbiased(noised(u, ab), noised(v, ab), sigma2);
        const got = r.mmd2[p]![l]!;
        assert.ok(Math.abs(got - direct) <= 1e-9 + 1e-7 * Math.abs(direct), `pair ${p}, abar ${ab}, tile ${tile}: ${got} vs ${direct}`);
        assert.ok(r.se[p]![l]! >= 0);
      }),
    );
  }
  // The median heuristic against a brute-force median.
  const d2: number[] = [];
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < D; k++) s += (X.data[i * D + k]! - X.data[j * D + k]!) ** 2;
      d2.push(s);
    }
  d2.sort((a, b) => a - b);
  const m = d2.length;
  const med = m % 2 ? d2[(m - 1) / 2]! : (d2[m / 2 - 1]! + d2[m / 2]!) / 2;
  assert.ok(Math.abs(medianPairwiseSqDist(X, { tile: 5 }) - med) < 1e-9 * med);
});

test('the closed-form KL of Theorem 1 matches the general Gaussian KL and a Monte Carlo estimate', () => {
  const rng = new Rng(5);
  const D = 6;
  const xp = Array.from({ length: D }, () => 2 * rng.float() - 1);
  const xc = xp.map((v) => v + 0.3 * rng.normal());
  for (const abar of [0.999, 0.9, 0.5]) {
    const closed = pairedGaussianKl(xp, xc, abar);
    // KL(N(mp, vp I) || N(mq, vq I)) = sum_k [log(sq/sp) + (vp + (mp - mq)^2) / (2 vq) - 1/2].
    const a = Math.sqrt(abar);
    const v = 1 - abar;
    let general = 0;
    for (let k = 0; k < D; k++) general += Math.log(Math.sqrt(v) / Math.sqrt(v)) + (v + (a * xp[k]! - a * xc[k]!) ** 2) / (2 * v) - 0.5;
    assert.ok(Math.abs(closed - general) < 1e-9 * Math.max(1, general), `abar ${abar}: ${closed} vs ${general}`);
    // Monte Carlo: E_{z ~ P}[log P(z) - log Q(z)].
    const S = 40_000;
    let acc = 0;
    for (let s = 0; s < S; s++) {
      let lp = 0;
      let lq = 0;
      for (let k = 0; k < D; k++) {
        const z = a * xp[k]! + Math.sqrt(v) * rng.normal();
        lp -= (z - a * xp[k]!) ** 2 / (2 * v);
        lq -= (z - a * xc[k]!) ** 2 / (2 * v);
      }
      acc += lp - lq;
    }
    const mc = acc / S;
    const tol = 4 * Math.sqrt((2 * closed) / S) + 1e-3; // Var(log P/Q) = 2 KL for equal isotropic covariances
    assert.ok(Math.abs(mc - closed) < tol, `abar ${abar}: Monte Carlo ${mc} vs closed form ${closed}`);
  }
  assert.equal(pairedGaussianKl([1, 2], [1, 2], 1), 0);
  assert.equal(pairedGaussianKl([1, 2], [1, 2.5], 1), Infinity);
});

test('on a small set, MMD^2, KL and PNR fall monotonically with the noise level for every attack', () => {
  // Low-contrast synthetic images (112..143): every poison is large against the clean spread, so
  // the MMD is far above its sampling error at every level.
  const clean = syntheticDataset({ perClass: 8, seed: 31 });
  clean.images = clean.images.map((v) => 112 + (v & 31));
  const steps = [0, 50, 150, 400, 1000];
  const r = assimilation(clean, ['urp', 'lsp', 'ar'], { steps, n: 24, seed: 1 });
  assert.deepEqual(r.levels.map((l) => l.t), [0, 50, 100, 150, 400, 1000], 't* = 100 is added');
  for (const a of r.attacks) {
    for (let i = 1; i < r.levels.length; i++) {
      assert.ok(a.mmd2[i]! < a.mmd2[i - 1]!, `${a.attack}: MMD^2 ${a.mmd2.join(', ')} not decreasing at t=${r.levels[i]!.t}`);
      if (i >= 2) {
        assert.ok(a.kl[i]! < a.kl[i - 1]!, `${a.attack}: KL ${a.kl.join(', ')}`);
        assert.ok(a.pnr[i]! < a.pnr[i - 1]!, `${a.attack}: PNR ${a.pnr.join(', ')}`);
      }
    }
    assert.ok(a.mmd2[0]! > 2 * a.mmd2Se[0]!, `${a.attack}: MMD^2 at t = 0 = ${a.mmd2[0]} +- ${a.mmd2Se[0]} is clearly positive`);
    assert.equal(a.mmd2[0], a.mmd2Plain[0], 'no noise: the control variate is 0');
    assert.equal(a.kl[0], null);
    assert.equal(a.pnr[0], null);
  }
  assert.equal(r.nullMmd2[0], 0);
  assert.match(assimilationTable(r), /^ {2}100\* /m);
  assert.equal(assimilationCsv(r).trim().split('\n').length, 1 + 3 * r.levels.length);
});

test('the reported KL, PNR and perturbation sizes match a direct computation on the same images', () => {
  const clean = syntheticDataset({ perClass: 10, seed: 21 });
  const r = assimilation(clean, ['urp', 'lsp', 'ar'], { steps: [0, 25, 100, 400], n: 20, seed: 2 });
  const ac = noiseSchedule(namedBetas('cosine', 4000)).alphasCumprod;
  assert.ok(Math.abs(r.levels[2]!.alphaBar - 0.99751) < 1e-5, 'paper step 100 uses alphasCumprod[99]');
  assert.equal(r.levels[0]!.alphaBar, 1);
  assert.equal(alphaBarAt(ac, 400), ac[399]);
  assert.equal(r.levels[3]!.alphaBar, ac[399]);
  assert.equal(r.indices.length, 20);
  assert.ok(r.indices.every((v, i) => i === 0 || v > r.indices[i - 1]!));
  const sub = subset(clean, r.indices);
  const D = 3 * 32 * 32;
  for (const a of r.attacks) {
    const pois = createAttack(a.attack).poison(sub, 2).dataset;
    for (const i of [1, 2, 3]) {
      const { alphaBar, noiseStd } = r.levels[i]!;
      let kl = 0;
      let l2 = 0;
      for (let k = 0; k < sub.n; k++) {
        const xc = Array.from(sub.images.subarray(k * D, (k + 1) * D), (v) => v / 127.5 - 1);
        const xp = Array.from(pois.images.subarray(k * D, (k + 1) * D), (v) => v / 127.5 - 1);
        kl += pairedGaussianKl(xp, xc, alphaBar);
        l2 += Math.sqrt(xp.reduce((s, v, j) => s + (v - xc[j]!) ** 2, 0));
      }
      kl /= sub.n;
      l2 /= sub.n;
      assert.ok(Math.abs(a.kl[i]! - kl) < 1e-9 * kl, `${a.attack}: KL ${a.kl[i]} vs direct ${kl}`);
      assert.ok(Math.abs(a.pnr[i]! - l2 / (noiseStd * Math.sqrt(D))) < 1e-9, `${a.attack}: PNR`);
      assert.ok(Math.abs(a.delta.l2Mean - l2) < 1e-9);
    }
    // [-1,1] units are twice the [0,1] units of the attack's own statistics.
    assert.ok(Math.abs(a.delta.l2Mean - 2 * a.stats.l2Mean) < 1e-6, `${a.attack}: ${a.delta.l2Mean} vs 2 x ${a.stats.l2Mean}`);
  }
  assert.throws(() => assimilation(clean, ['urp'], { steps: [0, 5000], n: 10, seed: 0 }), /steps must be integers in \[0, 4000\]/);
  assert.throws(() => assimilation(clean, ['urp'], { steps: [0], n: 500, seed: 0 }), /only 30/);
  assert.throws(() => assimilation(createAttack('urp').poison(clean, 0).dataset, ['urp'], { steps: [0], n: 10, seed: 0 }), /already poisoned/);
});

test('the figure is valid SVG with one path per attack in each panel, a t* marker, and renders to PNG', async () => {
  const clean = syntheticDataset({ perClass: 6, seed: 4 });
  const r = assimilation(clean, ['urp', 'ar'], { steps: [0, 50, 200], n: 12, seed: 0 });
  assert.deepEqual(r.levels.map((l) => l.t), [0, 50, 100, 200], 't* is added to the steps');
  const svg = plotAssimilation(r);
  assert.match(svg, /^<\?xml[^>]*\?>\s*<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\s*$/);
  // Tags balance (a cheap well-formedness check; sharp below parses it fully).
  const open = [...svg.matchAll(/<([a-zA-Z]+)[^>]*?(\/?)>/g)].filter((m) => m[2] !== '/').map((m) => m[1]);
  const close = [...svg.matchAll(/<\/([a-zA-Z]+)>/g)].map((m) => m[1]);
  assert.deepEqual(open.sort(), close.sort());
  const panels = svg.split('<g class="panel"').slice(1);
  assert.equal(panels.length, 3);
  for (const p of panels) {
    for (const a of ['urp', 'ar']) assert.equal(p.split(`data-attack="${a}"`).length - 1, 1, `one ${a} path per panel`);
    assert.match(p, /t\* = 100/);
  }
  assert.equal(svg.split('<path').length - 1, 2 * 3, 'two attacks x three panels');
  const meta = await sharp(Buffer.from(svg)).metadata();
  assert.equal(meta.format, 'svg');
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  assert.ok(png.length > 1000);
});

test('analyze assimilation writes json, csv, svg and png, and explains a missing data import', async () => {
  const tmp = makeTempDir();
  const log = console.log;
  const lines: string[] = [];
  try {
    const file = join(tmp.dir, 'clean.safetensors');
    await saveDataset(syntheticDataset({ perClass: 6, seed: 9 }), file);
    const out = join(tmp.dir, 'out');
    console.log = (m: unknown) => void lines.push(String(m));
    await analyzeCommand(['assimilation', '--in', file, '--images', '10', '--steps', '0,50,200', '--attacks', 'urp,lsp', '--out', out, '--quiet']);
    console.log = log;
    for (const f of ['assimilation.json', 'assimilation.csv', 'assimilation.svg', 'assimilation.png']) assert.ok(existsSync(join(out, f)), f);
    const json = JSON.parse(readFileSync(join(out, 'assimilation.json'), 'utf8'));
    assert.equal(json.format, 'eclipse-assimilation-v1');
    assert.deepEqual(json.attacks.map((a: { attack: string }) => a.attack), ['urp', 'lsp']);
    assert.equal(json.attacks[0].kl[0], null);
    assert.equal((await sharp(join(out, 'assimilation.png')).metadata()).format, 'png');
    assert.match(lines.join('\n'), /squared MMD/);
    const cwd = process.cwd();
    process.chdir(tmp.dir);
    try {
      await assert.rejects(analyzeCommand(['assimilation', '--profile', 'smoke', '--quiet']), /eclipse data import --profile smoke/);
      await assert.rejects(analyzeCommand(['assimilation', '--in', file, '--attacks', 'urp,bogus']), /unknown attack "bogus"/);
    } finally {
      process.chdir(cwd);
    }
  } finally {
    console.log = log;
    tmp.cleanup();
  }
});
