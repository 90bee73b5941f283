// Beyond the paper (issue 29): the OPS and CUDA attacks on real CIFAR-10 images (what each writes,
// checked image by image; the stated measure in the metadata; determinism), SSIM against a second
// computation through libtorch's convolution, and the COIN defence's resampling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { createAttack } from '../src/attacks/index.js';
import { pixelSearch } from '../src/attacks/ops.js';
import { balancedSubset, makeDataset, type ImageDataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';
import { loadDataset, saveDataset } from '../src/data/store.js';
import { F, Generator, noGrad, tidy } from '../src/engine/index.js';
import { createClassifier } from '../src/nn/models/index.js';
import { DETECTOR_RECIPES, VALIDATION_SHARE, detectPoison, detectorSplit, type DetectorName, type DetectorRecipe } from '../src/scan/simple-networks.js';
import { ssim, ssimPlane } from '../src/metrics/ssim.js';
import { coinAlpha, coinTransform, coinWarp } from '../src/defenses/baselines/coin.js';
import { createDefense } from '../src/defenses/registry.js';
import { findCifar, makeTempDir, realCifarSubset } from './helpers/tmp.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const tmp = makeTempDir('eclipse-beyond-');
test.after(() => tmp.cleanup());

/** 30 real test-split images per class, or null (the test skips, naming why). */
const realImages = (): Promise<ImageDataset | null> => realCifarSubset(30, 7);

test('ops: every image of a class differs from clean in exactly its class\'s pixel, set to a corner colour; no two classes share one; seed-independent', async (t) => {
  const clean = await realImages();
  if (!clean) return t.skip(findCifar().why);
  const r = createAttack('ops').poison(clean, 0);
  const pixels = JSON.parse(r.dataset.meta.ops_pixels!) as { class: string; row: number; col: number; colour: number[] }[];
  assert.equal(pixels.length, 10);
  assert.equal(new Set(pixels.map((q) => `${q.row},${q.col},${q.colour.join(',')}`)).size, 10, 'distinct (position, colour) per class');
  const P = 32 * 32;
  for (let i = 0; i < clean.n; i++) {
    const q: { row: number; col: number; colour: number[] } = pixels[clean.labels[i]!]!;
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < P; p++) {
        const j = i * 3 * P + c * P + p;
        if (p === q.row * 32 + q.col) assert.equal(r.dataset.images[j], q.colour[c], `image ${i} channel ${c}: the class's colour`);
        else assert.equal(r.dataset.images[j], clean.images[j], `image ${i}: only the one pixel changes`);
      }
  }
  assert.equal(r.dataset.meta.l0_pixels, '1');
  // no randomness: another seed gives the same pixels
  assert.deepEqual(createAttack('ops').poison(clean, 3).dataset.images, r.dataset.images);
});

test('ops: the search takes the pixel and colour farthest from the class, steadily (mean/std), and skips a pair another class took', () => {
  // random images, except that at (2, 3) every image of class 0 and class 1 is black: white there is
  // at distance 1 from all of them (std 0), the best a pair can score; class 1 cannot take it again
  const rng = new Rng(5);
  const n = 40;
  const P = 8 * 8;
  const images = Uint8Array.from({ length: n * 3 * P }, () => 40 + rng.int(176));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) images[i * 3 * P + c * P + 2 * 8 + 3] = 0;
  const found = pixelSearch({ images, labels, n, height: 8, width: 8, classes: ['a', 'b'] });
  assert.deepEqual([found[0]!.row, found[0]!.col, [...found[0]!.colour]], [2, 3, [1, 1, 1]]);
  assert.equal(found[0]!.score, Infinity);
  assert.notDeepEqual([found[1]!.row, found[1]!.col, [...found[1]!.colour]], [2, 3, [1, 1, 1]]);
});

