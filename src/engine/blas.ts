// Which BLAS libtorch's matrix products (linear layers, attention, the scan's probes) run on.
// Debian's libtorch links libblas.so.3, which the system's alternatives resolve to the reference
// (netlib) BLAS or to OpenBLAS. The two round differently, so the same seed makes a different
// poison or denoiser on each (as a different thread count does), and they differ several-fold in
// speed. Results record it beside the thread count; it is read from the process's own mappings.
import { readFileSync } from 'node:fs';
import { native } from './binding.js';

export interface BlasLibrary {
  /** 'reference' (netlib), 'openblas', 'mkl', 'blis', or 'unknown' (none mapped: statically in libtorch, or not Linux) */
  kind: 'reference' | 'openblas' | 'mkl' | 'blis' | 'unknown';
  /** the mapped file, symlinks resolved ('' when unknown) */
  file: string;
}

let cached: BlasLibrary | null = null;

/** The BLAS this process's libtorch runs on (read once, after the addon is loaded). */
export function blasLibrary(): BlasLibrary {
  if (cached) return cached;
  native.getNumThreads(); // loads the addon (and libtorch's BLAS with it) before the maps are read
  let maps = '';
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return (cached = { kind: 'unknown', file: '' });
  }
  const files = new Set(maps.split('\n').map((l) => l.slice(l.indexOf('/'))).filter((f) => f.startsWith('/')));
  const kinds: [BlasLibrary['kind'], RegExp][] = [
    ['openblas', /\/libopenblas[^/]*\.so/],
    ['mkl', /\/libmkl_[^/]*\.so/],
    ['blis', /\/libblis[^/]*\.so/],
    ['reference', /\/libblas\.so/],
  ];
  for (const [kind, re] of kinds) {
    const file = [...files].find((f) => re.test(f));
    if (file) return (cached = { kind, file });
  }
  return (cached = { kind: 'unknown', file: '' });
}

/** One word and the file, for metadata and logs: "reference (/usr/lib/.../libblas.so.3.11.0)". */
export function describeBlas(b: BlasLibrary = blasLibrary()): string {
  return b.file ? `${b.kind} (${b.file})` : b.kind;
}
