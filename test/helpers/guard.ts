// Builds test/native/guard-alloc.c (a guard page after every posix_memalign block) for tests that
// preload it into a child process; null, with the reason, where no C compiler is at hand.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function buildGuardAlloc(outDir: string): { lib: string | null; why: string } {
  const src = fileURLToPath(new URL('../../../test/native/guard-alloc.c', import.meta.url));
  const lib = join(outDir, 'guard-alloc.so');
  const r = spawnSync('gcc', ['-O2', '-shared', '-fPIC', src, '-o', lib, '-ldl', '-lpthread'], { encoding: 'utf8' });
  if (r.error) return { lib: null, why: `no gcc to build the guard allocator (${r.error.message})` };
  if (r.status !== 0) return { lib: null, why: `gcc failed on ${src}: ${r.stderr}` };
  return { lib, why: '' };
}
