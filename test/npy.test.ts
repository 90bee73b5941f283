// Poisons made elsewhere: NumPy .npy/.npz files written by the real numpy (Debian's python3),
// read by our own parser, and imported as poisoned datasets with provenance; plus image folders
// of any size read with the resize option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';

import { elementAt, openNpz, parseNpy, readNpz, type NdArray } from '../src/io/npy.js';
import { NoLabelsError, checkBoundRange, importPoisons } from '../src/attacks/imported.js';
import { ImageSizeError, loadImageFolder } from '../src/data/imagefolder.js';
import { loadCifar10 } from '../src/data/cifar.js';
import { loadDataset, saveDataset } from '../src/data/store.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { subset, type ImageDataset } from '../src/data/dataset.js';
import { findCifar, makeTempDir, syntheticDataset } from './helpers/tmp.js';
import { bytesOf, npyBytes, zeroBomb, zipBytes } from './helpers/npy.js';

const PYTHON = '/usr/bin/python3';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'eclipse.js');

/** Why numpy cannot be used here, or '' when it can. */
const noNumpy: string = (() => {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' });
  return r.status === 0 ? '' : `numpy is not importable by ${PYTHON}: ${r.stderr.trim().split('\n').pop() ?? ''}`;
})();

/** Run numpy code with `np` imported, `d` the temp dir, and `img(n,h,w)` the test pattern (NHWC uint8). */
function py(dir: string, code: string): void {
  const prelude = [
    'import numpy as np, sys',
    `d = ${JSON.stringify(dir)}`,
    'def img(n, h, w):',
    '    i = np.arange(n).reshape(n, 1, 1, 1); y = np.arange(h).reshape(1, h, 1, 1)',
    '    x = np.arange(w).reshape(1, 1, w, 1); c = np.arange(3).reshape(1, 1, 1, 3)',
    '    return ((i * 7 + y * 5 + x * 3 + c * 11) % 256).astype(np.uint8)',
    'def pert(n, h, w):',
    '    i = np.arange(n).reshape(n, 1, 1, 1); y = np.arange(h).reshape(1, h, 1, 1)',
    '    x = np.arange(w).reshape(1, 1, w, 1); c = np.arange(3).reshape(1, 1, 1, 3)',
    '    return ((i + y + x + c) % 5 - 2)',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', `${prelude}\n${code}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `python failed: ${r.stderr}`);
}

/** The same patterns on our side, planar CHW. */
function pattern(n: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(n * 3 * h * w);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[((i * 3 + c) * h + y) * w + x] = (i * 7 + y * 5 + x * 3 + c * 11) % 256;
  }
  return out;
}
function pertAt(i: number, c: number, y: number, x: number): number {
  return ((i + y + x + c) % 5) - 2;
}

