// Projected gradient steps on a perturbation delta of a batch: the inner loop shared by the
// model-based availability attacks (EM, TAP, REM, SEP, EFP, ADP) and adversarial training
// (adversarial.ts), so it sits in training/, below both. Images are in [0,1]; the
// perturbation stays in its norm ball and x + delta stays in [0,1] after every step.
// Every tensor made here is freed before returning, except the returned delta (the caller's).
import { F, Tensor, noGrad, tidy, type Device, type Generator } from '../engine/index.js';

export type PerturbationNorm = 'linf' | 'l2';
/**
 * How a run starts when no delta is given (the recipes differ, attacks-facts §6.13):
 *   zero      delta = 0 (EM starts from its stored noise, zeros at first)
 *   uniform   uniform in the ball (REM, EntF's AT reference: U(-eps, eps) per pixel for L_inf)
 *   gaussian  N(0, scale^2) per pixel, then projected (TAP: randn * eps, clipped)
 */
export type RandomStart = 'zero' | 'uniform' | 'gaussian';
/** ascent maximises the loss (error-maximising noise), descent minimises it (error-minimising). */
export type PgdDirection = 'ascent' | 'descent';

export interface PgdOptions {
  norm: PerturbationNorm;
  /** radius of the ball ([0,1] pixel units for L_inf, per-image L2 for l2) */
  eps: number;
  /** step length: the L_inf sign step, or the L2 length of the normalised gradient step */
  stepSize: number;
  steps: number;
  direction: PgdDirection;
  /** used only when no initial delta is passed (default zero) */
  randomStart?: RandomStart;
  /** standard deviation of the gaussian start (default eps, as TAP) */
  gaussianScale?: number;
  /** seeds the random start; required for uniform and gaussian starts */
  generator?: Generator;
}

/** The objective of a step: a scalar loss of the perturbed batch x + delta. */
export type PgdObjective = (perturbed: Tensor) => Tensor;

const TINY = 1e-12;

/** Per-sample L2 norms of t as [N, 1, ..., 1], to broadcast against t. */
function sampleNorms(t: Tensor): Tensor {
  const keep = t.shape.map((s, i) => (i === 0 ? s : 1));
  return t.flatten(1).norm(2, 1).reshape(...keep);
}

/**
 * Project delta onto the norm ball and so that x + delta lies in [0,1]. For L_inf both sets
 * are boxes, so clamping to each is the exact projection onto the intersection. For L2 the
 * ball projection comes first: the [0,1] clamp then only shrinks components towards 0, so
 * the result stays in the ball (the usual approximation of the exact projection).
 */
export function project(x: Tensor, delta: Tensor, norm: PerturbationNorm, eps: number): Tensor {
  return tidy(() =>
    noGrad(() => {
      let d: Tensor;
      if (norm === 'linf') d = delta.clamp(-eps, eps);
      else {
        const n = sampleNorms(delta);
        // scale = min(1, eps / ||delta||): points inside the ball stay where they are
        const scale = n.clamp(TINY, null).reciprocal().mul(eps).clamp(null, 1);
        d = delta.mul(scale);
      }
      return x.add(d).clamp(0, 1).sub(x);
    }),
  );
}

/** A random starting delta for x, already projected (see RandomStart). */
export function randomStart(x: Tensor, o: Pick<PgdOptions, 'norm' | 'eps' | 'randomStart' | 'gaussianScale' | 'generator'>): Tensor {
  const kind = o.randomStart ?? 'zero';
  if (kind === 'zero') return noGrad(() => F.zerosLike(x));
  if (o.generator === undefined) throw new Error(`a ${kind} PGD start needs a seeded generator (pass options.generator)`);
  const gen = o.generator;
  const dev = x.device as Device;
  return tidy(() =>
    noGrad(() => {
      let d: Tensor;
      if (kind === 'gaussian') d = F.randn(x.shape, { dtype: x.dtype, device: dev, generator: gen }).mul(o.gaussianScale ?? o.eps);
      else if (o.norm === 'linf') d = F.rand(x.shape, { dtype: x.dtype, device: dev, generator: gen }).mul(2 * o.eps).sub(o.eps);
      else {
        // uniform in the L2 ball: a uniform direction times eps * U^(1/dim)
        const g = F.randn(x.shape, { dtype: x.dtype, device: dev, generator: gen });
        const dim = x.numel / x.shape[0]!;
        const keep = x.shape.map((s, i) => (i === 0 ? s : 1));
        const r = F.rand(keep, { dtype: x.dtype, device: dev, generator: gen }).pow(1 / dim).mul(o.eps);
        d = g.div(sampleNorms(g).clamp(TINY, null)).mul(r);
      }
      return project(x, d, o.norm, o.eps);
    }),
  );
}

/**
 * One projected step from delta: the loss's gradient w.r.t. delta only (F.grad, so no
 * parameter .grad is touched), a signed (L_inf) or per-sample normalised (L2) step up or down,
 * then the projection. Returns a new delta; delta itself is left to the caller.
 */
export function pgdStep(x: Tensor, delta: Tensor, objective: PgdObjective, o: PgdOptions): Tensor {
  return tidy(() => {
    const d = delta.detach().requiresGrad_(true);
    const loss = objective(x.add(d));
    if (loss.numel !== 1) throw new Error(`the PGD objective must return a scalar loss, got shape [${loss.shape.join(', ')}]`);
    const [g] = F.grad(loss, d);
    if (g === null || g === undefined) throw new Error('the PGD objective does not depend on the perturbation');
    return noGrad(() => {
      const dir = o.norm === 'linf' ? g.sign() : g.div(sampleNorms(g).clamp(TINY, null));
      const step = dir.mul(o.direction === 'ascent' ? o.stepSize : -o.stepSize);
      return project(x, d.add(step), o.norm, o.eps);
    });
  });
}

/**
 * `steps` projected gradient steps on the perturbation of batch x (in [0,1]). Starts from
 * `init` (projected first; not disposed) or, without one, from options.randomStart.
 * Returns the final delta, a fresh tensor owned by the caller; nothing else stays alive.
 */
export function pgd(x: Tensor, objective: PgdObjective, o: PgdOptions, init?: Tensor | null): Tensor {
  if (!(o.eps >= 0) || !(o.stepSize >= 0) || !Number.isInteger(o.steps) || o.steps < 0)
    throw new Error(`PGD needs eps >= 0, stepSize >= 0 and an integer steps >= 0 (got ${o.eps}, ${o.stepSize}, ${o.steps})`);
  let delta = init ? project(x, init, o.norm, o.eps) : randomStart(x, o);
  for (let i = 0; i < o.steps; i++) {
    let next: Tensor;
    try {
      next = pgdStep(x, delta, objective, o);
    } finally {
      // replaced on success; on an error it must not leak either
      delta.dispose();
    }
    delta = next;
  }
  return delta;
}
