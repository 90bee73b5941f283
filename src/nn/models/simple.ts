// The "simple networks" of Zhu, Yu & Gao (AAAI 2024), which detect unlearnable data by how well
// they fit it: a linear model and a two-layer fully connected network on the flattened pixels.
// Parameter names follow their code (`linear.*`; `linear1.*`, `linear2.*`). They are not
// victims (not in CLASSIFIERS) but train through the same trainer, so createClassifier knows them.
import type { Tensor } from '../init.js';
import { Module, pipe } from '../module.js';
import { Linear, type InitOptions } from '../layers.js';

export interface SimpleNetConfig extends InitOptions {
  numClasses?: number;
  /** [channels, height, width] of the images (the input is their flattened pixels) */
  imageShape?: readonly [number, number, number];
}

const inputDims = (c: SimpleNetConfig): number => (c.imageShape ?? [3, 32, 32]).reduce((a, b) => a * b, 1);

/** softmax regression on the pixels: inputs -> classes */
export class LinearNet extends Module {
  readonly linear: Linear;
  constructor(c: SimpleNetConfig = {}) {
    super();
    this.linear = this.child('linear', new Linear(inputDims(c), c.numClasses ?? 10, { generator: c.generator, device: c.device }));
  }
  forward(x: Tensor): Tensor {
    return pipe(x, (t) => t.flatten(1), (t) => this.linear.forward(t));
  }
}

/**
 * inputs -> hidden -> ReLU -> classes. The published network's hidden layer is as wide as the
 * input (3,072 for CIFAR-10); `width` scales it as it scales the convolutional nets (64 = published).
 */
export class TwoLayerNet extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;
  constructor(c: SimpleNetConfig & { width?: number } = {}) {
    super();
    const d = inputDims(c);
    const hidden = Math.max(1, Math.round((d * (c.width ?? 64)) / 64));
    const o = { generator: c.generator, device: c.device };
    this.linear1 = this.child('linear1', new Linear(d, hidden, o));
    this.linear2 = this.child('linear2', new Linear(hidden, c.numClasses ?? 10, o));
  }
  forward(x: Tensor): Tensor {
    return pipe(x, (t) => t.flatten(1), (t) => this.linear1.forward(t), (t) => t.relu(), (t) => this.linear2.forward(t));
  }
}
