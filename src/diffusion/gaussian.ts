// Gaussian diffusion with a learned-range variance (Nichol & Dhariwal 2021): the forward
// process q, its posterior, the reverse step p, ECLIPSE's purification, and the hybrid loss
// L_simple + L_vb.
//
// Timesteps are 0-based indices t = 0 .. T-1 (index t is the paper's step t+1; see
// schedule.ts). They are int64 tensors of shape [B], one per sample; each per-step constant
// is gathered from a float64 table on the tensor's device and cast to the data's dtype.
//
// The network maps (x_t, t') to 2C channels, [eps | v], for C-channel data, where t' is
// the original step (respacing) times 1000/T when timesteps are rescaled.
import { F, Tensor, noGrad, tidy, type Device, type Generator } from '../engine/index.js';
import { namedBetas, noiseSchedule, tStarIndex, type NoiseSchedule, type NoiseScheduleName } from './schedule.js';
import { respaceSpec } from './respace.js';

/** Anything callable as network(x_t, t'): a Module's call() fits. */
export interface Denoiser {
  call(x: Tensor, t: Tensor): Tensor;
}

// ---------------------------------------------------------------------------
// Closed forms (exported for tests and metrics)

/** KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) elementwise, in nats (inputs broadcast). */
export function normalKL(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor): Tensor {
  return tidy(() => {
    const ratio = logvar1.sub(logvar2).exp();
    const dist = mean1.sub(mean2).square().mul(logvar2.neg().exp());
    return logvar2.sub(logvar1).add(ratio).add(dist).sub(1).mul(0.5);
  });
}

/** The tanh approximation of the standard normal CDF: 0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function approxStandardNormalCdf(x: Tensor): Tensor {
  return tidy(() => x.pow(3).mul(0.044715).add(x).mul(Math.sqrt(2 / Math.PI)).tanh().add(1).mul(0.5));
}

/**
 * log P(x) for data x in [-1, 1] quantised to 256 levels (bins of width 2/255 around each
 * level) under N(means, exp(logScales)^2), elementwise in nats. The lowest bin extends to
 * -inf and the highest to +inf, so the 256 probabilities sum to 1.
 */
export function discretizedGaussianLogLikelihood(x: Tensor, means: Tensor, logScales: Tensor): Tensor {
  return tidy(() => {
    const centered = x.sub(means);
    const invStd = logScales.neg().exp();
    const cdfPlus = approxStandardNormalCdf(centered.add(1 / 255).mul(invStd));
    const cdfMin = approxStandardNormalCdf(centered.sub(1 / 255).mul(invStd));
    const logCdfPlus = cdfPlus.clamp(1e-12, null).log();
    const logOneMinusCdfMin = cdfMin.neg().add(1).clamp(1e-12, null).log();
    const logDelta = cdfPlus.sub(cdfMin).clamp(1e-12, null).log();
    return F.where(x.lt(-0.999), logCdfPlus, F.where(x.gt(0.999), logOneMinusCdfMin, logDelta));
  });
}

/** Mean over every dimension but the first: [B, ...] -> [B]. */
export const meanFlat = (x: Tensor): Tensor => tidy(() => x.flatten(1).mean(1));

// ---------------------------------------------------------------------------

type Table =
  | 'betas'
  | 'logBetas'
  | 'sqrtAlphasCumprod'
  | 'sqrtOneMinusAlphasCumprod'
  | 'logOneMinusAlphasCumprod'
  | 'sqrtRecipAlphasCumprod'
  | 'sqrtRecipm1AlphasCumprod'
  | 'posteriorVariance'
  | 'posteriorLogVarianceClipped'
  | 'posteriorMeanCoef1'
  | 'posteriorMeanCoef2';

export type MeanVariance = { mean: Tensor; variance: Tensor; logVariance: Tensor };
export type PMeanVariance = MeanVariance & { predXStart: Tensor; eps: Tensor };
export type TrainingLosses = {
  /** per sample [B]: mse + vb */
  loss: Tensor;
  /** L_simple per sample: mean squared error of eps */
  mse: Tensor;
  /** L_vb per sample, in bits/dim, already multiplied by T/1000 */
  vb: Tensor;
};

export interface GaussianDiffusionOptions {
  /** one beta per step (respaced betas for a respaced process) */
  betas: Float64Array | readonly number[];
  /** show the network t * 1000 / originalNumTimesteps instead of t (improved-DDPM: true) */
  rescaleTimesteps?: boolean;
  /** respacing: the original step of each step (default: the identity) */
  timestepMap?: Int32Array | readonly number[];
  /** the original process's length (default: betas.length) */
  originalNumTimesteps?: number;
}

