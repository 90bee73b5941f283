// The improved-DDPM U-Net (Nichol & Dhariwal 2021; Ho et al. 2020's network with FiLM
// timestep conditioning, multi-head attention and a learned-variance head).
//
// Layout: a 3x3 stem, then per resolution level `numResBlocks` residual blocks (with
// self-attention where the feature map's side is in attentionResolutions) and a stride-2
// downsampling conv; a middle of ResBlock-Attention-ResBlock; a mirrored decoder whose
// blocks take the matching encoder activation concatenated on the channels (one more block
// per level than the encoder, the last one upsampling: nearest 2x then a 3x3 conv); and an
// output head GroupNorm-SiLU-conv. The layers that end a residual branch (each block's last
// conv, the attention's output projection) and the output conv start at zero.
//
// Parameter names follow improved-diffusion's state dict (input_blocks.1.0.in_layers.0.weight,
// ..., out.2.bias) so checkpoints map one to one onto PyTorch's.
import { F, Tensor, noGrad, tidy, type Device } from '../nn/init.js';
import { Module, Sequential } from '../nn/module.js';
import { Conv2d, Dropout, GroupNorm, Linear, SiLU, type InitOptions } from '../nn/layers.js';

export interface UNetConfig extends InitOptions {
  /** input side (for attentionResolutions); 32 for CIFAR */
  imageSize?: number;
  inChannels?: number;
  /** base width (128 in the paper) */
  modelChannels?: number;
  /** 2 x inChannels for a learned variance (eps | v) */
  outChannels?: number;
  numResBlocks?: number;
  /** feature-map sides that get self-attention */
  attentionResolutions?: readonly number[];
  dropout?: number;
  /** width multiplier per level; its length is the number of levels */
  channelMult?: readonly number[];
  numHeads?: number;
  /** heads in the decoder's attention (default numHeads) */
  numHeadsUpsample?: number;
  /** FiLM from the timestep embedding: norm(h) * (1 + scale) + shift, instead of h + emb */
  useScaleShiftNorm?: boolean;
  /** GroupNorm groups (32); narrower layers use the largest divisor of their width not above it */
  normGroups?: number;
}

/** The ECLIPSE / improved-DDPM CIFAR-10 network. */
export const CIFAR_UNET: Required<Omit<UNetConfig, keyof InitOptions>> = {
  imageSize: 32,
  inChannels: 3,
  modelChannels: 128,
  outChannels: 6,
  numResBlocks: 3,
  attentionResolutions: [16, 8],
  dropout: 0.3,
  channelMult: [1, 2, 2, 2],
  numHeads: 4,
  numHeadsUpsample: 4,
  useScaleShiftNorm: true,
  normGroups: 32,
};

/** Groups for a GroupNorm over `channels`: the largest divisor of channels that is <= max. */
export function normGroupsFor(channels: number, max: number): number {
  let g = Math.max(1, Math.min(max, channels));
  while (channels % g !== 0) g--;
  return g;
}

/**
 * Sinusoidal embedding of (possibly fractional) timesteps [B] -> [B, dim]:
 * [cos(t f_0) .. cos(t f_{h-1}), sin(t f_0) .. sin(t f_{h-1})], f_i = maxPeriod^(-i/h), h = dim/2.
 */
export function timestepEmbedding(t: Tensor, dim: number, maxPeriod = 10000): Tensor {
  return tidy(() => {
    const half = Math.floor(dim / 2);
    const freqs = F.arange(0, half, 1, { device: t.device as Device }).mul(-Math.log(maxPeriod)).div(half).exp();
    const args = t.float().unsqueeze(1).mul(freqs.unsqueeze(0));
    const emb = F.cat([args.cos(), args.sin()], 1);
    return dim % 2 === 1 ? F.pad(emb, [0, 1]) : emb;
  });
}

function zeroParams(m: Module): void {
  noGrad(() => {
    for (const p of m.parameters()) p.zero_();
  });
}

/** A 1x1 convolution with torch.nn.Conv1d's weight layout [out, in, 1], applied to [B, C, H, W]. */
class Conv1x1 extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(inChannels: number, outChannels: number, o: InitOptions) {
    super();
    const c = new Conv2d(inChannels, outChannels, 1, o);
    this.weight = this.param('weight', tidy(() => c.weight.detach().reshape(outChannels, inChannels, 1).clone()));
    this.bias = this.param('bias', tidy(() => c.bias!.detach().clone()));
    c.dispose();
  }
  forward(x: Tensor): Tensor {
    return tidy(() => F.conv2d(x, this.weight.unsqueeze(3), this.bias));
  }
}

