// Test helpers for the engine: PyTorch goldens (test/golden/ops.json, written by
// test/golden/gen_golden.py), tolerant comparison, and a float64 finite-difference
// gradient check in the style of torch.autograd.gradcheck.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { F, Tensor, noGrad, tidy, type DType } from '../../src/engine/index.js';
import { goldenValues, type GoldenTensor } from './golden-ops.js';

// The golden tensors' conversion lives in golden-ops.ts (scripts/gpu-ops.mjs uses it too).
export { fromGolden, goldenValues, type GoldenTensor } from './golden-ops.js';

/** Parse a file in test/golden (the compiled helper lives in dist/test/helpers). */
export function loadGolden<T = any>(file: string): T {
  const url = new URL(`../../../test/golden/${file}`, import.meta.url);
  return JSON.parse(readFileSync(fileURLToPath(url), 'utf8')) as T;
}

export interface Tolerance {
  rtol?: number;
  atol?: number;
}
export const TOL32: Required<Tolerance> = { rtol: 1e-4, atol: 1e-5 };
export const TOL64: Required<Tolerance> = { rtol: 1e-9, atol: 1e-12 };
export const tolFor = (dtype: DType): Required<Tolerance> => (dtype === 'float64' ? TOL64 : TOL32);

/** Largest |a - e| - (atol + rtol |e|) over the elements (<= 0 means close), with its index. */
export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): { worst: number; index: number; maxAbs: number } {
  const rtol = tol.rtol ?? TOL32.rtol;
  const atol = tol.atol ?? TOL32.atol;
  let worst = -Infinity;
  let index = -1;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const d = Math.abs(a - e);
    if (!(d === d)) return { worst: Infinity, index: i, maxAbs: Infinity };
    maxAbs = Math.max(maxAbs, d);
    const excess = d - (atol + rtol * Math.abs(e));
    if (excess > worst) {
      worst = excess;
      index = i;
    }
  }
  return { worst, index, maxAbs };
}

export function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} elements, expected ${expected.length}`);
  const c = closeness(actual, expected, tol);
  if (c.worst > 0)
    assert.fail(`${what}: element ${c.index} is ${actual[c.index]}, expected ${expected[c.index]} (max abs diff ${c.maxAbs}, rtol ${tol.rtol}, atol ${tol.atol})`);
}

/** Compare a tensor with a golden: dtype, shape and values (exact for integer and bool dtypes). */
export function assertMatches(t: Tensor, g: GoldenTensor, tol?: Tolerance, what = 'tensor'): void {
  assert.equal(t.dtype, g.dtype, `${what}: dtype ${t.dtype}, expected ${g.dtype}`);
  assert.deepEqual(t.shape, g.shape, `${what}: shape [${t.shape}], expected [${g.shape}]`);
  const expected = goldenValues(g);
  if (g.dtype === 'float32' || g.dtype === 'float64') assertAllClose(t.toArray(), expected, tol ?? tolFor(g.dtype), what);
  else assert.deepEqual(t.toArray(), expected, `${what}: values differ`);
}

/** Deterministic pseudo-random numbers in [-1, 1) (mulberry32), for gradient-check weights. */
export function pseudoRandom(n: number, seed = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    out[i] = (((z ^ (z >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export interface GradcheckOptions {
  /** central-difference step */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** weights w_k for loss = sum_k sum(out_k * w_k); pseudo-random when absent */
  weights?: Float64Array[];
  label?: string;
}

const asList = (o: Tensor | Tensor[]): Tensor[] => (Array.isArray(o) ? o : [o]);

/**
 * Check d loss / d inputs from autograd (F.grad) against central differences, in float64,
 * for loss = sum_k sum(fn(inputs)_k * w_k). `inputs` are float64 tensors; fn must build its
 * result from the tensors it is given (and may close over constant tensors).
 * Returns the largest absolute difference seen.
 */
export function gradcheck(fn: (xs: Tensor[]) => Tensor | Tensor[], inputs: Tensor[], o: GradcheckOptions = {}): number {
  const eps = o.eps ?? 1e-6;
  const atol = o.atol ?? 1e-6;
  const rtol = o.rtol ?? 1e-5;
  const label = o.label ?? 'gradcheck';
  for (const t of inputs) assert.equal(t.dtype, 'float64', `${label}: gradcheck needs float64 inputs`);
  const shapes = inputs.map((t) => t.shape);
  const vals = inputs.map((t) => Float64Array.from(t.data() as Float64Array));
  let weights: Float64Array[] | null = o.weights ?? null;

  // Analytic gradients.
  const analytic: Float64Array[] = [];
  tidy(() => {
    const leaves = vals.map((v, i) => F.tensor(v, shapes[i]!).requiresGrad_(true));
    const outs = asList(fn(leaves));
    if (weights === null) weights = outs.map((out, k) => pseudoRandom(out.numel, 7 + k));
    assert.equal(weights.length, outs.length, `${label}: ${outs.length} outputs but ${weights.length} weight tensors`);
    const ws = outs.map((out, k) => F.tensor(weights![k]!, out.shape));
    const grads = F.grad(outs, leaves, { gradOutputs: ws });
    grads.forEach((g, i) => analytic.push(g === null ? new Float64Array(vals[i]!.length) : Float64Array.from(g.data() as Float64Array)));
  });

  // Numerical gradients by central differences.
  const loss = (): number =>
    tidy(() =>
      noGrad(() => {
        const xs = vals.map((v, i) => F.tensor(v, shapes[i]!));
        const outs = asList(fn(xs));
        let s = 0;
        outs.forEach((out, k) => {
          const d = out.data() as Float64Array;
          const w = weights![k]!;
          for (let j = 0; j < d.length; j++) s += d[j]! * w[j]!;
        });
        return s;
      }),
    );
  let maxDiff = 0;
  vals.forEach((v, i) => {
    const numeric = new Float64Array(v.length);
    for (let j = 0; j < v.length; j++) {
      const orig = v[j]!;
      v[j] = orig + eps;
      const up = loss();
      v[j] = orig - eps;
      const down = loss();
      v[j] = orig;
      numeric[j] = (up - down) / (2 * eps);
    }
    const c = closeness(analytic[i]!, numeric, { atol, rtol });
    maxDiff = Math.max(maxDiff, c.maxAbs);
    if (c.worst > 0)
      assert.fail(
        `${label}: input ${i} element ${c.index}: autograd ${analytic[i]![c.index]} vs finite difference ${numeric[c.index]} (atol ${atol}, rtol ${rtol})`,
      );
  });
  return maxDiff;
}