test('npy: reads what numpy writes (u1/f4/f8/i4/i8, format 1.0/2.0/3.0, npz stored and deflated), refuses fortran and object arrays', { skip: noNumpy || false }, async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  py(dir, `
a = img(2, 4, 5)
np.save(d + '/u1.npy', a)
np.save(d + '/f4.npy', a.astype(np.float32) / 255)
np.save(d + '/f8.npy', a.astype(np.float64) - 100)
np.save(d + '/i4.npy', np.arange(6, dtype=np.int32).reshape(2, 3) - 3)
np.save(d + '/i8.npy', np.arange(5, dtype=np.int64) * 10**12)
for v in [(2, 0), (3, 0)]:
    with open(d + '/v%d.npy' % v[0], 'wb') as f: np.lib.format.write_array(f, a, version=v)
np.savez(d + '/stored.npz', images=a, labels=np.array([3, 1]))
np.savez_compressed(d + '/deflated.npz', x=a, y=np.array([0, 9], dtype=np.int64))
np.save(d + '/fortran.npy', np.asfortranarray(a.astype(np.float32)))
np.save(d + '/object.npy', np.array([{'a': 1}, None], dtype=object), allow_pickle=True)
np.save(d + '/bool.npy', np.array([True, False]))
np.save(d + '/scalar.npy', np.float64(2.5))
`);
  const values = (a: NdArray): number[] => Array.from({ length: a.data.length }, (_, i) => elementAt(a, i));
  const read = (f: string) => parseNpy(readFileSync(join(dir, f)), f);
  const want = Array.from({ length: 2 * 4 * 5 * 3 }, (_, k) => {
    const c = k % 3;
    const x = Math.floor(k / 3) % 5;
    const y = Math.floor(k / 15) % 4;
    const i = Math.floor(k / 60);
    return (i * 7 + y * 5 + x * 3 + c * 11) % 256;
  });
  const u1 = read('u1.npy');
  assert.equal(u1.dtype, 'u1');
  assert.deepEqual(u1.shape, [2, 4, 5, 3]);
  assert.deepEqual(Array.from(u1.data), want);
  const f4 = read('f4.npy');
  assert.equal(f4.dtype, 'f4');
  assert.deepEqual(Array.from(f4.data, (v) => Math.round(Number(v) * 255)), want);
  const f8 = read('f8.npy');
  assert.equal(f8.dtype, 'f8');
  assert.deepEqual(Array.from(f8.data, Number), want.map((v) => v - 100));
  const i4 = read('i4.npy');
  assert.deepEqual([i4.dtype, i4.shape, Array.from(i4.data, Number)], ['i4', [2, 3], [-3, -2, -1, 0, 1, 2]]);
  const i8 = read('i8.npy');
  assert.deepEqual([i8.dtype, Array.from(i8.data, Number)], ['i8', [0, 1, 2, 3, 4].map((k) => k * 1e12)]);
  for (const v of ['v2.npy', 'v3.npy']) assert.deepEqual(values(read(v)), want, v);
  assert.deepEqual(read('scalar.npy').shape, []);
  for (const f of ['stored.npz', 'deflated.npz']) {
    const z = await readNpz(readFileSync(join(dir, f)), f);
    const [xk, yk] = f === 'stored.npz' ? ['images', 'labels'] : ['x', 'y'];
    assert.deepEqual([...z.keys()].sort(), [xk, yk].sort());
    assert.deepEqual(values(z.get(xk)!), want, f);
    assert.deepEqual(Array.from(z.get(yk)!.data, Number), f === 'stored.npz' ? [3, 1] : [0, 9]);
  }
  assert.throws(() => read('fortran.npy'), /fortran\.npy.*Fortran.*np\.ascontiguousarray/);
  assert.throws(() => read('object.npy'), /object\.npy.*Python objects/);
  assert.throws(() => read('bool.npy'), /bool\.npy.*dtype \|b1 is not supported/);
  assert.throws(() => parseNpy(Buffer.from('not numpy at all'), 'junk.npy'), /junk\.npy: not a \.npy file/);
  assert.throws(() => parseNpy(readFileSync(join(dir, 'u1.npy')).subarray(0, 140), 'cut.npy'), /cut\.npy: truncated/);
  await assert.rejects(readNpz(Buffer.from('PK but not a zip'), 'junk.npz'), /junk\.npz: not a \.npz file/);
});

