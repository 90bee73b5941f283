// Optimisers with PyTorch's update rules, applied in place under noGrad.
import { F, Tensor, noGrad, tidy } from './init.js';

export interface Optimizer {
  lr: number;
  step(): void;
  zeroGrad(): void;
  /** Per-parameter state tensors by name, for checkpoints. */
  state(): Map<string, Tensor>;
  loadState(state: Map<string, Tensor>): void;
  /**
   * How many times step() ran (the global step, for checkpoint metadata and per-step
   * schedules). Per-parameter counts that change the maths (Adam's bias correction) are
   * in state() instead, so loadState alone restores the update exactly.
   */
  stepCount(): number;
  loadStepCount(n: number): void;
  dispose(): void;
}

abstract class Base implements Optimizer {
  protected steps = 0;
  constructor(
    protected readonly params: Tensor[],
    public lr: number,
  ) {}
  abstract step(): void;
  abstract state(): Map<string, Tensor>;
  stepCount(): number {
    return this.steps;
  }
  loadStepCount(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new Error(`optimizer step count must be a non-negative integer, got ${n}`);
    this.steps = n;
  }
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
    this.steps++;
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

export interface AdamOptions {
  lr: number;
  /** decay rates of the first and second moment averages (default [0.9, 0.999]) */
  betas?: readonly [number, number];
  /** added to the bias-corrected sqrt of the second moment (default 1e-8) */
  eps?: number;
  /** Adam: L2 penalty added to the gradient (default 0); AdamW: decoupled decay (default 0.01) */
  weightDecay?: number;
}

/**
 * Adam's update, per parameter with t its own step count (as torch.optim.Adam/AdamW):
 *   Adam:  g += wd*p (L2)          AdamW: p *= 1 - lr*wd (decoupled)
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * Parameters without a gradient are skipped and their t does not advance.
 * state(): exp_avg.i, exp_avg_sq.i and `step` (float64 CPU, one count per parameter).
 */
abstract class AdamBase extends Base {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly expAvg: Tensor[];
  private readonly expAvgSq: Tensor[];
  /** per-parameter step counts; mirrored into stepTensor for state() */
  private paramSteps: number[];
  private readonly stepTensor: Tensor;
  constructor(
    params: Tensor[],
    o: AdamOptions,
    defaultWeightDecay: number,
    /** AdamW's decoupled weight decay instead of Adam's L2 term */
    private readonly decoupled: boolean,
  ) {
    super(params, o.lr);
    [this.beta1, this.beta2] = o.betas ?? [0.9, 0.999];
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? defaultWeightDecay;
    for (const [what, v] of [['beta1', this.beta1], ['beta2', this.beta2]] as const)
      if (!(v >= 0 && v < 1)) throw new Error(`Adam ${what} must be in [0, 1), got ${v}`);
    if (!(this.eps >= 0)) throw new Error(`Adam eps must be >= 0, got ${this.eps}`);
    this.expAvg = params.map((p) => tidy(() => F.zerosLike(p.detach())).keep());
    this.expAvgSq = params.map((p) => tidy(() => F.zerosLike(p.detach())).keep());
    this.paramSteps = params.map(() => 0);
    this.stepTensor = F.zeros([params.length], { dtype: 'float64' }).keep();
  }
  step(): void {
    this.steps++;
    const [b1, b2] = [this.beta1, this.beta2];
    noGrad(() => {
      this.params.forEach((p, i) => {
        tidy(() => {
          let g = p.grad;
          if (g === null) return;
          const t = ++this.paramSteps[i]!;
          if (this.weightDecay !== 0) {
            if (this.decoupled) p.mul_(1 - this.lr * this.weightDecay);
            else g = g.add(p.mul(this.weightDecay));
          }
          const m = this.expAvg[i]!;
          const v = this.expAvgSq[i]!;
          m.mul_(b1).add_(g, 1 - b1);
          v.mul_(b2).addcmul_(g, g, 1 - b2);
          const denom = v.sqrt().div_(Math.sqrt(1 - b2 ** t)).add_(this.eps);
          p.addcdiv_(m, denom, -this.lr / (1 - b1 ** t));
        });
      });
    });
  }
  state(): Map<string, Tensor> {
    // Refresh the count tensor so a checkpoint sees the current counts.
    noGrad(() => tidy(() => void this.stepTensor.copy_(F.tensor(this.paramSteps, [this.paramSteps.length], { dtype: 'float64' }))));
    const m = new Map<string, Tensor>();
    this.expAvg.forEach((t, i) => m.set(`exp_avg.${i}`, t));
    this.expAvgSq.forEach((t, i) => m.set(`exp_avg_sq.${i}`, t));
    m.set('step', this.stepTensor);
    return m;
  }
  override loadState(state: Map<string, Tensor>): void {
    super.loadState(state);
    this.paramSteps = this.stepTensor.toArray();
  }
}

/** Adam as torch.optim.Adam (Kingma & Ba 2015); weightDecay (default 0) is an L2 term. */
export class Adam extends AdamBase {
  constructor(params: Tensor[], o: AdamOptions) {
    super(params, o, 0, false);
  }
}

/**
 * AdamW as torch.optim.AdamW (Loshchilov & Hutter 2019): no L2 term; p *= 1 - lr*wd before
 * each update instead (weightDecay defaults to 0.01 as in PyTorch).
 */
export class AdamW extends AdamBase {
  constructor(params: Tensor[], o: AdamOptions) {
    super(params, o, 0.01, true);
  }
}

/**
 * Scale the gradients of `params` in place so that their joint L2 norm is at most maxNorm,
 * as torch.nn.utils.clip_grad_norm_ (coefficient maxNorm / (norm + 1e-6), applied when < 1).
 * Returns the norm before clipping.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  return noGrad(() =>
    tidy(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      const total = Math.sqrt(grads.reduce((s, g) => s + g.pow(2).sum().item(), 0));
      const coef = maxNorm / (total + 1e-6);
      if (coef < 1) for (const g of grads) g.mul_(coef);
      return total;
    }),
  );
}
