// The sets the scan's evaluation scripts measure, built one way for all of them (scan-calibrate,
// scan-eval, scan-stat-eval): the full CIFAR-10 training split for clean subsets, and the mini
// training set with a seeded share of its images replaced by their poisoned copies.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { loadCifar10, resolveCifar10Source } = await import(join(root, 'dist/src/data/cifar.js'));
const { Rng } = await import(join(root, 'dist/src/data/rng.js'));

let train = null;
/** CIFAR-10's training split, loaded once (ECLIPSE_CIFAR10 or the shared archive). */
export async function cifarTrain() {
  train ??= await loadCifar10(resolveCifar10Source(process.env.ECLIPSE_CIFAR10 || join(root, '..', 'shared', 'datasets', 'cifar-10-binary.tar.gz')), 'train');
  return train;
}

/**
 * `clean` with each image replaced by the same index of `poisoned` with probability `share`
 * (stream 7 of the share in thousandths, so every script and every run picks the same images).
 */
export function sharePoisoned(clean, poisoned, share) {
  const per = 3 * clean.height * clean.width;
  const images = clean.images.slice();
  const rng = new Rng(7, Math.round(share * 1000));
  let k = 0;
  for (let i = 0; i < clean.n; i++) if (rng.float() < share) { images.set(poisoned.images.subarray(i * per, (i + 1) * per), i * per); k++; }
  return { ds: { ...clean, images, meta: { ...clean.meta } }, poisoned: k / clean.n };
}
