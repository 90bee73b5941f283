// The command line as a user meets it: help everywhere, and bad input that gets one clear
// error naming the file and the fix, a non-zero exit, and no partial output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

import { recipeFrom } from '../src/cli/train.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { eclipseProfile } from '../src/profiles.js';
import { saveDataset } from '../src/data/store.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'eclipse.js');

function eclipse(args: string[], cwd: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args, '--threads', '1'], { cwd, encoding: 'utf8', env: { ...process.env, ECLIPSE_CIFAR10: '' } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
function eclipseNoThreads(args: string[], cwd: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

async function png(path: string, w: number, h: number, seed: number): Promise<void> {
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + seed * 11) % 256;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

test('the mini demo trains its classifiers at batch 64; eclipse train keeps 128; flags win', () => {
  const demo = eclipseProfile('mini').demoClassifier;
  assert.equal(recipeFrom({}, 'mini', demo).batchSize, 64);
  assert.equal(recipeFrom({}, 'mini', demo).epochs, 30);
  assert.equal(recipeFrom({ 'batch-size': '32' }, 'mini', demo).batchSize, 32);
  assert.equal(recipeFrom({}, 'mini').batchSize, 128);
});

test('--help works for every command', () => {
  const tmp = makeTempDir();
  try {
    assert.match(eclipseNoThreads(['--help'], tmp.dir).out, /Commands:/);
    for (const cmd of [['data'], ['train'], ['eval'], ['poison'], ['denoiser'], ['purify'], ['defend'], ['demo'], ['analyze']]) {
      const r = eclipseNoThreads([...cmd, '--help'], tmp.dir);
      assert.equal(r.code, 0, `${cmd} --help exits 0`);
      assert.match(r.out, /--profile/, `${cmd} --help lists the common options`);
    }
    const bad = eclipse(['train', '--profile', 'huge'], tmp.dir);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--profile must be one of smoke, mini, paper/);
    assert.equal(eclipseNoThreads(['frobnicate'], tmp.dir).code, 2);
  } finally {
    tmp.cleanup();
  }
});

test('a truncated CIFAR binary file is named, with the fix, and nothing is written', () => {
  const tmp = makeTempDir();
  try {
    const src = join(tmp.dir, 'cifar-10-batches-bin');
    mkdirSync(src);
    const full = Buffer.alloc(3073 * 10_000);
    for (const f of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']) writeFileSync(join(src, f), full);
    // data_batch_3 lost its last 1,000 bytes (an interrupted download).
    writeFileSync(join(src, 'data_batch_3.bin'), full.subarray(0, full.length - 1000));
    const out = join(tmp.dir, 'out');
    const r = eclipse(['data', 'import', '--source', tmp.dir, '--out', out], tmp.dir);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /data_batch_3\.bin/);
    assert.match(r.err, /re-download|re-extract/);
    assert.ok(!existsSync(join(out, 'train.safetensors')));
  } finally {
    tmp.cleanup();
  }
});

test('image folders: corrupt file, wrong size and class mismatch each get a clear error', async () => {
  const tmp = makeTempDir();
  try {
    const good = join(tmp.dir, 'good');
    for (const split of ['train', 'test']) for (const c of ['cat', 'dog']) for (let i = 0; i < 2; i++) await png(join(good, split, c, `${i}.png`), 32, 32, i);
    const ok = eclipse(['data', 'import', '--folder', good, '--out', join(tmp.dir, 'o1'), '--train-per-class', '2', '--test-per-class', '1', '--sparse-per-class', '1'], tmp.dir);
    assert.equal(ok.code, 0, ok.err);

    const corrupt = join(tmp.dir, 'corrupt');
    for (const split of ['train', 'test']) for (const c of ['cat', 'dog']) await png(join(corrupt, split, c, '0.png'), 32, 32, 1);
    writeFileSync(join(corrupt, 'train', 'dog', 'broken.png'), Buffer.from('not a png at all'));
    let r = eclipse(['data', 'import', '--folder', corrupt, '--out', join(tmp.dir, 'o2')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /broken\.png/);
    assert.ok(!existsSync(join(tmp.dir, 'o2', 'train.safetensors')));

    const big = join(tmp.dir, 'big');
    for (const split of ['train', 'test']) for (const c of ['cat', 'dog']) await png(join(big, split, c, '0.png'), 32, 32, 1);
    await png(join(big, 'test', 'cat', 'large.png'), 33, 32, 2);
    r = eclipse(['data', 'import', '--folder', big, '--out', join(tmp.dir, 'o3')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /large\.png/);
    assert.match(r.err, /33x32|32x33/);

    const mismatch = join(tmp.dir, 'mismatch');
    await png(join(mismatch, 'train', 'cat', '0.png'), 32, 32, 1);
    await png(join(mismatch, 'train', 'dog', '0.png'), 32, 32, 1);
    await png(join(mismatch, 'test', 'cat', '0.png'), 32, 32, 1);
    await png(join(mismatch, 'test', 'bird', '0.png'), 32, 32, 1);
    r = eclipse(['data', 'import', '--folder', mismatch, '--out', join(tmp.dir, 'o4')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /class folders differ/);
    assert.match(r.err, /dog/);
    assert.match(r.err, /bird/);
  } finally {
    tmp.cleanup();
  }
});

test('a label out of range, a missing file and an unwritable output are refused', async () => {
  const tmp = makeTempDir();
  try {
    const ds = syntheticDataset({ classes: ['a', 'b'], perClass: 2 });
    const bytes = encodeSafetensors(
      {
        images: { dtype: 'U8', shape: [4, 3, 32, 32], data: ds.images },
        labels: { dtype: 'I64', shape: [4], data: BigInt64Array.from([0n, 1n, 7n, 0n]) },
      },
      { format: 'eclipse-dataset-v1', classes: JSON.stringify(['a', 'b']) },
    );
    const bad = join(tmp.dir, 'bad-labels.safetensors');
    writeFileSync(bad, bytes);
    let r = eclipse(['data', 'info', bad], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad-labels\.safetensors/);
    assert.match(r.err, /label/i);

    r = eclipse(['train', '--train', join(tmp.dir, 'nope.safetensors'), '--test', join(tmp.dir, 'nope.safetensors')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /nope\.safetensors/);

    const good = join(tmp.dir, 'good.safetensors');
    await saveDataset(ds, good);
    writeFileSync(join(tmp.dir, 'a-file'), 'x');
    r = eclipse(['train', '--profile', 'smoke', '--train', good, '--test', good, '--out', join(tmp.dir, 'a-file', 'run')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /a-file/);

    r = eclipse(['poison', '--attack', 'ar', '--in', good, '--out', join(tmp.dir, 'missing-dir', 'p.safetensors')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /missing-dir/);
    assert.ok(!readdirSync(tmp.dir).some((f) => f.endsWith('.tmp')), 'no temp file left behind');

    r = eclipse(['purify', '--in', good, '--out', join(tmp.dir, 'p.safetensors'), '--checkpoint', join(tmp.dir, 'x'), '--t-star', '5000'], tmp.dir);
    assert.equal(r.code, 2);
    assert.match(r.err, /--t-star must be in \[1, 4000\]/);
  } finally {
    tmp.cleanup();
  }
});
