// kornia's image kernels (kornia.augmentation on float CHW images in [0,1]), as UEraser's policy
// (defenses/baselines/aa.ts) uses them: the plasma fractal (kornia.contrib.diamond_square, not
// normalised) with RandomPlasmaBrightness and RandomPlasmaContrast, the channel permutation of
// RandomChannelShuffle, and the 12 ops of kornia.augmentation.auto.TrivialAugment()'s default
// policy with the magnitude range each op actually samples (TRIVIAL_OPS).
//
// The plasma and op code is ours, written from kornia's formulas and checked against kornia
// 0.9.0rc1 (source snapshot of 2026-08) to float precision: the plasma maps given the same
// uniforms, and every op at several magnitudes (test/defense-aa.test.ts keeps a few of kornia's
// plasma values). Deviations: our own seeded generator (the draws differ from torch's);
// posterize rounds its U[0,4] draw to whole bits as that kornia does (older releases may have
// truncated). Everything runs on the CPU on a Float32Array copy of the batch.
import type { ImageShape } from './augment.js';
import { Rng } from './rng.js';

const TWO_POW_M32 = 1 / 4294967296;
/** Uniform [0,1) from one 32-bit draw (the plasma needs many; float32 precision is enough). */
const u01 = (rng: Rng): number => rng.uint32() * TWO_POW_M32;
const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

// ---------------------------------------------------------------------------------------------
// Plasma fractal (kornia.contrib.diamond_square with random_scale 1, no normalisation)

/** The recursion of one map: depth and the seed grid's size (kornia's rules; one side is 3). */
export function plasmaGeometry(height: number, width: number): { depth: number; seedH: number; seedW: number; gridH: number; gridW: number } {
  if (!(Number.isInteger(height) && Number.isInteger(width) && height >= 3 && width >= 3)) throw new Error(`plasma fractal: images must be at least 3x3, got ${height}x${width}`);
  const ceilLog2 = (v: number): number => {
    let k = 0;
    while (2 ** k < v) k++;
    return k;
  };
  // grid sides 2^ceil(log2(side - 1)) + 1; depth = min(log2(grid side - 1)) - 1
  const lh = ceilLog2(height - 1);
  const lw = ceilLog2(width - 1);
  const depth = Math.min(lh, lw) - 1;
  const seedH = 2 ** (lh - depth) + 1;
  const seedW = 2 ** (lw - depth) + 1;
  return { depth, seedH, seedW, gridH: (seedH - 1) * 2 ** depth + 1, gridW: (seedW - 1) * 2 ** depth + 1 };
}

/** Scratch buffers of the plasma and the geometric ops for one image shape. */
export class Workspace {
  /** null for images under 3x3 (no plasma; the TrivialAugment ops still work) */
  readonly geo: ReturnType<typeof plasmaGeometry> | null;
  readonly a: Float32Array;
  readonly b: Float32Array;
  /** one H x W map per channel */
  readonly maps: Float32Array;
  /** a copy of one image (the geometric ops read from it) */
  readonly image: Float32Array;
  /** the 3 x L seed grid under construction */
  readonly seed: Float64Array;
  readonly hist = new Int32Array(256);
  readonly lut = new Int32Array(256);
  constructor(readonly shape: ImageShape) {
    this.geo = shape.height >= 3 && shape.width >= 3 ? plasmaGeometry(shape.height, shape.width) : null;
    const grid = this.geo ? this.geo.gridH * this.geo.gridW : 0;
    this.a = new Float32Array(grid);
    this.b = new Float32Array(grid);
    this.seed = new Float64Array(this.geo ? 3 * Math.max(this.geo.seedH, this.geo.seedW) : 0);
    this.maps = new Float32Array(shape.channels * shape.height * shape.width);
    this.image = new Float32Array(shape.channels * shape.height * shape.width);
  }
}

