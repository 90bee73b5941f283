// Scale profiles: `smoke` for tests (seconds), `mini` for a 2-core CPU (minutes),
// `paper` for the paper's settings on a GPU. Every field can be overridden by a flag.
// This file holds the classifier's recipe; ECLIPSE's is in eclipse-settings.ts.

export type ProfileName = 'smoke' | 'mini' | 'paper';
export const PROFILES: readonly ProfileName[] = ['smoke', 'mini', 'paper'];

export type ScheduleName = 'constant' | 'cosine' | 'multistep';

/** Everything that decides how a classifier is trained (saved with each run). */
export interface ClassifierRecipe {
  model: string;
  width: number;
  /** training images per class (balanced, seeded); 0 = all */
  trainPerClass: number;
  /** evaluation images per class (balanced, seeded); 0 = all */
  testPerClass: number;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  milestones: number[];
  gamma: number;
  crop: boolean;
  flip: boolean;
  evalEvery: number;
}

const PAPER: ClassifierRecipe = {
  // The paper's victim recipe: SGD 0.1, momentum 0.9, batch 128, constant lr, 80 epochs.
  model: 'resnet18',
  width: 64,
  trainPerClass: 0,
  testPerClass: 0,
  epochs: 80,
  batchSize: 128,
  lr: 0.1,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 0,
  schedule: 'constant',
  milestones: [],
  gamma: 0.1,
  crop: true,
  flip: true,
  evalEvery: 5,
};

const MINI: ClassifierRecipe = {
  ...PAPER,
  // Fits minutes on 2 CPU cores: narrow ResNet-18, 500 images per class, cosine lr.
  width: 16,
  trainPerClass: 500,
  testPerClass: 100,
  epochs: 30,
  weightDecay: 5e-4,
  schedule: 'cosine',
  evalEvery: 5,
};

const SMOKE: ClassifierRecipe = {
  ...MINI,
  width: 8,
  trainPerClass: 20,
  testPerClass: 10,
  epochs: 2,
  batchSize: 32,
  evalEvery: 1,
};

export function classifierProfile(name: ProfileName): ClassifierRecipe {
  const p = { smoke: SMOKE, mini: MINI, paper: PAPER }[name];
  if (!p) throw new Error(`unknown profile "${name}": use one of ${PROFILES.join(', ')}`);
  return structuredClone(p);
}

// ECLIPSE's own settings and their profile values are in src/eclipse-settings.ts (one table);
// each stage declares its recipe type (diffusion/train.ts, defenses/purify.ts, defenses/sparse.ts).
