// nn layers, the CIFAR ResNet-18 and SGD against PyTorch (goldens from test/golden/gen_golden.py).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { F, Generator, Tensor, liveTensors, noGrad, tidy } from '../src/engine/index.js';
import {
  AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, GroupNorm, Linear, ReLU, Sequential, type Module,
} from '../src/nn/index.js';
import { resnet18 } from '../src/nn/models/resnet.js';
import { SGD } from '../src/nn/optim.js';
import { assertAllClose, assertMatches, fromGolden, goldenValues, loadGolden, type GoldenTensor } from './helpers/gradcheck.js';

F.setNumThreads(2);

interface ModuleCase {
  state: Record<string, GoldenTensor>;
  inputs: GoldenTensor[];
  out: GoldenTensor[];
  gw: GoldenTensor;
  grads: Record<string, GoldenTensor>;
  stateAfter: Record<string, GoldenTensor>;
}
interface ResNetGolden {
  width: number;
  paramNames: string[];
  bufferNames: string[];
  stateKeys: string[];
  shapes: Record<string, number[]>;
  state: Record<string, GoldenTensor>;
  input: GoldenTensor;
  target: GoldenTensor;
  logitsEval: GoldenTensor;
  logitsTrain: GoldenTensor;
  loss: number;
  grads: Record<string, GoldenTensor>;
  inputGrad: GoldenTensor;
  statsAfterTrain: Record<string, GoldenTensor>;
}
interface SgdGolden {
  init: Record<string, GoldenTensor>;
  x: GoldenTensor;
  y: GoldenTensor;
  runs: { config: { lr: number; momentum?: number; nesterov?: boolean; weightDecay?: number }; steps: { loss: number; weight: GoldenTensor; bias: GoldenTensor }[] }[];
}
const golden = loadGolden<{ layers: Record<string, ModuleCase>; resnet: ResNetGolden; sgd: SgdGolden }>('ops.json');

/** A state dict of fresh tensors from golden values (dispose it, or make it inside tidy). */
const stateMap = (s: Record<string, GoldenTensor>): Map<string, Tensor> => new Map(Object.entries(s).map(([k, g]) => [k, fromGolden(g)]));

const TOL = { rtol: 1e-4, atol: 1e-5 };

/**
 * Load a case's state, run its inputs in order (train or eval), compare outputs, the gradient
 * of sum(out * gw) for the first input (input and named parameters), and the state after.
 */
function checkModuleCase(name: string, m: Module, c: ModuleCase, train: boolean): void {
  tidy(() => {
    m.loadStateDict(stateMap(c.state));
    m.train(train);
    const params = new Map(m.namedParameters());
    c.inputs.forEach((gi, i) => {
      const x = fromGolden(gi);
      if (i === 0) x.requiresGrad_(true);
      const y = m.forward(x);
      assertMatches(y, c.out[i]!, TOL, `${name} output ${i}`);
      if (i === 0) {
        const names = Object.keys(c.grads).filter((k) => k !== 'input');
        const grads = F.grad(y, [x, ...names.map((n) => params.get(n)!)], { gradOutputs: [fromGolden(c.gw)] });
        assertMatches(grads[0]!, c.grads.input!, TOL, `${name} d/dinput`);
        names.forEach((n, j) => assertMatches(grads[j + 1]!, c.grads[n]!, TOL, `${name} d/d${n}`));
      }
    });
    const after = m.stateDict();
    for (const [k, g] of Object.entries(c.stateAfter)) assertMatches(after.get(k)!, g, TOL, `${name} ${k} after`);
  });
}

