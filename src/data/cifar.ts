// CIFAR-10 "binary version" reader/writer. Records are 1 label byte + 3072 pixel bytes
// (R, G, B planes of 32x32, row-major), 10,000 records per file in the official release.

import { promises as fsp, existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTar } from '../io/tar.js';
import { atomicWriteDir, writeFileDurable } from '../io/atomic.js';
import { type ImageDataset, validateDataset } from './dataset.js';

export type Split = 'train' | 'test';

export const CIFAR10_CLASSES: readonly string[] = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];
export const CIFAR_RECORD = 3073;
export const CIFAR_PIXELS = 3072;
export const CIFAR_FILE_RECORDS = 10_000;
export const CIFAR_ENV = 'ECLIPSE_CIFAR10';
/** Written by exportCifarBinary so re-reading can check per-file record counts and keep provenance. */
export const MANIFEST_NAME = 'eclipse-cifar.json';

const FIX = 're-download / re-extract the official binary release (cifar-10-binary.tar.gz)';

export interface CifarLoadOptions {
  /**
   * Records each file must hold. Default: the count in eclipse-cifar.json if present,
   * else 10,000 (official release). 'any' accepts any whole number of records.
   */
  recordsPerFile?: number | 'any';
}

interface Manifest {
  format: 'eclipse-cifar-binary-v1';
  files: Record<string, number>;
  meta?: Partial<Record<Split, Record<string, string>>>;
}

/** Raw files of the release, keyed by base name (data_batch_1.bin, test_batch.bin, batches.meta.txt, ...). */
type FileSet = Map<string, { data: Buffer; where: string }>;

const TRAIN_RE = /^data_batch_(\d+)\.bin$/;
const WANTED_RE = /^(data_batch_\d+\.bin|test_batch\.bin|batches\.meta\.txt|eclipse-cifar\.json)$/;

function repoRoot(): string | null {
  // Walk up from this module (dist/src/data or src/data) to the folder holding package.json.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/**
 * Find the CIFAR-10 data: `explicit` (CLI option), else $ECLIPSE_CIFAR10, else
 * ../shared/datasets/cifar-10-binary.tar.gz relative to the repo root, then to the cwd.
 */
export function resolveCifar10Source(explicit?: string): string {
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`CIFAR-10 data not found at ${explicit} (pass the .tar.gz or the extracted folder)`);
    return explicit;
  }
  const env = process.env[CIFAR_ENV];
  if (env) {
    if (!existsSync(env)) throw new Error(`${CIFAR_ENV}=${env} does not exist (point it at cifar-10-binary.tar.gz or the extracted folder)`);
    return env;
  }
  const rel = path.join('..', 'shared', 'datasets', 'cifar-10-binary.tar.gz');
  const tried: string[] = [];
  const root = repoRoot();
  for (const base of [root, process.cwd()]) {
    if (!base) continue;
    const p = path.resolve(base, rel);
    if (tried.includes(p)) continue;
    tried.push(p);
    if (existsSync(p)) return p;
  }
  throw new Error(
    `CIFAR-10 not found. Tried: ${tried.join(', ')}. Download the binary release ` +
      `(cifar-10-binary.tar.gz) and set ${CIFAR_ENV}=/path/to/it (or its extracted folder), or pass it as an option.`,
  );
}

function isArchive(p: string): boolean {
  return /\.(tar\.gz|tgz|tar)$/i.test(p);
}

async function readFileSet(source: string, want: (base: string) => boolean): Promise<FileSet> {
  const files: FileSet = new Map();
  const st = statSync(source, { throwIfNoEntry: false });
  if (!st) throw new Error(`CIFAR-10 source ${source} does not exist`);
  if (st.isFile()) {
    if (!isArchive(source)) throw new Error(`${source}: expected a .tar.gz/.tar archive or a folder of CIFAR-10 .bin files`);
    for await (const e of readTar(source, { filter: (name) => want(path.posix.basename(name)) })) {
      const base = path.posix.basename(e.name);
      if (files.has(base)) throw new Error(`${source}: archive holds more than one ${base}`);
      files.set(base, { data: e.data, where: `${source}:${e.name}` });
    }
    return files;
  }
  // A folder: either the release folder itself or its parent.
  const inner = path.join(source, 'cifar-10-batches-bin');
  const dir = existsSync(inner) ? inner : source;
  for (const name of await fsp.readdir(dir)) {
    const file = path.join(dir, name);
    if (want(name)) files.set(name, { data: await fsp.readFile(file), where: file });
  }
  return files;
}

