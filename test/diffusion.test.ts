// The diffusion model: schedules, q, the posterior, the learned-range reverse step, the
// hybrid loss and the U-Net, against closed forms computed here in float64 and against
// PyTorch (test/golden/diffusion.json, written by test/golden/gen_diffusion.py).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { F, Generator, Tensor, liveTensors, noGrad, tidy } from '../src/engine/index.js';
import { alphaBarAt, cosineBetas, linearBetas, noiseSchedule, tStarIndex } from '../src/diffusion/schedule.js';
import { respace, respaceSpec, spacedTimesteps } from '../src/diffusion/respace.js';
import { UniformSampler } from '../src/diffusion/resample.js';
import {
  GaussianDiffusion, approxStandardNormalCdf, discretizedGaussianLogLikelihood, normalKL, type Denoiser,
} from '../src/diffusion/gaussian.js';
import { UNet, normGroupsFor, timestepEmbedding, type UNetConfig } from '../src/diffusion/unet.js';
import { assertAllClose, assertMatches, fromGolden, goldenValues, loadGolden, type GoldenTensor } from './helpers/gradcheck.js';

F.setNumThreads(1); // tiny tensors: a second thread only adds contention

interface UNetCase {
  config: UNetConfig;
  paramCount: number;
  names: string[];
  state: Record<string, GoldenTensor>;
  x: GoldenTensor;
  t: GoldenTensor;
  out: GoldenTensor;
}
type PGolden = Record<'mean' | 'logVariance' | 'predXStart', GoldenTensor>;
interface Golden {
  unets: Record<'film' | 'plain', UNetCase>;
  counts: { cifar: number; small: number };
  maths: {
    T: number;
    schedule: { t: number[] } & Record<'betas' | 'abar' | 'pvar' | 'plogvar' | 'c1' | 'c2', number[]>;
    x0: GoldenTensor; t: GoldenTensor; noise: GoldenTensor; out: GoldenTensor; xt: GoldenTensor;
    postMean: GoldenTensor; postLogVar: GoldenTensor; pClip: PGolden; pNoClip: PGolden;
    vbRaw: GoldenTensor; mse: GoldenTensor; vb: GoldenTensor; loss: GoldenTensor;
  };
  spacing: { T: number; spec: string; steps: number[] }[];
}
const G = loadGolden<Golden>('diffusion.json');
const TIGHT = { rtol: 1e-10, atol: 1e-12 };

/** A "network" that ignores its input and returns a fixed output (the tensor itself). */
const fixed = (out: Tensor): Denoiser => ({ call: () => out });
const f64 = (data: readonly number[], shape: number[]): Tensor => F.tensor(Float64Array.from(data), shape);
const ints = (data: readonly number[]): Tensor => F.tensor(BigInt64Array.from(data, (v) => BigInt(v)), [data.length]);

/** A U-Net holding the golden's weights. */
function goldenUNet(c: UNetCase): UNet {
  const m = new UNet(c.config);
  const state = new Map(Object.entries(c.state).map(([k, g]) => [k, fromGolden(g)] as [string, Tensor]));
  m.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return m.eval();
}

// ---------------------------------------------------------------------------

