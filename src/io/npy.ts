// Hand-written readers for NumPy's .npy and .npz files, so that poisons made in Python
// (APBench, the attack authors' releases) can be imported without Python.
//   .npy: "\x93NUMPY" | major | minor | header length (u16 LE for 1.0, u32 LE for 2.0/3.0) |
//         a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W, C), }
//         | raw element bytes in C order.
//   .npz: a zip archive of NAME.npy entries (np.savez stores them, np.savez_compressed deflates).
// Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html

import { open, readFile } from 'node:fs/promises';

import { inflateAtMost, inflatePieces, zipEntries } from './zip.js';

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

/** What an .npy header says: enough to check an array against what a caller expects before its data is read. */
export interface NpyHeader {
  /** the dtype as written, e.g. '<f4' */
  descr: string;
  dtype: NpyDtype;
  shape: number[];
  /** bytes before the element data (magic, version, header) */
  dataOffset: number;
  /** element bytes the shape and dtype imply */
  dataBytes: number;
}

/**
 * Largest header we read. NumPy writes a few hundred bytes and itself refuses more than 10,000 by
 * default; the cap keeps a corrupt length from making us inflate or read megabytes for a header.
 */
export const MAX_NPY_HEADER = 1 << 16;

/** Bytes from the start of an .npy to the end of its header, once the first 12 bytes are there (else null). */
function headerEnd(b: Buffer): number | null {
  if (b.length < 12) return null;
  return b[6] === 1 ? 10 + b.readUInt16LE(8) : 12 + b.readUInt32LE(8);
}

/**
 * Decode the header of an .npy held (at least its first bytes) in `buf`: dtype, shape and where the
 * data starts. Every format error (magic, version, Fortran order, objects, byte order, dtype) is
 * found here, before any data is touched.
 */