function wantFor(splits: readonly Split[]): (base: string) => boolean {
  return (base) => {
    if (!WANTED_RE.test(base)) return false;
    if (base === 'test_batch.bin') return splits.includes('test');
    if (TRAIN_RE.test(base)) return splits.includes('train');
    return true;
  };
}

function parseManifest(files: FileSet, source: string): Manifest | null {
  const raw = files.get(MANIFEST_NAME)?.data;
  if (!raw) return null;
  let m: unknown;
  try {
    m = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Error(`${source}: ${MANIFEST_NAME} is not valid JSON (delete it to read the files as an official release)`);
  }
  const man = m as Manifest;
  if (man?.format !== 'eclipse-cifar-binary-v1' || typeof man.files !== 'object') {
    throw new Error(`${source}: ${MANIFEST_NAME} has an unknown format`);
  }
  return man;
}

function classNames(files: FileSet): string[] {
  const raw = files.get('batches.meta.txt')?.data;
  if (!raw) return CIFAR10_CLASSES.slice();
  const names = raw.toString('utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  return names.length > 0 ? names : CIFAR10_CLASSES.slice();
}

function splitFiles(files: FileSet, split: Split, source: string, manifest: Manifest | null, opts: CifarLoadOptions): string[] {
  if (split === 'test') {
    if (!files.has('test_batch.bin')) throw new Error(`${source}: test_batch.bin not found (${FIX})`);
    return ['test_batch.bin'];
  }
  const found = [...files.keys()]
    .filter((n) => TRAIN_RE.test(n))
    .sort((a, b) => Number(TRAIN_RE.exec(a)![1]) - Number(TRAIN_RE.exec(b)![1]));
  const expected = manifest
    ? Object.keys(manifest.files).filter((n) => TRAIN_RE.test(n))
    : opts.recordsPerFile === 'any'
      ? found
      : ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
  const missing = expected.filter((n) => !files.has(n));
  if (missing.length > 0 || found.length === 0) {
    throw new Error(`${source}: missing ${missing.length ? missing.join(', ') : 'data_batch_*.bin'} (${FIX})`);
  }
  return expected.sort((a, b) => Number(TRAIN_RE.exec(a)![1]) - Number(TRAIN_RE.exec(b)![1]));
}

function buildSplit(files: FileSet, split: Split, source: string, opts: CifarLoadOptions): ImageDataset {
  const manifest = parseManifest(files, source);
  const classes = classNames(files);
  const names = splitFiles(files, split, source, manifest, opts);
  let total = 0;
  for (const name of names) {
    const { data: buf, where } = files.get(name)!;
    if (buf.length % CIFAR_RECORD !== 0) {
      throw new Error(`${where} is ${buf.length} bytes, not a whole number of ${CIFAR_RECORD}-byte records: the file is truncated or not CIFAR-10 binary (${FIX})`);
    }
    const records = buf.length / CIFAR_RECORD;
    const expect = manifest ? manifest.files[name] : opts.recordsPerFile === 'any' ? records : opts.recordsPerFile ?? CIFAR_FILE_RECORDS;
    if (records !== expect) {
      throw new Error(`${where} holds ${records} records, expected ${expect}: the file is truncated or incomplete (${FIX})`);
    }
    total += records;
  }
  const images = new Uint8Array(total * CIFAR_PIXELS);
  const labels = new Int32Array(total);
  let i = 0;
  for (const name of names) {
    const { data: buf, where } = files.get(name)!;
    const records = buf.length / CIFAR_RECORD;
    for (let r = 0; r < records; r++, i++) {
      const off = r * CIFAR_RECORD;
      const y = buf[off];
      if (y >= classes.length) {
        throw new Error(`${where}: record ${r} has label ${y}, outside 0..${classes.length - 1} (${FIX})`);
      }
      labels[i] = y;
      images.set(buf.subarray(off + 1, off + CIFAR_RECORD), i * CIFAR_PIXELS);
    }
  }
  const ds: ImageDataset = {
    images, labels, n: total, channels: 3, height: 32, width: 32, classes,
    meta: { source: 'cifar10-binary', path: path.resolve(source), split, ...(manifest?.meta?.[split] ?? {}) },
  };
  validateDataset(ds, source);
  return ds;
}

/** Load one split of CIFAR-10 from the binary .tar.gz, the extracted folder, or a folder of .bin files. */
export async function loadCifar10(source: string, split: Split, opts: CifarLoadOptions = {}): Promise<ImageDataset> {
  // The whole archive is scanned (no early stop): a re-packed export may hold more batches or a manifest at the end.
  const files = await readFileSet(source, wantFor([split]));
  return buildSplit(files, split, source, opts);
}

/** Load train and test with a single pass over the archive (decompressing once). */
export async function loadCifar10Both(source: string, opts: CifarLoadOptions = {}): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const files = await readFileSet(source, wantFor(['train', 'test']));
  return { train: buildSplit(files, 'train', source, opts), test: buildSplit(files, 'test', source, opts) };
}

