// Temp-dir and synthetic-data helpers shared by the data/io tests.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { resolveCifar10Source } from '../../src/data/cifar.js';
import { Rng } from '../../src/data/rng.js';
import type { ImageDataset } from '../../src/data/dataset.js';

/** Make a fresh temp dir; the returned cleanup removes it. */
export function makeTempDir(prefix = 'eclipse-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Random synthetic dataset (not CIFAR) with `perClass` images of each class. */
export function syntheticDataset(opts: { classes?: string[]; perClass?: number; height?: number; width?: number; seed?: number } = {}): ImageDataset {
  const classes = opts.classes ?? ['alpha', 'beta', 'gamma'];
  const perClass = opts.perClass ?? 4;
  const h = opts.height ?? 32;
  const w = opts.width ?? 32;
  const rng = new Rng(opts.seed ?? 7);
  const n = classes.length * perClass;
  const images = new Uint8Array(n * 3 * h * w);
  for (let i = 0; i < images.length; i++) images[i] = rng.uint32() & 0xff;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % classes.length;
  return { images, labels, n, channels: 3, height: h, width: w, classes, meta: { source: 'synthetic' } };
}

/** Minimal ustar writer for building test archives (regular files only). */
export function makeTar(files: ReadonlyArray<{ name: string; data: Uint8Array | string }>, gzip = true): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const data = typeof f.data === 'string' ? Buffer.from(f.data) : Buffer.from(f.data);
    const h = Buffer.alloc(512);
    let name = f.name;
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf('/', name.length - 1);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    h.write(name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    h.write(prefix, 345, 155, 'utf8');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += h[i];
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  return gzip ? gzipSync(tar) : tar;
}

/** The real CIFAR-10 copy, or why there is none: real-data tests skip with that reason instead of failing their file. */
export function findCifar(): { source: string | null; why: string } {
  // The memcheck run sets this: decompressing 170 MB of CIFAR-10 under valgrind takes tens of
  // minutes and reaches no native code that the synthetic-data tests do not.
  if (process.env.ECLIPSE_TEST_NO_REAL_DATA) return { source: null, why: 'real-data tests are off in this run (ECLIPSE_TEST_NO_REAL_DATA)' };
  try {
    return { source: resolveCifar10Source(), why: '' };
  } catch (e) {
    return { source: null, why: (e as Error).message };
  }
}

const realSubsets = new Map<string, Promise<ImageDataset>>();
/**
 * A balanced subset of real CIFAR-10 test-split images (`perClass` per class, drawn with `seed`),
 * loaded once per process; null where CIFAR-10 is not here (skip the test with findCifar().why).
 */
export async function realCifarSubset(perClass: number, seed: number): Promise<ImageDataset | null> {
  const c = findCifar();
  if (c.source === null) return null;
  const key = `${perClass}/${seed}`;
  if (!realSubsets.has(key)) {
    const source = c.source;
    realSubsets.set(key, (async () => {
      const { loadCifar10 } = await import('../../src/data/cifar.js');
      const { balancedSubset } = await import('../../src/data/dataset.js');
      return balancedSubset(await loadCifar10(source, 'test'), perClass, seed);
    })());
  }
  return realSubsets.get(key)!;
}
