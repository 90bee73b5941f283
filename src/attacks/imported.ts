// Import poisons made elsewhere (APBench, the attack authors' releases): NumPy .npy/.npz,
// safetensors or PyTorch .pt/.pth (torch.save) arrays of poisoned images, or of perturbations that are added to a clean set the
// same way the project's own attacks add theirs (BaseAttack.poison: clamp, 8-bit quantisation,
// bound checks, provenance). Every detection (layout, units, labels, classes) is recorded in the
// dataset's metadata, together with what had to be assumed, so a result can be traced back.

import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import * as path from 'node:path';

import { BaseAttack } from './base.js';
import {
  checkBound, describeBound, fmt, validateBound,
  type DatasetShape, type PerturbationBound, type PerturbationGenerator, type Quantization,
} from './types.js';
import { perturbationStats } from '../metrics/perturbation.js';
import { elementAt, openNpyFile, openNpz, type NdArray, type NpyDtype } from '../io/npy.js';
import { openTorchFile } from '../io/torchfile.js';
import { decodeSafetensors, type Tensor } from '../io/safetensors.js';
import { CIFAR10_CLASSES } from '../data/cifar.js';
import { probeIndexedPngs, readIndexedPngs, type IndexedPngs } from '../data/apbench.js';
import { imageSize, validateDataset, type ImageDataset } from '../data/dataset.js';

export type PoisonKind = 'images' | 'perturbations';
/** 'unit': [0,1] pixel units (ToTensor() scale, |delta| <= 1); 'pixel': 1/255 steps (|delta| <= 255). */
export type PerturbationUnits = 'unit' | 'pixel';
export type ArrayLayout = 'nchw' | 'nhwc';

export interface PoisonImportOptions {
  /** .npy, .npz, .safetensors or .pt/.pth (torch.save) file holding the images or perturbations. */
  file: string;
  kind: PoisonKind;
  /** Array name inside an .npz/.safetensors file (default: its only 4-D array, or a usual name). */
  key?: string;
  /** Separate labels file (.npy, or .npz/.safetensors with a labels array). */
  labelsFile?: string;
  /** Clean images: required for perturbations; for images, used for labels and the bound check. */
  clean?: ImageDataset;
  /** Where the clean set came from (provenance only). */
  cleanPath?: string;
  /** Perturbation units (default: detected from the dtype and value range). */
  units?: PerturbationUnits;
  /** Axis order (default: detected from where the 3 channels are). */
  layout?: ArrayLayout;
  /** Bound the applied perturbation must satisfy (images: measured against the clean set). */
  bound?: PerturbationBound;
  /** 8-bit quantisation of perturbed or float pixels (default 'round', half up). */
  quantization?: Quantization;
  /** Class names (default: the clean set's, else CIFAR-10's for labels < 10, else "0", "1", ...). */
  classes?: readonly string[];
}

export interface PoisonImportResult {
  dataset: ImageDataset;
  /** What was assumed rather than read from the file (also in meta.import_assumed). */
  assumed: string[];
}

/** Names under which releases store labels (APBench: targets; torchvision: targets; others: labels, y). */
export const LABEL_KEYS: readonly string[] = ['labels', 'label', 'targets', 'target', 'y', 'ys'];
/** Names tried, in order, when a file holds several 4-D arrays. */
const DATA_KEYS: readonly string[] = ['images', 'data', 'x', 'poisons', 'poison', 'perturbations', 'perturbation', 'delta', 'noise'];

/**
 * The file has no labels and none were given. The fix (a labels file, or the clean set the poisons
 * were made from) is for the caller to name in its own terms, so the problem is kept apart.
 */
export class NoLabelsError extends Error {
  constructor(
    readonly file: string,
    /** what is wrong, without the fix */
    readonly problem: string,
  ) {
    super(`${file}: ${problem}; give a labels file (one integer per image) or the clean set the poisons were made from`);
  }
}

/** One array of a file, known by its header (dtype, shape) until it is loaded. */
interface ArrayRef {
  /** 'b1': a boolean safetensors tensor, never data we read */
  dtype: NpyDtype | 'b1';
  shape: number[];
  /** bytes its data takes once loaded */
  bytes: number;
  load(): Promise<NdArray>;
}

