// Bad input to `eclipse demo`: a bad profile, misspelt flags and attacks, negative, out-of-range
// and non-numeric numbers, a stray argument, a CIFAR-10 source that is missing or not CIFAR-10.
// Each fails before any stage runs, and leaves no run folder behind.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BadInputRow } from './types.js';

export const rows: BadInputRow[] = [
  { name: 'a misspelt profile', args: ['demo', '--profile', 'smok'], error: /--profile must be one of smoke, mini, paper .*did you mean smoke\?/, code: 2 },
  { name: 'a misspelt flag', args: ['demo', '--attak', 'ar'], error: /unknown option --attak \(did you mean --attack\?\)/, code: 2 },
  { name: 'a misspelt attack', args: ['demo', '--attack', 'arr'], error: /--attack must be one of urp, lsp, ar, .* \(did you mean ar\?\)/, code: 2 },
  { name: 'a negative seed in the list', args: ['demo', '--seeds', '0,-1'], error: /--seeds must be comma-separated whole numbers, each at least 0 \(got "0,-1"\)/, code: 2 },
  { name: 'seeds that are not numbers', args: ['demo', '--seeds', 'a,b'], error: /--seeds must be comma-separated whole numbers/, code: 2 },
  { name: 't* of 0', args: ['demo', '--t-star', '0'], error: /--t-star must be at least 1 \(got 0\)/, code: 2 },
  { name: 'a fractional width', args: ['demo', '--width', '2.5'], error: /--width must be a whole number \(got 2\.5\)/, code: 2 },
  { name: 'a stray argument', args: ['demo', 'ar'], error: /unexpected argument "ar": this command takes options only/, code: 2 },
  { name: 'a CIFAR-10 source that does not exist', args: ['demo', '--source', 'nope.tar.gz'], error: /CIFAR-10 data not found at nope\.tar\.gz/ },
  {
    name: 'a text file as the CIFAR-10 source',
    args: ['demo', '--source', 'cifar.tar.gz'],
    setup: ({ dir }) => writeFileSync(join(dir, 'cifar.tar.gz'), 'not an archive, just text\n'),
    error: /cifar\.tar\.gz: cannot read archive: .*re-download it/,
  },
];
