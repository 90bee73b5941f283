// A reader for the tensors in a PyTorch torch.save file, so that poisons released as .pt/.pth
// (e.g. the perturbation.pt of Unlearnable Examples' release, or a dict of tensors) can be
// imported without Python. The file (PyTorch >= 1.6) is a zip archive: NAME/data.pkl, a pickle
// (protocol 2) whose tensors point by persistent id at raw little-endian storages NAME/data/KEY.
// Only what tensors need is unpickled: dicts, lists, tuples, numbers, strings, and the two
// constructors torch writes for a tensor (torch._utils._rebuild_tensor_v2, _rebuild_parameter)
// and for its hooks (collections.OrderedDict). Nothing in the pickle is executed; any other
// global is refused by name.

import type { NdArray, NpyDtype } from './npy.js';
import { inflateAtMost, zipEntries, type ZipEntry } from './zip.js';

/** A tensor in the file, known by its header until load(). */
export interface TorchTensorRef {
  dtype: NpyDtype;
  shape: number[];
  /** bytes its data takes once loaded */
  bytes: number;
  load(): Promise<NdArray>;
}

// storage class -> element type and size
const STORAGES: Record<string, { dtype: NpyDtype; size: number }> = {
  ByteStorage: { dtype: 'u1', size: 1 },
  FloatStorage: { dtype: 'f4', size: 4 },
  DoubleStorage: { dtype: 'f8', size: 8 },
  IntStorage: { dtype: 'i4', size: 4 },
  LongStorage: { dtype: 'i8', size: 8 },
};

interface Global { kind: 'global'; module: string; name: string }
interface Storage { kind: 'storage'; dtype: NpyDtype; size: number; key: string; numel: number }
interface TensorSpec { kind: 'tensor'; storage: Storage; offset: number; shape: number[]; stride: number[] }
type Value = null | boolean | number | string | Value[] | Map<string | number, Value> | Global | Storage | TensorSpec | { kind: 'tuple'; items: Value[] } | { kind: 'mark' };

const isObj = <K extends string>(v: Value, kind: K): v is Extract<Value, { kind: K }> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && v.kind === kind;
const items = (v: Value, what: string, where: string): Value[] => {
  if (isObj(v, 'tuple')) return v.items;
  if (Array.isArray(v)) return v;
  throw new Error(`${where}: ${what} is not a tuple`);
};
const int = (v: Value, what: string, where: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new Error(`${where}: ${what} is not an integer`);
  return v;
};