describe('noise schedules', () => {
  test('cosine: alpha_bar at the paper step 100 of 4000 is 0.99751 (index 99)', () => {
    const s = noiseSchedule(cosineBetas(4000));
    assert.ok(Math.abs(s.alphasCumprod[99]! - 0.99751) < 5e-6, `alpha_bar[99] = ${s.alphasCumprod[99]}`);
    // the closed form f(u)/f(0) at u = 100/4000
    const f = (u: number): number => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    assert.ok(Math.abs(s.alphasCumprod[99]! - f(100 / 4000) / f(0)) < 1e-12);
    // about 0.05 of noise in [-1, 1] units at t* = 100 (reference facts)
    assert.ok(Math.abs(s.sqrtOneMinusAlphasCumprod[99]! - 0.0499) < 1e-3);
  });

  test('t* (1-based) -> index t* - 1 in one place: tStarIndex checks the range, alphaBarAt is 1 at step 0', () => {
    const s = noiseSchedule(cosineBetas(4000));
    assert.equal(tStarIndex(100, 4000), 99);
    assert.equal(tStarIndex(1, 4000), 0);
    assert.equal(tStarIndex(4000, 4000), 3999);
    for (const bad of [0, 4001, 2.5, Number.NaN]) assert.throws(() => tStarIndex(bad, 4000), /t\* must be an integer in \[1, 4000\]/);
    assert.equal(alphaBarAt(s.alphasCumprod, 100), s.alphasCumprod[tStarIndex(100, 4000)]);
    assert.equal(alphaBarAt(s.alphasCumprod, 0), 1);
  });

  test('cosine betas are clipped at 0.999 and increase', () => {
    const b = cosineBetas(4000);
    assert.equal(b[3999], 0.999); // f(1) = 0 would give beta = 1
    assert.ok(b.every((v) => v > 0 && v <= 0.999));
    for (let i = 1; i < b.length; i++) assert.ok(b[i]! >= b[i - 1]!, `beta[${i}] < beta[${i - 1}]`);
  });

  test('linear betas span 1e-4 .. 0.02 at T = 1000 and scale with 1000/T', () => {
    const b = linearBetas(1000);
    assert.ok(Math.abs(b[0]! - 1e-4) < 1e-15 && Math.abs(b[999]! - 0.02) < 1e-15);
    const b4 = linearBetas(4000);
    assert.ok(Math.abs(b4[0]! - 2.5e-5) < 1e-15 && Math.abs(b4[3999]! - 0.005) < 1e-15);
  });

  test('derived constants against the closed forms and PyTorch/numpy', () => {
    const s = noiseSchedule(cosineBetas(G.maths.T));
    const g = G.maths.schedule;
    g.t.forEach((t, i) => {
      const close = (a: number, e: number, what: string): void => assert.ok(Math.abs(a - e) <= 1e-12 * Math.max(1, Math.abs(e)), `${what}[${t}] = ${a}, expected ${e}`);
      close(s.betas[t]!, g.betas[i]!, 'betas');
      close(s.alphasCumprod[t]!, g.abar[i]!, 'alphasCumprod');
      close(s.posteriorVariance[t]!, g.pvar[i]!, 'posteriorVariance');
      close(s.posteriorLogVarianceClipped[t]!, g.plogvar[i]!, 'posteriorLogVarianceClipped');
      close(s.posteriorMeanCoef1[t]!, g.c1[i]!, 'posteriorMeanCoef1');
      close(s.posteriorMeanCoef2[t]!, g.c2[i]!, 'posteriorMeanCoef2');
    });
    for (let t = 0; t < s.numTimesteps; t++) {
      const a = s.alphasCumprod[t]!;
      const prev = t === 0 ? 1 : s.alphasCumprod[t - 1]!;
      assert.equal(s.alphasCumprodPrev[t], prev);
      assert.ok(Math.abs(s.sqrtRecipAlphasCumprod[t]! * s.sqrtAlphasCumprod[t]! - 1) < 1e-12);
      assert.ok(Math.abs(s.sqrtRecipm1AlphasCumprod[t]! ** 2 - (1 - a) / a) < 1e-9 * (1 + (1 - a) / a));
      assert.ok(Math.abs(Math.exp(s.logOneMinusAlphasCumprod[t]!) - (1 - a)) < 1e-12);
    }
    assert.equal(s.posteriorVariance[0], 0);
    assert.equal(s.posteriorLogVarianceClipped[0], Math.log(s.posteriorVariance[1]!));
  });
});