describe('layers match PyTorch modules', () => {
  test('Conv2d (stride 2, padding 1, bias)', () => {
    const m = new Conv2d(3, 4, 3, { stride: 2, padding: 1 });
    checkModuleCase('conv2d', m, golden.layers.conv2d!, true);
    m.dispose();
  });
  test('Conv2d (groups 2, no bias)', () => {
    const m = new Conv2d(4, 6, 3, { padding: 1, groups: 2, bias: false });
    assert.deepEqual(m.namedParameters().map(([n, t]) => [n, t.shape]), [['weight', [6, 2, 3, 3]]]);
    checkModuleCase('conv2d_groups', m, golden.layers.conv2d_groups!, true);
    m.dispose();
  });
  test('Linear', () => {
    const m = new Linear(5, 3);
    checkModuleCase('linear', m, golden.layers.linear!, true);
    m.dispose();
  });
  test('BatchNorm2d in training (two batches: outputs, grads, running stats, num_batches_tracked) and eval', () => {
    const m = new BatchNorm2d(3);
    assert.deepEqual(m.namedBuffers().map(([n]) => n), ['running_mean', 'running_var', 'num_batches_tracked']);
    checkModuleCase('batchNorm2d_train', m, golden.layers.batchNorm2d_train!, true);
    assert.equal(m.numBatchesTracked.item(), 7);
    checkModuleCase('batchNorm2d_eval', m, golden.layers.batchNorm2d_eval!, false);
    assert.equal(m.numBatchesTracked.item(), 7, 'eval does not count batches');
    m.dispose();
  });
  test('GroupNorm', () => {
    const m = new GroupNorm(2, 4);
    checkModuleCase('groupNorm', m, golden.layers.groupNorm!, true);
    assert.throws(() => new GroupNorm(3, 4), /do not split/);
    m.dispose();
  });
  test('Sequential (conv, BN, ReLU, pool, flatten, linear) in train and eval mode, with PyTorch state-dict names', () => {
    const m = new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU(), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 5));
    assert.deepEqual([...m.stateDict().keys()].sort(), Object.keys(golden.layers.sequential_train!.state).sort());
    checkModuleCase('sequential_train', m, golden.layers.sequential_train!, true);
    checkModuleCase('sequential_eval', m, golden.layers.sequential_eval!, false);
    m.dispose();
  });
});

describe('module behaviour', () => {
  test('Dropout follows train/eval mode (also inside Sequential)', () => {
    tidy(() => {
      const m = new Sequential(new Dropout(0.5));
      const x = F.ones([2000]);
      const y = m.forward(x);
      const zeros = y.toArray().filter((v) => v === 0).length;
      assert.ok(zeros > 800 && zeros < 1200, `${zeros} of 2000 zeroed`);
      assert.ok(y.toArray().every((v) => v === 0 || v === 2));
      m.eval();
      assert.equal(m.layers[0]!.training, false);
      assert.deepEqual(m.forward(x).toArray(), x.toArray());
      m.train();
      assert.equal(m.layers[0]!.training, true);
    });
  });

  test('default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), reproducible from a Generator', () => {
    const a = new Conv2d(4, 8, 3, { groups: 2, generator: new Generator(11) });
    const b = new Conv2d(4, 8, 3, { groups: 2, generator: new Generator(11) });
    const c = new Conv2d(4, 8, 3, { groups: 2, generator: new Generator(12) });
    const bound = 1 / Math.sqrt(2 * 9);
    for (const t of [a.weight, a.bias!]) {
      const v = t.toArray();
      assert.ok(v.every((e) => Math.abs(e) <= bound));
      assert.ok(Math.max(...v.map(Math.abs)) > bound * 0.8, 'uses the whole range');
    }
    assert.deepEqual(a.weight.toArray(), b.weight.toArray());
    assert.notDeepEqual(a.weight.toArray(), c.weight.toArray());
    assert.equal(a.parameterCount(), 8 * 2 * 9 + 8);
    for (const m of [a, b, c]) m.dispose();
  });

  test('loadStateDict checks names and shapes', () => {
    const m = new Linear(3, 2);
    tidy(() => {
      assert.throws(() => m.loadStateDict(new Map([['weight', F.zeros([2, 3])]])), /missing "bias"/);
      assert.throws(() => m.loadStateDict(new Map([['weight', F.zeros([3, 2])], ['bias', F.zeros([2])]])), /shape/);
      assert.throws(() => m.loadStateDict(new Map([['weight', F.zeros([2, 3])], ['bias', F.zeros([2])], ['extra', F.zeros([1])]])), /extra/);
      m.loadStateDict(new Map([['weight', F.ones([2, 3])]]), false);
      assert.deepEqual(m.weight.toArray(), [1, 1, 1, 1, 1, 1]);
      assert.equal(m.weight.requiresGrad, true);
    });
    m.dispose();
  });

  test('dispose() frees every parameter and buffer', () => {
    const before = liveTensors();
    const m = resnet18({ width: 4 });
    assert.ok(liveTensors() > before);
    m.dispose();
    assert.equal(liveTensors(), before);
  });
});

// ---------------------------------------------------------------------------
// ResNet-18

const R = golden.resnet;
const RTOL = { rtol: 1e-4, atol: 1e-5 };

/** gradient tolerance scaled to the gradient's size (float32 sums over many terms) */
function gradTol(g: GoldenTensor): { rtol: number; atol: number } {
  const scale = Math.max(...goldenValues(g).map(Math.abs));
  return { rtol: 1e-4, atol: 2e-5 * scale };
}

