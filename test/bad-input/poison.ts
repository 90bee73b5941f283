// Bad input to `eclipse poison`: a bad profile, misspelt flags and attacks, a missing --attack,
// negative and non-numeric numbers, a setting out of range or of another attack (an epsilon for
// OPS, a blur parameter out of CUDA's range), a bad bound,
// missing and wrong-type inputs. Each fails before poisoning, and nothing is written.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BadInputRow } from './types.js';

export const rows: BadInputRow[] = [
  { name: 'a misspelt profile', args: ['poison', '--attack', 'ar', '--profile', 'smok'], error: /--profile must be one of smoke, mini, paper .*did you mean smoke\?/, code: 2 },
  { name: 'a misspelt flag', args: ['poison', '--atack', 'em'], error: /unknown option --atack \(did you mean --attack\?\)/, code: 2 },
  { name: 'no attack', args: ['poison', '--in', 'train.safetensors'], error: /--attack is required: urp, lsp, ar/, code: 2 },
  { name: 'a misspelt attack', args: ['poison', '--attack', 'emm'], error: /unknown attack "emm" \(did you mean em\?\)/, code: 2 },
  { name: 'a negative epsilon', args: ['poison', '--attack', 'urp', '--epsilon', '-8/255'], error: /--epsilon must be positive \(got -0\.03/, code: 2 },
  { name: 'an attack setting out of range', args: ['poison', '--attack', 'em', '--steps', '0'], error: /--steps must be >= 1, got 0/, code: 2 },
  { name: 'a patch size that is not a number', args: ['poison', '--attack', 'lsp', '--patch-size', 'big'], error: /--patch-size must be a whole number, at least 1 \(got "big"\)/, code: 2 },
  { name: "another attack's setting", args: ['poison', '--attack', 'urp', '--steps', '3'], error: /--steps does not apply to urp \(only to /, code: 2 },
  { name: 'a CUDA blur parameter above 1', args: ['poison', '--attack', 'cuda', '--blur-parameter', '2'], error: /--blur-parameter must be positive and at most 1 \(got 2\)/, code: 2 },
  { name: 'an epsilon for OPS, which sets a pixel', args: ['poison', '--attack', 'ops', '--epsilon', '8/255', '--in', 'nope.safetensors', '--out', 'p.safetensors'], error: /ops: has no epsilon/ },
  { name: 'a negative bound', args: ['poison', '--attack', 'urp', '--bound', 'linf:-1'], error: /--bound: cannot read epsilon "-1": expected a number such as/, code: 2 },
  { name: 'no CIFAR-10 import and no --in', args: ['poison', '--attack', 'urp'], error: /data\/cifar10-mini\/train\.safetensors not found: run eclipse data import --profile mini first, or pass --in FILE/, code: 2 },
  { name: 'an input that does not exist', args: ['poison', '--attack', 'urp', '--in', 'nope.safetensors', '--out', 'p.safetensors'], error: /nope\.safetensors: file not found/ },
  {
    name: 'a text file as the input',
    args: ['poison', '--attack', 'urp', '--in', 'text.safetensors', '--out', 'p.safetensors'],
    setup: ({ dir }) => writeFileSync(join(dir, 'text.safetensors'), 'not a dataset, just text\n'),
    error: /text\.safetensors: a text file, not a dataset/,
  },
];