describe('forward process q(x_t | x_0)', () => {
  test('Monte Carlo moments: mean sqrt(abar) x0, variance 1 - abar, per-sample t', () => {
    const before = liveTensors();
    const d = GaussianDiffusion.create({ steps: 1000 });
    const x0v = [0.7, -0.3, 0.5, 1.0];
    const tv = [0, 10, 500, 999];
    const n = 40000;
    const { mean, vars } = tidy(() => {
      const x0 = f64(x0v, [4, 1, 1, 1]).expand(4, 1, 200, 200).contiguous();
      const xt = d.qSample(x0, ints(tv), undefined, new Generator(7));
      return { mean: xt.flatten(1).mean(1), vars: xt.flatten(1).var(1) };
    });
    const m = mean.toArray();
    const v = vars.toArray();
    tv.forEach((t, i) => {
      const abar = d.schedule.alphasCumprod[t]!;
      const se = Math.sqrt((1 - abar) / n);
      assert.ok(Math.abs(m[i]! - Math.sqrt(abar) * x0v[i]!) < 5 * se, `t=${t}: mean ${m[i]}, expected ${Math.sqrt(abar) * x0v[i]!}`);
      assert.ok(Math.abs(v[i]! - (1 - abar)) < 5 * (1 - abar) * Math.sqrt(2 / n), `t=${t}: variance ${v[i]}, expected ${1 - abar}`);
    });
    mean.dispose();
    vars.dispose();
    d.dispose();
    assert.equal(liveTensors(), before);
  });

  test('exact: qSample with given noise and qMeanVariance', () => {
    const d = GaussianDiffusion.create({ steps: 4000 });
    tidy(() => {
      const x0 = fromGolden(G.maths.x0);
      const noise = fromGolden(G.maths.noise);
      const t = ints([99, 0, 1234, 3999]);
      const xt = d.qSample(x0, t, noise).toArray();
      const q = d.qMeanVariance(x0, t);
      const [x, e, mu, lv] = [x0.toArray(), noise.toArray(), q.mean.toArray(), q.logVariance.toArray()];
      const per = x.length / 4;
      const want = x.map((xi, j) => {
        const a = d.schedule.alphasCumprod[[99, 0, 1234, 3999][Math.floor(j / per)]!]!;
        return Math.sqrt(a) * xi + Math.sqrt(1 - a) * e[j]!;
      });
      assertAllClose(xt, want, TIGHT, 'x_t');
      assertAllClose(mu.map((m, j) => m + Math.exp(lv[j]! / 2) * e[j]!), want, { rtol: 1e-9, atol: 1e-12 }, 'mean + std * noise');
    });
    d.dispose();
  });

  test('x_t against PyTorch (50-step cosine)', () => {
    const d = GaussianDiffusion.create({ steps: G.maths.T });
    tidy(() => assertMatches(d.qSample(fromGolden(G.maths.x0), fromGolden(G.maths.t), fromGolden(G.maths.noise)), G.maths.xt, TIGHT, 'x_t'));
    d.dispose();
  });
});

describe('posterior q(x_{t-1} | x_t, x_0)', () => {
  test('mean and variance by Bayes on two Gaussians, in float64', () => {
    const d = GaussianDiffusion.create({ steps: 4000 });
    const s = d.schedule;
    const tv = [1, 2, 99, 1000, 2500, 3998];
    const x0v = [0.3, -0.9, 0.1, 0.8, -0.2, 0.6];
    const xtv = [0.25, -1.3, 0.9, -0.4, 1.7, 0.05];
    const { mean, variance } = tidy(() => d.qPosteriorMeanVariance(f64(x0v, [6, 1]), f64(xtv, [6, 1]), ints(tv)));
    const [m, v] = [mean.toArray(), variance.toArray()];
    tv.forEach((t, i) => {
      // prior x_{t-1} ~ N(sqrt(abar_{t-1}) x0, 1 - abar_{t-1}); likelihood x_t ~ N(sqrt(alpha_t) x_{t-1}, beta_t)
      const abarPrev = s.alphasCumprod[t - 1]!;
      const beta = s.betas[t]!;
      const alpha = 1 - beta;
      const precision = 1 / (1 - abarPrev) + alpha / beta;
      const postVar = 1 / precision;
      const postMean = postVar * ((Math.sqrt(abarPrev) * x0v[i]!) / (1 - abarPrev) + (Math.sqrt(alpha) * xtv[i]!) / beta);
      assert.ok(Math.abs(v[i]! - postVar) <= 1e-9 * postVar, `t=${t}: variance ${v[i]}, expected ${postVar}`);
      assert.ok(Math.abs(m[i]! - postMean) <= 1e-9 * (1 + Math.abs(postMean)), `t=${t}: mean ${m[i]}, expected ${postMean}`);
    });
    mean.dispose();
    variance.dispose();
    // at t = 0 the posterior is a point mass at x_0
    tidy(() => {
      const p = d.qPosteriorMeanVariance(f64([0.4], [1, 1]), f64([0.9], [1, 1]), ints([0]));
      assert.ok(Math.abs(p.mean.item() - 0.4) < 1e-15);
      assert.equal(p.variance.item(), 0);
    });
    d.dispose();
  });

  test('against PyTorch', () => {
    const d = GaussianDiffusion.create({ steps: G.maths.T });
    tidy(() => {
      const p = d.qPosteriorMeanVariance(fromGolden(G.maths.x0), fromGolden(G.maths.xt), fromGolden(G.maths.t));
      assertMatches(p.mean, G.maths.postMean, TIGHT, 'posterior mean');
      assertMatches(p.logVariance.contiguous(), G.maths.postLogVar, TIGHT, 'posterior log variance (clipped)');
    });
    d.dispose();
  });
});

