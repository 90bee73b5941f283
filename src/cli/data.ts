// eclipse data import | info | export
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { classCounts, type ImageDataset } from '../data/dataset.js';
import { exportCifarBinary } from '../data/cifar.js';
import { ImageSizeError, exportPngFolder } from '../data/imagefolder.js';
import { NoLabelsError, checkBoundRange, importPoisons, type ArrayLayout, type PerturbationUnits, type PoisonKind } from '../attacks/imported.js';
import { SPARSE_POOL_PER_CLASS, prepareDataDir, preparedFiles } from '../data/prepare.js';
import { loadDataset, saveDataset } from '../data/store.js';
import { parseEpsilon, type PerturbationBound, type Quantization } from '../attacks/types.js';
import { classifierProfile } from '../profiles.js';
import { COMMON_HELP, UsageError, int, parse, profileOf, required, str, unknownCommand, type Flags } from './args.js';

// Each subcommand has its own help; \`eclipse data --help\` shows them all.
const IMPORT_USAGE = `  eclipse data import [--source PATH | --folder PATH] [--out DIR]
      Read CIFAR-10 (official binary release, .tar.gz or folder; default $ECLIPSE_CIFAR10 or
      ../shared/datasets/cifar-10-binary.tar.gz) or an image folder (root/train/<class>/*.png|jpg,
      root/test/<class>/...) and write DIR/train.safetensors, DIR/test.safetensors and
      DIR/sparse-pool.safetensors (test images reserved for the defender, never evaluated on).
      --train-per-class N   training images per class (profile: smoke 20, mini 500, paper all)
      --test-per-class N    evaluation images per class (smoke 10, mini 100, paper all but the pool)
      --sparse-per-class N  sparse-pool images per class (default 200)
      --out DIR             default data/cifar10-<profile>
      --resize N            image folder of any size: short side to N, centre crop N x N

  eclipse data import --poisons FILE | --perturbations FILE [options] [--out FILE]
      Poisons made elsewhere (APBench, the authors' releases): .npy, .npz, .safetensors or PyTorch
      .pt/.pth (torch.save: a tensor, or a dict of them) arrays of poisoned images (uint8 0..255 or float [0,1], NCHW or NHWC) or of perturbations ([-1,1]
      in [0,1] units or -255..255 pixel steps) added to the clean set, clamped and quantised like
      eclipse poison. Labels: an array labels/targets/y in the file, --labels FILE, or the clean set.
      --clean FILE          clean set (perturbations: default data/cifar10-<profile>/train.safetensors;
                            images: optional, gives labels and the measured perturbation)
      --labels FILE         labels .npy (or .npz/.safetensors with a labels array)
      --key NAME            array to read from an .npz/.safetensors/.pt holding several
      --layout nchw|nhwc    when the shape does not tell (both axes of size 3)
      --units unit|pixel    perturbation units (default: detected from dtype and range)
      --eps EPS [--norm linf|l2]  bound to check (e.g. 8/255; norm default linf)
      --quantization round|floor  8-bit rounding (default round)
      --out FILE            default data/cifar10-<profile>/imported-<name>.safetensors
      --overwrite           replace an existing --out file`;

const INFO_USAGE = `  eclipse data info FILE.safetensors [FILE ...]
      Images, size, classes and counts, provenance metadata.`;

const EXPORT_USAGE = `  eclipse data export FILE.safetensors --format png|cifar --out DIR [--overwrite]
      PNG folder (DIR/<class>/<index>.png) or CIFAR-10 binary files.`;

export const DATA_IMPORT_HELP = `eclipse data import: bring CIFAR-10, an image folder or poisons made elsewhere in

${IMPORT_USAGE}
${COMMON_HELP}`;

export const DATA_INFO_HELP = `eclipse data info: what a dataset file holds

${INFO_USAGE}
${COMMON_HELP}`;

export const DATA_EXPORT_HELP = `eclipse data export: a dataset file as PNG images or CIFAR-10 binary files

${EXPORT_USAGE}
${COMMON_HELP}`;

export const DATA_HELP = `eclipse data <import|info|export>   (eclipse data <subcommand> --help for one)

${IMPORT_USAGE}

${INFO_USAGE}

${EXPORT_USAGE}
${COMMON_HELP}`;

