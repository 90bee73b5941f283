#!/usr/bin/env node
// Measures the clean-data distribution of every `eclipse scan` statistic and writes
// src/scan/calibration-data.ts (then rebuild). Balanced subsets of the CIFAR-10 training split,
// sizes SIZES (images), SEEDS seeds each (seeds 1000+ so that the evaluation subsets of
// scripts/scan-eval.mjs, seeds 0-99, are other draws):
//   node scripts/scan-calibrate.mjs [--sizes 1000,2000,5000] [--seeds 6] [--threads 1] [--probe-free-only]
// --probe-free-only (formerly --energy-only) measures the statistics that need no probe (the
// residual energy, the pixel spike and the smoothness: seconds) and adds them to the existing calibration.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, cifarTrain } from './lib/scan-sets.mjs';

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const sizes = arg('sizes', '1000,2000,5000').split(',').map(Number);
const seeds = Number(arg('seeds', '6'));
const energyOnly = process.argv.includes('--probe-free-only') || process.argv.includes('--energy-only');
const { setNumThreads } = await import(join(root, 'dist/src/engine/index.js'));
const { balancedSubset } = await import(join(root, 'dist/src/data/dataset.js'));
const { linearProbe, PROBE_DEFAULTS, AUTOCORR_PROBE, residualEnergy } = await import(join(root, 'dist/src/scan/probe.js'));
const { CONFIDENT } = await import(join(root, 'dist/src/scan/scan.js'));
const { pixelSpike } = await import(join(root, 'dist/src/scan/pixels.js'));
const { smoothness } = await import(join(root, 'dist/src/scan/smoothness.js'));
setNumThreads(Number(arg('threads', '1')));

const train = await cifarTrain();
const k = train.classes.length;
const ms = (xs) => { const m = xs.reduce((a, b) => a + b, 0) / xs.length; return { mean: m, std: Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1)) }; };
const conf = (p) => p.reduce((s, v) => s + (v > CONFIDENT ? 1 : 0), 0) / p.length;
const points = [];
const KINDS = ['raw', 'highpass', 'autocorr'];
const classAcc = Object.fromEntries(KINDS.map((kind) => [kind, Array.from({ length: k }, () => [])]));
for (const n of sizes) {
  const rows = Object.fromEntries([...KINDS.flatMap((kind) => [`${kind}_acc`, `${kind}_confident`]), 'any_confident', 'residual_energy', 'pixel_spike', 'smoothness'].map((s) => [s, []]));
  for (let s = 0; s < seeds; s++) {
    const t0 = Date.now();
    const ds = balancedSubset(train, n / k, 1000 + s);
    rows.residual_energy.push(residualEnergy(ds).geomean);
    rows.pixel_spike.push(pixelSpike(ds).value);
    rows.smoothness.push(smoothness(ds).value);
    if (energyOnly) continue;
    const probes = {};
    for (const kind of KINDS) {
      const p = linearProbe(ds, kind, { ...(kind === 'autocorr' ? AUTOCORR_PROBE : PROBE_DEFAULTS), seed: 0, device: 'cpu' });
      probes[kind] = p;
      rows[`${kind}_acc`].push(p.acc);
      rows[`${kind}_confident`].push(conf(p.pTrue));
      p.classAcc.forEach((a, c) => classAcc[kind][c].push(a));
    }
    rows.any_confident.push(conf(probes.raw.pTrue.map((v, i) => Math.max(v, probes.highpass.pTrue[i], probes.autocorr.pTrue[i]))));
    console.error(`n ${n} seed ${s}: ${KINDS.map((kind) => `${kind} ${(100 * probes[kind].acc).toFixed(1)}%`).join(' ')} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  points.push({ n, subsets: seeds, stats: Object.fromEntries(Object.entries(rows).filter(([, v]) => v.length).map(([k2, v]) => [k2, ms(v)])) });
}
if (energyOnly) {
  // --probe-free-only: add the probe-free statistics, measured on the same subsets, to the existing calibration
  const { CALIBRATION_DATA: old } = await import(join(root, 'dist/src/scan/calibration-data.js'));
  for (const p of points) {
    const o = old.points.find((q) => q.n === p.n);
    if (!o) throw new Error(`the existing calibration has no size ${p.n}`);
    o.stats.residual_energy = p.stats.residual_energy;
    o.stats.pixel_spike = p.stats.pixel_spike;
    o.stats.smoothness = p.stats.smoothness;
  }
  for (const stat of ['pixel_spike', 'smoothness'])
    if (!old.source.includes(stat)) old.source = old.source.replace(/ \(scripts\/scan-calibrate.mjs, /, `; ${stat} on the same subsets, ${new Date().toISOString().slice(0, 10)} (scripts/scan-calibrate.mjs, `);
  writeCalibration(old);
  process.exit(0);
}
const data = {
  source: `clean CIFAR-10 training subsets, balanced, sizes ${sizes.join('/')} x ${seeds} seeds (1000+), ${PROBE_DEFAULTS.folds}-fold probes (scripts/scan-calibrate.mjs, ${new Date().toISOString().slice(0, 10)})`,
  height: train.height, width: train.width, classes: train.classes, points,
  classAcc: Object.fromEntries(KINDS.map((kind) => [kind, classAcc[kind].map(ms)])),
  stdFloor: 0.01,
};
writeCalibration(data);
function writeCalibration(d) {
  const file = join(root, 'src/scan/calibration-data.ts');
  writeFileSync(file, `// Written by scripts/scan-calibrate.mjs: do not edit by hand (re-run it instead).\nimport type { Calibration } from './calibration-types.js';\n\nexport const CALIBRATION_DATA: Calibration = ${JSON.stringify(d, null, 2)};\n`);
  console.error(`wrote ${file}`);
}