interface OpenedFile {
  /** by name ('' for a bare .npy) */
  arrays: Map<string, ArrayRef>;
  /** sha256 of the file's bytes, for provenance */
  sha256(): Promise<string>;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readError(file: string, e: unknown): Error {
  const code = (e as { code?: string }).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder, not a file' : code === 'EACCES' ? 'permission denied' : String(e);
  return new Error(`${file}: cannot read (${why})`, { cause: e });
}

function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (c) => h.update(c)).on('error', (e) => reject(readError(file, e))).on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * The arrays of one file, by their headers: nothing large is read or inflated until an array's
 * load(), so its shape and dtype are checked first (a compressed .npz can inflate to far more
 * than its size on disk).
 */
async function openArrays(file: string): Promise<OpenedFile> {
  // APBench's export: a folder of PNGs named by image index (its shape from the names and 0.png)
  if (isDirectory(file)) {
    const { n, height, width } = await probeIndexedPngs(file);
    let read: Promise<IndexedPngs> | undefined;
    const pngs = (): Promise<IndexedPngs> => (read ??= readIndexedPngs(file));
    const shape = [n, height, width, 3];
    const ref: ArrayRef = { dtype: 'u1', shape, bytes: n * height * width * 3, load: async () => ({ dtype: 'u1', shape, data: (await pngs()).data }) };
    return { arrays: new Map([['images', ref]]), sha256: async () => (await pngs()).sha256 };
  }
  const ext = path.extname(file).toLowerCase();
  if (!['.npy', '.npz', '.safetensors', '.pt', '.pth'].includes(ext)) {
    throw new Error(`${file}: unknown file type "${ext}"; poisons are read from .npy, .npz, .safetensors or PyTorch .pt/.pth files, or an APBench folder of indexed PNGs`);
  }
  if (ext === '.npy') {
    let m;
    try {
      m = await openNpyFile(file);
    } catch (e) {
      throw (e as { code?: string }).code !== undefined ? readError(file, e) : e;
    }
    const ref: ArrayRef = { dtype: m.header.dtype, shape: m.header.shape, bytes: m.header.dataBytes, load: m.load };
    return { arrays: new Map([['', ref]]), sha256: () => hashFile(file) };
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw readError(file, e);
  }
  const digest = async (): Promise<string> => sha256(bytes);
  const arrays = new Map<string, ArrayRef>();
  if (ext === '.pt' || ext === '.pth') {
    // torch.save of a tensor ('' like a bare .npy) or of a dict/list of tensors (by key)
    for (const [name, t] of await openTorchFile(bytes, file)) arrays.set(name, t);
    return { arrays, sha256: digest };
  }
  if (ext === '.npz') {
    for (const [name, m] of await openNpz(bytes, file)) {
      arrays.set(name, { dtype: m.header.dtype, shape: m.header.shape, bytes: m.header.dataBytes, load: m.load });
    }
    return { arrays, sha256: digest };
  }
  // safetensors: not compressed, so the file's size is its arrays' size.
  const { tensors } = decodeSafetensors(bytes, file);
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = ({ U8: 'u1', F32: 'f4', F64: 'f8', I32: 'i4', I64: 'i8', BOOL: 'b1' } as const)[t.dtype];
    arrays.set(name, { dtype, shape: t.shape, bytes: t.data.byteLength, load: async () => fromTensor(t, `${file}:${name}`) });
  }
  return { arrays, sha256: digest };
}

function fromTensor(t: Tensor, where: string): NdArray {
  switch (t.dtype) {
    case 'U8': return { dtype: 'u1', shape: t.shape, data: t.data };
    case 'F32': return { dtype: 'f4', shape: t.shape, data: t.data };
    case 'F64': return { dtype: 'f8', shape: t.shape, data: t.data };
    case 'I32': return { dtype: 'i4', shape: t.shape, data: t.data };
    case 'I64': return { dtype: 'i8', shape: t.shape, data: t.data };
    case 'BOOL': throw new Error(`${where}: boolean tensors are neither images, perturbations nor labels`);
  }
}

const where = (file: string, key: string): string => (key ? `${file}:${key}` : file);

