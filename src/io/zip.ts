// The zip container that .npz archives and PyTorch's torch.save files use: the central directory
// (zip64 included) read from a buffer in memory, entries stored or deflated, nothing inflated
// until asked and never past what the caller keeps.
import { createInflateRaw } from 'node:zlib';

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;

/** Find the end-of-central-directory record: the last 22 + up to 65535 comment bytes. */
function findEocd(b: Buffer, where: string, kind: string): number {
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
    if (b.readUInt32LE(i) === EOCD_SIG) return i;
  }
  throw new Error(`${where}: not a ${kind} (no zip directory found)`);
}

/** Central-directory location and entry count, following the zip64 record numpy writes for large archives. */
function centralDirectory(b: Buffer, eocd: number, where: string): { offset: number; count: number } {
  let count = b.readUInt16LE(eocd + 10);
  let offset = b.readUInt32LE(eocd + 16);
  if ((offset === 0xffffffff || count === 0xffff) && eocd >= 20 && b.readUInt32LE(eocd - 20) === ZIP64_LOCATOR_SIG) {
    const z = Number(b.readBigUInt64LE(eocd - 20 + 8));
    if (z + 56 > b.length || b.readUInt32LE(z) !== ZIP64_EOCD_SIG) throw new Error(`${where}: corrupt zip64 directory`);
    count = Number(b.readBigUInt64LE(z + 32));
    offset = Number(b.readBigUInt64LE(z + 48));
  }
  if (offset > b.length) throw new Error(`${where}: corrupt zip directory`);
  return { offset, count };
}

/** Sizes and local-header offset of an entry, reading its zip64 extra field when needed. */
function zip64Fields(b: Buffer, extraStart: number, extraLen: number, sizes: { comp: number; size: number; local: number }): void {
  let p = extraStart;
  const end = extraStart + extraLen;
  while (p + 4 <= end) {
    const id = b.readUInt16LE(p);
    const len = b.readUInt16LE(p + 2);
    if (id === 0x0001) {
      // Only the fields whose 32-bit slots hold 0xffffffff are present, in this order.
      let q = p + 4;
      if (sizes.size === 0xffffffff) { sizes.size = Number(b.readBigUInt64LE(q)); q += 8; }
      if (sizes.comp === 0xffffffff) { sizes.comp = Number(b.readBigUInt64LE(q)); q += 8; }
      if (sizes.local === 0xffffffff) { sizes.local = Number(b.readBigUInt64LE(q)); }
      return;
    }
    p += 4 + len;
  }
}

export interface ZipEntry {
  /** the entry's name in the archive */
  name: string;
  method: number;
  /** the stored or deflated bytes */
  raw: Buffer;
  /** uncompressed size, as the zip directory states it (a crafted archive can lie) */
  size: number;
}

/** The file entries of a zip archive held in memory, without inflating any; `kind` names the file in errors (".npz archive"). */
export function zipEntries(b: Buffer, where: string, kind: string): ZipEntry[] {
  if (b.length === 0) throw new Error(`${where}: the file is empty (0 bytes), not a ${kind}`);
  const eocd = findEocd(b, where, kind);
  const { offset, count } = centralDirectory(b, eocd, where);
  const out: ZipEntry[] = [];
  let p = offset;
  for (let e = 0; e < count; e++) {
    if (p + 46 > b.length || b.readUInt32LE(p) !== CENTRAL_SIG) throw new Error(`${where}: corrupt zip directory (entry ${e})`);
    const flags = b.readUInt16LE(p + 8);
    const method = b.readUInt16LE(p + 10);
    const sizes = { comp: b.readUInt32LE(p + 20), size: b.readUInt32LE(p + 24), local: b.readUInt32LE(p + 42) };
    const nameLen = b.readUInt16LE(p + 28);
    const extraLen = b.readUInt16LE(p + 30);
    const commentLen = b.readUInt16LE(p + 32);
    const name = b.toString('utf8', p + 46, p + 46 + nameLen);
    zip64Fields(b, p + 46 + nameLen, extraLen, sizes);
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith('/')) continue;
    const what = `${where}:${name}`;
    if (flags & 1) throw new Error(`${what}: encrypted zip entries are not supported`);
    const l = sizes.local;
    if (l + 30 > b.length || b.readUInt32LE(l) !== LOCAL_SIG) throw new Error(`${what}: corrupt zip entry header`);
    // The local header's own name/extra lengths may differ from the central directory's.
    const dataStart = l + 30 + b.readUInt16LE(l + 26) + b.readUInt16LE(l + 28);
    if (dataStart + sizes.comp > b.length) throw new Error(`${what}: truncated zip entry`);
    if (method !== 0 && method !== 8) {
      throw new Error(`${what}: zip compression method ${method} is not supported (stored and deflate are; np.savez / np.savez_compressed write those)`);
    }
    out.push({ name, method, raw: b.subarray(dataStart, dataStart + sizes.comp), size: sizes.size });
  }
  return out;
}

/**
 * Inflate a deflated entry through a stream, handing each piece to `take`, which returns false to
 * stop: so no more is ever inflated than the caller keeps, whatever the archive claims.
 */
export function inflatePieces(raw: Buffer, what: string, take: (piece: Buffer) => boolean | Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const z = createInflateRaw();
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      z.destroy();
      if (err) reject(err);
      else resolve();
    };
    z.on('data', (piece: Buffer) => {
      if (settled) return;
      const r = take(piece);
      if (r instanceof Error) settle(r);
      else if (!r) settle();
    });
    z.on('error', (e: Error) => settle(new Error(`${what}: cannot inflate (${e.message})`, { cause: e })));
    z.on('end', () => settle());
    z.end(raw);
  });
}

/**
 * Inflate a deflated entry whole, refusing it as soon as it passes `limit` bytes (the size its
 * zip directory or its own header states): `past` ends that error. Pieces are kept, not a
 * `limit`-sized buffer, so a lying size never allocates what the archive does not hold.
 */
export async function inflateAtMost(raw: Buffer, limit: number, what: string, past: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let got = 0;
  await inflatePieces(raw, what, (piece) => {
    got += piece.length;
    if (got > limit) return new Error(`${what}: inflates past the ${limit} bytes ${past}`);
    pieces.push(piece);
    return true;
  });
  return Buffer.concat(pieces, got);
}
