// TAP (Fowl et al. 2021) and the resumable generation driver (src/attacks/model/generate.ts),
// at a tiny scale: synthetic 32x32 images, a width-4 ResNet-18 surrogate trained one epoch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { F, noGrad, tidy } from '../src/engine/index.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { loadDataset } from '../src/data/store.js';
import { createAttack, poisonDatasetWithStats, TapAttack } from '../src/attacks/index.js';
import { GenerationInterrupted, loadSurrogate } from '../src/attacks/model/index.js';
import { classifierProfile } from '../src/profiles.js';
import { trainClassifier } from '../src/training/trainer.js';
import { findCifar, makeTempDir, syntheticDataset } from './helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'eclipse.js');

const ds: ImageDataset = syntheticDataset({ classes: ['a', 'b', 'c', 'd'], perClass: 5, seed: 3 });
const tmp = makeTempDir('eclipse-tap-');
let surrogateFile = '';

test.before(async () => {
  const recipe = { ...classifierProfile('smoke'), width: 4, epochs: 1, batchSize: 10, evalEvery: 1 };
  await trainClassifier(ds, ds, { recipe, seed: 0, outDir: join(tmp.dir, 'surrogate'), quiet: true, device: 'cpu' });
  surrogateFile = join(tmp.dir, 'surrogate', 'checkpoint.safetensors');
});
test.after(() => tmp.cleanup());

/** TAP at test scale: 3 batches (8, 8, 4 images). */
const tiny = (steps = 6): TapAttack => new TapAttack({ profile: 'smoke', surrogate: surrogateFile, settings: { steps, restarts: 2, poisonBatch: 8 } });

/** Mean cross-entropy of the surrogate to (y+1) mod K on uint8 images. */
async function targetLoss(set: ImageDataset): Promise<number> {
  const s = await loadSurrogate(surrogateFile, { classes: set.classes.length });
  try {
    return tidy(() =>
      noGrad(() => {
        const x = F.tensor(set.images, [set.n, 3, 32, 32]).to('float32').div(255);
        const t = F.tensor(set.labels, [set.n]).to('int64').add(1).remainder(set.classes.length);
        return F.crossEntropy(s.logits(x), t).item();
      }),
    );
  } finally {
    s.dispose();
  }
}

test('tap: poison within L_inf 8/255 on the uint8 images, lower target loss, metadata recorded', async () => {
  const attack = tiny();
  await attack.prepare(ds, 5, { workDir: join(tmp.dir, 'w-bound'), quiet: true });
  const res = attack.poison(ds, 5);
  let linf = 0;
  for (let p = 0; p < ds.images.length; p++) linf = Math.max(linf, Math.abs(res.dataset.images[p]! - ds.images[p]!));
  assert.ok(linf <= 8, `max |delta| ${linf}/255`);
  assert.ok(linf >= 7, `TAP should use its budget (max ${linf}/255)`);
  const clean = await targetLoss(ds);
  const poisoned = await targetLoss(res.dataset);
  assert.ok(poisoned < clean, `target loss poisoned ${poisoned} < clean ${clean}`);
  const m = res.dataset.meta;
  assert.equal(m.attack, 'tap');
  assert.equal(m.norm, 'linf');
  assert.match(m.attack_setting!, /smoke with overrides: steps 6, restarts 2, poison_batch 8/);
  assert.match(JSON.parse(m.attack_notes!).surrogate, /sha256/);
  assert.equal(JSON.parse(m.attack_params!).restarts, 2);
});

