// EM, SEP and EFP (issue 9) and what they share: the settings tables, the min-min loop with its
// one-file resumable state, gradient clipping, class feature means, the adversarial trainer
// hook; at a tiny scale (synthetic 32x32 images, width-4 ResNets), plus each attack through the
// CLI on real CIFAR-10 images (smoke profile) with the bound checked on the written file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { F, Generator, liveTensors, noGrad, tidy } from '../src/engine/index.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { loadDataset } from '../src/data/store.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import {
  EM_SETTINGS, EfpAttack, EmAttack, SepAttack, TapAttack, checkSetting, checkpointEpochs, createAttack, parseSettingValue, resolveSettings, suggest, type SettingTable,
} from '../src/attacks/index.js';
import { GenerationInterrupted, loadSurrogate, penultimateFeatures } from '../src/attacks/model/index.js';
import { classFeatureMeans } from '../src/attacks/model/surrogate.js';
import { pgdAdversary } from '../src/training/adversarial.js';
import { createClassifier } from '../src/nn/models/index.js';
import { clipGradNorm } from '../src/nn/optim.js';
import { classifierProfile } from '../src/profiles.js';
import { trainClassifier } from '../src/training/trainer.js';
import { findCifar, makeTempDir, syntheticDataset } from './helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'eclipse.js');

const ds: ImageDataset = syntheticDataset({ classes: ['a', 'b', 'c', 'd'], perClass: 5, seed: 3 });
const tmp = makeTempDir('eclipse-model-attacks-');
test.after(() => tmp.cleanup());
const ctx = (dir: string, log?: (l: string) => void): { workDir: string; quiet: boolean; device: 'cpu'; log?: (l: string) => void } => ({
  workDir: join(tmp.dir, dir), quiet: true, device: 'cpu', log,
});

function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// ---------------------------------------------------------------------------- settings tables

test('settings: profile values, overrides, checks, suggestions and the recorded setting', () => {
  const mini = resolveSettings('em', EM_SETTINGS, 'mini');
  assert.equal(mini.values.steps, 5);
  assert.equal(mini.setting, 'mini');
  const o = resolveSettings('em', EM_SETTINGS, 'paper', { steps: 7, maxLoops: 100 });
  assert.deepEqual(o.overridden, ['steps']);
  assert.equal(o.setting, 'paper with overrides: steps 7');
  assert.throws(() => resolveSettings('em', EM_SETTINGS, 'mini', { setps: 3 }), /no setting "setps" \(did you mean steps\?\)/);
  assert.throws(() => resolveSettings('em', EM_SETTINGS, 'mini', { steps: 0 }), /steps must be >= 1/);
  assert.throws(() => resolveSettings('em', EM_SETTINGS, 'mini', { steps: 2.5 }), /integer/);
  assert.throws(() => resolveSettings('em', EM_SETTINGS, 'mini', { stopAccuracy: 1.5 }), /<= 1/);
  const choice = { v: { flag: 'v', kind: 'choice', choices: ['a', 'b'], help: '', profiles: { smoke: 'a', mini: 'a', paper: 'a' } } } as const satisfies SettingTable;
  assert.throws(() => resolveSettings('x', choice, 'mini', { v: 'c' }), /one of a, b/);
  assert.equal(suggest('restart', ['steps', 'restarts']), ' (did you mean restarts?)');
  const num = EM_SETTINGS.stepFraction;
  assert.equal(parseSettingValue(num, '4/255'), 4 / 255);
  assert.equal(parseSettingValue(num, '0.25'), 0.25);
  assert.ok(Number.isNaN(parseSettingValue(num, 'abc')));
  assert.match(checkSetting(num, parseSettingValue(num, 'abc'))!, /must be a number such as 0.5 or 4\/255, got NaN/);
  assert.equal(suggest('zzzzzz', ['steps']), '');
  // the recorded params carry every setting under its snake_case name
  const em = new EmAttack({ profile: 'mini' });
  assert.equal(em.params.train_batch, 128);
  assert.equal(em.params.max_loops, 20);
  assert.throws(() => new EmAttack({ epsilon: 0 }), /epsilon must be in \(0, 1\]/);
  assert.throws(() => new EmAttack({ epsilon: 2 }), /epsilon must be in \(0, 1\]/);
  assert.throws(() => createAttack('em', { surrogate: 'x.safetensors' }), /takes no surrogate/);
  assert.throws(() => createAttack('lsp', { settings: { steps: 2 } }), /"settings" does not apply to lsp/);
});

