// What clean data gives for each scan statistic, by set size: the null distribution the scan's
// z-scores are measured against. The numbers are measured, not chosen: scripts/scan-calibrate.mjs
// runs the scan's probes on balanced clean CIFAR-10 training subsets of several sizes and seeds
// and writes calibration-data.ts; its header says which subsets.
import { CALIBRATION_DATA } from './calibration-data.js';
import type { Calibration, MeanStd, StatName } from './calibration-types.js';

// the types live in calibration-types.ts, which the written data file imports (no cycle)
export type { Calibration, MeanStd, StatName };

export const STAT_NAMES: readonly StatName[] = ['raw_acc', 'highpass_acc', 'autocorr_acc', 'raw_confident', 'highpass_confident', 'autocorr_confident', 'any_confident', 'residual_energy', 'pixel_spike', 'smoothness'];
/**
 * The smallest standard deviation of a statistic where the absolute floor (stdFloor, for shares
 * and accuracies) does not fit: the residual energy's clean value varies by a few tenths of a
 * percent between subsets, so 1% of its mean is its floor; the smoothness is a log ratio near 0,
 * so it has none here and the scan floors it at the set's own standard error instead.
 */
export const STD_FLOOR: Partial<Record<StatName, (cleanMean: number) => number>> = { residual_energy: (m) => 0.01 * m, smoothness: () => 0 };

export const CALIBRATION: Calibration = CALIBRATION_DATA;
