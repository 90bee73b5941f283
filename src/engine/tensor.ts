// The Tensor: a thin typed wrapper over one libtorch tensor handle.
// Memory is released deterministically: call dispose(), or create tensors inside tidy(),
// which disposes every tensor made in its scope except those returned or kept.
import { native, type NativeGenerator, type NativeHandle } from './binding.js';

export type DType = 'float32' | 'float64' | 'uint8' | 'int64' | 'bool' | 'int32';
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type MemoryFormat = 'contiguous' | 'channels_last';
export type Scalar = number;
export type Operand = Tensor | number;

const DTYPE_CODE: Record<DType, number> = { float32: 0, float64: 1, uint8: 2, int64: 3, bool: 4, int32: 5 };
const CODE_DTYPE: DType[] = ['float32', 'float64', 'uint8', 'int64', 'bool', 'int32'];
export const dtypeCode = (d: DType): number => DTYPE_CODE[d];

/** The typed array that holds each dtype's data on the JS side. */
export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : Uint8Array;
export type AnyTypedArray = Float32Array | Float64Array | Uint8Array | BigInt64Array | Int32Array;

// ---------------------------------------------------------------------------
// Scopes

type Scope = Set<Tensor>;
const scopes: Scope[] = [];
let liveCount = 0;

/** Number of tensors created and not yet disposed (for leak tests). */
export function liveTensors(): number {
  return liveCount;
}

/** Anything tidy() can return: its tensors survive the scope. */
export type TensorContainer = Tensor | null | undefined | void | number | string | boolean | ArrayBufferView | TensorContainer[] | { [k: string]: TensorContainer };

function collect(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) into.add(value);
  else if (ArrayBuffer.isView(value)) return;
  else if (Array.isArray(value)) for (const v of value) collect(v, into);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) collect(v, into);
}

/**
 * Run fn and dispose every tensor it created, except the tensors in its result and those
 * marked keep(). Like tfjs-core's tidy: fn must be synchronous.
 */
