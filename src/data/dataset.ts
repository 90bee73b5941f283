// The in-memory image dataset shared by every part of the toolkit: planar uint8 like CIFAR.
import { createHash } from 'node:crypto';

import { Rng } from './rng.js';

export interface ImageDataset {
  /** N x 3 x H x W, CHW planar uint8 (image i starts at i * 3 * H * W). */
  images: Uint8Array;
  /** Class index per image, in [0, classes.length). */
  labels: Int32Array;
  n: number;
  channels: 3;
  height: number;
  width: number;
  classes: string[];
  /** Provenance: source, attack, epsilon, seed, ... (strings so they survive safetensors metadata). */
  meta: Record<string, string>;
}

export interface DatasetInit {
  images: Uint8Array;
  labels: Int32Array;
  height: number;
  width: number;
  classes: string[];
  meta?: Record<string, string>;
}

/** Bytes per image (3 * H * W). */
export function imageSize(ds: Pick<ImageDataset, 'channels' | 'height' | 'width'>): number {
  return ds.channels * ds.height * ds.width;
}

/** Build a dataset (n inferred from labels) and validate it. */
export function makeDataset(init: DatasetInit, where = 'dataset'): ImageDataset {
  const ds: ImageDataset = {
    images: init.images,
    labels: init.labels,
    n: init.labels.length,
    channels: 3,
    height: init.height,
    width: init.width,
    classes: init.classes,
    meta: { ...(init.meta ?? {}) },
  };
  validateDataset(ds, where);
  return ds;
}

/** Throw a descriptive error if sizes or labels are inconsistent. `where` names the source. */
export function validateDataset(ds: ImageDataset, where = 'dataset'): void {
  const fail = (m: string): never => {
    throw new Error(`${where}: invalid dataset: ${m}`);
  };
  if (ds.channels !== 3) fail(`channels must be 3, got ${String(ds.channels)}`);
  if (!Number.isInteger(ds.height) || ds.height <= 0 || !Number.isInteger(ds.width) || ds.width <= 0) {
    fail(`height/width must be positive integers, got ${ds.height}x${ds.width}`);
  }
  if (!Number.isInteger(ds.n) || ds.n < 0) fail(`n must be a non-negative integer, got ${ds.n}`);
  if (!(ds.images instanceof Uint8Array)) fail('images must be a Uint8Array');
  if (!(ds.labels instanceof Int32Array)) fail('labels must be an Int32Array');
  if (ds.labels.length !== ds.n) fail(`${ds.labels.length} labels for n=${ds.n} images`);
  const per = 3 * ds.height * ds.width;
  if (ds.images.length !== ds.n * per) {
    fail(`images hold ${ds.images.length} bytes, expected n*3*H*W = ${ds.n}*3*${ds.height}*${ds.width} = ${ds.n * per}`);
  }
  if (!Array.isArray(ds.classes) || ds.classes.length === 0) fail('classes must be a non-empty list of names');
  if (new Set(ds.classes).size !== ds.classes.length) fail(`duplicate class names in ${JSON.stringify(ds.classes)}`);
  const k = ds.classes.length;
  for (let i = 0; i < ds.n; i++) {
    const y = ds.labels[i];
    if (y < 0 || y >= k) fail(`label ${y} of image ${i} is out of range [0, ${k}) for classes ${JSON.stringify(ds.classes)}`);
  }
  for (const [key, v] of Object.entries(ds.meta)) {
    if (typeof v !== 'string') fail(`meta "${key}" must be a string`);
  }
}

/** Number of images per class (length = classes.length). */
export function classCounts(ds: Pick<ImageDataset, 'labels' | 'classes'>): Int32Array {
  const c = new Int32Array(ds.classes.length);
  for (let i = 0; i < ds.labels.length; i++) c[ds.labels[i]]++;
  return c;
}

/** Copy the chosen images (in the given order) into a new dataset. */
export function subset(ds: ImageDataset, indices: ArrayLike<number>, meta?: Record<string, string>): ImageDataset {
  const per = imageSize(ds);
  const m = indices.length;
  const images = new Uint8Array(m * per);
  const labels = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    const i = indices[j];
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) throw new Error(`subset: index ${i} out of range [0, ${ds.n})`);
    images.set(ds.images.subarray(i * per, (i + 1) * per), j * per);
    labels[j] = ds.labels[i];
  }
  return {
    images, labels, n: m, channels: 3, height: ds.height, width: ds.width,
    classes: ds.classes.slice(), meta: { ...ds.meta, ...(meta ?? {}) },
  };
}