function pickData(arrays: Map<string, ArrayRef>, file: string, key: string | undefined, assumed: string[]): string {
  const names = [...arrays.keys()];
  if (key !== undefined) {
    if (!arrays.has(key)) throw new Error(`${file}: no array named "${key}" (it holds: ${names.join(', ')})`);
    return key;
  }
  if (arrays.size === 1) return names[0];
  const fourD = names.filter((k) => arrays.get(k)!.shape.length === 4);
  if (fourD.length === 1) return fourD[0];
  const usual = DATA_KEYS.find((k) => fourD.includes(k));
  if (usual !== undefined) {
    assumed.push(`array "${usual}" holds the data (by its name, among ${fourD.join(', ')})`);
    return usual;
  }
  throw new Error(`${file}: cannot tell which array holds the images (${fourD.length ? `4-D arrays: ${fourD.join(', ')}` : `no 4-D array among ${names.join(', ')}`}); name the array to read`);
}

function labelKeyOf(arrays: Map<string, ArrayRef>, exclude: string): string | undefined {
  return LABEL_KEYS.find((k) => k !== exclude && arrays.has(k));
}

const DTYPE_NAMES: Record<NpyDtype | 'b1', string> = { u1: 'uint8', f4: 'float32', f8: 'float64', i4: 'int32', i8: 'int64', b1: 'bool' };

/** A labels array's header: one integer per image (checked before it is loaded). */
function checkLabels(a: { dtype: NpyDtype | 'b1'; shape: readonly number[] }, n: number, at: string): void {
  if (a.shape.length !== 1 || a.shape[0] !== n) {
    throw new Error(`${at}: labels have shape (${a.shape.join(', ')}), expected (${n},), one per image`);
  }
  if (a.dtype === 'f4' || a.dtype === 'f8' || a.dtype === 'b1') throw new Error(`${at}: labels are ${DTYPE_NAMES[a.dtype]}; save them as integers (e.g. y.astype(np.int64))`);
}

/** Integer labels of length n from a 1-D array. */
function toLabels(a: NdArray, n: number, at: string): Int32Array {
  checkLabels(a, n, at);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = elementAt(a, i);
    if (!(y >= 0 && Number.isSafeInteger(y) && y < 2 ** 31)) throw new Error(`${at}: label ${y} of image ${i} is negative or too large`);
    out[i] = y;
  }
  return out;
}

interface RangeInfo {
  min: number;
  max: number;
  integral: boolean;
}

function rangeOf(a: NdArray, at: string): RangeInfo {
  let min = Infinity;
  let max = -Infinity;
  let integral = true;
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    if (!Number.isFinite(v)) throw new Error(`${at}: element ${i} is ${v}; the array must hold finite numbers`);
    if (v < min) min = v;
    if (v > max) max = v;
    if (integral && v !== Math.round(v)) integral = false;
  }
  if (d.length === 0) return { min: 0, max: 0, integral };
  return { min, max, integral };
}

interface Geometry {
  n: number;
  height: number;
  width: number;
  layout: ArrayLayout;
  detected: boolean;
}

/** The clean set an array must match, and its name in errors. */
interface CleanRef {
  ds: ImageDataset;
  name: string;
}

function geometryOf(s: readonly number[], at: string, layout: ArrayLayout | undefined, clean?: CleanRef): Geometry {
  // With a clean set the expected shape is known exactly: say it, so the two shapes are side by side.
  const c0 = clean?.ds;
  const expected = c0
    ? `expected (${c0.n}, 3, ${c0.height}, ${c0.width}) or (${c0.n}, ${c0.height}, ${c0.width}, 3) like the clean set ${clean!.name}`
    : 'expected (N, 3, H, W) or (N, H, W, 3)';
  if (s.length !== 4) throw new Error(`${at}: shape (${s.join(', ')}) is not 4-D; ${expected}`);
  const [n, d1, , d3] = s;
  let l: ArrayLayout;
  let detected = false;
  if (layout !== undefined) l = layout;
  else if (d1 === 3 && d3 !== 3) l = 'nchw';
  else if (d3 === 3 && d1 !== 3) l = 'nhwc';
  else if (d1 === 3 && d3 === 3) throw new Error(`${at}: shape (${s.join(', ')}) could be NCHW or NHWC; state the layout`);
  else throw new Error(`${at}: shape (${s.join(', ')}) has no axis of 3 colour channels; ${expected}`);
  if (layout === undefined) detected = true;
  const c = l === 'nchw' ? d1 : d3;
  if (c !== 3) throw new Error(`${at}: layout ${l.toUpperCase()} gives ${c} channels for shape (${s.join(', ')}); images need 3`);
  const [height, width] = l === 'nchw' ? [s[2], s[3]] : [s[1], s[2]];
  if (height <= 0 || width <= 0) throw new Error(`${at}: shape (${s.join(', ')}) has an empty image size`);
  return { n, height, width, layout: l, detected };
}