/** Children addressed by position ("0", "1", ...), like torch.nn.ModuleList. */
class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.child(String(i), m));
  }
  forward(): Tensor {
    throw new Error('a ModuleList is not callable; run its items');
  }
}

export class ResBlock extends Module {
  readonly in_layers: Sequential;
  readonly emb_layers: Sequential;
  readonly out_layers: Sequential;
  readonly skip_connection: Conv2d | null;
  constructor(
    channels: number,
    embChannels: number,
    readonly outChannels: number,
    dropout: number,
    readonly useScaleShiftNorm: boolean,
    groups: number,
    o: InitOptions,
  ) {
    super();
    const g = (c: number): GroupNorm => new GroupNorm(normGroupsFor(c, groups), c, 1e-5, o);
    this.in_layers = this.child('in_layers', new Sequential(g(channels), new SiLU(), new Conv2d(channels, outChannels, 3, { ...o, padding: 1 })));
    this.emb_layers = this.child('emb_layers', new Sequential(new SiLU(), new Linear(embChannels, useScaleShiftNorm ? 2 * outChannels : outChannels, o)));
    const last = new Conv2d(outChannels, outChannels, 3, { ...o, padding: 1 });
    zeroParams(last);
    this.out_layers = this.child('out_layers', new Sequential(g(outChannels), new SiLU(), new Dropout(dropout), last));
    this.skip_connection = channels === outChannels ? null : this.child('skip_connection', new Conv2d(channels, outChannels, 1, o));
  }
  forward(x: Tensor, emb: Tensor): Tensor {
    return tidy(() => {
      const h = this.in_layers.forward(x);
      const e = this.emb_layers.forward(emb).unsqueeze(2).unsqueeze(3);
      const [norm, ...rest] = this.out_layers.layers;
      let y: Tensor;
      if (this.useScaleShiftNorm) {
        const [scale, shift] = e.chunk(2, 1);
        y = norm!.forward(h).mul(scale!.add(1)).add(shift!);
      } else y = norm!.forward(h.add(e));
      for (const m of rest) y = m.forward(y);
      return (this.skip_connection ? this.skip_connection.forward(x) : x).add(y);
    });
  }
}

/** Multi-head self-attention over the pixels, added back to the input. */
export class AttentionBlock extends Module {
  readonly norm: GroupNorm;
  readonly qkv: Conv1x1;
  readonly proj_out: Conv1x1;
  constructor(readonly channels: number, readonly numHeads: number, groups: number, o: InitOptions) {
    super();
    if (channels % numHeads !== 0) throw new Error(`attention: ${channels} channels do not split into ${numHeads} heads`);
    this.norm = this.child('norm', new GroupNorm(normGroupsFor(channels, groups), channels, 1e-5, o));
    this.qkv = this.child('qkv', new Conv1x1(channels, 3 * channels, o));
    this.proj_out = this.child('proj_out', new Conv1x1(channels, channels, o));
    zeroParams(this.proj_out);
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [B, C, H, W] = x.shape as [number, number, number, number];
      const ch = C / this.numHeads;
      // qkv channels are ordered [head][q | k | v][ch] (improved-diffusion's layout)
      const qkv = this.qkv.forward(this.norm.forward(x)).reshape(B * this.numHeads, 3 * ch, H * W);
      const scale = 1 / Math.sqrt(Math.sqrt(ch)); // on q and k each: 1/sqrt(ch) on their product
      const q = qkv.narrow(1, 0, ch).mul(scale);
      const k = qkv.narrow(1, ch, ch).mul(scale);
      const v = qkv.narrow(1, 2 * ch, ch);
      const w = F.softmax(q.transpose(1, 2).bmm(k), 2); // [BH, query, key]
      const a = v.bmm(w.transpose(1, 2)).reshape(B, C, H, W); // a[c, i] = sum_j w[i, j] v[c, j]
      return x.add(this.proj_out.forward(a));
    });
  }
}

