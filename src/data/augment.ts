// Batched, seeded augmentation on planar uint8 images (CHW), written into a caller-owned buffer.
// Plain index loops and no per-image allocation: this runs on every training batch.

import type { Rng } from './rng.js';

export interface ImageShape {
  channels: number;
  height: number;
  width: number;
}

/**
 * Copy one image applying a padded crop then an optional horizontal mirror (torchvision order:
 * RandomCrop(pad) then RandomHorizontalFlip). (ox, oy) in [0, 2*pad] is the crop corner in the
 * zero-padded image, so output(y, x) = src(y + oy - pad, x + ox - pad), or 0 outside the source.
 */
export function cropFlipOne(
  src: Uint8Array, srcOff: number,
  dst: Uint8Array, dstOff: number,
  shape: ImageShape, pad: number, ox: number, oy: number, flip: boolean,
): void {
  const { channels: C, height: H, width: W } = shape;
  const dx = ox - pad;
  const dy = oy - pad;
  // Columns of the un-mirrored crop that come from the source; the rest are padding zeros.
  const x0 = Math.max(0, -dx);
  const x1 = Math.min(W, W - dx);
  for (let c = 0; c < C; c++) {
    const sPlane = srcOff + c * H * W;
    const dPlane = dstOff + c * H * W;
    for (let y = 0; y < H; y++) {
      const sy = y + dy;
      const dRow = dPlane + y * W;
      if (sy < 0 || sy >= H || x0 >= x1) {
        dst.fill(0, dRow, dRow + W);
        continue;
      }
      const sRow = sPlane + sy * W;
      if (!flip) {
        for (let x = 0; x < x0; x++) dst[dRow + x] = 0;
        for (let x = x0; x < x1; x++) dst[dRow + x] = src[sRow + x + dx];
        for (let x = x1; x < W; x++) dst[dRow + x] = 0;
      } else {
        // final(x') = crop(W-1-x'); crop columns [x0, x1) land on [W-x1, W-x0).
        const f0 = W - x1;
        const f1 = W - x0;
        const base = sRow + W - 1 + dx;
        for (let x = 0; x < f0; x++) dst[dRow + x] = 0;
        for (let x = f0; x < f1; x++) dst[dRow + x] = src[base - x];
        for (let x = f1; x < W; x++) dst[dRow + x] = 0;
      }
    }
  }
}

export interface CropFlipOptions {
  /** Zero padding on each side before the random crop (default 4; 0 disables cropping). */
  padding?: number;
  /** Probability of a horizontal flip (default 0.5; 0 disables). */
  flipProb?: number;
}

/**
 * Augment `count` images from `src` into `dst` (must not overlap). Per image the rng draws,
 * in this order: ox = int(2p+1), oy = int(2p+1), then flip if float() < flipProb.
 */
export function randomCropFlip(
  src: Uint8Array, dst: Uint8Array, count: number, shape: ImageShape, rng: Rng, opts: CropFlipOptions = {},
): void {
  const pad = opts.padding ?? 4;
  const pFlip = opts.flipProb ?? 0.5;
  const per = shape.channels * shape.height * shape.width;
  if (src.length < count * per || dst.length < count * per) {
    throw new Error(`randomCropFlip: buffers hold ${src.length}/${dst.length} bytes, need ${count * per}`);
  }
  if (src.buffer === dst.buffer && src.byteOffset < dst.byteOffset + count * per && dst.byteOffset < src.byteOffset + count * per) {
    throw new Error('randomCropFlip: src and dst must not overlap');
  }
  for (let i = 0; i < count; i++) {
    const ox = pad > 0 ? rng.int(2 * pad + 1) : 0;
    const oy = pad > 0 ? rng.int(2 * pad + 1) : 0;
    const flip = pFlip > 0 && rng.float() < pFlip;
    cropFlipOne(src, i * per, dst, i * per, shape, pad, ox, oy, flip);
  }
}

/** Augmentation hook for the batch loader: read `count` images from src, write them to dst. */
export type BatchAugment = (src: Uint8Array, dst: Uint8Array, count: number, shape: ImageShape, rng: Rng) => void;

/** The standard CIFAR training augmentation (crop 32 with 4-pixel zero pad + flip p=0.5) as a loader hook. */
export function cropFlipAugment(opts: CropFlipOptions = {}): BatchAugment {
  return (src, dst, count, shape, rng) => randomCropFlip(src, dst, count, shape, rng, opts);
}

export interface ToFloatOptions {
  /** Per-channel mean subtracted after scaling to [0,1] (default 0). */
  mean?: readonly number[];
  /** Per-channel std divided after the mean (default 1). */
  std?: readonly number[];
}

/** CIFAR-10 training-set channel statistics, for `toFloat(..., { mean, std })`. */
export const CIFAR10_MEAN: readonly number[] = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD: readonly number[] = [0.2470, 0.2435, 0.2616];

/**
 * uint8 CHW images -> Float32 in [0,1], optionally (x - mean[c]) / std[c]. Uses a 256-entry
 * lookup table per channel. `out` is reused when given (must hold src.length floats).
 */
export function toFloat(src: Uint8Array, shape: ImageShape, opts: ToFloatOptions = {}, out?: Float32Array): Float32Array {
  const C = shape.channels;
  const plane = shape.height * shape.width;
  const per = C * plane;
  if (src.length % per !== 0) throw new Error(`toFloat: ${src.length} bytes is not a whole number of ${C}x${shape.height}x${shape.width} images`);
  const dst = out ?? new Float32Array(src.length);
  if (dst.length < src.length) throw new Error(`toFloat: output holds ${dst.length} floats, need ${src.length}`);
  const luts: Float32Array[] = [];
  for (let c = 0; c < C; c++) {
    const m = opts.mean?.[c] ?? 0;
    const s = opts.std?.[c] ?? 1;
    if (!(s > 0)) throw new Error(`toFloat: std[${c}] must be > 0`);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = (v / 255 - m) / s;
    luts.push(lut);
  }
  const n = src.length / per;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) {
      const lut = luts[c];
      const o = i * per + c * plane;
      for (let p = 0; p < plane; p++) dst[o + p] = lut[src[o + p]];
    }
  }
  return dst;
}
