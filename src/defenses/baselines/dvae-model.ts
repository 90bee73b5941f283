// The network of D-VAE (Yu et al., ICML 2024; yuyi-sd/D-VAE, ResNet18DVAE with stem_end_block 7,
// the CIFAR-10 config resnet18DVAE.yaml): a variational autoencoder whose encoder is the first
// blocks of a CIFAR ResNet-18, plus a second, class-conditioned decoder that learns the part of
// each image the rate-limited latent cannot carry (the perturbation).
//
// With base width c (64 in the release) and an H x W input:
//   stem    3x3 conv 3 -> c, BN, ReLU; two basic blocks c -> c; one basic block c -> 2c, stride 2
//           (ResNet-18's layer1 and layer2[0]): s, 2c x H/2 x W/2
//   latent  1x1 convs s -> mu, log var (latent channels each; 256 in the release); z = mu + sigma eps;
//           a 1x1 conv z -> 2c (post_conv)
//   decoder transposed convs 2c -> c (4x4, stride 2) -> c (3x3), instance norm, ReLU, -> c/2 (3x3),
//           instance norm, ReLU, -> 3 (3x3), sigmoid: the reconstruction
//   p       the same decoder without the sigmoid, fed post_conv(z) + a learned per-class tensor of
//           s's shape (the release's spatial embedding, N(0, 1) at init): the perturbation
// The release's classifier head after the stem (layer2[1] .. linear) gets no gradient from the
// D-VAE loss and is only logged there, so it is left out. Instance norm is affine-free with no
// running statistics (PyTorch's InstanceNorm2d defaults): group norm with one group per channel.
//
// Transposed convolutions are not an engine op: they are computed through conv2d (exactly; see
// ConvTranspose2d), with PyTorch's ConvTranspose2d weight layout and initialisation.
import { F, Generator, Tensor, empty, type Device } from '../../nn/init.js';
import { BatchNorm2d, Conv2d, type InitOptions } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { BasicBlock } from '../../nn/models/resnet.js';

export interface DvaeNetConfig extends InitOptions {
  /** c: the stem's first width (64 in the release); the stem ends at 2c */
  channels: number;
  /** latent channels per position of the H/2 x W/2 grid (256 in the release) */
  latent: number;
  classes: number;
  height: number;
  width: number;
}

/** U(-1/sqrt(fanIn), 1/sqrt(fanIn)) as PyTorch's default conv/linear initialisation. */
function uniformInit(shape: number[], fanIn: number, o: InitOptions): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return empty(shape, o.device).uniform_(-bound, bound, o.generator);
}

/**
 * torch.nn.ConvTranspose2d(in, out, k, stride, padding) for (k 3, stride 1, padding 1) and
 * (k 4, stride 2, padding 1), the two the D-VAE decoders use. The weight is [in, out, k, k] as
 * PyTorch stores it and is initialised as PyTorch does (fan-in from dim 1: out * k * k).
 * - stride 1: a transposed convolution is the convolution with the kernel flipped and its
 *   in/out axes swapped, padding k - 1 - p (= 1).
 * - stride 2, k 4, p 1: output row Y = 2m + py takes input rows m (kernel row 1) and m - 1
 *   (row 3) when py = 0, rows m + 1 (row 0) and m (row 2) when py = 1, and the same for
 *   columns. So one 3x3 convolution of the input padded by 1 with 4 * out channels, one group
 *   of out per phase (py, px) holding those kernel taps (zeros elsewhere), then interleaving
 *   the phases, gives the output exactly, at a quarter of the cost of zero insertion.
 */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernel: 3 | 4, o: InitOptions = {}) {
    super();
    const fanIn = outChannels * kernel * kernel;
    this.weight = this.param('weight', uniformInit([inChannels, outChannels, kernel, kernel], fanIn, o));
    this.bias = this.param('bias', uniformInit([outChannels], fanIn, o));
  }
  forward(x: Tensor): Tensor {
    // [out, in, k, k]: the convolution's layout
    const w = this.weight.transpose(0, 1);
    if (this.kernel === 3) {
      const flipped = w.flip(2, 3);
      const y = F.conv2d(x, flipped, this.bias, { padding: 1 });
      w.dispose();
      flipped.dispose();
      return y;
    }
    // Kernel taps per phase along one axis (index 4: a zero row/column added by the pad).
    const taps = [[3, 1, 4], [4, 2, 0]] as const;
    const padded = F.pad(w, [0, 1, 0, 1]);
    const dev = { device: x.device as Device };
    const parts: Tensor[] = [];
    const temps: Tensor[] = [w, padded];
    for (const ty of taps)
      for (const tx of taps) {
        const iy = F.tensor(Int32Array.from(ty), [3], dev).to('int64');
        const ix = F.tensor(Int32Array.from(tx), [3], dev).to('int64');
        const rows = padded.indexSelect(2, iy);
        parts.push(rows.indexSelect(3, ix));
        temps.push(iy, ix, rows);
      }
    const kernel = F.cat(parts, 0);
    const bias = F.cat([this.bias, this.bias, this.bias, this.bias], 0);
    const phases = F.conv2d(x, kernel, bias, { padding: 1 });
    const [n, , h, wd] = x.shape as [number, number, number, number];
    const o = this.outChannels;
    // [n, py, px, o, h, w] -> [n, o, h, py, w, px] -> [n, o, 2h, 2w]
    const split = phases.reshape(n, 2, 2, o, h, wd);
    const moved = split.permute(0, 3, 4, 1, 5, 2);
    const y = moved.reshape(n, o, 2 * h, 2 * wd);
    for (const t of [...temps, ...parts, kernel, bias, phases, split, moved]) t.dispose();
    return y;
  }
}

