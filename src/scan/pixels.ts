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
/** A colour (24 bits) and an image's rank in its class share one float64: colour * TAG + rank, exact below 2^53. */
const TAG = 2 ** 24;

/** The first index in sorted[from, to) holding a value >= x. */
function lowerBound(sorted: Float64Array, from: number, to: number, x: number): number {
  while (from < to) {
    const mid = (from + to) >>> 1;
    if (sorted[mid]! < x) from = mid + 1;
    else to = mid;
  }
  return from;
}

/**
 * Class by class, each pixel's colours sorted (tagged with the image's rank in the class), so a
 * colour's share at a pixel is the length of its run: memory is one class's pixels at a time,
 * not a map entry per image and pixel (50,000 images would hold about 50 million). A share is
 * summed as 1/count, count times, and colours are visited in the order of the first image that
 * holds them: the same floats and the same tie-breaks as counting image by image.
 */
export function pixelSpike(ds: ImageDataset): PixelSpike {
  const { height: H, width: W, n } = ds;
  const P = H * W;
  const C = ds.classes.length;
  const members: number[][] = Array.from({ length: C }, () => []);
  for (let i = 0; i < n; i++) members[ds.labels[i]!]!.push(i);
  const img = ds.images;
  let best: PixelSpike = { value: 0, cls: 0, row: 0, col: 0, colour: [0, 0, 0] };
  for (let c = 0; c < C; c++) {
    const idx = members[c]!;
    const m = idx.length;
    if (m === 0) continue;
    if (m >= TAG) throw new Error(`pixel spike: class ${ds.classes[c]} has ${m} images, more than ${TAG - 1} this statistic can count`);
    const w = 1 / m;
    const share = (count: number): number => {
      let f = 0;
      for (let j = 0; j < count; j++) f += w;
      return f;
    };
    // pixel p's colours in col[p*m, (p+1)*m), ascending
    const col = new Float64Array(P * m);
    for (let r = 0; r < m; r++) {
      const o = idx[r]! * 3 * P;
      for (let p = 0; p < P; p++) col[p * m + r] = ((img[o + p]! << 16) | (img[o + P + p]! << 8) | img[o + 2 * P + p]!) * TAG + r;
    }
    for (let p = 0; p < P; p++) col.subarray(p * m, (p + 1) * m).sort();
    // the fewest images whose share reaches MIN_SHARE (shares grow with the count)
    let minCount = 1;
    while (minCount <= m && share(minCount) < MIN_SHARE) minCount++;
    const countAt = (q: number, k: number): number => lowerBound(col, q * m, (q + 1) * m, (k + 1) * TAG) - lowerBound(col, q * m, (q + 1) * m, k * TAG);
    for (let p = 0; p < P; p++) {
      const y = Math.floor(p / W);
      const x = p % W;
      // the runs long enough to count (colour, count, first rank), in the order of their first image
      const runs: [number, number, number][] = [];
      for (let a = p * m, end = (p + 1) * m; a < end; ) {
        const k = Math.floor(col[a]! / TAG);
        let b = a + 1;
        while (b < end && Math.floor(col[b]! / TAG) === k) b++;
        if (b - a >= minCount) runs.push([k, b - a, col[a]! - k * TAG]);
        a = b;
      }
      runs.sort((u, v) => u[2] - v[2]);
      for (const [k, count] of runs) {
        const f = share(count);
        if (f <= best.value) continue;
        let around = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if ((dy === 0 && dx === 0) || yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            around = Math.max(around, share(countAt(yy * W + xx, k)));
          }
        if (f - around > best.value) best = { value: f - around, cls: c, row: y, col: x, colour: [(k >> 16) & 255, (k >> 8) & 255, k & 255] };
      }
    }
  }
  return best;
}