test('clipGradNorm matches torch.nn.utils.clip_grad_norm_ on a known gradient', () => {
  const a = F.tensor(new Float32Array([1, 2]), [2]).requiresGrad_(true);
  const b = F.tensor(new Float32Array([3]), [1]).requiresGrad_(true);
  tidy(() => a.mul(F.tensor(new Float32Array([3, 4]), [2])).sum().add(b.mul(12).sum()).backward());
  // gradients (3, 4) and (12): norm 13
  const norm = clipGradNorm([a, b], 6.5);
  assert.ok(Math.abs(norm - 13) < 1e-5);
  const ga = a.grad!;
  const gb = b.grad!;
  const got = [...(ga.data() as Float32Array), ...(gb.data() as Float32Array)];
  const coef = 6.5 / (13 + 1e-6);
  [3, 4, 12].forEach((g, i) => assert.ok(Math.abs(got[i]! - g * coef) < 1e-5, `${got[i]} vs ${g * coef}`));
  // under the limit nothing changes
  assert.ok(Math.abs(clipGradNorm([a, b], 100) - 6.5) < 1e-4);
  for (const t of [a, b, ga, gb]) t.dispose();
});

// ---------------------------------------------------------------------------- EM

const tinyEm = (o: { maxLoops?: number; steps?: number } = {}): EmAttack =>
  new EmAttack({ profile: 'smoke', settings: { maxLoops: o.maxLoops ?? 3, steps: o.steps ?? 2, trainBatch: 8, poisonBatch: 8, stopAccuracy: 0.99 } });

test('em: bound on the uint8 images, noise that the surrogate learns, metadata, no tensor leak', async () => {
  const before = liveTensors();
  const attack = tinyEm({ maxLoops: 15 });
  await attack.prepare(ds, 1, ctx('em-a'));
  assert.equal(liveTensors(), before, 'prepare leaves no tensor behind');
  const res = attack.poison(ds, 1);
  const linf = maxAbsDiff(res.dataset.images, ds.images);
  assert.ok(linf <= 8 && linf >= 6, `max |delta| ${linf}/255`);
  const m = res.dataset.meta;
  assert.equal(m.attack, 'em');
  assert.match(m.attack_setting!, /^smoke with overrides/);
  const notes = JSON.parse(m.attack_notes!) as Record<string, string>;
  // the min-min loop stops once the surrogate fits the noised set (99%), before the cap
  assert.equal(notes.converged, 'true', m.attack_notes);
  assert.ok(Number(notes.loops) < 15 && Number(notes.final_noised_accuracy) > 0.99, m.attack_notes);
});

test('em: interrupted after a loop, the same call resumes to the same noise; another seed starts over', async () => {
  const full = tinyEm();
  await full.prepare(ds, 2, ctx('em-full'));
  const want = full.poison(ds, 2).dataset.images;

  const stop = new AbortController();
  stop.abort();
  await assert.rejects(tinyEm().prepare(ds, 2, { ...ctx('em-resume'), signal: stop.signal }), GenerationInterrupted);
  const lines: string[] = [];
  const again = tinyEm();
  await again.prepare(ds, 2, ctx('em-resume', (l) => lines.push(l)));
  assert.ok(lines.some((l) => /resuming after loop 1/.test(l)), lines.join('\n'));
  assert.deepEqual(again.poison(ds, 2).dataset.images, want, 'resumed run equals the uninterrupted one');

  const other: string[] = [];
  await tinyEm().prepare(ds, 3, ctx('em-resume', (l) => other.push(l)));
  assert.ok(other.some((l) => /another generation/.test(l)), other.join('\n'));
});

test('em: a one-class dataset is refused', async () => {
  const one = syntheticDataset({ classes: ['only'], perClass: 4, seed: 1 });
  await assert.rejects(tinyEm().prepare(one, 0, ctx('em-one')), /at least 2/);
});

// ---------------------------------------------------------------------------- SEP

