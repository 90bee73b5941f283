// OPS, the one-pixel shortcut (Wu et al., ICLR 2023, "One-Pixel Shortcut: on the learning preference
// of deep neural networks"; cychomatica/One-Pixel-Shotcut, perturb.py pixel_search).
//
// Recipe, per class y in label order:
// - for every pixel position p and every colour c of the cube's corners {0,1}^3 (R, G, B each 0
//   or 255), take the class's images' distance to c at p, |c - x_p| in [0,1] units over the
//   class's images and the three channels together, and score the pair by mean / std of it: a
//   colour far from every image of the class at that spot, and steadily so;
// - a (position, colour) pair an earlier class took scores 0, so no two classes share one;
// - the best-scoring pair is the class's; every image of the class gets that pixel set to c.
// One pixel per image (L0 = 1 pixel, 3 values), unbounded in L_inf: the bound recorded is
// L_inf <= 255/255, and the pixels chosen are in the metadata. No randomness: the seed only names
// the output. A std of 0 (every image of the class has the same distance) scores +Infinity when
// the distance is not 0 (the original divides by zero the same way), and 0 when it is.

import type { ImageDataset } from '../data/dataset.js';
import { BaseAttack } from './base.js';
import type { DatasetShape, PerturbationBound, PerturbationGenerator, Quantization } from './types.js';

/** The corners of the RGB cube, in the original's order (index v: R = bit 2, G = bit 1, B = bit 0). */
const CORNERS: readonly (readonly [number, number, number])[] = Array.from({ length: 8 }, (_, v) => [(v >> 2) & 1, (v >> 1) & 1, v & 1] as const);

/** One class's shortcut: the pixel (row, column) and its colour (0 or 1 per channel). */
export interface OnePixel {
  row: number;
  col: number;
  colour: readonly [number, number, number];
  /** the search's score of the pair (mean / std of |c - x| over the class) */
  score: number;
}

/** The pixel search over the clean images: one (position, colour) per class. */
export function pixelSearch(ds: Pick<ImageDataset, 'images' | 'labels' | 'n' | 'height' | 'width' | 'classes'>): OnePixel[] {
  const { height: H, width: W } = ds;
  const P = H * W;
  const per = 3 * P;
  const taken = new Set<number>();
  const out: OnePixel[] = [];
  for (let y = 0; y < ds.classes.length; y++) {
    const members: number[] = [];
    for (let i = 0; i < ds.n; i++) if (ds.labels[i] === y) members.push(i);
    let best = { key: -1, score: -Infinity };
    for (let p = 0; p < P; p++)
      for (let v = 0; v < 8; v++) {
        const key = p * 8 + v;
        let score = 0;
        if (!taken.has(key) && members.length > 0) {
          const c = CORNERS[v]!;
          // mean and (population) std of |c - x| over the class's images and channels, as np.std
          let s = 0;
          let ss = 0;
          for (const i of members)
            for (let ch = 0; ch < 3; ch++) {
              const d = Math.abs(c[ch]! - ds.images[i * per + ch * P + p]! / 255);
              s += d;
              ss += d * d;
            }
          const m = 3 * members.length;
          const mean = s / m;
          const std = Math.sqrt(Math.max(0, ss / m - mean * mean));
          score = std > 0 ? mean / std : mean > 0 ? Infinity : 0;
        }
        // the first best in scan order on ties (the original's argsort keeps the last)
        if (score > best.score) best = { key, score };
      }
    taken.add(best.key);
    const p = Math.floor(best.key / 8);
    out.push({ row: Math.floor(p / W), col: p % W, colour: CORNERS[best.key % 8]!, score: best.score });
  }
  return out;
}

export class OpsAttack extends BaseAttack {
  readonly name = 'ops';
  readonly recipe = 'one pixel per image set to a colour of {0,1}^3, per class the (position, colour) that maximises mean/std of |c - x| over the class (Wu et al. 2023, cychomatica/One-Pixel-Shotcut)';
  /** one pixel may take any value: the bound that holds is the trivial one */
  readonly bound: PerturbationBound = { norm: 'linf', epsilon: 1 };
  /** the pixels become exactly 0 or 255 either way */
  readonly quantization: Quantization = 'round';
  readonly params = { pixels_per_image: 1, colours: 'corners of the RGB cube', score: 'mean/std of |c - x| over the class' };
  /** the search of the dataset last poisoned, for its metadata */
  private readonly searched = new WeakMap<object, OnePixel[]>();

  generator(ds: DatasetShape, _seed: number): PerturbationGenerator {
    if (!('images' in ds)) throw new Error('ops attack: the pixel search needs the clean images (call poison() with the dataset)');
    const pixels = pixelSearch(ds as ImageDataset);
    this.searched.set(ds, pixels);
    const P = ds.height * ds.width;
    return {
      perturbation(_index: number, label: number, out: Float64Array, image: Uint8Array): void {
        const { row, col, colour } = pixels[label]!;
        const p = row * ds.width + col;
        for (let ch = 0; ch < 3; ch++) out[ch * P + p] = colour[ch]! - image[ch * P + p]! / 255;
      },
    };
  }

  protected override extraMeta(ds: DatasetShape, _seed: number): Record<string, string> {
    const pixels = this.searched.get(ds) ?? [];
    return {
      l0_pixels: '1',
      ops_pixels: JSON.stringify(pixels.map((q, y) => ({ class: ds.classes[y], row: q.row, col: q.col, colour: q.colour.map((v) => 255 * v), score: Number.isFinite(q.score) ? Number(q.score.toFixed(6)) : String(q.score) }))),
    };
  }
}
