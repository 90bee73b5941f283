// A statistic for convolution poisons such as CUDA (a class-wise blur filter): how much smoother
// the images are than clean data. Per image, on the channel mean g in [0,1]: the log of g's
// variance over the mean square of its 5-point Laplacian (interior pixels). A blur takes the
// finest detail and keeps the contrast, so the ratio grows; added noise shrinks it. The
// set's value is the mean over classes of each class's mean, so that its class mix does not move it.
// Linear probes miss a blur in a tenth of the images (it is not one direction in pixel space);
// CUDA in a tenth of 5,000 CIFAR-10 images moves this mean 5-11 of its standard errors.
// JPEG at quality 75 barely moves it (its block edges give back what its quantisation takes);
// sharper ratios (Laplacian over gradient energy) see CUDA better but call clean JPEGs blurred.
import type { ImageDataset } from '../data/dataset.js';

export interface Smoothness {
  /** mean over the classes present of the class's mean log(variance / Laplacian energy) */
  value: number;
  /** the standard error of value from the set's own images (classes taken as fixed) */
  stdError: number;
  /** per class (dataset class order): mean log ratio, NaN where a class has no images */
  perClass: number[];
}

/** Keeps a flat image (variance and Laplacian 0) at log 1 = 0 instead of NaN. */
const EPS = 1e-8;

/** log(var(g) / mean(Laplacian(g)^2)) of image i, g the channel mean in [0,1]. */
function logRatio(ds: ImageDataset, i: number, g: Float64Array): number {
  const { height: H, width: W, channels: C } = ds;
  const P = H * W;
  const o = i * C * P;
  let sum = 0;
  for (let p = 0; p < P; p++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += ds.images[o + c * P + p]!;
    g[p] = s / (255 * C);
    sum += g[p]!;
  }
  const mean = sum / P;
  let v = 0;
  for (let p = 0; p < P; p++) v += (g[p]! - mean) ** 2;
  let e = 0;
  for (let y = 1; y < H - 1; y++)
    for (let x = 1; x < W - 1; x++) {
      const p = y * W + x;
      e += (4 * g[p]! - g[p - 1]! - g[p + 1]! - g[p - W]! - g[p + W]!) ** 2;
    }
  return Math.log((v / P + EPS) / (e / ((H - 2) * (W - 2)) + EPS));
}

export function smoothness(ds: ImageDataset): Smoothness {
  if (ds.height < 3 || ds.width < 3) throw new Error(`smoothness: images are ${ds.height}x${ds.width}; a Laplacian needs at least 3x3`);
  const K = ds.classes.length;
  const sum = new Float64Array(K);
  const sq = new Float64Array(K);
  const count = new Int32Array(K);
  const g = new Float64Array(ds.height * ds.width);
  for (let i = 0; i < ds.n; i++) {
    const c = ds.labels[i]!;
    const r = logRatio(ds, i, g);
    sum[c] += r;
    sq[c] += r * r;
    count[c]++;
  }
  const perClass = Array.from(sum, (s, c) => (count[c]! > 0 ? s / count[c]! : NaN));
  const present = [...count.keys()].filter((c) => count[c]! > 0);
  if (present.length === 0) throw new Error('smoothness: the dataset has no images');
  const value = present.reduce((a, c) => a + perClass[c]!, 0) / present.length;
  // var(value) = sum_c var_c / n_c / K^2, var_c the class's sample variance
  const v = present.reduce((a, c) => {
    const m = count[c]!;
    const varC = m > 1 ? (sq[c]! - m * perClass[c]! ** 2) / (m - 1) : 0;
    return a + Math.max(0, varC) / m;
  }, 0);
  return { value, stdError: Math.sqrt(v) / present.length, perClass };
}
