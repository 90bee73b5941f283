// The shared machinery of the model-based attacks (src/attacks/model): PGD projection and
// direction, the differentiable shift+flip, one PGD step against PyTorch, the losses, the
// checkpoint surrogate, and memory discipline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { F, Generator, Tensor, liveTensors, noGrad, tidy } from '../src/engine/index.js';
import {
  applyShiftFlip, centroidPushLoss, classCentroids, drawShiftFlip, featureMse, loadSurrogate, penultimateFeatures, pgd, pgdStep,
  project, randomShiftFlip, randomStart, shiftedTargets, targetedCrossEntropy, untargetedCrossEntropy,
  type PgdOptions, type PerturbationNorm, type ShiftFlipDraw,
} from '../src/attacks/model/index.js';
import { resnet18 } from '../src/nn/models/index.js';
import { saveCheckpoint } from '../src/nn/checkpoint.js';
import { assertAllClose, gradcheck, loadGolden } from './helpers/gradcheck.js';

interface GoldenT {
  shape: number[];
  values: number[];
}
interface GoldenCase {
  norm: PerturbationNorm;
  eps: number;
  step: number;
  direction: 'ascent' | 'descent';
  delta0: GoldenT;
  delta1: GoldenT;
  loss0: number;
}
interface PgdGolden {
  x: GoldenT;
  y: number[];
  conv_w: GoldenT;
  conv_b: GoldenT;
  lin_w: GoldenT;
  lin_b: GoldenT;
  cases: Record<string, GoldenCase>;
}

const fromG = (g: GoldenT): Tensor => F.tensor(g.values, g.shape);
const labels = (ys: number[]): Tensor => F.tensor(BigInt64Array.from(ys.map((v) => BigInt(v))), [ys.length]);

/** The tiny classifier of gen_attack_pgd.py: conv 3->4, ReLU, global mean, linear 4->5. */
class TinyNet {
  readonly w: Tensor[];
  constructor(readonly convW: Tensor, readonly convB: Tensor, readonly linW: Tensor, readonly linB: Tensor) {
    this.w = [convW, convB, linW, linB];
  }
  static fromGolden(g: PgdGolden): TinyNet {
    return new TinyNet(fromG(g.conv_w).keep(), fromG(g.conv_b).keep(), fromG(g.lin_w).keep(), fromG(g.lin_b).keep());
  }
  logits(x: Tensor): Tensor {
    return tidy(() => F.linear(F.conv2d(x, this.convW, this.convB, { padding: 1 }).relu().mean([2, 3]), this.linW, this.linB));
  }
  dispose(): void {
    for (const t of this.w) t.dispose();
  }
}

const golden = loadGolden<PgdGolden>('attack_pgd.json');

function ceOf(net: TinyNet, x: Tensor, delta: Tensor, y: Tensor): number {
  return tidy(() => noGrad(() => untargetedCrossEntropy(net.logits(x.add(delta)), y).item()));
}

/** Largest per-sample norm of delta, and the range of x + delta. */
function check(x: Tensor, delta: Tensor, norm: PerturbationNorm, eps: number, what: string): void {
  tidy(() =>
    noGrad(() => {
      const n = norm === 'linf' ? delta.abs().amax().item() : delta.flatten(1).norm(2, 1).amax().item();
      assert.ok(n <= eps * (1 + 1e-5) + 1e-7, `${what}: ${norm} norm ${n} > eps ${eps}`);
      const xd = x.add(delta);
      assert.ok(xd.amin().item() >= 0 && xd.amax().item() <= 1, `${what}: x + delta leaves [0,1]`);
    }),
  );
}