/**
 * The seed grid (kornia's `_diamond_square_seed`), built as 3 x L and transposed when the
 * columns are the side of 3 (always for a square seed). Kornia's quirks are kept: corners and
 * the centre end up in [0, 1/3) (the final /3 also divides them), the edge midpoints are the
 * mean of three values, the left and right midpoints of the middle row both use the lower-left
 * corner, and for L > 3 the middle row's even interior cells stay raw uniforms / 3.
 */
function plasmaSeed(out: Float32Array, ws: Workspace, geo: ReturnType<typeof plasmaGeometry>, rng: Rng): void {
  const { seedH, seedW } = geo;
  const transpose = seedW === 3;
  const L = transpose ? seedH : seedW;
  const B = ws.seed;
  for (let k = 0; k < 3 * L; k++) B[k] = u01(rng);
  for (let j = 1; j < L; j += 2) B[L + j] = (B[j - 1]! + B[2 * L + j - 1]! + B[j + 1]! + B[2 * L + j + 1]!) / 4;
  const lowerLeft = B[2 * L]!;
  B[L] = B[0]! + B[L + 1]! + lowerLeft;
  B[L + L - 1] = B[2 * L + L - 1]! + B[L + L - 2]! + lowerLeft;
  for (let j = 1; j < L; j += 2) {
    B[j] = B[j - 1]! + B[j + 1]! + B[L + j]!;
    B[2 * L + j] = B[2 * L + j - 1]! + B[2 * L + j + 1]! + B[L + j]!;
  }
  for (let r = 0; r < 3; r++)
    for (let j = 0; j < L; j++) {
      const v = B[r * L + j]! / 3;
      if (transpose) out[j * 3 + r] = v;
      else out[r * L + j] = v;
    }
}

/**
 * One plasma map of H x W into out[offset..] (kornia's diamond-square, one replicate): from the
 * seed, `depth` doublings; at level k the noise scale is s = roughness^k and each new cell is
 * (1-s) * (mean of its 4 neighbours) + s * U[0,1). Diamond cells (odd, odd) average their 4
 * diagonal neighbours; edge cells then average their 4 axis neighbours, with kornia's
 * reflect-padded filter (the outer neighbour of a border cell is its inner one again) and its
 * 4/3 border factor. The grid is cropped to H x W at the top left. Values are >= 0 and mostly
 * in [0, 1] (the border factor can push a few above 1; never above (4/3)^depth).
 */
export function plasmaMap(out: Float32Array, offset: number, roughness: number, rng: Rng, ws: Workspace): void {
  const geo = ws.geo ?? plasmaGeometry(ws.shape.height, ws.shape.width); // throws under 3x3
  const { depth, seedH, seedW } = geo;
  let cur = ws.a;
  let nxt = ws.b;
  plasmaSeed(cur, ws, geo, rng);
  let h = seedH;
  let w = seedW;
  let s = 1;
  for (let level = 0; level < depth; level++) {
    s *= roughness;
    const H2 = 2 * h - 1;
    const W2 = 2 * w - 1;
    nxt.fill(0, 0, H2 * W2);
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) nxt[2 * i * W2 + 2 * j] = cur[i * w + j]!;
    // diamond: centres of the squares of four grid points
    for (let i = 1; i < H2; i += 2)
      for (let j = 1; j < W2; j += 2) {
        const d = 0.25 * (nxt[(i - 1) * W2 + j - 1]! + nxt[(i - 1) * W2 + j + 1]! + nxt[(i + 1) * W2 + j - 1]! + nxt[(i + 1) * W2 + j + 1]!);
        if (d > 0) nxt[i * W2 + j] = (1 - s) * d + s * u01(rng);
      }
    // square: the cells with i + j odd (edge midpoints), reading grid and diamond cells only
    for (let i = 0; i < H2; i++) {
      const up = i === 0 ? 1 : i - 1;
      const down = i === H2 - 1 ? H2 - 2 : i + 1;
      for (let j = (i & 1) === 0 ? 1 : 0; j < W2; j += 2) {
        const left = j === 0 ? 1 : j - 1;
        const right = j === W2 - 1 ? W2 - 2 : j + 1;
        let q = 0.25 * (nxt[up * W2 + j]! + nxt[down * W2 + j]! + nxt[i * W2 + left]! + nxt[i * W2 + right]!);
        if (i === 0 || i === H2 - 1 || j === 0 || j === W2 - 1) q *= 4 / 3;
        if (q > 0) nxt[i * W2 + j] = (1 - s) * q + s * u01(rng);
      }
    }
    [cur, nxt] = [nxt, cur];
    h = H2;
    w = W2;
  }
  const { height, width } = ws.shape;
  for (let i = 0; i < height; i++) for (let j = 0; j < width; j++) out[offset + i * width + j] = cur[i * w + j]!;
}

