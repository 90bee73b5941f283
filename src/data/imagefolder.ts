// Image-folder datasets: root/<class>/*.{png,jpg,jpeg}, decoded with sharp into CHW uint8.
// Also reads the same layout straight from a .tar.gz (extracting 60,000 small files is slow).

import { promises as fsp, statSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readTar } from '../io/tar.js';
import { runPool } from '../io/pool.js';
import { atomicWriteDir, writeFileDurable } from '../io/atomic.js';
import { type ImageDataset, validateDataset } from './dataset.js';

export interface ImageFolderOptions {
  /** Expected image size (default 32x32; ignored with `resize`). */
  height?: number;
  width?: number;
  /**
   * Read images of any size: scale each so its short side is `resize` pixels, then crop the
   * centre `resize` x `resize` square (torchvision's Resize(N) + CenterCrop(N)). Without it an
   * image of another size is an ImageSizeError.
   */
  resize?: number;
  /** Images decoded at once (default 8). */
  concurrency?: number;
  /**
   * For a .tar.gz: the folder inside the archive holding the class folders (e.g. "test").
   * Without it the archive must hold one such folder level only.
   */
  subdir?: string;
}

const IMAGE_RE = /\.(png|jpe?g)$/i;

/** One image to decode: where it came from (for errors) and how to get its bytes. */
interface ImageSource {
  label: string;
  cls: string;
  read: () => Promise<Buffer>;
}

/** Images grouped by class folder. */
type ClassMap = Map<string, ImageSource[]>;

function byCodePoint(a: string, b: string): number {
  // Locale-independent so class indices are the same on every machine.
  return a < b ? -1 : a > b ? 1 : 0;
}

function isArchive(p: string): boolean {
  return /\.(tar\.gz|tgz|tar)$/i.test(p);
}

