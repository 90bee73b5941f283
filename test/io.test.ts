import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import {
  decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors, type TensorMap,
} from '../src/io/safetensors.js';
import { atomicWriteDir, atomicWriteFile, describeWriteError, writeFileDurable } from '../src/io/atomic.js';
import { readTar } from '../src/io/tar.js';
import { makeTar, makeTempDir } from './helpers/tmp.js';

function allDtypes(): TensorMap {
  return {
    f32: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3.25, 0, 1e-8, -7]) },
    f64: { dtype: 'F64', shape: [3], data: Float64Array.from([Math.PI, -1e300, 0.1]) },
    u8: { dtype: 'U8', shape: [5], data: Uint8Array.from([0, 1, 127, 128, 255]) },
    i64: { dtype: 'I64', shape: [2, 2], data: BigInt64Array.from([0n, -1n, 9007199254740993n, -(2n ** 63n)]) },
    flag: { dtype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    i32: { dtype: 'I32', shape: [1, 1, 2], data: Int32Array.from([-2147483648, 2147483647]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    scalar: { dtype: 'I32', shape: [], data: Int32Array.from([42]) },
  };
}

function assertSameTensors(a: TensorMap, b: TensorMap): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    assert.equal(b[k].dtype, a[k].dtype, k);
    assert.deepEqual(b[k].shape, a[k].shape, k);
    assert.equal(b[k].data.constructor, a[k].data.constructor, k);
    assert.deepEqual(Array.from(b[k].data as ArrayLike<number | bigint>), Array.from(a[k].data as ArrayLike<number | bigint>), k);
  }
}

test('safetensors: in-memory round trip of every dtype with metadata', () => {
  const t = allDtypes();
  const meta = { note: 'héllo', seed: '3' };
  const buf = encodeSafetensors(t, meta);
  const hlen = Number(new DataView(buf.buffer, buf.byteOffset).getBigUint64(0, true));
  assert.equal(hlen % 8, 0, 'header padded to a multiple of 8');
  const out = decodeSafetensors(buf);
  assertSameTensors(t, out.tensors);
  assert.deepEqual(out.metadata, meta);
});

test('safetensors: file round trip and layout readable by a hand-written Python reader', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const file = path.join(dir, 'x.safetensors');
  const tensors = allDtypes();
  await writeSafetensors(file, tensors, { k: 'v' });
  assert.deepEqual(readdirSync(dir), ['x.safetensors'], 'no temp file left');
  const back = await readSafetensors(file);
  assertSameTensors(tensors, back.tensors);
  assert.deepEqual(back.metadata, { k: 'v' });

  // Independent check of the byte layout with Python's struct/json (skipped without python3).
  const py = spawnSync('python3', ['-c', `
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8+n])
assert n % 8 == 0 and b[8:9] == b'{'
fmt = {'F32': 'f', 'F64': 'd', 'U8': 'B', 'I64': 'q', 'BOOL': '?', 'I32': 'i'}
out = {'__metadata__': h.pop('__metadata__')}
spans = []
for k, v in h.items():
    s, e = v['data_offsets']
    spans.append((s, e))
    size = struct.calcsize(fmt[v['dtype']])
    assert s % size == 0, 'aligned'
    cnt = (e - s) // size
    out[k] = [x if not isinstance(x, float) else x for x in struct.unpack('<%d%s' % (cnt, fmt[v['dtype']]), b[8+n+s:8+n+e])]
spans.sort()
pos = 0
for s, e in spans:
    assert s == pos
    pos = e
assert pos == len(b) - 8 - n
print(json.dumps({k: [str(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v] if k != '__metadata__' else v for k, v in out.items()}))
`, file], { encoding: 'utf8' });
  if (py.error || py.status === null) {
    t.diagnostic('python3 not available: skipped the Python layout check');
    return;
  }
  assert.equal(py.status, 0, py.stderr);
  const parsed = JSON.parse(py.stdout) as Record<string, unknown[]>;
  assert.deepEqual(parsed.__metadata__, { k: 'v' });
  assert.deepEqual(parsed.i64, ['0', '-1', '9007199254740993', String(-(2n ** 63n))]);
  assert.deepEqual(parsed.flag, [true, false, true]);
  assert.deepEqual(parsed.u8, ['0', '1', '127', '128', '255']);
  assert.deepEqual(parsed.f64, [Math.PI, -1e300, 0.1]);
  assert.deepEqual(parsed.f32, Array.from(tensors.f32.data as Float32Array));
});

