// COIN (Li et al., AAAI 2025, "Detecting and Corrupting Convolution-based Unlearnable Examples";
// wxldragon/COIN, train.py COIN_trans): a random per-pixel displacement with bilinear resampling
// in the training transform, against convolution-based poisons (CUDA): it breaks the class-wise
// multiplicative structure that a fixed blur leaves. Beyond the paper (issue 29).
//
// Recipe, per training image and epoch, after the random crop and flip (on the bytes):
// - alpha from the severity (1..7): 0.8, 1.2, 1.6, 2.0, 2.4, 2.8, 3.2 pixels (default 4: 2.0);
// - per pixel (y, x) a displacement dx, dy ~ U(-alpha, alpha), drawn dx for every pixel first,
//   then dy, shared by the three channels;
// - the output at (y, x) is the image sampled at (y + dy, x + dx) by bilinear interpolation, the
//   coordinates wrapped as scipy's map_coordinates(mode='wrap') wraps them: with period n - 1
//   (the last row or column meets the first), then clipped to [0, 1] and truncated to bytes
//   (the release's np.uint8). Computed in float64; a value within 1e-9 of a whole byte is that byte.
import type { ImageDataset } from '../../data/dataset.js';
import type { Rng } from '../../data/rng.js';
import type { SettingTable } from '../../settings.js';
import type { BatchTransform } from '../../training/trainer.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import type { DefenseContext, DefensePlan } from './types.js';

const ALPHAS = [0.8, 1.2, 1.6, 2.0, 2.4, 2.8, 3.2] as const;

export const COIN_SETTINGS = {
  severity: {
    flag: 'coin-severity', kind: 'int', min: 1, max: 7,
    help: 'COIN: displacement bound alpha = 0.8, 1.2, 1.6, 2.0, 2.4, 2.8, 3.2 pixels for severity 1..7',
    profiles: { smoke: 4, mini: 4, paper: 4 },
  },
} as const satisfies SettingTable;

/** The displacement bound of a severity (1..7). */
export function coinAlpha(severity: number): number {
  const a = ALPHAS[severity - 1];
  if (a === undefined) throw new Error(`coin: severity must be an integer in 1..7, got ${severity}`);
  return a;
}

/** A coordinate wrapped as map_coordinates(mode='wrap'): one inside [0, n - 1] stays; one outside
 * is taken with period n - 1 into [0, n - 1) (the last sample and the first overlap). */
function wrap(u: number, n: number): number {
  if (n < 2) return 0;
  if (u >= 0 && u <= n - 1) return u;
  const m = n - 1;
  return ((u % m) + m) % m;
}

/**
 * Resample one image (CHW bytes at images[off ..]) in place at the displaced coordinates:
 * output (y, x) = bilinear sample at (y + dy[y*W + x], x + dx[y*W + x]).
 */
export function coinWarp(images: Uint8Array, off: number, C: number, H: number, W: number, dx: Float64Array, dy: Float64Array, scratch: Float64Array): void {
  const P = H * W;
  for (let j = 0; j < C * P; j++) scratch[j] = images[off + j]! / 255;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const v = wrap(y + dy[p]!, H);
      const u = wrap(x + dx[p]!, W);
      const y0 = Math.floor(v);
      const x0 = Math.floor(u);
      const fy = v - y0;
      const fx = u - x0;
      const y1 = Math.min(y0 + 1, H - 1);
      const x1 = Math.min(x0 + 1, W - 1);
      for (let c = 0; c < C; c++) {
        const o = c * P;
        const s = (1 - fy) * ((1 - fx) * scratch[o + y0 * W + x0]! + fx * scratch[o + y0 * W + x1]!) + fy * ((1 - fx) * scratch[o + y1 * W + x0]! + fx * scratch[o + y1 * W + x1]!);
        const b = Math.min(1, Math.max(0, s)) * 255;
        images[off + o + p] = Math.floor(b + 1e-9);
      }
    }
}

/** COIN as a training transform: a fresh displacement field per image, from the batch's generator. */
export function coinTransform(severity: number): BatchTransform {
  const alpha = coinAlpha(severity);
  return {
    name: `coin(alpha ${alpha})`,
    apply(images: Uint8Array, count: number, shape: { channels: number; height: number; width: number }, rng: Rng): void {
      const { channels: C, height: H, width: W } = shape;
      const P = H * W;
      const dx = new Float64Array(P);
      const dy = new Float64Array(P);
      const scratch = new Float64Array(C * P);
      for (let i = 0; i < count; i++) {
        for (let p = 0; p < P; p++) dx[p] = (2 * rng.float() - 1) * alpha;
        for (let p = 0; p < P; p++) dy[p] = (2 * rng.float() - 1) * alpha;
        coinWarp(images, i * C * P, C, H, W, dx, dy, scratch);
      }
    },
  };
}

export class CoinDefense extends BaselineDefense<typeof COIN_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('coin', COIN_SETTINGS, o);
  }
  async plan(train: ImageDataset, _ctx: DefenseContext): Promise<DefensePlan> {
    const alpha = coinAlpha(this.settings.severity);
    return { train, transform: coinTransform(this.settings.severity), notes: { alpha: String(alpha), resampling: 'bilinear, wrapped with period n - 1 (map_coordinates mode wrap)' } };
  }
}