test('import: poisoned images in every layout and dtype, labels from the npz, a labels file or the clean set; provenance recorded', { skip: noNumpy || false }, async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  py(dir, `
a = img(6, 8, 10)
y = np.array([0, 1, 2, 0, 1, 2])
np.savez(d + '/nhwc.npz', data=a, targets=y)
np.save(d + '/nchw.npy', np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
np.save(d + '/labels.npy', y)
np.savez_compressed(d + '/float.npz', x=a.astype(np.float32) / 255, labels=y)
np.save(d + '/f255.npy', a.astype(np.float32))
np.save(d + '/neg.npy', a.astype(np.float32) / 255 - 0.5)
np.savez(d + '/shortlabels.npz', images=a, labels=y[:5])
np.save(d + '/gray.npy', a[..., :1])
np.save(d + '/ambiguous.npy', np.zeros((2, 3, 4, 3), np.uint8))
np.save(d + '/fortran.npy', np.asfortranarray(a))
`);
  const want = pattern(6, 8, 10);
  const f = (n: string) => join(dir, n);

  const nhwc = await importPoisons({ file: f('nhwc.npz'), kind: 'images' });
  assert.deepEqual(nhwc.dataset.images, want);
  assert.deepEqual(Array.from(nhwc.dataset.labels), [0, 1, 2, 0, 1, 2]);
  assert.deepEqual([nhwc.dataset.height, nhwc.dataset.width], [8, 10]);
  const m = nhwc.dataset.meta;
  assert.equal(m.attack, 'imported');
  assert.equal(m.import_sha256, createHash('sha256').update(readFileSync(f('nhwc.npz'))).digest('hex'));
  assert.equal(m.import_file, f('nhwc.npz'));
  assert.equal(m.import_layout, 'NHWC (detected)');
  assert.equal(m.import_range, '[0, 119]');
  assert.equal(m.import_labels, `${f('nhwc.npz')}:targets`);
  assert.match(m.import_assumed, /layout NHWC.*CIFAR-10/);
  assert.deepEqual(nhwc.dataset.classes.slice(0, 3), ['airplane', 'automobile', 'bird']);

  const nchw = await importPoisons({ file: f('nchw.npy'), kind: 'images', labelsFile: f('labels.npy'), classes: ['a', 'b', 'c'] });
  assert.deepEqual(nchw.dataset.images, want);
  assert.deepEqual(nchw.dataset.classes, ['a', 'b', 'c']);
  assert.equal(nchw.dataset.meta.import_layout, 'NCHW (detected)');
  assert.match(nchw.dataset.meta.import_labels, /labels\.npy \(sha256 [0-9a-f]{64}\)/);

  const flt = await importPoisons({ file: f('float.npz'), kind: 'images' });
  assert.deepEqual(flt.dataset.images, want, 'float [0,1] images quantise back to the same bytes');
  assert.match(flt.dataset.meta.import_units, /float \[0,1\]/);

  // PyTorch tensors in safetensors (NCHW float): the array is named when there are several.
  await writeSafetensors(f('torch.safetensors'), {
    adv: { dtype: 'F32', shape: [6, 3, 8, 10], data: Float32Array.from(want, (v) => v / 255) },
    other: { dtype: 'F32', shape: [6, 3, 8, 10], data: new Float32Array(6 * 240) },
    targets: { dtype: 'I64', shape: [6], data: BigInt64Array.from([0, 1, 2, 0, 1, 2].map(BigInt)) },
  });
  await assert.rejects(importPoisons({ file: f('torch.safetensors'), kind: 'images' }), /torch\.safetensors: cannot tell which array holds the images \(4-D arrays: (other, adv|adv, other)\)/);
  const st = await importPoisons({ file: f('torch.safetensors'), kind: 'images', key: 'adv' });
  assert.deepEqual(st.dataset.images, want);
  assert.equal(st.dataset.meta.import_array, 'adv');
  assert.equal(st.dataset.meta.import_labels, `${f('torch.safetensors')}:targets`);

  // Labels from the clean set, when the file has none; the perturbation is measured against it.
  const clean: ImageDataset = { images: want.slice(), labels: Int32Array.from([0, 1, 2, 0, 1, 2]), n: 6, channels: 3, height: 8, width: 10, classes: ['p', 'q', 'r'], meta: { source: 'synthetic' } };
  const fromClean = await importPoisons({ file: f('nchw.npy'), kind: 'images', clean, cleanPath: 'clean.safetensors' });
  assert.deepEqual(fromClean.dataset.classes, ['p', 'q', 'r']);
  assert.equal(fromClean.dataset.meta.linf_max, '0');
  assert.match(fromClean.dataset.meta.import_assumed, /clean set's order/);

  await assert.rejects(importPoisons({ file: f('nchw.npy'), kind: 'images' }), /nchw\.npy: no labels.*labels file/);
  await assert.rejects(importPoisons({ file: f('f255.npy'), kind: 'images', labelsFile: f('labels.npy') }), /f255\.npy: float images must lie in \[0,1\].*divide by 255/);
  await assert.rejects(importPoisons({ file: f('neg.npy'), kind: 'images', labelsFile: f('labels.npy') }), /neg\.npy: .*negative values suggest perturbations/);
  await assert.rejects(importPoisons({ file: f('shortlabels.npz'), kind: 'images' }), /shortlabels\.npz:labels: labels have shape \(5\), expected \(6,\)/);
  await assert.rejects(importPoisons({ file: f('gray.npy'), kind: 'images', labelsFile: f('labels.npy') }), /gray\.npy: shape \(6, 8, 10, 1\) has no axis of 3 colour channels/);
  await assert.rejects(importPoisons({ file: f('ambiguous.npy'), kind: 'images' }), /ambiguous\.npy: shape \(2, 3, 4, 3\) could be NCHW or NHWC/);
  await assert.rejects(importPoisons({ file: f('fortran.npy'), kind: 'images' }), /fortran\.npy: .*Fortran/);
  await assert.rejects(importPoisons({ file: f('nhwc.npz'), kind: 'images', bound: { norm: 'linf', epsilon: 8 / 255 } }), /nhwc\.npz:data: checking the bound L_inf <= 8\/255 needs the clean images/);
  await assert.rejects(importPoisons({ file: f('missing.npy'), kind: 'images' }), /missing\.npy: cannot read \(no such file\)/);
});