test('safetensors: decodes a hand-built byte fixture', () => {
  const header = '{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"m":"1"}}';
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const buf = Buffer.alloc(8 + padded.length + 8);
  buf.writeBigUInt64LE(BigInt(padded.length), 0);
  buf.write(padded, 8);
  buf.writeInt32LE(7, 8 + padded.length);
  buf.writeInt32LE(-3, 12 + padded.length);
  const out = decodeSafetensors(buf, 'fixture');
  assert.deepEqual(Array.from(out.tensors.a.data as Int32Array), [7, -3]);
  assert.deepEqual(out.metadata, { m: '1' });
});

test('safetensors: truncated and inconsistent files give errors naming the file', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const file = path.join(dir, 'bad.safetensors');
  const good = encodeSafetensors({ w: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
  // Truncated data.
  writeFileSync(file, good.subarray(0, good.length - 3));
  await assert.rejects(readSafetensors(file), (e: Error) => e.message.includes(file) && /truncated/.test(e.message));
  // Shorter than the length prefix.
  writeFileSync(file, good.subarray(0, 5));
  await assert.rejects(readSafetensors(file), (e: Error) => e.message.includes(file) && /too short/.test(e.message));
  // Header length beyond the file.
  const big = Buffer.from(good);
  big.writeBigUInt64LE(1000n, 0);
  writeFileSync(file, big);
  await assert.rejects(readSafetensors(file), /past the end of the file/);
  const mk = (h: string, dataBytes: number): Buffer => {
    const p = h + ' '.repeat((8 - (h.length % 8)) % 8);
    const b = Buffer.alloc(8 + p.length + dataBytes);
    b.writeBigUInt64LE(BigInt(p.length), 0);
    b.write(p, 8);
    return b;
  };
  assert.throws(() => decodeSafetensors(mk('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8), 'f1'), /f1.*needs 12 bytes/);
  assert.throws(() => decodeSafetensors(mk('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', 8), 'f2'), /f2.*beyond/);
  assert.throws(() => decodeSafetensors(mk('{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', 2), 'f3'), /unsupported dtype/);
  assert.throws(() => decodeSafetensors(mk('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2), 'f4'), /gap or overlap/);
  assert.throws(() => decodeSafetensors(mk('{"a": nope', 0), 'f5'), /not valid JSON/);
  // Writer-side validation.
  assert.throws(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), /3 elements but data has 2/);
  assert.throws(() => encodeSafetensors({ a: { dtype: 'I64', shape: [1], data: new Float64Array(1) as unknown as BigInt64Array } }), /BigInt64Array/);
});

test('atomic write: missing or unwritable directory leaves nothing behind', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const missing = path.join(dir, 'nope', 'out.bin');
  await assert.rejects(atomicWriteFile(missing, 'x', { hint: 'pass --out <dir>' }),
    (e: Error) => /directory does not exist/.test(e.message) && e.message.includes('--out'));
  assert.equal(existsSync(path.join(dir, 'nope')), false);
  await assert.rejects(atomicWriteDir(path.join(dir, 'nope', 'sub'), async () => undefined), /does not exist/);

  const ro = path.join(dir, 'ro');
  mkdirSync(ro);
  chmodSync(ro, 0o555);
  try {
    if (process.getuid?.() === 0) {
      t.diagnostic('running as root: permission check skipped (root bypasses mode bits)');
    } else {
      await assert.rejects(atomicWriteFile(path.join(ro, 'f.bin'), 'x'), /not writable/);
      assert.deepEqual(readdirSync(ro), []);
    }
  } finally {
    chmodSync(ro, 0o755);
  }
  const full = describeWriteError('/x/y.bin', Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }), { hint: 'pass --out <dir>' });
  assert.match(full.message, /cannot write \/x\/y\.bin: disk full .*--out/);
  // Parent path is a file, not a directory.
  writeFileSync(path.join(dir, 'plain'), 'x');
  await assert.rejects(atomicWriteFile(path.join(dir, 'plain', 'f.bin'), 'x'), /not a directory/);
});

test('atomic write: replaces content, failing dir writes are cleaned up', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const f = path.join(dir, 'a.txt');
  await atomicWriteFile(f, 'one');
  await atomicWriteFile(f, [Buffer.from('tw'), Buffer.from('o')]);
  assert.equal(readFileSync(f, 'utf8'), 'two');
  // Writing over a directory fails and the temp file is removed.
  mkdirSync(path.join(dir, 'isdir'));
  await assert.rejects(atomicWriteFile(path.join(dir, 'isdir'), 'x'), /cannot write/);

  const out = path.join(dir, 'folder');
  await assert.rejects(atomicWriteDir(out, async (tmp) => {
    await writeFileDurable(path.join(tmp, 'partial'), 'p');
    throw new Error('boom');
  }), /boom/);
  assert.deepEqual(readdirSync(dir).sort(), ['a.txt', 'isdir'], 'no partial folder or temp left');
  await atomicWriteDir(out, async (tmp) => writeFileDurable(path.join(tmp, 'v1'), '1'));
  await assert.rejects(atomicWriteDir(out, async () => undefined), /already exists/);
  await atomicWriteDir(out, async (tmp) => writeFileDurable(path.join(tmp, 'v2'), '2'), { overwrite: true });
  assert.deepEqual(readdirSync(out), ['v2']);
  assert.deepEqual(readdirSync(dir).sort(), ['a.txt', 'folder', 'isdir']);
});

test('tar reader: filters entries, handles long names, detects truncation', async (t) => {
  const { dir, cleanup } = makeTempDir();
  t.after(cleanup);
  const long = 'd'.repeat(80) + '/' + 'e'.repeat(60) + '/file.bin';
  const tgz = makeTar([
    { name: 'a.txt', data: 'hello' },
    { name: 'skip.bin', data: new Uint8Array(3000) },
    { name: long, data: Uint8Array.from([1, 2, 3]) },
  ]);
  const file = path.join(dir, 't.tar.gz');
  writeFileSync(file, tgz);
  const got: Record<string, string> = {};
  for await (const e of readTar(file, { filter: (n) => !n.startsWith('skip') })) got[e.name] = e.data.toString('hex');
  assert.deepEqual(got, { 'a.txt': Buffer.from('hello').toString('hex'), [long]: '010203' });
  const plain = path.join(dir, 't.tar');
  writeFileSync(plain, makeTar([{ name: 'x', data: 'y'.repeat(1000) }], false).subarray(0, 900));
  await assert.rejects(async () => {
    for await (const _ of readTar(plain)) { /* drain */ }
  }, (e: Error) => e.message.includes(plain) && /truncated/.test(e.message));
});

test('stage: skipped on the same key, rerun on another; its work time is summed over interrupted attempts and read back only for the key built', async () => {
  const { stage, stageSeconds } = await import('../src/io/stage.js');
  const tmp = makeTempDir();
  try {
    const dir = tmp.dir;
    const out = path.join(dir, 'out.txt');
    const log = (): void => undefined;
    const busy = (ms: number): void => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    assert.equal(await stageSeconds(dir, 's'), null, 'nothing built yet');
    // attempt 1 is interrupted after ~60 ms; attempt 2 finishes after ~40 ms more
    await assert.rejects(stage(dir, 's', { k: 1 }, async () => { busy(60); throw new Error('stopped'); }, log, [out]), /stopped/);
    assert.equal(await stageSeconds(dir, 's'), null, 'an unfinished stage has no time');
    assert.equal(await stage(dir, 's', { k: 1 }, async () => { busy(40); writeFileSync(out, 'x'); }, log, [out]), true);
    const t = (await stageSeconds(dir, 's'))!;
    assert.ok(t >= 0.1 && t < 5, `both attempts counted: ${t} s`);
    // skipped: the recorded time stays that of the build
    assert.equal(await stage(dir, 's', { k: 1 }, async () => assert.fail('ran again'), log, [out]), false);
    assert.equal(await stageSeconds(dir, 's'), t);
    // another key rebuilds from zero, not carrying the old finished time
    assert.equal(await stage(dir, 's', { k: 2 }, async () => { busy(5); writeFileSync(out, 'y'); }, log, [out]), true);
    const t2 = (await stageSeconds(dir, 's'))!;
    assert.ok(t2 < t, `${t2} s is this build's alone`);
    // a time record of another key than the stamp is not read back
    writeFileSync(path.join(dir, '.stage-s.seconds.json'), JSON.stringify({ key: JSON.stringify({ k: 1 }), seconds: 99, finished: true }));
    assert.equal(await stageSeconds(dir, 's'), null);
  } finally {
    tmp.cleanup();
  }
});
