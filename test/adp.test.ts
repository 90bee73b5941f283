// ADP (ECLIPSE paper section 4.4): the U-Net classifier, the differentiable compensation function
// C against the victim's, and the attack end to end at a tiny scale (synthetic 32x32 images, an
// 8-channel two-level U-Net, two min-min loops).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { F, Generator, liveTensors, noGrad, tidy } from '../src/engine/index.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { Rng } from '../src/data/rng.js';
import { compensation } from '../src/defenses/compensation.js';
import { UNet } from '../src/diffusion/unet.js';
import { ADP_SETTINGS, AdpAttack, UNetClassifier, applyCompensation, compensateTensor, drawCompensation } from '../src/attacks/adp.js';
import { GenerationInterrupted } from '../src/attacks/model/index.js';
import { eclipseProfile } from '../src/eclipse-settings.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

F.setNumThreads(1); // tiny tensors: a second thread only adds contention

const ds: ImageDataset = syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 4, seed: 3 });
const tmp = makeTempDir('eclipse-adp-');
test.after(() => tmp.cleanup());

/** ADP at test scale: 2 loops (never stopping early), 2 PGD batches (8, 4 images). */
const tiny = (extra: Record<string, number | string> = {}): AdpAttack =>
  new AdpAttack({ profile: 'smoke', settings: { maxLoops: 2, trainSteps: 2, trainBatch: 6, steps: 2, poisonBatch: 8, stopAccuracy: 1, ...extra } });

test('adp: the U-Net classifier gives [N, K] logits with a finite, non-zero input gradient; names are the denoiser U-Net\'s', () => {
  const before = liveTensors();
  const attack = tiny();
  const m = attack.createClassifier(ds, 0);
  try {
    assert.ok(m instanceof UNetClassifier);
    tidy(() => {
      const x = F.rand([3, 3, 32, 32], { generator: new Generator(1) }).requiresGrad_(true);
      const logits = m.forward(x);
      assert.deepEqual(logits.shape, [3, 3]);
      assert.ok(logits.isfinite().logicalNot().sum().item() === 0, 'finite logits');
      assert.ok(logits.abs().amax().item() > 0, 'the fresh head is not zero-initialised');
      const [g] = F.grad(F.crossEntropy(logits, F.tensor(BigInt64Array.from([0n, 1n, 2n]), [3])), x);
      assert.ok(g!.isfinite().logicalNot().sum().item() === 0, 'finite input gradient');
      assert.ok(g!.abs().sum().item() > 0, 'non-zero input gradient');
    });
    // Same parameter names and shapes as the denoiser's U-Net of the same size, except the head.
    const s = attack.settings;
    const den = new UNet({ modelChannels: s.channels, numResBlocks: s.resBlocks, channelMult: [1, 2], attentionResolutions: [], numHeads: 1, dropout: 0, outChannels: 6 });
    try {
      const mine = new Map(m.namedParameters().map(([n, t]) => [n, t.shape.join('x')]));
      const theirs = new Map(den.namedParameters().map(([n, t]) => [n, t.shape.join('x')]));
      assert.deepEqual([...mine.keys()], [...theirs.keys()]);
      for (const [n, shape] of theirs) if (!n.startsWith('out.2.')) assert.equal(mine.get(n), shape, n);
      assert.equal(mine.get('out.2.weight'), `3x${s.channels}x3x3`);
    } finally {
      den.dispose();
    }
    // eval / train reach the U-Net's layers (they are this module's children)
    m.eval();
    assert.equal(m.unet.out.training, false);
  } finally {
    m.dispose();
  }
  assert.equal(liveTensors(), before);
});

test('adp: the paper and mini classifiers follow the profile denoiser / the tiny U-Net', () => {
  const paper = new AdpAttack({ profile: 'paper' });
  const den = eclipseProfile('paper').denoiser.unet;
  assert.equal(paper.settings.channels, den.modelChannels);
  assert.equal(paper.settings.resBlocks, den.numResBlocks);
  assert.equal(paper.settings.levels, den.channelMult.length);
  assert.equal(paper.settings.attention, 'on');
  assert.equal(paper.settings.dropout, den.dropout);
  assert.equal(paper.settings.steps, 20);
  assert.ok(Math.abs(paper.stepSize - 0.8 / 255) < 1e-12);
  const mini = new AdpAttack({ profile: 'mini' });
  assert.equal(mini.settings.attention, 'off');
  assert.ok(mini.settings.channels <= 32);
  for (const a of [paper, mini]) {
    assert.equal(a.settings.grayP, 0.4);
    assert.equal(a.settings.sigma, 0.05);
  }
  assert.match(paper.recipe, /section 4\.4/);
});

