// Size of a perturbation, per image: L_inf in 1/255 steps, L2 in [0,1] pixel units.
// Used by the attacks (bound checks, provenance) and to compare clean / poisoned / purified sets.

import { imageSize, type ImageDataset } from '../data/dataset.js';

/** Summary over images of per-image perturbation norms. */
export interface PerturbationStats {
  /** Images summarised. */
  n: number;
  /** Largest per-image L_inf, in 1/255 steps (8 means 8/255). */
  linfMax: number;
  /** Mean over images of the per-image L_inf, in 1/255 steps. */
  linfMean: number;
  /** Largest per-image L2 of the perturbation, in [0,1] pixel units. */
  l2Max: number;
  /** Mean over images of the per-image L2, in [0,1] pixel units. */
  l2Mean: number;
  /** Smallest per-image L2, in [0,1] pixel units. */
  l2Min: number;
}

/** Streaming accumulator: add one image's L_inf (1/255 steps) and L2 ([0,1] units) at a time. */
export class StatsAccumulator {
  private n = 0;
  private linfMax = 0;
  private linfSum = 0;
  private l2Max = 0;
  private l2Sum = 0;
  private l2Min = Infinity;

  add(linf255: number, l2: number): void {
    this.n++;
    if (linf255 > this.linfMax || Number.isNaN(linf255)) this.linfMax = linf255;
    this.linfSum += linf255;
    if (l2 > this.l2Max || Number.isNaN(l2)) this.l2Max = l2;
    if (l2 < this.l2Min || Number.isNaN(l2)) this.l2Min = l2;
    this.l2Sum += l2;
  }

  /** Add a perturbation given in [0,1] pixel units. */
  addUnit(delta: ArrayLike<number>): void {
    let linf = 0;
    let ss = 0;
    for (let p = 0; p < delta.length; p++) {
      const d = delta[p];
      const a = Math.abs(d);
      if (a > linf || Number.isNaN(a)) linf = a;
      ss += d * d;
    }
    this.add(linf * 255, Math.sqrt(ss));
  }

  result(): PerturbationStats {
    const n = this.n;
    return {
      n,
      linfMax: this.linfMax,
      linfMean: n ? this.linfSum / n : 0,
      l2Max: this.l2Max,
      l2Mean: n ? this.l2Sum / n : 0,
      l2Min: n ? this.l2Min : 0,
    };
  }
}

/** Throw unless `a` and `b` hold the same number of images of the same size, classes and labels. */
export function assertComparable(a: ImageDataset, b: ImageDataset, what: string): void {
  if (a.n !== b.n || a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
    throw new Error(
      `${what}: datasets differ in shape: ${a.n}x${a.channels}x${a.height}x${a.width} vs ${b.n}x${b.channels}x${b.height}x${b.width}`,
    );
  }
  if (a.classes.length !== b.classes.length || a.classes.some((c, i) => c !== b.classes[i])) {
    throw new Error(`${what}: class lists differ: ${JSON.stringify(a.classes)} vs ${JSON.stringify(b.classes)}`);
  }
  for (let i = 0; i < a.n; i++) {
    if (a.labels[i] !== b.labels[i]) {
      throw new Error(`${what}: label of image ${i} differs (${a.labels[i]} vs ${b.labels[i]}); are these the same images?`);
    }
  }
}

export interface PerturbationReport extends PerturbationStats {
  /** Per-class stats (index = class), with n = 0 for an empty class. */
  perClass: PerturbationStats[];
  /** Per-image L_inf (1/255 steps) and L2 ([0,1] units). */
  perImageLinf: Float64Array;
  perImageL2: Float64Array;
}

/** Per-image L_inf / L2 of `perturbed - clean` (e.g. poisoned vs clean, or purified vs clean). */
export function perturbationStats(clean: ImageDataset, perturbed: ImageDataset): PerturbationReport {
  assertComparable(clean, perturbed, 'perturbationStats');
  const per = imageSize(clean);
  const all = new StatsAccumulator();
  const byClass = clean.classes.map(() => new StatsAccumulator());
  const perImageLinf = new Float64Array(clean.n);
  const perImageL2 = new Float64Array(clean.n);
  for (let i = 0; i < clean.n; i++) {
    const o = i * per;
    let linf = 0;
    let ss = 0;
    for (let p = 0; p < per; p++) {
      const d = perturbed.images[o + p] - clean.images[o + p];
      const a = d < 0 ? -d : d;
      if (a > linf) linf = a;
      ss += d * d;
    }
    const l2 = Math.sqrt(ss) / 255;
    perImageLinf[i] = linf;
    perImageL2[i] = l2;
    all.add(linf, l2);
    byClass[clean.labels[i]].add(linf, l2);
  }
  return { ...all.result(), perClass: byClass.map((s) => s.result()), perImageLinf, perImageL2 };
}
