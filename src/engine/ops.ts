// Tensor creation, randomness and the neural-network functions (the `F` of the models).
import { native } from './binding.js';
import { Generator, Tensor, dtypeCode, scalarLike, type AnyTypedArray, type DType, type Device } from './tensor.js';

export interface Options {
  dtype?: DType;
  device?: Device;
}
const dt = (o?: Options): number => dtypeCode(o?.dtype ?? 'float32');
const dev = (o?: Options): string => o?.device ?? 'cpu';

function dtypeOf(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  return 'uint8';
}

/**
 * A tensor holding a copy of `data` with the given shape. The dtype follows the array
 * (Uint8Array is uint8 unless dtype 'bool' is asked for); numbers default to float32.
 */
export function tensor(data: AnyTypedArray | readonly number[], shape?: readonly number[], opts: Options = {}): Tensor {
  let arr: AnyTypedArray;
  if (Array.isArray(data)) {
    const want = opts.dtype ?? 'float32';
    arr =
      want === 'float64'
        ? Float64Array.from(data)
        : want === 'int64'
          ? BigInt64Array.from(data, (x) => BigInt(x))
          : want === 'int32'
            ? Int32Array.from(data)
            : want === 'uint8' || want === 'bool'
              ? Uint8Array.from(data, (x) => (want === 'bool' ? Number(x !== 0) : x))
              : Float32Array.from(data);
  } else arr = data as AnyTypedArray;
  const natural = dtypeOf(arr);
  const dtype = opts.dtype === 'bool' && natural === 'uint8' ? 'bool' : natural;
  const t = new Tensor(native.fromBuffer(arr, shape ?? [arr.length], dtypeCode(dtype), dev(opts)));
  if (opts.dtype !== undefined && opts.dtype !== dtype) {
    const cast = t.to(opts.dtype);
    t.dispose();
    return cast;
  }
  return t;
}
export const scalar = (v: number, opts: Options = {}): Tensor => tensor([v], [], opts);
export const zeros = (shape: readonly number[], o?: Options): Tensor => new Tensor(native.zeros(shape, dt(o), dev(o)));
export const ones = (shape: readonly number[], o?: Options): Tensor => new Tensor(native.ones(shape, dt(o), dev(o)));
export const full = (shape: readonly number[], value: number, o?: Options): Tensor =>
  new Tensor(native.full(shape, value, dt(o), dev(o)));
export const arange = (start: number, end: number, step = 1, o?: Options): Tensor =>
  new Tensor(native.arange(start, end, step, dt(o), dev(o)));
export const linspace = (start: number, end: number, steps: number, o?: Options): Tensor =>
  new Tensor(native.linspace(start, end, steps, dt(o), dev(o)));
export const eye = (n: number, o?: Options): Tensor => new Tensor(native.eye(n, dt(o), dev(o)));
export const zerosLike = (t: Tensor): Tensor => new Tensor(native.zerosLike(t.handle));
export const onesLike = (t: Tensor): Tensor => new Tensor(native.onesLike(t.handle));
export const fullLike = (t: Tensor, v: number): Tensor => new Tensor(native.fullLike(t.handle, v));

// ---- randomness: pass a Generator for reproducible streams; without one, the global
// generator (seed it with manualSeed) is used.
export const manualSeed = (seed: number): void => native.manualSeed(seed);
export const rand = (shape: readonly number[], o?: Options & { generator?: Generator }): Tensor =>
  new Tensor(native.rand(shape, dt(o), dev(o), o?.generator?.handle ?? null));
export const randn = (shape: readonly number[], o?: Options & { generator?: Generator }): Tensor =>
  new Tensor(native.randn(shape, dt(o), dev(o), o?.generator?.handle ?? null));
export const randint = (low: number, high: number, shape: readonly number[], o?: { device?: Device; generator?: Generator }): Tensor =>
  new Tensor(native.randint(low, high, shape, dev(o), o?.generator?.handle ?? null));
export const randperm = (n: number, o?: { device?: Device; generator?: Generator }): Tensor =>
  new Tensor(native.randperm(n, dev(o), o?.generator?.handle ?? null));
export const bernoulli = (p: Tensor, generator?: Generator): Tensor => new Tensor(native.bernoulli(p.handle, generator?.handle ?? null));

// ---- joining and selection
export const cat = (ts: readonly Tensor[], dim = 0): Tensor => new Tensor(native.cat(ts.map((t) => t.handle), dim));
export const stack = (ts: readonly Tensor[], dim = 0): Tensor => new Tensor(native.stack(ts.map((t) => t.handle), dim));
/** where(cond, a, b): elementwise a where cond else b; a number takes the other side's dtype (float32 if both are numbers). */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const ref = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  const lift = (v: Tensor | number): Tensor => (v instanceof Tensor ? v : ref ? scalarLike(ref, v) : new Tensor(native.full([], v, dtypeCode('float32'), cond.device)));
  const ta = lift(a);
  const tb = lift(b);
  const out = new Tensor(native.where(cond.handle, ta.handle, tb.handle));
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return out;
}

// ---------------------------------------------------------------------------
// Neural-network functions

