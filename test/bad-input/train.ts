// Bad input to `eclipse train`: a bad profile, misspelt and unknown flags, negative, out-of-range
// and non-numeric numbers, one dataset without the other, missing and wrong-type files. Each
// fails before any training, and nothing is written in the row's folder.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BadInputRow, RowContext } from './types.js';

/** A text file where a dataset (.safetensors) is expected. */
const textFile = (name: string) => ({ dir }: RowContext): void => writeFileSync(join(dir, name), 'not a dataset, just text\n');

export const rows: BadInputRow[] = [
  { name: 'a misspelt profile', args: ['train', '--profile', 'smok'], error: /--profile must be one of smoke, mini, paper \(got "smok"\) \(did you mean smoke\?\)/, code: 2 },
  { name: 'a COIN severity past 7', args: ['train', '--defense', 'coin', '--coin-severity', '9'], error: /--coin-severity must be <= 7, got 9/, code: 2 },
  { name: 'a misspelt flag', args: ['train', '--epoch', '3'], error: /unknown option --epoch \(did you mean --epochs\?\)/, code: 2 },
  { name: 'a negative epoch count after a space', args: ['train', '--epochs', '-1'], error: /--epochs must be at least 1 \(got -1\)/, code: 2 },
  { name: 'a negative learning rate', args: ['train', '--lr=-0.1'], error: /--lr must be positive \(got -0\.1\)/, code: 2 },
  { name: 'a probability above 1', args: ['train', '--compensation', '--p', '1.5'], error: /--p must be between 0 and 1 \(got 1\.5\)/, code: 2 },
  { name: 'a batch size that is not a number', args: ['train', '--batch-size', 'lots'], error: /--batch-size must be a whole number, at least 1 \(got "lots"\)/, code: 2 },
  { name: 'a milestone at epoch 0', args: ['train', '--milestones', '10,0'], error: /--milestones must be comma-separated whole numbers, each at least 1/, code: 2 },
  { name: 'a misspelt model', args: ['train', '--model', 'resnet19'], error: /--model must be one of resnet18, .* \(did you mean resnet18\?\)/, code: 2 },
  { name: 'compensation settings without the module', args: ['train', '--sigma', '0.1'], error: /--sigma sets the compensation module: add --compensation/, code: 2 },
  { name: '--train without --test', args: ['train', '--train', 'a.safetensors'], error: /give both --train and --test/, code: 2 },
  { name: 'datasets that do not exist', args: ['train', '--train', 'nope.safetensors', '--test', 'nope.safetensors'], error: /nope\.safetensors: file not found/ },
  {
    name: 'a text file as the datasets',
    args: ['train', '--train', 'text.safetensors', '--test', 'text.safetensors'],
    setup: textFile('text.safetensors'),
    error: /text\.safetensors: a text file, not a dataset/,
  },
];
