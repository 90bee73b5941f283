// Respacing (improved-DDPM section 4): run a model trained with T steps on a subset S of
// them. Keeping alpha_bar at the kept steps fixes the new betas,
//   beta'_i = 1 - alpha_bar[S_i] / alpha_bar[S_{i-1}]   (alpha_bar[S_{-1}] = 1),
// and the network is still shown the original step S_i (timestepMap). ECLIPSE purifies
// without respacing; this is for fast sampling and evaluation.
import { noiseSchedule, type NoiseSchedule } from './schedule.js';

/** Python's round(): halves go to the even neighbour (the spacing rule depends on it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The kept steps of a T-step process, ascending. `spec`:
 *   "ddimN"     every k-th step from 0, with k chosen so that exactly N steps are kept;
 *   "N" or "N1,N2,..."  split 0..T-1 into as many equal sections as counts and keep Ni
 *               evenly spaced steps (first and last included) in section i;
 *   "" / "T"    every step.
 */
export function spacedTimesteps(T: number, spec: string): number[] {
  const s = spec.trim();
  if (s === '') return Array.from({ length: T }, (_, i) => i);
  if (s.startsWith('ddim')) {
    const want = Number(s.slice(4));
    if (!Number.isInteger(want) || want < 1) throw new Error(`bad respacing "${spec}": ddim needs a positive count, e.g. ddim50`);
    if (want === T) return Array.from({ length: T }, (_, i) => i);
    for (let stride = 1; stride < T; stride++) {
      const kept = Math.ceil(T / stride);
      if (kept === want) return Array.from({ length: kept }, (_, i) => i * stride);
    }
    throw new Error(`bad respacing "${spec}": no integer stride keeps exactly ${want} of ${T} steps`);
  }
  const counts = s.split(',').map((x) => Number(x.trim()));
  if (counts.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`bad respacing "${spec}": expected "ddimN" or comma-separated positive counts`);
  const base = Math.floor(T / counts.length);
  const extra = T % counts.length;
  const out: number[] = [];
  let start = 0;
  counts.forEach((count, i) => {
    const size = base + (i < extra ? 1 : 0);
    if (size < count) throw new Error(`bad respacing "${spec}": section ${i} has ${size} steps, fewer than ${count}`);
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    for (let k = 0; k < count; k++) out.push(start + roundHalfEven(k * stride));
    start += size;
  });
  return out;
}

export interface Respaced {
  /** the new process's betas, one per kept step */
  betas: Float64Array;
  /** timestepMap[i] = the original step of new step i (what the network is shown) */
  timestepMap: Int32Array;
  /** the original process's length (for timestep rescaling) */
  originalNumTimesteps: number;
}

/** New betas for keeping `steps` (any order, duplicates ignored) of a base schedule. */
export function respace(base: NoiseSchedule, steps: Iterable<number>): Respaced {
  const T = base.numTimesteps;
  const kept = [...new Set(steps)].sort((a, b) => a - b);
  if (kept.length === 0) throw new Error('respacing keeps no steps');
  for (const t of kept) if (!Number.isInteger(t) || t < 0 || t >= T) throw new Error(`respaced step ${t} is outside 0..${T - 1}`);
  const betas = new Float64Array(kept.length);
  let last = 1;
  kept.forEach((t, i) => {
    const abar = base.alphasCumprod[t]!;
    betas[i] = 1 - abar / last;
    last = abar;
  });
  return { betas, timestepMap: Int32Array.from(kept), originalNumTimesteps: T };
}

/** respace() with a spacedTimesteps() spec, returning the derived schedule too. */
export function respaceSpec(base: NoiseSchedule, spec: string): Respaced & { schedule: NoiseSchedule } {
  const r = respace(base, spacedTimesteps(base.numTimesteps, spec));
  return { ...r, schedule: noiseSchedule(r.betas) };
}