/** One map per channel into ws.maps (each channel its own fractal, one roughness per image). */
export function plasmaMaps(roughness: number, rng: Rng, ws: Workspace): Float32Array {
  const plane = ws.shape.height * ws.shape.width;
  for (let c = 0; c < ws.shape.channels; c++) plasmaMap(ws.maps, c * plane, roughness, rng, ws);
  return ws.maps;
}

/** kornia RandomPlasmaBrightness on one image: clamp(x + intensity * (2m - 1), 0, 1). */
export function plasmaBrightness(img: Float32Array, base: number, maps: Float32Array, intensity: number, n: number): void {
  for (let k = 0; k < n; k++) img[base + k] = clamp01(img[base + k]! + intensity * (2 * maps[k]! - 1));
}

/** kornia RandomPlasmaContrast on one image: clamp((x - 0.5) * 4m + 0.5, 0, 1). */
export function plasmaContrast(img: Float32Array, base: number, maps: Float32Array, n: number): void {
  for (let k = 0; k < n; k++) img[base + k] = clamp01((img[base + k]! - 0.5) * 4 * maps[k]! + 0.5);
}

/** Channel c of the output becomes channel perm[c] of the input (kornia's input[b, perm]). */
export function permuteChannels(img: Float32Array, base: number, s: ImageShape, perm: ArrayLike<number>, ws: Workspace): void {
  const plane = s.height * s.width;
  const n = s.channels * plane;
  ws.image.set(img.subarray(base, base + n));
  for (let c = 0; c < s.channels; c++) img.set(ws.image.subarray(perm[c]! * plane, (perm[c]! + 1) * plane), base + c * plane);
}

// ---------------------------------------------------------------------------------------------
// TrivialAugment (kornia's default policy)

export type TrivialOpName =
  | 'auto_contrast'
  | 'equalize'
  | 'rotate'
  | 'posterize'
  | 'solarize'
  | 'contrast'
  | 'brightness'
  | 'sharpness'
  | 'shear_x'
  | 'shear_y'
  | 'translate_x'
  | 'translate_y';

/**
 * kornia's default TrivialAugment policy with the magnitude range each op actually samples
 * (uniform; `round` for posterize's bits). Units: rotate and shear in degrees (positive only:
 * rotation counter-clockwise, kornia's sign), translate as a fraction of the width/height
 * (positive: right/down), posterize in kept bits, solarize as the threshold, the rest factors.
 */
export const TRIVIAL_OPS: readonly { readonly name: TrivialOpName; readonly low: number; readonly high: number }[] = [
  { name: 'auto_contrast', low: 0, high: 0 },
  { name: 'equalize', low: 0, high: 0 },
  { name: 'rotate', low: 0, high: 30 },
  { name: 'posterize', low: 0, high: 4 },
  { name: 'solarize', low: 0, high: 1 },
  { name: 'contrast', low: 0.1, high: 1.9 },
  { name: 'brightness', low: 0.1, high: 1.9 },
  { name: 'sharpness', low: 0.1, high: 1.9 },
  { name: 'shear_x', low: 0, high: 0.3 },
  { name: 'shear_y', low: 0, high: 0.3 },
  { name: 'translate_x', low: 0, high: 0.5 },
  { name: 'translate_y', low: 0, high: 0.5 },
];