test('one PGD step matches PyTorch (L_inf and L2, ascent and descent)', () => {
  const before = liveTensors();
  const net = TinyNet.fromGolden(golden);
  tidy(() => {
    const x = fromG(golden.x);
    const y = labels(golden.y);
    for (const [name, c] of Object.entries(golden.cases)) {
      const d0 = fromG(c.delta0);
      assert.ok(Math.abs(ceOf(net, x, d0, y) - c.loss0) < 1e-5, `${name}: loss at the start differs from PyTorch`);
      const o: PgdOptions = { norm: c.norm, eps: c.eps, stepSize: c.step, steps: 1, direction: c.direction };
      const d1 = pgdStep(x, d0, (xa) => untargetedCrossEntropy(net.logits(xa), y), o);
      assert.deepEqual(d1.shape, c.delta1.shape);
      assertAllClose(d1.toArray(), c.delta1.values, { rtol: 1e-5, atol: 2e-6 }, name);
      // pgd() with one step from the same start is the same thing
      const d2 = pgd(x, (xa) => untargetedCrossEntropy(net.logits(xa), y), o, d0);
      assertAllClose(d2.toArray(), c.delta1.values, { rtol: 1e-5, atol: 2e-6 }, `${name} (pgd)`);
    }
  });
  net.dispose();
  assert.equal(liveTensors(), before);
});

test('projection: norms within eps and x + delta in [0,1] after every step, for every start', () => {
  const net = TinyNet.fromGolden(golden);
  tidy(() => {
    const x = fromG(golden.x);
    const y = labels(golden.y);
    const settings: [PerturbationNorm, number, number][] = [
      ['linf', 8 / 255, 2 / 255],
      ['l2', 0.5, 0.2],
    ];
    for (const [norm, eps, stepSize] of settings)
      for (const start of ['zero', 'uniform', 'gaussian'] as const)
        for (const direction of ['ascent', 'descent'] as const) {
          const o: PgdOptions = { norm, eps, stepSize, steps: 1, direction, randomStart: start, gaussianScale: eps, generator: new Generator(3) };
          let d = randomStart(x, o);
          check(x, d, norm, eps, `${norm} ${start} start`);
          for (let i = 0; i < 6; i++) {
            const next = pgdStep(x, d, (xa) => untargetedCrossEntropy(net.logits(xa), y), o);
            d.dispose();
            d = next;
            check(x, d, norm, eps, `${norm} ${start} ${direction} step ${i + 1}`);
          }
          // a step much larger than eps ends on the boundary of the L_inf ball (where not clamped to [0,1])
          if (norm === 'linf') {
            const big = pgdStep(x, d, (xa) => untargetedCrossEntropy(net.logits(xa), y), { ...o, stepSize: 1 });
            const inner = x.gt(eps).logicalAnd(x.lt(1 - eps));
            const onEdge = big.abs().sub(eps).abs().lt(1e-6).logicalOr(big.eq(0));
            assert.ok(onEdge.logicalOr(inner.logicalNot()).logicalNot().sum().item() === 0, 'large L_inf step not on the ball boundary');
          }
        }
    // the uniform L_inf start fills the box; projecting a point outside scales it back
    const far = F.fullLike(x, 0.3);
    const p = project(x, far, 'l2', 0.5);
    check(x, p, 'l2', 0.5, 'project');
  });
  net.dispose();
});

test('PGD direction: descent lowers cross-entropy, ascent raises it', () => {
  const net = TinyNet.fromGolden(golden);
  tidy(() => {
    const x = fromG(golden.x);
    const y = labels(golden.y);
    const zero = F.zerosLike(x);
    const ce0 = ceOf(net, x, zero, y);
    for (const norm of ['linf', 'l2'] as const) {
      const base = { norm, eps: norm === 'linf' ? 16 / 255 : 1, stepSize: norm === 'linf' ? 2 / 255 : 0.1, steps: 10 };
      const obj = (xa: Tensor): Tensor => untargetedCrossEntropy(net.logits(xa), y);
      const down = pgd(x, obj, { ...base, direction: 'descent' });
      const up = pgd(x, obj, { ...base, direction: 'ascent' });
      const ceDown = ceOf(net, x, down, y);
      const ceUp = ceOf(net, x, up, y);
      assert.ok(ceDown < ce0 - 1e-3, `${norm}: descent ${ceDown} not below ${ce0}`);
      assert.ok(ceUp > ce0 + 1e-3, `${norm}: ascent ${ceUp} not above ${ce0}`);
    }
    // targeted: descending CE to (y+1) mod 5 raises the targets' probability
    const t = shiftedTargets(y, 5, 1);
    assert.deepEqual(t.toArray(), golden.y.map((v) => (v + 1) % 5));
    const tce = (d: Tensor): number => tidy(() => noGrad(() => targetedCrossEntropy(net.logits(x.add(d)), t).item()));
    const toward = pgd(x, (xa) => targetedCrossEntropy(net.logits(xa), t), { norm: 'linf', eps: 16 / 255, stepSize: 2 / 255, steps: 10, direction: 'descent' });
    assert.ok(tce(toward) < tce(zero) - 1e-3, 'targeted descent did not lower the target loss');
  });
  net.dispose();
});

