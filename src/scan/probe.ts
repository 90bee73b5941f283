// The evidence behind `eclipse scan`: linear probes. Availability poisons are shortcuts, and most
// are (nearly) linearly separable by class, from the raw pixels or from a high-pass residual,
// while clean images are not (Yu et al., KDD 2022; Sandoval-Segura et al. 2023). A multinomial
// logistic regression is cross-fitted on the suspect set (every image predicted by a model that
// did not see it), so the held-out accuracy, per class and per image, measures how separable
// the set is; a trusted clean set, when given, measures how much of that transfers to clean data.
import { F, noGrad, tidy, type Device, type Tensor } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import { Adam } from '../nn/optim.js';

export type FeatureKind = 'raw' | 'highpass';

/**
 * [n, C*H*W] features in [0,1] units: the pixels, or the high-pass residual x - box3x3(x) per
 * channel (the box mean over the in-image neighbours), which keeps high-frequency patterns.
 */
export function features(ds: ImageDataset, kind: FeatureKind): Float32Array {
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

export interface ProbeOptions {
  folds: number;
  steps: number;
  lr: number;
  /** L2 penalty on the weights (per standardised feature) */
  l2: number;
  seed: number;
  device: Device;
}

export const PROBE_DEFAULTS: Omit<ProbeOptions, 'seed' | 'device'> = { folds: 4, steps: 120, lr: 2e-3, l2: 1e-3 };

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

/** Full-batch logistic regression on standardised features; returns weights, bias and the standardisation. */
function fit(x: Tensor, y: Tensor, classes: number, o: ProbeOptions): { w: Tensor; b: Tensor; mean: Tensor; std: Tensor } {
  const mean = noGrad(() => x.mean(0, true));
  const std = noGrad(() => x.std(0, true, true).add(1e-3));
  const xs = noGrad(() => x.sub(mean).div(std));
  const w = F.zeros([x.shape[1]!, classes], { device: o.device }).requiresGrad_();
  const b = F.zeros([classes], { device: o.device }).requiresGrad_();
  const opt = new Adam([w, b], { lr: o.lr });
  for (let s = 0; s < o.steps; s++)
    tidy(() => {
      opt.zeroGrad();
      F.crossEntropy(xs.matmul(w).add(b), y).add(w.pow(2).sum().mul(o.l2)).backward();
      opt.step();
    });
  opt.dispose();
  xs.dispose();
  return { w, b, mean, std };
}

/** Cross-fitted linear probe of `ds` on one feature kind (and its transfer to `trusted`). */
export function linearProbe(ds: ImageDataset, kind: FeatureKind, o: ProbeOptions, trusted?: ImageDataset): ProbeResult {
  const k = ds.classes.length;
  const D = 3 * ds.height * ds.width;
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
        const predict = (feat: Float32Array, n: number): Tensor => F.tensor(feat, [n, D], { device: o.device }).sub(m.mean).div(m.std).matmul(m.w).add(m.b);
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
      m.w.dispose();
      m.b.dispose();
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
