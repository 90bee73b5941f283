// Loads the native libtorch addon (native/engine.cc, built by `npm run build:native`).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A slot number in the addon's tensor table (see native/engine.cc). */
export type NativeHandle = number & { readonly __tensorSlot?: never };
/** A slot number in the addon's generator table (one libtorch CPU generator). */
export type NativeGenerator = number & { readonly __generatorSlot?: never };

type H = NativeHandle;
type Ints = number | readonly number[];
type Fn1 = (a: H) => H;
/** tensor (op) tensor */
type Fn2 = (a: H, b: H) => H;
/** tensor (op) scalar */
type Fn2S = (a: H, b: number) => H;

/** The addon's functions: positional arguments mirror ATen's (see native/engine.cc). */
export interface NativeEngine {
  dispose(h: H): void;
  isDefined(h: H): boolean;
  liveSlots(): number;
  shape(h: H): number[];
  dtype(h: H): number;
  device(h: H): string;
  requiresGrad(h: H): boolean;
  isContiguous(h: H, format: string): boolean;
  numel(h: H): number;
  fromBuffer(data: ArrayBufferView, shape: readonly number[], dtype: number, device: string): H;
  toBuffer(h: H): ArrayBuffer;
  item(h: H): number;

  zeros(shape: Ints, dtype: number, device: string): H;
  ones(shape: Ints, dtype: number, device: string): H;
  full(shape: Ints, value: number, dtype: number, device: string): H;
  arange(start: number, end: number, step: number, dtype: number, device: string): H;
  linspace(start: number, end: number, steps: number, dtype: number, device: string): H;
  eye(n: number, dtype: number, device: string): H;
  zerosLike: Fn1;
  onesLike: Fn1;
  fullLike(h: H, value: number): H;
  newGenerator(seed: number): NativeGenerator;
  disposeGenerator(g: NativeGenerator): void;
  liveGenerators(): number;
  manualSeed(seed: number): void;
  rand(shape: Ints, dtype: number, device: string, gen: NativeGenerator | null): H;
  randn(shape: Ints, dtype: number, device: string, gen: NativeGenerator | null): H;
  randint(low: number, high: number, shape: Ints, device: string, gen: NativeGenerator | null): H;
  randperm(n: number, device: string, gen: NativeGenerator | null): H;
  bernoulli(p: H, gen: NativeGenerator | null): H;

  to(h: H, dtype: number | null, device: string | null): H;
  contiguous(h: H, format: string): H;
  clone: Fn1;
  detach: Fn1;
  reshape(h: H, shape: Ints): H;
  view(h: H, shape: Ints): H;
  permute(h: H, dims: Ints): H;
  transpose(h: H, a: number, b: number): H;
  flatten(h: H, start: number, end: number): H;
  unsqueeze(h: H, dim: number): H;
  squeeze(h: H, dim?: number): H;
  expand(h: H, shape: Ints): H;
  repeat(h: H, times: Ints): H;
  narrow(h: H, dim: number, start: number, length: number): H;
  slice(h: H, dim: number, start: number, end: number, step: number): H;
  select(h: H, dim: number, index: number): H;
  indexSelect(h: H, dim: number, index: H): H;
  gather(h: H, dim: number, index: H): H;
  maskedFill(h: H, mask: H, value: number): H;
  maskedSelect(h: H, mask: H): H;
  flip(h: H, dims: Ints): H;
  roll(h: H, shifts: Ints, dims: Ints): H;
  cat(hs: H[], dim: number): H;
  stack(hs: H[], dim: number): H;
  split(h: H, size: number, dim: number): H[];
  chunk(h: H, chunks: number, dim: number): H[];
  indexCopy_(h: H, dim: number, index: H, source: H): H;

  neg: Fn1; exp: Fn1; log: Fn1; sqrt: Fn1; rsqrt: Fn1; abs: Fn1; sign: Fn1; sin: Fn1; cos: Fn1; tanh: Fn1;
  sigmoid: Fn1; relu: Fn1; floor: Fn1; ceil: Fn1; round: Fn1; log1p: Fn1; expm1: Fn1; square: Fn1;
  reciprocal: Fn1; logicalNot: Fn1; isfinite: Fn1; silu: Fn1; gelu: Fn1;
  leakyRelu(h: H, slope: number): H;
  softplus(h: H, beta: number, threshold: number): H;

  add: Fn2; sub: Fn2; mul: Fn2; div: Fn2; pow: Fn2; eq: Fn2; ne: Fn2; gt: Fn2; ge: Fn2; lt: Fn2; le: Fn2;
  remainder: Fn2;
  addS: Fn2S; subS: Fn2S; mulS: Fn2S; divS: Fn2S; powS: Fn2S; eqS: Fn2S; neS: Fn2S; gtS: Fn2S; geS: Fn2S; ltS: Fn2S; leS: Fn2S;
  remainderS: Fn2S;
  maximum(a: H, b: H): H;
  minimum(a: H, b: H): H;
  logicalAnd(a: H, b: H): H;
  logicalOr(a: H, b: H): H;
  atan2(a: H, b: H): H;
  clamp(h: H, min: number | null, max: number | null): H;
  clampT(h: H, min: H | null, max: H | null): H;
  where(cond: H, a: H, b: H): H;
  lerp(a: H, b: H, weight: number): H;

