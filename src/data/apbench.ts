// The poison folders APBench writes (lafeat/apbench, poisons_generate.py export_poison): one PNG per
// training image, named by the image's index in the clean training set, in DIR/data/<index>.png
// (DIR is ./dataset/<attack>_poisons/<dataset>/). No labels: they are the clean set's, in its
// order. Read here into one uint8 NHWC array, so that the poison importer treats the folder as it
// treats an .npy of poisoned images.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export interface IndexedPngs {
  /** the folder the PNGs are in (DIR/data, or DIR itself) */
  folder: string;
  n: number;
  height: number;
  width: number;
  /** NHWC RGB bytes, image i at i * height * width * 3 */
  data: Uint8Array;
  /** sha256 over the decoded pixels, in index order */
  sha256: string;
}

const NAME = /^(0|[1-9][0-9]*)\.png$/i;

/** The folder holding the indexed PNGs of an APBench poison folder, or null when `dir` is not one. */
export function apbenchFolder(dir: string): string | null {
  for (const f of [join(dir, 'data'), dir]) {
    let names: string[];
    try {
      if (!statSync(f).isDirectory()) continue;
      names = readdirSync(f);
    } catch {
      continue;
    }
    if (names.some((n) => NAME.test(n))) return f;
  }
  return null;
}

/** How many indexed PNGs the folder has, refusing a gap (0.png .. (n-1).png, every one present). */
function indexCount(folder: string): number {
  const indices = readdirSync(folder).filter((f) => NAME.test(f)).map((f) => Number(f.slice(0, -4))).sort((a, b) => a - b);
  const gap = indices.findIndex((v, i) => v !== i);
  if (gap >= 0) throw new Error(`${join(folder, `${gap}.png`)} is missing (APBench writes one PNG per training image, 0.png to ${indices.at(-1)}.png here); the folder is incomplete`);
  return indices.length;
}

/** The shape of an APBench poison folder from its file names and 0.png's header, nothing decoded. */
export async function probeIndexedPngs(dir: string): Promise<{ folder: string; n: number; height: number; width: number }> {
  const folder = apbenchFolder(dir);
  if (folder === null) throw new Error(`${dir}: no APBench poison folder (PNG files named by image index, 0.png, 1.png, ..., in ${join(dir, 'data')} or in the folder itself)`);
  const n = indexCount(folder);
  const first = join(folder, '0.png');
  let meta: sharp.Metadata;
  try {
    meta = await sharp(readFileSync(first)).metadata();
  } catch (e) {
    throw new Error(`${first}: not a readable PNG (${(e as Error).message.split('\n')[0]}); APBench's folders start at 0.png`, { cause: e });
  }
  return { folder, n, height: meta.height ?? 0, width: meta.width ?? 0 };
}

/** Decode DIR/data/0.png .. (n-1).png (or DIR/0.png ..): every index present, one size, RGB. */
export async function readIndexedPngs(dir: string): Promise<IndexedPngs> {
  const { folder, n } = await probeIndexedPngs(dir);
  let height = 0;
  let width = 0;
  let data = new Uint8Array(0);
  const hash = createHash('sha256');
  for (let i = 0; i < n; i++) {
    const file = join(folder, `${i}.png`);
    let raw: { data: Buffer; info: sharp.OutputInfo };
    try {
      raw = await sharp(readFileSync(file)).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new Error(`${file}: not a readable PNG (${(e as Error).message.split('\n')[0]}); re-export the poison folder`, { cause: e });
    }
    const { width: w, height: h, channels } = raw.info;
    if (i === 0) {
      height = h;
      width = w;
      data = new Uint8Array(n * h * w * 3);
    } else if (w !== width || h !== height) {
      throw new Error(`${file}: ${w}x${h}, but 0.png is ${width}x${height}; every image of a poison folder has one size`);
    }
    if (channels !== 3) throw new Error(`${file}: ${channels} channels after dropping alpha; poisons are RGB images`);
    data.set(raw.data, i * h * w * 3);
    hash.update(raw.data);
  }
  return { folder, n, height, width, data, sha256: hash.digest('hex') };
}
