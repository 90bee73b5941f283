// AT: PGD adversarial training (Madry et al. 2018) as the poisoning benchmarks run it
// (HanxunH/Unlearnable-Examples madrys.py, APBench): L_inf 8/255, 10 steps of 2/255 from a
// Gaussian start of std = step, the attack in eval mode (BatchNorm running statistics), then
// the training step in train mode on the adversarial batch only.
import type { ImageDataset } from '../../data/dataset.js';
import { pgdAdversary } from '../../training/adversarial.js';
import type { SettingTable } from '../../settings.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import type { DefenseContext, DefensePlan } from './types.js';

export const AT_SETTINGS = {
  eps: { flag: 'at-eps', kind: 'number', min: 0, max: 1, help: 'L_inf radius of the training adversary ([0,1] units, e.g. 8/255)', profiles: { smoke: 8 / 255, mini: 8 / 255, paper: 8 / 255 } },
  steps: { flag: 'at-steps', kind: 'int', min: 1, help: 'PGD steps per batch (mini: fewer, each costs one forward+backward)', profiles: { smoke: 1, mini: 2, paper: 10 } },
  stepSize: { flag: 'at-step-size', kind: 'number', min: 0, help: 'PGD step size (mini: larger, to cover eps in its fewer steps)', profiles: { smoke: 8 / 255, mini: 4 / 255, paper: 2 / 255 } },
} as const satisfies SettingTable;

export class AtDefense extends BaselineDefense<typeof AT_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('at', AT_SETTINGS, o);
  }
  async plan(train: ImageDataset, _ctx: DefenseContext): Promise<DefensePlan> {
    const s = this.settings;
    return { train, adversary: pgdAdversary({ eps: s.eps, stepSize: s.stepSize, steps: s.steps, randomStart: 'gaussian', gaussianScale: s.stepSize }), notes: {} };
  }
}
