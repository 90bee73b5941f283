import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Rng } from '../src/data/rng.js';
import {
  balancedSubset, classCounts, concat, makeDataset, splitDisjoint, subset, validateDataset, type ImageDataset,
} from '../src/data/dataset.js';
import { exportCifarBinary, loadCifar10, loadCifar10Both, CIFAR_RECORD } from '../src/data/cifar.js';
import { exportPngFolder, loadImageFolder, loadImageFolderSplits } from '../src/data/imagefolder.js';
import { loadDataset, saveDataset } from '../src/data/store.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { cropFlipAugment, cropFlipOne, randomCropFlip, toFloat } from '../src/data/augment.js';
import { batchCount, iterateBatches } from '../src/data/loader.js';
import { findCifar, makeTar, makeTempDir, syntheticDataset } from './helpers/tmp.js';

const REAL_CIFAR = findCifar().source;

// ---------- rng ----------

test('rng: matches pinned values (same on every platform) and respects ranges', () => {
  const r = new Rng(42);
  assert.deepEqual([r.uint32(), r.uint32(), r.uint32()], [1434452381, 3366381448, 2521517023]);
  assert.equal(new Rng(42, 1).int(1000), 121);
  assert.notDeepEqual(new Rng(1, 0).permutation(20), new Rng(0, 1).permutation(20));
  const g = new Rng(5);
  let s = 0;
  let s2 = 0;
  const N = 20000;
  for (let i = 0; i < N; i++) {
    const f = g.float();
    assert.ok(f >= 0 && f < 1);
    const k = g.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
    const z = g.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(s / N) < 0.05, 'normal mean ~0');
  assert.ok(Math.abs(s2 / N - 1) < 0.05, 'normal variance ~1');
  const p = new Rng(9).shuffle([0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual([...p].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
});

// ---------- dataset helpers ----------

function labelled(counts: number[], seed = 1): ImageDataset {
  const classes = counts.map((_, i) => `c${i}`);
  const labels: number[] = [];
  counts.forEach((c, k) => { for (let i = 0; i < c; i++) labels.push(k); });
  new Rng(seed).shuffle(labels);
  return makeDataset({
    images: Uint8Array.from({ length: labels.length * 3 * 2 * 2 }, (_, i) => i & 0xff),
    labels: Int32Array.from(labels), height: 2, width: 2, classes,
  });
}

test('dataset: validation catches bad labels and sizes', () => {
  const ds = syntheticDataset({ perClass: 2, height: 4, width: 4 });
  validateDataset(ds);
  assert.throws(() => validateDataset({ ...ds, labels: Int32Array.from([0, 1, 2, 3, 4, 3]) }, 'x.bin'),
    /x\.bin: invalid dataset: label 3 of image 3 is out of range \[0, 3\)/);
  assert.throws(() => validateDataset({ ...ds, images: ds.images.subarray(1) }), /expected n\*3\*H\*W/);
  assert.throws(() => validateDataset({ ...ds, classes: ['a', 'a', 'b'] }), /duplicate class/);
  assert.deepEqual(Array.from(classCounts(ds)), [2, 2, 2]);
  const sub = subset(ds, [5, 0]);
  assert.deepEqual(Array.from(sub.labels), [ds.labels[5], ds.labels[0]]);
  assert.deepEqual(sub.images.subarray(0, 48), ds.images.subarray(5 * 48, 6 * 48));
  const both = concat([ds, sub]);
  assert.equal(both.n, 8);
  assert.deepEqual(both.images.subarray(6 * 48), sub.images);
  assert.throws(() => concat([ds, { ...sub, classes: ['x', 'y', 'z'] }]), /classes/);
});

test('dataset: balanced subset and disjoint split are balanced, disjoint and seeded', () => {
  const ds = labelled([30, 25, 40]);
  const { a, b } = splitDisjoint(ds, { perClassA: 5, perClassB: 20, seed: 3 });
  assert.equal(a.length, 15);
  assert.equal(b.length, 60);
  const inA = new Set(a);
  assert.ok([...b].every((i) => !inA.has(i)), 'disjoint');
  assert.equal(new Set(b).size, b.length, 'no duplicates');
  const per = (idx: Int32Array): number[] => Array.from(classCounts(subset(ds, idx)));
  assert.deepEqual(per(a), [5, 5, 5]);
  assert.deepEqual(per(b), [20, 20, 20]);
  const again = splitDisjoint(ds, { perClassA: 5, perClassB: 20, seed: 3 });
  assert.deepEqual(again.a, a);
  assert.deepEqual(again.b, b);
  const other = splitDisjoint(ds, { perClassA: 5, perClassB: 20, seed: 4 });
  assert.notDeepEqual(other.a, a);
  assert.throws(() => splitDisjoint(ds, { perClassA: 10, perClassB: 20, seed: 3 }), /class "c1" has 25 images but 30 are needed/);

  const s1 = balancedSubset(ds, 7, 11);
  assert.deepEqual(Array.from(classCounts(s1)), [7, 7, 7]);
  assert.deepEqual(balancedSubset(ds, 7, 11).images, s1.images);
  assert.notDeepEqual(balancedSubset(ds, 7, 12).labels.join() + balancedSubset(ds, 7, 12).images.join(), s1.labels.join() + s1.images.join());
});

// ---------- CIFAR binary ----------

function cifarRecords(labels: number[], seed = 2): { buf: Uint8Array; images: Uint8Array } {
  const rng = new Rng(seed);
  const buf = new Uint8Array(labels.length * CIFAR_RECORD);
  const images = new Uint8Array(labels.length * 3072);
  labels.forEach((y, i) => {
    buf[i * CIFAR_RECORD] = y;
    for (let p = 0; p < 3072; p++) {
      const v = rng.uint32() & 0xff;
      buf[i * CIFAR_RECORD + 1 + p] = v;
      images[i * 3072 + p] = v;
    }
  });
  return { buf, images };
}

test('cifar: reads a synthetic binary file exactly; truncated / bad files are named errors', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const labels = [3, 0, 9, 9, 1, 4, 7];
  const { buf, images } = cifarRecords(labels);
  const bin = path.join(dir, 'cifar-10-batches-bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'test_batch.bin'), buf);
  const ds = await loadCifar10(dir, 'test', { recordsPerFile: 'any' });
  assert.equal(ds.n, 7);
  assert.deepEqual(Array.from(ds.labels), labels);
  assert.deepEqual(ds.images, images);
  assert.equal(ds.classes[9], 'truck');
  // The official layout expects 10,000 records per file.
  await assert.rejects(loadCifar10(dir, 'test'), /test_batch\.bin holds 7 records, expected 10000.*re-download/);
  // Truncated mid-record.
  writeFileSync(path.join(bin, 'test_batch.bin'), buf.subarray(0, buf.length - 100));
  await assert.rejects(loadCifar10(dir, 'test', { recordsPerFile: 'any' }),
    (e: Error) => e.message.includes(path.join(bin, 'test_batch.bin')) && /truncated/.test(e.message) && /re-download/.test(e.message));
  // Label out of range.
  const bad = buf.slice();
  bad[2 * CIFAR_RECORD] = 12;
  writeFileSync(path.join(bin, 'test_batch.bin'), bad);
  await assert.rejects(loadCifar10(dir, 'test', { recordsPerFile: 'any' }), /record 2 has label 12, outside 0\.\.9/);
  await assert.rejects(loadCifar10(dir, 'train', { recordsPerFile: 'any' }), /missing data_batch/);

  // Same file inside a .tar.gz.
  const tgz = path.join(dir, 'tiny.tar.gz');
  writeFileSync(tgz, makeTar([
    { name: 'cifar-10-batches-bin/batches.meta.txt', data: 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n' },
    { name: 'cifar-10-batches-bin/test_batch.bin', data: buf },
  ]));
  const fromTar = await loadCifar10(tgz, 'test', { recordsPerFile: 'any' });
  assert.deepEqual(fromTar.images, images);
  assert.deepEqual(fromTar.classes, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
});

test('cifar: export then re-read round trips with provenance', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const train = syntheticDataset({ perClass: 5, seed: 1 });
  train.meta = { source: 'synthetic', attack: 'none', epsilon: '8/255' };
  const test = syntheticDataset({ perClass: 2, seed: 2 });
  const out = path.join(dir, 'export');
  await exportCifarBinary({ train, test }, out);
  assert.deepEqual(readdirSync(out).sort(), ['batches.meta.txt', 'data_batch_1.bin', 'eclipse-cifar.json', 'test_batch.bin']);
  const both = await loadCifar10Both(out);
  assert.deepEqual(both.train.images, train.images);
  assert.deepEqual(both.train.labels, train.labels);
  assert.deepEqual(both.train.classes, train.classes);
  assert.equal(both.train.meta.attack, 'none');
  assert.deepEqual(both.test.images, test.images);
  await assert.rejects(exportCifarBinary(train, out), /already exists/);
  await assert.rejects(exportCifarBinary(train, path.join(dir, 'no', 'such')), /does not exist/);
});

test('cifar: real test_batch from the shared archive', { skip: REAL_CIFAR === null && 'CIFAR-10 not found (set ECLIPSE_CIFAR10)' }, async () => {
  const ds = await loadCifar10(REAL_CIFAR!, 'test');
  assert.equal(ds.n, 10000);
  assert.deepEqual(Array.from(classCounts(ds)), Array(10).fill(1000));
  assert.deepEqual(ds.classes, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  assert.equal(ds.images.length, 10000 * 3072);
});

// ---------- image folder ----------

function hwc(ds: ImageDataset, i: number): Buffer {
  const plane = ds.height * ds.width;
  const out = Buffer.alloc(plane * 3);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[p * 3 + c] = ds.images[i * plane * 3 + c * plane + p];
  return out;
}

async function writePngFolder(root: string, ds: ImageDataset): Promise<void> {
  for (const c of ds.classes) mkdirSync(path.join(root, c), { recursive: true });
  for (let i = 0; i < ds.n; i++) {
    const png = await sharp(hwc(ds, i), { raw: { width: ds.width, height: ds.height, channels: 3 } }).png().toBuffer();
    writeFileSync(path.join(root, ds.classes[ds.labels[i]], `img${String(i).padStart(3, '0')}.png`), png);
  }
}

/** The dataset reordered the way a folder read returns it: by class, then by file name. */
function byClassOrder(ds: ImageDataset): ImageDataset {
  const idx = Array.from({ length: ds.n }, (_, i) => i).sort((a, b) => ds.labels[a] - ds.labels[b] || a - b);
  return subset(ds, idx);
}

test('image folder: PNGs read back exactly; bad files are named errors', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const ds = syntheticDataset({ classes: ['zebra', 'ant', 'moth'], perClass: 3 });
  ds.classes = ['ant', 'moth', 'zebra']; // folders are read back alphabetically
  const root = path.join(dir, 'train');
  await writePngFolder(root, ds);
  writeFileSync(path.join(root, 'ant', 'notes.txt'), 'ignored');
  const back = await loadImageFolder(root);
  const want = byClassOrder(ds);
  assert.deepEqual(back.classes, ['ant', 'moth', 'zebra']);
  assert.deepEqual(back.labels, want.labels);
  assert.deepEqual(back.images, want.images);

  // Greyscale and RGBA inputs become 3 channels.
  const gray = Buffer.from(Array.from({ length: 32 * 32 }, (_, i) => i & 0xff));
  writeFileSync(path.join(root, 'moth', 'z-gray.png'), await sharp(gray, { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer());
  const withGray = await loadImageFolder(root);
  const gi = withGray.n - 3 - 1; // last moth image, before the 3 zebras
  const plane = 1024;
  for (let c = 0; c < 3; c++) assert.deepEqual(withGray.images.subarray(gi * 3072 + c * plane, gi * 3072 + (c + 1) * plane), Uint8Array.from(gray));

  // Corrupt file.
  writeFileSync(path.join(root, 'moth', 'broken.png'), Buffer.from('not a png at all'));
  await assert.rejects(loadImageFolder(root), (e: Error) => e.message.includes(path.join(root, 'moth', 'broken.png')) && /corrupt/.test(e.message));
  writeFileSync(path.join(root, 'moth', 'broken.png'), await sharp(Buffer.alloc(33 * 32 * 3), { raw: { width: 33, height: 32, channels: 3 } }).png().toBuffer());
  await assert.rejects(loadImageFolder(root), (e: Error) => e.message.includes('broken.png') && /33x32.*expected 32x32.*resize/.test(e.message));
  const resized = await loadImageFolder(root, { resize: 32 });
  assert.equal(resized.n, ds.n + 2);
});

test('image folder: splits need matching classes; tar.gz read equals folder read; PNG export round trips', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const train = syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 2, seed: 3 });
  const test = syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 1, seed: 4 });
  const root = path.join(dir, 'folder');
  await writePngFolder(path.join(root, 'train'), train);
  await writePngFolder(path.join(root, 'test'), test);
  const splits = await loadImageFolderSplits(root);
  assert.deepEqual(splits.train.images, byClassOrder(train).images);
  assert.deepEqual(splits.test.images, byClassOrder(test).images);

  // The same tree as a .tar.gz.
  const files: Array<{ name: string; data: Uint8Array }> = [];
  for (const split of ['train', 'test']) {
    for (const c of ['a', 'b', 'c']) {
      for (const f of readdirSync(path.join(root, split, c))) {
        files.push({ name: `${split}/${c}/${f}`, data: (await sharp(path.join(root, split, c, f)).png().toBuffer()) });
      }
    }
  }
  const tgz = path.join(dir, 'folder.tar.gz');
  writeFileSync(tgz, makeTar(files));
  const fromTar = await loadImageFolderSplits(tgz);
  assert.deepEqual(fromTar.train.images, splits.train.images);
  assert.deepEqual(fromTar.test.labels, splits.test.labels);
  const onlyTest = await loadImageFolder(tgz, { subdir: 'test' });
  assert.deepEqual(onlyTest.images, splits.test.images);
  await assert.rejects(loadImageFolder(tgz), /several folders/);

  mkdirSync(path.join(root, 'train', 'd'));
  mkdirSync(path.join(root, 'test', 'e'));
  await assert.rejects(loadImageFolderSplits(root), /missing from test: d; missing from train: e/);

  const out = path.join(dir, 'png-out');
  await exportPngFolder(train, out, { fsync: false });
  const again = await loadImageFolder(out);
  assert.deepEqual(again.images, byClassOrder(train).images);
});

// ---------- store ----------

test('store: safetensors dataset round trip; invalid labels are rejected', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const ds = syntheticDataset({ perClass: 3, height: 8, width: 6 });
  ds.meta = { source: 'synthetic', attack: 'em', epsilon: '0.0314', seed: '5' };
  const file = path.join(dir, 'ds.safetensors');
  await saveDataset(ds, file);
  const back = await loadDataset(file);
  assert.deepEqual(back.images, ds.images);
  assert.deepEqual(back.labels, ds.labels);
  assert.deepEqual(back.classes, ds.classes);
  assert.deepEqual(back.meta, ds.meta);
  assert.equal(back.height, 8);
  assert.equal(back.width, 6);
  await assert.rejects(saveDataset({ ...ds, meta: { classes: 'x' } }, file), /reserved/);
  await writeSafetensors(file, {
    images: { dtype: 'U8', shape: [1, 3, 2, 2], data: new Uint8Array(12) },
    labels: { dtype: 'I64', shape: [1], data: BigInt64Array.from([5n]) },
  }, { format: 'eclipse-dataset-v1', classes: '["a","b"]' });
  await assert.rejects(loadDataset(file), (e: Error) => e.message.includes(file) && /label 5 of image 0 is outside \[0, 2\)/.test(e.message));
});