export interface CreateDiffusionOptions {
  /** T (ECLIPSE: 4000) */
  steps: number;
  noiseSchedule?: NoiseScheduleName;
  /** a respace.ts spacedTimesteps() spec, e.g. "ddim50" or "250"; "" keeps every step */
  timestepRespacing?: string;
  rescaleTimesteps?: boolean;
}

export interface SampleOptions {
  /** clamp the predicted x_0 to [-1, 1] (default true) */
  clipDenoised?: boolean;
  generator?: Generator;
  /** called after each reverse step with the step just taken */
  onStep?: (t: number) => void;
}

export class GaussianDiffusion {
  readonly schedule: NoiseSchedule;
  readonly numTimesteps: number;
  readonly rescaleTimesteps: boolean;
  readonly originalNumTimesteps: number;
  readonly timestepMap: Int32Array;
  /** float64 tables (and the int64 timestep map) per device, made on first use */
  private readonly tables = new Map<string, Map<string, Tensor>>();

  constructor(o: GaussianDiffusionOptions) {
    this.schedule = noiseSchedule(o.betas);
    this.numTimesteps = this.schedule.numTimesteps;
    this.rescaleTimesteps = o.rescaleTimesteps ?? true;
    this.originalNumTimesteps = o.originalNumTimesteps ?? this.numTimesteps;
    this.timestepMap = o.timestepMap ? Int32Array.from(o.timestepMap) : Int32Array.from({ length: this.numTimesteps }, (_, i) => i);
    if (this.timestepMap.length !== this.numTimesteps) throw new Error(`timestepMap has ${this.timestepMap.length} entries for ${this.numTimesteps} steps`);
  }

  /** T steps of a named schedule, optionally respaced (the model still sees the original steps). */
  static create(o: CreateDiffusionOptions): GaussianDiffusion {
    const base = noiseSchedule(namedBetas(o.noiseSchedule ?? 'cosine', o.steps));
    const spec = o.timestepRespacing ?? '';
    if (spec === '') return new GaussianDiffusion({ betas: base.betas, rescaleTimesteps: o.rescaleTimesteps });
    const r = respaceSpec(base, spec);
    return new GaussianDiffusion({ ...r, rescaleTimesteps: o.rescaleTimesteps });
  }

  /** Free the device tables (the object stays usable: they are rebuilt on demand). */
  dispose(): void {
    for (const m of this.tables.values()) for (const t of m.values()) t.dispose();
    this.tables.clear();
  }

  private table(name: Table | 'timestepMap', device: string): Tensor {
    let m = this.tables.get(device);
    if (!m) this.tables.set(device, (m = new Map()));
    let t = m.get(name);
    if (!t) {
      const dev = { device: device as Device };
      const made = name === 'timestepMap'
        ? F.tensor(BigInt64Array.from(this.timestepMap, (v) => BigInt(v)), [this.numTimesteps], dev)
        : F.tensor(this.schedule[name], [this.numTimesteps], dev);
      t = made.keep();
      m.set(name, t);
    }
    return t;
  }

  /** The constant `name` at each sample's t, shaped [B, 1, ...] to broadcast over `like`. */
  private at(name: Table, t: Tensor, like: Tensor): Tensor {
    return tidy(() => {
      const v = this.table(name, t.device).indexSelect(0, t).to(like.dtype);
      return v.reshape(t.size(0), ...new Array<number>(like.ndim - 1).fill(1));
    });
  }

  /** What the network is shown for step t: the original step, times 1000/T if rescaling (float32 [B]). */
  modelTimesteps(t: Tensor): Tensor {
    return tidy(() => {
      const orig = this.table('timestepMap', t.device).indexSelect(0, t).float();
      return this.rescaleTimesteps ? orig.mul(1000 / this.originalNumTimesteps) : orig;
    });
  }

