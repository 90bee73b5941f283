// What a matrix's unfinished cells will cost, for --dry-run and a run's ETA. Measured where like
// work has finished in the results database; else a rough formula, marked as such.
//
// A cell of a recipe that has finished before costs that recipe's median time. An ECLIPSE cell of
// a new recipe (a sweep point) is costed stage by stage, because its stages are shared: the
// denoiser by every cell of its sparse set, denoiser recipe and defence seed; the purified set by
// every cell that also shares the poison and purification recipe (a sweep of p, sigma or the
// ablation reuses the main cell's). A stage that a finished cell (while its files are on disk)
// or an earlier cell of the same plan has built costs nothing; one to build costs the median of
// its measured builds of the same recipe, else a measured build of another recipe scaled by its
// work (reverse steps or iterations x batch, times the U-Net's size), else (a denoiser) the
// profile's measured rate.
import { existsSync } from 'node:fs';
import type { UNetSizes } from '../diffusion/recipe.js';
import { eclipseProfile } from '../eclipse-settings.js';
import type { ProfileName } from '../profiles.js';
import type { ResolvedCell } from './config.js';

export interface CellCost {
  seconds: number;
  /** how many finished cells the estimate is the median of (the fewest over its parts); 0: partly or wholly a formula */
  measured: number;
}

/** A finished cell as the cost model reads it: its recipe, its time, and its stages' build times (ECLIPSE cells since 2026-12-06). */
export interface FinishedRun {
  cell: Pick<ResolvedCell, 'spec' | 'classifier' | 'eclipse' | 'baseline'> & Partial<Pick<ResolvedCell, 'poisonSeed' | 'defenseSeed'>>;
  seconds: number;
  /** extra.stage_seconds: denoiser, purify, purified_makeup, classifier (null: built before times were recorded) */
  stages?: Readonly<Record<string, number | null>> | null;
  /**
   * extra.purified: the purified set's file. Its stages count as built only while it is on disk (a
   * database merged from the CSV on a fresh machine has the results, not their artifacts); absent:
   * taken as on disk.
   */
  purified?: string | null;
}

type Costed = FinishedRun['cell'];
/** a cell to cost: its recipe and its hash */
type Planned = Costed & Pick<ResolvedCell, 'hash'>;

/**
 * Rough seconds of a cell on this profile's hardware when no like cell has finished: the
 * classifier's images times epochs at a profile throughput (mini: measured on the 2-core CPU),
 * times the defence's cost factor. A defence's own stages (denoiser, purification) and shared
 * artifacts (poisons) are not included: CostModel prefers measured times.
 */
export function estimateSeconds(cell: Pick<ResolvedCell, 'spec' | 'classifier' | 'baseline'>): number {
  const c = cell.classifier;
  const imgPerSec = { smoke: 400, mini: 600, paper: 4000 }[cell.spec.profile];
  const images = (c.trainPerClass > 0 ? c.trainPerClass * 10 : 50_000) * c.epochs;
  const p = cell.baseline?.params ?? {};
  const factor =
    cell.spec.defense === 'at' ? Number(p.steps ?? 10) + 1
    : cell.spec.defense === 'aa' ? 1 + ((Number(p.copies ?? 5) - 1) * Math.min(c.epochs, Number(p.repeat_epochs ?? c.epochs))) / c.epochs
    : 1;
  return (images / imgPerSec) * factor;
}

/** JSON with object keys sorted, so recipes stored by older code compare by content. */
function sortedJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

/**
 * What a cell's run time depends on: its recipe less its attack, seeds and poison file (a
 * denoiser's size or a baseline's settings change the time; which poison draw it cleans does not).
 */
function costKey(c: Costed): string {
  return sortedJson([c.spec.profile, c.spec.defense, c.spec.architecture, c.classifier, c.eclipse ?? null, c.baseline ?? null]);
}

/** The U-Net's work per image, up to a constant: channels squared times pixels, per level, over its residual blocks (down and up). */
function unetWork(u: UNetSizes, imageSize = 32): number {
  return u.channelMult.reduce((w, m, i) => w + (u.modelChannels * m) ** 2 * (imageSize / 2 ** i) ** 2 * (2 * u.numResBlocks + 1), 0);
}

