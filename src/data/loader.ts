// Epoch batch iterator over an ImageDataset: seeded shuffle, optional augmentation, reusable buffers.

import { Rng } from './rng.js';
import type { BatchAugment } from './augment.js';
import type { ImageDataset } from './dataset.js';

export interface Batch {
  /** size x 3 x H x W uint8 (CHW planar). */
  images: Uint8Array;
  labels: Int32Array;
  /** Images in this batch (the last batch may be smaller unless dropLast). */
  size: number;
  /** Dataset index of each image in the batch. */
  indices: Int32Array;
}

export interface LoaderOptions {
  batchSize: number;
  /** Base seed; the epoch's order comes from Rng(seed, epoch), so runs are reproducible. */
  seed: number;
  /** Epoch number (default 0), mixed into the shuffle and augmentation seeds. */
  epoch?: number;
  /** Shuffle the order (default true); false iterates 0..n-1. */
  shuffle?: boolean;
  /** Skip the final short batch (default false). */
  dropLast?: boolean;
  /** Applied to each gathered batch, e.g. cropFlipAugment(). */
  augment?: BatchAugment;
  /**
   * Reuse the same output buffers for every batch (default true, fastest). When true, a yielded
   * batch is only valid until the iterator advances: copy what must outlive the loop step.
   */
  reuseBuffers?: boolean;
}

/** Number of batches an epoch yields. */
export function batchCount(n: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** Yield the batches of one epoch. */
export function* iterateBatches(ds: ImageDataset, opts: LoaderOptions): Generator<Batch> {
  const bs = opts.batchSize;
  if (!Number.isInteger(bs) || bs <= 0) throw new Error(`batchSize must be a positive integer, got ${bs}`);
  const epoch = opts.epoch ?? 0;
  const order = opts.shuffle === false ? Int32Array.from({ length: ds.n }, (_, i) => i) : new Rng(opts.seed, epoch, 0).permutation(ds.n);
  // A separate stream for augmentation, so changing augmentation never changes the order.
  const augRng = new Rng(opts.seed, epoch, 1);
  const per = 3 * ds.height * ds.width;
  const shape = { channels: 3, height: ds.height, width: ds.width };
  const reuse = opts.reuseBuffers !== false;
  const alloc = (): { gather: Uint8Array; out: Uint8Array; labels: Int32Array; indices: Int32Array } => ({
    gather: new Uint8Array(bs * per),
    out: opts.augment ? new Uint8Array(bs * per) : new Uint8Array(0),
    labels: new Int32Array(bs),
    indices: new Int32Array(bs),
  });
  let bufs = alloc();
  const nb = batchCount(ds.n, bs, opts.dropLast);
  for (let b = 0; b < nb; b++) {
    if (!reuse && b > 0) bufs = alloc();
    const start = b * bs;
    const size = Math.min(bs, ds.n - start);
    const { gather, labels, indices } = bufs;
    for (let j = 0; j < size; j++) {
      const i = order[start + j];
      indices[j] = i;
      labels[j] = ds.labels[i];
      gather.set(ds.images.subarray(i * per, (i + 1) * per), j * per);
    }
    let images = gather;
    if (opts.augment) {
      opts.augment(gather, bufs.out, size, shape, augRng);
      images = bufs.out;
    }
    yield {
      images: size === bs ? images : images.subarray(0, size * per),
      labels: size === bs ? labels : labels.subarray(0, size),
      size,
      indices: size === bs ? indices : indices.subarray(0, size),
    };
  }
}