/** Poisons are the clean images, changed: count and image size must match the clean set's exactly. */
function matchClean(g: Geometry, s: readonly number[], clean: CleanRef, at: string, noun: string): void {
  const c = clean.ds;
  const differ: string[] = [];
  if (g.n !== c.n) differ.push(`${g.n} ${noun} for ${c.n} clean images`);
  if (g.height !== c.height || g.width !== c.width) differ.push(`${noun} of ${g.width}x${g.height} (WxH) for clean images of ${c.width}x${c.height}`);
  if (differ.length === 0) return;
  throw new Error(
    `${at}: shape (${s.join(', ')}) does not match the clean set ${clean.name} of shape (${c.n}, 3, ${c.height}, ${c.width}): ` +
      `${differ.join(', and ')}; the ${noun} must match the clean images one to one, in order`,
  );
}

/**
 * A bound that checks nothing is a mistake in its units: epsilon is in [0,1] pixel units, so an
 * L_inf bound above 1, or an L2 bound above sqrt(values per image) (every value moved by the whole
 * range), would accept anything. `valuesPerImage` is null when the image size is not known yet.
 */
export function checkBoundRange(b: PerturbationBound, valuesPerImage: number | null, what: string): void {
  const guess = b.epsilon <= 255 ? `; did you mean ${fmt(b.epsilon)}/255?` : '';
  if (b.norm === 'linf' && b.epsilon > 1) {
    throw new Error(`${what}: epsilon ${fmt(b.epsilon)} is above 1, so the L_inf bound would accept any perturbation: epsilon is in [0,1] pixel units${guess}`);
  }
  if (b.norm === 'l2' && valuesPerImage !== null && b.epsilon > Math.sqrt(valuesPerImage)) {
    throw new Error(
      `${what}: epsilon ${fmt(b.epsilon)} is above ${fmt(Math.sqrt(valuesPerImage))}, the L2 size of moving all ${valuesPerImage} values of an image across the whole range, ` +
        `so the L2 bound would accept any perturbation: epsilon is in [0,1] pixel units${guess}`,
    );
  }
}

/** Element index in the source array of image i, channel c, pixel p (= y*W + x). */
function sourceIndex(g: Geometry, i: number, c: number, p: number): number {
  const plane = g.height * g.width;
  return g.layout === 'nchw' ? (i * 3 + c) * plane + p : (i * plane + p) * 3 + c;
}

/** Imported perturbations seen as an attack, so BaseAttack.poison applies and checks them. */
class ImportedPerturbations extends BaseAttack {
  readonly name = 'imported';
  readonly recipe: string;
  readonly bound: PerturbationBound;
  readonly quantization: Quantization;
  readonly params: Readonly<Record<string, string>>;

  constructor(
    private readonly array: NdArray,
    private readonly geometry: Geometry,
    private readonly scale: number,
    file: string,
    units: PerturbationUnits,
    bound: PerturbationBound,
    quantization: Quantization,
  ) {
    super();
    this.recipe = `perturbations imported from ${file}`;
    this.bound = bound;
    this.quantization = quantization;
    this.params = { file, units, layout: geometry.layout };
  }

