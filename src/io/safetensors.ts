// Hand-written reader/writer for the safetensors format (https://huggingface.co/docs/safetensors):
//   u64 LE header length | JSON header (space padded to 8 bytes) | raw little-endian tensor bytes.
// Files written here load with Python's `safetensors.torch.load_file`.

import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import { atomicWriteFile, type AtomicWriteOptions } from './atomic.js';

export type Dtype = 'F32' | 'F64' | 'U8' | 'I64' | 'BOOL' | 'I32';

export interface DtypeArrays {
  F32: Float32Array;
  F64: Float64Array;
  U8: Uint8Array;
  I64: BigInt64Array;
  /** One byte per element, 0 or 1. */
  BOOL: Uint8Array;
  I32: Int32Array;
}

export type TypedArray = DtypeArrays[Dtype];

/** A tensor; `data` length must equal the product of `shape`. */
export type Tensor = { [D in Dtype]: { dtype: D; shape: number[]; data: DtypeArrays[D] } }[Dtype];

export type TensorMap = Record<string, Tensor>;
export type Metadata = Record<string, string>;

export interface SafetensorsContents {
  tensors: TensorMap;
  metadata: Metadata;
}

const BYTES: Record<Dtype, number> = { F32: 4, F64: 8, U8: 1, I64: 8, BOOL: 1, I32: 4 };
const MAX_HEADER = 100_000_000; // same limit as the reference implementation

export function dtypeBytes(d: Dtype): number {
  return BYTES[d];
}

function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(BYTES, s);
}

function assertLittleEndian(): void {
  // We copy typed-array bytes verbatim; that is only correct on little-endian hosts.
  if (os.endianness() !== 'LE') throw new Error('safetensors I/O requires a little-endian host');
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkTensor(name: string, t: Tensor): void {
  if (!isDtype(t.dtype)) throw new Error(`tensor "${name}": unsupported dtype ${String(t.dtype)}`);
  if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new Error(`tensor "${name}": shape must be an array of non-negative integers, got ${JSON.stringify(t.shape)}`);
  }
  const expectedCtor = ctorFor(t.dtype);
  if (!(t.data instanceof expectedCtor)) {
    throw new Error(`tensor "${name}": dtype ${t.dtype} needs a ${expectedCtor.name}, got ${(t.data as object).constructor.name}`);
  }
  const n = numel(t.shape);
  if (t.data.length !== n) {
    throw new Error(`tensor "${name}": shape [${t.shape.join(', ')}] has ${n} elements but data has ${t.data.length}`);
  }
}

type AnyCtor = { new (buf: ArrayBuffer, off: number, len: number): TypedArray; new (len: number): TypedArray; name: string; BYTES_PER_ELEMENT: number };

function ctorFor(d: Dtype): AnyCtor {
  switch (d) {
    case 'F32': return Float32Array as unknown as AnyCtor;
    case 'F64': return Float64Array as unknown as AnyCtor;
    case 'U8':
    case 'BOOL': return Uint8Array as unknown as AnyCtor;
    case 'I64': return BigInt64Array as unknown as AnyCtor;
    case 'I32': return Int32Array as unknown as AnyCtor;
  }
}

function bytesOf(a: TypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Lay out header + data. Tensors are ordered by decreasing alignment then name,
 * so every tensor starts aligned to its element size (the header is padded to 8).
 */
function layout(tensors: TensorMap, metadata?: Metadata): { header: Buffer; order: string[]; dataLen: number } {
  assertLittleEndian();
  const names = Object.keys(tensors);
  for (const n of names) {
    if (n === '__metadata__') throw new Error('"__metadata__" is reserved and cannot be a tensor name');
    checkTensor(n, tensors[n]);
  }
  names.sort((a, b) => BYTES[tensors[b].dtype] - BYTES[tensors[a].dtype] || (a < b ? -1 : a > b ? 1 : 0));
  const head: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`metadata "${k}" must be a string (safetensors only stores strings)`);
    }
    head.__metadata__ = metadata;
  }
  let off = 0;
  for (const n of names) {
    const t = tensors[n];
    const len = t.data.byteLength;
    head[n] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + len] };
    off += len;
  }
  let json = JSON.stringify(head);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  const padded = Math.ceil(jsonBytes / 8) * 8;
  json += ' '.repeat(padded - jsonBytes);
  if (padded > MAX_HEADER) throw new Error(`safetensors header too large (${padded} bytes)`);
  const header = Buffer.alloc(8 + padded);
  header.writeBigUInt64LE(BigInt(padded), 0);
  header.write(json, 8, 'utf8');
  return { header, order: names, dataLen: off };
}