test('store: a file that is not a dataset says what it is (dtype found, folder, empty, PNG, text, npy)', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const f = (n: string): string => path.join(dir, n);
  const meta = { format: 'eclipse-dataset-v1', classes: '["a","b"]' };
  // A PyTorch ToTensor() batch saved as is: float images in [0,1].
  await writeSafetensors(f('float.safetensors'), {
    images: { dtype: 'F32', shape: [2, 3, 2, 2], data: new Float32Array(24).fill(0.5) },
    labels: { dtype: 'I64', shape: [2], data: BigInt64Array.from([0n, 1n]) },
  }, meta);
  await assert.rejects(loadDataset(f('float.safetensors')), /float\.safetensors: not a valid eclipse dataset: tensor "images" is F32, expected U8 \(bytes 0\.\.255\); save uint8 images/);
  await writeSafetensors(f('flabels.safetensors'), {
    images: { dtype: 'U8', shape: [2, 3, 2, 2], data: new Uint8Array(24) },
    labels: { dtype: 'F32', shape: [2], data: Float32Array.from([0, 1]) },
  }, meta);
  await assert.rejects(loadDataset(f('flabels.safetensors')), /tensor "labels" is F32, expected I64/);
  await writeSafetensors(f('renamed.safetensors'), { x: { dtype: 'U8', shape: [2, 3, 2, 2], data: new Uint8Array(24) } }, meta);
  await assert.rejects(loadDataset(f('renamed.safetensors')), /tensor "images" \(U8 \[N, 3, H, W\]\) is missing \(it holds "x"\)/);
  mkdirSync(f('folder.safetensors'));
  await assert.rejects(loadDataset(f('folder.safetensors')), /folder\.safetensors is a folder, not a dataset file/);
  writeFileSync(f('empty.safetensors'), '');
  await assert.rejects(loadDataset(f('empty.safetensors')), /empty\.safetensors: the file is empty \(0 bytes\)/);
  writeFileSync(f('image.png'), await sharp(Buffer.alloc(12), { raw: { width: 2, height: 2, channels: 3 } }).png().toBuffer());
  await assert.rejects(loadDataset(f('image.png')), /image\.png: a PNG image, not a dataset; a dataset is a \.safetensors file/);
  writeFileSync(f('notes.txt'), 'label,file\n0,a.png\n');
  await assert.rejects(loadDataset(f('notes.txt')), /notes\.txt: a text file, not a dataset/);
  writeFileSync(f('x.npy'), Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]));
  await assert.rejects(loadDataset(f('x.npy')), /x\.npy: a NumPy \.npy array \(poisons are imported/);
  await assert.rejects(loadDataset(f('missing.safetensors')), /missing\.safetensors: file not found/);
});