test('sep: checkpoint epochs, bound, lower ensemble target loss than clean, given checkpoints checked', async () => {
  assert.deepEqual(checkpointEpochs(30, 5), [6, 12, 18, 24, 30]);
  assert.deepEqual(checkpointEpochs(120, 30).slice(0, 3), [4, 8, 12]);
  assert.throws(() => checkpointEpochs(2, 3), /at least 3 surrogate epochs/);
  const attack = new SepAttack({ profile: 'smoke', settings: { checkpoints: 2, surrogateEpochs: 2, steps: 4, poisonBatch: 8 } });
  const before = liveTensors();
  await attack.prepare(ds, 0, ctx('sep'));
  assert.equal(liveTensors(), before);
  const res = attack.poison(ds, 0);
  assert.ok(maxAbsDiff(res.dataset.images, ds.images) <= 8);
  const files = [1, 2].map((e) => join(tmp.dir, 'sep', 'sep-surrogate', `checkpoint-epoch${e}.safetensors`));
  assert.ok(files.every((f) => existsSync(f)), 'the kept checkpoints are on disk');
  // the poison lowers the target loss of the ensemble (the objective it descends)
  const loss = async (set: ImageDataset): Promise<number> => {
    let sum = 0;
    for (const f of files) {
      const s = await loadSurrogate(f, { classes: 4 });
      sum += tidy(() => noGrad(() => F.crossEntropy(s.logits(F.tensor(set.images, [set.n, 3, 32, 32]).to('float32').div(255)), F.tensor(set.labels, [set.n]).to('int64').add(5).remainder(4)).item()));
      s.dispose();
    }
    return sum / files.length;
  };
  const [clean, poisoned] = [await loss(ds), await loss(res.dataset)];
  assert.ok(poisoned < clean, `ensemble target loss ${poisoned} should be below clean ${clean}`);
  // given checkpoints: their number must match the setting
  const given = new SepAttack({ profile: 'smoke', surrogate: files[0], settings: { checkpoints: 2, surrogateEpochs: 2, steps: 2, poisonBatch: 8 } });
  await assert.rejects(given.prepare(ds, 0, ctx('sep-given')), /1 surrogate checkpoint\(s\) given but the checkpoints setting is 2/);
  // the feature-alignment variant on the same checkpoints
  const fa = new SepAttack({ profile: 'smoke', surrogate: files.join(','), settings: { variant: 'fa', checkpoints: 2, surrogateEpochs: 2, steps: 3, poisonBatch: 8 } });
  await fa.prepare(ds, 0, ctx('sep-fa'));
  assert.ok(maxAbsDiff(fa.poison(ds, 0).dataset.images, ds.images) <= 8);
  assert.throws(() => new SepAttack({ settings: { variant: 'xx' } }), /one of ce, fa/);
});

test('surrogate files: wrong class count, not a classifier, missing: errors name the file and the fix', async () => {
  const file = join(tmp.dir, 'sep', 'sep-surrogate', 'checkpoint-epoch2.safetensors');
  assert.ok(existsSync(file), 'needs the SEP test run first');
  const five = syntheticDataset({ classes: ['a', 'b', 'c', 'd', 'e'], perClass: 2, seed: 4 });
  const tap = (surrogate: string): TapAttack => new TapAttack({ profile: 'smoke', surrogate, settings: { steps: 1, poisonBatch: 8 } });
  await assert.rejects(tap(file).prepare(five, 0, ctx('wrong-k')), /classifies 4 classes but the dataset has 5/);
  const notClassifier = join(tmp.dir, 'not-a-classifier.safetensors');
  await writeSafetensors(notClassifier, { w: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } }, { kind: 'denoiser' });
  await assert.rejects(tap(notClassifier).prepare(ds, 0, ctx('not-cls')), /not a classifier checkpoint from `eclipse train`/);
  await assert.rejects(tap(join(tmp.dir, 'missing.safetensors')).prepare(ds, 0, ctx('missing')), /missing\.safetensors: no such file/);
});

// ---------------------------------------------------------------------------- EFP and the adversarial trainer

test('class feature means: one row per class, equal to the mean of that class', async () => {
  const model = createClassifier('resnet18', { width: 4, numClasses: 4, generator: new Generator(0) });
  const file = join(tmp.dir, 'fm', 'checkpoint.safetensors');
  const recipe = { ...classifierProfile('smoke'), width: 4, epochs: 1, batchSize: 10 };
  await trainClassifier(ds, ds, { recipe, seed: 0, outDir: join(tmp.dir, 'fm'), quiet: true, device: 'cpu' });
  model.dispose();
  const s = await loadSurrogate(file, { classes: 4 });
  const means = classFeatureMeans(s, ds);
  assert.deepEqual(means.shape, [4, 8 * 4]);
  // class 2's mean by hand
  const idx = [...ds.labels].flatMap((l, i) => (l === 2 ? [i] : []));
  const hand = tidy(() => noGrad(() => {
    const x = F.tensor(ds.images, [ds.n, 3, 32, 32]).to('float32').div(255).indexSelect(0, F.tensor(Int32Array.from(idx), [idx.length]).to('int64'));
    return penultimateFeatures(s.model, x).mean([0]).data() as Float32Array;
  }));
  const row = tidy(() => means.narrow(0, 2, 1).flatten().data() as Float32Array);
  hand.forEach((v, i) => assert.ok(Math.abs(v - row[i]!) < 1e-4));
  means.dispose();
  s.dispose();
});

