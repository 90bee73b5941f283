// Bad input to `eclipse scan`: data that is missing, empty, cut short or of another kind; .npy/.npz
// images without labels (the fix is scan's own --labels, not a clean set scan does not take), of
// the wrong dtype or range; a compressed file that inflates past its header (bounded memory);
// an output folder that is a file. None may write or change a file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { npyBytes, zipBytes } from '../helpers/npy.js';
import { cleanSet, floatDataset, i8, lyingBomb, png, truncatedDataset, u1 } from './data.js';
import type { BadInputRow } from './types.js';

export const rows: BadInputRow[] = [
  { name: 'no data given', args: ['scan'], error: /give the dataset to scan: eclipse scan DATA/ },
  { name: 'data missing', args: ['scan', 'train.safetensors'], error: /train\.safetensors does not exist: give a dataset \(\.safetensors\), an image folder or \.tar\.gz, or \.npy\/\.npz images/ },
  { name: 'data an empty file', args: ['scan', 'train.safetensors'], setup: ({ dir }) => writeFileSync(join(dir, 'train.safetensors'), ''), error: /train\.safetensors: the file is empty \(0 bytes\), not a dataset/ },
  { name: 'data cut short', args: ['scan', 'train.safetensors'], setup: ({ dir }) => truncatedDataset(dir, 'train.safetensors'), error: /train\.safetensors: not a valid safetensors file: .*truncated\?/ },
  { name: 'data a PNG', args: ['scan', 'image.png'], setup: ({ dir }) => png(join(dir, 'image.png')), error: /image\.png: a PNG image, not a dataset; a dataset is a \.safetensors file/ },
  { name: 'data a text file', args: ['scan', 'notes.txt'], setup: ({ dir }) => writeFileSync(join(dir, 'notes.txt'), 'these are my notes\n'), error: /notes\.txt: a text file, not a dataset/ },
  { name: 'data with float32 images', args: ['scan', 'x.safetensors'], setup: ({ dir }) => floatDataset(join(dir, 'x.safetensors')), error: /x\.safetensors: not a valid eclipse dataset: tensor "images" is F32, expected U8/ },
  { name: 'an empty image folder', args: ['scan', 'images'], setup: ({ dir }) => mkdirSync(join(dir, 'images')), error: /images: no class folders found \(expected <root>\/<class>\/\*\.png\|jpg\)/ },

  // .npy / .npz images (issue 23 case 11: the fix named is scan's own option)
  {
    name: '.npy images without labels',
    args: ['scan', 'poisons.npy'],
    setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3])),
    error: /^(?!.*clean).*poisons\.npy: no labels: the file has no labels\/.* array; pass --labels FILE \(a \.npy of one integer label per image\)$/,
  },
  { name: '--labels with one label too few', args: ['scan', 'poisons.npy', '--labels', 'y.npy'], setup: ({ dir }) => { writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3])); writeFileSync(join(dir, 'y.npy'), i8([0, 1, 2, 0, 1])); }, error: /y\.npy: labels have shape \(5\), expected \(6,\), one per image/ },
  { name: '--labels with a negative label', args: ['scan', 'poisons.npy', '--labels', 'y.npy'], setup: ({ dir }) => { writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3])); writeFileSync(join(dir, 'y.npy'), i8([0, 1, -2, 0, 1, 2])); }, error: /y\.npy: label -2 of image 2 is negative or too large/ },
  { name: '--labels missing', args: ['scan', 'poisons.npy', '--labels', 'y.npy'], setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3])), error: /y\.npy: cannot read \(no such file\)/ },
  { name: '.npy of dtype bool', args: ['scan', 'poisons.npy'], setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npy'), npyBytes('|b1', [6, 8, 8, 3], new Uint8Array(1152))), error: /poisons\.npy: dtype \|b1 is not supported/ },
  { name: '.npy of grey images', args: ['scan', 'poisons.npy'], setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8])), error: /poisons\.npy: shape \(6, 8, 8\) is not 4-D; expected \(N, 3, H, W\) or \(N, H, W, 3\)/ },
  {
    name: '.npz of float images in 0..255',
    args: ['scan', 'poisons.npz'],
    setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npz'), zipBytes([{ name: 'x.npy', data: npyBytes('<f4', [6, 8, 8, 3], new Uint8Array(new Float32Array(1152).fill(255).buffer)) }, { name: 'y.npy', data: i8([0, 1, 2, 0, 1, 2]) }])),
    error: /poisons\.npz:x: float images must lie in \[0,1\] but range over \[255, 255\]; for 0\.\.255 values divide by 255/,
  },
  { name: '.npy cut short', args: ['scan', 'poisons.npy'], setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3]).subarray(0, 1000)), error: /poisons\.npy: truncated: shape \(6, 8, 8, 3\) of \|u1 needs 1152 bytes of data, the file has 872/ },
  { name: '.npz that is a text file', args: ['scan', 'poisons.npz'], setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npz'), 'not a zip\n'), error: /poisons\.npz: not a \.npz file/ },
  {
    name: 'zip bomb: an .npz member whose header says 6 images but which inflates to 490 MB',
    args: ['scan', 'poisons.npz'],
    setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npz'), lyingBomb()),
    error: /poisons\.npz:x\.npy: inflates past the 1280 bytes its \.npy header implies .*zip bomb/,
    maxRssMb: 800,
  },

  // flags and outputs
  { name: '--resize 0', args: ['scan', 'images', '--resize', '0'], setup: ({ dir }) => mkdirSync(join(dir, 'images')), error: /--resize must be at least 1 \(got 0\)/ },
  { name: '--pool missing', args: ['scan', 'clean.safetensors', '--pool', 'pool.safetensors', '--out', 'scan'], setup: ({ dir }) => cleanSet(dir), error: /pool\.safetensors does not exist/ },
  { name: '--out an existing file', args: ['scan', 'clean.safetensors', '--out', 'scan.txt'], setup: async ({ dir }) => { await cleanSet(dir); writeFileSync(join(dir, 'scan.txt'), 'mine'); }, error: /the scan's output folder scan\.txt is a file: give another --out/ },
];