describe('closed-form helpers', () => {
  test('normalKL against log(s2/s1) + (s1^2 + (m1-m2)^2) / (2 s2^2) - 1/2, and 0 for equal Gaussians', () => {
    const m1 = [0, 1.5, -2, 0.3, 0];
    const m2 = [0, -0.5, -2, 0.1, 3];
    const lv1 = [0, 0.2, -3, 1.1, -1];
    const lv2 = [0, -0.7, -3, 0.4, 2];
    const kl = tidy(() => normalKL(f64(m1, [5]), f64(lv1, [5]), f64(m2, [5]), f64(lv2, [5])).toArray());
    m1.forEach((_, i) => {
      const s1 = Math.exp(lv1[i]! / 2);
      const s2 = Math.exp(lv2[i]! / 2);
      const want = Math.log(s2 / s1) + (s1 * s1 + (m1[i]! - m2[i]!) ** 2) / (2 * s2 * s2) - 0.5;
      assert.ok(Math.abs(kl[i]! - want) < 1e-12 * (1 + want), `KL[${i}] = ${kl[i]}, expected ${want}`);
    });
    assert.equal(kl[0], 0);
    assert.ok(Math.abs(kl[2]!) < 1e-15);
  });

  test('approxStandardNormalCdf is close to the normal CDF', () => {
    const xs = [-3, -1, 0, 0.5, 2];
    const phi = [0.0013499, 0.1586553, 0.5, 0.6914625, 0.9772499];
    const c = tidy(() => approxStandardNormalCdf(f64(xs, [5])).toArray());
    xs.forEach((_, i) => assert.ok(Math.abs(c[i]! - phi[i]!) < 1e-3, `cdf(${xs[i]}) = ${c[i]}`));
    assert.equal(c[2], 0.5);
  });

  test('discretised Gaussian likelihood: the 256 bins sum to 1', () => {
    const levels = Array.from({ length: 256 }, (_, k) => (2 * k) / 255 - 1);
    for (const [mean, logScale] of [[0, Math.log(0.1)], [0.7, Math.log(0.01)], [-0.95, Math.log(0.3)], [0.2, Math.log(1e-3)], [1, Math.log(2)]] as const) {
      const total = tidy(() =>
        discretizedGaussianLogLikelihood(f64(levels, [256]), F.full([256], mean, { dtype: 'float64' }), F.full([256], logScale, { dtype: 'float64' })).exp().sum().item(),
      );
      assert.ok(Math.abs(total - 1) < 1e-6, `mean ${mean}, scale ${Math.exp(logScale)}: total ${total}`);
    }
  });
});

