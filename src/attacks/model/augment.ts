// Differentiable augmentation for expectation over transformations (TAP, REM, EntF): a
// random shift as RandomCrop(32, padding=4) does it (zero padding, then a crop at an integer
// offset) and a random horizontal flip, drawn per sample from a seeded Generator. Both are
// index operations, so the gradient w.r.t. the input is exact (a shifted, flipped copy of the
// output gradient, zero where the crop showed padding).
// The draw and its application are separate so that one draw can be reused: REM takes the
// noise gradient through the same transformation that its inner attack saw.
import { F, Tensor, noGrad, tidy, type Generator } from '../../engine/index.js';

export interface ShiftFlipOptions {
  /** zero padding on each side; the crop offset is uniform in [0, 2*padding] (default 4) */
  padding?: number;
  /** probability of a horizontal flip (default 0.5) */
  flipProb?: number;
}

/** One transformation per sample: crop offsets into the padded image and flip flags. */
export interface ShiftFlipDraw {
  padding: number;
  /** row offset of sample i's crop in the padded image, in [0, 2*padding] */
  offsetY: Int32Array;
  offsetX: Int32Array;
  flip: Uint8Array;
}

/** Draw n transformations from gen (the offsets first, then the flips). */
export function drawShiftFlip(n: number, gen: Generator, o: ShiftFlipOptions = {}): ShiftFlipDraw {
  const padding = o.padding ?? 4;
  const flipProb = o.flipProb ?? 0.5;
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`shift padding must be a non-negative integer, got ${padding}`);
  if (!(flipProb >= 0 && flipProb <= 1)) throw new Error(`flip probability must be in [0, 1], got ${flipProb}`);
  const draw: ShiftFlipDraw = { padding, offsetY: new Int32Array(n), offsetX: new Int32Array(n), flip: new Uint8Array(n) };
  tidy(() =>
    noGrad(() => {
      const off = F.randint(0, 2 * padding + 1, [n, 2], { generator: gen }).data() as BigInt64Array;
      const u = F.rand([n], { dtype: 'float64', generator: gen }).data() as Float64Array;
      for (let i = 0; i < n; i++) {
        draw.offsetY[i] = Number(off[2 * i]);
        draw.offsetX[i] = Number(off[2 * i + 1]);
        draw.flip[i] = u[i]! < flipProb ? 1 : 0;
      }
    }),
  );
  return draw;
}

/** Apply a draw to x [N, C, H, W]; differentiable w.r.t. x. Returns a new tensor of x's shape. */
export function applyShiftFlip(x: Tensor, draw: ShiftFlipDraw): Tensor {
  const [n, , h, w] = x.shape as [number, number, number, number];
  if (x.ndim !== 4 || draw.offsetY.length !== n) throw new Error(`applyShiftFlip: expected [${draw.offsetY.length}, C, H, W], got [${x.shape.join(', ')}]`);
  const p = draw.padding;
  return tidy(() => {
    const padded = p > 0 ? F.pad(x, [p, p, p, p]) : x;
    const parts: Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const crop = padded.narrow(0, i, 1).narrow(2, draw.offsetY[i]!, h).narrow(3, draw.offsetX[i]!, w);
      parts.push(draw.flip[i] ? crop.flip(3) : crop);
    }
    return F.cat(parts, 0);
  });
}

/** Draw and apply in one call (a fresh transformation per sample). */
export function randomShiftFlip(x: Tensor, gen: Generator, o: ShiftFlipOptions = {}): Tensor {
  return applyShiftFlip(x, drawShiftFlip(x.shape[0]!, gen, o));
}
