#!/usr/bin/env node
// Prints compiler/linker settings for the libtorch the addon builds against, read off that
// libtorch rather than fixed: its C++ standard and its libstdc++ ABI (_GLIBCXX_USE_CXX11_ABI)
// must match, or the addon fails to load (missing std::__cxx11 symbols) or fails to compile
// (PyTorch 2.13+ headers refuse anything below C++20).
// LIBTORCH=/path (a libtorch distribution or a PyTorch install's `torch/` folder) selects
// another libtorch, e.g. PyTorch 2.x with CUDA; otherwise Debian's libtorch-dev is used.
//   include | libs | cuda | cflags | json
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';

const fail = (msg) => {
  console.error(`torch-config: ${msg}`);
  process.exit(1);
};

/** Where the headers, libraries and CMake config of the chosen libtorch are. */
function locate(root) {
  if (!root) {
    const multiarch = '/usr/lib/x86_64-linux-gnu';
    return {
      root: '/usr',
      headers: '/usr/include',
      include: ['/usr/include/torch/csrc/api/include'],
      libdir: multiarch,
      cmake: join(multiarch, 'cmake', 'Torch', 'TorchConfig.cmake'),
    };
  }
  if (!existsSync(join(root, 'include', 'torch')))
    fail(`LIBTORCH=${root} has no include/torch: point it at a libtorch folder or a PyTorch install's torch/ folder`);
  return {
    root,
    headers: join(root, 'include'),
    include: [join(root, 'include'), join(root, 'include', 'torch', 'csrc', 'api', 'include')],
    libdir: join(root, 'lib'),
    cmake: join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'),
  };
}

const read = (path) => (existsSync(path) ? readFileSync(path, 'utf8') : '');

/** The C++ standard: the highest of 17 (what our code needs), the CMake config's CXX_STANDARD
 * and the minimum that the headers' own guards demand (`__cplusplus < 202002L` in 2.13+). */
function cxxStandard(cfg, cmakeText) {
  let std = 17;
  const fromCmake = /CXX_STANDARD\s+(\d+)/.exec(cmakeText);
  if (fromCmake) std = Math.max(std, Number(fromCmake[1]));
  const byValue = { 201402: 14, 201703: 17, 202002: 20, 202302: 23 };
  for (const header of ['c10/util/C++17.h', 'c10/macros/Macros.h', 'ATen/ATen.h', 'torch/all.h']) {
    const text = read(join(cfg.headers, header));
    for (const m of text.matchAll(/__cplusplus\s*<\s*(\d{6})L/g)) std = Math.max(std, byValue[m[1]] ?? 17);
  }
  return std;
}

/** The libstdc++ ABI libtorch was built with: TORCH_CXX_FLAGS in its CMake config, else
 * torch.compiled_with_cxx11_abi() from the Python install that holds it, else the symbols. */
function cxx11Abi(cfg, cmakeText) {
  const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(cmakeText);
  if (m) return { abi: Number(m[1]), from: cfg.cmake };
  const pkgParent = dirname(cfg.root);
  const py = spawnSync(process.env.PYTHON ?? 'python3', ['-c', 'import torch; print(int(torch.compiled_with_cxx11_abi()))'], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: [pkgParent, process.env.PYTHONPATH ?? ''].filter(Boolean).join(':') },
  });
  if (py.status === 0 && /^[01]$/.test(py.stdout.trim())) return { abi: Number(py.stdout.trim()), from: 'torch.compiled_with_cxx11_abi()' };
  const c10 = join(cfg.libdir, 'libc10.so');
  const nm = spawnSync('nm', ['-DC', '--defined-only', c10], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (nm.status === 0) return { abi: nm.stdout.includes('std::__cxx11::') ? 1 : 0, from: `symbols of ${c10}` };
  fail(`cannot tell which C++ ABI ${cfg.root} was built with (no TorchConfig.cmake, no python torch, no nm): set TORCH_CXX11_ABI=0 or 1`);
}

const cfg = locate(process.env.LIBTORCH);
const cmakeText = read(cfg.cmake);
const libs = existsSync(cfg.libdir) ? readdirSync(cfg.libdir) : [];
const has = (name) => libs.some((f) => f === `lib${name}.so` || f.startsWith(`lib${name}.so.`));
if (!has('torch_cpu') && !has('torch')) fail(`no libtorch libraries in ${cfg.libdir}: install libtorch-dev, or set LIBTORCH to a libtorch folder`);
const want = ['torch', 'torch_cpu', 'c10'];
// CUDA builds register their kernels from these; --no-as-needed keeps them linked.
for (const extra of ['torch_cuda', 'c10_cuda']) if (has(extra)) want.push(extra);

const std = cxxStandard(cfg, cmakeText);
const abi = process.env.TORCH_CXX11_ABI ? { abi: Number(process.env.TORCH_CXX11_ABI), from: 'TORCH_CXX11_ABI' } : cxx11Abi(cfg, cmakeText);
// 2.x keeps the numbers in torch/headeronly/version.h; 1.x in the C++ API's torch/version.h
const versionText = ['torch/headeronly/version.h', 'torch/csrc/api/include/torch/version.h'].map((h) => read(join(cfg.headers, h))).join('\n');
const part = (name) => new RegExp(`#define\\s+TORCH_VERSION_${name}\\s+(\\d+)`).exec(versionText)?.[1] ?? '?';
const settings = {
  libtorch: cfg.root,
  version: `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`,
  cxxStandard: `c++${std}`,
  cxx11Abi: abi.abi,
  abiFrom: abi.from,
  cuda: has('torch_cuda'),
  include: cfg.include,
  libdir: cfg.libdir,
};

const what = process.argv[2];
if (what === 'include') console.log(cfg.include.join(' '));
else if (what === 'libs') {
  // -z now binds every symbol at load: a libtorch of another ABI or version then fails at
  // require() with a catchable "undefined symbol" error instead of killing the process later.
  const flags = [`-L${cfg.libdir}`, `-Wl,-rpath,${cfg.libdir}`, '-Wl,-z,now', '-Wl,--no-as-needed', ...want.map((l) => `-l${l}`), '-Wl,--as-needed'];
  console.log(flags.join(' '));
} else if (what === 'cuda') console.log(settings.cuda ? '1' : '0');
else if (what === 'cflags') console.log(`-std=${settings.cxxStandard} -D_GLIBCXX_USE_CXX11_ABI=${settings.cxx11Abi}`);
else if (what === 'json') console.log(JSON.stringify(settings, null, 2));
else {
  console.error('usage: torch-config.mjs include|libs|cuda|cflags|json');
  process.exit(2);
}