test('tap: an interrupted generation resumes after its last batch and equals an uninterrupted run byte for byte', async () => {
  const whole = tiny();
  await whole.prepare(ds, 1, { workDir: join(tmp.dir, 'w-whole'), quiet: true });
  const a = whole.poison(ds, 1).dataset;

  const dir = join(tmp.dir, 'w-split');
  const stop = new AbortController();
  stop.abort(); // checked after each batch: exactly one batch is generated
  await assert.rejects(tiny().prepare(ds, 1, { workDir: dir, quiet: true, signal: stop.signal }), GenerationInterrupted);
  const logs: string[] = [];
  const resumed = tiny();
  await resumed.prepare(ds, 1, { workDir: dir, quiet: true, log: (l) => logs.push(l) });
  assert.ok(logs.some((l) => /resuming after batch 1\/3/.test(l)), logs.join('\n'));
  const b = resumed.poison(ds, 1).dataset;
  assert.deepEqual(Buffer.from(b.images), Buffer.from(a.images));
  // The float perturbations themselves are identical, not only their 8-bit images.
  assert.deepEqual(readFileSync(join(dir, 'tap-perturbation.safetensors')), readFileSync(join(tmp.dir, 'w-whole', 'tap-perturbation.safetensors')));

  // A changed key (steps, seed or data) starts over; the same key reuses every batch.
  const changed: string[] = [];
  await tiny(4).prepare(ds, 1, { workDir: dir, quiet: true, log: (l) => changed.push(l) });
  assert.ok(changed.some((l) => /another generation/.test(l)), changed.join('\n'));
  const reseeded: string[] = [];
  await tiny(4).prepare(ds, 2, { workDir: dir, quiet: true, log: (l) => reseeded.push(l) });
  assert.ok(reseeded.some((l) => /another generation/.test(l)), reseeded.join('\n'));
  const same: string[] = [];
  await tiny(4).prepare(ds, 2, { workDir: dir, quiet: true, log: (l) => same.push(l) });
  assert.ok(same.some((l) => /resuming after batch 3\/3/.test(l)), same.join('\n'));
});

test('tap: registry options and the synchronous path', async () => {
  assert.throws(() => createAttack('urp', { settings: { steps: 3 } }), /only to em, tap/);
  assert.throws(() => createAttack('tap', { settings: { step: 3 } }), /no setting "step" \(did you mean steps\?\)/);
  assert.throws(() => poisonDatasetWithStats(ds, 'tap', { seed: 0, surrogate: 'x' }), /model-based attack/);
  assert.throws(() => tiny().poison(ds, 0), /prepare/);
  const one = syntheticDataset({ classes: ['only'], perClass: 4, seed: 1 });
  await assert.rejects(tiny().prepare(one, 0, { workDir: join(tmp.dir, 'one'), quiet: true }), /at least 2/);
  const paper = createAttack('tap', { profile: 'paper' }) as TapAttack;
  assert.equal(paper.settings.steps, 250);
  assert.equal(paper.settings.restarts, 8);
  assert.ok(Math.abs(paper.stepSize - 0.4 / 255) < 1e-12);
  assert.throws(() => createAttack('tap', { settings: { restarts: 0 } }), /restarts must be >= 1/);
});

test('cli: eclipse poison --attack tap --profile smoke on CIFAR-10', (t) => {
  const cifar = findCifar();
  if (cifar.source === null) return t.skip(cifar.why);
  const dir = join(tmp.dir, 'cli');
  const run = (args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [bin, ...args, '--threads', '2'], { cwd: tmp.dir, encoding: 'utf8' });
  const imp = run(['data', 'import', '--profile', 'smoke', '--out', join(dir, 'data')]);
  assert.equal(imp.status, 0, String(imp.stderr));
  const t0 = performance.now();
  const out = join(dir, 'tap.safetensors');
  const r = run(['poison', '--attack', 'tap', '--profile', 'smoke', '--in', join(dir, 'data', 'train.safetensors'), '--out', out, '--device', 'cpu']);
  assert.equal(r.status, 0, String(r.stderr));
  t.diagnostic(`tap smoke: ${((performance.now() - t0) / 1000).toFixed(1)} s\n${String(r.stdout)}`);
  assert.match(String(r.stdout), /poisoned 200 images with tap/);
  return loadDataset(out).then((p) => {
    assert.equal(p.meta.attack, 'tap');
    assert.ok(Number(p.meta.linf_max) <= 8);
    assert.match(p.meta.attack_setting!, /^smoke/);
  });
});