test('shift+flip: matches a by-hand crop, gradient agrees with finite differences', () => {
  tidy(() => {
    const x = F.arange(0, 2 * 2 * 4 * 5, 1, { dtype: 'float64' }).reshape(2, 2, 4, 5);
    const draw: ShiftFlipDraw = { padding: 2, offsetY: Int32Array.from([2, 0]), offsetX: Int32Array.from([3, 4]), flip: Uint8Array.from([0, 1]) };
    const out = applyShiftFlip(x, draw);
    assert.deepEqual(out.shape, [2, 2, 4, 5]);
    const xs = x.toArray();
    const o = out.toArray();
    const at = (a: number[], n: number, c: number, i: number, j: number): number => a[((n * 2 + c) * 4 + i) * 5 + j]!;
    for (let n = 0; n < 2; n++)
      for (let c = 0; c < 2; c++)
        for (let i = 0; i < 4; i++)
          for (let j = 0; j < 5; j++) {
            // output pixel (i, j) shows padded pixel (i + oy, jj + ox), jj = j or mirrored
            const jj = draw.flip[n] ? 4 - j : j;
            const si = i + draw.offsetY[n]! - 2;
            const sj = jj + draw.offsetX[n]! - 2;
            const want = si >= 0 && si < 4 && sj >= 0 && sj < 5 ? at(xs, n, c, si, sj) : 0;
            assert.equal(at(o, n, c, i, j), want, `sample ${n} channel ${c} pixel (${i}, ${j})`);
          }
    // identity: offset = padding, no flip
    const id = applyShiftFlip(x, { padding: 2, offsetY: Int32Array.from([2, 2]), offsetX: Int32Array.from([2, 2]), flip: new Uint8Array(2) });
    assert.ok(id.allclose(x, 0, 0));
  });
  // gradient w.r.t. the input, including samples that crop into the padding and flip
  const gen = new Generator(11);
  const draw = drawShiftFlip(3, gen, { padding: 2, flipProb: 0.5 });
  const x0 = tidy(() => F.rand([3, 2, 4, 4], { dtype: 'float64', generator: new Generator(5) }));
  gradcheck(([x]) => applyShiftFlip(x!, draw).square(), [x0], { label: 'shift+flip' });
  x0.dispose();
  // the draw is reproducible from the seed, and covers offsets and flips
  const again = drawShiftFlip(3, new Generator(11), { padding: 2 });
  assert.deepEqual([...again.offsetY, ...again.offsetX, ...again.flip], [...draw.offsetY, ...draw.offsetX, ...draw.flip]);
  const many = drawShiftFlip(400, new Generator(1), { padding: 4 });
  assert.equal(Math.min(...many.offsetX), 0);
  assert.equal(Math.max(...many.offsetY), 8);
  const flips = many.flip.reduce((a, b) => a + b, 0);
  assert.ok(flips > 150 && flips < 250, `flip rate ${flips}/400`);
});

