// The op goldens' vocabulary, in one place: golden tensors (test/golden/*.json) turned into engine
// tensors, and the table from the op names of test/golden/gen_golden.py to calls of the engine.
// Two programs run the op goldens: test/engine.test.ts (on the CPU, with assertions) and
// scripts/gpu-ops.mjs (plain JavaScript, on every device, from the GPU kit's compiled dist/,
// which carries dist/test/helpers/golden-ops.js for it). Both read the table from here, so a
// new op or a changed argument is written once.
// This module imports nothing but the engine: the kit carries it without the other test files.
import { F, Tensor, type DType, type Device } from '../../src/engine/index.js';

/** One tensor in the golden JSON: flat row-major `data`, or quantised `q * scale`. */
export interface GoldenTensor {
  dtype: DType;
  shape: number[];
  data?: number[];
  q?: number[];
  scale?: number;
}

export function goldenValues(g: GoldenTensor): number[] {
  if (g.q !== undefined) return g.q.map((v) => v * g.scale!);
  return g.data!;
}

export interface FromGoldenOptions {
  /** The float dtype to make (float32 goldens go through Float32Array first, so a float64 copy holds exactly the float32 values). */
  floatAs?: 'float32' | 'float64';
  /** Where the tensor ends up: it is made on the CPU and moved there (default 'cpu'). */
  device?: Device;
}

/** A tensor holding a golden's values, made on the CPU and moved to `o.device`. */
export function fromGolden(g: GoldenTensor, o: FromGoldenOptions = {}): Tensor {
  const cpu = goldenOnCpu(g, o.floatAs);
  const device = o.device ?? 'cpu';
  return device === 'cpu' ? cpu : cpu.to(device);
}

function goldenOnCpu(g: GoldenTensor, floatAs: 'float32' | 'float64' | undefined): Tensor {
  const vals = goldenValues(g);
  switch (g.dtype) {
    case 'float32':
    case 'float64': {
      const base = g.dtype === 'float32' ? Float32Array.from(vals) : Float64Array.from(vals);
      const want = floatAs ?? g.dtype;
      const arr = want === g.dtype ? base : want === 'float64' ? Float64Array.from(base) : Float32Array.from(base);
      return F.tensor(arr, g.shape);
    }
    case 'int64':
      return F.tensor(BigInt64Array.from(vals, (v) => BigInt(v)), g.shape);
    case 'int32':
      return F.tensor(Int32Array.from(vals), g.shape);
    case 'uint8':
      return F.tensor(Uint8Array.from(vals), g.shape);
    case 'bool':
      return F.tensor(Uint8Array.from(vals), g.shape, { dtype: 'bool' });
  }
}

// ---------------------------------------------------------------------------
// The op table

/** An op's tensors, by the names gen_golden.py gives them (x, y, w, b, idx, target, ...). */
export type GoldenInputs = Record<string, Tensor>;
/** An op's other arguments, as the golden JSON holds them (numbers, lists, strings, flags). */
export type GoldenArgs = Readonly<Record<string, unknown>>;
export type GoldenOp = (t: GoldenInputs, a: GoldenArgs) => Tensor | Tensor[];

/** One case of test/golden/ops.json. */
export interface GoldenOpCase {
  op: string;
  args: GoldenArgs;
  dtype: 'float32' | 'float64';
  inputs: Record<string, GoldenTensor>;
  out: GoldenTensor[];
  /** the inputs whose gradients are checked, against `grads`, with `gw` as the outputs' gradients */
  diff?: string[];
  gw?: GoldenTensor[];
  grads?: Record<string, GoldenTensor>;
  /** inputs an in-place op changes, as they are after the call */
  mutated?: Record<string, GoldenTensor>;
}

/** A case's inputs on `device`, those in `diff` requiring gradients. */
export function goldenInputs(c: Pick<GoldenOpCase, 'inputs' | 'diff'>, device: Device = 'cpu'): GoldenInputs {
  const inputs: GoldenInputs = {};
  for (const [k, g] of Object.entries(c.inputs)) {
    inputs[k] = fromGolden(g, { device });
    if (c.diff?.includes(k)) inputs[k].requiresGrad_(true);
  }
  return inputs;
}

// Inside the table each op reads the fields of its arguments that gen_golden.py writes for it;
// their types are the JSON's, which the table does not restate (hence `any` here, not exported).
type Args = Record<string, any>;
type Op = (t: GoldenInputs, a: Args) => Tensor | Tensor[];

/** The second operand of a binary op: a tensor `y`, or a number `s`. */
const operand = (t: GoldenInputs, a: Args): Tensor | number => t.y ?? a.s;

