// CIFAR ResNets (He et al. 2016, CIFAR variant: 3x3 stem, no max-pool), as in the
// poisoning literature's ResNet-18. `width` scales every stage (64 is the standard net).
import { F, Tensor } from '../init.js';
import { Module, Sequential, pipe } from '../module.js';
import { BatchNorm2d, Conv2d, Linear, type InitOptions } from '../layers.js';

export interface ResNetConfig extends InitOptions {
  numClasses?: number;
  /** channels of the first stage; later stages use 2x, 4x, 8x */
  width?: number;
  inChannels?: number;
}

/** relu(branch + shortcut(x)); frees the branch and the shortcut's output. */
function residual(branch: Tensor, x: Tensor, shortcut: Sequential | null): Tensor {
  const s = shortcut ? shortcut.forward(x) : x;
  const out = pipe(branch, (t) => t.add(s), (t) => t.relu());
  branch.dispose();
  if (s !== x) s.dispose();
  return out;
}

/** ResNet-18/34's block (the CIFAR variant: 1x1 conv + BN shortcut when the shape changes); D-VAE's encoder reuses it. */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly shortcut: Sequential | null;
  constructor(inPlanes: number, planes: number, stride: number, o: InitOptions) {
    super();
    this.conv1 = this.child('conv1', new Conv2d(inPlanes, planes, 3, { ...o, stride, padding: 1, bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(planes, 0.1, 1e-5, o));
    this.conv2 = this.child('conv2', new Conv2d(planes, planes, 3, { ...o, padding: 1, bias: false }));
    this.bn2 = this.child('bn2', new BatchNorm2d(planes, 0.1, 1e-5, o));
    this.shortcut =
      stride !== 1 || inPlanes !== planes
        ? this.child('shortcut', new Sequential(new Conv2d(inPlanes, planes, 1, { ...o, stride, bias: false }), new BatchNorm2d(planes, 0.1, 1e-5, o)))
        : null;
  }
  forward(x: Tensor): Tensor {
    // pipe() frees each activation once used (autograd keeps what backward needs).
    const b = pipe(x, (t) => this.conv1.forward(t), (t) => this.bn1.forward(t), (t) => t.relu(), (t) => this.conv2.forward(t), (t) => this.bn2.forward(t));
    return residual(b, x, this.shortcut);
  }
}

class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly shortcut: Sequential | null;
  constructor(inPlanes: number, planes: number, stride: number, o: InitOptions) {
    super();
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.child('conv1', new Conv2d(inPlanes, planes, 1, { ...o, bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(planes, 0.1, 1e-5, o));
    this.conv2 = this.child('conv2', new Conv2d(planes, planes, 3, { ...o, stride, padding: 1, bias: false }));
    this.bn2 = this.child('bn2', new BatchNorm2d(planes, 0.1, 1e-5, o));
    this.conv3 = this.child('conv3', new Conv2d(planes, out, 1, { ...o, bias: false }));
    this.bn3 = this.child('bn3', new BatchNorm2d(out, 0.1, 1e-5, o));
    this.shortcut =
      stride !== 1 || inPlanes !== out
        ? this.child('shortcut', new Sequential(new Conv2d(inPlanes, out, 1, { ...o, stride, bias: false }), new BatchNorm2d(out, 0.1, 1e-5, o)))
        : null;
  }
  forward(x: Tensor): Tensor {
    const c = pipe(
      x,
      (t) => this.conv1.forward(t), (t) => this.bn1.forward(t), (t) => t.relu(),
      (t) => this.conv2.forward(t), (t) => this.bn2.forward(t), (t) => t.relu(),
      (t) => this.conv3.forward(t), (t) => this.bn3.forward(t),
    );
    return residual(c, x, this.shortcut);
  }
}

type BlockCtor = (new (inPlanes: number, planes: number, stride: number, o: InitOptions) => Module) & { expansion: number };

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Sequential[];
  readonly linear: Linear;
  constructor(block: BlockCtor, counts: readonly number[], c: ResNetConfig = {}) {
    super();
    const w = c.width ?? 64;
    const o: InitOptions = { generator: c.generator, device: c.device };
    this.conv1 = this.child('conv1', new Conv2d(c.inChannels ?? 3, w, 3, { ...o, padding: 1, bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(w, 0.1, 1e-5, o));
    let inPlanes = w;
    this.layers = counts.map((n, i) => {
      const planes = w * 2 ** i;
      const blocks: Module[] = [];
      for (let j = 0; j < n; j++) {
        blocks.push(new block(inPlanes, planes, j === 0 && i > 0 ? 2 : 1, o));
        inPlanes = planes * block.expansion;
      }
      return this.child(`layer${i + 1}`, new Sequential(...blocks));
    });
    this.linear = this.child('linear', new Linear(inPlanes, c.numClasses ?? 10, o));
  }
  /**
   * The penultimate representation [N, 8*width*expansion] (pooled, before the classifier):
   * feature-space poisons (SEP-FA, EntF) align or push these. forward() = linear(features()).
   */
  features(x: Tensor): Tensor {
    return pipe(
      x,
      (t) => this.conv1.forward(t), (t) => this.bn1.forward(t), (t) => t.relu(),
      ...this.layers.map((l) => (t: Tensor) => l.forward(t)),
      (t) => F.adaptiveAvgPool2d(t, 1), (t) => t.flatten(1),
    );
  }
  forward(x: Tensor): Tensor {
    const f = this.features(x);
    const out = this.linear.forward(f);
    f.dispose();
    return out;
  }
}

export const resnet18 = (c: ResNetConfig = {}): ResNet => new ResNet(BasicBlock, [2, 2, 2, 2], c);
export const resnet34 = (c: ResNetConfig = {}): ResNet => new ResNet(BasicBlock, [3, 4, 6, 3], c);
export const resnet50 = (c: ResNetConfig = {}): ResNet => new ResNet(Bottleneck, [3, 4, 6, 3], c);
