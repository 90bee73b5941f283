// Learning-rate schedules as pure functions of a step index t = 0, 1, 2, ... The unit is
// the caller's: epochs (as PyTorch's per-epoch schedulers, stepped once an epoch) or
// optimizer steps. lr(t) is the rate used *during* step t.
//
//   constant   lr
//   cosine     PyTorch's CosineAnnealingLR: min + (lr - min) * (1 + cos(pi * t / total)) / 2,
//              reaching `min` at t = total and staying there after (PyTorch would rise again)
//   multistep  PyTorch's MultiStepLR: lr * gamma^(number of milestones <= t)
//
// Optional linear warmup over the first `warmup` steps: lr(t) = base * (t + 1) / warmup for
// t < warmup (reaching the base rate at t = warmup - 1); after it, cosine decays over the
// remaining total - warmup steps (PyTorch's SequentialLR of LinearLR(1/warmup, 1,
// warmup - 1) then CosineAnnealingLR(total - warmup)); multistep milestones and
// constant are unaffected (milestones count from t = 0).
import type { Optimizer } from './optim.js';

export type ScheduleKind = 'constant' | 'cosine' | 'multistep';

export interface ScheduleSpec {
  kind: ScheduleKind;
  /** the base learning rate */
  lr: number;
  /** cosine: steps until the rate reaches `min` (including any warmup) */
  total?: number;
  /** cosine: the final rate (PyTorch's eta_min, default 0) */
  min?: number;
  /** multistep: the steps at which the rate is multiplied by gamma */
  milestones?: readonly number[];
  /** multistep: the factor (default 0.1) */
  gamma?: number;
  /** linear warmup steps (default 0) */
  warmup?: number;
}

/** lr as a function of the step (or epoch) index. */
export type Schedule = (t: number) => number;

export const constantLr = (lr: number): Schedule => () => lr;

export function cosineLr(lr: number, total: number, min = 0): Schedule {
  if (!(total > 0)) throw new Error(`cosine schedule needs total > 0, got ${total}`);
  return (t) => (t >= total ? min : min + ((lr - min) * (1 + Math.cos((Math.PI * t) / total))) / 2);
}

export function multistepLr(lr: number, milestones: readonly number[], gamma = 0.1): Schedule {
  return (t) => lr * gamma ** milestones.filter((m) => m <= t).length;
}

/** `after` runs from its own t = 0 once the warmup is over (for cosine's decay). */
function withWarmup(lr: number, warmup: number, after: Schedule, shift: boolean): Schedule {
  return (t) => (t < warmup ? (lr * (t + 1)) / warmup : after(shift ? t - warmup : t));
}

/** Build a schedule from a small config object (see the file header for the semantics). */
export function makeSchedule(spec: ScheduleSpec): Schedule {
  const warmup = spec.warmup ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`warmup must be a non-negative integer, got ${spec.warmup}`);
  let base: Schedule;
  switch (spec.kind) {
    case 'constant':
      base = constantLr(spec.lr);
      break;
    case 'cosine': {
      if (spec.total === undefined) throw new Error('a cosine schedule needs `total` (epochs or steps)');
      if (warmup >= spec.total) throw new Error(`warmup (${warmup}) must be shorter than the cosine total (${spec.total})`);
      base = cosineLr(spec.lr, spec.total - warmup, spec.min ?? 0);
      break;
    }
    case 'multistep':
      base = multistepLr(spec.lr, spec.milestones ?? [], spec.gamma ?? 0.1);
      break;
    default:
      throw new Error(`unknown schedule "${String((spec as { kind: unknown }).kind)}" (constant, cosine or multistep)`);
  }
  return warmup > 0 ? withWarmup(spec.lr, warmup, base, spec.kind === 'cosine') : base;
}

/** The fields of a training recipe a per-epoch schedule needs (profiles' ClassifierRecipe fits). */
export interface EpochScheduleRecipe {
  schedule: ScheduleKind;
  lr: number;
  epochs: number;
  milestones?: readonly number[];
  gamma?: number;
  warmupEpochs?: number;
}

/** The learning rate of epoch `epoch` (0-based) of a recipe: cosine runs over all its epochs. */
export function lrAt(r: EpochScheduleRecipe, epoch: number): number {
  return makeSchedule({ kind: r.schedule, lr: r.lr, total: r.epochs, milestones: r.milestones, gamma: r.gamma, warmup: r.warmupEpochs })(epoch);
}

/** Set the optimizer's learning rate (before its next step); returns lr. */
export function applyLr(opt: Optimizer, lr: number): number {
  if (!Number.isFinite(lr) || lr < 0) throw new Error(`learning rate must be a finite number >= 0, got ${lr}`);
  opt.lr = lr;
  return lr;
}