/** One of the two decoders: 2c -> c (x2 up) -> c -> c/2 -> 3, instance norm and ReLU between. */
class Decoder extends Module {
  readonly up: ConvTranspose2d;
  readonly conv1: ConvTranspose2d;
  readonly conv2: ConvTranspose2d;
  readonly out: ConvTranspose2d;
  constructor(c: number, readonly sigmoid: boolean, o: InitOptions) {
    super();
    this.up = this.child('up', new ConvTranspose2d(2 * c, c, 4, o));
    this.conv1 = this.child('conv1', new ConvTranspose2d(c, c, 3, o));
    this.conv2 = this.child('conv2', new ConvTranspose2d(c, Math.max(1, c / 2), 3, o));
    this.out = this.child('out', new ConvTranspose2d(Math.max(1, c / 2), 3, 3, o));
  }
  forward(z: Tensor): Tensor {
    const inorm = (t: Tensor): Tensor => F.groupNorm(t, t.shape[1]!, null, null, 1e-5);
    const a = inorm(this.conv1.forward(this.up.forward(z))).relu();
    const b = inorm(this.conv2.forward(a)).relu();
    const y = this.out.forward(b);
    return this.sigmoid ? y.sigmoid() : y;
  }
}

export interface DvaeOutput {
  /** the reconstruction in [0, 1] */
  rec: Tensor;
  mu: Tensor;
  logVar: Tensor;
  /** the perturbation estimate (unbounded) */
  p: Tensor;
}

export class DvaeNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly blocks: BasicBlock[];
  readonly fcMu: Conv2d;
  readonly fcVar: Conv2d;
  readonly postConv: Conv2d;
  readonly decoder: Decoder;
  readonly decoderP: Decoder;
  /** [classes, 2c * H/2 * W/2] */
  readonly embedding: Tensor;
  constructor(readonly config: DvaeNetConfig) {
    super();
    const { channels: c, latent, classes, height, width } = config;
    if (!Number.isInteger(c) || c < 2 || c % 2 !== 0) throw new Error(`D-VAE: the width must be an even integer >= 2, got ${c}`);
    if (height % 2 !== 0 || width % 2 !== 0) throw new Error(`D-VAE: the image size must be even (the stem halves it), got ${height}x${width}`);
    const o: InitOptions = { generator: config.generator, device: config.device };
    this.conv1 = this.child('conv1', new Conv2d(3, c, 3, { ...o, padding: 1, bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(c, 0.1, 1e-5, o));
    this.blocks = [new BasicBlock(c, c, 1, o), new BasicBlock(c, c, 1, o), new BasicBlock(c, 2 * c, 2, o)].map((b, i) => this.child(`block${i}`, b));
    this.fcMu = this.child('fc_mu', new Conv2d(2 * c, latent, 1, o));
    this.fcVar = this.child('fc_var', new Conv2d(2 * c, latent, 1, o));
    this.postConv = this.child('post_conv', new Conv2d(latent, 2 * c, 1, o));
    this.decoder = this.child('decoder', new Decoder(c, true, o));
    this.decoderP = this.child('decoder_p', new Decoder(c, false, o));
    // nn.Embedding's initialisation: N(0, 1).
    this.embedding = this.param('emb_p', empty([classes, 2 * c * (height / 2) * (width / 2)], o.device).normal_(0, 1, o.generator));
  }

  /** Use run() (it needs the labels and a generator); forward alone is the stem. */
  forward(x: Tensor): Tensor {
    let s = this.bn1.forward(this.conv1.forward(x)).relu();
    for (const b of this.blocks) s = b.forward(s);
    return s;
  }

  /**
   * The release's forward(x, y) with its sample-wise perturbation decoded from the latent
   * (`--use_y` given, which sets use_y False): p = decoder_p(post_conv(z) + embedding[y]).
   * Call inside tidy(); every intermediate is the caller's to dispose.
   */
  run(x: Tensor, labels: Tensor, generator: Generator): DvaeOutput {
    const s = this.forward(x);
    const mu = this.fcMu.forward(s);
    const logVar = this.fcVar.forward(s);
    const eps = F.randn(mu.shape, { device: mu.device as Device, generator });
    const z = this.postConv.forward(logVar.mul(0.5).exp().mul(eps).add(mu));
    const rec = this.decoder.forward(z);
    const emb = this.embedding.indexSelect(0, labels).reshape(...s.shape);
    const p = this.decoderP.forward(z.add(emb));
    return { rec, mu, logVar, p };
  }
}

/** The release's KL term: per latent position the KL to N(0, I) summed over channels, averaged
 * over the batch and the positions (torch.mean of the channel sum over dims 0, 1, 2). */
export function dvaeKl(mu: Tensor, logVar: Tensor): Tensor {
  return logVar.add(1).sub(mu.square()).sub(logVar.exp()).sum(1).mean().mul(-0.5);
}
