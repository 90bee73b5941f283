// ECLIPSE's own flags (the sparse set, the denoiser, purification, compensation) and the small
// helpers the ECLIPSE commands (poison, denoiser train, purify, defend, demo) share.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { eclipseProfile, type EclipseProfile, type ProfileName } from '../profiles.js';
import { UsageError, int, num, numList, str, type Flags } from './args.js';
import { defaultDataDir } from './data.js';

export const log = (quiet: boolean) => (m: string): void => {
  if (!quiet) console.error(m);
};

/** A dataset flag's file: the one given, else the profile's CIFAR-10 import, which must be there. */
export function dataFile(f: Flags, flag: string, profile: ProfileName, name: string): string {
  const given = str(f, flag);
  if (given !== undefined) return given;
  const file = join(defaultDataDir(profile), name);
  if (!existsSync(file)) throw new UsageError(`${file} not found: run eclipse data import --profile ${profile} first, or pass --${flag} FILE`);
  return file;
}

export const ECLIPSE_FLAGS = {
  'sparse-per-class': { type: 'string' },
  replication: { type: 'string' },
  'diffusion-steps': { type: 'string' },
  channels: { type: 'string' },
  'res-blocks': { type: 'string' },
  'attention-resolutions': { type: 'string' },
  'channel-mult': { type: 'string' },
  heads: { type: 'string' },
  dropout: { type: 'string' },
  iterations: { type: 'string' },
  'denoiser-batch-size': { type: 'string' },
  'denoiser-lr': { type: 'string' },
  'ema-decay': { type: 'string' },
  'train-max-t': { type: 'string' },
  't-star': { type: 'string' },
  'respaced-steps': { type: 'string' },
  'purify-batch-size': { type: 'string' },
  p: { type: 'string' },
  sigma: { type: 'string' },
  force: { type: 'boolean' },
} as const;

export const ECLIPSE_HELP = `ECLIPSE settings (profile paper: B = 2000, M = 4, U-Net 128ch x3, T = 4000, 250K iterations, t* = 100 full chain):
  --sparse-per-class N  --replication M
  --diffusion-steps T  --channels N  --res-blocks N  --attention-resolutions 16,8  --channel-mult 1,2,2,2
  --heads N  --dropout X  --iterations N  --denoiser-batch-size N  --denoiser-lr X  --ema-decay X
  --train-max-t B       train the denoiser only on t <= B (speed option; 0 = off, as the paper)
  --t-star N            purification step t* (of T)
  --respaced-steps K    run K evenly spaced reverse steps instead of all t* (speed option; 0 = off)
  --purify-batch-size N  --p X (grayscale)  --sigma X (noise)
  --force               use a sparse set even if it overlaps the training set`;

export function eclipseFrom(f: Flags, profile: ProfileName): EclipseProfile {
  const e = eclipseProfile(profile);
  e.sparse.perClass = int(f, 'sparse-per-class') ?? e.sparse.perClass;
  e.sparse.replication = int(f, 'replication') ?? e.sparse.replication;
  const d = e.denoiser;
  d.steps = int(f, 'diffusion-steps') ?? d.steps;
  d.unet.modelChannels = int(f, 'channels') ?? d.unet.modelChannels;
  d.unet.numResBlocks = int(f, 'res-blocks') ?? d.unet.numResBlocks;
  d.unet.attentionResolutions = numList(f, 'attention-resolutions') ?? d.unet.attentionResolutions;
  d.unet.channelMult = numList(f, 'channel-mult') ?? d.unet.channelMult;
  d.unet.numHeads = int(f, 'heads') ?? d.unet.numHeads;
  d.unet.dropout = num(f, 'dropout') ?? d.unet.dropout;
  d.iterations = int(f, 'iterations') ?? d.iterations;
  d.batchSize = int(f, 'denoiser-batch-size') ?? d.batchSize;
  d.lr = num(f, 'denoiser-lr') ?? d.lr;
  d.emaDecay = num(f, 'ema-decay') ?? d.emaDecay;
  d.trainMaxT = int(f, 'train-max-t') ?? d.trainMaxT;
  e.purify.tStar = int(f, 't-star') ?? e.purify.tStar;
  e.purify.respacedSteps = int(f, 'respaced-steps') ?? e.purify.respacedSteps;
  e.purify.batchSize = int(f, 'purify-batch-size') ?? e.purify.batchSize;
  e.compensation.p = num(f, 'p') ?? e.compensation.p;
  e.compensation.sigma = num(f, 'sigma') ?? e.compensation.sigma;
  if (e.purify.tStar > d.steps) throw new UsageError(`--t-star must be in [1, ${d.steps}] (the diffusion steps T), got ${e.purify.tStar}`);
  if (d.trainMaxT > 0 && e.purify.tStar > d.trainMaxT)
    throw new UsageError(`--t-star ${e.purify.tStar} is above --train-max-t ${d.trainMaxT}: the denoiser would never have seen those steps`);
  return e;
}
