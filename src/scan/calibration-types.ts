// The calibration's types, on their own so that calibration-data.ts (written by
// scripts/scan-calibrate.mjs) and calibration.ts (which reads it) both import them from below.
import type { FeatureKind } from './probe.js';

export type StatName = 'raw_acc' | 'highpass_acc' | 'autocorr_acc' | 'raw_confident' | 'highpass_confident' | 'autocorr_confident' | 'any_confident' | 'residual_energy' | 'pixel_spike' | 'smoothness';

/** The statistics added after the first calibration: an older calibration may lack them (the scan then skips them). */
export type LaterStat = 'pixel_spike' | 'smoothness';

/** Every statistic's clean distribution. */
export type CalibrationStats = Record<Exclude<StatName, LaterStat>, MeanStd> & Partial<Record<LaterStat, MeanStd>>;

export interface MeanStd {
  mean: number;
  std: number;
}

export interface Calibration {
  /** how it was measured (recorded with every scan result) */
  source: string;
  height: number;
  width: number;
  classes: string[];
  /** per set size: each statistic's mean and standard deviation over the clean subsets */
  points: { n: number; subsets: number; stats: CalibrationStats }[];
  /** per class (calibration's class order), pooled over the sizes: held-out accuracy */
  classAcc: Record<FeatureKind, MeanStd[]>;
  /** the smallest standard deviation used (a few subsets underestimate the spread) */
  stdFloor: number;
}