/** Serialize to one in-memory buffer. */
export function encodeSafetensors(tensors: TensorMap, metadata?: Metadata): Uint8Array {
  const { header, order, dataLen } = layout(tensors, metadata);
  const out = new Uint8Array(header.length + dataLen);
  out.set(header, 0);
  let off = header.length;
  for (const n of order) {
    const b = bytesOf(tensors[n].data);
    out.set(b, off);
    off += b.length;
  }
  return out;
}

/** Write atomically; tensor bytes are streamed from their arrays without an extra full copy. */
export async function writeSafetensors(
  path: string,
  tensors: TensorMap,
  metadata?: Metadata,
  opts?: AtomicWriteOptions,
): Promise<void> {
  const { header, order } = layout(tensors, metadata);
  const chunks: Uint8Array[] = [header, ...order.map((n) => bytesOf(tensors[n].data))];
  await atomicWriteFile(path, chunks, opts);
}

/** Parse a safetensors buffer. `label` names the source in errors. Data is copied into fresh aligned arrays. */
export function decodeSafetensors(buf: Uint8Array, label = '<buffer>'): SafetensorsContents {
  assertLittleEndian();
  const bad = (msg: string): Error => new Error(`${label}: not a valid safetensors file: ${msg}`);
  if (buf.length < 8) throw bad(`file is ${buf.length} bytes, too short for the 8-byte header length (truncated?)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen64 = view.getBigUint64(0, true);
  if (hlen64 > BigInt(MAX_HEADER)) throw bad(`header length ${hlen64} is implausibly large`);
  const hlen = Number(hlen64);
  if (8 + hlen > buf.length) {
    throw bad(`header length ${hlen} goes past the end of the file (${buf.length} bytes; truncated?)`);
  }
  let head: unknown;
  try {
    head = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, hlen).toString('utf8'));
  } catch (e) {
    throw bad(`header is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof head !== 'object' || head === null || Array.isArray(head)) throw bad('header is not a JSON object');
  const dataStart = 8 + hlen;
  const dataLen = buf.length - dataStart;
  const metadata: Metadata = {};
  const tensors: TensorMap = {};
  const spans: Array<[number, number, string]> = [];
  for (const [name, raw] of Object.entries(head as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('__metadata__ must be an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(`metadata "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null) throw bad(`entry "${name}" is not an object`);
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDtype(info.dtype)) throw bad(`tensor "${name}" has unsupported dtype ${JSON.stringify(info.dtype)} (supported: ${Object.keys(BYTES).join(', ')})`);
    const shape = info.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw bad(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      throw bad(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end > dataLen) {
      throw bad(`tensor "${name}" data [${begin}, ${end}) lies beyond the ${dataLen} data bytes present (truncated?)`);
    }
    const dtype = info.dtype;
    const expected = numel(shape as number[]) * BYTES[dtype];
    if (end - begin !== expected) {
      throw bad(`tensor "${name}" ${dtype}[${(shape as number[]).join(', ')}] needs ${expected} bytes but data_offsets span ${end - begin}`);
    }
    spans.push([begin, end, name]);
    const Ctor = ctorFor(dtype);
    const n = expected / BYTES[dtype];
    const arr = new Ctor(n);
    new Uint8Array(arr.buffer).set(buf.subarray(dataStart + begin, dataStart + end));
    tensors[name] = { dtype, shape: (shape as number[]).slice(), data: arr } as Tensor;
  }
  // The reference reader rejects gaps and overlaps; do the same so our files stay compatible.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cursor = 0;
  for (const [b, e, n] of spans) {
    if (b !== cursor) throw bad(`tensor "${n}" starts at ${b}, expected ${cursor} (gap or overlap in data_offsets)`);
    cursor = e;
  }
  if (cursor !== dataLen) throw bad(`tensors cover ${cursor} data bytes but the file holds ${dataLen} (trailing or missing bytes)`);
  return { tensors, metadata };
}

/** Read and validate a safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new Error(`${path}: file not found`, { cause: e });
    throw new Error(`${path}: cannot read (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  return decodeSafetensors(buf, path);
}