test('adp: C on tensors equals the victim\'s compensation for the same draws, up to its 8-bit rounding', () => {
  const n = 12;
  const set = syntheticDataset({ classes: ['a', 'b', 'c'], perClass: 4, seed: 9 });
  const shape = { channels: 3, height: 32, width: 32 };
  const per = 3 * 32 * 32;
  const plane = 32 * 32;
  for (const o of [{ p: 0.4, sigma: 0.05 }, { p: 0.5, sigma: 0 }, { p: 0, sigma: 0.1 }]) {
    const victim = new Uint8Array(set.images);
    compensation(o).apply(victim, n, shape, new Rng(21, 5));
    // Replay the victim's draws: per image one coin, then one normal per pixel (when sigma > 0).
    const rng = new Rng(21, 5);
    const gray = new Float32Array(n);
    const noise = new Float32Array(n * per);
    for (let i = 0; i < n; i++) {
      gray[i] = rng.float() < o.p ? 1 : 0;
      if (o.sigma > 0) for (let k = 0; k < per; k++) noise[i * per + k] = o.sigma * rng.normal();
    }
    const mine = tidy(() => {
      const x = F.tensor(set.images, [n, 3, 32, 32]).to('float32').div(255);
      const d = { gray: F.tensor(gray, [n, 1, 1, 1]), noise: o.sigma > 0 ? F.tensor(noise, [n, 3, 32, 32]) : null };
      return applyCompensation(x, d).mul(255).data() as Float32Array;
    });
    let worst = 0;
    let grayed = 0;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < per; k++) worst = Math.max(worst, Math.abs(mine[i * per + k]! - victim[i * per + k]!));
      if (gray[i]) {
        grayed++;
        if (o.sigma === 0) for (let k = 0; k < plane; k++) assert.equal(mine[i * per + k], mine[i * per + plane + k]);
      }
    }
    // The victim rounds the luma and the noisy pixel: at most 1/2 + 1/2 of a level.
    assert.ok(worst <= 1 + 1e-3, `p ${o.p} sigma ${o.sigma}: max |C - victim| = ${worst}/255`);
    if (o.p > 0) assert.ok(grayed > 0 && grayed < n, `p ${o.p}: ${grayed} of ${n} gray`);
  }
});

test('adp: C draws grayscale with frequency p and noise of std sigma; its gradient passes through', () => {
  const before = liveTensors();
  const n = 4000;
  tidy(() =>
    noGrad(() => {
      // colourful images, no noise: an image is gray iff its channels agree
      const x = F.rand([n, 3, 2, 2], { generator: new Generator(4) });
      const y = compensateTensor(x, 0.4, 0, new Generator(5));
      const isGray = y.narrow(1, 0, 1).sub(y.narrow(1, 1, 1)).abs().amax([1, 2, 3]).lt(1e-6).float().mean().item();
      assert.ok(Math.abs(isGray - 0.4) < 0.03, `gray fraction ${isGray}`);
      // mid-gray images (no clamping), no grayscale: the added noise has std sigma, mean 0
      const mid = F.full([n, 3, 4, 4], 0.5);
      const noised = compensateTensor(mid, 0, 0.05, new Generator(6)).sub(0.5);
      assert.ok(Math.abs(noised.std().item() - 0.05) < 0.001, `noise std ${noised.std().item()}`);
      assert.ok(Math.abs(noised.mean().item()) < 0.001);
    }),
  );
  // d sum(C(x)) / dx: 1 per pixel for colour images, 3 * luma weight for gray ones (no clamp inside)
  tidy(() => {
    const x = F.full([64, 3, 2, 2], 0.5).requiresGrad_(true);
    const d = drawCompensation(x.shape, 0.5, 0.01, new Generator(7));
    const [g] = F.grad(applyCompensation(x, d).sum(), x);
    const gray = d.gray!.reshape(64).data() as Float32Array;
    const gr = g!.select(1, 0).select(1, 0).select(1, 0).data() as Float32Array; // red channel, pixel (0,0)
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(gr[i]! - (gray[i] ? 3 * 0.299 : 1)) < 1e-5, `image ${i}: ${gr[i]}`);
  });
  assert.equal(liveTensors(), before);
});

