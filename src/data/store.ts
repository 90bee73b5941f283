// Save/load an ImageDataset as safetensors so PyTorch users can open it with
// safetensors.torch.load_file: images U8 [N,3,H,W], labels I64 [N], metadata strings.

import { open, stat } from 'node:fs/promises';

import { readSafetensors, writeSafetensors, type Metadata, type TensorMap } from '../io/safetensors.js';
import type { AtomicWriteOptions } from '../io/atomic.js';
import { type ImageDataset, validateDataset } from './dataset.js';

export const DATASET_FORMAT = 'eclipse-dataset-v1';
const RESERVED = ['classes', 'format'];

/** Tensors + metadata for a dataset (no I/O). */
export function datasetToSafetensors(ds: ImageDataset): { tensors: TensorMap; metadata: Metadata } {
  validateDataset(ds);
  for (const k of RESERVED) {
    if (k in ds.meta) throw new Error(`dataset meta key "${k}" is reserved by the file format; rename it`);
  }
  const labels = new BigInt64Array(ds.n);
  for (let i = 0; i < ds.n; i++) labels[i] = BigInt(ds.labels[i]);
  return {
    tensors: {
      images: { dtype: 'U8', shape: [ds.n, 3, ds.height, ds.width], data: ds.images },
      labels: { dtype: 'I64', shape: [ds.n], data: labels },
    },
    metadata: { ...ds.meta, format: DATASET_FORMAT, classes: JSON.stringify(ds.classes) },
  };
}

/** Rebuild and validate a dataset from decoded safetensors contents; `where` names the file. */
export function datasetFromSafetensors(tensors: TensorMap, metadata: Metadata, where: string): ImageDataset {
  const fail = (m: string): never => {
    throw new Error(`${where}: not a valid eclipse dataset: ${m}`);
  };
  if (metadata.format !== DATASET_FORMAT) {
    fail(`metadata "format" is ${JSON.stringify(metadata.format)}, expected "${DATASET_FORMAT}"`);
  }
  let classes: unknown;
  try {
    classes = JSON.parse(metadata.classes ?? '');
  } catch {
    fail('metadata "classes" is not a JSON array of names');
  }
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string')) fail('metadata "classes" is not a JSON array of names');
  const img = tensors.images;
  const lab = tensors.labels;
  const names = Object.keys(tensors);
  const holds = names.length ? `it holds ${names.map((n) => `"${n}"`).join(', ')}` : 'it holds no tensors';
  if (!img) fail(`tensor "images" (U8 [N, 3, H, W]) is missing (${holds})`);
  // Say what was found: a float tensor in [0,1] is a common near miss (a PyTorch ToTensor() batch).
  if (img.dtype !== 'U8') fail(`tensor "images" is ${img.dtype}, expected U8 (bytes 0..255); save uint8 images, e.g. (x * 255).round().to(torch.uint8)`);
  if (!lab) fail(`tensor "labels" (I64 [N]) is missing (${holds})`);
  if (lab.dtype !== 'I64' && lab.dtype !== 'I32') fail(`tensor "labels" is ${lab.dtype}, expected I64 (or I32) class indices; save integer labels, e.g. y.to(torch.int64)`);
  if (img.shape.length !== 4 || img.shape[1] !== 3) fail(`"images" must have shape [N, 3, H, W], got [${img.shape.join(', ')}]`);
  const [n, , h, w] = img.shape;
  if (lab.shape.length !== 1 || lab.shape[0] !== n) fail(`"labels" must have shape [${n}], got [${lab.shape.join(', ')}]`);
  const k = (classes as string[]).length;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = Number(lab.data[i]);
    if (!(y >= 0 && y < k)) fail(`label ${String(lab.data[i])} of image ${i} is outside [0, ${k})`);
    labels[i] = y;
  }
  const meta: Record<string, string> = {};
  for (const [key, v] of Object.entries(metadata)) if (!RESERVED.includes(key)) meta[key] = v;
  const ds: ImageDataset = {
    images: img.data as Uint8Array, labels, n, channels: 3, height: h, width: w, classes: classes as string[], meta,
  };
  validateDataset(ds, where);
  return ds;
}

/** Write atomically to `path` (.safetensors). */
export async function saveDataset(ds: ImageDataset, path: string, opts?: AtomicWriteOptions): Promise<void> {
  const { tensors, metadata } = datasetToSafetensors(ds);
  await writeSafetensors(path, tensors, metadata, opts);
}

/** Read a dataset written by saveDataset (or by Python with the same tensors/metadata). */
export async function loadDataset(path: string): Promise<ImageDataset> {
  // A folder or another kind of file gets its own line: the reader's messages speak of bytes.
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') throw new Error(`${path}: file not found`, { cause: e });
    throw new Error(`${path}: cannot read (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  if (st.isDirectory()) throw new Error(`${path} is a folder, not a dataset file; a dataset is one .safetensors file (an image folder is read by loadImageFolder)`);
  if (st.size === 0) throw new Error(`${path}: the file is empty (0 bytes), not a dataset; it may have been cut short while being written`);
  let contents;
  try {
    contents = await readSafetensors(path);
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    const kind = await sniff(path);
    if (!/not a valid safetensors file/.test(m) || kind === null) throw e;
    throw new Error(`${path}: ${kind}${DATASET_HINTS[kind] ?? ''}, not a dataset; a dataset is a .safetensors file of images and labels`, { cause: e });
  }
  return datasetFromSafetensors(contents.tensors, contents.metadata, path);
}

/** Where a file that is not a dataset belongs instead. */
const DATASET_HINTS: Record<string, string> = {
  'a gzip archive': ' (a CIFAR-10 release is imported, not read as a dataset)',
  'a zip archive': ' (an .npz of poisons is imported, not read as a dataset)',
  'a NumPy .npy array': ' (poisons are imported, not read as a dataset)',
};

/** What a file that is not safetensors looks like, by its first bytes ("a PNG image"; null: no idea). */
export async function sniff(path: string): Promise<string | null> {
  const head = Buffer.alloc(16);
  const fh = await open(path, 'r');
  let n: number;
  try {
    n = (await fh.read(head, 0, 16, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  const b = head.subarray(0, n);
  const starts = (sig: number[]): boolean => sig.every((v, i) => b[i] === v);
  if (starts([0x89, 0x50, 0x4e, 0x47])) return 'a PNG image';
  if (starts([0xff, 0xd8, 0xff])) return 'a JPEG image';
  if (starts([0x1f, 0x8b])) return 'a gzip archive';
  if (starts([0x50, 0x4b, 0x03, 0x04])) return 'a zip archive';
  if (starts([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59])) return 'a NumPy .npy array';
  if (b.length > 0 && b.every((v) => v === 9 || v === 10 || v === 13 || (v >= 32 && v < 127))) return 'a text file';
  return null;
}
