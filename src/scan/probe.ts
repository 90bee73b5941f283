// The evidence behind `eclipse scan`: probes. Availability poisons are shortcuts, and most are
// (nearly) linearly separable by class, from the raw pixels or from a high-pass residual, while
// clean images are not (Yu et al., KDD 2022; Sandoval-Segura et al. 2023). Autoregressive (AR)
// noise is built not to be: its class lives in the noise's second-order statistics, so a third
// probe (a small MLP) reads the autocorrelations of the high-pass residual at a few offsets. A multinomial
// logistic regression is cross-fitted on the suspect set (every image predicted by a model that
// did not see it), so the held-out accuracy, per class and per image, measures how separable
// the set is; a trusted clean set, when given, measures how much of that transfers to clean data.
import { F, Generator, noGrad, tidy, type Device, type Tensor } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { Adam } from '../nn/optim.js';

export type FeatureKind = 'raw' | 'highpass' | 'autocorr';

/**
 * [n, C*H*W] features in [0,1] units: the pixels, or the high-pass residual x - box3x3(x) per
 * channel (the box mean over the in-image neighbours), which keeps high-frequency patterns.
 */
export function features(ds: ImageDataset, kind: FeatureKind): Float32Array {
  if (kind === 'autocorr') return autocorrelations(ds);
  const { n, height: H, width: W } = ds;
  const plane = H * W;
  const D = 3 * plane;
  const out = new Float32Array(n * D);
  const img = ds.images;
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++) {
      const o = i * D + c * plane;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const v = img[o + y * W + x]! / 255;
          if (kind === 'raw') {
            out[o + y * W + x] = v;
            continue;
          }
          let s = 0;
          let k = 0;
          for (let yy = Math.max(0, y - 1); yy <= Math.min(H - 1, y + 1); yy++)
            for (let xx = Math.max(0, x - 1); xx <= Math.min(W - 1, x + 1); xx++) {
              s += img[o + yy * W + xx]!;
              k++;
            }
          out[o + y * W + x] = v - s / (255 * k);
        }
    }
  return out;
}

/**
 * Each image's high-frequency energy: the mean magnitude of its high-pass residual (pixel range
 * 0..1). Any added perturbation raises it (availability poisons are bounded noise), whether or
 * not it carries a shortcut a probe can learn.
 */
export function residualMagnitudes(ds: ImageDataset): Float64Array {
  const r = features(ds, 'highpass');
  const D = r.length / ds.n;
  const out = new Float64Array(ds.n);
  for (let i = 0; i < ds.n; i++) {
    let s = 0;
    for (let j = 0; j < D; j++) s += Math.abs(r[i * D + j]!);
    out[i] = s / D;
  }
  return out;
}

/** The geometric mean of residualMagnitudes and the standard deviation of their logs. */
export function residualEnergy(ds: ImageDataset): { geomean: number; logStd: number } {
  const m = residualMagnitudes(ds);
  const logs = Array.from(m, (v) => Math.log(v + 1e-6));
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, logs.length - 1));
  return { geomean: Math.exp(mean), logStd: sd };
}

/** Offsets (dy, dx) of the residual's autocorrelations: AR's 3x3 causal window and a little beyond. */
const OFFSETS: readonly (readonly [number, number])[] = [[0, 1], [1, 0], [1, 1], [1, -1], [0, 2], [2, 0], [2, 2], [2, -2], [0, 3], [3, 0]];
const CHANNEL_PAIRS: readonly (readonly [number, number])[] = [[0, 0], [1, 1], [2, 2], [0, 1], [0, 2], [1, 2]];
export const AUTOCORR_FEATURES = 3 * OFFSETS.length + CHANNEL_PAIRS.length;

/**
 * Per image: the mean product r(p) r(p + d) of the high-pass residual r, per channel and offset,
 * and the channel (co)variances at offset 0 (x100, in [0,1] pixel units).
 */
function autocorrelations(ds: ImageDataset): Float32Array {
  const hp = features(ds, 'highpass');
  const { height: H, width: W } = ds;
  const P = H * W;
  const D = 3 * P;
  const out = new Float32Array(ds.n * AUTOCORR_FEATURES);
  for (let i = 0; i < ds.n; i++) {
    const o = i * D;
    let f = i * AUTOCORR_FEATURES;
    for (let c = 0; c < 3; c++)
      for (const [dy, dx] of OFFSETS) {
        let s = 0;
        let k = 0;
        for (let y = 0; y + dy < H; y++)
          for (let x = Math.max(0, -dx); x < W && x + dx < W; x++) {
            s += hp[o + c * P + y * W + x]! * hp[o + c * P + (y + dy) * W + x + dx]!;
            k++;
          }
        out[f++] = (100 * s) / k;
      }
    for (const [a, b] of CHANNEL_PAIRS) {
      let s = 0;
      for (let p = 0; p < P; p++) s += hp[o + a * P + p]! * hp[o + b * P + p]!;
      out[f++] = (100 * s) / P;
    }
  }
  return out;
}

export interface ProbeOptions {
  folds: number;
  steps: number;
  lr: number;
  /** L2 penalty on the weights (per standardised feature) */
  l2: number;
  /** hidden units of a one-layer MLP (0: a linear probe) */
  hidden: number;
  seed: number;
  device: Device;
}

export const PROBE_DEFAULTS: Omit<ProbeOptions, 'seed' | 'device'> = { folds: 4, steps: 120, lr: 2e-3, l2: 1e-3, hidden: 0 };
/** The autocorrelation probe: 36 features, so a small MLP with more steps costs little. */
export const AUTOCORR_PROBE: Omit<ProbeOptions, 'seed' | 'device'> = { folds: 4, steps: 400, lr: 3e-3, l2: 1e-4, hidden: 64 };