describe('respacing and timestep sampling', () => {
  test('kept steps as improved-DDPM spaces them', () => {
    for (const c of G.spacing) assert.deepEqual(spacedTimesteps(c.T, c.spec), c.steps, `${c.spec} of ${c.T}`);
    assert.deepEqual(spacedTimesteps(7, ''), [0, 1, 2, 3, 4, 5, 6]);
    assert.throws(() => spacedTimesteps(100, 'ddim33'), /no integer stride/);
    assert.throws(() => spacedTimesteps(10, '20'), /fewer than/);
  });

  test('respaced betas reproduce alpha_bar at the kept steps', () => {
    const base = noiseSchedule(cosineBetas(4000));
    for (const spec of ['ddim25', '100', '10,15,20']) {
      const r = respaceSpec(base, spec);
      const kept = Array.from(r.timestepMap);
      assert.deepEqual(kept, spacedTimesteps(4000, spec));
      let prod = 1;
      r.betas.forEach((b, i) => {
        prod *= 1 - b;
        const want = base.alphasCumprod[kept[i]!]!;
        assert.ok(Math.abs(prod - want) < 1e-12, `${spec}: alpha_bar at ${kept[i]} = ${prod}, expected ${want}`);
        assert.ok(Math.abs(r.schedule.alphasCumprod[i]! - want) < 1e-12);
      });
    }
    // keeping every step gives the same process back
    const all = respace(base, Array.from({ length: 4000 }, (_, i) => i));
    all.betas.forEach((b, i) => assert.ok(Math.abs(b - base.betas[i]!) < 1e-12));
  });

  test('a respaced process shows the network the original step, rescaled to 0..1000', () => {
    const d = GaussianDiffusion.create({ steps: 4000, timestepRespacing: 'ddim40' });
    assert.equal(d.numTimesteps, 40);
    const seen = tidy(() => d.modelTimesteps(ints([0, 1, 39])).toArray());
    assert.deepEqual(seen, [0, 25, 975]); // steps 0, 100, 3900 of 4000
    const plain = GaussianDiffusion.create({ steps: 4000, rescaleTimesteps: false });
    assert.deepEqual(tidy(() => plain.modelTimesteps(ints([0, 99, 3999])).toArray()), [0, 99, 3999]);
    d.dispose();
    plain.dispose();
  });

  test('uniform sampler, optionally bounded to t <= trainMaxT (1-based)', () => {
    const all = new UniformSampler(4000);
    const few = new UniformSampler(4000, { trainMaxT: 100 });
    const [a, b] = tidy(() => [all.sample(4096, { generator: new Generator(1) }).toArray(), few.sample(4096, { generator: new Generator(1) }).toArray()]);
    assert.ok(a.every((t) => Number.isInteger(t) && t >= 0 && t < 4000) && Math.max(...a) > 3900);
    assert.ok(b.every((t) => t >= 0 && t < 100) && Math.max(...b) === 99 && Math.min(...b) === 0);
    assert.throws(() => new UniformSampler(4000, { trainMaxT: 4001 }), /trainMaxT/);
  });
});

describe('reverse process p(x_{t-1} | x_t) with learned-range variance', () => {
  test('against PyTorch, clipped and unclipped', () => {
    const d = GaussianDiffusion.create({ steps: G.maths.T });
    tidy(() => {
      const [xt, t, out] = [fromGolden(G.maths.xt), fromGolden(G.maths.t), fromGolden(G.maths.out)];
      for (const [clip, g] of [[true, G.maths.pClip], [false, G.maths.pNoClip]] as const) {
        const p = d.pMeanVariance(fixed(out), xt, t, clip);
        assertMatches(p.mean, g.mean, TIGHT, `mean (clip ${clip})`);
        assertMatches(p.logVariance, g.logVariance, TIGHT, `log variance (clip ${clip})`);
        assertMatches(p.predXStart, g.predXStart, TIGHT, `predicted x0 (clip ${clip})`);
      }
    });
    d.dispose();
  });

  test('the variance lies between beta_tilde_t and beta_t for v in [-1, 1]', () => {
    const d = GaussianDiffusion.create({ steps: 4000 });
    const s = d.schedule;
    const tv = [1, 5, 99, 2000, 3999];
    const vv = [-1, -0.5, 0, 0.5, 1];
    const variance = tidy(() => {
      const B = tv.length;
      const v = f64(vv, [1, 1, 5]).expand(B, 1, 5);
      const out = F.cat([F.zeros([B, 1, 5], { dtype: 'float64' }), v], 1);
      return d.pMeanVarianceFromOutput(out, F.zeros([B, 1, 5], { dtype: 'float64' }), ints(tv)).variance;
    });
    const got = variance.toArray();
    variance.dispose();
    tv.forEach((t, i) => {
      const lo = s.posteriorVariance[t]!;
      const hi = s.betas[t]!;
      assert.ok(lo < hi);
      for (let j = 0; j < 5; j++) {
        const x = got[i * 5 + j]!;
        assert.ok(x >= lo * (1 - 1e-12) && x <= hi * (1 + 1e-12), `t=${t}, v=${vv[j]}: ${x} outside [${lo}, ${hi}]`);
      }
      // v = -1 gives beta_tilde, v = 1 gives beta, v = 0 their geometric mean
      assert.ok(Math.abs(got[i * 5]! / lo - 1) < 1e-12 && Math.abs(got[i * 5 + 4]! / hi - 1) < 1e-12);
      assert.ok(Math.abs(got[i * 5 + 2]! / Math.sqrt(lo * hi) - 1) < 1e-12);
    });
    d.dispose();
  });

  test('pSample adds no noise at t = 0 and mean + sigma * noise elsewhere', () => {
    const d = GaussianDiffusion.create({ steps: G.maths.T });
    tidy(() => {
      const [xt, t, out] = [fromGolden(G.maths.xt), fromGolden(G.maths.t), fromGolden(G.maths.out)];
      const noise = F.randn(xt.shape, { dtype: 'float64', generator: new Generator(3) });
      const x = d.pSample(fixed(out), xt, t, { noise }).toArray();
      const p = d.pMeanVariance(fixed(out), xt, t);
      const [m, lv, e] = [p.mean.toArray(), p.logVariance.toArray(), noise.toArray()];
      const per = m.length / 4;
      for (let j = 0; j < m.length; j++) {
        if (j < per) assert.equal(x[j], m[j], 'sample 0 has t = 0: no noise');
        else assert.ok(Math.abs(x[j]! - (m[j]! + Math.exp(lv[j]! / 2) * e[j]!)) < 1e-12);
      }
      // drawing its own noise with a generator: t = 0 rows still equal the mean
      const y = d.pSample(fixed(out), xt, ints([0, 0, 0, 0]), { generator: new Generator(5) });
      const p0 = d.pMeanVariance(fixed(out), xt, ints([0, 0, 0, 0]));
      assert.deepEqual(y.toArray(), p0.mean.toArray());
    });
    d.dispose();
  });
});

