// Bad input to `eclipse analyze assimilation`: a bad profile, a misspelt subcommand, flag or
// attack, negative, out-of-range and non-numeric numbers, more images than the file holds,
// missing and wrong-type datasets. Each fails before the analysis runs, and nothing is written.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { saveDataset } from '../../src/data/store.js';
import { syntheticDataset } from '../helpers/tmp.js';
import type { BadInputRow } from './types.js';

const A = ['analyze', 'assimilation'];

export const rows: BadInputRow[] = [
  { name: 'a misspelt profile', args: [...A, '--profile', 'smok'], error: /--profile must be one of smoke, mini, paper .*did you mean smoke\?/, code: 2 },
  { name: 'a misspelt subcommand', args: ['analyze', 'assimilaton'], error: /unknown analyze command "assimilaton" \(did you mean assimilation\?\)/, code: 2 },
  { name: 'a misspelt flag', args: [...A, '--image', '10'], error: /unknown option --image \(did you mean --images\?\)/, code: 2 },
  { name: 'a negative image count', args: [...A, '--images', '-1'], error: /--images must be at least 2 \(got -1\)/, code: 2 },
  { name: 't* beyond the diffusion steps', args: [...A, '--t-star', '5000'], error: /--t-star must be in \[1, 4000\]/, code: 2 },
  { name: 'a step that is not a number', args: [...A, '--steps', '10,x'], error: /--steps must be comma-separated whole numbers, each at least 0 \(got "10,x"\)/, code: 2 },
  { name: 'a misspelt schedule', args: [...A, '--schedule', 'cosin'], error: /--schedule must be one of cosine, linear \(got "cosin"\) \(did you mean cosine\?\)/, code: 2 },
  { name: 'an attack it does not analyse', args: [...A, '--attacks', 'ar,em'], error: /--attacks: unknown attack "em"/, code: 2 },
  { name: 'no CIFAR-10 import and no --in', args: A, error: /train\.safetensors not found: run eclipse data import --profile mini first, or pass --in FILE/, code: 2 },
  { name: 'an input that does not exist', args: [...A, '--in', 'nope.safetensors'], error: /--in nope\.safetensors: no such file; give a dataset/, code: 2 },
  {
    name: 'a text file as the input',
    args: [...A, '--in', 'text.safetensors'],
    setup: ({ dir }) => writeFileSync(join(dir, 'text.safetensors'), 'not a dataset, just text\n'),
    error: /text\.safetensors: a text file, not a dataset/,
  },
  {
    name: 'more images than the file holds',
    args: [...A, '--in', 'small.safetensors', '--images', '20'],
    setup: ({ dir }) => saveDataset(syntheticDataset({ perClass: 4 }), join(dir, 'small.safetensors')),
    error: /--images 20: small\.safetensors holds only 12 images/,
    code: 2,
  },
];
