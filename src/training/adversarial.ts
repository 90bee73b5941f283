// PGD adversarial training's inner maximisation as a trainer Adversary: the AT reference model
// of EntF (EFP) and the AT defence. The attack runs with the model in eval mode (fixed
// BatchNorm statistics, so the attack's forward passes do not move the running means) and the
// model is put back in train mode for the training step. It sits in training/, below both the
// attacks (EFP) and the defences (AT) that use it.
import { F, Tensor, tidy, noGrad, type Generator } from '../engine/index.js';
import type { Module } from '../nn/module.js';
import type { Adversary } from './trainer.js';
import { pgd, type RandomStart } from './pgd.js';

export interface PgdAdversaryOptions {
  /** L_inf radius ([0,1] units) */
  eps: number;
  stepSize: number;
  steps: number;
  /** EntF's reference model: uniform; Madry AT as in HanxunH/APBench: gaussian with scale stepSize */
  randomStart: RandomStart;
  /** standard deviation of a gaussian start (default: pgd's, eps) */
  gaussianScale?: number;
}

export function pgdAdversary(o: PgdAdversaryOptions): Adversary {
  return {
    name: `pgd-linf eps ${o.eps} step ${o.stepSize} x ${o.steps}, ${o.randomStart} start`,
    perturb(model: Module, x: Tensor, y: Tensor, gen: Generator): Tensor {
      model.eval();
      try {
        return tidy(() => {
          // untargetedCrossEntropy of attacks/model/losses.ts, written out: attacks sit above training
          const d = pgd(x, (p) => F.crossEntropy(model.forward(p), y), {
            norm: 'linf', eps: o.eps, stepSize: o.stepSize, steps: o.steps, direction: 'ascent', randomStart: o.randomStart, gaussianScale: o.gaussianScale, generator: gen,
          });
          return noGrad(() => x.add(d));
        });
      } finally {
        model.train();
      }
    },
  };
}
