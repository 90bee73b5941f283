// Exponential moving average of a model's weights (as improved-DDPM's update_ema):
//   shadow = decay * shadow + (1 - decay) * param      (parameters, after each step)
//   shadow = buffer                                    (buffers, e.g. BatchNorm statistics)
// The shadow tensors live on the model's device, keyed by the model's state-dict names.
import { Tensor, noGrad, tidy } from './init.js';
import type { Module } from './module.js';

export interface EMAOptions {
  /** default decay for update() (0.9999 as improved-DDPM) */
  decay?: number;
}

export class EMA {
  readonly decay: number;
  private readonly shadow: Map<string, Tensor>;
  private readonly paramNames: Set<string>;
  private updates = 0;

  /** Start the average at the model's current weights. */
  constructor(
    readonly model: Module,
    o: EMAOptions = {},
  ) {
    this.decay = o.decay ?? 0.9999;
    EMA.checkDecay(this.decay);
    this.paramNames = new Set(model.namedParameters().map(([n]) => n));
    this.shadow = noGrad(() => new Map([...model.stateDict()].map(([n, t]) => [n, tidy(() => t.detach().clone()).keep()])));
  }

  private static checkDecay(d: number): void {
    if (!(d >= 0 && d <= 1)) throw new Error(`EMA decay must be in [0, 1], got ${d}`);
  }

  /** Move the average towards the model's current weights; copy its buffers. */
  update(decay = this.decay): void {
    EMA.checkDecay(decay);
    noGrad(() => {
      for (const [n, t] of this.model.stateDict()) {
        const s = this.shadow.get(n)!;
        if (this.paramNames.has(n)) s.lerp_(t, 1 - decay);
        else s.copy_(t);
      }
    });
    this.updates++;
  }

  /** How many times update() ran (saved in checkpoints). */
  updateCount(): number {
    return this.updates;
  }
  loadUpdateCount(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new Error(`EMA update count must be a non-negative integer, got ${n}`);
    this.updates = n;
  }

  /** The averaged weights and copied buffers by state-dict name (live tensors: do not dispose). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.shadow);
  }

  /** Overwrite the average from a name -> tensor map (as Module.loadStateDict). */
  loadStateDict(state: Map<string, Tensor>): void {
    noGrad(() => {
      for (const [n, s] of this.shadow) {
        const src = state.get(n);
        if (!src) throw new Error(`EMA state is missing "${n}"`);
        if (src.shape.join(',') !== s.shape.join(','))
          throw new Error(`EMA state "${n}" has shape [${src.shape}] but the model's is [${s.shape}]`);
        s.copy_(src);
      }
    });
  }

  /** Load the averaged weights into a model of the same architecture (e.g. for evaluation). */
  copyTo(model: Module): void {
    model.loadStateDict(this.shadow);
  }

  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
    this.shadow.clear();
  }
}
