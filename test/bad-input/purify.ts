// Bad input to `eclipse purify`: a bad profile, a misspelt flag, a missing input, negative,
// out-of-range and non-numeric settings, missing and wrong-type datasets and checkpoints. Each
// fails before purifying, and nothing is written (no output, no shard).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { saveDataset } from '../../src/data/store.js';
import { syntheticDataset } from '../helpers/tmp.js';
import type { BadInputRow, RowContext } from './types.js';

const text = (dir: string, name: string): void => writeFileSync(join(dir, name), 'not a tensor file, just text\n');
const dataset = ({ dir }: RowContext): Promise<void> => saveDataset(syntheticDataset({ perClass: 2 }), join(dir, 'in.safetensors'));
const io = ['--in', 'in.safetensors', '--out', 'out.safetensors', '--checkpoint', 'denoiser.safetensors'];

export const rows: BadInputRow[] = [
  { name: 'a misspelt profile', args: ['purify', ...io, '--profile', 'smok'], error: /--profile must be one of smoke, mini, paper .*did you mean smoke\?/, code: 2 },
  { name: 'a misspelt flag', args: ['purify', ...io, '--tstar', '50'], error: /unknown option --tstar \(did you mean --t-star\?\)/, code: 2 },
  { name: 'no input', args: ['purify', '--out', 'out.safetensors', '--checkpoint', 'denoiser.safetensors'], error: /--in is required: the dataset to purify/, code: 2 },
  { name: 'a negative t*', args: ['purify', ...io, '--t-star', '-5'], error: /--t-star must be at least 1 \(got -5\)/, code: 2 },
  { name: 't* beyond the diffusion steps', args: ['purify', ...io, '--t-star', '5000'], error: /--t-star must be in \[1, 4000\]/, code: 2 },
  { name: 'a shard size that is not a number', args: ['purify', ...io, '--shard-size', 'many'], error: /--shard-size must be a whole number, at least 1 \(got "many"\)/, code: 2 },
  { name: 'a batch of 0', args: ['purify', ...io, '--purify-batch-size', '0'], error: /--purify-batch-size must be at least 1 \(got 0\)/, code: 2 },
  { name: 'an input that does not exist', args: ['purify', '--in', 'nope.safetensors', '--out', 'out.safetensors', '--checkpoint', 'denoiser.safetensors'], error: /nope\.safetensors: file not found/ },
  { name: 'a text file as the input', args: ['purify', '--in', 'text.safetensors', '--out', 'out.safetensors', '--checkpoint', 'denoiser.safetensors'], setup: ({ dir }) => text(dir, 'text.safetensors'), error: /text\.safetensors: a text file, not a dataset/ },
  { name: 'a checkpoint that does not exist', args: ['purify', ...io], setup: dataset, error: /denoiser checkpoint denoiser\.safetensors not found: train one with eclipse denoiser train/ },
  {
    name: 'a text file as the checkpoint',
    args: ['purify', ...io],
    setup: async (ctx) => {
      await dataset(ctx);
      text(ctx.dir, 'denoiser.safetensors');
    },
    error: /denoiser\.safetensors is not a denoiser checkpoint \(not a valid safetensors file.*\): give the denoiser\.safetensors that eclipse denoiser train wrote/,
  },
  {
    name: 'a dataset as the checkpoint',
    args: ['purify', '--in', 'in.safetensors', '--out', 'out.safetensors', '--checkpoint', 'in.safetensors'],
    setup: dataset,
    error: /in\.safetensors is not a denoiser checkpoint \(kind "none"\): give the denoiser\.safetensors that eclipse denoiser train wrote/,
  },
];
