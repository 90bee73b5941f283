// A statistic for sparse shortcuts such as OPS (one pixel per image set to one colour per class):
// the share of a class's images that hold one exact colour at one pixel, beyond the largest
// share of that class's images holding that colour at any neighbouring pixel. Clean images have
// exact colours in runs (a white sky, a black border), so a colour frequent at a pixel is as
// frequent next to it; a one-pixel shortcut stands alone. Linear probes miss it when only a few
// images carry it (it is one of 3,072 inputs); counting finds it. Seconds for 5,000 images.
import type { ImageDataset } from '../data/dataset.js';

export interface PixelSpike {
  /** the largest excess share (0..1) */
  value: number;
  /** where: class index, row, column, and the colour (R, G, B) */
  cls: number;
  row: number;
  col: number;
  colour: [number, number, number];
}

/** Colours held by fewer than this share of a class's images at a pixel are not counted (speed; a spike below it is no evidence). */
const MIN_SHARE = 0.02;

export function pixelSpike(ds: ImageDataset): PixelSpike {
  const { height: H, width: W, n } = ds;
  const P = H * W;
  const C = ds.classes.length;
  const count = new Int32Array(C);
  for (let i = 0; i < n; i++) count[ds.labels[i]!]!++;
  // share[c][p]: colour (24-bit) -> share of class c's images with that colour at pixel p
  const share: Map<number, number>[][] = Array.from({ length: C }, () => Array.from({ length: P }, () => new Map<number, number>()));
  const img = ds.images;
  for (let i = 0; i < n; i++) {
    const c = ds.labels[i]!;
    const w = 1 / count[c]!;
    const o = i * 3 * P;
    for (let p = 0; p < P; p++) {
      const k = (img[o + p]! << 16) | (img[o + P + p]! << 8) | img[o + 2 * P + p]!;
      const m = share[c]![p]!;
      m.set(k, (m.get(k) ?? 0) + w);
    }
  }
  let best: PixelSpike = { value: 0, cls: 0, row: 0, col: 0, colour: [0, 0, 0] };
  for (let c = 0; c < C; c++)
    for (let p = 0; p < P; p++) {
      const y = Math.floor(p / W);
      const x = p % W;
      for (const [k, f] of share[c]![p]!) {
        if (f < MIN_SHARE || f <= best.value) continue;
        let around = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if ((dy === 0 && dx === 0) || yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            around = Math.max(around, share[c]![yy * W + xx]!.get(k) ?? 0);
          }
        if (f - around > best.value) best = { value: f - around, cls: c, row: y, col: x, colour: [(k >> 16) & 255, (k >> 8) & 255, k & 255] };
      }
    }
  return best;
}