const SUB_HELP: Record<string, string> = { import: DATA_IMPORT_HELP, info: DATA_INFO_HELP, export: DATA_EXPORT_HELP };

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
  if (!(sub in SUB_HELP)) throw unknownCommand('data', sub, Object.keys(SUB_HELP));
  const { flags, positionals } = parse(rest, {
    source: { type: 'string' },
    folder: { type: 'string' },
    out: { type: 'string' },
    'train-per-class': { type: 'string' },
    'test-per-class': { type: 'string' },
    'sparse-per-class': { type: 'string' },
    format: { type: 'string' },
    overwrite: { type: 'boolean' },
    resize: { type: 'string' },
    poisons: { type: 'string' },
    perturbations: { type: 'string' },
    clean: { type: 'string' },
    labels: { type: 'string' },
    key: { type: 'string' },
    layout: { type: 'string' },
    units: { type: 'string' },
    eps: { type: 'string' },
    norm: { type: 'string' },
    quantization: { type: 'string' },
  });
  if (flags.help) {
    console.log(SUB_HELP[sub]);
    return;
  }
  if (sub === 'import' && (flags.poisons !== undefined || flags.perturbations !== undefined)) {
    await importPoisonsCommand(flags);
    return;
  }
  if (sub === 'import') {
    const profile = profileOf(flags);
    const recipe = classifierProfile(profile);
    const out = str(flags, 'out') ?? defaultDataDir(profile);
    const resize = int(flags, 'resize', 1);
    if (resize !== undefined && flags.folder === undefined) throw new UsageError('--resize applies to image folders (--folder); CIFAR-10 images are 32x32 already');
    const data = await prepareDataDir(
      out,
      {
        source: str(flags, 'source'),
        folder: str(flags, 'folder'),
        resize,
        trainPerClass: int(flags, 'train-per-class') ?? recipe.trainPerClass,
        testPerClass: int(flags, 'test-per-class') ?? recipe.testPerClass,
        sparsePoolPerClass: int(flags, 'sparse-per-class') ?? SPARSE_POOL_PER_CLASS,
        seed: int(flags, 'seed') ?? 0,
      },
      (m) => console.error(m),
    ).catch((e: unknown) => {
      if (e instanceof ImageSizeError) throw new Error(`${e.message}: pass --resize N to eclipse data import`, { cause: e });
      throw e;
    });
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
    // The format is checked before the dataset is read: a typo costs nothing.
    const format = choice(flags, 'format', ['png', 'cifar'] as const) ?? 'png';
    const ds = await loadDataset(file);
    if (format === 'png') await exportPngFolder(ds, out, { overwrite: Boolean(flags.overwrite) });
    else await exportCifarBinary(ds, out, { overwrite: Boolean(flags.overwrite), split: ds.meta.role === 'train' ? 'train' : 'test' });
    console.log(`wrote ${ds.n} images to ${out} (${format})`);
    return;
  }
  throw unknownCommand('data', sub, Object.keys(SUB_HELP));
}

function choice<T extends string>(flags: Flags, name: string, options: readonly T[]): T | undefined {
  const v = str(flags, name);
  if (v === undefined) return undefined;
  if (!(options as readonly string[]).includes(v)) throw new UsageError(`--${name} must be ${options.join(' or ')} (got "${v}")`);
  return v as T;
}

/** eclipse data import --poisons FILE | --perturbations FILE */
async function importPoisonsCommand(flags: Flags): Promise<void> {
  if (flags.poisons !== undefined && flags.perturbations !== undefined) throw new UsageError('give either --poisons (images) or --perturbations, not both');
  if (flags.source !== undefined || flags.folder !== undefined) throw new UsageError('--source/--folder import a clean release; poisons are added with --clean FILE');
  const kind: PoisonKind = flags.poisons !== undefined ? 'images' : 'perturbations';
  const file = str(flags, kind === 'images' ? 'poisons' : 'perturbations')!;
  const profile = profileOf(flags);
  const dir = defaultDataDir(profile);
  let cleanPath = str(flags, 'clean');
  if (cleanPath === undefined && kind === 'perturbations') {
    cleanPath = preparedFiles(dir).train;
    if (!existsSync(cleanPath)) {
      throw new UsageError(`perturbations are added to a clean set: pass --clean FILE.safetensors, or run eclipse data import --profile ${profile} first to make ${cleanPath}`);
    }
  }
  const epsText = str(flags, 'eps');
  const norm = choice(flags, 'norm', ['linf', 'l2'] as const);
  if (norm !== undefined && epsText === undefined) throw new UsageError('--norm needs --eps (the bound to check)');
  let bound: PerturbationBound | undefined;
  if (epsText !== undefined) {
    try {
      bound = { norm: norm ?? 'linf', epsilon: parseEpsilon(epsText) };
      // The image size is not known yet: L_inf's range is checked now, L2's by importPoisons.
      checkBoundRange(bound, null, `--eps ${epsText}`);
    } catch (e) {
      throw new UsageError((e as Error).message.replace(/^(?!--eps)/, '--eps: '));
    }
  }
  const out = str(flags, 'out') ?? join(dir, `imported-${basename(file).replace(/\.(npy|npz|safetensors|pt|pth)$/i, '')}.safetensors`);
  if (existsSync(out) && !flags.overwrite) throw new UsageError(`${out} already exists (pass --overwrite to replace it, or another --out)`);
  const imported = await importPoisons({
    file,
    kind,
    key: str(flags, 'key'),
    labelsFile: str(flags, 'labels'),
    clean: cleanPath !== undefined ? await loadDataset(cleanPath) : undefined,
    cleanPath,
    units: choice<PerturbationUnits>(flags, 'units', ['unit', 'pixel']),
    layout: choice<ArrayLayout>(flags, 'layout', ['nchw', 'nhwc']),
    bound,
    quantization: choice<Quantization>(flags, 'quantization', ['round', 'floor']),
  }).catch((e: unknown) => {
    if (e instanceof NoLabelsError) {
      throw new Error(`${e.file}: ${e.problem}; pass --labels FILE (one integer per image), or --clean FILE with the clean set the poisons were made from (same count and order)`, { cause: e });
    }
    throw e;
  });
  const { dataset, assumed } = imported;
  for (const a of assumed) console.error(`assumed: ${a}`);
  await mkdir(dirname(out), { recursive: true });
  await saveDataset(dataset, out, { hint: 'pass --out <file> in a writable directory' });
  console.log(summary(out, dataset));
}