const table: Record<string, Op> = {
  add: (t, a) => t.x.add(operand(t, a)),
  sub: (t, a) => t.x.sub(operand(t, a)),
  mul: (t, a) => t.x.mul(operand(t, a)),
  div: (t, a) => t.x.div(operand(t, a)),
  pow: (t, a) => t.x.pow(operand(t, a)),
  maximum: (t) => t.x.maximum(t.y),
  minimum: (t) => t.x.minimum(t.y),
  neg: (t) => t.x.neg(),
  exp: (t) => t.x.exp(),
  log: (t) => t.x.log(),
  sqrt: (t) => t.x.sqrt(),
  rsqrt: (t) => t.x.rsqrt(),
  abs: (t) => t.x.abs(),
  sin: (t) => t.x.sin(),
  cos: (t) => t.x.cos(),
  tanh: (t) => t.x.tanh(),
  sigmoid: (t) => t.x.sigmoid(),
  relu: (t) => t.x.relu(),
  silu: (t) => t.x.silu(),
  gelu: (t) => t.x.gelu(),
  leakyRelu: (t, a) => t.x.leakyRelu(a.slope),
  softplus: (t, a) => t.x.softplus(a.beta, a.threshold),
  square: (t) => t.x.square(),
  log1p: (t) => t.x.log1p(),
  expm1: (t) => t.x.expm1(),
  reciprocal: (t) => t.x.reciprocal(),
  sign: (t) => t.x.sign(),
  floor: (t) => t.x.floor(),
  ceil: (t) => t.x.ceil(),
  round: (t) => t.x.round(),
  clamp: (t, a) => t.x.clamp(t.lo ?? a.min ?? null, t.hi ?? a.max ?? null),
  where: (t, a) => F.where(t.cond, t.a ?? a.a, t.b ?? a.b),
  lerp: (t, a) => t.x.lerp(t.end, a.w),
  matmul: (t) => t.x.matmul(t.y),
  bmm: (t) => t.x.bmm(t.y),
  linear: (t) => F.linear(t.x, t.w, t.b ?? null),
  sum: (t, a) => t.x.sum(a.dim, a.keepdim ?? false),
  mean: (t, a) => t.x.mean(a.dim, a.keepdim ?? false),
  amax: (t, a) => t.x.amax(a.dim, a.keepdim ?? false),
  var: (t, a) => t.x.var(a.dim, a.unbiased, a.keepdim ?? false),
  std: (t, a) => t.x.std(a.dim, a.unbiased, a.keepdim ?? false),
  norm: (t, a) => t.x.norm(a.p, a.dim, a.keepdim ?? false),
  logsumexp: (t, a) => t.x.logsumexp(a.dim, a.keepdim ?? false),
  cumsum: (t, a) => t.x.cumsum(a.dim),
  reshape: (t, a) => t.x.reshape(...a.shape),
  permute: (t, a) => t.x.permute(...a.order),
  transpose: (t, a) => t.x.transpose(a.a, a.b),
  flatten: (t, a) => t.x.flatten(a.start, a.end),
  unsqueeze: (t, a) => t.x.unsqueeze(a.dim),
  squeeze: (t, a) => t.x.squeeze(a.dim),
  narrow: (t, a) => t.x.narrow(a.dim, a.start, a.length),
  slice: (t, a) => t.x.slice(a.dim, a.start, a.end, a.step ?? 1),
  select: (t, a) => t.x.select(a.dim, a.index),
  indexSelect: (t, a) => t.x.indexSelect(a.dim, t.idx),
  gather: (t, a) => t.x.gather(a.dim, t.idx),
  expand: (t, a) => t.x.expand(...a.shape),
  repeat: (t, a) => t.x.repeat(...a.times),
  flip: (t, a) => t.x.flip(...a.dims),
  roll: (t, a) => t.x.roll(a.shifts, a.dims),
  cat: (t, a) => F.cat([t.x, t.y], a.dim),
  stack: (t, a) => F.stack([t.x, t.y], a.dim),
  split: (t, a) => t.x.split(a.size, a.dim),
  chunk: (t, a) => t.x.chunk(a.chunks, a.dim),
  maskedFill: (t, a) => t.x.maskedFill(t.mask, a.value),
  argmax: (t, a) => t.x.argmax(a.dim, a.keepdim),
  argmin: (t, a) => t.x.argmin(a.dim, a.keepdim),
  eq: (t, a) => t.x.eq(operand(t, a)),
  ne: (t, a) => t.x.ne(operand(t, a)),
  gt: (t, a) => t.x.gt(operand(t, a)),
  ge: (t, a) => t.x.ge(operand(t, a)),
  lt: (t, a) => t.x.lt(operand(t, a)),
  le: (t, a) => t.x.le(operand(t, a)),
  conv2d: (t, a) => F.conv2d(t.x, t.w, t.b ?? null, { stride: a.stride, padding: a.padding, groups: a.groups, dilation: a.dilation ?? 1 }),
  maxPool2d: (t, a) => F.maxPool2d(t.x, a.kernel, a.stride, a.padding, a.ceil),
  avgPool2d: (t, a) => F.avgPool2d(t.x, a.kernel, a.stride, a.padding, a.ceil, a.countIncludePad),
  adaptiveAvgPool2d: (t, a) => F.adaptiveAvgPool2d(t.x, a.size),
  batchNorm: (t, a) =>
    F.batchNorm(t.x, {
      weight: t.w ?? null,
      bias: t.b ?? null,
      runningMean: t.rm ?? null,
      runningVar: t.rv ?? null,
      training: a.training,
      momentum: a.momentum,
      eps: a.eps,
    }),
  groupNorm: (t, a) => F.groupNorm(t.x, a.groups, t.w ?? null, t.b ?? null, a.eps),
  layerNorm: (t, a) => F.layerNorm(t.x, a.shape, t.w ?? null, t.b ?? null, a.eps),
  softmax: (t, a) => F.softmax(t.x, a.dim),
  logSoftmax: (t, a) => F.logSoftmax(t.x, a.dim),
  crossEntropy: (t, a) => F.crossEntropy(t.x, t.target, a.reduction, a.smoothing),
  nllLoss: (t, a) => F.nllLoss(t.x, t.target, a.reduction),
  mseLoss: (t, a) => F.mseLoss(t.x, t.y, a.reduction),
  interpolate: (t, a) => F.interpolate(t.x, a.size, a.mode, a.alignCorners ?? false),
  pad: (t, a) => F.pad(t.x, a.pads, a.mode, a.value),
  oneHot: (t, a) => F.oneHot(t.x, a.classes),
};

/** The ops, by the names (and with the arguments) of OPS in gen_golden.py. */
export const OPS: Readonly<Record<string, GoldenOp>> = table;

/** An op's results as a list (split and chunk give several). */
export const asList = (o: Tensor | Tensor[]): Tensor[] => (Array.isArray(o) ? o : [o]);
