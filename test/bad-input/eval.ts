// Bad input to `eclipse eval`: a checkpoint that is missing, empty, cut short, of another kind (a
// PNG, a dataset, the denoiser's, an attack's surrogate) or of other classes than the test set;
// a test set that is missing or of float images. None may write or change a file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { cleanSet, floatDataset, png } from './data.js';
import type { BadInputRow } from './types.js';

/** A classifier checkpoint as eclipse train writes it (tiny: ResNet-18 of width 2, `classes` outputs). */
async function classifierCheckpoint(file: string, classes: number): Promise<void> {
  const { createClassifier } = await import('../../src/nn/models/index.js');
  const { saveCheckpoint } = await import('../../src/nn/checkpoint.js');
  const model = createClassifier('resnet18', { width: 2, numClasses: classes });
  await saveCheckpoint(file, { model, metadata: { run_key: 'x', epoch: '1', model: 'resnet18', width: '2', seed: '0' } });
  model.dispose();
}

/** A denoiser checkpoint as eclipse denoiser train writes it (a tiny U-Net, kind=denoiser). */
async function denoiserCheckpoint(file: string): Promise<void> {
  const { UNet } = await import('../../src/diffusion/unet.js');
  const { saveCheckpoint } = await import('../../src/nn/checkpoint.js');
  const unet = new UNet({ imageSize: 8, modelChannels: 8, numResBlocks: 1, channelMult: [1, 2], attentionResolutions: [], numHeads: 1, normGroups: 4 });
  await saveCheckpoint(file, { model: unet, metadata: { kind: 'denoiser', run_key: 'x', iteration: '1', steps: '100' } });
  unet.dispose();
}

/** An attack's surrogate state (eclipse poison --attack em): an eclipse checkpoint that names no model. */
async function surrogateCheckpoint(file: string): Promise<void> {
  const { createClassifier } = await import('../../src/nn/models/index.js');
  const { saveCheckpoint } = await import('../../src/nn/checkpoint.js');
  const model = createClassifier('resnet18', { width: 2, numClasses: 3 });
  await saveCheckpoint(file, { model, metadata: { run_key: 'x', loops_done: 1 } });
  model.dispose();
}

const evalArgs = (ckpt: string, test = 'test.safetensors'): string[] => ['eval', '--checkpoint', ckpt, '--test', test];
const TAKES = /eval takes a classifier checkpoint written by eclipse train/;

export const rows: BadInputRow[] = [
  { name: 'no --checkpoint', args: ['eval', '--test', 'test.safetensors'], error: /--checkpoint is required: a checkpoint\.safetensors written by eclipse train/ },
  { name: 'checkpoint missing', args: evalArgs('checkpoint.safetensors'), setup: ({ dir }) => cleanSet(dir, 'test.safetensors'), error: /checkpoint\.safetensors: file not found; eval takes a classifier checkpoint/ },
  { name: 'checkpoint an empty file', args: evalArgs('checkpoint.safetensors'), setup: async ({ dir }) => { await cleanSet(dir, 'test.safetensors'); writeFileSync(join(dir, 'checkpoint.safetensors'), ''); }, error: /checkpoint\.safetensors: not a valid safetensors file: file is 0 bytes.*; eval takes a classifier checkpoint/ },
  {
    name: 'checkpoint cut short',
    args: evalArgs('checkpoint.safetensors'),
    setup: async ({ dir }) => {
      await cleanSet(dir, 'test.safetensors');
      await classifierCheckpoint(join(dir, 'checkpoint.safetensors'), 3);
      const b = readFileSync(join(dir, 'checkpoint.safetensors'));
      writeFileSync(join(dir, 'checkpoint.safetensors'), b.subarray(0, b.length >> 1));
    },
    error: /checkpoint\.safetensors: not a valid safetensors file: .*truncated\?\).*eval takes a classifier checkpoint/,
  },
  { name: 'checkpoint a PNG', args: evalArgs('model.png'), setup: async ({ dir }) => { await cleanSet(dir, 'test.safetensors'); await png(join(dir, 'model.png')); }, error: /model\.png: a PNG image, not a checkpoint; eval takes a classifier checkpoint written by eclipse train/ },
  { name: 'checkpoint a dataset', args: evalArgs('test.safetensors'), setup: ({ dir }) => cleanSet(dir, 'test.safetensors'), error: /test\.safetensors is a dataset, not a checkpoint: eval takes a classifier checkpoint written by eclipse train \(--checkpoint\), and the images to test go to --test/ },
  {
    name: 'checkpoint of the denoiser (issue 23 case 11)',
    args: evalArgs('denoiser.safetensors'),
    setup: async ({ dir }) => { await cleanSet(dir, 'test.safetensors'); await denoiserCheckpoint(join(dir, 'denoiser.safetensors')); },
    error: /^eclipse eval: error: denoiser\.safetensors: this is a denoiser checkpoint \(kind=denoiser\): eval takes a classifier checkpoint written by eclipse train$/,
  },
  { name: "checkpoint of an attack's surrogate", args: evalArgs('surrogate.safetensors'), setup: async ({ dir }) => { await cleanSet(dir, 'test.safetensors'); await surrogateCheckpoint(join(dir, 'surrogate.safetensors')); }, error: TAKES },
  {
    name: 'a 10-class classifier on a 3-class test set',
    args: evalArgs('checkpoint.safetensors'),
    setup: async ({ dir }) => { await cleanSet(dir, 'test.safetensors'); await classifierCheckpoint(join(dir, 'checkpoint.safetensors'), 10); },
    error: /checkpoint\.safetensors: the classifier tells 10 classes apart but the test set test\.safetensors has 3 \(a, b, c\); test it on images of the classes it was trained on/,
  },
  { name: 'test set missing', args: evalArgs('checkpoint.safetensors'), setup: ({ dir }) => classifierCheckpoint(join(dir, 'checkpoint.safetensors'), 3), error: /test\.safetensors: file not found/ },
  { name: 'test set of float32 images', args: evalArgs('checkpoint.safetensors'), setup: async ({ dir }) => { await classifierCheckpoint(join(dir, 'checkpoint.safetensors'), 2); await floatDataset(join(dir, 'test.safetensors')); }, error: /test\.safetensors: not a valid eclipse dataset: tensor "images" is F32, expected U8/ },
  { name: 'test set a PNG', args: evalArgs('checkpoint.safetensors', 'test.png'), setup: async ({ dir }) => { await classifierCheckpoint(join(dir, 'checkpoint.safetensors'), 3); await png(join(dir, 'test.png')); }, error: /test\.png: a PNG image, not a dataset/ },
  { name: '--threads 0', args: [...evalArgs('checkpoint.safetensors'), '--threads', '0'], error: /--threads must be at least 1 \(got 0\)/ },
];