test('import: perturbations in [0,1] units and in pixel steps add to the clean set like an attack; bound, shape and range errors name the file', { skip: noNumpy || false }, async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const clean = syntheticDataset({ classes: ['a', 'b'], perClass: 3, height: 6, width: 7, seed: 5 });
  py(dir, `
p = pert(6, 6, 7)
np.save(d + '/unit.npy', np.ascontiguousarray((p / 255).astype(np.float32).transpose(0, 3, 1, 2)))
np.save(d + '/pixel.npy', p.astype(np.int64))
np.save(d + '/pixelf.npy', (p * 3).astype(np.float32))
np.save(d + '/wrongn.npy', p[:5].astype(np.int64))
np.save(d + '/wrongsize.npy', pert(6, 6, 8).astype(np.int64))
np.save(d + '/huge.npy', (p * 200).astype(np.float32))
np.savez(d + '/badlabels.npz', delta=p.astype(np.int64), y=np.zeros(6, np.int64))
`);
  const f = (n: string) => join(dir, n);
  const expected = new Uint8Array(clean.images.length);
  const plane = 6 * 7;
  for (let i = 0; i < 6; i++) for (let c = 0; c < 3; c++) for (let y = 0; y < 6; y++) for (let x = 0; x < 7; x++) {
    const k = ((i * 3 + c) * 6 + y) * 7 + x;
    expected[k] = Math.min(255, Math.max(0, clean.images[k] + pertAt(i, c, y, x)));
  }
  void plane;
  const unit = await importPoisons({ file: f('unit.npy'), kind: 'perturbations', clean, cleanPath: 'clean.safetensors', bound: { norm: 'linf', epsilon: 2 / 255 } });
  assert.deepEqual(unit.dataset.images, expected);
  assert.deepEqual(unit.dataset.labels, clean.labels);
  const um = unit.dataset.meta;
  assert.equal(um.attack, 'imported');
  assert.equal(um.import_units, '[0,1] units');
  assert.equal(um.import_layout, 'NCHW (detected)');
  assert.equal(um.linf_max, '2');
  assert.equal(um.bounds_checked, 'L_inf <= 2/255');
  assert.match(um.import_labels, /the clean set \(clean\.safetensors\)/);
  assert.equal(um.seed, undefined, 'imported perturbations have no attack seed');

  const pixel = await importPoisons({ file: f('pixel.npy'), kind: 'perturbations', clean });
  assert.deepEqual(pixel.dataset.images, expected);
  assert.equal(pixel.dataset.meta.import_units, 'pixel units (1/255 steps)');
  assert.match(pixel.dataset.meta.import_assumed, /integer perturbations are in pixel units/);
  assert.equal(pixel.dataset.meta.bounds_checked, 'none requested (|delta| <= 1 only)');

  // Float pixel steps beyond 1 are read as pixel units; stated units override detection.
  const pf = await importPoisons({ file: f('pixelf.npy'), kind: 'perturbations', clean, bound: { norm: 'linf', epsilon: 6 / 255 } });
  assert.equal(pf.dataset.meta.linf_max, '6');
  await assert.rejects(importPoisons({ file: f('pixelf.npy'), kind: 'perturbations', clean, units: 'unit' }), /pixelf\.npy: perturbations in \[0,1\] units must lie in \[-1,1\]/);

  // Bound violation: names the file, the bound and what to check.
  await assert.rejects(
    importPoisons({ file: f('pixel.npy'), kind: 'perturbations', clean, bound: { norm: 'linf', epsilon: 1 / 255 } }),
    (e: Error) => e.message.startsWith(f('pixel.npy')) && /exceeds the requested bound L_inf <= 1\/255.*check the bound.*units/.test(e.message),
  );
  await assert.rejects(
    importPoisons({ file: f('unit.npy'), kind: 'perturbations', clean, bound: { norm: 'l2', epsilon: 0.01 } }),
    /unit\.npy: .*exceeds the requested bound L2 <= 0\.01/,
  );
  await assert.rejects(importPoisons({ file: f('wrongn.npy'), kind: 'perturbations', clean }), /wrongn\.npy: shape \(5, 6, 7, 3\) does not match the clean set .* of shape \(6, 3, 6, 7\): 5 perturbations for 6 clean images/);
  await assert.rejects(importPoisons({ file: f('wrongsize.npy'), kind: 'perturbations', clean }), /wrongsize\.npy: shape \(6, 6, 8, 3\) does not match .*: perturbations of 8x6 \(WxH\) for clean images of 7x6/);
  await assert.rejects(importPoisons({ file: f('huge.npy'), kind: 'perturbations', clean }), /huge\.npy: perturbations range over \[-400, 400\], beyond both/);
  await assert.rejects(importPoisons({ file: f('badlabels.npz'), kind: 'perturbations', clean }), /badlabels\.npz:y: label 0 of image 1 differs from the clean set's 1/);
  await assert.rejects(importPoisons({ file: f('pixel.npy'), kind: 'perturbations' }), /pixel\.npy: perturbations need the clean images/);
  const poisoned = { ...clean, meta: { ...clean.meta, attack: 'urp' } };
  await assert.rejects(importPoisons({ file: f('pixel.npy'), kind: 'perturbations', clean: poisoned }), /pixel\.npy: .*already poisoned/);
});

