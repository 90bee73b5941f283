#!/usr/bin/env node
// Measures `eclipse scan` (issue 11): the false-positive rate on clean CIFAR-10 subsets (sizes
// 1000/2000/5000, seeds 0+, other draws than the calibration's), and per attack the verdict at
// 10/25/50/100% poisoned (the mini training set with that share of images replaced by their
// poisoned copies; seeded choice). Resumable: each scan is one line of runs/scan-eval.jsonl.
//   node scripts/scan-eval.mjs [--clean 21] [--attacks em,tap,...] [--shares 0.1,0.25,0.5,1] [--order reverse] [--threads 1]
//     [--detector scan|simple-linear|simple-2nn|bias-shift] [--variant mini|published]
// --detector other than scan measures the published detector of Zhu et al. (src/scan/simple-networks.ts)
// on the same sets, into runs/scan-eval-<detector>-<variant>.jsonl; scripts/scan-table.mjs --compare
// puts them side by side. A model-based attack's poison is data/cifar10-mini/poison-<attack>-s0.safetensors,
// or its seed-1 draw where seed 0 is not on this machine (the row records which file).
// Two processes can share the work (each re-reads the file before a scan), e.g. a second one with
//   --shares 0.1,0.25,0.5 --clean 0 --order reverse
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, cifarTrain, sharePoisoned } from './lib/scan-sets.mjs';

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const { setNumThreads } = await import(join(root, 'dist/src/engine/index.js'));
const { balancedSubset } = await import(join(root, 'dist/src/data/dataset.js'));
const { loadDataset } = await import(join(root, 'dist/src/data/store.js'));
const { ATTACK_NAMES, MODEL_AGNOSTIC_ATTACKS, createAttack } = await import(join(root, 'dist/src/attacks/index.js'));
const { scanDataset } = await import(join(root, 'dist/src/scan/scan.js'));
setNumThreads(Number(arg('threads', '1')));
const detector = arg('detector', 'scan');
const variant = arg('variant', 'mini');
const { detectPoison } = await import(join(root, 'dist/src/scan/simple-networks.js'));
const out = join(root, 'runs', detector === 'scan' ? 'scan-eval.jsonl' : `scan-eval-${detector}-${variant}.jsonl`);
// One scan (or detection) of a set: the same sets for every detector.
const measure = async (ds) => (detector === 'scan' ? scanDataset(ds) : detectPoison(ds, detector, { variant, quiet: true }));
// Read again before every scan: two processes may share the work (e.g. one with --order reverse).
const doneIds = () => new Set(existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).id) : []);
const done = { has: (id) => doneIds().has(id) };
const record = (id, r, extra) => {
  const row = 'detector' in r
    ? { id, ...extra, detector: r.detector, variant: r.variant, verdict: r.verdict, validation_acc: r.validationAcc, train_acc: r.trainAcc, bound: r.bound, seconds: r.seconds }
    : { id, ...extra, verdict: r.verdict, score: r.score, share_estimate: r.poisonedShare.estimate, seconds: r.seconds, evidence: Object.fromEntries(r.evidence.map((e) => [e.stat, [e.value, e.z]])), flagged_classes: r.classes.filter((c) => c.flagged).map((c) => c.name) };
  appendFileSync(out, JSON.stringify(row) + '\n');
  console.error(`${id}: ${r.verdict} (${'detector' in r ? `validation accuracy ${(100 * r.validationAcc).toFixed(1)}%` : `score ${r.score.toFixed(1)}, share ${(100 * r.poisonedShare.estimate).toFixed(0)}%`}, ${r.seconds.toFixed(0)} s)`);
};

// 2. attacks at shares of the mini training set
const clean = await loadDataset(join(root, 'data/cifar10-mini/train.safetensors'));
const reverse = arg('order', 'forward') === 'reverse';
const attacks = arg('attacks', ATTACK_NAMES.join(',')).split(',');
const shares = arg('shares', '1,0.5,0.25,0.1').split(',').map(Number);
if (reverse) attacks.reverse();
const poisons = new Map();
async function poisonOf(a) {
  if (poisons.has(a)) return poisons.get(a);
  const files = [0, 1].map((s) => join(root, `data/cifar10-mini/poison-${a}-s${s}.safetensors`));
  const file = files.find((f) => existsSync(f));
  const p = MODEL_AGNOSTIC_ATTACKS.includes(a) ? { ds: createAttack(a, {}).poison(clean, 0).dataset, file: 'made here, seed 0' } : file ? { ds: await loadDataset(file), file: file.slice(root.length + 1) } : null;
  if (!p) console.error(`${a}: no poison at ${files[0]} yet (scripts/attack-eval.sh ${a} none makes it); skipped`);
  poisons.set(a, p);
  return p;
}
// every attack at 100% first, then the clean subsets, then the smaller shares
// clean subsets (after the attacks at 100%: both are needed to set the thresholds)
async function cleanSubsets() {
const nClean = Number(arg('clean', '21'));
const sizes = [1000, 2000, 5000];
for (let s = 0; s < nClean; s++) {
  const n = sizes[s % sizes.length];
  const id = `clean-n${n}-s${s}`;
  if (done.has(id)) continue;
  record(id, await measure(balancedSubset(await cifarTrain(), n / 10, s)), { kind: 'clean', n, seed: s });
}
}
for (const [si, share] of shares.entries()) {
  if (si === 1) await cleanSubsets();
  for (const a of attacks) {
    const id = `${a}-share${share}`;
    if (done.has(id)) continue;
    const poisoned = await poisonOf(a);
    if (!poisoned) continue;
    const mixed = sharePoisoned(clean, poisoned.ds, share);
    record(id, await measure(mixed.ds), { kind: 'attack', attack: a, share, poisoned: mixed.poisoned, n: clean.n, poison: poisoned.file });
  }
}
if (shares.length < 2) await cleanSubsets();