  /** Timesteps tensor [batch] all equal to `t`, on `device`. */
  timesteps(t: number, batch: number, device: Device | string = 'cpu'): Tensor {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) throw new Error(`timestep ${t} is outside 0..${this.numTimesteps - 1}`);
    return F.full([batch], t, { dtype: 'int64', device: device as Device });
  }

  // ---- the forward process

  /** q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I). */
  qMeanVariance(x0: Tensor, t: Tensor): MeanVariance {
    return tidy(() => ({
      mean: this.at('sqrtAlphasCumprod', t, x0).mul(x0),
      variance: this.at('sqrtOneMinusAlphasCumprod', t, x0).square().expand(...x0.shape),
      logVariance: this.at('logOneMinusAlphasCumprod', t, x0).expand(...x0.shape),
    }));
  }

  /** A draw of x_t ~ q(x_t | x_0): sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise. */
  qSample(x0: Tensor, t: Tensor, noise?: Tensor, generator?: Generator): Tensor {
    return tidy(() => {
      const n = noise ?? F.randn(x0.shape, { dtype: x0.dtype, device: x0.device as Device, generator });
      return this.at('sqrtAlphasCumprod', t, x0).mul(x0).add(this.at('sqrtOneMinusAlphasCumprod', t, x0).mul(n));
    });
  }

  /** q(x_{t-1} | x_t, x_0) = N(coef1 x_0 + coef2 x_t, beta_tilde_t); logVariance is the clipped one. */
  qPosteriorMeanVariance(x0: Tensor, xt: Tensor, t: Tensor): MeanVariance {
    return tidy(() => ({
      mean: this.at('posteriorMeanCoef1', t, xt).mul(x0).add(this.at('posteriorMeanCoef2', t, xt).mul(xt)),
      variance: this.at('posteriorVariance', t, xt).expand(...xt.shape),
      logVariance: this.at('posteriorLogVarianceClipped', t, xt).expand(...xt.shape),
    }));
  }

  // ---- the reverse process

  /** x_0 = sqrt(1/abar_t) x_t - sqrt(1/abar_t - 1) eps. */
  predictXStartFromEps(xt: Tensor, t: Tensor, eps: Tensor): Tensor {
    return tidy(() => this.at('sqrtRecipAlphasCumprod', t, xt).mul(xt).sub(this.at('sqrtRecipm1AlphasCumprod', t, xt).mul(eps)));
  }

  /**
   * p(x_{t-1} | x_t) from a network output [B, 2C, ...] = [eps | v]: the log variance is
   * frac log(beta_t) + (1 - frac) log(beta_tilde_t) with frac = (v + 1)/2, and the mean is
   * the posterior mean at the x_0 predicted from eps (clamped to [-1, 1] if clipDenoised).
   */
  pMeanVarianceFromOutput(out: Tensor, xt: Tensor, t: Tensor, clipDenoised = true): PMeanVariance {
    const C = xt.size(1);
    if (out.size(1) !== 2 * C) throw new Error(`the network gave ${out.size(1)} channels; a learned-variance model needs 2 x ${C}`);
    return tidy(() => {
      const eps = out.narrow(1, 0, C);
      const v = out.narrow(1, C, C);
      const minLog = this.at('posteriorLogVarianceClipped', t, xt);
      const maxLog = this.at('logBetas', t, xt);
      const frac = v.add(1).mul(0.5);
      const logVariance = frac.mul(maxLog).add(frac.neg().add(1).mul(minLog));
      let predXStart = this.predictXStartFromEps(xt, t, eps);
      if (clipDenoised) predXStart = predXStart.clamp(-1, 1);
      const { mean } = this.qPosteriorMeanVariance(predXStart, xt, t);
      return { mean, variance: logVariance.exp(), logVariance, predXStart, eps };
    });
  }

  /** Run the network on x_t and return p(x_{t-1} | x_t). */
  pMeanVariance(model: Denoiser, xt: Tensor, t: Tensor, clipDenoised = true): PMeanVariance {
    return tidy(() => this.pMeanVarianceFromOutput(model.call(xt, this.modelTimesteps(t)), xt, t, clipDenoised));
  }

  /** A draw of x_{t-1} ~ p(x_{t-1} | x_t): mean + exp(logVariance/2) noise, with no noise where t = 0. */
  pSample(model: Denoiser, xt: Tensor, t: Tensor, o: { clipDenoised?: boolean; generator?: Generator; noise?: Tensor } = {}): Tensor {
    return tidy(() => {
      const p = this.pMeanVariance(model, xt, t, o.clipDenoised ?? true);
      const noise = o.noise ?? F.randn(xt.shape, { dtype: xt.dtype, device: xt.device as Device, generator: o.generator });
      const notLast = t.ne(0).to(xt.dtype).reshape(t.size(0), ...new Array<number>(xt.ndim - 1).fill(1));
      return p.mean.add(notLast.mul(p.logVariance.mul(0.5).exp()).mul(noise));
    });
  }

  /** Run the reverse chain from x at step `from` down to step 0 (from + 1 network calls), without gradients. */
  reverseFrom(model: Denoiser, x: Tensor, from: number, o: SampleOptions = {}): Tensor {
    return noGrad(() => {
      let cur = x;
      for (let i = from; i >= 0; i--) {
        const next = tidy(() => this.pSample(model, cur, this.timesteps(i, cur.size(0), cur.device), o));
        if (cur !== x) cur.dispose();
        cur = next;
        o.onStep?.(i);
      }
      return cur === x ? x.clone() : cur;
    });
  }

  /**
   * ECLIPSE's purification (Algorithm 1, lines 12-22): diffuse x_0 (in [-1, 1]) to the
   * paper's step t* in one jump, x_{t*} = sqrt(abar[t* - 1]) x_0 + sqrt(1 - abar[t* - 1]) eps
   * (0-based index t* - 1), then denoise through the indices t* - 1, ..., 0: t* network calls,
   * the last without noise. tStar = 0 returns a copy of x0.
   */
  purify(model: Denoiser, x0: Tensor, tStar: number, o: SampleOptions & { noise?: Tensor } = {}): Tensor {
    if (!Number.isInteger(tStar) || tStar < 0 || tStar > this.numTimesteps) throw new Error(`t* must be an integer in 0..${this.numTimesteps}, got ${tStar}`);
    if (tStar === 0) return tidy(() => x0.clone());
    // o.noise is the forward jump's noise only: each reverse step draws its own.
    const { noise, ...reverse } = o;
    return noGrad(() => {
      const t = tStarIndex(tStar, this.numTimesteps);
      const xt = tidy(() => this.qSample(x0, this.timesteps(t, x0.size(0), x0.device), noise, o.generator));
      const out = this.reverseFrom(model, xt, t, reverse);
      xt.dispose();
      return out;
    });
  }

  /** Generate from pure noise: x_{T-1} ~ N(0, I), then the whole reverse chain. */
  sample(model: Denoiser, shape: readonly number[], o: SampleOptions & { device?: Device } = {}): Tensor {
    const x = F.randn(shape, { device: o.device, generator: o.generator });
    const out = this.reverseFrom(model, x, this.numTimesteps - 1, o);
    x.dispose();
    return out;
  }

  // ---- training

  /**
   * The variational bound term for each sample, in bits/dim: KL(q(x_{t-1}|x_t,x_0) || p) for
   * t > 0 and the discretised decoder NLL -log p(x_0 | x_1) at t = 0. `out` is the network
   * output (pass the mean part detached for the hybrid loss's stop-gradient).
   */
  vbTerms(out: Tensor, x0: Tensor, xt: Tensor, t: Tensor): Tensor {
    return tidy(() => {
      const q = this.qPosteriorMeanVariance(x0, xt, t);
      const p = this.pMeanVarianceFromOutput(out, xt, t, false);
      const kl = meanFlat(normalKL(q.mean, q.logVariance, p.mean, p.logVariance)).div(Math.LN2);
      const nll = meanFlat(discretizedGaussianLogLikelihood(x0, p.mean, p.logVariance.mul(0.5)).neg()).div(Math.LN2);
      return F.where(t.eq(0), nll, kl);
    });
  }

  /**
   * improved-DDPM's hybrid loss for x_0 (in [-1, 1]) at steps t, per sample:
   *   mse = mean (noise - eps_hat)^2                          (trains eps, i.e. the mean)
   *   vb  = vbTerms([stopgrad(eps_hat) | v], ...) * T/1000     (trains only the variance)
   * T/1000 is lambda = 0.001 applied to the bound's sum over T terms (L_vb = T E_t[L_t]).
   * Average `loss` over the batch for the step's objective.
   */
  trainingLosses(model: Denoiser, x0: Tensor, t: Tensor, o: { noise?: Tensor; generator?: Generator } = {}): TrainingLosses {
    return tidy(() => {
      const noise = o.noise ?? F.randn(x0.shape, { dtype: x0.dtype, device: x0.device as Device, generator: o.generator });
      const xt = this.qSample(x0, t, noise);
      return this.lossesFromOutput(model.call(xt, this.modelTimesteps(t)), x0, xt, t, noise);
    });
  }

  /** trainingLosses() for a given network output at x_t = qSample(x0, t, noise). */
  lossesFromOutput(out: Tensor, x0: Tensor, xt: Tensor, t: Tensor, noise: Tensor): TrainingLosses {
    const C = x0.size(1);
    if (out.size(1) !== 2 * C) throw new Error(`the network gave ${out.size(1)} channels; a learned-variance model needs 2 x ${C}`);
    return tidy(() => {
      const eps = out.narrow(1, 0, C);
      const frozen = F.cat([eps.detach(), out.narrow(1, C, C)], 1);
      const mse = meanFlat(noise.sub(eps).square());
      const vb = this.vbTerms(frozen, x0, xt, t).mul(this.numTimesteps / 1000);
      return { loss: mse.add(vb), mse, vb };
    });
  }
}