test('eclipse data import --perturbations / --poisons: writes a dataset file atomically, refuses to overwrite, clear usage errors', { skip: noNumpy || false }, async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const clean = syntheticDataset({ classes: ['a', 'b'], perClass: 3, height: 6, width: 7, seed: 5 });
  await saveDataset(clean, join(dir, 'clean.safetensors'));
  py(dir, `
np.save(d + '/delta.npy', pert(6, 6, 7).astype(np.int64))
np.savez(d + '/poisons.npz', x=img(4, 5, 5), y=np.array([0, 1, 0, 1]))
`);
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [bin, 'data', 'import', ...args, '--threads', '1'], { cwd: dir, encoding: 'utf8' });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  };
  const ok = run(['--perturbations', 'delta.npy', '--clean', 'clean.safetensors', '--eps', '2/255', '--out', 'out/p.safetensors']);
  assert.equal(ok.code, 0, ok.err);
  const ds = await loadDataset(join(dir, 'out', 'p.safetensors'));
  assert.equal(ds.meta.attack, 'imported');
  assert.equal(ds.meta.import_kind, 'perturbations');
  assert.match(ok.out, /import_sha256: [0-9a-f]{64}/);
  assert.match(ok.err, /assumed: integer perturbations are in pixel units/);
  const again = run(['--perturbations', 'delta.npy', '--clean', 'clean.safetensors', '--out', 'out/p.safetensors']);
  assert.notEqual(again.code, 0);
  assert.match(again.err, /already exists.*--overwrite/);
  const tight = run(['--perturbations', 'delta.npy', '--clean', 'clean.safetensors', '--eps', '1/255', '--norm', 'linf', '--out', 'out/q.safetensors']);
  assert.notEqual(tight.code, 0);
  assert.match(tight.err, /delta\.npy: .*exceeds the requested bound L_inf <= 1\/255/);
  assert.ok(!existsSync(join(dir, 'out', 'q.safetensors')), 'nothing written on a failed check');
  const noClean = run(['--perturbations', 'delta.npy']);
  assert.notEqual(noClean.code, 0);
  assert.match(noClean.err, /--clean FILE/);
  const img = run(['--poisons', 'poisons.npz', '--out', 'i.safetensors']);
  assert.equal(img.code, 0, img.err);
  assert.equal((await loadDataset(join(dir, 'i.safetensors'))).n, 4);
  const badNorm = run(['--poisons', 'poisons.npz', '--eps', '8/255', '--norm', 'l1']);
  assert.notEqual(badNorm.code, 0);
  assert.match(badNorm.err, /--norm must be linf or l2/);
});

const REAL_CIFAR = findCifar();

test('import: real CIFAR-10 test images round trip through numpy (NHWC uint8 npz, and 8/255 perturbations)', { skip: noNumpy || (REAL_CIFAR.source ? false : `no CIFAR-10: ${REAL_CIFAR.why}`) }, async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const all = await loadCifar10(REAL_CIFAR.source!, 'test');
  const clean = subset(all, Array.from({ length: 500 }, (_, i) => i));
  writeFileSync(join(dir, 'chw.bin'), clean.images);
  writeFileSync(join(dir, 'labels.bin'), Buffer.from(clean.labels.buffer));
  py(dir, `
x = np.fromfile(d + '/chw.bin', np.uint8).reshape(500, 3, 32, 32).transpose(0, 2, 3, 1)
y = np.fromfile(d + '/labels.bin', np.int32).astype(np.int64)
np.savez_compressed(d + '/cifar.npz', data=np.ascontiguousarray(x), targets=y)
rng = np.random.default_rng(0)
np.save(d + '/delta.npy', rng.uniform(-8/255, 8/255, size=(500, 32, 32, 3)).astype(np.float32))
`);
  const back = await importPoisons({ file: join(dir, 'cifar.npz'), kind: 'images', clean, bound: { norm: 'linf', epsilon: 8 / 255 } });
  assert.deepEqual(back.dataset.images, clean.images);
  assert.deepEqual(back.dataset.labels, clean.labels);
  assert.deepEqual(back.dataset.classes, clean.classes);
  assert.equal(back.dataset.meta.linf_max, '0');
  const p = await importPoisons({ file: join(dir, 'delta.npy'), kind: 'perturbations', clean, bound: { norm: 'linf', epsilon: 8 / 255 } });
  assert.equal(p.dataset.meta.linf_max, '8');
  assert.equal(p.dataset.meta.import_units, '[0,1] units');
});

