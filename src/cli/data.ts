// eclipse data import | info | export
import { join } from 'node:path';

import { classCounts, type ImageDataset } from '../data/dataset.js';
import { exportCifarBinary } from '../data/cifar.js';
import { exportPngFolder } from '../data/imagefolder.js';
import { SPARSE_POOL_PER_CLASS, prepareDataDir, preparedFiles } from '../data/prepare.js';
import { loadDataset } from '../data/store.js';
import { classifierProfile } from '../profiles.js';
import { COMMON_HELP, UsageError, int, parse, profileOf, required, str } from './args.js';

export const DATA_HELP = `eclipse data <import|info|export>

  eclipse data import [--source PATH | --folder PATH] [--out DIR]
      Read CIFAR-10 (official binary release, .tar.gz or folder; default $ECLIPSE_CIFAR10 or
      ../shared/datasets/cifar-10-binary.tar.gz) or an image folder (root/train/<class>/*.png|jpg,
      root/test/<class>/...) and write DIR/train.safetensors, DIR/test.safetensors and
      DIR/sparse-pool.safetensors (test images reserved for the defender, never evaluated on).
      --train-per-class N   training images per class (profile: smoke 20, mini 500, paper all)
      --test-per-class N    evaluation images per class (smoke 10, mini 100, paper all but the pool)
      --sparse-per-class N  sparse-pool images per class (default 200)
      --out DIR             default data/cifar10-<profile>

  eclipse data info FILE.safetensors
      Images, size, classes and counts, provenance metadata.

  eclipse data export FILE.safetensors --format png|cifar --out DIR [--overwrite]
      PNG folder (DIR/<class>/<index>.png) or CIFAR-10 binary files.
${COMMON_HELP}`;

export const defaultDataDir = (profile: string): string => join('data', `cifar10-${profile}`);

function summary(path: string, ds: ImageDataset): string {
  const counts = classCounts(ds);
  const lines = [
    `${path}: ${ds.n} images ${ds.channels}x${ds.height}x${ds.width}, ${ds.classes.length} classes`,
    ...ds.classes.map((c, i) => `  ${String(i).padStart(2)} ${c.padEnd(12)} ${counts[i]}`),
  ];
  const meta = Object.entries(ds.meta);
  if (meta.length) lines.push('metadata:', ...meta.map(([k, v]) => `  ${k}: ${v}`));
  return lines.join('\n');
}

export async function dataCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    console.log(DATA_HELP);
    return;
  }
  const { flags, positionals } = parse(rest, {
    source: { type: 'string' },
    folder: { type: 'string' },
    out: { type: 'string' },
    'train-per-class': { type: 'string' },
    'test-per-class': { type: 'string' },
    'sparse-per-class': { type: 'string' },
    format: { type: 'string' },
    overwrite: { type: 'boolean' },
  });
  if (flags.help) {
    console.log(DATA_HELP);
    return;
  }
  if (sub === 'import') {
    const profile = profileOf(flags);
    const recipe = classifierProfile(profile);
    const out = str(flags, 'out') ?? defaultDataDir(profile);
    const data = await prepareDataDir(
      out,
      {
        source: str(flags, 'source'),
        folder: str(flags, 'folder'),
        trainPerClass: int(flags, 'train-per-class') ?? recipe.trainPerClass,
        testPerClass: int(flags, 'test-per-class') ?? recipe.testPerClass,
        sparsePoolPerClass: int(flags, 'sparse-per-class') ?? SPARSE_POOL_PER_CLASS,
        seed: int(flags, 'seed') ?? 0,
      },
      (m) => console.error(m),
    );
    const files = preparedFiles(out);
    console.log(summary(files.train, data.train));
    console.log(`${files.test}: ${data.test.n} evaluation images`);
    console.log(`${files.sparsePool}: ${data.sparsePool.n} images reserved for the sparse set`);
    return;
  }
  if (sub === 'info') {
    if (positionals.length === 0) throw new UsageError('eclipse data info needs a dataset file (.safetensors)');
    for (const p of positionals) console.log(summary(p, await loadDataset(p)));
    return;
  }
  if (sub === 'export') {
    const file = positionals[0];
    if (!file) throw new UsageError('eclipse data export needs a dataset file (.safetensors)');
    const out = required(flags, 'out', 'the folder to write');
    const format = str(flags, 'format') ?? 'png';
    const ds = await loadDataset(file);
    if (format === 'png') await exportPngFolder(ds, out, { overwrite: Boolean(flags.overwrite) });
    else if (format === 'cifar') await exportCifarBinary(ds, out, { overwrite: Boolean(flags.overwrite), split: ds.meta.role === 'train' ? 'train' : 'test' });
    else throw new UsageError(`--format must be png or cifar (got "${format}")`);
    console.log(`wrote ${ds.n} images to ${out} (${format})`);
    return;
  }
  throw new UsageError(`unknown data command "${sub}"\n\n${DATA_HELP}`);
}