  add_(h: H, o: H): H;
  sub_(h: H, o: H): H;
  mul_(h: H, o: H): H;
  div_(h: H, o: H): H;
  add_S(h: H, o: number): H;
  sub_S(h: H, o: number): H;
  mul_S(h: H, o: number): H;
  div_S(h: H, o: number): H;
  addScaled_(h: H, o: H, alpha: number): H;
  addcmul_(h: H, a: H, b: H, value: number): H;
  addcdiv_(h: H, a: H, b: H, value: number): H;
  lerp_(h: H, end: H, weight: number): H;
  copy_(h: H, src: H): H;
  zero_(h: H): H;
  fill_(h: H, value: number): H;
  clamp_(h: H, min: number | null, max: number | null): H;
  sqrt_(h: H): H;
  normal_(h: H, mean: number, std: number, gen: NativeGenerator | null): H;
  uniform_(h: H, low: number, high: number, gen: NativeGenerator | null): H;

  sum(h: H, dims: Ints, keepdim: boolean): H;
  mean(h: H, dims: Ints, keepdim: boolean): H;
  amax(h: H, dims: Ints, keepdim: boolean): H;
  amin(h: H, dims: Ints, keepdim: boolean): H;
  argmax(h: H, dim: number, keepdim: boolean): H;
  argmin(h: H, dim: number, keepdim: boolean): H;
  var(h: H, dims: Ints, unbiased: boolean, keepdim: boolean): H;
  std_(h: H, dims: Ints, unbiased: boolean, keepdim: boolean): H;
  norm(h: H, p: number, dims: Ints, keepdim: boolean): H;
  logsumexp(h: H, dims: Ints, keepdim: boolean): H;
  cumsum(h: H, dim: number): H;
  allclose(a: H, b: H, rtol: number, atol: number): boolean;

  matmul(a: H, b: H): H;
  bmm(a: H, b: H): H;
  linear(x: H, w: H, b: H | null): H;
  conv2d(x: H, w: H, b: H | null, stride: Ints, padding: Ints, dilation: Ints, groups: number): H;
  maxPool2d(x: H, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints, ceilMode: boolean): H;
  avgPool2d(x: H, kernel: Ints, stride: Ints, padding: Ints, ceilMode: boolean, countIncludePad: boolean): H;
  adaptiveAvgPool2d(x: H, size: Ints): H;
  batchNorm(x: H, w: H | null, b: H | null, rm: H | null, rv: H | null, training: boolean, momentum: number, eps: number): H;
  groupNorm(x: H, groups: number, w: H | null, b: H | null, eps: number): H;
  layerNorm(x: H, shape: Ints, w: H | null, b: H | null, eps: number): H;
  dropout(x: H, p: number, training: boolean): H;
  softmax(x: H, dim: number): H;
  logSoftmax(x: H, dim: number): H;
  crossEntropy(logits: H, target: H, reduction: number, labelSmoothing: number): H;
  nllLoss(logp: H, target: H, reduction: number): H;
  mseLoss(a: H, b: H, reduction: number): H;
  upsampleNearest2d(x: H, size: Ints): H;
  upsampleBilinear2d(x: H, size: Ints, alignCorners: boolean): H;
  pad(x: H, pad: Ints, mode: number, value: number): H;
  oneHot(x: H, classes: number): H;

  setRequiresGrad(h: H, on: boolean): H;
  grad(h: H): H | null;
  zeroGrad(h: H): void;
  backward(h: H, grad: H | null, retainGraph: boolean): void;
  autogradGrad(outputs: H[], inputs: H[], gradOutputs: H[] | null, retainGraph: boolean, createGraph: boolean): (H | null)[];
  setGradEnabled(on: boolean): boolean;
  isGradEnabled(): boolean;

  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  synchronize(): void;
  version(): { torch: string; cuda: boolean; config: string };
}

function findAddon(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [process.env.ECLIPSE_NATIVE ?? ''];
  // dist/src/engine -> repo root is three levels up; src/engine (ts-run) two.
  for (const up of ['../../..', '../..', '..']) candidates.push(join(resolve(here, up), 'build', 'Release', 'eclipse_native.node'));
  const found = candidates.find((p) => p !== '' && existsSync(p));
  if (!found) {
    throw new Error(
      'eclipse native engine not built: run `npm run setup` (installs libtorch-dev and compiles the addon), ' +
        'or `npm run build:native` if libtorch is already installed (set LIBTORCH=/path/to/libtorch for another build).',
    );
  }
  return found;
}

/** A load failure as one line naming the cause and the fix (dlopen's own words are cryptic). */
export function explainLoadError(path: string, message: string): string {
  const first = message.split('\n')[0]!;
  const rebuild = 'rebuild it with `npm run setup` (with LIBTORCH=/path/to/torch for a libtorch other than Debian\'s)';
  const symbol = /undefined symbol: (\S+)/.exec(first);
  if (symbol) {
    return `the native engine ${path} was built against another libtorch than the one it loads (another version or C++ ABI), missing symbol ${symbol[1]}: ${rebuild}`;
  }
  const lib = /(lib[\w.+-]+\.so[\w.]*): cannot open shared object file/.exec(first);
  if (lib) return `the native engine ${path} needs ${lib[1]}, which is not installed or not on its library path: install libtorch (\`npm run setup\` installs Debian's) or ${rebuild}`;
  if (/NODE_MODULE_VERSION|napi|Module did not self-register/i.test(first))
    return `the native engine ${path} was built for another Node.js (${process.version} here): ${rebuild}`;
  return `the native engine ${path} failed to load (${first}): ${rebuild}`;
}

function load(path: string): NativeEngine {
  const require = createRequire(import.meta.url);
  try {
    return require(path) as NativeEngine;
  } catch (e) {
    throw new Error(explainLoadError(path, (e as Error).message));
  }
}

/**
 * The addon, loaded on first use: loading libtorch costs most of a second, which a command that
 * stops at its arguments (--help, a usage error) should not pay. The first property read swaps
 * the live binding for the real addon, so later calls go to it directly.
 */
export let native: NativeEngine = new Proxy({} as NativeEngine, {
  get(_target, key) {
    native = load(findAddon());
    return native[key as keyof NativeEngine];
  },
});