test('image folder: resize reads images of any size (short side to N, centre crop); without it the size error names the option', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  // 64x32 (WxH): red | green | blue in vertical bands; the centre square is all green.
  const bands = Buffer.alloc(64 * 32 * 3);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 64; x++) bands[(y * 64 + x) * 3 + (x < 16 ? 0 : x < 48 ? 1 : 2)] = 255;
  mkdirSync(join(dir, 'cls', 'a'), { recursive: true });
  mkdirSync(join(dir, 'cls', 'b'), { recursive: true });
  writeFileSync(join(dir, 'cls', 'a', '0.png'), await sharp(bands, { raw: { width: 64, height: 32, channels: 3 } }).png().toBuffer());
  const sizes: Array<[number, number]> = [[40, 30], [20, 50], [16, 16]];
  for (const [k, [w, h]] of sizes.entries()) {
    writeFileSync(join(dir, 'cls', 'b', `${k}.png`), await sharp(Buffer.alloc(w * h * 3, 90), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
  }
  await assert.rejects(loadImageFolder(join(dir, 'cls')), (e: Error) => e instanceof ImageSizeError && /resize option/.test(e.message));
  const ds = await loadImageFolder(join(dir, 'cls'), { resize: 16 });
  assert.deepEqual([ds.n, ds.height, ds.width], [4, 16, 16]);
  assert.match(ds.meta.resize, /short side 16, centre crop 16x16/);
  const plane = 256;
  for (let y = 0; y < 16; y++) for (let x = 2; x < 14; x++) {
    const p = y * 16 + x;
    const rgb = [ds.images[p], ds.images[plane + p], ds.images[2 * plane + p]];
    assert.ok(rgb[0] <= 3 && rgb[1] >= 252 && rgb[2] <= 3, `pixel ${x},${y} of the centre crop is ${rgb.join(',')}, expected green`);
  }
  for (let i = 1; i < 4; i++) assert.ok(ds.images.subarray(i * 768, (i + 1) * 768).every((v) => v === 90));
  await assert.rejects(loadImageFolder(join(dir, 'cls'), { resize: 0 }), /resize must be a positive whole number/);

  // The command line: the size error points at --resize, and --resize reads the folder.
  for (const split of ['train', 'test']) {
    for (const [k, [w, h]] of [[40, 30], [20, 50], [33, 33]].entries()) {
      for (const c of ['x', 'y']) {
        mkdirSync(join(dir, 'f', split, c), { recursive: true });
        writeFileSync(join(dir, 'f', split, c, `${k}.png`), await sharp(Buffer.alloc(w * h * 3, 40 + k), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
      }
    }
  }
  const args = ['data', 'import', '--folder', 'f', '--out', 'd', '--train-per-class', '0', '--test-per-class', '1', '--sparse-per-class', '1', '--threads', '1'];
  const bad = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /image is \d+x\d+ \(WxH\), expected 32x32.*--resize N/);
  const good = spawnSync(process.execPath, [bin, ...args, '--resize', '24'], { cwd: dir, encoding: 'utf8' });
  assert.equal(good.status, 0, good.stderr);
  const train = await loadDataset(join(dir, 'd', 'train.safetensors'));
  assert.deepEqual([train.n, train.height, train.width], [6, 24, 24]);
});

// ---------- bad input: headers first, shapes against the clean set, bounds in their units ----------

/** Run the CLI with its peak resident memory (MiB) measured on exit (test/helpers/maxrss.ts). */
function runMeasured(dir: string, args: string[]): { code: number; err: string; rssMb: number } {
  const rssFile = join(dir, '.maxrss');
  const preload = join(root, 'dist', 'test', 'helpers', 'maxrss.js');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(preload).href, bin, ...args, '--threads', '1'], {
    cwd: dir, encoding: 'utf8', env: { ...process.env, ECLIPSE_MAXRSS_FILE: rssFile, ECLIPSE_QUIET_NODE_WARNING: '1' },
  });
  const rssMb = Number(readFileSync(rssFile, 'utf8')) / 1024;
  rmSync(rssFile);
  return { code: r.status ?? -1, err: r.stderr, rssMb };
}

/** 80,000 CIFAR-sized images of zeros (245 MB) with their labels, deflated into about 240 KB. */
function bombNpz(): Buffer {
  const n = 80_000;
  const head = npyBytes('|u1', [n, 32, 32, 3]);
  const size = head.length + n * 3072;
  return zipBytes([
    { name: 'x.npy', deflated: zeroBomb(head, size), size },
    { name: 'y.npy', data: npyBytes('<i8', [n], bytesOf(new BigInt64Array(n))), deflate: true },
  ]);
}