export class Downsample extends Module {
  readonly op: Conv2d;
  constructor(channels: number, o: InitOptions) {
    super();
    this.op = this.child('op', new Conv2d(channels, channels, 3, { ...o, stride: 2, padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return this.op.forward(x);
  }
}

export class Upsample extends Module {
  readonly conv: Conv2d;
  constructor(channels: number, o: InitOptions) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, channels, 3, { ...o, padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => this.conv.forward(F.interpolate(x, [2 * x.size(2), 2 * x.size(3)], 'nearest')));
  }
}

/** Layers run in order; residual blocks also get the timestep embedding. */
export class TimestepBlock extends Module {
  readonly layers: Module[];
  constructor(layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.child(String(i), m));
  }
  forward(x: Tensor, emb: Tensor): Tensor {
    return tidy(() => {
      let h = x;
      for (const m of this.layers) h = m instanceof ResBlock ? m.forward(h, emb) : m.forward(h);
      return h;
    });
  }
}

export class UNet extends Module {
  readonly config: Required<Omit<UNetConfig, keyof InitOptions>>;
  readonly time_embed: Sequential;
  readonly input_blocks: ModuleList<TimestepBlock>;
  readonly middle_block: TimestepBlock;
  readonly output_blocks: ModuleList<TimestepBlock>;
  readonly out: Sequential;

  constructor(c: UNetConfig = {}) {
    super();
    const { generator, device, ...sizes } = c;
    const cfg = { ...CIFAR_UNET };
    for (const [k, v] of Object.entries(sizes)) if (v !== undefined) (cfg as Record<string, unknown>)[k] = v;
    if (c.numHeadsUpsample === undefined) cfg.numHeadsUpsample = cfg.numHeads;
    this.config = cfg;
    const o: InitOptions = { generator, device };
    const mc = cfg.modelChannels;
    const G = cfg.normGroups;
    const embDim = 4 * mc;
    const res = (cin: number, cout: number): ResBlock => new ResBlock(cin, embDim, cout, cfg.dropout, cfg.useScaleShiftNorm, G, o);
    const attends = (ds: number): boolean => cfg.attentionResolutions.includes(cfg.imageSize / ds);

    this.time_embed = this.child('time_embed', new Sequential(new Linear(mc, embDim, o), new SiLU(), new Linear(embDim, embDim, o)));

    const input: TimestepBlock[] = [new TimestepBlock([new Conv2d(cfg.inChannels, mc, 3, { ...o, padding: 1 })])];
    const skips = [mc];
    let ch = mc;
    let ds = 1;
    cfg.channelMult.forEach((mult, level) => {
      for (let i = 0; i < cfg.numResBlocks; i++) {
        const layers: Module[] = [res(ch, mult * mc)];
        ch = mult * mc;
        if (attends(ds)) layers.push(new AttentionBlock(ch, cfg.numHeads, G, o));
        input.push(new TimestepBlock(layers));
        skips.push(ch);
      }
      if (level < cfg.channelMult.length - 1) {
        input.push(new TimestepBlock([new Downsample(ch, o)]));
        skips.push(ch);
        ds *= 2;
      }
    });
    this.input_blocks = this.child('input_blocks', new ModuleList(input));

    this.middle_block = this.child('middle_block', new TimestepBlock([res(ch, ch), new AttentionBlock(ch, cfg.numHeads, G, o), res(ch, ch)]));

    const output: TimestepBlock[] = [];
    [...cfg.channelMult.entries()].reverse().forEach(([level, mult]) => {
      for (let i = 0; i <= cfg.numResBlocks; i++) {
        const layers: Module[] = [res(ch + skips.pop()!, mc * mult)];
        ch = mc * mult;
        if (attends(ds)) layers.push(new AttentionBlock(ch, cfg.numHeadsUpsample, G, o));
        if (level > 0 && i === cfg.numResBlocks) {
          layers.push(new Upsample(ch, o));
          ds /= 2;
        }
        output.push(new TimestepBlock(layers));
      }
    });
    this.output_blocks = this.child('output_blocks', new ModuleList(output));

    const head = new Conv2d(ch, cfg.outChannels, 3, { ...o, padding: 1 });
    zeroParams(head);
    this.out = this.child('out', new Sequential(new GroupNorm(normGroupsFor(ch, G), ch, 1e-5, o), new SiLU(), head));
  }

  /** x [B, inChannels, H, W], t [B] (float: the diffusion shows the rescaled step) -> [B, outChannels, H, W]. */
  forward(x: Tensor, t: Tensor): Tensor {
    return tidy(() => {
      const emb = this.time_embed.forward(timestepEmbedding(t, this.config.modelChannels));
      const hs: Tensor[] = [];
      let h = x;
      for (const b of this.input_blocks.items) {
        h = b.forward(h, emb);
        hs.push(h);
      }
      h = this.middle_block.forward(h, emb);
      for (const b of this.output_blocks.items) h = b.forward(F.cat([h, hs.pop()!], 1), emb);
      return this.out.forward(h);
    });
  }
}
