// The defender's sparse clean set D_s (B images, balanced by class, seeded, disjoint from the
// training set) and its enlargement D_A by plain replication M times (Sec. 3.2).
import { balancedSubset, classCounts, concat, imageSize, type ImageDataset } from '../data/dataset.js';

export interface SparseOptions {
  /** B / #classes: images per class */
  perClass: number;
  seed: number;
  /** refuse a sparse set sharing images with this training set (unless force) */
  trainSet?: ImageDataset;
  force?: boolean;
}

/** FNV-1a over an image's bytes: equal images hash equal (used for the overlap check). */
function imageHash(images: Uint8Array, offset: number, size: number): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = offset; i < offset + size; i++) {
    h1 = Math.imul(h1 ^ images[i]!, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ images[i]!, 0x5bd1e995) >>> 0;
  }
  return `${h1.toString(16)}:${h2.toString(16)}`;
}

/** How many images of `a` also appear (pixel-identical) in `b`. */
export function countOverlap(a: ImageDataset, b: ImageDataset): number {
  const size = imageSize(a);
  const seen = new Set<string>();
  for (let i = 0; i < b.n; i++) seen.add(imageHash(b.images, i * size, size));
  let n = 0;
  for (let i = 0; i < a.n; i++) if (seen.has(imageHash(a.images, i * size, size))) n++;
  return n;
}

export function selectSparseSet(pool: ImageDataset, o: SparseOptions): ImageDataset {
  if (!Number.isInteger(o.perClass) || o.perClass < 1)
    throw new Error(`the sparse set needs at least 1 image per class (got ${o.perClass}): raise --sparse-per-class`);
  const smallest = Math.min(...classCounts(pool));
  if (smallest < o.perClass)
    throw new Error(`the sparse pool has only ${smallest} images in its smallest class; ${o.perClass} per class were asked (import with a larger --sparse-per-class)`);
  const ds = balancedSubset(pool, o.perClass, o.seed);
  if (o.trainSet) {
    const overlap = countOverlap(ds, o.trainSet);
    if (overlap > 0 && !o.force)
      throw new Error(`${overlap} of the ${ds.n} sparse-set images are also in the training set: the sparse set must be disjoint from it (pass --force to use it anyway)`);
  }
  ds.meta = { ...ds.meta, role: 'sparse-set', sparse_per_class: String(o.perClass), sparse_seed: String(o.seed) };
  return ds;
}

/** D_A: the sparse set repeated M times (no augmentation: the paper finds it hurts). */
export function enlarge(sparse: ImageDataset, replication: number): ImageDataset {
  if (!Number.isInteger(replication) || replication < 1) throw new Error(`replication M must be an integer >= 1 (got ${replication})`);
  const out = concat(Array.from({ length: replication }, () => sparse));
  out.meta = { ...sparse.meta, replication: String(replication) };
  return out;
}
