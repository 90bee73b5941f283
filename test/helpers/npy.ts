// NumPy .npy/.npz files made byte by byte, for tests that need files numpy would not write (a
// member whose zip directory or header lies, a zip bomb) or that must run without Python.
import { constants, crc32, deflateRawSync } from 'node:zlib';

/** An .npy (format 1.0) of `data` (raw little-endian bytes) under `descr` and `shape`, header padded as numpy pads it. */
export function npyBytes(descr: string, shape: readonly number[], data: Uint8Array = new Uint8Array(0)): Buffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // numpy pads with spaces and a newline so that the data starts at a multiple of 64
  const pad = 64 - ((10 + dict.length + 1) % 64);
  dict += ' '.repeat(pad % 64) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(dict.length, 8);
  return Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Bytes of a typed array, for npyBytes. */
export const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export interface ZipMember {
  /** e.g. "x.npy" */
  name: string;
  /** the member's bytes, stored (method 0) or deflated here */
  data?: Uint8Array;
  deflate?: boolean;
  /** already-deflated bytes (method 8), e.g. from zeroBomb(); `size` then says what the directory claims */
  deflated?: Uint8Array;
  /** the uncompressed size the zip directory states (default: the true one, when known) */
  size?: number;
}

/** A zip archive (as np.savez / np.savez_compressed write, without zip64). */
export function zipBytes(members: readonly ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const method = m.deflated || m.deflate ? 8 : 0;
    const body = m.deflated ? Buffer.from(m.deflated) : m.deflate ? deflateRawSync(m.data!) : Buffer.from(m.data!);
    const size = m.size ?? m.data?.length ?? 0;
    const crc = m.data ? crc32(m.data) : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const dir = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(members.length, 8);
  eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(dir.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, eocd]);
}

/**
 * Raw deflate of `head` followed by zeros up to `total` bytes, made without holding `total` bytes:
 * a sync-flushed block of 1 MiB of zeros refers only to itself, so copies of it chain into one
 * valid stream. About 1 KB per MiB: a 250 MB member in a 250 KB file.
 */
export function zeroBomb(head: Uint8Array, total: number): Buffer {
  const flush = { finishFlush: constants.Z_SYNC_FLUSH };
  const MiB = 1 << 20;
  const parts: Buffer[] = [deflateRawSync(head, flush)];
  let left = total - head.length;
  const block = deflateRawSync(Buffer.alloc(MiB), flush);
  for (; left >= MiB; left -= MiB) parts.push(block);
  if (left > 0) parts.push(deflateRawSync(Buffer.alloc(left), flush));
  parts.push(deflateRawSync(Buffer.alloc(0))); // the final, empty block
  return Buffer.concat(parts);
}