describe('hybrid loss', () => {
  test('mse, vb (bits/dim, x T/1000) and the loss against PyTorch', () => {
    const d = GaussianDiffusion.create({ steps: G.maths.T });
    tidy(() => {
      const [x0, t, noise, out] = [fromGolden(G.maths.x0), fromGolden(G.maths.t), fromGolden(G.maths.noise), fromGolden(G.maths.out)];
      const vbRaw = d.vbTerms(out, x0, fromGolden(G.maths.xt), t);
      assertMatches(vbRaw, G.maths.vbRaw, { rtol: 1e-9, atol: 1e-12 }, 'vb terms');
      const l = d.trainingLosses(fixed(out), x0, t, { noise });
      assertMatches(l.mse, G.maths.mse, TIGHT, 'mse');
      assertMatches(l.vb, G.maths.vb, { rtol: 1e-9, atol: 1e-12 }, 'vb');
      assertMatches(l.loss, G.maths.loss, { rtol: 1e-9, atol: 1e-12 }, 'loss');
      const vbv = goldenValues(G.maths.vb);
      assert.ok(vbv.every((v) => v > 0 && Number.isFinite(v)));
    });
    d.dispose();
  });

  test('stop-gradient: the vb term sends no gradient to the eps channels, and all of the v gradient', () => {
    const d = GaussianDiffusion.create({ steps: G.maths.T });
    const out = fromGolden(G.maths.out).requiresGrad_(true);
    tidy(() => {
      const [x0, t, noise] = [fromGolden(G.maths.x0), fromGolden(G.maths.t), fromGolden(G.maths.noise)];
      const C = x0.size(1);
      const gradOf = (pick: 'loss' | 'mse' | 'vb'): [number[], number[]] => {
        const l = d.trainingLosses(fixed(out), x0, t, { noise });
        const [g] = F.grad(l[pick].sum(), out);
        return [g!.narrow(1, 0, C).contiguous().toArray(), g!.narrow(1, C, C).contiguous().toArray()];
      };
      const [lossEps, lossV] = gradOf('loss');
      const [mseEps, mseV] = gradOf('mse');
      const [vbEps, vbV] = gradOf('vb');
      assert.deepEqual(lossEps, mseEps, 'eps-channel gradients change when the vb term is added');
      assert.ok(vbEps.every((g) => g === 0), 'vb sends gradient to eps');
      assert.ok(mseV.every((g) => g === 0), 'mse sends gradient to v');
      assert.deepEqual(lossV, vbV);
      assert.ok(vbV.some((g) => g !== 0));
    });
    out.dispose();
    d.dispose();
  });
});

