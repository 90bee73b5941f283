// A poison's make-up (issue 28): what its perturbation is made of, measured from the clean set and
// the poisoned copy, so that a defence's accuracy can be set against it across poison draws.
//
// The perturbation of image i is delta_i = (poisoned_i - clean_i) / 255: the applied perturbation
// (after clamping and 8-bit quantisation) in [0,1] pixel units, CHW planar. Four measures:
// - l2: the mean over images of ||delta_i||_2 (all channels and pixels of the image);
// - highFreq: the share of the perturbation's energy above half the Nyquist frequency. Each image's
//   channel plane (H x W) has the 2D DFT X(k, l) = sum_{y,x} delta(y, x) e^{-2 pi i (k y / H + l x / W)},
//   whose bin (k, l) sits at the spatial frequencies fy = min(k, H - k) / H and
//   fx = min(l, W - l) / W in cycles per pixel (0 .. 1/2, the Nyquist frequency). A bin is "high"
//   when max(fx, fy) > 1/4 (strictly: half of Nyquist); the rest, the square max(fx, fy) <= 1/4
//   around DC (DC included), is "low". highFreq = sum of |X|^2 over high bins / sum of |X|^2 over
//   all bins, pooled over every image and channel (an energy-weighted share, not a mean of
//   per-image shares). By Parseval the total is H*W*sum(delta^2), so only the low bins are
//   transformed. A constant delta gives 0, a pixel-wise checkerboard (-1)^(x+y) gives 1;
//   for 32x32 the high bins are those with k or l in 9..23;
// - classwise: the share of the energy that is class-wise: with m_c the mean perturbation of the
//   images of class c, sum_i ||m_{y_i}||^2 / sum_i ||delta_i||^2 (the between-class part of the
//   energy; the rest is the within-class, sample-wise part). 1 for a perturbation that is the
//   same for every image of a class (URP; a perturbation shared by all images counts as class-wise
//   too), about K/n for i.i.d. sample-wise noise (K classes, n images);
// - scanScore: `eclipse scan`'s headline score of the poisoned set (scanDataset's largest z; NaN
//   when the scan has no calibration for the data and no trusted set), with its verdict, without
//   the smoothness statistic: the score is read as "how much learnable poison is in this set",
//   also of purified sets, and a purifier's own blur raises the smoothness (ECLIPSE's purified
//   clean set: z about 7) with no poison in it. So the measure keeps the meaning it had before
//   the smoothness existed (2026-12-07), and cached make-ups stay comparable.
// The two shares are NaN when the perturbation is zero everywhere.
import { validateDataset, type ImageDataset } from '../data/dataset.js';
import { describeBlas, getNumThreads, type Device } from '../engine/index.js';
import { scanDataset, type Verdict } from '../scan/scan.js';
import { fmt } from './types.js';

export interface MakeupOptions {
  /** the scan's seed (default 0, as `eclipse scan`): fixed, so that poisons are measured alike */
  seed?: number;
  device?: Device;
  /** the defender's trusted clean images for the scan (optional, as `eclipse scan --pool`) */
  trusted?: ImageDataset;
  /** run the scan (default true; it costs minutes on thousands of images, the other measures seconds) */
  scan?: boolean;
  log?: (m: string) => void;
}

export interface PoisonMakeup {
  /** mean per-image L2 norm of the perturbation, [0,1] units */
  l2: number;
  /** share of the perturbation's energy at max(|fx|,|fy|) > 1/4 cycles/pixel (0..1) */
  highFreq: number;
  /** share of the perturbation's energy in the per-class mean perturbations (0..1) */
  classwise: number;
  /** the scan's score (largest z) of the poisoned set; NaN when not computed */
  scanScore: number;
  scanVerdict: Verdict | 'not run';
  /** seconds the three measures took, and the scan */
  seconds: number;
  scanSeconds: number;
}

/** The metadata keys stampMakeup writes. */
export const MAKEUP_META_KEYS = ['makeup_l2', 'makeup_high_freq', 'makeup_classwise', 'makeup_scan_score', 'makeup_scan_verdict', 'makeup_scan_seed', 'makeup_units', 'threads', 'blas'] as const;

/** Frequency indices 0..n-1 of an n-point DFT at |f| <= 1/4 cycles per sample (the low band). */
function lowBand(n: number): Int32Array {
  const out: number[] = [];
  for (let k = 0; k < n; k++) if (4 * Math.min(k, n - k) <= n) out.push(k);
  return Int32Array.from(out);
}

/** cos and sin of 2 pi k x / n for each k of `band` (rows) and x = 0..n-1 (columns). */
function twiddles(n: number, band: Int32Array): { cos: Float64Array; sin: Float64Array } {
  const cos = new Float64Array(band.length * n);
  const sin = new Float64Array(band.length * n);
  for (let j = 0; j < band.length; j++)
    for (let x = 0; x < n; x++) {
      // reduce k*x mod n first: exact integer, so the angle stays in [0, 2 pi)
      const a = (2 * Math.PI * ((band[j]! * x) % n)) / n;
      cos[j * n + x] = Math.cos(a);
      sin[j * n + x] = Math.sin(a);
    }
  return { cos, sin };
}