type Eclipse = NonNullable<Costed['eclipse']>['profile'];
const denoiserId = (c: Costed, e: Eclipse): string => sortedJson([c.spec.profile, e.sparse, e.denoiser, c.defenseSeed ?? 0]);
// a given poison is named by its attack and seed, not its path (a database outlives checkouts)
const purifiedId = (c: Costed, e: Eclipse): string => sortedJson([denoiserId(c, e), e.purify, c.spec.attack, c.poisonSeed ?? c.spec.poisonSeed ?? 0]);
const classifierKey = (c: Costed): string => sortedJson([c.spec.profile, c.spec.architecture, c.classifier]);
/** what a stage's build time depends on (not the data it runs on) */
const purifyKey = (c: Costed, e: Eclipse): string => sortedJson([c.spec.profile, e.denoiser.unet, e.purify]);
const denoiserKey = (c: Costed, e: Eclipse): string => sortedJson([c.spec.profile, e.denoiser]);
/** reverse steps a purification runs, times the U-Net's work */
const purifyWork = (e: Eclipse): number => (e.purify.respacedSteps || e.purify.tStar) * unetWork(e.denoiser.unet);
const denoiserWork = (e: Eclipse): number => e.denoiser.iterations * e.denoiser.batchSize * unetWork(e.denoiser.unet);

/**
 * Denoiser training without any measured build to scale from: images per second at the
 * profile's own U-Net (mini: the demo's 1,000 iterations at batch 32 took 8.1 min on the 2-core
 * CPU, docs/results.md), scaled by the U-Net's work.
 */
const DENOISER_IMG_PER_S: Partial<Record<ProfileName, number>> = { mini: (1000 * 32) / (8.1 * 60) };
function denoiserFormula(profile: ProfileName, e: Eclipse): number {
  const rate = DENOISER_IMG_PER_S[profile];
  if (rate === undefined) return 0;
  const own = eclipseProfile(profile).denoiser;
  return ((e.denoiser.iterations * e.denoiser.batchSize) / rate) * (unetWork(e.denoiser.unet) / unetWork(own.unet));
}

/** Medians of measured times, by key. */
class Medians {
  private readonly times = new Map<string, number[]>();
  private cache: Map<string, CellCost> | null = null;
  add(key: string, seconds: number | null | undefined): void {
    if (!(typeof seconds === 'number' && seconds > 0)) return;
    const t = this.times.get(key);
    if (t) t.push(seconds);
    else this.times.set(key, [seconds]);
    this.cache = null;
  }
  get(key: string): CellCost | undefined {
    if (!this.cache) {
      this.cache = new Map();
      for (const [k, t] of this.times) {
        const s = [...t].sort((a, b) => a - b);
        const m = s.length >> 1;
        this.cache.set(k, { seconds: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, measured: s.length });
      }
    }
    return this.cache.get(key);
  }
}

/**
 * Pending cells' times from the finished cells in the results database (any config that shares
 * it): medians, so the cell that also built a shared stage, or ran beside another job, does not
 * set them.
 */
export class CostModel {
  private readonly cells = new Medians();
  private readonly classifier = new Medians();
  private readonly purify = new Medians();
  private readonly makeup = new Medians();
  private readonly denoiser = new Medians();
  /** per stage, the measured recipes to scale from: stage key -> its work */
  private readonly purifyRef = new Map<string, number>();
  private readonly denoiserRef = new Map<string, number>();
  /** stages a finished cell has built and left on disk */
  private readonly built = new Set<string>();

  constructor(finished: Iterable<FinishedRun>) {
    for (const f of finished) {
      this.cells.add(costKey(f.cell), f.seconds);
      const ecl = f.cell.eclipse;
      if (!ecl) continue;
      const e = ecl.profile;
      const s = f.stages ?? {};
      this.classifier.add(classifierKey(f.cell), s.classifier);
      if (!ecl.components.purify) continue;
      if (f.purified === undefined || (f.purified !== null && existsSync(f.purified))) {
        this.built.add(denoiserId(f.cell, e));
        this.built.add(purifiedId(f.cell, e));
      }
      const pk = purifyKey(f.cell, e);
      this.purify.add(pk, s.purify);
      if (typeof s.purify === 'number' && s.purify > 0) this.purifyRef.set(pk, purifyWork(e));
      this.makeup.add(f.cell.spec.profile, s.purified_makeup);
      const dk = denoiserKey(f.cell, e);
      this.denoiser.add(dk, s.denoiser);
      if (typeof s.denoiser === 'number' && s.denoiser > 0) this.denoiserRef.set(dk, denoiserWork(e));
    }
  }