test('cuda: each image is its class\'s filter applied (libtorch\'s depthwise convolution), divided by its maximum, truncated; filters, PSNR and SSIM recorded', async (t) => {
  const clean = await realImages();
  if (!clean) return t.skip(findCifar().why);
  const r = createAttack('cuda', { blurParameter: 0.3 }).poison(clean, 11);
  const filters = JSON.parse(r.dataset.meta.cuda_filters!) as number[][];
  assert.equal(filters.length, 10);
  for (const f of filters) {
    assert.equal(f.length, 9);
    assert.equal(f.filter((v) => v === 1).length, 1, 'one weight is the centre parameter 1');
    assert.ok(f.every((v) => v === 1 || (v >= 0 && v < 0.3)), f.join());
  }
  // the same images through libtorch: conv2d with the class's filter on every channel
  const per = 3 * 32 * 32;
  for (const i of [0, 1, 2, 17, 299]) {
    const expected = tidy(() =>
      noGrad(() => {
        const x = F.tensor(Float32Array.from(clean.images.subarray(i * per, (i + 1) * per), (v) => v / 255), [1, 3, 32, 32]);
        const w = F.tensor(Float32Array.from([...filters[clean.labels[i]!]!, ...filters[clean.labels[i]!]!, ...filters[clean.labels[i]!]!]), [3, 1, 3, 3]);
        const y = F.conv2d(x, w, null, { padding: 1, groups: 3 });
        return y.div(y.amax().item()).mul(255).data() as Float32Array;
      }),
    );
    let worst = 0;
    for (let j = 0; j < per; j++) {
      const got = r.dataset.images[i * per + j]!;
      // truncation of a value within float32 rounding of an integer may land either side
      const d = Math.abs(got - Math.floor(expected[j]! + 1e-4));
      if (d > worst) worst = d;
    }
    assert.ok(worst <= 1, `image ${i}: off by ${worst}`);
  }
  const psnr = Number(r.dataset.meta.psnr_mean);
  const s = Number(r.dataset.meta.ssim_mean);
  assert.ok(psnr > 5 && psnr < 40, `PSNR ${psnr}`);
  assert.ok(s > 0 && s < 1, `SSIM ${s}`);
  // the key decides the filters: the same seed again is the same poison, another seed another one
  assert.deepEqual(createAttack('cuda', { blurParameter: 0.3 }).poison(clean, 11).dataset.images, r.dataset.images);
  assert.notDeepEqual(JSON.parse(createAttack('cuda', { blurParameter: 0.3 }).poison(clean, 12).dataset.meta.cuda_filters!), filters);
});

test('ssim: 1 for identical images, and equal to the Gaussian-window formula computed through libtorch', () => {
  const rng = new Rng(9);
  const n = 2;
  const per = 3 * 16 * 16;
  const a = { images: Uint8Array.from({ length: n * per }, () => rng.int(256)), labels: Int32Array.from([0, 1]), n, channels: 3, height: 16, width: 16, classes: ['x', 'y'], meta: {} } as ImageDataset;
  const b = { ...a, images: Uint8Array.from(a.images, (v) => Math.min(255, Math.max(0, v + rng.int(41) - 20))) } as ImageDataset;
  assert.equal(ssim(a, a).mean, 1);
  // the same SSIM through convolutions: the 11x11 Gaussian (sigma 1.5) as a conv2d kernel, valid region
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
  const gs = g.reduce((x, y) => x + y, 0);
  const win = Float32Array.from({ length: 121 }, (_, k) => (g[Math.floor(k / 11)]! / gs) * (g[k % 11]! / gs));
  for (const [i, c] of [[0, 0], [1, 2]] as const) {
    const plane = (d: ImageDataset): Float64Array => Float64Array.from(d.images.subarray(i * per + c * 256, i * per + (c + 1) * 256));
    const torchSsim = tidy(() =>
      noGrad(() => {
        const x = F.tensor(Float64Array.from(plane(a)), [1, 1, 16, 16]).to('float64');
        const y = F.tensor(Float64Array.from(plane(b)), [1, 1, 16, 16]).to('float64');
        const w = F.tensor(win, [1, 1, 11, 11]).to('float64');
        const blur = (t: ReturnType<typeof F.tensor>) => F.conv2d(t, w);
        const [mx, my] = [blur(x), blur(y)];
        const vx = blur(x.mul(x)).sub(mx.mul(mx));
        const vy = blur(y.mul(y)).sub(my.mul(my));
        const cxy = blur(x.mul(y)).sub(mx.mul(my));
        const C1 = (0.01 * 255) ** 2;
        const C2 = (0.03 * 255) ** 2;
        const map = mx.mul(my).mul(2).add(C1).mul(cxy.mul(2).add(C2)).div(mx.mul(mx).add(my.mul(my)).add(C1).mul(vx.add(vy).add(C2)));
        return map.mean().item();
      }),
    );
    const ours = ssimPlane(a.images, i * per + c * 256, b.images, i * per + c * 256, 16, 16);
    assert.ok(Math.abs(ours - torchSsim) < 1e-5, `image ${i} channel ${c}: ${ours} vs ${torchSsim}`);
    assert.ok(ours > 0 && ours < 1);
  }
});