describe('ResNet-18 (width 8) matches PyTorch', () => {
  test('parameter and buffer names and shapes match the PyTorch state dict', () => {
    const m = resnet18({ width: R.width });
    assert.deepEqual(m.namedParameters().map(([n]) => n), R.paramNames, 'named parameters, in order');
    assert.deepEqual(m.namedBuffers().map(([n]) => n), R.bufferNames, 'named buffers, in order');
    const sd = m.stateDict();
    assert.deepEqual([...sd.keys()].sort(), [...R.stateKeys].sort());
    for (const [k, t] of sd) assert.deepEqual(t.shape, R.shapes[k], `shape of ${k}`);
    assert.equal(sd.get('bn1.num_batches_tracked')!.dtype, 'int64');
    m.dispose();
  });

  for (const layout of ['contiguous', 'channels_last'] as const) {
    test(`eval logits, train logits, loss, gradients and running stats (${layout})`, () => {
      const m = resnet18({ width: R.width });
      const before = liveTensors();
      tidy(() => {
        m.loadStateDict(stateMap(R.state));
        let x = fromGolden(R.input);
        if (layout === 'channels_last') {
          m.to(undefined, 'channels_last');
          assert.equal(m.conv1.weight.isContiguous('channels_last'), true);
          assert.equal(m.conv1.weight.requiresGrad, true);
          x = x.contiguous('channels_last');
        }
        const target = fromGolden(R.target);
        m.eval();
        const le = noGrad(() => m.forward(x));
        assertMatches(le, R.logitsEval, RTOL, 'eval logits');

        m.train();
        x.requiresGrad_(true);
        const lt = m.forward(x);
        assertMatches(lt, R.logitsTrain, RTOL, 'train logits');
        const loss = F.crossEntropy(lt, target);
        assertAllClose([loss.item()], [R.loss], { rtol: 1e-5, atol: 1e-6 }, 'loss');
        const params = new Map(m.namedParameters());
        const names = Object.keys(R.grads);
        let grads: (Tensor | null)[];
        if (layout === 'contiguous') {
          // backward() into .grad
          loss.backward();
          grads = [...names.map((n) => params.get(n)!.grad), x.grad];
        } else {
          // F.grad, leaving .grad alone
          grads = F.grad(loss, [...names.map((n) => params.get(n)!), x]);
          assert.equal(params.get('conv1.weight')!.grad, null);
        }
        names.forEach((n, i) => assertMatches(grads[i]!, R.grads[n]!, gradTol(R.grads[n]!), `d loss / d ${n}`));
        const gx = grads[names.length]!.narrow(0, 0, 2);
        assertMatches(gx, R.inputGrad, gradTol(R.inputGrad), 'd loss / d input');
        const sd = m.stateDict();
        for (const [k, g] of Object.entries(R.statsAfterTrain)) assertMatches(sd.get(k)!, g, RTOL, `${k} after one train step`);
        for (const p of m.parameters()) p.zeroGrad();
      });
      assert.equal(liveTensors(), before, 'the forward/backward pass released its tensors');
      m.dispose();
    });
  }
});

// ---------------------------------------------------------------------------
// SGD

describe('SGD matches torch.optim.SGD', () => {
  const S = golden.sgd;
  for (const run of S.runs) {
    const c = run.config;
    test(`lr ${c.lr} momentum ${c.momentum ?? 0}${c.nesterov ? ' nesterov' : ''} weight decay ${c.weightDecay ?? 0}: 3 steps`, () => {
      const m = new Linear(4, 3);
      tidy(() => m.loadStateDict(stateMap(S.init)));
      const opt = new SGD(m.parameters(), { lr: c.lr, momentum: c.momentum, nesterov: c.nesterov, weightDecay: c.weightDecay });
      const before = liveTensors();
      run.steps.forEach((s, i) => {
        tidy(() => {
          opt.zeroGrad();
          const loss = F.crossEntropy(m.forward(fromGolden(S.x)), fromGolden(S.y));
          assertAllClose([loss.item()], [s.loss], { rtol: 1e-5, atol: 1e-6 }, `loss before step ${i + 1}`);
          loss.backward();
          opt.step();
        });
        assertMatches(m.weight, s.weight, { rtol: 1e-5, atol: 1e-6 }, `weight after step ${i + 1}`);
        assertMatches(m.bias!, s.bias, { rtol: 1e-5, atol: 1e-6 }, `bias after step ${i + 1}`);
      });
      assert.equal(liveTensors(), before, 'steps leave no tensors behind');
      opt.dispose();
      m.dispose();
    });
  }
  test('nesterov without momentum is rejected', () => {
    assert.throws(() => new SGD([], { lr: 0.1, nesterov: true }), /momentum/);
  });
});
