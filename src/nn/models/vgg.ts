// CIFAR VGG-16/19 (Simonyan & Zisserman 2015, with BatchNorm, as used on CIFAR-10 in the
// poisoning literature): stacks of conv3x3(bias)+BN+ReLU separated by 2x2 max-pools, then
// one Linear layer. Parameter names follow the common PyTorch CIFAR VGG: `features.N.*`
// (N counts every layer, the ReLUs and pools too) and `classifier.*`.
// `width` scales every conv (64 is the standard net: 64-128-256-512-512 channels).
import { F, Tensor, tidy } from '../init.js';
import { Module, Sequential } from '../module.js';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, type InitOptions } from '../layers.js';

export interface VGGConfig extends InitOptions {
  numClasses?: number;
  /** channels of the first stage; the stages use 1x, 2x, 4x, 8x, 8x of it */
  width?: number;
  inChannels?: number;
}

/** Convolutions per stage; each stage ends with a max-pool that halves the resolution. */
const STAGES = { vgg16: [2, 2, 3, 3, 3], vgg19: [2, 2, 4, 4, 4] } as const;
export type VGGName = keyof typeof STAGES;

export class VGG extends Module {
  readonly features: Sequential;
  readonly classifier: Linear;
  constructor(name: VGGName, c: VGGConfig = {}) {
    super();
    const w = c.width ?? 64;
    const o: InitOptions = { generator: c.generator, device: c.device };
    const layers: Module[] = [];
    let inCh = c.inChannels ?? 3;
    STAGES[name].forEach((convs, stage) => {
      const outCh = w * 2 ** Math.min(stage, 3);
      for (let i = 0; i < convs; i++) {
        layers.push(new Conv2d(inCh, outCh, 3, { ...o, padding: 1 }), new BatchNorm2d(outCh, 0.1, 1e-5, o), new ReLU());
        inCh = outCh;
      }
      layers.push(new MaxPool2d(2));
    });
    this.features = this.child('features', new Sequential(...layers));
    this.classifier = this.child('classifier', new Linear(inCh, c.numClasses ?? 10, o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = this.features.forward(x);
      // 32x32 inputs leave a 1x1 map here; the pool lets other sizes work too.
      return this.classifier.forward(F.adaptiveAvgPool2d(y, 1).flatten(1));
    });
  }
}

export const vgg16 = (c: VGGConfig = {}): VGG => new VGG('vgg16', c);
export const vgg19 = (c: VGGConfig = {}): VGG => new VGG('vgg19', c);