test('eclipse poison --list names OPS and CUDA; --attack cuda writes its file; a bad blur parameter is one clear line', async (t) => {
  const list = spawnSync(process.execPath, [bin, 'poison', '--list'], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /^\s*ops\b.*one-pixel shortcut/m);
  assert.match(list.stdout, /^\s*cuda\b.*convolution-based/m);
  const bad = spawnSync(process.execPath, [bin, 'poison', '--attack', 'cuda', '--blur-parameter', '2'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--blur-parameter/);
  const clean = await realImages();
  if (!clean) return t.skip(findCifar().why);
  const input = join(tmp.dir, 'clean.safetensors');
  const out = join(tmp.dir, 'cuda.safetensors');
  await saveDataset(clean, input);
  const r = spawnSync(process.execPath, [bin, 'poison', '--attack', 'cuda', '--in', input, '--out', out, '--seed', '4', '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const written = await loadDataset(out);
  assert.equal(written.meta.attack, 'cuda');
  assert.ok(written.meta.cuda_filters && written.meta.ssim_mean && written.meta.makeup_l2, Object.keys(written.meta).join());
});

test('coin: bilinear resampling at displaced coordinates, wrapped as map_coordinates(mode=wrap), truncated to bytes', () => {
  // one channel, 3 x 4: values 10 * row + col
  const H = 3;
  const W = 4;
  const img = Uint8Array.from({ length: H * W }, (_, p) => 10 * Math.floor(p / W) + (p % W));
  const dx = new Float64Array(H * W);
  const dy = new Float64Array(H * W);
  dx[0] = 0.5; // (0, 0) from (0, 0.5): halfway between 0 and 1 -> 0.5 -> 0
  dy[5] = 0.25; // (1, 1) from (1.25, 1): 11 + 0.25 * 10 = 13.5 -> 13
  dx[3] = 0.5; // (0, 3) from (0, 3.5): wraps with period W - 1 = 3 to 0.5 -> 0.5 -> 0
  dx[4] = -0.5; // (1, 0) from (1, -0.5): wraps to 2.5 -> 12.5 -> 12
  dy[11] = 1; // (2, 3) from (3, 3): wraps with period H - 1 = 2 to (1, 3) -> 13
  const out = Uint8Array.from(img);
  coinWarp(out, 0, 1, H, W, dx, dy, new Float64Array(H * W));
  const expected = Uint8Array.from(img);
  expected[0] = 0;
  expected[5] = 13;
  expected[3] = 0;
  expected[4] = 12;
  expected[11] = 13;
  assert.deepEqual([...out], [...expected]);
  // no displacement: every byte kept exactly
  const same = Uint8Array.from(img);
  coinWarp(same, 0, 1, H, W, new Float64Array(H * W), new Float64Array(H * W), new Float64Array(H * W));
  assert.deepEqual([...same], [...img]);
});

test('coin: a flat image stays flat, every output byte lies within the values alpha pixels around it, and the draws follow the generator', () => {
  const shape = { channels: 3, height: 16, width: 16 };
  const per = 3 * 16 * 16;
  const flat = new Uint8Array(2 * per).fill(77);
  coinTransform(4).apply(flat, 2, shape, new Rng(1));
  assert.ok(flat.every((v) => v === 77 || v === 76), 'bilinear weights sum to 1 (a hair below 77 truncates to 76)');
  const rng = new Rng(3);
  const img = Uint8Array.from({ length: per }, () => rng.int(256));
  const a = Uint8Array.from(img);
  const b = Uint8Array.from(img);
  coinTransform(4).apply(a, 1, shape, new Rng(8));
  coinTransform(4).apply(b, 1, shape, new Rng(8));
  assert.deepEqual(a, b, 'same generator, same field');
  assert.notDeepEqual(a, img, 'the image moved');
  const alpha = coinAlpha(4);
  assert.equal(alpha, 2);
  const r = Math.ceil(alpha) + 1;
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) {
        let lo = 255;
        let hi = 0;
        // wrapped with period 15, where row (column) 15 meets row 0: both count as neighbours
        const near = (k: number): number[] => {
          const w = ((k % 15) + 15) % 15;
          return w === 0 ? [0, 15] : [w];
        };
        for (let yy = y - r; yy <= y + r; yy++)
          for (let xx = x - r; xx <= x + r; xx++)
            for (const py of near(yy))
              for (const px of near(xx)) {
                const v = img[c * 256 + py * 16 + px]!;
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
              }
        const v = a[c * 256 + y * 16 + x]!;
        assert.ok(v >= lo - 1 && v <= hi, `(${c}, ${y}, ${x}): ${v} outside [${lo}, ${hi}]`);
      }
  assert.throws(() => createDefense('coin', { settings: { severity: 8 } }), /severity/);
});

/**
 * A poison folder in APBench's layout (poisons_generate.py export_poison): DIR/data/<index>.png, one
 * RGB PNG per training image, named by its index, no labels. Written here with sharp as APBench
 * writes it with PIL (the poisoned image as bytes, PNG, nothing else in the folder).
 */
async function writeApbenchFolder(dir: string, images: Uint8Array, n: number, skip?: number): Promise<void> {
  const { mkdirSync } = await import('node:fs');
  const sharp = (await import('sharp')).default;
  mkdirSync(join(dir, 'data'), { recursive: true });
  const P = 32 * 32;
  for (let i = 0; i < n; i++) {
    if (i === skip) continue;
    const hwc = Buffer.alloc(P * 3);
    for (let p = 0; p < P; p++) for (let c = 0; c < 3; c++) hwc[p * 3 + c] = images[i * 3 * P + c * P + p]!;
    await sharp(hwc, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(dir, 'data', `${i}.png`));
  }
}

test('eclipse data import --poisons DIR reads an APBench poison folder (indexed PNGs, labels from the clean set); a missing index is one clear line', async (t) => {
  const clean = await realImages();
  if (!clean) return t.skip(findCifar().why);
  const small = balancedSubset(clean, 3, 1);
  const poisoned = createAttack('urp').poison(small, 5).dataset;
  const cleanFile = join(tmp.dir, 'ap-clean.safetensors');
  await saveDataset(small, cleanFile);
  const dir = join(tmp.dir, 'urp_poisons', 'c10');
  await writeApbenchFolder(dir, poisoned.images, small.n);
  const out = join(tmp.dir, 'ap.safetensors');
  const r = spawnSync(process.execPath, [bin, 'data', 'import', '--poisons', dir, '--clean', cleanFile, '--out', out, '--eps', '8/255', '--norm', 'linf'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = await loadDataset(out);
  assert.deepEqual(got.images, poisoned.images, 'the pixels, in index order');
  assert.deepEqual(got.labels, small.labels, "the clean set's labels");
  assert.match(got.meta.import_layout ?? '', /NHWC/);
  // an incomplete folder: the missing file is named
  const holey = join(tmp.dir, 'holey');
  await writeApbenchFolder(holey, poisoned.images, small.n, 7);
  const bad = spawnSync(process.execPath, [bin, 'data', 'import', '--poisons', holey, '--clean', cleanFile, '--out', join(tmp.dir, 'h.safetensors')], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /holey\/data\/7\.png is missing \(APBench writes one PNG per training image/);
  assert.ok(!existsSync(join(tmp.dir, 'h.safetensors')), 'nothing written');
});

// ---------------------------------------------------------------------------
// The published detector of Zhu et al. (AAAI 2024): simple networks and the bias-shifting test

/** 100 real test-split images per class: a one-pixel shortcut needs more than a few dozen per class to generalise. */
const detectorImages = (): Promise<ImageDataset | null> => realCifarSubset(100, 11);

const quickLinear = (): DetectorRecipe => ({ ...DETECTOR_RECIPES['simple-linear'].mini, classifier: { ...DETECTOR_RECIPES['simple-linear'].mini.classifier, epochs: 40, milestones: [30, 36] } });

test('simple-linear detector: flags OPS and URP on real images, passes the clean images (accuracy on the held-out 20%, bound 0.7)', async (t) => {
  const clean = await detectorImages();
  if (!clean) return t.skip(findCifar().why);
  const recipe = quickLinear();
  const c = await detectPoison(clean, 'simple-linear', { recipe, quiet: true });
  assert.equal(c.verdict, 'clean', `clean validation accuracy ${c.validationAcc}`);
  assert.ok(c.validationAcc < 0.5 && c.validationAcc > 0.1, `a linear model on 800 clean images generalises a little: ${c.validationAcc}`);
  for (const a of ['ops', 'urp']) {
    const r = await detectPoison(createAttack(a).poison(clean, 0).dataset, 'simple-linear', { recipe, quiet: true });
    assert.equal(r.verdict, 'poisoned', `${a}: validation accuracy ${r.validationAcc}`);
    assert.ok(r.validationAcc > c.validationAcc + 0.3, `${a}: ${r.validationAcc} well above clean ${c.validationAcc}`);
  }
});

test('detector split: 80/20, disjoint, seeded; recipes are the published ones; bad input is refused', async () => {
  // image i is marked by its first byte
  const ds = makeDataset({ images: Uint8Array.from({ length: 50 * 48 }, (_, j) => (j % 48 === 0 ? j / 48 : 0)), labels: Int32Array.from({ length: 50 }, (_, i) => i % 2), classes: ['a', 'b'], height: 4, width: 4 });
  const ids = (d: ImageDataset): number[] => Array.from({ length: d.n }, (_, i) => d.images[i * 48]!);
  const s = detectorSplit(ds, VALIDATION_SHARE, 3);
  assert.equal(s.train.n, 40);
  assert.equal(s.validation.n, 10);
  assert.deepEqual([...ids(s.train), ...ids(s.validation)].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i), 'disjoint and complete');
  assert.deepEqual(ids(detectorSplit(ds, VALIDATION_SHARE, 3).validation), ids(s.validation), 'seeded');
  assert.notDeepEqual(ids(detectorSplit(ds, VALIDATION_SHARE, 4).validation), ids(s.validation), 'another seed, another split');
  const p = DETECTOR_RECIPES['simple-2nn'].published;
  assert.deepEqual([p.classifier.model, p.classifier.width, p.classifier.epochs, p.classifier.lr, p.classifier.batchSize, p.classifier.milestones, p.bound], ['mlp2', 64, 100, 0.01, 128, [75, 90], 0.7]);
  assert.equal(DETECTOR_RECIPES['bias-shift'].published.shift, 0.5);
  assert.equal(DETECTOR_RECIPES['simple-linear'].published.classifier.crop, false);
  assert.throws(() => detectorSplit(ds, 0.001, 0), /50 images with a 0.001 validation share leave 50 and 0/);
  await assert.rejects(detectPoison(ds, 'simple-cnn' as DetectorName), /unknown detector "simple-cnn" \(choose one of simple-linear, simple-2nn, bias-shift\)/);
});

test('simple networks: a two-layer net is linear1 -> ReLU -> linear2 on the flattened pixels, hidden as wide as the input at width 64', () => {
  const m = createClassifier('mlp2', { width: 64, imageShape: [3, 4, 4], numClasses: 3, generator: new Generator(2) });
  const l = createClassifier('linear', { imageShape: [3, 4, 4], numClasses: 3, generator: new Generator(2) });
  try {
    assert.deepEqual(m.namedParameters().map(([n, p]) => [n, p.shape]), [['linear1.weight', [48, 48]], ['linear1.bias', [48]], ['linear2.weight', [3, 48]], ['linear2.bias', [3]]]);
    assert.deepEqual(l.namedParameters().map(([n, p]) => [n, p.shape]), [['linear.weight', [3, 48]], ['linear.bias', [3]]]);
    tidy(() => {
      const x = F.randn([2, 3, 4, 4], { generator: new Generator(5) });
      const [w1, b1, w2, b2] = m.parameters();
      const want = F.linear(F.linear(x.reshape(2, 48), w1!, b1!).relu(), w2!, b2!);
      assert.ok(noGrad(() => m.forward(x).sub(want).abs().amax().item()) < 1e-6);
    });
  } finally {
    m.dispose();
    l.dispose();
  }
});

test('eclipse scan --detector simple-linear: one verdict line, a JSON result, and --pool refused with the fix', async (t) => {
  const clean = await detectorImages();
  if (!clean) return t.skip(findCifar().why);
  const file = join(tmp.dir, 'ops-scan.safetensors');
  await saveDataset(createAttack('ops').poison(clean, 0).dataset, file);
  const out = join(tmp.dir, 'ops-detect');
  const r = spawnSync(process.execPath, [bin, 'scan', file, '--detector', 'simple-linear', '--out', out, '--quiet', '--threads', '1'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /verdict: poisoned \(simple-linear, mini recipe: validation accuracy [0-9.]+% against the bound 70%\)/);
  const json = JSON.parse(readFileSync(join(out, 'simple-linear.json'), 'utf8')) as { verdict: string; validationAcc: number };
  assert.equal(json.verdict, 'poisoned');
  const bad = spawnSync(process.execPath, [bin, 'scan', file, '--detector', 'simple-linear', '--pool', file], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--pool is the scan's; the simple-linear detector uses DATA alone/);
  const typo = spawnSync(process.execPath, [bin, 'scan', file, '--detector', 'simple-lin'], { encoding: 'utf8', timeout: 60_000 });
  assert.match(typo.stderr, /must be one of scan, simple-linear, simple-2nn, bias-shift/);
});
