// Image grids as PNG: rows of CHW uint8 images, upscaled with nearest neighbour so a person
// can see 32x32 pixels. Used for denoiser previews, the demo report (the paper's Fig. 4) and the
// benchmark report's figures.
import sharp from 'sharp';

import { atomicWriteFile } from './atomic.js';

export interface GridOptions {
  /** pixels per image pixel (default 3) */
  scale?: number;
  /** gap between images in output pixels (default 2, white) */
  gap?: number;
}

/** Encode rows x cols images (each 3 x h x w, CHW uint8) as one PNG. */
export async function gridPng(rows: readonly (readonly Uint8Array[])[], h: number, w: number, o: GridOptions = {}): Promise<Buffer> {
  const s = o.scale ?? 3;
  const gap = o.gap ?? 2;
  const cols = Math.max(...rows.map((r) => r.length));
  const W = cols * w * s + (cols + 1) * gap;
  const H = rows.length * h * s + (rows.length + 1) * gap;
  const out = Buffer.alloc(W * H * 3, 255);
  rows.forEach((row, r) =>
    row.forEach((img, c) => {
      if (img.length !== 3 * h * w) throw new Error(`grid image has ${img.length} bytes, expected 3x${h}x${w}`);
      const x0 = gap + c * (w * s + gap);
      const y0 = gap + r * (h * s + gap);
      for (let y = 0; y < h * s; y++)
        for (let x = 0; x < w * s; x++) {
          const src = Math.floor(y / s) * w + Math.floor(x / s);
          const dst = ((y0 + y) * W + x0 + x) * 3;
          out[dst] = img[src]!;
          out[dst + 1] = img[h * w + src]!;
          out[dst + 2] = img[2 * h * w + src]!;
        }
    }),
  );
  return sharp(out, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
}

export async function writeGridPng(path: string, rows: readonly (readonly Uint8Array[])[], h: number, w: number, o: GridOptions = {}): Promise<void> {
  await atomicWriteFile(path, await gridPng(rows, h, w, o));
}
