// Turn a source release (CIFAR-10 binary or an image folder) into the experiment's three
// sets: training images, evaluation images, and the defender's sparse-set pool, which is
// disjoint from evaluation (unlike the authors' release, which evaluated on its sparse images).
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { loadCifar10Both, resolveCifar10Source } from './cifar.js';
import { balancedIndexSets, balancedSubset, classCounts, subset, type ImageDataset } from './dataset.js';
import { loadImageFolderSplits } from './imagefolder.js';
import { loadDataset, saveDataset } from './store.js';
import { atomicWriteFile } from '../io/atomic.js';

/** Test-split images per class reserved for sparse sets by default (the paper's B = 2,000). */
export const SPARSE_POOL_PER_CLASS = 200;

export interface PrepareOptions {
  /** CIFAR-10 binary (.tar.gz or folder); default: resolveCifar10Source() */
  source?: string;
  /** an image folder with train/ and test/ instead of CIFAR binary */
  folder?: string;
  /** image folder only: short side to this size, centre crop (see ImageFolderOptions.resize) */
  resize?: number;
  /** training images per class; 0 = all */
  trainPerClass: number;
  /** evaluation images per class from the test split; 0 = all not reserved for the sparse pool */
  testPerClass: number;
  /** test-split images per class reserved for the defender's sparse set (never evaluated on) */
  sparsePoolPerClass: number;
  seed: number;
}

export interface PreparedData {
  train: ImageDataset;
  test: ImageDataset;
  sparsePool: ImageDataset;
}

export interface PreparedFiles {
  train: string;
  test: string;
  sparsePool: string;
}

export const preparedFiles = (dir: string): PreparedFiles => ({
  train: join(dir, 'train.safetensors'),
  test: join(dir, 'test.safetensors'),
  sparsePool: join(dir, 'sparse-pool.safetensors'),
});

async function loadSource(o: PrepareOptions): Promise<{ train: ImageDataset; test: ImageDataset }> {
  if (o.folder) {
    if (!existsSync(o.folder)) throw new Error(`image folder ${o.folder} does not exist (expected <root>/train/<class>/*.png and <root>/test/<class>/*.png)`);
    return loadImageFolderSplits(o.folder, { resize: o.resize });
  }
  if (o.resize !== undefined) throw new Error('resizing applies to image folders only; CIFAR-10 images are 32x32 already');
  const source = resolveCifar10Source(o.source);
  if (!existsSync(source)) throw new Error(`CIFAR-10 source ${source} does not exist: pass --source or set ECLIPSE_CIFAR10`);
  return loadCifar10Both(source);
}

/** Split the test split into evaluation and sparse pool (disjoint, balanced, seeded). */
function splitTest(test: ImageDataset, o: PrepareOptions): { evalSet: ImageDataset; pool: ImageDataset } {
  const counts = classCounts(test);
  const smallest = Math.min(...counts);
  const evalPer = o.testPerClass > 0 ? o.testPerClass : smallest - o.sparsePoolPerClass;
  if (evalPer <= 0 || evalPer + o.sparsePoolPerClass > smallest)
    throw new Error(
      `the test split has ${smallest} images in its smallest class: cannot take ${o.testPerClass || 'the rest'} for evaluation plus ${o.sparsePoolPerClass} for the sparse pool per class`,
    );
  const [evalIdx, poolIdx] = balancedIndexSets(test, [evalPer, o.sparsePoolPerClass], o.seed + 1);
  return {
    evalSet: subset(test, evalIdx!, { role: 'evaluation', per_class: String(evalPer), seed: String(o.seed) }),
    pool: subset(test, poolIdx!, { role: 'sparse-pool', per_class: String(o.sparsePoolPerClass), seed: String(o.seed) }),
  };
}

export async function prepareData(o: PrepareOptions): Promise<PreparedData> {
  const src = await loadSource(o);
  const train = o.trainPerClass > 0 ? balancedSubset(src.train, o.trainPerClass, o.seed) : src.train;
  train.meta = { ...train.meta, role: 'train', per_class: String(o.trainPerClass || 'all'), seed: String(o.seed) };
  const { evalSet, pool } = splitTest(src.test, o);
  return { train, test: evalSet, sparsePool: pool };
}

/** Prepare and save the three sets in `dir`, or load them if already there. */
export async function prepareDataDir(dir: string, o: PrepareOptions, log: (m: string) => void = () => undefined): Promise<PreparedData> {
  const files = preparedFiles(dir);
  const stamp = join(dir, 'prepare.json');
  const key = JSON.stringify(o);
  const same = existsSync(stamp) && (await readFile(stamp, 'utf8')) === key;
  if (same && existsSync(files.train) && existsSync(files.test) && existsSync(files.sparsePool)) {
    log(`using prepared data in ${dir}`);
    return { train: await loadDataset(files.train), test: await loadDataset(files.test), sparsePool: await loadDataset(files.sparsePool) };
  }
  log(`preparing data in ${dir} (${o.folder ?? o.source ?? 'CIFAR-10 binary'})`);
  const data = await prepareData(o);
  await mkdir(dir, { recursive: true });
  await saveDataset(data.train, files.train);
  await saveDataset(data.test, files.test);
  await saveDataset(data.sparsePool, files.sparsePool);
  await atomicWriteFile(stamp, key);
  return data;
}
