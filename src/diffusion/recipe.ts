// The denoiser's training recipe (its values per profile are in src/eclipse-settings.ts).

/** U-Net sizes (improved-DDPM). */
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