test('eclipse data <subcommand> --help prints that subcommand\'s help; data --help prints all', () => {
  const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'eclipse.js');
  const help = (...args: string[]): string => {
    const r = spawnSync(process.execPath, [bin, 'data', ...args], { encoding: 'utf8', env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const info = help('info', '--help');
  assert.match(info, /^eclipse data info: /);
  assert.match(info, /eclipse data info FILE\.safetensors/);
  assert.doesNotMatch(info, /--poisons|--perturbations|--format/, 'no import or export options in the info help');
  const exp = help('export', '-h');
  assert.match(exp, /eclipse data export FILE\.safetensors --format png\|cifar/);
  assert.doesNotMatch(exp, /--poisons|--sparse-per-class/);
  const imp = help('import', '--help');
  assert.match(imp, /--perturbations FILE/);
  assert.doesNotMatch(imp, /data export/);
  const all = help('--help');
  for (const sub of ['import', 'info', 'export']) assert.match(all, new RegExp(`eclipse data ${sub} `));
});

// ---------- augmentation ----------

function naiveCropFlip(src: Uint8Array, H: number, W: number, pad: number, ox: number, oy: number, flip: boolean): Uint8Array {
  const out = new Uint8Array(3 * H * W);
  for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const cx = flip ? W - 1 - x : x; // flip is applied after the crop
    const sy = y + oy - pad;
    const sx = cx + ox - pad;
    out[c * H * W + y * W + x] = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[c * H * W + sy * W + sx] : 0;
  }
  return out;
}

test('augment: crop equals the shifted source with zero padding; flip mirrors', () => {
  const H = 6;
  const W = 5;
  const shape = { channels: 3, height: H, width: W };
  const src = Uint8Array.from({ length: 3 * H * W }, (_, i) => 1 + (i % 250));
  const dst = new Uint8Array(src.length);
  const pad = 4;
  for (let oy = 0; oy <= 2 * pad; oy++) for (let ox = 0; ox <= 2 * pad; ox++) for (const flip of [false, true]) {
    cropFlipOne(src, 0, dst, 0, shape, pad, ox, oy, flip);
    assert.deepEqual(dst, naiveCropFlip(src, H, W, pad, ox, oy, flip), `ox=${ox} oy=${oy} flip=${flip}`);
  }
  // Explicit checks: centre crop without flip is the identity; flip reverses rows.
  cropFlipOne(src, 0, dst, 0, shape, pad, pad, pad, false);
  assert.deepEqual(dst, src);
  cropFlipOne(src, 0, dst, 0, shape, pad, pad, pad, true);
  assert.deepEqual(Array.from(dst.subarray(0, W)), Array.from(src.subarray(0, W)).reverse());
  // Shift right by 1 (ox = pad-1): first column is zero padding.
  cropFlipOne(src, 0, dst, 0, shape, pad, pad - 1, pad, false);
  assert.equal(dst[0], 0);
  assert.equal(dst[1], src[0]);

  // Batched version is seeded and deterministic.
  const batch = new Uint8Array(4 * src.length);
  for (let i = 0; i < 4; i++) batch.set(src, i * src.length);
  const o1 = new Uint8Array(batch.length);
  const o2 = new Uint8Array(batch.length);
  randomCropFlip(batch, o1, 4, shape, new Rng(3));
  randomCropFlip(batch, o2, 4, shape, new Rng(3));
  assert.deepEqual(o1, o2);
  assert.throws(() => randomCropFlip(batch, batch, 4, shape, new Rng(3)), /overlap/);
});

test('augment: toFloat scales and normalises', () => {
  const shape = { channels: 3, height: 1, width: 2 };
  const src = Uint8Array.from([0, 255, 51, 102, 255, 0]);
  assert.deepEqual(Array.from(toFloat(src, shape)), [0, 1, 0.2, 0.4, 1, 0].map(Math.fround));
  const n = toFloat(src, shape, { mean: [0.5, 0, 0], std: [0.5, 1, 2] });
  assert.ok(Math.abs(n[0] + 1) < 1e-6 && Math.abs(n[1] - 1) < 1e-6 && Math.abs(n[4] - 0.5) < 1e-6);
});

// ---------- loader ----------

test('loader: each index exactly once per epoch, seeded order, dropLast, augmentation', () => {
  const ds = labelled([17, 20, 13]); // n = 50
  const seen = new Int32Array(ds.n);
  const orders: number[][] = [];
  let batches = 0;
  for (const b of iterateBatches(ds, { batchSize: 8, seed: 1, epoch: 0 })) {
    batches++;
    for (let j = 0; j < b.size; j++) {
      seen[b.indices[j]]++;
      assert.equal(b.labels[j], ds.labels[b.indices[j]]);
      assert.deepEqual(b.images.subarray(j * 12, (j + 1) * 12), ds.images.subarray(b.indices[j] * 12, (b.indices[j] + 1) * 12));
    }
    orders.push(Array.from(b.indices));
    assert.equal(b.images.length, b.size * 12);
  }
  assert.equal(batches, batchCount(50, 8));
  assert.ok(seen.every((c) => c === 1));
  const flat = (epoch: number, seed = 1): number[] =>
    [...iterateBatches(ds, { batchSize: 8, seed, epoch, reuseBuffers: false })].flatMap((b) => Array.from(b.indices));
  assert.deepEqual(flat(0), orders.flat());
  assert.notDeepEqual(flat(1), flat(0));
  assert.notDeepEqual(flat(0, 2), flat(0));
  const dropped = [...iterateBatches(ds, { batchSize: 8, seed: 1, dropLast: true, reuseBuffers: false })];
  assert.equal(dropped.length, 6);
  assert.ok(dropped.every((b) => b.size === 8));
  const seq = [...iterateBatches(ds, { batchSize: 50, seed: 1, shuffle: false })][0];
  assert.deepEqual(Array.from(seq.indices), Array.from({ length: 50 }, (_, i) => i));

  // With crop+flip the images change but order and labels do not.
  const big = syntheticDataset({ perClass: 4 });
  const plain = [...iterateBatches(big, { batchSize: 5, seed: 2, reuseBuffers: false })];
  const aug = [...iterateBatches(big, { batchSize: 5, seed: 2, reuseBuffers: false, augment: cropFlipAugment() })];
  assert.deepEqual(aug.map((b) => Array.from(b.indices)), plain.map((b) => Array.from(b.indices)));
  assert.ok(aug.some((b, k) => !Buffer.from(b.images).equals(Buffer.from(plain[k].images))));
});
