// ISS, Image Shortcut Squeezing (Liu et al., ICML 2023; liuzrcc/ImageShortcutSqueezing):
// grayscale (ISS-G) or JPEG at quality 10 (ISS-J) applied to every training image before the
// random crop and flip. Both are deterministic per image, so the squeezed set is made once.
import sharp from 'sharp';

import { imageSize, makeDataset, type ImageDataset } from '../../data/dataset.js';
import { runPool } from '../../io/pool.js';
import type { SettingTable } from '../../settings.js';
import { BaselineDefense, cachedDataset, type DefenseOptions } from './base.js';
import type { DefenseContext, DefensePlan } from './types.js';

/**
 * Grayscale copied to 3 channels with PIL's convert('L') arithmetic (ITU-R 601-2 luma in 16-bit
 * fixed point, rounded), as torchvision's Grayscale(3) on the PIL images ISS feeds it.
 */
export function grayscaleImages(ds: ImageDataset): ImageDataset {
  const out = new Uint8Array(ds.images.length);
  const plane = ds.height * ds.width;
  const per = imageSize(ds);
  for (let i = 0; i < ds.n; i++) {
    const b = i * per;
    for (let k = 0; k < plane; k++) {
      const g = (ds.images[b + k]! * 19595 + ds.images[b + plane + k]! * 38470 + ds.images[b + 2 * plane + k]! * 7471 + 0x8000) >> 16;
      out[b + k] = g;
      out[b + plane + k] = g;
      out[b + 2 * plane + k] = g;
    }
  }
  return makeDataset({ ...ds, images: out, meta: { ...ds.meta, defense_transform: 'grayscale' } });
}

/** One CHW uint8 image through a real JPEG codec (libjpeg via sharp; 4:2:0 chroma, as PIL's default). */
export async function jpegRoundTrip(chw: Uint8Array, height: number, width: number, quality: number): Promise<Uint8Array> {
  const plane = height * width;
  const hwc = new Uint8Array(3 * plane);
  for (let k = 0; k < plane; k++) for (let c = 0; c < 3; c++) hwc[3 * k + c] = chw[c * plane + k]!;
  const jpeg = await sharp(hwc, { raw: { width, height, channels: 3 } }).jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
  const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 3) throw new Error(`JPEG round trip changed the image to ${info.width}x${info.height}x${info.channels}`);
  const back = new Uint8Array(3 * plane);
  for (let k = 0; k < plane; k++) for (let c = 0; c < 3; c++) back[c * plane + k] = data[3 * k + c]!;
  return back;
}

export async function jpegImages(ds: ImageDataset, quality: number): Promise<ImageDataset> {
  const per = imageSize(ds);
  const out = new Uint8Array(ds.images.length);
  await runPool(ds.n, 8, async (i) => {
    out.set(await jpegRoundTrip(ds.images.subarray(i * per, (i + 1) * per), ds.height, ds.width, quality), i * per);
  });
  return makeDataset({ ...ds, images: out, meta: { ...ds.meta, defense_transform: `jpeg quality ${quality}` } });
}

export class IssGDefense extends BaselineDefense<Record<string, never>> {
  constructor(o: DefenseOptions = {}) {
    super('iss-g', {}, o);
  }
  async plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan> {
    return { train: await cachedDataset(ctx, 'iss-g', train, {}, async () => grayscaleImages(train)), notes: {} };
  }
}

export const ISSJ_SETTINGS = {
  quality: { flag: 'jpeg-quality', kind: 'int', min: 1, max: 100, help: 'JPEG quality of the squeezed training images', profiles: { smoke: 10, mini: 10, paper: 10 } },
} as const satisfies SettingTable;

export class IssJDefense extends BaselineDefense<typeof ISSJ_SETTINGS> {
  constructor(o: DefenseOptions = {}) {
    super('iss-j', ISSJ_SETTINGS, o);
  }
  async plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan> {
    ctx.log(`iss-j: JPEG quality ${this.settings.quality} on ${train.n} training images`);
    return { train: await cachedDataset(ctx, 'iss-j', train, this.params, () => jpegImages(train, this.settings.quality)), notes: {} };
  }
}
