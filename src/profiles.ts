// Scale profiles: `smoke` for tests (seconds), `mini` for a 2-core CPU (minutes),
// `paper` for the paper's settings on a GPU. Every field can be overridden by a flag.

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

// ---------------------------------------------------------------------------
// ECLIPSE stages: sparse set, denoiser, purification.

/** The defender's sparse clean set D_s and its enlargement by replication. */
export interface SparseRecipe {
  /** B: images per class drawn from the sparse pool (balanced, seeded) */
  perClass: number;
  /** M: each image is repeated M times in D_A (plain copies, no augmentation) */
  replication: number;
}

/** U-Net sizes (improved-DDPM): every one is a flag. */
export interface UNetSizes {
  modelChannels: number;
  numResBlocks: number;
  attentionResolutions: number[];
  channelMult: number[];
  numHeads: number;
  dropout: number;
}

export interface DenoiserRecipe {
  /** diffusion steps T */
  steps: number;
  unet: UNetSizes;
  iterations: number;
  batchSize: number;
  lr: number;
  emaDecay: number;
  /** train only on t <= trainMaxT (0 = all T). Off in the paper; purification never uses larger t. */
  trainMaxT: number;
  checkpointEvery: number;
  previewEvery: number;
}

export interface PurifyRecipe {
  /** t*: the diffusion step purification noises to (of T) */
  tStar: number;
  /** reverse steps actually run (0 = the full chain t*-1..0, as the paper) */
  respacedSteps: number;
  batchSize: number;
  /** images per resumable shard */
  shardSize: number;
}

export interface EclipseProfile {
  sparse: SparseRecipe;
  denoiser: DenoiserRecipe;
  purify: PurifyRecipe;
  compensation: { p: number; sigma: number };
  /**
   * What the demo changes in the profile's classifier recipe (flags still win). mini trains at
   * batch 64: at batch 128 whether the network takes the AR shortcut at all depends on the seed
   * (docs/results.md, "Re-tuning mini").
   */
  demoClassifier: Partial<ClassifierRecipe>;
}

const ECLIPSE_PAPER: EclipseProfile = {
  // 2000 test images (4% of N = 50,000), M = 4; improved-DDPM CIFAR U-Net, 250K iterations.
  sparse: { perClass: 200, replication: 4 },
  denoiser: {
    steps: 4000,
    unet: { modelChannels: 128, numResBlocks: 3, attentionResolutions: [16, 8], channelMult: [1, 2, 2, 2], numHeads: 4, dropout: 0.3 },
    iterations: 250_000,
    batchSize: 128,
    lr: 1e-4,
    emaDecay: 0.9999,
    trainMaxT: 0,
    checkpointEvery: 5000,
    previewEvery: 10_000,
  },
  purify: { tStar: 100, respacedSteps: 0, batchSize: 256, shardSize: 5000 },
  compensation: { p: 0.4, sigma: 0.05 },
  demoClassifier: {},
};

const ECLIPSE_MINI: EclipseProfile = {
  // Sized for 2 CPU cores (docs/results.md has the measurements behind these numbers).
  sparse: { perClass: 20, replication: 4 },
  denoiser: {
    steps: 4000,
    unet: { modelChannels: 32, numResBlocks: 1, attentionResolutions: [8], channelMult: [1, 2, 2], numHeads: 1, dropout: 0.1 },
    iterations: 1000,
    batchSize: 32,
    lr: 1e-3,
    emaDecay: 0.995,
    trainMaxT: 100,
    checkpointEvery: 250,
    previewEvery: 500,
  },
  purify: { tStar: 100, respacedSteps: 10, batchSize: 100, shardSize: 1000 },
  compensation: { p: 0.4, sigma: 0.05 },
  demoClassifier: { batchSize: 64 },
};

const ECLIPSE_SMOKE: EclipseProfile = {
  sparse: { perClass: 2, replication: 2 },
  denoiser: {
    ...ECLIPSE_MINI.denoiser,
    unet: { modelChannels: 8, numResBlocks: 1, attentionResolutions: [8], channelMult: [1, 2], numHeads: 1, dropout: 0 },
    iterations: 4,
    batchSize: 4,
    checkpointEvery: 2,
    previewEvery: 2,
  },
  purify: { tStar: 100, respacedSteps: 2, batchSize: 16, shardSize: 32 },
  compensation: { p: 0.4, sigma: 0.05 },
  demoClassifier: {},
};

export function eclipseProfile(name: ProfileName): EclipseProfile {
  const p = { smoke: ECLIPSE_SMOKE, mini: ECLIPSE_MINI, paper: ECLIPSE_PAPER }[name];
  if (!p) throw new Error(`unknown profile "${name}": use one of ${PROFILES.join(', ')}`);
  return structuredClone(p);
}
