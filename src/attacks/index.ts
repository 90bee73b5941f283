// Model-agnostic clean-label availability attacks (URP, LSP, AR), by their original recipes.
// See README.md in this folder for the recipes and their sources.

export * from './types.js';
export { BaseAttack, POISON_META_KEYS, scaleToL2 } from './base.js';
export { UrpAttack, type UrpOptions } from './urp.js';
export { LspAttack, lspDefaultL2, type LspMixture, type LspOptions } from './lsp.js';
export {
  AR_PAPER_COEFFICIENTS, ArAttack, arPattern, arResponse, findArCoefficients, validateArCoefficients,
  type ArCoefficientChoice, type ArOptions, type ArSearchOptions,
} from './ar.js';
export {
  ATTACKS, ATTACK_NAMES, MODEL_AGNOSTIC_ATTACKS, createAttack, isAttackName, poisonDataset, poisonDatasetAsync, poisonDatasetWithStats,
  type AttackName, type AttackSpec, type PoisonDatasetOptions,
} from './registry.js';
export { TAP_SETTINGS, TapAttack, tapSurrogateRecipe, type TapOptions } from './tap.js';
export { EM_SETTINGS, EmAttack } from './em.js';
export { REM_SETTINGS, RemAttack } from './rem.js';
export { ADP_SETTINGS, AdpAttack } from './adp.js';
export { SEP_SETTINGS, SepAttack, checkpointEpochs, sepSurrogateRecipe } from './sep.js';
export { EFP_SETTINGS, EfpAttack, efpReferenceRecipe } from './efp.js';
export { ModelAttack, type ModelAttackOptions } from './model/attack.js';
export * from '../settings.js';
export { poisonFile, type PoisonFileOptions, type PoisonFileResult } from './command.js';
export {
  MAKEUP_META_KEYS, describeMakeup, makeupFromMeta, makeupMeta, perturbationMakeup, poisonMakeup, stampMakeup,
  type MakeupOptions, type PoisonMakeup, type StampOptions,
} from './makeup.js';