test('npz: member headers are read before anything is inflated, and a member never inflates past what its header implies', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  // The command line: refused on the header against the clean set, at the memory of a tiny import
  // (before, the whole member was inflated first: 946 MB for this 245 MB one).
  await saveDataset(syntheticDataset({ perClass: 2 }), join(dir, 'clean.safetensors'));
  const bomb = bombNpz();
  assert.ok(bomb.length < 300_000, `the bomb is ${bomb.length} bytes`);
  writeFileSync(join(dir, 'bomb.npz'), bomb);
  const small = new Uint8Array(6 * 3072);
  writeFileSync(join(dir, 'ok.npy'), npyBytes('|u1', [6, 32, 32, 3], small));
  const base = runMeasured(dir, ['data', 'import', '--poisons', 'ok.npy', '--clean', 'clean.safetensors', '--out', 'ok.safetensors']);
  assert.equal(base.code, 0, base.err);
  const r = runMeasured(dir, ['data', 'import', '--poisons', 'bomb.npz', '--clean', 'clean.safetensors', '--out', 'b.safetensors']);
  assert.ok(r.rssMb < base.rssMb + 64, `peak ${r.rssMb.toFixed(0)} MB against ${base.rssMb.toFixed(0)} MB for a 6-image import`);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /bomb\.npz:x: shape \(80000, 32, 32, 3\) does not match the clean set clean\.safetensors of shape \(6, 3, 32, 32\): 80000 poisoned images for 6 clean images/);
  assert.ok(!existsSync(join(dir, 'b.safetensors')));

  // Opening reads the headers only: no 245 MB buffer appears.
  const before = process.memoryUsage().arrayBuffers;
  const members = await openNpz(bomb, 'bomb.npz');
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 2 ** 20, 'opening inflates only the headers');
  assert.deepEqual(members.get('x')!.header.shape, [80_000, 32, 32, 3]);
  assert.equal(members.get('x')!.header.dataBytes, 80_000 * 3072);

  // A header that understates the member: inflation stops past the size it implies.
  const h6 = npyBytes('|u1', [6, 32, 32, 3]);
  const liar = zipBytes([{ name: 'x.npy', deflated: zeroBomb(h6, 64 * 2 ** 20), size: h6.length + 6 * 3072 }]);
  const lm = (await openNpz(liar, 'liar.npz')).get('x')!;
  await assert.rejects(lm.load(), /liar\.npz:x\.npy: inflates past the 18560 bytes its \.npy header implies \(shape \(6, 32, 32, 3\) of \|u1\); the archive is corrupt or a zip bomb/);
  // A zip directory that disagrees with the header is refused before inflating anything.
  const dirLiar = zipBytes([{ name: 'x.npy', deflated: zeroBomb(h6, 64 * 2 ** 20), size: 64 * 2 ** 20 }]);
  await assert.rejects(openNpz(dirLiar, 'dir.npz'), /dir\.npz:x\.npy: the zip directory says 67108864 bytes but its \.npy header implies 18560/);
  // Short members and corrupt streams name the member.
  const short = zipBytes([{ name: 'x.npy', deflated: zeroBomb(h6, 1000), size: h6.length + 6 * 3072 }]);
  await assert.rejects((await openNpz(short, 's.npz')).get('x')!.load(), /s\.npz:x\.npy: inflates to 1000 bytes, short of the 18560/);
  const corrupt = zipBytes([{ name: 'x.npy', deflated: Buffer.from([0xff, 0xff, 0xff, 0xff]), size: 200 }]);
  await assert.rejects(openNpz(corrupt, 'c.npz'), /c\.npz:x\.npy: cannot inflate \(/);
  const good = zipBytes([{ name: 'x.npy', data: npyBytes('<i4', [3], bytesOf(Int32Array.from([7, -1, 2]))), deflate: true }]);
  assert.deepEqual(Array.from((await readNpz(good, 'g.npz')).get('x')!.data, Number), [7, -1, 2]);
  await assert.rejects(readNpz(Buffer.alloc(0), 'empty.npz'), /empty\.npz: the file is empty/);
});

test('import: poisoned images must match the clean set (count, size, channels, labels), named with both shapes', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const clean = syntheticDataset({ classes: ['a', 'b'], perClass: 3, height: 8, width: 8, seed: 3 });
  const f = (n: string) => join(dir, n);
  const u1 = (shape: number[]) => npyBytes('|u1', shape, new Uint8Array(shape.reduce((a, b) => a * b, 1)).fill(9));
  writeFileSync(f('small.npy'), u1([6, 4, 4, 3]));
  writeFileSync(f('fewer.npy'), u1([5, 8, 8, 3]));
  writeFileSync(f('gray.npy'), u1([6, 8, 8, 1]));
  writeFileSync(f('flat.npy'), u1([6, 8, 8]));
  writeFileSync(f('fine.npy'), u1([6, 3, 8, 8]));
  writeFileSync(f('labels.npy'), npyBytes('<i8', [6], bytesOf(BigInt64Array.from([1n, 1n, 0n, 1n, 0n, 1n]))));
  const o = { kind: 'images' as const, clean, cleanPath: 'clean.safetensors' };
  await assert.rejects(importPoisons({ file: f('small.npy'), ...o }), /small\.npy: shape \(6, 4, 4, 3\) does not match the clean set clean\.safetensors of shape \(6, 3, 8, 8\): poisoned images of 4x4 \(WxH\) for clean images of 8x8/);
  // Fewer images than the clean set: the count is the problem, not the labels.
  await assert.rejects(importPoisons({ file: f('fewer.npy'), ...o }), (e: Error) => /fewer\.npy: shape \(5, 8, 8, 3\) does not match .*: 5 poisoned images for 6 clean images/.test(e.message) && !/no labels/.test(e.message));
  await assert.rejects(importPoisons({ file: f('gray.npy'), ...o }), /gray\.npy: shape \(6, 8, 8, 1\) has no axis of 3 colour channels; expected \(6, 3, 8, 8\) or \(6, 8, 8, 3\) like the clean set clean\.safetensors/);
  await assert.rejects(importPoisons({ file: f('flat.npy'), ...o }), /flat\.npy: shape \(6, 8, 8\) is not 4-D; expected \(6, 3, 8, 8\)/);
  await assert.rejects(importPoisons({ file: f('fine.npy'), labelsFile: f('labels.npy'), ...o }), /labels\.npy.*: label 1 of image 0 differs from the clean set's 0 .*other images or another order/);
  const ok = await importPoisons({ file: f('fine.npy'), ...o });
  assert.equal(ok.dataset.n, 6);
  // Without a clean set and without labels, the library's fix names both ways to give them.
  await assert.rejects(importPoisons({ file: f('fine.npy'), kind: 'images' }), (e: Error) => e instanceof NoLabelsError && /give a labels file .* or the clean set/.test(e.message));
});