export interface CifarExportOptions {
  /** Split a lone dataset is written as (default 'train'). */
  split?: Split;
  /** Replace an existing output folder. */
  overwrite?: boolean;
}

function checkExportable(ds: ImageDataset, what: string): void {
  validateDataset(ds, what);
  if (ds.height !== 32 || ds.width !== 32) {
    throw new Error(`${what}: CIFAR binary records are 32x32, this dataset is ${ds.height}x${ds.width} (save it with saveDataset instead)`);
  }
  if (ds.classes.length > 256) throw new Error(`${what}: CIFAR binary stores labels in one byte (max 256 classes)`);
  if (ds.classes.some((c) => /[\r\n]/.test(c) || c.trim() !== c || c === '')) {
    throw new Error(`${what}: class names must be non-empty with no newlines or surrounding spaces to fit batches.meta.txt`);
  }
}

function encodeRecords(ds: ImageDataset, start: number, end: number): Uint8Array {
  const out = new Uint8Array((end - start) * CIFAR_RECORD);
  for (let i = start; i < end; i++) {
    const off = (i - start) * CIFAR_RECORD;
    out[off] = ds.labels[i];
    out.set(ds.images.subarray(i * CIFAR_PIXELS, (i + 1) * CIFAR_PIXELS), off + 1);
  }
  return out;
}

/**
 * Write CIFAR-10 binary files into `dir` (created atomically): train as data_batch_1..k.bin
 * (up to 10,000 records each), test as one test_batch.bin, plus batches.meta.txt and a manifest.
 */
export async function exportCifarBinary(
  data: ImageDataset | { train?: ImageDataset; test?: ImageDataset },
  dir: string,
  opts: CifarExportOptions = {},
): Promise<void> {
  const splits: Partial<Record<Split, ImageDataset>> =
    'images' in data ? { [opts.split ?? 'train']: data } : { train: data.train, test: data.test };
  const list = (['train', 'test'] as const).filter((s) => splits[s] !== undefined);
  if (list.length === 0) throw new Error('exportCifarBinary: nothing to write');
  const classes = splits[list[0]]!.classes;
  for (const s of list) {
    const ds = splits[s]!;
    checkExportable(ds, `${s} split`);
    if (ds.classes.join('\n') !== classes.join('\n')) throw new Error('exportCifarBinary: train and test have different classes');
  }
  const manifest: Manifest = { format: 'eclipse-cifar-binary-v1', files: {}, meta: {} };
  await atomicWriteDir(dir, async (tmp) => {
    for (const s of list) {
      const ds = splits[s]!;
      manifest.meta![s] = { ...ds.meta };
      if (s === 'test') {
        await writeFileDurable(path.join(tmp, 'test_batch.bin'), encodeRecords(ds, 0, ds.n));
        manifest.files['test_batch.bin'] = ds.n;
      } else {
        for (let k = 0, start = 0; start < ds.n; k++, start += CIFAR_FILE_RECORDS) {
          const end = Math.min(ds.n, start + CIFAR_FILE_RECORDS);
          const name = `data_batch_${k + 1}.bin`;
          await writeFileDurable(path.join(tmp, name), encodeRecords(ds, start, end));
          manifest.files[name] = end - start;
        }
      }
    }
    await writeFileDurable(path.join(tmp, 'batches.meta.txt'), classes.join('\n') + '\n');
    await writeFileDurable(path.join(tmp, MANIFEST_NAME), JSON.stringify(manifest, null, 2) + '\n');
  }, { overwrite: opts.overwrite, hint: 'pass another --out directory' });
}