export function tidy<T extends TensorContainer>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy() cannot run an async function: await outside of tidy');
  } catch (e) {
    // Nothing made in a failed scope survives it.
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Dispose every tensor in a container (arrays and objects are walked). */
export function dispose(value: unknown): void {
  const all = new Set<Tensor>();
  collect(value, all);
  for (const t of all) t.dispose();
}

/** Run fn with gradient tracking off (parameter updates, evaluation, sampling). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

// ---------------------------------------------------------------------------

const dims = (d: number | readonly number[] | undefined): number[] => (d === undefined ? [] : typeof d === 'number' ? [d] : [...d]);
type BinaryName = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'remainder' | 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
/** tensor (op) tensor, or the addon's scalar form for a number */
function binary(name: BinaryName, a: NativeHandle, o: Operand): Tensor {
  return new Tensor(typeof o === 'number' ? native[`${name}S`](a, o) : native[name](a, o.handle));
}
type InplaceName = 'add_' | 'sub_' | 'mul_' | 'div_';
function inplace(name: InplaceName, a: NativeHandle, o: Operand): void {
  if (typeof o === 'number') native[`${name}S`](a, o);
  else native[name](a, o.handle);
}

export class Tensor {
  /** @internal the native handle; null once disposed. */
  private _h: NativeHandle | null;
  private _shape: number[] | null = null;
  private _dtype: DType | null = null;

  /** @internal wrap a native handle (use the factory functions instead). */
  constructor(handle: NativeHandle) {
    this._h = handle;
    liveCount++;
    scopes[scopes.length - 1]?.add(this);
  }

  /** @internal */
  get handle(): NativeHandle {
    if (this._h === null) throw new Error('this tensor was disposed; keep() it or clone it before its tidy() scope ends');
    return this._h;
  }

  get isDisposed(): boolean {
    return this._h === null;
  }

  dispose(): void {
    if (this._h === null) return;
    native.dispose(this._h);
    this._h = null;
    liveCount--;
    for (const s of scopes) s.delete(this);
  }

  /**
   * @internal Take over other's storage, disposing this one's: references to this tensor
   * stay valid (Module.to moves parameters between devices and layouts this way).
   */
  adopt(other: Tensor): void {
    const next = other.handle;
    native.dispose(this.handle);
    this._h = next;
    this._shape = other._shape;
    this._dtype = other._dtype;
    other._h = null;
    liveCount--;
    for (const s of scopes) s.delete(other);
  }

  /** Keep this tensor alive past the enclosing tidy() scopes. */
  keep(): this {
    for (const s of scopes) s.delete(this);
    return this;
  }

  get shape(): number[] {
    if (this._shape === null) this._shape = native.shape(this.handle);
    return this._shape;
  }
  get ndim(): number {
    return this.shape.length;
  }
  size(dim: number): number {
    const s = this.shape;
    return s[dim < 0 ? s.length + dim : dim]!;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    if (this._dtype === null) this._dtype = CODE_DTYPE[native.dtype(this.handle)]!;
    return this._dtype;
  }
  get device(): string {
    return native.device(this.handle);
  }
  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device})`;
  }

  // ---- data out
  /** Copy the data out as the dtype's typed array (contiguous, row-major). */
  data<D extends DType = DType>(): TypedArrayFor<D> {
    const buf = native.toBuffer(this.handle);
    switch (this.dtype) {
      case 'float32':
        return new Float32Array(buf) as TypedArrayFor<D>;
      case 'float64':
        return new Float64Array(buf) as TypedArrayFor<D>;
      case 'int64':
        return new BigInt64Array(buf) as TypedArrayFor<D>;
      case 'int32':
        return new Int32Array(buf) as TypedArrayFor<D>;
      default:
        return new Uint8Array(buf) as TypedArrayFor<D>;
    }
  }
  /** The data as plain numbers (int64 converted). */
  toArray(): number[] {
    const d = this.data();
    return d instanceof BigInt64Array ? Array.from(d, Number) : Array.from(d as ArrayLike<number>);
  }
  item(): number {
    return native.item(this.handle);
  }

  // ---- conversion and layout
  to(target: DType | Device): Tensor {
    if (target in DTYPE_CODE) return new Tensor(native.to(this.handle, DTYPE_CODE[target as DType], null));
    return new Tensor(native.to(this.handle, null, target));
  }
  float(): Tensor {
    return this.to('float32');
  }
  contiguous(format: MemoryFormat = 'contiguous'): Tensor {
    return new Tensor(native.contiguous(this.handle, format));
  }
  isContiguous(format: MemoryFormat = 'contiguous'): boolean {
    return native.isContiguous(this.handle, format);
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.handle));
  }
  detach(): Tensor {
    return new Tensor(native.detach(this.handle));
  }

  // ---- views and indexing
  reshape(...shape: number[]): Tensor {
    return new Tensor(native.reshape(this.handle, shape));
  }
  view(...shape: number[]): Tensor {
    return new Tensor(native.view(this.handle, shape));
  }
  permute(...order: number[]): Tensor {
    return new Tensor(native.permute(this.handle, order));
  }
  transpose(a: number, b: number): Tensor {
    return new Tensor(native.transpose(this.handle, a, b));
  }
  get T(): Tensor {
    return this.transpose(0, 1);
  }
  flatten(start = 0, end = -1): Tensor {
    return new Tensor(native.flatten(this.handle, start, end));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.handle, dim));
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this.handle, dim));
  }
  expand(...shape: number[]): Tensor {
    return new Tensor(native.expand(this.handle, shape));
  }
  repeat(...times: number[]): Tensor {
    return new Tensor(native.repeat(this.handle, times));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(native.narrow(this.handle, dim, start, length));
  }
  slice(dim: number, start: number, end: number, step = 1): Tensor {
    return new Tensor(native.slice(this.handle, dim, start, end, step));
  }
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.handle, dim, index));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this.handle, dim, index.handle));
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.handle, dim, index.handle));
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return new Tensor(native.maskedFill(this.handle, mask.handle, value));
  }
  maskedSelect(mask: Tensor): Tensor {
    return new Tensor(native.maskedSelect(this.handle, mask.handle));
  }
  flip(...d: number[]): Tensor {
    return new Tensor(native.flip(this.handle, d));
  }
  roll(shifts: number | number[], d: number | number[]): Tensor {
    return new Tensor(native.roll(this.handle, dims(shifts), dims(d)));
  }
  split(size: number, dim = 0): Tensor[] {
    return native.split(this.handle, size, dim).map((x) => new Tensor(x));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return native.chunk(this.handle, chunks, dim).map((x) => new Tensor(x));
  }

  // ---- elementwise
  neg(): Tensor { return new Tensor(native.neg(this.handle)); }
  exp(): Tensor { return new Tensor(native.exp(this.handle)); }
  log(): Tensor { return new Tensor(native.log(this.handle)); }
  sqrt(): Tensor { return new Tensor(native.sqrt(this.handle)); }
  rsqrt(): Tensor { return new Tensor(native.rsqrt(this.handle)); }
  abs(): Tensor { return new Tensor(native.abs(this.handle)); }
  sign(): Tensor { return new Tensor(native.sign(this.handle)); }
  sin(): Tensor { return new Tensor(native.sin(this.handle)); }
  cos(): Tensor { return new Tensor(native.cos(this.handle)); }
  tanh(): Tensor { return new Tensor(native.tanh(this.handle)); }
  sigmoid(): Tensor { return new Tensor(native.sigmoid(this.handle)); }
  relu(): Tensor { return new Tensor(native.relu(this.handle)); }
  silu(): Tensor { return new Tensor(native.silu(this.handle)); }
  gelu(): Tensor { return new Tensor(native.gelu(this.handle)); }
  floor(): Tensor { return new Tensor(native.floor(this.handle)); }
  ceil(): Tensor { return new Tensor(native.ceil(this.handle)); }
  round(): Tensor { return new Tensor(native.round(this.handle)); }
  log1p(): Tensor { return new Tensor(native.log1p(this.handle)); }
  expm1(): Tensor { return new Tensor(native.expm1(this.handle)); }
  square(): Tensor { return new Tensor(native.square(this.handle)); }
  reciprocal(): Tensor { return new Tensor(native.reciprocal(this.handle)); }
  logicalNot(): Tensor { return new Tensor(native.logicalNot(this.handle)); }
  isfinite(): Tensor { return new Tensor(native.isfinite(this.handle)); }
  leakyRelu(slope = 0.01): Tensor { return new Tensor(native.leakyRelu(this.handle, slope)); }
  softplus(beta = 1, threshold = 20): Tensor { return new Tensor(native.softplus(this.handle, beta, threshold)); }

  add(o: Operand): Tensor { return binary('add', this.handle, o); }
  sub(o: Operand): Tensor { return binary('sub', this.handle, o); }
  mul(o: Operand): Tensor { return binary('mul', this.handle, o); }
  div(o: Operand): Tensor { return binary('div', this.handle, o); }
  pow(o: Operand): Tensor { return binary('pow', this.handle, o); }
  remainder(o: Operand): Tensor { return binary('remainder', this.handle, o); }
  eq(o: Operand): Tensor { return binary('eq', this.handle, o); }
  ne(o: Operand): Tensor { return binary('ne', this.handle, o); }
  gt(o: Operand): Tensor { return binary('gt', this.handle, o); }
  ge(o: Operand): Tensor { return binary('ge', this.handle, o); }
  lt(o: Operand): Tensor { return binary('lt', this.handle, o); }
  le(o: Operand): Tensor { return binary('le', this.handle, o); }
  maximum(o: Tensor): Tensor { return new Tensor(native.maximum(this.handle, o.handle)); }
  minimum(o: Tensor): Tensor { return new Tensor(native.minimum(this.handle, o.handle)); }
  logicalAnd(o: Tensor): Tensor { return new Tensor(native.logicalAnd(this.handle, o.handle)); }
  logicalOr(o: Tensor): Tensor { return new Tensor(native.logicalOr(this.handle, o.handle)); }
  /** Clamp to [min, max]; each bound a number, a tensor (broadcast) or null for none. */
  clamp(min: Operand | null, max: Operand | null): Tensor {
    if (!(min instanceof Tensor) && !(max instanceof Tensor)) return new Tensor(native.clamp(this.handle, min, max));
    // Tensor bounds: a number beside one becomes a scalar tensor of this tensor's kind.
    const bound = (b: Operand | null): Tensor | null => (b === null ? null : b instanceof Tensor ? b : scalarLike(this, b));
    const lo = bound(min);
    const hi = bound(max);
    const out = new Tensor(native.clampT(this.handle, lo?.handle ?? null, hi?.handle ?? null));
    if (lo !== min) lo?.dispose();
    if (hi !== max) hi?.dispose();
    return out;
  }
  lerp(end: Tensor, weight: number): Tensor { return new Tensor(native.lerp(this.handle, end.handle, weight)); }
  matmul(o: Tensor): Tensor { return new Tensor(native.matmul(this.handle, o.handle)); }
  bmm(o: Tensor): Tensor { return new Tensor(native.bmm(this.handle, o.handle)); }

  // ---- reductions (no dims: over all elements)
  sum(dim?: number | number[], keepdim = false): Tensor { return new Tensor(native.sum(this.handle, dims(dim), keepdim)); }
  mean(dim?: number | number[], keepdim = false): Tensor { return new Tensor(native.mean(this.handle, dims(dim), keepdim)); }
  amax(dim?: number | number[], keepdim = false): Tensor { return new Tensor(native.amax(this.handle, dims(dim), keepdim)); }
  amin(dim?: number | number[], keepdim = false): Tensor { return new Tensor(native.amin(this.handle, dims(dim), keepdim)); }
  argmax(dim: number, keepdim = false): Tensor { return new Tensor(native.argmax(this.handle, dim, keepdim)); }
  argmin(dim: number, keepdim = false): Tensor { return new Tensor(native.argmin(this.handle, dim, keepdim)); }
  var(dim?: number | number[], unbiased = true, keepdim = false): Tensor {
    return new Tensor(native.var(this.handle, dims(dim), unbiased, keepdim));
  }
  std(dim?: number | number[], unbiased = true, keepdim = false): Tensor {
    return new Tensor(native.std_(this.handle, dims(dim), unbiased, keepdim));
  }
  norm(p = 2, dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.norm(this.handle, p, dims(dim), keepdim));
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return new Tensor(native.logsumexp(this.handle, dims(dim), keepdim));
  }
  cumsum(dim: number): Tensor { return new Tensor(native.cumsum(this.handle, dim)); }
  allclose(o: Tensor, rtol = 1e-5, atol = 1e-8): boolean { return native.allclose(this.handle, o.handle, rtol, atol); }

  // ---- in-place updates (for optimisers and buffers; run them under noGrad)
  add_(o: Operand, alpha = 1): this {
    if (alpha === 1 || typeof o === 'number') inplace('add_', this.handle, typeof o === 'number' ? o * alpha : o);
    else native.addScaled_(this.handle, o.handle, alpha);
    return this;
  }
  sub_(o: Operand): this { inplace('sub_', this.handle, o); return this; }
  mul_(o: Operand): this { inplace('mul_', this.handle, o); return this; }
  div_(o: Operand): this { inplace('div_', this.handle, o); return this; }
  addcmul_(a: Tensor, b: Tensor, value = 1): this { native.addcmul_(this.handle, a.handle, b.handle, value); return this; }
  addcdiv_(a: Tensor, b: Tensor, value = 1): this { native.addcdiv_(this.handle, a.handle, b.handle, value); return this; }
  lerp_(end: Tensor, weight: number): this { native.lerp_(this.handle, end.handle, weight); return this; }
  copy_(src: Tensor): this { native.copy_(this.handle, src.handle); return this; }
  zero_(): this { native.zero_(this.handle); return this; }
  fill_(value: number): this { native.fill_(this.handle, value); return this; }
  clamp_(min: number | null, max: number | null): this { native.clamp_(this.handle, min, max); return this; }
  sqrt_(): this { native.sqrt_(this.handle); return this; }
  normal_(mean = 0, std = 1, gen?: Generator): this { native.normal_(this.handle, mean, std, gen?.handle ?? null); return this; }
  uniform_(low = 0, high = 1, gen?: Generator): this { native.uniform_(this.handle, low, high, gen?.handle ?? null); return this; }
  indexCopy_(dim: number, index: Tensor, source: Tensor): this {
    native.indexCopy_(this.handle, dim, index.handle, source.handle);
    return this;
  }

  // ---- autograd
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }
  requiresGrad_(on = true): this {
    native.setRequiresGrad(this.handle, on);
    return this;
  }
  /** The accumulated gradient as a new handle (dispose it), or null if none. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  /** Drop the accumulated gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    native.zeroGrad(this.handle);
  }
  backward(gradient?: Tensor, retainGraph = false): void {
    native.backward(this.handle, gradient?.handle ?? null, retainGraph);
  }
}

/** A 0-d tensor holding v with t's dtype and device (for number operands of tensor-only ops). */
export function scalarLike(t: Tensor, v: number): Tensor {
  return new Tensor(native.full([], v, dtypeCode(t.dtype), t.device));
}

// A generator the program drops is freed once the garbage collector has collected it; dispose()
// frees it at once. Either way the addon runs no finalizer of its own (see native/engine.cc).
const unreachableGenerators = new FinalizationRegistry<NativeGenerator>((slot) => native.disposeGenerator(slot));

/** A seeded random generator: the same seed gives the same numbers on CPU and GPU. */
export class Generator {
  #slot: NativeGenerator | null;
  constructor(readonly seed: number) {
    this.#slot = native.newGenerator(seed);
    unreachableGenerators.register(this, this.#slot, this);
  }
  /** @internal */
  get handle(): NativeGenerator {
    if (this.#slot === null) throw new Error(`generator (seed ${this.seed}) was disposed`);
    return this.#slot;
  }
  /** Frees the native generator now (a loop that makes one per step stays flat). */
  dispose(): void {
    if (this.#slot === null) return;
    unreachableGenerators.unregister(this);
    native.disposeGenerator(this.#slot);
    this.#slot = null;
  }
}

/** Native generators alive now (for memory tests). */
export function liveGenerators(): number {
  return native.liveGenerators();
}