  generator(_ds: DatasetShape, _seed: number): PerturbationGenerator {
    const g = this.geometry;
    const d = this.array.data;
    const plane = g.height * g.width;
    return {
      perturbation: (index: number, _label: number, out: Float64Array): void => {
        for (let c = 0; c < 3; c++) {
          for (let p = 0; p < plane; p++) out[c * plane + p] = Number(d[sourceIndex(g, index, c, p)]) * this.scale;
        }
      },
    };
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function classNames(o: PoisonImportOptions, labels: Int32Array, assumed: string[], at: string): string[] {
  let maxLabel = -1;
  for (const y of labels) if (y > maxLabel) maxLabel = y;
  let classes: string[];
  if (o.classes) classes = o.classes.slice();
  else if (o.clean) classes = o.clean.classes.slice();
  else if (maxLabel < CIFAR10_CLASSES.length) {
    classes = CIFAR10_CLASSES.slice();
    assumed.push('class names are CIFAR-10\'s (labels 0..9, no clean set given)');
  } else {
    classes = Array.from({ length: maxLabel + 1 }, (_, k) => String(k));
    assumed.push(`class names are the label numbers 0..${maxLabel}`);
  }
  if (maxLabel >= classes.length) throw new Error(`${at}: label ${maxLabel} is outside the ${classes.length} classes ${JSON.stringify(classes)}`);
  return classes;
}

/** Convert an images array to planar uint8, checking its value range. */
function toImages(a: NdArray, g: Geometry, r: RangeInfo, at: string, q: Quantization): { images: Uint8Array; units: string } {
  const float = a.dtype === 'f4' || a.dtype === 'f8';
  if (float && (r.min < 0 || r.max > 1)) {
    throw new Error(
      `${at}: float images must lie in [0,1] but range over [${fmt(r.min)}, ${fmt(r.max)}]` +
        (r.min >= 0 && r.max <= 255 ? '; for 0..255 values divide by 255 or save as uint8' : r.min < 0 ? '; negative values suggest perturbations, not images' : ''),
    );
  }
  if (!float && (r.min < 0 || r.max > 255)) {
    throw new Error(`${at}: integer images must lie in 0..255 but range over [${r.min}, ${r.max}]; negative values suggest perturbations, not images`);
  }
  const plane = g.height * g.width;
  const per = 3 * plane;
  const images = new Uint8Array(g.n * per);
  const d = a.data;
  for (let i = 0; i < g.n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < plane; p++) {
        const v = Number(d[sourceIndex(g, i, c, p)]);
        if (!float) images[i * per + c * plane + p] = v;
        else {
          // Same 8-bit quantisation as applied perturbations; values within 1e-9 of a step snap to it.
          const s = v * 255;
          const n = Math.round(s);
          images[i * per + c * plane + p] = Math.abs(s - n) < 1e-9 ? n : q === 'round' ? Math.floor(s + 0.5) : Math.floor(s);
        }
      }
    }
  }
  return { images, units: float ? `float [0,1] -> uint8 (${q})` : 'integer 0..255' };
}

function detectUnits(a: NdArray, r: RangeInfo, at: string, given: PerturbationUnits | undefined, assumed: string[]): PerturbationUnits {
  const maxAbs = Math.max(Math.abs(r.min), Math.abs(r.max));
  const float = a.dtype === 'f4' || a.dtype === 'f8';
  const range = `[${fmt(r.min)}, ${fmt(r.max)}]`;
  if (given === 'unit' && maxAbs > 1) throw new Error(`${at}: perturbations in [0,1] units must lie in [-1,1] but range over ${range}; are they in pixel units (-255..255)?`);
  if (given === 'pixel' && maxAbs > 255) throw new Error(`${at}: perturbations in pixel units must lie in [-255,255] but range over ${range}`);
  if (given !== undefined) return given;
  if (maxAbs > 255) throw new Error(`${at}: perturbations range over ${range}, beyond both [-1,1] ([0,1] units) and [-255,255] (pixel units)`);
  if (!float) {
    assumed.push('integer perturbations are in pixel units (1/255 steps)');
    return 'pixel';
  }
  if (maxAbs > 1) {
    assumed.push(`float perturbations with |delta| up to ${fmt(maxAbs)} are in pixel units (1/255 steps)`);
    return 'pixel';
  }
  assumed.push(
    r.integral && maxAbs > 0
      ? 'whole-number perturbations within [-1,1] are in [0,1] units (if they are 1/255 steps, state pixel units)'
      : 'float perturbations within [-1,1] are in [0,1] units',
  );
  return 'unit';
}

