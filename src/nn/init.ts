// Engine re-exports for the nn package, plus an uninitialised-tensor helper.
import { F, Generator, Tensor, tidy, noGrad, type Device } from '../engine/index.js';
export { F, Generator, Tensor, tidy, noGrad };
export type { Device };

/** A float32 tensor whose values are about to be overwritten by an in-place initialiser. */
export function empty(shape: readonly number[], device?: Device): Tensor {
  return F.zeros(shape, { device });
}
