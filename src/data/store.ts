// Save/load an ImageDataset as safetensors so PyTorch users can open it with
// safetensors.torch.load_file: images U8 [N,3,H,W], labels I64 [N], metadata strings.

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
  if (!img || img.dtype !== 'U8') fail('tensor "images" (U8) is missing');
  if (!lab || (lab.dtype !== 'I64' && lab.dtype !== 'I32')) fail('tensor "labels" (I64) is missing');
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
  const { tensors, metadata } = await readSafetensors(path);
  return datasetFromSafetensors(tensors, metadata, path);
}
