// Bad input to `eclipse data import | info | export`: files that are missing, empty, cut short or
// of another kind; arrays of the wrong shape, dtype or range; labels that disagree with the
// clean set; bounds out of their units; outputs that exist; and compressed files that inflate
// far past what they claim (bounded memory). None may write or change a file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { bytesOf, npyBytes, zeroBomb, zipBytes } from '../helpers/npy.js';
import type { BadInputRow, RowContext } from './types.js';

/** The clean set the rows import against: 6 images of 8x8, classes a b c (labels 0 1 2 0 1 2). */
export async function cleanSet(dir: string, name = 'clean.safetensors'): Promise<void> {
  const { saveDataset } = await import('../../src/data/store.js');
  const { syntheticDataset } = await import('../helpers/tmp.js');
  await saveDataset(syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 2, height: 8, width: 8, seed: 1 }), join(dir, name));
}

/** A uint8 .npy of the given shape (NHWC images of 9s, unless the shape says otherwise). */
export function u1(shape: number[]): Buffer {
  return npyBytes('|u1', shape, new Uint8Array(shape.reduce((a, b) => a * b, 1)).fill(9));
}

/** Labels as numpy's default int64. */
export const i8 = (labels: number[]): Buffer => npyBytes('<i8', [labels.length], bytesOf(BigInt64Array.from(labels.map(BigInt))));

/**
 * A zip bomb as the issue found it: `n` CIFAR-sized images of zeros whose header and zip
 * directory both say so (160,000 images: 490 MB inflated, about 480 KB on disk), with labels.
 */
export function bomb(n = 160_000): Buffer {
  const head = npyBytes('|u1', [n, 32, 32, 3]);
  const size = head.length + n * 3072;
  return zipBytes([{ name: 'x.npy', deflated: zeroBomb(head, size), size }, { name: 'y.npy', data: i8(new Array<number>(n).fill(0)), deflate: true }]);
}

/** A member whose header says 6 images of 8x8 but which inflates to 490 MB (the directory agrees with the header). */
export function lyingBomb(): Buffer {
  const head = u1([6, 8, 8, 3]);
  return zipBytes([{ name: 'x.npy', deflated: zeroBomb(head.subarray(0, 128), 490 * 2 ** 20), size: head.length }, { name: 'y.npy', data: i8([0, 1, 2, 0, 1, 2]) }]);
}

/** A small PNG (what a user might pass where a dataset or array is expected). */
export async function png(file: string): Promise<void> {
  const sharp = (await import('sharp')).default;
  writeFileSync(file, await sharp(Buffer.alloc(4 * 4 * 3, 128), { raw: { width: 4, height: 4, channels: 3 } }).png().toBuffer());
}

/** A dataset file whose images are float32 (a PyTorch ToTensor() batch saved as is). */
export async function floatDataset(file: string): Promise<void> {
  const { writeSafetensors } = await import('../../src/io/safetensors.js');
  await writeSafetensors(file, {
    images: { dtype: 'F32', shape: [2, 3, 4, 4], data: new Float32Array(96).fill(0.5) },
    labels: { dtype: 'I64', shape: [2], data: BigInt64Array.from([0n, 1n]) },
  }, { format: 'eclipse-dataset-v1', classes: '["a","b"]' });
}

/** A valid dataset file cut to half its length. */
export async function truncatedDataset(dir: string, name: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  await cleanSet(dir, name);
  const full = readFileSync(join(dir, name));
  writeFileSync(join(dir, name), full.subarray(0, full.length >> 1));
}

/** Setup: the clean set plus files. */
const withClean = (files: Record<string, Uint8Array | string>) => async ({ dir }: RowContext): Promise<void> => {
  await cleanSet(dir);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
};

const poisons = (file: string, ...more: string[]): string[] => ['data', 'import', '--poisons', file, '--clean', 'clean.safetensors', '--out', 'out.safetensors', ...more];
const perturbations = (file: string, ...more: string[]): string[] => ['data', 'import', '--perturbations', file, '--clean', 'clean.safetensors', '--out', 'out.safetensors', ...more];
const delta = (v: bigint): Buffer => npyBytes('<i8', [6, 8, 8, 3], bytesOf(new BigInt64Array(6 * 8 * 8 * 3).fill(v)));

