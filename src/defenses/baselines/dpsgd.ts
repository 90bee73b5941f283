// DP-SGD as the poisoning literature runs it against poisons (Geiping et al.'s Witches' Brew /
// TAP code, strategy "private"): clip the whole mini-batch gradient to L2 norm `clip`, then add
// N(0, (clip * noise)^2) to every parameter's gradient. This is NOT differential privacy (no
// per-sample clipping, no accounting): it is the cheap batch-level stand-in, labelled as such.
// ECLIPSE cites DP-SGD without settings and finds it ineffective either way.
import { F, noGrad, tidy, type Device, type Generator, type Tensor } from '../../engine/index.js';
import type { ImageDataset } from '../../data/dataset.js';
import { clipGradNorm } from '../../nn/optim.js';
import type { SettingTable } from '../../settings.js';
import type { GradientHook } from '../../training/trainer.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import type { DefenseContext, DefensePlan } from './types.js';

export const DPSGD_SETTINGS = {
  clip: { flag: 'dp-clip', kind: 'number', min: 0, help: 'L2 norm the batch gradient is clipped to', profiles: { smoke: 1, mini: 1, paper: 1 } },
  noise: { flag: 'dp-noise', kind: 'number', min: 0, help: 'noise multiplier: gradient noise std = clip x noise', profiles: { smoke: 0.01, mini: 0.01, paper: 0.01 } },
} as const satisfies SettingTable;

export function batchClipNoise(clip: number, noise: number): GradientHook {
  return {
    name: `batch-clip(${clip})+gaussian(${clip * noise})`,
    apply(params: readonly Tensor[], gen: Generator) {
      clipGradNorm(params, clip);
      if (noise === 0) return;
      noGrad(() =>
        tidy(() => {
          for (const p of params) {
            const g = p.grad;
            if (g) g.add_(F.randn(g.shape, { generator: gen, device: g.device as Device }).mul(clip * noise));
          }
        }),
      );
    },
  };
}

export class DpSgdDefense extends BaselineDefense<typeof DPSGD_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('dp-sgd', DPSGD_SETTINGS, o);
  }
  async plan(train: ImageDataset, _ctx: DefenseContext): Promise<DefensePlan> {
    return { train, gradientHook: batchClipNoise(this.settings.clip, this.settings.noise), notes: { dp_form: 'batch-level clip + Gaussian noise (Witches\' Brew "private" stand-in), not per-sample DP-SGD' } };
  }
}
