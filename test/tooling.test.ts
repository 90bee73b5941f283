// The tooling that keeps the suite honest: the runner's hang limits, the build settings read off
// libtorch, and the one-line explanation of an addon that fails to load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { explainLoadError } from '../src/engine/binding.js';
import { makeTempDir } from './helpers/tmp.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = join(root, 'dist', 'test', 'fixtures', 'runner');

function runner(env: Record<string, string>, names: string[] = [], args: string[] = []): { out: string; status: number | null; seconds: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'run-tests.mjs'), '--dir', fixtures, ...args, ...names], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { out: r.stdout + r.stderr, status: r.status, seconds: (Date.now() - t0) / 1000 };
}

test('a test that blocks the event loop is killed at its limit and named; the next file still runs', () => {
  const r = runner({ ECLIPSE_TEST_TIMEOUT_S: '3' });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /TEST HANG: "blocks the event loop" in hang\.test\.js has run \d+ s \(limit 3 s/);
  assert.match(r.out, /FAIL hang\.test\.js .*killed by SIGKILL/);
  assert.match(r.out, /ok {3}pass\.test\.js/);
  assert.ok(r.seconds < 60, `took ${r.seconds} s`);
});

test('one file at a time (--jobs 1) and two at once give the same verdicts; a bad --jobs is refused', () => {
  for (const jobs of ['1', '2']) {
    const r = runner({ ECLIPSE_TEST_TIMEOUT_S: '3' }, [], ['--jobs', jobs]);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, new RegExp(`${jobs} at once`));
    assert.match(r.out, /FAIL hang\.test\.js .*killed by SIGKILL/);
    assert.match(r.out, /ok {3}pass\.test\.js/);
  }
  const bad = runner({}, [], ['--jobs', '0']);
  assert.equal(bad.status, 2, bad.out);
  assert.match(bad.out, /--jobs must be a whole number of at least 1, got 0/);
});

test('the engine loads libtorch on first use, not on import (a usage error costs no libtorch start-up)', () => {
  const probe = `import { F } from ${JSON.stringify(join(root, 'dist', 'src', 'engine', 'index.js'))};
    import { readFileSync } from 'node:fs';
    const loaded = () => /libtorch/.test(readFileSync('/proc/self/maps', 'utf8'));
    const before = loaded();
    F.zeros([2]).dispose();
    console.log(JSON.stringify({ before, after: loaded() }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { before: false, after: true });
});

test('a file past its wall-clock limit is killed and reported', () => {
  const r = runner({ ECLIPSE_TEST_TIMEOUT_S: '0', ECLIPSE_TEST_FILE_TIMEOUT_S: '3' });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /hang\.test\.js passed its 3 s limit/);
  assert.match(r.out, /FAIL hang\.test\.js .*timed out/);
  assert.ok(r.seconds < 60, `took ${r.seconds} s`);
});

test('a test process killed by a signal is reported with the stacks from its core file', () => {
  const r = runner({ ECLIPSE_FIXTURE_CRASH: '1' }, ['crash', 'pass']);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /FAIL crash\.test\.js .*killed by SIGABRT/);
  assert.match(r.out, /ok {3}pass\.test\.js/);
  // Where the kernel writes cores elsewhere (a pipe to a crash collector) or the hard limit
  // forbids them, the runner says so.
  const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
  const hardLimit = spawnSync('/bin/sh', ['-c', 'ulimit -H -c'], { encoding: 'utf8' }).stdout.trim();
  if (pattern.startsWith('|') || pattern.includes('/') || hardLimit === '0') assert.match(r.out, /left no core file/);
  else {
    assert.match(r.out, /crash\.test\.js crashed; the stacks from its core file \(gdb\):\n[\s\S]*?#0 /, r.out);
    assert.ok(!existsSync(join(root, 'core')), 'the core file is removed once read');
  }
});

function torchConfig(libtorch: string | null, what: string, extraEnv: Record<string, string> = {}): { stdout: string; stderr: string; status: number | null } {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  if (libtorch) env.LIBTORCH = libtorch;
  else delete env.LIBTORCH;
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'torch-config.mjs'), what], { env, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test('build flags follow the libtorch: C++ standard from its headers and CMake config, ABI from TORCH_CXX_FLAGS', () => {
  const tmp = makeTempDir();
  try {
    // A PyTorch 2.13+-like install: headers that refuse C++17, built with the old ABI.
    const lt = join(tmp.dir, 'torch');
    mkdirSync(join(lt, 'include', 'c10', 'util'), { recursive: true });
    mkdirSync(join(lt, 'include', 'torch'), { recursive: true });
    mkdirSync(join(lt, 'lib'), { recursive: true });
    mkdirSync(join(lt, 'share', 'cmake', 'Torch'), { recursive: true });
    writeFileSync(join(lt, 'include', 'c10', 'util', 'C++17.h'), '#if __cplusplus < 202002L\n#error "C++20 or later compatible compiler is required"\n#endif\n');
    writeFileSync(join(lt, 'lib', 'libtorch_cpu.so'), '');
    writeFileSync(join(lt, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")\nset_target_properties(torch PROPERTIES CXX_STANDARD 17)\n');
    assert.equal(torchConfig(lt, 'cflags').stdout.trim(), '-std=c++20 -D_GLIBCXX_USE_CXX11_ABI=0');
    // The CMake config alone can raise the standard too.
    writeFileSync(join(lt, 'include', 'c10', 'util', 'C++17.h'), '');
    writeFileSync(join(lt, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")\nCXX_STANDARD 20\n');
    assert.equal(torchConfig(lt, 'cflags').stdout.trim(), '-std=c++20 -D_GLIBCXX_USE_CXX11_ABI=1');
    const bad = torchConfig(join(tmp.dir, 'nowhere'), 'cflags');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /has no include\/torch: point it at a libtorch folder/);
  } finally {
    tmp.cleanup();
  }
  // The libtorch this suite runs on: Debian's 1.13 unless LIBTORCH says otherwise.
  const here = JSON.parse(torchConfig(process.env.LIBTORCH ?? null, 'json').stdout) as { cxxStandard: string; cxx11Abi: number };
  assert.match(here.cxxStandard, /^c\+\+(17|20|23)$/);
  assert.ok(here.cxx11Abi === 0 || here.cxx11Abi === 1);
});

test('an addon that fails to load is explained in one line with the fix', () => {
  const path = '/x/eclipse_native.node';
  const abi = explainLoadError(path, '/x/eclipse_native.node: undefined symbol: _ZN3c106DeviceC1ERKSs');
  assert.match(abi, /built against another libtorch than the one it loads \(another version or C\+\+ ABI\), missing symbol _ZN3c106DeviceC1ERKSs/);
  assert.match(abi, /npm run setup/);
  const lib = explainLoadError(path, 'libtorch_cpu.so: cannot open shared object file: No such file or directory');
  assert.match(lib, /needs libtorch_cpu\.so, which is not installed or not on its library path/);
  const node = explainLoadError(path, 'The module was compiled against a different Node.js version using NODE_MODULE_VERSION 115.');
  assert.match(node, /built for another Node\.js/);
  for (const line of [abi, lib, node]) assert.ok(!line.includes('\n'), 'one line');
});