/** A magnitude for one image, as kornia samples it for the op. */
export function sampleMagnitude(op: TrivialOpName, rng: Rng): number {
  const spec = TRIVIAL_OPS.find((o) => o.name === op);
  if (!spec) throw new Error(`unknown TrivialAugment op "${op}"`);
  const m = spec.low + (spec.high - spec.low) * rng.float();
  return op === 'posterize' ? Math.round(m) : m;
}

/**
 * Resample one image through an inverse affine map (output pixel (x, y) reads the input at
 * (a x + b y + c, d x + e y + f)), bilinear, zeros outside: kornia's warp_affine with
 * align_corners=True, i.e. pixel centres at integer coordinates.
 */
function warpInverse(img: Float32Array, base: number, s: ImageShape, ws: Workspace, m: readonly [number, number, number, number, number, number]): void {
  const { channels: C, height: H, width: W } = s;
  const plane = H * W;
  const src = ws.image;
  src.set(img.subarray(base, base + C * plane));
  const [a, b, c, d, e, f] = m;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const sx = a * x + b * y + c;
      const sy = d * x + e * y + f;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const wx = sx - x0;
      const wy = sy - y0;
      const in00 = x0 >= 0 && x0 < W && y0 >= 0 && y0 < H;
      const in01 = x0 + 1 >= 0 && x0 + 1 < W && y0 >= 0 && y0 < H;
      const in10 = x0 >= 0 && x0 < W && y0 + 1 >= 0 && y0 + 1 < H;
      const in11 = x0 + 1 >= 0 && x0 + 1 < W && y0 + 1 >= 0 && y0 + 1 < H;
      const w00 = (1 - wx) * (1 - wy);
      const w01 = wx * (1 - wy);
      const w10 = (1 - wx) * wy;
      const w11 = wx * wy;
      const p = y0 * W + x0;
      for (let ch = 0; ch < C; ch++) {
        const o = ch * plane;
        let v = 0;
        if (in00) v += w00 * src[o + p]!;
        if (in01) v += w01 * src[o + p + 1]!;
        if (in10) v += w10 * src[o + p + W]!;
        if (in11) v += w11 * src[o + p + W + 1]!;
        img[base + o + y * W + x] = v;
      }
    }
}

/** PIL/kornia equalize of one channel plane (kornia's batched `equalize`, bin for bin). */
function equalizePlane(img: Float32Array, off: number, n: number, ws: Workspace): void {
  const hist = ws.hist;
  const lut = ws.lut;
  hist.fill(0);
  for (let k = 0; k < n; k++) {
    const bin = Math.floor(img[off + k]! * 256);
    hist[bin < 0 ? 0 : bin > 255 ? 255 : bin]!++;
  }
  let last = 255;
  while (last > 0 && hist[last] === 0) last--;
  const step = Math.floor((n - hist[last]!) / 255);
  if (step === 0) return;
  // lut[i] = (sum of the bins below i + step // 2) // step, clipped to 255
  let cum = 0;
  for (let i = 0; i < 256; i++) {
    lut[i] = Math.min(255, Math.floor((cum + Math.floor(step / 2)) / step));
    cum += hist[i]!;
  }
  for (let k = 0; k < n; k++) {
    const v = Math.floor(img[off + k]! * 255);
    img[off + k] = lut[v < 0 ? 0 : v > 255 ? 255 : v]! / 255;
  }
}

