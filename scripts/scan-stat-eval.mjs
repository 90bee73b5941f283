#!/usr/bin/env node
// Before/after for the probe-free statistics added to `eclipse scan` (issue 29: pixel_spike, for
// one-pixel shortcuts; smoothness, for blurs): they are computed on the same sets
// scripts/scan-eval.mjs scanned (the mini training set with a seeded share of poisoned images;
// the clean subsets, seeds 0+), their z taken against the calibration as the scan takes it, and
// the new score is the recorded one's maximum with them, which is what the scan now computes (the
// score is the largest z; the probes are unchanged and not rerun).
//   node scripts/scan-stat-eval.mjs FILE.jsonl ... > runs/scan-stat-eval.jsonl
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, cifarTrain, sharePoisoned } from './lib/scan-sets.mjs';

const { balancedSubset } = await import(join(root, 'dist/src/data/dataset.js'));
const { loadDataset } = await import(join(root, 'dist/src/data/store.js'));
const { MODEL_AGNOSTIC_ATTACKS, createAttack } = await import(join(root, 'dist/src/attacks/index.js'));
const { pixelSpike } = await import(join(root, 'dist/src/scan/pixels.js'));
const { smoothness } = await import(join(root, 'dist/src/scan/smoothness.js'));
const { CALIBRATION } = await import(join(root, 'dist/src/scan/calibration.js'));
// each statistic's z against clean data of its size, exactly as the scan takes it
const { Z_POISONED, Z_CLEAN, cleanZ } = await import(join(root, 'dist/src/scan/scan.js'));

const rows = [...new Map(process.argv.slice(2).flatMap((f) => readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))).map((r) => [r.id, r])).values()];
const verdict = (z) => (z >= Z_POISONED ? 'poisoned' : z < Z_CLEAN ? 'clean' : 'unsure');
const clean = await loadDataset(join(root, 'data/cifar10-mini/train.safetensors'));
const poisons = new Map();
for (const r of rows) {
  let ds;
  if (r.kind === 'clean') {
    ds = balancedSubset(await cifarTrain(), r.n / 10, r.seed);
  } else {
    const a = r.attack;
    if (!poisons.has(a)) {
      const file = r.poison && !r.poison.startsWith('made here') ? join(root, r.poison) : join(root, `data/cifar10-mini/poison-${a}-s0.safetensors`);
      poisons.set(a, MODEL_AGNOSTIC_ATTACKS.includes(a) ? createAttack(a, {}).poison(clean, 0).dataset : existsSync(file) ? await loadDataset(file) : null);
    }
    const p = poisons.get(a);
    if (!p) { console.error(`${r.id}: its poison is not on this machine; skipped`); continue; }
    ds = sharePoisoned(clean, p, r.share).ds;
  }
  // each statistic's value, and the least standard deviation the scan gives it (its own standard error)
  const measured = { pixel_spike: { value: pixelSpike(ds).value, minStd: 0 }, smoothness: (({ value, stdError }) => ({ value, minStd: stdError }))(smoothness(ds)) };
  const stats = Object.fromEntries(Object.entries(measured).map(([name, m]) => [name, { value: m.value, z: cleanZ(CALIBRATION, name, m.value, ds.n, m.minStd).z }]));
  const after = Math.max(r.score, ...Object.values(stats).map((x) => x.z));
  console.log(JSON.stringify({ id: r.id, kind: r.kind, attack: r.attack, share: r.share, n: r.n, seed: r.seed, before: { verdict: r.verdict, score: r.score }, stats, after: { verdict: verdict(after), score: after } }));
}
