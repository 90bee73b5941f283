// The layers the classifiers and the U-Net are built from. Initialisation follows
// PyTorch's defaults (uniform +-1/sqrt(fan_in)) so training behaves the same.
import { F, Generator, Tensor, empty, type Device } from './init.js';
import { Module } from './module.js';

export interface InitOptions {
  generator?: Generator;
  device?: Device;
}

/** U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's kaiming_uniform_(a=sqrt(5)) for weights and its bias rule. */
function fanInUniform(shape: number[], fanIn: number, o: InitOptions): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return empty(shape, o.device).uniform_(-bound, bound, o.generator);
}

export interface Conv2dConfig extends InitOptions {
  stride?: number;
  padding?: number;
  groups?: number;
  bias?: boolean;
}
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly groups: number;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernel: number, c: Conv2dConfig = {}) {
    super();
    this.stride = c.stride ?? 1;
    this.padding = c.padding ?? 0;
    this.groups = c.groups ?? 1;
    const fanIn = (inChannels / this.groups) * kernel * kernel;
    this.weight = this.param('weight', fanInUniform([outChannels, inChannels / this.groups, kernel, kernel], fanIn, c));
    this.bias = c.bias === false ? null : this.param('bias', fanInUniform([outChannels], fanIn, c));
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, groups: this.groups });
  }
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, c: InitOptions & { bias?: boolean } = {}) {
    super();
    this.weight = this.param('weight', fanInUniform([outFeatures, inFeatures], inFeatures, c));
    this.bias = c.bias === false ? null : this.param('bias', fanInUniform([outFeatures], inFeatures, c));
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  constructor(readonly features: number, readonly momentum = 0.1, readonly eps = 1e-5, o: InitOptions = {}) {
    super();
    const dev = { device: o.device };
    this.weight = this.param('weight', F.ones([features], dev));
    this.bias = this.param('bias', F.zeros([features], dev));
    this.runningMean = this.buffer('running_mean', F.zeros([features], dev));
    this.runningVar = this.buffer('running_var', F.ones([features], dev));
    // Kept for PyTorch state-dict compatibility.
    this.numBatchesTracked = this.buffer('num_batches_tracked', F.zeros([], { dtype: 'int64', device: o.device }));
  }
  forward(x: Tensor): Tensor {
    if (this.training) this.numBatchesTracked.add_(1);
    return F.batchNorm(x, {
      weight: this.weight,
      bias: this.bias,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
  }
}

export class GroupNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly groups: number, readonly channels: number, readonly eps = 1e-5, o: InitOptions = {}) {
    super();
    if (channels % groups !== 0) throw new Error(`GroupNorm: ${channels} channels do not split into ${groups} groups`);
    this.weight = this.param('weight', F.ones([channels], { device: o.device }));
    this.bias = this.param('bias', F.zeros([channels], { device: o.device }));
  }
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.groups, this.weight, this.bias, this.eps);
  }
}

export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return x.silu();
  }
}
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x.clone();
  }
}
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return x.flatten(1);
  }
}
export class MaxPool2d extends Module {
  constructor(readonly kernel: number, readonly stride = kernel, readonly padding = 0) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernel, this.stride, this.padding);
  }
}
export class AvgPool2d extends Module {
  constructor(readonly kernel: number, readonly stride = kernel) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernel, this.stride);
  }
}
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly size: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.size);
  }
}
