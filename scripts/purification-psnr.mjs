#!/usr/bin/env node
// PSNR against the clean originals of poisoned and purified images, per attack, with a trained
// denoiser: is the purified set closer to clean than the poisoned one?
//   node scripts/purification-psnr.mjs CHECKPOINT [N=500] [respacedSteps=10]
// Uses data/cifar10-mini/train.safetensors (eclipse data import --profile mini).
import { MODEL_AGNOSTIC_ATTACKS, createAttack } from '../dist/src/attacks/index.js';
import { subset } from '../dist/src/data/dataset.js';
import { loadDataset } from '../dist/src/data/store.js';
import { purifyDataset } from '../dist/src/defenses/purify.js';
import { setNumThreads } from '../dist/src/engine/index.js';
import { purificationReport } from '../dist/src/metrics/index.js';
import { eclipseProfile } from '../dist/src/profiles.js';

const [checkpoint, nArg = '500', stepsArg = '10'] = process.argv.slice(2);
if (!checkpoint) {
  console.error('usage: node scripts/purification-psnr.mjs CHECKPOINT [N] [respacedSteps]');
  process.exit(2);
}
setNumThreads(2);
const all = await loadDataset('data/cifar10-mini/train.safetensors');
const clean = subset(all, Int32Array.from({ length: Number(nArg) }, (_, i) => i));
const recipe = { ...eclipseProfile('mini').purify, respacedSteps: Number(stepsArg) };
const rows = [];
for (const attack of MODEL_AGNOSTIC_ATTACKS) {
  const poisoned = createAttack(attack).poison(clean, 0).dataset;
  const purified = await purifyDataset(poisoned, { recipe, checkpoint, seed: 0, out: `/tmp/purified-${attack}.safetensors`, quiet: true });
  const r = purificationReport(clean, poisoned, purified);
  rows.push({ attack, poisoned_db: +r.poisoned.mean.toFixed(2), purified_db: +r.purified.mean.toFixed(2), purified_closer: r.purifiedCloser, images_closer: +r.fractionImagesCloser.toFixed(3) });
}
console.table(rows);
console.log(JSON.stringify({ checkpoint, n: clean.n, respacedSteps: recipe.respacedSteps, rows }));
