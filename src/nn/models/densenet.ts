// CIFAR DenseNet-121 (Huang et al. 2017, the CIFAR variant common in the poisoning
// literature): a 3x3 stem conv of 2k channels, four dense blocks of [6, 12, 24, 16]
// bottleneck layers (BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k), output concatenated in front
// of the input), transitions BN-ReLU-conv1x1-avgpool2 that halve the channels, then
// BN-ReLU-global average pool-Linear. Names match that PyTorch code: conv1, dense1.0.bn1,
// trans1.conv, ..., bn, linear.
//
// `width` scales the growth rate k: k = max(1, round(width / 2)), so width 64 gives the
// standard k = 32 and width 8 gives k = 4. `growthRate` sets k directly (and wins).
import { F, Tensor, tidy } from '../init.js';
import { Module, Sequential } from '../module.js';
import { BatchNorm2d, Conv2d, Linear, type InitOptions } from '../layers.js';

export interface DenseNetConfig extends InitOptions {
  numClasses?: number;
  /** 64 is the standard net; the growth rate is width / 2 */
  width?: number;
  /** the growth rate k, overriding the one derived from width */
  growthRate?: number;
  inChannels?: number;
}

/** The growth rate a width gives (64 -> 32). */
export const denseGrowthRate = (width: number): number => Math.max(1, Math.round(width / 2));

class DenseLayer extends Module {
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  constructor(inCh: number, k: number, o: InitOptions) {
    super();
    this.bn1 = this.child('bn1', new BatchNorm2d(inCh, 0.1, 1e-5, o));
    this.conv1 = this.child('conv1', new Conv2d(inCh, 4 * k, 1, { ...o, bias: false }));
    this.bn2 = this.child('bn2', new BatchNorm2d(4 * k, 0.1, 1e-5, o));
    this.conv2 = this.child('conv2', new Conv2d(4 * k, k, 3, { ...o, padding: 1, bias: false }));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const a = this.conv1.forward(this.bn1.forward(x).relu());
      const b = this.conv2.forward(this.bn2.forward(a).relu());
      return F.cat([b, x], 1);
    });
  }
}

class Transition extends Module {
  readonly bn: BatchNorm2d;
  readonly conv: Conv2d;
  constructor(inCh: number, outCh: number, o: InitOptions) {
    super();
    this.bn = this.child('bn', new BatchNorm2d(inCh, 0.1, 1e-5, o));
    this.conv = this.child('conv', new Conv2d(inCh, outCh, 1, { ...o, bias: false }));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => F.avgPool2d(this.conv.forward(this.bn.forward(x).relu()), 2));
  }
}

export class DenseNet extends Module {
  readonly conv1: Conv2d;
  readonly blocks: Sequential[];
  readonly transitions: Transition[];
  readonly bn: BatchNorm2d;
  readonly linear: Linear;
  readonly growthRate: number;
  /** `reduction` is the fraction of channels a transition keeps. */
  constructor(counts: readonly number[], c: DenseNetConfig = {}, reduction = 0.5) {
    super();
    const k = c.growthRate ?? denseGrowthRate(c.width ?? 64);
    const o: InitOptions = { generator: c.generator, device: c.device };
    this.growthRate = k;
    let ch = 2 * k;
    this.conv1 = this.child('conv1', new Conv2d(c.inChannels ?? 3, ch, 3, { ...o, padding: 1, bias: false }));
    this.blocks = [];
    this.transitions = [];
    counts.forEach((n, i) => {
      const layers: Module[] = [];
      for (let j = 0; j < n; j++, ch += k) layers.push(new DenseLayer(ch, k, o));
      this.blocks.push(this.child(`dense${i + 1}`, new Sequential(...layers)));
      if (i === counts.length - 1) return;
      const out = Math.floor(ch * reduction);
      this.transitions.push(this.child(`trans${i + 1}`, new Transition(ch, out, o)));
      ch = out;
    });
    this.bn = this.child('bn', new BatchNorm2d(ch, 0.1, 1e-5, o));
    this.linear = this.child('linear', new Linear(ch, c.numClasses ?? 10, o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      let y = this.conv1.forward(x);
      this.blocks.forEach((block, i) => {
        y = block.forward(y);
        const t = this.transitions[i];
        if (t) y = t.forward(y);
      });
      // 32x32 inputs leave a 4x4 map here, so this is the usual avg_pool2d(4).
      return this.linear.forward(F.adaptiveAvgPool2d(this.bn.forward(y).relu(), 1).flatten(1));
    });
  }
}

export const densenet121 = (c: DenseNetConfig = {}): DenseNet => new DenseNet([6, 12, 24, 16], c);
