// The baseline defences of the paper's Table 1 (each in its own file, registered with ECLIPSE in
// defenses/registry.ts) and what composes a defence's plan with the trainer.
import type { BatchTransform, TrainOptions } from '../../training/trainer.js';
import type { Defense, DefensePlan } from './types.js';

export type { Defense, DefenseContext, DefensePlan } from './types.js';
export type { DefenseOptions } from './base.js';
export { NoDefense } from './none.js';

// The registry (ECLIPSE and the baselines, one entry each) is defenses/registry.ts; its names are
// re-exported here for the code that reads them from the baselines.
export { BASELINE_NAMES, DEFENSES, DEFENSE_NAMES, ECLIPSE, createDefense, isDefenseName, type DefenseName, type DefenseSpec } from '../registry.js';

/** One transform after another (a defence's, then the compensation module's). */
export function chainTransforms(first: BatchTransform | undefined, second: BatchTransform | undefined): BatchTransform | undefined {
  if (!first || !second) return first ?? second;
  return {
    name: `${first.name}+${second.name}`,
    apply(images, count, shape, rng) {
      first.apply(images, count, shape, rng);
      second.apply(images, count, shape, rng);
    },
  };
}

/** The trainer's options for a defence's plan, with the compensation module after its transform. */
export function planTrainOptions(d: Defense, plan: DefensePlan, compensation?: BatchTransform): Pick<TrainOptions, 'transform' | 'objective' | 'adversary' | 'gradientHook' | 'tags'> {
  return {
    transform: chainTransforms(plan.transform, compensation),
    objective: plan.objective,
    adversary: plan.adversary,
    gradientHook: plan.gradientHook,
    tags: {
      defense: d.name,
      defense_params: JSON.stringify(d.params),
      defense_setting: d.setting,
      ...(Object.keys(plan.notes).length ? { defense_notes: JSON.stringify(plan.notes) } : {}),
    },
  };
}
