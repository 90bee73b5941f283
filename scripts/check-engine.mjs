#!/usr/bin/env node
// The last step of setup: load the native engine and run one op on every device it can reach,
// so that a libtorch/ABI/Node mismatch fails here, in one line, instead of at first use.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let engine;
try {
  engine = await import(pathToFileURL(join(root, 'dist', 'src', 'engine', 'index.js')).href);
} catch (e) {
  console.error(`setup: load check failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
const { F, tidy } = engine;
const devices = ['cpu'];
if (F.cudaAvailable()) for (let i = 0; i < F.cudaDeviceCount(); i++) devices.push(`cuda:${i}`);
for (const device of devices) {
  try {
    const got = tidy(() => F.tensor([1, 2, 3], [3], { device }).mul(2).sum().item());
    if (got !== 12) throw new Error(`2 * (1 + 2 + 3) gave ${got}`);
  } catch (e) {
    console.error(`setup: load check failed on ${device}: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
const v = F.engineVersion();
const cuda = v.cuda ? (devices.length > 1 ? `${devices.length - 1} CUDA device(s)` : 'CUDA build, no usable GPU') : 'CPU-only build';
console.error(`setup: engine ok on Node ${process.version}: libtorch ${v.torch}, ${cuda}; one op ran on ${devices.join(', ')}`);