export interface ProbeResult {
  /** held-out accuracy over the whole set */
  acc: number;
  /** held-out accuracy per class */
  classAcc: number[];
  /** per image: the held-out probability of its label */
  pTrue: Float32Array;
  /** accuracy on the trusted set of probes trained on the suspect folds (mean over folds), if given */
  trustedAcc: number | null;
}

/** Seeded fold of every image, balanced per class. */
function foldsOf(labels: Int32Array, classes: number, k: number, seed: number): Int32Array {
  const rng = new Rng(seed, 0x5ca);
  const fold = new Int32Array(labels.length);
  for (let c = 0; c < classes; c++) {
    const idx: number[] = [];
    labels.forEach((l, i) => l === c && idx.push(i));
    for (let i = idx.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    idx.forEach((i, r) => (fold[i] = r % k));
  }
  return fold;
}

function rows(f: Float32Array, D: number, idx: readonly number[]): Float32Array {
  const out = new Float32Array(idx.length * D);
  idx.forEach((j, r) => out.set(f.subarray(j * D, (j + 1) * D), r * D));
  return out;
}

interface Fitted {
  forward: (x: Tensor) => Tensor;
  mean: Tensor;
  std: Tensor;
}

/** Full-batch logistic regression (or a one-hidden-layer MLP) on standardised features. */
function fit(x: Tensor, y: Tensor, classes: number, o: ProbeOptions): Fitted {
  const mean = noGrad(() => x.mean(0, true));
  const std = noGrad(() => x.std(0, true, true).add(1e-3));
  const xs = noGrad(() => x.sub(mean).div(std));
  const d = x.shape[1]!;
  const gen = new Generator(o.seed + 17);
  const params: Tensor[] = [];
  let forward: (t: Tensor) => Tensor;
  if (o.hidden > 0) {
    const w1 = F.randn([d, o.hidden], { device: o.device, generator: gen }).mul(Math.sqrt(2 / d)).requiresGrad_();
    const b1 = F.zeros([o.hidden], { device: o.device }).requiresGrad_();
    const w2 = F.zeros([o.hidden, classes], { device: o.device }).requiresGrad_();
    const b2 = F.zeros([classes], { device: o.device }).requiresGrad_();
    params.push(w1, b1, w2, b2);
    forward = (t) => t.matmul(w1).add(b1).relu().matmul(w2).add(b2);
  } else {
    const w = F.zeros([d, classes], { device: o.device }).requiresGrad_();
    const b = F.zeros([classes], { device: o.device }).requiresGrad_();
    params.push(w, b);
    forward = (t) => t.matmul(w).add(b);
  }
  const opt = new Adam(params, { lr: o.lr });
  for (let s = 0; s < o.steps; s++)
    tidy(() => {
      opt.zeroGrad();
      const penalty = params.filter((p) => p.shape.length === 2).reduce((acc: Tensor | null, p) => (acc ? acc.add(p.pow(2).sum()) : p.pow(2).sum()), null)!;
      F.crossEntropy(forward(xs), y).add(penalty.mul(o.l2)).backward();
      opt.step();
    });
  opt.dispose();
  xs.dispose();
  return { forward, mean, std };
}

/** Cross-fitted probe of `ds` on one feature kind (and its transfer to `trusted`). */
export function linearProbe(ds: ImageDataset, kind: FeatureKind, o: ProbeOptions, trusted?: ImageDataset): ProbeResult {
  const k = ds.classes.length;
  const D = kind === 'autocorr' ? AUTOCORR_FEATURES : 3 * ds.height * ds.width;
  const f = features(ds, kind);
  const ft = trusted ? features(trusted, kind) : null;
  const fold = foldsOf(ds.labels, k, Math.max(2, o.folds), o.seed);
  const pTrue = new Float32Array(ds.n);
  const correct = new Int32Array(ds.n);
  let trustedSum = 0;
  for (let q = 0; q < Math.max(2, o.folds); q++) {
    const tr: number[] = [];
    const te: number[] = [];
    fold.forEach((v, i) => (v === q ? te : tr).push(i));
    if (te.length === 0 || tr.length === 0) continue;
    tidy(() => {
      const x = F.tensor(rows(f, D, tr), [tr.length, D], { device: o.device });
      const y = F.tensor(tr.map((i) => ds.labels[i]!), [tr.length], { device: o.device }).to('int64');
      const m = fit(x, y, k, o);
      noGrad(() => {
        const predict = (feat: Float32Array, n: number): Tensor => m.forward(F.tensor(feat, [n, D], { device: o.device }).sub(m.mean).div(m.std));
        const logits = predict(rows(f, D, te), te.length);
        const p = F.softmax(logits, 1).data() as Float32Array;
        const arg = logits.argmax(1).toArray();
        te.forEach((i, r) => {
          pTrue[i] = p[r * k + ds.labels[i]!]!;
          correct[i] = arg[r] === ds.labels[i] ? 1 : 0;
        });
        if (ft && trusted) {
          const yt = F.tensor(trusted.labels, [trusted.n], { device: o.device }).to('int64');
          trustedSum += predict(ft, trusted.n).argmax(1).eq(yt).to('float32').mean().item();
        }
      });
    });
  }
  const classAcc = Array.from({ length: k }, (_, c) => {
    let s = 0;
    let n = 0;
    ds.labels.forEach((l, i) => l === c && (n++, (s += correct[i]!)));
    return n ? s / n : NaN;
  });
  return { acc: correct.reduce((a, b) => a + b, 0) / ds.n, classAcc, pTrue, trustedAcc: ft ? trustedSum / Math.max(2, o.folds) : null };
}

