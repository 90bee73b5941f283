// Which timesteps a training batch sees. improved-DDPM's CIFAR recipe samples t uniformly.
//
// trainMaxT (an ECLIPSE-specific option, off by default): purification with t* only ever
// runs the reverse steps t* - 1 .. 0 (0-based indices, see schedule.ts), so a model can be
// trained on those alone. With trainMaxT = b, t is uniform on {0, ..., b - 1}, i.e. the
// paper's 1-based steps 1..b ("t <= b"). The per-sample loss is unchanged; only the range
// of the expectation over t shrinks, so L_vb is no longer the full bound.
import { F, type Device, type Generator, type Tensor } from '../engine/index.js';

export interface UniformSamplerOptions {
  /** sample t from 0 .. trainMaxT - 1 only (1-based: t <= trainMaxT); default all T steps */
  trainMaxT?: number;
}

export class UniformSampler {
  /** t is drawn from 0 .. limit - 1 */
  readonly limit: number;
  constructor(
    readonly numTimesteps: number,
    o: UniformSamplerOptions = {},
  ) {
    const b = o.trainMaxT ?? numTimesteps;
    if (!Number.isInteger(b) || b < 1 || b > numTimesteps)
      throw new Error(`trainMaxT must be an integer in 1..${numTimesteps} (the diffusion steps), got ${b}`);
    this.limit = b;
  }

  /** int64 [batch] timesteps, uniform on 0 .. limit - 1. Every weight is 1 (uniform over the range). */
  sample(batch: number, o: { device?: Device; generator?: Generator } = {}): Tensor {
    return F.randint(0, this.limit, [batch], o);
  }
}