export function parseNpyHeader(buf: Uint8Array, where: string): NpyHeader {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length === 0) throw new Error(`${where}: the file is empty (0 bytes), not a .npy array`);
  const magicPart = b.subarray(0, Math.min(6, b.length));
  if (!magicPart.equals(MAGIC.subarray(0, magicPart.length))) throw new Error(`${where}: not a .npy file (missing the \\x93NUMPY magic)`);
  if (b.length < 10) throw new Error(`${where}: truncated .npy header (${b.length} bytes)`);
  const major = b[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = b.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (b.length < 12) throw new Error(`${where}: truncated .npy header (${b.length} bytes)`);
    headerLen = b.readUInt32LE(8);
    start = 12;
  } else {
    throw new Error(`${where}: .npy format version ${major}.${b[7]} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  if (headerLen > MAX_NPY_HEADER) throw new Error(`${where}: .npy header length ${headerLen} is over ${MAX_NPY_HEADER} bytes; the file is corrupt or not a plain array`);
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
  const dataBytes = numel(header.shape) * Number(dtype.slice(1));
  if (!Number.isSafeInteger(dataBytes)) throw new Error(`${where}: shape (${header.shape.join(', ')}) is too large to be a real array; the file is corrupt`);
  return { descr: header.descr, dtype, shape: header.shape, dataOffset: start + headerLen, dataBytes };
}

/**
 * Decode one .npy file held in memory. `where` names it in errors. The data is a view of `buf`
 * when it is aligned for its type (NumPy pads headers so that it is), else a copy.
 */
export function parseNpy(buf: Uint8Array, where: string): NdArray {
  const h = parseNpyHeader(buf, where);
  const have = buf.byteLength - h.dataOffset;
  if (have < h.dataBytes) {
    throw new Error(`${where}: truncated: shape (${h.shape.join(', ')}) of ${h.descr} needs ${h.dataBytes} bytes of data, the file has ${have}`);
  }
  const size = Number(h.dtype.slice(1));
  const n = h.dataBytes / size;
  const at = buf.byteOffset + h.dataOffset;
  // Views avoid a second copy of arrays that can be hundreds of MB.
  let src: ArrayBufferLike = buf.buffer;
  let offset = at;
  if (at % size !== 0) {
    const copy = new Uint8Array(h.dataBytes);
    copy.set(buf.subarray(h.dataOffset, h.dataOffset + h.dataBytes));
    src = copy.buffer;
    offset = 0;
  }
  const shape = h.shape;
  switch (h.dtype) {
    case 'u1': return { dtype: 'u1', shape, data: new Uint8Array(src, offset, n) };
    case 'f4': return { dtype: 'f4', shape, data: new Float32Array(src, offset, n) };
    case 'f8': return { dtype: 'f8', shape, data: new Float64Array(src, offset, n) };
    case 'i4': return { dtype: 'i4', shape, data: new Int32Array(src, offset, n) };
    case 'i8': return { dtype: 'i8', shape, data: new BigInt64Array(src, offset, n) };
  }
}

/** One array of an .npy or .npz file: its header, read first; `load()` reads (inflates) and decodes the data. */
export interface NpyMember {
  header: NpyHeader;
  /** names the array in errors: the file, and for an .npz "file:member" */
  where: string;
  load(): Promise<NdArray>;
}

/**
 * Open an .npy file: only its header is read now, so that a caller can refuse an array of the
 * wrong shape or dtype without reading it. A file shorter than its header implies is refused here.
 */
export async function openNpyFile(path: string, where = path): Promise<NpyMember> {
  const fh = await open(path, 'r');
  let size: number;
  let head: Buffer;
  try {
    size = (await fh.stat()).size;
    head = Buffer.alloc(Math.min(size, 12 + MAX_NPY_HEADER));
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const header = parseNpyHeader(head, where);
  const have = size - header.dataOffset;
  if (have < header.dataBytes) {
    throw new Error(`${where}: truncated: shape (${header.shape.join(', ')}) of ${header.descr} needs ${header.dataBytes} bytes of data, the file has ${have}`);
  }
  return { header, where, load: async () => parseNpy(await readFile(path), where) };
}

/** The first bytes of a deflated .npy entry, up to the end of its header (or all, if shorter). */
async function inflateHead(raw: Buffer, what: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let got = 0;
  await inflatePieces(raw, what, (piece) => {
    pieces.push(piece);
    got += piece.length;
    const end = headerEnd(Buffer.concat(pieces, got));
    // Past the cap the header parser refuses the length; no need to inflate further.
    return end === null || (got < end && got < 12 + MAX_NPY_HEADER);
  });
  return Buffer.concat(pieces, got);
}

/** Inflate a deflated entry into exactly `size` bytes; more or fewer is an error, found as soon as it happens. */
async function inflateExact(raw: Buffer, size: number, what: string, implied: string): Promise<Uint8Array> {
  const out = await inflateAtMost(raw, size, what, `its .npy header implies (${implied}); the archive is corrupt or a zip bomb`);
  if (out.length < size) throw new Error(`${what}: inflates to ${out.length} bytes, short of the ${size} its .npy header implies (${implied}); the archive is truncated or corrupt`);
  return out;
}

/**
 * Open a .npz archive held in memory: each array's .npy header is read (for a deflated entry only
 * its first bytes are inflated), so a caller can check shapes and dtypes before any data is
 * inflated; `load()` then inflates one array, never past the size its header implies. An entry
 * whose zip directory size disagrees with its header is refused here. Names lose ".npy".
 */
export async function openNpz(buf: Uint8Array, where: string): Promise<Map<string, NpyMember>> {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Map<string, NpyMember>();
  for (const e of zipEntries(b, where, '.npz file')) {
    const what = `${where}:${e.name}`;
    const header = parseNpyHeader(e.method === 0 ? e.raw : await inflateHead(e.raw, what), what);
    const total = header.dataOffset + header.dataBytes;
    const implied = `shape (${header.shape.join(', ')}) of ${header.descr}`;
    if (e.size !== total) {
      throw new Error(`${what}: the zip directory says ${e.size} bytes but its .npy header implies ${total} (${implied}); the archive is corrupt`);
    }
    const load = async (): Promise<NdArray> => {
      if (e.method === 0) {
        if (e.raw.length !== total) throw new Error(`${what}: stored entry is ${e.raw.length} bytes, its .npy header implies ${total} (${implied})`);
        return parseNpy(e.raw, what);
      }
      return parseNpy(await inflateExact(e.raw, total, what, implied), what);
    };
    out.set(e.name.replace(/\.npy$/, ''), { header, where: what, load });
  }
  if (out.size === 0) throw new Error(`${where}: the .npz archive holds no arrays`);
  return out;
}

/** Decode every array of a .npz archive held in memory: entry name without ".npy" -> array. */
export async function readNpz(buf: Uint8Array, where: string): Promise<Map<string, NdArray>> {
  const out = new Map<string, NdArray>();
  for (const [name, m] of await openNpz(buf, where)) out.set(name, await m.load());
  return out;
}

/** Number to JS number for any element (int64 via Number: exact below 2^53, which covers labels). */
export function elementAt(a: NdArray, i: number): number {
  return Number(a.data[i]);
}