test('adp: prepare + poison stays within L_inf 8/255, is deterministic for a seed, resumes from its checkpoint, leaks nothing', async () => {
  const before = liveTensors();
  const whole = tiny();
  await whole.prepare(ds, 1, { workDir: join(tmp.dir, 'w-whole'), quiet: true });
  assert.equal(liveTensors(), before, 'prepare leaked tensors');
  const res = whole.poison(ds, 1);
  const a = res.dataset;
  let linf = 0;
  let moved = 0;
  for (let p = 0; p < ds.images.length; p++) {
    const d = Math.abs(a.images[p]! - ds.images[p]!);
    linf = Math.max(linf, d);
    if (d > 0) moved++;
  }
  assert.ok(linf <= 8, `max |delta| ${linf}/255`);
  assert.ok(moved > ds.images.length / 4, `only ${moved} pixels moved`);
  const m = a.meta;
  assert.equal(m.attack, 'adp');
  const params = JSON.parse(m.attack_params!);
  assert.equal(params.gray_p, 0.4);
  assert.equal(params.sigma, 0.05);
  assert.equal(params.channels, 8);
  assert.match(m.attack_setting!, /smoke with overrides: train_steps 2, train_batch 6, stop_accuracy 1, max_loops 2, poison_batch 8/);
  assert.equal(JSON.parse(m.attack_notes!).loops, '2');

  // Same seed, fresh work folder: the same bytes. Another seed: other noise.
  const again = tiny();
  await again.prepare(ds, 1, { workDir: join(tmp.dir, 'w-again'), quiet: true });
  assert.deepEqual(Buffer.from(again.poison(ds, 1).dataset.images), Buffer.from(a.images));
  const other = tiny();
  await other.prepare(ds, 2, { workDir: join(tmp.dir, 'w-other'), quiet: true });
  assert.notDeepEqual(Buffer.from(other.poison(ds, 2).dataset.images), Buffer.from(a.images));

  // Interrupted after loop 1, resumed: equal to the uninterrupted run.
  const dir = join(tmp.dir, 'w-split');
  const stop = new AbortController();
  stop.abort(); // checked after each loop: exactly one loop runs
  await assert.rejects(tiny().prepare(ds, 1, { workDir: dir, quiet: true, signal: stop.signal }), GenerationInterrupted);
  assert.equal(liveTensors(), before, 'an interrupted prepare leaked tensors');
  const logs: string[] = [];
  const resumed = tiny();
  await resumed.prepare(ds, 1, { workDir: dir, quiet: true, log: (l) => logs.push(l) });
  assert.ok(logs.some((l) => /resuming after loop 1/.test(l)), logs.join('\n'));
  assert.deepEqual(Buffer.from(resumed.poison(ds, 1).dataset.images), Buffer.from(a.images));
  // Changed settings (C's p) start over rather than reuse the checkpoint.
  const changed: string[] = [];
  await tiny({ grayP: 0.2, maxLoops: 1 }).prepare(ds, 1, { workDir: dir, quiet: true, log: (l) => changed.push(l) });
  assert.ok(changed.some((l) => /another generation/.test(l)), changed.join('\n'));
  assert.equal(liveTensors(), before);
});

test('adp: with dropout on, runs and resumed runs are still reproducible', async () => {
  const withDropout = (): AdpAttack => tiny({ dropout: 0.3 });
  const a = withDropout();
  await a.prepare(ds, 4, { workDir: join(tmp.dir, 'd-whole'), quiet: true });
  const dir = join(tmp.dir, 'd-split');
  const stop = new AbortController();
  stop.abort();
  await assert.rejects(withDropout().prepare(ds, 4, { workDir: dir, quiet: true, signal: stop.signal }), GenerationInterrupted);
  const b = withDropout();
  await b.prepare(ds, 4, { workDir: dir, quiet: true });
  assert.deepEqual(Buffer.from(b.poison(ds, 4).dataset.images), Buffer.from(a.poison(ds, 4).dataset.images));
});

test('adp: bad settings and inputs are refused with clear errors', async () => {
  assert.throws(() => new AdpAttack({ settings: { grayP: 1.5 } }), /adp attack: setting grayP must be <= 1, got 1\.5/);
  assert.throws(() => new AdpAttack({ settings: { grayP: -0.1 } }), /adp attack: setting grayP must be >= 0/);
  assert.throws(() => new AdpAttack({ settings: { sigma: -0.01 } }), /adp attack: setting sigma must be >= 0, got -0\.01/);
  assert.throws(() => new AdpAttack({ settings: { sigma: Number.NaN } }), /setting sigma must be a number/);
  assert.throws(() => new AdpAttack({ settings: { attention: 'maybe' } }), /attention must be one of on, off/);
  assert.throws(() => new AdpAttack({ settings: { channels: 0 } }), /channels must be >= 1/);
  assert.throws(() => new AdpAttack({ settings: { grayp: 0.3 } }), /no setting "grayp" \(did you mean grayP\?\)/);
  assert.throws(() => new AdpAttack({ surrogate: 'x.safetensors' }), /takes no surrogate file/);
  assert.throws(() => tiny().poison(ds, 0), /prepare/);
  const before = liveTensors();
  const one = syntheticDataset({ classes: ['a'], perClass: 3 });
  await assert.rejects(tiny().prepare(one, 0, { workDir: join(tmp.dir, 'bad'), quiet: true }), /at least 2/);
  const odd = syntheticDataset({ classes: ['a', 'b'], perClass: 2, height: 30, width: 30 });
  await assert.rejects(tiny({ levels: 3 }).prepare(odd, 0, { workDir: join(tmp.dir, 'bad'), quiet: true }), /side of 30 does not divide by 4/);
  assert.equal(liveTensors(), before);
  // every setting has a flag and a value at each profile
  for (const [k, spec] of Object.entries(ADP_SETTINGS)) for (const p of ['smoke', 'mini', 'paper'] as const) assert.ok(spec.profiles[p] !== undefined, `${k} at ${p}`);
});
