// Poisons released as PyTorch files (torch.save): read by our own zip + pickle reader, without
// Python. The fixtures in test/fixtures/torch were written by the real torch.save (Debian's
// python3-torch, test/fixtures/torch/make.py), in the layouts releases use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { openTorchFile } from '../src/io/torchfile.js';
import { importPoisons } from '../src/attacks/imported.js';
import { loadDataset, saveDataset } from '../src/data/store.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

const fixtures = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'torch');
const fx = (name: string): string => join(fixtures, name);
const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const tmp = makeTempDir('eclipse-torchfile-');
test.after(() => tmp.cleanup());

test('a bare tensor (Unlearnable Examples\' perturbation.pt): shape, dtype and every value as torch wrote them', async () => {
  const m = await openTorchFile(readFileSync(fx('perturbation.pt')), 'perturbation.pt');
  assert.deepEqual([...m.keys()], ['']);
  const t = m.get('')!;
  assert.deepEqual([t.dtype, t.shape, t.bytes], ['f4', [10, 3, 32, 32], 10 * 3 * 32 * 32 * 4]);
  const a = await t.load();
  assert.equal(a.data.length, 10 * 3 * 1024);
  const max = Math.max(...Array.from(a.data as Float32Array, Math.abs));
  assert.ok(max <= 8 / 255 + 1e-7 && max > 7 / 255, `within the 8/255 the release used: ${max}`);
  // against torch itself, where it is installed: the sum and three elements
  const py = spawnSync('/usr/bin/python3', ['-c', `import torch; t = torch.load(${JSON.stringify(fx('perturbation.pt'))}); print(float(t.double().sum()), float(t[0,0,0,0]), float(t[3,1,7,9]), float(t[9,2,31,31]))`], { encoding: 'utf8' });
  if (py.status === 0) {
    const [sum, ...xs] = py.stdout.trim().split(' ').map(Number);
    const d = a.data as Float32Array;
    assert.ok(Math.abs(d.reduce((s, v) => s + v, 0) - sum!) < 1e-4);
    assert.deepEqual([d[0], d[3 * 3072 + 1 * 1024 + 7 * 32 + 9], d[9 * 3072 + 2 * 1024 + 31 * 32 + 31]].map((v) => Math.fround(v!)), xs.map((v) => Math.fround(v)));
  }
});

test('a dict of tensors: by key, uint8 images and int64 labels; imported as poisoned images with their labels', async () => {
  const m = await openTorchFile(readFileSync(fx('poisons-dict.pth')), 'poisons-dict.pth');
  assert.deepEqual([...m.keys()].sort(), ['data', 'targets']);
  assert.deepEqual([m.get('data')!.dtype, m.get('data')!.shape], ['u1', [10, 32, 32, 3]]);
  assert.deepEqual([m.get('targets')!.dtype, m.get('targets')!.shape], ['i8', [10]]);
  const r = await importPoisons({ file: fx('poisons-dict.pth'), kind: 'images', classes: Array.from({ length: 10 }, (_, i) => `c${i}`) });
  assert.equal(r.dataset.n, 10);
  assert.deepEqual(Array.from(r.dataset.labels), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // NHWC bytes moved to CHW: image 2, channel 1, pixel (5, 6) is data[2, 5, 6, 1]
  const raw = (await m.get('data')!.load()).data as Uint8Array;
  assert.equal(r.dataset.images[2 * 3072 + 1 * 1024 + 5 * 32 + 6], raw[2 * 3072 + (5 * 32 + 6) * 3 + 1]);
});

test('perturbations from a .pt add to the clean set like an attack (eclipse data import), the bound checked', async () => {
  const clean = syntheticDataset({ perClass: 1, classes: Array.from({ length: 10 }, (_, i) => `c${i}`), height: 32, width: 32, seed: 3 });
  const r = await importPoisons({ file: fx('perturbation.pt'), kind: 'perturbations', clean, bound: { norm: 'linf', epsilon: 8 / 255 } });
  const d = await (await openTorchFile(readFileSync(fx('perturbation.pt')), 'p')).get('')!.load();
  for (const j of [0, 777, 3 * 3072 + 1000, 10 * 3072 - 1]) {
    const want = Math.min(255, Math.max(0, Math.round(clean.images[j]! + 255 * (d.data as Float32Array)[j]!)));
    assert.equal(r.dataset.images[j], want, `element ${j}`);
  }
  await assert.rejects(importPoisons({ file: fx('perturbation.pt'), kind: 'perturbations', clean, bound: { norm: 'linf', epsilon: 4 / 255 } }), /perturbation\.pt/);
  // the command line, end to end
  const cleanFile = join(tmp.dir, 'clean.safetensors');
  await saveDataset(clean, cleanFile);
  const out = join(tmp.dir, 'imported.safetensors');
  const c = spawnSync(process.execPath, [bin, 'data', 'import', '--perturbations', fx('perturbation.pt'), '--clean', cleanFile, '--out', out, '--eps', '8/255'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual((await loadDataset(out)).images, r.dataset.images);
});

test('what a torch file may hold but is not a poison array is one clear line naming the file and the fix', async () => {
  await assert.rejects(openTorchFile(readFileSync(fx('half.pt')), 'half.pt'), /half\.pt.*torch\.HalfStorage; uint8, float32, float64, int32 and int64 tensors are read \(convert it with \.float\(\) before torch\.save\)/);
  await assert.rejects(openTorchFile(readFileSync(fx('module.pt')), 'module.pt'), /module\.pt.*(holds a torch\.nn\.modules\.linear\.Linear object|not one torch\.save writes for tensors)/);
  await assert.rejects(openTorchFile(readFileSync(fx('strided.pt')), 'strided.pt'), /strided\.pt: a non-contiguous tensor \(strides .*\); save tensor\.contiguous\(\) instead/);
  // truncated and empty files
  const cut = join(tmp.dir, 'cut.pt');
  writeFileSync(cut, readFileSync(fx('perturbation.pt')).subarray(0, 5000));
  await assert.rejects(importPoisons({ file: cut, kind: 'images' }), /cut\.pt: not a PyTorch file/);
  const empty = join(tmp.dir, 'empty.pt');
  writeFileSync(empty, '');
  await assert.rejects(importPoisons({ file: empty, kind: 'images' }), /empty\.pt: the file is empty \(0 bytes\)/);
});