// ---------------------------------------------------------------------------

describe('U-Net', () => {
  test('state-dict names, shapes and parameter counts match PyTorch', () => {
    for (const c of Object.values(G.unets)) {
      const m = new UNet(c.config);
      assert.deepEqual([...m.stateDict().keys()], c.names);
      for (const [n, t] of m.stateDict()) assert.deepEqual(t.shape, c.state[n]!.shape, n);
      assert.equal(m.parameterCount(), c.paramCount);
      m.dispose();
    }
    const cifar = new UNet();
    assert.equal(cifar.parameterCount(), G.counts.cifar); // 52,546,438
    cifar.dispose();
    const small = new UNet({ modelChannels: 32, numResBlocks: 2 });
    assert.equal(small.parameterCount(), G.counts.small);
    small.dispose();
  });

  test('output matches PyTorch (FiLM + 2 heads; additive embedding + 1 head)', () => {
    for (const [name, c] of Object.entries(G.unets)) {
      const before = liveTensors();
      const m = goldenUNet(c);
      noGrad(() => tidy(() => assertMatches(m.forward(fromGolden(c.x), fromGolden(c.t)), c.out, { rtol: 1e-4, atol: 1e-4 }, `${name} output`)));
      m.dispose();
      assert.equal(liveTensors(), before, `${name}: tensors leaked`);
    }
  });

  test('channels_last gives the same output', () => {
    const c = G.unets.film;
    const m = goldenUNet(c);
    const ref = noGrad(() => tidy(() => m.forward(fromGolden(c.x), fromGolden(c.t))));
    m.to(undefined, 'channels_last');
    assert.ok(m.input_blocks.items[0]!.layers[0]!.parameters()[0]!.isContiguous('channels_last'));
    tidy(() => {
      const x = fromGolden(c.x).contiguous('channels_last');
      const y = noGrad(() => m.forward(x, fromGolden(c.t)));
      assert.deepEqual(y.shape, ref.shape);
      assertAllClose(y.toArray(), ref.toArray(), { rtol: 1e-5, atol: 1e-5 }, 'channels_last output');
    });
    ref.dispose();
    m.dispose();
  });

  test('sinusoidal embedding and GroupNorm fallback', () => {
    const e = tidy(() => timestepEmbedding(F.tensor([0, 10]), 6).toArray());
    const want = [0, 10].flatMap((t) => {
      const f = [0, 1, 2].map((i) => Math.exp((-Math.log(10000) * i) / 3));
      return [...f.map((x) => Math.cos(t * x)), ...f.map((x) => Math.sin(t * x))];
    });
    assertAllClose(e, want, { rtol: 1e-5, atol: 1e-5 }, 'embedding');
    assert.deepEqual(tidy(() => timestepEmbedding(F.tensor([3]), 5).shape), [1, 5]);
    assert.equal(normGroupsFor(256, 32), 32);
    assert.equal(normGroupsFor(8, 32), 8);
    assert.equal(normGroupsFor(48, 32), 24);
  });

  test('the hybrid loss is finite and reaches every parameter of a tiny U-Net', () => {
    const before = liveTensors();
    const c = G.unets.film;
    const d = GaussianDiffusion.create({ steps: 100 });
    const x0 = tidy(() => F.rand([2, 3, 8, 8], { generator: new Generator(11) }).mul(2).sub(1));
    const t = ints([0, 57]);
    const run = (m: UNet): Map<string, number> => {
      for (const p of m.parameters()) p.zeroGrad();
      const loss = tidy(() => d.trainingLosses(m, x0, t, { generator: new Generator(12) }).loss.mean());
      assert.ok(Number.isFinite(loss.item()), 'loss is not finite');
      loss.backward();
      loss.dispose();
      const norms = new Map<string, number>();
      for (const [n, p] of m.namedParameters()) {
        const g = p.grad;
        assert.ok(g !== null, `${n} got no gradient`);
        norms.set(n, tidy(() => g.norm().item()));
        assert.ok(Number.isFinite(norms.get(n)!), `${n}: gradient not finite`);
        g.dispose();
      }
      return norms;
    };
    // fresh weights: the zero-initialised output conv blocks the gradient of everything
    // before it (as in PyTorch), but it gets one itself
    const fresh = new UNet({ ...c.config, dropout: 0.1, generator: new Generator(1) }).train();
    const n0 = run(fresh);
    assert.ok(n0.get('out.2.weight')! > 0);
    fresh.dispose();
    // trained-like (all non-zero) weights: every parameter gets a non-zero gradient
    const m = goldenUNet(c).train();
    for (const [n, g] of run(m)) assert.ok(g > 0, `${n}: zero gradient`);
    m.dispose();
    x0.dispose();
    t.dispose();
    d.dispose();
    assert.equal(liveTensors(), before, 'tensors leaked');
  });
});