test('memory: pgd, augmentation and losses leave liveTensors unchanged', () => {
  const net = TinyNet.fromGolden(golden);
  const x = fromG(golden.x).keep();
  const y = labels(golden.y).keep();
  const gen = new Generator(2);
  const run = (): void => {
    for (const norm of ['linf', 'l2'] as const)
      for (const start of ['zero', 'uniform', 'gaussian'] as const) {
        const d = pgd(
          x,
          (xa) => tidy(() => untargetedCrossEntropy(net.logits(randomShiftFlip(xa, gen, { padding: 2 })), y)),
          { norm, eps: 0.1, stepSize: 0.02, steps: 3, direction: 'descent', randomStart: start, generator: gen },
        );
        d.dispose();
      }
  };
  run(); // warm-up (lazy caches)
  const before = liveTensors();
  for (let i = 0; i < 3; i++) run();
  assert.equal(liveTensors(), before, 'pgd leaked tensors');
  // an objective that throws must not leak either
  assert.throws(() => pgd(x, () => { throw new Error('boom'); }, { norm: 'linf', eps: 0.1, stepSize: 0.01, steps: 2, direction: 'ascent' }), /boom/);
  assert.equal(liveTensors(), before, 'pgd leaked tensors on an error');
  assert.throws(() => randomStart(x, { norm: 'linf', eps: 0.1, randomStart: 'uniform' }), /generator/);
  x.dispose();
  y.dispose();
  net.dispose();
});

test('ResNet features(): forward is linear(features), names unchanged; feature losses', () => {
  const model = resnet18({ width: 4, numClasses: 10, generator: new Generator(1) }).eval();
  tidy(() => {
    const x = F.rand([3, 3, 8, 8], { generator: new Generator(4) });
    const f = penultimateFeatures(model, x);
    assert.deepEqual(f.shape, [3, 32]);
    const viaF = model.linear.forward(f);
    assert.ok(model.forward(x).allclose(viaF, 0, 0), 'forward differs from linear(features)');
    assert.ok(model.namedParameters().every(([n]) => !n.startsWith('features')), 'features() must not add parameters');
    // centroids, push and alignment
    const y = labels([0, 1, 0]);
    const c = classCentroids(f, y, 2);
    assert.deepEqual(c.shape, [2, 32]);
    assertAllClose(c.select(0, 0).toArray(), f.select(0, 0).add(f.select(0, 2)).div(2).toArray(), { rtol: 1e-6, atol: 1e-7 }, 'centroid');
    assert.throws(() => classCentroids(f, y, 3), /class 2 has no sample/);
    const push = centroidPushLoss(f, c, y);
    assert.ok(push.item() <= 0, 'push loss is minus a squared distance');
    assert.ok(Math.abs(featureMse(f, c.indexSelect(0, y)).item() + push.item()) < 1e-7);
  });
  model.dispose();
});

test('surrogate: loads an eclipse train checkpoint frozen and in eval mode; class mismatch names the file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eclipse-surrogate-'));
  try {
    const model = resnet18({ width: 4, numClasses: 10, generator: new Generator(7) });
    const file = path.join(dir, 'checkpoint.safetensors');
    await saveCheckpoint(file, { model, metadata: { model: 'resnet18', width: '4', epoch: '1' } });
    const before = liveTensors();
    const s = await loadSurrogate(file, { classes: 10 });
    assert.equal(s.architecture, 'resnet18');
    assert.equal(s.width, 4);
    assert.equal(s.model.training, false);
    assert.ok(s.model.parameters().every((p) => !p.requiresGrad), 'surrogate parameters must not require grad');
    tidy(() => {
      const x = F.rand([2, 3, 8, 8], { generator: new Generator(8) });
      const want = noGrad(() => model.eval().forward(x));
      assert.ok(s.logits(x).allclose(want, 1e-5, 1e-6), 'surrogate logits differ from the saved model');
      // a PGD step computes the input gradient only
      const y = labels([1, 2]);
      const d = pgd(x, (xa) => untargetedCrossEntropy(s.logits(xa), y), { norm: 'linf', eps: 0.03, stepSize: 0.01, steps: 2, direction: 'ascent' });
      assert.ok(d.abs().amax().item() > 0);
      assert.ok(s.model.parameters().every((p) => p.grad === null), 'a PGD step touched parameter gradients');
    });
    s.dispose();
    assert.equal(liveTensors(), before);
    await assert.rejects(loadSurrogate(file, { classes: 100 }), (e: Error) => e.message.includes(file) && /10 classes but the dataset has 100/.test(e.message));
    const bad = path.join(dir, 'unknown.safetensors');
    await saveCheckpoint(bad, { model, metadata: { model: 'mystery' } });
    await assert.rejects(loadSurrogate(bad, { classes: 10 }), (e: Error) => e.message.includes(bad) && /mystery/.test(e.message));
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
