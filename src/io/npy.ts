// Hand-written readers for NumPy's .npy and .npz files, so that poisons made in Python
// (APBench, the attack authors' releases) can be imported without Python.
//   .npy: "\x93NUMPY" | major | minor | header length (u16 LE for 1.0, u32 LE for 2.0/3.0) |
//         a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W, C), }
//         | raw element bytes in C order.
//   .npz: a zip archive of NAME.npy entries (np.savez stores them, np.savez_compressed deflates).
// Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html

import { inflateRawSync } from 'node:zlib';

/** Element types we read: bytes, 32/64-bit floats, 32/64-bit signed integers (little-endian). */
export type NpyDtype = 'u1' | 'f4' | 'f8' | 'i4' | 'i8';

export interface NpyArrays {
  u1: Uint8Array;
  f4: Float32Array;
  f8: Float64Array;
  i4: Int32Array;
  i8: BigInt64Array;
}

/** An n-dimensional array in C (row-major) order; `data.length` is the product of `shape`. */
export type NdArray = { [D in NpyDtype]: { dtype: D; shape: number[]; data: NpyArrays[D] } }[NpyDtype];

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** '<f4' -> 'f4'; '|u1' -> 'u1'. Returns null for anything we do not read. */
function dtypeOf(descr: string): NpyDtype | null {
  // '|' means byte order does not apply (1-byte types); '<' little-endian; '=' native, and every
  // host we run on is little-endian (see safetensors.ts).
  const m = /^([<|=]?)([uifb])(\d+)$/.exec(descr);
  if (!m) return null;
  const code = `${m[2]}${m[3]}`;
  if (code === 'u1' || code === 'f4' || code === 'f8' || code === 'i4' || code === 'i8') return code;
  return null;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Parse the header dict. NumPy writes it with repr(), so a small targeted parser is enough. */
function parseHeader(text: string, where: string): { descr: string; fortran: boolean; shape: number[] } {
  const fail = (m: string): never => {
    throw new Error(`${where}: not a readable .npy file: ${m}`);
  };
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!fortran || !shape) fail(`header ${JSON.stringify(text.trim())} lacks 'fortran_order' or 'shape'`);
  if (!descr) {
    // Structured dtypes have a list as descr: records, not pixels.
    fail(`header ${JSON.stringify(text.trim())} has a structured (record) dtype; save a plain numeric array`);
  }
  const dims = shape![1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  const parsed = dims.map((s) => Number(s.replace(/L$/, '')));
  if (parsed.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`bad shape (${shape![1]})`);
  return { descr: descr![1], fortran: fortran![1] === 'True', shape: parsed };
}

/** Decode one .npy file held in memory. `where` names it in errors. */
export function parseNpy(buf: Uint8Array, where: string): NdArray {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw new Error(`${where}: not a .npy file (missing the \\x93NUMPY magic)`);
  const major = b[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = b.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (b.length < 12) throw new Error(`${where}: truncated .npy header`);
    headerLen = b.readUInt32LE(8);
    start = 12;
  } else {
    throw new Error(`${where}: .npy format version ${major}.${b[7]} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  if (start + headerLen > b.length) throw new Error(`${where}: truncated .npy header`);
  // Version 3.0 only differs in allowing UTF-8 in the header (field names of structured types).
  const header = parseHeader(b.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen), where);
  if (header.fortran) {
    throw new Error(`${where}: the array is stored in Fortran (column-major) order; save it in C order, e.g. np.save(path, np.ascontiguousarray(a))`);
  }
  if (header.descr === '|O' || header.descr === 'O') {
    throw new Error(`${where}: the array holds Python objects (dtype object), which cannot be read safely; save a numeric array (e.g. a.astype(np.uint8))`);
  }
  if (header.descr.startsWith('>')) {
    throw new Error(`${where}: big-endian dtype ${header.descr}; save it little-endian, e.g. a.astype('<${header.descr.slice(1)}')`);
  }
  const dtype = dtypeOf(header.descr);
  if (dtype === null) {
    throw new Error(`${where}: dtype ${header.descr} is not supported (uint8, float32, float64, int32 and int64 are); convert it with a.astype(...)`);
  }
  const n = numel(header.shape);
  const size = Number(dtype.slice(1));
  const dataStart = start + headerLen;
  const need = n * size;
  if (b.length - dataStart < need) {
    throw new Error(`${where}: truncated: shape (${header.shape.join(', ')}) of ${header.descr} needs ${need} bytes of data, the file has ${b.length - dataStart}`);
  }
  // Copy into a fresh, aligned buffer: the data offset need not be a multiple of the element size.
  const bytes = new Uint8Array(need);
  bytes.set(b.subarray(dataStart, dataStart + need));
  const shape = header.shape;
  switch (dtype) {
    case 'u1': return { dtype, shape, data: bytes };
    case 'f4': return { dtype, shape, data: new Float32Array(bytes.buffer, 0, n) };
    case 'f8': return { dtype, shape, data: new Float64Array(bytes.buffer, 0, n) };
    case 'i4': return { dtype, shape, data: new Int32Array(bytes.buffer, 0, n) };
    case 'i8': return { dtype, shape, data: new BigInt64Array(bytes.buffer, 0, n) };
  }
}

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;

/** Find the end-of-central-directory record: the last 22 + up to 65535 comment bytes. */
function findEocd(b: Buffer, where: string): number {
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
    if (b.readUInt32LE(i) === EOCD_SIG) return i;
  }
  throw new Error(`${where}: not a .npz file (no zip directory found)`);
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

/** Decode a .npz archive held in memory: entry name without ".npy" -> array. */
export function parseNpz(buf: Uint8Array, where: string): Map<string, NdArray> {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const eocd = findEocd(b, where);
  const { offset, count } = centralDirectory(b, eocd, where);
  const out = new Map<string, NdArray>();
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
    const raw = b.subarray(dataStart, dataStart + sizes.comp);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) {
      try {
        data = inflateRawSync(raw);
      } catch (err) {
        throw new Error(`${what}: cannot inflate (${err instanceof Error ? err.message : String(err)})`, { cause: err });
      }
    } else {
      throw new Error(`${what}: zip compression method ${method} is not supported (stored and deflate are; np.savez / np.savez_compressed write those)`);
    }
    if (data.length !== sizes.size) throw new Error(`${what}: entry is ${data.length} bytes, the zip directory says ${sizes.size}`);
    out.set(name.replace(/\.npy$/, ''), parseNpy(data, what));
  }
  if (out.size === 0) throw new Error(`${where}: the .npz archive holds no arrays`);
  return out;
}

/** Number to JS number for any element (int64 via Number: exact below 2^53, which covers labels). */
export function elementAt(a: NdArray, i: number): number {
  return Number(a.data[i]);
}