/** The low-band DFT energy of planes of size h x w, as two 1D passes (rows, then columns). */
class LowBandEnergy {
  private readonly rowBand: Int32Array;
  private readonly colBand: Int32Array;
  private readonly rowT: { cos: Float64Array; sin: Float64Array };
  private readonly colT: { cos: Float64Array; sin: Float64Array };
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  constructor(private readonly h: number, private readonly w: number) {
    this.rowBand = lowBand(w);
    this.colBand = lowBand(h);
    this.rowT = twiddles(w, this.rowBand);
    this.colT = twiddles(h, this.colBand);
    this.re = new Float64Array(h * this.rowBand.length);
    this.im = new Float64Array(h * this.rowBand.length);
  }

  /** sum of |X(k,l)|^2 over the low bins of the plane at plane[off .. off + h*w) */
  energy(plane: Float64Array, off: number): number {
    const { h, w, re, im } = this;
    const nl = this.rowBand.length;
    const nk = this.colBand.length;
    const rc = this.rowT.cos;
    const rs = this.rowT.sin;
    // rows: R(y, l) = sum_x d(y, x) e^{-2 pi i l x / w}, for the low l only
    for (let y = 0; y < h; y++) {
      const o = off + y * w;
      for (let j = 0; j < nl; j++) {
        const t = j * w;
        let a = 0;
        let b = 0;
        for (let x = 0; x < w; x++) {
          const v = plane[o + x]!;
          a += v * rc[t + x]!;
          b -= v * rs[t + x]!;
        }
        re[y * nl + j] = a;
        im[y * nl + j] = b;
      }
    }
    // columns: X(k, l) = sum_y R(y, l) e^{-2 pi i k y / h}, for the low k only
    const cc = this.colT.cos;
    const cs = this.colT.sin;
    let e = 0;
    for (let i = 0; i < nk; i++) {
      const t = i * h;
      for (let j = 0; j < nl; j++) {
        let a = 0;
        let b = 0;
        for (let y = 0; y < h; y++) {
          const c = cc[t + y]!;
          const s = cs[t + y]!;
          const r = re[y * nl + j]!;
          const m = im[y * nl + j]!;
          a += r * c + m * s;
          b += m * c - r * s;
        }
        e += a * a + b * b;
      }
    }
    return e;
  }
}

/** The clean set and its poisoned copy must hold the same images in the same order. */
function checkPair(clean: ImageDataset, poisoned: ImageDataset): void {
  validateDataset(clean, 'poison make-up: the clean set');
  validateDataset(poisoned, 'poison make-up: the poisoned set');
  const same =
    clean.n === poisoned.n && clean.channels === poisoned.channels && clean.height === poisoned.height && clean.width === poisoned.width &&
    clean.classes.join('\u0000') === poisoned.classes.join('\u0000') && clean.labels.every((l, i) => l === poisoned.labels[i]);
  if (!same) {
    throw new Error(
      `poison make-up: the poisoned set (${poisoned.n} images ${poisoned.channels}x${poisoned.height}x${poisoned.width}, classes ${poisoned.classes.join(',')}) ` +
      `is not a copy of the clean set (${clean.n} images ${clean.channels}x${clean.height}x${clean.width}, classes ${clean.classes.join(',')}) with the same labels`,
    );
  }
}

/** L2, high-frequency share and class-wise share of poisoned - clean (see the top of this file); no scan. */
export function perturbationMakeup(clean: ImageDataset, poisoned: ImageDataset): { l2: number; highFreq: number; classwise: number } {
  checkPair(clean, poisoned);
  const { n, channels: C, height: H, width: W } = clean;
  const plane = H * W;
  const D = C * plane;
  const K = clean.classes.length;
  const dft = new LowBandEnergy(H, W);
  const delta = new Float64Array(D);
  const classSum = new Float64Array(K * D);
  const classCount = new Float64Array(K);
  let l2Sum = 0;
  let total = 0;
  let low = 0;
  for (let i = 0; i < n; i++) {
    const o = i * D;
    let ss = 0;
    for (let p = 0; p < D; p++) {
      const d = (poisoned.images[o + p]! - clean.images[o + p]!) / 255;
      delta[p] = d;
      ss += d * d;
    }
    l2Sum += Math.sqrt(ss);
    total += ss;
    if (ss > 0) for (let c = 0; c < C; c++) low += dft.energy(delta, c * plane);
    const y = clean.labels[i]!;
    classCount[y] = classCount[y]! + 1;
    const s = y * D;
    for (let p = 0; p < D; p++) classSum[s + p] = classSum[s + p]! + delta[p]!;
  }
  // between-class energy: sum over classes of n_c ||S_c / n_c||^2 = ||S_c||^2 / n_c
  let between = 0;
  for (let k = 0; k < K; k++) {
    if (classCount[k] === 0) continue;
    let q = 0;
    for (let p = 0; p < D; p++) q += classSum[k * D + p]! ** 2;
    between += q / classCount[k]!;
  }
  const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));
  return {
    l2: n > 0 ? l2Sum / n : NaN,
    // Parseval: the energy over all bins is H*W times the pixel-domain energy
    highFreq: total > 0 ? clamp01(1 - low / (plane * total)) : NaN,
    classwise: total > 0 ? clamp01(between / total) : NaN,
  };
}