  /** From a database's finished cells (an empty model without one). */
  static of(db: { finishedRuns(): FinishedRun[] } | null): CostModel {
    return new CostModel(db?.finishedRuns() ?? []);
  }

  /** One cell alone (its shared stages not yet built by another pending cell). */
  estimate(cell: Planned): CellCost {
    return this.plan([cell]).get(cell.hash)!;
  }

  /**
   * Each cell's cost by its hash, the cells taken in the order given (the order they will run):
   * a stage one of them builds is free for the later ones.
   */
  plan(cells: readonly Planned[]): Map<string, CellCost> {
    const built = new Set(this.built);
    return new Map(cells.map((cell) => [cell.hash, this.costOf(cell, built)]));
  }

  /** One cell's cost, given the stages built before it (the ones it builds are added). */
  private costOf(cell: Costed, built: Set<string>): CellCost {
    const whole = this.cells.get(costKey(cell));
    const ecl = cell.eclipse;
    if (!ecl) return whole ?? { seconds: estimateSeconds(cell), measured: 0 };
    const e = ecl.profile;
    const parts: CellCost[] = [this.classifier.get(classifierKey(cell)) ?? { seconds: estimateSeconds(cell), measured: 0 }];
    if (ecl.components.purify) {
      const den = denoiserId(cell, e);
      const pur = purifiedId(cell, e);
      if (!built.has(pur)) {
        parts.push(this.stage(this.purify, this.purifyRef, purifyKey(cell, e), purifyWork(e)));
        parts.push(this.makeup.get(cell.spec.profile) ?? { seconds: 0, measured: 0 });
      }
      if (!built.has(den)) {
        const d = this.stage(this.denoiser, this.denoiserRef, denoiserKey(cell, e), denoiserWork(e));
        parts.push(d.measured || d.seconds ? d : { seconds: denoiserFormula(cell.spec.profile, e), measured: 0 });
      }
      built.add(den);
      built.add(pur);
    }
    // measured stage by stage is best (it knows which stages are built); then the recipe's
    // whole cells (cells made before stage times were recorded); then the scaled stages
    const staged = { seconds: parts.reduce((a, p) => a + p.seconds, 0), measured: Math.min(...parts.map((p) => p.measured)) };
    return staged.measured > 0 ? staged : (whole ?? staged);
  }

  /** A stage's median for its own recipe; else the nearest measured recipe's, scaled by work. */
  private stage(m: Medians, refs: Map<string, number>, key: string, work: number): CellCost {
    const own = m.get(key);
    if (own) return own;
    let best: { seconds: number; ratio: number } | null = null;
    for (const [k, w] of refs) {
      const ratio = work / w;
      const far = Math.abs(Math.log(ratio));
      if (!best || far < Math.abs(Math.log(best.ratio))) best = { seconds: m.get(k)!.seconds * ratio, ratio };
    }
    return { seconds: best?.seconds ?? 0, measured: 0 };
  }
}

/** What is left, in hours, and how much of it is measured rather than estimated (`mark` flags the estimated cells where they are listed). */
export function costSummary(costs: readonly CellCost[], profile: string, mark = ''): string {
  const h = costs.reduce((a, c) => a + c.seconds, 0) / 3600;
  const guessed = costs.filter((c) => c.measured === 0).length;
  const how =
    guessed === 0 ? 'each cell at the median time of finished cells of its recipe or stages'
    : guessed === costs.length ? `estimated: classifier training at the ${profile} profile's rate, and a defence's stages scaled from measured ones where there are any`
    : `${costs.length - guessed} cells at the median time of finished cells of their recipe or stages, ${guessed}${mark} estimated (a stage of a recipe never run scaled from a measured one by its work; a defence's stages with no measured like come on top)`;
  return `about ${h.toFixed(1)} h left (${how})`;
}
