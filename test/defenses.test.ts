// The corruption compensation module: grayscale rate p, noise std sigma, clamping, determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Rng } from '../src/data/rng.js';
import { compensation } from '../src/defenses/compensation.js';

const shape = { channels: 3, height: 8, width: 8 };
const per = 3 * 64;

function batch(n: number, value: (i: number, k: number) => number): Uint8Array {
  const b = new Uint8Array(n * per);
  for (let i = 0; i < n; i++) for (let k = 0; k < per; k++) b[i * per + k] = value(i, k);
  return b;
}
const isGray = (b: Uint8Array, i: number): boolean => {
  for (let k = 0; k < 64; k++) if (b[i * per + k] !== b[i * per + 64 + k] || b[i * per + k] !== b[i * per + 128 + k]) return false;
  return true;
};

test('grayscale hits a fraction p of the images, with ITU-R 601 luma', () => {
  const n = 2000;
  // Colour images: R=200, G=100, B=0 -> luma 0.299*200 + 0.587*100 = 118.5 -> 119 (round half up)
  const b = batch(n, (_i, k) => (k < 64 ? 200 : k < 128 ? 100 : 0));
  compensation({ p: 0.4, sigma: 0 }).apply(b, n, shape, new Rng(1));
  let gray = 0;
  for (let i = 0; i < n; i++) if (isGray(b, i)) gray++;
  assert.ok(Math.abs(gray / n - 0.4) < 0.04, `gray fraction ${gray / n}`);
  const firstGray = [...Array(n).keys()].find((i) => isGray(b, i))!;
  assert.equal(b[firstGray * per], 119);
});

test('Gaussian noise has std sigma*255 on mid-grey pixels and stays in [0,255]', () => {
  const n = 200;
  const b = batch(n, () => 128);
  compensation({ p: 0, sigma: 0.05 }).apply(b, n, shape, new Rng(2));
  let s = 0;
  let s2 = 0;
  for (const v of b) {
    s += v - 128;
    s2 += (v - 128) ** 2;
  }
  const mean = s / b.length;
  const std = Math.sqrt(s2 / b.length - mean ** 2);
  assert.ok(Math.abs(mean) < 0.3, `mean ${mean}`);
  // Quantisation adds ~1/12 variance: sqrt(12.75^2 + 1/12) ~ 12.75
  assert.ok(Math.abs(std - 0.05 * 255) < 0.4, `std ${std}`);

  const white = batch(10, () => 255);
  compensation({ p: 0, sigma: 0.5 }).apply(white, 10, shape, new Rng(3));
  assert.ok(white.some((v) => v === 255) && white.some((v) => v < 255), 'clamped at 255, not wrapped');
});

test('identity at p=0, sigma=0; deterministic for a seed; invalid options refused', () => {
  const src = batch(4, (i, k) => (i * 31 + k * 7) % 256);
  const a = src.slice();
  compensation({ p: 0, sigma: 0 }).apply(a, 4, shape, new Rng(4));
  assert.deepEqual(a, src);
  const x = src.slice();
  const y = src.slice();
  compensation({ p: 0.4, sigma: 0.05 }).apply(x, 4, shape, new Rng(5));
  compensation({ p: 0.4, sigma: 0.05 }).apply(y, 4, shape, new Rng(5));
  assert.deepEqual(x, y);
  assert.throws(() => compensation({ p: 1.5, sigma: 0.05 }), /p must be in \[0, 1\]/);
  assert.throws(() => compensation({ p: 0.4, sigma: -1 }), /sigma must be >= 0/);
});
