// The corruption compensation module (paper Sec. 3.4): a per-sample, per-epoch training
// augmentation after crop/flip. With probability p an image becomes grayscale (copied to
// 3 channels); then N(0, sigma^2) noise is added on [0,1] pixels, clamped and quantised to
// 8 bits. Grayscale erases colour-coded (low-frequency) poisons; noise drowns the residue
// of high-frequency ones that purification leaves behind.
import { LUMA } from '../data/color.js';
import { eclipseProfile } from '../eclipse-settings.js';
import type { Rng } from '../data/rng.js';
import type { BatchTransform } from '../training/trainer.js';

export interface CompensationOptions {
  /** grayscale probability p (paper default 0.4) */
  p: number;
  /** Gaussian noise std sigma on [0,1] pixels (paper default 0.05) */
  sigma: number;
}

/** The paper's p and sigma (ECLIPSE's settings table). */
export const COMPENSATION_DEFAULTS: CompensationOptions = eclipseProfile('paper').compensation;

// LUMA lives in data/color.ts (ADP's version of this module uses it too); exported here as before
export { LUMA };

export function compensation(o: CompensationOptions = COMPENSATION_DEFAULTS): BatchTransform {
  if (!(o.p >= 0 && o.p <= 1)) throw new Error(`compensation p must be in [0, 1] (got ${o.p})`);
  if (!(o.sigma >= 0)) throw new Error(`compensation sigma must be >= 0 (got ${o.sigma})`);
  const noise = o.sigma * 255;
  return {
    name: `compensation(p=${o.p},sigma=${o.sigma})`,
    apply(images: Uint8Array, count: number, shape: { channels: number; height: number; width: number }, rng: Rng): void {
      const plane = shape.height * shape.width;
      const per = shape.channels * plane;
      for (let i = 0; i < count; i++) {
        const base = i * per;
        if (shape.channels === 3 && rng.float() < o.p) {
          for (let k = 0; k < plane; k++) {
            const g = Math.round(LUMA[0] * images[base + k]! + LUMA[1] * images[base + plane + k]! + LUMA[2] * images[base + 2 * plane + k]!);
            images[base + k] = g;
            images[base + plane + k] = g;
            images[base + 2 * plane + k] = g;
          }
        }
        if (noise > 0) {
          for (let k = 0; k < per; k++) {
            // Uint8Array assignment would wrap, so clamp explicitly before quantising.
            const v = Math.round(images[base + k]! + noise * rng.normal());
            images[base + k] = v < 0 ? 0 : v > 255 ? 255 : v;
          }
        }
      }
    },
  };
}