/** Apply one TrivialAugment op with a given magnitude to one image (kornia's formulas). */
export function applyTrivialOp(op: TrivialOpName, img: Float32Array, base: number, s: ImageShape, magnitude: number, ws: Workspace): void {
  const { channels: C, height: H, width: W } = s;
  const plane = H * W;
  const n = C * plane;
  const deg = (magnitude * Math.PI) / 180;
  // kornia's rotation and shear centre
  const cx = (W - 1) / 2;
  const cy = (H - 1) / 2;
  switch (op) {
    case 'auto_contrast':
      // kornia normalize_min_max per channel: (x - min) / (max - min + 1e-6) (a flat channel -> 0)
      for (let c = 0; c < C; c++) {
        const o = base + c * plane;
        let lo = Infinity;
        let hi = -Infinity;
        for (let k = 0; k < plane; k++) {
          const v = img[o + k]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        const scale = 1 / (hi - lo + 1e-6);
        for (let k = 0; k < plane; k++) img[o + k] = clamp01((img[o + k]! - lo) * scale);
      }
      return;
    case 'equalize':
      for (let c = 0; c < C; c++) equalizePlane(img, base + c * plane, plane, ws);
      return;
    case 'posterize': {
      const bits = Math.round(magnitude);
      if (bits >= 8) return;
      const mask = bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
      for (let k = 0; k < n; k++) img[base + k] = (Math.floor(clamp01(img[base + k]!) * 255) & mask) / 255;
      return;
    }
    case 'solarize':
      for (let k = 0; k < n; k++) {
        const v = img[base + k]!;
        img[base + k] = v < magnitude ? v : 1 - v;
      }
      return;
    case 'contrast':
      // kornia adjust_contrast: a plain multiplication
      for (let k = 0; k < n; k++) img[base + k] = clamp01(img[base + k]! * magnitude);
      return;
    case 'brightness':
      // kornia RandomBrightness: adjust_brightness(x, factor - 1), an addition
      for (let k = 0; k < n; k++) img[base + k] = clamp01(img[base + k]! + magnitude - 1);
      return;
    case 'sharpness': {
      // blend with the [[1,1,1],[1,5,1],[1,1,1]]/13 smoothed image (borders kept), clamped
      const src = ws.image;
      src.set(img.subarray(base, base + n));
      for (let c = 0; c < C; c++) {
        const o = c * plane;
        for (let y = 1; y < H - 1; y++)
          for (let x = 1; x < W - 1; x++) {
            const p = o + y * W + x;
            let sum = 4 * src[p]!;
            for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) sum += src[p + dy * W + dx]!;
            const degenerate = clamp01(sum / 13);
            img[base + p] = clamp01(degenerate + (src[p]! - degenerate) * magnitude);
          }
      }
      return;
    }
    case 'rotate': {
      // forward (OpenCV/kornia, counter-clockwise on screen): dst - c = [[cos, sin], [-sin, cos]] (src - c)
      const co = Math.cos(deg);
      const si = Math.sin(deg);
      warpInverse(img, base, s, ws, [co, -si, cx - co * cx + si * cy, si, co, cy - si * cx - co * cy]);
      return;
    }
    case 'shear_x': {
      // forward: x' = x - tan(a) (y - cy)
      const t = Math.tan(deg);
      warpInverse(img, base, s, ws, [1, t, -t * cy, 0, 1, 0]);
      return;
    }
    case 'shear_y': {
      // forward: y' = y - tan(a) (x - cx)
      const t = Math.tan(deg);
      warpInverse(img, base, s, ws, [1, 0, 0, t, 1, -t * cx]);
      return;
    }
    case 'translate_x':
      warpInverse(img, base, s, ws, [1, 0, -magnitude * W, 0, 1, 0]);
      return;
    case 'translate_y':
      warpInverse(img, base, s, ws, [1, 0, 0, 0, 1, -magnitude * H]);
      return;
    default: {
      const never: never = op;
      throw new Error(`unknown TrivialAugment op "${String(never)}"`);
    }
  }
}