/** Indices of each class, in ascending order. */
export function indicesByClass(labels: Int32Array, numClasses: number): Int32Array[] {
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  const out = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    out[y][fill[y]++] = i;
  }
  return out;
}

/**
 * Draw disjoint balanced index sets: for each class, shuffle its indices with `seed` and take
 * the first perClass[0] for set 0, the next perClass[1] for set 1, ... Each set is sorted ascending.
 */
export function balancedIndexSets(
  ds: Pick<ImageDataset, 'labels' | 'classes'>,
  perClass: readonly number[],
  seed: number,
): Int32Array[] {
  for (const p of perClass) {
    if (!Number.isInteger(p) || p < 0) throw new Error(`per-class counts must be non-negative integers, got ${p}`);
  }
  const need = perClass.reduce((a, b) => a + b, 0);
  const byClass = indicesByClass(ds.labels, ds.classes.length);
  const sets = perClass.map((p) => new Int32Array(p * ds.classes.length));
  const rng = new Rng(seed);
  byClass.forEach((idx, c) => {
    if (idx.length < need) {
      throw new Error(`class "${ds.classes[c]}" has ${idx.length} images but ${need} are needed (${perClass.join(' + ')} per class)`);
    }
    // Partial Fisher-Yates: only the first `need` positions are drawn.
    const pool = idx.slice();
    for (let i = 0; i < need; i++) {
      const j = i + rng.int(pool.length - i);
      const t = pool[i];
      pool[i] = pool[j];
      pool[j] = t;
    }
    let o = 0;
    perClass.forEach((p, s) => {
      sets[s].set(pool.subarray(o, o + p), c * p);
      o += p;
    });
  });
  for (const s of sets) s.sort();
  return sets;
}

/** Seeded, deterministic, class-balanced subset with `perClass` images of every class. */
export function balancedSubset(ds: ImageDataset, perClass: number, seed: number): ImageDataset {
  const [idx] = balancedIndexSets(ds, [perClass], seed);
  return subset(ds, idx, { subset: `balanced ${perClass}/class seed ${seed}` });
}

export interface SplitOptions {
  perClassA: number;
  perClassB: number;
  seed: number;
}

/**
 * Two disjoint balanced index sets (e.g. the defender's sparse clean set vs evaluation images).
 * Deterministic for a given seed; indices sorted ascending.
 */
export function splitDisjoint(ds: Pick<ImageDataset, 'labels' | 'classes'>, opts: SplitOptions): { a: Int32Array; b: Int32Array } {
  const [a, b] = balancedIndexSets(ds, [opts.perClassA, opts.perClassB], opts.seed);
  return { a, b };
}

/** Concatenate datasets with the same classes and image size; meta is taken from the first. */
export function concat(parts: readonly ImageDataset[]): ImageDataset {
  if (parts.length === 0) throw new Error('concat: need at least one dataset');
  const first = parts[0];
  for (const [i, p] of parts.entries()) {
    if (p.height !== first.height || p.width !== first.width) {
      throw new Error(`concat: part ${i} is ${p.height}x${p.width}, part 0 is ${first.height}x${first.width}`);
    }
    if (p.classes.length !== first.classes.length || p.classes.some((c, j) => c !== first.classes[j])) {
      throw new Error(`concat: part ${i} classes ${JSON.stringify(p.classes)} differ from part 0 ${JSON.stringify(first.classes)}`);
    }
  }
  const n = parts.reduce((a, p) => a + p.n, 0);
  const images = new Uint8Array(n * imageSize(first));
  const labels = new Int32Array(n);
  let o = 0;
  for (const p of parts) {
    images.set(p.images, o * imageSize(first));
    labels.set(p.labels, o);
    o += p.n;
  }
  return {
    images, labels, n, channels: 3, height: first.height, width: first.width,
    classes: first.classes.slice(), meta: { ...first.meta },
  };
}

/** View (no copy) of image i's bytes. */
export function imageView(ds: ImageDataset, i: number): Uint8Array {
  const per = imageSize(ds);
  return ds.images.subarray(i * per, (i + 1) * per);
}

/** Digest of the images, labels and class names: a changed dataset changes the key. */
export function datasetDigest(ds: Pick<ImageDataset, 'images' | 'labels' | 'classes' | 'height' | 'width' | 'n'>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ n: ds.n, height: ds.height, width: ds.width, classes: ds.classes }));
  h.update(ds.images);
  h.update(new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength));
  return h.digest('hex');
}
