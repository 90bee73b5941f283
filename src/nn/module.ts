// Modules: named parameters and buffers, train/eval mode, device and memory-format moves.
// A module owns its tensors; dispose() frees them all.
import { Tensor, noGrad, type Device, type MemoryFormat } from '../engine/index.js';

export abstract class Module {
  training = true;
  private readonly _params = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, Tensor>();
  private readonly _children = new Map<string, Module>();

  abstract forward(x: Tensor, ...rest: Tensor[]): Tensor;

  /** Register a trainable tensor (made a leaf that requires grad). */
  protected param(name: string, t: Tensor): Tensor {
    t.keep().requiresGrad_(true);
    this._params.set(name, t);
    return t;
  }
  /** Register a non-trainable tensor saved in checkpoints (e.g. BatchNorm running stats). */
  protected buffer(name: string, t: Tensor): Tensor {
    t.keep();
    this._buffers.set(name, t);
    return t;
  }
  protected child<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  /** Parameters by dotted name, in registration order (PyTorch's state-dict names). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this._params) out.push([prefix + n, t]);
    for (const [n, c] of this._children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this._buffers) out.push([prefix + n, t]);
    for (const [n, c] of this._children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  /** Parameters then buffers: everything a checkpoint holds. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }
  children(): Module[] {
    return [...this._children.values()];
  }
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  train(on = true): this {
    this.training = on;
    for (const c of this._children.values()) c.train(on);
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * Move every tensor to a device and/or memory format in place: the Tensor objects stay
   * the same, so fields and optimisers keep working. channels_last applies to 4-D tensors.
   */
  to(device?: Device, format?: MemoryFormat): this {
    noGrad(() => {
      for (const [map, isParam] of [[this._params, true], [this._buffers, false]] as const) {
        for (const t of map.values()) {
          let next = device !== undefined && t.device !== device ? t.to(device) : null;
          if (format !== undefined && t.ndim === 4) {
            const f = (next ?? t).contiguous(format);
            next?.dispose();
            next = f;
          }
          if (next === null) continue;
          t.adopt(next);
          if (isParam) t.requiresGrad_(true);
        }
      }
    });
    for (const c of this._children.values()) c.to(device, format);
    return this;
  }

  /** Copy values from a name -> tensor map (shapes must match; missing names are an error). */
  loadStateDict(state: Map<string, Tensor>, strict = true): void {
    noGrad(() => {
      const mine = this.stateDict();
      for (const [n, t] of mine) {
        const src = state.get(n);
        if (!src) {
          if (strict) throw new Error(`checkpoint is missing "${n}" (does it match this model and its flags?)`);
          continue;
        }
        if (src.shape.join(',') !== t.shape.join(','))
          throw new Error(`checkpoint "${n}" has shape [${src.shape}] but the model expects [${t.shape}] (does it match the model flags?)`);
        t.copy_(src);
      }
      if (strict) {
        const extra = [...state.keys()].filter((k) => !mine.has(k));
        if (extra.length) throw new Error(`checkpoint has tensors this model does not: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
      }
    });
  }

  dispose(): void {
    for (const t of this._params.values()) t.dispose();
    for (const t of this._buffers.values()) t.dispose();
    for (const c of this._children.values()) c.dispose();
  }

  /** Call forward (reads like PyTorch's module(x)). */
  call(x: Tensor, ...rest: Tensor[]): Tensor {
    return this.forward(x, ...rest);
  }
}

/**
 * Apply steps in order, disposing each intermediate as soon as the next step has used it
 * (x itself is kept). Without autograd this frees activations as eagerly as PyTorch does.
 */
export function pipe(x: Tensor, ...steps: ((t: Tensor) => Tensor)[]): Tensor {
  let y = x;
  for (const step of steps) {
    const next = step(y);
    if (y !== x) y.dispose();
    y = next;
  }
  return y;
}

/** Children run in order. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.child(String(i), m));
  }
  forward(x: Tensor): Tensor {
    return pipe(x, ...this.layers.map((m) => (t: Tensor) => m.forward(t)));
  }
}
