// What every model-based attack shares: its settings resolved from its table (profile values,
// overrides), the L_inf bound, the perturbation computed by prepare() and handed to poison()
// through generator(), and the provenance recorded in the poisoned file. SignedStepAttack adds the
// step size of the attacks whose signed step is a fraction of eps.
import { join } from 'node:path';

import type { ImageDataset } from '../../data/dataset.js';
import type { ProfileName } from '../../profiles.js';
import { BaseAttack, checkQuantization } from '../base.js';
import { resolveSettings, settingsParams, type SettingOverrides, type SettingSpec, type SettingTable, type Settings } from '../../settings.js';
import type { AttackParamValue, DatasetShape, PerturbationBound, PerturbationGenerator, PrepareContext, Quantization } from '../types.js';
import { datasetDigest } from '../../data/dataset.js';
import { minMinNoise, type Learner, type MinMinRecipe } from './minmin.js';

export interface ModelAttackOptions {
  /** L_inf radius in [0,1] units (default 8/255) */
  epsilon?: number;
  /** default 'round' (half up, as the releases' float-to-uint8 conversions) */
  quantization?: Quantization;
  /** the scale profile the settings come from (default 'paper': the published recipe) */
  profile?: ProfileName;
  /** overrides of the attack's settings table, by key */
  settings?: SettingOverrides;
  /** a trained classifier checkpoint used as the surrogate / reference model */
  surrogate?: string;
}

/** What the attack itself (not its caller) asks the base to enforce. */
export interface ModelAttackRules {
  /** Set by attacks that train their own model with the noise: why a surrogate file is refused. */
  noSurrogate?: string;
}

interface Prepared {
  digest: string;
  seed: number;
  delta: Float32Array;
  /** provenance of this run (surrogate, loops, ...) for the metadata */
  notes: Record<string, string>;
}

export abstract class ModelAttack<T extends SettingTable> extends BaseAttack {
  readonly bound: PerturbationBound;
  readonly quantization: Quantization;
  readonly profile: ProfileName;
  readonly settings: Settings<T>;
  /** "mini" or "mini with overrides: ..." */
  readonly setting: string;
  protected readonly surrogatePath: string | undefined;
  private prepared: Prepared | null = null;
  private readonly label: string;

  constructor(label: string, table: T, o: ModelAttackOptions, rules: ModelAttackRules = {}) {
    super();
    this.label = label;
    const eps = o.epsilon ?? 8 / 255;
    if (!(eps > 0 && eps <= 1)) throw new Error(`${label} attack: epsilon must be in (0, 1] ([0,1] pixel units, e.g. 8/255), got ${eps}`);
    this.profile = o.profile ?? 'paper';
    const r = resolveSettings(label, table, this.profile, o.settings);
    this.settings = r.values;
    this.setting = r.setting;
    this.bound = { norm: 'linf', epsilon: eps };
    this.quantization = o.quantization ?? 'round';
    checkQuantization(this.quantization, `${label} attack`);
    // After the settings and quantisation checks: a bad setting is reported before a refused file.
    if (rules.noSurrogate !== undefined && o.surrogate !== undefined) throw new Error(`${label} attack: ${rules.noSurrogate}; it takes no surrogate file`);
    this.surrogatePath = o.surrogate;
  }

  /** attack_params: epsilon, every setting (snake_case), the profile line, plus the attack's fixed facts. */
  protected paramsWith(fixed: Record<string, AttackParamValue>): Record<string, AttackParamValue> {
    return { epsilon: this.bound.epsilon, ...settingsParams(this.settings as Record<string, number | string>), ...fixed, setting: this.setting };
  }

  abstract prepare(ds: ImageDataset, seed: number, ctx: PrepareContext): Promise<void>;

  /** Called by prepare() with the finished perturbation ([n,3,H,W] float32, [0,1] units). */
  protected store(ds: ImageDataset, seed: number, delta: Float32Array, notes: Record<string, string> = {}): void {
    this.prepared = { digest: datasetDigest(ds), seed, delta, notes };
  }

  /** The min-min attacks' (EM, ADP) whole prepare(): run or resume the loop, store the noise and its history. */
  protected async minMin(ds: ImageDataset, seed: number, ctx: PrepareContext, learner: Learner, recipe: MinMinRecipe): Promise<void> {
    const res = await minMinNoise(ds, learner, recipe, {
      key: { attack: this.name, params: this.params }, seed, checkpoint: join(ctx.workDir, `${this.name}-state.safetensors`),
      device: ctx.device, label: this.name, quiet: ctx.quiet, signal: ctx.signal, log: ctx.log,
    });
    const last = res.history[res.history.length - 1];
    this.store(ds, seed, res.delta, { loops: String(res.history.length), converged: String(res.converged), final_noised_accuracy: String(last?.acc ?? 0) });
  }

  generator(ds: DatasetShape, seed: number): PerturbationGenerator {
    const p = this.prepared;
    if (p === null || p.seed !== seed || p.delta.length !== ds.n * 3 * ds.height * ds.width)
      throw new Error(`${this.label} attack: the perturbations of this dataset and seed are not computed yet (await prepare(ds, seed, ...) first)`);
    if ('images' in ds && p.digest !== datasetDigest(ds as ImageDataset)) throw new Error(`${this.label} attack: prepare() ran on a different dataset`);
    const per = 3 * ds.height * ds.width;
    const eps = this.bound.epsilon;
    return {
      perturbation(i: number, _label: number, out: Float64Array): void {
        const o = i * per;
        // float32 storage can put a value one ulp beyond eps (eps itself is not a float32): clip.
        for (let q = 0; q < per; q++) {
          const v = p.delta[o + q]!;
          out[q] = v > eps ? eps : v < -eps ? -eps : v;
        }
      },
    };
  }

  protected override extraMeta(): Record<string, string> {
    const notes = this.prepared?.notes ?? {};
    return { attack_setting: this.setting, ...(Object.keys(notes).length ? { attack_notes: JSON.stringify(notes) } : {}) };
  }
}

/** A settings table with a numeric stepFraction: the signed PGD step as a fraction of eps. */
export type StepSettingTable = SettingTable & { readonly stepFraction: SettingSpec & { readonly kind: 'int' | 'number' } };

/**
 * A model attack whose signed step is stepFraction x eps (EM, ADP, EFP, TAP, SEP): the step is derived once
 * here and recorded as step_size, so the attacks' params cannot drift apart.
 */
export abstract class SignedStepAttack<T extends StepSettingTable> extends ModelAttack<T> {
  /** the signed step ([0,1] units) */
  readonly stepSize: number;

  constructor(label: string, table: T, o: ModelAttackOptions, rules: ModelAttackRules = {}) {
    super(label, table, o, rules);
    // Settings<T> stays unresolved for a generic T; the constraint makes stepFraction a number.
    const s: Settings<StepSettingTable> = this.settings;
    this.stepSize = s.stepFraction * this.bound.epsilon;
  }

  /** As ModelAttack's, with step_size first among the fixed facts (the key order is part of the hashed params). */
  protected override paramsWith(fixed: Record<string, AttackParamValue>): Record<string, AttackParamValue> {
    return super.paramsWith({ step_size: this.stepSize, ...fixed });
  }
}
