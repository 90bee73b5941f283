// `eclipse scan`: is this training set poisoned? Three cross-fitted probes (probe.ts: linear on
// raw pixels, linear on a high-pass residual, an MLP on the residual's autocorrelations) give six
// statistics (held-out accuracy and the share of confidently right images of each), plus, with a trusted clean set, how far the suspect set's accuracy exceeds what the
// same probes reach on clean images. Each is turned into a z-score against its distribution on
// clean data (calibration.ts, measured on clean CIFAR-10 subsets by scripts/scan-calibrate.mjs;
// the gap needs no calibration: it is ~0 on clean data by construction). The verdict follows the
// largest z: poisoned, clean, or unsure in between, or when the data is too small or unlike the
// calibration data and no trusted set is given.
import type { ImageDataset } from '../data/dataset.js';
import { classCounts } from '../data/dataset.js';
import type { Device } from '../engine/index.js';
import { CALIBRATION, STD_FLOOR, type Calibration, type StatName } from './calibration.js';
import type { LaterStat } from './calibration-types.js';
import { pixelSpike } from './pixels.js';
import { smoothness } from './smoothness.js';
import { AUTOCORR_PROBE, PROBE_DEFAULTS, linearProbe, residualEnergy, type FeatureKind, type ProbeResult } from './probe.js';

export type Verdict = 'poisoned' | 'clean' | 'unsure';

/** z at or above which a set is called poisoned, and below which it is called clean (see docs/results.md). */
export const Z_POISONED = 6;
export const Z_CLEAN = 4;
/** A set smaller than this per class, or with fewer classes, gets no verdict. */
export const MIN_PER_CLASS = 50;
export const MIN_CLASSES = 2;
/** An image counts as confidently learned when its held-out probability of its label passes this. */
export const CONFIDENT = 0.9;

export interface ScanOptions {
  /** the defender's trusted clean images (same classes and image size), optional */
  trusted?: ImageDataset;
  seed?: number;
  device?: Device;
  log?: (m: string) => void;
  calibration?: Calibration;
  /** statistics left out of the evidence and the score (a poison's make-up leaves out the smoothness: see makeup.ts) */
  exclude?: readonly StatName[];
}

export interface Evidence {
  stat: StatName | `${FeatureKind}_gap` | 'energy_gap';
  value: number;
  /** what clean data of this size gives: mean and standard deviation */
  clean: { mean: number; std: number };
  z: number;
  what: string;
}

export interface ScanResult {
  verdict: Verdict;
  /** the largest z-score of the evidence (NaN when none could be computed) */
  score: number;
  /** how the score maps to the verdict, and where the thresholds come from */
  calibration: string;
  reasons: string[];
  evidence: Evidence[];
  /** classes whose held-out accuracy stands out (z per class) */
  classes: { name: string; raw: number; highpass: number; autocorr: number; z: number; flagged: boolean }[];
  /** estimated share of poisoned images (0..1), with how it was estimated */
  poisonedShare: { estimate: number; method: string };
  n: number;
  seconds: number;
}

/** A statistic's value as people read it: shares and accuracies as percentages, the smoothness (a log ratio) as it is. */
export function formatStat(stat: Evidence['stat'], v: number): string {
  if (!Number.isFinite(v)) return '–';
  return stat === 'smoothness' ? v.toFixed(3) : `${(100 * v).toFixed(stat === 'residual_energy' ? 2 : 1)}%`;
}

/** Linear interpolation of a calibration statistic at n, in log n (clamped to the measured range). */
export function cleanAt(cal: Calibration, stat: StatName, n: number): { mean: number; std: number } {
  const pts = cal.points;
  const x = Math.log(n);
  const xs = pts.map((p) => Math.log(p.n));
  let i = 0;
  while (i < pts.length - 2 && x > xs[i + 1]!) i++;
  const t = pts.length === 1 ? 0 : Math.min(1, Math.max(0, (x - xs[i]!) / (xs[i + 1]! - xs[i]!)));
  const a = pts[i]!.stats[stat]!;
  const b = pts[Math.min(i + 1, pts.length - 1)]!.stats[stat]!;
  const mean = a.mean + t * (b.mean - a.mean);
  const floor = STD_FLOOR[stat];
  return { mean, std: Math.max(floor === undefined ? cal.stdFloor : floor(mean), a.std + t * (b.std - a.std)) };
}

/** A statistic's z against clean data of n images: the calibration's mean and sd, the sd floored at minStd (the set's own standard error, where the statistic has one). */
export function cleanZ(cal: Calibration, stat: StatName, value: number, n: number, minStd = 0): { clean: { mean: number; std: number }; z: number } {
  const c0 = cleanAt(cal, stat, n);
  const clean = { mean: c0.mean, std: Math.max(c0.std, minStd) };
  return { clean, z: (value - clean.mean) / clean.std };
}