describe('purification', () => {
  test('one jump to abar[t*-1], then t* reverse steps t*-1 .. 0 (rescaled timesteps)', () => {
    const d = GaussianDiffusion.create({ steps: 4000 });
    const seen: number[][] = [];
    let first: number[] | null = null;
    const zeros = F.zeros([2, 6, 2, 2]);
    const model: Denoiser = {
      call: (x, t) => {
        seen.push(t.toArray());
        first ??= x.toArray();
        return zeros;
      },
    };
    const before = liveTensors();
    const x0 = tidy(() => F.tensor([0.5, -0.5, 1, -1, 0.25, 0, 0.75, -0.25], [2, 1, 2, 2]).expand(2, 3, 2, 2).contiguous());
    const noise = F.randn([2, 3, 2, 2], { generator: new Generator(9) });
    const y = d.purify(model, x0, 100, { noise, generator: new Generator(10) });
    assert.equal(seen.length, 100);
    assert.deepEqual(seen[0], [24.75, 24.75]); // index 99 of 4000, shown as 99 * 1000/4000
    assert.deepEqual(seen[99], [0, 0]);
    const a = d.schedule.alphasCumprod[99]!;
    const [xv, ev] = [x0.toArray(), noise.toArray()];
    assertAllClose(first!, xv.map((x, j) => Math.sqrt(a) * x + Math.sqrt(1 - a) * ev[j]!), { rtol: 1e-6, atol: 1e-6 }, 'x_{t*}');
    assert.deepEqual(y.shape, [2, 3, 2, 2]);
    assert.ok(y.toArray().every((v) => Number.isFinite(v)));
    y.dispose();
    x0.dispose();
    noise.dispose();
    d.dispose();
    assert.equal(liveTensors(), before, 'purify leaked tensors');
    zeros.dispose();
    assert.throws(() => d.purify(model, zeros, 4001), /t\*/);
  });

  test('a tiny U-Net purifies deterministically for a seed, without leaks', () => {
    const c = G.unets.film;
    const m = goldenUNet(c);
    const d = GaussianDiffusion.create({ steps: 40 });
    const x0 = tidy(() => F.rand([2, 3, 8, 8], { generator: new Generator(2) }).mul(2).sub(1));
    const before = liveTensors();
    const a = d.purify(m, x0, 5, { generator: new Generator(4) });
    const b = d.purify(m, x0, 5, { generator: new Generator(4) });
    assert.deepEqual(a.toArray(), b.toArray());
    assert.deepEqual(a.shape, x0.shape);
    assert.ok(!a.requiresGrad);
    // A fixed forward noise must not be reused by the reverse steps: they draw from the generator.
    const noise = F.randn(x0.shape, { generator: new Generator(5) });
    const c1 = d.purify(m, x0, 5, { noise, generator: new Generator(6) });
    const c2 = d.purify(m, x0, 5, { noise, generator: new Generator(7) });
    assert.notDeepEqual(c1.toArray(), c2.toArray(), 'reverse-step noise comes from the generator');
    [noise, c1, c2].forEach((t) => t.dispose());
    a.dispose();
    b.dispose();
    d.dispose();
    assert.equal(liveTensors(), before);
    x0.dispose();
    m.dispose();
  });
});