async function scanDir(root: string): Promise<ClassMap> {
  let entries;
  try {
    entries = await fsp.readdir(root, { withFileTypes: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(`${root}: ${code === 'ENOENT' ? 'folder does not exist' : code === 'ENOTDIR' ? 'not a folder' : String(e)} (expected <root>/<class>/*.png|jpg)`, { cause: e });
  }
  const map: ClassMap = new Map();
  for (const ent of entries) {
    if (!ent.isDirectory() || ent.name.startsWith('.')) continue;
    const dir = path.join(root, ent.name);
    const files = (await fsp.readdir(dir)).filter((f) => !f.startsWith('.') && IMAGE_RE.test(f)).sort(byCodePoint);
    map.set(ent.name, files.map((f) => {
      const file = path.join(dir, f);
      return { label: file, cls: ent.name, read: () => fsp.readFile(file) };
    }));
  }
  return map;
}

/** Read every image of an archive once, grouped by the folder above the class folders. */
async function scanArchive(archive: string): Promise<Map<string, ClassMap>> {
  const groups = new Map<string, ClassMap>();
  for await (const e of readTar(archive, { filter: (name) => IMAGE_RE.test(name) })) {
    const parts = e.name.split('/');
    const file = parts[parts.length - 1];
    if (parts.length < 2 || file.startsWith('.')) continue;
    const cls = parts[parts.length - 2];
    const prefix = parts.slice(0, -2).join('/');
    let g = groups.get(prefix);
    if (!g) groups.set(prefix, (g = new Map()));
    let list = g.get(cls);
    if (!list) g.set(cls, (list = []));
    const data = e.data;
    list.push({ label: `${archive}:${e.name}`, cls, read: async () => data });
  }
  for (const g of groups.values()) {
    for (const list of g.values()) list.sort((a, b) => byCodePoint(a.label, b.label));
  }
  return groups;
}

function pickGroup(groups: Map<string, ClassMap>, archive: string, subdir: string | undefined): ClassMap {
  const names = [...groups.keys()];
  if (subdir !== undefined) {
    const want = subdir.replace(/^\.?\/+|\/+$/g, '');
    const hit = names.filter((p) => p === want || p.endsWith('/' + want));
    if (hit.length !== 1) {
      throw new Error(`${archive}: ${hit.length === 0 ? 'no' : 'several'} image folders match "${subdir}" (found: ${names.map((n) => n || '.').join(', ') || 'none'})`);
    }
    return groups.get(hit[0])!;
  }
  if (names.length !== 1) {
    throw new Error(`${archive}: images sit under several folders (${names.map((n) => n || '.').join(', ')}); pick one with the subdir option, or use loadImageFolderSplits`);
  }
  return groups.get(names[0])!;
}

/** An image of another size than expected, read without the resize option. */
export class ImageSizeError extends Error {
  constructor(
    readonly file: string,
    readonly actual: { width: number; height: number },
    readonly expected: { width: number; height: number },
  ) {
    super(
      `${file}: image is ${actual.width}x${actual.height} (WxH), expected ${expected.width}x${expected.height}; ` +
        `resize your images to ${expected.width}x${expected.height} or set the resize option (short side to N, centre crop N x N)`,
    );
    this.name = 'ImageSizeError';
  }
}

async function decodeInto(src: ImageSource, dst: Uint8Array, offset: number, h: number, w: number, resize: number | undefined): Promise<void> {
  let raw: { data: Buffer; info: sharp.OutputInfo };
  const buf = await src.read();
  try {
    // removeAlpha + srgb: grey becomes 3 equal channels, alpha is dropped, 16-bit becomes 8-bit.
    let img = sharp(buf).removeAlpha();
    // fit 'cover' scales the short side to the target and crops the overflow around the centre.
    if (resize !== undefined) img = img.resize(resize, resize, { fit: 'cover', position: 'centre' });
    raw = await img.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`${src.label}: cannot decode image (${e instanceof Error ? e.message : String(e)}); the file is corrupt or not a PNG/JPEG`, { cause: e });
  }
  const { width, height, channels } = raw.info;
  if (width !== w || height !== h) throw new ImageSizeError(src.label, { width, height }, { width: w, height: h });
  if (channels !== 3 || raw.data.length !== w * h * 3) {
    throw new Error(`${src.label}: unexpected decoded layout (${channels} channels, ${raw.data.length} bytes)`);
  }
  // Interleaved HWC -> planar CHW.
  const plane = w * h;
  const d = raw.data;
  for (let p = 0, q = 0; p < plane; p++, q += 3) {
    dst[offset + p] = d[q];
    dst[offset + plane + p] = d[q + 1];
    dst[offset + 2 * plane + p] = d[q + 2];
  }
}

async function decodeClassMap(map: ClassMap, classes: string[], where: string, opts: ImageFolderOptions): Promise<ImageDataset> {
  if (opts.resize !== undefined && !(Number.isInteger(opts.resize) && opts.resize > 0)) {
    throw new Error(`${where}: resize must be a positive whole number of pixels, got ${opts.resize}`);
  }
  const h = opts.resize ?? opts.height ?? 32;
  const w = opts.resize ?? opts.width ?? 32;
  const items: ImageSource[] = [];
  const labels: number[] = [];
  classes.forEach((c, k) => {
    const list = map.get(c) ?? [];
    if (list.length === 0) throw new Error(`${where}: class folder "${c}" has no .png/.jpg/.jpeg images`);
    for (const s of list) {
      items.push(s);
      labels.push(k);
    }
  });
  const per = 3 * h * w;
  const images = new Uint8Array(items.length * per);
  // Slots are fixed before decoding, so the result does not depend on completion order.
  await runPool(items.length, opts.concurrency ?? 8, (i) => decodeInto(items[i], images, i * per, h, w, opts.resize));
  const ds: ImageDataset = {
    images, labels: Int32Array.from(labels), n: items.length, channels: 3, height: h, width: w,
    classes: classes.slice(), meta: { source: 'image-folder', path: where },
  };
  if (opts.resize !== undefined) ds.meta.resize = `short side ${opts.resize}, centre crop ${opts.resize}x${opts.resize}`;
  validateDataset(ds, where);
  return ds;
}

function classesOf(map: ClassMap, where: string): string[] {
  const classes = [...map.keys()].sort(byCodePoint);
  if (classes.length === 0) throw new Error(`${where}: no class folders found (expected <root>/<class>/*.png|jpg)`);
  return classes;
}

/** Load root/<class>/*.{png,jpg,jpeg} (root may be a folder or a .tar.gz); classes sorted alphabetically. */
export async function loadImageFolder(root: string, opts: ImageFolderOptions = {}): Promise<ImageDataset> {
  if (isArchive(root) && statSync(root, { throwIfNoEntry: false })?.isFile()) {
    const map = pickGroup(await scanArchive(root), root, opts.subdir);
    const where = opts.subdir ? `${root}:${opts.subdir}` : root;
    return decodeClassMap(map, classesOf(map, where), where, opts);
  }
  const dir = opts.subdir ? path.join(root, opts.subdir) : root;
  const map = await scanDir(dir);
  return decodeClassMap(map, classesOf(map, dir), dir, opts);
}

function checkSameClasses(train: string[], test: string[], root: string): void {
  const onlyTrain = train.filter((c) => !test.includes(c));
  const onlyTest = test.filter((c) => !train.includes(c));
  if (onlyTrain.length || onlyTest.length) {
    const parts: string[] = [];
    if (onlyTrain.length) parts.push(`missing from test: ${onlyTrain.join(', ')}`);
    if (onlyTest.length) parts.push(`missing from train: ${onlyTest.join(', ')}`);
    throw new Error(`${root}: train and test class folders differ (${parts.join('; ')}); both splits need the same classes`);
  }
}

/** Load root/train and root/test (folder or .tar.gz, read in one pass), requiring identical class folders. */
export async function loadImageFolderSplits(
  root: string,
  opts: Omit<ImageFolderOptions, 'subdir'> = {},
): Promise<{ train: ImageDataset; test: ImageDataset }> {
  let trainMap: ClassMap;
  let testMap: ClassMap;
  let trainWhere: string;
  let testWhere: string;
  if (isArchive(root) && statSync(root, { throwIfNoEntry: false })?.isFile()) {
    const groups = await scanArchive(root);
    trainMap = pickGroup(groups, root, 'train');
    testMap = pickGroup(groups, root, 'test');
    trainWhere = `${root}:train`;
    testWhere = `${root}:test`;
  } else {
    trainWhere = path.join(root, 'train');
    testWhere = path.join(root, 'test');
    trainMap = await scanDir(trainWhere);
    testMap = await scanDir(testWhere);
  }
  const trainClasses = classesOf(trainMap, trainWhere);
  checkSameClasses(trainClasses, classesOf(testMap, testWhere), root);
  const train = await decodeClassMap(trainMap, trainClasses, trainWhere, opts);
  const test = await decodeClassMap(testMap, trainClasses, testWhere, opts);
  train.meta.split = 'train';
  test.meta.split = 'test';
  return { train, test };
}

export interface PngExportOptions {
  overwrite?: boolean;
  concurrency?: number;
  /** fsync each file before publishing the folder (default true). */
  fsync?: boolean;
}

function checkClassDirName(c: string): void {
  if (c === '' || c === '.' || c === '..' || /[/\\\0]/.test(c)) {
    throw new Error(`class name ${JSON.stringify(c)} cannot be used as a folder name`);
  }
}

/** Write root/<class>/<index>.png (index zero-padded, in dataset order), atomically as a whole folder. */
export async function exportPngFolder(ds: ImageDataset, dir: string, opts: PngExportOptions = {}): Promise<void> {
  validateDataset(ds, 'exportPngFolder');
  ds.classes.forEach(checkClassDirName);
  const digits = Math.max(4, String(Math.max(0, ds.n - 1)).length);
  const { height: h, width: w } = ds;
  const plane = h * w;
  await atomicWriteDir(dir, async (tmp) => {
    for (const c of ds.classes) await fsp.mkdir(path.join(tmp, c));
    await runPool(ds.n, opts.concurrency ?? 8, async (i) => {
      const hwc = Buffer.allocUnsafe(plane * 3);
      const off = i * plane * 3;
      for (let p = 0, q = 0; p < plane; p++, q += 3) {
        hwc[q] = ds.images[off + p];
        hwc[q + 1] = ds.images[off + plane + p];
        hwc[q + 2] = ds.images[off + 2 * plane + p];
      }
      const png = await sharp(hwc, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
      const name = String(i).padStart(digits, '0') + '.png';
      await writeFileDurable(path.join(tmp, ds.classes[ds.labels[i]], name), png);
    });
  }, { overwrite: opts.overwrite, fsync: opts.fsync, hint: 'pass another --out directory' });
}