test('import: an epsilon that bounds nothing is refused in its units (L_inf above 1, L2 above the image\'s size), before the file is read', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const clean = syntheticDataset({ classes: ['a', 'b'], perClass: 3, height: 6, width: 7, seed: 5 });
  const f = (n: string) => join(dir, n);
  const delta = new BigInt64Array(6 * 6 * 7 * 3).fill(1n);
  writeFileSync(f('delta.npy'), npyBytes('<i8', [6, 6, 7, 3], bytesOf(delta)));
  const o = { file: f('delta.npy'), kind: 'perturbations' as const, clean };
  await assert.rejects(importPoisons({ ...o, bound: { norm: 'linf', epsilon: 8 } }), /delta\.npy: bound: epsilon 8 is above 1, so the L_inf bound would accept any perturbation: epsilon is in \[0,1\] pixel units; did you mean 8\/255\?/);
  // sqrt(3*6*7) = 11.2: an L2 bound above it is met by any perturbation of a 6x7 image.
  await assert.rejects(importPoisons({ ...o, bound: { norm: 'l2', epsilon: 128 } }), /epsilon 128 is above 11\.22497, the L2 size of moving all 126 values .*did you mean 128\/255\?/);
  assert.equal((await importPoisons({ ...o, bound: { norm: 'l2', epsilon: 0.5 } })).dataset.meta.bounds_checked, 'L2 <= 0.5');
  assert.equal((await importPoisons({ ...o, bound: { norm: 'linf', epsilon: 1 / 255 } })).dataset.meta.linf_max, '1');
  // The range is checked before the file: a missing file is not reached.
  await assert.rejects(importPoisons({ ...o, file: f('absent.npy'), bound: { norm: 'linf', epsilon: 8 } }), /did you mean 8\/255/);
  assert.throws(() => checkBoundRange({ norm: 'linf', epsilon: 300 }, null, 'b'), (e: Error) => /above 1/.test(e.message) && !/did you mean/.test(e.message));

  // The command line: --eps 8 is refused and nothing is written.
  await saveDataset(clean, f('clean.safetensors'));
  const r = spawnSync(process.execPath, [bin, 'data', 'import', '--perturbations', 'delta.npy', '--clean', 'clean.safetensors', '--eps', '8', '--out', 'p.safetensors', '--threads', '1'], { cwd: dir, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--eps 8: epsilon 8 is above 1.*did you mean 8\/255\?/);
  assert.ok(!existsSync(f('p.safetensors')));
});

test('eclipse scan / data import on an .npy without labels: the fix is each command\'s own option', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  writeFileSync(join(dir, 'x.npy'), npyBytes('|u1', [4, 8, 8, 3], new Uint8Array(4 * 192)));
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args, '--threads', '1'], { cwd: dir, encoding: 'utf8', env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
  const scan = run(['scan', 'x.npy']);
  assert.notEqual(scan.status, 0);
  assert.match(scan.stderr, /^eclipse scan: error: x\.npy: no labels: the file has no labels\/.* array; pass --labels FILE/m);
  assert.doesNotMatch(scan.stderr, /clean set|--clean/, 'scan takes no clean set');
  const imp = run(['data', 'import', '--poisons', 'x.npy', '--out', 'o.safetensors']);
  assert.notEqual(imp.status, 0);
  assert.match(imp.stderr, /x\.npy: no labels: .*; pass --labels FILE .*, or --clean FILE/);
  assert.deepEqual(readdirSync(dir).sort(), ['x.npy']);
});