const pair = (v: number | readonly [number, number]): number[] => (typeof v === 'number' ? [v, v] : [...v]);

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  return new Tensor(
    native.conv2d(x.handle, weight.handle, bias?.handle ?? null, pair(o.stride ?? 1), pair(o.padding ?? 0), pair(o.dilation ?? 1), o.groups ?? 1),
  );
}
export const linear = (x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor =>
  new Tensor(native.linear(x.handle, weight.handle, bias?.handle ?? null));

export function maxPool2d(x: Tensor, kernel: number, stride = kernel, padding = 0, ceilMode = false): Tensor {
  return new Tensor(native.maxPool2d(x.handle, pair(kernel), pair(stride), pair(padding), [1, 1], ceilMode));
}
export function avgPool2d(x: Tensor, kernel: number, stride = kernel, padding = 0, ceilMode = false, countIncludePad = true): Tensor {
  return new Tensor(native.avgPool2d(x.handle, pair(kernel), pair(stride), pair(padding), ceilMode, countIncludePad));
}
export const adaptiveAvgPool2d = (x: Tensor, size: number | [number, number]): Tensor =>
  new Tensor(native.adaptiveAvgPool2d(x.handle, pair(size)));

export interface BatchNormArgs {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  training: boolean;
  momentum: number;
  eps: number;
}
/** Batch norm; in training it updates the running statistics in place. */
export function batchNorm(x: Tensor, a: BatchNormArgs): Tensor {
  return new Tensor(
    native.batchNorm(x.handle, a.weight?.handle ?? null, a.bias?.handle ?? null, a.runningMean?.handle ?? null, a.runningVar?.handle ?? null, a.training, a.momentum, a.eps),
  );
}
export const groupNorm = (x: Tensor, groups: number, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor =>
  new Tensor(native.groupNorm(x.handle, groups, weight?.handle ?? null, bias?.handle ?? null, eps));
export const layerNorm = (x: Tensor, shape: readonly number[], weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor =>
  new Tensor(native.layerNorm(x.handle, shape, weight?.handle ?? null, bias?.handle ?? null, eps));
export const dropout = (x: Tensor, p: number, training: boolean): Tensor => new Tensor(native.dropout(x.handle, p, training));
export const softmax = (x: Tensor, dim: number): Tensor => new Tensor(native.softmax(x.handle, dim));
export const logSoftmax = (x: Tensor, dim: number): Tensor => new Tensor(native.logSoftmax(x.handle, dim));

export type Reduction = 'none' | 'mean' | 'sum';
const RED: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
/** Cross-entropy of logits [N, C] against int64 class indices [N]. */
export function crossEntropy(logits: Tensor, target: Tensor, reduction: Reduction = 'mean', labelSmoothing = 0): Tensor {
  return new Tensor(native.crossEntropy(logits.handle, target.handle, RED[reduction], labelSmoothing));
}
export const nllLoss = (logp: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor =>
  new Tensor(native.nllLoss(logp.handle, target.handle, RED[reduction]));
export const mseLoss = (a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor =>
  new Tensor(native.mseLoss(a.handle, b.handle, RED[reduction]));

/** Resize [N, C, H, W] to `size` with nearest-neighbour or bilinear interpolation. */
export function interpolate(x: Tensor, size: [number, number], mode: 'nearest' | 'bilinear' = 'nearest', alignCorners = false): Tensor {
  if (mode === 'nearest') return new Tensor(native.upsampleNearest2d(x.handle, size));
  return new Tensor(native.upsampleBilinear2d(x.handle, size, alignCorners));
}
/** Pad the last dims: pads = [left, right, top, bottom, ...] as torch.nn.functional.pad. */
export function pad(x: Tensor, pads: readonly number[], mode: 'constant' | 'reflect' | 'replicate' = 'constant', value = 0): Tensor {
  const code = { constant: 0, reflect: 1, replicate: 2 }[mode];
  return new Tensor(native.pad(x.handle, pads, code, value));
}
export const oneHot = (x: Tensor, classes: number): Tensor => new Tensor(native.oneHot(x.handle, classes));

// ---- autograd beyond backward(): gradients of outputs with respect to chosen inputs

export interface GradOptions {
  gradOutputs?: Tensor[];
  retainGraph?: boolean;
  createGraph?: boolean;
}
/** d(sum of outputs)/d(inputs) without touching .grad (attacks optimise images with it). */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], o: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const res = native.autogradGrad(
    outs.map((t) => t.handle),
    ins.map((t) => t.handle),
    o.gradOutputs ? o.gradOutputs.map((t) => t.handle) : null,
    o.retainGraph ?? false,
    o.createGraph ?? false,
  );
  return res.map((r) => (r === null ? null : new Tensor(r)));
}

// ---- runtime
export const setNumThreads = (n: number): void => native.setNumThreads(n);
export const getNumThreads = (): number => native.getNumThreads();
export const cudaAvailable = (): boolean => native.cudaAvailable();
export const cudaDeviceCount = (): number => native.cudaDeviceCount();
export const synchronize = (): void => native.synchronize();
export const engineVersion = (): { torch: string; cuda: boolean } => {
  const v = native.version();
  return { torch: v.torch, cuda: v.cuda };
};
/** 'cuda' when a GPU is usable, else 'cpu'; `want` forces one ('auto' picks). */
export function pickDevice(want: 'auto' | Device = 'auto'): Device {
  if (want === 'auto') return cudaAvailable() ? 'cuda' : 'cpu';
  if (want.startsWith('cuda') && !cudaAvailable())
    throw new Error(
      native.version().cuda
        ? `device ${want} requested but no CUDA device is usable: the NVIDIA driver or CUDA runtime is missing or no GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES), or run on the cpu device`
        : `device ${want} requested but the engine was built against a CPU-only libtorch: rebuild it against a CUDA PyTorch (LIBTORCH=/path/to/site-packages/torch npm run setup), or run on the cpu device`,
    );
  return want;
}
