// Analyses of the defence's premises (e.g. how Gaussian noise assimilates poisons).

export {
  ASSIMILATION_FORMAT, DEFAULT_STEPS, alphaBarAt, assimilation, assimilationSteps, pairedGaussianKl,
  type AssimilationLevel, type AssimilationOptions, type AssimilationPhase, type AssimilationProgress,
  type AssimilationResult, type AttackAssimilation,
} from './assimilation.js';
export {
  medianPairwiseSqDist, mmd2Unbiased, noisedMmd2, uStatisticSe, zeroMatrix,
  type Matrix, type MatrixLike, type NoisedMmdOptions, type NoisedMmdResult, type NoisedSet,
} from './mmd.js';
export {
  esc, lineChartSvg, niceTicks, plotAssimilation, seriesColor, seriesStyle,
  type ChartOptions, type LegendEntry, type MarkerShape, type Panel, type Series,
} from './plot.js';
export { assimilationCsv, assimilationFiles, assimilationTable, writeAssimilation, type AssimilationFiles } from './report.js';