export const rows: BadInputRow[] = [
  // ---- data import --poisons / --perturbations: the file ----
  { name: 'poisons file missing', args: poisons('poisons.npy'), setup: withClean({}), error: /poisons\.npy: cannot read \(no such file\)/ },
  { name: 'poisons file empty', args: poisons('poisons.npy'), setup: withClean({ 'poisons.npy': '' }), error: /poisons\.npy: the file is empty \(0 bytes\), not a \.npy array/ },
  {
    name: 'poisons .npy cut short',
    args: poisons('poisons.npy'),
    setup: withClean({ 'poisons.npy': u1([6, 8, 8, 3]).subarray(0, 500) }),
    error: /poisons\.npy: truncated: shape \(6, 8, 8, 3\) of \|u1 needs 1152 bytes of data, the file has 372/,
  },
  { name: 'poisons .npy that is a text file', args: poisons('poisons.npy'), setup: withClean({ 'poisons.npy': 'x,y\n1,2\n' }), error: /poisons\.npy: not a \.npy file \(missing the \\x93NUMPY magic\)/ },
  { name: 'poisons .npz that is not a zip', args: poisons('poisons.npz'), setup: withClean({ 'poisons.npz': 'PK but not a zip' }), error: /poisons\.npz: not a \.npz file \(no zip directory found\)/ },
  { name: 'poisons as a PNG', args: poisons('poisons.png'), setup: async (c) => { await cleanSet(c.dir); await png(join(c.dir, 'poisons.png')); }, error: /poisons\.png: unknown file type "\.png"; poisons are read from \.npy, \.npz, \.safetensors or PyTorch \.pt\/\.pth files/ },
  { name: 'poisons .safetensors that is a PNG', args: poisons('poisons.safetensors'), setup: async (c) => { await cleanSet(c.dir); await png(join(c.dir, 'poisons.safetensors')); }, error: /poisons\.safetensors: not a valid safetensors file/ },
  { name: 'poisons a folder', args: poisons('poisons.npy'), setup: async (c) => { await cleanSet(c.dir); mkdirSync(join(c.dir, 'poisons.npy')); }, error: /poisons\.npy: no APBench poison folder \(PNG files named by image index/ },

  // ---- the array against the clean set (issue 23 case 6, and 11: the count, not the labels) ----
  {
    name: '16x16 poisons for a 8x8 clean set (images half the size)',
    args: poisons('poisons.npy'),
    setup: withClean({ 'poisons.npy': u1([6, 4, 4, 3]) }),
    error: /poisons\.npy: shape \(6, 4, 4, 3\) does not match the clean set clean\.safetensors of shape \(6, 3, 8, 8\): poisoned images of 4x4 \(WxH\) for clean images of 8x8/,
  },
  {
    name: 'fewer poisoned images than clean ones (150 for 200), no labels in the file',
    args: poisons('poisons.npy'),
    setup: withClean({ 'poisons.npy': u1([5, 8, 8, 3]) }),
    error: /poisons\.npy: shape \(5, 8, 8, 3\) does not match the clean set .*: 5 poisoned images for 6 clean images; the poisoned images must match the clean images one to one/,
  },
  {
    name: 'grey poisons (1 channel) for a colour clean set',
    args: poisons('poisons.npy'),
    setup: withClean({ 'poisons.npy': u1([6, 8, 8, 1]) }),
    error: /shape \(6, 8, 8, 1\) has no axis of 3 colour channels; expected \(6, 3, 8, 8\) or \(6, 8, 8, 3\) like the clean set clean\.safetensors/,
  },
  {
    name: 'perturbations of another size',
    args: perturbations('delta.npy'),
    setup: withClean({ 'delta.npy': npyBytes('<i8', [6, 8, 7, 3], bytesOf(new BigInt64Array(6 * 8 * 7 * 3))) }),
    error: /delta\.npy: shape \(6, 8, 7, 3\) does not match the clean set .*: perturbations of 7x8 \(WxH\) for clean images of 8x8/,
  },
  { name: 'poisons of dtype bool', args: poisons('poisons.npy'), setup: withClean({ 'poisons.npy': npyBytes('|b1', [6, 8, 8, 3], new Uint8Array(1152)) }), error: /dtype \|b1 is not supported \(uint8, float32, float64, int32 and int64 are\)/ },
  { name: 'poisons of dtype float16', args: poisons('poisons.npy'), setup: withClean({ 'poisons.npy': npyBytes('<f2', [6, 8, 8, 3], new Uint8Array(2304)) }), error: /dtype <f2 is not supported.*a\.astype/ },
  {
    name: 'float poisons in 0..255 instead of [0,1]',
    args: poisons('poisons.npy'),
    setup: withClean({ 'poisons.npy': npyBytes('<f4', [6, 8, 8, 3], bytesOf(new Float32Array(1152).fill(200))) }),
    error: /float images must lie in \[0,1\] but range over \[200, 200\]; for 0\.\.255 values divide by 255 or save as uint8/,
  },
  {
    name: 'perturbations beyond -255..255',
    args: perturbations('delta.npy'),
    setup: withClean({ 'delta.npy': delta(400n) }),
    error: /delta\.npy: perturbations range over \[400, 400\], beyond both \[-1,1\]/,
  },

  // ---- labels ----
  {
    name: 'labels that disagree with the clean set (another order)',
    args: poisons('poisons.npz'),
    setup: withClean({ 'poisons.npz': zipBytes([{ name: 'x.npy', data: u1([6, 8, 8, 3]) }, { name: 'y.npy', data: i8([2, 1, 0, 2, 1, 0]) }]) }),
    error: /poisons\.npz:y: label 2 of image 0 differs from the clean set's 0 \(clean\.safetensors\); the poisoned images are for other images or another order/,
  },
  { name: 'a labels file of float labels', args: poisons('poisons.npy', '--labels', 'y.npy'), setup: withClean({ 'poisons.npy': u1([6, 8, 8, 3]), 'y.npy': npyBytes('<f4', [6], bytesOf(new Float32Array(6))) }), error: /y\.npy: labels are float32; save them as integers/ },
  { name: 'a labels file with one label too few', args: poisons('poisons.npy', '--labels', 'y.npy'), setup: withClean({ 'poisons.npy': u1([6, 8, 8, 3]), 'y.npy': i8([0, 1, 2, 0, 1]) }), error: /y\.npy: labels have shape \(5\), expected \(6,\), one per image/ },
  {
    name: 'a negative label',
    args: ['data', 'import', '--poisons', 'poisons.npy', '--labels', 'y.npy', '--out', 'out.safetensors'],
    setup: ({ dir }) => { writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3])); writeFileSync(join(dir, 'y.npy'), i8([0, -1, 2, 0, 1, 2])); },
    error: /y\.npy: label -1 of image 1 is negative or too large/,
  },
  {
    name: 'no labels and no clean set',
    args: ['data', 'import', '--poisons', 'poisons.npy', '--out', 'out.safetensors'],
    setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3])),
    error: /poisons\.npy: no labels: .*; pass --labels FILE .*, or --clean FILE/,
  },
  { name: 'perturbations without a clean set', args: ['data', 'import', '--perturbations', 'delta.npy', '--profile', 'smoke'], setup: ({ dir }) => writeFileSync(join(dir, 'delta.npy'), delta(1n)), error: /perturbations are added to a clean set: pass --clean FILE\.safetensors/ },

  // ---- the bound (issue 23 case 4) ----
  { name: '--eps 8 (meant 8/255)', args: perturbations('delta.npy', '--eps', '8'), setup: withClean({ 'delta.npy': delta(1n) }), error: /--eps 8: epsilon 8 is above 1, so the L_inf bound would accept any perturbation: epsilon is in \[0,1\] pixel units; did you mean 8\/255\?/ },
  { name: '--eps 0', args: perturbations('delta.npy', '--eps', '0'), setup: withClean({ 'delta.npy': delta(1n) }), error: /--eps must be positive \(got 0\)/ },
  { name: '--eps -0.1', args: perturbations('delta.npy', '--eps', '-0.1'), setup: withClean({ 'delta.npy': delta(1n) }), error: /--eps must be positive \(got -0\.1\)/ },
  { name: '--eps=-8/255', args: perturbations('delta.npy', '--eps=-8/255'), setup: withClean({ 'delta.npy': delta(1n) }), error: /--eps must be positive/ },
  { name: '--eps not a number', args: perturbations('delta.npy', '--eps', 'eight'), setup: withClean({ 'delta.npy': delta(1n) }), error: /--eps .*(number|fraction).*\(got "eight"\)/ },
  {
    name: '--norm l2 --eps 100 on 8x8 images (above sqrt(3*8*8) = 13.9)',
    args: perturbations('delta.npy', '--norm', 'l2', '--eps', '100'),
    setup: withClean({ 'delta.npy': delta(1n) }),
    error: /delta\.npy: bound: epsilon 100 is above 13\.85641, the L2 size of moving all 192 values of an image across the whole range.*did you mean 100\/255\?/,
  },
  { name: '--eps 1/255 exceeded', args: perturbations('delta.npy', '--eps', '1/255'), setup: withClean({ 'delta.npy': delta(3n) }), error: /exceeds the requested bound L_inf <= 1\/255/ },
  { name: '--norm l1', args: perturbations('delta.npy', '--eps', '8/255', '--norm', 'l1'), setup: withClean({ 'delta.npy': delta(1n) }), error: /--norm must be .*linf.*l2/ },
  { name: '--layout chw', args: poisons('poisons.npy', '--layout', 'chw'), setup: withClean({ 'poisons.npy': u1([6, 8, 8, 3]) }), error: /--layout must be .*nchw.*nhwc/ },

  // ---- the clean set itself ----
  { name: '--clean missing', args: poisons('poisons.npy'), setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3])), error: /clean\.safetensors: file not found/ },
  { name: '--clean a PNG', args: poisons('poisons.npy'), setup: async ({ dir }) => { await png(join(dir, 'clean.safetensors')); writeFileSync(join(dir, 'poisons.npy'), u1([6, 8, 8, 3])); }, error: /clean\.safetensors: a PNG image, not a dataset/ },
  { name: '--clean with float32 images', args: poisons('poisons.npy'), setup: async ({ dir }) => { await floatDataset(join(dir, 'clean.safetensors')); writeFileSync(join(dir, 'poisons.npy'), u1([2, 4, 4, 3])); }, error: /clean\.safetensors: not a valid eclipse dataset: tensor "images" is F32, expected U8/ },

  // ---- outputs ----
  { name: '--out exists', args: poisons('poisons.npy'), setup: withClean({ 'poisons.npy': u1([6, 8, 8, 3]), 'out.safetensors': 'an earlier import' }), error: /out\.safetensors already exists \(pass --overwrite to replace it, or another --out\)/ },

  // ---- compressed input: bounded memory (issue 23 case 10) ----
  {
    name: 'zip bomb: 480 KB npz of 160,000 images (490 MB inflated) against a 6-image clean set',
    args: poisons('poisons.npz'),
    setup: withClean({ 'poisons.npz': bomb() }),
    error: /poisons\.npz:x: shape \(160000, 32, 32, 3\) does not match the clean set clean\.safetensors of shape \(6, 3, 8, 8\): 160000 poisoned images for 6 clean images/,
    maxRssMb: 800,
  },
  {
    name: 'zip bomb: a member whose header says 6 images but which inflates to 490 MB',
    args: poisons('poisons.npz'),
    setup: withClean({ 'poisons.npz': lyingBomb() }),
    error: /poisons\.npz:x\.npy: inflates past the 1280 bytes its \.npy header implies \(shape \(6, 8, 8, 3\) of \|u1\); the archive is corrupt or a zip bomb/,
    maxRssMb: 800,
  },

  // ---- data import of a release ----
  { name: '--source missing', args: ['data', 'import', '--source', 'cifar.tar.gz', '--out', 'd'], error: /CIFAR-10 data not found at cifar\.tar\.gz \(pass the \.tar\.gz or the extracted folder\)/ },
  { name: '--train-per-class -5', args: ['data', 'import', '--train-per-class', '-5', '--out', 'd'], error: /--train-per-class must be at least 0 \(got -5\)/ },
  { name: '--resize 0', args: ['data', 'import', '--folder', 'imgs', '--resize', '0', '--out', 'd'], error: /--resize must be at least 1 \(got 0\)/ },

  // ---- data info ----
  { name: 'info: no file', args: ['data', 'info'], error: /eclipse data info needs a dataset file \(\.safetensors\)/ },
  { name: 'info: missing file', args: ['data', 'info', 'train.safetensors'], error: /train\.safetensors: file not found/ },
  { name: 'info: empty file', args: ['data', 'info', 'train.safetensors'], setup: ({ dir }) => writeFileSync(join(dir, 'train.safetensors'), ''), error: /train\.safetensors: the file is empty \(0 bytes\), not a dataset/ },
  { name: 'info: file cut short', args: ['data', 'info', 'train.safetensors'], setup: ({ dir }) => truncatedDataset(dir, 'train.safetensors'), error: /train\.safetensors: not a valid safetensors file: .*truncated\?/ },
  { name: 'info: a PNG', args: ['data', 'info', 'image.png'], setup: ({ dir }) => png(join(dir, 'image.png')), error: /image\.png: a PNG image, not a dataset; a dataset is a \.safetensors file of images and labels/ },
  { name: 'info: a text file', args: ['data', 'info', 'labels.csv'], setup: ({ dir }) => writeFileSync(join(dir, 'labels.csv'), 'file,label\na.png,0\n'), error: /labels\.csv: a text file, not a dataset/ },
  { name: 'info: an .npy of poisons', args: ['data', 'info', 'poisons.npy'], setup: ({ dir }) => writeFileSync(join(dir, 'poisons.npy'), u1([2, 4, 4, 3])), error: /poisons\.npy: a NumPy \.npy array \(poisons are imported, not read as a dataset\)/ },
  { name: 'info: a folder', args: ['data', 'info', 'images'], setup: ({ dir }) => mkdirSync(join(dir, 'images')), error: /images is a folder, not a dataset file/ },
  { name: 'info: float32 images', args: ['data', 'info', 'x.safetensors'], setup: ({ dir }) => floatDataset(join(dir, 'x.safetensors')), error: /x\.safetensors: not a valid eclipse dataset: tensor "images" is F32, expected U8 \(bytes 0\.\.255\)/ },
  { name: 'an unknown data subcommand', args: ['data', 'inf', 'x.safetensors'], error: /unknown data command "inf" \(did you mean info\?\)/ },

  // ---- data export ----
  { name: 'export: --format bmp', args: ['data', 'export', 'clean.safetensors', '--format', 'bmp', '--out', 'png'], setup: ({ dir }) => cleanSet(dir), error: /--format must be .*png.*cifar.*\(got "bmp"\)/ },
  { name: 'export: no --out', args: ['data', 'export', 'clean.safetensors'], setup: ({ dir }) => cleanSet(dir), error: /--out is required: the folder to write/ },
  { name: 'export: missing dataset', args: ['data', 'export', 'clean.safetensors', '--out', 'png'], error: /clean\.safetensors: file not found/ },
  { name: 'export: a PNG as the dataset', args: ['data', 'export', 'x.png', '--out', 'png'], setup: ({ dir }) => png(join(dir, 'x.png')), error: /x\.png: a PNG image, not a dataset/ },
  {
    name: 'export: --out exists',
    args: ['data', 'export', 'clean.safetensors', '--out', 'png'],
    setup: async ({ dir }) => { await cleanSet(dir); mkdirSync(join(dir, 'png', 'a'), { recursive: true }); writeFileSync(join(dir, 'png', 'a', '0.png'), 'older'); },
    error: /png.*already exists/,
  },
];
