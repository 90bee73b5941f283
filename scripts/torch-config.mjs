#!/usr/bin/env node
// Prints compiler/linker settings for the libtorch the addon builds against.
// LIBTORCH=/path (a libtorch distribution or a PyTorch wheel's `torch/` folder) selects
// another libtorch, e.g. PyTorch 2.x with CUDA; otherwise Debian's libtorch-dev is used.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = process.env.LIBTORCH;
const what = process.argv[2];

function debian() {
  return {
    include: ['/usr/include/torch/csrc/api/include'],
    libdir: '/usr/lib/x86_64-linux-gnu',
  };
}

function custom(dir) {
  if (!existsSync(join(dir, 'include', 'torch'))) {
    console.error(`LIBTORCH=${dir} has no include/torch: point it at a libtorch folder or a PyTorch install's torch/ folder`);
    process.exit(1);
  }
  return { include: [join(dir, 'include'), join(dir, 'include', 'torch', 'csrc', 'api', 'include')], libdir: join(dir, 'lib') };
}

const cfg = root ? custom(root) : debian();
const libs = existsSync(cfg.libdir) ? readdirSync(cfg.libdir) : [];
const has = (name) => libs.some((f) => f === `lib${name}.so` || f.startsWith(`lib${name}.so.`));
const want = ['torch', 'torch_cpu', 'c10'];
// CUDA builds register their kernels from these; --no-as-needed keeps them linked.
for (const extra of ['torch_cuda', 'c10_cuda']) if (has(extra)) want.push(extra);

if (what === 'include') console.log(cfg.include.join(' '));
else if (what === 'libs') {
  const flags = [`-L${cfg.libdir}`, `-Wl,-rpath,${cfg.libdir}`, '-Wl,--no-as-needed', ...want.map((l) => `-l${l}`), '-Wl,--as-needed'];
  console.log(flags.join(' '));
} else if (what === 'cuda') console.log(has('torch_cuda') ? '1' : '0');
else {
  console.error('usage: torch-config.mjs include|libs|cuda');
  process.exit(2);
}
