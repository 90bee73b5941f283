export { psnr, purificationReport, type PsnrOptions, type PsnrReport, type PurificationReport } from './psnr.js';
export {
  StatsAccumulator, assertComparable, perturbationStats, type PerturbationReport, type PerturbationStats,
} from './perturbation.js';
