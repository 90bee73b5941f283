// Optimisers with PyTorch's update rules, applied in place under noGrad.
import { Tensor, noGrad, tidy } from './init.js';

export interface Optimizer {
  lr: number;
  step(): void;
  zeroGrad(): void;
  /** Per-parameter state tensors by name, for checkpoints. */
  state(): Map<string, Tensor>;
  loadState(state: Map<string, Tensor>): void;
  dispose(): void;
}

abstract class Base implements Optimizer {
  constructor(
    protected readonly params: Tensor[],
    public lr: number,
  ) {}
  abstract step(): void;
  abstract state(): Map<string, Tensor>;
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }
  loadState(state: Map<string, Tensor>): void {
    noGrad(() => {
      for (const [k, t] of this.state()) {
        const src = state.get(k);
        if (!src) throw new Error(`optimizer state is missing "${k}"`);
        t.copy_(src);
      }
    });
  }
  dispose(): void {
    for (const t of this.state().values()) t.dispose();
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** SGD as torch.optim.SGD: g += wd*p; buf = m*buf + g; p -= lr*(nesterov ? g + m*buf : buf). */
export class SGD extends Base {
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly bufs: (Tensor | null)[];
  private readonly started: boolean[];
  constructor(params: Tensor[], o: SGDOptions) {
    super(params, o.lr);
    this.momentum = o.momentum ?? 0;
    this.nesterov = o.nesterov ?? false;
    this.weightDecay = o.weightDecay ?? 0;
    if (this.nesterov && this.momentum <= 0) throw new Error('nesterov SGD needs momentum > 0');
    this.bufs = params.map((p) => (this.momentum > 0 ? tidy(() => p.detach().mul(0)).keep() : null));
    this.started = params.map(() => false);
  }
  step(): void {
    noGrad(() => {
      this.params.forEach((p, i) => {
        tidy(() => {
          let g = p.grad;
          if (g === null) return;
          if (this.weightDecay !== 0) g = g.add(p.mul(this.weightDecay));
          const buf = this.bufs[i];
          if (buf) {
            // PyTorch starts the buffer at the first gradient (no dampening).
            if (!this.started[i]) {
              buf.copy_(g);
              this.started[i] = true;
            } else buf.mul_(this.momentum).add_(g);
            g = this.nesterov ? g.add(buf.mul(this.momentum)) : buf;
          }
          p.add_(g, -this.lr);
        });
      });
    });
  }
  state(): Map<string, Tensor> {
    const m = new Map<string, Tensor>();
    this.bufs.forEach((b, i) => b && m.set(`momentum_buffer.${i}`, b));
    return m;
  }
  override loadState(state: Map<string, Tensor>): void {
    super.loadState(state);
    this.started.fill(true);
  }
}