/** The make-up of a poison: the three measures of its perturbation and the scan's score of the poisoned set. */
export function poisonMakeup(clean: ImageDataset, poisoned: ImageDataset, o: MakeupOptions = {}): PoisonMakeup {
  const log = o.log ?? ((): void => undefined);
  const t0 = performance.now();
  const m = perturbationMakeup(clean, poisoned);
  const seconds = (performance.now() - t0) / 1000;
  let scanScore = NaN;
  let scanVerdict: Verdict | 'not run' = 'not run';
  let scanSeconds = 0;
  if (o.scan !== false) {
    const r = scanDataset(poisoned, { seed: o.seed ?? 0, device: o.device, trusted: o.trusted, log, exclude: ['smoothness'] });
    scanScore = r.score;
    scanVerdict = r.verdict;
    scanSeconds = r.seconds;
  }
  return { ...m, scanScore, scanVerdict, seconds, scanSeconds };
}

/** The metadata keys of a make-up (MAKEUP_META_KEYS), with the torch thread count the poison was made at. */
export function makeupMeta(m: PoisonMakeup, threads: number, scanSeed = 0): Record<string, string> {
  return {
    makeup_l2: fmt(m.l2),
    makeup_high_freq: fmt(m.highFreq),
    makeup_classwise: fmt(m.classwise),
    makeup_scan_score: fmt(m.scanScore),
    makeup_scan_verdict: m.scanVerdict,
    makeup_scan_seed: m.scanVerdict === 'not run' ? '' : String(scanSeed),
    makeup_units: 'applied perturbation (poisoned - clean)/255; l2: mean per-image L2 in [0,1] units; high_freq: share of DFT energy at max(|fx|,|fy|) > 1/4 cycles/pixel; classwise: share of energy in the per-class mean perturbations; scan_score: eclipse scan\'s largest z without the smoothness statistic (NaN: not computed)',
    threads: String(threads),
    // the BLAS rounds like the thread count: a remake elsewhere matches only with both the same
    blas: describeBlas(),
  };
}

/** The three measures and the scan score a poison's metadata holds (makeupMeta), or null when it
 * was made before make-ups were recorded. The scan score is NaN where it was not computed. */
export function makeupFromMeta(meta: Readonly<Record<string, string>>): Pick<PoisonMakeup, 'l2' | 'highFreq' | 'classwise' | 'scanScore'> | null {
  if (meta.makeup_l2 === undefined || meta.makeup_high_freq === undefined || meta.makeup_classwise === undefined) return null;
  return { l2: Number(meta.makeup_l2), highFreq: Number(meta.makeup_high_freq), classwise: Number(meta.makeup_classwise), scanScore: Number(meta.makeup_scan_score ?? NaN) };
}

export interface StampOptions extends MakeupOptions {
  /** the torch thread count the poison was made with (default: this process's, getNumThreads()) */
  threads?: number;
}

/**
 * The poisoned set with its make-up in its metadata (MAKEUP_META_KEYS): a new dataset object that
 * shares the poisoned set's images and labels (pixels, labels and classes untouched, so
 * datasetDigest and every key made from it stay the same).
 */
export function stampMakeup(clean: ImageDataset, poisoned: ImageDataset, o: StampOptions = {}): { dataset: ImageDataset; makeup: PoisonMakeup } {
  const makeup = poisonMakeup(clean, poisoned, o);
  const threads = o.threads ?? getNumThreads();
  return { dataset: { ...poisoned, meta: { ...poisoned.meta, ...makeupMeta(makeup, threads, o.seed ?? 0) } }, makeup };
}

/** One line for a log or a summary. */
export function describeMakeup(m: PoisonMakeup): string {
  const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : String(x));
  const scan = m.scanVerdict === 'not run' ? 'scan not run' : `scan score ${Number.isFinite(m.scanScore) ? m.scanScore.toFixed(2) : m.scanScore} (${m.scanVerdict}, ${m.scanSeconds.toFixed(1)} s)`;
  return `make-up: L2 mean ${fmt(m.l2)}, ${pct(m.highFreq)} of the energy above half Nyquist, ${pct(m.classwise)} class-wise; ${scan}`;
}