test('adversarial training hook: a different run than clean training, same input shape, bounded', async () => {
  const adv = pgdAdversary({ eps: 4 / 255, stepSize: 2 / 255, steps: 2, randomStart: 'uniform' });
  const model = createClassifier('resnet18', { width: 4, numClasses: 4, generator: new Generator(0) });
  model.train();
  tidy(() => {
    const x = F.tensor(ds.images.subarray(0, 8 * 3072), [8, 3, 32, 32]).to('float32').div(255);
    const y = F.tensor(ds.labels.subarray(0, 8), [8]).to('int64');
    const xa = adv.perturb(model, x, y, new Generator(1));
    assert.deepEqual(xa.shape, x.shape);
    const d = xa.sub(x).abs().amax().item();
    assert.ok(d <= 4 / 255 + 1e-6 && d > 1 / 255, `adversarial distance ${d * 255}/255`);
    assert.ok(model.training, 'the hook restores train mode');
  });
  model.dispose();
});

test('efp: bound, features pushed farther from their class centroid than clean', async () => {
  const attack = new EfpAttack({ profile: 'smoke', settings: { refEpochs: 1, steps: 4, poisonBatch: 8 } });
  await attack.prepare(ds, 0, ctx('efp'));
  const res = attack.poison(ds, 0);
  assert.ok(maxAbsDiff(res.dataset.images, ds.images) <= 8);
  const ref = await loadSurrogate(join(tmp.dir, 'efp', 'efp-reference', 'checkpoint.safetensors'), { classes: 4 });
  const means = classFeatureMeans(ref, ds);
  const dist = (set: ImageDataset): number =>
    tidy(() => noGrad(() => {
      const f = penultimateFeatures(ref.model, F.tensor(set.images, [set.n, 3, 32, 32]).to('float32').div(255));
      return F.mseLoss(f, means.indexSelect(0, F.tensor(set.labels, [set.n]).to('int64'))).item();
    }));
  assert.ok(dist(res.dataset) > dist(ds), `poisoned ${dist(res.dataset)} vs clean ${dist(ds)}`);
  means.dispose();
  ref.dispose();
  assert.throws(() => new EfpAttack({ settings: { refAdvEps: 0 } }), /refAdvEps must be > 0/);
});

// ---------------------------------------------------------------------------- CLI on real CIFAR-10

test('cli: eclipse poison --list, settings flags checked per attack', () => {
  const run = (args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [bin, ...args], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
  const list = run(['poison', '--list']);
  assert.equal(list.status, 0, String(list.stderr));
  for (const a of ['urp', 'lsp', 'ar', 'em', 'tap', 'rem', 'sep', 'efp', 'adp']) assert.match(String(list.stdout), new RegExp(`^${a} `, 'm'));
  assert.match(String(list.stdout), /Fowl et al/);
  assert.match(String(list.stdout), /--max-loops 100 \(paper\), 20 \(mini\)/);
  const wrong = run(['poison', '--attack', 'em', '--restarts', '2']);
  assert.equal(wrong.status, 2, String(wrong.stderr));
  assert.match(String(wrong.stderr), /--restarts does not apply to em \(only to tap\)/);
  const typo = run(['poison', '--attack', 'emm']);
  assert.match(String(typo.stderr), /unknown attack "emm" \(did you mean em\?\)/);
  const bad = run(['poison', '--attack', 'sep', '--variant', 'xx']);
  assert.match(String(bad.stderr), /--variant must be one of ce, fa/);
  const help = run(['poison', '--help']);
  assert.match(String(help.stdout), /--ref-adv-steps N/);
});

for (const [attack, extra] of [
  ['em', []],
  ['sep', []],
  ['efp', ['--ref-epochs', '1']],
  ['rem', ['--model-steps', '2']],
  ['adp', ['--max-loops', '2']],
] as const) {
  test(`cli: eclipse poison --attack ${attack} --profile smoke on CIFAR-10: bound on the written file`, (t) => {
    const cifar = findCifar();
    if (cifar.source === null) return t.skip(cifar.why);
    const dir = join(tmp.dir, `cli-${attack}`);
    const run = (args: string[]): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [bin, ...args, '--threads', '2'], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
    const imp = run(['data', 'import', '--profile', 'smoke', '--out', join(dir, 'data')]);
    assert.equal(imp.status, 0, String(imp.stderr));
    const out = join(dir, `${attack}.safetensors`);
    const r = run(['poison', '--attack', attack, '--profile', 'smoke', '--in', join(dir, 'data', 'train.safetensors'), '--out', out, '--device', 'cpu', ...extra]);
    assert.equal(r.status, 0, String(r.stderr));
    return Promise.all([loadDataset(out), loadDataset(join(dir, 'data', 'train.safetensors'))]).then(([p, clean]) => {
      assert.equal(p.meta.attack, attack);
      const linf = maxAbsDiff(p.images, clean.images);
      assert.ok(linf <= 8 && linf >= 6, `${attack}: max |delta| ${linf}/255 on the written images`);
      assert.deepEqual([...p.labels], [...clean.labels]);
    });
  });
}