/** Read poisons (images or perturbations) from a file into a dataset with provenance metadata. */
export async function importPoisons(o: PoisonImportOptions): Promise<PoisonImportResult> {
  const file = o.file;
  const q = o.quantization ?? 'round';
  if (o.bound) {
    validateBound(o.bound, `${file}: bound`);
    checkBoundRange(o.bound, null, `${file}: bound`);
  }
  const clean = o.clean;
  const cleanName = o.cleanPath ?? clean?.meta.path ?? 'the clean set';
  if (clean) validateDataset(clean, cleanName);
  if (o.kind === 'perturbations' && !clean) throw new Error(`${file}: perturbations need the clean images they were made for`);
  const cleanRef = clean ? { ds: clean, name: cleanName } : undefined;
  const noun = o.kind === 'images' ? 'poisoned images' : 'perturbations';

  // Everything that can be checked on the headers is checked before any array is read or
  // inflated: a wrong file is refused at once, whatever its size once inflated.
  const opened = await openArrays(file);
  const arrays = opened.arrays;
  const assumed: string[] = [];
  const key = pickData(arrays, file, o.key, assumed);
  const at = where(file, key);
  const ref = arrays.get(key)!;
  if (ref.dtype === 'b1') throw new Error(`${at}: the array is boolean; ${noun} are uint8, float or integer arrays`);
  const g = geometryOf(ref.shape, at, o.layout, cleanRef);
  if (g.detected) assumed.push(`layout ${g.layout.toUpperCase()} from the channel axis of shape (${ref.shape.join(', ')})`);
  if (cleanRef) matchClean(g, ref.shape, cleanRef, at, noun);
  if (o.bound) checkBoundRange(o.bound, 3 * g.height * g.width, `${file}: bound`);
  if (o.bound && !clean) {
    throw new Error(`${at}: checking the bound ${describeBound(o.bound)} needs the clean images the poisons were made from (same count, order and size)`);
  }

  // Labels: a separate file, else an array beside the data, else the clean set's.
  let labelRef: ArrayRef | undefined;
  let labelsAt = '';
  let labelSource = '';
  if (o.labelsFile !== undefined) {
    const l = await openArrays(o.labelsFile);
    const lk = l.arrays.size === 1 ? [...l.arrays.keys()][0] : labelKeyOf(l.arrays, '');
    if (lk === undefined) throw new Error(`${o.labelsFile}: no labels array (looked for ${LABEL_KEYS.join(', ')})`);
    labelRef = l.arrays.get(lk)!;
    labelsAt = where(o.labelsFile, lk);
    labelSource = `${labelsAt} (sha256 ${await l.sha256()})`;
  } else {
    const lk = labelKeyOf(arrays, key);
    if (lk !== undefined) {
      labelRef = arrays.get(lk)!;
      labelsAt = where(file, lk);
      labelSource = labelsAt;
    }
  }
  if (labelRef) checkLabels(labelRef, g.n, labelsAt);
  else if (!clean) throw new NoLabelsError(file, `no labels: the file has no ${LABEL_KEYS.join('/')} array`);
  const need = ref.bytes + (labelRef?.bytes ?? 0);
  if (need > totalmem() / 2) {
    throw new Error(`${at}: shape (${ref.shape.join(', ')}) needs ${(need / 2 ** 30).toFixed(1)} GiB to read, more than half of this machine's ${(totalmem() / 2 ** 30).toFixed(1)} GiB of memory; import it in parts`);
  }

  const a = await ref.load();
  const range = rangeOf(a, at);
  const labels = labelRef ? toLabels(await labelRef.load(), g.n, labelsAt) : undefined;
  if (labels && clean) {
    // Clean-label poisons keep the clean labels: a difference means other images or another order.
    for (let i = 0; i < g.n; i++) {
      if (labels[i] !== clean.labels[i]) {
        throw new Error(`${labelSource}: label ${labels[i]} of image ${i} differs from the clean set's ${clean.labels[i]} (${cleanName}); the ${noun} are for other images or another order`);
      }
    }
  }

  let dataset: ImageDataset;
  let units: string;
  if (o.kind === 'perturbations') {
    if (!clean) throw new Error(`${at}: perturbations need the clean images they were made for`);
    if (!labels) labelSource = `the clean set (${cleanName})`;
    const u = detectUnits(a, range, at, o.units, assumed);
    units = u === 'unit' ? '[0,1] units' : 'pixel units (1/255 steps)';
    // The attack's own bound is the trivial one (|delta| <= 1, ensured by the units check); a
    // requested bound is checked on the applied 8-bit perturbation by poison() and on the file's
    // values below, with float32's rounding allowed (8/255 in float32 is a hair above 8/255).
    const trivial: PerturbationBound = { norm: 'linf', epsilon: 1 };
    const attack = new ImportedPerturbations(a, g, u === 'unit' ? 1 : 1 / 255, path.resolve(file), u, trivial, q);
    try {
      const result = attack.poison(clean, 0, { bounds: o.bound ? [o.bound] : [] });
      if (o.bound) {
        const tolerance = a.dtype === 'f4' ? 1 + 1e-6 : 1;
        checkBound(result.nominal, { norm: o.bound.norm, epsilon: o.bound.epsilon * tolerance }, null, imageSize(clean), 'imported attack');
      }
      dataset = result.dataset;
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      const hint = /exceeds the requested bound/.test(m) ? `; check the bound (epsilon in [0,1] units) and the perturbation units (read as ${units})` : '';
      throw new Error(`${at}: ${m.replace(/^imported attack: /, '')}${hint}`, { cause: e });
    }
    // poison() records an attack seed; imported perturbations have none, keep the clean set's.
    delete dataset.meta.seed;
    delete dataset.meta.source_seed;
    if (clean.meta.seed !== undefined) dataset.meta.seed = clean.meta.seed;
    if (o.bound) {
      dataset.meta.norm = o.bound.norm;
      dataset.meta.epsilon = String(o.bound.epsilon);
      dataset.meta.bounds_checked = describeBound(o.bound);
    } else {
      delete dataset.meta.norm;
      delete dataset.meta.epsilon;
      dataset.meta.bounds_checked = 'none requested (|delta| <= 1 only)';
    }
  } else {
    const conv = toImages(a, g, range, at, q);
    units = conv.units;
    let imageLabels = labels;
    if (!imageLabels) {
      // Only reached with a clean set (no labels and no clean set was refused above), whose count
      // and size the images match.
      imageLabels = clean!.labels.slice();
      labelSource = `the clean set (${cleanName})`;
      assumed.push('the images are in the clean set\'s order (its labels were used)');
    }
    const classes = classNames(o, imageLabels, assumed, labelSource);
    const meta: Record<string, string> = { source: clean?.meta.source ?? 'imported', attack: 'imported', attack_recipe: `poisoned images imported from ${path.resolve(file)}` };
    dataset = { images: conv.images, labels: imageLabels, n: g.n, channels: 3, height: g.height, width: g.width, classes, meta };
    validateDataset(dataset, at);
    if (clean) {
      const stats = perturbationStats(clean, dataset);
      // The authors quantised with their own rule: allow the looser (floor) allowance.
      if (o.bound) {
        try {
          checkBound(stats, o.bound, 'floor', imageSize(dataset), at);
        } catch (e) {
          throw new Error(`${(e as Error).message}; check the bound (epsilon in [0,1] units) and that ${cleanName} holds the images these poisons were made from`, { cause: e });
        }
        meta.norm = o.bound.norm;
        meta.epsilon = String(o.bound.epsilon);
      }
      Object.assign(meta, {
        linf_max: fmt(stats.linfMax), linf_mean: fmt(stats.linfMean), l2_max: fmt(stats.l2Max), l2_mean: fmt(stats.l2Mean),
        bounds_checked: o.bound ? `${describeBound(o.bound)} (vs the clean set, floor allowance)` : 'none requested',
        stats_units: 'linf_* in 1/255 steps; l2_* and epsilon in [0,1] pixel units; poisoned minus clean images',
      });
      if (clean.meta.seed !== undefined) meta.seed = clean.meta.seed;
    }
  }
  if (o.classes && o.kind === 'perturbations') dataset.classes = o.classes.slice();

  const m = dataset.meta;
  m.attack = 'imported';
  m.import_file = path.resolve(file);
  m.import_sha256 = await opened.sha256();
  if (key) m.import_array = key;
  m.import_kind = o.kind;
  m.import_dtype = a.dtype;
  m.import_shape = `(${a.shape.join(', ')})`;
  m.import_layout = `${g.layout.toUpperCase()} (${g.detected ? 'detected' : 'given'})`;
  m.import_range = `[${fmt(range.min)}, ${fmt(range.max)}]`;
  m.import_units = units;
  m.import_labels = labelSource;
  if (clean) m.import_clean = o.cleanPath !== undefined ? path.resolve(o.cleanPath) : cleanName;
  m.import_assumed = assumed.length ? assumed.join('; ') : 'nothing';
  validateDataset(dataset, at);
  return { dataset, assumed };
}