/** Whether the calibration (clean CIFAR-10) applies to this data. */
function calibrationApplies(ds: ImageDataset, cal: Calibration): string | null {
  if (ds.height !== cal.height || ds.width !== cal.width) return `images are ${ds.height}x${ds.width}, the calibration's ${cal.height}x${cal.width}`;
  if (ds.classes.length !== cal.classes.length || ds.classes.some((c, i) => c !== cal.classes[i])) return `classes are not CIFAR-10's (${cal.classes.join(', ')})`;
  return null;
}

export function scanDataset(ds: ImageDataset, o: ScanOptions = {}): ScanResult {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const cal = o.calibration ?? CALIBRATION;
  const reasons: string[] = [];
  const counts = classCounts(ds);
  const present = [...counts].filter((c) => c > 0).length;
  const smallest = Math.min(...[...counts].filter((c) => c > 0));
  const unsureBecause: string[] = [];
  if (present < MIN_CLASSES) unsureBecause.push(`only ${present} class(es) have images: a verdict needs at least ${MIN_CLASSES}`);
  if (smallest < MIN_PER_CLASS) unsureBecause.push(`a class has only ${smallest} images: a verdict needs at least ${MIN_PER_CLASS} per class`);
  let trusted = o.trusted;
  if (trusted) {
    const why =
      trusted.height !== ds.height || trusted.width !== ds.width ? `its images are ${trusted.height}x${trusted.width}, the data's ${ds.height}x${ds.width}`
      : trusted.classes.join('\u0000') !== ds.classes.join('\u0000') ? `its classes (${trusted.classes.join(', ')}) differ from the data's (${ds.classes.join(', ')})`
      : null;
    if (why) {
      reasons.push(`the trusted set was not used: ${why}`);
      unsureBecause.push(`the trusted set does not match the data (${why})`);
      trusted = undefined;
    }
  }
  const calWhy = calibrationApplies(ds, cal);
  if (calWhy && !trusted) unsureBecause.push(`no calibration for this data (${calWhy}) and no trusted set to compare with: give one (--pool)`);
  if (unsureBecause.length > 0 && (present < MIN_CLASSES || (calWhy && !trusted))) {
    return { verdict: 'unsure', score: NaN, calibration: cal.source, reasons: [...reasons, ...unsureBecause], evidence: [], classes: [], poisonedShare: { estimate: NaN, method: 'not estimated' }, n: ds.n, seconds: (performance.now() - t0) / 1000 };
  }

  const seed = o.seed ?? 0;
  const device = o.device ?? 'cpu';
  const probes = {} as Record<FeatureKind, ProbeResult>;
  const KINDS = ['raw', 'highpass', 'autocorr'] as const;
  const NAMES: Record<FeatureKind, string> = { raw: 'raw pixels', highpass: 'the high-pass residual', autocorr: "the residual's autocorrelations (MLP)" };
  for (const kind of KINDS) {
    const opts = { ...(kind === 'autocorr' ? AUTOCORR_PROBE : PROBE_DEFAULTS), seed, device };
    log(`scan: probe on ${NAMES[kind]} (${opts.folds}-fold, ${ds.n} images)`);
    probes[kind] = linearProbe(ds, kind, opts, trusted);
  }
  const energy = residualEnergy(ds);
  const confident = (p: Float32Array): number => p.reduce((s, v) => s + (v > CONFIDENT ? 1 : 0), 0) / p.length;
  const evidence: Evidence[] = [];
  if (!calWhy) {
    const skip = new Set(o.exclude ?? []);
    const add = (stat: StatName, value: number, what: string, minStd = 0): void => {
      if (!skip.has(stat)) evidence.push({ stat, value, ...cleanZ(cal, stat, value, ds.n, minStd), what });
    };
    // a statistic added after the first calibration is measured only when wanted and calibrated
    // (a calibration measured before it existed has no clean distribution for it)
    const later = (stat: LaterStat): boolean => !skip.has(stat) && cal.points.every((p) => p.stats[stat]);
    for (const kind of KINDS) {
      add(`${kind}_acc`, probes[kind].acc, `held-out accuracy of a probe on ${NAMES[kind]}`);
      add(`${kind}_confident`, confident(probes[kind].pTrue), `share of images the probe on ${NAMES[kind]} gives their label with p > ${CONFIDENT}`);
    }
    // at least this set's own sampling error of a geometric mean
    add('residual_energy', energy.geomean, "high-frequency energy: the images' mean high-pass residual magnitude, in the pixel range (raised by any added noise, poisons included)", energy.geomean * (energy.logStd / Math.sqrt(ds.n)));
    if (later('pixel_spike')) {
      const s = pixelSpike(ds);
      add('pixel_spike', s.value, `share of class ${ds.classes[s.cls]}'s images with colour (${s.colour.join(', ')}) at pixel (${s.row}, ${s.col}), beyond its share at any neighbouring pixel (a one-pixel shortcut such as OPS)`);
    }
    if (later('smoothness')) {
      const b = smoothness(ds);
      add('smoothness', b.value, "smoothness: the images' mean log ratio of variance to Laplacian energy, class-balanced (raised by a blur, such as CUDA's class-wise filters)", b.stdError);
    }
  } else reasons.push(`the clean-data calibration does not apply (${calWhy}): the verdict rests on the trusted set alone`);
  if (trusted) {
    for (const kind of KINDS) {
      const p = probes[kind];
      const gap = p.acc - p.trustedAcc!;
      // On clean data the held-out and trusted accuracies estimate the same thing: binomial noise
      // of both plus a 2-point allowance for the trusted set's own distribution.
      const q = Math.min(0.99, Math.max(0.01, p.trustedAcc!));
      const std = Math.sqrt((q * (1 - q)) / ds.n + (q * (1 - q)) / trusted.n) + 0.02;
      evidence.push({ stat: `${kind}_gap`, value: gap, clean: { mean: 0, std }, z: gap / std, what: `held-out accuracy minus accuracy on the trusted clean set (probe on ${NAMES[kind]})` });
    }
    // High-frequency energy against the trusted set's: the two sets' sampling noise in log units,
    // plus a 2% allowance for the trusted set's own distribution.
    const te = residualEnergy(trusted);
    const gap = Math.log(energy.geomean / te.geomean);
    const std = Math.sqrt(energy.logStd ** 2 / ds.n + te.logStd ** 2 / trusted.n) + 0.02;
    evidence.push({ stat: 'energy_gap', value: gap, clean: { mean: 0, std }, z: gap / std, what: "log ratio of the data's high-frequency energy to the trusted clean set's (raised by any added noise, poisons included)" });
  }
  const score = Math.max(...evidence.map((e) => e.z));
  const called: Verdict = score >= Z_POISONED ? 'poisoned' : score < Z_CLEAN ? 'clean' : 'unsure';
  const top = evidence.reduce((a, b) => (b.z > a.z ? b : a));
  reasons.unshift(
    called === 'poisoned' ? `${top.what} is ${formatStat(top.stat, top.value)}, ${top.z.toFixed(1)} standard deviations above clean data of this size (${formatStat(top.stat, top.clean.mean)})`
    : called === 'clean' ? `every statistic is within ${Z_CLEAN} standard deviations of clean data (largest: ${top.stat}, z ${top.z.toFixed(1)})`
    : `the largest statistic (${top.stat}, z ${top.z.toFixed(1)}) is between the clean (${Z_CLEAN}) and poisoned (${Z_POISONED}) thresholds`,
  );
  // Evidence of a poison stands; a clean call on too little or mismatched evidence does not.
  const verdict: Verdict = called !== 'poisoned' && unsureBecause.length > 0 ? 'unsure' : called;
  if (verdict !== called) reasons.push(...unsureBecause.map((u) => `not called clean: ${u}`));

  // Classes: held-out accuracy per class against clean data's (class-wise poisons touch classes unevenly).
  const classes = ds.classes.map((name, c) => {
    const acc = (k: FeatureKind): number => probes[k].classAcc[c]!;
    let z = NaN;
    if (!calWhy) {
      const cr = cal.classes.indexOf(name);
      z = Math.max(...KINDS.map((k) => (acc(k) - cal.classAcc[k][cr]!.mean) / Math.max(cal.classAcc[k][cr]!.std, cal.stdFloor * 2)));
    }
    return { name, raw: acc('raw'), highpass: acc('highpass'), autocorr: acc('autocorr'), z, flagged: z >= Z_POISONED };
  });

  // Share: images confidently learned beyond what clean data gives, as a fraction of the rest.
  const any = Float32Array.from(probes.raw.pTrue, (v, i) => Math.max(v, probes.highpass.pTrue[i]!, probes.autocorr.pTrue[i]!));
  const f = confident(any);
  const fc = calWhy ? 0 : cleanAt(cal, 'any_confident', ds.n).mean;
  const estimate = Math.min(1, Math.max(0, (f - fc) / (1 - fc)));
  return {
    verdict, score, calibration: cal.source, reasons, evidence, classes,
    poisonedShare: { estimate, method: `images any probe gives its label with p > ${CONFIDENT} (${(100 * f).toFixed(1)}%), beyond clean data's ${(100 * fc).toFixed(1)}%, as a share of the rest; a lower bound for poisons that are only partly separable` },
    n: ds.n, seconds: (performance.now() - t0) / 1000,
  };
}