/** Unpickle data.pkl into values; tensors become TensorSpecs. */
function unpickle(b: Buffer, where: string): Value {
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  const MARK: Value = { kind: 'mark' };
  let p = 0;
  const need = (n: number): void => {
    if (p + n > b.length) throw new Error(`${where}: the pickle ends early (byte ${p})`);
  };
  const line = (): string => {
    const end = b.indexOf(0x0a, p);
    if (end < 0) throw new Error(`${where}: the pickle ends early (byte ${p})`);
    const s = b.toString('utf8', p, end);
    p = end + 1;
    return s;
  };
  const pop = (): Value => {
    if (stack.length === 0) throw new Error(`${where}: corrupt pickle (pop from an empty stack at byte ${p})`);
    return stack.pop()!;
  };
  const popMark = (): Value[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new Error(`${where}: corrupt pickle (no mark at byte ${p})`);
    const out = stack.slice(i + 1);
    stack.length = i;
    return out;
  };
  const setItems = (d: Value, kv: Value[]): void => {
    if (!(d instanceof Map)) throw new Error(`${where}: corrupt pickle (items set on a non-dict)`);
    for (let i = 0; i + 1 < kv.length; i += 2) {
      const k = kv[i]!;
      if (typeof k !== 'string' && typeof k !== 'number') throw new Error(`${where}: a dict key that is neither a string nor a number`);
      d.set(k, kv[i + 1]!);
    }
  };
  const reduce = (f: Value, args: Value[]): Value => {
    if (!isObj(f, 'global')) throw new Error(`${where}: corrupt pickle (a call of a non-global)`);
    const name = `${f.module}.${f.name}`;
    if (name === 'collections.OrderedDict') return new Map();
    if (name === 'torch._utils._rebuild_parameter') return args[0]!;
    if (name === 'torch._utils._rebuild_tensor_v2') {
      const storage = args[0]!;
      if (!isObj(storage, 'storage')) throw new Error(`${where}: a tensor without its storage`);
      return {
        kind: 'tensor', storage, offset: int(args[1]!, 'a storage offset', where),
        shape: items(args[2]!, 'a shape', where).map((v) => int(v, 'a dimension', where)),
        stride: items(args[3]!, 'a stride', where).map((v) => int(v, 'a stride', where)),
      };
    }
    throw new Error(`${where}: holds a ${name} object; only tensors (and dicts, lists and tuples of them) are read: save the tensor itself with torch.save`);
  };
  for (;;) {
    need(1);
    const op = b[p++]!;
    switch (op) {
      case 0x80: need(1); p++; break; // PROTO
      case 0x95: need(8); p += 8; break; // FRAME
      case 0x2e: return pop(); // STOP
      case 0x28: stack.push(MARK); break; // MARK
      case 0x63: { const module = line(); stack.push({ kind: 'global', module, name: line() }); break; } // GLOBAL
      case 0x93: { const name = pop(); const module = pop(); stack.push({ kind: 'global', module: String(module), name: String(name) }); break; } // STACK_GLOBAL
      case 0x71: need(1); memo.set(b[p++]!, stack.at(-1)!); break; // BINPUT
      case 0x72: need(4); memo.set(b.readUInt32LE(p), stack.at(-1)!); p += 4; break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, stack.at(-1)!); break; // MEMOIZE
      case 0x68: need(1); stack.push(memo.get(b[p++]!) ?? null); break; // BINGET
      case 0x6a: need(4); stack.push(memo.get(b.readUInt32LE(p)) ?? null); p += 4; break; // LONG_BINGET
      case 0x58: { need(4); const n = b.readUInt32LE(p); p += 4; need(n); stack.push(b.toString('utf8', p, p + n)); p += n; break; } // BINUNICODE
      case 0x8c: { need(1); const n = b[p++]!; need(n); stack.push(b.toString('utf8', p, p + n)); p += n; break; } // SHORT_BINUNICODE
      case 0x4b: need(1); stack.push(b[p++]!); break; // BININT1
      case 0x4d: need(2); stack.push(b.readUInt16LE(p)); p += 2; break; // BININT2
      case 0x4a: need(4); stack.push(b.readInt32LE(p)); p += 4; break; // BININT
      case 0x8a: { // LONG1: little-endian two's complement of n bytes
        need(1);
        const n = b[p++]!;
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i]!);
        if (n > 0 && b[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: need(8); stack.push(b.readDoubleBE(p)); p += 8; break; // BINFLOAT
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x29: stack.push({ kind: 'tuple', items: [] }); break; // EMPTY_TUPLE
      case 0x85: stack.push({ kind: 'tuple', items: [pop()] }); break; // TUPLE1
      case 0x86: { const y = pop(); stack.push({ kind: 'tuple', items: [pop(), y] }); break; } // TUPLE2
      case 0x87: { const z = pop(); const y = pop(); stack.push({ kind: 'tuple', items: [pop(), y, z] }); break; } // TUPLE3
      case 0x74: stack.push({ kind: 'tuple', items: popMark() }); break; // TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x61: { const v = pop(); const l = stack.at(-1); if (!Array.isArray(l)) throw new Error(`${where}: corrupt pickle (append to a non-list)`); l.push(v); break; } // APPEND
      case 0x65: { const vs = popMark(); const l = stack.at(-1); if (!Array.isArray(l)) throw new Error(`${where}: corrupt pickle (append to a non-list)`); l.push(...vs); break; } // APPENDS
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(stack.at(-1)!, [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(stack.at(-1)!, kv); break; } // SETITEMS
      case 0x52: { const args = pop(); const f = pop(); stack.push(reduce(f, items(args, 'call arguments', where))); break; } // REDUCE
      case 0x62: pop(); break; // BUILD: the state of an OrderedDict of hooks, not needed
      case 0x51: { // BINPERSID: ('storage', storage class, key, location, numel)
        const pid = items(pop(), 'a persistent id', where);
        const cls = pid[1]!;
        const known = isObj(cls, 'global') ? STORAGES[cls.name] : undefined;
        if (!known) throw new Error(`${where}: a tensor stored as ${isObj(cls, 'global') ? `${cls.module}.${cls.name}` : 'an unknown type'}; uint8, float32, float64, int32 and int64 tensors are read (convert it with .float() before torch.save)`);
        stack.push({ kind: 'storage', ...known, key: String(pid[2]), numel: int(pid[4]!, 'a storage size', where) });
        break;
      }
      default:
        throw new Error(`${where}: pickle opcode 0x${op.toString(16)} at byte ${p - 1} is not one torch.save writes for tensors; this reader takes files written by torch.save (PyTorch 1.6 or later)`);
    }
  }
}

/** Tensors reachable from the top value: a bare tensor is '', dict entries by key, list items by index. */
function tensorsOf(v: Value, name: string, out: Map<string, TensorSpec>): void {
  if (isObj(v, 'tensor')) out.set(name, v);
  else if (v instanceof Map) for (const [k, x] of v) tensorsOf(x, name ? `${name}.${k}` : String(k), out);
  else if (Array.isArray(v) || isObj(v, 'tuple')) (Array.isArray(v) ? v : v.items).forEach((x, i) => tensorsOf(x, name ? `${name}.${i}` : String(i), out));
}

function entryBytes(e: ZipEntry, what: string): Promise<Buffer> {
  return e.method === 0 ? Promise.resolve(e.raw) : inflateAtMost(e.raw, e.size, what, 'its zip directory states; the archive is corrupt');
}

/** The tensors of a torch.save file held in memory, by name, each checked against its storage before load(). */
export async function openTorchFile(buf: Uint8Array, where: string): Promise<Map<string, TorchTensorRef>> {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const entries = zipEntries(b, where, 'PyTorch file (torch.save writes a zip archive; a file from before PyTorch 1.6 must be re-saved)');
  const pkl = entries.find((e) => e.name.endsWith('/data.pkl') || e.name === 'data.pkl');
  if (!pkl) throw new Error(`${where}: a zip archive without data.pkl, not a torch.save file`);
  const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
  const order = entries.find((e) => e.name === `${prefix}byteorder`);
  if (order && (await entryBytes(order, where)).toString('utf8').trim() !== 'little') throw new Error(`${where}: big-endian tensors are not supported`);
  const specs = new Map<string, TensorSpec>();
  tensorsOf(unpickle(await entryBytes(pkl, `${where}:${pkl.name}`), `${where}:${pkl.name}`), '', specs);
  if (specs.size === 0) throw new Error(`${where}: the file holds no tensors`);
  const out = new Map<string, TorchTensorRef>();
  for (const [name, t] of specs) {
    const what = name ? `${where}:${name}` : where;
    const entry = entries.find((e) => e.name === `${prefix}data/${t.storage.key}`);
    if (!entry) throw new Error(`${what}: its storage data/${t.storage.key} is missing from the archive`);
    if (entry.size !== t.storage.numel * t.storage.size) throw new Error(`${what}: storage data/${t.storage.key} is ${entry.size} bytes, its header says ${t.storage.numel} elements of ${t.storage.size} bytes`);
    const numel = t.shape.reduce((a, c) => a * c, 1);
    // C-order strides: a view with other strides (a transpose, a slice) must be made contiguous first
    const contiguous = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, c) => a * c, 1));
    if (numel > 1 && t.shape.some((d, i) => d > 1 && t.stride[i] !== contiguous[i]))
      throw new Error(`${what}: a non-contiguous tensor (strides ${t.stride.join(', ')} for shape ${t.shape.join(', ')}); save tensor.contiguous() instead`);
    if (t.offset + numel > t.storage.numel) throw new Error(`${what}: shape ${t.shape.join('x')} at offset ${t.offset} runs past its storage of ${t.storage.numel} elements`);
    const bytes = numel * t.storage.size;
    out.set(name, {
      dtype: t.storage.dtype, shape: t.shape, bytes,
      load: async () => {
        const raw = await entryBytes(entry, what);
        // a copy, aligned for the typed array
        const data = new Uint8Array(bytes);
        data.set(raw.subarray(t.offset * t.storage.size, t.offset * t.storage.size + bytes));
        const ab = data.buffer;
        switch (t.storage.dtype) {
          case 'u1': return { dtype: 'u1', shape: t.shape, data };
          case 'f4': return { dtype: 'f4', shape: t.shape, data: new Float32Array(ab) };
          case 'f8': return { dtype: 'f8', shape: t.shape, data: new Float64Array(ab) };
          case 'i4': return { dtype: 'i4', shape: t.shape, data: new Int32Array(ab) };
          case 'i8': return { dtype: 'i8', shape: t.shape, data: new BigInt64Array(ab) };
        }
      },
    });
  }
  return out;
}
