// Bad input to `eclipse denoiser train`: a bad profile, a misspelt subcommand or flag, negative,
// out-of-range and non-numeric settings, t* beyond T, missing and wrong-type datasets. Each
// fails before any training, and nothing is written.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BadInputRow } from './types.js';

export const rows: BadInputRow[] = [
  { name: 'a misspelt profile', args: ['denoiser', 'train', '--profile', 'smok'], error: /--profile must be one of smoke, mini, paper .*did you mean smoke\?/, code: 2 },
  { name: 'a misspelt subcommand', args: ['denoiser', 'trian'], error: /unknown denoiser command "trian" \(did you mean train\?\)/, code: 2 },
  { name: 'a misspelt flag', args: ['denoiser', 'train', '--iteration', '5'], error: /unknown option --iteration \(did you mean --iterations\?\)/, code: 2 },
  { name: 'negative iterations', args: ['denoiser', 'train', '--iterations', '-5'], error: /--iterations must be at least 1 \(got -5\)/, code: 2 },
  { name: 'dropout of 1', args: ['denoiser', 'train', '--dropout', '1'], error: /--dropout must be at least 0 and below 1 \(got 1\)/, code: 2 },
  { name: 't* beyond the diffusion steps', args: ['denoiser', 'train', '--t-star', '5000'], error: /--t-star must be in \[1, 4000\]/, code: 2 },
  { name: 'a learning rate that is not a number', args: ['denoiser', 'train', '--denoiser-lr', 'fast'], error: /--denoiser-lr must be a number, positive \(got "fast"\)/, code: 2 },
  { name: 'a channel multiplier of 0', args: ['denoiser', 'train', '--channel-mult', '1,0'], error: /--channel-mult must be comma-separated whole numbers, each at least 1/, code: 2 },
  { name: 'no CIFAR-10 import and no --pool', args: ['denoiser', 'train'], error: /sparse-pool\.safetensors not found: run eclipse data import --profile mini first, or pass --pool FILE/, code: 2 },
  { name: 'a pool that does not exist', args: ['denoiser', 'train', '--pool', 'nope.safetensors', '--train', 'nope.safetensors'], error: /nope\.safetensors: file not found/ },
  {
    name: 'a text file as the pool',
    args: ['denoiser', 'train', '--pool', 'text.safetensors', '--train', 'text.safetensors'],
    setup: ({ dir }) => writeFileSync(join(dir, 'text.safetensors'), 'not a dataset, just text\n'),
    error: /text\.safetensors: a text file, not a dataset/,
  },
];
