// Bad input to `eclipse defend`: a bad profile, a misspelt flag or defence, no training set,
// negative, out-of-range and non-numeric settings, flags of the wrong defence, missing and
// wrong-type datasets. Each fails before any stage runs (the scan included): nothing is written.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BadInputRow } from './types.js';

const train = ['--train', 'train.safetensors'];

export const rows: BadInputRow[] = [
  { name: 'a misspelt profile', args: ['defend', ...train, '--profile', 'smok'], error: /--profile must be one of smoke, mini, paper .*did you mean smoke\?/, code: 2 },
  { name: 'a misspelt flag', args: ['defend', ...train, '--no-purfy'], error: /unknown option --no-purfy \(did you mean --no-purify\?\)/, code: 2 },
  { name: 'no training set', args: ['defend', '--scan'], error: /--train is required: the training set to defend/, code: 2 },
  { name: 'a negative classifier seed', args: ['defend', ...train, '--classifier-seed', '-1'], error: /--classifier-seed must be at least 0 \(got -1\)/, code: 2 },
  { name: 'a negative noise sigma', args: ['defend', ...train, '--sigma', '-0.1'], error: /--sigma must be between 0 and 1 \(got -0\.1\)/, code: 2 },
  // one range for sigma everywhere (ECLIPSE's settings table): the matrix refused above 1 already
  { name: 'a noise sigma above 1', args: ['defend', ...train, '--sigma', '2'], error: /--sigma must be between 0 and 1 \(got 2\)/, code: 2 },
  { name: 'an EMA decay above 1', args: ['defend', ...train, '--ema-decay', '2'], error: /--ema-decay must be between 0 and 1 \(got 2\)/, code: 2 },
  { name: 'epochs that are not a number', args: ['defend', ...train, '--epochs', 'ten'], error: /--epochs must be a whole number, at least 1 \(got "ten"\)/, code: 2 },
  { name: 'a misspelt baseline', args: ['defend', ...train, '--defense', 'iss-k'], error: /unknown defence "iss-k" \(did you mean iss-[gj]\?\)/, code: 2 },
  { name: 'an ECLIPSE ablation with a baseline, and --scan', args: ['defend', ...train, '--scan', '--defense', 'iss-j', '--no-purify'], error: /--no-purify is an ECLIPSE ablation/, code: 2 },
  { name: "a baseline's option with ECLIPSE", args: ['defend', ...train, '--compensation'], error: /--compensation applies to a baseline --defense/, code: 2 },
  { name: 'no CIFAR-10 import and no --test', args: ['defend', ...train, '--scan'], error: /test\.safetensors not found: run eclipse data import --profile mini first, or pass --test FILE/, code: 2 },
  {
    name: 'a training set that does not exist, and a text file as the test set',
    args: ['defend', '--train', 'nope.safetensors', '--test', 'text.safetensors', '--pool', 'text.safetensors'],
    setup: ({ dir }) => writeFileSync(join(dir, 'text.safetensors'), 'not a dataset, just text\n'),
    error: /nope\.safetensors: file not found/,
  },
  {
    name: 'a text file as the training set',
    args: ['defend', '--train', 'text.safetensors', '--test', 'text.safetensors', '--pool', 'text.safetensors'],
    setup: ({ dir }) => writeFileSync(join(dir, 'text.safetensors'), 'not a dataset, just text\n'),
    error: /text\.safetensors: a text file, not a dataset/,
  },
];
