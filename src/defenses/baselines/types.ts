// What a baseline defence is to the rest of eclipse: given the (possibly poisoned) training set,
// it returns a plan for the classifier's training run. A plan changes the training set once
// (ISS's grayscale or JPEG copy, OP's projection, AVATAR's purification) and/or hooks into the
// trainer (a per-batch transform, a loss, an adversary, a gradient hook). The victim's recipe is
// never changed, so every defence is compared on the same classifier training.
import type { Device, RunContext } from '../../engine/index.js';
import type { ImageDataset } from '../../data/dataset.js';
import type { ClassifierRecipe, ProfileName } from '../../profiles.js';
import type { SettingValue } from '../../settings.js';
import type { Adversary, BatchTransform, GradientHook, Objective } from '../../training/trainer.js';

export interface DefenseContext extends RunContext {
  profile: ProfileName;
  seed: number;
  device: Device;
  /** the victim's recipe (read-only: defences do not change it) */
  recipe: ClassifierRecipe;
  /** a folder the defence owns for its cached work (a linear model, a denoiser, a transformed set) */
  workDir: string;
  /** the clean training set, for defences that assume one (AVATAR's denoiser) */
  cleanTrain?: ImageDataset;
  /** the defender's own clean images (ECLIPSE's sparse pool), disjoint from train and test */
  pool?: ImageDataset;
  /** what names the training set in cache keys (default: its content digest) */
  trainKey?: unknown;
  log: (message: string) => void;
}

export interface DefensePlan {
  /** the training set the classifier sees */
  train: ImageDataset;
  /** uint8 per-batch transform after crop/flip (before the compensation module when both run) */
  transform?: BatchTransform;
  objective?: Objective;
  adversary?: Adversary;
  gradientHook?: GradientHook;
  /** what names the planned training set in the classifier's cache key (ECLIPSE: the purification stage's key) */
  trainKey?: unknown;
  /** facts about the run recorded with its result (e.g. AVATAR's t*, OP's linear accuracy) */
  notes: Record<string, string>;
}

export interface Defense {
  /** its registry name (DefenseName in defenses/registry.ts) */
  readonly name: string;
  /** every setting's value, under its metadata name (recorded as defense_params) */
  readonly params: Readonly<Record<string, SettingValue>>;
  /** "mini" or "mini with overrides: ..." (recorded as defense_setting) */
  readonly setting: string;
  plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan>;
}
